"""`python -m snakemake`, with snakemake-executor-plugin-slurm's status checks at a steady interval.

    python tests/cluster/steady_status_checks.py <snakemake arguments>

The plugin (2.8) lengthens the pause between two status checks by 10 s after every check that
finds no job finished (up to 180 s), starting from --slurm-init-seconds-before-status-checks:
right for a cluster with thousands of queued jobs, slow for tests/test_slurm.py, which keeps one
job at a time (`--jobs 1`): a job of 40 s is seen finished at the 4th check, 68 s after its
submission, and the next job waits for it. Here the pause stays at the initial interval after
every check. Nothing else changes: the same executor submits every job, queries it with the same
status command and reports it the same way; the jobs themselves run `python -m snakemake`.
"""

import sys

from snakemake_executor_plugin_slurm import Executor

_check_active_jobs = Executor.check_active_jobs


async def _steady_check_active_jobs(self, active_jobs):
    async for job_info in _check_active_jobs(self, active_jobs):
        yield job_info
    # the plugin set the next pause (initial interval, or the last one + 10 s); keep the initial one
    self.next_seconds_between_status_checks = getattr(
        self.workflow.executor_settings, "init_seconds_before_status_checks", 40
    )


Executor.check_active_jobs = _steady_check_active_jobs

if __name__ == "__main__":
    del sys.path[0]  # this folder: nothing here is meant to be importable by Snakemake
    from snakemake.cli import main

    main()
