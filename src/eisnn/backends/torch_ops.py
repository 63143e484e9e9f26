"""The torch backend: per-step tensor ops on any device, behind the `Backend` interface.

Time-major tensors [T, K, B, ·]. The input projection gathers W_in rows for the batch's spike
events with `embedding_bag` (and scatters the W_in gradient back the same way), the readout is
one matrix product with the filter κ of `readout_kernel`, and the backward pass through time is
written out by hand (equations in `eisnn.model`).
"""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np
import torch

from .. import surrogates
from ..params import ModelConfig
from .common import BatchResult, InputBatch, readout_kernel, score_readout


@dataclasses.dataclass(frozen=True)
class EventBags:
    """`embedding_bag` index lists for a batch's input events, with X as [T·K·B, H] and W_in as [K·n_in, H].

    Bag r of (current_input, current_offsets) lists the W_in rows summed into row r of X
    (forward); bag j of (weight_input, weight_offsets) lists the X rows whose gradients add up
    in row j of W_in (backward; None when built for a forward pass only).
    """

    current_input: torch.Tensor
    current_offsets: torch.Tensor
    weight_input: torch.Tensor | None = None
    weight_offsets: torch.Tensor | None = None


def _bag_offsets(keys: np.ndarray, n_bags: int) -> np.ndarray:
    counts = np.bincount(keys, minlength=n_bags)
    return np.concatenate(([0], np.cumsum(counts[:-1]))).astype(np.int64)


def event_bags(batch: InputBatch, backward: bool) -> EventBags:
    """The forward bags of `batch`, and the backward ones too if `backward`."""
    rows = batch.n_networks * batch.batch_size
    flat_pos = np.repeat(np.arange(rows), np.diff(batch.row_offsets))
    network = flat_pos // batch.batch_size
    current_row = batch.step.astype(np.int64) * rows + flat_pos  # ((t·K + k)·B + b)
    weight_row = network * batch.n_units + batch.unit
    as_tensor = functools.partial(torch.as_tensor, dtype=torch.int64, device=batch.device)
    # Stable radix sorts on small integers: by step gives (t, k, b) order; by unit then
    # network gives (k, unit) order.
    by_current = np.argsort(batch.step.astype(np.int16), kind="stable")
    bags = EventBags(as_tensor(weight_row[by_current]), as_tensor(_bag_offsets(current_row, batch.n_steps * rows)))
    if not backward:
        return bags
    by_unit = np.argsort(batch.unit.astype(np.int16), kind="stable")
    by_weight = by_unit[np.argsort(network[by_unit].astype(np.int16), kind="stable")]
    return dataclasses.replace(
        bags,
        weight_input=as_tensor(current_row[by_weight]),
        weight_offsets=as_tensor(_bag_offsets(weight_row, batch.n_networks * batch.n_units)),
    )


@functools.lru_cache(maxsize=8)
def _readout_filter(n_steps: int, config: ModelConfig, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    return readout_kernel(n_steps, config, device=device, dtype=dtype)


def input_current(w_in: torch.Tensor, batch: InputBatch, bags: EventBags) -> torch.Tensor:
    """X [T, K, B, H] = W_in·S_in[t] for every step, summed from the spike events."""
    n_hidden = w_in.shape[-1]
    current = torch.nn.functional.embedding_bag(
        bags.current_input, w_in.reshape(-1, n_hidden), bags.current_offsets, mode="sum"
    )
    return current.view(batch.n_steps, batch.n_networks, batch.batch_size, n_hidden)


def run_hidden(current: torch.Tensor, config: ModelConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Integrate the LIF layer over X [T, K, B, H].

    Returns `silent` [T, K, B, H] (1.0 where S[t] = 0, else 0.0: the reset factor 1 - S[t]) and
    the voltage [T+1, K, B, H]. Float masks rather than bool ones: PyTorch's float kernels are
    vectorised, its bool ones are several times slower.
    """
    n_steps = current.shape[0]
    silent = torch.empty_like(current)
    voltage = torch.empty((n_steps + 1,) + current.shape[1:], dtype=current.dtype, device=current.device)
    voltage[0].zero_()
    syn = torch.zeros_like(current[0])
    alpha, beta, threshold = config.alpha, config.beta, config.threshold
    for t in range(n_steps):
        torch.le(voltage[t], threshold, out=silent[t])
        torch.add(syn, voltage[t], alpha=beta, out=voltage[t + 1]).mul_(silent[t])
        syn = torch.add(current[t], syn, alpha=alpha)
    return silent, voltage


def _per_network(x: torch.Tensor) -> torch.Tensor:
    """[T, K, B, F] → [K, T·B, F] (a view when K = 1), for one GEMM per network."""
    return x.transpose(0, 1).reshape(x.shape[1], -1, x.shape[-1])


def _time_major(x: torch.Tensor, n_steps: int) -> torch.Tensor:
    """Inverse of `_per_network`: [K, T·B, F] → [T, K, B, F]."""
    n_networks, _, features = x.shape
    return x.view(n_networks, n_steps, -1, features).transpose(0, 1)


def readout_voltage(spikes: torch.Tensor, w_out: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """U [T+1, K, B, O] from hidden spikes [T, K, B, H] (float) and W_out [K, H, O]."""
    n_steps = spikes.shape[0]
    drive = _time_major(torch.bmm(_per_network(spikes), w_out), n_steps)  # Y[t] = S[t]·W_out
    return (kernel @ drive.reshape(n_steps, -1)).view((n_steps + 1,) + drive.shape[1:])


def forward(w_in: torch.Tensor, w_out: torch.Tensor, batch: InputBatch, config: ModelConfig):
    silent = run_hidden(input_current(w_in, batch, event_bags(batch, backward=False)), config)[0]
    kernel = _readout_filter(batch.n_steps, config, w_in.device, w_in.dtype)
    return silent == 0, readout_voltage(1.0 - silent, w_out, kernel)


def forward_backward(
    w_in: torch.Tensor, w_out: torch.Tensor, batch: InputBatch, config: ModelConfig, compute_gradients: bool
) -> BatchResult:
    bags = event_bags(batch, backward=compute_gradients)
    kernel = _readout_filter(batch.n_steps, config, w_in.device, w_in.dtype)
    silent, voltage = run_hidden(input_current(w_in, batch, bags), config)
    spikes = 1.0 - silent
    result, grad_out = score_readout(readout_voltage(spikes, w_out, kernel), batch.labels, config.readout)
    if not compute_gradients:
        return result

    n_steps, n_networks, batch_size, n_hidden = spikes.shape
    grad_drive = (kernel.t() @ grad_out.reshape(n_steps + 1, -1)).view(n_steps, n_networks, batch_size, -1)
    grad_drive = _per_network(grad_drive)
    # ∂L/∂W_out[k] = Σ_{t,b} S[t,k,b,:]ᵀ·∂L/∂Y[t,k,b,:], one GEMM per network.
    result.grad_w_out = torch.bmm(_per_network(spikes).transpose(1, 2), grad_drive)
    del spikes
    # ∂L/∂S[t] times the surrogate ∂S/∂V[t]: the voltage adjoint's direct term.
    direct = _time_major(torch.bmm(grad_drive, w_out.transpose(1, 2)), n_steps).contiguous()
    _times_surrogate_(direct, voltage[:n_steps], config)
    del voltage
    grad_current = _adjoint_current(direct, silent, config)
    del direct, silent
    grad_w_in = torch.nn.functional.embedding_bag(
        bags.weight_input, grad_current.view(-1, n_hidden), bags.weight_offsets, mode="sum"
    )
    result.grad_w_in = grad_w_in.view_as(w_in)
    return result


def _block_elements(device: torch.device) -> int:
    """How many elements a surrogate formula is evaluated over at once, bounding its temporaries.

    On the CPU what stays in cache (fresh large buffers cost page faults); on an accelerator,
    with its caching allocator, a small share of memory where [T, K, B, H] is large.
    """
    return 1 << 18 if device.type == "cpu" else 1 << 24


def _times_surrogate_(direct: torch.Tensor, voltage: torch.Tensor, config: ModelConfig) -> None:
    """direct[t] *= ∂S/∂V[t] for t < T; overwrites `voltage` [T, K, B, H] with x = scale·|V − θ|."""
    distance = voltage.sub_(config.threshold).abs_().mul_(config.surrogate_scale)
    slope = surrogates.formula(config.surrogate)
    block = max(1, _block_elements(distance.device) // max(1, math.prod(distance.shape[1:])))
    for start in range(0, distance.shape[0], block):
        direct[start : start + block].mul_(slope(distance[start : start + block], 1.0))


def _adjoint_current(direct: torch.Tensor, silent: torch.Tensor, config: ModelConfig) -> torch.Tensor:
    """∂L/∂X [T, K, B, H] from the direct term D[t] = ∂L/∂S[t]·∂S/∂V[t], by the adjoint recursion.

    t = T-1 … 0:  λV[t] = D[t] + β(1-S[t])·λV[t+1],  λI[t] = α·λI[t+1] + (1-S[t])·λV[t+1],
    ∂L/∂X[t] = λI[t+1].
    """
    n_steps = direct.shape[0]
    alpha, beta = config.alpha, config.beta
    grad_current = torch.empty_like(direct)
    grad_current[n_steps - 1].zero_()
    adjoint_voltage = torch.zeros_like(direct[0])
    carried = torch.empty_like(direct[0])
    for t in range(n_steps - 1, -1, -1):
        torch.mul(adjoint_voltage, silent[t], out=carried)
        adjoint_voltage = torch.add(direct[t], carried, alpha=beta)
        if t > 0:
            torch.add(carried, grad_current[t], alpha=alpha, out=grad_current[t - 1])
    return grad_current
