# Per-run metrics (paper §4.3): rates, activity, Van Rossum distances, ISIs, weight histograms.
# One job per run; its input is the marker of the pack that trained the run.


rule run_metrics:
    input:
        pack=pack_marker_of_run,
        test=encoded_split("test"),
    output:
        **{name: str(RunFiles(RUN).metric(name)) for name in METRIC_FILES},
    log:
        f"{LOGS}/metrics/{{experiment}}/{POINT}_seed-{{seed}}.log",
    benchmark:
        f"{LOGS}/metrics/{{experiment}}/{POINT}_seed-{{seed}}.benchmark.tsv"
    conda:
        ENV
    threads: 1
    resources:
        runtime=metrics_request("runtime"),
        mem_mb=metrics_request("mem_mb"),
    params:
        run_dir=lambda wildcards: RUN.format(**wildcards),
        model=model_options,
        options=lambda wildcards: CFG.section("metrics"),
    script:
        "../scripts/run_metrics.py"
