"""The simulation backends, the interface they share, and the one place that picks one.

A backend is a module with the two functions of :class:`Backend`:

- ``compiled`` (:mod:`eisnn.backends.compiled`): the numba loops of :mod:`eisnn.kernels`, CPU only.
- ``torch`` (:mod:`eisnn.backends.torch_ops`): per-step tensor ops, on any device.

Imports flow one way: `eisnn.model` → this package → each backend → `eisnn.backends.common`
(what both share) and `eisnn.surrogates`. A backend module is imported on first use, so that
importing the simulation API does not import numba.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

import torch

if TYPE_CHECKING:
    from ..params import ModelConfig
    from .common import BatchResult, InputBatch

BACKENDS = ("auto", "compiled", "torch")


@runtime_checkable
class Backend(Protocol):
    """What every backend module provides (weights [K, n_in, H] and [K, H, O] on one device)."""

    def forward(
        self, w_in: torch.Tensor, w_out: torch.Tensor, batch: InputBatch, config: ModelConfig
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Hidden spikes bool [T, K, B, H] and readout voltage U [T+1, K, B, O]."""

    def forward_backward(
        self, w_in: torch.Tensor, w_out: torch.Tensor, batch: InputBatch, config: ModelConfig, compute_gradients: bool
    ) -> BatchResult:
        """Loss, correct predictions and, if asked, the exact surrogate gradients of W_in and W_out."""


def resolve_backend(backend: str, device) -> str:
    """`compiled` (numba loops) on the CPU, `torch` (per-step tensor ops) on accelerators."""
    if backend not in BACKENDS:
        raise ValueError(f"backend {backend!r} is not one of {BACKENDS}")
    on_cpu = torch.device(device).type == "cpu"
    if backend == "auto":
        return "compiled" if on_cpu else "torch"
    if backend == "compiled" and not on_cpu:
        raise ValueError("the compiled backend runs on the CPU only")
    return backend


def set_cpu_threads(threads: int, device) -> None:
    """Give `threads` CPU threads to work on `device`, as training does.

    On the CPU (the compiled backend) the kernels get them and torch gets one: torch runs only
    small ops between the kernels, and its OpenMP threads, which spin for a while after each op,
    took cores from the kernel threads (Fashion-MNIST on 2 threads: 730–790 network-epochs/h
    with torch on 2 threads, 870–950 with torch on 1; README "Performance"). Elsewhere torch
    gets them.
    """
    if resolve_backend("auto", device) == "compiled":
        from . import compiled

        compiled.set_threads(threads)
        torch.set_num_threads(1)
    else:
        torch.set_num_threads(threads)


def backend_for(backend: str, device) -> Backend:
    """The backend module that `backend` ("auto", "compiled" or "torch") names for tensors on `device`."""
    if resolve_backend(backend, device) == "compiled":
        from . import compiled as chosen
    else:
        from . import torch_ops as chosen
    return chosen
