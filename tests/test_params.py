"""The owner modules: parameter types (eisnn.params), the readout rule (eisnn.readout), the
result layout (eisnn.layout) and the snapshot file (eisnn.snapshot)."""

import numpy as np
import pytest
import torch

from eisnn.layout import RunFiles, format_value, init_label, ratio_label, seeds_label
from eisnn.params import CalibrationSettings, ModelConfig, RunSpec, TrainOptions
from eisnn.readout import predict
from eisnn.snapshot import Snapshot, load_snapshots

# The flat option names of run.json `params` and of the config's `training:` (unchanged: they are
# the keys of every existing run's parameters and of its checkpoint fingerprint).
FLAT_OPTIONS = {
    "epochs", "batch_size", "learning_rate", "adam_betas", "adam_eps", "n_hidden", "dt_ms", "tau_syn_ms",
    "tau_mem_ms", "threshold", "surrogate", "surrogate_scale", "readout", "sigma_out", "snapshot_epochs",
    "probe_samples", "device", "threads", "progress",
}


def test_train_options_are_flat_and_embed_one_model_config():
    options = TrainOptions.from_dict({"epochs": 5, "snapshot_epochs": [0, "last"], "readout": "per_step",
                                      "tau_mem_ms": 20.0, "n_hidden": 7})
    assert options.model == ModelConfig(readout="per_step", tau_mem_ms=20.0)
    flat = options.as_dict()
    assert set(flat) == FLAT_OPTIONS and set(TrainOptions.option_names()) == FLAT_OPTIONS
    assert flat["readout"] == "per_step" and flat["snapshot_epochs"] == (0, 5)
    assert TrainOptions.from_dict(flat) == options
    assert options.replace(threshold=2.0).model.threshold == 2.0 and options.model.threshold == 1.0
    identity = options.identity_dict()
    assert set(FLAT_OPTIONS) - set(identity) == {"epochs", "snapshot_epochs", "probe_samples", "device", "threads",
                                                 "progress"}
    with pytest.raises(ValueError, match=r"unknown training option\(s\) \['tau'\]"):
        TrainOptions.from_dict({"tau": 3})
    with pytest.raises(ValueError, match="readout 'mean' is not one of"):
        TrainOptions.from_dict({"readout": "mean"})


def test_sigma_out_default_is_the_reference_scale_of_the_hidden_layer():
    options = TrainOptions(n_hidden=100)
    beta = np.exp(-1.0 / 10.0)
    assert options.resolved_sigma_out() == pytest.approx(7 * (1 - beta) / 10.0, rel=1e-15)
    assert TrainOptions(sigma_out=0.3).resolved_sigma_out() == 0.3
    assert TrainOptions(sigma_out=0.0).resolved_sigma_out() == options.resolved_sigma_out()


def test_model_config_rejects_non_finite_constants():
    for name in ("dt_ms", "tau_syn_ms", "tau_mem_ms", "surrogate_scale"):
        for bad in (0.0, -1.0, float("nan"), float("inf")):
            with pytest.raises(ValueError, match=name):
                ModelConfig(**{name: bad})
    with pytest.raises(ValueError, match="threshold"):
        ModelConfig(threshold=float("nan"))


def test_calibration_settings_defaults_round_trip_and_errors():
    settings = CalibrationSettings()
    assert settings.as_dict() == {"n_samples": 2048, "rel_tolerance": 0.05, "sigma_bounds": [1e-6, 10.0]}
    assert CalibrationSettings.from_dict(settings.as_dict()) == settings
    assert CalibrationSettings.from_dict({"n_samples": None}).n_samples is None
    with pytest.raises(ValueError, match=r"unknown calibration setting\(s\) \['tolerance'\]"):
        CalibrationSettings.from_dict({"tolerance": 0.1})
    with pytest.raises(ValueError, match="rel_tolerance must lie in"):
        CalibrationSettings(rel_tolerance=1.5)
    with pytest.raises(ValueError, match="n_samples must be >= 1"):
        CalibrationSettings(n_samples=0)


def test_run_spec_settings_of_a_target_rate_run_before_and_after_calibration(tmp_path):
    pending = RunSpec(tmp_path, 0.8, None, 0.0, 1, target_rate_hz=5.0, calibration={"n_samples": 64})
    assert pending.calibration_settings == CalibrationSettings(n_samples=64)
    record = {"sigma_init": 0.01, "rate_hz": 5.1, "n_samples": 64, "rel_tolerance": 0.02,
              "sigma_bounds": [1e-5, 1.0], "iterations": 3}
    done = RunSpec(tmp_path, 0.8, 0.01, 0.0, 1, target_rate_hz=5.0, calibration=record)
    assert done.calibration_settings == CalibrationSettings(64, 0.02, (1e-5, 1.0))
    with pytest.raises(ValueError, match="noise_frac must be a finite number >= 0"):
        RunSpec(tmp_path, 0.8, 0.01, float("nan"), 0)
    with pytest.raises(ValueError, match="sigma_init must be a finite number > 0"):
        RunSpec(tmp_path, 0.8, float("inf"), 0.0, 0)


def _log_softmax_rule(trace: np.ndarray) -> np.ndarray:
    """The per-step loss's own reading, independently: the class of highest mean log-probability."""
    log_prob = torch.log_softmax(torch.as_tensor(trace[:, 1:], dtype=torch.float64), dim=-1)
    return log_prob.mean(1).argmax(-1).numpy()


def test_readout_rules_on_traces_where_they_disagree():
    # Class 0 has the highest peak (a brief excursion); class 1 is higher on most steps.
    steps = 20
    trace = np.zeros((1, steps + 1, 3), dtype=np.float32)
    trace[0, 1:, 1] = 1.0
    trace[0, 5, 0] = 3.0
    assert predict(trace, "max", time_axis=1).tolist() == [0]
    assert predict(trace, "per_step", time_axis=1).tolist() == [1]
    # Random traces: per_step is the argmax of the mean log-softmax, max the argmax of the peaks.
    rng = np.random.default_rng(0)
    traces = rng.normal(size=(200, steps + 1, 10)).astype(np.float32)
    traces[:, 0] = 0.0
    assert np.array_equal(predict(traces, "per_step", time_axis=1), _log_softmax_rule(traces))
    assert np.array_equal(predict(traces, "max", time_axis=1), traces.max(axis=1).argmax(-1))
    # Time-major layouts give the same answer.
    assert np.array_equal(predict(traces.transpose(1, 0, 2), "per_step"), _log_softmax_rule(traces))
    # A silent readout (all traces at U = 0) is a tie: the lowest class.
    assert predict(np.zeros((4, steps + 1, 3)), "max", time_axis=1).tolist() == [0, 0, 0, 0]
    with pytest.raises(ValueError, match="class axis"):
        predict(traces, "max", time_axis=-1)


def test_labels_and_run_files(tmp_path):
    assert format_value(3e-05) == "0.00003" and format_value(None) == "none" and format_value(1.0) == "1"
    assert seeds_label([0, 1, 2, 5]) == "0-2+5" and init_label(None, 5.0) == "rate-5"
    assert ratio_label(0.8) == "80:20" and ratio_label(float("nan")) == "unconstrained" and ratio_label(0.95) == "95:5"
    files = RunFiles(tmp_path)
    for epoch in (10, 0, 2):
        files.snapshot(epoch).write_bytes(b"")
    (tmp_path / "weights_epoch-x.npz").write_bytes(b"")
    assert list(files.snapshots()) == [0, 2, 10]
    assert files.metric("summary") == tmp_path / "metrics" / "summary.csv"
    with pytest.raises(KeyError, match="unknown metrics table"):
        files.metric("nope")


def test_snapshot_round_trip_keeps_every_array_and_dtype(tmp_path):
    rng = np.random.default_rng(1)
    snapshot = Snapshot(
        w_in=rng.random((5, 4), dtype=np.float32),
        w_out=rng.standard_normal((4, 3)).astype(np.float32),
        excitatory=np.array([True, True, True, False]),
        constrained=True,
        epoch=7,
        diverged=True,
    )
    snapshot.save(RunFiles(tmp_path).snapshot(7))
    with np.load(tmp_path / "weights_epoch-7.npz") as archive:
        assert archive.files == ["w_in", "w_out", "excitatory", "constrained", "epoch", "diverged"]
        assert archive["w_in"].dtype == np.float32 and archive["excitatory"].dtype == bool
        assert archive["epoch"].dtype == np.int64 and archive["constrained"].dtype == bool
    (tmp_path / "run.json").write_text('{"params": {"snapshot_epochs": [7]}}')  # what load_snapshots reads
    (loaded,) = load_snapshots(tmp_path).values()
    assert np.array_equal(loaded.w_in, snapshot.w_in) and np.array_equal(loaded.w_out, snapshot.w_out)
    assert np.array_equal(loaded.excitatory, snapshot.excitatory)
    assert (loaded.constrained, loaded.epoch, loaded.diverged) == (True, 7, True)
    assert list(loaded.populations) == ["E", "I"] and loaded.populations["I"].tolist() == [False] * 3 + [True]
    assert set(loaded.matrices()) == {"w_in", "w_out_E", "w_out_I"}
    unconstrained = Snapshot(snapshot.w_in, snapshot.w_out, np.ones(4, bool), False, 0)
    assert list(unconstrained.populations) == ["all"]
