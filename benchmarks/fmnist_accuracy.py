"""Train on the real Fashion-MNIST and print the test accuracies (the engine's acceptance check).

Two runs, each in its own 1-thread process: an 80:20 network at low initial activity
(σ_init = 1e-3, about 1.3 Hz) and an unconstrained network at the reference tutorial's scale
(σ_init = 7(1-β)/√784 ≈ 0.0238). Targets: ≥ 80 % and ≥ 85 % test accuracy after 30 epochs.

    python benchmarks/fmnist_accuracy.py --data-dir ../shared/data/fashion-mnist --out /tmp/fmnist-bench
"""

from __future__ import annotations

import argparse
import multiprocessing
import time
from pathlib import Path

import pandas as pd

from eisnn.data import encode_fashion_mnist, load_spikes, save_spikes
from eisnn.model import iter_activity
from eisnn.params import ModelConfig, reference_weight_scale
from eisnn.snapshot import Snapshot
from eisnn.train import RunSpec, TrainOptions, train_pack

RUNS = {
    "dale_80_20_sigma_1e-3": dict(ratio=0.8, sigma_init=1e-3, target=0.80),
    "unconstrained_reference_scale": dict(
        ratio=None, sigma_init=reference_weight_scale(784, ModelConfig()), target=0.85
    ),
}


def _train(job):
    name, run, train_path, test_path, out, epochs = job
    spec = RunSpec(out / name, ratio=run["ratio"], sigma_init=run["sigma_init"], noise_frac=0.0, seed=0)
    options = TrainOptions(epochs=epochs, snapshot_epochs=(0, epochs), progress=False, threads=1)
    started = time.perf_counter()
    train_pack([spec], train_path, test_path, options)
    return name, time.perf_counter() - started


def encoded_fashion_mnist(data_dir: Path, out_dir: Path) -> tuple[Path, Path]:
    """The latency-coded Fashion-MNIST splits under ``out_dir`` (encoded from ``data_dir`` once)."""
    train_path, test_path = out_dir / "train.h5", out_dir / "test.h5"
    if not test_path.exists():
        for split, path in (("train", train_path), ("test", test_path)):
            save_spikes(path, encode_fashion_mnist(data_dir, split))
    return train_path, test_path


def initial_rate_hz(run_dir: Path, test) -> float:
    snapshot = Snapshot.load(run_dir / "weights_epoch-0.npz")
    spikes = sum(hidden.sum() for _, hidden, _ in iter_activity(snapshot, test, batch_size=2000))
    return spikes / (test.n_samples * snapshot.w_in.shape[1] * test.n_steps * 1e-3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/fashion-mnist")
    parser.add_argument("--out", type=Path, default=Path("results/benchmarks/fmnist_accuracy"))
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args()

    train_path, test_path = encoded_fashion_mnist(args.data_dir, args.out / "data")
    started = time.perf_counter()
    jobs = [(name, run, train_path, test_path, args.out, args.epochs) for name, run in RUNS.items()]
    with multiprocessing.get_context("spawn").Pool(len(jobs)) as pool:
        wall = dict(pool.map(_train, jobs))
    total = time.perf_counter() - started

    test = load_spikes(test_path)
    print(f"Fashion-MNIST, {args.epochs} epochs, 784-100-10, batch 256, Adam 2e-4, one 1-thread process per run")
    for name, run in RUNS.items():
        history = pd.read_csv(args.out / name / "history.csv")
        final, best = history["test_acc"].iloc[-1], history["test_acc"].max()
        rate = initial_rate_hz(args.out / name, test)
        verdict = "PASS" if final >= run["target"] else "FAIL"
        print(
            f"{name:32s} sigma_init={run['sigma_init']:.4g} initial rate {rate:6.2f} Hz  "
            f"final test acc {final:.4f}  best {best:.4f} (epoch {int(history['epoch'][history['test_acc'].idxmax()])})  "
            f"target {run['target']:.2f} {verdict}  wall {wall[name] / 60:.1f} min"
        )
    print(f"total wall time {total / 60:.1f} min")


if __name__ == "__main__":
    main()
