"""What both backends share: the input batch, the readout filter and loss, the batch result, the Dale bound.

The readout loss is written here in tensor form (:func:`readout_loss`, the torch backend's); the
compiled backend's forward kernel computes the same loss per sample (`eisnn.kernels`), tested
against this one. Imported by `eisnn.backends.compiled`, `eisnn.backends.torch_ops` and
`eisnn.model` (which re-exports it); imports nothing of theirs. Equations: `eisnn.model`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..params import ModelConfig
from ..readout import predict


@dataclass
class InputBatch:
    """The input spikes of one batch for K networks: row r = k·B + b holds sample indices[k, b].

    `step` and `unit` list the events of every row, ordered by row then step; `row_offsets`
    [K·B + 1] points into them.
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


def make_input_batch(dataset, indices: np.ndarray, device=None) -> InputBatch:
    """Gather the events of `indices` [K, B] (sample indices per network) from a SpikeDataset."""
    indices = np.asarray(indices, dtype=np.int64)
    n_networks, batch_size = indices.shape
    row_offsets, step, unit = dataset.row_events(indices.reshape(-1))
    return InputBatch(
        row_offsets=row_offsets,
        step=step,
        unit=unit,
        labels=torch.as_tensor(dataset.labels[indices], dtype=torch.int64, device=device),
        n_steps=dataset.n_steps,
        n_networks=n_networks,
        batch_size=batch_size,
        n_units=dataset.n_units,
        device=torch.device(device) if device is not None else torch.device("cpu"),
    )


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
class BatchResult:
    loss: torch.Tensor  # [K]
    correct: torch.Tensor  # [K] number of correct predictions
    grad_w_in: torch.Tensor | None = None
    grad_w_out: torch.Tensor | None = None


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
        grad.scatter_(0, peak_step.unsqueeze(0), ((log_prob.exp() - one_hot) / batch_size).unsqueeze(0))
    else:
        log_prob = torch.log_softmax(voltage_out[1:], dim=-1)  # [T, K, B, O]
        n_steps = log_prob.shape[0]
        label_index = labels.expand(n_steps, *labels.shape).unsqueeze(-1)  # [T, K, B, 1]
        loss = -log_prob.gather(-1, label_index).squeeze(-1).mean(dim=(0, 2))
        step_grad = torch.exp(log_prob, out=grad[1:])  # the softmax, in place
        step_grad.sub_(one_hot).mul_(1.0 / (batch_size * n_steps))
    predictions = torch.as_tensor(predict(voltage_out.detach().cpu().numpy(), readout), device=labels.device)
    return loss, predictions, grad


def score_readout(voltage_out: torch.Tensor, labels: torch.Tensor, readout: str) -> tuple[BatchResult, torch.Tensor]:
    """The BatchResult (loss, correct; no gradients yet) of readout traces U, and ∂loss/∂U."""
    loss, predictions, grad = readout_loss(voltage_out, labels, readout)
    return BatchResult(loss=loss, correct=(predictions == labels).sum(-1)), grad


def dale_bound_(w_in: torch.Tensor, w_out: torch.Tensor, out_sign: torch.Tensor, constrained: torch.Tensor) -> None:
    """Set every weight that crossed its sign to 0, in constrained networks only.

    `out_sign` [K, H, 1] is +1 for excitatory and -1 for inhibitory rows of W_out; `constrained`
    [K, 1, 1] is False for unconstrained networks. Inputs are all excitatory, so W_in ≥ 0.
    """
    w_in.masked_fill_((w_in < 0) & constrained, 0.0)
    w_out.masked_fill_((w_out * out_sign < 0) & constrained, 0.0)
