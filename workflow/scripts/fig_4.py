"""Fig 4: three representative runs across training (eisnn.figures.fig4)."""

from eisnn.errors import logged_to
from eisnn.figures.fig4 import build_fig4
from eisnn.figures.inputs import read_per_run_files

with logged_to(snakemake.log[0]):
    build_fig4(
        snakemake.input.runs,
        read_per_run_files(snakemake.input.activity_population),
        read_per_run_files(snakemake.input.weights_hist),
        read_per_run_files(snakemake.params.histories),
        str(snakemake.output.png).removesuffix(".png"),
        **snakemake.params.options,
    )
