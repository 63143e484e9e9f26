"""Aggregation across runs and the statistics of the paper (paper §2; file formats in docs/formats.md).

- :func:`collect_run_table` — one row per run: parameters, accuracies, success and divergence
  flags, initial firing rate, Van Rossum distances before and after training.
- :func:`ttests_vs_reference` — each E:I ratio against 100:0 at each noise level (Fig 2c-e,
  paper §2.2) or each target initial rate (``fmnist_rate``, :func:`is_rate_table`):
  mean difference, Welch (default) or Student two-sided t-test, Holm-adjusted p, stars.
- :func:`van_rossum_table` — Tables 2/3 (paper §2.5): per ratio × {pre-training, successful,
  failed}: mean accuracy, median E-E/E-I/I-I distances, Kruskal–Wallis across the three
  categories, N, ε².
- :func:`write_stats` — all of it as CSV and Markdown (file formats in docs/formats.md).

The test statistics are computed here from their textbook formulas (scipy only supplies the
t and χ² tail probabilities), and the tests check them against ``scipy.stats``.
Degenerate groups never raise: the p-value is NaN and the ``reason`` column says why.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from eisnn.io import write_csv_atomic, write_text_atomic
from eisnn.layout import STATS_FILES, RunFiles, ratio_label, split_variant

SUCCESS_RULES = {
    "fmnist": ("acc_peak", 0.50),
    "shd": ("acc_last25", 0.30),
    "synthetic": ("acc_peak", 0.50),
}
"""dataset -> (run-table column, threshold): success iff column > threshold and not diverged.

Our reading of the paper's §2.3 ("successful networks (overall accuracy over 50%)"; Fig 3: > 50 %
maximum overall accuracy) for Fashion-MNIST; the SHD threshold is ours (docs/formats.md, ``success``).
"""

VR_CATEGORIES = {"E-E": "ee", "E-I": "ei", "I-I": "ii", "all-all": "all"}
"""Van Rossum category (metrics/van_rossum.csv) -> column suffix in the run table."""

GROUPS = ("pre-training", "successful", "failed")

RUN_COLUMNS = [
    "run_dir", "experiment", "variant", "readout", "surrogate", "ratio", "ratio_label", "constrained", "sigma_init", "target_rate_hz",
    "calibrated_rate_hz", "noise_frac", "seed", "status", "diverged", "n_epochs", "acc_final", "acc_peak", "acc_last10",
    "acc_last25", "success", "acc_initial", "initial_rate_hz", "final_snapshot_epoch",
] + [f"vr_{when}_{suffix}" for when in ("pre", "final") for suffix in VR_CATEGORIES.values()]


# ---------------------------------------------------------------------------------------------
# Run table
# ---------------------------------------------------------------------------------------------


def success_rule(dataset: str) -> tuple[str, float]:
    """(column, threshold) of the success definition for ``dataset`` (:data:`SUCCESS_RULES`)."""
    try:
        return SUCCESS_RULES[dataset]
    except KeyError:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {sorted(SUCCESS_RULES)}") from None


def _truthy(series: pd.Series) -> pd.Series:
    return series.astype(str).str.strip().str.lower().isin({"true", "1", "1.0", "yes"})


def _mean_last(values: np.ndarray, k: int) -> float:
    tail = values[-k:]
    tail = tail[np.isfinite(tail)]
    return float(tail.mean()) if tail.size else float("nan")


def _run_row(run_dir: Path, dataset: str) -> dict:
    files = RunFiles(run_dir)
    if not files.run_json.exists():
        raise FileNotFoundError(f"{files.run_json} is missing: the run is not complete")
    info = json.loads(files.run_json.read_text())
    params = info.get("params", {})
    history = pd.read_csv(files.history).sort_values("epoch")
    acc = history["test_acc"].to_numpy(dtype=np.float64)
    finite = acc[np.isfinite(acc)]
    status = info.get("status")
    diverged = status == "diverged" or bool(
        "diverged" in history and _truthy(history["diverged"]).any()
    )
    ratio = params.get("ratio")
    target_rate_hz = params.get("target_rate_hz")
    row = {
        "run_dir": str(run_dir),
        "experiment": params.get("experiment"),
        "variant": split_variant(params.get("experiment") or "")[1] or "default",
        "readout": params.get("readout"),
        "surrogate": params.get("surrogate"),
        "ratio": float("nan") if ratio is None else float(ratio),
        "ratio_label": ratio_label(ratio),
        "constrained": ratio is not None,
        "sigma_init": params.get("sigma_init"),
        "target_rate_hz": float("nan") if target_rate_hz is None else float(target_rate_hz),
        "calibrated_rate_hz": float(params.get("calibration", {}).get("rate_hz", float("nan"))),
        "noise_frac": params.get("noise_frac"),
        "seed": params.get("seed"),
        "status": status,
        "diverged": diverged,
        "n_epochs": int(len(history)),
        "acc_final": float(acc[-1]) if acc.size else float("nan"),
        "acc_peak": float(finite.max()) if finite.size else float("nan"),
        "acc_last10": _mean_last(acc, 10),
        "acc_last25": _mean_last(acc, 25),
    }
    column, threshold = success_rule(dataset)
    row["success"] = bool(not diverged and row[column] > threshold)
    row.update(_metrics_columns(files))
    return row


def _metrics_columns(files: RunFiles) -> dict:
    out = {col: float("nan") for col in RUN_COLUMNS if col.startswith("vr_")}
    out.update(acc_initial=float("nan"), initial_rate_hz=float("nan"), final_snapshot_epoch=float("nan"))
    summary_path = files.metric("summary")
    if summary_path.exists():
        summary = pd.read_csv(summary_path).set_index("epoch")
        if 0 in summary.index:
            out["acc_initial"] = float(summary.loc[0, "accuracy"])
            out["initial_rate_hz"] = float(summary.loc[0, "hidden_firing_rate_hz"])
        if len(summary):
            out["final_snapshot_epoch"] = int(summary.index.max())
    vr_path = files.metric("van_rossum")
    if vr_path.exists() and summary_path.exists():
        vr = pd.read_csv(vr_path)
        for when, epoch in (("pre", 0), ("final", out["final_snapshot_epoch"])):
            for _, r in vr[vr["epoch"] == epoch].iterrows():
                out[f"vr_{when}_{VR_CATEGORIES[r['category']]}"] = float(r["distance"])
    return out


def collect_run_table(run_dirs: Iterable[str | Path], dataset: str) -> pd.DataFrame:
    """One row per run directory (columns in docs/formats.md, ``runs.csv``).

    Accuracies are fractions (0..1). ``acc_last10``/``acc_last25`` are means over the last 10/25
    epochs present in ``history.csv`` (all epochs if fewer; non-finite values ignored);
    ``acc_peak`` is the maximum over epochs. ``success`` follows the rule for ``dataset``
    (:data:`SUCCESS_RULES`); a diverged run (``status`` "diverged" or any ``diverged`` epoch)
    is never successful. Metric columns come from ``metrics/summary.csv`` and
    ``metrics/van_rossum.csv`` (NaN where absent): pre = snapshot epoch 0, final = the last
    snapshot epoch; categories a network does not have (I-I of 100:0) are NaN.
    """
    success_rule(dataset)
    rows = [_run_row(Path(d), dataset) for d in run_dirs]
    table = pd.DataFrame(rows, columns=RUN_COLUMNS)
    return table.astype({"diverged": bool, "success": bool, "constrained": bool})


def is_rate_table(table: pd.DataFrame) -> bool:
    """True for a table of a target-rate experiment (run table, t-tests, a figure's table).

    Such a table has a ``target_rate_hz`` column with a value: every run of a σ experiment has
    NaN there (``runs.csv``), and t-tests grouped by σ_init have no such column. A table
    without rows counts as one if it has the column (an empty experiment of either kind).
    """
    if "target_rate_hz" not in table.columns:
        return False
    return len(table) == 0 or bool(pd.to_numeric(table["target_rate_hz"], errors="coerce").notna().any())


# ---------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------


def stars(p: float) -> str:
    """``***`` p<.001, ``**`` p<.01, ``*`` p<.05, ``ns`` otherwise, ``""`` for NaN."""
    if p is None or not np.isfinite(p):
        return ""
    if p < 0.001:
        return "***"
    if p < 0.01:
        return "**"
    if p < 0.05:
        return "*"
    return "ns"


def holm_adjust(p_values: Sequence[float]) -> np.ndarray:
    """Holm step-down adjusted p-values; NaN entries stay NaN and are not in the family."""
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    idx = np.flatnonzero(np.isfinite(p))
    m = idx.size
    if m == 0:
        return out
    order = idx[np.argsort(p[idx], kind="stable")]
    adjusted = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out[order] = np.minimum(adjusted, 1.0)
    return out


def two_sample_ttest(x, y, test: str = "welch") -> dict:
    """Two-sided t-test of mean(x) − mean(y): ``{"t", "df", "p", "reason"}``.

    ``test`` is ``"welch"`` (unequal variances, Welch–Satterthwaite df) or ``"student"``
    (pooled variance, df = n_x + n_y − 2). NaN with a reason if a group has fewer than 2
    values or the standard error is 0 (all values identical within both groups).
    """
    if test not in ("welch", "student"):
        raise ValueError(f"test must be 'welch' or 'student', got {test!r}")
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    nx, ny = x.size, y.size
    nan = dict(t=np.nan, df=np.nan, p=np.nan)
    if nx < 2 or ny < 2:
        return dict(nan, reason="fewer than 2 values in a group")
    vx, vy = x.var(ddof=1), y.var(ddof=1)
    diff = x.mean() - y.mean()
    if test == "welch":
        se2 = vx / nx + vy / ny
        df = se2**2 / ((vx / nx) ** 2 / (nx - 1) + (vy / ny) ** 2 / (ny - 1)) if se2 > 0 else np.nan
    else:
        df = nx + ny - 2
        se2 = ((nx - 1) * vx + (ny - 1) * vy) / df * (1 / nx + 1 / ny)
    if not se2 > 0:
        return dict(nan, reason="zero variance in both groups")
    t = diff / math.sqrt(se2)
    return dict(t=t, df=float(df), p=float(2 * sps.t.sf(abs(t), df)), reason="")


def ttests_vs_reference(
    run_table: pd.DataFrame,
    value: str = "acc_last10",
    reference_ratio: float = 1.0,
    by: str | Sequence[str] = "noise_frac",
    test: str = "welch",
) -> pd.DataFrame:
    """Compare ``value`` of each constrained ratio with ``reference_ratio`` at each level of ``by``.

    One row per (level of ``by``, ratio ≠ reference). Unconstrained runs and runs whose
    ``value`` is NaN are left out. ``mean_diff`` = mean(ratio) − mean(reference), in the
    units of ``value``; ``se_diff`` = sqrt(sd²/n + sd_ref²/n_ref) is its standard error (NaN if a
    group has fewer than 2 runs). The Holm family is all ratios compared at one level of ``by``;
    ``stars`` uses the raw p, ``stars_holm`` the Holm-adjusted p (columns: docs/formats.md).
    """
    by_cols = [by] if isinstance(by, str) else list(by)
    for col in [value, "ratio", *by_cols]:
        if col not in run_table.columns:
            raise KeyError(f"run table has no column {col!r}")
    data = run_table[run_table["ratio"].notna() & run_table[value].notna()]
    columns = [*by_cols, "ratio", "ratio_label", "reference_ratio", "value", "test", "n", "n_ref",
               "mean", "mean_ref", "mean_diff", "sd", "sd_ref", "se_diff", "t", "df", "p", "p_holm",
               "stars", "stars_holm", "reason"]
    rows = []
    for level, group in data.groupby(by_cols, sort=True):
        level = level if isinstance(level, tuple) else (level,)
        is_ref = np.isclose(group["ratio"].to_numpy(dtype=float), reference_ratio)
        ref = group.loc[is_ref, value].to_numpy(dtype=float)
        level_rows = []
        for ratio, sub in group.loc[~is_ref].groupby("ratio", sort=True):
            x = sub[value].to_numpy(dtype=float)
            sd = x.std(ddof=1) if x.size > 1 else np.nan
            sd_ref = ref.std(ddof=1) if ref.size > 1 else np.nan
            if ref.size == 0:
                res = dict(t=np.nan, df=np.nan, p=np.nan, reason="no reference runs")
            else:
                res = two_sample_ttest(x, ref, test)
            level_rows.append(
                {
                    **dict(zip(by_cols, level)),
                    "ratio": ratio,
                    "ratio_label": ratio_label(ratio),
                    "reference_ratio": reference_ratio,
                    "value": value,
                    "test": test,
                    "n": x.size,
                    "n_ref": ref.size,
                    "mean": x.mean(),
                    "mean_ref": ref.mean() if ref.size else np.nan,
                    "mean_diff": x.mean() - ref.mean() if ref.size else np.nan,
                    "sd": sd,
                    "sd_ref": sd_ref,
                    "se_diff": math.sqrt(sd**2 / x.size + sd_ref**2 / ref.size) if ref.size else np.nan,
                    **res,
                }
            )
        adjusted = holm_adjust([r["p"] for r in level_rows])
        for r, p_holm in zip(level_rows, adjusted):
            r["p_holm"] = p_holm
            r["stars"] = stars(r["p"])
            r["stars_holm"] = stars(p_holm)
        rows.extend(level_rows)
    return pd.DataFrame(rows, columns=columns)


def kruskal_wallis(samples: Sequence[Sequence[float]]) -> dict:
    """Kruskal–Wallis H test (tie-corrected) with ε² = H/(n−1): ``{"h", "p", "n_obs", "epsilon_sq", "reason"}``.

    Empty samples are dropped; NaN with a reason if fewer than 2 non-empty samples remain or
    all values are identical.
    """
    groups = [np.asarray(s, dtype=np.float64) for s in samples]
    groups = [g[np.isfinite(g)] for g in groups]
    groups = [g for g in groups if g.size]
    n = int(sum(g.size for g in groups))
    nan = dict(h=np.nan, p=np.nan, n_obs=n, epsilon_sq=np.nan)
    if len(groups) < 2:
        return dict(nan, reason="fewer than 2 categories with values")
    pooled = np.concatenate(groups)
    ranks = sps.rankdata(pooled)
    _, ties = np.unique(pooled, return_counts=True)
    correction = 1.0 - (ties**3 - ties).sum() / (n**3 - n)
    if correction <= 0:
        return dict(nan, reason="all values identical")
    bounds = np.cumsum([0] + [g.size for g in groups])
    rank_term = sum(ranks[a:b].sum() ** 2 / (b - a) for a, b in zip(bounds[:-1], bounds[1:]))
    h = (12.0 / (n * (n + 1)) * rank_term - 3.0 * (n + 1)) / correction
    return dict(h=h, p=float(sps.chi2.sf(h, len(groups) - 1)), n_obs=n, epsilon_sq=h / (n - 1), reason="")


def van_rossum_table(
    run_table: pd.DataFrame,
    accuracy: str = "acc_final",
    pre_accuracy: str = "acc_initial",
) -> pd.DataFrame:
    """Tables 2/3: one row per constrained ratio × group (pre-training, successful, failed).

    pre-training: all runs of the ratio, distances ``vr_pre_*``, accuracy ``pre_accuracy``
    (test accuracy of the untrained network). successful / failed: runs by ``success``
    (diverged runs are failed), distances ``vr_final_*``, accuracy ``accuracy``.
    Kruskal–Wallis compares the per-network E-E, E-I and I-I means (NaN values dropped);
    ε² = H/(n_obs − 1). Unconstrained runs are not included (they have no E/I categories).
    """
    columns = ["ratio", "ratio_label", "group", "n_networks", "mean_accuracy", "median_ee",
               "median_ei", "median_ii", "n_ee", "n_ei", "n_ii", "kw_h", "kw_p", "kw_n_obs",
               "epsilon_sq", "reason"]
    data = run_table[run_table["ratio"].notna()]
    rows = []
    for ratio, runs in data.groupby("ratio", sort=True):
        for group in GROUPS:
            if group == "pre-training":
                sub, when, acc_col = runs, "pre", pre_accuracy
            else:
                sub = runs[runs["success"].astype(bool) == (group == "successful")]
                when, acc_col = "final", accuracy
            values = {c: sub[f"vr_{when}_{c}"].to_numpy(dtype=float) for c in ("ee", "ei", "ii")}
            values = {c: v[np.isfinite(v)] for c, v in values.items()}
            kw = kruskal_wallis(list(values.values()))
            if len(sub) == 0:
                kw["reason"] = "no networks"
            acc = sub[acc_col].to_numpy(dtype=float)
            acc = acc[np.isfinite(acc)]
            rows.append(
                {
                    "ratio": ratio,
                    "ratio_label": ratio_label(ratio),
                    "group": group,
                    "n_networks": len(sub),
                    "mean_accuracy": acc.mean() if acc.size else np.nan,
                    **{f"median_{c}": np.median(v) if v.size else np.nan for c, v in values.items()},
                    **{f"n_{c}": v.size for c, v in values.items()},
                    "kw_h": kw["h"],
                    "kw_p": kw["p"],
                    "kw_n_obs": kw["n_obs"],
                    "epsilon_sq": kw["epsilon_sq"],
                    "reason": kw["reason"],
                }
            )
    return pd.DataFrame(rows, columns=columns)


# ---------------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------------


def format_p(p: float) -> str:
    """p-value for humans: ``< 0.0001`` or four decimals; ``n/a`` for NaN."""
    if p is None or not np.isfinite(p):
        return "n/a"
    return "< 0.0001" if p < 1e-4 else f"{p:.4f}"


def _fmt(x, spec: str) -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "n/a"
    return format(x, spec)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub pipe table from already formatted cells."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def markdown_document(title: str, note: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """``# title``, a paragraph, and the table."""
    return f"# {title}\n\n{note}\n\n" + markdown_table(header, rows)


def ttests_markdown(table: pd.DataFrame, by: Sequence[str], title: str) -> str:
    value = table["value"].iloc[0] if len(table) else ""
    is_acc = str(value).startswith("acc")
    scale, unit = (100.0, " (%)") if is_acc else (1.0, "")
    header = [*by, "ratio", "n", "n 100:0", f"mean{unit}", f"mean 100:0{unit}", f"difference{unit}",
              "p", "p Holm", "stars", "note"]
    rows = [
        [*(f"{r[b]:g}" for b in by), r["ratio_label"], r["n"], r["n_ref"],
         _fmt(r["mean"] * scale, ".2f"), _fmt(r["mean_ref"] * scale, ".2f"),
         _fmt(r["mean_diff"] * scale, "+.2f"), format_p(r["p"]), format_p(r["p_holm"]),
         r["stars"], r["reason"]]
        for _, r in table.iterrows()
    ]
    test = table["test"].iloc[0] if len(table) else "welch"
    note = (f"Two-sided {test.capitalize()} t-test of `{value}` for each ratio against 100:0; Holm "
            "adjustment over the ratios of one row group. Stars from the raw p: * p<.05, ** p<.01, *** p<.001.")
    return markdown_document(title, note, header, rows)


def van_rossum_markdown(table: pd.DataFrame, title: str) -> str:
    header = ["Ratio"]
    for group in GROUPS:
        header += [f"{group}: average accuracy", f"{group}: median E-E, E-I, I-I", f"{group}: p-value (N)"]
    rows = []
    for ratio, sub in table.groupby("ratio", sort=True):
        sub = sub.set_index("group")
        row = [ratio_label(ratio)]
        for group in GROUPS:
            r = sub.loc[group]
            row += [
                _fmt(r["mean_accuracy"] * 100, ".2f") + ("%" if np.isfinite(r["mean_accuracy"]) else ""),
                ", ".join(_fmt(r[f"median_{c}"], ".3f") for c in ("ee", "ei", "ii")),
                f"{format_p(r['kw_p'])} ({r['n_networks']})",
            ]
        rows.append(row)
    note = ("Kruskal–Wallis test across the per-network mean E-E, E-I and I-I Van Rossum distances; "
            "N = number of networks. Effect sizes and reasons for missing p-values are in the CSV.")
    return markdown_document(title, note, header, rows)


def write_stats(
    run_table: pd.DataFrame,
    out_dir: str | Path,
    dataset: str,
    test: str = "welch",
    reference_ratio: float = 1.0,
    value: str = "acc_last10",
) -> dict[str, Path]:
    """Write ``runs.csv``, ``ttests.csv/.md``, ``van_rossum_table.csv/.md`` under ``out_dir``.

    t-tests: ``value`` (default ``acc_last10``, Fig 2) of each ratio against
    ``reference_ratio`` with Welch's (``test="welch"``) or Student's test, grouped by
    (``sigma_init``, ``noise_frac``), i.e. one family per noise level in the noise experiment and
    per σ_init in the σ sweeps; in an experiment initialised by target rate (:func:`is_rate_table`:
    ``target_rate_hz`` set, σ_init different for every run) by (``target_rate_hz``,
    ``noise_frac``): the ratios compared at matched initial activity. Returns ``{name: path}``
    (file names: :data:`eisnn.layout.STATS_FILES`).
    """
    success_rule(dataset)
    out = Path(out_dir)
    level = "target_rate_hz" if is_rate_table(run_table) else "sigma_init"
    by = [c for c in (level, "noise_frac") if c in run_table.columns]
    ttests = ttests_vs_reference(run_table, value=value, reference_ratio=reference_ratio, by=by, test=test)
    vr = van_rossum_table(run_table)
    title = f"{dataset}" + (
        f" — {run_table['experiment'].dropna().iloc[0]}" if run_table["experiment"].notna().any() else ""
    )
    paths = {name: out / file for name, file in STATS_FILES.items()}
    write_csv_atomic(paths["runs"], run_table)
    write_csv_atomic(paths["ttests"], ttests)
    write_text_atomic(paths["ttests_md"], ttests_markdown(ttests, by, f"t-tests against 100:0, {title}"))
    write_csv_atomic(paths["van_rossum_table"], vr)
    write_text_atomic(paths["van_rossum_table_md"], van_rossum_markdown(vr, f"Van Rossum distances, {title}"))
    return paths


def experiment_statistics(
    run_dirs: Iterable[str | Path],
    out_dir: str | Path,
    dataset: str,
    test: str = "welch",
    reference_ratio: float = 1.0,
) -> tuple[pd.DataFrame, dict[str, Path]]:
    """An experiment's statistics job: the run table of ``run_dirs`` (:func:`collect_run_table`)
    and its files under ``out_dir`` (:func:`write_stats`). The workflow's ``statistics`` rule and
    ``eisnn stats`` both run this. Returns the table and ``{name: path}``."""
    table = collect_run_table(run_dirs, dataset)
    return table, write_stats(table, out_dir, dataset, test=test, reference_ratio=reference_ratio)
