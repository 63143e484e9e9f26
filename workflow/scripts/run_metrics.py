"""Compute one run's metrics from its snapshots and the encoded test set (eisnn.metrics.run_metrics)."""

from eisnn.errors import logged_to
from eisnn.metrics import run_metrics
from eisnn.params import ModelConfig

with logged_to(snakemake.log[0]):
    run_metrics(
        snakemake.params.run_dir,
        snakemake.input.test,
        ModelConfig(**snakemake.params.model),
        threads=snakemake.threads,
        **snakemake.params.options,
    )
