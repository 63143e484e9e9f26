# Figures (SPEC §6) and the report tables: one rule per paper figure, whose inputs are exactly
# the tables it plots, so that a change to one experiment rebuilds only that experiment's
# figures, and a change to a figure's style (eisnn.figures, params) only that figure.
#
# Files: <results>/figures/<experiment>/<name>.{png,pdf,data.csv}; the PNG and the HTML tables
# are marked for `snakemake --report <results>/report.html`, with captions in workflow/report/.
# Every figure rule appends its outputs to FIGURES (common.smk), which `all`, `figures` and the
# experiment targets build.

import importlib.util
import math

from eisnn.figures.fig1 import pick_sample_run
from eisnn.figures.style import PAPER_BASELINE_ACCURACY

FIGDIR = f"{RESULTS}/figures"


report: "../report/workflow.rst"


DATASET_LABELS = {"fmnist": "Fashion-MNIST", "shd": "SHD", "synthetic": "synthetic data"}

# Experiment -> its figures (SPEC §3): the σ sweeps give Fig 1, 3, 4, 5 and Tables 2/3 (Fig 3/4
# only for Fashion-MNIST, as in the paper); the noise sweep gives Fig 2.
FIGURE_SETS = {
    "fmnist_sigma": ["fig1b", "fig1c", "fig3", "fig4", "fig5", "figS_isi"],
    "shd_sigma": ["fig1b", "fig1d", "fig5", "figS_isi"],
    "fmnist_noise": ["fig2b", "fig2cde"],
}
TABLE_SETS = {
    "fmnist_sigma": ["table2", "runs"],
    "shd_sigma": ["table3", "runs"],
    "fmnist_noise": ["ttests", "runs"],
}
FIGURE_LABELS = {
    "fig1b": "Fig 1b: sample activity",
    "fig1{letter}": "Fig 1{letter}: accuracy vs initial rate",
    "fig2b": "Fig 2b: accuracy vs update noise",
    "fig2cde": "Fig 2c-e: difference from 100:0",
    "fig3": "Fig 3: class accuracy vs activity",
    "fig4": "Fig 4: representative runs",
    "fig5": "Fig 5: Van Rossum distances",
    "figS_isi": "Supplementary: ISI and firing frequency",
}
TABLE_LABELS = {
    "table2": "Table 2: Van Rossum distances",
    "table3": "Table 3: Van Rossum distances",
    "ttests": "t-tests against 100:0 (Fig 2c-e)",
    "runs": "run table",
}

for _experiment, _names in FIGURE_SETS.items():
    FIGURES[_experiment] += [
        f"{FIGDIR}/{_experiment}/{name}.{ext}"
        for name in _names
        for ext in ("png", "pdf", "data.csv")
    ]
for _experiment, _names in TABLE_SETS.items():
    FIGURES[_experiment] += [f"{FIGDIR}/{_experiment}/{name}.html" for name in _names]


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


def figure_code(module):
    """The library files that draw a figure (found, not imported): editing one reruns the figure."""
    names = (f"eisnn.figures.{module}", "eisnn.figures.style", "eisnn.figures.inputs")
    return [importlib.util.find_spec(name).origin for name in names]


def stats_file(name):
    """Input function: one file of the experiment's stats/ folder (statistics.smk)."""
    return lambda wildcards: f"{RESULTS}/{wildcards.experiment}/stats/{STATS_FILES[name]}"


def run_metric_inputs(name):
    """Input function: metrics/<name>.csv of every run of the experiment."""
    return lambda wildcards: [
        f"{run_dir}/metrics/{METRIC_FILES[name]}" for run_dir in CFG.run_dirs(wildcards.experiment)
    ]


def experiment_ratios(wildcards):
    """The experiment's E:I ratios (NaN = unconstrained), for fixed panels even without runs."""
    return [math.nan if r is None else r for r in CFG.experiment(wildcards.experiment).ratios]


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
        wildcards.experiment, labels["ratio"], labels["sigma"], labels["noise"], labels["seed"]
    ).marker(RESULTS)


def sample_run_description(wildcards):
    run = sample_run(wildcards)
    ratio = "unconstrained" if run.ratio is None else f"{100 * run.ratio:g}:{100 - 100 * run.ratio:g}"
    noise = f", σ_noise = {run.noise_frac:g} σ_init" if run.noise_frac else ""
    return f"{dataset_label(wildcards)}, {ratio}, σ_init = {run.sigma_init:g}{noise}, seed {run.seed}"


FIGURE_RESOURCES = {"runtime": 20, "mem_mb": 4000}


# -- Fig 1 ------------------------------------------------------------------------------------


rule fig1b:
    input:
        code=figure_code("fig1"),
        pack=sample_run_marker,
    output:
        **figure_outputs("fig1b"),
    log:
        f"{LOGS}/figures/{{experiment}}/fig1b.log",
    conda:
        ENV
    threads: 1
    resources:
        **FIGURE_RESOURCES,
    params:
        probe=lambda wildcards: f"{sample_run(wildcards).run_dir(RESULTS)}/probe.h5",
        n_runs=1,
        dataset_label=dataset_label,
        run=sample_run_description,
        options=lambda wildcards: {
            "dataset": dataset_of(wildcards),
            "title": sample_run_description(wildcards) + ": test sample {sample} after training (epoch {epoch})",
        },
    script:
        "../scripts/fig_1b.py"


rule fig1cd:
    input:
        code=figure_code("fig1"),
        runs=stats_file("runs"),
    output:
        **figure_outputs("fig1{letter}", caption="fig1cd"),
    wildcard_constraints:
        letter="c|d",
    log:
        f"{LOGS}/figures/{{experiment}}/fig1{{letter}}.log",
    conda:
        ENV
    threads: 1
    resources:
        **FIGURE_RESOURCES,
    params:
        n_runs=n_runs,
        dataset_label=dataset_label,
        options=lambda wildcards: {
            "baseline_sigma": CFG.experiment(wildcards.experiment).baseline_sigma,
            "paper_baseline": PAPER_BASELINE_ACCURACY.get(dataset_of(wildcards)),
            "ratios": experiment_ratios(wildcards),
            "dataset_label": dataset_label(wildcards),
        },
    script:
        "../scripts/fig_1cd.py"


# -- Fig 2 ------------------------------------------------------------------------------------


rule fig2b:
    input:
        code=figure_code("fig2"),
        runs=stats_file("runs"),
    output:
        **figure_outputs("fig2b"),
    log:
        f"{LOGS}/figures/{{experiment}}/fig2b.log",
    conda:
        ENV
    threads: 1
    resources:
        **FIGURE_RESOURCES,
    params:
        n_runs=n_runs,
        dataset_label=dataset_label,
        options=lambda wildcards: {"ratios": experiment_ratios(wildcards)},
    script:
        "../scripts/fig_2b.py"


rule fig2cde:
    input:
        code=figure_code("fig2"),
        ttests=stats_file("ttests"),
    output:
        **figure_outputs("fig2cde"),
    log:
        f"{LOGS}/figures/{{experiment}}/fig2cde.log",
    conda:
        ENV
    threads: 1
    resources:
        **FIGURE_RESOURCES,
    params:
        n_runs=n_runs,
        dataset_label=dataset_label,
        options=lambda wildcards: {
            "noise_levels": list(CFG.raw.get("statistics", {}).get("noise_levels", [0.2, 0.4, 0.6])),
            "ratios": experiment_ratios(wildcards),
        },
    script:
        "../scripts/fig_2cde.py"


# -- Fig 3, 4 ---------------------------------------------------------------------------------


rule fig3:
    input:
        code=figure_code("fig3"),
        runs=stats_file("runs"),
        activity_class=run_metric_inputs("activity_class"),
    output:
        **figure_outputs("fig3"),
    log:
        f"{LOGS}/figures/{{experiment}}/fig3.log",
    conda:
        ENV
    threads: 1
    resources:
        **FIGURE_RESOURCES,
    params:
        n_runs=n_runs,
        dataset_label=dataset_label,
        options=lambda wildcards: {"dataset": dataset_of(wildcards)},
    script:
        "../scripts/fig_3.py"


rule fig4:
    input:
        code=figure_code("fig4"),
        runs=stats_file("runs"),
        activity_population=run_metric_inputs("activity_population"),
        weights_hist=run_metric_inputs("weights_hist"),
        packs=lambda wildcards: [pack.marker(RESULTS) for pack in CFG.experiment(wildcards.experiment).packs()],
    output:
        **figure_outputs("fig4"),
    log:
        f"{LOGS}/figures/{{experiment}}/fig4.log",
    conda:
        ENV
    threads: 1
    resources:
        **FIGURE_RESOURCES,
    params:
        # history.csv is written with the pack marker (an input), not declared by rule train.
        histories=lambda wildcards: [f"{d}/history.csv" for d in CFG.run_dirs(wildcards.experiment)],
        n_runs=n_runs,
        dataset_label=dataset_label,
        options=lambda wildcards: {"prefer_ratio": 0.5, "dataset": dataset_of(wildcards)},
    script:
        "../scripts/fig_4.py"


# -- Fig 5, supplementary ---------------------------------------------------------------------


rule fig5:
    input:
        code=figure_code("fig5"),
        runs=stats_file("runs"),
        van_rossum_table=stats_file("van_rossum_table"),
    output:
        **figure_outputs("fig5"),
    log:
        f"{LOGS}/figures/{{experiment}}/fig5.log",
    conda:
        ENV
    threads: 1
    resources:
        **FIGURE_RESOURCES,
    params:
        n_runs=n_runs,
        dataset_label=dataset_label,
        letters=lambda wildcards: "a-c" if wildcards.experiment == "fmnist_sigma" else "d-f",
        options=lambda wildcards: {
            "first_letter": "a" if wildcards.experiment == "fmnist_sigma" else "d",
            "tau_ms": CFG.raw.get("metrics", {}).get("tau_ms", 1.0),
            "dataset_label": dataset_label(wildcards),
        },
    script:
        "../scripts/fig_5.py"


rule fig_isi:
    input:
        code=figure_code("supplementary"),
        runs=stats_file("runs"),
        isi=run_metric_inputs("isi"),
    output:
        **figure_outputs("figS_isi"),
    log:
        f"{LOGS}/figures/{{experiment}}/figS_isi.log",
    conda:
        ENV
    threads: 1
    resources:
        **FIGURE_RESOURCES,
    params:
        n_runs=n_runs,
        dataset_label=dataset_label,
        options=lambda wildcards: {"dataset_label": dataset_label(wildcards)},
    script:
        "../scripts/fig_isi.py"


# -- Report tables ----------------------------------------------------------------------------

TABLE_SOURCES = {
    "table2": ("van_rossum", "van_rossum_table"),
    "table3": ("van_rossum", "van_rossum_table"),
    "ttests": ("ttests", "ttests"),
    "runs": ("runs", "runs"),
}


localrules:
    report_table,


rule report_table:
    input:
        code=figure_code("tables"),
        table=lambda wildcards: stats_file(TABLE_SOURCES[wildcards.table][1])(wildcards),
    output:
        html=report(
            f"{FIGDIR}/{{experiment}}/{{table}}.html",
            caption="../report/table.rst",
            category="Tables",
            subcategory="{experiment}",
            labels=lambda wildcards: {"table": TABLE_LABELS[wildcards.table]},
        ),
    wildcard_constraints:
        table="|".join(TABLE_SOURCES),
    log:
        f"{LOGS}/figures/{{experiment}}/{{table}}.log",
    conda:
        ENV
    params:
        kind=lambda wildcards: TABLE_SOURCES[wildcards.table][0],
        label=lambda wildcards: TABLE_LABELS[wildcards.table],
        title=lambda wildcards: f"{TABLE_LABELS[wildcards.table]} — {wildcards.experiment} ({dataset_label(wildcards)})",
        n_runs=n_runs,
        dataset_label=dataset_label,
    script:
        "../scripts/fig_table.py"
