"""The weight snapshot of one run at one epoch: ``weights_epoch-<e>.npz`` (docs/architecture.md).

The one type that saves and loads the file; the trainer writes it, the metrics, the
simulation API and the exports read it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .io import atomic_path
from .layout import RunFiles


def population_masks(excitatory: np.ndarray, constrained: bool = True) -> dict[str, np.ndarray]:
    """Ordered ``{population: bool mask [H]}``, only for populations with at least one neuron.

    A constrained network has populations ``"E"`` and ``"I"``; an unconstrained one has no E/I
    types, so its hidden layer is one population ``"all"``.
    """
    excitatory = np.asarray(excitatory, dtype=bool)
    if not constrained:
        return {"all": np.ones(excitatory.shape, dtype=bool)} if excitatory.size else {}
    masks = {"E": excitatory, "I": ~excitatory}
    return {pop: mask for pop, mask in masks.items() if mask.any()}


@dataclass(frozen=True)
class Snapshot:
    """One saved network: weights and neuron types at one epoch.

    ``w_in`` float32 [n_in, H], ``w_out`` float32 [H, O], ``excitatory`` bool [H] (all True in
    an unconstrained network), ``constrained`` (Dale's law applies), ``epoch``, and ``diverged``
    (the run's loss had become non-finite by this epoch).
    """

    w_in: np.ndarray
    w_out: np.ndarray
    excitatory: np.ndarray
    constrained: bool
    epoch: int
    diverged: bool = False

    @property
    def finite(self) -> bool:
        return bool(np.isfinite(self.w_in).all() and np.isfinite(self.w_out).all())

    @property
    def populations(self) -> dict[str, np.ndarray]:
        """``{population: bool mask [H]}`` (:func:`population_masks`)."""
        return population_masks(self.excitatory, self.constrained)

    def matrices(self) -> dict[str, np.ndarray]:
        """Flattened weights by name: ``w_in`` and the W_out rows of each population."""
        out = {"w_in": self.w_in.ravel()}
        for pop, mask in self.populations.items():
            out[f"w_out_{pop}"] = self.w_out[mask].ravel()
        return out

    def save(self, path: str | os.PathLike) -> None:
        """Write the snapshot atomically (keys and dtypes of docs/architecture.md)."""
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as handle:
                np.savez(
                    handle,
                    w_in=self.w_in,
                    w_out=self.w_out,
                    excitatory=np.asarray(self.excitatory, dtype=bool),
                    constrained=np.bool_(self.constrained),
                    epoch=np.int64(self.epoch),
                    diverged=np.bool_(self.diverged),
                )

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Snapshot":
        with np.load(path) as archive:
            return cls(
                w_in=archive["w_in"].astype(np.float32),
                w_out=archive["w_out"].astype(np.float32),
                excitatory=archive["excitatory"].astype(bool),
                constrained=bool(archive["constrained"]),
                epoch=int(archive["epoch"]),
                diverged=bool(archive["diverged"]) if "diverged" in archive.files else False,
            )


def load_snapshots(run_dir: str | os.PathLike) -> dict[int, Snapshot]:
    """The snapshots ``run.json`` declares, by epoch (:meth:`eisnn.layout.RunFiles.declared_snapshot_epochs`).

    A weights file the run did not declare (a stray copy) is never read; a declared one that is
    missing is an error naming it.
    """
    files = RunFiles(Path(run_dir))
    epochs = files.declared_snapshot_epochs()
    for epoch in epochs:
        if not files.snapshot(epoch).is_file():
            raise FileNotFoundError(
                f"{files.snapshot(epoch)} is missing but {files.run_json.name} declares it; train the run again "
                f"(README, \"Start a run again from scratch\")"
            )
    return {epoch: Snapshot.load(files.snapshot(epoch)) for epoch in epochs}
