"""Hidden spike trains of a snapshot as a Neo ``Block`` in a NIX file, for Elephant (docs/exports.md).

The snapshot is re-simulated with the library's one code path (``eisnn.model.iter_activity``);
the Block has one ``Segment`` per test sample (annotated with the sample index, class label,
prediction by the run's readout rule, ``eisnn.readout.predict``) and in it one ``SpikeTrain``
per hidden neuron (times in ms on the simulation grid, t_stop = T·dt, annotated with the
neuron's index and population E/I/all). The Block carries the run's parameters. Written with
``neo.io.NixIO`` (NIX keeps every annotation; docs/exports.md says why not NWB).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import neo
import numpy as np
import quantities as pq
from neo.io import NixIO

from ..model import iter_activity
from ..params import ModelConfig
from ..readout import predict
from ..snapshot import Snapshot
from .run import ExportError, load_run_snapshot

SUFFIXES = (".nix",)
"""File types :func:`export_spikes` writes."""

BATCH_SIZE = 500
"""Samples simulated per batch."""


@dataclass(frozen=True)
class SpikeExport:
    """What an export wrote: the file, its samples and spikes, and how long it took."""

    path: Path
    n_samples: int
    n_spikes: int
    seconds: float


def _annotation(value: Any) -> Any:
    """A value NIX stores as an annotation: numbers, strings, booleans; others as JSON text."""
    if isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    return json.dumps(value, sort_keys=True, default=str)


def spike_block(
    snapshot: Snapshot,
    model: ModelConfig,
    dataset,
    indices: Sequence[int] | None = None,
    annotations: Mapping[str, Any] | None = None,
    batch_size: int = BATCH_SIZE,
) -> neo.Block:
    """The Neo Block of the hidden spike trains of ``snapshot`` on the samples ``indices`` (default: all)."""
    populations = np.empty(snapshot.w_in.shape[1], dtype=object)
    for name, mask in snapshot.populations.items():
        populations[mask] = name
    t_stop = dataset.n_steps * model.dt_ms * pq.ms
    block = neo.Block(name=f"eisnn epoch {snapshot.epoch}")
    block.annotate(
        epoch=int(snapshot.epoch), constrained=bool(snapshot.constrained), n_steps=int(dataset.n_steps),
        **{key: _annotation(value) for key, value in model.as_dict().items()},
        **{key: _annotation(value) for key, value in (annotations or {}).items()},
    )
    for chunk, hidden, output in iter_activity(snapshot, dataset, batch_size, model, indices):
        predictions = predict(output, model.readout, time_axis=1)
        for sample, raster, prediction in zip(chunk, hidden, predictions):
            label = int(dataset.labels[sample])
            segment = neo.Segment(name=f"sample-{int(sample)}")
            segment.annotate(sample=int(sample), label=label, prediction=int(prediction), correct=bool(label == prediction))
            for neuron in range(raster.shape[1]):
                steps = np.flatnonzero(raster[:, neuron])
                train = neo.SpikeTrain(steps * model.dt_ms, units="ms", t_start=0.0 * pq.ms, t_stop=t_stop,
                                       name=f"neuron-{neuron}")
                train.annotate(neuron=neuron, population=str(populations[neuron]))
                segment.spiketrains.append(train)
            block.segments.append(segment)
    return block


def _sample_indices(samples: int | str | None, n_samples: int) -> np.ndarray:
    if samples is None or samples == "all":
        return np.arange(n_samples)
    count = int(samples)
    if count < 1:
        raise ExportError(f"--samples must be >= 1 or 'all', got {samples}")
    return np.arange(min(count, n_samples))


def check_suffix(path: str | os.PathLike) -> Path:
    path = Path(path)
    if path.suffix not in SUFFIXES:
        raise ExportError(f"{path}: unsupported spike file type {path.suffix or '(none)'!r}; write one of {SUFFIXES}")
    return path


def write_block(block: neo.Block, path: str | os.PathLike) -> Path:
    """Write a Block with NixIO (atomically: a temporary file renamed into place)."""
    path = check_suffix(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with NixIO(str(tmp), mode="ow") as io:
        io.write_block(block)
    os.replace(tmp, path)
    return path


def read_spikes(path: str | os.PathLike) -> neo.Block:
    """Read back a Block written by :func:`export_spikes` (Neo's NixIO)."""
    with NixIO(str(path), mode="ro") as io:
        return io.read_block()


def export_spikes(
    snapshot: Snapshot,
    model: ModelConfig,
    dataset,
    path: str | os.PathLike,
    samples: int | str | None = None,
    annotations: Mapping[str, Any] | None = None,
) -> SpikeExport:
    """Simulate ``snapshot`` on the first ``samples`` test samples (None or 'all': every one) and write the Block."""
    check_suffix(path)
    started = time.perf_counter()
    indices = _sample_indices(samples, dataset.n_samples)
    block = spike_block(snapshot, model, dataset, indices, annotations)
    written = write_block(block, path)
    n_spikes = sum(train.size for segment in block.segments for train in segment.spiketrains)
    return SpikeExport(written, len(indices), int(n_spikes), time.perf_counter() - started)


def export_run_spikes(
    run_dir: str | os.PathLike,
    path: str | os.PathLike,
    epoch: int | None = None,
    samples: int | str | None = None,
    test_path: str | os.PathLike | None = None,
) -> SpikeExport:
    """Export the spike trains of a run's snapshot (default: the last) on its test split.

    The test split: ``test_path``, else the encoded split the workflow wrote beside the run
    (:meth:`eisnn.export.run.RunSnapshot.default_test_path`).
    """
    from ..data import DatasetError, load_spikes

    check_suffix(path)
    run = load_run_snapshot(run_dir, epoch)
    if not run.snapshot.finite:
        raise ExportError(f"{run.run_dir}: snapshot of epoch {run.epoch} has non-finite weights (the run diverged)")
    test_path = Path(test_path) if test_path is not None else run.default_test_path()
    try:
        dataset = load_spikes(test_path)
    except DatasetError as error:
        raise ExportError(f"{error} (give the encoded test split with --test)") from None
    expected = run.info.get("data", {}).get("dataset")
    if expected and dataset.attrs.get("dataset") not in (None, expected):
        raise ExportError(f"{test_path}: a {dataset.attrs.get('dataset')} split, but the run was trained on {expected}")
    in_model = set(ModelConfig.field_names())  # the Block carries these from run.model already
    annotations = {
        "run_dir": str(run.run_dir), "status": run.info.get("status", ""), "test_path": str(test_path),
        **{key: value for key, value in run.params.items() if key not in in_model},
    }
    return export_spikes(run.snapshot, run.model, dataset, path, samples, annotations)
