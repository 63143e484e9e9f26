"""Fig 3: per-class accuracy against activity and % excitatory (eisnn.figures.fig3)."""

from eisnn.errors import logged_to
from eisnn.figures.fig3 import build_fig3
from eisnn.figures.inputs import read_per_run_files

with logged_to(snakemake.log[0]):
    activity = read_per_run_files(snakemake.input.activity_class)
    build_fig3(snakemake.input.runs, activity, str(snakemake.output.png).removesuffix(".png"), **snakemake.params.options)
