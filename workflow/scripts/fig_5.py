"""Fig 5: Van Rossum distance distributions with Kruskal-Wallis p-values (eisnn.figures.fig5)."""

from eisnn.errors import logged_to
from eisnn.figures.fig5 import build_fig5

with logged_to(snakemake.log[0]):
    build_fig5(snakemake.input.runs, snakemake.input.van_rossum_table,
               str(snakemake.output.png).removesuffix(".png"), **snakemake.params.options)
