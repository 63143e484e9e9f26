"""The reproduction scorecard: every quantitative claim of the paper scored against our runs.

The claims are data (``paper_claims.yaml``, loaded by :func:`load_claims`): the statements of
the text and figures, and every cell of Tables 2 and 3. :func:`score` evaluates each claim on
the run table (``stats/runs.csv``, docs/formats.md) of the experiment it concerns and of each of
that experiment's method variants, and gives our value, its 95 % uncertainty and a verdict:
``reproduced``, ``not reproduced`` or ``inconclusive``. The rule of each claim kind is written
in docs/reproduction.md and in :data:`RULES`; the tests check the statistics against independent
computations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import yaml
from scipy import stats as sps

from eisnn.io import write_csv_atomic, write_text_atomic
from eisnn.layout import ratio_label, split_variant
from eisnn.paper import CLAIMS_FILE
from eisnn.stats import format_p, kruskal_wallis, markdown_table, two_sample_ttest


VERDICTS = ("reproduced", "not reproduced", "inconclusive")
CONFIDENCE = 0.95
"""Level of every confidence interval of the scorecard."""
SIGNIFICANCE = 0.05
"""Level at which a difference in the opposite direction, or a Kruskal–Wallis p, counts as significant."""
MIN_NETWORKS = 3
"""Networks an existence, universal or best-of claim needs before its absence can count against it."""
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0

TABLE_GROUPS = ("pre-training", "successful", "failed")
CATEGORIES = ("ee", "ei", "ii")

RULES = {
    "mean": "equivalence: the 95 % t-interval of our mean lies within the paper's value ± tolerance → reproduced; "
            "entirely outside → not reproduced; overlapping the edge, or fewer than 2 networks → inconclusive",
    "median": "equivalence as for a mean, with a bootstrap (percentile) 95 % interval of the median",
    "fraction": "equivalence as for a mean, with the Wilson 95 % interval of the share of networks",
    "relative_increase": "equivalence as for a mean, with a bootstrap 95 % interval of (median b − median a) / median a",
    "difference": "Welch t-test: the paper's direction with p < its α → reproduced; the opposite direction with "
                  "p < 0.05, or no significant difference with at least the paper's number of networks per group → "
                  "not reproduced; otherwise (or fewer than 2 per group) → inconclusive",
    "kruskal": "Kruskal–Wallis across E-E, E-I, I-I: significant (p < 0.05) where the paper's is, or not "
               "significant where the paper's is not, with at least the paper's N → reproduced; the opposite "
               "significance (a non-significant result only with at least the paper's N) → not reproduced; "
               "otherwise inconclusive",
    "paired_less": "paired t-test of b − a within networks: b > a with p < 0.05 → reproduced; b < a with p < 0.05 → "
                   "not reproduced; otherwise (or fewer than 2 networks) → inconclusive",
    "any_above": "some network above the paper's value → reproduced; none among at least 3 → not reproduced; "
                 "fewer than 3 networks → inconclusive",
    "all_below": "every value below the paper's bound among at least 3 networks → reproduced; any value at or "
                 "above it → not reproduced; fewer than 3 networks → inconclusive",
    "all_above": "every value above the paper's bound among at least 3 networks → reproduced; any value at or "
                 "below it → not reproduced; fewer than 3 networks → inconclusive",
    "best_in_range": "the initial rate of the most accurate network inside the paper's range → reproduced, outside "
                     "→ not reproduced; inconclusive with fewer than 3 networks or no network on each side of the range",
    "best_ratio": "the ratio with the highest mean among ratios with at least 2 networks is one the paper names → "
                  "reproduced; another, significantly (Welch p < 0.05) above the best the paper names → not "
                  "reproduced; otherwise inconclusive",
    "count": "a number of networks is a grid size, not a result: compared through the shares of successful and "
             "failed networks; always inconclusive",
}
"""Kind of claim -> the rule that decides its verdict (docs/reproduction.md)."""

SCORECARD_COLUMNS = [
    "claim", "source", "kind", "experiment", "variant", "readout", "surrogate", "paper", "paper_value",
    "ours", "ci_low", "ci_high", "n", "p", "verdict", "reason", "quantity",
]


# ---------------------------------------------------------------------------------------------
# Claims
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """One quantitative claim: where it comes from, what it says, and how it is scored."""

    id: str
    source: str
    experiment: str
    kind: str
    column: str | tuple[str, ...] | None = None
    select: Mapping[str, Any] = field(default_factory=dict)
    versus: Mapping[str, Any] | None = None
    versus_column: str | None = None
    paper: Any = None
    tolerance: float | None = None
    rel_tolerance: float | None = None
    direction: str | None = None
    alpha: float = SIGNIFICANCE
    paper_n: int | None = None
    p_below: bool = False
    of: str | None = None
    rate_column: str | None = None

    @property
    def band(self) -> float:
        """Half-width of the equivalence band around the paper's value."""
        if self.tolerance is not None:
            return float(self.tolerance)
        return float(self.rel_tolerance) * abs(float(self.paper))


def _claim(spec: Mapping[str, Any]) -> Claim:
    spec = dict(spec)
    if spec["kind"] not in RULES:
        raise ValueError(f"claim {spec['id']}: unknown kind {spec['kind']!r}; expected one of {sorted(RULES)}")
    column = spec.get("column")
    if isinstance(column, list):
        spec["column"] = tuple(column)
    if isinstance(spec.get("paper"), list):
        spec["paper"] = tuple(spec["paper"])
    return Claim(**spec)


def _table_cells(name: str, table: Mapping[str, Any], tolerances: Mapping[str, float]) -> list[Claim]:
    """One claim per cell of Table 2 or 3: accuracy, three medians, Kruskal–Wallis p, N per ratio × group."""
    claims = []
    for ratio, groups in table["rows"].items():
        ratio = float(ratio)
        label = ratio_label(ratio)
        n_all = groups["pre-training"]["n"]
        for group in TABLE_GROUPS:
            cell = groups[group]
            when = "pre" if group == "pre-training" else "final"
            select = {"ratio": ratio} if group == "pre-training" else {"ratio": ratio, "group": group}
            common = dict(experiment=table["experiment"], select=select)
            prefix = f"{name}.{label}.{group}"
            source = f"{table['source']}: {label}, {group}"
            claims.append(Claim(
                id=f"{prefix}.accuracy", source=f"{source}, average accuracy", kind="mean",
                column="acc_initial" if group == "pre-training" else "acc_final",
                paper=cell["accuracy"], tolerance=tolerances["accuracy"], **common,
            ))
            for category, median in zip(CATEGORIES, cell["median"]):
                claims.append(Claim(
                    id=f"{prefix}.median_{category}", source=f"{source}, median {category.upper()[0]}-{category.upper()[1]}",
                    kind="median", column=f"vr_{when}_{category}", paper=median,
                    rel_tolerance=tolerances["distance"], **common,
                ))
            p_below = "p_below" in cell
            claims.append(Claim(
                id=f"{prefix}.kruskal_p", source=f"{source}, Kruskal–Wallis p", kind="kruskal",
                column=tuple(f"vr_{when}_{c}" for c in CATEGORIES), paper=cell["p_below"] if p_below else cell["p"],
                p_below=p_below, paper_n=cell["n"], alpha=tolerances["alpha"], **common,
            ))
            if group == "pre-training":
                claims.append(Claim(id=f"{prefix}.n", source=f"{source}, N", kind="count", paper=cell["n"], **common))
            else:
                claims.append(Claim(
                    id=f"{prefix}.n", source=f"{source}, N (share of the ratio's {n_all} networks)", kind="fraction",
                    experiment=table["experiment"], select={"ratio": ratio}, of=group, paper=cell["n"] / n_all,
                    paper_n=cell["n"], tolerance=tolerances["fraction"],
                ))
    return claims


def load_claims(path: str | Path = CLAIMS_FILE) -> list[Claim]:
    """Every claim of the claims file, with ``ratios:`` lists and the tables expanded."""
    data = yaml.safe_load(Path(path).read_text())
    claims = []
    for spec in data["claims"]:
        ratios = spec.get("ratios")
        if ratios is None:
            claims.append(_claim(spec))
            continue
        for ratio in ratios:
            one = {key: value for key, value in spec.items() if key != "ratios"}
            one["id"] = f"{spec['id']}.{ratio_label(ratio)}"
            one["select"] = {**spec.get("select", {}), "ratio": ratio}
            claims.append(_claim(one))
    for name, table in data.get("tables", {}).items():
        claims.extend(_table_cells(name, table, data["table_tolerances"]))
    ids = [claim.id for claim in claims]
    duplicated = sorted({i for i in ids if ids.count(i) > 1})
    if duplicated:
        raise ValueError(f"{path}: claim ids used twice: {', '.join(duplicated)}")
    return claims


# ---------------------------------------------------------------------------------------------
# Selections and intervals
# ---------------------------------------------------------------------------------------------


def select_runs(table: pd.DataFrame, select: Mapping[str, Any], reference_sigma: float | None = None) -> pd.DataFrame:
    """The runs of ``table`` that a claim's ``select`` names (keys: paper_claims.yaml header)."""
    mask = np.ones(len(table), dtype=bool)
    ratio = select.get("ratio")
    ratios = table["ratio"].to_numpy(dtype=float)
    if ratio == "constrained":
        mask &= np.isfinite(ratios)
    elif ratio == "unconstrained":
        mask &= ~np.isfinite(ratios)
    elif ratio is not None:
        wanted = np.atleast_1d(np.asarray(ratio, dtype=float))
        mask &= np.isclose(ratios[:, None], wanted[None, :]).any(axis=1)
    if "noise_frac" in select:
        mask &= np.isclose(table["noise_frac"].to_numpy(dtype=float), float(select["noise_frac"]))
    if "sigma_init" in select:
        sigma = reference_sigma if select["sigma_init"] == "reference" else select["sigma_init"]
        if sigma is None:
            mask &= False
        else:
            mask &= np.isclose(table["sigma_init"].to_numpy(dtype=float), float(sigma), rtol=1e-9, atol=0)
    group = select.get("group")
    if group is not None:
        success = table["success"].astype(str).str.lower().isin({"true", "1"}).to_numpy()
        mask &= success if group == "successful" else ~success
    bounds = select.get("initial_rate_hz")
    if bounds:
        rate = table["initial_rate_hz"].to_numpy(dtype=float)
        mask &= np.isfinite(rate)
        if "min" in bounds:
            mask &= rate >= float(bounds["min"])
        if "max" in bounds:
            mask &= rate <= float(bounds["max"])
    return table[mask]


def _finite(values) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    return values[np.isfinite(values)]


def mean_interval(values, confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """(mean, low, high): the Student t-interval of the mean; NaN bounds below 2 values."""
    x = _finite(values)
    if x.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(x.mean())
    if x.size < 2:
        return mean, math.nan, math.nan
    half = sps.t.ppf(0.5 + confidence / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size)
    return mean, mean - half, mean + half


def wilson_interval(successes: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """(share, low, high): the Wilson score interval of a binomial proportion; NaN for n = 0."""
    if n == 0:
        return math.nan, math.nan, math.nan
    z = sps.norm.ppf(0.5 + confidence / 2)
    share = successes / n
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n))
    return share, max(0.0, centre - half), min(1.0, centre + half)


def bootstrap_interval(statistic, columns: Sequence[np.ndarray], confidence: float = CONFIDENCE,
                       resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED) -> tuple[float, float, float]:
    """(statistic, low, high): a percentile bootstrap over rows (networks), the columns resampled together.

    ``statistic`` reduces its arguments along the last axis (``np.median(x, axis=-1)``), so that
    all resamples are computed at once.
    """
    columns = [np.asarray(c, dtype=float) for c in columns]
    n = columns[0].size
    if n == 0:
        return math.nan, math.nan, math.nan
    value = float(statistic(*(c[None, :] for c in columns))[0])
    if n < 2:
        return value, math.nan, math.nan
    rows = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    draws = statistic(*(c[rows] for c in columns))
    low, high = np.quantile(draws, [0.5 - confidence / 2, 0.5 + confidence / 2])
    return value, float(low), float(high)


def median(x: np.ndarray) -> np.ndarray:
    """Median along the last axis (the bootstrap's statistic)."""
    return np.median(x, axis=-1)


def median_increase(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(median b − median a) / median a along the last axis."""
    return (median(b) - median(a)) / median(a)


def _welch_interval(x: np.ndarray, y: np.ndarray, confidence: float = CONFIDENCE) -> tuple[float, float, float, float]:
    """(mean x − mean y, low, high, p) with Welch's t (two-sided)."""
    diff = float(x.mean() - y.mean())
    result = two_sample_ttest(x, y, "welch")
    if not np.isfinite(result["p"]):
        return diff, math.nan, math.nan, math.nan
    se = math.sqrt(x.var(ddof=1) / x.size + y.var(ddof=1) / y.size)
    half = sps.t.ppf(0.5 + confidence / 2, result["df"]) * se
    return diff, diff - half, diff + half, float(result["p"])


# ---------------------------------------------------------------------------------------------
# Scoring
# ---------------------------------------------------------------------------------------------


@dataclass
class Score:
    ours: float = math.nan
    ci_low: float = math.nan
    ci_high: float = math.nan
    n: int = 0
    p: float = math.nan
    verdict: str = "inconclusive"
    reason: str = ""


def equivalence(estimate: float, low: float, high: float, paper: float, band: float) -> tuple[str, str]:
    """Verdict of a value claim: the 95 % interval against the band paper ± band (:data:`RULES`)."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return "inconclusive", "no interval (fewer than 2 networks)"
    lower, upper = paper - band, paper + band
    text = f"95 % CI [{low:.3g}, {high:.3g}] vs {paper:.3g} ± {band:.3g}"
    if lower <= low and high <= upper:
        return "reproduced", f"{text}: inside"
    if high < lower or low > upper:
        return "not reproduced", f"{text}: outside"
    return "inconclusive", f"{text}: overlaps the edge"


def _values(runs: pd.DataFrame, column: str) -> np.ndarray:
    return _finite(runs[column])


def _score_value(claim: Claim, runs: pd.DataFrame) -> Score:
    if claim.kind == "mean":
        values = _values(runs, claim.column)
        estimate, low, high = mean_interval(values)
    elif claim.kind == "median":
        values = _values(runs, claim.column)
        estimate, low, high = bootstrap_interval(median, [values])
    else:  # relative_increase
        pairs = runs[[claim.column, claim.versus_column]].to_numpy(dtype=float)
        pairs = pairs[np.isfinite(pairs).all(axis=1)]
        values = pairs[:, 0]
        estimate, low, high = bootstrap_interval(median_increase, [pairs[:, 0], pairs[:, 1]])
    if values.size == 0:
        return Score(reason="no networks")
    verdict, reason = equivalence(estimate, low, high, float(claim.paper), claim.band)
    return Score(estimate, low, high, int(values.size), verdict=verdict, reason=reason)


def _score_fraction(claim: Claim, runs: pd.DataFrame) -> Score:
    n = len(runs)
    if n == 0:
        return Score(reason="no networks")
    hits = len(select_runs(runs, {"group": claim.of}))
    share, low, high = wilson_interval(hits, n)
    verdict, reason = equivalence(share, low, high, float(claim.paper), claim.band)
    return Score(share, low, high, n, verdict=verdict, reason=f"{hits} of {n} {claim.of}; {reason}")


def _score_difference(claim: Claim, runs: pd.DataFrame, versus: pd.DataFrame) -> Score:
    x, y = _values(runs, claim.column), _values(versus, claim.column)
    n = int(min(x.size, y.size))
    if x.size < 2 or y.size < 2:
        return Score(float(x.mean() - y.mean()) if x.size and y.size else math.nan, n=n,
                     reason=f"{x.size} and {y.size} networks: fewer than 2 in a group")
    diff, low, high, p = _welch_interval(x, y)
    sign = 1.0 if claim.direction == "greater" else -1.0
    score = Score(diff, low, high, n, p)
    if not np.isfinite(p):
        score.reason = "no variance in either group"
    elif sign * diff > 0 and p < claim.alpha:
        score.verdict, score.reason = "reproduced", f"difference in the paper's direction, p {format_p(p)} < {claim.alpha:g}"
    elif sign * diff < 0 and p < SIGNIFICANCE:
        score.verdict, score.reason = "not reproduced", f"significant difference in the opposite direction, p {format_p(p)}"
    elif claim.paper_n and n >= claim.paper_n:
        score.verdict, score.reason = "not reproduced", (
            f"no difference at p < {claim.alpha:g} (p {format_p(p)}) with {n} ≥ {claim.paper_n} networks per group")
    else:
        score.reason = f"p {format_p(p)} with {x.size} and {y.size} networks"
    return score


def _score_kruskal(claim: Claim, runs: pd.DataFrame) -> Score:
    samples = [_values(runs, column) for column in claim.column]
    result = kruskal_wallis(samples)
    n = len(runs)
    score = Score(result["p"], n=n, p=result["p"])
    p = result["p"]
    if not np.isfinite(p):
        score.reason = result["reason"] or "no networks"
        return score
    paper_significant = claim.p_below or float(claim.paper) < claim.alpha
    ours_significant = p < claim.alpha
    enough = claim.paper_n is None or n >= claim.paper_n
    text = f"p {format_p(p)} with {n} networks (paper: N = {claim.paper_n})"
    if ours_significant == paper_significant:
        if ours_significant or enough:
            score.verdict = "reproduced"
        text += "; significant as in the paper" if ours_significant else "; not significant, as in the paper"
    elif ours_significant or enough:
        score.verdict = "not reproduced"
        text += "; significant where the paper's is not" if ours_significant else "; not significant where the paper's is"
    else:
        text += "; not significant with fewer networks than the paper"
    score.reason = text
    return score


def _score_paired(claim: Claim, runs: pd.DataFrame) -> Score:
    pairs = runs[[claim.column, claim.versus_column]].to_numpy(dtype=float)
    pairs = pairs[np.isfinite(pairs).all(axis=1)]
    n = len(pairs)
    if n < 2:
        return Score(n=n, reason=f"{n} networks: fewer than 2")
    differences = pairs[:, 1] - pairs[:, 0]
    estimate, low, high = mean_interval(differences)
    sd = differences.std(ddof=1)
    p = float(2 * sps.t.sf(abs(estimate) / (sd / math.sqrt(n)), n - 1)) if sd > 0 else math.nan
    score = Score(estimate, low, high, n, p)
    medians = f"median {np.median(pairs[:, 0]):.3f} vs {np.median(pairs[:, 1]):.3f}"
    if np.isfinite(p) and p < SIGNIFICANCE:
        score.verdict = "reproduced" if estimate > 0 else "not reproduced"
    score.reason = f"{medians}; paired mean difference {estimate:+.3f}, p {format_p(p)}"
    return score


def _score_extreme(claim: Claim, runs: pd.DataFrame) -> Score:
    """``any_above`` (one value beyond the bound proves it) and ``all_below``/``all_above`` (one
    value beyond the bound disproves it); without such a value, at least MIN_NETWORKS networks decide."""
    columns = claim.column if isinstance(claim.column, tuple) else (claim.column,)
    values = np.concatenate([_values(runs, column) for column in columns]) if len(runs) else np.array([])
    n = len(runs)
    bound = float(claim.paper)
    if values.size == 0:
        return Score(n=n, reason="no networks")
    largest = claim.kind in ("any_above", "all_below")
    extreme = float(values.max() if largest else values.min())
    existential = claim.kind == "any_above"
    if existential:
        beyond = extreme > bound
    else:
        beyond = extreme >= bound if claim.kind == "all_below" else extreme <= bound
    score = Score(extreme, n=n, reason=f"{'largest' if largest else 'smallest'} of {values.size} values ({n} networks): {extreme:.3f}")
    if beyond:
        score.verdict = "reproduced" if existential else "not reproduced"
    elif n >= MIN_NETWORKS:
        score.verdict = "not reproduced" if existential else "reproduced"
    else:
        score.reason += f"; fewer than {MIN_NETWORKS} networks"
    return score


def _score_best_in_range(claim: Claim, runs: pd.DataFrame) -> Score:
    data = runs[[claim.column, claim.rate_column]].to_numpy(dtype=float)
    data = data[np.isfinite(data).all(axis=1)]
    n = len(data)
    low, high = (float(v) for v in claim.paper)
    if n == 0:
        return Score(reason="no networks")
    best_rate = float(data[np.argmax(data[:, 0]), 1])
    inside = (data[:, 1] >= low) & (data[:, 1] <= high)
    score = Score(best_rate, n=n)
    text = f"most accurate of {n} ({data[:, 0].max():.3f}) started at {best_rate:.3g} Hz"
    if n < MIN_NETWORKS:
        score.reason = f"{text}; fewer than {MIN_NETWORKS} networks"
    elif inside.all() or not inside.any():
        score.reason = f"{text}; no network on each side of {low:g}–{high:g} Hz"
    else:
        score.verdict = "reproduced" if low <= best_rate <= high else "not reproduced"
        score.reason = text
    return score


def _score_best_ratio(claim: Claim, runs: pd.DataFrame) -> Score:
    expected = [float(r) for r in claim.paper]
    groups = {float(r): _values(g, claim.column) for r, g in runs.groupby("ratio")}
    groups = {r: v for r, v in groups.items() if v.size >= 2}
    if len(groups) < 2:
        return Score(n=sum(v.size for v in groups.values()), reason="fewer than 2 ratios with 2 networks or more")
    means = {r: v.mean() for r, v in groups.items()}
    best = max(means, key=means.get)
    score = Score(best, n=int(min(v.size for v in groups.values())))
    named = [r for r in groups if any(math.isclose(r, e) for e in expected)]
    if any(math.isclose(best, e) for e in expected):
        score.verdict, score.reason = "reproduced", f"highest mean: {ratio_label(best)} ({means[best]:.3f})"
        return score
    if not named:
        score.reason = f"highest mean: {ratio_label(best)}; the grid has none of {', '.join(map(ratio_label, expected))}"
        return score
    runner = max(named, key=means.get)
    p = two_sample_ttest(groups[best], groups[runner], "welch")["p"]
    score.p = p
    text = f"highest mean: {ratio_label(best)} ({means[best]:.3f}) vs {ratio_label(runner)} ({means[runner]:.3f}), p {format_p(p)}"
    if np.isfinite(p) and p < SIGNIFICANCE:
        score.verdict = "not reproduced"
    score.reason = text
    return score


def score_claim(claim: Claim, table: pd.DataFrame, reference_sigma: float | None = None) -> Score:
    """Our value, its 95 % interval and the verdict of ``claim`` on one experiment's run table."""
    runs = select_runs(table, claim.select, reference_sigma)
    if claim.kind in ("mean", "median", "relative_increase"):
        return _score_value(claim, runs)
    if claim.kind == "fraction":
        return _score_fraction(claim, runs)
    if claim.kind == "difference":
        return _score_difference(claim, runs, select_runs(table, claim.versus, reference_sigma))
    if claim.kind == "kruskal":
        return _score_kruskal(claim, runs)
    if claim.kind == "paired_less":
        return _score_paired(claim, runs)
    if claim.kind in ("any_above", "all_below", "all_above"):
        return _score_extreme(claim, runs)
    if claim.kind == "best_in_range":
        return _score_best_in_range(claim, runs)
    if claim.kind == "best_ratio":
        return _score_best_ratio(claim, runs)
    return Score(float(len(runs)), n=len(runs), reason=f"a grid size: {len(runs)} networks here, {claim.paper:g} in the paper")


def paper_text(claim: Claim) -> str:
    """The paper's value as the scorecard prints it."""
    kind, paper = claim.kind, claim.paper
    if kind in ("mean", "median", "fraction", "relative_increase"):
        return f"{paper:.3g} ± {claim.band:.2g}"
    if kind == "difference":
        return f"{'>' if claim.direction == 'greater' else '<'} 0, p < {claim.alpha:g}"
    if kind == "kruskal":
        return f"p {'< ' + format(paper, 'g') if claim.p_below else '= ' + format(paper, '.4f')} (N = {claim.paper_n})"
    if kind == "paired_less":
        return "b > a"
    if kind == "any_above":
        return f"some > {paper:g}"
    if kind in ("all_below", "all_above"):
        return f"all {'<' if kind == 'all_below' else '>'} {paper:g}"
    if kind == "best_in_range":
        return f"{paper[0]:g}–{paper[1]:g} Hz"
    if kind == "best_ratio":
        return " or ".join(ratio_label(r) for r in paper)
    return f"{paper:g}"


def _quantity(claim: Claim) -> str:
    """What a value claim measures, for the figure's panels: accuracy, distance, share, other."""
    if claim.kind == "fraction":
        return "share"
    if claim.kind in ("mean",) and str(claim.column).startswith("acc"):
        return "accuracy"
    if claim.kind in ("median",):
        return "distance"
    return "other"


@dataclass(frozen=True)
class ExperimentRuns:
    """One experiment's (or variant's) run table and what scoring needs to know about it."""

    name: str
    table: pd.DataFrame
    dataset: str
    paper_dataset: str
    reference_sigma: float | None = None


def score(claims: Sequence[Claim], experiments: Sequence[ExperimentRuns]) -> pd.DataFrame:
    """The scorecard: one row per claim and per variant of its experiment (columns: docs/reproduction.md).

    A claim whose experiment was not run, or ran on another dataset than the paper's, is scored
    inconclusive with that reason.
    """
    by_base: dict[str, list[ExperimentRuns]] = {}
    for experiment in experiments:
        by_base.setdefault(split_variant(experiment.name)[0], []).append(experiment)
    rows = []
    for claim in claims:
        base = dict(
            claim=claim.id, source=claim.source, kind=claim.kind, paper=paper_text(claim),
            paper_value=float(claim.paper) if isinstance(claim.paper, (int, float)) else math.nan,
            quantity=_quantity(claim),
        )
        runs_of = by_base.get(claim.experiment, [])
        if not runs_of:
            rows.append({**base, "experiment": claim.experiment, "variant": "default", "verdict": "inconclusive",
                         "n": 0, "reason": f"experiment {claim.experiment} not run in this config"})
            continue
        for experiment in runs_of:
            table = experiment.table
            variant = split_variant(experiment.name)[1] or "default"
            options = {col: (table[col].dropna().iloc[0] if col in table and table[col].notna().any() else "")
                       for col in ("readout", "surrogate")}
            row = {**base, "experiment": experiment.name, "variant": variant, **options}
            if experiment.dataset != experiment.paper_dataset:
                rows.append({**row, "verdict": "inconclusive", "n": len(table),
                             "reason": f"ran on {experiment.dataset} data, not the paper's {experiment.paper_dataset}"})
                continue
            result = score_claim(claim, table, experiment.reference_sigma)
            rows.append({**row, **result.__dict__})
    return pd.DataFrame(rows, columns=SCORECARD_COLUMNS)


# ---------------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------------


def _number(x, spec: str = ".3g") -> str:
    return "n/a" if x is None or not np.isfinite(x) else format(x, spec)


def ours_text(row: Mapping[str, Any]) -> str:
    """Our value with its 95 % interval and N, as the Markdown scorecard prints it."""
    if row["kind"] == "best_ratio" and np.isfinite(row["ours"]):
        value = ratio_label(row["ours"])
    elif row["kind"] == "kruskal":
        value = f"p {format_p(row['p'])}"
    else:
        value = _number(row["ours"])
    if np.isfinite(row.get("ci_low", math.nan)):
        value += f" [{_number(row['ci_low'])}, {_number(row['ci_high'])}]"
    return f"{value} (n = {int(row['n'])})"


def variant_order(variants) -> list[str]:
    """Distinct variant names, the default first."""
    return sorted(set(variants), key=lambda v: (v != "default", v))


def verdict_counts(scorecard: pd.DataFrame) -> pd.DataFrame:
    """Verdicts per variant: rows variant, columns :data:`VERDICTS`."""
    counts = pd.crosstab(scorecard["variant"], scorecard["verdict"])
    return counts.reindex(columns=list(VERDICTS), fill_value=0)


def scorecard_markdown(scorecard: pd.DataFrame, title: str) -> str:
    """The scorecard as Markdown: verdict counts, where the variants disagree, every claim, the rules."""
    variants = variant_order(scorecard["variant"])
    counts = verdict_counts(scorecard)
    lines = [f"# {title}", "",
             "Each claim of the paper (src/eisnn/paper_claims.yaml) against our runs: our value with its 95 % "
             "interval and the number of networks n, and a verdict by the rule of the claim's kind (below; "
             "docs/reproduction.md). Claims of experiments this config did not run are inconclusive.", ""]
    lines.append(markdown_table(["variant", "claims scored", *VERDICTS],
                                [[v, int(counts.loc[v].sum()), *(int(counts.loc[v, c]) for c in VERDICTS)]
                                 for v in variants if v in counts.index]))
    wide = scorecard.pivot_table(index="claim", columns="variant", values="verdict", aggfunc="first")
    if len(variants) > 1:
        differing = wide[wide.nunique(axis=1) > 1]
        lines += ["", "## Where the variants disagree", ""]
        if len(differing):
            lines.append(markdown_table(["claim", *variants],
                                        [[claim, *(row.get(v, "—") for v in variants)] for claim, row in differing.iterrows()]))
        else:
            lines.append("Nowhere: every claim scored on both variants has the same verdict.")
    lines += ["", "## Every claim", ""]
    header = ["claim", "paper"]
    for variant in variants:
        header += [f"{variant}: ours", f"{variant}: verdict"]
    rows = []
    for claim_id, group in scorecard.groupby("claim", sort=False):
        first = group.iloc[0]
        row = [claim_id, first["paper"]]
        for variant in variants:
            match = group[group["variant"] == variant]
            if len(match):
                r = match.iloc[0]
                row += [ours_text(r), f"{r['verdict']}: {r['reason']}"]
            else:
                row += ["—", "not run"]
        rows.append(row)
    lines.append(markdown_table(header, rows))
    lines += ["", "## Rules", ""]
    lines += [f"- **{kind}**: {rule}" for kind, rule in RULES.items()]
    options = scorecard.drop_duplicates("variant")[["variant", "readout", "surrogate"]]
    lines += ["", "Variants: " + "; ".join(
        f"{r.variant} = readout {r.readout or '?'}, surrogate {r.surrogate or '?'}" for r in options.itertuples()) + "."]
    return "\n".join(lines) + "\n"


def write_scorecard(scorecard: pd.DataFrame, csv_path: str | Path, markdown_path: str | Path, title: str) -> None:
    """The scorecard as CSV (every column) and Markdown."""
    write_csv_atomic(Path(csv_path), scorecard)
    write_text_atomic(Path(markdown_path), scorecard_markdown(scorecard, title))


def read_experiment_runs(run_tables: Mapping[str, Mapping[str, Any]]) -> list[ExperimentRuns]:
    """:class:`ExperimentRuns` from ``{name: {"runs": path to runs.csv, "dataset", "paper_dataset",
    "reference_sigma"}}`` (what the workflow passes)."""
    return [
        ExperimentRuns(name, pd.read_csv(spec["runs"]), spec["dataset"], spec["paper_dataset"], spec.get("reference_sigma"))
        for name, spec in run_tables.items()
    ]
