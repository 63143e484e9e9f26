"""Fig 2: accuracy under noisy weight updates (2b) and the difference from 100:0 (2c-e).

The reference ratio of 2c-e is read from ``ttests.csv`` (its ``reference_ratio`` column, 100:0
unless the statistics were configured otherwise).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from eisnn.figures import style
from eisnn.figures.inputs import read_run_table, read_table
from eisnn.layout import is_unconstrained, ratio_label

DEFAULT_NOISE_LEVELS = (0.2, 0.4, 0.6)


# ---------------------------------------------------------------------------------------------
# Fig 2b
# ---------------------------------------------------------------------------------------------


def plot_accuracy_vs_noise(run_table, *, accuracy: str = "acc_last10", ratios: Sequence | None = None):
    """Fig 2b: accuracy (mean of the last 10 epochs) against σ_noise/σ_init, one colour per ratio.

    The mean over runs is a line with markers; each run is a point, nudged sideways by ratio
    so that the ratios do not hide each other. Returns ``(figure, data)``: one row per run.
    """
    runs = read_run_table(run_table)
    order = style.ordered_ratios(ratios if ratios is not None else runs["ratio"])
    data = pd.DataFrame({
        "run_dir": runs["run_dir"],
        "ratio": runs["ratio"],
        "ratio_label": [ratio_label(r) for r in runs["ratio"]],
        "sigma_init": runs["sigma_init"],
        "noise_frac": runs["noise_frac"],
        "seed": runs["seed"],
        "outcome": runs["outcome"],
        "accuracy_pct": 100 * runs[accuracy].to_numpy(dtype=float),
    })
    levels = np.sort(data["noise_frac"].dropna().unique())
    span = float(levels.max() - levels.min()) if levels.size > 1 else 1.0
    step = 0.008 * span
    data["x_plotted"] = data["noise_frac"]
    for i, ratio in enumerate(order):
        mask = style.same_ratio(data["ratio"], ratio)
        data.loc[mask, "x_plotted"] = data.loc[mask, "noise_frac"] + (i - (len(order) - 1) / 2) * step

    with style.context():
        fig = style.new_figure(style.COLUMN_WIDTH * 1.5, 2.8)
        ax = fig.subplots()
        handles = []
        for i, ratio in enumerate(order):
            sub = data[style.same_ratio(data["ratio"], ratio)]
            color = style.ratio_color(ratio)
            marker = style.RATIO_MARKERS[i % len(style.RATIO_MARKERS)]
            finite = sub[np.isfinite(sub["accuracy_pct"])]
            ax.scatter(finite["x_plotted"], finite["accuracy_pct"], s=5, color=color, alpha=0.45,
                       linewidths=0, zorder=2)
            diverged = sub[sub["outcome"] == "diverged"]
            if len(diverged):
                ax.scatter(diverged["x_plotted"], diverged["accuracy_pct"].fillna(0), s=12, marker="X",
                           color=color, linewidths=0.3, zorder=3)
            means = finite.groupby("noise_frac")["accuracy_pct"].mean()
            ax.plot(means.index, means.to_numpy(), color=color, lw=1.1, marker=marker, ms=3, zorder=4)
            handles.append(Line2D([], [], color=color, lw=1.1, marker=marker, ms=3,
                                  label=f"{ratio_label(ratio)} ({len(sub)} runs)"))
        if data.empty:
            style.annotate_empty(ax, "no runs in the run table")
        else:
            handles.append(Line2D([], [], ls="", marker="o", ms=2.5, color="0.5", alpha=0.6,
                                  label="individual runs"))
            if (data["outcome"] == "diverged").any():
                handles.append(Line2D([], [], ls="", marker="X", ms=3.5, color="0.3", label="diverged run"))
            ax.legend(handles=handles, title="E:I ratio", loc="upper left", bbox_to_anchor=(1.01, 1.0))
        ax.set_xlabel(f"weight-update noise {style.SIGMA_NOISE} / {style.SIGMA_INIT}")
        ax.set_ylabel("test accuracy, mean of last 10 epochs (%)")
        ax.set_ylim(0, 103)
        ax.set_yticks([0, 20, 40, 60, 80, 100])
        ax.grid(axis="y", color="0.9", lw=0.5)
    return fig, data


def build_fig2b(run_table_path, out_stem, **options):
    """Read ``runs.csv``, draw Fig 2b and write ``<out_stem>.pdf/.png/.data.csv``."""
    fig, data = plot_accuracy_vs_noise(run_table_path, **options)
    return style.write_figure(fig, data, out_stem)


# ---------------------------------------------------------------------------------------------
# Fig 2c-e
# ---------------------------------------------------------------------------------------------


def in_percentage_points(ttests: pd.DataFrame) -> pd.DataFrame:
    """Rows of ``ttests.csv`` as plotted: group means and their difference in %, ± 1 SE, p, stars."""
    def text(column):
        values = ttests[column] if column in ttests else pd.Series("", index=ttests.index)
        return [v if isinstance(v, str) else "" for v in values]

    return pd.DataFrame({
        "ratio": ttests["ratio"],
        "ratio_label": [ratio_label(r) for r in ttests["ratio"]],
        "reference_ratio": ttests["reference_ratio"] if "reference_ratio" in ttests else 1.0,
        "n": ttests["n"],
        "n_ref": ttests["n_ref"],
        "mean_pct": 100 * ttests["mean"],
        "mean_ref_pct": 100 * ttests["mean_ref"],
        "mean_diff_pp": 100 * ttests["mean_diff"],
        "se_pp": 100 * ttests["se_diff"],
        "p": ttests["p"],
        "p_holm": ttests["p_holm"] if "p_holm" in ttests else np.nan,
        "stars": text("stars"),
        "reason": text("reason"),
    }, index=ttests.index)


def difference_table(ttests, noise_levels: Sequence[float] = DEFAULT_NOISE_LEVELS) -> pd.DataFrame:
    """Rows of ``ttests.csv`` at the given noise levels, in percentage points, with a panel letter.

    ``se_pp`` is the standard error of the difference of means (``se_diff`` of the t-tests).
    If the table holds several σ_init, the smallest is used (the noise experiment has one).
    """
    table = read_table(ttests)
    for column in ("noise_frac", "ratio", "sigma_init"):
        if column in table:
            table[column] = pd.to_numeric(table[column], errors="coerce")
    if "sigma_init" in table and table["sigma_init"].nunique() > 1:
        table = table[np.isclose(table["sigma_init"], table["sigma_init"].min())]
    columns = ["panel", "noise_frac", "ratio", "ratio_label", "reference_ratio", "n", "n_ref", "mean_pct", "mean_ref_pct",
               "mean_diff_pp", "se_pp", "p", "p_holm", "stars", "reason"]
    blocks = [
        in_percentage_points(sub.sort_values("ratio")).assign(panel="cde"[i] if i < 3 else str(i), noise_frac=float(level))
        for i, level in enumerate(noise_levels)
        for sub in [table[np.isclose(table["noise_frac"].to_numpy(dtype=float), level)]]
        if len(sub)
    ]
    return pd.concat(blocks, ignore_index=True)[columns] if blocks else pd.DataFrame(columns=columns)


def plot_difference_from_reference(ttests, *, noise_levels: Sequence[float] = DEFAULT_NOISE_LEVELS,
                                   ratios: Sequence | None = None):
    """Fig 2c-e: mean accuracy difference of each ratio from the reference (100:0) at three noise levels.

    Bars are mean differences (percentage points) with ± 1 standard error; stars are from the
    two-sided t-tests of ``ttests.csv`` (raw p: * < .05, ** < .01, *** < .001; none otherwise).
    A noise level without runs gets a "no runs" panel. Returns ``(figure, data)``.
    """
    data = difference_table(ttests, noise_levels)
    reference = float(data["reference_ratio"].dropna().iloc[0]) if data["reference_ratio"].notna().any() else 1.0
    ref_text = ratio_label(reference)
    order = [r for r in style.ordered_ratios(ratios if ratios is not None else data["ratio"])
             if not is_unconstrained(r) and not np.isclose(r, reference)]
    finite = data[["mean_diff_pp", "se_pp"]].to_numpy(dtype=float)
    extent = np.nanmax(np.abs(finite[:, 0]) + np.nan_to_num(finite[:, 1])) if len(data) and np.isfinite(finite[:, 0]).any() else 1.0
    extent = max(float(extent), 0.5)

    with style.context():
        fig = style.new_figure(style.FULL_WIDTH, 2.3)
        axes = np.atleast_1d(fig.subplots(1, len(noise_levels), sharey=True))
        for i, (ax, level) in enumerate(zip(axes, noise_levels)):
            letter = "cde"[i] if i < 3 else ""
            ax.set_title(f"{style.SIGMA_NOISE} = {level:g} {style.SIGMA_INIT}")
            style.panel_letter(ax, letter)
            sub = data[np.isclose(data["noise_frac"], level)]
            if sub.empty:
                style.annotate_empty(ax, f"no runs at {style.SIGMA_NOISE} = {level:g} {style.SIGMA_INIT}")
                continue
            ref = sub["mean_ref_pct"].dropna()
            if len(ref):
                ax.text(0.98, 0.98, f"{ref_text}: {ref.iloc[0]:.1f} % (n = {int(sub['n_ref'].iloc[0])})",
                        transform=ax.transAxes, ha="right", va="top", fontsize=6)
            positions = np.arange(len(order))
            for x, ratio in zip(positions, order):
                row = sub[np.isclose(sub["ratio"], ratio)]
                if row.empty:
                    ax.text(x, 0, "no runs", rotation=90, ha="center", va="bottom", fontsize=5,
                            color=style.OKABE_ITO["grey"])
                    continue
                r = row.iloc[0]
                diff = r["mean_diff_pp"]
                if not np.isfinite(diff):
                    ax.text(x, 0, "n/a", ha="center", va="bottom", fontsize=5, color=style.OKABE_ITO["grey"])
                    continue
                ax.bar(x, diff, width=0.7, color=style.ratio_color(ratio), edgecolor="black", linewidth=0.4)
                se = r["se_pp"] if np.isfinite(r["se_pp"]) else 0.0
                ax.errorbar(x, diff, yerr=se, color="black", lw=0.7, capsize=1.5)
                label = r["stars"] if r["stars"] != "ns" else ""  # as in the paper: stars only
                if label:
                    tip = diff + np.sign(diff or 1) * (se + 0.04 * extent)
                    ax.text(x, tip, label, ha="center", va="bottom" if diff >= 0 else "top", fontsize=7)
            ax.axhline(0, color="black", lw=0.6)
            ax.set_xticks(positions, [ratio_label(r) for r in order], rotation=45, ha="right",
                          rotation_mode="anchor")
            ax.set_xlabel("E:I ratio")
            pad = max(0.6, (3 - len(order)) / 2 + 0.6)
            ax.set_xlim(-pad, len(order) - 1 + pad)
        axes[0].set_ylabel(f"accuracy difference from {ref_text}\n(percentage points)")
        axes[0].set_ylim(-1.3 * extent, 1.3 * extent)
    return fig, data


def build_fig2cde(ttests_path, out_stem, **options):
    """Read ``ttests.csv``, draw Fig 2c-e and write ``<out_stem>.pdf/.png/.data.csv``."""
    fig, data = plot_difference_from_reference(ttests_path, **options)
    return style.write_figure(fig, data, out_stem)
