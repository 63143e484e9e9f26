"""Spiking Heidelberg Digits (paper §4.1): the official files and their md5s, the reader of
``shd_<split>.h5`` / ``shd_<split>.h5.gz``, time binning and the checksummed download."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import h5py
import numpy as np

from ..layout import SHD_FILES
from .download import check_md5, fetch_checked, md5_file, url_prefixes
from .errors import DatasetError, check_range, check_split, hdf5_errors, read_gzip
from .sampling import stratified_subset
from .spikes import SpikeDataset, csr_gather, csr_offsets

SHD_BASE_URL = "https://zenkelab.org/datasets/"
SHD_N_UNITS = 700
SHD_N_CLASSES = 20
SHD_N_SAMPLES = {"train": 8156, "test": 2264}
# md5 sums of the official files, as listed in md5sums.txt of the dataset site (the lab's
# datasets moved from compneuro.net/datasets to zenkelab.org/datasets; the same values are
# checked by Norse's SHD loader). Both the gzip files and their decompressed HDF5 files are
# listed so that either form can be verified. Pass ``md5s=`` (e.g. a downloaded md5sums.txt read
# with ``parse_md5sums``) to check against another list.
SHD_MD5: dict[str, str] = {
    "shd_train.h5.gz": "d47c9825dee33347913e8ce0f2be08b0",
    "shd_test.h5.gz": "3062a80ec0c5719404d5b02e166543b1",
    "shd_train.h5": "8e9877c85f29a28dd353ea6a54402667",
    "shd_test.h5": "207ad1295a0ab611e22d1734989c254e",
}


@dataclass(eq=False)
class ShdRecording:
    """One raw SHD split flattened to event arrays (times in seconds, stored precision kept)."""

    times_s: np.ndarray  # float (float16 in the official files) [n_events]
    units: np.ndarray  # int32 [n_events]
    sample: np.ndarray  # int64 [n_events], sorted
    labels: np.ndarray  # int64 [n_samples]
    path: Path
    md5: str

    @property
    def n_samples(self) -> int:
        return int(self.labels.shape[0])


def _shd_path(directory: Path, split: str) -> Path:
    plain = directory / SHD_FILES[split]
    packed = directory / (SHD_FILES[split] + ".gz")
    if plain.is_file():
        return plain
    if packed.is_file():
        return packed
    raise DatasetError(f"{packed}: SHD file not found (nor {plain.name}); download it or name its directory")


def _shd_md5(path: Path, verify_md5: bool, md5s: Mapping[str, str] | None) -> str:
    """The md5 of ``path``, checked against ``md5s`` (default :data:`SHD_MD5`) with ``verify_md5``."""
    expected = dict(SHD_MD5 if md5s is None else md5s)
    if not verify_md5:
        return md5_file(path)
    if path.name not in expected:
        raise DatasetError(f"{path}: no md5 known for this file name; pass md5s= or verify_md5=False")
    return check_md5(path, expected[path.name], what="the published")


def _read_shd_file(path: Path) -> tuple[Any, Any, np.ndarray]:
    """The ragged ``spikes/times``, ``spikes/units`` and the ``labels`` of an SHD file (``.gz``
    decompressed in memory first)."""
    with hdf5_errors(path):
        source: Any = io.BytesIO(read_gzip(path)) if path.suffix == ".gz" else path
        with h5py.File(source, "r") as handle:
            missing = [name for name in ("spikes/times", "spikes/units", "labels") if name not in handle]
            if missing:
                raise DatasetError(f"{path}: missing dataset {', '.join(repr(m) for m in missing)}")
            return handle["spikes/times"][()], handle["spikes/units"][()], np.asarray(handle["labels"][()])


def _flatten_events(
    path: Path, times_ragged: Any, units_ragged: Any, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One spike-time and one unit array over all samples, plus the spike count of each sample."""
    if len(times_ragged) != n or len(units_ragged) != n:
        raise DatasetError(
            f"{path}: {n} labels but {len(times_ragged)} 'spikes/times' and {len(units_ragged)} "
            f"'spikes/units' entries"
        )
    n_times = np.fromiter((len(t) for t in times_ragged), dtype=np.int64, count=n)
    n_units = np.fromiter((len(u) for u in units_ragged), dtype=np.int64, count=n)
    if not np.array_equal(n_times, n_units):
        k = int(np.argmax(n_times != n_units))
        raise DatasetError(f"{path}: sample {k} has {n_times[k]} spike times but {n_units[k]} units")
    if n and n_times.sum():
        times = np.concatenate([np.asarray(t).reshape(-1) for t in times_ragged])
        units = np.concatenate([np.asarray(u).reshape(-1) for u in units_ragged]).astype(np.int32)
    else:
        times, units = np.zeros(0, dtype=np.float16), np.zeros(0, dtype=np.int32)
    if not np.issubdtype(times.dtype, np.floating):
        times = times.astype(np.float64)
    return times, units, n_times


def load_shd(
    directory: str | os.PathLike,
    split: str,
    verify_md5: bool = True,
    md5s: Mapping[str, str] | None = None,
) -> ShdRecording:
    """Read one SHD split from ``shd_<split>.h5`` or ``shd_<split>.h5.gz`` in ``directory``.

    Checks the md5 (against ``md5s`` or :data:`SHD_MD5`), the layout (``spikes/times``,
    ``spikes/units``, ``labels``), matching lengths, non-negative finite times, units below 700
    and labels below 20.
    """
    check_split(split)
    path = _shd_path(Path(directory), split)
    actual = _shd_md5(path, verify_md5, md5s)
    times_ragged, units_ragged, labels = _read_shd_file(path)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise DatasetError(f"{path}: 'labels' must be a 1-D integer array, got {labels.dtype} {labels.shape}")
    n = labels.shape[0]
    times, units, n_times = _flatten_events(path, times_ragged, units_ragged, n)
    if times.size and (not np.all(np.isfinite(times)) or times.min() < 0):
        raise DatasetError(f"{path}: spike times must be finite and non-negative seconds")
    if units.size:
        check_range(f"{path}: ", "units", units, 0, SHD_N_UNITS - 1)
    labels = labels.astype(np.int64)
    if n:
        check_range(f"{path}: ", "labels", labels, 0, SHD_N_CLASSES - 1)
    sample = np.repeat(np.arange(n, dtype=np.int64), n_times)
    return ShdRecording(times_s=times, units=units, sample=sample, labels=labels, path=path, md5=actual)


def bin_shd(
    recording: ShdRecording,
    n_steps: int = 200,
    t_max_s: float = 1.4,
    indices: np.ndarray | None = None,
) -> SpikeDataset:
    """Bin SHD spike times into ``n_steps`` equal steps over [0, t_max_s].

    Time t goes to step floor(t / t_max_s * n_steps); t == t_max_s goes to the last step and
    later spikes are dropped. ``t_max_s`` is compared at the precision the times are stored in
    (float16 in the official files), so a stored 1.4 counts as 1.4. Two spikes of one unit in
    one step stay two events, so they add twice to the input current. ``indices`` selects and
    renumbers samples.
    """
    if n_steps <= 0 or t_max_s <= 0:
        raise ValueError("n_steps and t_max_s must be positive")
    times, units, sample, labels = recording.times_s, recording.units, recording.sample, recording.labels
    if indices is not None:
        indices = np.asarray(indices, dtype=np.int64)
        sample, source = csr_gather(csr_offsets(sample, recording.n_samples), indices)
        times, units, labels = times[source], units[source], labels[indices]
    limit = (
        float(np.asarray(t_max_s, dtype=times.dtype)) if np.issubdtype(times.dtype, np.floating) else t_max_s
    )
    t = times.astype(np.float64)
    keep = t <= max(limit, t_max_s)
    step = np.minimum(np.floor(t[keep] / t_max_s * n_steps).astype(np.int64), n_steps - 1)
    sample, unit = sample[keep], units[keep]
    # One int64 key per event (< 8156 · 200 · 700 for the real data) sorts by sample, step, unit.
    order = np.argsort((sample * n_steps + step) * SHD_N_UNITS + unit, kind="stable")
    return SpikeDataset(
        sample=sample[order],
        step=step[order],
        unit=unit[order],
        labels=labels,
        n_steps=n_steps,
        n_units=SHD_N_UNITS,
        n_classes=SHD_N_CLASSES,
        attrs={"dataset": "shd", "t_max_s": float(t_max_s), "duplicates": "kept"},
    )


def encode_shd(
    directory: str | os.PathLike,
    split: str,
    n_steps: int = 200,
    t_max_s: float = 1.4,
    subset: int | None = None,
    subset_seed: int = 0,
    verify_md5: bool = True,
    md5s: Mapping[str, str] | None = None,
) -> SpikeDataset:
    """Load one SHD split and bin it (paper §4.1; binning as in :func:`bin_shd`); ``subset``
    takes a class-stratified seeded subset."""
    recording = load_shd(directory, split, verify_md5=verify_md5, md5s=md5s)
    indices = None
    attrs: dict[str, Any] = {}
    if subset is not None:
        indices = stratified_subset(recording.labels, int(subset), subset_seed)
        attrs.update(subset=int(subset), subset_seed=int(subset_seed))
    dataset = bin_shd(recording, n_steps=n_steps, t_max_s=t_max_s, indices=indices)
    dataset.attrs.update(split=split, source_file=recording.path.name, source_md5=recording.md5, **attrs)
    return dataset.validate()


def download_shd(
    directory: str | os.PathLike,
    base_url: str | Sequence[str] = SHD_BASE_URL,
    splits: Sequence[str] = ("train", "test"),
    md5s: Mapping[str, str] | None = None,
    timeout_s: float = 600.0,
) -> list[Path]:
    """Fetch ``shd_<split>.h5.gz`` into ``directory`` with md5 checks (kept compressed).

    Checksums come from ``md5s`` (e.g. the site's md5sums.txt read with ``parse_md5sums``) or
    :data:`SHD_MD5`.
    """
    directory = Path(directory)
    expected = dict(SHD_MD5 if md5s is None else md5s)
    prefixes = url_prefixes(base_url)
    paths = []
    for split in splits:
        check_split(split)
        name = SHD_FILES[split] + ".gz"
        if name not in expected:
            raise DatasetError(f"{directory / name}: no md5 known for this file; pass md5s=")
        paths.append(fetch_checked(prefixes, directory, name, expected[name], timeout_s))
    return paths
