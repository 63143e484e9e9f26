"""Exports (docs/exports.md): NIR graph and round trip, a peer simulator on it, Neo spike trains for Elephant.

One real run is trained for the module: 2 epochs on 2 000 Fashion-MNIST training samples, tested on
1 000 test samples (skipped without the real data, as in test_data.py).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

nir = pytest.importorskip("nir")
neo = pytest.importorskip("neo")

from eisnn import data  # noqa: E402
from eisnn.cli import main  # noqa: E402
from eisnn.export import ExportError, load_run_snapshot  # noqa: E402
from eisnn.export.nir_graph import HIDDEN_LATENCY_STEPS, export_nir, export_run_nir, load_nir, to_nir_graph  # noqa: E402
from eisnn.export.spike_trains import read_spikes  # noqa: E402
from eisnn.metrics import compute_run_metrics, van_rossum_all_pairs  # noqa: E402
from eisnn.model import iter_activity  # noqa: E402
from eisnn.params import ModelConfig, RunSpec, TrainOptions  # noqa: E402
from eisnn.readout import predict  # noqa: E402
from eisnn.snapshot import Snapshot  # noqa: E402
from test_data import FMNIST_DIR, needs_fmnist  # noqa: E402

pytestmark = needs_fmnist

PEER_HIDDEN_SHIFT = HIDDEN_LATENCY_STEPS
"""The peer's hidden spike at step t is eisnn's at t + 2 (docs/exports.md)."""
PEER_READOUT_SHIFT = 2 * HIDDEN_LATENCY_STEPS
"""The peer's readout membrane at step t is eisnn's U[t + 4]; U[0..3] = 0."""


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(run directory, test split, final snapshot's run) of a 2-epoch run laid out as the workflow does."""
    results = tmp_path_factory.mktemp("results")
    encoded = results / "encoded" / "fmnist"
    encoded.mkdir(parents=True)
    data.encode_dataset("fmnist", FMNIST_DIR, encoded / "train.h5", encoded / "test.h5",
                        subset_train=2000, subset_test=1000)
    run_dir = results / "fmnist_sigma" / "ratio-0.8" / "sigma-0.001" / "noise-0" / "seed-0"
    run = RunSpec(run_dir, ratio=0.8, sigma_init=0.001, noise_frac=0.0, seed=0, experiment="fmnist_sigma")
    options = TrainOptions(epochs=2, snapshot_epochs=(0, 2), progress=False, batch_size=128, learning_rate=2e-3)
    from eisnn.train import train_pack

    train_pack([run], encoded / "train.h5", encoded / "test.h5", options)
    return run_dir, data.load_spikes(encoded / "test.h5"), load_run_snapshot(run_dir)


# ---------------------------------------------------------------------------------------------
# NIR
# ---------------------------------------------------------------------------------------------


def test_nir_graph_carries_the_weights_constants_and_types_and_loads_back(trained, tmp_path):
    run_dir, test, run = trained
    path = export_run_nir(run_dir, tmp_path / "net.nir")
    graph = nir.read(path)
    assert [type(graph.nodes[n]).__name__ for n in ("input", "w_in", "hidden", "w_out", "readout", "output")] == [
        "Input", "Linear", "CubaLIF", "Linear", "CubaLI", "Output"]
    hidden, model, dt_s = graph.nodes["hidden"], run.model, float(graph.metadata["dt_s"])
    np.testing.assert_array_equal(graph.nodes["w_in"].weight, run.snapshot.w_in.T)
    np.testing.assert_array_equal(graph.nodes["w_out"].weight, run.snapshot.w_out.T)
    for node in (hidden, graph.nodes["readout"]):  # the decays per step are eisnn's α and β exactly
        np.testing.assert_allclose(np.exp(-dt_s / node.tau_syn), model.alpha, rtol=1e-12)
        np.testing.assert_allclose(np.exp(-dt_s / node.tau_mem), model.beta, rtol=1e-12)
        np.testing.assert_allclose(node.w_in * dt_s / node.tau_syn, 1.0, rtol=1e-12)
        np.testing.assert_allclose(node.r * dt_s / node.tau_mem, 1.0, rtol=1e-12)
    np.testing.assert_array_equal(hidden.v_threshold, model.threshold)
    np.testing.assert_array_equal(hidden.v_reset, 0.0)
    np.testing.assert_array_equal(hidden.metadata["excitatory"], run.snapshot.excitatory)
    assert 0 < run.snapshot.excitatory.sum() < run.snapshot.excitatory.size  # both populations present
    assert json.loads(graph.metadata["run_params"])["ratio"] == 0.8

    back = load_nir(path)
    for name in ("w_in", "w_out", "excitatory"):
        np.testing.assert_array_equal(getattr(back.snapshot, name), getattr(run.snapshot, name))
    assert (back.snapshot.constrained, back.snapshot.epoch) == (True, 2)
    for name in ("dt_ms", "tau_syn_ms", "tau_mem_ms", "threshold"):
        assert math.isclose(getattr(back.model, name), getattr(model, name), rel_tol=1e-12)
    assert back.model.readout == model.readout
    import eisnn

    assert eisnn.load_nir is load_nir


def test_nir_refuses_what_it_cannot_express_and_graphs_of_another_shape(trained):
    _, _, run = trained
    snap = run.snapshot
    diverged = Snapshot(snap.w_in * np.nan, snap.w_out, snap.excitatory, True, 3, diverged=True)
    with pytest.raises(ExportError, match="non-finite"):
        to_nir_graph(diverged, run.model)
    graph = to_nir_graph(snap, run.model)
    no_readout = nir.NIRGraph(
        nodes={name: graph.nodes[name] for name in ("input", "w_in", "hidden")}
        | {"output": nir.Output(output_type={"output": np.array([snap.w_in.shape[1]])})},
        edges=[("input", "w_in"), ("w_in", "hidden"), ("hidden", "output")],
    )
    with pytest.raises(ExportError, match="expected the chain Input → Linear → CubaLIF"):
        load_nir(no_readout)
    hidden = graph.nodes["hidden"]
    hidden.tau_mem = hidden.tau_mem * np.linspace(1, 2, hidden.tau_mem.size)
    with pytest.raises(ExportError, match="tau_mem differs between neurons"):
        load_nir(graph)


def _peer(graph):
    """The graph in the peer: NIRTorch's interpreter with snnTorch's current-based LIF neuron (Synaptic).

    Each NIR neuron node becomes one snn.Synaptic with the exact decays of its ODE over the graph's
    dt, exp(-dt/τ); gains are 1 (checked by load_nir). eisnn's reset is snnTorch's reset_delay=True.
    """
    import nirtorch
    import snntorch as snn
    import torch

    dt_s = float(graph.metadata["dt_s"])

    def synaptic(node, spiking):
        return snn.Synaptic(
            alpha=float(np.exp(-dt_s / node.tau_syn[0])), beta=float(np.exp(-dt_s / node.tau_mem[0])),
            threshold=float(node.v_threshold[0]) if spiking else math.inf,
            reset_mechanism="zero" if spiking else "none", reset_delay=True, init_hidden=True,
        )

    net = nirtorch.nir_to_torch(graph, {nir.CubaLIF: lambda n: synaptic(n, True), nir.CubaLI: lambda n: synaptic(n, False)})
    hidden, readout = net.get_submodule("hidden"), net.get_submodule("readout")

    def run(inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Hidden spikes bool [B, T, H] and readout membrane [B, T, O] of dense inputs [B, T, n_in]."""
        for module in (hidden, readout):
            module.syn, module.mem = torch.zeros(0), torch.zeros(0)
        x = torch.as_tensor(inputs, dtype=torch.float32)
        spikes, membrane = [], []
        handle = hidden.register_forward_hook(lambda module, args, out: spikes.append(out.clone()))
        with torch.no_grad():
            for step in range(x.shape[1]):
                net(x[:, step])
                membrane.append(readout.mem.clone())
        handle.remove()
        return torch.stack(spikes, 1).numpy().astype(bool), torch.stack(membrane, 1).numpy()

    return run


def test_a_peer_simulator_reproduces_the_spike_trains_and_the_classes(trained, tmp_path):
    pytest.importorskip("snntorch")
    import h5py

    run_dir, test, run = trained
    peer = _peer(nir.read(export_run_nir(run_dir, tmp_path / "net.nir")))
    indices = np.arange(test.n_samples)
    _, hidden, output = next(iter_activity(run.snapshot, test, test.n_samples, run.model, indices))
    peer_hidden, peer_membrane = peer(test.dense(indices))
    n_steps = test.n_steps
    assert not hidden[:, :PEER_HIDDEN_SHIFT].any()
    # Equal trains after the shift; float32 sums in another order may flip a spike with V within
    # rounding of θ (2 of 10 000 samples of a 30-epoch run), hence ≥ 99 % beyond the probe samples.
    equal = (hidden[:, PEER_HIDDEN_SHIFT:] == peer_hidden[:, : n_steps - PEER_HIDDEN_SHIFT]).all(axis=(1, 2))
    assert equal[:16].all() and equal.mean() >= 0.99
    with h5py.File(Path(run_dir) / "probe.h5") as probe:  # the probe samples as training saved them
        probe_hidden = probe[f"epoch-{run.epoch}/hidden"][()].astype(bool)
    np.testing.assert_array_equal(probe_hidden[:, PEER_HIDDEN_SHIFT:], peer_hidden[:16, : n_steps - PEER_HIDDEN_SHIFT])
    assert hidden.sum() > 10 * test.n_samples  # a network that spikes

    trace = np.zeros_like(output)  # eisnn's U[0..T]: U[t] = peer[t - 4], zero before
    trace[:, PEER_READOUT_SHIFT:] = peer_membrane[:, : n_steps + 1 - PEER_READOUT_SHIFT]
    np.testing.assert_allclose(trace[equal], output[equal], atol=1e-4)
    agree = predict(trace, run.model.readout, time_axis=1) == predict(output, run.model.readout, time_axis=1)
    assert agree.mean() >= 0.99


# ---------------------------------------------------------------------------------------------
# Spike trains (Neo, NIX) for Elephant
# ---------------------------------------------------------------------------------------------

N_SPIKE_SAMPLES = 3
"""Test samples of the spike export test (NIX writes about 30 ms per spike train)."""


@pytest.mark.filterwarnings("ignore:van_rossum_distance. very small negative values:RuntimeWarning")
def test_spike_export_reads_back_and_agrees_with_elephant_and_the_metrics(trained, tmp_path):
    elephant = pytest.importorskip("elephant.spike_train_dissimilarity")
    import quantities as pq

    run_dir, test, run = trained
    path = tmp_path / "spikes.nix"
    # Through the CLI: the test split is found beside the run (<results>/encoded/fmnist/test.h5).
    assert main(["export", "spikes", str(run_dir), "--samples", str(N_SPIKE_SAMPLES), "-o", str(path)]) == 0
    block = read_spikes(path)
    assert len(block.segments) == N_SPIKE_SAMPLES
    assert block.annotations["ratio"] == 0.8 and block.annotations["epoch"] == run.epoch
    indices = np.arange(N_SPIKE_SAMPLES)
    _, hidden, output = next(iter_activity(run.snapshot, test, N_SPIKE_SAMPLES, run.model, indices))
    predictions = predict(output, run.model.readout, time_axis=1)
    populations = {int(h): pop for pop, mask in run.snapshot.populations.items() for h in np.flatnonzero(mask)}
    counts: dict[tuple[int, str], int] = {}
    for sample, segment in enumerate(block.segments):
        assert segment.annotations["label"] == test.labels[sample]
        assert segment.annotations["prediction"] == predictions[sample]
        trains = sorted(segment.spiketrains, key=lambda st: st.annotations["neuron"])
        assert len(trains) == run.snapshot.w_in.shape[1]
        for neuron, train in enumerate(trains):
            assert train.units == pq.ms and float(train.t_stop) == test.n_steps * run.model.dt_ms
            assert train.annotations["population"] == populations[neuron]
            np.testing.assert_array_equal(train.magnitude, np.flatnonzero(hidden[sample, :, neuron]) * run.model.dt_ms)
            key = (int(segment.annotations["label"]), train.annotations["population"])
            counts[key] = counts.get(key, 0) + train.size
        # eisnn's Van Rossum distance is Elephant's divided by √2 (Elephant: 1 for one spike against none).
        ours = van_rossum_all_pairs(hidden[sample : sample + 1], tau_steps=1.0 / run.model.dt_ms)
        theirs = elephant.van_rossum_distance(trains, time_constant=1.0 * pq.ms)
        np.testing.assert_allclose(ours, theirs / math.sqrt(2.0), rtol=1e-6, atol=1e-6)  # Elephant rounds at ~1e-8

    tables = compute_run_metrics(run_dir, test.subset(indices), model_config=run.model)
    activity = tables["activity_population"].query(f"epoch == {run.epoch} and n_images > 0")
    from_metrics = {(int(r["class"]), r["population"]): int(r["spike_count"]) for _, r in activity.iterrows()}
    assert from_metrics == {key: counts.get(key, 0) for key in from_metrics}
    assert sum(counts.values()) == sum(from_metrics.values()) > 0


# ---------------------------------------------------------------------------------------------
# Command line and imports
# ---------------------------------------------------------------------------------------------


def test_cli_errors_are_one_clear_line(trained, tmp_path):
    run_dir, _, _ = trained
    cases = {
        ("nir", str(tmp_path / "missing"), "-o", str(tmp_path / "a.nir")): "no such run directory",
        ("nir", str(run_dir), "--epoch", "7", "-o", str(tmp_path / "a.nir")): "no snapshot of epoch 7 (saved epochs: [0, 2])",
        ("spikes", str(run_dir), "-o", str(tmp_path / "a.nwb")): "unsupported spike file type '.nwb'",
        ("spikes", str(run_dir), "--test", str(tmp_path / "none.h5"), "-o", str(tmp_path / "a.nix")): "not found",
    }
    for args, message in cases.items():
        with pytest.raises(SystemExit) as exit_info:
            main(["export", *args])
        text = str(exit_info.value.code)
        assert message in text and "\n" not in text, text
    result = subprocess.run([sys.executable, "-m", "eisnn", "export", "nir", str(tmp_path / "missing"), "-o", "x.nir"],
                            capture_output=True, text=True)
    assert result.returncode == 1 and "Traceback" not in result.stderr and result.stderr.count("\n") == 1


def test_exported_nir_from_the_cli_simulates_like_the_snapshot(trained, tmp_path):
    run_dir, test, run = trained
    path = tmp_path / "cli.nir"
    assert main(["export", "nir", str(run_dir), "--epoch", "0", "-o", str(path)]) == 0
    back = load_nir(path)
    assert back.snapshot.epoch == 0
    indices = np.arange(16)
    original = next(iter_activity(Snapshot.load(Path(run_dir) / "weights_epoch-0.npz"), test, 16, run.model, indices))
    loaded = next(iter_activity(back.snapshot, test, 16, back.model, indices))
    np.testing.assert_array_equal(original[1], loaded[1])


def test_importing_eisnn_imports_neither_nir_nor_neo():
    script = ("import sys, eisnn, eisnn.export, eisnn.cli; "
              "print(sorted(m for m in ('nir', 'neo', 'nixio', 'snntorch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_an_unconstrained_network_round_trips_without_types(tmp_path):
    rng = np.random.default_rng(0)
    snap = Snapshot(rng.random((20, 8), dtype=np.float32), rng.standard_normal((8, 3)).astype(np.float32),
                    np.ones(8, bool), False, 5)
    model = ModelConfig(tau_syn_ms=3.0, tau_mem_ms=20.0, threshold=0.5, readout="per_step")
    back = load_nir(export_nir(snap, model, tmp_path / "u.nir"))
    assert back.snapshot.constrained is False and back.model.readout == "per_step"
    assert math.isclose(back.model.tau_mem_ms, 20.0) and back.model.threshold == 0.5
    np.testing.assert_array_equal(back.snapshot.w_out, snap.w_out)
