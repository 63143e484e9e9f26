"""Fig 5: Van Rossum distances between E-E, E-I and I-I neuron pairs, before and after training."""

from __future__ import annotations

from typing import Sequence

import warnings

import numpy as np
import pandas as pd
import seaborn as sns

from eisnn.figures import style
from eisnn.figures.inputs import read_run_table, read_table
from eisnn.layout import is_unconstrained, ratio_label

CATEGORY_SUFFIX = {"E-E": "ee", "E-I": "ei", "I-I": "ii"}


def distance_table(run_table, *, ratios: Sequence | None = None) -> pd.DataFrame:
    """One row per constrained run × group × pair category with a finite distance.

    pre-training: every run, ``vr_pre_*``; successful / failed: by outcome (diverged runs are
    failed), ``vr_final_*``. ``ratios`` selects the ratios; by default every constrained ratio
    below 1.0, as in the paper (100:0 has no I neurons, hence only E-E distances).
    """
    runs = read_run_table(run_table)
    runs = style.select_ratios(runs[runs["ratio"].notna()], ratios)
    rows = []
    for _, run in runs.iterrows():
        groups = ["pre-training", "successful" if run["outcome"] == "successful" else "failed"]
        for group in groups:
            when = "pre" if group == "pre-training" else "final"
            for category, suffix in CATEGORY_SUFFIX.items():
                value = run.get(f"vr_{when}_{suffix}", np.nan)
                if pd.notna(value) and np.isfinite(float(value)):
                    rows.append({"run_dir": run["run_dir"], "ratio": run["ratio"], "sigma_init": run["sigma_init"],
                                 "seed": run["seed"], "outcome": run["outcome"], "group": group,
                                 "category": category, "distance": float(value)})
    return pd.DataFrame(rows, columns=["run_dir", "ratio", "sigma_init", "seed", "outcome", "group",
                                       "category", "distance"])


def plot_van_rossum(run_table, van_rossum_table=None, *, ratios: Sequence | None = None,
                    first_letter: str = "a", tau_ms: float = 1.0, dataset_label: str = ""):
    """Fig 5: per ratio (rows; default: the constrained ratios below 100:0) and group (columns:
    before training, successful, failed), the distribution over networks of the mean E-E, E-I
    and I-I Van Rossum distances.

    Boxes show quartiles, points single networks. Each panel is annotated with the
    Kruskal–Wallis p-value across the three categories and N (networks) from
    ``van_rossum_table.csv`` (Tables 2/3). Returns ``(figure, data)``.
    """
    from eisnn.stats import GROUPS

    data = distance_table(run_table, ratios=ratios)
    runs = read_run_table(run_table)
    default = style.select_ratios(runs)["ratio"]
    order = style.ordered_ratios(ratios if ratios is not None else default)
    order = [r for r in order if not is_unconstrained(r)]
    kw = read_table(van_rossum_table) if van_rossum_table is not None else pd.DataFrame()
    if len(kw):
        kw["ratio"] = pd.to_numeric(kw["ratio"], errors="coerce")
    top = float(data["distance"].max()) if len(data) else 1.0

    with style.context():
        n_rows = max(len(order), 1)
        fig = style.new_figure(style.FULL_WIDTH * 0.8, 0.5 + 1.75 * n_rows)
        axes = np.atleast_2d(fig.subplots(n_rows, len(GROUPS), sharey=True, squeeze=False))
        if not order:
            style.annotate_empty(axes[0, 0], "no runs with E and I neurons")
            for ax in axes[0, 1:]:
                ax.set_visible(False)
        for i, ratio in enumerate(order):
            style.panel_letter(axes[i, 0], chr(ord(first_letter) + i), x=-0.28)
            sub = runs[style.same_ratio(runs["ratio"], ratio)]
            n_networks = {"pre-training": len(sub), "successful": int((sub["outcome"] == "successful").sum()),
                          "failed": int((sub["outcome"] != "successful").sum())}
            for j, group in enumerate(GROUPS):
                _draw_group_panel(axes[i, j], data[style.same_ratio(data["ratio"], ratio) & (data["group"] == group)],
                                  ratio, group, n_networks[group], kw, top, first_row=i == 0, first_column=j == 0)
            axes[i, 0].set_ylim(0, 1.3 * top if top > 0 else 1.0)
        for ax in axes[-1]:
            ax.set_xlabel("neuron pairs")
        suffix = f", {dataset_label}" if dataset_label else ""
        fig.suptitle(f"Van Rossum distance between hidden neuron pairs (τ = {tau_ms:g} ms){suffix}",
                     x=0.02, ha="left")
    return fig, data


def _draw_group_panel(ax, sub: pd.DataFrame, ratio, group: str, n_networks: int, kw: pd.DataFrame, top: float,
                      *, first_row: bool, first_column: bool) -> None:
    """One ratio × group: the networks' E-E, E-I and I-I distances, with the Kruskal–Wallis p and N."""
    categories = list(CATEGORY_SUFFIX)
    if first_row:
        ax.set_title(style.GROUP_NAMES[group])
    if sub.empty:
        style.annotate_empty(ax, "no runs" if n_networks == 0 else "no distances", keep_axes=True)
        ax.set_xticks(range(3), categories)
        ax.set_xlim(-0.6, 2.6)
    else:
        _box_and_points(ax, sub, categories)
        for k, category in enumerate(categories):
            if not (sub["category"] == category).any():
                reason = "no I neurons" if np.isclose(ratio, 1.0) and "I" in category else "n/a"
                ax.text(k, 0.05 * top, reason, rotation=90, ha="center", va="bottom", fontsize=5,
                        color=style.OKABE_ITO["grey"])
    ax.text(0.03, 0.97, _kw_text(kw, ratio, group, n_networks), transform=ax.transAxes,
            ha="left", va="top", fontsize=5.5)
    ax.set_xlabel("")
    ax.set_ylabel(f"{ratio_label(ratio)}\nmean Van Rossum distance" if first_column else "")
    ax.grid(axis="y", color="0.92", lw=0.5)


def _box_and_points(ax, sub: pd.DataFrame, categories: list[str]) -> None:
    """Quartile boxes (outlines) and one point per network, coloured by pair category."""
    common = dict(data=sub, x="category", y="distance", order=categories, hue="category",
                  hue_order=categories, palette=style.PAIR_COLORS, legend=False, ax=ax)
    with warnings.catch_warnings():
        # seaborn 0.13 passes matplotlib's deprecated `vert` argument to Axes.bxp.
        warnings.simplefilter("ignore", category=DeprecationWarning)
        sns.boxplot(fill=False, width=0.55, linewidth=0.7, showfliers=False, **common)
    sns.stripplot(size=2.2, alpha=0.6, jitter=0.18, **common)


def _kw_text(kw: pd.DataFrame, ratio, group: str, n_networks: int) -> str:
    if kw.empty:
        return f"N = {n_networks}"
    row = kw[style.same_ratio(kw["ratio"], ratio) & (kw["group"] == group)]
    if row.empty:
        return f"N = {n_networks}"
    from eisnn.stats import format_p

    r = row.iloc[0]
    p = format_p(r["kw_p"])
    p_text = f"p {p}" if p.startswith("<") else f"p = {p}"
    return f"Kruskal–Wallis {p_text}\nN = {int(r['n_networks'])}"


def build_fig5(run_table_path, van_rossum_table_path, out_stem, **options):
    """Draw Fig 5 from ``runs.csv`` and ``van_rossum_table.csv``; write PDF, PNG and data CSV."""
    fig, data = plot_van_rossum(run_table_path, van_rossum_table_path, **options)
    return style.write_figure(fig, data, out_stem)
