"""Tables 2/3, the t-tests of Fig 2c-e and the run table as self-contained HTML for the report."""

from __future__ import annotations

import html
import os

import numpy as np
import pandas as pd

from eisnn.figures import style
from eisnn.figures.inputs import read_run_table, read_table
from eisnn.io import write_text_atomic
from eisnn.layout import ratio_label
from eisnn.reproduction import RULES, ours_text, variant_order

CSS = """
body { font-family: 'DejaVu Sans', Arial, sans-serif; font-size: 13px; margin: 1em; }
caption { caption-side: top; text-align: left; font-weight: bold; margin-bottom: .5em; }
table { border-collapse: collapse; }
th, td { border: 1px solid #bbb; padding: 3px 7px; text-align: right; white-space: nowrap; }
th { background: #eee; }
td.left, th.left { text-align: left; }
tr:nth-child(even) td { background: #fafafa; }
p.note { color: #555; max-width: 60em; }
"""


def _page(title: str, body: str, note: str = "") -> str:
    note_html = f'<p class="note">{html.escape(note)}</p>' if note else ""
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{CSS}</style></head><body>\n{body}\n{note_html}\n</body></html>\n")


def _pct(x) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{100 * x:.2f}%"


def _num(x, spec=".3f") -> str:
    return "n/a" if x is None or not np.isfinite(x) else format(x, spec)


def van_rossum_html(van_rossum_table, title: str) -> str:
    """Tables 2/3 in the paper's layout: per ratio, for pre-training / successful / failed:
    average accuracy, median E-E, E-I, I-I distance, Kruskal–Wallis p-value (N)."""
    from eisnn.stats import GROUPS, format_p

    table = read_table(van_rossum_table)
    head1 = "<tr><th rowspan=2 class=left>Ratio</th>" + "".join(
        f"<th colspan=3>{html.escape({'pre-training': 'All pre-training', 'successful': 'Successful post-training', 'failed': 'Failed post-training'}[g])}</th>"
        for g in GROUPS) + "</tr>"
    head2 = "<tr>" + "<th>Average accuracy</th><th>Median E-E, E-I, I-I distance</th><th>p-value (N)</th>" * len(GROUPS) + "</tr>"
    rows = []
    if len(table):
        table["ratio"] = pd.to_numeric(table["ratio"], errors="coerce")
    for ratio, sub in (table.groupby("ratio", sort=True) if len(table) else []):
        sub = sub.set_index("group")
        cells = [f"<td class=left>{ratio_label(ratio)}</td>"]
        for group in GROUPS:
            if group not in sub.index:
                cells += ["<td>n/a</td>"] * 3
                continue
            r = sub.loc[group]
            medians = ", ".join(_num(r[f"median_{c}"]) for c in ("ee", "ei", "ii"))
            cells += [f"<td>{_pct(r['mean_accuracy'])}</td>", f"<td>{medians}</td>",
                      f"<td>{format_p(r['kw_p'])} ({int(r['n_networks'])})</td>"]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    if not rows:
        rows.append(f"<tr><td colspan={1 + 3 * len(GROUPS)} class=left><i>no constrained runs</i></td></tr>")
    body = f"<table><caption>{html.escape(title)}</caption>{head1}{head2}{''.join(rows)}</table>"
    note = ("Kruskal–Wallis test across the per-network mean E-E, E-I and I-I Van Rossum distances "
            "(τ = 1 ms); N = number of networks. Effect sizes ε² and the reasons for missing p-values "
            "are in van_rossum_table.csv.")
    return _page(title, body, note)


def ttests_html(ttests, title: str) -> str:
    """The t-tests of every ratio against the reference (100:0), one row per (level, noise, ratio).

    The level is σ_init, or the target initial rate in an experiment initialised by target rate.
    """
    from eisnn.stats import format_p, is_rate_table

    table = read_table(ttests)
    reference = ratio_label(table["reference_ratio"].iloc[0]) if len(table) and "reference_ratio" in table else "100:0"
    level, level_header = ("target_rate_hz", "target rate (Hz)") if is_rate_table(table) else ("sigma_init", "σ_init")
    header = [level_header, "σ_noise/σ_init", "ratio", "n", f"n {reference}", "mean (%)", f"mean {reference} (%)",
              "difference (pp)", "t", "df", "p", "p Holm", "stars", "note"]
    rows = []
    for _, r in table.iterrows():
        cells = [_num(r.get(level, np.nan), "g"), _num(r.get("noise_frac", np.nan), "g"),
                 ratio_label(r["ratio"]), str(r["n"]), str(r["n_ref"]), _num(100 * r["mean"], ".2f"),
                 _num(100 * r["mean_ref"], ".2f"), _num(100 * r["mean_diff"], "+.2f"), _num(r["t"], ".2f"),
                 _num(r["df"], ".1f"), format_p(r["p"]), format_p(r["p_holm"]),
                 r["stars"] if isinstance(r["stars"], str) else "",
                 r["reason"] if isinstance(r["reason"], str) else ""]
        rows.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    if not rows:
        rows.append(f"<tr><td colspan={len(header)} class=left><i>no comparisons</i></td></tr>")
    head = "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>"
    test = table["test"].iloc[0] if len(table) else "welch"
    note = (f"Two-sided {str(test).capitalize()} t-test of the mean test accuracy over the last 10 "
            f"epochs of each ratio against {reference}; Holm adjustment over the ratios of one row group "
            f"({level_header} and σ_noise/σ_init). "
            "Stars from the raw p: * p<.05, ** p<.01, *** p<.001.")
    return _page(title, f"<table><caption>{html.escape(title)}</caption>{head}{''.join(rows)}</table>", note)


RUN_TABLE_COLUMNS = [
    ("ratio", "ratio"), ("target_rate_hz", "target rate (Hz)"), ("calibrated_rate_hz", "calibrated rate (Hz)"),
    ("sigma_init", "σ_init"), ("noise_frac", "σ_noise/σ_init"), ("seed", "seed"),
    ("status", "status"), ("outcome", "outcome"), ("n_epochs", "epochs"), ("initial_rate_hz", "initial rate (Hz)"),
    ("acc_initial", "initial acc."), ("acc_final", "final acc."), ("acc_peak", "peak acc."),
    ("acc_last10", "mean last 10"), ("acc_last25", "mean last 25"),
    ("vr_pre_ee", "VR pre E-E"), ("vr_pre_ei", "VR pre E-I"), ("vr_pre_ii", "VR pre I-I"),
    ("vr_final_ee", "VR final E-E"), ("vr_final_ei", "VR final E-I"), ("vr_final_ii", "VR final I-I"),
    ("vr_pre_all", "VR pre (unconstrained)"), ("vr_final_all", "VR final (unconstrained)"),
    ("run_dir", "run directory"),
]


def run_table_html(run_table, title: str) -> str:
    """The run table, one row per run, accuracies in %, sorted by ratio, target rate, σ_init, noise, seed.

    Columns that are NaN for every run (Van Rossum categories a network lacks, the target rates
    of a σ experiment) are left out.
    """
    runs = read_run_table(run_table)
    order = [c for c in ("ratio", "target_rate_hz", "sigma_init", "noise_frac", "seed") if c in runs.columns]
    runs = runs.sort_values(order, na_position="last")
    optional = ("target_rate_hz", "calibrated_rate_hz")
    present = [(c, h) for c, h in RUN_TABLE_COLUMNS
               if c in runs.columns and not ((c.startswith("vr_") or c in optional) and runs[c].isna().all())]
    head = "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for _, h in present) + "</tr>"
    rows = []
    for _, r in runs.iterrows():
        cells = []
        for column, _ in present:
            value = r[column]
            if column == "ratio":
                text = ratio_label(value)
            elif column.startswith("acc_"):
                text = _pct(float(value)) if pd.notna(value) else "n/a"
            elif column.startswith("vr_") or column.endswith("rate_hz"):
                text = _num(float(value), ".3g") if pd.notna(value) else "n/a"
            elif column == "sigma_init":
                text = style.format_sigma(float(value))
            elif column == "noise_frac":
                text = f"{float(value):g}"
            else:
                text = str(value)
            cls = " class=left" if column in ("run_dir", "status", "outcome") else ""
            cells.append(f"<td{cls}>{html.escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    counts = runs["outcome"].value_counts()
    note = (f"{len(runs)} runs: " + ", ".join(f"{counts.get(o, 0)} {o}" for o in style.OUTCOMES)
            + ". VR = mean Van Rossum distance (τ = 1 ms) before (pre) and after (final) training.")
    return _page(title, f"<table><caption>{html.escape(title)}</caption>{head}{''.join(rows)}</table>", note)


def scorecard_html(scorecard, title: str) -> str:
    """The reproduction scorecard (eisnn.reproduction): one row per claim, our value and verdict per variant."""
    table = read_table(scorecard)
    variants = variant_order(table["variant"])
    head = "<tr><th class=left>claim</th><th class=left>source</th><th>paper</th>" + "".join(
        f"<th>{html.escape(v)}: ours</th><th class=left>{html.escape(v)}: verdict</th>" for v in variants) + "</tr>"
    rows = []
    for claim, group in table.groupby("claim", sort=False):
        first = group.iloc[0]
        cells = [f"<td class=left>{html.escape(claim)}</td>", f"<td class=left>{html.escape(str(first['source']))}</td>",
                 f"<td>{html.escape(str(first['paper']))}</td>"]
        for variant in variants:
            match = group[group["variant"] == variant]
            if len(match):
                r = match.iloc[0]
                cells += [f"<td>{html.escape(ours_text(r))}</td>",
                          f"<td class=left><b>{html.escape(r['verdict'])}</b>: {html.escape(str(r['reason']))}</td>"]
            else:
                cells += ["<td>—</td>", "<td class=left>not run</td>"]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    note = "Rules: " + " ".join(f"{kind}: {rule}." for kind, rule in RULES.items())
    return _page(title, f"<table><caption>{html.escape(title)}</caption>{head}{''.join(rows)}</table>", note)


def write_html(text: str, path: str | os.PathLike) -> None:
    write_text_atomic(path, text)


def build_table(kind: str, source, out_path, title: str) -> None:
    """Write one report table: ``kind`` is ``"van_rossum"``, ``"ttests"``, ``"runs"`` or ``"scorecard"``."""
    render = {"van_rossum": van_rossum_html, "ttests": ttests_html, "runs": run_table_html, "scorecard": scorecard_html}
    if kind not in render:
        raise ValueError(f"unknown table kind {kind!r}; expected one of {sorted(render)}")
    write_html(render[kind](source, title), out_path)
