"""Names and paths of everything a run, a pack and an experiment write (docs/architecture.md).

The one owner of the result layout: the library writes and reads these names, the workflow
rules import them to declare inputs and outputs. Standard library only, so that the
Snakefile parses with nothing but Snakemake installed.
"""

from __future__ import annotations

import decimal
import json
import math
import os
import re
from pathlib import Path
from typing import Sequence

RUN_DIR = "{results_dir}/{experiment}/ratio-{ratio}/{init}/noise-{noise}/seed-{seed}"
"""A run directory; ``init`` is ``sigma-<σ_init>`` or ``rate-<target Hz>`` (:func:`init_label`)."""

PACK_MARKER = "{results_dir}/{experiment}/ratio-{ratio}/{init}/noise-{noise}/pack-{seeds}.json"
"""The file a training job writes last, listing the runs it trained (:func:`seeds_label`)."""

RUN_JSON = "run.json"
HISTORY_CSV = "history.csv"
PROBE_H5 = "probe.h5"
CHECKPOINT = "checkpoint.pt"
WRITER_LOCK = ".lock"
SNAPSHOT = "weights_epoch-{epoch}.npz"
SNAPSHOT_PATTERN = re.compile(r"^weights_epoch-(\d+)\.npz$")
METRICS_DIR = "metrics"
ENCODED_SPLIT = "{results_dir}/encoded/{dataset}/{split}.h5"
"""An encoded split of a dataset under a results folder (the workflow's data stage writes it)."""
FMNIST_FILES: dict[str, dict[str, str]] = {
    "train": {"images": "train-images-idx3-ubyte.gz", "labels": "train-labels-idx1-ubyte.gz"},
    "test": {"images": "t10k-images-idx3-ubyte.gz", "labels": "t10k-labels-idx1-ubyte.gz"},
}
"""The official Fashion-MNIST files of each split, as downloaded and as read from a ``data_dir``."""
SHD_FILES = {"train": "shd_train.h5", "test": "shd_test.h5"}
"""The SHD file of each split (downloaded as ``<name>.gz``; a ``data_dir`` may hold either form)."""
EXPORTS_DIR = "exports"
"""``<results>/exports/<experiment>/...``: the optional NIR and Neo exports (docs/exports.md)."""
EXPORT_FILES = {"nir": "network.nir", "spikes": "spikes.nix"}
"""Export kind -> file name in a run's export folder (docs/exports.md)."""
STATS_DIR = "stats"

VARIANT_SEPARATOR = "@"
"""Joins an experiment and a method variant in the experiment name of the variant's runs
(``fmnist_sigma@paper``): the default variant keeps the experiment's own name and paths."""

VARIANT_NAME = re.compile(r"^[A-Za-z0-9_]+$")
"""What a variant name may be (letters, digits, underscores)."""


def variant_experiment(experiment: str, variant: str | None) -> str:
    """The experiment name of ``variant``'s runs (``experiment`` itself for the default, None)."""
    return experiment if variant is None else f"{experiment}{VARIANT_SEPARATOR}{variant}"


def split_variant(name: str) -> tuple[str, str | None]:
    """``fmnist_sigma@paper`` -> (``fmnist_sigma``, ``paper``); ``fmnist_sigma`` -> (``fmnist_sigma``, None)."""
    experiment, _, variant = name.partition(VARIANT_SEPARATOR)
    return experiment, variant or None

METRIC_FILES = {
    "summary": "summary.csv",
    "activity_class": "activity_class.csv",
    "activity_population": "activity_population.csv",
    "spikes_per_step": "spikes_per_step.csv",
    "van_rossum": "van_rossum.csv",
    "isi": "isi.csv",
    "weights_hist": "weights_hist.csv",
}
"""Per-run metric table name -> file name under ``<run_dir>/metrics/`` (docs/formats.md)."""

STATS_FILES = {
    "runs": "runs.csv",
    "ttests": "ttests.csv",
    "ttests_md": "ttests.md",
    "van_rossum_table": "van_rossum_table.csv",
    "van_rossum_table_md": "van_rossum_table.md",
}
"""Statistics table name -> file name under ``<results>/<experiment>/stats/`` (docs/formats.md)."""


class RunFiles:
    """The files of one run directory (docs/architecture.md, "Run directory")."""

    def __init__(self, run_dir: str | os.PathLike):
        self.run_dir = Path(run_dir)

    @property
    def run_json(self) -> Path:
        return self.run_dir / RUN_JSON

    @property
    def history(self) -> Path:
        return self.run_dir / HISTORY_CSV

    @property
    def probe(self) -> Path:
        return self.run_dir / PROBE_H5

    @property
    def lock(self) -> Path:
        """The one-writer lock of the run directory (eisnn.outputs.lock_run_directories)."""
        return self.run_dir / WRITER_LOCK

    @property
    def checkpoint(self) -> Path:
        return self.run_dir / CHECKPOINT

    @property
    def metrics_dir(self) -> Path:
        return self.run_dir / METRICS_DIR

    def snapshot(self, epoch: int) -> Path:
        return self.run_dir / SNAPSHOT.format(epoch=int(epoch))

    def declared_snapshot_epochs(self) -> list[int]:
        """The snapshot epochs ``run.json`` declares (``params.snapshot_epochs``): the snapshots of
        the finished run, whatever else lies in the directory."""
        if not self.run_json.is_file():
            raise FileNotFoundError(f"{self.run_json} is missing: the run is not complete")
        try:
            epochs = json.loads(self.run_json.read_text())["params"]["snapshot_epochs"]
        except (ValueError, KeyError, TypeError):
            raise ValueError(f"{self.run_json}: not a run.json with params.snapshot_epochs") from None
        return sorted(int(epoch) for epoch in epochs)

    def snapshots(self) -> dict[int, Path]:
        """``{epoch: path}`` of the snapshot files present, by epoch."""
        found = {}
        for path in self.run_dir.iterdir():
            match = SNAPSHOT_PATTERN.match(path.name)
            if match:
                found[int(match.group(1))] = path
        return dict(sorted(found.items()))

    def metric(self, name: str) -> Path:
        """``metrics/<file>`` of a table of :data:`METRIC_FILES`."""
        if name not in METRIC_FILES:
            raise KeyError(f"unknown metrics table {name!r}; expected one of {sorted(METRIC_FILES)}")
        return self.metrics_dir / METRIC_FILES[name]

    def outputs(self) -> list[Path]:
        """The training outputs present (run.json first, so that it goes first when removed)."""
        return [self.run_json, self.history, self.probe, *self.snapshots().values()]


REPRODUCTION_DIR = "reproduction"
SCORECARD_FILES = {
    "table": "scorecard.csv",
    "markdown": "scorecard.md",
    "html": "scorecard.html",
    "png": "scorecard.png",
    "pdf": "scorecard.pdf",
    "data": "scorecard.data.csv",
}
"""Scorecard output name -> file name under ``<results>/reproduction/`` (docs/reproduction.md)."""


def scorecard_path(results_dir: str, name: str) -> str:
    """``<results>/reproduction/<file>`` of an output of :data:`SCORECARD_FILES`."""
    return f"{results_dir}/{REPRODUCTION_DIR}/{SCORECARD_FILES[name]}"


def export_paths(results_dir: str, selections: Sequence[str | os.PathLike], kind: str) -> list[str]:
    """The ``kind`` export of every run listed in the ``selections`` files (one run directory a line):
    ``<results>/exports/<run directory below results>/<EXPORT_FILES[kind]>``."""
    paths = []
    for selection in selections:
        run_dirs = [line.strip() for line in Path(selection).read_text().splitlines() if line.strip()]
        paths += [f"{results_dir}/{EXPORTS_DIR}/{os.path.relpath(run_dir, results_dir)}/{EXPORT_FILES[kind]}"
                  for run_dir in run_dirs]
    return paths


def stats_path(results_dir: str, experiment: str, name: str) -> str:
    """``<results>/<experiment>/stats/<file>`` of a table of :data:`STATS_FILES`."""
    return f"{results_dir}/{experiment}/{STATS_DIR}/{STATS_FILES[name]}"


def run_key(run_dir: str | os.PathLike) -> str:
    """Canonical text of a run directory path, used to join per-run tables."""
    return os.path.normpath(str(run_dir))


# ---------------------------------------------------------------------------------------------
# Path labels
# ---------------------------------------------------------------------------------------------


def format_value(value: float | None) -> str:
    """Path label of a grid value: ``None`` -> ``none``; numbers in shortest positional form.

    ``0.001`` -> ``0.001``, ``1.0`` -> ``1``, ``3e-05`` -> ``0.00003``. Distinct floats get
    distinct labels.
    """
    if value is None:
        return "none"
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"cannot label the non-finite value {value}")
    text = format(decimal.Decimal(repr(value)), "f")  # repr: the shortest round-trip digits
    return text.rstrip("0").rstrip(".") if "." in text else text


def seeds_label(seeds: Sequence[int]) -> str:
    """Compact label of a seed chunk: ascending runs of consecutive seeds become ``a-b``.

    ``[0, 1, 2, 3]`` -> ``0-3``; ``[8]`` -> ``8``; ``[0, 1, 5]`` -> ``0-1+5``.
    """
    parts: list[str] = []
    start = prev = None
    for seed in seeds:
        if prev is not None and seed == prev + 1:
            prev = seed
            continue
        if start is not None:
            parts.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = seed
    if start is not None:
        parts.append(str(start) if start == prev else f"{start}-{prev}")
    return "+".join(parts)


def init_label(sigma_init: float | None, target_rate_hz: float | None) -> str:
    """Path label of an initialisation: ``sigma-0.001`` or ``rate-5`` (a target rate in Hz)."""
    if (sigma_init is None) == (target_rate_hz is None):
        raise ValueError("an initialisation is a sigma_init or a target_rate_hz, exactly one of them")
    return f"sigma-{format_value(sigma_init)}" if target_rate_hz is None else f"rate-{format_value(target_rate_hz)}"


def is_unconstrained(ratio) -> bool:
    """True for the unconstrained network's ratio: None, or NaN as tables store it."""
    try:
        return ratio is None or math.isnan(float(ratio))
    except (TypeError, ValueError):
        return False


def ratio_label(ratio) -> str:
    """E:I text of a ratio: ``0.8`` -> ``"80:20"``; None/NaN -> ``"unconstrained"``."""
    if is_unconstrained(ratio):
        return "unconstrained"
    excitatory = round(100 * float(ratio), 6)
    return f"{excitatory:g}:{round(100 - excitatory, 6):g}"
