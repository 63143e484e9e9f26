# The reproduction scorecard (eisnn.reproduction, docs/reproduction.md): every claim of the
# paper (src/eisnn/paper_claims.yaml) scored against the run tables of the enabled experiments
# and their method variants. Target `reproduction`; also part of `all` and `figures`, so that
# `snakemake --report` includes it.


# Reads small tables only: runs where Snakemake runs (on a cluster, the login node).
localrules:
    scorecard,


rule scorecard:
    input:
        runs=lambda wildcards: [
            spec["runs"] for spec in scorecard_experiments(wildcards).values()
        ],
        claims=str(CLAIMS_FILE),
        code=library_code(
            "eisnn.reproduction", "eisnn.figures.scorecard", "eisnn.figures.tables"
        ),
    output:
        table=scorecard_path(RESULTS, "table"),
        markdown=scorecard_path(RESULTS, "markdown"),
        html=report(
            scorecard_path(RESULTS, "html"),
            caption="../report/scorecard.rst",
            category="Reproduction",
            labels={"table": "scorecard"},
        ),
        png=report(
            scorecard_path(RESULTS, "png"),
            caption="../report/scorecard.rst",
            category="Reproduction",
            labels={"figure": "paper against ours"},
        ),
        pdf=scorecard_path(RESULTS, "pdf"),
        data=scorecard_path(RESULTS, "data"),
    log:
        f"{LOGS}/reproduction/scorecard.log",
    conda:
        ENV
    resources:
        runtime=10,
        mem_mb=2000,
    params:
        experiments=scorecard_experiments,
        title=f"Reproduction scorecard: {RESULTS}",
    script:
        "../scripts/scorecard.py"
