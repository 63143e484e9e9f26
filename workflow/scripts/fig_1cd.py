"""Fig 1c/1d: final test accuracy against initial firing rate (eisnn.figures.fig1)."""

from eisnn.errors import logged_to
from eisnn.figures.fig1 import build_fig1cd

with logged_to(snakemake.log[0]):
    build_fig1cd(snakemake.input.runs, str(snakemake.output.png).removesuffix(".png"), **snakemake.params.options)
