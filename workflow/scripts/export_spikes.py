"""Export the hidden spike trains of a run's final snapshot as a Neo Block (eisnn.export.spike_trains)."""

import contextlib

from eisnn.export.spike_trains import export_run_spikes

with (
    open(snakemake.log[0], "w") as log,
    contextlib.redirect_stderr(log),
    contextlib.redirect_stdout(log),
):
    print(
        export_run_spikes(
            snakemake.params.run_dir,
            snakemake.output[0],
            samples=snakemake.params.samples,
            test_path=snakemake.input.test,
        )
    )
