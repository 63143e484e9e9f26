"""Fashion-MNIST: the official files and their md5s, the gzip IDX reader, the latency encoder
(paper §2 and §4.1) and the checksummed download."""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..layout import FMNIST_FILES
from .download import check_md5, fetch_checked, md5_file, url_prefixes
from .errors import DatasetError, check_range, check_split, read_gzip
from .sampling import stratified_subset
from .spikes import SpikeDataset

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
    raw = read_gzip(path)
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


def _split_files(
    directory: str | os.PathLike, split: str, verify_md5: bool, digests: bool = False
) -> dict[str, tuple[Path, str | None]]:
    """``{"images": (path, md5), "labels": (path, md5)}`` of one split in ``directory``.

    Each file must exist and, with ``verify_md5``, have its official md5. The md5 entry is the
    file's digest when verified or when ``digests`` asks for it, else None.
    """
    check_split(split)
    files = {}
    for kind, name in FMNIST_FILES[split].items():
        path = Path(directory) / name
        if not path.is_file():
            raise DatasetError(
                f"{path}: Fashion-MNIST file not found (download it or name the directory that holds it)"
            )
        if verify_md5:
            files[kind] = (path, check_md5(path, FMNIST_MD5[name]))
        else:
            files[kind] = (path, md5_file(path) if digests else None)
    return files


def _read_split(files: dict[str, tuple[Path, str | None]]) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of the files found by :func:`_split_files`, checked for consistency."""
    image_path, label_path = files["images"][0], files["labels"][0]
    images = read_idx(image_path, kind="images")
    labels = read_idx(label_path, kind="labels").astype(np.int64)
    if images.shape[1:] != FMNIST_SHAPE:
        raise DatasetError(f"{image_path}: images are {images.shape[1:]}, expected {FMNIST_SHAPE}")
    if images.shape[0] != labels.shape[0]:
        raise DatasetError(
            f"{image_path}: {images.shape[0]} images but {label_path} has {labels.shape[0]} labels"
        )
    if labels.size:
        check_range(f"{label_path}: ", "labels", labels, 0, FMNIST_N_CLASSES - 1)
    return images, labels


def load_fashion_mnist(
    directory: str | os.PathLike, split: str, verify_md5: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Load one official split: uint8 images ``[N, 28, 28]`` and int64 labels ``[N]``."""
    return _read_split(_split_files(directory, split, verify_md5))


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
    """Load one official Fashion-MNIST split and latency-encode it (paper §2 and §4.1)."""
    files = _split_files(raw_dir, split, verify_md5, digests=True)
    images, labels = _read_split(files)
    attrs: dict[str, Any] = {
        "dataset": "fmnist",
        "split": split,
        "encoding": "latency",
        "tau_eff": float(tau_eff),
        "theta": float(theta),
        "source_md5_images": files["images"][1],
        "source_md5_labels": files["labels"][1],
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
    prefixes = url_prefixes(base_url)
    return [
        fetch_checked(prefixes, directory, name, FMNIST_MD5[name], timeout_s)
        for split in ("train", "test")
        for name in FMNIST_FILES[split].values()
    ]
