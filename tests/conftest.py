"""Fixtures shared by several test modules: the smoke preset's reference run (tests/smoke_reference.py)."""

import pytest

from smoke_reference import ReferenceRun, snapshot


@pytest.fixture(scope="session")
def smoke_sources(tmp_path_factory):
    """One snapshot of the workflow, src/eisnn included, per session: the reference run and
    test_slurm.py's SLURM run each work in a copy of it (smoke_reference.snapshot)."""
    return snapshot(tmp_path_factory.mktemp("smoke_sources") / "workflow_copy")


@pytest.fixture(scope="session")
def smoke_reference_run(smoke_sources, tmp_path_factory):
    """The reference run, not started yet: test_slurm.py starts it in the background
    (`.start(background=True)`); it is stopped at the end of the session if still running."""
    run = ReferenceRun(smoke_sources, tmp_path_factory.mktemp("smoke_reference"))
    yield run
    run.stop()


@pytest.fixture(scope="session")
def smoke_reference(smoke_reference_run) -> dict:
    """The finished reference run (ReferenceRun.result): started here, in the foreground, unless
    it was started before. Its folder is test_workflow.py's `smoke`, which reruns parts of it;
    its results as the run left them stay in a copy, for comparisons (test_slurm.py)."""
    return smoke_reference_run.result()
