"""Measure what one training pack and one metrics job need, for the cluster requests.

Trains one pack of 8 runs (the full paper's `runs_per_job`, with its training options: the
per-step readout, the surrogate, the network size) for one epoch on the full data,
then computes one run's metrics, each in its own child process with 1 thread (as a cluster
job runs), and prints the per-network-epoch and per-snapshot costs and peak memory that
`resources.measured` in config/config.yaml holds (see eisnn.resources and the README's cluster
section):

    python benchmarks/cluster_requests.py              # both datasets
    python benchmarks/cluster_requests.py --only fmnist

Fashion-MNIST: the real data in ../shared/data/fashion-mnist (60 000 / 10 000). SHD is not
available offline: its shapes (700-200-20, T = 200, 8 156 / 2 264 samples) with Poisson input
of SHD's density (≈ 4 200 binned spikes per sample, as benchmarks/throughput.py --shd).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from throughput import SHD, make_input, paper_train_options

N_RUNS = 8
SHD_TEST = 2264


def _dataset(name: str, split: str, data_dir: Path):
    from eisnn.data import encode_fashion_mnist

    if name == "fmnist":
        return encode_fashion_mnist(data_dir, split)
    if split == "train":
        return make_input(SHD, SHD["n_train"], True, None)
    test = make_input(SHD, SHD_TEST, True, None)
    test.labels[:] = np.arange(SHD_TEST) % SHD["n_out"]  # every class present in the metrics
    return test


def _train(name: str, data_dir: Path, out: Path, epochs: int, queue) -> None:
    """Train a pack of N_RUNS runs with the full paper's options for `epochs` epochs (snapshots at
    every epoch) on 1 thread."""
    import pandas as pd
    import torch

    from eisnn.layout import RunFiles
    from eisnn.params import RunSpec
    from eisnn.train import train_pack

    torch.set_num_threads(1)
    train, test = _dataset(name, "train", data_dir), _dataset(name, "test", data_dir)
    options = paper_train_options(name, epochs)
    runs = [RunSpec(out / f"run-{k}", 0.8, 1e-3 if name == "fmnist" else 3e-3, 0.0, k) for k in range(N_RUNS)]
    started = time.perf_counter()
    train_pack(runs, train, test, options)
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    epoch_seconds = pd.read_csv(RunFiles(out / "run-0").history)["seconds"]  # the pack's epochs
    queue.put({"seconds": seconds, "peak_mb": peak_mb, "n_train": train.n_samples, "n_test": test.n_samples,
               "last_epoch_seconds": float(epoch_seconds.iloc[-1]), "all_epochs_seconds": float(epoch_seconds.sum())})


def _metrics(name: str, data_dir: Path, out: Path, queue) -> None:
    import torch

    from eisnn.metrics import compute_run_metrics, write_run_metrics

    torch.set_num_threads(1)
    test = _dataset(name, "test", data_dir)
    started = time.perf_counter()
    tables = compute_run_metrics(out / "run-0", test)
    write_run_metrics(out / "run-0", tables)
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put({"seconds": seconds, "peak_mb": peak_mb, "n_snapshots": int(tables["summary"].shape[0])})


def _child(target, *args) -> dict:
    queue = multiprocessing.get_context("spawn").Queue()
    process = multiprocessing.get_context("spawn").Process(target=target, args=(*args, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def measure(name: str, data_dir: Path) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        training = _child(_train, name, data_dir, out, 1)
        metrics = _child(_metrics, name, data_dir, out)  # run-0's snapshots, the whole test split
    return {
        "train_seconds_per_network_epoch": round(training["seconds"] / N_RUNS, 2),
        "train_peak_mb": round(training["peak_mb"]),
        "metrics_seconds_per_snapshot": round(metrics["seconds"] / metrics["n_snapshots"], 2),
        "metrics_peak_mb": round(metrics["peak_mb"]),
        "n_train": training["n_train"],
        "n_test": training["n_test"],
        "runs_per_pack": N_RUNS,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/fashion-mnist")
    parser.add_argument("--only", choices=("fmnist", "shd"))
    args = parser.parse_args()
    for name in [args.only] if args.only else ["fmnist", "shd"]:
        result = measure(name, args.data_dir)
        print(f"{name}: {json.dumps(result)}", flush=True)


if __name__ == "__main__":
    main()
