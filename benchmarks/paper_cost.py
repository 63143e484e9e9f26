"""What the full paper costs on this machine: training and metrics core-hours per experiment.

Measures this machine's rates on 1 thread, in child processes, as the workflow's jobs run: a
pack of 8 runs (the full paper's `runs_per_job`) trains for 2 epochs on the full data; its
second epoch (from history.csv) is the cost of 8 network-epochs, what the job spends outside
its epochs (start-up, data, the untrained network's snapshot) a fixed cost per pack. Then one
run's metrics over its three snapshots and the whole test split: a cost per snapshot. SHD has its
shapes (700-200-20, T = 200, 8 156 / 2 264 samples) and Poisson input of its density, as in
`throughput.py --shd`. Every pack and every run's metrics of the full paper's config
(config/config.yaml, no preset) is priced with these costs:

    python benchmarks/paper_cost.py                 # measure, then price the full paper
    python benchmarks/paper_cost.py --cores 16      # wall time on 16 cores (default: 16)
    python benchmarks/paper_cost.py --from-config   # no measuring: config/config.yaml's `resources.measured`

The wall time assumes Snakemake keeps every core busy with one single-thread job (a lower
bound: the last jobs leave cores idle).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from throughput import paper_config  # noqa: E402


def measure(dataset: str, data_dir: Path) -> dict:
    """Steady-state seconds per network-epoch and per snapshot, and the fixed cost per pack, on 1 thread."""
    import tempfile

    import cluster_requests

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        training = cluster_requests._child(cluster_requests._train, dataset, data_dir, out, 2)
        metrics = cluster_requests._child(cluster_requests._metrics, dataset, data_dir, out)
    per_network_epoch = training["last_epoch_seconds"] / cluster_requests.N_RUNS
    return {
        "train_seconds_per_network_epoch": per_network_epoch,
        "train_seconds_per_pack": training["seconds"] - training["all_epochs_seconds"],
        "metrics_seconds_per_snapshot": metrics["seconds"] / metrics["n_snapshots"],
        "n_train": training["n_train"],
        "n_test": training["n_test"],
    }


def cost_table(cfg, measured: dict) -> list[dict]:
    """Per enabled experiment: runs, network-epochs, training and metrics core-hours.

    The cost model of the cluster requests (`eisnn.resources.RequestPolicy`: linear in runs,
    epochs, snapshots and data sizes) plus a fixed cost per pack (``train_seconds_per_pack``).
    """
    from eisnn.resources import RequestPolicy

    policy = RequestPolicy(measured=measured)
    rows = []
    for name in cfg.enabled:
        spec = cfg.experiment(name)
        sizes = cfg.dataset_sizes(spec.dataset)
        epochs = spec.training["epochs"]
        packs = spec.packs()
        n_runs = sum(len(pack.seeds) for pack in packs)
        training_s = sum(
            measured[spec.dataset].get("train_seconds_per_pack", 0.0)
            + policy.training_need_seconds(spec.dataset, sizes, len(pack.seeds), epochs)
            for pack in packs
        )
        metrics_s = n_runs * policy.metrics_need_seconds(spec.dataset, sizes[1], len(spec.training["snapshot_epochs"]))
        rows.append({
            "experiment": name,
            "dataset": spec.dataset,
            "runs": n_runs,
            "network_epochs": n_runs * epochs,
            "training_core_h": training_s / 3600,
            "metrics_core_h": metrics_s / 3600,
        })
    return rows


def print_table(rows: list[dict], cores: int, measured: dict) -> None:
    for dataset, costs in measured.items():
        rate = 3600 / costs["train_seconds_per_network_epoch"]
        print(
            f"{dataset}: {costs['train_seconds_per_network_epoch']:.2f} s per network-epoch ({rate:.0f} network-epochs/h "
            f"per core, {costs['n_train']} / {costs['n_test']} samples) + {costs.get('train_seconds_per_pack', 0):.0f} s "
            f"per pack, {costs['metrics_seconds_per_snapshot']:.2f} s per snapshot of metrics"
        )
    print(f"{'experiment':14s} {'dataset':8s} {'runs':>5s} {'net-epochs':>11s} {'train core-h':>13s} "
          f"{'metrics core-h':>15s} {'metrics/train':>14s}")
    for row in rows:
        share = row["metrics_core_h"] / row["training_core_h"] if row["training_core_h"] else math.nan
        print(f"{row['experiment']:14s} {row['dataset']:8s} {row['runs']:5d} {row['network_epochs']:11d} "
              f"{row['training_core_h']:13.1f} {row['metrics_core_h']:15.1f} {share:13.1%}")
    training = sum(row["training_core_h"] for row in rows)
    metrics = sum(row["metrics_core_h"] for row in rows)
    total = training + metrics
    print(f"{'total':14s} {'':8s} {sum(r['runs'] for r in rows):5d} {sum(r['network_epochs'] for r in rows):11d} "
          f"{training:13.1f} {metrics:15.1f} {metrics / training:13.1%}")
    print(f"full paper: {total:.1f} core-hours; on {cores} cores at least {total / cores:.1f} h of wall time")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cores", type=int, default=16, help="cores for the wall-time estimate (default 16)")
    parser.add_argument("--from-config", action="store_true", help="use config/config.yaml's resources.measured")
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared/data/fashion-mnist")
    args = parser.parse_args(argv)
    if args.cores < 1:
        parser.error("--cores must be at least 1")
    if args.from_config:
        cfg = paper_config()
        measured = {dataset: cfg.request_policy.measured[dataset] for dataset in cfg.datasets_in_use()}
    else:
        measured = {}
        for dataset in ("fmnist", "shd"):
            measured[dataset] = measure(dataset, args.data_dir)
            print(f"measured {dataset}: {json.dumps({k: round(v, 3) for k, v in measured[dataset].items()})}", flush=True)
        cfg = paper_config()
    print_table(cost_table(cfg, measured), args.cores, measured)
    return 0


if __name__ == "__main__":
    sys.exit(main())
