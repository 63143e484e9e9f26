"""Tests of eisnn.metrics against hand computations and independent numerical integration."""

from __future__ import annotations

import hashlib
import json
import math
import types

import numpy as np
import pandas as pd
import pytest

from eisnn import metrics
from eisnn.layout import METRIC_FILES, RunFiles
from eisnn.metrics import (
    compute_run_metrics,
    firing_rate_hz,
    isi_histogram,
    population_distance_means,
    read_run_metrics,
    spike_counts_per_step,
    van_rossum_all_pairs,
    van_rossum_distance,
    weight_histograms,
    write_run_metrics,
)
from eisnn.params import ModelConfig
from eisnn.readout import predict
from eisnn.snapshot import Snapshot


# --------------------------------------------------------------------------------------------
# Van Rossum
# --------------------------------------------------------------------------------------------


def numeric_van_rossum(times_a, times_b, tau, h=2.0**-10):
    """sqrt((1/τ)∫(g_a−g_b)² dt) by the midpoint rule on a fine grid (independent of the closed form).

    Spike times must be multiples of ``h`` (and ≥ 0) so that every jump of g falls on a cell
    boundary; the midpoint rule is then O(h²) accurate on each smooth piece.
    """
    all_times = np.concatenate([np.asarray(times_a, float), np.asarray(times_b, float), [0.0]])
    n_cells = int(np.ceil((all_times.max() + 40 * tau) / h))
    mid = (np.arange(n_cells) + 0.5) * h

    def trace(times):
        g = np.zeros_like(mid)
        for ti in times:
            after = mid > ti
            g[after] += np.exp(-(mid[after] - ti) / tau)
        return g

    diff = trace(times_a) - trace(times_b)
    return math.sqrt((diff**2).sum() * h / tau)


def test_van_rossum_hand_cases():
    assert van_rossum_distance([5.0], []) == pytest.approx(math.sqrt(0.5), abs=1e-15)
    assert van_rossum_distance([], [5.0]) == pytest.approx(math.sqrt(0.5), abs=1e-15)
    assert van_rossum_distance([], []) == 0.0
    assert van_rossum_distance([1.0, 4.0, 9.0], [1.0, 4.0, 9.0]) == 0.0
    # Two single spikes Δ apart: d² = ½(1 + 1 − 2e^{−Δ/τ}) = 1 − e^{−Δ/τ}.
    for delta, tau in [(1.0, 1.0), (3.0, 1.0), (2.0, 5.0)]:
        expected = math.sqrt(1 - math.exp(-delta / tau))
        assert van_rossum_distance([10.0], [10.0 + delta], tau_ms=tau) == pytest.approx(expected, rel=1e-12)
    # Two spikes at the same time vs empty: d² = ½(1+1+2·1) = 2.
    assert van_rossum_distance([3.0, 3.0], []) == pytest.approx(math.sqrt(2.0), rel=1e-12)


@pytest.mark.parametrize("tau", [1.0, 2.5])
def test_van_rossum_matches_numerical_integration(tau):
    rng = np.random.default_rng(1)
    for _ in range(3):
        # Spike times on a 1/8 ms grid (not only whole steps), exactly representable.
        a = np.sort(rng.integers(0, 160, size=rng.integers(0, 6)) / 8.0)
        b = np.sort(rng.integers(0, 160, size=rng.integers(1, 6)) / 8.0)
        exact = van_rossum_distance(a, b, tau_ms=tau)
        assert exact == pytest.approx(numeric_van_rossum(a, b, tau), rel=1e-5, abs=1e-6)
        assert exact == pytest.approx(van_rossum_distance(b, a, tau_ms=tau), rel=1e-14)


def test_van_rossum_all_pairs_matches_pairwise_function():
    rng = np.random.default_rng(2)
    n_samples, n_steps, n_hidden = 5, 30, 7
    rasters = rng.random((n_samples, n_steps, n_hidden)) < 0.15
    rasters[:, :, 3] = rasters[:, :, 1]  # an identical pair
    rasters[:, :, 5] = False  # a silent neuron
    for tau in (1.0, 2.0):
        got = van_rossum_all_pairs(rasters, tau_steps=tau)
        expected = np.zeros((n_hidden, n_hidden))
        for s in range(n_samples):
            for a in range(n_hidden):
                for b in range(n_hidden):
                    ta = np.flatnonzero(rasters[s, :, a])
                    tb = np.flatnonzero(rasters[s, :, b])
                    expected[a, b] += van_rossum_distance(ta, tb, tau_ms=tau) / n_samples
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-7)
        assert np.all(np.diag(got) == 0.0)
        np.testing.assert_allclose(got, got.T, atol=1e-12)
        assert got[1, 3] < 1e-6
    # An iterable of batches gives the same mean as one array.
    batched = van_rossum_all_pairs(iter([rasters[:2], rasters[2:]]), tau_steps=1.0)
    np.testing.assert_allclose(batched, van_rossum_all_pairs(rasters, 1.0), rtol=1e-12, atol=1e-12)


def test_van_rossum_all_pairs_one_spike_vs_silent():
    raster = np.zeros((1, 10, 2), dtype=np.uint8)
    raster[0, 4, 0] = 1
    d = van_rossum_all_pairs(raster)
    assert d[0, 1] == pytest.approx(math.sqrt(0.5), rel=1e-12)


def test_population_distance_means_categories():
    d = np.array(
        [
            [0, 1, 2, 3],
            [1, 0, 4, 5],
            [2, 4, 0, 6],
            [3, 5, 6, 0],
        ],
        dtype=float,
    )
    means = population_distance_means(d, np.array([True, True, False, False]))
    assert means == {"E-E": 1.0, "E-I": pytest.approx((2 + 3 + 4 + 5) / 4), "I-I": 6.0}
    # Order of neurons does not matter: I neurons first.
    means = population_distance_means(d, np.array([False, True, True, False]))
    assert means["E-E"] == 4.0 and means["I-I"] == 3.0
    assert means["E-I"] == pytest.approx((1 + 2 + 5 + 6) / 4)
    # 100:0: only E-E; one I neuron: no I-I pair but E-I exists.
    assert population_distance_means(d, np.ones(4, bool)) == {"E-E": pytest.approx(21 / 6)}
    one_i = population_distance_means(d, np.array([True, True, True, False]))
    assert set(one_i) == {"E-E", "E-I"}
    assert one_i["E-I"] == pytest.approx((3 + 5 + 6) / 3)
    assert population_distance_means(d, np.ones(4, bool), constrained=False) == {
        "all-all": pytest.approx(21 / 6)
    }


# --------------------------------------------------------------------------------------------
# Counts, rates, ISIs
# --------------------------------------------------------------------------------------------


def known_raster():
    """2 samples, 10 steps, 2 neurons; spikes listed by hand."""
    r = np.zeros((2, 10, 2), dtype=bool)
    r[0, [1, 3, 7], 0] = True  # ISIs 2, 4
    r[0, [0], 1] = True
    r[1, [9], 0] = True  # a single spike: no ISI (nothing across samples)
    r[1, [2, 3], 1] = True  # ISI 1
    return r


def test_counts_rates_isis_of_known_raster():
    r = known_raster()
    # 7 spikes / (2 neurons · 2 samples · 10 steps · 1 ms) = 175 Hz.
    assert firing_rate_hz(r) == pytest.approx(175.0)
    assert firing_rate_hz(r, neuron_mask=[True, False]) == pytest.approx(4 / (2 * 10e-3))
    assert firing_rate_hz(r, dt_ms=2.0) == pytest.approx(87.5)
    np.testing.assert_array_equal(spike_counts_per_step(r), [1, 1, 1, 2, 0, 0, 0, 1, 0, 1])
    np.testing.assert_array_equal(spike_counts_per_step(r, neuron_mask=[False, True]), [1, 0, 1, 1, 0, 0, 0, 0, 0, 0])
    hist = isi_histogram(r)
    assert hist.shape == (10,)
    np.testing.assert_array_equal(hist, [0, 1, 1, 0, 1, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(isi_histogram(r, neuron_mask=[True, False]), [0, 0, 1, 0, 1, 0, 0, 0, 0, 0])


# --------------------------------------------------------------------------------------------
# Weights
# --------------------------------------------------------------------------------------------


def make_snapshot(epoch, excitatory, constrained=True, seed=0, n_in=6, n_out=3):
    rng = np.random.default_rng(seed)
    excitatory = np.asarray(excitatory, bool)
    h = excitatory.size
    w_in = np.abs(rng.normal(size=(n_in, h))).astype(np.float32)
    sign = np.where(excitatory, 1.0, -1.0)[:, None]
    w_out = (np.abs(rng.normal(size=(h, n_out))) * sign).astype(np.float32)
    if not constrained:
        w_in = rng.normal(size=(n_in, h)).astype(np.float32)
        w_out = rng.normal(size=(h, n_out)).astype(np.float32)
    return Snapshot(w_in, w_out, excitatory, constrained, epoch)


def test_weight_histograms_shared_bins_and_populations():
    exc = np.array([True, True, True, False])
    snaps = [make_snapshot(0, exc, seed=0), make_snapshot(5, exc, seed=1)]
    table = weight_histograms(snaps, n_bins=7)
    assert set(table["matrix"]) == {"w_in", "w_out_E", "w_out_I"}
    counts = table.groupby(["epoch", "matrix"])["count"].sum()
    assert counts[(0, "w_in")] == 24 and counts[(0, "w_out_E")] == 9 and counts[(5, "w_out_I")] == 3
    for matrix, sub in table.groupby("matrix"):
        edges = sub.pivot(index="bin", columns="epoch", values="bin_left")
        assert (edges[0] == edges[5]).all()  # shared across epochs
        all_values = np.concatenate([s.matrices()[matrix] for s in snaps])
        assert sub["bin_left"].min() == pytest.approx(all_values.min())
        assert sub["bin_right"].max() == pytest.approx(all_values.max())
    assert table.loc[table.matrix == "w_out_I", "bin_right"].max() <= 0
    # Hand check of one histogram.
    sub = table[(table.matrix == "w_in") & (table.epoch == 0)]
    edges = np.append(sub["bin_left"].to_numpy(), sub["bin_right"].iloc[-1])
    np.testing.assert_array_equal(sub["count"], np.histogram(snaps[0].w_in, bins=edges)[0])
    # 100:0: no I rows at all; unconstrained: one "all" population.
    full = weight_histograms([make_snapshot(0, np.ones(4, bool))], n_bins=3)
    assert set(full["matrix"]) == {"w_in", "w_out_E"}
    free = weight_histograms([make_snapshot(0, np.ones(4, bool), constrained=False)], n_bins=3)
    assert set(free["matrix"]) == {"w_in", "w_out_all"}


# --------------------------------------------------------------------------------------------
# Whole-run metrics with a stand-in for eisnn.model.iter_activity
# --------------------------------------------------------------------------------------------


N_STEPS, N_CLASSES = 12, 3


def write_npz(run_dir, snap):
    """Save a snapshot and declare it in run.json, as a finished run does (params.snapshot_epochs)."""
    files = RunFiles(run_dir)
    snap.save(files.snapshot(snap.epoch))
    info = json.loads(files.run_json.read_text()) if files.run_json.exists() else {"status": "completed", "params": {}}
    declared = set(info["params"].get("snapshot_epochs", [])) | {int(snap.epoch)}
    info["params"]["snapshot_epochs"] = sorted(declared)
    files.run_json.write_text(json.dumps(info))


def known_activity(epoch, n_samples, n_hidden, labels):
    """Deterministic rasters and outputs; predictions are correct for even samples only."""
    rng = np.random.default_rng(100 + epoch)
    hidden = rng.random((n_samples, N_STEPS, n_hidden)) < (0.1 + 0.05 * epoch)
    output = np.zeros((n_samples, N_STEPS + 1, N_CLASSES), dtype=np.float32)
    for s, lab in enumerate(labels):
        pred = lab if s % 2 == 0 else (lab + 1) % N_CLASSES
        output[s, 5, pred] = 1.0
    return hidden, output


def install_fake_model(monkeypatch, activity=None):
    """Replace the simulation of eisnn.metrics by a stand-in iter_activity that replays ``activity``
    (default known_activity)."""
    activity = activity or known_activity
    module = types.SimpleNamespace()

    def iter_activity(snapshot, dataset, batch_size, config):
        assert isinstance(snapshot, Snapshot) and isinstance(config, ModelConfig)
        hidden, output = activity(snapshot.epoch, dataset.n_samples, snapshot.w_in.shape[1], dataset.labels)
        for start in range(0, dataset.n_samples, batch_size):
            idx = np.arange(start, min(start + batch_size, dataset.n_samples))
            yield idx, hidden[idx], output[idx]

    module.iter_activity = iter_activity
    monkeypatch.setattr(metrics, "iter_activity", iter_activity)
    return module


@pytest.fixture
def fake_model(monkeypatch):
    return install_fake_model(monkeypatch)


def make_run(tmp_path, excitatory, constrained=True, epochs=(0, 2)):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    for e in epochs:
        write_npz(run_dir, make_snapshot(e, excitatory, constrained, seed=e))
    labels = np.array([0, 1, 2, 0, 1, 2, 0, 0, 1, 2, 2])
    data = types.SimpleNamespace(labels=labels, n_steps=N_STEPS, n_classes=N_CLASSES, n_samples=labels.size)
    return run_dir, data


def test_compute_run_metrics_known_raster(tmp_path, fake_model):
    exc = np.array([True, False, True, True, False])
    run_dir, data = make_run(tmp_path, exc)
    tables = compute_run_metrics(run_dir, data, batch_size=4)
    n, h = data.n_samples, exc.size

    summary = tables["summary"].set_index("epoch")
    assert list(summary.index) == [0, 2]
    for epoch in (0, 2):
        hidden, output = known_activity(epoch, n, h, data.labels)
        assert summary.loc[epoch, "hidden_firing_rate_hz"] == pytest.approx(firing_rate_hz(hidden))
        assert summary.loc[epoch, "spikes_per_image"] == pytest.approx(hidden.sum() / n)
        assert summary.loc[epoch, "accuracy"] == pytest.approx(6 / 11)  # even samples 0,2,..,10
        e_total, total = hidden[:, :, exc].sum(), hidden.sum()
        assert summary.loc[epoch, "percent_excitatory"] == pytest.approx(100 * e_total / total)

        cls = tables["activity_class"].query("epoch == @epoch").set_index("class")
        pop = tables["activity_population"].query("epoch == @epoch").set_index(["class", "population"])
        steps = tables["spikes_per_step"].query("epoch == @epoch")
        isi = tables["isi"].query("epoch == @epoch")
        for c in range(N_CLASSES):
            sel = data.labels == c
            assert cls.loc[c, "n_images"] == sel.sum()
            assert cls.loc[c, "accuracy"] == pytest.approx((np.flatnonzero(sel) % 2 == 0).mean())
            assert cls.loc[c, "spikes_per_image"] == pytest.approx(hidden[sel].sum() / sel.sum())
            for name, mask in (("E", exc), ("I", ~exc)):
                sub = hidden[sel][:, :, mask]
                assert pop.loc[(c, name), "spike_count"] == sub.sum()
                assert pop.loc[(c, name), "spikes_per_image"] == pytest.approx(sub.sum() / sel.sum())
                rate = sub.sum() / (sel.sum() * mask.sum() * N_STEPS * 1e-3)
                assert pop.loc[(c, name), "firing_rate_hz"] == pytest.approx(rate)
                got = steps.query("`class` == @c and population == @name").sort_values("step")
                np.testing.assert_array_equal(got["spike_count"], spike_counts_per_step(hidden[sel], mask))
                got_isi = isi.query("`class` == @c and population == @name").sort_values("isi_ms")
                np.testing.assert_array_equal(got_isi["count"], isi_histogram(hidden[sel], mask)[1:])
                np.testing.assert_allclose(got_isi["frequency_hz"], 1000.0 / got_isi["isi_ms"])

        # Van Rossum: independent pairwise loop over all samples, then category means by hand.
        vr = tables["van_rossum"].query("epoch == @epoch").set_index("category")
        d = np.zeros((h, h))
        for s in range(n):
            for a in range(h):
                for b in range(h):
                    d[a, b] += van_rossum_distance(
                        np.flatnonzero(hidden[s, :, a]), np.flatnonzero(hidden[s, :, b])
                    ) / n
        e_idx, i_idx = np.flatnonzero(exc), np.flatnonzero(~exc)
        ee = np.mean([d[a, b] for a in e_idx for b in e_idx if a < b])
        ei = np.mean([d[a, b] for a in e_idx for b in i_idx])
        assert vr.loc["E-E", "distance"] == pytest.approx(ee, rel=1e-9)
        assert vr.loc["E-I", "distance"] == pytest.approx(ei, rel=1e-9)
        assert vr.loc["I-I", "distance"] == pytest.approx(d[i_idx[0], i_idx[1]], rel=1e-9)
        assert list(vr["n_pairs"].loc[["E-E", "E-I", "I-I"]]) == [3, 6, 1]
        assert (vr["n_samples"] == n).all()

    # Round trip through the CSV files.
    written = write_run_metrics(run_dir, tables)
    assert {p.name for p in written.values()} == set(METRIC_FILES.values())
    back = read_run_metrics(run_dir)
    pd.testing.assert_frame_equal(back["van_rossum"], tables["van_rossum"])
    pd.testing.assert_frame_equal(back["activity_class"], tables["activity_class"])


def test_van_rossum_subset_of_samples(tmp_path, fake_model):
    exc = np.array([True, True, False])
    run_dir, data = make_run(tmp_path, exc, epochs=(0,))
    tables = compute_run_metrics(run_dir, data, max_samples=4, batch_size=3, vr_seed=7)
    chosen = np.sort(np.random.default_rng(7).choice(data.n_samples, size=4, replace=False))
    hidden, _ = known_activity(0, data.n_samples, 3, data.labels)
    expected = population_distance_means(van_rossum_all_pairs(hidden[chosen]), exc)
    vr = tables["van_rossum"].set_index("category")
    assert (vr["n_samples"] == 4).all()
    for category, value in expected.items():
        assert vr.loc[category, "distance"] == pytest.approx(value, rel=1e-12)
    # Activity still uses every sample.
    assert tables["activity_class"]["n_images"].sum() == data.n_samples


def test_all_excitatory_run_has_no_inhibitory_rows(tmp_path, fake_model):
    run_dir, data = make_run(tmp_path, np.ones(4, bool), epochs=(0,))
    tables = compute_run_metrics(run_dir, data, batch_size=5)
    assert list(tables["van_rossum"]["category"]) == ["E-E"]
    for name in ("activity_population", "spikes_per_step", "isi"):
        assert set(tables[name]["population"]) == {"E"}
    assert set(tables["weights_hist"]["matrix"]) == {"w_in", "w_out_E"}
    assert tables["summary"]["percent_excitatory"].iloc[0] == 100.0


def test_unconstrained_run_is_one_population(tmp_path, fake_model):
    run_dir, data = make_run(tmp_path, np.ones(4, bool), constrained=False, epochs=(0,))
    tables = compute_run_metrics(run_dir, data, batch_size=5)
    assert list(tables["van_rossum"]["category"]) == ["all-all"]
    assert set(tables["activity_population"]["population"]) == {"all"}
    assert tables["activity_class"]["percent_excitatory"].isna().all()


def test_non_finite_snapshot_is_reported_not_simulated(tmp_path, fake_model):
    run_dir, data = make_run(tmp_path, np.array([True, False, True]), epochs=(0,))
    bad = make_snapshot(4, np.array([True, False, True]))
    bad.w_out[0, 0] = np.nan
    write_npz(run_dir, bad)
    tables = compute_run_metrics(run_dir, data, batch_size=5)
    summary = tables["summary"].set_index("epoch")
    assert bool(summary.loc[0, "weights_finite"]) and not bool(summary.loc[4, "weights_finite"])
    assert np.isnan(summary.loc[4, "accuracy"])
    assert set(tables["van_rossum"]["epoch"]) == {0}


# --------------------------------------------------------------------------------------------
# The readout decides the predictions
# --------------------------------------------------------------------------------------------


def disagreeing_activity(epoch, n_samples, n_hidden, labels):
    """Readout traces whose max-over-time and per-step predictions differ in every sample.

    Class ``label`` integrates 1.0 at every step (sum T, peak 1), class ``label + 1`` peaks
    once at 5.0 (sum 5 < T): "per_step" is always right, "max" always wrong.
    """
    hidden, _ = known_activity(epoch, n_samples, n_hidden, labels)
    output = np.zeros((n_samples, N_STEPS + 1, N_CLASSES), dtype=np.float32)
    for s, lab in enumerate(labels):
        output[s, 1:, lab] = 1.0
        output[s, 3, (lab + 1) % N_CLASSES] = 5.0
    assert (predict(output, "per_step", time_axis=1) == labels).all()
    assert (predict(output, "max", time_axis=1) != labels).all()
    return hidden, output


@pytest.mark.parametrize("readout,expected", [("per_step", 1.0), ("max", 0.0)])
def test_accuracy_follows_the_readout(tmp_path, monkeypatch, readout, expected):
    install_fake_model(monkeypatch, disagreeing_activity)
    run_dir, data = make_run(tmp_path, np.array([True, False, True]), epochs=(0, 2))
    tables = compute_run_metrics(run_dir, data, batch_size=4, model_config=ModelConfig(readout=readout))
    assert (tables["summary"]["accuracy"] == expected).all()
    assert (tables["activity_class"]["accuracy"] == expected).all()


def test_default_readout_is_max(tmp_path, monkeypatch):
    install_fake_model(monkeypatch, disagreeing_activity)
    run_dir, data = make_run(tmp_path, np.array([True, False, True]), epochs=(0,))
    assert (compute_run_metrics(run_dir, data, batch_size=4)["summary"]["accuracy"] == 0.0).all()


# --------------------------------------------------------------------------------------------
# The files are pinned: the refactor into one builder per table changed no byte
# --------------------------------------------------------------------------------------------

PINNED_RUNS = {"ei": ([1, 0, 1, 1, 0], True), "full": ([1, 1, 1, 1], True), "free": ([1, 1, 1, 1], False)}
PINNED_OPTIONS = {
    "default": dict(batch_size=4),
    "subset": dict(batch_size=3, max_samples=4, vr_seed=7, tau_ms=2.0, dt_ms=2.0, n_weight_bins=9),
}
PINNED_DIGESTS = {
    # sha256 of the CSV files as the implementation before the refactor (one function for all
    # tables) wrote them; van_rossum.csv is rounded to 12 decimals first, so that rounding
    # differences of another BLAS cannot break the pin.
    "ei-default": {
        "summary": "d3aa8303d48f02f52541dba7232edc72fd449c280b7d41bea6173cb83b4327b7",
        "activity_class": "1e17da7cbec09656f0b9350c17856187c738d58ba80c36dfaea16302e45c3c23",
        "activity_population": "2b4ee3b7b0c4d00ecfc811353a055c0a8aba8bfd64c098f2f5fef83c1278b11d",
        "spikes_per_step": "a19d961cd24d4199c1e00339cb7c1cffffa0081e5bd31fc98578d4e66b77cfbd",
        "van_rossum": "b576b5883f75a4a9eba016a5cd773173e9349b8687fe952659ed8d52fc5456fc",
        "isi": "a8c6d12a3ce12ffe0861a4e1e9a663e11a81341223983dcba39c1fc689fb342d",
        "weights_hist": "7436d4b61892f1afe044dfb562a81dcafb6e633b166358d0c951e0617a79f847",
    },
    "ei-subset": {
        "summary": "03fe0006a466b3522fa0698e1aac4e2cb46825bddb031e2ceec72935dc1c6041",
        "activity_class": "1e17da7cbec09656f0b9350c17856187c738d58ba80c36dfaea16302e45c3c23",
        "activity_population": "5ab4afe31b4f9c9ee3ba0457062d66f658f8b559a1bbfeb4ec1682e7159692cc",
        "spikes_per_step": "93e0cbe78f96654a460fbb68b2b2f095fc9d6f34dfb60562e577c29e428c2dde",
        "van_rossum": "d9311c1b28bffc3e46a3c6370643f99790f8730baa39926ff2c25cd9403053b3",
        "isi": "a24d72555bfc02e2a1c18e95c700cf07eaba4a55fd4070005a6ff8641045198e",
        "weights_hist": "842d0cfbcd20290c4f05abcdc53dc35a4bbec4cbebad6fa9b88e749f85574eb4",
    },
    "full-default": {
        "summary": "e041d49c78d165294da3b7b3e325900624c6635d578047c53dcac851c99143f5",
        "activity_class": "d36b2d5c18a4f6074a34366ac0d7640aa79f130ec8fa71edaef2fb9f7d0bc6cb",
        "activity_population": "7154b2c84f0d7c4aafa9f9485b5956204828a69c924063be4148b6e576b8ea19",
        "spikes_per_step": "b44087173882d8c9cfe939d7926fcf669a5644e625fe07e679847812f8041a06",
        "van_rossum": "143882a205557d5a12d7f8e7f2627be09b34ef3025f56e9f9011c55c7183443b",
        "isi": "f8ad59a640ad9d23d4af76b673e0fec19d076495be97eed4b432682734abc968",
        "weights_hist": "c18e31c5be4d31f36f651304a403b5fd6cc3e44da377805b1746f71e0b662ba8",
    },
    "full-subset": {
        "summary": "4ae3513ca1e11060d0ae4c571a3e1057a65a36e6c5867c12e69b6f557d9ff16d",
        "activity_class": "d36b2d5c18a4f6074a34366ac0d7640aa79f130ec8fa71edaef2fb9f7d0bc6cb",
        "activity_population": "9565b5461e44ed70b12b92cd68ad4d1db2ed8a7fdc3881b7a7efffb624d2a175",
        "spikes_per_step": "d8e65ae632fa12e7ca9881ef36f42a731aac5f379873f9317b9b7c7f75a12160",
        "van_rossum": "fbdbf45c0844445592e7671ca1a9b46183195ec3fed140a103063942aa6262dd",
        "isi": "012fa721bf70369de7aa695df25b877b798aff4f08bb868f887fd99ef482c46e",
        "weights_hist": "11dcc8170587678d5713dceb15fc6c0f2a8be7f6882ea4481186d38f8f188f56",
    },
    "free-default": {
        "summary": "588667395e43fbb354e3522a29c067ef62c113f6da23a00c05844f36211d6ac1",
        "activity_class": "d5d745b72039ecae44ea60b4bc5e60ecf3c67310a3106568a7e615e0dd6c6bfe",
        "activity_population": "15ad9105bb95f68df53f4f25fc2ff2912d80f14eb478d5c407d69e04afeb41ee",
        "spikes_per_step": "5620ebd14042883e81c48b0030f0fc269e9862fb38075d1e59e41b710014819e",
        "van_rossum": "24e98f80e76942c4fbcc76a13fa5e0b78271865ba13a611c2af71d69e928518a",
        "isi": "58d9ebadeb206f86f52abc52020531f7d84c8a626ea8e2de2d5b4aa95e81e415",
        "weights_hist": "a56a85382edc76bb2c5d116bb991ffa1002267a4c0ec13dd6e7ee73afa8f2685",
    },
    "free-subset": {
        "summary": "2990c6455788a1c0662314cd5d98f586f3068465511b04b4173d0f18516ee3df",
        "activity_class": "d5d745b72039ecae44ea60b4bc5e60ecf3c67310a3106568a7e615e0dd6c6bfe",
        "activity_population": "7ade394981d09b22c893563565473f3c15c4ed58a7b26bc099b2c8fc84f95c7c",
        "spikes_per_step": "3413872ae7d418d5110e46a29202cfa18bed0aa5dcad5bfe5c580070a478ddef",
        "van_rossum": "ffffd3afbcbea0976071ddf5e8a40edca2e62be9d1a125022c1d0c7ffb285eb6",
        "isi": "af7a17375d497bf236b8e6bddac818f053ae35a3e2c8ed26fab0066e6efac029",
        "weights_hist": "182a4caeec835bdcc8398337e1d20b46fc2eba9a1e6c897d9c0cd8a5cca2b2a6",
    },
}


def pinned_snapshot(epoch, excitatory, constrained, nan=False):
    rng = np.random.default_rng(epoch)
    exc = np.asarray(excitatory, bool)
    w_in = np.abs(rng.normal(size=(6, exc.size))).astype(np.float32)
    w_out = (np.abs(rng.normal(size=(exc.size, N_CLASSES))) * np.where(exc, 1.0, -1.0)[:, None]).astype(np.float32)
    if not constrained:
        w_in = rng.normal(size=w_in.shape).astype(np.float32)
        w_out = rng.normal(size=w_out.shape).astype(np.float32)
    if nan:
        w_out[0, 0] = np.nan
    return Snapshot(w_in, w_out, exc, constrained, epoch)


def pinned_digests(root) -> dict[str, dict[str, str]]:
    """Metric files of three runs (E/I, 100:0, unconstrained; a non-finite snapshot each) × two option sets."""
    data = types.SimpleNamespace(labels=np.array([0, 1, 2, 0, 1, 2, 0, 0, 1, 2, 2]), n_steps=N_STEPS,
                                 n_classes=N_CLASSES, n_samples=11)
    digests = {}
    for name, (exc, constrained) in PINNED_RUNS.items():
        run_dir = root / name
        run_dir.mkdir()
        for epoch in (0, 2, 4):
            write_npz(run_dir, pinned_snapshot(epoch, exc, constrained, nan=epoch == 4))
        for option, kwargs in PINNED_OPTIONS.items():
            tables = compute_run_metrics(run_dir, data, **kwargs)
            tables["van_rossum"] = tables["van_rossum"].round(12)
            files = write_run_metrics(root / f"{name}-{option}", tables)
            digests[f"{name}-{option}"] = {table: hashlib.sha256(path.read_bytes()).hexdigest()
                                          for table, path in files.items()}
    return digests


def test_metric_files_are_pinned(tmp_path, fake_model):
    assert pinned_digests(tmp_path) == PINNED_DIGESTS


# --------------------------------------------------------------------------------------------
# With the real model
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("readout", ["max", "per_step"])
def test_compute_run_metrics_with_real_model(tmp_path, readout):
    """Contract check with eisnn.model: the tables agree with a direct iter_activity pass."""
    model = pytest.importorskip("eisnn.model")
    data_mod = pytest.importorskip("eisnn.data")
    dataset = data_mod.make_synthetic(40, n_units=30, n_steps=25, n_classes=4, seed=1)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    exc = np.arange(10) < 8
    rng = np.random.default_rng(0)
    for epoch in (0, 1):
        w_in = np.abs(rng.normal(0, 0.3, size=(30, 10))).astype(np.float32)
        w_out = (np.abs(rng.normal(0, 0.1, size=(10, 4))) * np.where(exc, 1, -1)[:, None]).astype(np.float32)
        write_npz(run_dir, Snapshot(w_in, w_out, exc, True, epoch))
    config = ModelConfig(readout=readout)
    tables = compute_run_metrics(run_dir, dataset, batch_size=16, model_config=config)
    summary = tables["summary"].set_index("epoch")
    for epoch in (0, 1):
        snap = Snapshot.load(RunFiles(run_dir).snapshot(epoch))
        hidden, output, idx = [], [], []
        for i, h, o in model.iter_activity(snap, dataset, 40, config):
            idx.append(i)
            hidden.append(h)
            output.append(o)
        hidden, output = np.concatenate(hidden), np.concatenate(output)
        labels = np.asarray(dataset.labels)[np.concatenate(idx)]
        assert hidden.any(), "test weights should make the hidden layer spike"
        assert summary.loc[epoch, "hidden_firing_rate_hz"] == pytest.approx(firing_rate_hz(hidden))
        correct = predict(output, readout, time_axis=1) == labels
        assert summary.loc[epoch, "accuracy"] == correct.mean()
        per_class = tables["activity_class"].query("epoch == @epoch").set_index("class")["accuracy"]
        for c, value in per_class.items():
            assert value == correct[labels == c].mean()
        vr = tables["van_rossum"].query("epoch == @epoch").set_index("category")["distance"]
        expected = population_distance_means(van_rossum_all_pairs(hidden), exc)
        assert vr.to_dict() == pytest.approx(expected, rel=1e-12)


# --------------------------------------------------------------------------------------------
# End to end: a per-step run's history, metrics and figures report the same accuracy
# --------------------------------------------------------------------------------------------


def test_per_step_run_history_metrics_and_figures_agree(tmp_path):
    """history.csv, metrics/*.csv, Fig 3's table and Fig 1b all decide by the run's readout."""
    import json

    from eisnn.data import make_synthetic_splits
    from eisnn.figures import fig1, fig3
    from eisnn.params import RunSpec, TrainOptions
    from eisnn.stats import collect_run_table
    from eisnn.train import train_pack

    train, test = make_synthetic_splits(160, 64, seed=5, n_units=40, n_steps=30, n_classes=4)
    options = TrainOptions.from_dict({"epochs": 2, "batch_size": 32, "n_hidden": 24, "learning_rate": 5e-3,
                                      "snapshot_epochs": (0, 2), "progress": False, "readout": "per_step"})
    run = RunSpec(tmp_path / "run", ratio=0.75, sigma_init=0.1, noise_frac=0.0, seed=0, experiment="test")
    train_pack([run], train, test, options)
    files = RunFiles(run.run_dir)
    assert json.loads(files.run_json.read_text())["params"]["readout"] == "per_step"
    history = pd.read_csv(files.history)

    tables = compute_run_metrics(run.run_dir, test, batch_size=25, model_config=options.model)
    write_run_metrics(run.run_dir, tables)
    summary = tables["summary"].set_index("epoch")
    last = history["epoch"].max()
    assert summary.loc[last, "accuracy"] == history.loc[history["epoch"] == last, "test_acc"].item()
    # With the max readout the metrics would differ from the history (else this test proves nothing).
    by_max = compute_run_metrics(run.run_dir, test, batch_size=25, model_config=ModelConfig(readout="max"))
    assert not by_max["summary"]["accuracy"].equals(tables["summary"]["accuracy"])
    per_class = tables["activity_class"].query("epoch == @last")

    # Fig 3 plots metrics' per-class accuracy: weighted by class size it is the history's test_acc.
    run_table = collect_run_table([run.run_dir], "synthetic")
    data = fig3.class_activity_table(run_table, read_run_metrics(run.run_dir)["activity_class"].assign(
        run_dir=str(run.run_dir)))
    final = data[data["column"] == "final"].merge(per_class[["class", "n_images"]], on="class")
    correct = np.rint(final["accuracy_pct"] / 100 * final["n_images"]).sum()
    assert correct / final["n_images"].sum() == history["test_acc"].iloc[-1]

    # Fig 1b's chosen class is the per-step decision of the final network on that sample.
    model = pytest.importorskip("eisnn.model")
    snapshot = Snapshot.load(files.snapshot(last))
    _, _, output = next(model.iter_activity(snapshot, test, 16, options.model, indices=np.arange(16)))
    expected = predict(output, "per_step", time_axis=1)
    for sample in range(16):
        probe = fig1.read_probe(files.probe, sample=sample)
        assert probe["readout"] == "per_step"
        assert probe["predicted"] == expected[sample] == predict(probe["output"], "per_step")
    figure_data = pd.read_csv(fig1.build_fig1b(files.probe, tmp_path / "fig1b", sample=3)["data"])
    assert set(figure_data["predicted"]) == {expected[3]}


def test_metrics_read_only_the_snapshots_run_json_declares(tmp_path, fake_model):
    """A stray weights file changes nothing; a declared snapshot or run.json that is gone is an
    error naming the file."""
    exc = np.array([True, False, True, True, False])
    run_dir, data = make_run(tmp_path, exc)
    expected = compute_run_metrics(run_dir, data, batch_size=4)["summary"]
    make_snapshot(5, exc, True, seed=5).save(RunFiles(run_dir).snapshot(5))  # a stray copy, not declared
    pd.testing.assert_frame_equal(compute_run_metrics(run_dir, data, batch_size=4)["summary"], expected)
    (run_dir / "weights_epoch-2.npz").unlink()
    with pytest.raises(FileNotFoundError, match="weights_epoch-2.npz is missing but run.json declares it"):
        compute_run_metrics(run_dir, data, batch_size=4)
    (run_dir / "run.json").unlink()
    with pytest.raises(FileNotFoundError, match="run.json is missing: the run is not complete"):
        compute_run_metrics(run_dir, data, batch_size=4)
