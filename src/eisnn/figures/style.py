"""Shared look of every figure: palette, E/I colours, fonts, sizes, and atomic saving.

Colours come from the Okabe–Ito colour-blind-safe palette; E is always vermillion and I always
blue, in every figure. E:I ratios use a sequential colour-blind-safe map (viridis, without its
pale yellow end) so that neighbouring ratios read as neighbours; unconstrained runs are black.

Figures are built on :class:`matplotlib.figure.Figure` directly (no pyplot state), at journal
print size (full width 180 mm, one column 88 mm) with 7 pt text, inside :func:`context`.
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import Iterable, Iterator

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from eisnn.io import atomic_path, write_csv_atomic
from eisnn.layout import is_unconstrained

MM = 1 / 25.4
FULL_WIDTH = 180 * MM
"""Full page width, inches."""
COLUMN_WIDTH = 88 * MM
"""One journal column, inches."""
DPI = 300
"""Resolution of the PNG files."""

# Okabe & Ito (2008), "Color universal design".
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
    "grey": "#7F7F7F",
}
E_COLOR = OKABE_ITO["vermillion"]
I_COLOR = OKABE_ITO["blue"]
POPULATION_COLORS = {"E": E_COLOR, "I": I_COLOR, "all": OKABE_ITO["grey"]}
POPULATION_NAMES = {"E": "excitatory (E)", "I": "inhibitory (I)", "all": "all (unconstrained)"}
PAIR_CATEGORIES = ("E-E", "E-I", "I-I")
PAIR_COLORS = {"E-E": E_COLOR, "E-I": OKABE_ITO["reddish_purple"], "I-I": I_COLOR, "all-all": OKABE_ITO["grey"]}
OUTCOMES = ("successful", "failed", "diverged")
OUTCOME_MARKERS = {"successful": "o", "failed": "o", "diverged": "X"}
OUTCOME_FILLED = {"successful": True, "failed": False, "diverged": True}
OUTCOME_LINESTYLES = {"successful": "-", "failed": "--"}
GROUP_NAMES = {"pre-training": "before training", "successful": "successful", "failed": "failed"}
RATIO_MARKERS = ("o", "s", "^", "D", "v", "P", "h", "<", ">", "p")
"""Markers of the ratios' mean lines (ascending ratio), so that lines differ beyond colour."""
SIGMA_INIT = r"$\sigma_\mathrm{init}$"
SIGMA_NOISE = r"$\sigma_\mathrm{noise}$"
UNCONSTRAINED_COLOR = OKABE_ITO["black"]
REFERENCE_COLOR = OKABE_ITO["grey"]
TRUE_CLASS_COLOR = OKABE_ITO["bluish_green"]

FMNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)

RC = {
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Arial", "Helvetica"],
    "font.size": 7,
    "axes.titlesize": 7,
    "axes.labelsize": 7,
    "axes.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlepad": 3,
    "xtick.labelsize": 6,
    "ytick.labelsize": 6,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "xtick.major.size": 2.5,
    "ytick.major.size": 2.5,
    "xtick.minor.size": 1.5,
    "ytick.minor.size": 1.5,
    "legend.fontsize": 6,
    "legend.title_fontsize": 6,
    "legend.frameon": False,
    "legend.handlelength": 1.5,
    "lines.linewidth": 1.0,
    "lines.markersize": 3,
    "figure.titlesize": 8,
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "svg.fonttype": "none",
}
"""matplotlib rcParams of all figures (7 pt text at print size, TrueType fonts in the PDF)."""


@contextlib.contextmanager
def context() -> Iterator[None]:
    """Apply :data:`RC` for the duration of a figure's construction."""
    with mpl.rc_context(RC):
        yield


def new_figure(width: float, height: float, layout: str | None = "constrained") -> Figure:
    """A pyplot-free Figure of the given size in inches."""
    return Figure(figsize=(width, height), layout=layout, dpi=100)


# ---------------------------------------------------------------------------------------------
# Ratios
# ---------------------------------------------------------------------------------------------


def ratio_color(ratio) -> str:
    """Colour of an E:I ratio: viridis from 0.5 (dark) to 1.0 (green-yellow); black if unconstrained."""
    if is_unconstrained(ratio):
        return UNCONSTRAINED_COLOR
    position = float(np.clip((float(ratio) - 0.5) / 0.5, 0.0, 1.0))
    return mpl.colors.to_hex(mpl.colormaps["viridis"](0.85 * position))


def ordered_ratios(values: Iterable) -> list:
    """Distinct ratios, ascending, with unconstrained (NaN) last as ``nan``."""
    values = list(values)
    numeric = sorted({round(float(v), 9) for v in values if not is_unconstrained(v)})
    has_null = any(is_unconstrained(v) for v in values)
    return numeric + ([float("nan")] if has_null else [])


def same_ratio(series: pd.Series, ratio) -> pd.Series:
    """Boolean mask of the rows of ``series`` equal to ``ratio`` (NaN matches NaN)."""
    values = pd.to_numeric(series, errors="coerce")
    if is_unconstrained(ratio):
        return values.isna()
    return pd.Series(np.isclose(values.to_numpy(dtype=float), float(ratio), rtol=0, atol=1e-9), index=series.index)


def among_ratios(series: pd.Series, ratios: Iterable) -> np.ndarray:
    """Boolean mask of the rows of ``series`` equal to any of ``ratios`` (:func:`same_ratio`)."""
    mask = np.zeros(len(series), dtype=bool)
    for ratio in ratios:
        mask |= same_ratio(series, ratio).to_numpy()
    return mask


def select_ratios(runs: pd.DataFrame, ratios: Iterable | None = None) -> pd.DataFrame:
    """The rows of ``runs`` at ``ratios``; by default every constrained ratio below 100:0, as the
    paper's Fig 3 and Fig 5 show (100:0 is all excitatory; unconstrained runs have no E/I types)."""
    if ratios is None:
        return runs[runs["ratio"].notna() & (runs["ratio"] < 1.0 - 1e-9)]
    return runs[among_ratios(runs["ratio"], ratios)]


def class_names(dataset: str | None, n_classes: int) -> list[str]:
    """Readable class names: Fashion-MNIST names, else ``class k``."""
    if dataset == "fmnist" and n_classes == len(FMNIST_CLASSES):
        return [f"{k} {name}" for k, name in enumerate(FMNIST_CLASSES)]
    return [f"class {k}" for k in range(n_classes)]


TOL_MUTED = ("#332288", "#88CCEE", "#44AA99", "#117733", "#999933", "#DDCC77", "#CC6677", "#882255",
             "#AA4499", "#888888")
"""Paul Tol's colour-blind-safe 'muted' scheme (plus grey): class colours that never reuse the
E (vermillion) and I (blue) colours."""


def class_palette(n_classes: int) -> list:
    """One colour per class: Tol's muted scheme up to 10 classes, else evenly spaced husl hues."""
    import seaborn as sns

    if n_classes <= len(TOL_MUTED):
        return list(TOL_MUTED[:n_classes])
    return sns.color_palette("husl", n_classes)


# ---------------------------------------------------------------------------------------------
# Panels
# ---------------------------------------------------------------------------------------------


def scatter_by_outcome(ax, points: pd.DataFrame, color, *, size: float = 10, linewidth: float = 0.7,
                       alpha: float = 0.85, zorder: int = 3) -> None:
    """Runs at (``x_plotted``, ``y_plotted``), marked by ``outcome``: filled successful, open failed, X diverged."""
    for outcome in OUTCOMES:
        subset = points[points["outcome"] == outcome]
        if subset.empty:
            continue
        ax.scatter(subset["x_plotted"], subset["y_plotted"], s=size * (1.4 if outcome == "diverged" else 1.0),
                   marker=OUTCOME_MARKERS[outcome], linewidths=linewidth,
                   facecolors=color if OUTCOME_FILLED[outcome] else "none", edgecolors=color,
                   alpha=alpha, zorder=zorder)


def outcome_handles(outcomes: Iterable[str], labels: dict[str, str], *, size: float = 4,
                    color: str = "0.3") -> list[Line2D]:
    """Legend entries for the run markers of :func:`scatter_by_outcome`, for the outcomes present."""
    present = set(outcomes)
    return [
        Line2D([], [], ls="", marker=OUTCOME_MARKERS[o], ms=size, mew=0.8, color=color,
               markerfacecolor=color if OUTCOME_FILLED[o] else "none", label=labels[o])
        for o in OUTCOMES if o in present
    ]


def annotate_empty(ax, text: str = "no runs", keep_axes: bool = False) -> None:
    """Mark a panel that has nothing to show, instead of leaving it blank or failing."""
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center",
            color=OKABE_ITO["grey"], fontsize=7, style="italic", wrap=True)
    if not keep_axes:
        # tick_params, not set_xticks([]): the latter would also clear the ticks of shared axes.
        ax.tick_params(left=False, bottom=False, labelleft=False, labelbottom=False)
        ax.grid(False)
        for spine in ax.spines.values():
            spine.set_visible(False)


def accuracy_axis(ax, label: str, dataset_label: str = "") -> None:
    """Test-accuracy y axis from 0 to 100 %: ``label``, with ``dataset_label`` on a second line if given."""
    ax.set_ylabel(f"{label}{dataset_label and chr(10) + dataset_label}")
    ax.set_ylim(0, 103)
    ax.set_yticks([0, 20, 40, 60, 80, 100])


def panel_letter(ax, letter: str, x: float = -0.02, y: float = 1.02) -> None:
    """Bold panel letter at the top left of ``ax`` (axes coordinates)."""
    ax.text(x, y, letter, transform=ax.transAxes, fontsize=9, fontweight="bold", ha="right", va="bottom")


def format_sigma(value) -> str:
    """σ_init for titles in short positional form, 3 significant digits (``0.001``, ``0.000594``)."""
    if value is None or not np.isfinite(value):
        return "n/a"
    return f"{float(value):.3g}"


def log_floor(values: Iterable[float], default: float = 1e-2) -> float:
    """Position on a log axis for zeros: one decade below the smallest positive value."""
    arr = np.asarray(list(values), dtype=float)
    positive = arr[np.isfinite(arr) & (arr > 0)]
    if positive.size == 0:
        return default
    return 10.0 ** (math.floor(math.log10(positive.min())) - 1)


def mark_zero_tick(ax, floor: float, label: str = "0") -> None:
    """Label the log-axis position ``floor`` (where zeros are drawn) as ``label``, with a dotted
    break between it and the decades. Call after the x limits are final."""
    lo, hi = ax.get_xlim()
    decades = 10.0 ** np.arange(math.ceil(math.log10(floor * 3)), math.floor(math.log10(hi)) + 1)
    step = max(1, math.ceil(len(decades) / 5))
    ticks = list(decades[::-1][::step][::-1])
    ax.set_xticks([floor, *ticks], [label] + [_log_tick_text(t) for t in ticks])
    ax.xaxis.set_minor_locator(mpl.ticker.NullLocator())
    ax.set_xlim(lo, hi)
    ax.axvline(floor * 2.2, color=OKABE_ITO["grey"], lw=0.5, ls=":", zorder=0)


def plain_log_ticks(ax, axis: str = "x") -> None:
    """Tick labels of a log axis as plain numbers (1, 10, 100, 0.01) instead of powers of ten."""
    target = ax.xaxis if axis == "x" else ax.yaxis
    lo, hi = sorted(ax.get_xlim() if axis == "x" else ax.get_ylim())
    narrow = lo > 0 and hi / lo < 30
    target.set_major_locator(mpl.ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0) if narrow else (1.0,)))
    target.set_major_formatter(mpl.ticker.FuncFormatter(lambda value, _: _log_tick_text(value) if value > 0 else ""))
    target.set_minor_formatter(mpl.ticker.NullFormatter())


def success_texts(dataset: str | None) -> tuple[str, str]:
    """(successful, failed) wording of the success rule for ``dataset`` (:data:`eisnn.stats.SUCCESS_RULES`)."""
    from eisnn.stats import SUCCESS_RULES

    column, threshold = SUCCESS_RULES.get(dataset, ("acc_peak", 0.5))
    what = {"acc_peak": "peak test accuracy", "acc_last25": "mean test accuracy of the last 25 epochs",
            "acc_last10": "mean test accuracy of the last 10 epochs", "acc_final": "final test accuracy"}.get(column, column)
    pct = f"{100 * threshold:g} %"
    return f"{what} > {pct}", f"{what} ≤ {pct}, or diverged"


def _log_tick_text(value: float) -> str:
    if value >= 1 and math.isclose(value, round(value)):
        return f"{round(value):d}"
    if value >= 1e-3:
        return f"{value:.3g}"
    return f"$10^{{{math.floor(math.log10(value) + 1e-9)}}}$"


# ---------------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------------


def figure_paths(stem: str | Path) -> dict[str, Path]:
    """The files of one figure: ``<stem>.pdf``, ``<stem>.png`` and ``<stem>.data.csv``."""
    stem = Path(stem)
    return {
        "pdf": stem.with_name(stem.name + ".pdf"),
        "png": stem.with_name(stem.name + ".png"),
        "data": stem.with_name(stem.name + ".data.csv"),
    }


def save_figure(fig: Figure, path_without_suffix: str | Path) -> dict[str, Path]:
    """Write ``fig`` as PDF and PNG (300 dpi), each atomically; returns ``{"pdf", "png"}`` paths.

    Metadata that would change on every run (creation date, software version) is left out,
    so the same data give byte-identical PNGs.
    """
    paths = figure_paths(path_without_suffix)
    with atomic_path(paths["pdf"]) as tmp:
        fig.savefig(tmp, format="pdf", metadata={"CreationDate": None, "Creator": None, "Producer": None})
    with atomic_path(paths["png"]) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI, metadata={"Software": None})
    return {"pdf": paths["pdf"], "png": paths["png"]}


def save_figure_data(data: pd.DataFrame, path_without_suffix: str | Path) -> Path:
    """Write the tidy table a figure plotted as ``<stem>.data.csv``, atomically."""
    path = figure_paths(path_without_suffix)["data"]
    write_csv_atomic(path, data)
    return path


def write_figure(fig: Figure, data: pd.DataFrame, path_without_suffix: str | Path) -> dict[str, Path]:
    """:func:`save_figure` plus :func:`save_figure_data`; returns ``{"pdf", "png", "data"}``."""
    paths = save_figure(fig, path_without_suffix)
    paths["data"] = save_figure_data(data, path_without_suffix)
    return paths
