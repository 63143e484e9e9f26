"""Export a run's final snapshot as a NIR graph (eisnn.export.nir_graph)."""

import contextlib

from eisnn.export.nir_graph import export_run_nir

with (
    open(snakemake.log[0], "w") as log,
    contextlib.redirect_stderr(log),
    contextlib.redirect_stdout(log),
):
    print(export_run_nir(snakemake.params.run_dir, snakemake.output[0]))
