"""Reporting errors: what counts as bad input, the one line that names it, and a log that ends with it.

Standard library only, so that the command line and every workflow job can import it cheaply.
"""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
from typing import IO, Iterator

USER_ERRORS = (OSError, ValueError, KeyError, TypeError)
"""What bad input raises (missing or unreadable files, a full or read-only disk, malformed data or
JSON, bad values): reported as one line naming the problem."""

TRACEBACK_VARIABLE = "EISNN_TRACEBACK"
"""Set (to anything but empty) to see the traceback of a user error as well."""


def describe(error: BaseException) -> str:
    """One line for a user error: the file and the reason for a file error, else the message."""
    if isinstance(error, OSError) and error.filename is not None:
        return f"{error.filename}: {error.strerror or error}"
    if isinstance(error, KeyError):
        return f"missing key {error}"
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def show_tracebacks() -> bool:
    return bool(os.environ.get(TRACEBACK_VARIABLE))


@contextlib.contextmanager
def logged_to(path: str | os.PathLike) -> Iterator[IO[str]]:
    """Run the block with its standard output and error written to the log file ``path``.

    The log ends with the block's error, if any: ``error: <one line>`` for a user error
    (:data:`USER_ERRORS`; the line also goes to the real standard error, and the process exits
    with status 1, without a traceback), the traceback for any other exception, which is then
    raised again. Either way the caller fails.
    """
    with open(path, "w") as log:
        try:
            with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
                yield log
        except USER_ERRORS as error:
            if show_tracebacks():
                traceback.print_exc(file=log)
            line = f"error: {describe(error)}"
            print(line, file=log, flush=True)
            print(line, file=sys.stderr, flush=True)
            raise SystemExit(1) from None
        except Exception:
            traceback.print_exc(file=log)
            log.flush()
            raise
