"""The smoke preset's reference run: README's smoke command, run locally once per test session.

Two modules need the smoke preset built locally: test_workflow.py (its `smoke` fixture takes the
run's folder and reruns parts of it) and test_slurm.py (the SLURM run's results must equal the
run's, as it left them). conftest.py's fixtures build it once, in a copy of a snapshot of the
workflow that carries its own src/eisnn (the Snakefile imports the library from there and puts it
on every job's PYTHONPATH, as in a clone: tests/test_deploy.py), so that edits to the tree while
the session runs cannot make the runs that use the snapshot differ. test_slurm.py starts it in the
background, at a lower priority, while its SLURM run (one job at a time) leaves a core idle;
otherwise the first test that needs it runs it, in the foreground.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]

SMOKE_ARGS = ("--cores", "2", "figures", "--config", "preset=smoke")
"""The smoke run: README's `snakemake --cores 2 figures --config preset=smoke` (tests/test_readme.py)."""

COMMAND = [*SNAKEMAKE, "--workflow-profile", "profiles/default", *SMOKE_ARGS]
"""Run in a copy of the snapshot (which has profiles/, as a clone has; the profile is named here
all the same, so that the command does not depend on Snakemake's search for it)."""

FOREGROUND_TIMEOUT_S = 600
BACKGROUND_TIMEOUT_S = 1500  # beside the SLURM run, at a lower priority
BACKGROUND_NICENESS = 10


def copy_workflow(destination: Path, profiles: bool = False) -> Path:
    """The Snakefile, environment.yml, workflow/ and config/ (and profiles/ where asked) in
    `destination`, without caches or results."""
    destination.mkdir(parents=True, exist_ok=True)
    for name in ("Snakefile", "environment.yml"):
        shutil.copy2(ROOT / name, destination / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".snakemake", "results")
    for name in ("workflow", "config", *(("profiles",) if profiles else ())):
        shutil.copytree(ROOT / name, destination / name, ignore=ignore)
    return destination


def snapshot(destination: Path) -> Path:
    """A copy of the workflow as a clone has it: copy_workflow with profiles/, and src/eisnn.
    numba's cache files of src/eisnn come along: numba uses one only while it matches its source
    file's contents, and compiles afresh otherwise."""
    copy_workflow(destination, profiles=True)
    source = ROOT / "src" / "eisnn"
    library = destination / "src" / "eisnn"
    shutil.copytree(source, library, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for cached in [*source.rglob("__pycache__/*.nbi"), *source.rglob("__pycache__/*.nbc")]:
        target = library / cached.relative_to(source)
        target.parent.mkdir(exist_ok=True)
        shutil.copy2(cached, target)
    return destination


class ReferenceRun:
    """COMMAND in a copy of the snapshot, started at most once."""

    def __init__(self, template: Path, base: Path):
        self.template = template
        self.workdir = base / "wf"
        self.as_left = base / "as_left"
        self.log = base / "reference_run.log"
        self.proc: subprocess.Popen | None = None
        self.timeout = FOREGROUND_TIMEOUT_S
        self.started = 0.0
        self.finished: float | None = None
        self.waiter: threading.Thread | None = None
        self.outcome: dict | None = None

    def start(self, background: bool) -> None:
        if self.proc is not None:
            return
        shutil.copytree(self.template, self.workdir, symlinks=True)
        nice = ["nice", "-n", str(BACKGROUND_NICENESS)] if background and shutil.which("nice") else []
        self.timeout = BACKGROUND_TIMEOUT_S if background else FOREGROUND_TIMEOUT_S
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen([*nice, *COMMAND], stdout=out, stderr=subprocess.STDOUT,
                                         cwd=self.workdir, start_new_session=True)
        self.started = time.perf_counter()
        self.waiter = threading.Thread(target=self._wait, daemon=True)
        self.waiter.start()

    def _wait(self) -> None:
        self.proc.wait()
        self.finished = time.perf_counter()

    def result(self) -> dict:
        """Once the run has finished (started here if nobody has started it): {"workdir": the run's
        folder, "as_left": a folder holding a copy of its results/ as the run left them,
        "returncode", "log", "seconds"}. AssertionError if it runs past its time limit."""
        if self.outcome is None:
            self.start(background=False)
            self.waiter.join(timeout=max(1.0, self.timeout - (time.perf_counter() - self.started)))
            if self.finished is None:
                self.stop()
                raise AssertionError(
                    f"timed out after {self.timeout} s: {' '.join(COMMAND[2:])} (in {self.workdir})\n"
                    f"{self.log.read_text(errors='replace')[-6000:]}"
                )
            if (self.workdir / "results").is_dir():
                shutil.copytree(self.workdir / "results", self.as_left / "results", symlinks=True)
            self.outcome = {
                "workdir": self.workdir,
                "as_left": self.as_left,
                "returncode": self.proc.returncode,
                "log": self.log.read_text(errors="replace"),
                "seconds": self.finished - self.started,
            }
        return self.outcome

    def stop(self) -> None:
        """Kill the run (its whole process group) if it is still running."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:  # it has just ended
                pass
            self.waiter.join()
