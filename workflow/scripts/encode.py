"""Encode both splits of a dataset into sparse spike lists (eisnn.data.encode_dataset)."""

import contextlib

from eisnn.data import encode_dataset

with open(snakemake.log[0], "w") as log, contextlib.redirect_stderr(log), contextlib.redirect_stdout(log):
    train, test = encode_dataset(
        snakemake.wildcards.dataset,
        snakemake.params.source,
        snakemake.output.train,
        snakemake.output.test,
        **snakemake.params.encoding,
    )
    print(f"encoded {train.n_samples} train and {test.n_samples} test samples, {train.n_units} units")
