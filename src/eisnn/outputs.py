"""The files a finished run leaves in its directory (docs/architecture.md, "Run directory").

``history.csv``, the weight snapshots, ``probe.h5`` and, last, ``run.json``, each written
atomically; :func:`remove_outputs` clears them (``run.json`` first) before a run is retrained.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import platform
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import h5py
import numpy as np
import pandas as pd
import torch

from . import __version__
from .io import atomic_path, write_csv_atomic, write_json_atomic
from .layout import RunFiles

HISTORY_COLUMNS = ["epoch", "train_loss", "train_acc", "test_loss", "test_acc", "seconds", "diverged"]


def write_history(files: RunFiles, history: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(list(history), columns=HISTORY_COLUMNS)
    write_csv_atomic(files.history, frame)
    return frame


def write_probe(
    files: RunFiles,
    labels: np.ndarray,
    input_raster: np.ndarray,
    dt_ms: float,
    excitatory: np.ndarray,
    by_epoch: Mapping[int, tuple[np.ndarray, np.ndarray]],
) -> None:
    """``probe.h5``: the probed test samples' input raster, and per snapshot epoch the hidden
    raster uint8 [n, T, H] and readout membrane float32 [n, T+1, O]."""
    with atomic_path(files.probe) as tmp:
        with h5py.File(tmp, "w") as handle:
            handle.create_dataset("labels", data=labels)
            handle.create_dataset("input", data=input_raster, compression="gzip")
            handle.attrs["n_steps"] = input_raster.shape[1]
            handle.attrs["dt_ms"] = dt_ms
            handle.attrs["excitatory"] = excitatory
            for epoch, (hidden, output) in by_epoch.items():
                group = handle.create_group(f"epoch-{epoch}")
                group.create_dataset("hidden", data=hidden, compression="gzip")
                group.create_dataset("output", data=output)


def _git_commit() -> str | None:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def provenance(device: torch.device, threads: int) -> dict[str, Any]:
    return {
        "eisnn_version": __version__,
        "git_commit": _git_commit(),
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
        "device": str(device),
        "cuda_device": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "threads": threads,
        "hostname": platform.node(),
    }


def json_attrs(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """Dataset attributes as JSON values (numbers, text, booleans; anything else as text)."""
    return {key: (value if isinstance(value, (int, float, str, bool)) else str(value)) for key, value in attrs.items()}


def write_run_json(files: RunFiles, summary: Mapping[str, Any]) -> None:
    """``run.json``, written last: its presence marks a complete run; the checkpoint goes."""
    write_json_atomic(files.run_json, summary)
    files.checkpoint.unlink(missing_ok=True)


class RunDirectoryBusy(OSError):
    """Another process is writing a run directory (:func:`lock_run_directories`)."""


@contextlib.contextmanager
def lock_run_directories(run_dirs: Sequence[str | os.PathLike]) -> Iterator[None]:
    """Hold the one-writer lock of every run directory (``<run_dir>/.lock``) for the duration.

    An exclusive POSIX record lock (``fcntl.lockf``, which also holds on NFS): the operating
    system releases it when the process ends, however it ends (a SIGKILL included), so it never
    stays stuck. A second writer of any of the directories (another job, CLI call or checkout
    sharing the results folder) stops with :class:`RunDirectoryBusy` naming the directory,
    before it has touched anything; a pack that lists a directory twice is refused.
    """
    paths = [Path(d) for d in run_dirs]
    seen: dict[str, Path] = {}
    for path in paths:
        key = os.path.normpath(os.path.abspath(path))
        if key in seen:
            raise ValueError(f"{path}: the pack lists this run directory twice; each run needs its own directory")
        seen[key] = path
    with contextlib.ExitStack() as stack:
        for path in paths:
            files = RunFiles(path)
            check_writable(path)
            handle = stack.enter_context(open(files.lock, "a"))
            try:
                fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as error:
                if error.errno in (errno.EACCES, errno.EAGAIN):
                    raise RunDirectoryBusy(
                        f"{path}: another process is writing this run directory (it holds {files.lock.name}); "
                        f"wait for it to finish or stop it, then run again"
                    ) from None
                raise
        yield


def check_writable(run_dir: Path) -> None:
    """Create ``run_dir`` and write a file into it, so that a read-only or missing location stops
    a job before training (and before any previous result is removed), with the path named."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=run_dir, prefix=".write-check-"):
            pass
    except OSError as error:
        raise OSError(f"{run_dir}: cannot write the run's files ({error.strerror or error})") from None


def remove_outputs(run_dir: Path) -> None:
    """Delete a run's previous outputs (not its checkpoint) so that none outlives a retraining.

    `run.json` goes first: a run directory without it is never taken for a complete run.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    for path in RunFiles(run_dir).outputs():
        path.unlink(missing_ok=True)
