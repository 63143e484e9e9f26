"""Fig 5: Van Rossum distance distributions with Kruskal-Wallis p-values (eisnn.figures.fig5)."""

import contextlib

from eisnn.figures.fig5 import build_fig5

with open(snakemake.log[0], "w") as log, contextlib.redirect_stderr(log):
    build_fig5(snakemake.input.runs, snakemake.input.van_rossum_table,
               str(snakemake.output.png).removesuffix(".png"), **snakemake.params.options)
