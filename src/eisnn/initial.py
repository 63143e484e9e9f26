"""A run's initial network, drawn from its seed alone (paper §4.1, docs/architecture.md).

The one owner of initialisation: training (:mod:`eisnn.train`) and calibration
(:mod:`eisnn.calibration`) both build a run's first weights here, so a calibrated σ_init
gives training exactly the network that was calibrated.

- W_in = |N(0, σ_init)|, W_out = ±|N(0, σ_out)| signed by the presynaptic neuron's type, in a
  network under Dale's law (the inputs are all excitatory); signed N(0, σ) for both layers in
  an unconstrained one (ratio None).
- The first round(ratio·H) hidden neurons are excitatory.
- Each run has independent random streams (:data:`RANDOM_STREAMS`) seeded from its seed, so a
  run trained in a pack equals the same run trained alone.
"""

from __future__ import annotations

import numpy as np
import torch

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
    """(W_in [n_in, H], W_out [H, O], excitatory [H]) drawn from ``generator`` (module docstring)."""
    w_in = torch.randn(n_in, n_hidden, generator=generator) * sigma_init
    w_out = torch.randn(n_hidden, n_out, generator=generator) * sigma_out
    excitatory = excitatory_mask(n_hidden, ratio)
    if ratio is not None:
        w_in.abs_()
        sign = torch.where(torch.as_tensor(excitatory), 1.0, -1.0).unsqueeze(1)
        w_out = w_out.abs_() * sign
    return w_in, w_out, excitatory


def initial_network(
    ratio: float | None, seed: int, sigma_init: float, sigma_out: float, n_in: int, n_hidden: int, n_out: int
) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """The initial (W_in, W_out, excitatory) of the run with this ratio and seed.

    W_in scales exactly with σ_init (|x|·σ = |x·σ| in floating point, rounding being symmetric
    in sign) and W_out does not depend on it: ``initial_network(..., sigma_init=1.0, ...)``
    times σ is bit for bit the network of σ (what calibration relies on).
    """
    generator = torch.Generator().manual_seed(stream_seed(seed, "init"))
    return init_weights(n_in, n_hidden, n_out, ratio, sigma_init, sigma_out, generator)
