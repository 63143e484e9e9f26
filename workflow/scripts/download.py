"""Download a raw dataset (Fashion-MNIST or SHD) with checksums into the rule's output folder."""

import contextlib
from pathlib import Path

from eisnn import data

fetch = {"fmnist": data.download_fashion_mnist, "shd": data.download_shd}[snakemake.params.dataset]
with open(snakemake.log[0], "w") as log, contextlib.redirect_stderr(log), contextlib.redirect_stdout(log):
    fetch(Path(snakemake.output[0]).parent)
