"""An independent, deliberately plain implementation of the network for the tests.

Dense input, one network, a Python loop over time and PyTorch autograd with the surrogate as a
custom autograd function, written the way the reference tutorial (SpyTorch) writes it. The
engine's event-driven, hand-differentiated ensemble code is checked against this.
"""

import torch


class SurrogateSpike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, membrane_minus_threshold, scale, kind):
        ctx.save_for_backward(membrane_minus_threshold)
        ctx.scale, ctx.kind = scale, kind
        return (membrane_minus_threshold > 0).to(membrane_minus_threshold.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        if ctx.kind == "fast_sigmoid":
            slope = 1.0 / (ctx.scale * x.abs() + 1.0) ** 2
        else:
            slope = torch.exp(-ctx.scale * x.abs())
        return grad_output * slope, None, None


def reference_forward(w_in, w_out, dense_input, alpha, beta, threshold=1.0, scale=100.0, kind="fast_sigmoid"):
    """dense_input [B, T, n_in] → (hidden spikes [B, T, H], readout voltage [B, T+1, O])."""
    batch, n_steps, _ = dense_input.shape
    n_hidden, n_out = w_out.shape
    projected = torch.einsum("bti,ih->bth", dense_input, w_in)
    syn = torch.zeros(batch, n_hidden, dtype=w_in.dtype)
    mem = torch.zeros(batch, n_hidden, dtype=w_in.dtype)
    spikes = []
    for t in range(n_steps):
        out = SurrogateSpike.apply(mem - threshold, scale, kind)
        reset = out.detach()
        new_syn = alpha * syn + projected[:, t]
        new_mem = (beta * mem + syn) * (1.0 - reset)
        spikes.append(out)
        mem, syn = new_mem, new_syn
    spikes = torch.stack(spikes, dim=1)
    drive = torch.einsum("bth,ho->bto", spikes, w_out)
    flt = torch.zeros(batch, n_out, dtype=w_in.dtype)
    out = torch.zeros(batch, n_out, dtype=w_in.dtype)
    trace = [out]
    for t in range(n_steps):
        new_flt = alpha * flt + drive[:, t]
        new_out = beta * out + flt
        flt, out = new_flt, new_out
        trace.append(out)
    return spikes, torch.stack(trace, dim=1)


def reference_loss(voltage_out, labels, readout="max"):
    if readout == "max":
        peak, _ = voltage_out.max(dim=1)
        return torch.nn.functional.nll_loss(torch.log_softmax(peak, dim=-1), labels)
    log_prob = torch.log_softmax(voltage_out[:, 1:], dim=-1)
    n_steps = log_prob.shape[1]
    return torch.stack(
        [torch.nn.functional.nll_loss(log_prob[:, t], labels) for t in range(n_steps)]
    ).mean()
