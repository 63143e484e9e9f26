"""Fig 4: three representative runs (low, moderate, high initial activity) across training."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from eisnn.figures import style
from eisnn.figures.inputs import read_run_table, read_table, with_run_key
from eisnn.layout import ratio_label

LEVELS = ("low", "moderate", "high")
ROWS = ("E", "I", "percent", "w_in", "w_out_before", "w_out_after")
ROW_LABELS = {
    "E": "E spikes per image",
    "I": "I spikes per image",
    "percent": "excitatory spikes (%)",
    "w_in": "weights (count)",
    "w_out_before": "weights (count)",
    "w_out_after": "weights (count)",
}
"""y labels of the rows, on the left column."""


def pick_representative_runs(run_table, prefer_ratio: float | None = 0.5) -> pd.DataFrame:
    """The successful constrained runs with the lowest, median and highest initial firing rate.

    Candidates are successful, constrained runs with a finite initial rate; if some have ratio
    ``prefer_ratio`` (the paper shows 50:50), only those. Sorted by (rate, run_dir), the picks
    are positions 0, (n-1)//2 and n-1; with two candidates only low and high, with one only low.
    Returns the chosen rows of the run table with a ``level`` column.
    """
    runs = read_run_table(run_table)
    cand = runs[(runs["outcome"] == "successful") & runs["ratio"].notna()
                & np.isfinite(runs["initial_rate_hz"].to_numpy(dtype=float))]
    if prefer_ratio is not None:
        preferred = cand[style.same_ratio(cand["ratio"], prefer_ratio)]
        if len(preferred):
            cand = preferred
    cand = cand.sort_values(["initial_rate_hz", "run_key"], kind="stable").reset_index(drop=True)
    n = len(cand)
    cand["n_candidates"] = n
    positions = {0: [], 1: [("low", 0)], 2: [("low", 0), ("high", 1)]}.get(
        n, [("low", 0), ("moderate", (n - 1) // 2), ("high", n - 1)])
    chosen = [cand.iloc[[i]].assign(level=level) for level, i in positions]
    if not chosen:
        return cand.assign(level=pd.Series(dtype=str))
    return pd.concat(chosen, ignore_index=True)


def _population_activity(activity_population: pd.DataFrame, key: str) -> pd.DataFrame:
    """Per class × epoch: E and I spikes per image and % excitatory of one run."""
    act = activity_population[activity_population["run_key"] == key]
    wide = act.pivot_table(index=["epoch", "class"], columns="population", values="spikes_per_image",
                           aggfunc="first")
    for pop in ("E", "I"):
        if pop not in wide:
            wide[pop] = np.nan
    total = wide["E"].fillna(0) + wide["I"].fillna(0)
    wide["percent"] = np.where(total > 0, 100 * wide["E"].fillna(0) / total.where(total > 0, 1), np.nan)
    return wide.reset_index()


def representative_runs_table(run_table, activity_population, weights_hist, histories,
                              prefer_ratio: float | None = 0.5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(picks, data)``: the chosen runs and the tidy table of everything Fig 4 plots for them."""
    picks = pick_representative_runs(run_table, prefer_ratio)
    act = with_run_key(read_table(activity_population))
    hist = with_run_key(read_table(weights_hist))
    history = with_run_key(read_table(histories))
    frames = []
    for _, run in picks.iterrows():
        ident = {"level": run["level"], "run_dir": run["run_dir"], "ratio": run["ratio"],
                 "sigma_init": run["sigma_init"], "seed": run["seed"],
                 "initial_rate_hz": run["initial_rate_hz"]}
        wide = _population_activity(act, run["run_key"]) if len(act) else pd.DataFrame()
        for row in ("E", "I", "percent"):
            if row in wide:
                frames.append(pd.DataFrame({**ident, "panel": row, "epoch": wide["epoch"],
                                            "class": wide["class"], "value": wide[row]}))
        h = hist[hist["run_key"] == run["run_key"]] if len(hist) else hist
        if len(h):
            first, last = h["epoch"].min(), h["epoch"].max()
            for when, epoch in (("before", first), ("after", last)):
                sub = h[h["epoch"] == epoch]
                frames.append(pd.DataFrame({**ident, "panel": f"weights_{when}", "epoch": sub["epoch"],
                                            "matrix": sub["matrix"], "bin_left": sub["bin_left"],
                                            "bin_right": sub["bin_right"], "value": sub["count"]}))
        hi = history[history["run_key"] == run["run_key"]] if len(history) else history
        if len(hi):
            frames.append(pd.DataFrame({**ident, "panel": "test_accuracy", "epoch": hi["epoch"],
                                        "value": 100 * hi["test_acc"].astype(float)}))
    columns = ["level", "run_dir", "ratio", "sigma_init", "seed", "initial_rate_hz", "panel", "epoch",
               "class", "matrix", "bin_left", "bin_right", "value"]
    data = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    return picks, data.reindex(columns=columns)


def _stairs(ax, sub: pd.DataFrame, color, label=None, fill=True, alpha=0.55, lw=0.8):
    sub = sub.sort_values("bin_left")
    if sub.empty:
        return
    edges = np.append(sub["bin_left"].to_numpy(dtype=float), sub["bin_right"].to_numpy(dtype=float)[-1])
    counts = sub["value"].to_numpy(dtype=float)
    if fill:
        ax.stairs(counts, edges, baseline=0.5, fill=True, color=color, alpha=alpha, label=label, lw=0)
    ax.stairs(counts, edges, baseline=0.5, color=color, lw=lw, label=None if fill else label)


def plot_representative_runs(run_table, activity_population, weights_hist, histories, *,
                             prefer_ratio: float | None = 0.5, dataset: str | None = None):
    """Fig 4: for low, moderate and high initial activity (one successful run each, columns):
    E and I spikes per image per class across snapshot epochs (black: mean over classes),
    % excitatory spikes, the input weights before and after training, the output weights of E
    and I neurons before and after, with the test accuracy curve inset. Returns ``(figure, data)``.
    """
    picks, data = representative_runs_table(run_table, activity_population, weights_hist, histories,
                                            prefer_ratio)
    classes = sorted(int(c) for c in data["class"].dropna().unique())
    n_classes = (max(classes) + 1) if classes else 0
    palette = style.class_palette(max(n_classes, 1))
    names = style.class_names(dataset, n_classes)

    with style.context():
        fig = style.new_figure(style.FULL_WIDTH, 8.6)
        axes = fig.subplots(len(ROWS), len(LEVELS), gridspec_kw={"hspace": 0.08})
        for j, level in enumerate(LEVELS):
            style.panel_letter(axes[0, j], "abc"[j], x=-0.12, y=1.25)
            chosen = picks[picks["level"] == level]
            if chosen.empty:
                _draw_missing_run(axes[:, j], level, picks)
            else:
                _draw_run_column(axes[:, j], level, chosen.iloc[0], data, palette)
        for row, ax in zip(ROWS, axes[:, 0]):
            ax.set_ylabel(ROW_LABELS[row])
        handles = [Line2D([], [], color=palette[c % len(palette)], lw=0.9, label=names[c]) for c in range(n_classes)]
        handles.append(Line2D([], [], color="black", lw=1.4, label="mean over classes"))
        if n_classes:
            fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 6))
    return fig, data


def _draw_missing_run(col, level: str, picks: pd.DataFrame) -> None:
    """A column without a run at ``level``: its title, why there is none, and no further panels."""
    n_cand = int(picks["n_candidates"].iloc[0]) if len(picks) else 0
    reason = "no successful run" if n_cand == 0 else f"only {n_cand} successful run{'s' * (n_cand != 1)}"
    col[0].set_title(f"{level} initial activity")
    style.annotate_empty(col[0], reason)
    for ax in col[1:]:
        ax.set_visible(False)


def _draw_run_column(col, level: str, run: pd.Series, data: pd.DataFrame, palette: list) -> None:
    """One representative run, top to bottom: E, I and % excitatory activity, then its weight histograms."""
    sub = data[data["run_dir"] == run["run_dir"]]
    acc = sub[sub["panel"] == "test_accuracy"]
    peak = f", peak {acc['value'].max():.0f} %" if len(acc) else ""
    col[0].set_title(
        f"{level} initial activity ({run['initial_rate_hz']:.3g} Hz)\n"
        f"{ratio_label(run['ratio'])}, σ_init = {style.format_sigma(run['sigma_init'])}, "
        f"seed {run['seed']}{peak}", fontsize=6.5)
    epochs = sorted(sub.loc[sub["panel"].isin(["E", "I", "percent"]), "epoch"].dropna().unique())
    for ax, row in zip(col[:3], ("E", "I", "percent")):
        _draw_activity_panel(ax, sub[sub["panel"] == row], row, run["ratio"], epochs, palette)
    weights = sub[sub["panel"].isin(["weights_before", "weights_after"])]
    ax_in, ax_before, ax_after = col[3], col[4], col[5]
    _draw_input_weights(ax_in, weights[weights["matrix"] == "w_in"])
    for ax, when in ((ax_before, "before"), (ax_after, "after")):
        _draw_output_weights(ax, weights, when)
    lo = weights.loc[weights["matrix"].str.startswith("w_out", na=False), "bin_left"].min()
    hi = weights.loc[weights["matrix"].str.startswith("w_out", na=False), "bin_right"].max()
    if np.isfinite(lo) and np.isfinite(hi):
        ax_before.set_xlim(lo, hi)
        ax_after.set_xlim(lo, hi)
    if len(acc):
        _draw_accuracy_inset(ax_after, acc)


def _draw_activity_panel(ax, values: pd.DataFrame, row: str, ratio: float, epochs: list, palette: list) -> None:
    """One activity row (E or I spikes per image, or % excitatory): a line per class and the class mean."""
    if values.empty or values["value"].isna().all():
        style.annotate_empty(ax, "no I neurons" if row == "I" else "no activity data")
        return
    position = {e: k for k, e in enumerate(epochs)}
    for c, grp in values.groupby("class"):
        grp = grp.sort_values("epoch")
        ax.plot(grp["epoch"].map(position), grp["value"], color=palette[int(c) % len(palette)],
                lw=0.7, marker="o", ms=1.8)
    mean = values.groupby("epoch")["value"].mean()
    ax.plot([position[e] for e in mean.index], mean.to_numpy(), color="black", lw=1.4, marker="o", ms=2.2)
    ax.set_xticks(range(len(epochs)), [f"{int(e)}" for e in epochs])
    ax.set_xlim(-0.25, len(epochs) - 0.75)
    if row == "percent":
        ax.set_xlabel("epoch (snapshots)")
        ax.axhline(100 * ratio, color="0.5", lw=0.6, ls=":")
        lo = values["value"].min()
        ax.set_ylim(min(lo - 5, 100 * ratio - 5), 102)
    else:
        ax.set_ylim(bottom=0)
        ax.set_xticklabels([])


def _draw_input_weights(ax, w_in: pd.DataFrame) -> None:
    """Histogram of the input weights before (filled grey) and after training (black outline), log counts."""
    if w_in.empty:
        style.annotate_empty(ax, "no weight histograms")
        return
    _stairs(ax, w_in[w_in["panel"] == "weights_before"], "0.55", "before", fill=True, alpha=0.6)
    _stairs(ax, w_in[w_in["panel"] == "weights_after"], "black", "after", fill=False, lw=0.9)
    ax.set_xlabel("input → hidden weight $W_\\mathrm{in}$")
    ax.set_yscale("log")
    ax.set_ylim(0.5, None)
    ax.legend(loc="upper right")


def _draw_output_weights(ax, weights: pd.DataFrame, when: str) -> None:
    """Histograms of the output weights from E and I (or all) neurons, ``when`` "before" or "after" training."""
    w = weights[(weights["panel"] == f"weights_{when}") & weights["matrix"].isin(["w_out_E", "w_out_I", "w_out_all"])]
    if w.empty:
        style.annotate_empty(ax, "no weight histograms")
        return
    for matrix, pop in (("w_out_E", "E"), ("w_out_I", "I"), ("w_out_all", "all")):
        _stairs(ax, w[w["matrix"] == matrix], style.POPULATION_COLORS[pop], f"from {pop} neurons")
    ax.set_yscale("log")
    top = w["value"].max()
    ax.set_ylim(0.5, max(top, 1) * (60 if when == "after" else 10))
    ax.set_xlabel(f"$W_\\mathrm{{out}}$ (hidden → readout), {when}")
    ax.legend(loc="upper left")


def _draw_accuracy_inset(ax, acc: pd.DataFrame) -> None:
    """Test accuracy (%) across epochs, inset at the top right of ``ax``."""
    inset = ax.inset_axes([0.62, 0.58, 0.36, 0.38])
    inset.plot(acc["epoch"], acc["value"], color="black", lw=0.8)
    inset.set_ylim(0, 100)
    inset.set_xlim(acc["epoch"].min() - 0.5, acc["epoch"].max() + 0.5)
    inset.set_title("test accuracy (%)", fontsize=5, pad=1.5)
    inset.set_xlabel("epoch", fontsize=5, labelpad=1)
    inset.tick_params(labelsize=5, length=1.5, pad=1)


def build_fig4(run_table_path, activity_population, weights_hist, histories, out_stem, **options):
    """Draw Fig 4 from ``runs.csv`` and the runs' tables; write PDF, PNG and data CSV."""
    fig, data = plot_representative_runs(run_table_path, activity_population, weights_hist, histories, **options)
    return style.write_figure(fig, data, out_stem)
