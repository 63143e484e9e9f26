"""The paper's numbers (Kilgore et al.), as data: ``paper_claims.yaml`` next to this module.

That file holds every quantitative claim of the paper with where it comes from; the scorecard
(:mod:`eisnn.reproduction`) scores them, and the figures draw the few they show as reference
lines. Standard library and PyYAML only: the workflow imports this while building the DAG.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

CLAIMS_FILE = Path(__file__).with_name("paper_claims.yaml")


@cache
def claims_data() -> dict[str, Any]:
    """The claims file as loaded YAML (``claims``, ``tables``, ``table_tolerances``)."""
    return yaml.safe_load(CLAIMS_FILE.read_text())


def claim_spec(claim_id: str) -> dict[str, Any]:
    """One entry of the file's ``claims`` list, by id."""
    for spec in claims_data()["claims"]:
        if spec["id"] == claim_id:
            return spec
    raise KeyError(f"no claim {claim_id!r} in {CLAIMS_FILE}")


PAPER_BASELINE_ACCURACY = {
    "fmnist": float(claim_spec("fig1c.unconstrained_line")["paper"]),
    "shd": float(claim_spec("fig1d.unconstrained_line")["paper"]),
}
"""Accuracy of the unbounded network that the paper draws in Fig 1c/d (fraction; Fig 1 caption)."""
