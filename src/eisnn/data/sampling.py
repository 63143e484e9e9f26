"""Seeded class-stratified subsets of a split (encoder ``subset=`` options and calibration)."""

from __future__ import annotations

import numpy as np


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
