"""eisnn.reproduction: the paper's numbers as data, the scorecard's statistics and verdict rules."""

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from eisnn import reproduction as rp
from eisnn.config import EXPERIMENTS
from eisnn.figures.scorecard import build_scorecard_figure
from eisnn.figures.tables import scorecard_html
from eisnn.paper import PAPER_BASELINE_ACCURACY
from eisnn.stats import RUN_COLUMNS

ROOT = Path(__file__).resolve().parents[1]
CLAIMS = rp.load_claims()
BY_ID = {claim.id: claim for claim in CLAIMS}


# ---------------------------------------------------------------------------------------------
# The paper's numbers
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("table", ["table2", "table3"])
def test_every_cell_of_tables_2_and_3_is_a_claim(table):
    for ratio in ("50:50", "80:20", "95:5"):
        for group in ("pre-training", "successful", "failed"):
            for cell in ("accuracy", "median_ee", "median_ei", "median_ii", "kruskal_p", "n"):
                assert f"{table}.{ratio}.{group}.{cell}" in BY_ID


@pytest.mark.parametrize(
    "claim_id, value",
    [
        ("table2.80:20.successful.accuracy", 0.8071),
        ("table2.50:50.successful.median_ii", 1.079),
        ("table2.50:50.successful.kruskal_p", 0.0091),
        ("table2.95:5.failed.median_ei", 1.769),
        ("table3.95:5.successful.median_ei", 2.775),
        ("table3.80:20.failed.kruskal_p", 0.4166),
        ("table3.50:50.pre-training.n", 137),
        ("fig1c.unconstrained_line", 0.86),
        ("fig1d.unconstrained_line", 0.48),
        ("sec2.5.fmnist_50_50_ee_to_ii_increase", 0.396),
    ],
)
def test_paper_values_as_printed(claim_id, value):
    assert BY_ID[claim_id].paper == pytest.approx(value)


def test_table_shares_and_the_39_6_percent_follow_from_the_printed_cells():
    assert BY_ID["table2.50:50.successful.n"].paper == pytest.approx(32 / 141)
    assert BY_ID["table3.95:5.failed.n"].paper == pytest.approx(110 / 140)
    assert BY_ID["table2.80:20.successful.kruskal_p"].p_below
    # §2.5's 39.6 % is Table 2's 50:50 successful medians: 0.773 -> 1.079.
    ee, ii = BY_ID["table2.50:50.successful.median_ee"].paper, BY_ID["table2.50:50.successful.median_ii"].paper
    assert (ii - ee) / ee == pytest.approx(BY_ID["sec2.5.fmnist_50_50_ee_to_ii_increase"].paper, abs=5e-4)


def test_the_claims_the_issue_lists_are_present_and_well_formed():
    for prefix in ("fig1c.trains_above_80.", "fig1d.trains_above_40.", "fig1c.best_initial_rate_0.01_to_25.6_hz.",
                   "fig1c.high_activity_fails", "fig2c.75_25_above_100_0_at_0.2", "fig2d.best_ratio_at_0.4",
                   "fig2e.best_ratio_at_0.6", "fig2b.50_50_drops_at_0.3", "fig2b.others_about_60_at_0.3",
                   "fig2c.about_70_at_0.2", "sec2.5.fmnist_ee_below_ii.", "sec2.5.fmnist_50_50_ee_to_ii_increase"):
        assert any(claim.id.startswith(prefix) for claim in CLAIMS), prefix
    for claim in CLAIMS:
        assert claim.experiment in EXPERIMENTS and claim.source
        columns = claim.column if isinstance(claim.column, tuple) else (claim.column,)
        for column in (*columns, claim.versus_column, claim.rate_column):
            assert column is None or column in RUN_COLUMNS, (claim.id, column)
    assert PAPER_BASELINE_ACCURACY == {"fmnist": 0.86, "shd": 0.48}  # the figures' line comes from the file


# ---------------------------------------------------------------------------------------------
# Intervals against independent computations
# ---------------------------------------------------------------------------------------------


def test_mean_interval_is_the_student_t_interval():
    x = np.array([0.81, 0.79, 0.84, 0.80, 0.77, 0.83])
    mean, low, high = rp.mean_interval(x)
    expected = sps.t.interval(0.95, x.size - 1, loc=x.mean(), scale=sps.sem(x))
    assert mean == pytest.approx(x.mean()) and (low, high) == pytest.approx(expected, rel=1e-12)
    assert math.isnan(rp.mean_interval([0.8])[1])


@pytest.mark.parametrize("hits, n", [(0, 5), (3, 10), (32, 141), (10, 10)])
def test_wilson_interval_solves_the_score_equation(hits, n):
    """The bounds are the roots p of (p̂ − p)² = z² p (1 − p) / n."""
    share, low, high = rp.wilson_interval(hits, n)
    z = sps.norm.ppf(0.975)
    p_hat = hits / n
    roots = np.sort(np.roots([1 + z * z / n, -(2 * p_hat + z * z / n), p_hat * p_hat]).real)
    assert share == pytest.approx(p_hat) and (low, high) == pytest.approx(tuple(np.clip(roots, 0, 1)), abs=1e-12)


def test_bootstrap_interval_of_a_median_matches_the_asymptotic_interval():
    """For a large normal sample the median's standard error is √(π/2)·σ/√n."""
    x = np.random.default_rng(1).normal(1.0, 0.2, size=400)
    median, low, high = rp.bootstrap_interval(rp.median, [x])
    half = 1.96 * math.sqrt(math.pi / 2) * 0.2 / math.sqrt(x.size)
    assert median == pytest.approx(np.median(x))
    assert (high - low) / 2 == pytest.approx(half, rel=0.2)
    assert rp.bootstrap_interval(rp.median, [x]) == (median, low, high)  # seeded: deterministic


def test_welch_difference_interval_matches_scipy():
    rng = np.random.default_rng(2)
    x, y = rng.normal(0.72, 0.03, 16), rng.normal(0.69, 0.05, 16)
    diff, low, high, p = rp._welch_interval(x, y)
    result = sps.ttest_ind(x, y, equal_var=False)
    interval = result.confidence_interval(0.95)
    assert diff == pytest.approx(x.mean() - y.mean())
    assert (low, high) == pytest.approx((interval.low, interval.high), rel=1e-10)
    assert p == pytest.approx(result.pvalue, rel=1e-10)


# ---------------------------------------------------------------------------------------------
# Verdicts on synthetic run tables
# ---------------------------------------------------------------------------------------------


def run_table(rows: list[dict]) -> pd.DataFrame:
    """A run table with the columns of runs.csv; unspecified values are NaN."""
    table = pd.DataFrame(rows)
    for column in RUN_COLUMNS:
        if column not in table:
            table[column] = np.nan
    table["success"] = [value == value and bool(value) for value in table["success"]]  # NaN -> False
    return table[RUN_COLUMNS]


def networks(n, ratio, rng, **columns):
    """n runs of ``ratio``; each column value is (mean, sd) drawn normally, or a constant."""
    rows = []
    for i in range(n):
        row = {"ratio": ratio, "seed": i, "noise_frac": 0.0, "sigma_init": 0.001}
        for name, value in columns.items():
            row[name] = rng.normal(*value) if isinstance(value, tuple) else value
        rows.append(row)
    return rows


def scored(claim_id, table, reference_sigma=None):
    return rp.score_claim(BY_ID[claim_id], table, reference_sigma)


def test_a_table_cell_that_holds_is_reproduced_one_that_fails_is_not_and_one_network_is_inconclusive():
    rng = np.random.default_rng(3)
    claim = "table2.80:20.successful.accuracy"  # 80.71 % ± 3 points
    holds = run_table(networks(20, 0.8, rng, acc_final=(0.807, 0.01), success=True))
    fails = run_table(networks(20, 0.8, rng, acc_final=(0.60, 0.01), success=True))
    few = run_table(networks(1, 0.8, rng, acc_final=0.807, success=True))
    assert scored(claim, holds).verdict == "reproduced"
    assert scored(claim, fails).verdict == "not reproduced"
    assert scored(claim, few).verdict == "inconclusive"
    # Failed networks are not counted among the successful ones.
    mixed = run_table(networks(20, 0.8, rng, acc_final=(0.807, 0.01), success=True)
                      + networks(20, 0.8, rng, acc_final=(0.1, 0.01), success=False))
    assert scored(claim, mixed).n == 20 and scored(claim, mixed).verdict == "reproduced"


def test_median_distance_cells_use_the_relative_tolerance():
    rng = np.random.default_rng(4)
    claim = "table2.80:20.successful.median_ee"  # 0.890 ± 15 %
    near = run_table(networks(40, 0.8, rng, vr_final_ee=(0.90, 0.05), success=True))
    far = run_table(networks(40, 0.8, rng, vr_final_ee=(1.40, 0.05), success=True))
    result = scored(claim, near)
    assert result.verdict == "reproduced" and result.ours == pytest.approx(np.median(near["vr_final_ee"]))
    assert scored(claim, far).verdict == "not reproduced"


def test_success_shares_against_the_tables_n():
    rng = np.random.default_rng(5)
    claim = "table2.50:50.successful.n"  # 32 of 141 = 0.227 ± 0.10
    like_paper = run_table(networks(23, 0.5, rng, success=True) + networks(77, 0.5, rng, success=False))
    most_train = run_table(networks(80, 0.5, rng, success=True) + networks(20, 0.5, rng, success=False))
    result = scored(claim, like_paper)
    assert result.ours == pytest.approx(0.23) and result.n == 100 and result.verdict == "reproduced"
    assert scored(claim, most_train).verdict == "not reproduced"
    assert scored("table2.50:50.pre-training.n", like_paper).verdict == "inconclusive"  # a grid size


def test_kruskal_cells_compare_significance():
    rng = np.random.default_rng(6)
    claim = "table2.80:20.successful.kruskal_p"  # p < 0.0001 with N = 41
    separated = run_table(networks(41, 0.8, rng, vr_final_ee=(0.9, 0.05), vr_final_ei=(1.0, 0.05),
                                   vr_final_ii=(1.1, 0.05), success=True))
    alike = run_table(networks(41, 0.8, rng, vr_final_ee=(1.0, 0.05), vr_final_ei=(1.0, 0.05),
                               vr_final_ii=(1.0, 0.05), success=True))
    result = scored(claim, separated)
    expected = sps.kruskal(*(separated[c] for c in ("vr_final_ee", "vr_final_ei", "vr_final_ii"))).pvalue
    assert result.verdict == "reproduced" and result.p == pytest.approx(expected, rel=1e-9)
    assert scored(claim, alike).verdict == "not reproduced"  # as many networks as the paper, no difference
    assert scored(claim, alike.iloc[:5]).verdict == "inconclusive"  # fewer networks: not evidence against


def test_difference_claims_follow_the_paper_direction_and_level():
    rng = np.random.default_rng(7)
    claim = "fig2c.75_25_above_100_0_at_0.2"  # 75:25 > 100:0, p < 0.01, 16 trials
    def grid(mean_75, n=16):
        rows = networks(n, 0.75, rng, acc_last10=(mean_75, 0.01)) + networks(n, 1.0, rng, acc_last10=(0.70, 0.01))
        for row in rows:
            row["noise_frac"] = 0.2
        return run_table(rows)
    higher, lower, same = grid(0.73), grid(0.67), grid(0.70)
    result = scored(claim, higher)
    ttest = sps.ttest_ind(higher[higher.ratio == 0.75]["acc_last10"], higher[higher.ratio == 1.0]["acc_last10"],
                          equal_var=False)
    assert result.verdict == "reproduced" and result.p == pytest.approx(ttest.pvalue, rel=1e-9)
    assert scored(claim, lower).verdict == "not reproduced"
    assert scored(claim, grid(0.70, n=1)).verdict == "inconclusive"
    same_result = scored(claim, same)
    assert same_result.verdict in ("not reproduced", "inconclusive")
    assert same_result.verdict == ("not reproduced" if same_result.p >= 0.01 else "reproduced")


def test_paired_claim_uses_a_paired_test_within_networks():
    rng = np.random.default_rng(8)
    claim = "sec2.5.fmnist_ee_below_ii.80:20"
    ee = rng.normal(0.9, 0.1, 12)
    table = run_table([{"ratio": 0.8, "success": True, "vr_final_ee": e, "vr_final_ii": e + rng.normal(0.2, 0.02)}
                       for e in ee])
    result = scored(claim, table)
    expected = sps.ttest_rel(table["vr_final_ii"], table["vr_final_ee"])
    assert result.verdict == "reproduced" and result.p == pytest.approx(expected.pvalue, rel=1e-9)
    swapped = table.rename(columns={"vr_final_ee": "vr_final_ii", "vr_final_ii": "vr_final_ee"})
    assert scored(claim, swapped).verdict == "not reproduced"


def test_existence_best_rate_and_best_ratio_claims():
    rng = np.random.default_rng(9)
    trained = run_table([{"ratio": 0.5, "acc_final": a} for a in (0.1, 0.5, 0.82)])
    untrained = run_table([{"ratio": 0.5, "acc_final": a} for a in (0.1, 0.5, 0.7)])
    assert scored("fig1c.trains_above_80.50:50", trained).verdict == "reproduced"
    assert scored("fig1c.trains_above_80.50:50", untrained).verdict == "not reproduced"
    assert scored("fig1c.trains_above_80.50:50", untrained.iloc[:2]).verdict == "inconclusive"
    sweep = run_table([{"ratio": 0.8, "acc_final": a, "initial_rate_hz": r}
                       for a, r in ((0.83, 1.3), (0.80, 12.0), (0.10, 300.0))])
    assert scored("fig1c.best_initial_rate_0.01_to_25.6_hz.80:20", sweep).verdict == "reproduced"
    sweep.loc[2, "acc_final"] = 0.9
    assert scored("fig1c.best_initial_rate_0.01_to_25.6_hz.80:20", sweep).verdict == "not reproduced"
    noisy = []
    for ratio, mean in ((0.5, 0.40), (0.8, 0.62), (0.9, 0.60), (1.0, 0.55)):
        noisy += [{**row, "noise_frac": 0.4} for row in networks(4, ratio, rng, acc_last10=(mean, 0.01))]
    result = scored("fig2d.best_ratio_at_0.4", run_table(noisy))
    assert result.verdict == "reproduced" and result.ours == 0.8


def test_scorecard_covers_every_claim_and_variant_and_refuses_other_datasets(tmp_path):
    rng = np.random.default_rng(10)
    rows = networks(6, 0.8, rng, acc_final=(0.82, 0.01), success=True, vr_final_ee=(0.9, 0.05),
                    vr_final_ii=(1.1, 0.05), initial_rate_hz=(5, 1))
    default = run_table([{**r, "variant": "default", "readout": "max", "surrogate": "fast_sigmoid"} for r in rows])
    paper = run_table([{**r, "variant": "paper", "readout": "per_step", "surrogate": "exponential"} for r in rows])
    experiments = [
        rp.ExperimentRuns("fmnist_sigma", default, "fmnist", "fmnist", 0.0238),
        rp.ExperimentRuns("fmnist_sigma@paper", paper, "fmnist", "fmnist", 0.0238),
        rp.ExperimentRuns("fmnist_noise", run_table(networks(3, 0.8, rng)), "synthetic", "fmnist"),
    ]
    card = rp.score(CLAIMS, experiments)
    sigma_claims = [c.id for c in CLAIMS if c.experiment == "fmnist_sigma"]
    assert set(card[card["variant"] == "paper"]["claim"]) == set(sigma_claims)
    assert set(card["verdict"]) <= set(rp.VERDICTS)
    shd = card[card["claim"].str.startswith("table3.")]
    assert (shd["verdict"] == "inconclusive").all() and shd["reason"].str.contains("not run").all()
    noise = card[card["experiment"] == "fmnist_noise"]
    assert len(noise) and noise["reason"].str.contains("synthetic").all()
    assert set(card[card["variant"] == "paper"]["readout"]) == {"per_step"}
    csv, md = tmp_path / "scorecard.csv", tmp_path / "scorecard.md"
    rp.write_scorecard(card, csv, md, "test")
    text = md.read_text()
    assert all(claim.id in text for claim in CLAIMS) and all(kind in text for kind in rp.RULES)
    assert "| default | " in text and "| paper | " in text and "claims scored" in text
    html = scorecard_html(csv, "test")
    assert all(claim.id in html for claim in CLAIMS)
    paths = build_scorecard_figure(csv, tmp_path / "scorecard", "test")
    assert paths["png"].stat().st_size > 0
    plotted = pd.read_csv(paths["data"])
    assert set(plotted["quantity"]) <= {"accuracy", "distance", "share"} and len(plotted)


def test_the_scorecard_rules_are_documented():
    doc = (ROOT / "docs" / "reproduction.md").read_text()
    for kind in rp.RULES:
        assert re.search(rf"\*\*{kind}\*\*", doc), kind
