"""A trained network as a NIR graph (Neuromorphic Intermediate Representation, PyPI ``nir``), and back.

The graph (docs/exports.md gives the mapping and its derivation):

    input ─► w_in (Linear, W_inᵀ) ─► hidden (CubaLIF) ─► w_out (Linear, W_outᵀ) ─► readout (CubaLI) ─► output

NIR nodes are continuous-time; eisnn's equations (``eisnn.model``) are one discretisation of
them at step dt: time constants τ = -dt/ln(decay) (so exp(-dt/τ_syn) = α and exp(-dt/τ_mem) = β,
i.e. the ModelConfig's own τ in seconds), unit per-step input gains (``w_in = τ_syn/dt``,
``r = τ_mem/dt``: a simulator stepping at dt multiplies by dt/τ and gets 1), ``v_threshold`` = θ,
``v_reset`` = ``v_leak`` = 0. What NIR has no field for is kept in metadata: dt, the E/I type of
every hidden neuron, the readout's decision rule, the one-step hold of eisnn's reset and the
latency of its current. A snapshot with non-finite weights cannot be exported.

:func:`load_nir` reads a graph of exactly this shape back into a Snapshot and a ModelConfig.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Mapping

import nir
import numpy as np

from ..params import READOUTS, ModelConfig
from ..snapshot import Snapshot
from .run import ExportError, load_run_snapshot

SECONDS_PER_MS = 1e-3

NODES = ("input", "w_in", "hidden", "w_out", "readout", "output")
"""Node names of an exported graph, in signal order."""

CHAIN = (nir.Input, nir.Linear, nir.CubaLIF, nir.Linear, nir.CubaLI, nir.Output)
"""Node types along the one path from input to output that :func:`load_nir` accepts."""

FORMAT = "eisnn"
RESET_RULE = "zero-and-hold-one-step"
"""eisnn's reset: V[t+1] = (βV[t] + I[t])·(1 − S[t]), the membrane is 0 for the step after a spike."""

HIDDEN_LATENCY_STEPS = 2
"""Steps from an input spike at t to the first hidden membrane it moves, V[t+2] (docs/exports.md)."""

GAIN_TOLERANCE = 1e-6
"""Relative tolerance on the unit per-step gains and on uniform constants when reading a graph."""


@dataclass(frozen=True)
class NirNetwork:
    """A network read from a NIR graph: the weights, the neuron constants and the graph's metadata."""

    snapshot: Snapshot
    model: ModelConfig
    metadata: dict[str, Any] = field(default_factory=dict)


def _eisnn_version() -> str:
    try:
        return version("eisnn")
    except PackageNotFoundError:
        return "unknown"


def _layer_constants(model: ModelConfig, size: int) -> dict[str, np.ndarray]:
    """The continuous-time constants of one layer (float64 arrays [size]); docs/exports.md."""
    dt_s = model.dt_ms * SECONDS_PER_MS
    tau_syn_s = model.tau_syn_ms * SECONDS_PER_MS  # = -dt/ln(α) since α = exp(-dt/τ_syn)
    tau_mem_s = model.tau_mem_ms * SECONDS_PER_MS  # = -dt/ln(β)
    full = lambda value: np.full(size, value, dtype=np.float64)  # noqa: E731
    return {
        "tau_syn": full(tau_syn_s),
        "tau_mem": full(tau_mem_s),
        "r": full(tau_mem_s / dt_s),
        "v_leak": full(0.0),
        "w_in": full(tau_syn_s / dt_s),
    }


def _metadata_value(value: Any) -> Any:
    """A value NIR's HDF5 writer stores flat: numbers, strings, arrays (None and nested values as JSON)."""
    if isinstance(value, (bool, int, float, str, np.ndarray, np.generic)):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def to_nir_graph(snapshot: Snapshot, model: ModelConfig, metadata: Mapping[str, Any] | None = None) -> nir.NIRGraph:
    """The NIR graph of one snapshot (``metadata``: extra graph metadata, e.g. the run's parameters)."""
    if not snapshot.finite:
        raise ExportError(
            f"snapshot of epoch {snapshot.epoch} has non-finite weights (the run diverged): NIR cannot express NaN/inf weights"
        )
    n_in, n_hidden = snapshot.w_in.shape
    n_out = snapshot.w_out.shape[1]
    hidden_meta = {
        "excitatory": np.asarray(snapshot.excitatory, dtype=bool),
        "dale_sign": np.where(snapshot.excitatory, 1, -1).astype(np.int8) * np.int8(snapshot.constrained),
        "constrained": bool(snapshot.constrained),
        "reset_rule": RESET_RULE,
    }
    nodes = {
        "input": nir.Input(input_type={"input": np.array([n_in])}),
        "w_in": nir.Linear(weight=np.ascontiguousarray(snapshot.w_in.T, dtype=np.float32)),
        "hidden": nir.CubaLIF(
            **_layer_constants(model, n_hidden),
            v_threshold=np.full(n_hidden, float(model.threshold)),
            v_reset=np.zeros(n_hidden),
            metadata=hidden_meta,
        ),
        "w_out": nir.Linear(weight=np.ascontiguousarray(snapshot.w_out.T, dtype=np.float32)),
        "readout": nir.CubaLI(**_layer_constants(model, n_out), metadata={"decision_rule": model.readout}),
        "output": nir.Output(output_type={"output": np.array([n_out])}),
    }
    graph_meta = {
        "format": FORMAT,
        "eisnn_version": _eisnn_version(),
        "dt_s": model.dt_ms * SECONDS_PER_MS,
        "epoch": int(snapshot.epoch),
        "readout": model.readout,
        "reset_rule": RESET_RULE,
        "hidden_latency_steps": HIDDEN_LATENCY_STEPS,
        "surrogate": model.surrogate,
        "surrogate_scale": float(model.surrogate_scale),
        **{key: _metadata_value(value) for key, value in (metadata or {}).items()},
    }
    edges = list(zip(NODES[:-1], NODES[1:]))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=graph_meta)


def export_nir(
    snapshot: Snapshot, model: ModelConfig, path: str | os.PathLike, metadata: Mapping[str, Any] | None = None
) -> Path:
    """Write the NIR graph of a snapshot to ``path`` (HDF5, ``nir.write``)."""
    path = Path(path)
    graph = to_nir_graph(snapshot, model, metadata)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    nir.write(tmp, graph)
    os.replace(tmp, path)
    return path


def export_run_nir(run_dir: str | os.PathLike, path: str | os.PathLike, epoch: int | None = None) -> Path:
    """Export the snapshot of ``epoch`` (default: the last) of a run directory, with its parameters."""
    run = load_run_snapshot(run_dir, epoch)
    metadata = {"run_dir": str(run.run_dir), "run_params": run.params, "status": run.info.get("status", "")}
    return export_nir(run.snapshot, run.model, path, metadata)


# ---------------------------------------------------------------------------------------------
# Reading a graph back
# ---------------------------------------------------------------------------------------------


def _text(value: Any) -> Any:
    return value.decode("utf8") if isinstance(value, bytes) else value


def _chain(graph: nir.NIRGraph) -> list[str]:
    """Node names from the Input to the Output of a graph with one path of :data:`CHAIN`'s types."""
    expected = " → ".join(kind.__name__ for kind in CHAIN)
    bad = ExportError(f"not an eisnn network graph: expected the chain {expected}")
    inputs = [name for name, node in graph.nodes.items() if isinstance(node, nir.Input)]
    if len(inputs) != 1 or len(graph.nodes) != len(CHAIN) or len(set(graph.edges)) != len(CHAIN) - 1:
        raise bad
    successors: dict[str, list[str]] = {}
    for source, target in graph.edges:
        successors.setdefault(source, []).append(target)
    names = inputs
    while len(names) < len(CHAIN):
        following = successors.get(names[-1], [])
        if len(following) != 1 or following[0] in names:
            raise bad
        names.append(following[0])
    for name, kind in zip(names, CHAIN):
        if type(graph.nodes[name]) is not kind:
            raise ExportError(f"{bad}; node {name!r} is a {type(graph.nodes[name]).__name__}")
    return names


def _uniform(node: nir.NIRNode, name: str, attribute: str) -> float:
    values = np.asarray(getattr(node, attribute), dtype=np.float64).ravel()
    if values.size == 0 or not np.allclose(values, values[0], rtol=GAIN_TOLERANCE, atol=0.0):
        raise ExportError(f"node {name!r}: {attribute} differs between neurons; eisnn has one value per layer")
    return float(values[0])


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ExportError(message)


def load_nir(source: str | os.PathLike | nir.NIRGraph) -> NirNetwork:
    """Read a graph of the exported shape (a path or a ``nir.NIRGraph``) back into eisnn.

    Checks what eisnn can represent: one time constant per kind and the same ones in the readout,
    no leak or reset offset, unit per-step gains at the graph's dt (``metadata["dt_s"]``, else
    dt = τ_mem/r). The E/I types come from the hidden node's metadata (unconstrained without it).
    """
    if isinstance(source, nir.NIRGraph):
        graph = source
    else:
        path = Path(source)
        if not path.is_file():
            raise ExportError(f"{path}: no such NIR file")
        try:
            graph = nir.read(path)
        except Exception as error:  # nir raises whatever h5py or its constructors raise
            raise ExportError(f"{path}: not a readable NIR graph ({type(error).__name__}: {error})") from None
    names = _chain(graph)
    w_in_node, hidden, w_out_node, readout = (graph.nodes[name] for name in names[1:5])
    hidden_name, readout_name = names[2], names[4]
    meta = {key: _text(value) for key, value in (graph.metadata or {}).items()}

    tau_syn_s = _uniform(hidden, hidden_name, "tau_syn")
    tau_mem_s = _uniform(hidden, hidden_name, "tau_mem")
    dt_s = float(meta["dt_s"]) if "dt_s" in meta else tau_mem_s / _uniform(hidden, hidden_name, "r")
    for node, name in ((hidden, hidden_name), (readout, readout_name)):
        _check(np.allclose(node.v_leak, 0.0), f"node {name!r}: v_leak must be 0")
        for attribute, tau in (("tau_syn", tau_syn_s), ("tau_mem", tau_mem_s)):
            value = _uniform(node, name, attribute)
            _check(np.isclose(value, tau, rtol=GAIN_TOLERANCE), f"node {name!r}: {attribute} {value} differs from the hidden layer's {tau}")
        gain_syn = _uniform(node, name, "w_in") * dt_s / tau_syn_s
        gain_mem = _uniform(node, name, "r") * dt_s / tau_mem_s
        _check(
            np.isclose(gain_syn, 1.0, rtol=GAIN_TOLERANCE) and np.isclose(gain_mem, 1.0, rtol=GAIN_TOLERANCE),
            f"node {name!r}: per-step gains w_in·dt/τ_syn = {gain_syn:.6g} and r·dt/τ_mem = {gain_mem:.6g} must be 1",
        )
    _check(np.allclose(hidden.v_reset, 0.0), f"node {hidden_name!r}: v_reset must be 0")

    w_in = np.asarray(w_in_node.weight, dtype=np.float32).T
    w_out = np.asarray(w_out_node.weight, dtype=np.float32).T
    n_hidden = w_in.shape[1]
    _check(w_out.shape[0] == n_hidden and hidden.v_threshold.size == n_hidden, "layer sizes do not match")
    hidden_meta = {key: _text(value) for key, value in (hidden.metadata or {}).items()}
    constrained = bool(hidden_meta.get("constrained", False))
    excitatory = np.asarray(hidden_meta.get("excitatory", np.ones(n_hidden, dtype=bool)), dtype=bool)
    readout_rule = meta.get("readout", "max")
    _check(readout_rule in READOUTS, f"graph metadata readout {readout_rule!r} is not one of {READOUTS}")
    model = ModelConfig(
        dt_ms=dt_s / SECONDS_PER_MS,
        tau_syn_ms=tau_syn_s / SECONDS_PER_MS,
        tau_mem_ms=tau_mem_s / SECONDS_PER_MS,
        threshold=_uniform(hidden, hidden_name, "v_threshold"),
        readout=readout_rule,
        **{key: meta[key] for key in ("surrogate",) if key in meta},
    )
    snapshot = Snapshot(w_in=w_in, w_out=w_out, excitatory=excitatory, constrained=constrained,
                        epoch=int(meta.get("epoch", 0)))
    return NirNetwork(snapshot, model, meta)
