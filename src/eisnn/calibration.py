"""Initialisation by target firing rate: find the σ_init that gives a run's initial network a
requested hidden firing rate (paper §2.1 and Fig 1c/d: accuracy against the initial firing rate).

The paper sweeps σ_init blindly and finds that networks starting with sparse activity train
best; `calibrate_sigma` lets a user ask for the rate instead.

How it works:

- **The run's own network.** A run's initial weights come from its seed alone
  (`eisnn.initial.initial_network`, which training uses too). W_in scales exactly with σ_init
  and W_out does not depend on it, so the unit-σ draws are made once (`InitialNetwork`) and
  rescaled: `InitialNetwork.weights(σ)` is bit for bit the network training builds for
  `RunSpec(sigma_init=σ)`.
- **The rate.** Hidden spikes / (n_hidden · n_samples · T · dt_s), in Hz, from the forward pass
  only (`eisnn.model.simulate`, the compiled CPU kernel, the whole subset in one batch).
  The hidden layer does not depend on W_out.
- **The subset.** A fixed, class-balanced subset of `n_samples` samples:
  `eisnn.data.stratified_subset(labels, n_samples, seed=0)`; the subset seed is fixed (not the
  run's seed), so every run of a grid is calibrated on the same samples, and a smaller subset
  is contained in a larger one. `n_samples=None` (or ≥ the dataset size) uses every sample.
  Training calibrates on the training split (`calibrate_runs`), so no test data enters a run's
  initialisation; the metrics report the initial rate on the test split (paper §4.3, docs/formats.md), which
  agrees with the calibrated rate up to the sampling difference of the two splits.
- **The search.** Bisection on log σ between `sigma_bounds`, keeping the bracket
  rate(lo) < target < rate(hi). It stops at the first σ whose rate is within `rel_tolerance` of
  the target. The bracket never needs the rate to be monotone in σ (in practice it is
  non-decreasing: all input weights are ≥ 0 and scale together), and plateaus (equal spike
  counts over a range of σ) only move the bracket. Everything is deterministic.
- **Unreachable targets** raise `ValueError` naming the target and the reachable range: a target
  above the rate at the upper bound (saturation: with the reset a neuron fires at most every
  other step, < 1/(2·dt)), or below the rate at the lower bound.
- **Quantisation.** The rate is a spike count: the smallest positive rate measurable on the
  subset is one spike, 1/(n_hidden · n_samples · T · dt_s) Hz. A target whose tolerance band
  lies below that step is unresolvable (only 0 Hz, a silent network, lies below it) and raises
  `ValueError` asking for more samples. A target close to the step is reachable in principle;
  if the spike count jumps across the whole tolerance band at one σ (it can, near the onset of
  activity), the search runs to the bracket's floating-point resolution or `max_iterations`,
  then returns the closest σ found with `converged=False` and a `RuntimeWarning`.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from dataclasses import asdict, dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch

from .data import stratified_subset
from .initial import initial_network
from .model import simulate
from .params import CalibrationSettings, RunSpec, TrainOptions

SUBSET_SEED = 0  # the seed of the calibration subset (eisnn.data.stratified_subset); not the run's seed
MAX_ITERATIONS = 40


@dataclass(frozen=True)
class CalibrationResult:
    """The σ_init found for one run and the initial hidden rate it gives on the subset.

    `iterations` counts the bisection steps (forward passes after the two at the bounds);
    `n_samples` is the subset size actually used; `converged` is False when the search ended
    without reaching `rel_tolerance` (then `sigma_init` is the closest σ found).
    """

    sigma_init: float
    rate_hz: float
    target_rate_hz: float
    iterations: int
    n_samples: int
    sigma_bounds: tuple[float, float]
    ratio: float | None
    seed: int
    n_hidden: int
    sigma_out: float
    rel_tolerance: float
    converged: bool
    spike_count: int
    min_positive_rate_hz: float
    subset: str

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready record for provenance (`params.calibration` of run.json)."""
        record = asdict(self)
        record["sigma_bounds"] = [float(b) for b in self.sigma_bounds]
        return record


class InitialNetwork:
    """The initial network of one run (ratio, seed) with σ_init left free.

    Draws the unit-σ weights once (`eisnn.initial.initial_network`) and measures the initial
    hidden rate of any σ_init on a fixed subset of `dataset`.
    """

    def __init__(
        self,
        ratio: float | None,
        seed: int,
        dataset,
        options: TrainOptions,
        n_samples: int | None = CalibrationSettings.n_samples,
    ):
        if not isinstance(options, TrainOptions):
            raise TypeError(f"expected TrainOptions, got {type(options).__name__}")
        if ratio is not None and not 0.0 <= ratio <= 1.0:
            raise ValueError(f"ratio must be in [0, 1] or None (unconstrained), got {ratio}")
        if n_samples is not None and n_samples < 1:
            raise ValueError(f"n_samples must be >= 1 or None (all samples), got {n_samples}")
        if dataset.n_samples < 1:
            raise ValueError("the calibration dataset has no samples")
        self.config = options.model
        self.ratio, self.seed, self.dataset = ratio, int(seed), dataset
        self.n_hidden, self.n_in, self.n_out = options.n_hidden, dataset.n_units, dataset.n_classes
        self.sigma_out = options.resolved_sigma_out()
        if n_samples is None or n_samples >= dataset.n_samples:
            self.indices = np.arange(dataset.n_samples, dtype=np.int64)
            self.subset = "all"
        else:
            self.indices = stratified_subset(dataset.labels, n_samples, seed=SUBSET_SEED)
            self.subset = f"stratified_subset(seed={SUBSET_SEED})"
        self.unit_w_in, self.w_out, self.excitatory = initial_network(
            ratio, self.seed, 1.0, self.sigma_out, self.n_in, self.n_hidden, self.n_out
        )
        seconds_per_sample = dataset.n_steps * self.config.dt_ms * 1e-3
        self.neuron_seconds = self.n_hidden * len(self.indices) * seconds_per_sample

    @property
    def n_samples(self) -> int:
        return len(self.indices)

    @property
    def min_positive_rate_hz(self) -> float:
        """One hidden spike on the subset: the rate's quantisation step, in Hz."""
        return 1.0 / self.neuron_seconds

    def weights(self, sigma_init: float) -> tuple[torch.Tensor, torch.Tensor]:
        """(W_in [n_in, H], W_out [H, O]) as training initialises them for this σ_init."""
        return self.unit_w_in * sigma_init, self.w_out.clone()

    def spike_count(self, sigma_init: float) -> int:
        """Total hidden spikes on the subset for this σ_init (forward pass only)."""
        w_in, w_out = self.weights(sigma_init)
        spikes, _ = simulate(w_in.unsqueeze(0), w_out.unsqueeze(0), self.dataset, self.indices, self.config)
        return int(spikes.sum())

    def rate_hz(self, sigma_init: float) -> float:
        """Initial hidden firing rate: spikes / (n_hidden · n_samples · T · dt_s)."""
        return self.spike_count(sigma_init) / self.neuron_seconds


def _hz(value: float) -> str:
    return f"{value:.4g}"


@dataclass
class _Point:
    """One measured σ_init: its spike count and rate."""

    sigma: float
    count: int
    rate_hz: float


class _Bisection:
    """The search of `calibrate_sigma` for one network and target (module docstring)."""

    def __init__(self, network: InitialNetwork, target_rate_hz: float, settings: CalibrationSettings):
        self.network, self.target, self.settings = network, target_rate_hz, settings
        self.run = f"ratio {network.ratio}, seed {network.seed}"
        self.iterations = 0

    def measure(self, sigma: float) -> _Point:
        count = self.network.spike_count(sigma)
        return _Point(sigma, count, count / self.network.neuron_seconds)

    def within(self, point: _Point) -> bool:
        return abs(point.rate_hz - self.target) <= self.settings.rel_tolerance * self.target

    def result(self, point: _Point, converged: bool) -> CalibrationResult:
        network = self.network
        return CalibrationResult(
            sigma_init=float(point.sigma),
            rate_hz=point.rate_hz,
            target_rate_hz=float(self.target),
            iterations=self.iterations,
            n_samples=network.n_samples,
            sigma_bounds=self.settings.sigma_bounds,
            ratio=network.ratio,
            seed=network.seed,
            n_hidden=network.n_hidden,
            sigma_out=network.sigma_out,
            rel_tolerance=float(self.settings.rel_tolerance),
            converged=converged,
            spike_count=point.count,
            min_positive_rate_hz=network.min_positive_rate_hz,
            subset=network.subset,
        )

    def check_resolution(self) -> None:
        step_hz = self.network.min_positive_rate_hz
        if self.target * (1 + self.settings.rel_tolerance) < step_hz:
            raise ValueError(
                f"target {_hz(self.target)} Hz is below the resolution of the rate on {self.network.n_samples} "
                f"samples for {self.run}: one hidden spike is {_hz(step_hz)} Hz, so the measurable rates are 0 or "
                f">= {_hz(step_hz)} Hz; use more samples (n_samples) or a larger target"
            )

    def bracket(self) -> tuple[_Point, _Point]:
        """The points at the σ bounds; an error if the target lies outside their rates."""
        low, high = (self.measure(sigma) for sigma in self.settings.sigma_bounds)
        outside_high = high.rate_hz < self.target and not self.within(high)
        outside_low = low.rate_hz > self.target and not self.within(low)
        if outside_high or outside_low:
            raise ValueError(
                f"target {_hz(self.target)} Hz is unreachable for {self.run}: the initial rate spans "
                f"{_hz(low.rate_hz)}–{_hz(high.rate_hz)} Hz for σ_init in [{low.sigma:g}, {high.sigma:g}]"
            )
        return low, high

    def search(self, max_iterations: int) -> CalibrationResult:
        self.check_resolution()
        low, high = self.bracket()
        # Closest first, the lower bound on a tie (the sparser network).
        best = min((low, high), key=lambda point: abs(point.rate_hz - self.target))
        if self.within(best):
            return self.result(best, True)
        # Bracket: rate(low) < target·(1 - tol) and rate(high) > target·(1 + tol).
        while self.iterations < max_iterations:
            middle = math.sqrt(low.sigma * high.sigma)  # the midpoint in log σ
            if not low.sigma < middle < high.sigma:
                break  # the bracket is at floating-point resolution
            point = self.measure(middle)
            self.iterations += 1
            if abs(point.rate_hz - self.target) <= abs(best.rate_hz - self.target):  # ties: the later σ
                best = point
            if self.within(point):
                return self.result(point, True)
            low, high = (point, high) if point.rate_hz < self.target else (low, point)
        found = self.result(best, False)
        warnings.warn(
            f"calibration for {self.run} did not reach {_hz(self.target)} Hz ± {self.settings.rel_tolerance:.0%} "
            f"after {self.iterations} bisection steps: the bracket is σ_init {low.sigma:.6g} ({_hz(low.rate_hz)} Hz) "
            f"to {high.sigma:.6g} ({_hz(high.rate_hz)} Hz); returning σ_init {found.sigma_init:.6g} "
            f"({_hz(found.rate_hz)} Hz)",
            RuntimeWarning,
            stacklevel=3,
        )
        return found


def calibrate_sigma(
    target_rate_hz: float,
    ratio: float | None,
    seed: int,
    dataset,
    options: TrainOptions,
    settings: CalibrationSettings = CalibrationSettings(),
    max_iterations: int = MAX_ITERATIONS,
) -> CalibrationResult:
    """σ_init whose initial network (this ratio and seed) fires at `target_rate_hz` on `dataset`.

    `dataset` is a SpikeDataset (training calibrates on the training split); n_hidden, the
    neuron constants and σ_out come from `options`, as in training. Raises ValueError for an
    unreachable or unresolvable target. See the module docstring for the subset, the search
    and the quantisation of the rate.
    """
    if not (math.isfinite(target_rate_hz) and target_rate_hz > 0):
        raise ValueError(f"target_rate_hz must be a positive finite rate in Hz, got {target_rate_hz}")
    if max_iterations < 0:
        raise ValueError(f"max_iterations must be >= 0, got {max_iterations}")
    network = InitialNetwork(ratio, seed, dataset, options, settings.n_samples)
    return _Bisection(network, float(target_rate_hz), settings).search(max_iterations)


def calibrate_runs(
    runs: Sequence[RunSpec],
    dataset,
    options: TrainOptions,
    log: Callable[[str], None] | None = None,
) -> list[RunSpec]:
    """The runs with every target-rate run's σ_init found; runs given by σ_init pass unchanged.

    Each run given by `target_rate_hz` (and `sigma_init` None) is calibrated on `dataset` with
    its calibration settings (`RunSpec.calibration_settings`) and comes back with `sigma_init`
    set and `calibration` replaced by the whole record (`CalibrationResult.as_dict()`).
    Training calibrates on the training split, so no test data enters the run's
    initialisation. Deterministic: a job resumed on the same kind of CPU finds the same σ_init
    (the checkpoint fingerprint holds σ_init and the settings, not the spike counts).
    """
    resolved = []
    for run in runs:
        if run.has_sigma:
            resolved.append(run)
            continue
        started = time.perf_counter()
        try:
            settings = run.calibration_settings
            result = calibrate_sigma(run.target_rate_hz, run.ratio, run.seed, dataset, options, settings)
        except ValueError as error:
            raise ValueError(f"{run.run_dir}: {error}") from None
        if log is not None:
            log(
                f"{run.run_dir}: σ_init {result.sigma_init:.6g} gives {result.rate_hz:.4g} Hz "
                f"(target {result.target_rate_hz:g} Hz, {result.n_samples} samples, {result.iterations} bisection "
                f"steps, {time.perf_counter() - started:.2f} s)"
            )
        resolved.append(dataclasses.replace(run, sigma_init=result.sigma_init, calibration=result.as_dict()))
    return resolved
