"""Per-run metrics from weight snapshots and the encoded test set (paper §4.3, SPEC §4).

Raster-level functions (no model needed) take hidden spike rasters ``[n_samples, T, H]``
(bool or 0/1 integers) on the simulation grid, one bin = one step of ``dt_ms`` (1 ms):

- :func:`van_rossum_distance` — exact distance between two spike-time arrays;
- :func:`van_rossum_all_pairs` / :class:`VanRossumAccumulator` — all neuron pairs of a raster,
  averaged over samples;
- :func:`population_distance_means` — mean over pairs per category (E-E, E-I, I-I);
- :func:`firing_rate_hz`, :func:`spike_counts_per_step`, :func:`isi_histogram`;
- :func:`weight_histograms` — histograms of W_in and of the E and I rows of W_out.

:func:`compute_run_metrics` simulates every ``weights_epoch-<e>.npz`` of a run directory on the
test set (through ``eisnn.model.iter_activity``) and returns tidy tables;
:func:`write_run_metrics` writes them to ``<run_dir>/metrics/*.csv`` (see docs/formats.md).

Populations: a constrained network has populations ``"E"`` and ``"I"`` (from the snapshot's
``excitatory`` mask); a population with no neuron (the I population of 100:0) has no rows at
all. An unconstrained network (``constrained`` False) has no E/I types: its hidden layer is one
population ``"all"`` and its only Van Rossum category is ``"all-all"``.
"""

from __future__ import annotations

import importlib
import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from eisnn.io import write_csv_atomic

log = logging.getLogger(__name__)

DT_MS = 1.0
"""Simulation step in milliseconds (SPEC §1)."""

SNAPSHOT_PATTERN = re.compile(r"^weights_epoch-(\d+)\.npz$")

METRIC_FILES = {
    "summary": "summary.csv",
    "activity_class": "activity_class.csv",
    "activity_population": "activity_population.csv",
    "spikes_per_step": "spikes_per_step.csv",
    "van_rossum": "van_rossum.csv",
    "isi": "isi.csv",
    "weights_hist": "weights_hist.csv",
}
"""Table name -> file name under ``<run_dir>/metrics/``."""

VR_CHUNK = 256
"""Samples per Gram-matrix chunk in the Van Rossum computation (about 20 MB of float64 each)."""


# ---------------------------------------------------------------------------------------------
# Populations
# ---------------------------------------------------------------------------------------------


def population_labels(excitatory: np.ndarray, constrained: bool = True) -> np.ndarray:
    """Population label of each hidden neuron: ``"E"``/``"I"``, or ``"all"`` if unconstrained."""
    excitatory = np.asarray(excitatory, dtype=bool)
    if not constrained:
        return np.full(excitatory.shape, "all", dtype=object)
    return np.where(excitatory, "E", "I").astype(object)


def population_masks(excitatory: np.ndarray, constrained: bool = True) -> dict[str, np.ndarray]:
    """Ordered ``{population: bool mask [H]}``, only for populations with at least one neuron."""
    labels = population_labels(excitatory, constrained)
    order = ("E", "I") if constrained else ("all",)
    return {pop: labels == pop for pop in order if np.any(labels == pop)}


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


def van_rossum_kernel(n_steps: int, tau_steps: float = 1.0) -> np.ndarray:
    """The exact [T, T] kernel K[t, s] = exp(−|t − s|/τ) on the step grid (float64)."""
    if tau_steps <= 0:
        raise ValueError(f"tau_steps must be positive, got {tau_steps}")
    steps = np.arange(n_steps, dtype=np.float64)
    return np.exp(-np.abs(steps[:, None] - steps[None, :]) / tau_steps)


class VanRossumAccumulator:
    """Streaming mean over samples of the all-pairs Van Rossum distance matrix.

    For each sample with raster R [T, H] the Gram matrix G = Rᵀ K R (K the exact float64
    kernel, no truncation) gives d²_ab = ½(G_aa + G_bb − 2 G_ab); tiny negative rounding
    residues are clamped to 0 before the square root, and the diagonal is exactly 0. The work
    is two dense float64 matrix products per chunk of samples, so the cost does not depend on
    the spike density (about 1–2 s for 10 000 × 100 steps × 100 neurons on 2 CPU cores).
    """

    def __init__(self, n_steps: int, n_hidden: int, tau_steps: float = 1.0):
        self.n_steps = int(n_steps)
        self.n_hidden = int(n_hidden)
        self.tau_steps = float(tau_steps)
        self._kernel = torch.from_numpy(van_rossum_kernel(self.n_steps, self.tau_steps))
        self._sum = torch.zeros(self.n_hidden, self.n_hidden, dtype=torch.float64)
        self.n_samples = 0

    def add(self, rasters) -> None:
        """Add a batch of rasters ``[B, T, H]`` (bool/0-1, numpy or torch)."""
        batch = torch.as_tensor(np.asarray(rasters)) if not torch.is_tensor(rasters) else rasters
        if batch.ndim != 3 or tuple(batch.shape[1:]) != (self.n_steps, self.n_hidden):
            raise ValueError(
                f"rasters must be [B, {self.n_steps}, {self.n_hidden}], got {tuple(batch.shape)}"
            )
        for start in range(0, batch.shape[0], VR_CHUNK):
            chunk = batch[start : start + VR_CHUNK]
            n = chunk.shape[0]
            # [n, H, T] float64, contiguous so that R K is one GEMM over all neurons.
            r_ht = torch.empty(n, self.n_hidden, self.n_steps, dtype=torch.float64)
            r_ht.copy_(chunk.transpose(1, 2))
            rk = torch.mm(r_ht.view(n * self.n_hidden, self.n_steps), self._kernel)
            gram = torch.bmm(rk.view(n, self.n_hidden, self.n_steps), r_ht.transpose(1, 2))
            diag = torch.diagonal(gram, dim1=1, dim2=2).clone()
            # 2·d² = G_aa + G_bb − 2 G_ab; the factor sqrt(½) is applied once, to the sum.
            two_d2 = gram.mul_(-2.0).add_(diag[:, :, None]).add_(diag[:, None, :])
            self._sum += two_d2.clamp_(min=0.0).sqrt_().sum(0)
            self.n_samples += n

    def mean(self) -> np.ndarray:
        """Mean distance matrix [H, H] over the samples added so far (zero diagonal)."""
        if self.n_samples == 0:
            raise ValueError("no samples were added")
        out = (self._sum * math.sqrt(0.5) / self.n_samples).numpy()
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
    pops = list(masks)
    out: dict[str, float] = {}
    for i, pa in enumerate(pops):
        for pb in pops[i:]:
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
    pops = list(counts)
    out = {}
    for i, pa in enumerate(pops):
        for pb in pops[i:]:
            n = counts[pa] * (counts[pa] - 1) // 2 if pa == pb else counts[pa] * counts[pb]
            if n > 0:
                out[f"{pa}-{pb}"] = n
    return out


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


def _isi_events(rasters) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sample, neuron, isi_steps) of every pair of consecutive spikes of one neuron in one sample."""
    r = np.asarray(rasters).astype(bool, copy=False)
    # nonzero on the [B, H, T] view lists spikes ordered by sample, neuron, then time.
    b, h, t = np.nonzero(r.transpose(0, 2, 1))
    same = (b[1:] == b[:-1]) & (h[1:] == h[:-1])
    return b[1:][same], h[1:][same], (t[1:] - t[:-1])[same]


def isi_histogram(rasters, neuron_mask=None) -> np.ndarray:
    """Counts of inter-spike intervals: int64 [T], index k = ISI of k steps (index 0 is 0).

    ISIs are taken between consecutive spikes of the same neuron within one sample (never
    across samples). With dt = 1 ms, index k is an ISI of k ms, i.e. a firing frequency of
    1000/k Hz, so this array is also the exact firing-frequency (1/ISI) histogram.
    """
    r = _select_neurons(rasters, neuron_mask)
    _, _, isi = _isi_events(r)
    return np.bincount(isi, minlength=r.shape[1]).astype(np.int64)


# ---------------------------------------------------------------------------------------------
# Weights
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SnapshotWeights:
    """The arrays of one ``weights_epoch-<e>.npz`` file (docs/architecture.md)."""

    epoch: int
    w_in: np.ndarray
    w_out: np.ndarray
    excitatory: np.ndarray
    constrained: bool

    @property
    def finite(self) -> bool:
        return bool(np.isfinite(self.w_in).all() and np.isfinite(self.w_out).all())

    def matrices(self) -> dict[str, np.ndarray]:
        """Flattened weights by name: ``w_in`` and the W_out rows of each population."""
        out = {"w_in": self.w_in.ravel()}
        for pop, mask in population_masks(self.excitatory, self.constrained).items():
            out[f"w_out_{pop}"] = self.w_out[mask].ravel()
        return out


def load_snapshot_weights(path: str | Path) -> SnapshotWeights:
    """Read a ``weights_epoch-<e>.npz`` snapshot."""
    with np.load(path) as z:
        return SnapshotWeights(
            epoch=int(z["epoch"]),
            w_in=np.asarray(z["w_in"]),
            w_out=np.asarray(z["w_out"]),
            excitatory=np.asarray(z["excitatory"], dtype=bool),
            constrained=bool(z["constrained"]),
        )


def snapshot_paths(run_dir: str | Path) -> dict[int, Path]:
    """``{epoch: path}`` of the ``weights_epoch-<e>.npz`` files in ``run_dir``, by epoch."""
    found = {}
    for path in Path(run_dir).iterdir():
        m = SNAPSHOT_PATTERN.match(path.name)
        if m:
            found[int(m.group(1))] = path
    return dict(sorted(found.items()))


def weight_histograms(snapshots: Sequence[SnapshotWeights], n_bins: int = 50) -> pd.DataFrame:
    """Histograms of each weight matrix at each snapshot, with bins shared across snapshots.

    Matrices: ``w_in``, ``w_out_E`` (rows of E neurons), ``w_out_I`` (rows of I neurons), or
    ``w_out_all`` for unconstrained networks; an empty population has no rows. For each matrix
    the ``n_bins`` equal bins span [min, max] over all snapshots (non-finite weights ignored),
    so snapshots are directly comparable; the last bin is closed. Columns: ``epoch, matrix,
    bin, bin_left, bin_right, count``.
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
    return pd.DataFrame(rows, columns=["epoch", "matrix", "bin", "bin_left", "bin_right", "count"])


# ---------------------------------------------------------------------------------------------
# Whole-run metrics
# ---------------------------------------------------------------------------------------------


class _SnapshotAccumulator:
    """Sums over batches of one snapshot's simulation, by class and population."""

    def __init__(self, n_steps, n_classes, masks: Mapping[str, np.ndarray], vr: VanRossumAccumulator | None):
        self.n_steps = n_steps
        self.n_classes = n_classes
        self.masks = dict(masks)
        pops = list(self.masks)
        self.pop_index = np.zeros(next(iter(self.masks.values())).shape[0], dtype=np.int64)
        for i, pop in enumerate(pops):
            self.pop_index[self.masks[pop]] = i
        self.n_images = np.zeros(n_classes, dtype=np.int64)
        self.n_correct = np.zeros(n_classes, dtype=np.int64)
        self.spikes_step = np.zeros((len(pops), n_classes, n_steps), dtype=np.int64)
        self.isi = np.zeros((len(pops), n_classes, n_steps), dtype=np.int64)
        self.vr = vr

    @property
    def spikes(self) -> np.ndarray:
        """Total spikes [n_populations, n_classes]."""
        return self.spikes_step.sum(axis=2)

    def add(self, labels, hidden, output, vr_mask) -> None:
        hidden = np.asarray(hidden).astype(bool, copy=False)
        labels = np.asarray(labels, dtype=np.int64)
        pred = np.asarray(output).max(axis=1).argmax(axis=-1)
        self.n_images += np.bincount(labels, minlength=self.n_classes)
        self.n_correct += np.bincount(labels[pred == labels], minlength=self.n_classes)
        onehot = np.zeros((self.n_classes, labels.size), dtype=np.float64)
        onehot[labels, np.arange(labels.size)] = 1.0
        for i, mask in enumerate(self.masks.values()):
            per_step = hidden[:, :, mask].sum(axis=2, dtype=np.int64)  # [B, T]
            by_class = onehot @ per_step.astype(np.float64)  # exact: integer counts < 2**53
            self.spikes_step[i] += np.rint(by_class).astype(np.int64)
        b, h, isi = _isi_events(hidden)
        key = (self.pop_index[h] * self.n_classes + labels[b]) * self.n_steps + isi
        self.isi += np.bincount(key, minlength=self.isi.size).reshape(self.isi.shape)
        if self.vr is not None and np.any(vr_mask):
            self.vr.add(hidden[vr_mask])


def compute_run_metrics(
    run_dir: str | Path,
    test_data,
    max_samples: int | None = None,
    batch_size: int = 1000,
    model_config=None,
    *,
    tau_ms: float = 1.0,
    dt_ms: float | None = None,
    n_weight_bins: int = 50,
    vr_seed: int = 0,
) -> dict[str, pd.DataFrame]:
    """Simulate every snapshot of ``run_dir`` on ``test_data`` and return the metric tables.

    ``test_data`` is an ``eisnn.data.SpikeDataset`` (uses ``labels``, ``n_steps``,
    ``n_classes``, ``n_samples``). Activity, accuracy and ISIs use all samples. The Van Rossum
    average uses ``max_samples`` samples drawn without replacement with
    ``numpy.random.default_rng(vr_seed)`` (all samples if None or ≥ n_samples), the same subset
    for every snapshot. Snapshots whose weights are not finite (diverged runs) are not
    simulated; they appear in ``summary`` with ``weights_finite`` False and NaN metrics.
    ``dt_ms`` defaults to ``model_config.dt_ms`` (1 ms); ``tau_ms`` is the Van Rossum τ.

    Returns the tables named in :data:`METRIC_FILES` (columns in docs/formats.md).
    """
    model = importlib.import_module("eisnn.model")
    if model_config is None:
        model_config = model.ModelConfig()
    if dt_ms is None:
        dt_ms = float(getattr(model_config, "dt_ms", DT_MS))
    paths = snapshot_paths(run_dir)
    if not paths:
        raise FileNotFoundError(f"no weights_epoch-<e>.npz snapshot in {run_dir}")

    labels_all = np.asarray(test_data.labels, dtype=np.int64)
    n_samples = int(labels_all.size)
    n_steps = int(test_data.n_steps)
    n_classes = int(test_data.n_classes)
    if max_samples is None or max_samples >= n_samples:
        vr_indices = np.arange(n_samples)
    else:
        rng = np.random.default_rng(vr_seed)
        vr_indices = np.sort(rng.choice(n_samples, size=int(max_samples), replace=False))
    vr_selected = np.zeros(n_samples, dtype=bool)
    vr_selected[vr_indices] = True
    seconds_per_image = n_steps * dt_ms * 1e-3

    summary, act_class, act_pop, per_step, vr_rows, isi_rows = [], [], [], [], [], []
    weights = []
    for epoch, path in paths.items():
        snap = load_snapshot_weights(path)
        weights.append(snap)
        if not snap.finite:
            log.warning("%s: non-finite weights, snapshot not simulated", path)
            summary.append(_summary_row(epoch, n_samples, False))
            continue
        n_hidden = snap.w_in.shape[1]
        masks = population_masks(snap.excitatory, snap.constrained)
        vr = VanRossumAccumulator(n_steps, n_hidden, tau_ms / dt_ms) if vr_indices.size else None
        acc = _SnapshotAccumulator(n_steps, n_classes, masks, vr)
        snapshot = model.load_snapshot(path)
        for indices, hidden, output in model.iter_activity(snapshot, test_data, batch_size, model_config):
            indices = np.asarray(indices, dtype=np.int64)
            acc.add(labels_all[indices], hidden, output, vr_selected[indices])
        if int(acc.n_images.sum()) != n_samples:
            raise RuntimeError(
                f"iter_activity yielded {int(acc.n_images.sum())} samples, expected {n_samples}"
            )

        pops = list(masks)
        n_neurons = {pop: int(m.sum()) for pop, m in masks.items()}
        total_by_class = acc.spikes.sum(axis=0)  # [C]
        e_by_class = acc.spikes[pops.index("E")] if "E" in pops else np.zeros(n_classes, np.int64)
        pct_e_by_class = _percent_excitatory(e_by_class, total_by_class, snap.constrained)
        for c in range(n_classes):
            n_img = int(acc.n_images[c])
            act_class.append(
                {
                    "epoch": epoch,
                    "class": c,
                    "n_images": n_img,
                    "accuracy": acc.n_correct[c] / n_img if n_img else np.nan,
                    "spikes_per_image": total_by_class[c] / n_img if n_img else np.nan,
                    "percent_excitatory": pct_e_by_class[c],
                }
            )
            for i, pop in enumerate(pops):
                count = int(acc.spikes[i, c])
                act_pop.append(
                    {
                        "epoch": epoch,
                        "class": c,
                        "population": pop,
                        "n_neurons": n_neurons[pop],
                        "n_images": n_img,
                        "spike_count": count,
                        "spikes_per_image": count / n_img if n_img else np.nan,
                        "firing_rate_hz": count / (n_img * n_neurons[pop] * seconds_per_image)
                        if n_img
                        else np.nan,
                    }
                )
                for t in range(n_steps):
                    n_sp = int(acc.spikes_step[i, c, t])
                    per_step.append((epoch, c, pop, t, t * dt_ms, n_img, n_sp, n_sp / n_img if n_img else np.nan))
                for k in range(1, n_steps):
                    isi_rows.append((epoch, c, pop, k * dt_ms, 1000.0 / (k * dt_ms), int(acc.isi[i, c, k])))

        total = int(acc.spikes.sum())
        e_total = int(e_by_class.sum())
        row = _summary_row(epoch, n_samples, True)
        row.update(
            accuracy=acc.n_correct.sum() / n_samples,
            hidden_firing_rate_hz=total / (n_hidden * n_samples * seconds_per_image),
            spikes_per_image=total / n_samples,
            percent_excitatory=_percent_excitatory(np.array([e_total]), np.array([total]), snap.constrained)[0],
            n_vr_samples=vr.n_samples if vr is not None else 0,
        )
        summary.append(row)
        if vr is not None:
            means = population_distance_means(vr.mean(), snap.excitatory, snap.constrained)
            pairs = population_pair_counts(snap.excitatory, snap.constrained)
            for category, value in means.items():
                vr_rows.append((epoch, category, value, pairs[category], vr.n_samples, tau_ms))

    return {
        "summary": pd.DataFrame(summary, columns=list(_summary_row(0, 0, True))),
        "activity_class": pd.DataFrame(
            act_class,
            columns=["epoch", "class", "n_images", "accuracy", "spikes_per_image", "percent_excitatory"],
        ),
        "activity_population": pd.DataFrame(
            act_pop,
            columns=["epoch", "class", "population", "n_neurons", "n_images", "spike_count",
                     "spikes_per_image", "firing_rate_hz"],
        ),
        "spikes_per_step": pd.DataFrame(
            per_step,
            columns=["epoch", "class", "population", "step", "time_ms", "n_images", "spike_count",
                     "spikes_per_image"],
        ),
        "van_rossum": pd.DataFrame(
            vr_rows, columns=["epoch", "category", "distance", "n_pairs", "n_samples", "tau_ms"]
        ),
        "isi": pd.DataFrame(
            isi_rows, columns=["epoch", "class", "population", "isi_ms", "frequency_hz", "count"]
        ),
        "weights_hist": weight_histograms(weights, n_bins=n_weight_bins),
    }


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


def _percent_excitatory(e_spikes: np.ndarray, total_spikes: np.ndarray, constrained: bool) -> np.ndarray:
    """100·E/(E+I); NaN where no spike or for unconstrained networks."""
    e = np.asarray(e_spikes, dtype=np.float64)
    tot = np.asarray(total_spikes, dtype=np.float64)
    out = np.full(tot.shape, np.nan)
    if constrained:
        ok = tot > 0
        out[ok] = 100.0 * e[ok] / tot[ok]
    return out


def write_run_metrics(run_dir: str | Path, tables: Mapping[str, pd.DataFrame]) -> dict[str, Path]:
    """Write each table atomically to ``<run_dir>/metrics/<file>`` (see :data:`METRIC_FILES`)."""
    out_dir = Path(run_dir) / "metrics"
    written = {}
    for name, frame in tables.items():
        if name not in METRIC_FILES:
            raise KeyError(f"unknown metrics table {name!r}; expected one of {sorted(METRIC_FILES)}")
        path = out_dir / METRIC_FILES[name]
        write_csv_atomic(path, frame)
        written[name] = path
    return written


def read_run_metrics(run_dir: str | Path) -> dict[str, pd.DataFrame]:
    """Read back the metric CSVs present under ``<run_dir>/metrics/``."""
    out_dir = Path(run_dir) / "metrics"
    return {
        name: pd.read_csv(out_dir / fname)
        for name, fname in METRIC_FILES.items()
        if (out_dir / fname).exists()
    }
