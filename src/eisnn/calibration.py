"""Initialisation by target firing rate: find the σ_init that gives a run's initial network a
requested hidden firing rate (SPEC §4's "initial firing rate", the x-axis of Fig 1c/d).

The paper sweeps σ_init blindly and finds that networks starting with sparse activity train
best; `calibrate_sigma` lets a user ask for the rate instead.

How it works:

- **The run's own network.** A run's initial weights come from its seed alone
  (`eisnn.train.PackTrainer._initial_weights`): `init_weights(..., σ_init, σ_out, generator)`
  with `torch.Generator().manual_seed(stream_seed(seed, "init"))`. W_in = |N(0,1)|·σ_init (signed
  N(0,1)·σ_init when unconstrained) and W_out does not depend on σ_init, so the unit-σ draws are
  made once (`InitialNetwork`) and rescaled: `InitialNetwork.weights(σ)` is bit-for-bit the
  network that `PackTrainer` builds for `RunSpec(sigma_init=σ)` (|x|·σ = |x·σ| exactly in floating
  point, since rounding is symmetric in sign).
- **The rate.** Hidden spikes / (n_hidden · n_samples · T · dt_s), in Hz, from the forward pass
  only (`eisnn.model.simulate`, the compiled CPU kernel, the whole subset in one batch).
  The hidden layer does not depend on W_out.
- **The subset.** A fixed, class-balanced subset of `n_samples` samples:
  `eisnn.data.stratified_subset(labels, n_samples, seed=0)`; the subset seed is fixed (not the
  run's seed), so every run of a grid is calibrated on the same samples, and a smaller subset
  is contained in a larger one. `n_samples=None` (or ≥ the dataset size) uses every sample.
  Training calibrates on the training split (`calibrate_runs`), so no test data enters a run's
  initialisation; the metrics report the initial rate on the test split (SPEC §4), which
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
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np
import torch

from .config import DEFAULT_CALIBRATION
from .data import stratified_subset
from .model import ModelConfig, init_weights, reference_weight_scale, simulate, stream_seed

if TYPE_CHECKING:  # train imports this module
    from .train import RunSpec, TrainOptions

SUBSET_SEED = 0  # the seed of the calibration subset (eisnn.data.stratified_subset); not the run's seed


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

    Draws the unit-σ weights once, exactly as `PackTrainer._initial_weights` does, and measures
    the initial hidden rate of any σ_init on a fixed subset of `dataset`.
    """

    def __init__(
        self,
        ratio: float | None,
        seed: int,
        dataset,
        n_hidden: int | None,
        options_or_model_config: TrainOptions | ModelConfig,
        sigma_out: float | None = None,
        n_samples: int | None = DEFAULT_CALIBRATION["n_samples"],
    ):
        self.config, n_hidden, sigma_out = _resolve_settings(options_or_model_config, n_hidden, sigma_out)
        if ratio is not None and not 0.0 <= ratio <= 1.0:
            raise ValueError(f"ratio must be in [0, 1] or None (unconstrained), got {ratio}")
        if n_samples is not None and n_samples < 1:
            raise ValueError(f"n_samples must be >= 1 or None (all samples), got {n_samples}")
        if dataset.n_samples < 1:
            raise ValueError("the calibration dataset has no samples")
        self.ratio, self.seed, self.dataset = ratio, int(seed), dataset
        self.n_hidden, self.n_in, self.n_out = n_hidden, dataset.n_units, dataset.n_classes
        self.sigma_out = sigma_out
        if n_samples is None or n_samples >= dataset.n_samples:
            self.indices = np.arange(dataset.n_samples, dtype=np.int64)
            self.subset = "all"
        else:
            self.indices = stratified_subset(dataset.labels, n_samples, seed=SUBSET_SEED)
            self.subset = f"stratified_subset(seed={SUBSET_SEED})"
        generator = torch.Generator().manual_seed(stream_seed(self.seed, "init"))
        self.unit_w_in, self.w_out, self.excitatory = init_weights(
            self.n_in, self.n_hidden, self.n_out, ratio, 1.0, sigma_out, generator
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
        """(W_in [n_in, H], W_out [H, O]) as `PackTrainer` initialises them for this σ_init."""
        return self.unit_w_in * sigma_init, self.w_out.clone()

    def spike_count(self, sigma_init: float) -> int:
        """Total hidden spikes on the subset for this σ_init (forward pass only)."""
        w_in, w_out = self.weights(sigma_init)
        spikes, _ = simulate(w_in.unsqueeze(0), w_out.unsqueeze(0), self.dataset, self.indices, self.config)
        return int(spikes.sum())

    def rate_hz(self, sigma_init: float) -> float:
        """Initial hidden firing rate: spikes / (n_hidden · n_samples · T · dt_s)."""
        return self.spike_count(sigma_init) / self.neuron_seconds


def _resolve_settings(
    options_or_model_config: TrainOptions | ModelConfig, n_hidden: int | None, sigma_out: float | None
) -> tuple[ModelConfig, int, float]:
    """ModelConfig, n_hidden and σ_out as `PackTrainer` resolves them."""
    if hasattr(options_or_model_config, "model_config"):  # TrainOptions
        options = options_or_model_config
        if n_hidden is not None and n_hidden != options.n_hidden:
            raise ValueError(f"n_hidden {n_hidden} disagrees with the training options' n_hidden {options.n_hidden}")
        config, n_hidden = options.model_config(), options.n_hidden
        sigma_out = sigma_out if sigma_out is not None else options.sigma_out
    elif isinstance(options_or_model_config, ModelConfig):
        config = options_or_model_config
        if n_hidden is None:
            raise ValueError("n_hidden is required with a ModelConfig (TrainOptions carry their own)")
    else:
        raise TypeError(f"expected TrainOptions or ModelConfig, got {type(options_or_model_config).__name__}")
    if n_hidden < 1:
        raise ValueError(f"n_hidden must be >= 1, got {n_hidden}")
    # PackTrainer: `options.sigma_out or reference_weight_scale(...)` (0 and None mean the default).
    sigma_out = float(sigma_out or reference_weight_scale(n_hidden, config))
    return config, int(n_hidden), sigma_out


def _hz(value: float) -> str:
    return f"{value:.4g}"


def calibrate_sigma(
    target_rate_hz: float,
    ratio: float | None,
    seed: int,
    dataset,
    n_hidden: int | None,
    options_or_model_config: TrainOptions | ModelConfig,
    sigma_out: float | None = None,
    n_samples: int | None = DEFAULT_CALIBRATION["n_samples"],
    sigma_bounds: tuple[float, float] = tuple(DEFAULT_CALIBRATION["sigma_bounds"]),
    rel_tolerance: float = DEFAULT_CALIBRATION["rel_tolerance"],
    max_iterations: int = 40,
) -> CalibrationResult:
    """σ_init whose initial network (this ratio and seed) fires at `target_rate_hz` on `dataset`.

    `dataset` is a SpikeDataset (training calibrates on the training split); `n_hidden` may be None
    when TrainOptions are given (it must match them otherwise); `sigma_out` defaults like
    `PackTrainer`'s. Raises ValueError for an unreachable or unresolvable target. See the
    module docstring for the subset, the search and the quantisation of the rate.
    """
    if not (math.isfinite(target_rate_hz) and target_rate_hz > 0):
        raise ValueError(f"target_rate_hz must be a positive finite rate in Hz, got {target_rate_hz}")
    bounds = tuple(float(b) for b in sigma_bounds)
    low, high = bounds if len(bounds) == 2 else (math.nan, math.nan)
    if not 0 < low < high or not math.isfinite(high):
        raise ValueError(f"sigma_bounds must satisfy 0 < low < high < inf, got {sigma_bounds}")
    if not 0 < rel_tolerance < 1:
        raise ValueError(f"rel_tolerance must lie in (0, 1), got {rel_tolerance}")
    if max_iterations < 0:
        raise ValueError(f"max_iterations must be >= 0, got {max_iterations}")

    network = InitialNetwork(ratio, seed, dataset, n_hidden, options_or_model_config, sigma_out, n_samples)
    run = f"ratio {ratio}, seed {seed}"
    step_hz = network.min_positive_rate_hz
    if target_rate_hz * (1 + rel_tolerance) < step_hz:
        raise ValueError(
            f"target {_hz(target_rate_hz)} Hz is below the resolution of the rate on {network.n_samples} samples "
            f"for {run}: one hidden spike is {_hz(step_hz)} Hz, so the measurable rates are 0 or >= "
            f"{_hz(step_hz)} Hz; use more samples (n_samples) or a larger target"
        )

    def within(rate: float) -> bool:
        return abs(rate - target_rate_hz) <= rel_tolerance * target_rate_hz

    def result(sigma: float, count: int, iterations: int, converged: bool) -> CalibrationResult:
        return CalibrationResult(
            sigma_init=float(sigma),
            rate_hz=count / network.neuron_seconds,
            target_rate_hz=float(target_rate_hz),
            iterations=iterations,
            n_samples=network.n_samples,
            sigma_bounds=bounds,
            ratio=ratio,
            seed=network.seed,
            n_hidden=network.n_hidden,
            sigma_out=network.sigma_out,
            rel_tolerance=float(rel_tolerance),
            converged=converged,
            spike_count=count,
            min_positive_rate_hz=step_hz,
            subset=network.subset,
        )

    count_low, count_high = network.spike_count(low), network.spike_count(high)
    rate_low, rate_high = count_low / network.neuron_seconds, count_high / network.neuron_seconds
    if (rate_high < target_rate_hz and not within(rate_high)) or (rate_low > target_rate_hz and not within(rate_low)):
        raise ValueError(
            f"target {_hz(target_rate_hz)} Hz is unreachable for {run}: the initial rate spans "
            f"{_hz(rate_low)}–{_hz(rate_high)} Hz for σ_init in [{low:g}, {high:g}]"
        )
    # Closest first, the lower bound on a tie (the sparser network).
    candidates = [(abs(rate_low - target_rate_hz), low, count_low), (abs(rate_high - target_rate_hz), high, count_high)]
    best = min(candidates, key=lambda c: c[0])
    if within(best[2] / network.neuron_seconds):
        return result(best[1], best[2], 0, True)

    # Bracket: rate(low) < target·(1 - tol) and rate(high) > target·(1 + tol).
    iterations = 0
    while iterations < max_iterations:
        middle = math.sqrt(low * high)  # the midpoint in log σ
        if not low < middle < high:
            break  # the bracket is at floating-point resolution
        count = network.spike_count(middle)
        iterations += 1
        rate = count / network.neuron_seconds
        if abs(rate - target_rate_hz) <= best[0]:  # ties: the later σ, nearer the crossing
            best = (abs(rate - target_rate_hz), middle, count)
        if within(rate):
            return result(middle, count, iterations, True)
        if rate < target_rate_hz:
            low, count_low = middle, count
        else:
            high, count_high = middle, count
    found = result(best[1], best[2], iterations, False)
    warnings.warn(
        f"calibration for {run} did not reach {_hz(target_rate_hz)} Hz ± {rel_tolerance:.0%} after {iterations} "
        f"bisection steps: the bracket is σ_init {low:.6g} ({_hz(count_low / network.neuron_seconds)} Hz) to "
        f"{high:.6g} ({_hz(count_high / network.neuron_seconds)} Hz); returning σ_init {found.sigma_init:.6g} "
        f"({_hz(found.rate_hz)} Hz)",
        RuntimeWarning,
        stacklevel=2,
    )
    return found


def calibrate_runs(
    runs: Sequence[RunSpec],
    dataset,
    options: TrainOptions,
    log: Callable[[str], None] | None = None,
) -> list[RunSpec]:
    """The runs with every target-rate run's σ_init found; runs given by σ_init pass unchanged.

    Each run given by `target_rate_hz` (and `sigma_init` None) is calibrated on `dataset` with
    its `calibration` settings (keys of `eisnn.config.DEFAULT_CALIBRATION`; missing keys take the
    defaults) and
    comes back with `sigma_init` set and `calibration` replaced by the whole record
    (`CalibrationResult.as_dict()`). `train_pack` calibrates on the training split, so no test
    data enters the run's initialisation. Deterministic: a job resumed on the same kind of CPU
    finds the same σ_init (the checkpoint fingerprint holds σ_init and the settings, not the
    spike counts, so a count that differs by a spike elsewhere does not discard a checkpoint).
    """
    resolved = []
    for run in runs:
        if run.has_sigma:
            resolved.append(run)
            continue
        settings = dict(run.calibration or {})
        unknown = sorted(set(settings) - set(DEFAULT_CALIBRATION))
        if unknown:
            raise ValueError(
                f"{run.run_dir}: unknown calibration setting(s) {unknown}; allowed: {sorted(DEFAULT_CALIBRATION)}"
            )
        settings = {**DEFAULT_CALIBRATION, **settings}
        started = time.perf_counter()
        try:
            result = calibrate_sigma(
                run.target_rate_hz,
                run.ratio,
                run.seed,
                dataset,
                None,
                options,
                n_samples=settings["n_samples"],
                rel_tolerance=settings["rel_tolerance"],
                sigma_bounds=tuple(settings["sigma_bounds"]),
            )
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
