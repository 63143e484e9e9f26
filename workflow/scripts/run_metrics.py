"""Compute one run's metrics from its snapshots and the encoded test set (eisnn.metrics)."""

import contextlib

import torch

from eisnn.data import load_spikes
from eisnn.metrics import compute_run_metrics, write_run_metrics
from eisnn.model import ModelConfig

torch.set_num_threads(snakemake.threads)
model = ModelConfig(**snakemake.params.model)
options = dict(snakemake.params.options)
with open(snakemake.log[0], "w") as log, contextlib.redirect_stderr(log), contextlib.redirect_stdout(log):
    tables = compute_run_metrics(
        snakemake.params.run_dir,
        load_spikes(snakemake.input.test),
        max_samples=options.pop("max_samples", None),
        model_config=model,
        **options,
    )
    write_run_metrics(snakemake.params.run_dir, tables)
