"""The surrogate derivatives ∂S/∂V that stand in for the Heaviside's derivative in the backward pass.

Each surrogate is written once, as one function of x = scale·|V − θ| in plain arithmetic, and
serves both backends: the compiled backend's kernel has numba compile it in
(:mod:`eisnn.kernels`), the torch backend applies it to tensors
(:mod:`eisnn.backends.torch_ops`). ``one`` is the number 1 in the caller's precision (a float32
kernel must not be promoted to float64 by a literal).

- ``fast_sigmoid``: 1 / (x + 1)², the fast sigmoid of the reference tutorial (SpyTorch).
- ``exponential``: exp(−x), the exponential surrogate of the paper (§4.1).

:data:`REGISTRY` is the one table from the names of :data:`eisnn.params.SURROGATES` to the
formulas. A numba kernel cannot take a Python function as an argument without losing its disk
cache, so it selects the surrogate at run time by a small integer instead: :func:`kernel_code`
gives it and :func:`fill_slopes` evaluates it; those codes exist only in this module.

Numba's disk cache tracks a kernel's own source file only: after editing a formula here, touch
``src/eisnn/kernels.py`` so that the kernel is recompiled (tests/test_model.py checks that both
backends agree, which a stale kernel would not).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def exp(x):
    """e**x of a tensor, an array or a number; numba compiles it as ``np.exp`` (:mod:`eisnn.kernels`)."""
    return x.exp() if hasattr(x, "exp") else np.exp(x)


def fast_sigmoid(x, one):
    shifted = x + one
    return one / (shifted * shifted)


def exponential(x, one):
    return exp(-x)


REGISTRY: dict[str, Callable] = {"fast_sigmoid": fast_sigmoid, "exponential": exponential}


def formula(name: str) -> Callable:
    """The surrogate ``name`` as a function of (x = scale·|V − θ|, one)."""
    if name not in REGISTRY:
        raise ValueError(f"surrogate {name!r} is not one of {tuple(REGISTRY)}")
    return REGISTRY[name]


def kernel_code(name: str) -> int:
    """The run-time selector of surrogate ``name`` for :func:`fill_slopes` (its place in :data:`REGISTRY`)."""
    formula(name)
    return list(REGISTRY).index(name)


def fill_slopes(code, out, voltage, threshold, scale, one):
    """out[h] = the surrogate of selector ``code`` (:func:`kernel_code`) at scale·|voltage[h] − θ|.

    The compiled kernel's inner loop over the hidden units; the choice is made once, outside
    the loop, so that each loop vectorises.
    """
    if code == 0:
        _fill(fast_sigmoid, out, voltage, threshold, scale, one)
    else:
        _fill(exponential, out, voltage, threshold, scale, one)


def _fill(surrogate, out, voltage, threshold, scale, one):
    for h in range(out.shape[0]):
        out[h] = surrogate(abs(voltage[h] - threshold) * scale, one)


JITTABLE = (*REGISTRY.values(), fill_slopes, _fill)
"""What the compiled kernel calls (:mod:`eisnn.kernels` registers these with numba)."""
