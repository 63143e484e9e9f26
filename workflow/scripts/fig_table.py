"""A report table (Tables 2/3, t-tests, run table) as HTML (eisnn.figures.tables)."""

from eisnn.errors import logged_to
from eisnn.figures.tables import build_table

with logged_to(snakemake.log[0]):
    build_table(snakemake.params.kind, snakemake.input.table, snakemake.output.html, snakemake.params.title)
