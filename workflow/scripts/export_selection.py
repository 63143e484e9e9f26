"""List the successful runs of an experiment's run table, one run directory a line (eisnn.export.run)."""

from eisnn.errors import logged_to
from eisnn.export.run import successful_run_dirs
from eisnn.io import write_text_atomic

with logged_to(snakemake.log[0]):
    run_dirs = successful_run_dirs(snakemake.input.runs)
    write_text_atomic(
        snakemake.output[0], "".join(f"{run_dir}\n" for run_dir in run_dirs)
    )
    print(f"{len(run_dirs)} successful runs")
