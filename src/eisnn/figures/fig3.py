"""Fig 3: per-class accuracy against activity and against % excitatory across training."""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from eisnn.figures import style
from eisnn.figures.inputs import read_run_table, read_table, with_run_key
from eisnn.layout import ratio_label

COLUMNS = ("0", "1", "10", "final")
"""Snapshot columns: epochs 0, 1 and 10, and each run's last snapshot."""
ROW_OUTCOMES = ("successful", "failed")


def class_activity_table(run_table, activity_class, *, ratios: Sequence | None = None) -> pd.DataFrame:
    """One row per run × class × column (epoch 0, 1, 10, final) of the runs Fig 3 shows.

    ``activity_class`` is the concatenation of the runs' ``metrics/activity_class.csv`` with
    a ``run_key`` (or ``run_dir``) column. Default ``ratios``: every constrained ratio below
    1.0 (the paper leaves out 100:0, whose activity is always 100 % excitatory, and the
    unconstrained runs, which have no E/I types). Diverged runs count as failed.
    """
    runs = read_run_table(run_table)
    activity = with_run_key(read_table(activity_class)).drop(columns=["run_dir"], errors="ignore")
    runs = style.select_ratios(runs, ratios)
    runs = runs.assign(row=np.where(runs["outcome"] == "successful", "successful", "failed"))
    merged = activity.merge(runs[["run_key", "run_dir", "ratio", "sigma_init", "seed", "outcome", "row"]],
                            on="run_key", how="inner")
    last = merged.groupby("run_key")["epoch"].transform("max")
    frames = []
    for column in COLUMNS:
        if column == "final":
            sub = merged[merged["epoch"] == last]
        else:
            sub = merged[merged["epoch"] == int(column)]
        frames.append(sub.assign(column=column))
    columns = ["run_dir", "ratio", "sigma_init", "seed", "outcome", "row", "column", "epoch", "class",
               "accuracy_pct", "spikes_per_image", "percent_excitatory"]
    if not frames or all(f.empty for f in frames):
        return pd.DataFrame(columns=columns)
    data = pd.concat(frames, ignore_index=True)
    data["accuracy_pct"] = 100 * data["accuracy"].astype(float)
    return data[columns].reset_index(drop=True)


def plot_class_activity(run_table, activity_class, *, ratios: Sequence | None = None,
                        dataset: str | None = "fmnist"):
    """Fig 3: per-class accuracy vs spikes per image (log) and vs % excitatory, by snapshot.

    Rows: successful runs (accuracy vs activity, accuracy vs % excitatory), then failed runs.
    Columns: epoch 0, 1, 10 and final. Each point is one class of one network, coloured by
    E:I ratio; dotted lines mark each ratio's share of excitatory neurons. Classes with no
    hidden spike sit at the axis position labelled 0. Returns ``(figure, data)``.
    """
    data = class_activity_table(run_table, activity_class, ratios=ratios)
    order = style.ordered_ratios(data["ratio"]) if ratios is None else style.ordered_ratios(ratios)
    look = _panel_look(data)
    spikes = data["spikes_per_image"].to_numpy(dtype=float)
    data["x_spikes_plotted"] = np.where(spikes > 0, spikes, look.floor)
    final_epochs = data.loc[data["column"] == "final", "epoch"]
    final_title = f"final (epoch {int(final_epochs.mode().iloc[0])})" if len(final_epochs) else "final"
    success_text, failure_text = style.success_texts(dataset)

    with style.context():
        fig = style.new_figure(style.FULL_WIDTH, 7.4)
        subfigs = fig.subfigures(2, 1, hspace=0.04)
        for letter, outcome, subfig in zip("ab", ROW_OUTCOMES, subfigs):
            rule = success_text if outcome == "successful" else failure_text
            _draw_outcome_row(subfig, f"{letter}   {outcome} runs ({rule})", data[data["row"] == outcome], order,
                              final_title, look)
        _draw_ratio_legend(fig, order)
    return fig, data


class _PanelLook(NamedTuple):
    """What every panel of Fig 3 shares: point size and opacity, and the spike axis."""

    size: float
    alpha: float
    floor: float
    """Position of zero spikes on the log axis."""
    has_zero: bool
    x_hi: float


def _panel_look(data: pd.DataFrame) -> _PanelLook:
    """Points smaller and fainter the more a panel holds; the spike axis from the data's spike counts."""
    spikes = data["spikes_per_image"].to_numpy(dtype=float)
    positive = spikes[np.isfinite(spikes) & (spikes > 0)]
    per_panel = data.groupby(["row", "column"]).size()
    n_max = int(per_panel.max()) if len(per_panel) else 1
    return _PanelLook(size=float(np.clip(400 / np.sqrt(n_max), 3, 14)), alpha=0.45 if n_max > 500 else 0.75,
                      floor=style.log_floor(spikes, default=1e-2), has_zero=bool((spikes == 0).any()),
                      x_hi=float(positive.max()) * 2 if positive.size else 10.0)


def _draw_outcome_row(subfig, heading: str, rows: pd.DataFrame, order: list, final_title: str,
                      look: _PanelLook) -> None:
    """One row of Fig 3 (successful or failed runs): its heading and a column of two panels per snapshot."""
    n_runs = rows["run_dir"].nunique()
    subfig.suptitle(f"{heading}: {n_runs} network{'s' * (n_runs != 1)}", x=0.01, ha="left", fontweight="bold")
    axes = subfig.subplots(2, len(COLUMNS), sharey=True)
    for j, column in enumerate(COLUMNS):
        reason = "no runs" if n_runs == 0 else f"no snapshot at epoch {column}"
        _draw_snapshot_column(axes[0, j], axes[1, j], rows[rows["column"] == column],
                              final_title if column == "final" else f"epoch {column}", reason, order, look)
    axes[0, 0].set_ylabel("class accuracy (%)")
    axes[1, 0].set_ylabel("class accuracy (%)")


def _draw_snapshot_column(ax_act, ax_pct, sub: pd.DataFrame, title: str, reason: str, order: list,
                          look: _PanelLook) -> None:
    """One snapshot: class accuracy against spikes per image (top) and against % excitatory spikes (bottom)."""
    ax_act.set_title(title)
    for ax in (ax_act, ax_pct):
        ax.set_ylim(-3, 103)
        ax.grid(axis="y", color="0.92", lw=0.5)
    if sub.empty:
        style.annotate_empty(ax_act, reason, keep_axes=True)
        style.annotate_empty(ax_pct, reason, keep_axes=True)
    for ratio in order:
        pts = sub[style.same_ratio(sub["ratio"], ratio)]
        if pts.empty:
            continue
        color = style.ratio_color(ratio)
        ax_act.scatter(pts["x_spikes_plotted"], pts["accuracy_pct"], s=look.size, color=color,
                       alpha=look.alpha, linewidths=0, rasterized=True)
        ax_pct.scatter(pts["percent_excitatory"], pts["accuracy_pct"], s=look.size, color=color,
                       alpha=look.alpha, linewidths=0, rasterized=True)
    for ratio in order:
        ax_pct.axvline(100 * ratio, color=style.ratio_color(ratio), lw=0.6, ls=":", zorder=0)
    ax_act.set_xscale("log")
    ax_act.set_xlim(look.floor / 2.5 if look.has_zero else look.floor * 5, look.x_hi)
    style.plain_log_ticks(ax_act)
    if look.has_zero:
        style.mark_zero_tick(ax_act, look.floor)
    ax_act.set_xlabel("hidden spikes per image")
    ax_pct.set_xlim(-3, 103)
    ax_pct.set_xticks([0, 25, 50, 75, 100])
    ax_pct.set_xlabel("excitatory spikes (%)")


def _draw_ratio_legend(fig, order: list) -> None:
    """Figure legend of the E:I ratios shown, or a note that there are none."""
    handles = [Line2D([], [], ls="", marker="o", ms=3.5, color=style.ratio_color(r),
                      label=f"{ratio_label(r)} (dotted: {100 * r:g} % E neurons)") for r in order]
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), title="E:I ratio")
    else:
        fig.text(0.5, 0.01, "no constrained runs with E:I ratio < 100:0", ha="center",
                 color=style.OKABE_ITO["grey"], style="italic")


def build_fig3(run_table_path, activity_class, out_stem, **options):
    """Draw Fig 3 from ``runs.csv`` and the runs' activity tables; write PDF, PNG and data CSV."""
    fig, data = plot_class_activity(run_table_path, activity_class, **options)
    return style.write_figure(fig, data, out_stem)
