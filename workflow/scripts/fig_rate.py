"""Accuracy at matched initial firing rates and the difference from 100:0 (eisnn.figures.rate)."""

from eisnn.errors import logged_to
from eisnn.figures.rate import build_fig_rate

with logged_to(snakemake.log[0]):
    build_fig_rate(
        snakemake.input.runs,
        snakemake.input.ttests,
        str(snakemake.output.png).removesuffix(".png"),
        **snakemake.params.options,
    )
