"""Compiled CPU kernels (numba) for the ensemble LIF network: forward and backward through time.

Both kernels run the samples [start, stop) of every network, one sample at a time with all T
steps in cache, and release the GIL: `eisnn.backends.compiled` cuts each batch into fixed
groups of samples and runs the groups on its threads. The input projection gathers W_in rows
at the sample's spike events, four rows per pass over the synaptic currents; the readout
projection Y = S·W_out is a small dense product per sample (:func:`rows_dot`); the readout's loss
and ∂L/∂U are computed per sample while its trace is in cache (:func:`_sample_loss`), and the
forward kernel keeps only the hidden state its caller needs. The backward pass
runs the adjoint recursions of `eisnn.model`: the readout's first (they need no hidden state),
then the whole-sample products G = ∂L/∂Y·W_outᵀ and ∂L/∂W_out = Sᵀ·∂L/∂Y (:func:`combine_rows`)
and the surrogate slopes of all T·H voltages, so that the recursion over t is elementwise; it
keeps ∂L/∂X[t] for every step, and each input unit's W_in-gradient row then gets the sum over
that unit's events in one pass (events sorted by unit), instead of one read-modify-write of a
row per event. Kernels write into arrays the caller owns: the backward kernel adds its group's
weight gradients to them, and overwrites the voltages it was given.

The inner loops index from 0: numba wraps negative indices, so LLVM vectorises a loop only where
it can prove the index non-negative (a loop over range(h0, h1) with h0 an argument measured 4×
slower).

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


@numba.njit(inline="always", **_OPTIONS)
def _add_indexed_rows(out, table, indices, start, stop):
    """out += Σ_{e in [start, stop)} table[indices[e]], four rows per pass over ``out``."""
    n = out.shape[0]
    e = start
    while e + 4 <= stop:
        r0, r1 = table[indices[e]], table[indices[e + 1]]
        r2, r3 = table[indices[e + 2]], table[indices[e + 3]]
        for h in range(n):
            out[h] += (r0[h] + r1[h]) + (r2[h] + r3[h])
        e += 4
    while e < stop:
        r0 = table[indices[e]]
        for h in range(n):
            out[h] += r0[h]
        e += 1


@numba.njit(inline="always", **_OPTIONS)
def _sample_loss(trace, label, per_step, scale, grad):
    """``scale`` times the NLL of one sample's readout trace U [T+1, O], and its gradient ∂/∂U into
    ``grad`` [T+1, O]: the kernel's form of `eisnn.backends.common.readout_loss` (``per_step``:
    the mean over t ≥ 1 of the NLL of softmax(U[t]); else the NLL of the softmax of the peaks
    max_t U[t], whose gradient goes to each class's first peak step). Any non-finite value in U
    makes the loss NaN: the network diverged."""
    n_rows, n_out = trace.shape
    zero = np.zeros(1, trace.dtype)[0]
    grad[:] = 0.0
    poison = zero  # stays 0 unless U holds a NaN or an infinity
    if per_step:
        n_steps = np.empty(1, trace.dtype)
        n_steps[0] = n_rows - 1  # in U's precision: a float32 loss stays float32
        step_scale = scale / n_steps[0]
        total = zero
        for t in range(1, n_rows):
            row, grad_t = trace[t], grad[t]
            peak = row[0]
            for o in range(n_out):
                peak = max(peak, row[o])
                poison += row[o] * zero
            sum_exp = zero
            for o in range(n_out):
                grad_t[o] = np.exp(row[o] - peak)
                sum_exp += grad_t[o]
            total += (peak - row[label]) + np.log(sum_exp)  # the scale of U cancels before the log is added
            for o in range(n_out):
                grad_t[o] *= step_scale / sum_exp
            grad_t[label] -= step_scale
        return total * step_scale + poison
    peaks = np.empty(n_out, trace.dtype)
    peak_steps = np.zeros(n_out, np.int64)
    for o in range(n_out):
        peaks[o] = trace[0, o]
    for t in range(n_rows):
        for o in range(n_out):
            value = trace[t, o]
            poison += value * zero
            if value > peaks[o]:
                peaks[o], peak_steps[o] = value, t
    highest = peaks.max()
    sum_exp = zero
    for o in range(n_out):
        sum_exp += np.exp(peaks[o] - highest)
    for o in range(n_out):
        grad[peak_steps[o], o] = scale * np.exp(peaks[o] - highest) / sum_exp
    grad[peak_steps[label], label] -= scale
    return scale * ((highest - peaks[label]) + np.log(sum_exp)) + poison


SPIKES, EVALUATE, TRAIN = 0, 1, 2
"""The modes of :func:`lif_forward`: what it keeps of the hidden layer and whether it scores the readout."""


@numba.njit(**_OPTIONS)
def lif_forward(
    w_in, w_out, row_offsets, event_step, event_unit, labels, alpha, beta, threshold, per_step, mode,
    spikes, voltage, readout, sample_loss, grad_readout, start, stop,
):
    """The forward pass of samples [start, stop): the readout U [T+1, K, B, O], and by ``mode``

    - SPIKES: the hidden spikes uint8 [K, B, T, H] (analysis);
    - EVALUATE: each sample's share of its network's batch-mean loss ``sample_loss`` [K, B];
    - TRAIN: that, ∂L/∂U [K, B, T+1, O] (``grad_readout``), and the hidden spikes and voltages
      V[0..T-1] [K, B, T, H] that :func:`lif_backward` needs.

    Hidden state that is not kept goes to one sample's scratch rows, which stay in cache (an SHD
    batch's voltages are 41 MB). The loss is :func:`_sample_loss` (``per_step`` selects it),
    computed while the sample's trace is in cache. The readout is time-major, the layout in which
    the predictions reduce over time."""
    n_networks, n_hidden = w_in.shape[0], w_in.shape[2]
    n_steps, batch_size, n_out = readout.shape[0] - 1, readout.shape[2], w_out.shape[2]
    dtype = w_in.dtype
    zero = np.zeros(1, dtype)[0]
    batch_count = np.empty(1, dtype)
    batch_count[0] = batch_size
    inverse_batch = np.ones(1, dtype)[0] / batch_count[0]  # 1/B in the weights' precision
    syn = np.empty(n_hidden, dtype)
    mem = np.empty(n_hidden, dtype)
    spike_value = np.empty((n_steps, n_hidden), dtype)
    scratch_voltage = np.empty((n_steps, n_hidden), dtype)
    scratch_spikes = np.empty((n_steps, n_hidden), np.uint8)
    scratch_grad = np.empty((n_steps + 1, n_out), dtype)
    drive = np.empty((n_steps, n_out), dtype)
    out_syn = np.empty(n_out, dtype)
    for k in range(n_networks):
        w_in_k = w_in[k]
        w_out_t = np.ascontiguousarray(w_out[k].T)
        for b in range(start, stop):
            row = k * batch_size + b
            event, last = row_offsets[row], row_offsets[row + 1]
            voltage_b = voltage[k, b] if mode == TRAIN else scratch_voltage
            spikes_b = scratch_spikes if mode == EVALUATE else spikes[k, b]
            syn[:] = 0.0
            mem[:] = 0.0
            for t in range(n_steps):
                voltage_t, spikes_t, value_t = voltage_b[t], spikes_b[t], spike_value[t]
                for h in range(n_hidden):  # branch-free over h: vectorises
                    v = mem[h]
                    voltage_t[h] = v
                    fired = v > threshold
                    spikes_t[h] = fired
                    value_t[h] = fired
                    mem[h] = zero if fired else beta * v + syn[h]
                    syn[h] *= alpha
                end = event
                while end < last and event_step[end] == t:
                    end += 1
                _add_indexed_rows(syn, w_in_k, event_unit, event, end)
                event = end
            # Readout: Y = S·W_out, then U[t+1] = βU[t] + J[t], J[t+1] = αJ[t] + Y[t].
            rows_dot(spike_value, w_out_t, drive)
            trace = readout[:, k, b]
            trace[0] = 0.0
            out_syn[:] = 0.0
            for t in range(n_steps):
                for o in range(n_out):
                    trace[t + 1, o] = beta * trace[t, o] + out_syn[o]
                    out_syn[o] = alpha * out_syn[o] + drive[t, o]
            if mode != SPIKES:
                grad_b = grad_readout[k, b] if mode == TRAIN else scratch_grad
                sample_loss[k, b] = _sample_loss(trace, labels[k, b], per_step, inverse_batch, grad_b)


@numba.njit(**_OPTIONS)
def _add_combination(out, coefficients, rows):
    """out += Σ_j coefficients[j]·rows[j], four rows at a time."""
    n_rows, n = rows.shape
    main = n_rows - n_rows % 4
    for j in range(0, main, 4):
        g0, g1, g2, g3 = coefficients[j], coefficients[j + 1], coefficients[j + 2], coefficients[j + 3]
        w0, w1, w2, w3 = rows[j], rows[j + 1], rows[j + 2], rows[j + 3]
        for h in range(n):
            out[h] += (g0 * w0[h] + g1 * w1[h]) + (g2 * w2[h] + g3 * w3[h])
    for j in range(main, n_rows):
        g, w = coefficients[j], rows[j]
        for h in range(n):
            out[h] += g * w[h]


@numba.njit(**_OPTIONS)
def combine_rows(out, coefficients, rows):
    """out[i] += Σ_j coefficients[i, j]·rows[j] for every i: two outputs by four rows at a time,
    so that each row loaded feeds eight products. ``rows`` may be uint8 (spikes)."""
    n_i, n_j = coefficients.shape
    n = rows.shape[1]
    i_main, j_main = n_i - n_i % 2, n_j - n_j % 4
    for i in range(0, i_main, 2):
        out0, out1, c0, c1 = out[i], out[i + 1], coefficients[i], coefficients[i + 1]
        for j in range(0, j_main, 4):
            w0, w1, w2, w3 = rows[j], rows[j + 1], rows[j + 2], rows[j + 3]
            a0, a1, a2, a3 = c0[j], c0[j + 1], c0[j + 2], c0[j + 3]
            b0, b1, b2, b3 = c1[j], c1[j + 1], c1[j + 2], c1[j + 3]
            for h in range(n):
                x0, x1, x2, x3 = w0[h], w1[h], w2[h], w3[h]
                out0[h] += (a0 * x0 + a1 * x1) + (a2 * x2 + a3 * x3)
                out1[h] += (b0 * x0 + b1 * x1) + (b2 * x2 + b3 * x3)
        for j in range(j_main, n_j):
            w, a, b = rows[j], c0[j], c1[j]
            for h in range(n):
                out0[h] += a * w[h]
                out1[h] += b * w[h]
    for i in range(i_main, n_i):
        _add_combination(out[i], coefficients[i], rows)


@numba.njit(**_OPTIONS)
def lif_backward(
    w_in, w_out, row_offsets, event_step, event_unit, spikes, voltage, grad_readout,
    alpha, beta, threshold, surrogate, surrogate_scale, grad_w_in, grad_w_out, start, stop,
):
    """Add ∂L/∂W_in [K, n_in, H] and ∂L/∂W_out [K, H, O] of samples [start, stop) from ∂L/∂U [K, B, T+1, O].

    ∂L/∂U is sample-major (each sample's T+1 rows contiguous): the readout's adjoints run one
    sample at a time (read time-major, an SHD batch took 4 ms longer).

    Per sample: the readout's adjoints (no hidden state needed), then ∂L/∂W_out = Sᵀ·∂L/∂Y and
    G = ∂L/∂Y·W_outᵀ as whole-sample products (:func:`combine_rows`) and the surrogate slopes
    of all T·H voltages in one loop; the backward recursion over t is then elementwise and keeps
    ∂L/∂X[t] in place of V[t] (the voltages are read once, by the slopes, and overwritten). Last,
    the sample's events sorted by input unit (a counting sort): each unit's W_in-gradient row is
    written once, with the sum of ∂L/∂X at its events, four rows per pass.
    `surrogate` is a :func:`eisnn.surrogates.kernel_code`.
    """
    n_networks, n_in, n_hidden = w_in.shape
    n_out = w_out.shape[2]
    batch_size, n_steps = spikes.shape[1], spikes.shape[2]
    dtype = w_in.dtype
    zero, one = np.zeros(1, dtype)[0], np.ones(1, dtype)[0]
    adj_mem = np.empty(n_hidden, dtype)  # λV[t+1]
    adj_syn = np.empty(n_hidden, dtype)  # λI[t+1] = ∂L/∂X[t]
    grad_spike = np.empty((n_steps, n_hidden), dtype)  # G[t]
    slope = np.empty((n_steps, n_hidden), dtype)  # ∂S/∂V[t] (surrogate)
    grad_drive = np.empty((n_steps, n_out), dtype)  # ∂L/∂Y[t] = Λ_J[t+1]
    grad_drive_t = np.empty((n_out, n_steps), dtype)
    adj_out_mem = np.empty(n_out, dtype)  # Λ_U[t+1]
    adj_out_syn = np.empty(n_out, dtype)  # Λ_J[t+1]
    grad_w_out_t = np.empty((n_out, n_hidden), dtype)
    unit_end = np.empty(n_in + 1, np.int64)  # the counting sort's bucket bounds
    most_events = 0
    for k in range(n_networks):
        for b in range(start, stop):
            row = k * batch_size + b
            most_events = max(most_events, row_offsets[row + 1] - row_offsets[row])
    step_by_unit = np.empty(most_events, np.int64)
    n_values = n_steps * n_hidden
    for k in range(n_networks):
        grad_w_in_k, grad_w_out_k = grad_w_in[k], grad_w_out[k]
        w_out_t = np.ascontiguousarray(w_out[k].T)
        grad_w_out_t[:] = 0.0
        for b in range(start, stop):
            # The readout's adjoints: Λ_J[t] = Λ_U[t+1] + αΛ_J[t+1], Λ_U[t] = ∂L/∂U[t] + βΛ_U[t+1],
            # from Λ_J[T] = 0, Λ_U[T] = ∂L/∂U[T].
            upstream = grad_readout[k, b]
            adj_out_syn[:] = 0.0
            adj_out_mem[:] = upstream[n_steps]
            for t in range(n_steps - 1, -1, -1):
                for o in range(n_out):
                    grad_drive[t, o] = adj_out_syn[o]
                    grad_drive_t[o, t] = adj_out_syn[o]
                    adj_out_syn[o] = adj_out_mem[o] + alpha * adj_out_syn[o]
                    adj_out_mem[o] = upstream[t, o] + beta * adj_out_mem[o]
            spikes_b, voltage_b = spikes[k, b], voltage[k, b]
            combine_rows(grad_w_out_t, grad_drive_t, spikes_b)  # ∂L/∂W_outᵀ += ∂L/∂Yᵀ·S
            grad_spike[:] = 0.0
            combine_rows(grad_spike, grad_drive, w_out_t)  # G = ∂L/∂Y·W_outᵀ
            surrogates.fill_slopes(
                surrogate, slope.reshape(n_values), voltage_b.reshape(n_values), threshold, surrogate_scale, one
            )
            grad_input = voltage_b  # from here on, row t holds ∂L/∂X[t]
            adj_mem[:] = 0.0
            adj_syn[:] = 0.0
            # At the start of step t: adj_mem = λV[t+1], adj_syn = λI[t+1] = ∂L/∂X[t].
            for t in range(n_steps - 1, -1, -1):
                spikes_t, grad_spike_t, slope_t, grad_input_t = spikes_b[t], grad_spike[t], slope[t], grad_input[t]
                for h in range(n_hidden):
                    grad_input_t[h] = adj_syn[h]
                    carried = zero if spikes_t[h] else adj_mem[h]
                    adj_syn[h] = alpha * adj_syn[h] + carried
                    adj_mem[h] = grad_spike_t[h] * slope_t[h] + beta * carried
            # ∂L/∂W_in[u] += Σ over the events (t, u) of ∂L/∂X[t], by unit.
            row = k * batch_size + b
            first, last = row_offsets[row], row_offsets[row + 1]
            unit_end[:] = 0
            for event in range(first, last):
                unit_end[event_unit[event] + 1] += 1
            for unit in range(n_in):
                unit_end[unit + 1] += unit_end[unit]
            for event in range(first, last):
                unit = event_unit[event]
                step_by_unit[unit_end[unit]] = event_step[event]
                unit_end[unit] += 1
            begin = 0
            for unit in range(n_in):
                if unit_end[unit] > begin:
                    _add_indexed_rows(grad_w_in_k[unit], grad_input, step_by_unit, begin, unit_end[unit])
                    begin = unit_end[unit]
        grad_w_out_k += grad_w_out_t.T
