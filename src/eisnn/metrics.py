"""Per-run metrics from weight snapshots and the encoded test set (paper §4.3; files: docs/formats.md).

Raster-level functions (no model needed) take hidden spike rasters ``[n_samples, T, H]``
(bool or 0/1 integers) on the simulation grid, one bin = one step of ``dt_ms`` (1 ms):

- :func:`van_rossum_distance` — exact distance between two spike-time arrays;
- :func:`van_rossum_all_pairs` / :class:`VanRossumAccumulator` — all neuron pairs of a raster,
  averaged over samples;
- :func:`population_distance_means` — mean over pairs per category (E-E, E-I, I-I);
- :func:`firing_rate_hz`, :func:`spike_counts_per_step`, :func:`isi_histogram`;
- :func:`weight_histograms` — histograms of W_in and of the E and I rows of W_out.

:func:`compute_run_metrics` simulates every snapshot (:class:`eisnn.snapshot.Snapshot`) of a run
directory on the test set (:func:`simulate_snapshot`, through ``eisnn.model.iter_activity``)
and builds one tidy table per file from the sums it collects (:func:`summary_table`,
:func:`activity_class_table`, …); :func:`write_run_metrics` writes them to
``<run_dir>/metrics/*.csv`` (:data:`eisnn.layout.METRIC_FILES`, columns in docs/formats.md).
Predictions follow the run's readout (:func:`eisnn.readout.predict`), as ``test_acc`` in
``history.csv`` does.

Populations (:func:`eisnn.snapshot.population_masks`): a constrained network has populations
``"E"`` and ``"I"`` (from the snapshot's ``excitatory`` mask); a population with no neuron (the
I population of 100:0) has no rows at all. An unconstrained network (``constrained`` False) has
no E/I types: its hidden layer is one population ``"all"`` and its only Van Rossum category is
``"all-all"``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Mapping, Sequence

import numba
import numpy as np
import pandas as pd
import torch

from eisnn.backends import set_cpu_threads
from eisnn.data import load_spikes
from eisnn.io import write_csv_atomic
from eisnn.layout import METRIC_FILES, RunFiles
from eisnn.model import iter_activity
from eisnn.params import ModelConfig
from eisnn.readout import predict
from eisnn.snapshot import Snapshot, load_snapshots, population_masks

log = logging.getLogger(__name__)

DT_MS = 1.0
"""Simulation step in milliseconds (paper §4.1: 1 ms time steps)."""

COLUMNS = {
    "summary": ["epoch", "weights_finite", "n_samples", "accuracy", "hidden_firing_rate_hz", "spikes_per_image",
                "percent_excitatory", "n_vr_samples"],
    "activity_class": ["epoch", "class", "n_images", "accuracy", "spikes_per_image", "percent_excitatory"],
    "activity_population": ["epoch", "class", "population", "n_neurons", "n_images", "spike_count",
                            "spikes_per_image", "firing_rate_hz"],
    "spikes_per_step": ["epoch", "class", "population", "step", "time_ms", "n_images", "spike_count",
                        "spikes_per_image"],
    "van_rossum": ["epoch", "category", "distance", "n_pairs", "n_samples", "tau_ms"],
    "isi": ["epoch", "class", "population", "isi_ms", "frequency_hz", "count"],
    "weights_hist": ["epoch", "matrix", "bin", "bin_left", "bin_right", "count"],
}
"""Columns of each metrics table (:data:`eisnn.layout.METRIC_FILES`), in file order."""


# ---------------------------------------------------------------------------------------------
# Van Rossum distance
# ---------------------------------------------------------------------------------------------


def van_rossum_distance(times_a, times_b, tau_ms: float = 1.0) -> float:
    """Van Rossum distance sqrt((1/τ)∫(g_a−g_b)² dt), g = spike train * exp(−t/τ), exactly.

    ``times_a`` and ``times_b`` are spike times (ms, any real values; same unit as ``tau_ms``).
    Closed form: d² = ½[Σ_aa K + Σ_bb K − 2 Σ_ab K] with K = exp(−|t_i − t_j|/τ), summed over
    all ordered pairs of spikes (this is elephant's ``van_rossum_distance`` / √2). One spike
    against an empty train gives sqrt(½). Memory is O(len(a)·len(b)).
    """
    if tau_ms <= 0:
        raise ValueError(f"tau_ms must be positive, got {tau_ms}")
    a = np.asarray(times_a, dtype=np.float64).ravel()
    b = np.asarray(times_b, dtype=np.float64).ravel()

    def kernel_sum(x: np.ndarray, y: np.ndarray) -> float:
        if x.size == 0 or y.size == 0:
            return 0.0
        return float(np.exp(-np.abs(x[:, None] - y[None, :]) / tau_ms).sum())

    d2 = 0.5 * (kernel_sum(a, a) + kernel_sum(b, b) - 2.0 * kernel_sum(a, b))
    return float(np.sqrt(max(d2, 0.0)))


@numba.njit(cache=True, error_model="numpy", nogil=True)
def _add_van_rossum_sums(rasters, decay, total):
    """total[a, b] += √(2·d²_ab) of every sample of ``rasters`` [n, T, H] (bool), d the Van Rossum distance.

    With f = R filtered by the causal and the anti-causal exponential (factor ``decay`` =
    exp(−1/τ) per step), f[t] = Σ_s exp(−|t−s|/τ)·R[s] = (K·R)[t] exactly, in O(T·H); the Gram
    matrix G_ba = Σ_{t: R[t, b]} f[t, a] then costs one row per spike. 2·d²_ab = G_aa + G_bb −
    2·G_ab, tiny negative rounding residues clamped to 0.
    """
    n_samples, n_steps, n_hidden = rasters.shape
    filtered = np.empty((n_steps, n_hidden))
    anti_causal = np.empty(n_hidden)
    gram = np.empty((n_hidden, n_hidden))
    for sample in range(n_samples):
        raster = rasters[sample]
        for h in range(n_hidden):
            filtered[0, h] = raster[0, h]
        for t in range(1, n_steps):
            for h in range(n_hidden):
                filtered[t, h] = raster[t, h] + decay * filtered[t - 1, h]
        anti_causal[:] = 0.0  # Σ_{s > t} exp(−(s − t)/τ)·R[s], from t = T − 1 down
        for t in range(n_steps - 1, -1, -1):
            for h in range(n_hidden):
                filtered[t, h] += anti_causal[h]
                anti_causal[h] = decay * (anti_causal[h] + raster[t, h])
        gram[:] = 0.0
        for t in range(n_steps):
            for b in range(n_hidden):
                if raster[t, b]:
                    row = gram[b]
                    for a in range(n_hidden):
                        row[a] += filtered[t, a]
        for a in range(n_hidden):
            for b in range(a + 1, n_hidden):
                two_d2 = gram[a, a] + gram[b, b] - (gram[a, b] + gram[b, a])
                distance = math.sqrt(two_d2) if two_d2 > 0.0 else 0.0
                total[a, b] += distance
                total[b, a] += distance


class VanRossumAccumulator:
    """Streaming mean over samples of the all-pairs Van Rossum distance matrix.

    For each sample with raster R [T, H] the Gram matrix G = Rᵀ K R (K the exact exponential
    kernel exp(−|t − s|/τ), no truncation, float64) gives d²_ab = ½(G_aa + G_bb − 2 G_ab); tiny
    negative rounding residues are clamped to 0 before the square root, and the diagonal is
    exactly 0. K·R is two first-order recursions and G adds one row per spike
    (:func:`_add_van_rossum_sums`), so a sample costs O(T·H + spikes·H + H²), not O(T²·H + T·H²).
    """

    def __init__(self, n_steps: int, n_hidden: int, tau_steps: float = 1.0):
        if tau_steps <= 0:
            raise ValueError(f"tau_steps must be positive, got {tau_steps}")
        self.n_steps = int(n_steps)
        self.n_hidden = int(n_hidden)
        self.tau_steps = float(tau_steps)
        self._sum = np.zeros((self.n_hidden, self.n_hidden))
        self.n_samples = 0

    def add(self, rasters) -> None:
        """Add a batch of rasters ``[B, T, H]`` (bool/0-1, numpy or torch)."""
        batch = rasters.numpy() if torch.is_tensor(rasters) else np.asarray(rasters)
        if batch.ndim != 3 or tuple(batch.shape[1:]) != (self.n_steps, self.n_hidden):
            raise ValueError(
                f"rasters must be [B, {self.n_steps}, {self.n_hidden}], got {tuple(batch.shape)}"
            )
        batch = np.ascontiguousarray(batch.astype(bool, copy=False))
        _add_van_rossum_sums(batch, math.exp(-1.0 / self.tau_steps), self._sum)
        self.n_samples += batch.shape[0]

    def mean(self) -> np.ndarray:
        """Mean distance matrix [H, H] over the samples added so far (zero diagonal)."""
        if self.n_samples == 0:
            raise ValueError("no samples were added")
        out = self._sum * math.sqrt(0.5) / self.n_samples
        np.fill_diagonal(out, 0.0)
        return out


def van_rossum_all_pairs(rasters, tau_steps: float = 1.0) -> np.ndarray:
    """Mean over samples of the Van Rossum distance between every pair of neurons.

    ``rasters`` is either one array ``[n_samples, T, H]`` (bool or 0/1) or an iterable of such
    batches (e.g. a generator over the test set). ``tau_steps`` is τ in simulation steps
    (τ_ms / dt_ms). Returns the symmetric [H, H] float64 matrix with zero diagonal; the value
    for a pair equals :func:`van_rossum_distance` of its spike steps, averaged over samples.
    """
    if isinstance(rasters, (np.ndarray, torch.Tensor)):
        batches: Iterable = [rasters]
    else:
        batches = rasters
    acc: VanRossumAccumulator | None = None
    for batch in batches:
        batch = batch if torch.is_tensor(batch) else np.asarray(batch)
        if acc is None:
            acc = VanRossumAccumulator(batch.shape[1], batch.shape[2], tau_steps)
        acc.add(batch)
    if acc is None:
        raise ValueError("no rasters given")
    return acc.mean()


def population_distance_means(
    distance_matrix: np.ndarray, excitatory: np.ndarray, constrained: bool = True
) -> dict[str, float]:
    """Mean distance over unordered pairs a ≠ b per category.

    Categories ``"E-E"``, ``"E-I"``, ``"I-I"`` for constrained networks (``"all-all"`` if
    ``constrained`` is False). A category without any pair (I-I with fewer than two I neurons,
    E-I without I neurons) is absent from the result.
    """
    dist = np.asarray(distance_matrix, dtype=np.float64)
    masks = population_masks(excitatory, constrained)
    out: dict[str, float] = {}
    for pa, pb in _population_pairs(masks):
        block = dist[np.ix_(masks[pa], masks[pb])]
        if pa == pb:
            n = block.shape[0]
            if n < 2:
                continue
            values = block[np.triu_indices(n, k=1)]
        else:
            values = block.ravel()
        if values.size:
            out[f"{pa}-{pb}"] = float(values.mean())
    return out


def population_pair_counts(excitatory: np.ndarray, constrained: bool = True) -> dict[str, int]:
    """Number of unordered pairs a ≠ b in each category present."""
    counts = {pop: int(mask.sum()) for pop, mask in population_masks(excitatory, constrained).items()}
    out = {}
    for pa, pb in _population_pairs(counts):
        n = counts[pa] * (counts[pa] - 1) // 2 if pa == pb else counts[pa] * counts[pb]
        if n > 0:
            out[f"{pa}-{pb}"] = n
    return out


def _population_pairs(populations: Iterable[str]) -> Iterator[tuple[str, str]]:
    """The pair categories of ordered populations: (E, E), (E, I), (I, I); or (all, all)."""
    pops = list(populations)
    for i, pa in enumerate(pops):
        for pb in pops[i:]:
            yield pa, pb


# ---------------------------------------------------------------------------------------------
# Rates, counts, ISIs
# ---------------------------------------------------------------------------------------------


def _select_neurons(rasters, neuron_mask) -> np.ndarray:
    r = np.asarray(rasters)
    if r.ndim != 3:
        raise ValueError(f"rasters must be [n_samples, T, H], got shape {r.shape}")
    if neuron_mask is not None:
        r = r[:, :, np.asarray(neuron_mask, dtype=bool)]
    return r


def firing_rate_hz(rasters, dt_ms: float = DT_MS, neuron_mask=None) -> float:
    """Spikes per neuron per second of simulated time: N_spikes / (H · n_samples · T · dt_s).

    ``neuron_mask`` (bool [H]) restricts the count to a population. NaN if no neuron/sample.
    """
    r = _select_neurons(rasters, neuron_mask)
    n_samples, n_steps, n_neurons = r.shape
    denom = n_neurons * n_samples * n_steps * dt_ms * 1e-3
    if denom == 0:
        return float("nan")
    return float(np.count_nonzero(r) / denom)


def spike_counts_per_step(rasters, neuron_mask=None) -> np.ndarray:
    """Total spikes in each step, summed over samples and (selected) neurons: int64 [T]."""
    r = _select_neurons(rasters, neuron_mask)
    return r.astype(bool).sum(axis=(0, 2), dtype=np.int64)


@numba.njit(cache=True, error_model="numpy", nogil=True)
def _add_isi_counts(rasters, neuron_group, sample_group, n_sample_groups, counts):
    """counts[neuron_group[h] · n_sample_groups + sample_group[b], k] += 1 for every ISI of k steps.

    ISIs are between consecutive spikes of neuron h within sample b of ``rasters`` [B, T, H].
    """
    n_samples, n_steps, n_hidden = rasters.shape
    last_spike = np.empty(n_hidden, np.int64)
    for b in range(n_samples):
        last_spike[:] = -1
        for t in range(n_steps):
            for h in range(n_hidden):
                if rasters[b, t, h]:
                    if last_spike[h] >= 0:
                        counts[neuron_group[h] * n_sample_groups + sample_group[b], t - last_spike[h]] += 1
                    last_spike[h] = t


def isi_histogram(rasters, neuron_mask=None) -> np.ndarray:
    """Counts of inter-spike intervals: int64 [T], index k = ISI of k steps (index 0 is 0).

    ISIs are taken between consecutive spikes of the same neuron within one sample (never
    across samples). With dt = 1 ms, index k is an ISI of k ms, i.e. a firing frequency of
    1000/k Hz, so this array is also the exact firing-frequency (1/ISI) histogram.
    """
    r = np.ascontiguousarray(_select_neurons(rasters, neuron_mask)).astype(bool, copy=False)
    counts = np.zeros((1, r.shape[1]), dtype=np.int64)
    _add_isi_counts(r, np.zeros(r.shape[2], np.int64), np.zeros(r.shape[0], np.int64), 1, counts)
    return counts[0]


# ---------------------------------------------------------------------------------------------
# Weights
# ---------------------------------------------------------------------------------------------


def weight_histograms(snapshots: Sequence[Snapshot], n_bins: int = 50) -> pd.DataFrame:
    """Histograms of each weight matrix at each snapshot, with bins shared across snapshots.

    Matrices (:meth:`eisnn.snapshot.Snapshot.matrices`): ``w_in``, ``w_out_E`` (rows of E
    neurons), ``w_out_I`` (rows of I neurons), or ``w_out_all`` for unconstrained networks; an
    empty population has no rows. For each matrix the ``n_bins`` equal bins span [min, max] over
    all snapshots (non-finite weights ignored), so snapshots are directly comparable; the last
    bin is closed. Columns: ``epoch, matrix, bin, bin_left, bin_right, count``.
    """
    by_matrix: dict[str, list[tuple[int, np.ndarray]]] = {}
    for snap in snapshots:
        for name, values in snap.matrices().items():
            by_matrix.setdefault(name, []).append((snap.epoch, values[np.isfinite(values)]))
    rows = []
    for name, items in by_matrix.items():
        nonempty = [v for _, v in items if v.size]
        if not nonempty:
            continue
        lo = float(min(v.min() for v in nonempty))
        hi = float(max(v.max() for v in nonempty))
        if lo == hi:
            lo, hi = lo - 0.5, hi + 0.5
        edges = np.linspace(lo, hi, n_bins + 1)
        for epoch, values in items:
            counts, _ = np.histogram(values, bins=edges)
            for k in range(n_bins):
                rows.append((epoch, name, k, edges[k], edges[k + 1], int(counts[k])))
    return pd.DataFrame(rows, columns=COLUMNS["weights_hist"])


# ---------------------------------------------------------------------------------------------
# Whole-run metrics: simulation and accumulation
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvaluationGrid:
    """What every snapshot of a run is simulated on: the test labels, the steps, the VR subset."""

    labels: np.ndarray
    """int64 [n_samples] test labels."""
    n_steps: int
    n_classes: int
    vr_selected: np.ndarray
    """bool [n_samples]: the samples of the Van Rossum average."""
    dt_ms: float
    tau_ms: float

    @classmethod
    def of(cls, test_data, max_samples: int | None, vr_seed: int, dt_ms: float, tau_ms: float) -> EvaluationGrid:
        """The grid of an ``eisnn.data.SpikeDataset`` (``labels``, ``n_steps``, ``n_classes``).

        The Van Rossum subset: ``max_samples`` samples drawn without replacement with
        ``numpy.random.default_rng(vr_seed)``; all samples if None or ≥ n_samples.
        """
        labels = np.asarray(test_data.labels, dtype=np.int64)
        n_samples = int(labels.size)
        if max_samples is None or max_samples >= n_samples:
            vr_indices = np.arange(n_samples)
        else:
            rng = np.random.default_rng(vr_seed)
            vr_indices = np.sort(rng.choice(n_samples, size=int(max_samples), replace=False))
        vr_selected = np.zeros(n_samples, dtype=bool)
        vr_selected[vr_indices] = True
        return cls(labels, int(test_data.n_steps), int(test_data.n_classes), vr_selected, dt_ms, tau_ms)

    @property
    def n_samples(self) -> int:
        return int(self.labels.size)

    @property
    def seconds_per_image(self) -> float:
        return self.n_steps * self.dt_ms * 1e-3


class SnapshotActivity:
    """Sums over the test set of one snapshot's simulation, by class and population.

    ``n_images`` / ``n_correct`` [C]; ``spikes_step`` and ``isi`` [P, C, T] (ISI index k = k
    steps); ``vr`` the Van Rossum accumulator of the selected samples (None if none is).
    Predictions follow ``readout`` (:func:`eisnn.readout.predict`).
    """

    def __init__(self, snapshot: Snapshot, grid: EvaluationGrid, readout: str):
        self.snapshot = snapshot
        self.grid = grid
        self.readout = readout
        self.masks = snapshot.populations
        n_hidden = snapshot.w_in.shape[1]
        self.pop_index = np.zeros(n_hidden, dtype=np.int64)
        for i, mask in enumerate(self.masks.values()):
            self.pop_index[mask] = i
        shape = (len(self.masks), grid.n_classes, grid.n_steps)
        self.n_images = np.zeros(grid.n_classes, dtype=np.int64)
        self.n_correct = np.zeros(grid.n_classes, dtype=np.int64)
        self.spikes_step = np.zeros(shape, dtype=np.int64)
        self.isi = np.zeros(shape, dtype=np.int64)
        self.vr = (
            VanRossumAccumulator(grid.n_steps, n_hidden, grid.tau_ms / grid.dt_ms) if grid.vr_selected.any() else None
        )

    def add(self, labels, hidden, output, vr_mask) -> None:
        """Add one batch: labels [B], hidden raster [B, T, H], readout traces [B, T+1, O]."""
        hidden = np.asarray(hidden).astype(bool, copy=False)
        labels = np.asarray(labels, dtype=np.int64)
        n_classes, n_steps = self.grid.n_classes, self.grid.n_steps
        pred = predict(output, self.readout, time_axis=1)
        self.n_images += np.bincount(labels, minlength=n_classes)
        self.n_correct += np.bincount(labels[pred == labels], minlength=n_classes)
        for i, mask in enumerate(self.masks.values()):
            per_step = hidden[:, :, mask].sum(axis=2, dtype=np.int64)  # [B, T]
            # Summed by class in integers, not as a one-hot matrix product: numpy's BLAS would
            # run (and spin) on every core, not on the job's threads.
            np.add.at(self.spikes_step[i], labels, per_step)
        _add_isi_counts(np.ascontiguousarray(hidden), self.pop_index, labels, n_classes, self.isi.reshape(-1, n_steps))
        if self.vr is not None and np.any(vr_mask):
            self.vr.add(hidden[vr_mask])

    @property
    def populations(self) -> list[str]:
        return list(self.masks)

    @property
    def spikes(self) -> np.ndarray:
        """Total spikes [n_populations, n_classes]."""
        return self.spikes_step.sum(axis=2)

    @property
    def excitatory_spikes(self) -> np.ndarray:
        """Spikes of the E population by class [C] (zeros without E neurons)."""
        pops = self.populations
        return self.spikes[pops.index("E")] if "E" in pops else np.zeros(self.grid.n_classes, np.int64)


def simulate_snapshot(
    snapshot: Snapshot, test_data, grid: EvaluationGrid, model_config: ModelConfig, batch_size: int = 1000
) -> SnapshotActivity:
    """Simulate ``snapshot`` on every test sample (``eisnn.model.iter_activity``) and sum its activity."""
    activity = SnapshotActivity(snapshot, grid, model_config.readout)
    for indices, hidden, output in iter_activity(snapshot, test_data, batch_size, model_config):
        indices = np.asarray(indices, dtype=np.int64)
        activity.add(grid.labels[indices], hidden, output, grid.vr_selected[indices])
    if int(activity.n_images.sum()) != grid.n_samples:
        raise RuntimeError(
            f"iter_activity yielded {int(activity.n_images.sum())} samples, expected {grid.n_samples}"
        )
    return activity


def compute_run_metrics(
    run_dir: str | Path,
    test_data,
    max_samples: int | None = None,
    batch_size: int = 1000,
    model_config: ModelConfig | None = None,
    *,
    tau_ms: float = 1.0,
    dt_ms: float | None = None,
    n_weight_bins: int = 50,
    vr_seed: int = 0,
) -> dict[str, pd.DataFrame]:
    """Simulate every snapshot of ``run_dir`` on ``test_data`` and return the metric tables.

    ``test_data`` is an ``eisnn.data.SpikeDataset`` (uses ``labels``, ``n_steps``,
    ``n_classes``, ``n_samples``). Activity, accuracy and ISIs use all samples; the Van Rossum
    average uses the subset of :meth:`EvaluationGrid.of` (``max_samples``, ``vr_seed``), the
    same for every snapshot. Snapshots whose weights are not finite (diverged runs) are not simulated;
    they appear in ``summary`` with ``weights_finite`` False and NaN metrics. ``model_config``
    (default ``ModelConfig()``) gives the neuron constants and the readout that decides the
    predictions; ``dt_ms`` defaults to its ``dt_ms``; ``tau_ms`` is the Van Rossum τ.

    Returns the tables named in :data:`eisnn.layout.METRIC_FILES` (columns in docs/formats.md).
    """
    model_config = model_config if model_config is not None else ModelConfig()
    dt_ms = float(model_config.dt_ms) if dt_ms is None else dt_ms
    snapshots = load_snapshots(run_dir)
    if not snapshots:
        raise FileNotFoundError(f"no weights_epoch-<e>.npz snapshot in {run_dir}")
    grid = EvaluationGrid.of(test_data, max_samples, vr_seed, dt_ms, tau_ms)
    activities = {}
    for epoch, snapshot in snapshots.items():
        if snapshot.finite:
            activities[epoch] = simulate_snapshot(snapshot, test_data, grid, model_config, batch_size)
        else:
            log.warning("%s: non-finite weights, snapshot not simulated", RunFiles(run_dir).snapshot(epoch))
    return {
        "summary": summary_table(snapshots, activities, grid),
        "activity_class": activity_class_table(activities),
        "activity_population": activity_population_table(activities),
        "spikes_per_step": spikes_per_step_table(activities),
        "van_rossum": van_rossum_table(activities),
        "isi": isi_table(activities),
        "weights_hist": weight_histograms(list(snapshots.values()), n_bins=n_weight_bins),
    }


# ---------------------------------------------------------------------------------------------
# Whole-run metrics: one builder per table (rows by epoch, class, population, step)
# ---------------------------------------------------------------------------------------------

Activities = Mapping[int, SnapshotActivity]
"""``{snapshot epoch: activity}`` of the simulated (finite) snapshots, by epoch."""


def _per_image(count, n_images):
    return count / n_images if n_images else np.nan


def _percent_excitatory(e_spikes: np.ndarray, total_spikes: np.ndarray, constrained: bool) -> np.ndarray:
    """100·E/(E+I); NaN where no spike or for unconstrained networks."""
    e = np.asarray(e_spikes, dtype=np.float64)
    tot = np.asarray(total_spikes, dtype=np.float64)
    out = np.full(tot.shape, np.nan)
    if constrained:
        ok = tot > 0
        out[ok] = 100.0 * e[ok] / tot[ok]
    return out


def _summary_row(epoch: int, n_samples: int, finite: bool) -> dict:
    return {
        "epoch": epoch,
        "weights_finite": finite,
        "n_samples": n_samples,
        "accuracy": np.nan,
        "hidden_firing_rate_hz": np.nan,
        "spikes_per_image": np.nan,
        "percent_excitatory": np.nan,
        "n_vr_samples": 0,
    }


def summary_table(snapshots: Mapping[int, Snapshot], activities: Activities, grid: EvaluationGrid) -> pd.DataFrame:
    """``summary.csv``: one row per snapshot; NaN metrics for the snapshots not simulated."""
    rows = []
    for epoch in snapshots:
        row = _summary_row(epoch, grid.n_samples, epoch in activities)
        if epoch in activities:
            act = activities[epoch]
            total = int(act.spikes.sum())
            e_total = int(act.excitatory_spikes.sum())
            n_hidden = act.snapshot.w_in.shape[1]
            row.update(
                accuracy=act.n_correct.sum() / grid.n_samples,
                hidden_firing_rate_hz=total / (n_hidden * grid.n_samples * grid.seconds_per_image),
                spikes_per_image=total / grid.n_samples,
                percent_excitatory=_percent_excitatory(
                    np.array([e_total]), np.array([total]), act.snapshot.constrained
                )[0],
                n_vr_samples=act.vr.n_samples if act.vr is not None else 0,
            )
        rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS["summary"])


def activity_class_table(activities: Activities) -> pd.DataFrame:
    """``activity_class.csv``: accuracy, spikes per image and % excitatory per (epoch, class)."""
    rows = []
    for epoch, act in activities.items():
        total_by_class = act.spikes.sum(axis=0)
        percent = _percent_excitatory(act.excitatory_spikes, total_by_class, act.snapshot.constrained)
        for c in range(act.grid.n_classes):
            n_img = int(act.n_images[c])
            rows.append({
                "epoch": epoch,
                "class": c,
                "n_images": n_img,
                "accuracy": _per_image(act.n_correct[c], n_img),
                "spikes_per_image": _per_image(total_by_class[c], n_img),
                "percent_excitatory": percent[c],
            })
    return pd.DataFrame(rows, columns=COLUMNS["activity_class"])


def _by_class_and_population(activities: Activities):
    """(epoch, activity, class, n_images, population index, population) in table order."""
    for epoch, act in activities.items():
        for c in range(act.grid.n_classes):
            n_img = int(act.n_images[c])
            for i, pop in enumerate(act.populations):
                yield epoch, act, c, n_img, i, pop


def activity_population_table(activities: Activities) -> pd.DataFrame:
    """``activity_population.csv``: spikes and firing rate per (epoch, class, population)."""
    rows = []
    for epoch, act, c, n_img, i, pop in _by_class_and_population(activities):
        count = int(act.spikes[i, c])
        n_neurons = int(act.masks[pop].sum())
        rows.append({
            "epoch": epoch,
            "class": c,
            "population": pop,
            "n_neurons": n_neurons,
            "n_images": n_img,
            "spike_count": count,
            "spikes_per_image": _per_image(count, n_img),
            "firing_rate_hz": count / (n_img * n_neurons * act.grid.seconds_per_image) if n_img else np.nan,
        })
    return pd.DataFrame(rows, columns=COLUMNS["activity_population"])


def spikes_per_step_table(activities: Activities) -> pd.DataFrame:
    """``spikes_per_step.csv``: spikes per (epoch, class, population, step)."""
    rows = []
    for epoch, act, c, n_img, i, pop in _by_class_and_population(activities):
        for t in range(act.grid.n_steps):
            n_sp = int(act.spikes_step[i, c, t])
            rows.append((epoch, c, pop, t, t * act.grid.dt_ms, n_img, n_sp, _per_image(n_sp, n_img)))
    return pd.DataFrame(rows, columns=COLUMNS["spikes_per_step"])


def isi_table(activities: Activities) -> pd.DataFrame:
    """``isi.csv``: ISI counts per (epoch, class, population, ISI of 1 … T−1 steps)."""
    rows = []
    for epoch, act, c, n_img, i, pop in _by_class_and_population(activities):
        dt_ms = act.grid.dt_ms
        for k in range(1, act.grid.n_steps):
            rows.append((epoch, c, pop, k * dt_ms, 1000.0 / (k * dt_ms), int(act.isi[i, c, k])))
    return pd.DataFrame(rows, columns=COLUMNS["isi"])


def van_rossum_table(activities: Activities) -> pd.DataFrame:
    """``van_rossum.csv``: mean distance per (epoch, pair category) over the selected samples."""
    rows = []
    for epoch, act in activities.items():
        if act.vr is None:
            continue
        snap = act.snapshot
        means = population_distance_means(act.vr.mean(), snap.excitatory, snap.constrained)
        pairs = population_pair_counts(snap.excitatory, snap.constrained)
        for category, value in means.items():
            rows.append((epoch, category, value, pairs[category], act.vr.n_samples, act.grid.tau_ms))
    return pd.DataFrame(rows, columns=COLUMNS["van_rossum"])


# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------


def write_run_metrics(run_dir: str | Path, tables: Mapping[str, pd.DataFrame]) -> dict[str, Path]:
    """Write each table atomically to ``<run_dir>/metrics/<file>`` (:data:`eisnn.layout.METRIC_FILES`)."""
    files = RunFiles(run_dir)
    written = {}
    for name, frame in tables.items():
        path = files.metric(name)
        write_csv_atomic(path, frame)
        written[name] = path
    return written


def run_metrics(
    run_dir: str | Path,
    test_path: str | Path,
    model_config: ModelConfig | None = None,
    threads: int | None = None,
    **options,
) -> dict[str, Path]:
    """One run's metrics job: :func:`compute_run_metrics` on the encoded test split at
    ``test_path`` (``options``: its keyword arguments), written by :func:`write_run_metrics`.

    The workflow's ``run_metrics`` rule and ``eisnn metrics`` both run this; ``threads``: the
    job's CPU threads (:func:`eisnn.backends.set_cpu_threads`, as in training). Returns
    ``{table name: path}``.
    """
    if threads is not None:
        set_cpu_threads(threads, "cpu")
    tables = compute_run_metrics(run_dir, load_spikes(test_path), model_config=model_config, **options)
    return write_run_metrics(run_dir, tables)


def read_run_metrics(run_dir: str | Path) -> dict[str, pd.DataFrame]:
    """Read back the metric CSVs present under ``<run_dir>/metrics/``."""
    files = RunFiles(run_dir)
    return {name: pd.read_csv(files.metric(name)) for name in METRIC_FILES if files.metric(name).exists()}
