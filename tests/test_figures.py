"""Tests of eisnn.figures on small synthetic experiments in the real file formats.

The run directories are written by hand in the formats of docs/architecture.md and
eisnn.metrics (history.csv, run.json, metrics/*.csv, probe.h5); the run table, t-tests and
Tables 2/3 come from eisnn.stats itself, so the figures read exactly what the workflow feeds them.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from eisnn.figures import fig1, fig2, fig3, fig4, fig5, style, supplementary, tables
from eisnn.figures.inputs import read_histories, read_per_run_files, read_run_metrics, read_run_table
from eisnn.layout import ratio_label
from eisnn.metrics import weight_histograms
from eisnn.readout import predict
from eisnn.snapshot import Snapshot
from eisnn.stats import collect_run_table, write_stats

SIGMA_RATIOS = (0.5, 0.8, 1.0, None)
SIGMAS = (3e-4, 1e-3, 3e-3, 1e-2, 1e-1)
SEEDS = (0, 1)
N_CLASSES = 4
N_HIDDEN = 20
N_STEPS = 30
EPOCHS = 12
SNAPSHOTS = (0, 1, 10, EPOCHS)
BASELINE_SIGMA = 0.0238


def initial_rate(sigma: float, seed: int) -> float:
    """Silent at the smallest σ, then a steep rise, as measured on Fashion-MNIST (paper Fig 1c)."""
    if sigma <= 3e-4:
        return 0.0
    return float(min(160.0, 1.3 * (sigma / 1e-3) ** 1.4 * (1 + 0.15 * seed)))


def write_sigma_run(root: Path, ratio, sigma, seed, rng, *, diverged=False, noise=0.0, experiment="fmnist_sigma",
                    metrics=True, offset=0.0, target_rate_hz=None):
    """One run directory: history, run.json and (optionally) every metrics table.

    With ``target_rate_hz`` the run is one of a target-rate experiment: run.json carries the
    target and a calibration record (rate reached: 1.02 × target) as eisnn.train writes them.
    """
    label = "none" if ratio is None else f"{ratio:g}"
    run = root / experiment / f"ratio-{label}" / f"sigma-{sigma:g}" / f"noise-{noise:g}" / f"seed-{seed}"
    (run / "metrics").mkdir(parents=True)
    rate = initial_rate(sigma, seed)
    good = (0 < rate < 60 or (ratio is None and sigma == BASELINE_SIGMA)) and not diverged
    top = (0.82 if ratio is not None else 0.86) - 0.3 * noise + offset + rng.normal(0, 0.01)
    epochs = np.arange(1, EPOCHS + 1)
    acc = top - (top - 0.3) * np.exp(-epochs / 2) if good else 0.1 + 0.15 * rng.random(EPOCHS)
    if diverged:
        acc[-1] = np.nan
    pd.DataFrame({"epoch": epochs, "train_loss": 1.0, "train_acc": acc, "test_loss": 1.0, "test_acc": acc,
                  "seconds": 0.1, "diverged": [diverged and e == EPOCHS for e in epochs]}
                 ).to_csv(run / "history.csv", index=False)
    params = {"experiment": experiment, "ratio": ratio, "sigma_init": sigma, "noise_frac": noise, "seed": seed}
    if target_rate_hz is not None:
        params.update(target_rate_hz=target_rate_hz,
                      calibration={"sigma_init": sigma, "rate_hz": 1.02 * target_rate_hz, "target_rate_hz": target_rate_hz})
    (run / "run.json").write_text(json.dumps({"status": "diverged" if diverged else "completed",
                                              "diverged_epoch": EPOCHS if diverged else None, "params": params}))
    if not metrics:
        return run
    constrained = ratio is not None
    excitatory = np.arange(N_HIDDEN) < round((ratio if constrained else 1.0) * N_HIDDEN)
    pops = {"E": excitatory, "I": ~excitatory} if constrained else {"all": np.ones(N_HIDDEN, bool)}
    pops = {p: m for p, m in pops.items() if m.any()}
    snaps = SNAPSHOTS[:-1] if diverged else SNAPSHOTS
    summary, act_class, act_pop, isi, vr, weights = [], [], [], [], [], []
    for epoch in snaps:
        growth = 1.0 if epoch == 0 else (3.0 if good else 1.2)
        acc_e = 0.1 if epoch == 0 else float(acc[epoch - 1]) if np.isfinite(acc[epoch - 1]) else 0.1
        total = 0
        e_total = 0
        for c in range(N_CLASSES):
            per_pop = {p: rate * growth * m.sum() * N_STEPS * 1e-3 * (0.7 + 0.2 * c) * (1.2 if p == "E" and epoch == 1 else 1.0)
                       for p, m in pops.items()}
            tot_c = sum(per_pop.values())
            total += tot_c
            e_total += per_pop.get("E", 0.0)
            act_class.append({"epoch": epoch, "class": c, "n_images": 25,
                              "accuracy": float(np.clip(acc_e + rng.normal(0, 0.05), 0, 1)),
                              "spikes_per_image": tot_c,
                              "percent_excitatory": 100 * per_pop.get("E", 0) / tot_c if constrained and tot_c else np.nan})
            for p, value in per_pop.items():
                act_pop.append({"epoch": epoch, "class": c, "population": p, "n_neurons": int(pops[p].sum()),
                                "n_images": 25, "spike_count": int(round(value * 25)), "spikes_per_image": value,
                                "firing_rate_hz": value / (pops[p].sum() * N_STEPS * 1e-3)})
                for k in range(1, N_STEPS):
                    count = int(rng.poisson(value * 5 * np.exp(-k / (3 if p == "I" else 6)))) if rate > 0 else 0
                    isi.append({"epoch": epoch, "class": c, "population": p, "isi_ms": float(k),
                                "frequency_hz": 1000.0 / k, "count": count})
        summary.append({"epoch": epoch, "weights_finite": True, "n_samples": 100, "accuracy": acc_e,
                        "hidden_firing_rate_hz": rate * growth, "spikes_per_image": total / N_CLASSES,
                        "percent_excitatory": 100 * e_total / total if constrained and total else np.nan,
                        "n_vr_samples": 50})
        base = 1.0 + 0.5 * np.tanh(np.log10(max(rate, 1e-3)))
        cats = ("E-E", "E-I", "I-I") if constrained else ("all-all",)
        for cat in cats:
            if "I" in cat and "I" not in pops:
                continue
            shift = {"E-E": -0.1, "E-I": 0.0, "I-I": 0.1, "all-all": 0.0}[cat] * (epoch > 0)
            vr.append({"epoch": epoch, "category": cat, "distance": base + shift + rng.normal(0, 0.03),
                       "n_pairs": 10, "n_samples": 50, "tau_ms": 1.0})
        w_in = np.abs(rng.normal(0, sigma * (1 + epoch / 10), (30, N_HIDDEN))).astype(np.float32)
        sign = np.where(excitatory, 1.0, -1.0)[:, None] if constrained else rng.choice([-1, 1], (N_HIDDEN, 1))
        w_out = (sign * np.abs(rng.normal(0, 0.07, (N_HIDDEN, N_CLASSES)))).astype(np.float32)
        w_out[rng.random(w_out.shape) < 0.2 * (epoch > 0)] = 0.0
        weights.append(Snapshot(w_in, w_out, excitatory, constrained, epoch))
    pd.DataFrame(summary).to_csv(run / "metrics" / "summary.csv", index=False)
    pd.DataFrame(act_class).to_csv(run / "metrics" / "activity_class.csv", index=False)
    pd.DataFrame(act_pop).to_csv(run / "metrics" / "activity_population.csv", index=False)
    pd.DataFrame(isi).to_csv(run / "metrics" / "isi.csv", index=False)
    pd.DataFrame(vr).to_csv(run / "metrics" / "van_rossum.csv", index=False)
    weight_histograms(weights, n_bins=20).to_csv(run / "metrics" / "weights_hist.csv", index=False)
    return run


def make_sigma_experiment(root: Path, ratios=SIGMA_RATIOS, sigmas=SIGMAS, seeds=SEEDS, dataset="fmnist"):
    """A σ sweep (plus the unconstrained baseline σ) with one diverged run; returns (run_dirs, stats paths)."""
    rng = np.random.default_rng(0)
    run_dirs = []
    for ratio in ratios:
        for sigma in (*sigmas, BASELINE_SIGMA) if ratio is None else sigmas:
            for seed in seeds:
                diverged = ratio == 0.8 and sigma == sigmas[-1] and seed == seeds[-1]
                run_dirs.append(write_sigma_run(root, ratio, sigma, seed, rng, diverged=diverged))
    table = collect_run_table(run_dirs, dataset)
    return run_dirs, write_stats(table, root / "fmnist_sigma" / "stats", dataset)


def make_noise_experiment(root: Path, ratios=(0.5, 0.75, 0.8, 1.0), noises=(0.0, 0.2, 0.4, 0.6, 1.0), seeds=range(4)):
    rng = np.random.default_rng(1)

    def offset(ratio, noise):  # 75:25 beats 100:0 under noise; 50:50 collapses at high noise (paper §2.2)
        return 0.04 * (ratio == 0.75 and noise >= 0.2) - 0.5 * (ratio == 0.5 and noise >= 0.6)

    run_dirs = [write_sigma_run(root, r, 1e-3, s, rng, noise=n, experiment="fmnist_noise", metrics=False,
                                offset=offset(r, n))
                for r in ratios for n in noises for s in seeds]
    table = collect_run_table(run_dirs, "fmnist")
    return run_dirs, write_stats(table, root / "fmnist_noise" / "stats", "fmnist")


def write_probe(path: Path, ratio=0.8, n_probe=4, n_in=30, n_out=N_CLASSES, seed=0):
    rng = np.random.default_rng(seed)
    excitatory = np.arange(N_HIDDEN) < round(ratio * N_HIDDEN)
    with h5py.File(path, "w") as h:
        h.create_dataset("labels", data=np.arange(n_probe) % n_out)
        h.create_dataset("input", data=(rng.random((n_probe, N_STEPS, n_in)) < 0.05).astype(np.uint8))
        h.attrs["n_steps"] = N_STEPS
        h.attrs["dt_ms"] = 1.0
        h.attrs["excitatory"] = excitatory
        for epoch in (0, EPOCHS):
            g = h.create_group(f"epoch-{epoch}")
            g.create_dataset("hidden", data=(rng.random((n_probe, N_STEPS, N_HIDDEN)) < 0.1).astype(np.uint8))
            out = np.cumsum(rng.normal(0, 0.1, (n_probe, N_STEPS + 1, n_out)), axis=1).astype(np.float32)
            out[:, 0] = 0
            g.create_dataset("output", data=out)
    return path


def assert_figure_files(paths: dict, min_png_bytes=15_000):
    """PDF and PNG exist, are not trivial, and the PNG is not blank."""
    assert set(paths) >= {"pdf", "png", "data"}
    assert paths["pdf"].stat().st_size > 5_000
    assert paths["pdf"].read_bytes()[:5] == b"%PDF-"
    assert paths["png"].stat().st_size > min_png_bytes
    image = imread(paths["png"])
    assert image.shape[0] > 300 and image.shape[1] > 300
    assert float(np.var(image[..., :3])) > 1e-3
    assert not list(paths["png"].parent.glob(".*.tmp")), "temporary files left behind"
    return pd.read_csv(paths["data"])


@pytest.fixture(scope="module")
def sigma_experiment(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    run_dirs, stats = make_sigma_experiment(root)
    return {"root": root, "run_dirs": run_dirs, **stats}


@pytest.fixture(scope="module")
def noise_experiment(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    run_dirs, stats = make_noise_experiment(root)
    return {"root": root, "run_dirs": run_dirs, **stats}


# --------------------------------------------------------------------------------------------
# Style
# --------------------------------------------------------------------------------------------


def test_style_colours_are_consistent():
    assert style.POPULATION_COLORS["E"] == style.PAIR_COLORS["E-E"] == style.E_COLOR
    assert style.POPULATION_COLORS["I"] == style.PAIR_COLORS["I-I"] == style.I_COLOR
    assert style.E_COLOR != style.I_COLOR
    assert style.ratio_color(None) == style.ratio_color(float("nan")) == style.UNCONSTRAINED_COLOR
    colors = [style.ratio_color(r) for r in (0.5, 0.6, 0.7, 0.75, 0.8, 0.9, 0.95, 1.0)]
    assert len(set(colors)) == len(colors)
    assert ratio_label(0.95) == "95:5" and ratio_label(np.nan) == "unconstrained"
    assert [ratio_label(r) for r in style.ordered_ratios([1.0, np.nan, 0.5, 0.5])] == ["50:50", "100:0", "unconstrained"]


def test_save_figure_is_atomic_and_reproducible(tmp_path):
    with style.context():
        fig = style.new_figure(2, 2)
        fig.subplots().plot([0, 1], [1, 0])
    first = style.save_figure(fig, tmp_path / "f")
    png = first["png"].read_bytes()
    second = style.save_figure(fig, tmp_path / "f")
    assert second["png"].read_bytes() == png
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.pdf", "f.png"]


def test_per_run_tables_by_run_dir_or_by_path(sigma_experiment):
    dirs = sigma_experiment["run_dirs"]
    by_dir = read_run_metrics(dirs, "isi")
    by_path = read_per_run_files([d / "metrics" / "isi.csv" for d in dirs])
    pd.testing.assert_frame_equal(by_dir, by_path)
    pd.testing.assert_frame_equal(read_histories(dirs), read_per_run_files([d / "history.csv" for d in dirs]))
    assert set(by_dir["run_key"]) == set(read_run_table(sigma_experiment["runs"])["run_key"])
    with pytest.raises(KeyError):
        read_run_metrics(dirs, "nope")


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------


def test_fig1b_sample_activity(tmp_path):
    probe = write_probe(tmp_path / "probe.h5")
    paths = fig1.build_fig1b(probe, tmp_path / "fig1b", dataset="fmnist", title="80:20 test")
    data = assert_figure_files(paths)
    loaded = fig1.read_probe(probe)
    assert loaded["epoch"] == EPOCHS
    assert (data["layer"] == "hidden").sum() == loaded["hidden"].sum()
    assert set(data.loc[data["layer"] == "hidden", "population"]) == {"E", "I"}
    assert (data["layer"] == "readout").sum() == (N_STEPS + 1) * N_CLASSES
    assert loaded["readout"] == "max"  # no run.json beside the probe: the default readout
    assert data["predicted"].iloc[0] == loaded["predicted"] == int(loaded["output"].max(axis=0).argmax())
    with pytest.raises(ValueError):
        fig1.read_probe(probe, epoch=5)


def write_disagreeing_probe(path: Path, n_probe=4, n_out=N_CLASSES):
    """A probe whose readout traces pick class (label + 1) by max-over-time but the label per step."""
    write_probe(path, n_probe=n_probe, n_out=n_out)
    with h5py.File(path, "r+") as h:
        labels = h["labels"][:]
        out = np.zeros((n_probe, N_STEPS + 1, n_out), dtype=np.float32)
        for s, label in enumerate(labels):
            out[s, 1:, label] = 1.0
            out[s, 4, (label + 1) % n_out] = 3.0
        h[f"epoch-{EPOCHS}/output"][...] = out
    return labels


@pytest.mark.parametrize("readout", ["per_step", "max", None])
def test_fig1b_predicted_class_follows_the_run_readout(tmp_path, readout):
    labels = write_disagreeing_probe(tmp_path / "probe.h5")
    params = {"ratio": 0.8} if readout is None else {"ratio": 0.8, "readout": readout}
    (tmp_path / "run.json").write_text(json.dumps({"status": "completed", "params": params}))
    paths = fig1.build_fig1b(tmp_path / "probe.h5", tmp_path / "fig1b", sample=1)
    data = pd.read_csv(paths["data"])
    expected = labels[1] if readout == "per_step" else (labels[1] + 1) % N_CLASSES  # run.json without readout: max
    assert set(data["predicted"]) == {expected}
    probe = fig1.read_probe(tmp_path / "probe.h5", sample=1)
    assert probe["predicted"] == expected == predict(probe["output"], readout or "max")
    # An explicit readout overrides run.json.
    assert fig1.read_probe(tmp_path / "probe.h5", sample=1, readout="per_step")["predicted"] == labels[1]


def test_pick_sample_run():
    from eisnn.config import Run
    from eisnn.figures import selection

    runs = [Run("e", r, s, 0.0, k) for r in (0.5, 0.8, None) for s in (3e-4, 1.2e-3, 0.03) for k in (1, 0)]
    chosen = selection.pick_sample_run(runs)
    assert (chosen.ratio, chosen.sigma_init, chosen.seed) == (0.8, 1.2e-3, 0)


def test_dag_time_modules_import_neither_matplotlib_nor_torch():
    """The workflow imports these while building the DAG (and finds figure modules by spec)."""
    import subprocess
    import sys

    code = ("import importlib.util, sys; import eisnn.paper, eisnn.figures.selection; "
            "importlib.util.find_spec('eisnn.figures.style'); "
            "heavy = sorted({'matplotlib', 'torch', 'pandas', 'h5py'} & set(sys.modules)); "
            "assert not heavy, heavy")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr



def test_fig1c_holds_every_run_once(sigma_experiment, tmp_path):
    paths = fig1.build_fig1cd(sigma_experiment["runs"], tmp_path / "fig1c", baseline_sigma=BASELINE_SIGMA,
                              paper_baseline=0.86)
    data = assert_figure_files(paths)
    runs = pd.read_csv(sigma_experiment["runs"])
    assert sorted(data["run_dir"]) == sorted(runs["run_dir"])
    assert data["is_baseline_run"].sum() == len(SEEDS)
    assert (data.loc[data["silent"], "initial_rate_hz"] == 0).all() and data["silent"].any()
    assert (data["outcome"] == "diverged").sum() == 1
    assert set(data["panel"]) == {"50:50", "80:20", "100:0", "unconstrained"}


def test_fig1c_without_failures_or_unconstrained(sigma_experiment, tmp_path):
    runs = read_run_table(sigma_experiment["runs"])
    only_good = runs[(runs["outcome"] == "successful") & runs["ratio"].notna()]
    fig, data = fig1.plot_accuracy_vs_rate(only_good, baseline_sigma=BASELINE_SIGMA, ratios=[0.5, 0.8, 0.95, 1.0])
    paths = style.write_figure(fig, data, tmp_path / "fig1c")
    assert_figure_files(paths)
    assert len(data) == len(only_good)


def test_fig2b_and_fig2cde(noise_experiment, tmp_path):
    data = assert_figure_files(fig2.build_fig2b(noise_experiment["runs"], tmp_path / "fig2b"))
    assert sorted(data["run_dir"]) == sorted(map(str, noise_experiment["run_dirs"]))
    data = assert_figure_files(fig2.build_fig2cde(noise_experiment["ttests"], tmp_path / "fig2cde"))
    expected = {(r, n) for r in (0.5, 0.75, 0.8) for n in (0.2, 0.4, 0.6)}
    assert len(data) == len(expected)
    assert set(zip(data["ratio"], data["noise_frac"])) == expected
    assert set(data["panel"]) == {"c", "d", "e"}
    tt = pd.read_csv(noise_experiment["ttests"]).set_index(["noise_frac", "ratio"])
    for _, row in data.iterrows():
        expected = tt.loc[(row["noise_frac"], row["ratio"])]
        assert row["mean_diff_pp"] == pytest.approx(100 * expected["mean_diff"])
        assert row["stars"] == (expected["stars"] if isinstance(expected["stars"], str) else "")
    assert (data.loc[data["ratio"] == 0.75, "stars"].str.count(r"\*") >= 1).all()


def test_fig2cde_missing_noise_level_is_annotated(noise_experiment, tmp_path):
    tt = pd.read_csv(noise_experiment["ttests"])
    tt = tt[~np.isclose(tt["noise_frac"], 0.4)]
    fig, data = fig2.plot_difference_from_reference(tt)
    assert set(data["noise_frac"]) == {0.2, 0.6}
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert any(t.startswith("no runs at") and "0.4" in t for t in texts)
    assert_figure_files(style.write_figure(fig, data, tmp_path / "fig2cde"))


def test_fig2cde_other_reference_ratio(noise_experiment):
    from eisnn.stats import ttests_vs_reference

    runs = collect_run_table(noise_experiment["run_dirs"], "fmnist")
    tt = ttests_vs_reference(runs, reference_ratio=0.8, by=["sigma_init", "noise_frac"])
    fig, data = fig2.plot_difference_from_reference(tt)
    assert set(data["ratio"]) == {0.5, 0.75, 1.0}
    assert "80:20" in fig.axes[0].get_ylabel()


def test_fig3_class_activity(sigma_experiment, tmp_path):
    act = read_run_metrics(sigma_experiment["run_dirs"], "activity_class")
    data = assert_figure_files(fig3.build_fig3(sigma_experiment["runs"], act, tmp_path / "fig3"))
    runs = read_run_table(sigma_experiment["runs"])
    shown = runs[runs["ratio"].isin([0.5, 0.8])]
    assert set(data["run_dir"]) == set(shown["run_dir"])  # no 100:0, no unconstrained
    assert set(data["column"].astype(str)) == {"0", "1", "10", "final"}
    final = data[data["column"].astype(str) == "final"]
    diverged = runs.loc[runs["outcome"] == "diverged", "run_dir"].iloc[0]
    assert set(final.loc[final["run_dir"] == diverged, "epoch"]) == {10}  # its last finite snapshot
    assert set(final.loc[final["run_dir"] != diverged, "epoch"]) == {EPOCHS}
    assert (data.groupby(["run_dir", "column"]).size() == N_CLASSES).all()
    assert set(data.loc[data["run_dir"] == diverged, "row"]) == {"failed"}


def test_fig3_without_epoch10_or_failures(sigma_experiment, tmp_path):
    act = read_run_metrics(sigma_experiment["run_dirs"], "activity_class")
    act = act[act["epoch"] != 10]
    runs = read_run_table(sigma_experiment["runs"])
    runs = runs[runs["outcome"] == "successful"]
    fig, data = fig3.plot_class_activity(runs, act)
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert any("no snapshot at epoch 10" in t for t in texts) and "no runs" in texts
    assert_figure_files(style.write_figure(fig, data, tmp_path / "fig3"))


def test_fig4_picks_min_median_max_successful(sigma_experiment, tmp_path):
    dirs = sigma_experiment["run_dirs"]
    paths = fig4.build_fig4(sigma_experiment["runs"], read_run_metrics(dirs, "activity_population"),
                            read_run_metrics(dirs, "weights_hist"), read_histories(dirs), tmp_path / "fig4",
                            prefer_ratio=0.5, dataset="fmnist")
    data = assert_figure_files(paths)
    runs = read_run_table(sigma_experiment["runs"])
    cand = runs[(runs["outcome"] == "successful") & (runs["ratio"] == 0.5)].sort_values(["initial_rate_hz", "run_key"])
    expected = {"low": cand.iloc[0]["run_dir"], "moderate": cand.iloc[(len(cand) - 1) // 2]["run_dir"],
                "high": cand.iloc[-1]["run_dir"]}
    picked = data.groupby("level")["run_dir"].unique().map(lambda v: v[0]).to_dict()
    assert picked == expected
    assert len(cand) >= 3
    assert {"E", "I", "percent", "weights_before", "weights_after", "test_accuracy"} <= set(data["panel"])


def test_fig4_representative_edge_cases(sigma_experiment):
    runs = read_run_table(sigma_experiment["runs"])
    assert fig4.pick_representative_runs(runs[runs["outcome"] != "successful"]).empty
    two = runs[(runs["outcome"] == "successful") & (runs["ratio"] == 0.8)].head(2)
    assert list(fig4.pick_representative_runs(two)["level"]) == ["low", "high"]
    # 100:0 only: the I row reads "no I neurons" instead of failing.
    dirs = sigma_experiment["run_dirs"]
    only_full = runs[runs["ratio"] == 1.0]
    fig, data = fig4.plot_representative_runs(only_full, read_run_metrics(dirs, "activity_population"),
                                              read_run_metrics(dirs, "weights_hist"), read_histories(dirs))
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert "no I neurons" in texts
    assert set(data["ratio"]) == {1.0}


def test_fig5_van_rossum(sigma_experiment, tmp_path):
    paths = fig5.build_fig5(sigma_experiment["runs"], sigma_experiment["van_rossum_table"], tmp_path / "fig5")
    data = assert_figure_files(paths)
    runs = read_run_table(sigma_experiment["runs"])
    constrained = runs[runs["ratio"].notna() & (runs["ratio"] < 1.0)]  # as in the paper: no 100:0
    pre = data[data["group"] == "pre-training"]
    assert set(pre["run_dir"]) == set(constrained["run_dir"])
    post = data[data["group"] != "pre-training"].groupby("run_dir")["group"].unique()
    outcome = constrained.set_index("run_dir")["outcome"]
    for run_dir, groups in post.items():
        assert list(groups) == ["successful" if outcome[run_dir] == "successful" else "failed"]
    fig, data = fig5.plot_van_rossum(runs, sigma_experiment["van_rossum_table"], ratios=[0.8, 1.0])
    assert set(data["ratio"]) == {0.8, 1.0}
    assert set(data.loc[data["ratio"] == 1.0, "category"]) == {"E-E"}
    assert "no I neurons" in [t.get_text() for ax in fig.axes for t in ax.texts]


def test_supplementary_isi(sigma_experiment, tmp_path):
    isi = read_run_metrics(sigma_experiment["run_dirs"], "isi")
    data = assert_figure_files(supplementary.build_isi(sigma_experiment["runs"], isi, tmp_path / "isi"))
    assert set(data["population"]) == {"E", "I"}
    assert set(data["column"]) == {"before", "after"}
    sums = data.groupby(["column", "population", "outcome"])["fraction"].sum()
    np.testing.assert_allclose(sums.to_numpy(), 1.0)


def test_empty_inputs_give_annotated_figures(tmp_path):
    empty_runs = pd.DataFrame({c: pd.Series(dtype=float) for c in ["ratio", "sigma_init", "noise_frac", "seed",
                                                                   "initial_rate_hz", "acc_final", "acc_last10"]})
    empty_runs["run_dir"] = pd.Series(dtype=str)
    empty_runs["diverged"] = pd.Series(dtype=bool)
    empty_runs["success"] = pd.Series(dtype=bool)
    fig, data = fig1.plot_accuracy_vs_rate(empty_runs)
    assert data.empty and any("no runs" in t.get_text() for ax in fig.axes for t in ax.texts)
    fig, data = fig5.plot_van_rossum(empty_runs)
    assert data.empty and any("no runs with E and I" in t.get_text() for ax in fig.axes for t in ax.texts)
    fig, data = supplementary.plot_isi_distributions(empty_runs, pd.DataFrame(columns=["run_key"]))
    assert data.empty


def test_tables_html(sigma_experiment, noise_experiment, tmp_path):
    tables.build_table("van_rossum", sigma_experiment["van_rossum_table"], tmp_path / "t2.html", "Table 2")
    text = (tmp_path / "t2.html").read_text()
    assert "Successful post-training" in text and "<td class=left>80:20</td>" in text
    tables.build_table("ttests", noise_experiment["ttests"], tmp_path / "tt.html", "t-tests")
    assert "75:25" in (tmp_path / "tt.html").read_text()
    tables.build_table("runs", sigma_experiment["runs"], tmp_path / "runs.html", "runs")
    text = (tmp_path / "runs.html").read_text()
    assert text.count("<tr>") == len(sigma_experiment["run_dirs"]) + 1
    with pytest.raises(ValueError):
        tables.build_table("other", sigma_experiment["runs"], tmp_path / "x.html", "x")


# --------------------------------------------------------------------------------------------
# Workflow rules (dry run)
# --------------------------------------------------------------------------------------------


def test_figure_rules_in_the_smoke_dag(tmp_path):
    """Every figure and report table of the smoke preset is scheduled, from the figure rules."""
    import re
    import shutil
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    for name in ("workflow", "config"):
        shutil.copytree(root / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(root / "Snakefile", tmp_path / "Snakefile")
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--directory", str(tmp_path), "--snakefile", str(tmp_path / "Snakefile"),
         "figures", "--dry-run", "--quiet", "rules", "--config", "preset=smoke"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    counts = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", result.stdout, re.MULTILINE)}
    assert {rule: counts.get(rule) for rule in ("fig1b", "fig1cd", "fig2b", "fig2cde", "fig3", "fig4", "fig5",
                                                "fig_isi", "fig_rate", "report_table")} == {
        "fig1b": 2, "fig1cd": 3, "fig2b": 1, "fig2cde": 1, "fig3": 1, "fig4": 1, "fig5": 2, "fig_isi": 2,
        "fig_rate": 1, "report_table": 8,
    }  # fig1cd: fmnist_sigma, shd_sigma (1d) and fmnist_rate; tables: 2 per experiment


# --------------------------------------------------------------------------------------------
# Matched initial rate (target-rate experiment)
# --------------------------------------------------------------------------------------------

RATE_TARGETS = (1.0, 3.0, 10.0, 30.0, 100.0)
RATE_RATIOS = (0.5, 0.8, 1.0, None)
RATE_SEEDS = (0, 1, 2)


def sigma_for_rate(target: float, seed: int) -> float:
    """σ_init at which :func:`initial_rate` is ``target`` (what the calibration finds)."""
    return 1e-3 * (target / (1.3 * (1 + 0.15 * seed))) ** (1 / 1.4)


def make_rate_experiment(root: Path, ratios=RATE_RATIOS, targets=RATE_TARGETS, seeds=RATE_SEEDS):
    """A target-rate experiment plus two σ-experiment runs; returns (run table, t-tests).

    One 50:50 run at 1 Hz is silent on the test split (0 Hz, as a network calibrated near the
    onset of activity can be); 80:20 is better than 100:0 by 3 points.
    """
    from eisnn.stats import ttests_vs_reference

    rng = np.random.default_rng(2)
    run_dirs, target_of = [], {}
    for ratio in ratios:
        for target in targets:
            for seed in seeds:
                silent = ratio == 0.5 and target == targets[0] and seed == seeds[0]
                sigma = 3e-4 if silent else sigma_for_rate(target, seed)
                run = write_sigma_run(root, ratio, sigma, seed, rng, experiment="fmnist_rate",
                                      offset=0.03 * (ratio == 0.8), target_rate_hz=target)
                run_dirs.append(run)
                target_of[str(run)] = target
    others = [write_sigma_run(root, r, 1e-3, 0, rng) for r in (0.8, 1.0)]
    table = collect_run_table([*run_dirs, *others], "fmnist")
    assert table["target_rate_hz"].fillna(-1).tolist() == [target_of.get(d, -1) for d in table["run_dir"]]
    tt = ttests_vs_reference(table, by=["target_rate_hz", "noise_frac"])
    return table, tt


@pytest.fixture(scope="module")
def rate_experiment(tmp_path_factory):
    table, tt = make_rate_experiment(tmp_path_factory.mktemp("results"))
    return {"runs": table, "ttests": tt}


def test_fig_rate_runs_and_differences(rate_experiment, tmp_path):
    from eisnn.figures import rate

    table, tt = rate_experiment["runs"], rate_experiment["ttests"]
    table.to_csv(tmp_path / "runs.csv", index=False)
    tt.to_csv(tmp_path / "ttests.csv", index=False)
    paths = rate.build_fig_rate(tmp_path / "runs.csv", tmp_path / "ttests.csv", tmp_path / "fig_rate",
                                dataset_label="Fashion-MNIST")
    data = assert_figure_files(paths)
    assert set(data["kind"]) == {"run", "mean", "difference"}

    # One run row per target-rate run; the σ-experiment runs are left out.
    run_rows = data[data["kind"] == "run"]
    expected_runs = table.loc[table["target_rate_hz"].notna(), "run_dir"]
    assert len(expected_runs) == len(RATE_RATIOS) * len(RATE_TARGETS) * len(RATE_SEEDS)
    assert sorted(run_rows["run_dir"]) == sorted(expected_runs)
    assert not set(run_rows["run_dir"]) & set(table.loc[table["target_rate_hz"].isna(), "run_dir"])
    silent = run_rows[run_rows["initial_rate_hz"] == 0]
    assert len(silent) == 1 and (silent["x_plotted"] < run_rows.loc[run_rows["initial_rate_hz"] > 0,
                                                                     "initial_rate_hz"].min()).all()
    np.testing.assert_allclose(run_rows["calibrated_rate_hz"], 1.02 * run_rows["target_rate_hz"])
    assert set(run_rows["ratio_label"]) == {"50:50", "80:20", "100:0", "unconstrained"}

    # Means of panel a: mean and SD of the runs' accuracy per ratio × target rate.
    means = data[data["kind"] == "mean"]
    assert len(means) == len(RATE_RATIOS) * len(RATE_TARGETS)
    for _, row in means.iterrows():
        values = run_rows.loc[(run_rows["ratio_label"] == row["ratio_label"])
                              & np.isclose(run_rows["target_rate_hz"], row["target_rate_hz"]), "accuracy_pct"]
        assert row["n"] == len(RATE_SEEDS)
        assert row["mean_pct"] == pytest.approx(values.mean())
        assert row["sd_pct"] == pytest.approx(values.std(ddof=1))

    # Differences of panel b, recomputed from the run table: every target × ratio ≠ 100:0.
    diffs = data[data["kind"] == "difference"]
    assert set(zip(diffs["target_rate_hz"], diffs["ratio"])) == {(t, r) for t in RATE_TARGETS for r in (0.5, 0.8)}
    rated = table[table["target_rate_hz"].notna()]
    for _, row in diffs.iterrows():
        at = rated[np.isclose(rated["target_rate_hz"], row["target_rate_hz"])]
        x = 100 * at.loc[np.isclose(at["ratio"], row["ratio"]), "acc_last10"].dropna().to_numpy()
        ref = 100 * at.loc[np.isclose(at["ratio"], 1.0), "acc_last10"].dropna().to_numpy()
        assert (row["n"], row["n_ref"]) == (x.size, ref.size)
        assert row["mean_diff_pp"] == pytest.approx(x.mean() - ref.mean())
        assert row["se_pp"] == pytest.approx(np.sqrt(x.var(ddof=1) / x.size + ref.var(ddof=1) / ref.size))
    good = diffs[(diffs["ratio"] == 0.8) & (diffs["target_rate_hz"] < 60)]
    assert (good["mean_diff_pp"] > 1).all() and (good["stars"].str.count(r"\*") >= 1).all()
    # Ratios are nudged apart in log space, around the target rate.
    nudge = diffs["x_plotted"] / diffs["target_rate_hz"]
    assert (nudge[diffs["ratio"] == 0.5] < 1).all() and (nudge[diffs["ratio"] == 0.8] > 1).all()


def test_fig_rate_labels(rate_experiment):
    from eisnn.figures import rate

    fig, _ = rate.plot_matched_rate(rate_experiment["runs"], rate_experiment["ttests"], accuracy="acc_final")
    ax_a, ax_b = fig.axes[:2]
    assert ax_a.get_xlabel() == "initial firing rate (Hz)" and ax_b.get_xlabel() == "target initial rate (Hz)"
    assert ax_a.get_ylabel() == "test accuracy, final (%)"
    # panel b shows what the t-tests compared (acc_last10), whatever panel a plots
    assert ax_b.get_ylabel() == "difference from 100:0 (percentage points)\naccuracy, mean of last 10 epochs"
    assert ax_a.get_xscale() == ax_b.get_xscale() == "log"
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    n = len(RATE_TARGETS) * len(RATE_SEEDS)
    assert [f"{label} ({n} runs)" for label in ("50:50", "80:20", "100:0", "unconstrained")] == legend[:4]


def test_fig_rate_needs_target_rates(sigma_experiment):
    from eisnn.figures import rate

    with pytest.raises(ValueError, match="no target_rate_hz"):
        rate.matched_rate_table(sigma_experiment["runs"])
    runs = pd.read_csv(sigma_experiment["runs"]).assign(target_rate_hz=np.nan)
    with pytest.raises(ValueError, match="not from a target-rate experiment"):
        rate.plot_matched_rate(runs, pd.DataFrame())


def test_fig_rate_gaps_and_missing_tests(rate_experiment, tmp_path):
    from eisnn.figures import rate
    from eisnn.stats import ttests_vs_reference

    table = rate_experiment["runs"]
    at_10 = np.isclose(table["target_rate_hz"], 10.0)
    # No 50:50 run at 10 Hz, a single 80:20 run at 30 Hz (p is NaN), no 100:0 run at 100 Hz.
    gaps = table[~(at_10 & (table["ratio"] == 0.5))
                 & ~(np.isclose(table["target_rate_hz"], 30.0) & (table["ratio"] == 0.8) & (table["seed"] > 0))
                 & ~(np.isclose(table["target_rate_hz"], 100.0) & (table["ratio"] == 1.0))]
    tt = ttests_vs_reference(gaps, by=["target_rate_hz", "noise_frac"])
    assert tt["p"].isna().any()
    fig, data = rate.plot_matched_rate(gaps, tt, ratios=[0.5, 0.75, 0.8, 1.0])
    assert_figure_files(style.write_figure(fig, data, tmp_path / "fig_rate"))
    diffs = data[data["kind"] == "difference"]
    assert not ((diffs["ratio"] == 0.5) & (diffs["target_rate_hz"] == 10.0)).any()
    assert diffs.loc[diffs["target_rate_hz"] == 100.0, "mean_diff_pp"].isna().all()
    assert "75:25 (0 runs)" in [t.get_text() for t in fig.legends[0].get_texts()]
    assert not (data.loc[data["kind"] == "run", "ratio"].isna()).any()  # ratios= leaves out unconstrained runs

    # No t-tests at all, or none from a target-rate experiment: panel b says so.
    for tests in (tt.iloc[0:0], pd.DataFrame(columns=["noise_frac", "ratio", "p"])):
        fig, data = rate.plot_matched_rate(gaps, tests)
        assert "no t-tests against the reference" in [t.get_text() for t in fig.axes[1].texts]
        assert set(data["kind"]) == {"run", "mean"}
    # A run table with the column but no rows: annotated, not an error.
    fig, data = rate.plot_matched_rate(table.iloc[0:0], tt.iloc[0:0])
    assert data.empty and any("no runs" in t.get_text() for ax in fig.axes for t in ax.texts)
