"""The ensemble E:I spiking network: K independent feedforward LIF networks in one pass.

Dynamics (SPEC §1, dt = 1 step):

    S[t]   = 1 if V[t] > threshold else 0
    I[t+1] = α·I[t] + X[t],           X[t] = W_in·S_in[t]
    V[t+1] = (β·V[t] + I[t])·(1 - S[t])      (reset detached from the gradient)

The readout applies the same synaptic and membrane filters to W_out·S[t] and never spikes; its
membrane trace U[0..T] (U[0] = 0) is the network output.

Every tensor carries a leading ensemble dimension K; a single run is K = 1. Time-major layouts
`[T, K, B, ...]` keep each step's slice contiguous. The input projection is event driven (the
latency code is < 1 % dense): X is built by gathering rows of W_in for the spikes of the batch,
and the W_in gradient is scattered back the same way. The backward pass through time is written
out by hand (no autograd graph), which is what makes training fast on a CPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch

SURROGATES = ("fast_sigmoid", "exponential")
READOUTS = ("max", "per_step")


@dataclass(frozen=True)
class ModelConfig:
    """Neuron constants and the training-relevant readout choices."""

    dt_ms: float = 1.0
    tau_syn_ms: float = 5.0
    tau_mem_ms: float = 10.0
    threshold: float = 1.0
    surrogate: str = "fast_sigmoid"
    surrogate_scale: float = 100.0
    readout: str = "max"

    def __post_init__(self) -> None:
        if self.surrogate not in SURROGATES:
            raise ValueError(f"surrogate {self.surrogate!r} is not one of {SURROGATES}")
        if self.readout not in READOUTS:
            raise ValueError(f"readout {self.readout!r} is not one of {READOUTS}")
        for name in ("dt_ms", "tau_syn_ms", "tau_mem_ms", "surrogate_scale"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")

    @property
    def alpha(self) -> float:
        """Synaptic decay per step, exp(-dt/τ_syn)."""
        return math.exp(-self.dt_ms / self.tau_syn_ms)

    @property
    def beta(self) -> float:
        """Membrane decay per step, exp(-dt/τ_mem)."""
        return math.exp(-self.dt_ms / self.tau_mem_ms)


def reference_weight_scale(n_presynaptic: int, config: ModelConfig) -> float:
    """The reference tutorial's scale 7(1-β)/√n (σ_out default; σ_init of the baseline runs)."""
    return 7.0 * (1.0 - config.beta) / math.sqrt(n_presynaptic)


def surrogate_derivative_(voltage: torch.Tensor, config: ModelConfig) -> torch.Tensor:
    """∂S/∂V used in place of the Heaviside's derivative, computed in place over `voltage`."""
    distance = voltage.sub_(config.threshold).abs_().mul_(config.surrogate_scale)
    if config.surrogate == "fast_sigmoid":
        return distance.add_(1.0).reciprocal_().square_()
    return distance.neg_().exp_()


def readout_kernel(n_steps: int, config: ModelConfig, device=None, dtype=torch.float32) -> torch.Tensor:
    """Matrix κ [T+1, T] with U = κ·Y: the readout's synaptic then membrane filter.

    U[t] = Σ_s κ[t-s]·Y[s], κ[d] = Σ_{j=0}^{d-2} β^j α^{d-2-j} for d ≥ 2, else 0.
    """
    alpha, beta = config.alpha, config.beta
    impulse = np.zeros(n_steps + 1)
    syn, mem = 0.0, 0.0
    # Run the two filters on a unit impulse Y[0] = 1 with float64 precision.
    for t in range(n_steps + 1):
        impulse[t] = mem
        mem = beta * mem + syn
        syn = alpha * syn + (1.0 if t == 0 else 0.0)
    lag = np.arange(n_steps + 1)[:, None] - np.arange(n_steps)[None, :]
    kernel = np.where(lag >= 0, impulse[np.clip(lag, 0, n_steps)], 0.0)
    return torch.as_tensor(kernel, dtype=dtype, device=device)


@dataclass
class InputBatch:
    """The input spikes of one batch for K networks: row r = k·B + b holds sample indices[k, b].

    `step` and `unit` list the events of every row, ordered by row then step; `row_offsets`
    [K·B + 1] points into them. The torch backend's `bags` are built on first use.
    """

    row_offsets: np.ndarray
    step: np.ndarray
    unit: np.ndarray
    labels: torch.Tensor  # [K, B] int64
    n_steps: int
    n_networks: int
    batch_size: int
    n_units: int
    device: torch.device

    @cached_property
    def bags(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """`embedding_bag` lists for the torch backend.

        With X viewed as [T·K·B, H] and W_in as [K·n_in, H]: bag r of (inputs, offsets) lists the
        W_in rows summed into row r of X (forward); bag j of the second pair lists the X rows
        whose gradients add up in row j of W_in (backward).
        """
        rows = self.n_networks * self.batch_size
        flat_pos = np.repeat(np.arange(rows), np.diff(self.row_offsets))
        network = flat_pos // self.batch_size
        current_row = self.step.astype(np.int64) * rows + flat_pos  # ((t·K + k)·B + b)
        weight_row = network * self.n_units + self.unit
        # Stable radix sorts on small integers: by step gives (t, k, b) order; by unit then
        # network gives (k, unit) order.
        by_current = np.argsort(self.step.astype(np.int16), kind="stable")
        by_unit = np.argsort(self.unit.astype(np.int16), kind="stable")
        by_weight = by_unit[np.argsort(network[by_unit].astype(np.int16), kind="stable")]
        as_tensor = lambda array: torch.as_tensor(array, dtype=torch.int64, device=self.device)  # noqa: E731
        return (
            as_tensor(weight_row[by_current]),
            as_tensor(_bag_offsets(current_row, self.n_steps * rows)),
            as_tensor(current_row[by_weight]),
            as_tensor(_bag_offsets(weight_row, self.n_networks * self.n_units)),
        )


def _bag_offsets(keys: np.ndarray, n_bags: int) -> np.ndarray:
    counts = np.bincount(keys, minlength=n_bags)
    return np.concatenate(([0], np.cumsum(counts[:-1]))).astype(np.int64)


def make_input_batch(dataset, indices: np.ndarray, device=None) -> InputBatch:
    """Gather the events of `indices` [K, B] (sample indices per network) from a SpikeDataset."""
    indices = np.asarray(indices, dtype=np.int64)
    n_networks, batch_size = indices.shape
    flat_pos, step, unit = dataset.events(indices.reshape(-1))  # ordered by flat_pos, then step
    row_offsets = np.concatenate(([0], np.cumsum(np.bincount(flat_pos, minlength=indices.size))))
    return InputBatch(
        row_offsets=row_offsets.astype(np.int64),
        step=step.astype(np.int32),
        unit=unit.astype(np.int32),
        labels=torch.as_tensor(dataset.labels[indices], dtype=torch.int64, device=device),
        n_steps=dataset.n_steps,
        n_networks=n_networks,
        batch_size=batch_size,
        n_units=dataset.n_units,
        device=torch.device(device) if device is not None else torch.device("cpu"),
    )


def input_current(w_in: torch.Tensor, batch: InputBatch) -> torch.Tensor:
    """X [T, K, B, H] = W_in·S_in[t] for every step, summed from the spike events."""
    n_hidden = w_in.shape[-1]
    current_input, current_offsets, _, _ = batch.bags
    current = torch.nn.functional.embedding_bag(current_input, w_in.reshape(-1, n_hidden), current_offsets, mode="sum")
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


def readout_loss(voltage_out: torch.Tensor, labels: torch.Tensor, readout: str):
    """Per-network mean NLL, per-sample predictions, and ∂loss_k/∂U [T+1, K, B, O]."""
    n_classes = voltage_out.shape[-1]
    one_hot = torch.nn.functional.one_hot(labels, n_classes).to(voltage_out.dtype)  # [K, B, O]
    batch_size = labels.shape[1]
    grad = torch.zeros_like(voltage_out)
    if readout == "max":
        peak, peak_step = voltage_out.max(dim=0)  # [K, B, O]
        log_prob = torch.log_softmax(peak, dim=-1)
        loss = -(log_prob * one_hot).sum(-1).mean(-1)
        predictions = peak.argmax(-1)
        grad.scatter_(0, peak_step.unsqueeze(0), ((log_prob.exp() - one_hot) / batch_size).unsqueeze(0))
    else:
        log_prob = torch.log_softmax(voltage_out[1:], dim=-1)  # [T, K, B, O]
        n_steps = log_prob.shape[0]
        loss = -(log_prob * one_hot).sum(-1).mean(dim=(0, 2))
        predictions = log_prob.mean(0).argmax(-1)
        grad[1:] = (log_prob.exp() - one_hot) / (batch_size * n_steps)
    return loss, predictions, grad


@dataclass
class BatchResult:
    loss: torch.Tensor  # [K]
    correct: torch.Tensor  # [K] number of correct predictions
    grad_w_in: torch.Tensor | None = None
    grad_w_out: torch.Tensor | None = None


BACKENDS = ("auto", "compiled", "torch")


def resolve_backend(backend: str, device: torch.device) -> str:
    """`compiled` (numba loops) on the CPU, `torch` (per-step tensor ops) on accelerators."""
    if backend not in BACKENDS:
        raise ValueError(f"backend {backend!r} is not one of {BACKENDS}")
    if backend == "auto":
        return "compiled" if torch.device(device).type == "cpu" else "torch"
    if backend == "compiled" and torch.device(device).type != "cpu":
        raise ValueError("the compiled backend runs on the CPU only")
    return backend


def forward_backward(
    w_in: torch.Tensor,
    w_out: torch.Tensor,
    batch: InputBatch,
    config: ModelConfig,
    kernel: torch.Tensor,
    compute_gradients: bool = True,
    backend: str = "auto",
) -> BatchResult:
    """Loss, accuracy and (optionally) exact surrogate gradients of K networks on one batch.

    `kernel` is the readout filter of `readout_kernel` (used by the torch backend).
    """
    if resolve_backend(backend, w_in.device) == "compiled":
        return _forward_backward_compiled(w_in, w_out, batch, config, compute_gradients)
    return _forward_backward_torch(w_in, w_out, batch, config, kernel, compute_gradients)


def _compiled_forward(w_in: torch.Tensor, w_out: torch.Tensor, batch: InputBatch, config: ModelConfig):
    from . import kernels

    dtype = w_in.numpy().dtype.type
    return kernels.lif_forward(
        w_in.detach().contiguous().numpy(), w_out.detach().contiguous().numpy(), batch.row_offsets, batch.step,
        batch.unit, batch.batch_size, batch.n_steps, dtype(config.alpha), dtype(config.beta), dtype(config.threshold),
    )


def _forward_backward_compiled(w_in, w_out, batch, config, compute_gradients):
    from . import kernels

    spikes, voltage, readout = _compiled_forward(w_in, w_out, batch, config)
    voltage_out = torch.from_numpy(readout).permute(2, 0, 1, 3)  # [T+1, K, B, O]
    loss, predictions, grad_out = readout_loss(voltage_out, batch.labels, config.readout)
    correct = (predictions == batch.labels).sum(-1)
    if not compute_gradients:
        return BatchResult(loss=loss, correct=correct)
    dtype = readout.dtype.type
    surrogate = kernels.FAST_SIGMOID if config.surrogate == "fast_sigmoid" else kernels.EXPONENTIAL
    grad_w_in, grad_w_out = kernels.lif_backward(
        w_in.detach().contiguous().numpy(), w_out.detach().contiguous().numpy(), batch.row_offsets, batch.step,
        batch.unit, spikes, voltage, grad_out.permute(1, 2, 0, 3).contiguous().numpy(),
        dtype(config.alpha), dtype(config.beta), dtype(config.threshold), surrogate, dtype(config.surrogate_scale),
    )
    return BatchResult(
        loss=loss, correct=correct, grad_w_in=torch.from_numpy(grad_w_in), grad_w_out=torch.from_numpy(grad_w_out)
    )


def _forward_backward_torch(w_in, w_out, batch, config, kernel, compute_gradients):
    current = input_current(w_in, batch)
    silent, voltage = run_hidden(current, config)
    del current
    spikes = 1.0 - silent
    voltage_out = readout_voltage(spikes, w_out, kernel)
    loss, predictions, grad_out = readout_loss(voltage_out, batch.labels, config.readout)
    correct = (predictions == batch.labels).sum(-1)
    if not compute_gradients:
        return BatchResult(loss=loss, correct=correct)

    n_steps, n_networks, batch_size, n_hidden = spikes.shape
    grad_drive = (kernel.t() @ grad_out.reshape(n_steps + 1, -1)).view(n_steps, n_networks, batch_size, -1)
    grad_drive = _per_network(grad_drive)
    # ∂L/∂W_out[k] = Σ_{t,b} S[t,k,b,:]ᵀ·∂L/∂Y[t,k,b,:], one GEMM per network.
    grad_w_out = torch.bmm(_per_network(spikes).transpose(1, 2), grad_drive)
    del spikes
    # ∂L/∂S[t] times the surrogate ∂S/∂V[t]: the voltage adjoint's direct term.
    direct = _time_major(torch.bmm(grad_drive, w_out.transpose(1, 2)), n_steps).contiguous()
    direct.mul_(surrogate_derivative_(voltage[:n_steps], config))
    del voltage

    # Adjoint recursion, t = T-1 … 0:
    #   λV[t] = G[t] + β(1-S[t])·λV[t+1],   λI[t] = α·λI[t+1] + (1-S[t])·λV[t+1],   ∂L/∂X[t] = λI[t+1]
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
    del direct, silent

    _, _, weight_input, weight_offsets = batch.bags
    grad_w_in = torch.nn.functional.embedding_bag(weight_input, grad_current.view(-1, n_hidden), weight_offsets, mode="sum")
    return BatchResult(loss=loss, correct=correct, grad_w_in=grad_w_in.view_as(w_in), grad_w_out=grad_w_out)


def simulate(
    w_in: torch.Tensor, w_out: torch.Tensor, dataset, indices: np.ndarray, config: ModelConfig, backend: str = "auto"
):
    """Forward pass only: hidden spikes bool [T, K, B, H] and readout voltage [T+1, K, B, O].

    `indices` is [B] (the same samples for every network) or [K, B].
    """
    indices = np.asarray(indices, dtype=np.int64)
    if indices.ndim == 1:
        indices = np.broadcast_to(indices, (w_in.shape[0], indices.shape[0]))
    batch = make_input_batch(dataset, indices, device=w_in.device)
    if resolve_backend(backend, w_in.device) == "compiled":
        spikes, _, readout = _compiled_forward(w_in, w_out, batch, config)
        return torch.from_numpy(spikes).permute(2, 0, 1, 3).bool(), torch.from_numpy(readout).permute(2, 0, 1, 3)
    silent, _ = run_hidden(input_current(w_in, batch), config)
    kernel = readout_kernel(dataset.n_steps, config, device=w_in.device, dtype=w_in.dtype)
    return silent == 0, readout_voltage(1.0 - silent, w_out, kernel)


@dataclass
class Snapshot:
    """One saved network: weights and neuron types at a given epoch."""

    w_in: np.ndarray  # [n_in, H]
    w_out: np.ndarray  # [H, O]
    excitatory: np.ndarray  # bool [H]
    constrained: bool
    epoch: int


def load_snapshot(path: str | Path) -> Snapshot:
    with np.load(path) as archive:
        return Snapshot(
            w_in=archive["w_in"].astype(np.float32),
            w_out=archive["w_out"].astype(np.float32),
            excitatory=archive["excitatory"].astype(bool),
            constrained=bool(archive["constrained"]),
            epoch=int(archive["epoch"]),
        )


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


RANDOM_STREAMS = {"init": 0, "shuffle": 1, "noise": 2}
"""The independent random streams of one run: initial weights, data order, update noise."""


def stream_seed(seed: int, stream: str) -> int:
    """An independent 63-bit seed for one random stream (:data:`RANDOM_STREAMS`) of one run."""
    state = np.random.SeedSequence([int(seed), RANDOM_STREAMS[stream]]).generate_state(2, dtype=np.uint32)
    return int(state[0]) << 31 | int(state[1]) >> 1


def excitatory_mask(n_hidden: int, ratio: float | None) -> np.ndarray:
    """The first round(ratio·H) hidden neurons are excitatory; unconstrained networks: all True."""
    if ratio is None:
        return np.ones(n_hidden, dtype=bool)
    return np.arange(n_hidden) < int(round(ratio * n_hidden))


def init_weights(
    n_in: int,
    n_hidden: int,
    n_out: int,
    ratio: float | None,
    sigma_init: float,
    sigma_out: float,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """W_in = |N(0, σ_init)|, W_out = ±|N(0, σ_out)| signed by the presynaptic type.

    Unconstrained networks (ratio None) draw signed N(0, σ) for both layers.
    """
    w_in = torch.randn(n_in, n_hidden, generator=generator) * sigma_init
    w_out = torch.randn(n_hidden, n_out, generator=generator) * sigma_out
    excitatory = excitatory_mask(n_hidden, ratio)
    if ratio is not None:
        w_in.abs_()
        sign = torch.where(torch.as_tensor(excitatory), 1.0, -1.0).unsqueeze(1)
        w_out = w_out.abs_() * sign
    return w_in, w_out, excitatory


def dale_bound_(w_in: torch.Tensor, w_out: torch.Tensor, out_sign: torch.Tensor, constrained: torch.Tensor) -> None:
    """Set every weight that crossed its sign to 0, in constrained networks only.

    `out_sign` [K, H, 1] is +1 for excitatory and -1 for inhibitory rows of W_out; `constrained`
    [K, 1, 1] is False for unconstrained networks. Inputs are all excitatory, so W_in ≥ 0.
    """
    w_in.masked_fill_((w_in < 0) & constrained, 0.0)
    w_out.masked_fill_((w_out * out_sign < 0) & constrained, 0.0)
