"""Fig 2b: accuracy against weight-update noise per E:I ratio (eisnn.figures.fig2)."""

from eisnn.errors import logged_to
from eisnn.figures.fig2 import build_fig2b

with logged_to(snakemake.log[0]):
    build_fig2b(snakemake.input.runs, str(snakemake.output.png).removesuffix(".png"), **snakemake.params.options)
