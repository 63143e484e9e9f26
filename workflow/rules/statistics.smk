# Aggregation across the runs of an experiment: the run table and the statistics (SPEC §5).


rule statistics:
    input:
        statistics_inputs,
        code=library_code("eisnn.stats"),
    output:
        runs=f"{RESULTS}/{{experiment}}/stats/{STATS_FILES['runs']}",
        ttests=report(
            f"{RESULTS}/{{experiment}}/stats/{STATS_FILES['ttests']}",
            category="Statistics (CSV)",
            subcategory="{experiment}",
            labels={"table": "t-tests against 100:0"},
        ),
        ttests_md=f"{RESULTS}/{{experiment}}/stats/{STATS_FILES['ttests_md']}",
        van_rossum_table=report(
            f"{RESULTS}/{{experiment}}/stats/{STATS_FILES['van_rossum_table']}",
            category="Statistics (CSV)",
            subcategory="{experiment}",
            labels={"table": "Van Rossum distances (Tables 2/3)"},
        ),
        van_rossum_table_md=f"{RESULTS}/{{experiment}}/stats/{STATS_FILES['van_rossum_table_md']}",
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
        ttest=CFG.raw.get("statistics", {}).get("ttest", "welch"),
        reference_ratio=CFG.raw.get("statistics", {}).get("reference_ratio", 1.0),
    script:
        "../scripts/statistics.py"
