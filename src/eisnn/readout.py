"""The readout's decision rule: which class a network predicts from its output membrane traces.

The one owner of the rule, used by training (accuracy in ``history.csv``), the metrics, the
figures and the exports. The output layer never spikes; its membrane trace U[0..T] (U[0] = 0)
is the network's output (paper §4.1).

- ``max``: the class whose trace reaches the highest value, argmax_c max_t U[t, c] (the
  max-over-time loss takes the softmax of these peaks).
- ``per_step``: the class with the highest mean log-probability over the steps t = 1..T, where
  the per-step loss takes a softmax of U[t] at every step. Since log_softmax(U[t])_c =
  U[t, c] - logsumexp(U[t]) and the second term is the same for every class, this is
  argmax_c Σ_{t≥1} U[t, c], computed in float64.

Ties go to the lowest class index (numpy's argmax).
"""

from __future__ import annotations

import numpy as np

from .params import READOUTS


def predict(readout_trace, readout: str, time_axis: int = 0) -> np.ndarray:
    """Predicted class per sample from traces U with time on ``time_axis`` and classes last.

    ``readout_trace`` is any array-like of shape [..., T+1, ..., O] including U[0]; the result
    has the trace's shape without the time and class axes (int64).
    """
    if readout not in READOUTS:
        raise ValueError(f"readout {readout!r} is not one of {READOUTS}")
    trace = np.asarray(readout_trace)
    time_axis = time_axis % trace.ndim
    if time_axis == trace.ndim - 1:
        raise ValueError("the class axis must be the last axis, not the time axis")
    if readout == "max":
        score = trace.max(axis=time_axis)
    else:
        steps = np.moveaxis(trace, time_axis, 0)[1:]
        score = steps.sum(axis=0, dtype=np.float64)
    return score.argmax(axis=-1).astype(np.int64)
