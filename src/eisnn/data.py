"""Datasets: raw Fashion-MNIST and SHD, checksummed downloads, spike encoders, synthetic data,
and the encoded spike-list format shared by training and analysis.

An encoded split is a list of input spikes ``(sample, step, unit)`` sorted by sample, then step,
then unit, plus one label per sample (see ``docs/architecture.md``). It is written once by
``encode_dataset`` and read by every training job through ``load_spikes``.

Every refusal of bad input data raises :class:`DatasetError` with a message that starts with
the offending file and says what is wrong.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import os
import struct
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import h5py
import numpy as np

from eisnn.io import atomic_path

__all__ = [
    "DatasetError",
    "DownloadError",
    "SpikeDataset",
    "save_spikes",
    "load_spikes",
    "md5_file",
    "download_file",
    "FMNIST_FILES",
    "FMNIST_MD5",
    "FMNIST_URLS",
    "FMNIST_N_SAMPLES",
    "FMNIST_N_CLASSES",
    "read_idx",
    "load_fashion_mnist",
    "latency_steps",
    "latency_encode",
    "encode_fashion_mnist",
    "download_fashion_mnist",
    "SHD_FILES",
    "SHD_MD5",
    "SHD_BASE_URL",
    "SHD_N_UNITS",
    "SHD_N_CLASSES",
    "SHD_N_SAMPLES",
    "ShdRecording",
    "parse_md5sums",
    "fetch_md5sums",
    "load_shd",
    "bin_shd",
    "encode_shd",
    "download_shd",
    "make_synthetic",
    "make_synthetic_splits",
    "stratified_subset",
    "encode_dataset",
    "DATASET_NAMES",
]


class DatasetError(ValueError):
    """A dataset file is missing, corrupted, truncated or inconsistent."""


class DownloadError(OSError):
    """A file could not be fetched from any of the given URLs (network or server failure)."""


# ---------------------------------------------------------------------------------------------
# Encoded spike-list format
# ---------------------------------------------------------------------------------------------

_RESERVED_ATTRS = ("n_steps", "n_units", "n_classes", "n_samples")
_EVENT_DATASETS = ("sample", "step", "unit")


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
        return np.searchsorted(
            self.sample, np.arange(self.n_samples + 1, dtype=np.int64), side="left"
        ).astype(np.int64)

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
        idx = self._indices(indices)
        offsets = self.offsets
        starts = offsets[idx]
        counts = offsets[idx + 1] - starts
        total = int(counts.sum())
        batch_pos = np.repeat(np.arange(idx.shape[0], dtype=np.int64), counts)
        # Position of each output event inside the source arrays: its rank within its sample
        # (running index minus the sample's first output slot) plus the sample's source start.
        first_slot = np.cumsum(counts) - counts
        source = np.arange(total, dtype=np.int64) + np.repeat(starts - first_slot, counts)
        return batch_pos, self.step[source].astype(np.int64), self.unit[source].astype(np.int64)

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

        def fail(message: str) -> None:
            raise DatasetError(where + message)

        for name in ("n_steps", "n_units", "n_classes"):
            if getattr(self, name) <= 0:
                fail(f"{name} must be positive, got {getattr(self, name)}")
        n = self.sample.shape[0]
        if self.step.shape[0] != n or self.unit.shape[0] != n:
            fail(
                f"event arrays differ in length: sample {n}, step {self.step.shape[0]}, "
                f"unit {self.unit.shape[0]}"
            )
        if n:
            _check_range(fail, "sample indices", self.sample, 0, self.n_samples - 1)
            _check_range(fail, "steps", self.step, 0, self.n_steps - 1)
            _check_range(fail, "units", self.unit, 0, self.n_units - 1)
            d_sample = np.diff(self.sample)
            d_step = np.diff(self.step.astype(np.int64))
            d_unit = np.diff(self.unit.astype(np.int64))
            unsorted = (d_sample < 0) | ((d_sample == 0) & ((d_step < 0) | ((d_step == 0) & (d_unit < 0))))
            if unsorted.any():
                k = int(np.argmax(unsorted))
                fail(f"events are not sorted by (sample, step, unit) at event {k + 1}")
        if self.n_samples:
            _check_range(fail, "labels", self.labels, 0, self.n_classes - 1)
        return self


def _check_range(fail, what: str, values: np.ndarray, low: int, high: int) -> None:
    lo, hi = int(values.min()), int(values.max())
    if lo < low or hi > high:
        bad = lo if lo < low else hi
        fail(f"{what} out of range {low}..{high}: found {bad}")


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
    try:
        with h5py.File(path, "r") as handle:
            missing = [name for name in (*_EVENT_DATASETS, "labels") if name not in handle]
            if missing:
                raise DatasetError(f"{path}: missing dataset(s) {', '.join(repr(m) for m in missing)}")
            missing_attrs = [name for name in _RESERVED_ATTRS if name not in handle.attrs]
            if missing_attrs:
                raise DatasetError(
                    f"{path}: missing attribute(s) {', '.join(repr(m) for m in missing_attrs)}"
                )
            arrays = {name: handle[name][()] for name in (*_EVENT_DATASETS, "labels")}
            attrs = {key: _attr_value(value) for key, value in handle.attrs.items()}
    except DatasetError:
        raise
    except (OSError, RuntimeError, KeyError, ValueError, TypeError) as err:
        raise DatasetError(f"{path}: unreadable or truncated HDF5 file ({err})") from err
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


# ---------------------------------------------------------------------------------------------
# Checksums and downloads
# ---------------------------------------------------------------------------------------------


def md5_file(path: str | os.PathLike, chunk_bytes: int = 1 << 20) -> str:
    """Hex md5 digest of a file, read in chunks."""
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_bytes), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _check_md5(path: Path, expected: str, what: str = "the official") -> str:
    actual = md5_file(path)
    if actual != expected:
        raise DatasetError(f"{path}: md5 {actual} does not match {what} {expected}")
    return actual


def download_file(
    url: str, destination: str | os.PathLike, md5: str | None, timeout_s: float = 120.0
) -> Path:
    """Fetch ``url`` into ``destination`` through a temporary sibling; rename only if the md5 matches.

    A wrong checksum raises DatasetError and leaves no file at ``destination``. Network and
    server failures raise DownloadError.
    """
    destination = Path(destination)
    with atomic_path(destination) as tmp:
        digest = hashlib.md5()
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as response, open(tmp, "wb") as out:
                for chunk in iter(lambda: response.read(1 << 20), b""):
                    digest.update(chunk)
                    out.write(chunk)
        except (urllib.error.URLError, OSError) as err:
            raise DownloadError(f"{url}: download failed ({err})") from err
        actual = digest.hexdigest()
        if md5 is not None and actual != md5:
            raise DatasetError(
                f"{destination}: md5 {actual} of the file downloaded from {url} does not match "
                f"the expected {md5}; the file was discarded"
            )
    return destination


def _download_checked(urls: Sequence[str], destination: Path, md5: str | None, timeout_s: float) -> Path:
    """Try each URL in turn; skip the download when ``destination`` already has the right md5."""
    if destination.is_file() and md5 is not None and md5_file(destination) == md5:
        return destination
    failures: list[Exception] = []
    for url in urls:
        try:
            return download_file(url, destination, md5, timeout_s=timeout_s)
        except (DatasetError, DownloadError) as err:
            failures.append(err)
    message = f"{destination}: every source failed: " + "; ".join(str(f) for f in failures)
    if any(isinstance(f, DatasetError) for f in failures):
        raise DatasetError(message)
    raise DownloadError(message)


def _as_url_list(base_url: str | Sequence[str]) -> list[str]:
    urls = [base_url] if isinstance(base_url, str) else list(base_url)
    return [u if u.endswith("/") else u + "/" for u in urls]


# ---------------------------------------------------------------------------------------------
# Fashion-MNIST
# ---------------------------------------------------------------------------------------------

FMNIST_FILES: dict[str, dict[str, str]] = {
    "train": {"images": "train-images-idx3-ubyte.gz", "labels": "train-labels-idx1-ubyte.gz"},
    "test": {"images": "t10k-images-idx3-ubyte.gz", "labels": "t10k-labels-idx1-ubyte.gz"},
}
# Official md5 sums of the four gzip files (the same values torchvision checks).
FMNIST_MD5: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}
# The official mirror first, then the files in the official GitHub repository.
FMNIST_URLS: tuple[str, ...] = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
)
FMNIST_N_SAMPLES = {"train": 60000, "test": 10000}
FMNIST_N_CLASSES = 10
FMNIST_SHAPE = (28, 28)

_IDX_MAGIC = {2051: "images", 2049: "labels"}
_IDX_NDIM = {2051: 3, 2049: 1}


def _check_split(split: str, allowed: Sequence[str] = ("train", "test")) -> None:
    if split not in allowed:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(allowed)}")


def read_idx(path: str | os.PathLike, kind: str | None = None) -> np.ndarray:
    """Parse a gzip IDX file: magic 2051 -> uint8 images [N, rows, cols], 2049 -> uint8 labels [N].

    ``kind`` ("images" or "labels") names the expected content. The header dimensions must
    account for the payload exactly, so a truncated or padded file is refused.
    """
    path = Path(path)
    if kind is not None and kind not in ("images", "labels"):
        raise ValueError(f"kind must be 'images' or 'labels', got {kind!r}")
    if not path.is_file():
        raise DatasetError(f"{path}: file not found")
    try:
        with gzip.open(path, "rb") as handle:
            raw = handle.read()
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as err:
        reason = "truncated gzip stream" if isinstance(err, EOFError) else f"corrupt gzip stream ({err})"
        raise DatasetError(f"{path}: {reason}") from err
    if len(raw) < 4:
        raise DatasetError(f"{path}: {len(raw)} bytes is too short for an IDX header")
    (magic,) = struct.unpack(">i", raw[:4])
    if magic not in _IDX_MAGIC:
        raise DatasetError(f"{path}: IDX magic number {magic} is neither 2051 (images) nor 2049 (labels)")
    if kind is not None and _IDX_MAGIC[magic] != kind:
        expected = 2051 if kind == "images" else 2049
        raise DatasetError(f"{path}: IDX magic number {magic} where {expected} ({kind}) was expected")
    ndim = _IDX_NDIM[magic]
    header_bytes = 4 + 4 * ndim
    if len(raw) < header_bytes:
        raise DatasetError(f"{path}: truncated IDX header ({len(raw)} of {header_bytes} bytes)")
    dims = struct.unpack(">" + "i" * ndim, raw[4:header_bytes])
    expected_payload = int(np.prod(dims, dtype=np.int64))
    payload = len(raw) - header_bytes
    if payload != expected_payload:
        state = "truncated" if payload < expected_payload else "has trailing data"
        raise DatasetError(
            f"{path}: IDX payload {state}: header dimensions {dims} need {expected_payload} bytes, "
            f"found {payload}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header_bytes).reshape(dims).copy()


def load_fashion_mnist(
    directory: str | os.PathLike, split: str, verify_md5: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Load one official split: uint8 images ``[N, 28, 28]`` and int64 labels ``[N]``."""
    _check_split(split)
    directory = Path(directory)
    files = FMNIST_FILES[split]
    image_path, label_path = directory / files["images"], directory / files["labels"]
    for p in (image_path, label_path):
        if not p.is_file():
            raise DatasetError(
                f"{p}: Fashion-MNIST file not found (download it or name the directory that holds it)"
            )
        if verify_md5:
            _check_md5(p, FMNIST_MD5[p.name])
    images = read_idx(image_path, kind="images")
    labels = read_idx(label_path, kind="labels").astype(np.int64)
    if images.shape[1:] != FMNIST_SHAPE:
        raise DatasetError(f"{image_path}: images are {images.shape[1:]}, expected {FMNIST_SHAPE}")
    if images.shape[0] != labels.shape[0]:
        raise DatasetError(
            f"{image_path}: {images.shape[0]} images but {label_path} has {labels.shape[0]} labels"
        )
    if labels.size and labels.max() >= FMNIST_N_CLASSES:
        raise DatasetError(
            f"{label_path}: labels out of range 0..{FMNIST_N_CLASSES - 1}: found {labels.max()}"
        )
    return images, labels


def latency_steps(x: np.ndarray, n_steps: int = 100, tau_eff: float = 20.0, theta: float = 0.2) -> np.ndarray:
    """Spike step of each intensity ``x`` in [0, 1]; -1 where no spike is emitted.

    step = int(tau_eff * ln(x / (x - theta))) for x > theta (the integer cast of the reference
    tutorial, i.e. floor for these positive values); x <= theta and steps >= n_steps give -1.
    """
    x = np.asarray(x, dtype=np.float64)
    fires = x > theta
    with np.errstate(divide="ignore", invalid="ignore"):
        t = tau_eff * np.log(x / (x - theta))
    fires &= np.isfinite(t) & (t < n_steps)
    steps = np.full(x.shape, -1, dtype=np.int64)
    steps[fires] = np.floor(t[fires]).astype(np.int64)
    return steps


def latency_encode(
    images: np.ndarray, n_steps: int = 100, tau_eff: float = 20.0, theta: float = 0.2
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Latency-code images into sorted events ``(sample int64, step int32, unit int32)``.

    Each image is flattened to ``rows * cols`` units; pixels are uint8 (scaled by 1/255) or
    floats already in [0, 1]. Every pixel emits at most one spike (see :func:`latency_steps`).
    """
    images = np.asarray(images)
    n = images.shape[0]
    flat = images.reshape(n, -1)
    if flat.dtype == np.uint8:
        # 256 possible values: one table lookup gives the same steps as the formula per pixel.
        table = latency_steps(np.arange(256, dtype=np.float64) / 255.0, n_steps, tau_eff, theta)
        steps = table[flat]
    else:
        steps = latency_steps(flat, n_steps, tau_eff, theta)
    sample, unit = np.nonzero(steps >= 0)  # row-major: by sample, then unit
    step = steps[sample, unit]
    # A stable sort on (sample, step) keeps units ascending within each step.
    order = np.argsort(sample * np.int64(n_steps) + step, kind="stable")
    return sample[order].astype(np.int64), step[order].astype(np.int32), unit[order].astype(np.int32)


def stratified_subset(labels: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """First ``n`` of a seeded class-stratified ordering, returned as sorted indices.

    Each class is shuffled; classes then take turns (in a seeded order) so any prefix is as
    balanced as possible, and a smaller subset is contained in a larger one for the same seed.
    """
    labels = np.asarray(labels)
    if n < 0 or n > labels.shape[0]:
        raise ValueError(f"subset size {n} must lie in 0..{labels.shape[0]}")
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    class_turn = rng.permutation(classes.shape[0])
    order_index = np.empty(labels.shape[0], dtype=np.int64)
    rank = np.empty(labels.shape[0], dtype=np.int64)
    for c_pos, c in enumerate(classes):
        members = rng.permutation(np.flatnonzero(labels == c))
        rank[members] = np.arange(members.shape[0])
        order_index[members] = class_turn[c_pos]
    chosen = np.lexsort((order_index, rank))[:n]
    return np.sort(chosen)


def encode_fashion_mnist(
    raw_dir: str | os.PathLike,
    split: str,
    n_steps: int = 100,
    tau_eff: float = 20.0,
    theta: float = 0.2,
    subset: int | None = None,
    subset_seed: int = 0,
    verify_md5: bool = True,
) -> SpikeDataset:
    """Load one official Fashion-MNIST split and latency-encode it (paper §2, SPEC §2)."""
    _check_split(split)
    sums = {}
    for kind, name in FMNIST_FILES[split].items():
        path = Path(raw_dir) / name
        if not path.is_file():
            raise DatasetError(
                f"{path}: Fashion-MNIST file not found (download it or name the directory that holds it)"
            )
        sums[kind] = _check_md5(path, FMNIST_MD5[name]) if verify_md5 else md5_file(path)
    images, labels = load_fashion_mnist(raw_dir, split, verify_md5=False)
    attrs: dict[str, Any] = {
        "dataset": "fmnist",
        "split": split,
        "encoding": "latency",
        "tau_eff": float(tau_eff),
        "theta": float(theta),
        "source_md5_images": sums["images"],
        "source_md5_labels": sums["labels"],
    }
    if subset is not None:
        chosen = stratified_subset(labels, int(subset), subset_seed)
        images, labels = images[chosen], labels[chosen]
        attrs.update(subset=int(subset), subset_seed=int(subset_seed))
    sample, step, unit = latency_encode(images, n_steps, tau_eff, theta)
    return SpikeDataset(
        sample,
        step,
        unit,
        labels,
        n_steps=n_steps,
        n_units=int(np.prod(FMNIST_SHAPE)),
        n_classes=FMNIST_N_CLASSES,
        attrs=attrs,
    ).validate()


def download_fashion_mnist(
    directory: str | os.PathLike,
    base_url: str | Sequence[str] = FMNIST_URLS,
    timeout_s: float = 120.0,
) -> list[Path]:
    """Fetch the four official files into ``directory`` with md5 checks.

    ``base_url`` is one URL prefix or several tried in order. Files already present with the
    official md5 are kept as they are.
    """
    directory = Path(directory)
    urls = _as_url_list(base_url)
    paths = []
    for split in ("train", "test"):
        for name in FMNIST_FILES[split].values():
            paths.append(
                _download_checked([u + name for u in urls], directory / name, FMNIST_MD5[name], timeout_s)
            )
    return paths


# ---------------------------------------------------------------------------------------------
# Spiking Heidelberg Digits
# ---------------------------------------------------------------------------------------------

SHD_BASE_URL = "https://zenkelab.org/datasets/"
SHD_FILES = {"train": "shd_train.h5", "test": "shd_test.h5"}
SHD_N_UNITS = 700
SHD_N_CLASSES = 20
SHD_N_SAMPLES = {"train": 8156, "test": 2264}
# md5 sums of the official files, as listed in md5sums.txt of the dataset site (the lab's
# datasets moved from compneuro.net/datasets to zenkelab.org/datasets; the same values are
# checked by Norse's SHD loader). Both the gzip files and their decompressed HDF5 files are
# listed so that either form can be verified. Pass ``md5s=`` (e.g. ``fetch_md5sums()``) to
# check against another list.
SHD_MD5: dict[str, str] = {
    "shd_train.h5.gz": "d47c9825dee33347913e8ce0f2be08b0",
    "shd_test.h5.gz": "3062a80ec0c5719404d5b02e166543b1",
    "shd_train.h5": "8e9877c85f29a28dd353ea6a54402667",
    "shd_test.h5": "207ad1295a0ab611e22d1734989c254e",
}


def parse_md5sums(text: str) -> dict[str, str]:
    """Parse ``md5sum`` output (``<hex>  <file>`` per line) into ``{file: hex}``."""
    sums = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and len(parts[0]) == 32:
            sums[parts[1].lstrip("*")] = parts[0].lower()
    return sums


def fetch_md5sums(base_url: str = SHD_BASE_URL, timeout_s: float = 60.0) -> dict[str, str]:
    """Download and parse ``md5sums.txt`` from the dataset site."""
    url = _as_url_list(base_url)[0] + "md5sums.txt"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return parse_md5sums(response.read().decode("utf-8"))
    except (urllib.error.URLError, OSError) as err:
        raise DownloadError(f"{url}: download failed ({err})") from err


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


@contextlib.contextmanager
def _open_hdf5(path: Path) -> Iterator[h5py.File]:
    """Open an HDF5 file, decompressing a ``.gz`` one into memory first."""
    if path.suffix == ".gz":
        try:
            with gzip.open(path, "rb") as handle:
                buffer = io.BytesIO(handle.read())
        except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as err:
            reason = "truncated gzip stream" if isinstance(err, EOFError) else f"corrupt gzip stream ({err})"
            raise DatasetError(f"{path}: {reason}") from err
        source: Any = buffer
    else:
        source = path
    try:
        handle = h5py.File(source, "r")
    except OSError as err:
        raise DatasetError(f"{path}: unreadable or truncated HDF5 file ({err})") from err
    try:
        yield handle
    finally:
        handle.close()


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
    _check_split(split)
    path = _shd_path(Path(directory), split)
    expected = dict(SHD_MD5 if md5s is None else md5s)
    if verify_md5:
        if path.name not in expected:
            raise DatasetError(f"{path}: no md5 known for this file name; pass md5s= or verify_md5=False")
        actual = _check_md5(path, expected[path.name], what="the published")
    else:
        actual = md5_file(path)
    try:
        with _open_hdf5(path) as handle:
            missing = [name for name in ("spikes/times", "spikes/units", "labels") if name not in handle]
            if missing:
                raise DatasetError(f"{path}: missing dataset {', '.join(repr(m) for m in missing)}")
            times_ragged = handle["spikes/times"][()]
            units_ragged = handle["spikes/units"][()]
            labels = np.asarray(handle["labels"][()])
    except DatasetError:
        raise
    except (OSError, RuntimeError, KeyError, ValueError, TypeError) as err:
        raise DatasetError(f"{path}: unreadable or truncated HDF5 file ({err})") from err

    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise DatasetError(f"{path}: 'labels' must be a 1-D integer array, got {labels.dtype} {labels.shape}")
    n = labels.shape[0]
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
    if times.size and (not np.all(np.isfinite(times)) or times.min() < 0):
        raise DatasetError(f"{path}: spike times must be finite and non-negative seconds")
    if units.size and (units.min() < 0 or units.max() >= SHD_N_UNITS):
        bad = units.min() if units.min() < 0 else units.max()
        raise DatasetError(f"{path}: units out of range 0..{SHD_N_UNITS - 1}: found {bad}")
    labels = labels.astype(np.int64)
    if n and (labels.min() < 0 or labels.max() >= SHD_N_CLASSES):
        bad = labels.min() if labels.min() < 0 else labels.max()
        raise DatasetError(f"{path}: labels out of range 0..{SHD_N_CLASSES - 1}: found {bad}")
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
        offsets = np.searchsorted(sample, np.arange(recording.n_samples + 1))
        counts = offsets[indices + 1] - offsets[indices]
        first_slot = np.cumsum(counts) - counts
        source = np.arange(int(counts.sum()), dtype=np.int64) + np.repeat(
            offsets[indices] - first_slot, counts
        )
        times, units = times[source], units[source]
        sample = np.repeat(np.arange(indices.shape[0], dtype=np.int64), counts)
        labels = labels[indices]
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
    """Load one SHD split and bin it (SPEC §2); ``subset`` takes a class-stratified seeded subset."""
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

    Checksums come from ``md5s`` (e.g. ``fetch_md5sums(base_url)``) or :data:`SHD_MD5`.
    """
    directory = Path(directory)
    expected = dict(SHD_MD5 if md5s is None else md5s)
    urls = _as_url_list(base_url)
    paths = []
    for split in splits:
        _check_split(split)
        name = SHD_FILES[split] + ".gz"
        if name not in expected:
            raise DatasetError(f"{directory / name}: no md5 known for this file; pass md5s=")
        paths.append(_download_checked([u + name for u in urls], directory / name, expected[name], timeout_s))
    return paths


# ---------------------------------------------------------------------------------------------
# Synthetic data
# ---------------------------------------------------------------------------------------------


def make_synthetic(
    n_samples: int,
    n_units: int = 100,
    n_steps: int = 50,
    n_classes: int = 4,
    seed: int = 0,
    structure_seed: int = 0,
    preferred_fraction: float = 0.2,
    p_preferred: float = 0.9,
    p_background: float = 0.3,
    early_fraction: float = 0.3,
    jitter_steps: float = 2.0,
) -> SpikeDataset:
    """A latency-coded toy dataset with a learnable class structure.

    Each class prefers a random set of ``preferred_fraction * n_units`` units (drawn from
    ``structure_seed``, so splits with different ``seed`` share it); each preferred unit has a
    class-specific latency in the first ``early_fraction`` of the window. A sample of class c
    fires each of c's preferred units with probability ``p_preferred`` near its latency (Gaussian
    jitter of ``jitter_steps``); every other unit fires with probability ``p_background`` at a
    uniform random step. Each unit fires at most once per sample. Labels are balanced.
    """
    if n_samples < 0 or n_units <= 0 or n_steps <= 0 or n_classes <= 0:
        raise ValueError("n_samples must be >= 0 and n_units, n_steps, n_classes positive")
    structure_rng = np.random.default_rng([structure_seed, 1])
    rng = np.random.default_rng([seed, 2])
    n_preferred = max(1, int(round(preferred_fraction * n_units)))
    preferred = np.zeros((n_classes, n_units), dtype=bool)
    for c in range(n_classes):
        preferred[c, structure_rng.choice(n_units, size=n_preferred, replace=False)] = True
    early_steps = max(1, int(round(early_fraction * n_steps)))
    latency = structure_rng.integers(0, early_steps, size=(n_classes, n_units))

    labels = rng.permutation(np.arange(n_samples, dtype=np.int64) % n_classes)
    is_preferred = preferred[labels]  # [N, U]
    fire = rng.random((n_samples, n_units)) < np.where(is_preferred, p_preferred, p_background)
    jittered = np.rint(latency[labels] + rng.normal(0.0, jitter_steps, size=(n_samples, n_units)))
    background = rng.integers(0, n_steps, size=(n_samples, n_units))
    steps = np.clip(np.where(is_preferred, jittered, background), 0, n_steps - 1).astype(np.int64)

    sample, unit = np.nonzero(fire)
    step = steps[sample, unit]
    order = np.lexsort((unit, step, sample))
    attrs = {
        "dataset": "synthetic",
        "seed": int(seed),
        "structure_seed": int(structure_seed),
        "preferred_fraction": float(preferred_fraction),
        "p_preferred": float(p_preferred),
        "p_background": float(p_background),
        "early_fraction": float(early_fraction),
        "jitter_steps": float(jitter_steps),
    }
    return SpikeDataset(
        sample[order],
        step[order],
        unit[order],
        labels,
        n_steps=n_steps,
        n_units=n_units,
        n_classes=n_classes,
        attrs=attrs,
    )


def make_synthetic_splits(
    n_train: int, n_test: int, seed: int = 0, **params: Any
) -> tuple[SpikeDataset, SpikeDataset]:
    """Train and test splits sharing one class structure (``structure_seed=seed``) but drawn
    from disjoint sample seeds (2·seed and 2·seed + 1)."""
    params.setdefault("structure_seed", seed)
    train = make_synthetic(n_train, seed=2 * seed, **params)
    test = make_synthetic(n_test, seed=2 * seed + 1, **params)
    train.attrs["split"], test.attrs["split"] = "train", "test"
    return train, test


# ---------------------------------------------------------------------------------------------
# High-level entry point
# ---------------------------------------------------------------------------------------------

DATASET_NAMES = ("fmnist", "shd", "synthetic")


def encode_dataset(
    name: str,
    source: str | os.PathLike | None,
    out_path_train: str | os.PathLike,
    out_path_test: str | os.PathLike,
    **params: Any,
) -> tuple[SpikeDataset, SpikeDataset]:
    """Encode both splits of a dataset and write them atomically.

    ``fmnist``/``shd`` read raw files from directory ``source``; ``synthetic`` ignores it.
    Parameters: fmnist ``n_steps, tau_eff, theta, subset_train, subset_test, subset_seed,
    verify_md5``; shd ``n_steps, t_max_s, subset_train, subset_test, subset_seed, verify_md5,
    md5s``; synthetic ``n_train, n_test, seed`` plus :func:`make_synthetic` parameters. If any
    step fails, neither output file is left behind.
    """
    if name not in DATASET_NAMES:
        raise ValueError(f"unknown dataset {name!r}; expected one of {', '.join(DATASET_NAMES)}")
    outputs = (Path(out_path_train), Path(out_path_test))
    written: list[Path] = []
    try:
        if name == "synthetic":
            n_train = int(params.pop("n_train", 512))
            n_test = int(params.pop("n_test", 128))
            train, test = make_synthetic_splits(n_train, n_test, **params)
            for dataset, path in zip((train, test), outputs):
                save_spikes(path, dataset)
                written.append(path)
            return train, test
        if source is None:
            raise ValueError(f"dataset {name!r} needs a source directory")
        encoder = encode_fashion_mnist if name == "fmnist" else encode_shd
        subsets = {"train": params.pop("subset_train", None), "test": params.pop("subset_test", None)}
        allowed = (
            {"n_steps", "tau_eff", "theta", "subset_seed", "verify_md5"}
            if name == "fmnist"
            else {"n_steps", "t_max_s", "subset_seed", "verify_md5", "md5s"}
        )
        unknown = sorted(set(params) - allowed)
        if unknown:
            raise TypeError(f"unknown parameter(s) for {name!r}: {', '.join(unknown)}")
        results = []
        for split, path in zip(("train", "test"), outputs):
            dataset = encoder(source, split, subset=subsets[split], **params)
            save_spikes(path, dataset)
            written.append(path)
            results.append(dataset)
            del dataset
        return results[0], results[1]
    except BaseException:
        for path in written:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        raise
