"""Atomic file output: every result file is written to a temporary sibling, then renamed.

A job killed mid-write therefore leaves either the old complete file or no file, never a
truncated one that a later step would take for a result. A write that fails (a full disk, a
read-only directory) is an ``OSError`` naming the file and its directory, and leaves the old file.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator


_NO_ROOM = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS)
"""Errors of a write that fails for lack of room or of a writable file system."""


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` if the block succeeds."""
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
    except OSError as error:
        raise _write_error(target, error) from None
    tmp = Path(tmp_name)
    try:
        try:
            yield tmp
        except OSError as error:
            if error.errno in _NO_ROOM:
                raise _write_error(target, error) from None
            raise
        try:
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; results follow the user's umask
            os.replace(tmp, target)
        except OSError as error:
            raise _write_error(target, error) from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


def _write_error(target: Path, error: OSError) -> OSError:
    """The error of a failed write of ``target``: ``<directory>: cannot write <name> (<reason>)``."""
    reason = os.strerror(error.errno) if error.errno else str(error)
    return OSError(error.errno, f"cannot write {target.name} ({reason})", str(target.parent))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json_atomic(path: str | os.PathLike, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def write_csv_atomic(path: str | os.PathLike, frame) -> None:
    """Write a pandas DataFrame as CSV, atomically."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")
