"""Fig 1b: sample activity of one network, from its probe.h5 (eisnn.figures.fig1)."""

import contextlib

from eisnn.figures.fig1 import build_fig1b

with open(snakemake.log[0], "w") as log, contextlib.redirect_stderr(log):
    build_fig1b(snakemake.params.probe, str(snakemake.output.png).removesuffix(".png"), **snakemake.params.options)
