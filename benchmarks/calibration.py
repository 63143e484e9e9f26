"""Time the target-rate calibration on the real Fashion-MNIST and check the rate it reaches.

For each ratio and target rate: `eisnn.calibration.calibrate_sigma` on a 2048-sample subset of
the training split (what `train_pack` does for a run of `fmnist_rate`), its wall time and
bisection steps, and the initial rate of the σ found measured on the whole test split (what
the metrics report). For scale, the time of one training epoch of one run on the full data.
One thread.

    python benchmarks/calibration.py --data-dir ../shared/data/fashion-mnist --out /tmp/calibration-bench
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from eisnn.calibration import InitialNetwork, calibrate_sigma
from eisnn.data import load_spikes
from eisnn.params import CalibrationSettings, RunSpec, TrainOptions
from eisnn.train import PackTrainer
from fmnist_accuracy import encoded_fashion_mnist

RATIOS = (0.5, 0.8, 1.0, None)
TARGETS_HZ = (0.5, 1.0, 3.0, 10.0, 30.0, 100.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/fashion-mnist")
    parser.add_argument("--out", type=Path, default=Path("results/benchmarks/calibration"))
    parser.add_argument("--n-samples", type=int, default=2048)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)

    train_path, test_path = encoded_fashion_mnist(args.data_dir, args.out / "data")
    train, test = load_spikes(train_path), load_spikes(test_path)
    options = TrainOptions(progress=False, threads=1)
    settings = CalibrationSettings(n_samples=args.n_samples)
    print(f"Fashion-MNIST {train.n_samples} train / {test.n_samples} test, 784-100-10, calibration on "
          f"{args.n_samples} training samples, tolerance 5 %, seed {args.seed}, 1 thread")
    print(f"{'ratio':>7} {'target Hz':>9} {'sigma_init':>11} {'train-subset Hz':>15} {'test Hz':>8} "
          f"{'steps':>5} {'seconds':>7}")
    seconds = []
    for ratio in RATIOS:
        for target in TARGETS_HZ:
            started = time.perf_counter()
            result = calibrate_sigma(target, ratio, args.seed, train, options, settings)
            seconds.append(time.perf_counter() - started)
            test_rate = InitialNetwork(ratio, args.seed, test, options, n_samples=None).rate_hz(result.sigma_init)
            print(f"{str(ratio):>7} {target:9g} {result.sigma_init:11.5g} {result.rate_hz:15.4g} {test_rate:8.4g} "
                  f"{result.iterations:5d} {seconds[-1]:7.2f}")

    trainer = PackTrainer([RunSpec(args.out / "epoch", 0.8, 1e-3, 0.0, args.seed)], train, test, options)
    started = time.perf_counter()
    trainer.train_epoch()
    epoch_seconds = time.perf_counter() - started
    print(f"calibration: median {np.median(seconds):.2f} s, max {max(seconds):.2f} s per run "
          f"({len(seconds)} runs); one training epoch of one run: {epoch_seconds:.1f} s; "
          f"median calibration / epoch = {np.median(seconds) / epoch_seconds:.3f}")


if __name__ == "__main__":
    main()
