"""Compiled CPU kernels (numba) for the ensemble LIF network: forward and backward through time.

Both kernels run the samples [start, stop) of every network, one sample at a time with all T
steps in cache, and release the GIL: `eisnn.backends.compiled` cuts each batch into fixed
groups of samples and runs the groups on its threads. The input projection gathers W_in rows
at the sample's spike events (and the backward pass scatters ∂L/∂X back the same way); the
readout projection Y = S·W_out is a small dense product per sample (:func:`rows_dot`); the
backward pass runs the adjoint recursions of `eisnn.model`, the readout's first since they need
no hidden state. Kernels write into arrays the caller owns: the backward kernel adds its
group's weight gradients to them.

Equations and adjoints are documented in `eisnn.model`; the tests check these kernels against
an independent autograd implementation. README "Performance" has the profile.
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
def rows_dot(a, b, out):
    """out[i, j] = Σ_h a[i, h]·b[j, h], blocked 2 × 4 so that each load feeds several products."""
    n_i, n_h = a.shape
    n_j = b.shape[0]
    zero = np.zeros(1, out.dtype)[0]
    i_main, j_main = n_i - n_i % 2, n_j - n_j % 4
    for i in range(0, n_i, 2):
        a0, a1 = a[i], a[min(i + 1, n_i - 1)]
        for j in range(0, j_main, 4):
            b0, b1, b2, b3 = b[j], b[j + 1], b[j + 2], b[j + 3]
            c0 = c1 = c2 = c3 = d0 = d1 = d2 = d3 = zero
            for h in range(n_h):
                x, y = a0[h], a1[h]
                c0 += x * b0[h]
                c1 += x * b1[h]
                c2 += x * b2[h]
                c3 += x * b3[h]
                d0 += y * b0[h]
                d1 += y * b1[h]
                d2 += y * b2[h]
                d3 += y * b3[h]
            out[i, j], out[i, j + 1], out[i, j + 2], out[i, j + 3] = c0, c1, c2, c3
            if i < i_main:
                out[i + 1, j], out[i + 1, j + 1], out[i + 1, j + 2], out[i + 1, j + 3] = d0, d1, d2, d3
        for j in range(j_main, n_j):
            for row in range(i, min(i + 2, n_i)):
                total = zero
                for h in range(n_h):
                    total += a[row, h] * b[j, h]
                out[row, j] = total


_OPTIONS = dict(cache=True, fastmath=_FASTMATH, error_model="numpy", nogil=True)

# Below this share of hidden units firing in a step, the readout's gradient adds W_out rows of
# the units that fired; above it, a dense product over all units is cheaper.
_SPARSE_SHARE = 8


@numba.njit(**_OPTIONS)
def lif_forward(
    w_in, w_out, row_offsets, event_step, event_unit, alpha, beta, threshold, spikes, voltage, readout, start, stop,
):
    """Fill hidden spikes uint8 [K, B, T, H], voltage V[0..T-1] [K, B, T, H], readout U [K, B, T+1, O], samples [start, stop)."""
    n_networks, batch_size, n_steps, n_hidden = voltage.shape
    n_out = w_out.shape[2]
    dtype = w_in.dtype
    zero = np.zeros(1, dtype)[0]
    syn = np.empty(n_hidden, dtype)
    mem = np.empty(n_hidden, dtype)
    spike_value = np.empty((n_steps, n_hidden), dtype)
    drive = np.empty((n_steps, n_out), dtype)
    out_syn = np.empty(n_out, dtype)
    for k in range(n_networks):
        w_in_k = w_in[k]
        w_out_t = np.ascontiguousarray(w_out[k].T)
        for b in range(start, stop):
            row = k * batch_size + b
            event, last = row_offsets[row], row_offsets[row + 1]
            syn[:] = 0.0
            mem[:] = 0.0
            for t in range(n_steps):
                voltage_t, spikes_t, value_t = voltage[k, b, t], spikes[k, b, t], spike_value[t]
                for h in range(n_hidden):  # branch-free over h: vectorises
                    v = mem[h]
                    voltage_t[h] = v
                    fired = v > threshold
                    spikes_t[h] = fired
                    value_t[h] = fired
                    mem[h] = zero if fired else beta * v + syn[h]
                    syn[h] *= alpha
                while event < last and event_step[event] == t:
                    w_row = w_in_k[event_unit[event]]
                    for h in range(n_hidden):
                        syn[h] += w_row[h]
                    event += 1
            # Readout: Y = S·W_out, then U[t+1] = βU[t] + J[t], J[t+1] = αJ[t] + Y[t].
            rows_dot(spike_value, w_out_t, drive)
            trace = readout[k, b]
            trace[0] = 0.0
            out_syn[:] = 0.0
            for t in range(n_steps):
                for o in range(n_out):
                    trace[t + 1, o] = beta * trace[t, o] + out_syn[o]
                    out_syn[o] = alpha * out_syn[o] + drive[t, o]


@numba.njit(**_OPTIONS)
def _add_combination(out, coefficients, rows):
    """out += Σ_o coefficients[o]·rows[o], four rows at a time."""
    n_rows, n = rows.shape
    main = n_rows - n_rows % 4
    for o in range(0, main, 4):
        g0, g1, g2, g3 = coefficients[o], coefficients[o + 1], coefficients[o + 2], coefficients[o + 3]
        w0, w1, w2, w3 = rows[o], rows[o + 1], rows[o + 2], rows[o + 3]
        for h in range(n):
            out[h] += (g0 * w0[h] + g1 * w1[h]) + (g2 * w2[h] + g3 * w3[h])
    for o in range(main, n_rows):
        g, w = coefficients[o], rows[o]
        for h in range(n):
            out[h] += g * w[h]


@numba.njit(**_OPTIONS)
def lif_backward(
    w_in, w_out, row_offsets, event_step, event_unit, spikes, voltage, grad_readout,
    alpha, beta, threshold, surrogate, surrogate_scale, grad_w_in, grad_w_out, start, stop,
):
    """Add ∂L/∂W_in [K, n_in, H] and ∂L/∂W_out [K, H, O] of samples [start, stop) from ∂L/∂U [K, B, T+1, O].

    `surrogate` is a :func:`eisnn.surrogates.kernel_code`.
    """
    n_networks, _, n_hidden = w_in.shape
    n_out = w_out.shape[2]
    batch_size, n_steps = spikes.shape[1], spikes.shape[2]
    dtype = w_in.dtype
    zero, one = np.zeros(1, dtype)[0], np.ones(1, dtype)[0]
    adj_mem = np.empty(n_hidden, dtype)  # λV[t+1]
    adj_syn = np.empty(n_hidden, dtype)  # λI[t+1] = ∂L/∂X[t]
    grad_spike = np.empty(n_hidden, dtype)  # G[t]
    spike_value = np.empty(n_hidden, dtype)
    slope = np.empty(n_hidden, dtype)
    grad_drive = np.empty((n_steps, n_out), dtype)  # ∂L/∂Y[t] = Λ_J[t+1]
    adj_out_mem = np.empty(n_out, dtype)  # Λ_U[t+1]
    adj_out_syn = np.empty(n_out, dtype)  # Λ_J[t+1]
    grad_w_out_t = np.empty((n_out, n_hidden), dtype)
    for k in range(n_networks):
        grad_w_in_k, grad_w_out_k = grad_w_in[k], grad_w_out[k]
        w_out_t = np.ascontiguousarray(w_out[k].T)
        grad_w_out_t[:] = 0.0
        for b in range(start, stop):
            row = k * batch_size + b
            first, event = row_offsets[row], row_offsets[row + 1] - 1
            # The readout's adjoints need no hidden state: Λ_J[t] = Λ_U[t+1] + αΛ_J[t+1],
            # Λ_U[t] = ∂L/∂U[t] + βΛ_U[t+1], from Λ_J[T] = 0, Λ_U[T] = ∂L/∂U[T].
            upstream = grad_readout[k, b]
            adj_out_syn[:] = 0.0
            adj_out_mem[:] = upstream[n_steps]
            for t in range(n_steps - 1, -1, -1):
                for o in range(n_out):
                    grad_drive[t, o] = adj_out_syn[o]
                    adj_out_syn[o] = adj_out_mem[o] + alpha * adj_out_syn[o]
                    adj_out_mem[o] = upstream[t, o] + beta * adj_out_mem[o]
            adj_mem[:] = 0.0
            adj_syn[:] = 0.0
            # At the start of step t: adj_mem = λV[t+1], adj_syn = λI[t+1] = ∂L/∂X[t].
            for t in range(n_steps - 1, -1, -1):
                while event >= first and event_step[event] == t:
                    grad_row = grad_w_in_k[event_unit[event]]
                    for h in range(n_hidden):
                        grad_row[h] += adj_syn[h]
                    event -= 1
                spikes_t, g_t = spikes[k, b, t], grad_drive[t]
                n_spikes = 0
                for h in range(n_hidden):
                    spike_value[h] = spikes_t[h]
                    n_spikes += spikes_t[h]
                    grad_spike[h] = zero
                # G[t] = ∂L/∂Y[t]·W_outᵀ; ∂L/∂W_out += S[t]ᵀ·∂L/∂Y[t].
                _add_combination(grad_spike, g_t, w_out_t)
                if n_spikes * _SPARSE_SHARE > n_hidden:
                    for o in range(n_out):
                        g, accumulated = g_t[o], grad_w_out_t[o]
                        for h in range(n_hidden):
                            accumulated[h] += g * spike_value[h]
                elif n_spikes:
                    for h in range(n_hidden):
                        if spikes_t[h]:
                            grad_row = grad_w_out_k[h]
                            for o in range(n_out):
                                grad_row[o] += g_t[o]
                surrogates.fill_slopes(surrogate, slope, voltage[k, b, t], threshold, surrogate_scale, one)
                for h in range(n_hidden):
                    carried = zero if spikes_t[h] else adj_mem[h]
                    adj_syn[h] = alpha * adj_syn[h] + carried
                    adj_mem[h] = grad_spike[h] * slope[h] + beta * carried
        grad_w_out_k += grad_w_out_t.T
