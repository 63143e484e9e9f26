"""A latency-coded toy dataset with a learnable class structure, for tests and quick runs."""

from __future__ import annotations

from typing import Any

import numpy as np

from .spikes import SpikeDataset


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
    preferred, latency = _class_structure(
        n_units, n_steps, n_classes, structure_seed, preferred_fraction, early_fraction
    )
    rng = np.random.default_rng([seed, 2])
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


def _class_structure(
    n_units: int,
    n_steps: int,
    n_classes: int,
    structure_seed: int,
    preferred_fraction: float,
    early_fraction: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Preferred units bool ``[n_classes, n_units]`` and latency steps ``[n_classes, n_units]``."""
    structure_rng = np.random.default_rng([structure_seed, 1])
    n_preferred = max(1, int(round(preferred_fraction * n_units)))
    preferred = np.zeros((n_classes, n_units), dtype=bool)
    for c in range(n_classes):
        preferred[c, structure_rng.choice(n_units, size=n_preferred, replace=False)] = True
    early_steps = max(1, int(round(early_fraction * n_steps)))
    latency = structure_rng.integers(0, early_steps, size=(n_classes, n_units))
    return preferred, latency


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
