# Optional exports (docs/exports.md), off by default: `snakemake export_nir` writes the NIR graph
# and `snakemake export_spikes` the Neo/NIX hidden spike trains of the final snapshot of every
# successful run (stats/runs.csv, eisnn.stats.SUCCESS_RULES) of every enabled experiment, under
# <results>/exports/<experiment>/ratio-<r>/<init>/noise-<n>/seed-<k>/.

from eisnn.layout import EXPORT_FILES, EXPORTS_DIR, export_paths

EXPORT_RUN = RUN.replace(RESULTS, f"{RESULTS}/{EXPORTS_DIR}", 1)
EXPORT_SAMPLES = (
    100  # test samples per spike export (the CLI's default; NIX costs ~30 ms per train)
)


localrules:
    export_selection,
    export_nir,
    export_spikes,


checkpoint export_selection:
    input:
        runs=stats_path(RESULTS, "{experiment}", "runs"),
    output:
        f"{RESULTS}/{EXPORTS_DIR}/{{experiment}}/successful_runs.txt",
    log:
        f"{LOGS}/exports/{{experiment}}_selection.log",
    conda:
        ENV
    script:
        "../scripts/export_selection.py"


rule export_nir_run:
    input:
        pack=pack_marker_of_run,
    output:
        f"{EXPORT_RUN}/{EXPORT_FILES['nir']}",
    log:
        f"{LOGS}/exports/{{experiment}}/{POINT}_seed-{{seed}}_nir.log",
    conda:
        EXPORT_ENV
    resources:
        runtime=10,
        mem_mb=2000,
    params:
        run_dir=lambda wildcards: RUN.format(**wildcards),
    script:
        "../scripts/export_nir.py"


rule export_spikes_run:
    input:
        pack=pack_marker_of_run,
        test=encoded_split("test"),
    output:
        f"{EXPORT_RUN}/{EXPORT_FILES['spikes']}",
    log:
        f"{LOGS}/exports/{{experiment}}/{POINT}_seed-{{seed}}_spikes.log",
    conda:
        EXPORT_ENV
    threads: 1
    resources:
        runtime=60,
        mem_mb=4000,
    params:
        run_dir=lambda wildcards: RUN.format(**wildcards),
        samples=EXPORT_SAMPLES,
    script:
        "../scripts/export_spikes.py"


rule export_nir:
    input:
        lambda wildcards: export_paths(
            RESULTS,
            [
                checkpoints.export_selection.get(experiment=name).output[0]
                for name in CFG.enabled
            ],
            "nir",
        ),


rule export_spikes:
    input:
        lambda wildcards: export_paths(
            RESULTS,
            [
                checkpoints.export_selection.get(experiment=name).output[0]
                for name in CFG.enabled
            ],
            "spikes",
        ),
