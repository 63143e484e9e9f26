"""Download a raw dataset (Fashion-MNIST or SHD) with checksums into the rule's output folder."""

from pathlib import Path

from eisnn import data
from eisnn.errors import logged_to

with logged_to(snakemake.log[0]):
    fetch = {"fmnist": data.download_fashion_mnist, "shd": data.download_shd}[snakemake.params.dataset]
    fetch(Path(snakemake.output[0]).parent)
