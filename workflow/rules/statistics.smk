# Aggregation across the runs of an experiment: the run table and the statistics (paper §2.2 t-tests, §2.5 Tables 2/3).


rule statistics:
    input:
        statistics_inputs,
        code=library_code("eisnn.stats"),
    output:
        runs=stats_path(RESULTS, "{experiment}", "runs"),
        ttests=report(
            stats_path(RESULTS, "{experiment}", "ttests"),
            category="Statistics (CSV)",
            subcategory="{experiment}",
            labels={"table": "t-tests against 100:0"},
        ),
        ttests_md=stats_path(RESULTS, "{experiment}", "ttests_md"),
        van_rossum_table=report(
            stats_path(RESULTS, "{experiment}", "van_rossum_table"),
            category="Statistics (CSV)",
            subcategory="{experiment}",
            labels={"table": "Van Rossum distances (Tables 2/3)"},
        ),
        van_rossum_table_md=stats_path(RESULTS, "{experiment}", "van_rossum_table_md"),
    log:
        f"{LOGS}/statistics/{{experiment}}.log",
    conda:
        ENV
    resources:
        runtime=30,
        mem_mb=4000,
    params:
        run_dirs=lambda wildcards: CFG.run_dirs(wildcards.experiment),
        dataset=dataset_of,
        ttest=CFG.section("statistics")["ttest"],
        reference_ratio=CFG.section("statistics")["reference_ratio"],
    script:
        "../scripts/statistics.py"
