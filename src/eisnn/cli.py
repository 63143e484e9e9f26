"""Command line: `eisnn download`, `encode`, `train`, `metrics`, `stats`, `requests`, `export` — runs without Snakemake."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from . import __version__
from .errors import USER_ERRORS, describe, show_tracebacks
from .params import DEVICES, READOUTS, SURROGATES, CalibrationSettings, TrainOptions

_RATIO_HELP = "fraction of excitatory hidden neurons in [0, 1], or 'none' for unconstrained weights"

_CHOICES = {"surrogate": SURROGATES, "readout": READOUTS, "device": DEVICES}
"""Training options with a fixed set of values (eisnn.params)."""

_FLAG_HELP = {"progress": "print one line per epoch with each run's test accuracy"}

def _ratio(text: str) -> float | None:
    if text.lower() in ("none", "null"):
        return None
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"ratio {value} is outside [0, 1]")
    return value


def _add_training_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("training options (defaults: the paper's, §4.1)")
    for name, default in TrainOptions().as_dict().items():
        flag = "--" + name.replace("_", "-")
        if name in _CHOICES:
            group.add_argument(flag, choices=_CHOICES[name], default=None, help=f"default {default}")
        elif isinstance(default, bool):
            group.add_argument(flag, action=argparse.BooleanOptionalAction, default=None,
                               help=f"{_FLAG_HELP.get(name, name)} (default: {'on' if default else 'off'})")
        elif isinstance(default, tuple):
            kind = int if name == "snapshot_epochs" else float
            group.add_argument(flag, type=kind, nargs="+", default=None, metavar="X")
        elif name == "sigma_out":
            group.add_argument(flag, type=float, default=None, help="default 7(1-β)/√n_hidden")
        else:
            group.add_argument(flag, type=type(default), default=None, help=f"default {default}")


def _training_options(args: argparse.Namespace, base: dict | None = None) -> TrainOptions:
    values = dict(base or {})
    for name in TrainOptions.option_names():
        given = getattr(args, name, None)
        if given is not None:
            values[name] = given
    if "snapshot_epochs" not in values:
        epochs = values.get("epochs", TrainOptions.epochs)
        values["snapshot_epochs"] = sorted({e for e in (0, 1, 10) if e <= epochs} | {epochs})
    return TrainOptions.from_dict(values)


def _read_pack(args: argparse.Namespace) -> tuple[list, TrainOptions]:
    """The runs and options of a ``--pack`` JSON file; a malformed file is one error naming it."""
    from .params import RunSpec

    try:
        pack = json.loads(Path(args.pack).read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{args.pack}: not valid JSON ({error})") from None
    if not isinstance(pack, dict) or not isinstance(pack.get("runs"), list) or not pack["runs"]:
        raise ValueError(f"{args.pack}: expected an object with a non-empty 'runs' list (see eisnn train --help)")
    runs = []
    for i, run in enumerate(pack["runs"]):
        try:
            runs.append(RunSpec(**run))
        except (TypeError, ValueError) as error:
            raise ValueError(f"{args.pack}: runs[{i}]: {error}") from None
    try:
        return runs, _training_options(args, pack.get("options"))
    except (TypeError, ValueError) as error:
        raise ValueError(f"{args.pack}: options: {error}") from None


def _cmd_train(args: argparse.Namespace) -> int:
    from .params import RunSpec
    from .train import train_pack

    if args.pack:
        runs, options = _read_pack(args)
    else:
        if args.out is None or (args.sigma is None) == (args.target_rate_hz is None):
            raise SystemExit("eisnn train: give --pack, or --out and one of --sigma / --target-rate-hz")
        given = {"n_samples": args.calibration_samples, "rel_tolerance": args.calibration_tolerance}
        calibration = {key: value for key, value in given.items() if value is not None}
        if calibration and args.target_rate_hz is None:
            raise SystemExit("eisnn train: --calibration-samples and --calibration-tolerance need --target-rate-hz")
        try:
            runs = [
                RunSpec(args.out, ratio=args.ratio, sigma_init=args.sigma, noise_frac=args.noise, seed=args.seed,
                        target_rate_hz=args.target_rate_hz, calibration=calibration or None)
            ]
        except ValueError as error:
            raise SystemExit(f"eisnn train: {error}") from None
        options = _training_options(args)
    summaries = train_pack(runs, args.train, args.test, options)
    for run, summary in zip(runs, summaries):
        print(f"{run.run_dir}: {summary['status']}, final test accuracy {summary['final_test_acc']:.4f}")
    return 0


def _cmd_encode(args: argparse.Namespace) -> int:
    from .data import encode_dataset

    params = {key: value for key, value in (args.param or [])}
    train, test = encode_dataset(args.dataset, args.source, args.train_out, args.test_out, **params)
    for name, dataset in (("train", train), ("test", test)):
        rate = dataset.n_events / max(dataset.n_samples, 1)
        print(f"{name}: {dataset.n_samples} samples, {rate:.1f} input spikes per sample")
    return 0


def _cmd_download(args: argparse.Namespace) -> int:
    from .data import download_fashion_mnist, download_shd

    (download_fashion_mnist if args.dataset == "fmnist" else download_shd)(args.directory)
    return 0


def _cmd_requests(args: argparse.Namespace) -> int:
    from .config import ConfigError, load_workflow_config, load_yaml

    try:
        base = {**load_yaml(args.config_dir / "config.yaml"), **({"preset": args.preset} if args.preset else {})}
        cfg = load_workflow_config(base, config_dir=args.config_dir)
    except (ConfigError, OSError) as error:
        raise SystemExit(f"eisnn requests: {error}") from None
    print(f"{'experiment':<14} {'job':<52} {'measured need':>16} {'request (attempt 1)':>22} {'attempt 3':>20}")
    for row in cfg.request_table():
        need = f"{row['need_s'] / 60:.1f} min, {row['peak_mb'] / 1000:.1f} GB"
        first, third = (f"{r.runtime} min, {r.mem_mb} MB" for r in (row["request"], row["retry"]))
        print(f"{row['experiment']:<14} {row['job']:<52} {need:>16} {first:>22} {third:>20}")
    return 0


def _samples(text: str) -> int | str:
    if text == "all":
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of samples or 'all', got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"the number of samples must be >= 1, got {value}")
    return value


def _cmd_export(args: argparse.Namespace) -> int:
    """`eisnn export nir|spikes`: every user error is one line and exit status 1 (docs/exports.md)."""
    from .export import ExportError

    try:
        if args.format == "nir":
            from .export.nir_graph import export_run_nir

            path = export_run_nir(args.run_dir, args.out, args.epoch)
            print(f"{path}: NIR graph, {path.stat().st_size / 1e6:.2f} MB")
        else:
            from .export.spike_trains import check_suffix, export_run_spikes

            check_suffix(args.out)
            done = export_run_spikes(args.run_dir, args.out, args.epoch, args.samples, args.test)
            print(f"{done.path}: {done.n_samples} samples, {done.n_spikes} hidden spikes, "
                  f"{done.path.stat().st_size / 1e6:.1f} MB in {done.seconds:.1f} s")
    except (ExportError, OSError) as error:
        raise SystemExit(f"eisnn export {args.format}: {error}") from None
    return 0


def _run_dataset(run_dir: Path) -> str:
    """The dataset a complete run was trained on (``run.json``: ``data.dataset``)."""
    from .layout import RunFiles

    path = RunFiles(run_dir).run_json
    if not path.is_file():
        raise ValueError(f"{path} is missing: {run_dir} is not a complete run directory")
    try:
        dataset = json.loads(path.read_text()).get("data", {}).get("dataset")
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from None
    if not dataset:
        raise ValueError(f"{path} names no dataset (data.dataset); give --dataset")
    return dataset


def _cmd_metrics(args: argparse.Namespace) -> int:
    """`eisnn metrics`: the workflow's run_metrics job (eisnn.metrics.run_metrics) on one run."""
    from .export.run import load_run_snapshot
    from .metrics import run_metrics

    run = load_run_snapshot(args.run_dir)
    test = args.test if args.test is not None else run.default_test_path()
    if not test.is_file():
        raise FileNotFoundError(2, "no such encoded test split (give it with --test)", str(test))
    options = {"max_samples": args.max_samples, "tau_ms": args.tau_ms, "n_weight_bins": args.n_weight_bins,
               "batch_size": args.batch_size, "vr_seed": args.vr_seed}
    written = run_metrics(args.run_dir, test, run.model, threads=args.threads,
                          **{key: value for key, value in options.items() if value is not None})
    print(f"{args.run_dir}: wrote {len(written)} tables to {next(iter(written.values())).parent}")
    return 0


def _cmd_stats(args: argparse.Namespace) -> int:
    """`eisnn stats`: the workflow's statistics job (eisnn.stats.experiment_statistics)."""
    from .stats import experiment_statistics

    run_dirs = []
    for path in args.runs:
        if not path.is_dir():
            raise FileNotFoundError(2, "no such run directory or folder", str(path))
        found = [path] if (path / "run.json").is_file() else sorted(p.parent for p in path.rglob("run.json"))
        if not found:
            raise ValueError(f"{path}: no run directory (a folder with run.json) in it")
        run_dirs.extend(found)
    dataset = args.dataset
    if dataset is None:
        datasets = {_run_dataset(run_dir) for run_dir in run_dirs}
        if len(datasets) > 1:
            raise ValueError(f"the runs are of several datasets ({', '.join(sorted(datasets))}); give --dataset")
        (dataset,) = datasets
    table, written = experiment_statistics(run_dirs, args.out, dataset, test=args.ttest,
                                           reference_ratio=args.reference_ratio)
    print(f"{len(table)} runs; wrote {', '.join(path.name for path in written.values())} to {args.out}")
    return 0


def _key_value(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line naming the problem (exit status 2)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="eisnn",
        description="Spiking networks with excitatory and inhibitory hidden neurons (Dale's law): "
        "encode datasets to spike lists and train networks. The Snakemake workflow drives the same "
        "commands' library functions for whole experiment grids.",
    )
    parser.add_argument("--version", action="version", version=f"eisnn {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    download = commands.add_parser("download", help="download a raw dataset with checksum verification")
    download.add_argument("dataset", choices=("fmnist", "shd"))
    download.add_argument("directory", type=Path)
    download.set_defaults(func=_cmd_download)

    encode = commands.add_parser(
        "encode",
        help="encode a raw dataset into sparse spike lists (one HDF5 file per split)",
        description="Encode Fashion-MNIST (latency code), SHD (binned) or synthetic data to HDF5 spike lists.",
    )
    encode.add_argument("dataset", choices=("fmnist", "shd", "synthetic"))
    encode.add_argument("--source", type=Path, help="directory with the raw files (fmnist, shd)")
    encode.add_argument("--train-out", type=Path, required=True)
    encode.add_argument("--test-out", type=Path, required=True)
    encode.add_argument(
        "--param", type=_key_value, action="append", metavar="KEY=VALUE",
        help="encoder parameter, e.g. subset_train=10000, n_steps=100, tau_eff=20 (repeatable)",
    )
    encode.set_defaults(func=_cmd_encode)

    requests = commands.add_parser(
        "requests",
        help="the cluster requests of the training and metrics jobs of a config (from the measured costs)",
    )
    requests.add_argument("--config-dir", type=Path, default=Path("config"), help="folder with config.yaml and presets/")
    requests.add_argument("--preset", help="a preset of config/presets/ merged over config.yaml")
    requests.set_defaults(func=_cmd_requests)

    train = commands.add_parser(
        "train",
        help="train one run, or a pack of runs in one process",
        description="Train one run (--out, --ratio, --sigma or --target-rate-hz, --noise, --seed) or a pack of "
        "runs from a JSON file (--pack: {'runs': [{run_dir, ratio, sigma_init, noise_frac, seed}, ...], "
        "'options': {...}}; a run may give target_rate_hz and calibration in place of sigma_init). "
        "Resumes from checkpoint.pt in the run directories after an interruption.",
    )
    train.add_argument("--train", type=Path, required=True, help="encoded training split (HDF5)")
    train.add_argument("--test", type=Path, required=True, help="encoded test split (HDF5)")
    train.add_argument("--out", type=Path, help="run directory")
    train.add_argument("--pack", type=Path, help="JSON file describing a pack of runs")
    train.add_argument("--ratio", type=_ratio, default=0.8, help=_RATIO_HELP)
    train.add_argument("--sigma", type=float, help="σ_init of the input weights")
    train.add_argument(
        "--target-rate-hz", type=float,
        help="instead of --sigma: the initial hidden firing rate (Hz) that σ_init is calibrated to, on the "
        "training data",
    )
    train.add_argument("--calibration-samples", type=int,
                       help=f"training samples the calibration measures the rate on (default "
                       f"{CalibrationSettings.n_samples})")
    train.add_argument("--calibration-tolerance", type=float,
                       help=f"relative tolerance of the calibrated rate (default {CalibrationSettings.rel_tolerance})")
    train.add_argument("--noise", type=float, default=0.0, help="update noise as a fraction of σ_init")
    train.add_argument("--seed", type=int, default=0, help="the run's seed: its initial weights, data order and "
                       "update noise (default 0)")
    _add_training_options(train)
    train.set_defaults(func=_cmd_train)

    export = commands.add_parser(
        "export",
        help="export a trained network (NIR) or its hidden spike trains (Neo, NIX file)",
        description="Export one snapshot of a run directory: `nir` writes the network as a NIR graph, `spikes` "
        "re-simulates it on the test split and writes a Neo Block of hidden spike trains (docs/exports.md). "
        "Needs the `export` extra: pip install 'eisnn[export]'.",
    )
    formats = export.add_subparsers(dest="format", required=True)
    for name, help_text in (("nir", "the network as a NIR graph (.nir)"),
                            ("spikes", "hidden spike trains as a Neo Block (.nix)")):
        sub = formats.add_parser(name, help=help_text)
        sub.add_argument("run_dir", type=Path, help="a complete run directory")
        sub.add_argument("--epoch", type=int, help="snapshot epoch (default: the last saved)")
        sub.add_argument("-o", "--out", type=Path, required=True, help="output file")
        if name == "spikes":
            sub.add_argument("--samples", type=_samples, default=100,
                             help="the first N test samples, or 'all' (default 100; NIX writes about 30 ms per "
                             "spike train, docs/exports.md)")
            sub.add_argument("--test", type=Path,
                             help="encoded test split (HDF5; default: <results>/encoded/<dataset>/test.h5 beside the run)")
        sub.set_defaults(func=_cmd_export)

    metrics = commands.add_parser(
        "metrics",
        help="one run's metrics from its snapshots (what the workflow's run_metrics job computes)",
        description="Simulate every snapshot of a complete run on the encoded test split and write the "
        "tables of docs/formats.md under <run_dir>/metrics/, with the neuron constants and readout the run "
        "was trained with (run.json). The workflow's run_metrics job makes the same call.",
    )
    metrics.add_argument("run_dir", type=Path, help="a complete run directory")
    metrics.add_argument("--test", type=Path,
                         help="encoded test split (HDF5; default: <results>/encoded/<dataset>/test.h5 beside the run)")
    metrics.add_argument("--max-samples", type=int,
                         help="test samples of the Van Rossum average (default: all; config metrics.max_samples)")
    metrics.add_argument("--tau-ms", type=float, help="Van Rossum time constant in ms (default 1.0)")
    metrics.add_argument("--n-weight-bins", type=int, help="bins of the weight histograms (default 50)")
    metrics.add_argument("--batch-size", type=int, help="test samples simulated at once (default 1000)")
    metrics.add_argument("--vr-seed", type=int, help="seed of the Van Rossum sample subset (default 0)")
    metrics.add_argument("--threads", type=int, default=1, help="CPU threads (default 1, as in the workflow)")
    metrics.set_defaults(func=_cmd_metrics)

    stats = commands.add_parser(
        "stats",
        help="the run table, t-tests and Van Rossum tables of runs (what the workflow's statistics job writes)",
        description="Collect the run table of the given runs and write runs.csv, ttests.csv/.md and "
        "van_rossum_table.csv/.md (docs/formats.md) to --out. The workflow's statistics job makes the same call.",
    )
    stats.add_argument("runs", type=Path, nargs="+",
                       help="run directories, or folders searched for them (sorted by path)")
    stats.add_argument("-o", "--out", type=Path, required=True, help="output folder")
    stats.add_argument("--dataset", choices=("fmnist", "shd", "synthetic"),
                       help="the dataset whose success rule applies (default: the runs' own, from run.json)")
    stats.add_argument("--ttest", choices=("welch", "student"), default="welch",
                       help="t-test against the reference ratio (default welch; config statistics.ttest)")
    stats.add_argument("--reference-ratio", type=float, default=1.0,
                       help="the ratio every other is compared with (default 1.0, i.e. 100:0)")
    stats.set_defaults(func=_cmd_stats)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; bad input ends in one line on stderr naming the problem and exit status 1."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print(f"eisnn {args.command}: interrupted", file=sys.stderr)
        return 130
    except USER_ERRORS as error:
        if show_tracebacks():
            raise
        print(f"eisnn {args.command}: {describe(error)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
