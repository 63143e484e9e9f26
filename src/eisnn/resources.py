"""Cluster requests of the workflow's jobs, from measured costs (README "Running on a cluster").

A training job trains a pack of runs; its time is linear in the runs, the epochs and the
samples per epoch, so one measurement (``benchmarks/cluster_requests.py``: a pack of 8 runs,
one epoch, full data, 1 thread) scales to every pack of the grid:

    train seconds   = runs · epochs · s_network_epoch · (n_train + n_test) / (n_train_m + n_test_m)
    metrics seconds = snapshots · s_snapshot · n_test / n_test_m

(the subscript m marks the measured sizes; the test split is evaluated once per epoch). A
request is the need times ``margin`` times the attempt (a retried job asks for more), plus a
fixed start-up allowance, at least ``min_runtime`` and at most ``max_runtime`` minutes; memory
is the measured peak times ``margin`` times the attempt. Standard library only: the workflow
imports this to build the DAG.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

DATASET_SIZES = {"fmnist": (60000, 10000), "shd": (8156, 2264)}
"""(train, test) samples of the full datasets."""

MEASURED_KEYS = (
    "train_seconds_per_network_epoch",
    "train_peak_mb",
    "metrics_seconds_per_snapshot",
    "metrics_peak_mb",
    "n_train",
    "n_test",
)


@dataclass(frozen=True)
class Request:
    runtime: int  # minutes
    mem_mb: int

    def as_dict(self) -> dict[str, int]:
        return {"runtime": self.runtime, "mem_mb": self.mem_mb}


@dataclass(frozen=True)
class RequestPolicy:
    """How measured needs become requests (the config's ``resources`` section)."""

    measured: Mapping[str, Mapping[str, float]]
    margin: float = 2.0
    startup_minutes: int = 2
    min_runtime: int = 5
    max_runtime: int = 1440

    @classmethod
    def from_config(cls, resources: Mapping[str, Any]) -> "RequestPolicy":
        keys = ("margin", "startup_minutes", "min_runtime", "max_runtime")
        return cls(measured=resources.get("measured", {}), **{key: resources[key] for key in keys if key in resources})

    def _costs(self, dataset: str) -> Mapping[str, float]:
        if dataset not in self.measured:
            raise KeyError(f"resources.measured has no entry for dataset {dataset!r}")
        return self.measured[dataset]

    def _minutes(self, seconds: float, attempt: int) -> int:
        wanted = math.ceil(seconds * self.margin * attempt / 60) + self.startup_minutes
        return min(max(wanted, self.min_runtime), self.max_runtime)

    def _mem_mb(self, peak_mb: float, attempt: int) -> int:
        return math.ceil(peak_mb * self.margin * attempt)

    def training_need_seconds(self, dataset: str, sizes: tuple[int, int], runs: int, epochs: int) -> float:
        costs = self._costs(dataset)
        scale = (sizes[0] + sizes[1]) / (costs["n_train"] + costs["n_test"])
        return runs * epochs * costs["train_seconds_per_network_epoch"] * scale

    def metrics_need_seconds(self, dataset: str, n_test: int, n_snapshots: int) -> float:
        costs = self._costs(dataset)
        return n_snapshots * costs["metrics_seconds_per_snapshot"] * n_test / costs["n_test"]

    def training(self, dataset: str, sizes: tuple[int, int], runs: int, epochs: int, attempt: int = 1) -> Request:
        seconds = self.training_need_seconds(dataset, sizes, runs, epochs)
        return Request(self._minutes(seconds, attempt), self._mem_mb(self._costs(dataset)["train_peak_mb"], attempt))

    def metrics(self, dataset: str, n_test: int, n_snapshots: int, attempt: int = 1) -> Request:
        seconds = self.metrics_need_seconds(dataset, n_test, n_snapshots)
        return Request(self._minutes(seconds, attempt), self._mem_mb(self._costs(dataset)["metrics_peak_mb"], attempt))
