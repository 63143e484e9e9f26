"""Compiled CPU kernels (numba) for the ensemble LIF network: forward and backward through time.

One sample of one network at a time, all T steps in cache: the input projection is a gather of
W_in rows at the sample's spike events, the readout projection adds a W_out row per hidden
spike (spikes only), and the backward pass runs the adjoint recursions of `eisnn.model` in the
same loop. Equations and adjoints are documented in `eisnn.model`; the glue that calls these
kernels is `eisnn.backends.compiled`; the tests check them against an independent autograd
implementation.
"""

from __future__ import annotations

import numba
import numpy as np
from numba.extending import overload, register_jitable

from . import surrogates

# Reassociation and contraction let LLVM vectorise; no-NaN/no-inf flags are left out so that a
# diverging network still produces the non-finite values that mark it diverged.
_FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}

# The surrogate formulas are plain Python (eisnn.surrogates): numba inlines them into the
# backward kernel, where the kernel's fastmath flags apply to them.
for _function in surrogates.JITTABLE:
    register_jitable(inline="always", fastmath=_FASTMATH, error_model="numpy")(_function)


@overload(surrogates.exp, inline="always")
def _exp(x):
    return lambda x: np.exp(x)


@numba.njit(cache=True, fastmath=_FASTMATH, error_model="numpy")
def lif_forward(w_in, w_out, row_offsets, event_step, event_unit, batch_size, n_steps, alpha, beta, threshold):
    """Hidden spikes uint8 [K, B, T, H], voltage V[0..T-1] [K, B, T, H], readout U [K, B, T+1, O]."""
    n_networks, _, n_hidden = w_in.shape
    n_out = w_out.shape[2]
    dtype = w_in.dtype
    spikes = np.zeros((n_networks, batch_size, n_steps, n_hidden), np.uint8)
    voltage = np.empty((n_networks, batch_size, n_steps, n_hidden), dtype)
    readout = np.zeros((n_networks, batch_size, n_steps + 1, n_out), dtype)
    zero = np.zeros(1, dtype)[0]
    syn = np.empty(n_hidden, dtype)
    mem = np.empty(n_hidden, dtype)
    drive = np.empty(n_out, dtype)
    out_syn = np.empty(n_out, dtype)
    for k in range(n_networks):
        for b in range(batch_size):
            row = k * batch_size + b
            event, last = row_offsets[row], row_offsets[row + 1]
            syn[:] = 0.0
            mem[:] = 0.0
            out_syn[:] = 0.0
            for t in range(n_steps):
                # Branch-free over h (vectorises); the readout adds W_out rows for spikes only.
                n_spikes = 0
                for h in range(n_hidden):
                    v = mem[h]
                    voltage[k, b, t, h] = v
                    fired = v > threshold
                    spikes[k, b, t, h] = fired
                    n_spikes += fired
                    mem[h] = zero if fired else beta * v + syn[h]
                    syn[h] *= alpha
                drive[:] = 0.0
                if n_spikes:
                    for h in range(n_hidden):
                        if spikes[k, b, t, h]:
                            for o in range(n_out):
                                drive[o] += w_out[k, h, o]
                while event < last and event_step[event] == t:
                    unit = event_unit[event]
                    for h in range(n_hidden):
                        syn[h] += w_in[k, unit, h]
                    event += 1
                # Readout: U[t+1] = βU[t] + J[t], then J[t+1] = αJ[t] + Y[t].
                for o in range(n_out):
                    readout[k, b, t + 1, o] = beta * readout[k, b, t, o] + out_syn[o]
                    out_syn[o] = alpha * out_syn[o] + drive[o]
    return spikes, voltage, readout


@numba.njit(cache=True, fastmath=_FASTMATH, error_model="numpy")
def lif_backward(
    w_in, w_out, row_offsets, event_step, event_unit, spikes, voltage, grad_readout,
    alpha, beta, threshold, surrogate, surrogate_scale,
):
    """∂L/∂W_in [K, n_in, H], ∂L/∂W_out [K, H, O] from ∂L/∂U [K, B, T+1, O] (`surrogate`: a kernel_code)."""
    n_networks, n_in, n_hidden = w_in.shape
    n_out = w_out.shape[2]
    batch_size, n_steps = spikes.shape[1], spikes.shape[2]
    dtype = w_in.dtype
    grad_w_in = np.zeros((n_networks, n_in, n_hidden), dtype)
    grad_w_out = np.zeros((n_networks, n_hidden, n_out), dtype)
    w_out_t = np.empty((n_out, n_hidden), dtype)
    adj_mem = np.empty(n_hidden, dtype)  # λV[t+1]
    adj_syn = np.empty(n_hidden, dtype)  # λI[t+1] = ∂L/∂X[t]
    grad_spike = np.empty(n_hidden, dtype)
    slope = np.empty(n_hidden, dtype)
    zero, one = np.zeros(1, dtype)[0], np.ones(1, dtype)[0]
    adj_out_mem = np.empty(n_out, dtype)  # Λ_U[t+1]
    adj_out_syn = np.empty(n_out, dtype)  # Λ_J[t+1] = ∂L/∂Y[t]
    for k in range(n_networks):
        for o in range(n_out):
            for h in range(n_hidden):
                w_out_t[o, h] = w_out[k, h, o]
        for b in range(batch_size):
            row = k * batch_size + b
            first, event = row_offsets[row], row_offsets[row + 1] - 1
            adj_mem[:] = 0.0
            adj_syn[:] = 0.0
            adj_out_syn[:] = 0.0
            for o in range(n_out):
                adj_out_mem[o] = grad_readout[k, b, n_steps, o]
            # At the start of step t: adj_mem = λV[t+1], adj_syn = λI[t+1] = ∂L/∂X[t],
            # adj_out_mem = Λ_U[t+1], adj_out_syn = Λ_J[t+1] = ∂L/∂Y[t].
            for t in range(n_steps - 1, -1, -1):
                while event >= first and event_step[event] == t:
                    unit = event_unit[event]
                    for h in range(n_hidden):
                        grad_w_in[k, unit, h] += adj_syn[h]
                    event -= 1
                grad_spike[:] = 0.0
                for o in range(n_out):
                    g = adj_out_syn[o]
                    for h in range(n_hidden):
                        grad_spike[h] += g * w_out_t[o, h]
                surrogates.fill_slopes(surrogate, slope, voltage[k, b, t], threshold, surrogate_scale, one)
                n_spikes = 0
                for h in range(n_hidden):
                    fired = spikes[k, b, t, h]
                    n_spikes += fired
                    carried = zero if fired else adj_mem[h]
                    adj_syn[h] = alpha * adj_syn[h] + carried
                    adj_mem[h] = grad_spike[h] * slope[h] + beta * carried
                if n_spikes:
                    for h in range(n_hidden):
                        if spikes[k, b, t, h]:
                            for o in range(n_out):
                                grad_w_out[k, h, o] += adj_out_syn[o]
                # Λ_J[t] = Λ_U[t+1] + αΛ_J[t+1], Λ_U[t] = ∂L/∂U[t] + βΛ_U[t+1].
                for o in range(n_out):
                    adj_out_syn[o] = adj_out_mem[o] + alpha * adj_out_syn[o]
                    adj_out_mem[o] = grad_readout[k, b, t, o] + beta * adj_out_mem[o]
    return grad_w_in, grad_w_out
