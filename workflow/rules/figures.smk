# Figures (the paper's Fig 1–5) and the report tables: one rule per paper figure, whose inputs are exactly
# the tables it plots, so that a change to one experiment rebuilds only that experiment's
# figures, and a change to a figure's style (eisnn.figures, params) only that figure.
#
# Files: <results>/figures/<experiment>/<name>.{png,pdf,data.csv}; the PNG and the HTML tables
# are marked for `snakemake --report <results>/report.html`, with captions in workflow/report/.
# Every figure rule appends its outputs to FIGURES (common.smk), which `all`, `figures` and the
# experiment targets build.


report: "../report/workflow.rst"


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
        probe=lambda wildcards: str(
            RunFiles(sample_run(wildcards).run_dir(RESULTS)).probe
        ),
        n_runs=1,
        dataset_label=dataset_label,
        run=sample_run_description,
        options=lambda wildcards: {
            "dataset": dataset_of(wildcards),
            "title": sample_run_description(wildcards)
            + ": test sample {sample} after training (epoch {epoch})",
        },
    script:
        "../scripts/fig_1b.py"


rule fig1cd:
    input:
        code=figure_code("fig1"),
        runs=stats_file("runs"),
    output:
        **figure_outputs("fig1{letter}", caption="fig1cd"),
    log:
        f"{LOGS}/figures/{{experiment}}/fig1{{letter}}.log",
    wildcard_constraints:
        letter="c|d",
    conda:
        ENV
    threads: 1
    resources:
        **FIGURE_RESOURCES,
    params:
        n_runs=n_runs,
        dataset_label=dataset_label,
        by_rate=lambda wildcards: CFG.experiment(wildcards.experiment).by_rate,
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
            "noise_levels": CFG.section("statistics")["noise_levels"],
            "ratios": experiment_ratios(wildcards),
        },
        reference=lambda wildcards: reference_label(),
    script:
        "../scripts/fig_2cde.py"


# -- Matched initial rates (fmnist_rate) ------------------------------------------------------


rule fig_rate:
    input:
        code=figure_code("rate", "fig1", "fig2"),
        runs=stats_file("runs"),
        ttests=stats_file("ttests"),
    output:
        **figure_outputs("fig_rate"),
    log:
        f"{LOGS}/figures/{{experiment}}/fig_rate.log",
    conda:
        ENV
    threads: 1
    resources:
        **FIGURE_RESOURCES,
    params:
        n_runs=n_runs,
        dataset_label=dataset_label,
        reference=lambda wildcards: reference_label(),
        options=lambda wildcards: {
            "ratios": experiment_ratios(wildcards),
            "dataset_label": dataset_label(wildcards),
        },
    script:
        "../scripts/fig_rate.py"


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
        packs=lambda wildcards: [
            pack.marker(RESULTS)
            for pack in CFG.experiment(wildcards.experiment).packs()
        ],
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
        histories=lambda wildcards: [
            str(RunFiles(d).history) for d in CFG.run_dirs(wildcards.experiment)
        ],
        n_runs=n_runs,
        dataset_label=dataset_label,
        options=lambda wildcards: {
            "prefer_ratio": 0.5,
            "dataset": dataset_of(wildcards),
        },
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
        letters=lambda wildcards: (
            "a-c"
            if eiconfig.paper_dataset_of(wildcards.experiment) == "fmnist"
            else "d-f"
        ),
        options=lambda wildcards: {
            "first_letter": (
                "a"
                if eiconfig.paper_dataset_of(wildcards.experiment) == "fmnist"
                else "d"
            ),
            "tau_ms": CFG.section("metrics")["tau_ms"],
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
    log:
        f"{LOGS}/figures/{{experiment}}/{{table}}.log",
    wildcard_constraints:
        table="|".join(TABLE_SOURCES),
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
