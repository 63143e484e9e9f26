"""eisnn.config: presets, schema errors, grid expansion and packing (no Snakemake needed)."""

import copy
from pathlib import Path

import numpy as np
import pytest

from eisnn import config as ec

ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = ROOT / "config"
SCHEMA = ec.load_schema(CONFIG_DIR / "schemas" / "config.schema.yaml")
BASE = ec.load_yaml(CONFIG_DIR / "config.yaml")


def merged(preset=None, overrides=None):
    config = dict(BASE, preset=preset)
    return ec.apply_preset(config, CONFIG_DIR / "presets", overrides)


def problem(config, base_dir=None) -> str:
    """The message of the ConfigError that ``config`` raises."""
    with pytest.raises(ec.ConfigError) as info:
        cfg = ec.build(config, SCHEMA)
        if base_dir is not None:
            ec.check_data_sources(cfg, base_dir)
    return str(info.value)


def with_change(path, value, config=None):
    """A copy of the base config with the value at ``path`` (a list of keys) replaced."""
    config = copy.deepcopy(config if config is not None else dict(BASE))
    node = config
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return config


# ---------------------------------------------------------------------------------------------
# The full-paper grid
# ---------------------------------------------------------------------------------------------


def test_default_config_is_valid_and_the_paper_experiments_enabled():
    cfg = ec.build(merged(), SCHEMA)
    assert cfg.enabled == ["fmnist_sigma", "shd_sigma", "fmnist_noise"]  # fmnist_rate is off
    assert not cfg.experiments["fmnist_rate"].enabled
    assert cfg.results_dir == "results"


def test_target_rate_grid_expands_to_rate_labelled_runs_without_sigma():
    cfg = ec.build(merged(), SCHEMA)
    rate = cfg.experiments["fmnist_rate"]
    targets = BASE["experiments"]["fmnist_rate"]["init"]["target_rate_hz"]
    assert targets == pytest.approx([float(f"{v:.3g}") for v in np.geomspace(0.5, 100, 12)], rel=1e-12)
    assert rate.by_rate and rate.baseline_sigma is None  # no reference σ is added for ratio null
    assert len(rate.runs()) == 5 * 12 * 8 and len(rate.packs()) == 5 * 12
    assert all(run.sigma_init is None for run in rate.runs())
    first = rate.packs()[0]
    assert first.marker("results") == "results/fmnist_rate/ratio-0.5/rate-0.5/noise-0/pack-0-7.json"
    specs = cfg.pack_specs(first)
    assert specs[3] == {
        "run_dir": "results/fmnist_rate/ratio-0.5/rate-0.5/noise-0/seed-3", "ratio": 0.5, "sigma_init": None,
        "noise_frac": 0.0, "seed": 3, "experiment": "fmnist_rate", "target_rate_hz": 0.5,
        "calibration": {"n_samples": 2048, "rel_tolerance": 0.05, "sigma_bounds": [1e-6, 10.0]},
    }
    assert cfg.pack_of_run("fmnist_rate", "none", "rate-100", "0", "7").ratio is None
    # σ experiments keep their RunSpec arguments (no calibration keys)
    assert "target_rate_hz" not in cfg.pack_specs(cfg.experiments["fmnist_sigma"].packs()[0])[0]
    # a single target is accepted as a number
    single = with_change(["experiments", "fmnist_rate", "init"], {"target_rate_hz": 5})
    assert ec.build(single, SCHEMA).experiments["fmnist_rate"].target_rates_hz == (5.0,)


def test_an_override_can_switch_a_sigma_experiment_to_target_rates():
    """sigma_init: null in an override removes the σ values of the base config."""
    config = merged(overrides={"experiments": {"fmnist_noise": {"sigma_init": None, "init": {"target_rate_hz": [2.0]}}}})
    noise = ec.build(config, SCHEMA).experiments["fmnist_noise"]
    assert noise.by_rate and noise.target_rates_hz == (2.0,) and noise.sigma_init == ()
    assert noise.packs()[0].marker("r") == "r/fmnist_noise/ratio-0.5/rate-2/noise-0/pack-0-7.json"
    both = merged(overrides={"experiments": {"fmnist_noise": {"init": {"target_rate_hz": [2.0]}}}})
    assert "set sigma_init: null to replace the σ values" in problem(both)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"sigma_init": [0.001]}, "experiments.fmnist_rate: give either sigma_init (σ values) or init.target_rate_hz"),
        ({"init": None}, "experiments.fmnist_rate.sigma_init: missing; give sigma_init (a list of σ values) or init:"),
        ({"init": {"target_rate_hz": [5, -1]}}, "experiments.fmnist_rate.init.target_rate_hz[1]: -1 is less than or equal to the minimum of 0"),
        ({"init": {"target_rate_hz": [5], "tolerance": 0.1}},
         "experiments.fmnist_rate.init.tolerance: unknown key 'tolerance'"),
        ({"init": {"target_rate_hz": [5], "sigma_bounds": [1.0, 0.1]}},
         "experiments.fmnist_rate.init.sigma_bounds: [1.0, 0.1] must be [low, high] with 0 < low < high < inf"),
        ({"init": {"target_rate_hz": [5], "sigma_bounds": [1e-6, float("inf")]}},
         "experiments.fmnist_rate.init.sigma_bounds[1]: inf is not a finite number"),
        ({"init": {"target_rate_hz": [5, float("inf")]}}, "experiments.fmnist_rate.init.target_rate_hz[1]: inf is not a finite number"),
        ({"init": {"target_rate_hz": [10, 500]}},
         "experiments.fmnist_rate.init.target_rate_hz[1]: 500.0 Hz is unreachable: with dt = 1 ms a neuron fires at most "
         "every other step, below 500 Hz"),
        ({"init": {"target_rate_hz": [5, 5.0]}}, "experiments.fmnist_rate.init.target_rate_hz: [5, 5.0] lists a value twice"),
        ({"init": {"target_rate_hz": []}}, "experiments.fmnist_rate.init.target_rate_hz: the list is empty"),
        ({"init": {"target_rate_hz": [5], "rel_tolerance": 5}}, "experiments.fmnist_rate.init.rel_tolerance: 5"),
        ({"init": {"n_samples": 100}}, "experiments.fmnist_rate.init.target_rate_hz: missing (required)"),
    ],
)
def test_target_rate_config_mistakes_name_the_key(change, expected):
    config = copy.deepcopy(BASE)
    spec = config["experiments"]["fmnist_rate"]
    for key, value in change.items():
        if value is None:
            del spec[key]
        else:
            spec[key] = value
    assert expected in problem(config)


def test_full_paper_run_counts():
    """Counted from the paper's grids by hand: 5 ratios × 18 σ × 8 seeds + 8 baseline runs; 8 × 10 × 16."""
    cfg = ec.build(merged(), SCHEMA)
    sigma_runs = 5 * 18 * 8 + 8
    assert len(cfg.experiments["fmnist_sigma"].runs()) == sigma_runs == 728
    assert len(cfg.experiments["shd_sigma"].runs()) == sigma_runs
    assert len(cfg.experiments["fmnist_noise"].runs()) == 8 * 10 * 16 == 1280
    # runs_per_job 8: one pack per grid point of the σ sweeps, two per noise grid point
    assert len(cfg.experiments["fmnist_sigma"].packs()) == 5 * 18 + 1
    assert len(cfg.experiments["fmnist_noise"].packs()) == 8 * 10 * 2
    runs = [run for e in cfg.experiments.values() for run in e.runs()]
    assert len({run.run_dir(cfg.results_dir) for run in runs}) == len(runs)


def test_sigma_grids_are_18_log_spaced_values_rounded_to_3_digits():
    for name, low, high in (("fmnist_sigma", 3e-4, 1e-1), ("shd_sigma", 3e-5, 1e-1)):
        values = BASE["experiments"][name]["sigma_init"]
        expected = [float(f"{v:.3g}") for v in np.logspace(np.log10(low), np.log10(high), 18)]
        assert values == pytest.approx(expected, rel=1e-12)


def test_unconstrained_runs_include_the_reference_scale():
    cfg = ec.build(merged(), SCHEMA)
    fmnist = cfg.experiments["fmnist_sigma"]
    assert fmnist.baseline_sigma == 0.0238
    assert cfg.experiments["shd_sigma"].baseline_sigma == 0.0252
    assert 0.0238 in fmnist.sigmas_for(None) and 0.0238 not in fmnist.sigmas_for(0.8)
    assert len(fmnist.sigmas_for(None)) == 19
    baseline_dirs = [r.run_dir("results") for r in fmnist.runs() if r.ratio is None and r.sigma_init == 0.0238]
    assert baseline_dirs[0] == "results/fmnist_sigma/ratio-none/sigma-0.0238/noise-0/seed-0"
    assert len(baseline_dirs) == 8
    # the noise experiment has no unconstrained ratio, hence no baseline
    assert cfg.experiments["fmnist_noise"].baseline_sigma is None


def test_reference_sigma_matches_the_model():
    from eisnn.params import ModelConfig, reference_weight_scale

    for n_in in (784, 700, 100):
        exact = reference_weight_scale(n_in, ModelConfig())
        assert ec.reference_sigma(n_in) == float(f"{exact:.3g}")
    assert ec.reference_sigma(784) == 0.0238


def test_training_options_merge_defaults_overrides_and_epochs():
    cfg = ec.build(merged(), SCHEMA)
    shd = cfg.experiments["shd_sigma"].train_options
    fmnist = cfg.experiments["fmnist_sigma"].train_options
    assert shd["epochs"] == 200 and shd["n_hidden"] == 200 and shd["snapshot_epochs"] == [0, 1, 10, 200]
    assert fmnist["epochs"] == 30 and fmnist["n_hidden"] == 100 and fmnist["snapshot_epochs"] == [0, 1, 10, 30]
    assert fmnist["learning_rate"] == 2e-4 and fmnist["adam_betas"] == [0.9, 0.999]
    assert "train_runtime" not in cfg.experiments["shd_sigma"].resources  # measured need, not a fixed request


def test_train_options_are_accepted_by_the_training_library():
    from eisnn.params import TrainOptions

    cfg = ec.build(merged(), SCHEMA)
    for experiment in cfg.experiments.values():
        options = TrainOptions.from_dict(experiment.train_options)
        assert options.epochs == experiment.training["epochs"]


# ---------------------------------------------------------------------------------------------
# Labels and packing
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, label",
    [(None, "none"), (1.0, "1"), (0, "0"), (0.8, "0.8"), (0.001, "0.001"), (3e-5, "0.00003"), (0.0238, "0.0238")],
)
def test_format_value(value, label):
    assert ec.format_value(value) == label


def test_format_value_is_injective_on_the_grids():
    values = BASE["experiments"]["fmnist_sigma"]["sigma_init"] + BASE["experiments"]["shd_sigma"]["sigma_init"]
    labels = {ec.format_value(v) for v in values}
    assert len(labels) == len(set(values))
    assert all(float(label) == v for label, v in zip(map(ec.format_value, values), values))


@pytest.mark.parametrize(
    "seeds, label", [([0, 1, 2, 3], "0-3"), ([8], "8"), ([0, 1, 5], "0-1+5"), ([3, 1], "3+1"), ([4, 5], "4-5")]
)
def test_seeds_label(seeds, label):
    assert ec.seeds_label(seeds) == label


def _packs(runs_per_job, seeds):
    config = merged("smoke", {"runs_per_job": runs_per_job, "experiments": {"fmnist_noise": {"seeds": seeds}}})
    cfg = ec.build(config, SCHEMA)
    return cfg, cfg.experiments["fmnist_noise"].packs()


def test_appending_seeds_keeps_the_existing_packs():
    _, before = _packs(2, [0, 1, 2, 3])
    cfg, after = _packs(2, [0, 1, 2, 3, 4, 5, 6])
    assert set(before) < set(after)
    new = set(after) - set(before)
    assert {pack.seeds for pack in new} == {(4, 5), (6,)}
    # every run belongs to exactly one pack, and the lookup by path labels finds it
    runs = [run for pack in after for run in pack.runs]
    assert len(runs) == len(set(runs)) == 2 * 1 * 2 * 7
    for pack in after:
        for run in pack.runs:
            labels = run.labels
            assert cfg.pack_of_run(labels["experiment"], labels["ratio"], labels["init"], labels["noise"], labels["seed"]) == pack
        assert cfg.pack(*pack.labels.values()) == pack


def test_packs_keep_the_listed_seed_order():
    _, packs = _packs(3, [5, 1, 9, 2])
    assert {pack.seeds for pack in packs} == {(5, 1, 9), (2,)}
    assert packs[0].marker("r").endswith("/pack-5+1+9.json")


def test_unknown_pack_or_run_is_a_config_error():
    cfg = ec.build(merged("smoke"), SCHEMA)
    with pytest.raises(ec.ConfigError, match="no run fmnist_noise/ratio-0.8/sigma-0.03/noise-0/seed-7"):
        cfg.pack_of_run("fmnist_noise", "0.8", "sigma-0.03", "0", "7")


# ---------------------------------------------------------------------------------------------
# Presets and overrides
# ---------------------------------------------------------------------------------------------


def test_smoke_preset_is_synthetic_and_tiny():
    cfg = ec.build(merged("smoke"), SCHEMA)
    assert cfg.results_dir == "results/smoke"
    assert {e.dataset for e in cfg.experiments.values()} == {"synthetic"}
    assert sum(len(e.runs()) for e in cfg.experiments.values()) <= 30
    assert all(e.training["epochs"] <= 5 and e.training["n_hidden"] <= 50 for e in cfg.experiments.values())
    ec.check_data_sources(cfg, ROOT)  # synthetic data needs no raw files


def test_quick_preset_uses_the_fmnist_subset():
    cfg = ec.build(merged("quick"), SCHEMA)
    assert cfg.enabled == ["fmnist_sigma", "fmnist_noise", "fmnist_rate"]
    params = cfg.dataset_params("fmnist")
    assert params["subset_train"] == 10000 and params["subset_test"] == 2000
    shared = ROOT.parent / "shared" / "data" / "fashion-mnist"
    source = ec.raw_source(cfg, "fmnist", ROOT)
    if shared.is_dir():
        assert not source.downloaded and source.directory == "../shared/data/fashion-mnist"
    else:
        assert source.downloaded and source.directory == "data/raw/fmnist"


def test_overrides_win_over_the_preset():
    config = merged("smoke", {"runs_per_job": 5, "experiments": {"fmnist_sigma": {"epochs": 4}}})
    assert config["runs_per_job"] == 5
    assert config["experiments"]["fmnist_sigma"]["epochs"] == 4
    assert config["experiments"]["fmnist_sigma"]["dataset"] == "synthetic"  # from the preset
    assert config["experiments"]["fmnist_sigma"]["seeds"] == [0, 1]


def test_deep_merge_replaces_lists_and_merges_mappings():
    base = {"a": {"x": 1, "y": [1, 2]}, "b": 2}
    result = ec.deep_merge(base, {"a": {"y": [3]}, "c": 4})
    assert result == {"a": {"x": 1, "y": [3]}, "b": 2, "c": 4}
    assert base == {"a": {"x": 1, "y": [1, 2]}, "b": 2}


def test_unknown_preset_lists_the_available_ones():
    with pytest.raises(ec.ConfigError) as info:
        merged("smok")
    message = str(info.value)
    assert "preset" in message and "'smok'" in message and "quick, smoke" in message


def test_coerce_cli_values():
    nested = {"experiments": {"x": {"noise_fracs": ["0", "0.2", "20"], "ratios": ["0.5", "null"], "e": "1e-3"}}}
    assert ec.coerce_cli_values(nested) == {
        "experiments": {"x": {"noise_fracs": [0, 0.2, 20], "ratios": [0.5, None], "e": 1e-3}}
    }
    assert ec.coerce_cli_values({"preset": "smoke", "flag": "true"}) == {"preset": "smoke", "flag": True}


# ---------------------------------------------------------------------------------------------
# One clear error per mistake
# ---------------------------------------------------------------------------------------------


def test_noise_given_as_percent():
    message = problem(with_change(["experiments", "fmnist_noise", "noise_fracs"], [0, 5, 10, 20]))
    assert "experiments.fmnist_noise.noise_fracs[1]: 5 is greater than the maximum of 1" in message
    assert "noise is a fraction of sigma_init, not a percent" in message
    assert "[and 2 more problems]" in message


def test_ratio_outside_unit_interval():
    message = problem(with_change(["experiments", "fmnist_sigma", "ratios"], [0.5, 80, None]))
    assert "experiments.fmnist_sigma.ratios[1]: 80 is greater than the maximum of 1" in message
    assert "0.8 = 80:20" in message
    message = problem(with_change(["experiments", "shd_sigma", "ratios"], [-0.2]))
    assert "experiments.shd_sigma.ratios[0]: -0.2 is less than the minimum of 0" in message


def test_negative_or_zero_sigma():
    message = problem(with_change(["experiments", "fmnist_noise", "sigma_init"], [-0.001]))
    assert "experiments.fmnist_noise.sigma_init[0]: -0.001 is less than or equal to the minimum of 0" in message
    assert "experiments.fmnist_noise.sigma_init[0]" in problem(with_change(["experiments", "fmnist_noise", "sigma_init"], [0]))


def test_unknown_experiment():
    config = copy.deepcopy(BASE)
    config["experiments"]["fmnist_sigmaa"] = config["experiments"].pop("fmnist_sigma")
    message = problem(config)
    assert "experiments.fmnist_sigmaa: unknown key 'fmnist_sigmaa'" in message
    assert "fmnist_noise, fmnist_rate, fmnist_sigma, shd_sigma" in message
    assert "did you mean 'fmnist_sigma'?" in message


def test_unknown_key_inside_an_experiment():
    message = problem(with_change(["experiments", "fmnist_noise", "noise_levels"], [0.1]))
    assert "experiments.fmnist_noise.noise_levels: unknown key 'noise_levels'" in message
    assert "noise_fracs" in message


def test_unknown_top_level_key():
    message = problem(dict(BASE, result_dir="out"))
    assert "result_dir: unknown key 'result_dir'" in message and "did you mean 'results_dir'?" in message


def test_unknown_dataset():
    message = problem(with_change(["experiments", "shd_sigma", "dataset"], "mnist"))
    assert "experiments.shd_sigma.dataset: 'mnist' is not allowed; expected one of 'fmnist', 'shd', 'synthetic'" in message


def test_empty_seed_list():
    message = problem(with_change(["experiments", "fmnist_sigma", "seeds"], []))
    assert "experiments.fmnist_sigma.seeds: the list is empty" in message


def test_duplicate_seed():
    message = problem(with_change(["experiments", "fmnist_sigma", "seeds"], [0, 1, 1]))
    assert "experiments.fmnist_sigma.seeds: [0, 1, 1] lists a value twice" in message


def test_zero_epochs():
    message = problem(with_change(["experiments", "shd_sigma", "epochs"], 0))
    assert "experiments.shd_sigma.epochs: 0 is less than the minimum of 1" in message


def test_snapshot_epoch_beyond_epochs():
    config = with_change(["experiments", "fmnist_noise", "epochs"], 5)
    message = problem(config)
    assert "training.snapshot_epochs[2]: 10 is beyond the 5 epochs of experiment fmnist_noise" in message
    config = with_change(["experiments", "shd_sigma", "training", "snapshot_epochs"], [0, 250])
    assert "experiments.shd_sigma.training.snapshot_epochs[1]: 250 is beyond the 200 epochs" in problem(config)


def test_bad_snapshot_epoch_value():
    message = problem(with_change(["training", "snapshot_epochs"], [0, "final"]))
    assert "training.snapshot_epochs[1]: 'final' is not allowed; expected an integer or 'last'" in message


def test_epochs_inside_experiment_training_block():
    message = problem(with_change(["experiments", "shd_sigma", "training", "epochs"], 100))
    assert "experiments.shd_sigma.training.epochs" in message and "experiments.shd_sigma.epochs" in message


def test_wrong_type():
    message = problem(with_change(["experiments", "fmnist_sigma", "epochs"], "thirty"))
    assert "experiments.fmnist_sigma.epochs: 'thirty' has the wrong type; expected an integer" in message
    message = problem(with_change(["runs_per_job"], 2.5))
    assert "runs_per_job: 2.5 has the wrong type; expected an integer" in message


def test_yaml_exponent_without_point_gets_a_hint():
    message = problem(with_change(["experiments", "fmnist_noise", "sigma_init"], ["1e-3"]))
    assert "experiments.fmnist_noise.sigma_init[0]: '1e-3' has the wrong type; expected a number" in message
    assert "YAML reads 1e-3 as text" in message


def test_missing_required_key():
    config = copy.deepcopy(BASE)
    del config["experiments"]["fmnist_noise"]["dataset"]
    assert "experiments.fmnist_noise.dataset: missing (required)" in problem(config)


def test_missing_data_dir_with_download_disabled(tmp_path):
    config = with_change(["datasets", "shd", "download"], False)
    message = problem(config, base_dir=tmp_path)
    assert "datasets.shd.data_dir: missing, and datasets.shd.download is false" in message
    assert "shd_train.h5.gz" in message
    # a disabled experiment needs no data
    config = with_change(["experiments", "shd_sigma", "enabled"], False, config)
    ec.check_data_sources(ec.build(config, SCHEMA), tmp_path)


def test_data_dir_that_does_not_exist_with_download_disabled(tmp_path):
    config = with_change(["datasets", "fmnist"], {"data_dir": "nowhere", "download": False})
    message = problem(config, base_dir=tmp_path)
    assert "datasets.fmnist.data_dir: 'nowhere' is not a directory" in message


@pytest.mark.parametrize("key", ["results_dir", "raw_dir"])
def test_a_results_or_raw_dir_that_is_a_file_is_refused_naming_the_key(tmp_path, key):
    (tmp_path / "taken").write_text("a file\n")
    for value, blocked in (("taken", "taken"), ("taken/smoke", "taken")):
        cfg = ec.build(with_change([key], value), SCHEMA)
        with pytest.raises(ec.ConfigError) as info:
            ec.check_folders(cfg, tmp_path)
        assert str(info.value) == (
            f"invalid config: {key}: {value!r} is not a folder ({tmp_path / blocked} is a file); give the path of a folder"
        )
    ec.check_folders(ec.build(with_change([key], "free/smoke"), SCHEMA), tmp_path)  # not there yet: fine


def test_data_dir_is_used_in_place_when_complete(tmp_path):
    (tmp_path / "raw").mkdir()
    config = with_change(["datasets", "shd"], {"data_dir": "raw", "download": False})
    cfg = ec.build(config, SCHEMA)
    with pytest.raises(ec.ConfigError, match="lacks some of the raw files"):
        ec.raw_source(cfg, "shd", tmp_path)
    (tmp_path / "raw" / "shd_train.h5").write_bytes(b"")  # uncompressed is accepted too
    (tmp_path / "raw" / "shd_test.h5.gz").write_bytes(b"")
    source = ec.raw_source(cfg, "shd", tmp_path)
    assert source == ec.RawSource("raw", ("raw/shd_train.h5", "raw/shd_test.h5.gz"), False)
    # with download allowed, an incomplete data_dir falls back to the download folder
    (tmp_path / "raw" / "shd_test.h5.gz").unlink()
    config = with_change(["datasets", "shd", "download"], True, config)
    source = ec.raw_source(ec.build(config, SCHEMA), "shd", tmp_path)
    assert source.downloaded and source.files == ("data/raw/shd/shd_train.h5.gz", "data/raw/shd/shd_test.h5.gz")


@pytest.mark.parametrize(
    "path, value, where, shown",
    [
        (["experiments", "fmnist_noise", "noise_fracs"], [2], "experiments.fmnist_noise.noise_fracs[0]", "2"),
        (["training", "surrogate"], "sigmoid", "training.surrogate", "'sigmoid'"),
        (["datasets", "fmnist", "theta"], 1.5, "datasets.fmnist.theta", "1.5"),
        (["experiments", "shd_sigma", "training"], {"readout": "mean"}, "experiments.shd_sigma.training.readout", "'mean'"),
        (["resources", "train_runtime"], -5, "resources.train_runtime", "-5"),
    ],
)
def test_errors_start_with_the_key_path_and_show_the_value(path, value, where, shown):
    message = problem(with_change(path, value))
    assert message.startswith(f"invalid config: {where}: {shown} ")


# ---------------------------------------------------------------------------------------------
# Method variants
# ---------------------------------------------------------------------------------------------

PAPER_VARIANT = {"ratios": [0.8], "sigma_init": [0.001], "training": {"readout": "per_step", "surrogate": "exponential"}}


def test_a_variant_is_an_experiment_beside_the_default_with_its_own_paths_and_options():
    plain = ec.build(merged(), SCHEMA)
    cfg = ec.build(merged(overrides={"experiments": {"fmnist_sigma": {"variants": {"paper": PAPER_VARIANT}}}}), SCHEMA)
    assert cfg.enabled == ["fmnist_sigma", "fmnist_sigma@paper", "shd_sigma", "fmnist_noise"]
    assert cfg.variants_of("fmnist_sigma") == ["fmnist_sigma", "fmnist_sigma@paper"]
    variant = cfg.experiment("fmnist_sigma@paper")
    assert variant.base == "fmnist_sigma" and variant.variant == "paper" and variant.dataset == "fmnist"
    assert ec.paper_dataset_of("fmnist_sigma@paper") == "fmnist"
    # The variant's keys replace the experiment's; the rest (seeds, epochs, other options) is inherited.
    default = cfg.experiment("fmnist_sigma")
    assert variant.seeds == default.seeds and variant.training["epochs"] == 30
    assert (variant.training["readout"], variant.training["surrogate"]) == ("per_step", "exponential")
    assert (default.training["readout"], default.training["surrogate"]) == ("per_step", "fast_sigmoid")
    assert {k: v for k, v in variant.training.items() if k not in ("readout", "surrogate")} == {
        k: v for k, v in default.training.items() if k not in ("readout", "surrogate")
    }
    assert len(variant.runs()) == 8
    assert {run.run_dir(cfg.results_dir).split("/ratio-")[0] for run in variant.runs()} == {"results/fmnist_sigma@paper"}
    # The default variant's runs, packs and options are exactly those of the config without variants.
    assert [p.marker("r") for p in default.packs()] == [p.marker("r") for p in plain.experiment("fmnist_sigma").packs()]
    assert default.train_options == plain.experiment("fmnist_sigma").train_options


def test_a_variant_may_switch_between_sigma_values_and_target_rates():
    cfg = ec.build(merged(overrides={"experiments": {"fmnist_sigma": {"variants": {
        "matched": {"init": {"target_rate_hz": [5.0]}}}}}}), SCHEMA)
    assert cfg.experiment("fmnist_sigma@matched").target_rates_hz == (5.0,)
    assert cfg.experiment("fmnist_sigma").sigma_init == tuple(BASE["experiments"]["fmnist_sigma"]["sigma_init"])


@pytest.mark.parametrize(
    "variants, expected",
    [
        ({"paper-loss": {}}, "variant name is letters, digits and underscores"),
        ({"paper": {"dataset": "shd"}}, "experiments.fmnist_sigma.variants.paper.dataset: unknown key 'dataset'"),
        ({"paper": {"training": {"readout": "last"}}}, "experiments.fmnist_sigma.variants.paper.training.readout"),
    ],
)
def test_variant_mistakes_name_the_key(variants, expected):
    config = merged(overrides={"experiments": {"fmnist_sigma": {"variants": variants}}})
    assert expected in problem(config)


def test_night_preset_reproduces_fashion_mnist_at_paper_scale():
    cfg = ec.build(merged("night"), SCHEMA)
    assert cfg.enabled == ["fmnist_sigma", "fmnist_sigma@paper", "fmnist_sigma@per_step", "fmnist_noise"]
    assert cfg.dataset_sizes("fmnist") == (60000, 10000) and cfg.section("metrics")["max_samples"] is None
    for name in cfg.enabled:
        spec = cfg.experiment(name)
        assert spec.training["epochs"] == 30 and spec.training["snapshot_epochs"] == [0, 1, 10, 30]
    sigma = cfg.experiment("fmnist_sigma")
    assert min(sigma.sigma_init) <= 3e-4 and max(sigma.sigma_init) >= 0.1  # silent to saturated
    assert set(cfg.experiment("fmnist_noise").noise_fracs) >= {0.2, 0.4, 0.6}  # every level of Fig 2c-e
    paper = cfg.experiment("fmnist_sigma@paper").training
    assert (paper["readout"], paper["surrogate"]) == ("per_step", "exponential")


# ---------------------------------------------------------------------------------------------
# Non-finite, empty and impossible values
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path, value, expected",
    [
        (["training", "learning_rate"], float("nan"), "training.learning_rate: nan is not a finite number"),
        (["experiments", "fmnist_sigma", "ratios"], [0.5, float("nan")], "experiments.fmnist_sigma.ratios[1]: nan is not a finite number"),
        (["experiments", "fmnist_noise", "noise_fracs"], [0.0, float("inf")], "experiments.fmnist_noise.noise_fracs[1]: inf is not a finite number"),
        (["resources", "margin"], float("-inf"), "resources.margin: -inf is not a finite number"),
        (["training", "learning_rate"], 10.0, "training.learning_rate: 10.0 is greater than the maximum of 1"),
        (["training", "snapshot_epochs"], [], "training.snapshot_epochs: the list is empty"),
    ],
)
def test_non_finite_empty_and_absurd_values_are_refused_naming_the_key(path, value, expected):
    assert expected in problem(with_change(path, value))


def test_nan_given_on_the_command_line_is_refused():
    overrides = ec.coerce_cli_values({"experiments": {"fmnist_sigma": {"sigma_init": ["nan"]}}})
    assert "experiments.fmnist_sigma.sigma_init[0]: nan is not a finite number" in problem(merged(overrides=overrides))


def test_a_subset_larger_than_the_dataset_is_refused():
    message = problem(with_change(["datasets", "fmnist", "subset_train"], 100000))
    assert "datasets.fmnist.subset_train: 100000 is more than the 60000 samples" in message
