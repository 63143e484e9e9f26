"""Fig 1b: sample activity of one network, from its probe.h5 (eisnn.figures.fig1)."""

from eisnn.errors import logged_to
from eisnn.figures.fig1 import build_fig1b

with logged_to(snakemake.log[0]):
    build_fig1b(snakemake.params.probe, str(snakemake.output.png).removesuffix(".png"), **snakemake.params.options)
