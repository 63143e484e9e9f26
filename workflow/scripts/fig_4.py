"""Fig 4: three representative runs across training (eisnn.figures.fig4)."""

import contextlib

from eisnn.figures.fig4 import build_fig4
from eisnn.figures.inputs import read_histories, read_run_metrics

with open(snakemake.log[0], "w") as log, contextlib.redirect_stderr(log):
    runs = snakemake.params.run_dirs
    build_fig4(
        snakemake.input.runs,
        read_run_metrics(runs, "activity_population", missing_ok=False),
        read_run_metrics(runs, "weights_hist", missing_ok=False),
        read_histories(runs, missing_ok=False),
        str(snakemake.output.png).removesuffix(".png"),
        **snakemake.params.options,
    )
