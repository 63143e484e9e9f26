"""Accuracy at matched initial firing rates and the difference from 100:0 (eisnn.figures.rate)."""

import contextlib

from eisnn.figures.rate import build_fig_rate

with open(snakemake.log[0], "w") as log, contextlib.redirect_stderr(log):
    build_fig_rate(
        snakemake.input.runs,
        snakemake.input.ttests,
        str(snakemake.output.png).removesuffix(".png"),
        **snakemake.params.options,
    )
