"""Checksummed downloads: md5 digests, verification against known sums, fetching a file from
one of several URL prefixes through a temporary sibling (:class:`DownloadError` for network and
server failures, :class:`~eisnn.data.errors.DatasetError` for a wrong checksum)."""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Sequence

from eisnn.io import atomic_path

from .errors import DatasetError


class DownloadError(OSError):
    """A file could not be fetched from any of the given URLs (network or server failure)."""


def md5_file(path: str | os.PathLike, chunk_bytes: int = 1 << 20) -> str:
    """Hex md5 digest of a file, read in chunks."""
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_bytes), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_md5(path: Path, expected: str, what: str = "the official") -> str:
    """The md5 of ``path``; DatasetError unless it is ``expected`` (``what`` names its origin)."""
    actual = md5_file(path)
    if actual != expected:
        raise DatasetError(f"{path}: md5 {actual} does not match {what} {expected}")
    return actual


def parse_md5sums(text: str) -> dict[str, str]:
    """Parse ``md5sum`` output (``<hex>  <file>`` per line) into ``{file: hex}``."""
    sums = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and len(parts[0]) == 32:
            sums[parts[1].lstrip("*")] = parts[0].lower()
    return sums


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


def url_prefixes(base_url: str | Sequence[str]) -> list[str]:
    """One URL prefix or several as a list, each ending in ``/``."""
    urls = [base_url] if isinstance(base_url, str) else list(base_url)
    return [u if u.endswith("/") else u + "/" for u in urls]


def fetch_checked(
    prefixes: Sequence[str], directory: Path, name: str, md5: str | None, timeout_s: float
) -> Path:
    """Fetch file ``name`` into ``directory`` from the first of ``prefixes`` (see
    :func:`url_prefixes`) that serves it with the md5.

    The download is skipped when the file is already there with the right md5. If every prefix
    fails, the error lists each failure; it is a DatasetError if any prefix served a file with
    a wrong md5.
    """
    destination = directory / name
    if destination.is_file() and md5 is not None and md5_file(destination) == md5:
        return destination
    failures: list[Exception] = []
    for prefix in prefixes:
        try:
            return download_file(prefix + name, destination, md5, timeout_s=timeout_s)
        except (DatasetError, DownloadError) as err:
            failures.append(err)
    message = f"{destination}: every source failed: " + "; ".join(str(f) for f in failures)
    if any(isinstance(f, DatasetError) for f in failures):
        raise DatasetError(message)
    raise DownloadError(message)

