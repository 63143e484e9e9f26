"""A report table (Tables 2/3, t-tests, run table) as HTML (eisnn.figures.tables)."""

import contextlib

from eisnn.figures.tables import build_table

with open(snakemake.log[0], "w") as log, contextlib.redirect_stderr(log):
    build_table(snakemake.params.kind, snakemake.input.table, snakemake.output.html, snakemake.params.title)
