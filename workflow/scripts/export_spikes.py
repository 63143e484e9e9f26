"""Export the hidden spike trains of a run's final snapshot as a Neo Block (eisnn.export.spike_trains)."""

from eisnn.errors import logged_to
from eisnn.export.spike_trains import export_run_spikes

with logged_to(snakemake.log[0]):
    print(
        export_run_spikes(
            snakemake.params.run_dir,
            snakemake.output[0],
            samples=snakemake.params.samples,
            test_path=snakemake.input.test,
        )
    )
