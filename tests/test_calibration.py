"""Calibration of σ_init to a target initial firing rate (eisnn.calibration)."""

import json
import re

import numpy as np
import pytest
import torch

from eisnn.calibration import CalibrationResult, InitialNetwork, calibrate_runs, calibrate_sigma
from eisnn.data import make_synthetic_splits, stratified_subset
from eisnn.metrics import firing_rate_hz
from eisnn.model import simulate
from eisnn.params import CalibrationSettings, ModelConfig, RunSpec, TrainOptions
from eisnn.train import PackTrainer, train_pack

N_HIDDEN = 64
N_TEST = 200
# 200 samples × 64 neurons × 50 steps × 1 ms: one spike is 1/640 Hz ≈ 0.0016 Hz, far below the
# 10 % band of the smallest target (0.05 Hz at 0.5 Hz).
OPTIONS = TrainOptions(epochs=1, n_hidden=N_HIDDEN, snapshot_epochs=(0,), progress=False)
ALL_SAMPLES = CalibrationSettings(n_samples=None)


@pytest.fixture(scope="module")
def splits():
    return make_synthetic_splits(64, N_TEST, seed=3, n_units=100, n_steps=50, n_classes=4)


@pytest.fixture(scope="module")
def test_split(splits):
    return splits[1]


def _trainer_network(splits, tmp_path, ratio, sigma_init, seed, options=OPTIONS):
    """The initial weights that train.py builds for this run."""
    run = RunSpec(tmp_path / "run", ratio=ratio, sigma_init=sigma_init, noise_frac=0.0, seed=seed)
    trainer = PackTrainer([run], *splits, options)
    return trainer.w_in[0], trainer.w_out[0], trainer.states[0].excitatory


@pytest.mark.parametrize("target_hz", [0.5, 2.0, 10.0, 50.0])
def test_calibrated_rate_reaches_the_target_in_the_trained_network(splits, test_split, tmp_path, target_hz):
    result = calibrate_sigma(target_hz, 0.8, 0, test_split, OPTIONS, ALL_SAMPLES)
    assert result.converged and result.n_samples == N_TEST
    assert abs(result.rate_hz - target_hz) <= 0.1 * target_hz
    assert result.min_positive_rate_hz == pytest.approx(1 / (N_HIDDEN * N_TEST * 50 * 1e-3))
    # Independently: simulate the network train.py initialises with this σ, count with metrics.
    w_in, w_out, _ = _trainer_network(splits, tmp_path, 0.8, result.sigma_init, seed=0)
    spikes, _ = simulate(w_in[None], w_out[None], test_split, np.arange(N_TEST), ModelConfig())
    raster = spikes[:, 0].permute(1, 0, 2).numpy()  # [B, T, H]
    assert firing_rate_hz(raster, dt_ms=1.0) == pytest.approx(result.rate_hz, rel=1e-12)


@pytest.mark.parametrize("ratio", [0.8, 1.0, None])
def test_weights_for_the_found_sigma_equal_train_py_initial_weights_exactly(splits, test_split, tmp_path, ratio):
    result = calibrate_sigma(10.0, ratio, 7, test_split, OPTIONS, ALL_SAMPLES)
    trainer_w_in, trainer_w_out, trainer_excitatory = _trainer_network(splits, tmp_path, ratio, result.sigma_init, 7)
    network = InitialNetwork(ratio, 7, test_split, OPTIONS, n_samples=None)
    w_in, w_out = network.weights(result.sigma_init)
    assert torch.equal(w_in, trainer_w_in) and torch.equal(w_out, trainer_w_out)  # bit for bit
    assert np.array_equal(network.excitatory, trainer_excitatory)
    assert result.sigma_out == pytest.approx(7 * (1 - ModelConfig().beta) / np.sqrt(N_HIDDEN))
    # An explicit σ_out in the options is honoured the same way.
    options = OPTIONS.replace(sigma_out=0.3)
    _, trainer_w_out, _ = _trainer_network(splits, tmp_path, ratio, result.sigma_init, 7, options)
    assert torch.equal(InitialNetwork(ratio, 7, test_split, options).weights(1.0)[1], trainer_w_out)


def test_calibration_is_deterministic_and_seed_specific(test_split):
    first = calibrate_sigma(5.0, 0.8, 2, test_split, OPTIONS, CalibrationSettings(n_samples=150))
    again = calibrate_sigma(5.0, 0.8, 2, test_split, OPTIONS, CalibrationSettings(n_samples=150))
    assert first == again
    other_seed = InitialNetwork(0.8, 3, test_split, OPTIONS, n_samples=150)
    same_seed = InitialNetwork(0.8, 2, test_split, OPTIONS, n_samples=150)
    assert not torch.equal(other_seed.unit_w_in, same_seed.unit_w_in)
    assert same_seed.rate_hz(first.sigma_init) == first.rate_hz


def test_subset_is_class_balanced_and_sets_the_quantisation(test_split):
    network = InitialNetwork(0.8, 0, test_split, OPTIONS, n_samples=100)
    assert np.array_equal(network.indices, stratified_subset(test_split.labels, 100, seed=0))
    assert np.bincount(test_split.labels[network.indices]).tolist() == [25, 25, 25, 25]
    assert network.min_positive_rate_hz == pytest.approx(1 / (N_HIDDEN * 100 * 50 * 1e-3))
    # The rate is the spike count over neuron-seconds, in Hz, for dt from the model config.
    assert network.rate_hz(0.05) == pytest.approx(network.spike_count(0.05) * network.min_positive_rate_hz, rel=1e-12)


def test_rate_is_non_decreasing_in_sigma(test_split):
    """The premise of the search, on this data: all input weights are ≥ 0 and scale together."""
    network = InitialNetwork(0.8, 0, test_split, OPTIONS, n_samples=None)
    counts = [network.spike_count(sigma) for sigma in np.geomspace(1e-3, 10.0, 25)]
    assert counts[0] == 0 and counts[-1] > 0
    assert all(a <= b for a, b in zip(counts, counts[1:]))


def test_target_above_saturation_raises_with_the_reachable_range(test_split):
    # dt = 1 ms and a reset: a neuron fires at most every other step, < 500 Hz.
    with pytest.raises(ValueError) as error:
        calibrate_sigma(5000.0, 0.8, 0, test_split, OPTIONS)
    message = str(error.value)
    match = re.fullmatch(
        r"target 5000 Hz is unreachable for ratio 0\.8, seed 0: the initial rate spans 0–([0-9.]+) Hz "
        r"for σ_init in \[1e-06, 10\]",
        message,
    )
    assert match, message
    assert 100 < float(match.group(1)) < 500


def test_target_below_the_lower_bound_or_the_resolution_raises(test_split):
    with pytest.raises(
        ValueError, match=r"target 2 Hz is unreachable .* spans [0-9.]+–[0-9.]+ Hz for σ_init in \[1, 10\]"
    ):
        calibrate_sigma(2.0, 0.8, 0, test_split, OPTIONS, CalibrationSettings(sigma_bounds=(1.0, 10.0)))
    # One spike on 200 samples is 0.0015625 Hz: 1e-4 Hz cannot be told apart from silence.
    with pytest.raises(ValueError, match=r"target 0\.0001 Hz is below the resolution .* 0 or >= 0\.00156[23] Hz"):
        calibrate_sigma(1e-4, 0.8, 0, test_split, OPTIONS, ALL_SAMPLES)
    with pytest.raises(ValueError, match="target_rate_hz must be a positive"):
        calibrate_sigma(0.0, 0.8, 0, test_split, OPTIONS)
    with pytest.raises(ValueError, match=r"sigma_bounds must satisfy 0 < low < high < inf"):
        CalibrationSettings(sigma_bounds=(10.0, 1.0))
    with pytest.raises(TypeError, match="expected TrainOptions, got ModelConfig"):
        InitialNetwork(0.8, 0, test_split, ModelConfig())


def test_unfinished_search_warns_and_returns_the_closest_sigma(test_split):
    with pytest.warns(RuntimeWarning, match="did not reach 0.5 Hz"):
        result = calibrate_sigma(0.5, 0.8, 0, test_split, OPTIONS, max_iterations=2)
    assert not result.converged and result.iterations == 2
    network = InitialNetwork(0.8, 0, test_split, OPTIONS)
    assert network.rate_hz(result.sigma_init) == result.rate_hz
    assert 1e-6 <= result.sigma_init <= 10.0


def test_result_record_is_json_ready(test_split):
    result = calibrate_sigma(10.0, None, 1, test_split, OPTIONS, CalibrationSettings(n_samples=120))
    record = json.loads(json.dumps(result.as_dict()))
    assert record["sigma_init"] == result.sigma_init and record["rate_hz"] == result.rate_hz
    assert record["target_rate_hz"] == 10.0 and record["seed"] == 1 and record["ratio"] is None
    assert record["n_samples"] == 120 and record["sigma_bounds"] == [1e-6, 10.0]
    assert record["iterations"] == result.iterations and record["converged"] is True
    assert CalibrationResult(**{**record, "sigma_bounds": tuple(record["sigma_bounds"])}) == result


def test_train_pack_calibrates_target_rate_runs_on_the_training_split(splits, tmp_path):
    train_split, test_split = splits
    options = TrainOptions(epochs=1, n_hidden=N_HIDDEN, snapshot_epochs=(0, 1), progress=False, batch_size=32)
    settings = {"n_samples": 48, "rel_tolerance": 0.05}
    by_rate = RunSpec(tmp_path / "rate", ratio=0.8, sigma_init=None, noise_frac=0.0, seed=4, target_rate_hz=8.0,
                      calibration=settings)
    by_sigma = RunSpec(tmp_path / "sigma", ratio=0.8, sigma_init=0.02, noise_frac=0.0, seed=5)
    train_pack([by_rate, by_sigma], train_split, test_split, options)

    expected = calibrate_sigma(8.0, 0.8, 4, train_split, options, CalibrationSettings(n_samples=48, rel_tolerance=0.05))
    params = json.loads((tmp_path / "rate" / "run.json").read_text())["params"]
    assert params["sigma_init"] == expected.sigma_init and params["target_rate_hz"] == 8.0
    assert params["calibration"] == json.loads(json.dumps(expected.as_dict()))
    assert abs(params["calibration"]["rate_hz"] - 8.0) <= 0.05 * 8.0
    # Independently: the epoch-0 snapshot fires at the recorded rate on the recorded subset.
    snapshot = np.load(tmp_path / "rate" / "weights_epoch-0.npz")
    subset = stratified_subset(train_split.labels, 48, seed=0)
    spikes, _ = simulate(torch.as_tensor(snapshot["w_in"])[None], torch.as_tensor(snapshot["w_out"])[None],
                         train_split, subset, options.model)
    raster = spikes[:, 0].permute(1, 0, 2).numpy()
    assert firing_rate_hz(raster, dt_ms=1.0) == pytest.approx(params["calibration"]["rate_hz"], rel=1e-12)
    # A run given by σ_init keeps its parameters as before (no calibration keys).
    sigma_params = json.loads((tmp_path / "sigma" / "run.json").read_text())["params"]
    assert sigma_params["sigma_init"] == 0.02 and "target_rate_hz" not in sigma_params


def test_calibrate_runs_names_the_run_in_errors(splits, tmp_path):
    train_split = splits[0]
    run = RunSpec(tmp_path / "r", ratio=0.8, sigma_init=None, noise_frac=0.0, seed=0, target_rate_hz=5000.0)
    with pytest.raises(ValueError, match=r"/r: target 5000 Hz is unreachable .* spans 0–[0-9.]+ Hz"):
        calibrate_runs([run], train_split, OPTIONS)
    odd = RunSpec(tmp_path / "r", ratio=0.8, sigma_init=None, noise_frac=0.0, seed=0, target_rate_hz=5.0,
                  calibration={"samples": 10})
    with pytest.raises(ValueError, match=r"unknown calibration setting\(s\) \['samples'\]"):
        calibrate_runs([odd], train_split, OPTIONS)
    with pytest.raises(ValueError, match="give sigma_init or target_rate_hz"):
        RunSpec(tmp_path / "r", ratio=0.8, sigma_init=None, noise_frac=0.0, seed=0)
    with pytest.raises(ValueError, match="have a target rate but no sigma_init"):
        PackTrainer([run], *splits, OPTIONS)
    # An unreachable target stops train_pack before it touches the run's previous results.
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "run.json").write_text("{}")
    with pytest.raises(ValueError, match="unreachable"):
        train_pack([run], *splits, OPTIONS)
    assert (tmp_path / "r" / "run.json").read_text() == "{}"
