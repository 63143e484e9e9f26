"""The encoded spike-list store: :class:`SpikeDataset` and its HDF5 file (``save_spikes``,
``load_spikes``; format in ``docs/architecture.md``, "Encoded dataset").

An encoded split is a list of input spikes ``(sample, step, unit)`` sorted by sample, then step,
then unit, plus one label per sample. The events of one sample form one row of a CSR layout:
:func:`csr_offsets` gives the row pointers and :func:`csr_gather` the events of chosen rows.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from eisnn.io import atomic_path

from .errors import DatasetError, check_range, hdf5_errors

_RESERVED_ATTRS = ("n_steps", "n_units", "n_classes", "n_samples")
_EVENT_DATASETS = ("sample", "step", "unit")


def csr_offsets(sample: np.ndarray, n_samples: int) -> np.ndarray:
    """CSR row pointers of sorted sample ids, int64 ``[n_samples + 1]``.

    Sample i owns events ``offsets[i]:offsets[i + 1]``; a sample without events owns none.
    """
    return np.searchsorted(sample, np.arange(n_samples + 1, dtype=np.int64), side="left").astype(np.int64)


def csr_gather(offsets: np.ndarray, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Events of the rows ``indices`` (int64, any order, repeats allowed) as ``(batch_pos, source)``.

    ``source[k]`` is the position of output event k in the event arrays and ``batch_pos[k]`` the
    position in ``indices`` of the row it belongs to; output events come ordered by batch
    position, each row's events in their stored order.
    """
    starts = offsets[indices]
    counts = offsets[indices + 1] - starts
    batch_pos = np.repeat(np.arange(indices.shape[0], dtype=np.int64), counts)
    # Position of each output event inside the source arrays: its rank within its row (running
    # index minus the row's first output slot) plus the row's source start.
    first_slot = np.cumsum(counts) - counts
    source = np.arange(int(counts.sum()), dtype=np.int64) + np.repeat(starts - first_slot, counts)
    return batch_pos, source


@dataclass(eq=False)
class SpikeDataset:
    """Input spikes of one split as sorted event lists plus labels.

    ``sample``, ``step`` and ``unit`` hold one entry per input spike, sorted by sample, then
    step, then unit. A (sample, step, unit) triple may repeat (SHD: two spikes in one time bin);
    each repetition is one more unit of input current. Treat instances as immutable: ``offsets``
    is computed once and cached.
    """

    sample: np.ndarray
    step: np.ndarray
    unit: np.ndarray
    labels: np.ndarray
    n_steps: int
    n_units: int
    n_classes: int
    attrs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.sample = np.ascontiguousarray(self.sample, dtype=np.int64).reshape(-1)
        self.step = np.ascontiguousarray(self.step, dtype=np.int32).reshape(-1)
        self.unit = np.ascontiguousarray(self.unit, dtype=np.int32).reshape(-1)
        self.labels = np.ascontiguousarray(self.labels, dtype=np.int64).reshape(-1)
        self.n_steps = int(self.n_steps)
        self.n_units = int(self.n_units)
        self.n_classes = int(self.n_classes)
        self.attrs = dict(self.attrs)

    @property
    def n_samples(self) -> int:
        return int(self.labels.shape[0])

    @property
    def n_events(self) -> int:
        return int(self.sample.shape[0])

    @cached_property
    def offsets(self) -> np.ndarray:
        """CSR row pointers, int64 ``[n_samples + 1]``: sample i owns events offsets[i]:offsets[i+1]."""
        return csr_offsets(self.sample, self.n_samples)

    def _indices(self, indices: Any) -> np.ndarray:
        if indices is None:
            return np.arange(self.n_samples, dtype=np.int64)
        if isinstance(indices, slice):
            return np.arange(self.n_samples, dtype=np.int64)[indices]
        idx = np.asarray(indices)
        if idx.dtype == bool:
            if idx.shape != (self.n_samples,):
                raise IndexError(f"boolean mask of shape {idx.shape} for {self.n_samples} samples")
            return np.flatnonzero(idx).astype(np.int64)
        if idx.size and not np.issubdtype(idx.dtype, np.integer):
            raise IndexError(f"sample indices must be integers, got dtype {idx.dtype}")
        idx = idx.astype(np.int64).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= self.n_samples):
            raise IndexError(f"sample indices must lie in 0..{self.n_samples - 1}")
        return idx

    def events(self, indices: Any = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Events of the given samples as int64 ``(batch_pos, step, unit)``.

        ``batch_pos[k]`` is the position in ``indices`` of the sample that fired event k. Events
        come ordered by batch position, then step, then unit.
        """
        batch_pos, source = csr_gather(self.offsets, self._indices(indices))
        return batch_pos, self.step[source].astype(np.int64), self.unit[source].astype(np.int64)

    def row_events(self, indices: Any = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Events of the given samples as CSR rows: ``(row_offsets int64, step int32, unit int32)``.

        Row r holds the events of sample ``indices[r]``, in stored order, at
        ``row_offsets[r]:row_offsets[r + 1]``: the layout of a simulation batch, copied slice by
        slice (a tenth of the time of :meth:`events` on SHD batches).
        """
        idx = self._indices(indices)
        starts, stops = self.offsets[idx], self.offsets[idx + 1]
        row_offsets = np.zeros(idx.shape[0] + 1, dtype=np.int64)
        np.cumsum(stops - starts, out=row_offsets[1:])
        rows = [slice(start, stop) for start, stop in zip(starts.tolist(), stops.tolist())]
        if not rows:
            return row_offsets, np.empty(0, np.int32), np.empty(0, np.int32)
        return row_offsets, np.concatenate([self.step[row] for row in rows]), np.concatenate([self.unit[row] for row in rows])

    def dense(self, indices: Any = None, dtype: Any = bool) -> np.ndarray:
        """Dense raster ``[B, n_steps, n_units]``.

        With the default ``dtype=bool`` it marks whether a unit spiked in a step; with a numeric
        dtype it counts the spikes, so repeated events add up.
        """
        idx = self._indices(indices)
        batch_pos, step, unit = self.events(idx)
        out = np.zeros((idx.shape[0], self.n_steps, self.n_units), dtype=dtype)
        if np.dtype(dtype) == np.bool_:
            out[batch_pos, step, unit] = True
        else:
            np.add.at(out, (batch_pos, step, unit), 1)
        return out

    def subset(self, indices: Any) -> "SpikeDataset":
        """A new dataset holding the given samples, renumbered 0..B-1 in the order given."""
        idx = self._indices(indices)
        batch_pos, step, unit = self.events(idx)
        return SpikeDataset(
            sample=batch_pos,
            step=step,
            unit=unit,
            labels=self.labels[idx],
            n_steps=self.n_steps,
            n_units=self.n_units,
            n_classes=self.n_classes,
            attrs=dict(self.attrs),
        )

    def spike_counts(self) -> np.ndarray:
        """Input spikes per sample, int64 ``[n_samples]``."""
        return np.diff(self.offsets)

    def validate(self, source: str | os.PathLike | None = None) -> "SpikeDataset":
        """Check shapes, sort order and value ranges; raise DatasetError naming ``source``."""
        where = f"{source}: " if source is not None else ""
        for name in ("n_steps", "n_units", "n_classes"):
            if getattr(self, name) <= 0:
                raise DatasetError(f"{where}{name} must be positive, got {getattr(self, name)}")
        n = self.sample.shape[0]
        if self.step.shape[0] != n or self.unit.shape[0] != n:
            raise DatasetError(
                f"{where}event arrays differ in length: sample {n}, step {self.step.shape[0]}, "
                f"unit {self.unit.shape[0]}"
            )
        if n:
            check_range(where, "sample indices", self.sample, 0, self.n_samples - 1)
            check_range(where, "steps", self.step, 0, self.n_steps - 1)
            check_range(where, "units", self.unit, 0, self.n_units - 1)
            k = _first_unsorted(self.sample, self.step, self.unit)
            if k is not None:
                raise DatasetError(f"{where}events are not sorted by (sample, step, unit) at event {k}")
        if self.n_samples:
            check_range(where, "labels", self.labels, 0, self.n_classes - 1)
        return self


def _first_unsorted(sample: np.ndarray, step: np.ndarray, unit: np.ndarray) -> int | None:
    """Index of the first event that sorts before its predecessor by (sample, step, unit)."""
    d_sample = np.diff(sample)
    d_step = np.diff(step.astype(np.int64))
    d_unit = np.diff(unit.astype(np.int64))
    unsorted = (d_sample < 0) | ((d_sample == 0) & ((d_step < 0) | ((d_step == 0) & (d_unit < 0))))
    return int(np.argmax(unsorted)) + 1 if unsorted.any() else None


def _attr_value(value: Any) -> Any:
    """Convert an HDF5 attribute to a plain Python value."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return [_attr_value(v) for v in value.tolist()] if value.dtype == object else value.tolist()
    return value


def save_spikes(path: str | os.PathLike, dataset: SpikeDataset, compression_level: int = 4) -> Path:
    """Write ``dataset`` to an HDF5 file atomically (temporary sibling, then rename).

    Attributes: ``n_steps``, ``n_units``, ``n_classes``, ``n_samples`` and every entry of
    ``dataset.attrs`` (str, bool, int, float or flat numeric lists; ``None`` entries are
    omitted because HDF5 has no null attribute).
    """
    path = Path(path)
    clash = sorted(set(dataset.attrs) & set(_RESERVED_ATTRS))
    if clash:
        raise ValueError(f"attrs may not redefine {clash}: they come from the dataset itself")
    step_dtype = np.int16 if dataset.n_steps <= np.iinfo(np.int16).max else np.int32
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as handle:
            for name, values in (
                ("sample", dataset.sample),
                ("step", dataset.step.astype(step_dtype)),
                ("unit", dataset.unit),
            ):
                kwargs: dict[str, Any] = {}
                if values.size:
                    kwargs = dict(compression="gzip", compression_opts=compression_level, shuffle=True)
                handle.create_dataset(name, data=values, **kwargs)
            handle.create_dataset("labels", data=dataset.labels)
            handle.attrs["n_steps"] = dataset.n_steps
            handle.attrs["n_units"] = dataset.n_units
            handle.attrs["n_classes"] = dataset.n_classes
            handle.attrs["n_samples"] = dataset.n_samples
            for key, value in dataset.attrs.items():
                if value is None:
                    continue
                if isinstance(value, Path):
                    value = str(value)
                handle.attrs[key] = value
    return path


def load_spikes(path: str | os.PathLike) -> SpikeDataset:
    """Read and validate an encoded split written by :func:`save_spikes`."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: encoded dataset file not found")
    with hdf5_errors(path), h5py.File(path, "r") as handle:
        missing = [name for name in (*_EVENT_DATASETS, "labels") if name not in handle]
        if missing:
            raise DatasetError(f"{path}: missing dataset(s) {', '.join(repr(m) for m in missing)}")
        missing_attrs = [name for name in _RESERVED_ATTRS if name not in handle.attrs]
        if missing_attrs:
            raise DatasetError(f"{path}: missing attribute(s) {', '.join(repr(m) for m in missing_attrs)}")
        arrays = {name: handle[name][()] for name in (*_EVENT_DATASETS, "labels")}
        attrs = {key: _attr_value(value) for key, value in handle.attrs.items()}
    for name, values in arrays.items():
        if values.ndim != 1 or not np.issubdtype(values.dtype, np.integer):
            raise DatasetError(
                f"{path}: dataset '{name}' must be a 1-D integer array, got {values.dtype} {values.shape}"
            )
    n_samples = int(attrs.pop("n_samples"))
    if arrays["labels"].shape[0] != n_samples:
        raise DatasetError(
            f"{path}: attribute n_samples={n_samples} but 'labels' has {arrays['labels'].shape[0]} entries"
        )
    dataset = SpikeDataset(
        sample=arrays["sample"],
        step=arrays["step"],
        unit=arrays["unit"],
        labels=arrays["labels"],
        n_steps=attrs.pop("n_steps"),
        n_units=attrs.pop("n_units"),
        n_classes=attrs.pop("n_classes"),
        attrs=attrs,
    )
    return dataset.validate(source=path)
