"""Fig 1c/1d: final test accuracy against initial firing rate (eisnn.figures.fig1)."""

import contextlib

from eisnn.figures.fig1 import build_fig1cd

with open(snakemake.log[0], "w") as log, contextlib.redirect_stderr(log):
    build_fig1cd(snakemake.input.runs, str(snakemake.output.png).removesuffix(".png"), **snakemake.params.options)
