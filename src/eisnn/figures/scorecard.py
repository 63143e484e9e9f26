"""The reproduction scorecard as a figure: the paper's values beside ours (eisnn.reproduction).

Three panels put every value claim (accuracies, Van Rossum distances, shares of networks) at
(paper, ours) with our 95 % interval, against the identity line; colour says the verdict, the
marker the method variant (variants side by side at each paper value). A fourth panel counts the
verdicts of every claim per variant.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from eisnn.figures import style
from eisnn.reproduction import VERDICTS, variant_order, verdict_counts

VERDICT_COLORS = {
    "reproduced": style.OKABE_ITO["bluish_green"],
    "not reproduced": style.OKABE_ITO["vermillion"],
    "inconclusive": style.OKABE_ITO["grey"],
}
PANELS = (("accuracy", "accuracy"), ("distance", "median Van Rossum distance"), ("share", "share of networks"))
VARIANT_MARKERS = ("o", "s", "^", "D", "v")


def scorecard_points(scorecard: pd.DataFrame) -> pd.DataFrame:
    """The value claims the figure draws: a paper value, our value and the claim's band."""
    values = scorecard[scorecard["quantity"].isin([name for name, _ in PANELS])]
    values = values[np.isfinite(values["paper_value"]) & np.isfinite(values["ours"])]
    columns = ["claim", "variant", "quantity", "paper_value", "ours", "ci_low", "ci_high", "n", "verdict"]
    return values[columns].reset_index(drop=True)


def plot_scorecard(scorecard: pd.DataFrame, title: str = ""):
    """(figure, plotted data) of a scorecard table (:func:`eisnn.reproduction.score`)."""
    points = scorecard_points(scorecard)
    variants = variant_order(scorecard["variant"])
    markers = {v: VARIANT_MARKERS[i % len(VARIANT_MARKERS)] for i, v in enumerate(variants)}
    with style.context():
        fig = style.new_figure(style.FULL_WIDTH, 0.3 * style.FULL_WIDTH)
        axes = fig.subplots(1, 4)
        for ax, (quantity, label) in zip(axes, PANELS):
            sub = points[points["quantity"] == quantity]
            values = pd.concat([sub["paper_value"], sub["ours"]]) if len(sub) else pd.Series([0.0, 1.0])
            low, high = float(values.min()), float(values.max())
            pad = 0.08 * (high - low or 1.0)
            for variant, group in sub.groupby("variant"):
                # Variants side by side at each paper value (dodged by 1.5 % of the axis).
                dodge = (variants.index(variant) - (len(variants) - 1) / 2) * 0.015 * (high - low + 2 * pad)
                for verdict, rows in group.groupby("verdict"):
                    lower = (rows["ours"] - rows["ci_low"]).clip(lower=0).fillna(0)
                    upper = (rows["ci_high"] - rows["ours"]).clip(lower=0).fillna(0)
                    ax.errorbar(rows["paper_value"] + dodge, rows["ours"], yerr=[lower, upper], fmt=markers[variant],
                                ms=3, lw=0.6, color=VERDICT_COLORS[verdict], mec=VERDICT_COLORS[verdict],
                                mfc=VERDICT_COLORS[verdict] if variant == "default" else "white")
            ax.plot([low - pad, high + pad], [low - pad, high + pad], color="black", lw=0.5, zorder=0)
            ax.set_xlim(low - pad, high + pad)
            ax.set_ylim(low - pad, high + pad)
            ax.set_xlabel(f"paper: {label}")
            ax.set_ylabel(f"ours: {label}")
            if not len(sub):
                ax.text(0.5, 0.5, "no values", transform=ax.transAxes, ha="center", va="center")
        counts = verdict_counts(scorecard).reindex(variants)
        bottom = np.zeros(len(variants))
        for verdict in VERDICTS:
            heights = counts[verdict].to_numpy(dtype=float)
            axes[3].bar(range(len(variants)), heights, bottom=bottom, color=VERDICT_COLORS[verdict], label=verdict)
            bottom += heights
        axes[3].set_xticks(range(len(variants)), variants)
        axes[3].set_ylabel("claims")
        handles = [Line2D([], [], color=VERDICT_COLORS[v], marker="s", ls="", label=v) for v in VERDICTS]
        handles += [Line2D([], [], color="black", marker=markers[v], ls="", mfc="black" if v == "default" else "white",
                           label=f"variant {v}") for v in variants]
        fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), frameon=False)
        if title:
            fig.suptitle(title)
    return fig, points


def build_scorecard_figure(scorecard_path, out_stem, title: str = ""):
    """Read ``scorecard.csv``, draw the figure and write ``<out_stem>.pdf/.png/.data.csv``."""
    fig, data = plot_scorecard(pd.read_csv(scorecard_path, keep_default_na=False, na_values=[""]), title)
    return style.write_figure(fig, data, out_stem)
