# Input functions and constants of the figure rules (figures.smk): which figures and tables
# each experiment builds, their output paths, and the tables and runs each figure reads.

import math

from eisnn.figures.selection import pick_sample_run
from eisnn.paper import PAPER_BASELINE_ACCURACY

FIGDIR = f"{RESULTS}/figures"


DATASET_LABELS = {
    "fmnist": "Fashion-MNIST",
    "shd": "SHD",
    "synthetic": "synthetic data",
}

# Experiment -> its figures (paper §2): the σ sweeps give Fig 1, 3, 4, 5 and Tables 2/3 (Fig 3/4
# only for Fashion-MNIST, as in the paper); the noise sweep gives Fig 2; the target-rate grid
# gives Fig 1c over its runs and the matched-rate comparison with its t-tests.
FIGURE_SETS = {
    "fmnist_sigma": ["fig1b", "fig1c", "fig3", "fig4", "fig5", "figS_isi"],
    "shd_sigma": ["fig1b", "fig1d", "fig5", "figS_isi"],
    "fmnist_noise": ["fig2b", "fig2cde"],
    "fmnist_rate": ["fig1c", "fig_rate"],
}
TABLE_SETS = {
    "fmnist_sigma": ["table2", "runs"],
    "shd_sigma": ["table3", "runs"],
    "fmnist_noise": ["ttests", "runs"],
    "fmnist_rate": ["ttests", "runs"],
}
FIGURE_LABELS = {
    "fig1b": "Fig 1b: sample activity",
    "fig1{letter}": "Fig 1{letter}: accuracy vs initial rate",
    "fig2b": "Fig 2b: accuracy vs update noise",
    "fig2cde": "Fig 2c-e: difference from the reference ratio",
    "fig3": "Fig 3: class accuracy vs activity",
    "fig4": "Fig 4: representative runs",
    "fig5": "Fig 5: Van Rossum distances",
    "fig_rate": "Accuracy at matched initial rates",
    "figS_isi": "Supplementary: ISI and firing frequency",
}
TABLE_LABELS = {
    "table2": "Table 2: Van Rossum distances",
    "table3": "Table 3: Van Rossum distances",
    "ttests": "t-tests against the reference ratio",
    "runs": "run table",
}

# A variant (<experiment>@<variant>) draws the figures and tables of its experiment.
for _experiment, _spec in CFG.experiments.items():
    FIGURES[_experiment] += [
        f"{FIGDIR}/{_experiment}/{name}.{ext}"
        for name in FIGURE_SETS[_spec.base]
        for ext in ("png", "pdf", "data.csv")
    ]
    FIGURES[_experiment] += [
        f"{FIGDIR}/{_experiment}/{name}.html" for name in TABLE_SETS[_spec.base]
    ]


# -- helpers ----------------------------------------------------------------------------------


def figure_outputs(name, caption=None):
    """Output dict of a figure rule: PNG (in the report), PDF and the figure data table."""
    stem = f"{FIGDIR}/{{experiment}}/{name}"
    return {
        "png": report(
            f"{stem}.png",
            caption=f"../report/{caption or name}.rst",
            category="Figures",
            subcategory="{experiment}",
            labels={"figure": FIGURE_LABELS[name]},
        ),
        "pdf": f"{stem}.pdf",
        "data": f"{stem}.data.csv",
    }


def figure_code(*modules):
    """The library files that draw a figure (found, not imported): editing one reruns the figure."""
    names = [f"eisnn.figures.{module}" for module in modules]
    return library_code(*names, "eisnn.figures.style", "eisnn.figures.inputs")


def stats_file(name):
    """Input function: one file of the experiment's stats/ folder (statistics.smk)."""
    return lambda wildcards: stats_path(RESULTS, wildcards.experiment, name)


def run_metric_inputs(name):
    """Input function: metrics/<name>.csv of every run of the experiment."""
    return lambda wildcards: [
        str(RunFiles(run_dir).metric(name))
        for run_dir in CFG.run_dirs(wildcards.experiment)
    ]


def experiment_ratios(wildcards):
    """The experiment's E:I ratios (NaN = unconstrained), for fixed panels even without runs."""
    return [
        math.nan if r is None else r
        for r in CFG.experiment(wildcards.experiment).ratios
    ]


def reference_label():
    """E:I label of the ratio the t-tests compare with (statistics.reference_ratio, default 100:0)."""
    ratio = float(CFG.section("statistics")["reference_ratio"])
    return f"{100 * ratio:g}:{100 - 100 * ratio:g}"


def n_runs(wildcards):
    return len(CFG.run_dirs(wildcards.experiment))


def dataset_label(wildcards):
    return DATASET_LABELS.get(dataset_of(wildcards), dataset_of(wildcards))


def sample_run(wildcards):
    """The run Fig 1b shows: 80:20 (or nearest), σ_init nearest 0.001, lowest seed."""
    return pick_sample_run(CFG.experiment(wildcards.experiment).runs())


def sample_run_marker(wildcards):
    run = sample_run(wildcards)
    labels = run.labels
    return CFG.pack_of_run(
        wildcards.experiment,
        labels["ratio"],
        labels["init"],
        labels["noise"],
        labels["seed"],
    ).marker(RESULTS)


def sample_run_description(wildcards):
    run = sample_run(wildcards)
    ratio = (
        "unconstrained"
        if run.ratio is None
        else f"{100 * run.ratio:g}:{100 - 100 * run.ratio:g}"
    )
    noise = f", σ_noise = {run.noise_frac:g} σ_init" if run.noise_frac else ""
    return f"{dataset_label(wildcards)}, {ratio}, σ_init = {run.sigma_init:g}{noise}, seed {run.seed}"
