"""Tests of eisnn.stats against scipy.stats and hand computations."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from eisnn.layout import ratio_label
from eisnn.stats import (
    collect_run_table,
    holm_adjust,
    is_rate_table,
    kruskal_wallis,
    stars,
    ttests_vs_reference,
    two_sample_ttest,
    van_rossum_table,
    write_stats,
)

# --------------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("test,equal_var", [("welch", False), ("student", True)])
def test_two_sample_ttest_matches_scipy(test, equal_var):
    rng = np.random.default_rng(3)
    for nx, ny in [(16, 16), (5, 9), (2, 3)]:
        x = rng.normal(0.7, 0.05, nx)
        y = rng.normal(0.68, 0.09, ny)
        ours = two_sample_ttest(x, y, test)
        ref = sps.ttest_ind(x, y, equal_var=equal_var)
        assert ours["t"] == pytest.approx(ref.statistic, rel=1e-12)
        assert ours["df"] == pytest.approx(ref.df, rel=1e-12)
        assert ours["p"] == pytest.approx(ref.pvalue, rel=1e-10)
        assert ours["reason"] == ""


def test_two_sample_ttest_degenerate_groups():
    assert np.isnan(two_sample_ttest([0.5], [0.4, 0.6])["p"])
    assert "fewer than 2" in two_sample_ttest([0.5], [0.4, 0.6])["reason"]
    same = two_sample_ttest([0.5, 0.5, 0.5], [0.5, 0.5])
    assert np.isnan(same["p"]) and "zero variance" in same["reason"]
    with pytest.raises(ValueError):
        two_sample_ttest([1, 2], [3, 4], "paired")


def test_holm_adjust_hand_computed():
    # Sorted: .005·4 = .02, .01·3 = .03, .03·2 = .06, .04·1 = .04 -> running max .06.
    np.testing.assert_allclose(holm_adjust([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    out = holm_adjust([np.nan, 0.02, 0.5])
    assert np.isnan(out[0])
    np.testing.assert_allclose(out[1:], [0.04, 0.5])
    np.testing.assert_allclose(holm_adjust([0.6, 0.7]), [1.0, 1.0])  # capped at 1


def test_stars_thresholds():
    assert [stars(p) for p in (0.0009, 0.001, 0.0099, 0.01, 0.049, 0.05, np.nan)] == [
        "***", "**", "**", "*", "*", "ns", ""
    ]


def test_kruskal_wallis_matches_scipy_and_epsilon():
    rng = np.random.default_rng(4)
    groups = [rng.normal(1.0, 0.1, 12), rng.normal(1.1, 0.1, 9), np.round(rng.normal(1.2, 0.1, 15), 1)]
    groups[0][:3] = groups[2][:3]  # ties across groups
    ours = kruskal_wallis(groups)
    ref = sps.kruskal(*groups)
    assert ours["h"] == pytest.approx(ref.statistic, rel=1e-12)
    assert ours["p"] == pytest.approx(ref.pvalue, rel=1e-10)
    assert ours["n_obs"] == 36
    assert ours["epsilon_sq"] == pytest.approx(ref.statistic / 35)
    # An empty category is dropped: the test becomes the 2-group one.
    two = kruskal_wallis([groups[0], [], groups[1]])
    assert two["p"] == pytest.approx(sps.kruskal(groups[0], groups[1]).pvalue, rel=1e-10)


def test_kruskal_wallis_degenerate():
    same = kruskal_wallis([[1.0, 1.0], [1.0], [1.0, 1.0]])
    assert np.isnan(same["p"]) and same["reason"] == "all values identical"
    one = kruskal_wallis([[1.0, 2.0], [], [np.nan]])
    assert np.isnan(one["p"]) and "fewer than 2" in one["reason"]


def test_ratio_label():
    assert [ratio_label(r) for r in (0.5, 0.8, 0.95, 0.75, 1.0, None, float("nan"))] == [
        "50:50", "80:20", "95:5", "75:25", "100:0", "unconstrained", "unconstrained"
    ]


def test_is_rate_table():
    sigma_runs = pd.DataFrame({"ratio": [0.8, 1.0], "sigma_init": [1e-3, 1e-3], "target_rate_hz": [np.nan, np.nan]})
    rate_runs = sigma_runs.assign(target_rate_hz=[5.0, np.nan])
    assert not is_rate_table(sigma_runs) and is_rate_table(rate_runs)
    assert not is_rate_table(sigma_runs.drop(columns="target_rate_hz"))  # t-tests grouped by σ_init
    assert is_rate_table(rate_runs.iloc[0:0]) and not is_rate_table(pd.DataFrame(columns=["sigma_init"]))
    assert is_rate_table(pd.DataFrame({"target_rate_hz": ["5"]}))  # read back as text


# --------------------------------------------------------------------------------------------
# Run table
# --------------------------------------------------------------------------------------------


def write_run(root, name, *, ratio, accs, status="completed", diverged_epoch=None, vr=None,
              summary=None, sigma=0.001, noise=0.0, seed=0, calibration=None):
    run = root / name
    (run / "metrics").mkdir(parents=True)
    epochs = np.arange(1, len(accs) + 1)
    pd.DataFrame(
        {
            "epoch": epochs,
            "train_loss": 1.0,
            "train_acc": 0.5,
            "test_loss": 1.0,
            "test_acc": accs,
            "seconds": 1.0,
            "diverged": [diverged_epoch is not None and e >= diverged_epoch for e in epochs],
        }
    ).to_csv(run / "history.csv", index=False)
    params = {"ratio": ratio, "sigma_init": sigma, "noise_frac": noise, "seed": seed, "experiment": "exp"}
    if calibration is not None:  # a run initialised by target rate (eisnn.train.RunSpec.params)
        params.update(target_rate_hz=calibration["target_rate_hz"], calibration=calibration)
    (run / "run.json").write_text(json.dumps({"status": status, "params": params}))
    if summary is not None:
        pd.DataFrame(summary).to_csv(run / "metrics" / "summary.csv", index=False)
    if vr is not None:
        pd.DataFrame(vr, columns=["epoch", "category", "distance"]).to_csv(
            run / "metrics" / "van_rossum.csv", index=False
        )
    return run


def test_collect_run_table(tmp_path):
    accs = np.linspace(0.1, 0.6, 30)
    accs[20] = 0.9  # peak
    summary = {"epoch": [0, 1, 30], "accuracy": [0.1, 0.3, 0.6], "hidden_firing_rate_hz": [1.3, 2.0, 3.0]}
    good = write_run(
        tmp_path, "good", ratio=0.8, accs=accs, summary=summary,
        vr=[(0, "E-E", 1.2), (0, "E-I", 1.3), (0, "I-I", 1.4), (30, "E-E", 0.8), (30, "E-I", 0.9), (30, "I-I", 1.1)],
    )
    full = write_run(
        tmp_path, "full", ratio=1.0, accs=np.full(30, 0.4), summary=summary,
        vr=[(0, "E-E", 1.0), (30, "E-E", 0.7)],
    )
    div = write_run(tmp_path, "div", ratio=0.5, accs=[0.6, 0.7, np.nan], status="diverged", diverged_epoch=3)
    free = write_run(tmp_path, "free", ratio=None, accs=np.full(5, 0.85))

    table = collect_run_table([good, full, div, free], "fmnist").set_index("run_dir")
    g = table.loc[str(good)]
    assert g["acc_final"] == pytest.approx(0.6)
    assert g["acc_peak"] == pytest.approx(0.9)
    assert g["acc_last10"] == pytest.approx(accs[-10:].mean())
    assert g["acc_last25"] == pytest.approx(accs[-25:].mean())
    assert g["success"] and not g["diverged"] and g["ratio_label"] == "80:20"
    assert g["initial_rate_hz"] == 1.3 and g["acc_initial"] == 0.1 and g["final_snapshot_epoch"] == 30
    assert (g["vr_pre_ee"], g["vr_pre_ei"], g["vr_pre_ii"]) == (1.2, 1.3, 1.4)
    assert (g["vr_final_ee"], g["vr_final_ei"], g["vr_final_ii"]) == (0.8, 0.9, 1.1)

    f = table.loc[str(full)]
    assert not f["success"]  # peak 0.4 ≤ 0.5
    assert f["vr_final_ee"] == 0.7 and np.isnan(f["vr_final_ii"]) and np.isnan(f["vr_final_ei"])

    d = table.loc[str(div)]
    assert d["diverged"] and not d["success"]  # peak 0.7 > 0.5 but diverged
    assert d["acc_peak"] == pytest.approx(0.7) and d["acc_last10"] == pytest.approx(0.65)
    assert np.isnan(d["initial_rate_hz"])

    u = table.loc[str(free)]
    assert np.isnan(u["ratio"]) and not u["constrained"] and u["ratio_label"] == "unconstrained"

    # SHD rule: mean of the last 25 epochs > 0.3 (the 0.4 flat run succeeds, peak does not matter).
    shd = collect_run_table([good, full], "shd").set_index("run_dir")
    assert shd.loc[str(full), "success"]
    assert shd.loc[str(good), "success"] == (accs[-25:].mean() > 0.3)

    with pytest.raises(ValueError):
        collect_run_table([good], "mnist")
    (good / "run.json").unlink()
    with pytest.raises(FileNotFoundError):
        collect_run_table([good], "fmnist")


# --------------------------------------------------------------------------------------------
# t-tests and Tables 2/3 on a synthetic run table
# --------------------------------------------------------------------------------------------


def synthetic_run_table(seed=5):
    rng = np.random.default_rng(seed)
    rows = []
    for noise in (0.2, 0.4):
        for ratio, shift in ((0.5, -0.05), (0.8, 0.02), (1.0, 0.0), (None, 0.1)):
            for s in range(16):
                rows.append(
                    {
                        "ratio": np.nan if ratio is None else ratio,
                        "ratio_label": ratio_label(ratio),
                        "noise_frac": noise,
                        "sigma_init": 0.001,
                        "seed": s,
                        "acc_last10": 0.7 + shift + rng.normal(0, 0.03),
                    }
                )
    return pd.DataFrame(rows)


@pytest.mark.parametrize("test,equal_var", [("welch", False), ("student", True)])
def test_ttests_vs_reference(test, equal_var):
    table = synthetic_run_table()
    out = ttests_vs_reference(table, test=test)
    assert len(out) == 4  # 2 noise levels × ratios 0.5, 0.8 (reference and unconstrained excluded)
    for _, r in out.iterrows():
        sel = table[table.noise_frac == r.noise_frac]
        x = sel.loc[sel.ratio == r.ratio, "acc_last10"]
        y = sel.loc[sel.ratio == 1.0, "acc_last10"]
        ref = sps.ttest_ind(x, y, equal_var=equal_var)
        assert r["p"] == pytest.approx(ref.pvalue, rel=1e-10)
        assert r["mean_diff"] == pytest.approx(x.mean() - y.mean())
        assert (r["n"], r["n_ref"]) == (16, 16)
        assert r["stars"] == stars(r["p"])
    for _, level in out.groupby("noise_frac"):
        np.testing.assert_allclose(level["p_holm"], holm_adjust(level["p"].to_numpy()))


def test_ttests_degenerate_levels():
    table = synthetic_run_table()
    table = table[~((table.noise_frac == 0.4) & (table.ratio == 1.0))]  # no reference at 0.4
    one = table.index[(table.noise_frac == 0.2) & (table.ratio == 0.5)][1:]
    table = table.drop(one)  # a single 50:50 run at 0.2
    out = ttests_vs_reference(table).set_index(["noise_frac", "ratio"])
    assert out.loc[(0.4, 0.5), "reason"] == "no reference runs" and np.isnan(out.loc[(0.4, 0.8), "p"])
    assert np.isnan(out.loc[(0.2, 0.5), "p"]) and "fewer than 2" in out.loc[(0.2, 0.5), "reason"]
    # The remaining comparison is alone in its Holm family: adjusted p equals p.
    assert out.loc[(0.2, 0.8), "p_holm"] == pytest.approx(out.loc[(0.2, 0.8), "p"])
    with pytest.raises(KeyError):
        ttests_vs_reference(table, value="acc_nope")


def vr_run_table(seed=6):
    rng = np.random.default_rng(seed)
    rows = []
    for ratio in (0.5, 0.8, 1.0, None):
        for s in range(10):
            success = s < 6
            row = {
                "ratio": np.nan if ratio is None else ratio,
                "success": success,
                "acc_initial": 0.1 + 0.001 * s,
                "acc_final": (0.8 if success else 0.15) + 0.001 * s,
            }
            for when, base in (("pre", 1.3), ("final", 0.9 if success else 1.5)):
                row[f"vr_{when}_ee"] = base + rng.normal(0, 0.05)
                row[f"vr_{when}_ei"] = base + 0.1 * success + rng.normal(0, 0.05) if ratio != 1.0 else np.nan
                row[f"vr_{when}_ii"] = base + 0.2 * success + rng.normal(0, 0.05) if ratio != 1.0 else np.nan
                row[f"vr_{when}_all"] = np.nan
            rows.append(row)
    return pd.DataFrame(rows)


def test_van_rossum_table():
    runs = vr_run_table()
    out = van_rossum_table(runs)
    assert list(out["ratio"].unique()) == [0.5, 0.8, 1.0]  # unconstrained excluded
    assert len(out) == 9
    t = out.set_index(["ratio", "group"])
    for ratio in (0.5, 0.8):
        r = runs[runs.ratio == ratio]
        for group, sub, when, acc in (
            ("pre-training", r, "pre", "acc_initial"),
            ("successful", r[r.success], "final", "acc_final"),
            ("failed", r[~r.success], "final", "acc_final"),
        ):
            row = t.loc[(ratio, group)]
            samples = [sub[f"vr_{when}_{c}"] for c in ("ee", "ei", "ii")]
            ref = sps.kruskal(*samples)
            assert row["kw_p"] == pytest.approx(ref.pvalue, rel=1e-10)
            assert row["epsilon_sq"] == pytest.approx(ref.statistic / (3 * len(sub) - 1))
            assert row["n_networks"] == len(sub) and row["kw_n_obs"] == 3 * len(sub)
            assert row["median_ei"] == pytest.approx(np.median(samples[1]))
            assert row["mean_accuracy"] == pytest.approx(sub[acc].mean())
    assert t.loc[(0.8, "successful"), "kw_p"] < 0.01  # the built-in category shift is detected
    assert np.isnan(t.loc[(1.0, "successful"), "kw_p"])
    assert "fewer than 2 categories" in t.loc[(1.0, "successful"), "reason"]
    # A group with no network gives a row with N = 0 instead of an error.
    none_failed = van_rossum_table(runs.assign(success=True)).set_index(["ratio", "group"])
    assert none_failed.loc[(0.5, "failed"), "n_networks"] == 0
    assert none_failed.loc[(0.5, "failed"), "reason"] == "no networks"


def test_write_stats(tmp_path):
    runs = vr_run_table().merge(synthetic_run_table().iloc[:40], left_index=True, right_index=True, suffixes=("", "_y"))
    runs = runs.drop(columns=[c for c in runs.columns if c.endswith("_y")]).assign(experiment="exp")
    paths = write_stats(runs, tmp_path / "stats", "fmnist")
    for p in paths.values():
        assert p.exists()
    back = pd.read_csv(paths["van_rossum_table"])
    assert len(back) == len(van_rossum_table(runs))
    md = paths["van_rossum_table_md"].read_text()
    assert "| 80:20 |" in md and "pre-training: p-value (N)" in md
    tt = pd.read_csv(paths["ttests"])
    assert {"p", "p_holm", "stars", "mean_diff", "reason"} <= set(tt.columns)
    assert "difference (%)" in paths["ttests_md"].read_text()


def test_target_rate_runs_are_compared_at_matched_rates(tmp_path):
    """Each run has its own calibrated σ; the t-tests group by the target rate, not by σ."""
    rng = np.random.default_rng(11)
    run_dirs, expected, written_rate_hz = [], {}, {}
    for target in (1.0, 10.0):
        for ratio, shift in ((1.0, 0.0), (0.8, 0.01), (0.5, -0.05)):
            accs_by_seed = []
            for seed in range(4):
                acc = 0.75 + shift - 0.01 * np.log10(target) + rng.normal(0, 0.01)
                accs_by_seed.append(acc)
                calibration = {"target_rate_hz": target, "rate_hz": target * (1 + rng.uniform(-0.04, 0.04)),
                               "sigma_init": 1e-3 * target * (1 + 0.1 * seed)}
                run_dirs.append(write_run(tmp_path, f"r{ratio}_t{target}_s{seed}", ratio=ratio, accs=np.full(12, acc),
                                          sigma=calibration["sigma_init"], seed=seed, calibration=calibration))
                written_rate_hz[str(run_dirs[-1])] = calibration["rate_hz"]
            expected[(target, ratio)] = np.array(accs_by_seed)
    table = collect_run_table(run_dirs, "fmnist")
    assert table["target_rate_hz"].tolist() == [1.0] * 12 + [10.0] * 12
    assert table["calibrated_rate_hz"].tolist() == [written_rate_hz[d] for d in table["run_dir"]]
    paths = write_stats(table, tmp_path / "stats", "fmnist")
    tt = pd.read_csv(paths["ttests"])
    assert "sigma_init" not in tt.columns and len(tt) == 2 * 2
    for _, row in tt.iterrows():
        x, ref = expected[(row["target_rate_hz"], row["ratio"])], expected[(row["target_rate_hz"], 1.0)]
        scipy = sps.ttest_ind(x, ref, equal_var=False)
        assert row["n"] == row["n_ref"] == 4
        assert row["mean_diff"] == pytest.approx(x.mean() - ref.mean(), abs=1e-12)
        assert row["p"] == pytest.approx(scipy.pvalue, rel=1e-8)
    assert "| target_rate_hz | noise_frac | ratio |" in paths["ttests_md"].read_text()
    assert is_rate_table(table) and is_rate_table(tt)
    # σ experiments keep NaN in the new columns
    sigma_run = write_run(tmp_path, "sigma", ratio=0.8, accs=np.full(3, 0.7))
    assert collect_run_table([sigma_run], "fmnist")[["target_rate_hz", "calibrated_rate_hz"]].isna().all(axis=None)
