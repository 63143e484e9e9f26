"""Numbers quoted from the paper (/work/shared/paper, Kilgore et al.) that the results are compared with.

Standard library only: the workflow imports these while building the DAG.
"""

from __future__ import annotations

PAPER_BASELINE_ACCURACY = {"fmnist": 0.86, "shd": 0.48}
"""Accuracy of the unbounded network that the paper draws in Fig 1c/d (fraction; Fig 1 caption)."""
