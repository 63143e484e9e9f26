"""Fig 2c-e: accuracy difference from 100:0 with t-test stars (eisnn.figures.fig2)."""

from eisnn.errors import logged_to
from eisnn.figures.fig2 import build_fig2cde

with logged_to(snakemake.log[0]):
    build_fig2cde(snakemake.input.ttests, str(snakemake.output.png).removesuffix(".png"), **snakemake.params.options)
