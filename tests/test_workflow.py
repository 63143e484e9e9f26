"""The Snakemake workflow: DAG sizes, config errors, the smoke preset end to end, reruns.

Each test runs Snakemake on a copy of Snakefile, workflow/ and config/ in a temporary folder;
the three full-paper tests read one dry run (full_paper_dry_run), the smoke tests work on the
session's smoke reference run (tests/smoke_reference.py), which carries its own src/eisnn.
"""

import itertools
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import yaml

from smoke_reference import SMOKE_ARGS, copy_workflow

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
METRIC_FILES = [
    "summary.csv", "activity_class.csv", "activity_population.csv", "spikes_per_step.csv",
    "van_rossum.csv", "isi.csv", "weights_hist.csv",
]


def snakemake(workdir: Path, *args: str, check: bool = True, timeout: float = 300) -> str:
    result = subprocess.run(
        [*SNAKEMAKE, "--directory", str(workdir), "--snakefile", str(workdir / "Snakefile"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    output = result.stdout + result.stderr
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({result.returncode}):\n{output[-5000:]}")
    return output


def dry_run_jobs(workdir: Path, *args: str) -> list[tuple[str, dict[str, str]]]:
    """(rule, wildcards) of every job a dry run schedules."""
    return scheduled_jobs(snakemake(workdir, "--dry-run", *args))


def scheduled_jobs(dry_run_output: str) -> list[tuple[str, dict[str, str]]]:
    """(rule, wildcards) of every job a dry run's output lists, group members (indented under
    their group job) included."""
    jobs = []
    for block in re.split(r"\n(?=[ \t]*(?:local)?rule \w+:)", dry_run_output):
        header = re.match(r"[ \t]*(?:local)?rule (\w+):", block)
        if not header:
            continue
        found = re.search(r"^\s+wildcards: (.*)$", block, flags=re.MULTILINE)
        wildcards = dict(item.split("=", 1) for item in found.group(1).split(", ")) if found else {}
        jobs.append((header.group(1), wildcards))
    return jobs


# Training jobs: `train` (Fashion-MNIST experiments) and `train_shd` (SHD), so that SLURM array
# jobs never mix the two resource classes.
TRAINING_RULES = ("train", "train_shd")


def count(jobs, rule, **wildcards) -> int:
    """Jobs of `rule` with the given wildcards; rule "train" counts every training rule."""
    rules = TRAINING_RULES if rule == "train" else (rule,)
    return sum(1 for r, w in jobs if r in rules and all(w.get(k) == v for k, v in wildcards.items()))


def seeds_in(label: str) -> list[int]:
    """Seeds of a pack label: '0-7' -> 0..7, '0-1+5' -> [0, 1, 5]."""
    seeds = []
    for part in label.split("+"):
        low, _, high = part.partition("-")
        seeds.extend(range(int(low), int(high or low) + 1))
    return seeds


# ---------------------------------------------------------------------------------------------
# The full paper (dry run)
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def full_paper_dry_run(tmp_path_factory) -> dict:
    """One dry run of the full paper (the default target `all`, on config/config.yaml; building
    its DAG takes half a minute) for the three tests that read it: with the SLURM profile's groups
    (test_full_paper_reaches_slurm_as_few_allocations), and with torch, matplotlib, numba,
    seaborn and scipy made unimportable (BLOCKER; test_building_the_dag_imports_neither_torch_
    nor_matplotlib). Neither changes which jobs the DAG holds: every job is listed, a group's
    members indented under their group job (full_paper_jobs; test_full_paper_dag_matches_the_grid).
    {"returncode", "output", "env"}."""
    base = tmp_path_factory.mktemp("full_paper")
    blocker_dir = base / "blocker"
    blocker_dir.mkdir()
    (blocker_dir / "sitecustomize.py").write_text(BLOCKER)
    workdir = copy_workflow(base / "wf")
    env = {**__import__("os").environ, "PYTHONPATH": str(blocker_dir)}
    result = subprocess.run(
        [*SNAKEMAKE, "--directory", str(workdir), "--snakefile", str(workdir / "Snakefile"), "--dry-run",
         "--cores", "1", "--groups", *_slurm_groups()],
        capture_output=True, text=True, timeout=300, env=env,
    )
    return {"returncode": result.returncode, "output": result.stdout + result.stderr, "env": env}


def full_paper_jobs(run: dict) -> list[tuple[str, dict[str, str]]]:
    """(rule, wildcards) of every job of the full paper's dry run: the jobs outside any group and
    the members of each group job (listed indented under it)."""
    assert run["returncode"] == 0, f"snakemake --dry-run failed ({run['returncode']}):\n{run['output'][-5000:]}"
    return scheduled_jobs(run["output"])


def test_full_paper_dag_matches_the_grid(full_paper_dry_run):
    """Expected sizes from the paper's grids (config/config.yaml), counted independently of eisnn.config."""
    # The dry run builds `all`, the default target: `figures` (the README's) under another name.
    snakefile = (ROOT / "Snakefile").read_text()

    def rule_input(name: str) -> str:
        body = re.search(rf"^rule {name}:\n((?:[ \t]+\S.*\n)+)", snakefile, flags=re.MULTILINE).group(1)
        return re.search(r"^[ \t]+input:\n((?:[ \t]{8,}\S.*\n)+)", body, flags=re.MULTILINE).group(1)

    assert rule_input("all") == rule_input("figures")
    jobs = full_paper_jobs(full_paper_dry_run)
    per_experiment = {
        # 4 constrained ratios × 18 σ + unconstrained × (18 σ + the 0.0238/0.0252 baseline), × 8 seeds
        "fmnist_sigma": (4 * 18 + 19) * 8,
        "shd_sigma": (4 * 18 + 19) * 8,
        # 8 ratios × 1 σ × 10 noise levels × 16 seeds
        "fmnist_noise": 8 * 10 * 16,
    }
    for experiment, n_runs in per_experiment.items():
        assert count(jobs, "run_metrics", experiment=experiment) == n_runs, experiment
        packs = [w for r, w in jobs if r in TRAINING_RULES and w["experiment"] == experiment]
        assert sum(len(seeds_in(p["seeds"])) for p in packs) == n_runs
        assert all(len(seeds_in(p["seeds"])) == 8 for p in packs)  # runs_per_job
        assert count(jobs, "statistics", experiment=experiment) == 1
    assert per_experiment == {"fmnist_sigma": 728, "shd_sigma": 728, "fmnist_noise": 1280}
    assert count(jobs, "train") == 91 + 91 + 160
    assert count(jobs, "train_shd") == count(jobs, "train_shd", experiment="shd_sigma") == 91
    assert count(jobs, "encode") == 2
    assert count(jobs, "download_fmnist") == count(jobs, "download_shd") == 1
    baseline = [
        w for r, w in jobs if r in TRAINING_RULES and w["ratio"] == "none" and w["init"] in ("sigma-0.0238", "sigma-0.0252")
    ]
    assert {w["experiment"] for w in baseline} == {"fmnist_sigma", "shd_sigma"}
    assert count(jobs, "statistics", experiment="fmnist_rate") == 0  # off in the full config
    assert count(jobs, "scorecard") == 1  # the reproduction scorecard is part of `figures`


def test_target_rate_experiment_dag(tmp_path):
    """fmnist_rate switched on: 5 ratios × 12 target rates × 8 seeds, one pack per grid point."""
    workdir = copy_workflow(tmp_path / "wf")
    jobs = dry_run_jobs(workdir, "fmnist_rate", "--config", "experiments={fmnist_rate: {enabled: true}}")
    packs = [w for r, w in jobs if r == "train"]
    assert len(packs) == 5 * 12 and count(jobs, "run_metrics") == 5 * 12 * 8
    assert {w["init"] for w in packs} == {f"rate-{v:g}" for v in (0.5, 0.809, 1.31, 2.12, 3.43, 5.56, 9, 14.6, 23.6, 38.2, 61.8, 100)}
    assert {r for r, _ in jobs} >= {"fig1cd", "fig_rate", "report_table", "statistics"}


def test_experiment_target_builds_one_experiment(tmp_path):
    workdir = copy_workflow(tmp_path / "wf")
    jobs = dry_run_jobs(workdir, "fmnist_noise", "--config", "preset=smoke")
    assert {w["experiment"] for r, w in jobs if "experiment" in w} == {"fmnist_noise"}
    assert count(jobs, "run_metrics") == 2 * 2 * 2


def test_disabled_experiment_target_is_a_clear_error(tmp_path):
    workdir = copy_workflow(tmp_path / "wf")
    output = snakemake(workdir, "--dry-run", "shd_sigma", "--config", "preset=quick", check=False)
    assert "experiment shd_sigma is disabled (experiments.shd_sigma.enabled: false)" in output


# ---------------------------------------------------------------------------------------------
# Configuration errors through Snakemake
# ---------------------------------------------------------------------------------------------


def test_bad_config_stops_the_dry_run_with_one_clear_error(tmp_path):
    workdir = copy_workflow(tmp_path / "wf")
    output = snakemake(
        workdir, "--dry-run", "--config", "experiments={fmnist_noise: {noise_fracs: [0, 20]}}", check=False
    )
    assert "experiments.fmnist_noise.noise_fracs[1]: 20 is greater than the maximum of 1" in output
    assert "not a percent" in output
    assert "Traceback" not in output


def test_unknown_preset_is_one_error_listing_the_presets(tmp_path):
    workdir = copy_workflow(tmp_path / "wf")
    output = snakemake(workdir, "--dry-run", "--config", "preset=tiny", check=False)
    assert "unknown preset 'tiny'; available presets: night, quick, smoke" in output


def test_a_results_dir_that_is_a_file_is_refused_before_any_job(tmp_path):
    workdir = copy_workflow(tmp_path / "wf")
    (workdir / "taken").write_text("a file where the results should go\n")
    output = snakemake(workdir, "--dry-run", "--config", "preset=smoke", "results_dir=taken/smoke", check=False)
    assert "invalid config: results_dir: 'taken/smoke' is not a folder (taken is a file)" in output
    assert "Traceback" not in output


def test_a_broken_configfile_is_one_message_where_the_workflow_reads_it(tmp_path):
    """Invalid YAML, a list at the top level, a misspelled key: one message, no traceback. A
    --configfile that does not exist is Snakemake's own traceback (it reads the file before any
    code of the workflow runs), whose last line names the file."""
    workdir = copy_workflow(tmp_path / "wf")
    files = {"invalid.yaml": "results_dir: [unclosed\n", "list.yaml": "- results_dir\n", "typo.yaml": "runsperjob: 3\n"}
    for name, text in files.items():
        (workdir / name).write_text(text)
    expected = {
        "invalid.yaml": "Config file is not valid JSON or YAML",
        "list.yaml": "Config file must be given as JSON or YAML with keys at top level",
        "typo.yaml": "invalid config: runsperjob: unknown key 'runsperjob'",
    }
    for name, message in expected.items():
        output = snakemake(workdir, "--dry-run", "--configfile", str(workdir / name), check=False)
        assert message in output and "Traceback" not in output, name
    missing = workdir / "nothere.yaml"
    output = snakemake(workdir, "--dry-run", "--configfile", str(missing), check=False)
    assert f"FileNotFoundError: [Errno 2] No such file or directory: '{missing}'" in output.splitlines()


SMOKE_PACK = "fmnist_noise/ratio-0.8/sigma-0.03/noise-0/pack-0-1.json"
SMOKE_PACK_LOG = "logs/train/fmnist_noise/ratio-0.8_sigma-0.03_noise-0_pack-0-1.log"


def test_a_failed_training_job_ends_its_own_log_with_the_error(tmp_path):
    """A training job that fails on bad input (CUDA asked for on a machine without one, a corrupt
    encoded split): Snakemake marks it failed, and the job's own log ends with one line naming
    the problem, which Snakemake's output shows too; no traceback."""
    import torch

    workdir = copy_workflow(tmp_path / "wf")
    results = workdir / "results" / "smoke"
    train_split = (results / "encoded" / "synthetic" / "train.h5").relative_to(workdir)
    snakemake(workdir, "--cores", "1", str(train_split), "--config", "preset=smoke")

    def failed_pack(*config: str) -> tuple[str, str]:
        """Snakemake's output and the last line of the job's log, for the pack built with `config`."""
        pack = str((results / SMOKE_PACK).relative_to(workdir))
        output = snakemake(workdir, "--cores", "1", pack, "--config", "preset=smoke", *config, check=False)
        assert "Error in rule train" in output and not (results / SMOKE_PACK).exists()
        assert "Traceback" not in output
        return output, (results / SMOKE_PACK_LOG).read_text().splitlines()[-1]

    if not torch.cuda.is_available():
        output, last = failed_pack("training={device: cuda}")
        assert last.startswith("error: device 'cuda': this machine has 0 CUDA device(s)"), last
        assert last in output
    (workdir / train_split).write_bytes(b"not an HDF5 file")
    output, last = failed_pack()
    assert last.startswith(f"error: {train_split}: unreadable or truncated HDF5 file"), last
    assert last in output


def test_lint_and_format():
    output = subprocess.run(
        [*SNAKEMAKE, "--lint", "--directory", str(ROOT)], capture_output=True, text=True, timeout=120
    )
    assert "Congratulations, your workflow is in a good condition!" in output.stdout + output.stderr
    snakefmt = Path(sys.executable).with_name("snakefmt")
    if not snakefmt.exists():
        pytest.skip("snakefmt is not installed")
    result = subprocess.run(
        [str(snakefmt), "--check", "Snakefile", "workflow"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------------------------------------
# The smoke preset end to end, then incremental reruns on its results
# ---------------------------------------------------------------------------------------------


def smoke_run_dirs() -> set[str]:
    """Every run directory of the smoke preset, enumerated from the preset file by hand."""
    preset = yaml.safe_load((ROOT / "config" / "presets" / "smoke.yaml").read_text())
    label = lambda v: "none" if v is None else f"{v:g}"  # noqa: E731
    dirs = set()
    for name, spec in preset["experiments"].items():
        for ratio in spec["ratios"]:
            if "init" in spec:
                inits = [f"rate-{label(rate)}" for rate in spec["init"]["target_rate_hz"]]
            else:
                sigmas = list(spec["sigma_init"]) + ([0.0666] if ratio is None else [])  # 7(1-e^-0.1)/√100
                inits = [f"sigma-{label(sigma)}" for sigma in sigmas]
            for init, noise, seed in itertools.product(inits, spec["noise_fracs"], spec["seeds"]):
                dirs.add(f"results/smoke/{name}/ratio-{label(ratio)}/{init}/noise-{label(noise)}/seed-{seed}")
    return dirs


# SMOKE_ARGS, the smoke run: README's `snakemake --cores 2 figures --config preset=smoke` (tests/test_readme.py).


@pytest.fixture(scope="module")
def smoke(smoke_reference):
    """The smoke preset built for real once: (workdir, wall seconds). The session's reference run
    of SMOKE_ARGS (tests/smoke_reference.py; test_slurm.py compares its SLURM run with it, and may
    have built it beside that run), in a copy of the workflow that carries its own src/eisnn (as
    a clone has it); its profiles/ is removed, as copy_workflow leaves it out."""
    if smoke_reference["returncode"] != 0:
        raise AssertionError(
            f"snakemake {' '.join(SMOKE_ARGS)} failed ({smoke_reference['returncode']}):\n{smoke_reference['log'][-5000:]}"
        )
    workdir = smoke_reference["workdir"]
    shutil.rmtree(workdir / "profiles", ignore_errors=True)
    return workdir, smoke_reference["seconds"]


@pytest.mark.slow
def test_smoke_preset_builds_every_run(smoke):
    workdir, seconds = smoke
    print(f"smoke preset: {seconds:.0f} s")
    expected = smoke_run_dirs()
    assert len(expected) == 10 + 4 + 8 + 8
    for run_dir in sorted(expected):
        path = workdir / run_dir
        for name in ("history.csv", "probe.h5", "run.json", *(f"weights_epoch-{e}.npz" for e in (0, 1, 3))):
            assert (path / name).is_file(), f"{run_dir}/{name}"
        for name in METRIC_FILES:
            assert (path / "metrics" / name).is_file(), f"{run_dir}/metrics/{name}"
        assert not (path / "checkpoint.pt").exists()
        assert len(pd.read_csv(path / "history.csv")) == 3
        assert json.loads((path / "run.json").read_text())["status"] in ("completed", "diverged")
    listed = set()
    for experiment in ("fmnist_sigma", "shd_sigma", "fmnist_noise", "fmnist_rate"):
        stats = workdir / "results" / "smoke" / experiment / "stats"
        for name in ("runs.csv", "ttests.csv", "ttests.md", "van_rossum_table.csv", "van_rossum_table.md"):
            assert (stats / name).is_file()
        table = pd.read_csv(stats / "runs.csv")
        assert set(table["experiment"]) == {experiment}
        listed |= set(table["run_dir"])
    assert listed == expected
    # The scorecard is built, and honest: synthetic data reproduce nothing of the paper.
    scorecard = pd.read_csv(workdir / "results" / "smoke" / "reproduction" / "scorecard.csv")
    assert (scorecard["verdict"] == "inconclusive").all()
    assert scorecard["reason"].str.contains("synthetic data|not run").all()
    markers = list((workdir / "results" / "smoke").glob("*/ratio-*/*/noise-*/pack-*.json"))
    assert len(markers) == 5 + 2 + 4 + 4
    assert snakemake(workdir, "--dry-run", "figures", "--config", "preset=smoke").count("Nothing to be done") == 1


@pytest.mark.slow
def test_the_readme_report_command_after_the_smoke_run(smoke):
    """README's report command, exactly as printed, on the smoke run's results: one HTML file
    holding the figures and tables."""
    from readme_commands import readme_command

    workdir, _ = smoke
    command = readme_command("snakemake --report ").split()
    assert command[-2:] == ["--config", "preset=smoke"]
    result = subprocess.run([*SNAKEMAKE, *command[1:]], cwd=workdir, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    report = (workdir / command[2]).read_text(errors="replace")
    assert len(report) > 100_000 and "fig1c" in report and "scorecard" in report


@pytest.mark.slow
def test_appending_a_seed_schedules_only_the_new_runs(smoke):
    workdir, _ = smoke
    jobs = dry_run_jobs(workdir, "figures", "--config", "preset=smoke", "experiments={fmnist_noise: {seeds: [0, 1, 2]}}")
    trained = [w for r, w in jobs if r in TRAINING_RULES]
    assert len(trained) == 2 * 2 and {w["seeds"] for w in trained} == {"2"}
    assert {w["seed"] for r, w in jobs if r == "run_metrics"} == {"2"} and count(jobs, "run_metrics") == 4
    assert [w["experiment"] for r, w in jobs if r == "statistics"] == ["fmnist_noise"]
    assert count(jobs, "encode") == 0


SMOKE_VARIANT = (
    "experiments={fmnist_sigma: {variants: {paper: {ratios: [0.8], sigma_init: [0.01], "
    "training: {readout: per_step, surrogate: exponential}}}}}"
)


@pytest.mark.slow
def test_a_method_variant_trains_beside_the_default_which_never_retrains(smoke):
    """Adding a variant schedules only its own runs under <experiment>@<variant>/; the default
    variant's files stay byte-identical, and the variant's run table says what it trained."""
    workdir, _ = smoke
    jobs = dry_run_jobs(workdir, "fmnist_sigma", "--config", "preset=smoke", SMOKE_VARIANT)
    assert count(jobs, "train") == count(jobs, "train", experiment="fmnist_sigma@paper") == 1
    assert count(jobs, "run_metrics") == count(jobs, "run_metrics", experiment="fmnist_sigma@paper") == 2
    assert count(jobs, "statistics") == count(jobs, "statistics", experiment="fmnist_sigma@paper") == 1
    default_files = sorted(p for p in (workdir / "results" / "smoke" / "fmnist_sigma").rglob("*") if p.is_file())
    before = {p: p.read_bytes() for p in default_files}
    snakemake(workdir, "--cores", "2", "fmnist_sigma", "--config", "preset=smoke", SMOKE_VARIANT, timeout=600)
    assert all(p.read_bytes() == content for p, content in before.items())
    table = pd.read_csv(workdir / "results" / "smoke" / "fmnist_sigma@paper" / "stats" / "runs.csv")
    assert set(zip(table["variant"], table["readout"], table["surrogate"], table["ratio"])) == {
        ("paper", "per_step", "exponential", 0.8)
    }
    assert (workdir / "results" / "smoke" / "figures" / "fmnist_sigma@paper" / "fig1c.png").is_file()
    default = pd.read_csv(workdir / "results" / "smoke" / "fmnist_sigma" / "stats" / "runs.csv")
    assert set(default["variant"]) == {"default"} and set(default["readout"]) == {"per_step"}


@pytest.mark.slow
def test_the_readme_procedure_to_redo_a_run_retrains_exactly_that_pack(smoke):
    """README "Start a run again from scratch": delete the pack's run directories and rerun with
    --forcerun <pack marker>; that pack alone trains again (with its runs' metrics), the other
    runs' files stay as they were. Deleting files alone is not enough: Snakemake takes missing
    intermediate files of up-to-date outputs for deleted temporary files."""
    workdir, _ = smoke
    results = workdir / "results" / "smoke"
    marker = next(results.glob("fmnist_noise/ratio-0.8/*/noise-0.2/pack-*.json"))
    runs = sorted(marker.parent.glob("seed-*"))
    before = {p: p.read_bytes() for p in results.rglob("seed-*/**/*") if p.is_file() and p.parents[0] not in runs
              and p.parents[1] not in runs}
    for run in runs:
        shutil.rmtree(run)
    assert count(dry_run_jobs(workdir, "figures", "--config", "preset=smoke"), "train") == 0
    forcerun = ("--forcerun", str(marker.relative_to(workdir)))
    jobs = dry_run_jobs(workdir, "figures", *forcerun, "--config", "preset=smoke")
    assert count(jobs, "train") == count(jobs, "train", experiment="fmnist_noise", ratio="0.8", noise="0.2") == 1
    assert count(jobs, "run_metrics") == len(runs)
    snakemake(workdir, "--cores", "2", "figures", *forcerun, "--config", "preset=smoke", timeout=600)
    assert marker.is_file() and all((run / "run.json").is_file() for run in runs)
    assert all(p.read_bytes() == content for p, content in before.items())


@pytest.mark.slow
def test_adding_a_sigma_schedules_only_its_runs(smoke):
    workdir, _ = smoke
    jobs = dry_run_jobs(workdir, "figures", "--config", "preset=smoke", "experiments={shd_sigma: {sigma_init: [0.01, 0.3, 0.1]}}")
    assert {(r, w.get("init")) for r, w in jobs if r in ("train_shd", "run_metrics")} == {
        ("train_shd", "sigma-0.1"), ("run_metrics", "sigma-0.1")
    }
    assert count(jobs, "train") == 1
    assert count(jobs, "run_metrics") == 2


@pytest.mark.slow
def test_changing_epochs_reruns_only_that_experiments_training(smoke):
    workdir, _ = smoke
    jobs = dry_run_jobs(workdir, "figures", "--config", "preset=smoke", "experiments={shd_sigma: {epochs: 4}}")
    assert count(jobs, "train") == count(jobs, "train", experiment="shd_sigma") == 2
    assert count(jobs, "run_metrics") == count(jobs, "run_metrics", experiment="shd_sigma") == 4
    assert [w["experiment"] for r, w in jobs if r == "statistics"] == ["shd_sigma"]


@pytest.mark.slow
def test_run_settings_retrain_nothing_and_a_training_option_retrains_every_pack(smoke):
    """Device, probe count and threads are run settings: changing them schedules no job; a
    training option (the learning rate) reruns every pack. The job still gets its settings: the
    preset's probe count and device are in probe.h5 and run.json. (`--list-changes params` is no
    help here: Snakemake 9 lists every output whose params it recorded, changed or not.)"""
    workdir, _ = smoke
    settings = ("--set-threads", "train=2", "--config", "preset=smoke", "training={device: auto, probe_samples: 4}")
    jobs = dry_run_jobs(workdir, "figures", *settings)
    assert count(jobs, "train") == 0 and jobs == dry_run_jobs(workdir, "figures", "--config", "preset=smoke")
    learning_rate = ("--config", "preset=smoke", "training={learning_rate: 0.004}")
    jobs = dry_run_jobs(workdir, "figures", *learning_rate)
    assert count(jobs, "train") == 15 and count(jobs, "run_metrics") == 30 and count(jobs, "statistics") == 4
    run_dir = workdir / sorted(smoke_run_dirs())[0]
    params = json.loads((run_dir / "run.json").read_text())["params"]
    assert (params["device"], params["probe_samples"], params["threads"]) == ("cpu", 8, 1)
    with h5py.File(run_dir / "probe.h5") as probe:
        assert len(probe["labels"]) == 8


@pytest.mark.slow
def test_a_failed_metrics_job_ends_its_own_log_with_the_error(smoke, tmp_path):
    """On a copy of the smoke results: a declared snapshot deleted, that run's metrics forced to
    run again; the job fails and its own log ends with one line naming the missing file."""
    workdir = tmp_path / "copy"
    shutil.copytree(smoke[0], workdir, symlinks=True)
    run = "results/smoke/fmnist_noise/ratio-0.8/sigma-0.03/noise-0/seed-0"
    (workdir / run / "weights_epoch-1.npz").unlink()
    summary = f"{run}/metrics/summary.csv"
    output = snakemake(workdir, "--cores", "1", summary, "--forcerun", summary, "--config", "preset=smoke", check=False)
    assert "Error in rule run_metrics" in output and "Traceback" not in output
    log = workdir / "results/smoke/logs/metrics/fmnist_noise/ratio-0.8_sigma-0.03_noise-0_seed-0.log"
    last = log.read_text().splitlines()[-1]
    assert last.startswith(f"error: {run}/weights_epoch-1.npz is missing but run.json declares it"), last


@pytest.mark.slow
def test_target_rate_runs_reach_their_rates_and_get_their_figure(smoke):
    workdir, _ = smoke
    table = pd.read_csv(workdir / "results" / "smoke" / "fmnist_rate" / "stats" / "runs.csv")
    assert len(table) == 8 and set(table["target_rate_hz"]) == {5.0, 20.0}
    # calibrated on 100 training samples to ± 5 %; the same network measured on the test split
    assert np.all(np.abs(table["calibrated_rate_hz"] / table["target_rate_hz"] - 1) <= 0.05)
    assert np.all(np.abs(table["initial_rate_hz"] / table["target_rate_hz"] - 1) <= 0.5)
    for run_dir in table["run_dir"]:
        params = json.loads((workdir / run_dir / "run.json").read_text())["params"]
        assert params["sigma_init"] == params["calibration"]["sigma_init"] and params["calibration"]["n_samples"] == 100
    ttests = pd.read_csv(workdir / "results" / "smoke" / "fmnist_rate" / "stats" / "ttests.csv")
    assert sorted(ttests["target_rate_hz"]) == [5.0, 20.0] and set(ttests["ratio"]) == {0.8}
    for name in ("fig_rate.png", "fig_rate.pdf", "fig_rate.data.csv", "fig1c.png", "ttests.html"):
        assert (workdir / "results" / "smoke" / "figures" / "fmnist_rate" / name).is_file(), name


@pytest.mark.slow
def test_changing_the_calibration_reruns_only_the_rate_experiment(smoke):
    workdir, _ = smoke
    jobs = dry_run_jobs(
        workdir, "figures", "--config", "preset=smoke",
        "experiments={fmnist_rate: {init: {target_rate_hz: [5.0, 20.0], n_samples: 100, rel_tolerance: 0.02}}}",
    )
    assert count(jobs, "train") == count(jobs, "train", experiment="fmnist_rate") == 4
    assert count(jobs, "run_metrics") == count(jobs, "run_metrics", experiment="fmnist_rate") == 8


@pytest.mark.slow
def test_changing_a_metrics_option_reruns_metrics_and_statistics_only(smoke):
    workdir, _ = smoke
    jobs = dry_run_jobs(workdir, "figures", "--config", "preset=smoke", "metrics={max_samples: 40}")
    assert count(jobs, "train") == 0 and count(jobs, "encode") == 0
    assert count(jobs, "run_metrics") == 30 and count(jobs, "statistics") == 4


@pytest.mark.slow
def test_changing_a_figure_option_reruns_only_that_figure(smoke):
    workdir, _ = smoke
    jobs = dry_run_jobs(workdir, "figures", "--config", "preset=smoke", "statistics={noise_levels: [0.2]}")
    assert {r for r, _ in jobs} == {"fig2cde", "figures"}


@pytest.mark.slow
def test_a_config_edit_never_deletes_results_of_runs_still_in_the_grid(smoke):
    """Shrinking a grid for real rebuilds only the aggregates; every run's files stay as they were."""
    workdir, _ = smoke
    run_files = sorted(p for p in (workdir / "results" / "smoke").rglob("seed-*/*") if p.is_file())
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in run_files}
    snakemake(
        workdir, "--cores", "2", "figures", "--config", "preset=smoke", "experiments={shd_sigma: {sigma_init: [0.01]}}",
        timeout=600,
    )
    for path, (mtime, content) in before.items():
        assert path.exists(), f"{path} was deleted"
        assert path.stat().st_mtime_ns == mtime and path.read_bytes() == content, f"{path} was rewritten"
    table = pd.read_csv(workdir / "results" / "smoke" / "shd_sigma" / "stats" / "runs.csv")
    assert set(table["sigma_init"]) == {0.01}
    # Back to the preset as written: the removed runs are still complete, so nothing trains again.
    jobs = dry_run_jobs(workdir, "figures", "--config", "preset=smoke")
    assert count(jobs, "train") == 0 and count(jobs, "run_metrics") == 0


BLOCKER = '''
import importlib.abc
import sys


class _Blocked(importlib.abc.MetaPathFinder):
    """Fail the import of a heavy library, so that a DAG build that needs one fails loudly."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "matplotlib", "numba", "seaborn", "scipy"):
            raise ImportError(f"{name} imported while building the DAG")
        return None


sys.meta_path.insert(0, _Blocked())
'''


def test_building_the_dag_imports_neither_torch_nor_matplotlib(full_paper_dry_run):
    """A dry run of the full paper with torch, matplotlib, numba, seaborn and scipy made
    unimportable: the Snakefile and the library modules it imports need none of them."""
    env = full_paper_dry_run["env"]
    assert full_paper_dry_run["returncode"] == 0, full_paper_dry_run["output"][-3000:]
    assert "This was a dry-run" in full_paper_dry_run["output"]
    # The blocker works: importing torch under it fails.
    probe = subprocess.run([sys.executable, "-c", "import torch"], capture_output=True, text=True, env=env)
    assert probe.returncode != 0 and "imported while building the DAG" in probe.stderr


def _slurm_groups() -> list[str]:
    profile = yaml.safe_load((ROOT / "profiles" / "slurm" / "config.yaml").read_text())
    return [f"{rule}={group}" for rule, group in profile["groups"].items()]


def local_rules() -> set[str]:
    """Rules that never go to SLURM: `localrules:` lists and the experiment targets."""
    from eisnn.config import EXPERIMENTS

    names = set(EXPERIMENTS)
    for path in [ROOT / "Snakefile", *sorted((ROOT / "workflow" / "rules").glob("*.smk"))]:
        for block in re.finditer(r"^localrules:\s*\n((?:[ \t]+\S.*\n?)+)", path.read_text(), flags=re.MULTILINE):
            names |= set(re.findall(r"\w+", block.group(1)))
    return names


def slurm_allocations(output: str) -> dict[str, int]:
    """SLURM jobs of a dry run with the SLURM profile's groups: group jobs, and the jobs outside
    any group that are not local rules (group members are indented in Snakemake's listing)."""
    groups = re.findall(r"^\[[^\]]*\] Group job (\w+)", output, flags=re.MULTILINE)
    single = [r for r in re.findall(r"^rule (\w+):$", output, flags=re.MULTILINE) if r not in local_rules()]
    counts: dict[str, int] = {}
    for name in [f"group {g}" for g in groups] + single:
        counts[name] = counts.get(name, 0) + 1
    return counts


def test_full_paper_reaches_slurm_as_few_allocations(full_paper_dry_run):
    """The full paper with the SLURM profile's groups: one allocation per training pack (with its
    runs' metrics), one per experiment's statistics and figures (Fig 1b, which reads one run's
    probe, is one more), one per dataset encoding."""
    output = full_paper_dry_run["output"]
    assert full_paper_dry_run["returncode"] == 0, output[-5000:]
    counts = slurm_allocations(output)
    assert counts == {"group pack": 342, "group summary": 5, "encode": 2}, counts
    assert sum(counts.values()) == 349 <= 500
    # Nothing that SLURM would run is left outside a group but the encodings.
    assert not re.findall(r"^rule (run_metrics|train|train_shd|statistics|fig\w*):$", output, flags=re.MULTILINE)


def test_plain_snakemake_loads_the_default_profile(tmp_path):
    """`snakemake …` in the repository uses profiles/default (found next to the Snakefile)."""
    workdir = copy_workflow(tmp_path / "wf")
    shutil.copytree(ROOT / "profiles", workdir / "profiles")
    result = subprocess.run(
        [*SNAKEMAKE, "--dry-run", "figures", "--config", "preset=smoke"],
        cwd=workdir, capture_output=True, text=True, timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert re.search(r"Using workflow specific profile profiles/default", output), output[:2000]
