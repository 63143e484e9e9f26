"""The benchmark scripts' logic: the GPU check's comparison and refusal, the paper's cost table."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import gpu_check
import paper_cost

from eisnn.data import make_synthetic

SMALL = dict(n_in=30, n_hidden=16, n_out=4, n_steps=20, n_train=512)


@pytest.fixture(scope="module")
def small_data():
    return make_synthetic(512, n_units=SMALL["n_in"], n_steps=SMALL["n_steps"], n_classes=SMALL["n_out"], seed=5)


@pytest.mark.skipif(gpu_check.no_cuda_message() is None, reason="a CUDA device is present")
def test_gpu_check_without_cuda_says_so_in_one_line_and_exits_2():
    result = subprocess.run([sys.executable, "benchmarks/gpu_check.py"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stdout.strip().startswith("no CUDA device: nothing to check")
    assert len(result.stdout.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_gpu_check_comparison_agrees_for_the_torch_backend_and_catches_a_disagreement(small_data, monkeypatch, capsys):
    """The comparison the GPU check makes, run against the torch backend on the CPU."""
    assert gpu_check.compare("small", SMALL, small_data, 2, device="cpu")
    assert "agrees" in capsys.readouterr().out

    import eisnn.model

    honest = eisnn.model.forward_backward

    def off_by_a_thousandth(*args, backend="auto", **kwargs):
        result = honest(*args, backend=backend, **kwargs)
        if backend == "torch":
            result.grad_w_in = result.grad_w_in * 1.001
        return result

    monkeypatch.setattr(eisnn.model, "forward_backward", off_by_a_thousandth)
    assert not gpu_check.compare("small", SMALL, small_data, 1, device="cpu")
    assert "DISAGREES" in capsys.readouterr().out


def test_gpu_check_speed_is_network_epochs_per_hour(small_data):
    rate = gpu_check.speed(SMALL, small_data, 2, 1, device="cpu")
    assert np.isfinite(rate) and rate > 0


def test_paper_cost_prices_every_run_of_the_full_config():
    """Network-epochs and core-hours from the config's own grid and measured costs, independently."""
    cfg = paper_cost.paper_config()
    measured = {dataset: dict(cfg.request_policy.measured[dataset], train_seconds_per_pack=60.0)
                for dataset in cfg.datasets_in_use()}
    rows = {row["experiment"]: row for row in paper_cost.cost_table(cfg, measured)}
    assert set(rows) == set(cfg.enabled)
    for name, row in rows.items():
        spec = cfg.experiment(name)
        runs = spec.runs()
        assert row["runs"] == len(runs)
        assert row["network_epochs"] == len(runs) * spec.training["epochs"]
        costs = measured[spec.dataset]
        n_train, n_test = cfg.dataset_sizes(spec.dataset)
        per_network_epoch = costs["train_seconds_per_network_epoch"] * (n_train + n_test) / (costs["n_train"] + costs["n_test"])
        expected = (60.0 * len(spec.packs()) + len(runs) * spec.training["epochs"] * per_network_epoch) / 3600
        assert row["training_core_h"] == pytest.approx(expected)
        n_snapshots = len(spec.training["snapshot_epochs"])
        assert row["metrics_core_h"] == pytest.approx(
            len(runs) * n_snapshots * costs["metrics_seconds_per_snapshot"] * n_test / costs["n_test"] / 3600)
    # The paper's scale: 728 + 1280 Fashion-MNIST runs × 30 epochs and 728 SHD runs × 200 epochs.
    assert sum(row["network_epochs"] for row in rows.values()) == 205840


@pytest.mark.parametrize("dataset", ["fmnist", "shd"])
def test_the_measured_pack_trains_with_the_full_papers_options(dataset):
    """paper_cost's rates come from a pack trained as the paper's jobs train (its readout,
    surrogate and network size), only for fewer epochs, on 1 thread."""
    import throughput
    from eisnn.params import TrainOptions

    cfg = paper_cost.paper_config()
    spec = next(cfg.experiment(e) for e in cfg.enabled if cfg.experiment(e).dataset == dataset)
    measured, paper = throughput.paper_train_options(dataset, 2), TrainOptions.from_dict(spec.train_options)
    assert measured.model == paper.model and measured.model.readout == "per_step"
    for name in ("n_hidden", "batch_size", "learning_rate", "adam_betas", "sigma_out"):
        assert getattr(measured, name) == getattr(paper, name), name
    assert measured.n_hidden == {"fmnist": 100, "shd": 200}[dataset]
    assert (measured.epochs, measured.snapshot_epochs, measured.threads) == (2, (0, 1, 2), 1)


def test_paper_cost_from_config_prints_a_total(capsys):
    assert paper_cost.main(["--from-config", "--cores", "16"]) == 0
    out = capsys.readouterr().out
    assert "full paper:" in out and "on 16 cores" in out


def test_the_throughput_profile_accounts_for_every_phase_of_a_step():
    result = subprocess.run(
        [sys.executable, "benchmarks/throughput.py", "--shd", "--profile", "--batches", "1", "--warmup", "0"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr
    rows = {}
    for line in result.stdout.splitlines()[1:]:
        *name, ms, share = line.split() if "%" in line else (*line.split(), "")
        rows[" ".join(name)] = (float(ms), share)
    phases = ["batch assembly", "forward kernel", "predictions", "backward kernel", "Adam", "Dale bound"]
    assert list(rows) == [*phases, "total"]
    assert sum(rows[name][0] for name in phases) == pytest.approx(rows["total"][0], abs=0.2)
    assert sum(float(rows[name][1].rstrip("%")) for name in phases) == pytest.approx(100, abs=0.5)
