"""Fig 1: sample activity of one network (1b) and accuracy against initial firing rate (1c/1d)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

import h5py
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from eisnn.figures import style
from eisnn.figures.inputs import read_run_table
from eisnn.layout import RunFiles, ratio_label
from eisnn.readout import predict

# ---------------------------------------------------------------------------------------------
# Fig 1b: sample activity
# ---------------------------------------------------------------------------------------------


def run_readout(run_dir: str | os.PathLike) -> str:
    """The readout of a run: ``params.readout`` of its ``run.json``; ``"max"`` if absent."""
    run_json = RunFiles(run_dir).run_json
    if not run_json.exists():
        return "max"
    return json.loads(run_json.read_text()).get("params", {}).get("readout", "max")


def read_probe(
    path: str | os.PathLike, epoch: int | None = None, sample: int = 0, readout: str | None = None
) -> dict:
    """One probed test sample of ``probe.h5`` (docs/architecture.md) at ``epoch`` (default: last).

    Returns ``input`` [T, n_in], ``hidden`` [T, H], ``output`` [T+1, O], ``label``,
    ``excitatory`` [H] (None if the file has no mask), ``epoch``, ``dt_ms``, ``sample``, and
    ``readout`` and ``predicted``: the class the network chose by its readout rule
    (:func:`eisnn.readout.predict`). The probe file does not record the readout: by default it
    is the run's (:func:`run_readout` of the probe's directory).
    """
    readout = run_readout(Path(path).parent) if readout is None else readout
    with h5py.File(path, "r") as handle:
        epochs = sorted(int(name.split("-", 1)[1]) for name in handle if name.startswith("epoch-"))
        if not epochs:
            raise ValueError(f"{path}: no epoch-<e> group")
        epoch = epochs[-1] if epoch is None else int(epoch)
        if epoch not in epochs:
            raise ValueError(f"{path}: no snapshot of epoch {epoch} (has {epochs})")
        n_probe = handle["labels"].shape[0]
        if not 0 <= sample < n_probe:
            raise ValueError(f"{path}: sample {sample} out of range (0..{n_probe - 1})")
        group = handle[f"epoch-{epoch}"]
        excitatory = handle.attrs.get("excitatory")
        probe = {
            "input": np.asarray(handle["input"][sample]).astype(bool),
            "hidden": np.asarray(group["hidden"][sample]).astype(bool),
            "output": np.asarray(group["output"][sample], dtype=np.float64),
            "label": int(handle["labels"][sample]),
            "excitatory": None if excitatory is None else np.asarray(excitatory, dtype=bool),
            "epoch": epoch,
            "dt_ms": float(handle.attrs.get("dt_ms", 1.0)),
            "sample": sample,
            "readout": readout,
        }
    probe["predicted"] = predicted_class(probe)
    return probe


def predicted_class(probe: dict) -> int:
    """The class the network chose for a probed sample: ``probe["predicted"]`` if given, else
    :func:`eisnn.readout.predict` of its readout traces by ``probe["readout"]`` (default ``"max"``)."""
    if "predicted" in probe:
        return int(probe["predicted"])
    return int(predict(probe["output"], probe.get("readout", "max")))


def sample_activity_table(probe: dict) -> pd.DataFrame:
    """Tidy table of one probed sample: every input and hidden spike, every readout voltage."""
    dt = probe["dt_ms"]
    t_in, u_in = np.nonzero(probe["input"])
    t_h, u_h = np.nonzero(probe["hidden"])
    n_hidden = probe["hidden"].shape[1]
    excitatory = probe["excitatory"] if probe["excitatory"] is not None else np.ones(n_hidden, bool)
    output = probe["output"]
    t_out, c_out = np.meshgrid(np.arange(output.shape[0]), np.arange(output.shape[1]), indexing="ij")
    frames = [
        pd.DataFrame({"layer": "input", "time_ms": t_in * dt, "unit": u_in, "population": "input",
                      "value": 1.0}),
        pd.DataFrame({"layer": "hidden", "time_ms": t_h * dt, "unit": u_h,
                      "population": np.where(excitatory[u_h], "E", "I"), "value": 1.0}),
        pd.DataFrame({"layer": "readout", "time_ms": t_out.ravel() * dt, "unit": c_out.ravel(),
                      "population": "readout", "value": output.ravel()}),
    ]
    table = pd.concat(frames, ignore_index=True)
    table["label"] = probe["label"]
    table["predicted"] = predicted_class(probe)
    table["epoch"] = probe["epoch"]
    table["sample"] = probe["sample"]
    return table


def plot_sample_activity(
    probe: dict | str | os.PathLike,
    *,
    epoch: int | None = None,
    sample: int = 0,
    dataset: str | None = None,
    title: str | None = None,
    readout: str | None = None,
):
    """Fig 1b: input raster, hidden raster (E and I coloured) and readout voltage traces.

    The predicted class (by the run's readout rule, ``readout`` or the run's ``run.json``:
    :func:`read_probe`) is drawn in black; the true class, if different, dashed in green.
    ``title`` may contain ``{sample}`` and ``{epoch}``. Returns ``(figure, data)`` with the tidy
    table of :func:`sample_activity_table`.
    """
    if not isinstance(probe, dict):
        probe = read_probe(probe, epoch=epoch, sample=sample, readout=readout)
    data = sample_activity_table(probe)
    dt = probe["dt_ms"]
    n_hidden = probe["hidden"].shape[1]
    names = style.class_names(dataset, probe["output"].shape[1])
    predicted = predicted_class(probe)
    excitatory = probe["excitatory"] if probe["excitatory"] is not None else np.ones(n_hidden, bool)

    with style.context():
        fig = style.new_figure(style.COLUMN_WIDTH * 1.45, 4.3)
        ax_in, ax_h, ax_out = fig.subplots(3, 1, sharex=True, gridspec_kw={"height_ratios": [1.2, 1.2, 1.0]})
        _draw_input_raster(ax_in, probe["input"], dt)
        _draw_hidden_raster(ax_h, probe["hidden"], excitatory, dt)
        _draw_readout_traces(ax_out, probe["output"], dt, probe["input"].shape[0] * dt, predicted, probe["label"],
                             names)
        title = title or "test sample {sample}, epoch {epoch}"
        fig.suptitle(title.format(sample=probe["sample"], epoch=probe["epoch"]), x=0.02, ha="left")
    return fig, data


def _draw_input_raster(ax, spikes: np.ndarray, dt: float) -> None:
    """Fig 1b, top: one tick per input spike (time × input unit)."""
    t, u = np.nonzero(spikes)
    if t.size:
        ax.plot(t * dt, u, ls="", marker="|", ms=2.0, mew=0.5, color="black")
    else:
        style.annotate_empty(ax, "no input spikes", keep_axes=True)
    ax.set_ylim(-0.5, spikes.shape[1] - 0.5)
    ax.set_ylabel("input unit")
    ax.set_title(f"input layer: {t.size} spikes", loc="left")


def _draw_hidden_raster(ax, spikes: np.ndarray, excitatory: np.ndarray, dt: float) -> None:
    """Fig 1b, middle: hidden spikes, E neurons on the lower rows and I above, coloured by population."""
    n_hidden = spikes.shape[1]
    order = np.concatenate([np.flatnonzero(excitatory), np.flatnonzero(~excitatory)])
    row_of = np.empty(n_hidden, dtype=int)
    row_of[order] = np.arange(n_hidden)
    t, u = np.nonzero(spikes)
    handles = []
    for pop, mask in (("E", excitatory), ("I", ~excitatory)):
        n_pop = int(mask.sum())
        if n_pop == 0:
            continue
        keep = mask[u]
        ax.plot(t[keep] * dt, row_of[u[keep]], ls="", marker="|", ms=2.5, mew=0.6,
                color=style.POPULATION_COLORS[pop])
        handles.append(Line2D([], [], ls="", marker="s", ms=4, color=style.POPULATION_COLORS[pop],
                              label=f"{pop}: {n_pop} neurons, {int(keep.sum())} spikes"))
    if 0 < excitatory.sum() < n_hidden:
        ax.axhline(excitatory.sum() - 0.5, color=style.OKABE_ITO["grey"], lw=0.5, ls=":")
    if t.size == 0:
        style.annotate_empty(ax, "no hidden spikes (silent network)", keep_axes=True)
    ax.set_ylim(-0.5, n_hidden - 0.5)
    ax.set_ylabel("hidden neuron")
    ax.set_title("hidden layer", loc="left")
    if handles:
        ax.legend(handles=handles, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=2,
                  handletextpad=0.3, columnspacing=1.0, borderaxespad=0.1, borderpad=0)


def _draw_readout_traces(ax, output: np.ndarray, dt: float, t_max: float, predicted: int, label: int,
                         names: list[str]) -> None:
    """Fig 1b, bottom: readout voltages, the chosen class in black and the true one (if other) dashed."""
    time = np.arange(output.shape[0]) * dt
    for c in range(output.shape[1]):
        if c not in (predicted, label):
            ax.plot(time, output[:, c], color=style.OKABE_ITO["grey"], lw=0.6, alpha=0.7)
    lines = [Line2D([], [], color=style.OKABE_ITO["grey"], lw=0.6, label="other classes")]
    if label != predicted:
        ax.plot(time, output[:, label], color=style.TRUE_CLASS_COLOR, lw=1.2, ls="--")
        lines.append(Line2D([], [], color=style.TRUE_CLASS_COLOR, lw=1.2, ls="--",
                            label=f"true: {names[label]}"))
        chosen = f"chosen (wrong): {names[predicted]}"
    else:
        chosen = f"chosen = true: {names[predicted]}"
    ax.plot(time, output[:, predicted], color="black", lw=1.5)
    lines.insert(0, Line2D([], [], color="black", lw=1.5, label=chosen))
    ax.legend(handles=lines, loc="upper left", handlelength=1.8)
    ax.set_ylabel("readout voltage U (a.u.)")
    ax.set_xlabel("time (ms)")
    ax.set_xlim(0, t_max)
    ax.set_title(f"readout layer: {output.shape[1]} leaky integrators", loc="left")


def build_fig1b(probe_path, out_stem, *, epoch=None, sample=0, dataset=None, title=None, readout=None):
    """Read ``probe.h5`` (and the readout from the ``run.json`` beside it), draw Fig 1b and write
    ``<out_stem>.pdf/.png/.data.csv``."""
    fig, data = plot_sample_activity(probe_path, epoch=epoch, sample=sample, dataset=dataset, title=title,
                                     readout=readout)
    return style.write_figure(fig, data, out_stem)


# ---------------------------------------------------------------------------------------------
# Fig 1c/1d: accuracy against initial firing rate
# ---------------------------------------------------------------------------------------------

OUTCOME_LABELS = {
    "successful": "successful run",
    "failed": "failed run",
    "diverged": "diverged run (non-finite loss); at 0 % if its final accuracy is NaN",
}


def accuracy_vs_rate_table(
    run_table, *, baseline_sigma: float | None = None, accuracy: str = "acc_final"
) -> pd.DataFrame:
    """One row per run: panel, initial rate, accuracy (%), outcome, plotted position, baseline flag."""
    runs = read_run_table(run_table)
    rate = runs["initial_rate_hz"].to_numpy(dtype=float)
    floor = style.log_floor(rate)
    acc = 100 * runs[accuracy].to_numpy(dtype=float)
    unconstrained = runs["ratio"].isna().to_numpy()
    if baseline_sigma is None:
        is_baseline = np.zeros(len(runs), dtype=bool)
    else:
        is_baseline = unconstrained & np.isclose(runs["sigma_init"].to_numpy(dtype=float), baseline_sigma, rtol=1e-6)
    data = pd.DataFrame({
        "run_dir": runs["run_dir"],
        "panel": [ratio_label(r) for r in runs["ratio"]],
        "ratio": runs["ratio"],
        "sigma_init": runs["sigma_init"],
        "seed": runs["seed"],
        "initial_rate_hz": rate,
        "accuracy_pct": acc,
        "outcome": runs["outcome"],
        "silent": rate == 0,
        "x_plotted": np.where(rate > 0, rate, floor),
        "y_plotted": np.where(np.isfinite(acc), acc, 0.0),
        "plotted": np.isfinite(rate),
        "is_baseline_run": is_baseline,
    })
    return data


def plot_accuracy_vs_rate(
    run_table,
    *,
    baseline_sigma: float | None = None,
    paper_baseline: float | None = None,
    ratios: Sequence | None = None,
    accuracy: str = "acc_final",
    dataset_label: str = "",
):
    """Fig 1c/1d: final test accuracy against initial hidden firing rate, one panel per ratio.

    ``run_table``: ``runs.csv`` of a σ sweep or a target-rate experiment (path or DataFrame). ``ratios`` fixes the panels
    (default: the ratios in the table, unconstrained last). The mean accuracy of the
    unconstrained runs at ``baseline_sigma`` is a solid black line in every panel, and
    ``paper_baseline`` (a fraction, e.g. 0.86) a dashed grey line. Silent networks (0 Hz) sit
    at the axis position labelled 0; diverged runs are crosses. Returns ``(figure, data)``.
    """
    data = accuracy_vs_rate_table(run_table, baseline_sigma=baseline_sigma, accuracy=accuracy)
    panels = style.ordered_ratios(ratios if ratios is not None else data["ratio"])
    baseline = data.loc[data["is_baseline_run"], "accuracy_pct"].dropna()
    floor = float(data["x_plotted"].min()) if data["silent"].any() else None
    x_values = data.loc[data["plotted"], "x_plotted"]

    with style.context():
        n = max(len(panels), 1)
        fig = style.new_figure(style.FULL_WIDTH, 2.35)
        axes = np.atleast_1d(fig.subplots(1, n, sharex=True, sharey=True))
        if not panels:
            style.annotate_empty(axes[0], "no runs in the run table")
        for ax, ratio in zip(axes, panels):
            _draw_ratio_panel(ax, data[style.same_ratio(data["ratio"], ratio) & data["plotted"]], ratio, baseline,
                              paper_baseline)
        style.accuracy_axis(axes[0], "final test accuracy (%)", dataset_label)
        if len(x_values):
            lo = float(x_values.min()) / 2.5
            hi = float(x_values.max()) * 2.5
            axes[0].set_xlim(lo, hi)
            if floor is not None:
                for ax in axes[: len(panels)]:
                    style.mark_zero_tick(ax, floor)
        handles = _accuracy_vs_rate_handles(data, baseline, baseline_sigma, paper_baseline)
        if handles:
            fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 3))
    return fig, data


def _draw_ratio_panel(ax, sub: pd.DataFrame, ratio, baseline: pd.Series, paper_baseline: float | None) -> None:
    """Fig 1c/1d, one ratio: its runs by outcome, with the unconstrained and the paper's baselines."""
    color = style.ratio_color(ratio)
    ax.set_title(f"{ratio_label(ratio)} (n = {len(sub)})")
    style.scatter_by_outcome(ax, sub, color)
    if sub.empty:
        style.annotate_empty(ax, "no runs", keep_axes=True)
    if len(baseline):
        ax.axhline(baseline.mean(), color="black", lw=0.9, zorder=2)
    if paper_baseline is not None:
        ax.axhline(100 * paper_baseline, color=style.REFERENCE_COLOR, lw=0.9, ls="--", zorder=2)
    ax.set_xscale("log")
    ax.set_xlabel("initial firing rate (Hz)")
    ax.grid(axis="y", color="0.9", lw=0.5)


def _accuracy_vs_rate_handles(data: pd.DataFrame, baseline: pd.Series, baseline_sigma: float | None,
                              paper_baseline: float | None) -> list[Line2D]:
    """Legend entries of Fig 1c/1d: the run outcomes present, then the baselines drawn."""
    handles = style.outcome_handles(data["outcome"], OUTCOME_LABELS)
    if len(baseline):
        sigma_txt = style.format_sigma(baseline_sigma)
        handles.append(Line2D([], [], color="black", lw=0.9, label=(
            f"unconstrained, {style.SIGMA_INIT} = {sigma_txt}: {baseline.mean():.1f} % "
            f"(mean of {len(baseline)} run{'' if len(baseline) == 1 else 's'})")))
    if paper_baseline is not None:
        handles.append(Line2D([], [], color=style.REFERENCE_COLOR, lw=0.9, ls="--",
                              label=f"paper, unbounded weights: {100 * paper_baseline:.0f} %"))
    return handles


def build_fig1cd(run_table_path, out_stem, **options):
    """Read ``runs.csv``, draw Fig 1c/1d and write ``<out_stem>.pdf/.png/.data.csv``."""
    fig, data = plot_accuracy_vs_rate(run_table_path, **options)
    return style.write_figure(fig, data, out_stem)
