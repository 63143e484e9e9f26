"""Matched initial rate: accuracy of each E:I ratio when every run starts at a target firing rate.

The runs of a target-rate experiment (e.g. ``fmnist_rate``) calibrate σ_init so that the
untrained network fires at ``target_rate_hz``; the run table then also has
``calibrated_rate_hz`` (reached on the calibration subset) besides ``initial_rate_hz``
(measured on the test set at epoch 0). The differences from the reference ratio are read
from ``ttests.csv`` grouped by ``target_rate_hz`` and ``noise_frac``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.ticker import NullLocator

from eisnn.figures import style
from eisnn.figures.fig1 import OUTCOME_LABELS, accuracy_vs_rate_table
from eisnn.figures.fig2 import in_percentage_points
from eisnn.figures.inputs import read_run_table, read_table
from eisnn.layout import is_unconstrained, ratio_label

ACCURACY_TEXTS = {
    "acc_last10": "mean of last 10 epochs",
    "acc_last25": "mean of last 25 epochs",
    "acc_final": "final",
    "acc_peak": "peak",
}
RUN_COLUMNS = ["kind", "run_dir", "ratio", "ratio_label", "seed", "noise_frac", "target_rate_hz",
               "calibrated_rate_hz", "initial_rate_hz", "sigma_init", "accuracy_pct", "outcome", "silent",
               "x_plotted", "y_plotted"]
MEAN_COLUMNS = ["kind", "ratio", "ratio_label", "noise_frac", "target_rate_hz", "n", "mean_pct", "sd_pct",
                "x_plotted"]
DIFFERENCE_COLUMNS = ["kind", "ratio", "ratio_label", "noise_frac", "target_rate_hz", "reference_ratio", "n",
                      "n_ref", "mean_pct", "mean_ref_pct", "mean_diff_pp", "se_pp", "p", "p_holm", "stars",
                      "x_plotted"]
NUDGE = 0.12
"""Sideways shift between neighbouring ratios, as a fraction of the log spacing of the target rates
(less if there are more than four ratios, so that all stay within 40 % of the spacing)."""


def accuracy_text(accuracy: str) -> str:
    """``acc_last10`` -> ``"mean of last 10 epochs"`` (other columns: their name)."""
    return ACCURACY_TEXTS.get(accuracy, accuracy)


def matched_rate_table(run_table, *, accuracy: str = "acc_last10") -> pd.DataFrame:
    """One row per run with a target rate: rates (Hz), σ_init, accuracy (%), outcome, plotted position.

    The positions are Fig 1c's (:func:`eisnn.figures.fig1.accuracy_vs_rate_table`): ``x_plotted``
    is the measured initial rate, silent (0 Hz) runs at :func:`style.log_floor`; ``y_plotted``
    is the accuracy with NaN at 0 %. Raises ValueError if no run has a target rate.
    """
    from eisnn.stats import is_rate_table

    runs = read_run_table(run_table)
    if not is_rate_table(runs):
        raise ValueError("this run table has no target_rate_hz: it is not from a target-rate experiment")
    targets = pd.to_numeric(runs["target_rate_hz"], errors="coerce")
    keep = targets.notna().to_numpy()
    runs = runs[keep].reset_index(drop=True)
    positions = accuracy_vs_rate_table(runs, accuracy=accuracy)
    calibrated = runs["calibrated_rate_hz"] if "calibrated_rate_hz" in runs else pd.Series(np.nan, index=runs.index)
    data = positions.assign(
        kind="run",
        ratio_label=[ratio_label(r) for r in runs["ratio"]],
        noise_frac=runs["noise_frac"] if "noise_frac" in runs else 0.0,
        target_rate_hz=targets[keep].to_numpy(dtype=float),
        calibrated_rate_hz=pd.to_numeric(calibrated, errors="coerce").to_numpy(dtype=float),
        x_plotted=positions["x_plotted"].where(positions["plotted"]),
    )
    return data[RUN_COLUMNS]


def _difference_table(table: pd.DataFrame) -> pd.DataFrame:
    """Rows of ``ttests.csv`` at the lowest noise level, in percentage points, ± 1 SE."""
    from eisnn.stats import is_rate_table

    table = table.copy()
    if table.empty or not is_rate_table(table):
        return pd.DataFrame(columns=DIFFERENCE_COLUMNS)
    for column in ("target_rate_hz", "noise_frac", "ratio", "reference_ratio", "n", "n_ref", "mean", "mean_ref",
                   "mean_diff", "se_diff", "p", "p_holm"):
        if column in table:
            table[column] = pd.to_numeric(table[column], errors="coerce")
    table = table[table["target_rate_hz"].notna() & table["ratio"].notna()]
    if "noise_frac" in table and table["noise_frac"].notna().any():
        table = table[np.isclose(table["noise_frac"], table["noise_frac"].min())]
    table = table.drop_duplicates(["target_rate_hz", "ratio"])  # one test per target rate and ratio
    data = in_percentage_points(table).assign(
        kind="difference",
        noise_frac=table["noise_frac"] if "noise_frac" in table else np.nan,
        target_rate_hz=table["target_rate_hz"],
        x_plotted=table["target_rate_hz"],
    )
    return data.sort_values(["target_rate_hz", "ratio"]).reset_index(drop=True)[DIFFERENCE_COLUMNS]


def _nudge_factor(targets: np.ndarray, index: int, count: int) -> float:
    """Multiplicative sideways shift of ratio ``index`` of ``count``, in log space."""
    logs = np.log10(np.unique(targets[np.isfinite(targets) & (targets > 0)]))
    spacing = float(np.diff(logs).min()) if logs.size > 1 else 0.5
    step = min(NUDGE, 0.4 / max(count - 1, 1)) * spacing  # all ratios within 40 % of the spacing
    return 10.0 ** ((index - (count - 1) / 2) * step)


def plot_matched_rate(run_table, ttests, *, ratios: Sequence | None = None, accuracy: str = "acc_last10",
                      dataset_label: str = ""):
    """Accuracy of each E:I ratio at matched initial firing rates (a) and its difference from 100:0 (b).

    a: every run at its measured initial rate (silent runs at the axis position 0), and the
    mean ± SD per target rate at the target rate. b: mean difference from the reference ratio
    of ``ttests.csv`` (± 1 SE) per target rate, with stars of the raw p (* < .05, ** < .01,
    *** < .001). Only the lowest noise level is drawn. Returns ``(figure, data)``: the runs
    (``kind`` "run"), the means of a ("mean") and the differences of b ("difference").
    """
    runs = matched_rate_table(run_table, accuracy=accuracy)
    tests = read_table(ttests)
    differences = _difference_table(tests)
    reference = (float(differences["reference_ratio"].dropna().iloc[0])
                 if differences["reference_ratio"].notna().any() else 1.0)
    ref_text = ratio_label(reference)
    order = style.ordered_ratios(ratios if ratios is not None else runs["ratio"])
    compared = [r for r in order if not is_unconstrained(r) and not np.isclose(r, reference)]
    if ratios is not None:
        runs = runs[style.among_ratios(runs["ratio"], order)]
    differences = differences[style.among_ratios(differences["ratio"], compared)]
    noise_levels = np.sort(runs["noise_frac"].dropna().unique())
    shown = runs[np.isclose(runs["noise_frac"], noise_levels[0])] if noise_levels.size > 1 else runs
    targets = np.sort(np.unique(np.concatenate([runs["target_rate_hz"].to_numpy(dtype=float),
                                                differences["target_rate_hz"].to_numpy(dtype=float)])))
    means = _mean_table(shown, order, targets, noise_levels)
    _nudge_differences(differences, compared, targets)

    with style.context():
        fig = style.new_figure(style.FULL_WIDTH, 2.7)
        ax_a, ax_b = fig.subplots(1, 2)
        style.panel_letter(ax_a, "a")
        style.panel_letter(ax_b, "b")
        handles = _draw_runs_panel(ax_a, shown, means, order, targets, noise_levels, accuracy, dataset_label)
        finite = _draw_difference_panel(ax_b, differences, compared, order, targets, tests, ref_text)
        _set_rate_axes(ax_a, ax_b, shown, targets)
        handles += style.outcome_handles(shown["outcome"], OUTCOME_LABELS, size=3.5, color="0.4")
        # After the axes are set up, so that an empty panel loses its grid and ticks.
        _annotate_empty_panels(ax_a, ax_b, shown.empty or not order, differences, finite, ref_text)
        if handles:
            fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 7),
                       columnspacing=1.2, handletextpad=0.4)
    blocks = [block for block in (runs, means, differences) if len(block)]
    data = pd.concat(blocks, ignore_index=True) if blocks else runs
    return fig, data


def _mean_table(shown: pd.DataFrame, order: list, targets: np.ndarray, noise_levels: np.ndarray) -> pd.DataFrame:
    """Mean ± SD accuracy per ratio × target rate (``kind`` "mean"), each ratio nudged sideways."""
    means = []
    for i, ratio in enumerate(order):
        sub = shown[style.same_ratio(shown["ratio"], ratio) & np.isfinite(shown["accuracy_pct"])]
        stats = sub.groupby("target_rate_hz")["accuracy_pct"].agg(["count", "mean", "std"])
        factor = _nudge_factor(targets, i, len(order))
        for target, r in stats.iterrows():
            means.append({"kind": "mean", "ratio": ratio, "ratio_label": ratio_label(ratio),
                          "noise_frac": noise_levels[0] if noise_levels.size else np.nan, "target_rate_hz": target,
                          "n": int(r["count"]), "mean_pct": r["mean"], "sd_pct": r["std"],
                          "x_plotted": target * factor})
    return pd.DataFrame(means, columns=MEAN_COLUMNS)


def _nudge_differences(differences: pd.DataFrame, compared: list, targets: np.ndarray) -> None:
    """Set ``x_plotted`` of the differences (in place): the target rate, each compared ratio nudged sideways."""
    for i, ratio in enumerate(compared):
        mask = style.same_ratio(differences["ratio"], ratio)
        differences.loc[mask, "x_plotted"] = (differences.loc[mask, "target_rate_hz"]
                                              * _nudge_factor(targets, i, len(compared)))


def _ratio_look(index: int, ratio) -> tuple[str, str]:
    """(colour, marker) of the ``index``-th ratio's lines."""
    return style.ratio_color(ratio), style.RATIO_MARKERS[index % len(style.RATIO_MARKERS)]


def _mean_errorbar(ax, x, y, err, color: str, marker: str) -> None:
    """A ratio's line of means with error bars, as both panels draw it."""
    ax.errorbar(x, y, yerr=err, color=color, lw=1.1, marker=marker, ms=3.5, mec="white", mew=0.4, elinewidth=0.7,
                capsize=1.5, zorder=4)


def _draw_runs_panel(ax, shown: pd.DataFrame, means: pd.DataFrame, order: list, targets: np.ndarray,
                     noise_levels: np.ndarray, accuracy: str, dataset_label: str) -> list[Line2D]:
    """Panel a: every run at its initial rate and each ratio's mean ± SD per target rate; returns legend entries."""
    noise_text = (f", {style.SIGMA_NOISE} = {noise_levels[0]:g} {style.SIGMA_INIT}"
                  if noise_levels.size > 1 else "")
    ax.set_title(f"runs (points) and mean ± SD per target rate (lines){noise_text}", loc="left")
    handles = []
    for i, ratio in enumerate(order):
        color, marker = _ratio_look(i, ratio)
        sub = shown[style.same_ratio(shown["ratio"], ratio) & np.isfinite(shown["x_plotted"])]
        style.scatter_by_outcome(ax, sub, color, size=6, linewidth=0.5, alpha=0.45, zorder=2)
        line = means[style.same_ratio(means["ratio"], ratio)].set_index("target_rate_hz")
        if len(line):
            line = line.reindex(targets)  # a target rate without runs breaks the line
            _mean_errorbar(ax, line["x_plotted"], line["mean_pct"], line["sd_pct"].fillna(0), color, marker)
        n_runs = int(style.same_ratio(shown["ratio"], ratio).sum())
        handles.append(Line2D([], [], color=color, lw=1.1, marker=marker, ms=3.5,
                              label=f"{ratio_label(ratio)} ({n_runs} run{'' if n_runs == 1 else 's'})"))
    ax.set_xscale("log")
    ax.set_xlabel("initial firing rate (Hz)")
    style.accuracy_axis(ax, f"test accuracy, {accuracy_text(accuracy)} (%)", dataset_label)
    ax.grid(axis="y", color="0.9", lw=0.5)
    return handles


def _draw_difference_panel(ax, differences: pd.DataFrame, compared: list, order: list, targets: np.ndarray,
                           tests: pd.DataFrame, ref_text: str) -> pd.DataFrame:
    """Panel b: each compared ratio's difference from the reference per target rate; returns the finite ones."""
    test = ""
    if "test" in tests and tests["test"].dropna().size:
        test = f" ({str(tests['test'].dropna().iloc[0]).capitalize()} t-test)"
    ax.set_title(f"difference from {ref_text}, mean ± 1 SE{test}", loc="left")
    finite = differences[np.isfinite(differences["mean_diff_pp"].to_numpy(dtype=float))]
    extent = (np.nanmax(np.abs(finite["mean_diff_pp"]) + finite["se_pp"].fillna(0)) if len(finite) else 1.0)
    extent = max(float(extent), 0.5)
    for ratio in compared:
        color, marker = _ratio_look(order.index(ratio), ratio)
        sub = differences[style.same_ratio(differences["ratio"], ratio)].set_index("target_rate_hz")
        if not sub.empty:
            _draw_difference_line(ax, sub.reindex(targets), color, marker, extent)
    if len(differences):
        ax.axhline(0, color="black", lw=0.6, zorder=1)
    ax.set_xscale("log")
    ax.set_xlabel("target initial rate (Hz)")
    tested = str(tests["value"].dropna().iloc[0]) if "value" in tests and tests["value"].notna().any() else ""
    ax.set_ylabel(f"difference from {ref_text} (percentage points)"
                  f"{chr(10) + 'accuracy, ' + accuracy_text(tested) if tested else ''}")
    ax.set_ylim(-1.35 * extent, 1.35 * extent)
    ax.grid(axis="y", color="0.9", lw=0.5)
    return finite


def _draw_difference_line(ax, sub: pd.DataFrame, color: str, marker: str, extent: float) -> None:
    """One ratio's differences (± 1 SE) across the target rates, with the stars of the significant ones."""
    x = sub["x_plotted"].to_numpy(dtype=float)
    diff = sub["mean_diff_pp"].to_numpy(dtype=float)
    se = sub["se_pp"].to_numpy(dtype=float)
    _mean_errorbar(ax, x, diff, np.nan_to_num(se), color, marker)
    for xi, d, s, label in zip(x, diff, np.nan_to_num(se), sub["stars"].fillna("")):
        if not np.isfinite(d) or label in ("", "ns"):  # as in Fig 2: stars only
            continue
        tip = d + np.sign(d or 1) * (s + 0.04 * extent)
        ax.text(xi, tip, label, ha="center", va="bottom" if d >= 0 else "top", fontsize=6, color=color)


def _set_rate_axes(ax_a, ax_b, shown: pd.DataFrame, targets: np.ndarray) -> None:
    """x limits and ticks: a around the runs' rates (0 Hz at its own tick), b at the target rates."""
    x_values = np.concatenate([shown["x_plotted"].to_numpy(dtype=float), targets])
    x_values = x_values[np.isfinite(x_values) & (x_values > 0)]
    if x_values.size:
        ax_a.set_xlim(x_values.min() / 2, x_values.max() * 2)
        if shown["silent"].any():
            style.mark_zero_tick(ax_a, float(shown.loc[shown["silent"], "x_plotted"].min()))
        else:
            style.plain_log_ticks(ax_a)
    if targets.size:
        ax_b.set_xlim(targets.min() / 2, targets.max() * 2)
        step = max(1, int(np.ceil(targets.size / 8)))
        ax_b.set_xticks(targets[::step], [f"{t:g}" for t in targets[::step]])
        ax_b.xaxis.set_minor_locator(NullLocator())


def _annotate_empty_panels(ax_a, ax_b, no_runs: bool, differences: pd.DataFrame, finite: pd.DataFrame,
                           ref_text: str) -> None:
    """Say so on a panel that has nothing (or nothing computable) to show."""
    if no_runs:
        style.annotate_empty(ax_a, "no runs with a target rate")
        ax_a.minorticks_off()
    if differences.empty:
        style.annotate_empty(ax_b, "no t-tests against the reference")
        ax_b.minorticks_off()
    elif finite.empty:
        style.annotate_empty(ax_b, f"no difference computable (no {ref_text} runs?)", keep_axes=True)


def build_fig_rate(run_table_path, ttests_path, out_stem, **options):
    """Read ``runs.csv`` and ``ttests.csv``, draw the matched-rate figure and write ``<out_stem>.pdf/.png/.data.csv``."""
    fig, data = plot_matched_rate(run_table_path, ttests_path, **options)
    return style.write_figure(fig, data, out_stem)
