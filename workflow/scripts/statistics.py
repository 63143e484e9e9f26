"""Collect the run table of an experiment and write its statistics (eisnn.stats.experiment_statistics)."""

from pathlib import Path

from eisnn.errors import logged_to
from eisnn.stats import experiment_statistics

with logged_to(snakemake.log[0]):
    table, written = experiment_statistics(
        snakemake.params.run_dirs,
        Path(snakemake.output.runs).parent,
        snakemake.params.dataset,
        test=snakemake.params.ttest,
        reference_ratio=snakemake.params.reference_ratio,
    )
    print(f"{len(table)} runs; wrote {', '.join(sorted(written))}")
