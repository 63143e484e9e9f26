# Training: one job per pack (a grid point and a chunk of its seeds), K runs in one process.
# Rule `train` trains the Fashion-MNIST experiments, `train_shd` the SHD one (see below).
#
# The job receives only its own parameters: its runs (params.runs), its experiment's training
# options (params.options) and its run settings (params.settings). Snakemake reruns it when the
# runs or the options change, so adding a seed or a σ/noise value schedules only the new packs,
# and changing an experiment's epochs or learning rate reruns that experiment's packs alone. The
# run settings (device, probe count, threads) are a param derived from `threads`, which is no
# rerun trigger: changing one retrains nothing. The marker (output) is written after train_pack has
# finished every run; a killed job leaves no marker, and the rerun resumes each run from its
# checkpoint.pt.

SHD_EXPERIMENTS = experiment_pattern(
    name for name in CFG.experiments if eiconfig.paper_dataset_of(name) == "shd"
)
OTHER_EXPERIMENTS = experiment_pattern(
    name for name in CFG.experiments if eiconfig.paper_dataset_of(name) != "shd"
)


rule train:
    input:
        train=encoded_split("train"),
        test=encoded_split("test"),
    output:
        marker=PACK,
    log:
        f"{LOGS}/train/{{experiment}}/{POINT}_pack-{{seeds}}.log",
    benchmark:
        f"{LOGS}/train/{{experiment}}/{POINT}_pack-{{seeds}}.benchmark.tsv"
    wildcard_constraints:
        experiment=OTHER_EXPERIMENTS,
    conda:
        ENV
    threads: 1
    resources:
        runtime=training_request("runtime"),
        mem_mb=training_request("mem_mb"),
    params:
        runs=pack_runs,
        options=train_options,
        settings=run_settings,
    script:
        "../scripts/train.py"


# SHD packs train for hours longer and need more memory. The SLURM plugin submits the ready jobs
# of one rule as one array job with the first job's resources, so SHD training is its own rule:
# arrays never mix the two resource classes.
use rule train as train_shd with:
    wildcard_constraints:
        experiment=SHD_EXPERIMENTS,
