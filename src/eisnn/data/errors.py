"""The refusal of bad input data: :class:`DatasetError` and the checks every reader shares.

Every refusal raises :class:`DatasetError` with a message that starts with the offending file
and says what is wrong.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import zlib
from typing import Iterator, Sequence

import numpy as np


class DatasetError(ValueError):
    """A dataset file is missing, corrupted, truncated or inconsistent."""


def check_split(split: str, allowed: Sequence[str] = ("train", "test")) -> None:
    if split not in allowed:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(allowed)}")


def check_range(where: str, what: str, values: np.ndarray, low: int, high: int) -> None:
    """Refuse non-empty ``values`` outside ``low..high``; the message starts with ``where``."""
    lo, hi = int(values.min()), int(values.max())
    if lo < low or hi > high:
        bad = lo if lo < low else hi
        raise DatasetError(f"{where}{what} out of range {low}..{high}: found {bad}")


def read_gzip(path: str | os.PathLike) -> bytes:
    """The decompressed content of a gzip file; a truncated or corrupt stream is refused."""
    try:
        with gzip.open(path, "rb") as handle:
            return handle.read()
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as err:
        reason = "truncated gzip stream" if isinstance(err, EOFError) else f"corrupt gzip stream ({err})"
        raise DatasetError(f"{path}: {reason}") from err


@contextlib.contextmanager
def hdf5_errors(path: str | os.PathLike) -> Iterator[None]:
    """Turn what h5py raises on a damaged file inside the block into a DatasetError naming ``path``.

    A DatasetError raised in the block passes through unchanged.
    """
    try:
        yield
    except DatasetError:
        raise
    except (OSError, RuntimeError, KeyError, ValueError, TypeError) as err:
        raise DatasetError(f"{path}: unreadable or truncated HDF5 file ({err})") from err
