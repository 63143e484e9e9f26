"""Supplementary: ISI and firing-frequency distributions, E vs I (eisnn.figures.supplementary)."""

from eisnn.errors import logged_to
from eisnn.figures.inputs import read_per_run_files
from eisnn.figures.supplementary import build_isi

with logged_to(snakemake.log[0]):
    isi = read_per_run_files(snakemake.input.isi)
    build_isi(snakemake.input.runs, isi, str(snakemake.output.png).removesuffix(".png"), **snakemake.params.options)
