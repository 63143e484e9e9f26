"""The compiled CPU backend: the numba loops of `eisnn.kernels` behind the `Backend` interface.

The forward kernel also scores the readout (the loss and ∂L/∂U of each sample, while its trace
is in cache) and keeps only the hidden state that its caller needs: spikes for analysis, spikes
and voltages for the backward pass, nothing for evaluation. The kernels work on numpy arrays in
sample-major layouts ([K, B, T, ·]); this module converts from and to the torch tensors and
time-major layouts ([T, K, B, ·]) of the interface. Each batch is cut into :data:`SAMPLE_GROUPS`
fixed groups of samples, run on :func:`set_threads` threads (by default as many as torch is set
to use); the gradient is summed per group, then over the groups in order, so that results depend
neither on the number of threads nor on the other networks of a pack.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np
import torch

from .. import kernels, surrogates
from ..params import ModelConfig
from ..readout import predict
from .common import BatchResult, InputBatch

SAMPLE_GROUPS = 4
"""Fixed groups of each network's batch: the units of parallel work and the order of the gradient's sum."""


def _to_time_major(x: np.ndarray) -> torch.Tensor:
    """[K, B, T, F] array → [T, K, B, F] tensor view."""
    return torch.from_numpy(x).permute(2, 0, 1, 3)


class _Workspace:
    """Arrays reused from one batch to the next: fresh arrays of this size cost more in page
    faults than the kernels' work on them (41 MB of voltages per SHD training batch).

    Holds the two latest shapes of each array. Only arrays that never leave a call live here:
    voltages, spikes (callers get a bool copy), ∂L/∂U and the per-group gradients.
    """

    def __init__(self) -> None:
        self.arrays: dict[tuple, np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
        key = (name, tuple(shape), np.dtype(dtype))
        array = self.arrays.pop(key, None)
        if array is None:
            for kept in [kept for kept in self.arrays if kept[0] == name][:-1]:
                del self.arrays[kept]
            array = np.empty(shape, dtype)
        self.arrays[key] = array  # the most recent last
        return array


_WORKSPACE = _Workspace()


class _Threads:
    """A pool of threads for the kernels (which release the GIL): `requested` of them, or
    torch.get_num_threads() where `requested` is None."""

    def __init__(self) -> None:
        self.pool: ThreadPoolExecutor | None = None
        self.size = 1
        self.requested: int | None = None

    def run(self, kernel, arguments, batch_size: int) -> None:
        """kernel(*arguments(group), start, stop) for every sample group, in parallel."""
        groups = [(g * batch_size // SAMPLE_GROUPS, (g + 1) * batch_size // SAMPLE_GROUPS) for g in range(SAMPLE_GROUPS)]
        size = min(torch.get_num_threads() if self.requested is None else self.requested, SAMPLE_GROUPS)
        if size == 1:
            for group, bounds in enumerate(groups):
                kernel(*arguments(group), *bounds)
            return
        if self.pool is None or self.size != size:
            if self.pool is not None:
                self.pool.shutdown()
            self.pool, self.size = ThreadPoolExecutor(size, thread_name_prefix="eisnn-kernel"), size
        for future in [self.pool.submit(kernel, *arguments(group), *bounds) for group, bounds in enumerate(groups)]:
            future.result()


_THREADS = _Threads()


def set_threads(threads: int | None) -> None:
    """Run the kernels on `threads` threads; None: on as many as torch uses (torch.get_num_threads())."""
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be at least 1, not {threads}")
    _THREADS.requested = threads


def _arrays(w_in: torch.Tensor, w_out: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    return w_in.detach().contiguous().numpy(), w_out.detach().contiguous().numpy()


def _run_forward(w_in: np.ndarray, w_out: np.ndarray, batch: InputBatch, config: ModelConfig, mode: int):
    """The forward kernel in `mode` (:data:`eisnn.kernels.TRAIN` …): hidden spikes and voltages
    [K, B, T, H], a fresh readout trace array [T+1, K, B, O], each sample's loss share [K, B]
    and ∂L/∂U [K, B, T+1, O]; what the mode does not fill is an empty array."""
    n_networks, n_hidden, n_out = w_in.shape[0], w_in.shape[2], w_out.shape[2]
    hidden_shape = (n_networks, batch.batch_size, batch.n_steps, n_hidden)
    dtype = w_in.dtype

    def array(name, shape, array_dtype, filled):
        return _WORKSPACE.get(name, shape, array_dtype) if filled else np.empty((0,) * len(shape), array_dtype)

    spikes = array("spikes", hidden_shape, np.uint8, mode != kernels.EVALUATE)
    voltage = array("voltage", hidden_shape, dtype, mode == kernels.TRAIN)
    grad_readout = array("grad_readout", (*hidden_shape[:2], batch.n_steps + 1, n_out), dtype, mode == kernels.TRAIN)
    sample_loss = np.empty(hidden_shape[:2] if mode != kernels.SPIKES else (0, 0), dtype)
    readout = np.empty((batch.n_steps + 1, *hidden_shape[:2], n_out), dtype)
    arguments = (
        w_in, w_out, batch.row_offsets, batch.step, batch.unit, batch.labels.numpy(), dtype.type(config.alpha),
        dtype.type(config.beta), dtype.type(config.threshold), config.readout == "per_step", mode,
        spikes, voltage, readout, sample_loss, grad_readout,
    )
    _THREADS.run(kernels.lif_forward, lambda group: arguments, batch.batch_size)
    return spikes, voltage, readout, sample_loss, grad_readout


def forward(w_in: torch.Tensor, w_out: torch.Tensor, batch: InputBatch, config: ModelConfig):
    spikes, _, readout, _, _ = _run_forward(*_arrays(w_in, w_out), batch, config, kernels.SPIKES)
    return _to_time_major(spikes).bool(), torch.from_numpy(readout)


def _network_batch(batch: InputBatch, k: int) -> InputBatch:
    """Network k's rows of a batch (a view: the event arrays are shared)."""
    rows = slice(k * batch.batch_size, (k + 1) * batch.batch_size + 1)
    return replace(batch, row_offsets=batch.row_offsets[rows], labels=batch.labels[k : k + 1], n_networks=1)


def forward_backward(
    w_in: torch.Tensor, w_out: torch.Tensor, batch: InputBatch, config: ModelConfig, compute_gradients: bool
) -> BatchResult:
    """One network after the other, so that the workspace holds one network's voltages and spikes
    (41 MB for an SHD batch, not K times that)."""
    w_in_array, w_out_array = _arrays(w_in, w_out)
    labels, n_out = batch.labels, w_out_array.shape[2]
    if labels.numel() and not 0 <= labels.min() <= labels.max() < n_out:  # the kernel reads its outputs by label
        raise ValueError(f"labels must lie in 0..{n_out - 1} (the readout's classes), got {labels.min()}..{labels.max()}")
    results = [
        _network_forward_backward(w_in_array[k : k + 1], w_out_array[k : k + 1], _network_batch(batch, k), config, compute_gradients)
        for k in range(w_in_array.shape[0])
    ]
    if len(results) == 1:
        return results[0]
    merged = BatchResult(loss=torch.cat([r.loss for r in results]), correct=torch.cat([r.correct for r in results]))
    if compute_gradients:
        merged.grad_w_in = torch.cat([r.grad_w_in for r in results])
        merged.grad_w_out = torch.cat([r.grad_w_out for r in results])
    return merged


def _network_forward_backward(
    w_in_array: np.ndarray, w_out_array: np.ndarray, batch: InputBatch, config: ModelConfig, compute_gradients: bool
) -> BatchResult:
    mode = kernels.TRAIN if compute_gradients else kernels.EVALUATE
    spikes, voltage, readout, sample_loss, grad_readout = _run_forward(w_in_array, w_out_array, batch, config, mode)
    predictions = torch.from_numpy(predict(readout, config.readout))
    result = BatchResult(loss=torch.from_numpy(sample_loss.sum(axis=1)), correct=(predictions == batch.labels).sum(-1))
    if not compute_gradients:
        return result
    group_w_in = _WORKSPACE.get("group_w_in", (SAMPLE_GROUPS, *w_in_array.shape), w_in_array.dtype)
    group_w_out = _WORKSPACE.get("group_w_out", (SAMPLE_GROUPS, *w_out_array.shape), w_out_array.dtype)
    group_w_in.fill(0.0)
    group_w_out.fill(0.0)
    dtype = readout.dtype.type
    arguments = (
        w_in_array, w_out_array, batch.row_offsets, batch.step, batch.unit, spikes, voltage,
        grad_readout, dtype(config.alpha), dtype(config.beta),
        dtype(config.threshold), surrogates.kernel_code(config.surrogate), dtype(config.surrogate_scale),
    )
    _THREADS.run(kernels.lif_backward, lambda group: (*arguments, group_w_in[group], group_w_out[group]), batch.batch_size)
    grad_w_in, grad_w_out = group_w_in[0].copy(), group_w_out[0].copy()
    for group in range(1, SAMPLE_GROUPS):  # in order: the sum does not depend on the threads
        grad_w_in += group_w_in[group]
        grad_w_out += group_w_out[group]
    result.grad_w_in, result.grad_w_out = torch.from_numpy(grad_w_in), torch.from_numpy(grad_w_out)
    return result
