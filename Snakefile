"""eisnn: the experiments of Kilgore et al. (E:I balance in spiking networks) as one workflow.

    snakemake --cores 16 figures                       # the full paper (config/config.yaml)
    snakemake --cores 2 figures --config preset=smoke  # synthetic data, about two minutes
    snakemake --workflow-profile profiles/slurm figures

Targets go before --config (it takes every following word as a key=value pair). Nested
values can be given on the command line, e.g. --config 'experiments={fmnist_noise: {seeds:
[0, 1, 2]}}', or in a file with --configfile; both are merged over the preset.

Targets: `all` (default) and `figures` build every enabled experiment and the reproduction
scorecard; `reproduction` the scorecard alone (with what it needs); `fmnist_sigma`,
`shd_sigma`, `fmnist_noise` and `fmnist_rate` (off in the full config) build one;
`export_nir` and `export_spikes` (never built by default) export the successful runs
(docs/exports.md). The stages live in workflow/rules/*.smk.
"""

import os
import sys

from snakemake.utils import min_version

min_version("9.0")

# The library is this checkout's src/: importable while the DAG is built, so that only Snakemake
# needs to be installed to parse the workflow, and by every job through PYTHONPATH, in whichever
# software environment it runs (--sdm conda: workflow/envs/ installs the dependencies only).
LIBRARY = os.path.join(workflow.basedir, "src")
if os.path.isdir(os.path.join(LIBRARY, "eisnn")):
    if LIBRARY not in sys.path:
        sys.path.insert(0, LIBRARY)
    paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    if LIBRARY not in paths:
        os.environ.update(PYTHONPATH=os.pathsep.join([LIBRARY, *filter(None, paths)]))


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/training.smk"
include: "workflow/rules/metrics.smk"
include: "workflow/rules/statistics.smk"
include: "workflow/rules/figure_inputs.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/export.smk"
include: "workflow/rules/reproduction.smk"


localrules:
    all,
    figures,
    reproduction,


rule all:
    default_target: True
    input:
        lambda wildcards: all_targets(),


rule figures:
    input:
        lambda wildcards: all_targets(),


# The reproduction scorecard alone (workflow/rules/reproduction.smk, docs/reproduction.md).
rule reproduction:
    input:
        lambda wildcards: scorecard_outputs(),


# One target per experiment (eisnn.config.EXPERIMENTS), named after it.
for _experiment in eiconfig.EXPERIMENTS:

    rule:
        name:
            _experiment
        input:
            lambda wildcards, experiment=_experiment: experiment_targets(experiment),
        localrule: True
