# Configuration, path patterns and the helper functions the rules share.
#
# Run identity: a run is <results>/<experiment>/ratio-<r>/<init>/noise-<n>/seed-<k>/, where
# <init> is sigma-<σ_init> or, in an experiment initialised by target rate, rate-<Hz>.
# A training job trains a *pack*: one grid point and a chunk of its seeds (runs_per_job of
# them, in the order listed). Its declared output is the pack marker
# <results>/<experiment>/ratio-<r>/<init>/noise-<n>/pack-<seeds>.json, written after every
# run of the pack is complete; the per-run rules depend on the marker of the pack holding
# their run. See eisnn.config for the expansion and the labels.

import importlib.util
import re

import eisnn.config as eiconfig
from eisnn.layout import (
    METRIC_FILES,
    SCORECARD_FILES,
    STATS_FILES,
    RunFiles,
    scorecard_path,
    stats_path,
)
from eisnn.paper import CLAIMS_FILE
from eisnn.params import ModelConfig, TrainOptions
from snakemake.exceptions import WorkflowError

# A preset is one more config file: Snakemake merges config/presets/<name>.yaml over
# config/config.yaml, then the command line's --configfile and --config values over both.
try:
    PRESET = config.get("preset")
    PRESET_FILE = (
        None if PRESET is None else str(eiconfig.preset_file("config/presets", PRESET))
    )
except eiconfig.ConfigError as error:
    raise WorkflowError(str(error)) from None

if PRESET_FILE:

    configfile: PRESET_FILE


try:
    CFG = eiconfig.load_workflow_config(
        eiconfig.coerce_cli_values(dict(config)),
        config_dir="config",
        base_dir=".",
        preset_merged=True,
    )
except eiconfig.ConfigError as error:
    raise WorkflowError(str(error)) from None

RESULTS = CFG.results_dir
RUN = eiconfig.RUN_DIR.replace("{results_dir}", RESULTS)
PACK = eiconfig.PACK_MARKER.replace("{results_dir}", RESULTS)
POINT = "ratio-{ratio}_{init}_noise-{noise}"
LOGS = f"{RESULTS}/logs"
# Software environments (--sdm conda): the library's dependencies; the exports add theirs.
# The library itself is this checkout's src/, which the Snakefile puts on the jobs' path.
ENV = "../envs/eisnn.yaml"
EXPORT_ENV = "../envs/export.yaml"

# Figure rules (workflow/rules/figures.smk) add their outputs here, per experiment, so that
# `figures`, `all` and the experiment targets build them.
# Keys: every experiment of the config and its variants (<experiment>@<variant>).
FIGURES = {name: [] for name in CFG.experiments}


def experiment_pattern(names):
    """Wildcard constraint matching exactly these experiment names (variants included)."""
    return (
        "|".join(re.escape(name) for name in sorted(names, key=len, reverse=True))
        or "(?!)"
    )


wildcard_constraints:
    experiment=experiment_pattern(CFG.experiments),
    dataset="fmnist|shd|synthetic",
    ratio=r"none|[0-9.]+",
    init=r"(sigma|rate)-[0-9.]+",
    noise=r"[0-9.]+",
    seed=r"[0-9]+",
    seeds=r"[0-9][0-9+-]*",


# -- data -------------------------------------------------------------------------------------


def raw_inputs(wildcards):
    """The raw files an encoding reads: those in data_dir if complete, else the downloaded ones."""
    if wildcards.dataset not in eiconfig.RAW_DATASETS:
        return []
    return list(eiconfig.raw_source(CFG, wildcards.dataset).files)


def raw_directory(wildcards):
    if wildcards.dataset not in eiconfig.RAW_DATASETS:
        return None
    return eiconfig.raw_source(CFG, wildcards.dataset).directory


def download_outputs(dataset):
    return [
        f"{CFG.raw_dir}/{dataset}/{name}" for name in eiconfig.raw_file_names(dataset)
    ]


def dataset_of(wildcards):
    return CFG.experiment(wildcards.experiment).dataset


def encoded_split(split):
    """Input function: the encoded split of the experiment's dataset."""
    return lambda wildcards: CFG.encoded(dataset_of(wildcards), split)


# -- training ---------------------------------------------------------------------------------


def pack_of(wildcards):
    """The pack a training job's wildcards name."""
    return CFG.pack(
        wildcards.experiment,
        wildcards.ratio,
        wildcards.init,
        wildcards.noise,
        wildcards.seeds,
    )


def pack_runs(wildcards):
    """RunSpec keyword arguments of every run of the pack."""
    return CFG.pack_specs(pack_of(wildcards))


def train_options(wildcards):
    """The experiment's training options that define its runs' results: all but the
    run settings (eisnn.params.TrainOptions.setting_names). A change retrains a pack."""
    options = CFG.experiment(wildcards.experiment).train_options
    return {
        key: value
        for key, value in options.items()
        if key not in TrainOptions.setting_names()
    }


def run_settings(wildcards, threads):
    """The run settings of a pack's job (device, probe count, its threads). A param that
    takes `threads` counts as derived, and Snakemake leaves derived params out of its
    rerun trigger: a change of one retrains nothing."""
    options = CFG.experiment(wildcards.experiment).train_options
    names = [key for key in TrainOptions.setting_names() if key in options]
    return {
        **{key: options[key] for key in names},
        "threads": threads,
        "progress": False,
    }


def training_request(name):
    """Resource callable: ``runtime`` or ``mem_mb`` of the pack's training job at this attempt
    (the measured need scaled to the pack, eisnn.resources)."""

    return lambda wildcards, attempt: getattr(
        CFG.training_request(pack_of(wildcards), attempt), name
    )


def metrics_request(name):
    """Resource callable: ``runtime`` or ``mem_mb`` of one run's metrics job at this attempt."""
    return lambda wildcards, attempt: getattr(
        CFG.metrics_request(wildcards.experiment, attempt), name
    )


# -- per-run metrics --------------------------------------------------------------------------


def pack_marker_of_run(wildcards):
    pack = CFG.pack_of_run(
        wildcards.experiment,
        wildcards.ratio,
        wildcards.init,
        wildcards.noise,
        wildcards.seed,
    )
    return pack.marker(RESULTS)


def model_options(wildcards):
    """The neuron constants and readout of the experiment (for eisnn.params.ModelConfig)."""
    options = train_options(wildcards)
    return {key: options[key] for key in ModelConfig.field_names() if key in options}


# -- statistics and targets -------------------------------------------------------------------


def library_code(*modules):
    """Source files of eisnn modules (found, not imported): as inputs, editing one reruns the rule."""
    return [importlib.util.find_spec(name).origin for name in modules]


def statistics_inputs(wildcards):
    """The metric files the run table reads, for every run of the experiment."""
    return [
        str(RunFiles(run_dir).metric(name))
        for run_dir in CFG.run_dirs(wildcards.experiment)
        for name in ("summary", "van_rossum")
    ]


def statistics_outputs(experiment):
    return [stats_path(RESULTS, experiment, name) for name in STATS_FILES]


def experiment_targets(experiment):
    """Everything one experiment target builds, for it and its variants: runs, metrics,
    statistics, figures."""
    names = [name for name in CFG.variants_of(experiment) if name in CFG.enabled]
    if not names:
        raise WorkflowError(
            f"experiment {experiment} is disabled (experiments.{experiment}.enabled: false); "
            f"enable it in the config or with --configfile"
        )
    return [
        path for name in names for path in (*statistics_outputs(name), *FIGURES[name])
    ]


def scorecard_experiments(wildcards):
    """Per enabled experiment (variants included): its run table, dataset and reference σ
    (the scorecard, reproduction.smk)."""
    return {
        name: {
            "runs": stats_path(RESULTS, name, "runs"),
            "dataset": CFG.experiment(name).dataset,
            "paper_dataset": eiconfig.paper_dataset_of(name),
            "reference_sigma": CFG.experiment(name).baseline_sigma,
        }
        for name in CFG.enabled
    }


def scorecard_outputs():
    return [scorecard_path(RESULTS, name) for name in SCORECARD_FILES]


def all_targets():
    """Every enabled experiment's outputs and the reproduction scorecard (reproduction.smk)."""
    experiments = [
        path
        for experiment in CFG.enabled
        for path in (*statistics_outputs(experiment), *FIGURES[experiment])
    ]
    return [*experiments, *scorecard_outputs()]
