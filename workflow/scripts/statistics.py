"""Collect the run table of an experiment and write its statistics (eisnn.stats)."""

import contextlib
from pathlib import Path

from eisnn.stats import collect_run_table, write_stats

with open(snakemake.log[0], "w") as log, contextlib.redirect_stderr(log), contextlib.redirect_stdout(log):
    table = collect_run_table(snakemake.params.run_dirs, snakemake.params.dataset)
    written = write_stats(
        table,
        Path(snakemake.output.runs).parent,
        snakemake.params.dataset,
        test=snakemake.params.ttest,
        reference_ratio=snakemake.params.reference_ratio,
    )
    print(f"{len(table)} runs; wrote {', '.join(sorted(written))}")
