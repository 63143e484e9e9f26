"""Fig 2b: accuracy against weight-update noise per E:I ratio (eisnn.figures.fig2)."""

import contextlib

from eisnn.figures.fig2 import build_fig2b

with open(snakemake.log[0], "w") as log, contextlib.redirect_stderr(log):
    build_fig2b(snakemake.input.runs, str(snakemake.output.png).removesuffix(".png"), **snakemake.params.options)
