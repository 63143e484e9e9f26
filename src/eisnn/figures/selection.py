"""Which runs a figure shows, decided from the configured runs alone.

No matplotlib, pandas or torch: the workflow imports this while building the DAG (the run whose
``probe.h5`` Fig 1b draws is an input of that rule).
"""

from __future__ import annotations

import math
from typing import Iterable

from eisnn.layout import is_unconstrained


def pick_sample_run(runs: Iterable, ratio: float = 0.8, sigma_init: float = 1e-3):
    """The run Fig 1b shows: the constrained ratio nearest ``ratio``, σ_init nearest (log)
    ``sigma_init``, the lowest noise and the lowest seed.

    ``runs`` are objects with ``ratio``, ``sigma_init``, ``noise_frac`` and ``seed`` attributes
    (e.g. :class:`eisnn.config.Run`); unconstrained runs are used only if there is no other.
    """
    runs = list(runs)
    if not runs:
        raise ValueError("no runs to choose a sample network from")
    constrained = [r for r in runs if not is_unconstrained(r.ratio)] or runs

    def key(run):
        ratio_gap = 0.0 if is_unconstrained(run.ratio) else abs(float(run.ratio) - ratio)
        sigma_gap = abs(math.log(max(run.sigma_init, 1e-300)) - math.log(sigma_init))
        return (round(ratio_gap, 9), round(sigma_gap, 9), run.noise_frac, run.seed)

    return min(constrained, key=key)
