"""Reading the tables the figures plot: the run table and the per-run metric CSVs.

Formats: the run table is ``results/<experiment>/stats/runs.csv`` (:func:`eisnn.stats.collect_run_table`);
per-run tables are ``<run_dir>/metrics/<name>.csv`` (:data:`eisnn.layout.METRIC_FILES`) and
``<run_dir>/history.csv`` (:class:`eisnn.layout.RunFiles`). Runs are joined on ``run_dir``,
normalised with :func:`eisnn.layout.run_key`. Nothing here imports torch or scipy, so that a
figure job starts quickly.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import pandas as pd

from eisnn.layout import METRIC_FILES, METRICS_DIR, RunFiles, run_key

BOOL_COLUMNS = ("constrained", "diverged", "success")


def _as_bool(series: pd.Series) -> pd.Series:
    if series.dtype == bool:
        return series
    return series.astype(str).str.strip().str.lower().isin({"true", "1", "1.0", "yes"})


def read_run_table(source: str | os.PathLike | pd.DataFrame) -> pd.DataFrame:
    """The run table (a path to ``runs.csv`` or a DataFrame), typed, with ``run_key`` and ``outcome``.

    ``outcome`` is ``"diverged"`` for diverged runs, else ``"successful"``/``"failed"`` from
    the table's ``success`` column (:data:`eisnn.stats.SUCCESS_RULES`, docs/formats.md).
    """
    table = source.copy() if isinstance(source, pd.DataFrame) else pd.read_csv(source)
    for column in BOOL_COLUMNS:
        if column in table:
            table[column] = _as_bool(table[column])
    for column in ("ratio", "sigma_init", "noise_frac"):
        if column in table:
            table[column] = pd.to_numeric(table[column], errors="coerce")
    table["run_key"] = [run_key(d) for d in table["run_dir"]]
    table["outcome"] = np.where(
        table["diverged"], "diverged", np.where(table["success"], "successful", "failed")
    )
    return table


def read_table(source: str | os.PathLike | pd.DataFrame) -> pd.DataFrame:
    """A CSV path or an already loaded DataFrame (copied)."""
    return source.copy() if isinstance(source, pd.DataFrame) else pd.read_csv(source)


def read_run_metrics(run_dirs: Iterable[str | os.PathLike], name: str, missing_ok: bool = True) -> pd.DataFrame:
    """Concatenate ``<run_dir>/metrics/<name>.csv`` over runs, with a ``run_key`` column first.

    ``name`` is a key of :data:`eisnn.layout.METRIC_FILES` (e.g. ``"activity_class"``).
    Runs without the file are skipped if ``missing_ok`` (an empty frame if none has it).
    """
    if name not in METRIC_FILES:
        raise KeyError(f"unknown metrics table {name!r}; expected one of {sorted(METRIC_FILES)}")
    return _concat_per_run(run_dirs, lambda files: files.metric(name), missing_ok)


def read_per_run_files(paths: Iterable[str | os.PathLike]) -> pd.DataFrame:
    """Concatenate per-run CSVs given by path, with the run inferred from the path.

    ``<run_dir>/metrics/<name>.csv`` and ``<run_dir>/history.csv`` both map to ``run_dir``.
    Every file must exist (these are a workflow rule's declared inputs).
    """
    paths = [Path(p) for p in paths]
    return _concat((p.parent.parent if p.parent.name == METRICS_DIR else p.parent, p) for p in paths)


def read_histories(run_dirs: Iterable[str | os.PathLike], missing_ok: bool = True) -> pd.DataFrame:
    """Concatenate ``<run_dir>/history.csv`` over runs, with a ``run_key`` column first."""
    return _concat_per_run(run_dirs, lambda files: files.history, missing_ok)


def _concat_per_run(run_dirs, file_of: Callable[[RunFiles], Path], missing_ok: bool) -> pd.DataFrame:
    pairs = []
    for run_dir in run_dirs:
        path = file_of(RunFiles(run_dir))
        if path.exists():
            pairs.append((run_dir, path))
        elif not missing_ok:
            raise FileNotFoundError(f"{path} is missing")
    return _concat(pairs)


def _concat(pairs) -> pd.DataFrame:
    """Concatenate the CSV of each (run_dir, path) pair, with the run's ``run_key`` first."""
    frames = []
    for run_dir, path in pairs:
        frame = pd.read_csv(path)
        frame.insert(0, "run_key", run_key(run_dir))
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=["run_key"])
    return pd.concat(frames, ignore_index=True)


def with_run_key(frame: pd.DataFrame) -> pd.DataFrame:
    """Add ``run_key`` from a ``run_dir`` column if a per-run table was given with ``run_dir``."""
    if "run_key" not in frame.columns:
        if "run_dir" not in frame.columns:
            raise KeyError("per-run table needs a run_key or run_dir column")
        frame = frame.copy()
        frame.insert(0, "run_key", [run_key(d) for d in frame["run_dir"]])
    return frame
