"""Supplementary figure: inter-spike-interval and firing-frequency distributions, E vs I."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from eisnn.figures import style
from eisnn.figures.inputs import read_run_table, read_table, with_run_key

COLUMNS = ("before", "after")
ROW_OUTCOMES = ("successful", "failed")


def isi_distribution_table(run_table, isi) -> pd.DataFrame:
    """ISI counts pooled over classes and constrained runs, per snapshot (before = epoch 0,
    after = each run's last snapshot), population (E/I) and outcome (diverged counts as failed),
    with ``fraction`` = count / total intervals of that (column, population, outcome).
    """
    runs = read_run_table(run_table)
    runs = runs[runs["ratio"].notna()].assign(
        row=lambda r: np.where(r["outcome"] == "successful", "successful", "failed"))
    table = with_run_key(read_table(isi)).drop(columns=["run_dir"], errors="ignore")
    columns = ["column", "population", "outcome", "isi_ms", "frequency_hz", "count", "fraction", "n_runs"]
    if table.empty or runs.empty:
        return pd.DataFrame(columns=columns)
    table = table.merge(runs[["run_key", "row"]], on="run_key", how="inner")
    table = table[table["population"].isin(["E", "I"])]
    last = table.groupby("run_key")["epoch"].transform("max")
    frames = []
    for column in COLUMNS:
        sub = table[table["epoch"] == 0] if column == "before" else table[table["epoch"] == last]
        if sub.empty:
            continue
        n_runs = sub.groupby(["population", "row"])["run_key"].nunique().rename("n_runs")
        pooled = (sub.groupby(["population", "row", "isi_ms", "frequency_hz"], as_index=False)["count"].sum()
                  .merge(n_runs.reset_index(), on=["population", "row"]))
        totals = pooled.groupby(["population", "row"])["count"].transform("sum")
        pooled["fraction"] = np.where(totals > 0, pooled["count"] / totals.where(totals > 0, 1), np.nan)
        frames.append(pooled.assign(column=column))
    if not frames:
        return pd.DataFrame(columns=columns)
    data = pd.concat(frames, ignore_index=True).rename(columns={"row": "outcome"})
    return data[columns].sort_values(["column", "population", "outcome", "isi_ms"]).reset_index(drop=True)


def plot_isi_distributions(run_table, isi, *, dataset_label: str = ""):
    """ISI (top) and firing-frequency = 1/ISI (bottom) distributions of E and I neurons,
    before and after training, for successful (solid) and failed (dashed) runs.
    Returns ``(figure, data)``.
    """
    data = isi_distribution_table(run_table, isi)
    runs = read_run_table(run_table)
    n_constrained = int(runs["ratio"].notna().sum())
    with style.context():
        fig = style.new_figure(style.FULL_WIDTH * 0.8, 4.2)
        axes = fig.subplots(2, 2, sharey="row")
        for j, column in enumerate(COLUMNS):
            ax_isi, ax_freq = axes[0, j], axes[1, j]
            title = "before training (epoch 0)" if column == "before" else "after training (final epoch)"
            ax_isi.set_title(title)
            sub = data[(data["column"] == column) & (data["count"] > 0)]
            if sub.empty:
                for ax in (ax_isi, ax_freq):
                    style.annotate_empty(ax, "no inter-spike intervals (no neuron fired twice)"
                                         if n_constrained else "no runs")
                continue
            for (pop, outcome), grp in sub.groupby(["population", "outcome"]):
                grp = grp.sort_values("isi_ms")
                kwargs = dict(color=style.POPULATION_COLORS[pop], ls=style.OUTCOME_LINESTYLES[outcome], lw=0.9,
                              marker="o", ms=1.5)
                ax_isi.plot(grp["isi_ms"], grp["fraction"], **kwargs)
                ax_freq.plot(grp["frequency_hz"], grp["fraction"], **kwargs)
            for ax in (ax_isi, ax_freq):
                ax.set_xscale("log")
                ax.set_yscale("log")
                style.plain_log_ticks(ax, "x")
                ax.grid(color="0.93", lw=0.5)
            ax_isi.set_xlabel("inter-spike interval (ms)")
            ax_freq.set_xlabel("firing frequency 1/ISI (Hz)")
        axes[0, 0].set_ylabel("fraction of intervals")
        axes[1, 0].set_ylabel("fraction of intervals")
        handles = []
        for pop in ("E", "I"):
            for outcome in ROW_OUTCOMES:
                sel = data[(data["population"] == pop) & (data["outcome"] == outcome)]
                if sel.empty:
                    continue
                handles.append(Line2D([], [], color=style.POPULATION_COLORS[pop], ls=style.OUTCOME_LINESTYLES[outcome],
                                      lw=0.9, label=f"{pop} neurons, {outcome} runs (n = {int(sel['n_runs'].max())})"))
        if handles:
            fig.legend(handles=handles, loc="outside lower center", ncols=2)
        suffix = f", {dataset_label}" if dataset_label else ""
        fig.suptitle(f"Hidden-layer inter-spike intervals, pooled over classes and runs{suffix}", x=0.02, ha="left")
    return fig, data


def build_isi(run_table_path, isi, out_stem, **options):
    """Draw the ISI/frequency figure from ``runs.csv`` and the runs' ``isi.csv``; write files."""
    fig, data = plot_isi_distributions(run_table_path, isi, **options)
    return style.write_figure(fig, data, out_stem)
