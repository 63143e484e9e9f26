"""A run's checkpoint (``checkpoint.pt``): everything needed to continue it after a kill.

Written after every epoch, atomically; trusted only when its format and fingerprint
(:func:`eisnn.params.fingerprint`) match the run, and when every run of the pack has one at
the same epoch. Deleted when the run completes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from .io import atomic_path

CHECKPOINT_FORMAT = 1


def write_checkpoint(path: Path, record: dict[str, Any]) -> None:
    """Save one run's checkpoint record (``format`` is added).

    Written through a Python file, so that a full disk is an ``OSError`` that says so (torch's
    own file writer reports only "unexpected pos").
    """
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        torch.save({"format": CHECKPOINT_FORMAT, **record}, handle)


def read_pack_checkpoints(
    paths: Sequence[Path],
    fingerprints: Sequence[str],
    max_epoch: int,
    snapshot_epochs: Sequence[int],
    log: Callable[[str], None],
) -> list[dict[str, Any]] | None:
    """The checkpoints of every run of a pack if all exist, belong to these runs and agree on
    the epoch (at most ``max_epoch``, with every snapshot due by then); else None (start over)."""
    if not all(p.exists() for p in paths):
        if any(p.exists() for p in paths):
            log("some runs of this pack have no checkpoint: starting the whole pack from epoch 0")
        return None
    loaded = []
    for path, fingerprint in zip(paths, fingerprints):
        try:
            checkpoint = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as error:  # an unreadable checkpoint is discarded, never trusted
            log(f"{path}: unreadable checkpoint ({error}); starting from epoch 0")
            return None
        if checkpoint.get("format") != CHECKPOINT_FORMAT or checkpoint.get("fingerprint") != fingerprint:
            log(f"{path}: checkpoint belongs to other parameters; starting from epoch 0")
            return None
        loaded.append(checkpoint)
    epochs = {c["epoch"] for c in loaded}
    epoch = epochs.pop()
    if epochs or epoch > max_epoch:
        log("checkpoints of this pack disagree or exceed the epochs asked for; starting from epoch 0")
        return None
    missing = [e for e in snapshot_epochs if e <= epoch and e not in loaded[0]["snapshots"]]
    if missing:
        log(f"checkpoints lack snapshot epochs {missing}; starting from epoch 0")
        return None
    return loaded
