"""The high-level entry point: encode both splits of a named dataset into two spike-list files."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Iterator

from .fmnist import encode_fashion_mnist
from .shd import encode_shd
from .spikes import SpikeDataset, save_spikes
from .synthetic import make_synthetic_splits

DATASET_NAMES = ("fmnist", "shd", "synthetic")

_RAW_PARAMS = {
    "fmnist": {"n_steps", "tau_eff", "theta", "subset_seed", "verify_md5"},
    "shd": {"n_steps", "t_max_s", "subset_seed", "verify_md5", "md5s"},
}


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
    splits = _synthetic_splits(params) if name == "synthetic" else _raw_splits(name, source, params)
    written: list[Path] = []
    results: list[SpikeDataset] = []
    try:
        # One split at a time: the train split is written before the test split is encoded.
        for dataset, path in zip(splits, (Path(out_path_train), Path(out_path_test))):
            save_spikes(path, dataset)
            written.append(path)
            results.append(dataset)
    except BaseException:
        for path in written:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        raise
    return results[0], results[1]


def _synthetic_splits(params: dict[str, Any]) -> Iterator[SpikeDataset]:
    n_train = int(params.pop("n_train", 512))
    n_test = int(params.pop("n_test", 128))
    yield from make_synthetic_splits(n_train, n_test, **params)


def _raw_splits(
    name: str, source: str | os.PathLike | None, params: dict[str, Any]
) -> Iterator[SpikeDataset]:
    if source is None:
        raise ValueError(f"dataset {name!r} needs a source directory")
    encoder = encode_fashion_mnist if name == "fmnist" else encode_shd
    subsets = {"train": params.pop("subset_train", None), "test": params.pop("subset_test", None)}
    unknown = sorted(set(params) - _RAW_PARAMS[name])
    if unknown:
        raise TypeError(f"unknown parameter(s) for {name!r}: {', '.join(unknown)}")
    for split in ("train", "test"):
        yield encoder(source, split, subset=subsets[split], **params)
