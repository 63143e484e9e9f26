"""What an export reads from a run directory: the snapshot of one epoch, the neuron constants, the test split.

Shared by the NIR and the spike-train exports (docs/exports.md). Reads ``run.json`` (the resolved
``params`` give the :class:`eisnn.params.ModelConfig`) and a ``weights_epoch-<e>.npz``
(:class:`eisnn.snapshot.Snapshot`); every user error is an :class:`ExportError` with one line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..layout import ENCODED_SPLIT, RunFiles
from ..params import ModelConfig
from ..snapshot import Snapshot


class ExportError(ValueError):
    """An export cannot be made (missing run or epoch, a file type or a graph it cannot handle)."""


@dataclass(frozen=True)
class RunSnapshot:
    """One snapshot of a run with what it was trained with.

    ``params`` is ``run.json``'s resolved ``params`` (flat training options and the run's
    identity); ``info`` the whole ``run.json``.
    """

    run_dir: Path
    snapshot: Snapshot
    model: ModelConfig
    params: dict[str, Any]
    info: dict[str, Any]

    @property
    def epoch(self) -> int:
        return self.snapshot.epoch

    def default_test_path(self) -> Path:
        """The encoded test split the workflow wrote beside the run: ``<results>/encoded/<dataset>/test.h5``.

        A run directory is ``<results>/<experiment>/ratio-*/<init>/noise-*/seed-*`` (docs/architecture.md).
        """
        dataset = self.info.get("data", {}).get("dataset")
        if not dataset:
            raise ExportError(f"{self.run_dir}: run.json names no dataset; give the encoded test split with --test")
        results_dir = self.run_dir.resolve().parents[4]
        return Path(ENCODED_SPLIT.format(results_dir=results_dir, dataset=dataset, split="test"))


def load_run_snapshot(run_dir: str | Path, epoch: int | None = None) -> RunSnapshot:
    """The snapshot of ``epoch`` (default: the last one saved) of a complete run."""
    files = RunFiles(run_dir)
    if not files.run_dir.is_dir():
        raise ExportError(f"{files.run_dir}: no such run directory")
    if not files.run_json.is_file():
        raise ExportError(f"{files.run_json} is missing: the run is not complete")
    try:
        info = json.loads(files.run_json.read_text())
    except json.JSONDecodeError as error:
        raise ExportError(f"{files.run_json}: not valid JSON ({error})") from None
    try:
        declared = files.declared_snapshot_epochs()  # what the run saved, not any stray file
    except (OSError, ValueError) as error:
        raise ExportError(str(error)) from None
    if not declared:
        raise ExportError(f"{files.run_json}: the run declares no snapshot")
    if epoch is None:
        epoch = max(declared)
    if epoch not in declared:
        raise ExportError(f"{files.run_dir}: no snapshot of epoch {epoch} (saved epochs: {declared})")
    if not files.snapshot(epoch).is_file():
        raise ExportError(f"{files.snapshot(epoch)} is missing but {files.run_json.name} declares it")
    params = dict(info.get("params", {}))
    try:
        model = ModelConfig.from_dict(params)
    except (TypeError, ValueError) as error:
        raise ExportError(f"{files.run_json}: {error}") from None
    return RunSnapshot(files.run_dir, Snapshot.load(files.snapshot(epoch)), model, params, info)


def successful_run_dirs(runs_csv: str | Path) -> list[str]:
    """The run directories marked successful in an experiment's run table (``stats/runs.csv``).

    The ``success`` column is :func:`eisnn.stats.collect_run_table`'s (its ``SUCCESS_RULES``).
    """
    import csv

    with open(runs_csv, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [row["run_dir"] for row in rows if row.get("success", "").strip().lower() in ("true", "1")]
