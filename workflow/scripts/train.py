"""Train one pack of runs (eisnn.train.train_pack), then write the pack marker."""

from eisnn.errors import logged_to
from eisnn.io import write_json_atomic
from eisnn.train import RunSpec, TrainOptions, train_pack

with logged_to(snakemake.log[0]):
    runs = [RunSpec(**run) for run in snakemake.params.runs]
    options = TrainOptions.from_dict({**snakemake.params.options, **snakemake.params.settings})
    summaries = train_pack(runs, snakemake.input.train, snakemake.input.test, options)
    write_json_atomic(
        snakemake.output.marker,
        {
            "runs": [
                {"run_dir": str(run.run_dir), "seed": run.seed, "status": summary["status"]}
                for run, summary in zip(runs, summaries)
            ],
            "options": options.as_dict(),
        },
    )
