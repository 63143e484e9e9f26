"""The simulation API of the ensemble E:I spiking network: K independent feedforward LIF networks in one pass.

Hidden layer (paper §4.1, Eqs. 1–3; dt = 1 step, α = exp(-dt/τ_syn), β = exp(-dt/τ_mem)):

    S[t]   = 1 if V[t] > θ else 0
    I[t+1] = α·I[t] + X[t],           X[t] = W_in·S_in[t]
    V[t+1] = (β·V[t] + I[t])·(1 - S[t])      (reset detached from the gradient)

Readout: the same synaptic and membrane filters on Y[t] = W_out·S[t], never spiking,

    J[t+1] = α·J[t] + Y[t],   U[t+1] = β·U[t] + J[t],   U[0] = 0,   i.e. U = κ·Y (`readout_kernel`);

its membrane trace U[0..T] is the network output, scored by `readout_loss` (the NLL of the
softmax of max_t U ("max") or of every U[t], t ≥ 1 ("per_step"); decision rule `eisnn.readout`).

Backward pass (exact, written out by hand, no autograd graph): with ∂L/∂Y = κᵀ·∂L/∂U,
G[t] = ∂L/∂S[t] = ∂L/∂Y[t]·W_outᵀ and the surrogate σ(x) of `eisnn.surrogates` at
x = scale·|V[t] - θ| standing in for ∂S/∂V, for t = T-1 … 0:

    λV[t] = G[t]·σ(x[t]) + β(1 - S[t])·λV[t+1]
    λI[t] = α·λI[t+1] + (1 - S[t])·λV[t+1],      ∂L/∂X[t] = λI[t+1]

    ∂L/∂W_out = Σ_t S[t]ᵀ·∂L/∂Y[t],   ∂L/∂W_in[i] = Σ_{input spikes (t, i)} ∂L/∂X[t].

Every tensor carries a leading ensemble dimension K (a single run is K = 1); time-major layouts
[T, K, B, ...] keep each step's slice contiguous. The input projection is event driven (the
latency code is < 1 % dense): X gathers rows of W_in at the batch's spikes and the W_in gradient
is scattered back the same way. Two backends implement this (`eisnn.backends`: numba loops on
the CPU, tensor ops elsewhere); docs/architecture.md describes the API.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

from .backends import BACKENDS, backend_for
from .backends.common import BatchResult, InputBatch, dale_bound_, make_input_batch, readout_kernel, readout_loss
from .params import ModelConfig
from .snapshot import Snapshot

__all__ = [
    "BACKENDS",
    "BatchResult",
    "InputBatch",
    "ModelConfig",
    "dale_bound_",
    "forward_backward",
    "iter_activity",
    "make_input_batch",
    "readout_kernel",
    "readout_loss",
    "simulate",
]


def forward_backward(
    w_in: torch.Tensor,
    w_out: torch.Tensor,
    batch: InputBatch,
    config: ModelConfig,
    compute_gradients: bool = True,
    backend: str = "auto",
) -> BatchResult:
    """Loss, accuracy and (optionally) exact surrogate gradients of K networks on one batch."""
    return backend_for(backend, w_in.device).forward_backward(w_in, w_out, batch, config, compute_gradients)


def simulate(
    w_in: torch.Tensor, w_out: torch.Tensor, dataset, indices: np.ndarray, config: ModelConfig, backend: str = "auto"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward pass only: hidden spikes bool [T, K, B, H] and readout voltage [T+1, K, B, O].

    `indices` is [B] (the same samples for every network) or [K, B].
    """
    indices = np.asarray(indices, dtype=np.int64)
    if indices.ndim == 1:
        indices = np.broadcast_to(indices, (w_in.shape[0], indices.shape[0]))
    batch = make_input_batch(dataset, indices, device=w_in.device)
    return backend_for(backend, w_in.device).forward(w_in, w_out, batch, config)


def iter_activity(
    snapshot: Snapshot,
    dataset,
    batch_size: int = 1000,
    config: ModelConfig | None = None,
    indices: Sequence[int] | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Yield (indices, hidden bool [B, T, H], readout voltage float32 [B, T+1, O]) batch by batch."""
    config = config or ModelConfig()
    w_in = torch.as_tensor(snapshot.w_in).unsqueeze(0)
    w_out = torch.as_tensor(snapshot.w_out).unsqueeze(0)
    all_indices = np.arange(dataset.n_samples) if indices is None else np.asarray(indices, dtype=np.int64)
    for start in range(0, len(all_indices), batch_size):
        chunk = all_indices[start : start + batch_size]
        spikes, voltage_out = simulate(w_in, w_out, dataset, chunk, config)
        yield (
            chunk,
            spikes[:, 0].permute(1, 0, 2).numpy(),
            voltage_out[:, 0].permute(1, 0, 2).numpy().astype(np.float32, copy=False),
        )
