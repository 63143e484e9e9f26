"""Every command in README.md's code blocks is run here exactly as printed, or mapped to the test that
runs or checks it; a command added to the README without either fails the first test."""

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from readme_commands import readme_commands

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SHARED_FMNIST = ROOT.parent / "shared" / "data" / "fashion-mnist"

RUN = "run here, in this order, in a fresh folder beside a link to ../shared"
DRY_RUN = "run here with --dry-run appended, in a copy of the workflow"

COMMANDS = {
    "make run": "test_make_run_is_the_quick_preset: make -n run prints a command that dry-runs here",
    "make test": ".ci/run runs it (test_ci_runs_make_test)",
    "source .venv/bin/activate": "test_the_venv_is_the_makefiles: make setup creates .venv",
    "snakemake --cores 16 figures": "test_workflow.py::test_full_paper_dag_matches_the_grid dry-runs this DAG",
    "snakemake --cores 2 figures --config preset=smoke":
        "tests/smoke_reference.py runs it once per session (SMOKE_ARGS) for test_workflow.py's smoke fixture",
    "snakemake --cores 4 figures --config preset=quick": DRY_RUN,
    "snakemake --cores 2 reproduction --config preset=night": DRY_RUN,
    "snakemake --cores 16 fmnist_noise": DRY_RUN,
    "snakemake --report results/smoke/report.html figures --config preset=smoke":
        "test_workflow.py::test_the_readme_report_command_after_the_smoke_run runs it on the smoke run",
    "snakemake --cores 2 figures --config preset=smoke --sdm conda":
        "no conda here (README, Deployment): test_deploy.py checks the environments it builds",
    "snakemake --workflow-profile profiles/slurm figures":
        "test_slurm.py runs this profile on a real cluster; test_workflow.py::"
        "test_full_paper_reaches_slurm_as_few_allocations dry-runs the full paper with its groups",
    "eisnn encode fmnist --source ../shared/data/fashion-mnist --train-out data/train.h5 --test-out data/test.h5 "
    "--param subset_train=2000 --param subset_test=500": RUN,
    "eisnn train --train data/train.h5 --test data/test.h5 --out runs/ratio-0.8/seed-0 --ratio 0.8 --sigma 0.001 "
    "--seed 0 --epochs 2 --readout per_step": RUN,
    "eisnn metrics runs/ratio-0.8/seed-0 --test data/test.h5": RUN,
    "eisnn stats runs --out runs/stats": RUN,
    "eisnn train --help": RUN,
    "pip install -e '.[bench]'": "test_benchmark_commands: the extra exists and its packages are installed",
    "python benchmarks/throughput.py": "test_benchmark_commands: --help (a measurement takes minutes)",
    "python benchmarks/throughput.py --shd": "test_benchmark_commands: --shd --help",
    "python benchmarks/throughput.py --shd --profile":
        "test_benchmarks.py::test_the_throughput_profile_accounts_for_every_phase_of_a_step runs it on one batch",
    "python benchmarks/paper_cost.py": "test_benchmarks.py::test_paper_cost_prices_every_run_of_the_full_config "
        "(with the config's costs: a measurement takes minutes)",
    "python benchmarks/gpu_check.py":
        "test_benchmarks.py::test_gpu_check_without_cuda_says_so_in_one_line_and_exits_2 runs it as printed",
}
"""README command -> how it is checked."""


def _bash(command: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """``command`` in bash with this interpreter's environment activated (what `source .venv/bin/activate` does)."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "VIRTUAL_ENV": str(BIN.parent)}
    return subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _workflow_copy(destination: Path) -> Path:
    """The workflow as a clone has it: Snakefile, workflow/, config/, profiles/ and the library."""
    destination.mkdir(parents=True)
    shutil.copy2(ROOT / "Snakefile", destination / "Snakefile")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in ("workflow", "config", "profiles", "src"):
        shutil.copytree(ROOT / name, destination / name, ignore=ignore)
    return destination


def test_every_readme_command_is_accounted_for():
    commands = readme_commands()
    assert len(commands) >= 15  # the extraction sees the blocks, indented ones too
    unaccounted = sorted(set(commands) - set(COMMANDS))
    assert not unaccounted, f"README commands that no test runs or checks (add them to COMMANDS): {unaccounted}"
    gone = sorted(set(COMMANDS) - set(commands))
    assert not gone, f"COMMANDS lists commands the README no longer has: {gone}"


def test_the_tests_named_in_the_mapping_exist():
    for how in COMMANDS.values():
        for module, name in re.findall(r"(test_\w+\.py)::(test_\w+)", how):
            assert re.search(rf"^def {name}\(", (ROOT / "tests" / module).read_text(), flags=re.MULTILINE), name
        for name in re.findall(r"^(test_\w+)(?=:| \()", how):
            assert name in globals(), name
    from test_workflow import SMOKE_ARGS

    assert "snakemake " + " ".join(SMOKE_ARGS) in COMMANDS


def test_library_commands_run_as_printed(tmp_path):
    """The README's `eisnn` session, in order, on the real Fashion-MNIST: encode a subset, train,
    metrics, statistics."""
    if not (SHARED_FMNIST / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"the real Fashion-MNIST is not in {SHARED_FMNIST}")
    (tmp_path / "shared").symlink_to(ROOT.parent / "shared")
    workdir = tmp_path / "work"
    workdir.mkdir()
    for command in (c for c in readme_commands() if COMMANDS[c] == RUN):
        result = _bash(command, workdir)
        assert result.returncode == 0, f"{command}\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
    assert len(list((workdir / "runs" / "ratio-0.8" / "seed-0" / "metrics").glob("*.csv"))) == 7
    assert (workdir / "runs" / "stats" / "runs.csv").read_text().count("\n") == 2  # header and the one run


def test_workflow_commands_dry_run_as_printed(tmp_path):
    """Each from a copy of the workflow, as a clone has it (so the default profile applies), two at a time."""
    workdir = _workflow_copy(tmp_path / "wf")
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    commands = [c for c in readme_commands() if COMMANDS[c] == DRY_RUN]
    logs = [tmp_path / f"dry-run-{i}.log" for i in range(len(commands))]
    running = []
    for command, log in zip(commands, logs):
        if len(running) == 2:
            running[-2].wait(timeout=300)
        with open(log, "w") as out:
            running.append(subprocess.Popen(["bash", "-c", command + " --dry-run"], cwd=workdir, env=env,
                                            stdout=out, stderr=subprocess.STDOUT))
    for command, log, process in zip(commands, logs, running):
        process.wait(timeout=300)
        output = log.read_text()
        assert process.returncode == 0, f"{command}\n{output[-3000:]}"
        assert "This was a dry-run" in output and "Using workflow specific profile profiles/default" in output, command


def test_make_run_is_the_quick_preset():
    """`make run` runs `.venv/bin/snakemake --cores all figures --config preset=quick`: the DAG of the
    README's quick-preset command, which test_workflow_commands_dry_run_as_printed dry-runs."""
    printed = subprocess.run(["make", "-n", "run"], cwd=ROOT, capture_output=True, text=True, timeout=60).stdout
    (line,) = [line for line in printed.splitlines() if line.startswith(".venv/bin/snakemake ")]
    assert line.split() == [".venv/bin/snakemake", "--cores", "all", "figures", "--config", "preset=quick"]
    assert COMMANDS["snakemake --cores 4 figures --config preset=quick"] == DRY_RUN


def test_ci_runs_make_test():
    assert re.search(r"^make test$", (ROOT / ".ci" / "run").read_text(), flags=re.MULTILINE)


def test_the_venv_is_the_makefiles():
    assert re.search(r"^VENV \?= \.venv$", (ROOT / "Makefile").read_text(), flags=re.MULTILINE)
    assert re.search(r"^\t\$\(PYTHON\) -m venv \$\(VENV\)$", (ROOT / "Makefile").read_text(), flags=re.MULTILINE)


def test_benchmark_commands():
    from importlib.metadata import PackageNotFoundError, version

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for requirement in extras["bench"]:
        name = re.match(r"[A-Za-z0-9_.-]+", requirement).group(0)
        try:
            version(name)
        except PackageNotFoundError:
            pytest.fail(f"{name} of the bench extra is not installed")
    for flags in ("--help", "--shd --help"):
        result = subprocess.run([sys.executable, "benchmarks/throughput.py", *flags.split()], cwd=ROOT,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0 and "--shd" in result.stdout, result.stderr[-2000:]
