"""Training: determinism, pack independence, resume, divergence, the Dale bound under noise."""

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

from eisnn.data import DatasetError, make_synthetic_splits, save_spikes
from eisnn.params import RunSpec, TrainOptions, fingerprint
from eisnn.snapshot import Snapshot
from eisnn.train import PackTrainer, train_pack


OPTIONS = dict(
    epochs=3, batch_size=32, n_hidden=24, learning_rate=5e-3, snapshot_epochs=(0, 1, 3), progress=False
)
SYNTHETIC = dict(n_units=40, n_steps=30, n_classes=4)


@pytest.fixture(scope="module")
def splits():
    return make_synthetic_splits(192, 64, seed=5, **SYNTHETIC)


@pytest.fixture(scope="module")
def split_files(tmp_path_factory, splits):
    directory = tmp_path_factory.mktemp("data")
    save_spikes(directory / "train.h5", splits[0])
    save_spikes(directory / "test.h5", splits[1])
    return directory / "train.h5", directory / "test.h5"


def _run(tmp_path, name, ratio=0.8, sigma=0.1, noise=0.0, seed=0, target_rate_hz=None):
    """A run given by σ_init, or by a target initial rate (calibrated on 64 training samples)."""
    if target_rate_hz is not None:
        return RunSpec(tmp_path / name, ratio=ratio, sigma_init=None, noise_frac=noise, seed=seed, experiment="test",
                       target_rate_hz=target_rate_hz, calibration={"n_samples": 64})
    return RunSpec(tmp_path / name, ratio=ratio, sigma_init=sigma, noise_frac=noise, seed=seed, experiment="test")


def _outputs(run_dir: Path):
    history = pd.read_csv(run_dir / "history.csv")
    weights = {e: Snapshot.load(run_dir / f"weights_epoch-{e}.npz") for e in (0, 1, 3)}
    return history, weights


def test_training_learns_and_writes_every_output(tmp_path, splits):
    run = _run(tmp_path, "run", noise=0.1)
    options = TrainOptions.from_dict({**OPTIONS, "epochs": 6, "snapshot_epochs": (0, 1, 6)})
    (summary,) = train_pack([run], *splits, options)
    history = pd.read_csv(run.run_dir / "history.csv")
    assert list(history.columns) == ["epoch", "train_loss", "train_acc", "test_loss", "test_acc", "seconds", "diverged"]
    assert history["epoch"].tolist() == list(range(1, 7))
    assert history["test_acc"].iloc[-1] > 0.6  # 4 classes: chance is 0.25
    assert history["train_loss"].iloc[-1] < history["train_loss"].iloc[0]
    assert summary["status"] == "completed" and summary["final_test_acc"] == pytest.approx(history["test_acc"].iloc[-1])
    recorded = json.loads((run.run_dir / "run.json").read_text())
    assert recorded["params"]["sigma_init"] == 0.1 and recorded["seed"] == 0
    assert recorded["provenance"]["torch_version"] == torch.__version__
    assert not (run.run_dir / "checkpoint.pt").exists()
    with h5py.File(run.run_dir / "probe.h5") as probe:
        assert probe["input"].shape == (16, 30, 40)
        assert probe["epoch-6/hidden"].shape == (16, 30, 24)
        assert probe["epoch-6/output"].shape == (16, 31, 4)
        np.testing.assert_array_equal(probe["input"][:], splits[1].dense(np.arange(16)))


def test_dale_bound_holds_after_noisy_updates(tmp_path, splits):
    """Large update noise pushes many weights across zero; every one of them must be clipped."""
    run = _run(tmp_path, "noisy", ratio=0.5, sigma=0.2, noise=1.0)
    free = _run(tmp_path, "free", ratio=None, sigma=0.2, noise=1.0)
    train_pack([run, free], *splits, TrainOptions.from_dict(OPTIONS))
    for epoch in (1, 3):
        snapshot = Snapshot.load(run.run_dir / f"weights_epoch-{epoch}.npz")
        assert snapshot.constrained and snapshot.excitatory.sum() == 12
        assert (snapshot.w_in >= 0).all()
        assert (snapshot.w_out[snapshot.excitatory] >= 0).all()
        assert (snapshot.w_out[~snapshot.excitatory] <= 0).all()
        assert (snapshot.w_in == 0).mean() > 0.1  # the bound was really exercised
        unconstrained = Snapshot.load(free.run_dir / f"weights_epoch-{epoch}.npz")
        assert not unconstrained.constrained and (unconstrained.w_in < 0).mean() > 0.2


def test_same_seed_same_history_and_weights(tmp_path, splits):
    runs = [_run(tmp_path, f"r{i}", noise=0.2, seed=7) for i in range(2)]
    for run in runs:
        train_pack([run], *splits, TrainOptions.from_dict(OPTIONS))
    (h0, w0), (h1, w1) = _outputs(runs[0].run_dir), _outputs(runs[1].run_dir)
    pd.testing.assert_frame_equal(h0.drop(columns="seconds"), h1.drop(columns="seconds"))
    for epoch in w0:
        np.testing.assert_array_equal(w0[epoch].w_in, w1[epoch].w_in)
    other = _run(tmp_path, "other", noise=0.2, seed=8)
    train_pack([other], *splits, TrainOptions.from_dict(OPTIONS))
    assert not np.array_equal(_outputs(other.run_dir)[1][3].w_in, w0[3].w_in)


def test_run_in_a_pack_equals_the_run_trained_alone(tmp_path, splits):
    """K = 4 networks with different ratio, σ, noise and seed in one pass; each equals its solo run."""
    settings = [(0.8, 0.1, 0.0, 0), (0.5, 0.3, 0.2, 1), (None, 0.1, 0.0, 2), (1.0, 0.2, 0.1, 3)]
    pack = [_run(tmp_path / "pack", f"k{i}", *s) for i, s in enumerate(settings)]
    train_pack(pack, *splits, TrainOptions.from_dict(OPTIONS))
    for i, s in enumerate(settings):
        alone = _run(tmp_path / "alone", f"k{i}", *s)
        train_pack([alone], *splits, TrainOptions.from_dict(OPTIONS))
        (h_pack, w_pack), (h_alone, w_alone) = _outputs(pack[i].run_dir), _outputs(alone.run_dir)
        np.testing.assert_allclose(h_pack["test_acc"], h_alone["test_acc"], atol=1e-12)
        np.testing.assert_allclose(h_pack["train_loss"], h_alone["train_loss"], rtol=1e-5)
        for epoch in w_pack:
            np.testing.assert_allclose(w_pack[epoch].w_in, w_alone[epoch].w_in, rtol=1e-5, atol=1e-7)
            np.testing.assert_allclose(w_pack[epoch].w_out, w_alone[epoch].w_out, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("target_rate_hz", [None, 20.0], ids=["by_sigma", "by_target_rate"])
def test_resume_after_a_crash_mid_epoch_equals_an_uninterrupted_run(tmp_path, splits, monkeypatch, capsys,
                                                                    target_rate_hz):
    options = TrainOptions.from_dict(OPTIONS)
    reference = _run(tmp_path / "reference", "run", noise=0.2, seed=3, target_rate_hz=target_rate_hz)
    train_pack([reference], *splits, options)

    interrupted = _run(tmp_path / "interrupted", "run", noise=0.2, seed=3, target_rate_hz=target_rate_hz)
    original = PackTrainer.train_epoch
    calls = {"n": 0}

    def crash_in_second_epoch(self):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("simulated kill in epoch 2")
        return original(self)

    monkeypatch.setattr(PackTrainer, "train_epoch", crash_in_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        train_pack([interrupted], *splits, options)
    assert (interrupted.run_dir / "checkpoint.pt").exists()
    assert not (interrupted.run_dir / "run.json").exists()  # the partial run is not complete
    monkeypatch.setattr(PackTrainer, "train_epoch", original)
    capsys.readouterr()
    train_pack([interrupted], *splits, options)
    assert "resumed 1 run(s) from their epoch-1 checkpoints" in capsys.readouterr().err  # the same σ is found again

    (h_ref, w_ref), (h_res, w_res) = _outputs(reference.run_dir), _outputs(interrupted.run_dir)
    pd.testing.assert_frame_equal(h_ref.drop(columns="seconds"), h_res.drop(columns="seconds"))
    for epoch in w_ref:
        np.testing.assert_array_equal(w_ref[epoch].w_in, w_res[epoch].w_in)
        np.testing.assert_array_equal(w_ref[epoch].w_out, w_res[epoch].w_out)


def test_sigkill_then_restart_resumes_from_checkpoint(tmp_path, split_files):
    """A real SIGKILL of the training process during epoch 2, then the same command again."""
    train_path, test_path = split_files
    command = [
        sys.executable, "-m", "eisnn", "train", "--train", str(train_path), "--test", str(test_path),
        "--ratio", "0.8", "--sigma", "0.1", "--noise", "0.2", "--seed", "4",
        "--epochs", "4", "--batch-size", "8", "--n-hidden", "24", "--learning-rate", "5e-3",
        "--snapshot-epochs", "0", "1", "4",
    ]
    killed_dir, reference_dir = tmp_path / "killed", tmp_path / "reference"
    subprocess.run(command + ["--out", str(reference_dir)], check=True, capture_output=True)
    process = subprocess.Popen(command + ["--out", str(killed_dir)], stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not (killed_dir / "checkpoint.pt").exists() and time.time() < deadline:
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    assert not (killed_dir / "run.json").exists()
    resumed = subprocess.run(command + ["--out", str(killed_dir)], check=True, capture_output=True, text=True)
    assert "resumed 1 run(s) from their epoch-" in resumed.stderr
    for name in ("weights_epoch-1.npz", "weights_epoch-4.npz"):
        a, b = Snapshot.load(reference_dir / name), Snapshot.load(killed_dir / name)
        np.testing.assert_array_equal(a.w_in, b.w_in)
    pd.testing.assert_frame_equal(
        pd.read_csv(reference_dir / "history.csv").drop(columns="seconds"),
        pd.read_csv(killed_dir / "history.csv").drop(columns="seconds"),
    )


def test_diverged_run_is_recorded_and_does_not_stop_its_pack(tmp_path, splits):
    """One network of a pack gets a non-finite loss; it is marked diverged, the other trains on."""
    options = TrainOptions.from_dict(OPTIONS)
    healthy_alone = _run(tmp_path / "alone", "healthy")
    train_pack([healthy_alone], *splits, options)

    diverging, healthy = _run(tmp_path / "pack", "diverging", ratio=None), _run(tmp_path / "pack", "healthy")
    for run in (diverging, healthy):
        run.run_dir.mkdir(parents=True)
    trainer = PackTrainer([diverging, healthy], *splits, options)
    trainer.w_out[0, 0, 0] = float("inf")  # a weight blown up by a bad update
    trainer.fit()
    summaries = trainer.write_outputs(time.time())

    assert [s["status"] for s in summaries] == ["diverged", "completed"]
    history = pd.read_csv(diverging.run_dir / "history.csv")
    assert history["epoch"].tolist() == [1] and history["diverged"].tolist() == [True]
    recorded = json.loads((diverging.run_dir / "run.json").read_text())
    assert recorded["status"] == "diverged" and recorded["diverged_epoch"] == 1
    for epoch in (0, 1, 3):  # every snapshot exists, so the rest of the DAG can go on
        assert (diverging.run_dir / f"weights_epoch-{epoch}.npz").exists()
    (h_pack, w_pack), (h_alone, w_alone) = _outputs(healthy.run_dir), _outputs(healthy_alone.run_dir)
    np.testing.assert_allclose(h_pack["test_acc"], h_alone["test_acc"], atol=1e-12)
    np.testing.assert_allclose(w_pack[3].w_in, w_alone[3].w_in, rtol=1e-5, atol=1e-7)


def test_retraining_leaves_no_output_of_the_previous_training(tmp_path, splits):
    """Fewer snapshot epochs on a rerun: the old snapshot must not survive to be read as a result."""
    run = _run(tmp_path, "run")
    train_pack([run], *splits, TrainOptions.from_dict(OPTIONS))
    assert (run.run_dir / "weights_epoch-1.npz").exists()
    train_pack([run], *splits, TrainOptions.from_dict({**OPTIONS, "epochs": 2, "snapshot_epochs": (0, 2)}))
    assert sorted(p.name for p in run.run_dir.glob("weights_epoch-*.npz")) == ["weights_epoch-0.npz", "weights_epoch-2.npz"]
    assert len(pd.read_csv(run.run_dir / "history.csv")) == 2


def test_options_reject_bad_values():
    with pytest.raises(ValueError, match="snapshot_epochs"):
        TrainOptions(epochs=3, snapshot_epochs=(0, 5))
    with pytest.raises(ValueError, match="unknown training option"):
        TrainOptions.from_dict({"epoch": 3})
    with pytest.raises(ValueError, match="surrogate"):
        TrainOptions.from_dict({"surrogate": "sigmoid"})
    with pytest.raises(ValueError, match="ratio"):
        RunSpec("x", ratio=1.5, sigma_init=0.1, noise_frac=0.0, seed=0)
    assert TrainOptions.from_dict({"epochs": 7, "snapshot_epochs": [0, "last"]}).snapshot_epochs == (0, 7)


def test_cli_trains_a_run_given_by_target_rate(tmp_path, split_files):
    from eisnn.cli import main

    train_path, test_path = split_files
    common = ["train", "--train", str(train_path), "--test", str(test_path), "--ratio", "1.0", "--epochs", "1",
              "--batch-size", "32", "--n-hidden", "24", "--out", str(tmp_path / "run")]
    assert main([*common, "--target-rate-hz", "15", "--calibration-samples", "64"]) == 0
    params = json.loads((tmp_path / "run" / "run.json").read_text())["params"]
    assert params["target_rate_hz"] == 15.0 and params["calibration"]["n_samples"] == 64
    assert params["sigma_init"] == params["calibration"]["sigma_init"]
    assert abs(params["calibration"]["rate_hz"] - 15.0) <= 0.05 * 15.0  # the default tolerance
    with pytest.raises(SystemExit, match="one of --sigma / --target-rate-hz"):
        main([*common, "--target-rate-hz", "15", "--sigma", "0.1"])
    with pytest.raises(SystemExit, match="--calibration-samples and --calibration-tolerance need --target-rate-hz"):
        main([*common, "--sigma", "0.1", "--calibration-tolerance", "0.01"])
    with pytest.raises(SystemExit, match="target_rate_hz must be a positive finite rate in Hz, got -3.0"):
        main([*common, "--target-rate-hz", "-3"])


def test_run_spec_takes_sigma_or_target_rate_not_both(tmp_path):
    with pytest.raises(ValueError, match="give sigma_init or target_rate_hz, not both"):
        RunSpec(tmp_path, ratio=0.8, sigma_init=0.01, noise_frac=0.0, seed=0, target_rate_hz=5.0)
    with pytest.raises(ValueError, match="give sigma_init or target_rate_hz, not both"):
        RunSpec(tmp_path, ratio=0.8, sigma_init=0.01, noise_frac=0.0, seed=0, target_rate_hz=5.0,
                calibration={"n_samples": 10})
    calibrated = RunSpec(tmp_path, ratio=0.8, sigma_init=0.01, noise_frac=0.0, seed=0, target_rate_hz=5.0,
                         calibration={"sigma_init": 0.01, "rate_hz": 5.1})
    assert calibrated.has_sigma and calibrated.params()["calibration"]["rate_hz"] == 5.1


def test_checkpoint_fingerprint_of_a_calibrated_run_holds_sigma_and_settings_not_spike_counts(tmp_path):
    options = TrainOptions.from_dict(OPTIONS)
    record = {"sigma_init": 0.01, "rate_hz": 5.1, "spike_count": 1234, "n_samples": 64, "rel_tolerance": 0.05,
              "sigma_bounds": [1e-6, 10.0], "iterations": 7}

    def fingerprint_of(**changes):
        calibration = {**record, **changes}
        run = RunSpec(tmp_path, 0.8, calibration["sigma_init"], 0.0, 0, target_rate_hz=5.0, calibration=calibration)
        return fingerprint(run, options, {"dataset": "synthetic"})

    assert fingerprint_of(rate_hz=5.1004, spike_count=1235, iterations=8) == fingerprint_of()  # one spike elsewhere
    assert fingerprint_of(sigma_init=0.0102) != fingerprint_of()  # another σ: another run
    assert fingerprint_of(n_samples=128) != fingerprint_of() and fingerprint_of(rel_tolerance=0.02) != fingerprint_of()


def test_checkpoint_fingerprints_are_stable_so_existing_checkpoints_resume():
    """Pinned digests, computed with the release before the parameter types were merged: a
    change of the fingerprint discards every unfinished run's checkpoint."""
    options = TrainOptions.from_dict({**OPTIONS, "readout": "per_step"})
    run = RunSpec("/x/run", 0.8, 0.01, 0.2, 3, experiment="fmnist_sigma")
    assert fingerprint(run, options, {"dataset": "synthetic", "n_train": 300}) == (
        "d54499eda5d205425259214eab255b210e43830997670b975752146da22b152a"
    )
    record = {"sigma_init": 0.01, "rate_hz": 5.1, "spike_count": 1234, "n_samples": 64, "rel_tolerance": 0.05,
              "sigma_bounds": [1e-6, 10.0], "iterations": 7}
    calibrated = RunSpec("/x/run", None, 0.01, 0.0, 0, target_rate_hz=5.0, calibration=record)
    assert fingerprint(calibrated, TrainOptions(), {"dataset": "fmnist"}) == (
        "8feb02033e9b46071c74b678e9f28d4131532e6cc4c6b134a803c892ffbcb61f"
    )
    # Options that do not change results are not part of it.
    moved = options.replace(device="cpu", threads=4, progress=True, probe_samples=2, epochs=9, snapshot_epochs=[0])
    assert fingerprint(run, moved, {"dataset": "synthetic", "n_train": 300}) == fingerprint(
        run, options, {"dataset": "synthetic", "n_train": 300}
    )


def _tree_bytes(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_a_job_failing_before_training_leaves_finished_results_byte_identical(tmp_path, splits, split_files):
    """A failure at each step before training (data, device, the pack's checks, calibration,
    an unwritable run directory) stops train_pack before it removes any finished file."""
    train_split, test_split = splits
    done = _run(tmp_path, "done")
    blocked_parent = tmp_path / "a_file"
    blocked_parent.write_text("not a directory")
    options = TrainOptions.from_dict(OPTIONS)
    train_pack([done], *splits, options)
    before = _tree_bytes(done.run_dir)
    assert "run.json" in before and "history.csv" in before
    other_shape = make_synthetic_splits(64, 32, seed=1, n_units=SYNTHETIC["n_units"] + 1, n_steps=30, n_classes=4)[1]
    failures = [
        ("missing data", lambda: train_pack([done], tmp_path / "missing.h5", split_files[1], options), DatasetError),
        ("mismatched splits", lambda: train_pack([done], train_split, other_shape, options), ValueError),
        ("unreachable target", lambda: train_pack([done, _run(tmp_path, "rate", target_rate_hz=5000.0)], *splits, options),
         ValueError),
        ("unwritable run directory",
         lambda: train_pack([done, RunSpec(blocked_parent / "run", 0.8, 0.1, 0.0, 1)], *splits, options), OSError),
    ]
    if not torch.cuda.is_available():
        failures.append(("no CUDA device", lambda: train_pack([done], *splits, options.replace(device="cuda")),
                         ValueError))
    for what, call, error in failures:
        with pytest.raises(error) as raised:
            call()
        if what == "no CUDA device":
            assert "device 'cuda': this machine has 0 CUDA device(s)" in str(raised.value)
        assert _tree_bytes(done.run_dir) == before, f"{what}: finished files changed"


HOLD_LOCK = (
    "import sys, time\n"
    "from eisnn.outputs import lock_run_directories\n"
    "with lock_run_directories([sys.argv[1]]):\n"
    "    print('holding', flush=True)\n"
    "    time.sleep(120)\n"
)


def test_a_second_writer_of_a_run_directory_is_refused_and_a_killed_writer_leaves_no_lock(tmp_path, splits):
    """One writer per run directory: while another process writes it, train_pack stops before
    touching it; the lock dies with its holder (SIGKILL), so the next job trains."""
    from eisnn.layout import RunFiles
    from eisnn.outputs import RunDirectoryBusy

    run = _run(tmp_path, "busy")
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(run.run_dir)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        with pytest.raises(RunDirectoryBusy, match="another process is writing this run directory"):
            train_pack([run], *splits, TrainOptions.from_dict(OPTIONS))
        assert sorted(p.name for p in run.run_dir.iterdir()) == [RunFiles(run.run_dir).lock.name]
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    summary = train_pack([run], *splits, TrainOptions.from_dict(OPTIONS))
    assert summary[0]["status"] == "completed" and RunFiles(run.run_dir).run_json.is_file()


def test_a_pack_that_lists_a_run_directory_twice_is_refused(tmp_path, splits):
    first = _run(tmp_path, "twice", seed=0)
    second = RunSpec(Path(str(first.run_dir) + "/."), 0.8, 0.1, 0.0, 1)
    with pytest.raises(ValueError, match="lists this run directory twice"):
        train_pack([first, second], *splits, TrainOptions.from_dict(OPTIONS))
    assert not (first.run_dir / "run.json").exists()


FAULTS = {
    # where the fault strikes (the file whose write it breaks, and at which write), what it is
    "full disk at the epoch-2 checkpoint": ("checkpoint.pt", 2, errno.ENOSPC),
    "full disk at probe.h5": ("probe.h5", 1, errno.ENOSPC),
    "run directory read-only after epoch 1": ("checkpoint.pt", 2, errno.EACCES),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_a_full_disk_or_a_read_only_run_directory_is_one_line_and_loses_no_epoch(tmp_path, splits, monkeypatch,
                                                                                capsys, fault):
    """The write that fails is one error naming the run directory, the file and the reason; the
    last checkpoint stays whole, so the rerun resumes from it and ends as an uninterrupted run.
    A full disk is the kernel's own ENOSPC (the file is written to /dev/full); a read-only
    directory is chmod 555, or, for root (whom chmod does not stop), an EACCES from creating the file."""
    import tempfile

    from eisnn.errors import describe
    from eisnn.layout import RunFiles

    name, at_write, code = FAULTS[fault]
    if code == errno.ENOSPC and not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    options = TrainOptions.from_dict(OPTIONS)
    reference = _run(tmp_path / "reference", "run", noise=0.2, seed=3)
    train_pack([reference], *splits, options)
    run = _run(tmp_path / "faulty", "run", noise=0.2, seed=3)
    files = RunFiles(run.run_dir)

    real_mkstemp = tempfile.mkstemp
    writes = {"n": 0}

    def faulty_mkstemp(*args, **kwargs):
        if kwargs.get("prefix") == f".{name}.":
            writes["n"] += 1
            if writes["n"] >= at_write:
                if code == errno.EACCES and os.geteuid() != 0:
                    os.chmod(run.run_dir, 0o555)
                elif code == errno.EACCES:
                    raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), kwargs["dir"])
                else:
                    fd, path = real_mkstemp(*args, **kwargs)
                    os.close(fd)
                    os.unlink(path)
                    os.symlink("/dev/full", path)
                    return os.open(path, os.O_WRONLY), path
        return real_mkstemp(*args, **kwargs)

    monkeypatch.setattr("eisnn.io.tempfile.mkstemp", faulty_mkstemp)
    try:
        with pytest.raises(OSError) as raised:
            train_pack([run], *splits, options)
    finally:
        os.chmod(run.run_dir, 0o755)
    reason = os.strerror(code)
    assert describe(raised.value) == f"{run.run_dir}: cannot write {name} ({reason})"
    assert raised.value.errno == code
    checkpoint = torch.load(files.checkpoint, weights_only=False)
    assert checkpoint["epoch"] == (1 if name == "checkpoint.pt" else 3)
    assert not files.run_json.exists()
    assert not [p.name for p in run.run_dir.iterdir() if p.name.endswith(".tmp")]  # no partial file is left

    monkeypatch.setattr("eisnn.io.tempfile.mkstemp", real_mkstemp)
    capsys.readouterr()
    train_pack([run], *splits, options)
    assert f"resumed 1 run(s) from their epoch-{checkpoint['epoch']} checkpoints" in capsys.readouterr().err
    (h_ref, w_ref), (h_res, w_res) = _outputs(reference.run_dir), _outputs(run.run_dir)
    pd.testing.assert_frame_equal(h_ref.drop(columns="seconds"), h_res.drop(columns="seconds"))
    for epoch in w_ref:
        np.testing.assert_array_equal(w_ref[epoch].w_in, w_res[epoch].w_in)
