"""Fig 2c-e: accuracy difference from 100:0 with t-test stars (eisnn.figures.fig2)."""

import contextlib

from eisnn.figures.fig2 import build_fig2cde

with open(snakemake.log[0], "w") as log, contextlib.redirect_stderr(log):
    build_fig2cde(snakemake.input.ttests, str(snakemake.output.png).removesuffix(".png"), **snakemake.params.options)
