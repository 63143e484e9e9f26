"""Export a run's final snapshot as a NIR graph (eisnn.export.nir_graph)."""

from eisnn.errors import logged_to
from eisnn.export.nir_graph import export_run_nir

with logged_to(snakemake.log[0]):
    print(export_run_nir(snakemake.params.run_dir, snakemake.output[0]))
