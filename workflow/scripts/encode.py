"""Encode both splits of a dataset into sparse spike lists (eisnn.data.encode_dataset)."""

from eisnn.data import encode_dataset
from eisnn.errors import logged_to

with logged_to(snakemake.log[0]):
    train, test = encode_dataset(
        snakemake.wildcards.dataset,
        snakemake.params.source,
        snakemake.output.train,
        snakemake.output.test,
        **snakemake.params.encoding,
    )
    print(f"encoded {train.n_samples} train and {test.n_samples} test samples, {train.n_units} units")
