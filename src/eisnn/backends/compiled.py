"""The compiled CPU backend: the numba loops of `eisnn.kernels` behind the `Backend` interface.

The kernels work on numpy arrays in sample-major layouts ([K, B, T, ·]); this module converts
from and to the torch tensors and time-major layouts ([T, K, B, ·]) of the interface.
"""

from __future__ import annotations

import numpy as np
import torch

from .. import kernels, surrogates
from ..params import ModelConfig
from .common import BatchResult, InputBatch, score_readout


def _to_time_major(x: np.ndarray) -> torch.Tensor:
    """[K, B, T, F] array → [T, K, B, F] tensor view."""
    return torch.from_numpy(x).permute(2, 0, 1, 3)


def _run_forward(w_in: np.ndarray, w_out: np.ndarray, batch: InputBatch, config: ModelConfig):
    dtype = w_in.dtype.type
    return kernels.lif_forward(
        w_in, w_out, batch.row_offsets, batch.step, batch.unit, batch.batch_size, batch.n_steps,
        dtype(config.alpha), dtype(config.beta), dtype(config.threshold),
    )


def _arrays(w_in: torch.Tensor, w_out: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    return w_in.detach().contiguous().numpy(), w_out.detach().contiguous().numpy()


def forward(w_in: torch.Tensor, w_out: torch.Tensor, batch: InputBatch, config: ModelConfig):
    spikes, _, readout = _run_forward(*_arrays(w_in, w_out), batch, config)
    return _to_time_major(spikes).bool(), _to_time_major(readout)


def forward_backward(
    w_in: torch.Tensor, w_out: torch.Tensor, batch: InputBatch, config: ModelConfig, compute_gradients: bool
) -> BatchResult:
    w_in_array, w_out_array = _arrays(w_in, w_out)
    spikes, voltage, readout = _run_forward(w_in_array, w_out_array, batch, config)
    result, grad_out = score_readout(_to_time_major(readout), batch.labels, config.readout)
    if not compute_gradients:
        return result
    dtype = readout.dtype.type
    grad_w_in, grad_w_out = kernels.lif_backward(
        w_in_array, w_out_array, batch.row_offsets, batch.step, batch.unit, spikes, voltage,
        grad_out.permute(1, 2, 0, 3).contiguous().numpy(), dtype(config.alpha), dtype(config.beta),
        dtype(config.threshold), surrogates.kernel_code(config.surrogate), dtype(config.surrogate_scale),
    )
    result.grad_w_in, result.grad_w_out = torch.from_numpy(grad_w_in), torch.from_numpy(grad_w_out)
    return result
