"""The workflow on a real (single-node) SLURM cluster started by tests/cluster/slurm_local.sh.

1. The cluster: started once per session by the ``slurm_cluster`` fixture (as root, from Debian's
   slurm-wlm and munge packages), stopped by its finalizer whatever happens. Where it cannot start
   (not root, no apt, daemons fail) every test here is *skipped* with the reason; with
   ``EISNN_REQUIRE_SLURM=1`` that becomes a failure instead.
2. Plain SLURM: sbatch works, --time/--mem/--cpus-per-task reach the job, an array job runs; then
   snakemake-executor-plugin-slurm on a minimal workflow (tests/cluster/mini): local rule stays
   local, array job, per-rule resources, squeue as the status command.
3. The smoke preset through profiles/slurm with `--jobs 1` (ten times more ready jobs than
   `jobs:`, the width at which array mode stalls), compared with a local run of the preset: the
   session's reference run (tests/smoke_reference.py), started here in the background, at a
   lower priority, while the SLURM run keeps one core busy at most. Both run in copies of one
   snapshot of the workflow that carries its own src/eisnn, so that edits to the tree while the
   test runs cannot make them differ.

Knobs: EISNN_REQUIRE_SLURM=1 (fail instead of skip), EISNN_SLURM_KEEP=1 (leave the cluster
running after the session), EISNN_SKIP_SLURM=1 (skip everything here, with that reason).
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CLUSTER_SCRIPT = ROOT / "tests" / "cluster" / "slurm_local.sh"
MINI = ROOT / "tests" / "cluster" / "mini"
STATE_DIR = Path(os.environ.get("SLURM_LOCAL_DIR", "/var/lib/eisnn-slurm-local"))
SLURM_CONF = STATE_DIR / "etc" / "slurm.conf"
LOCK_FILE = Path("/tmp/eisnn-slurm-local.lock")
PARTITION = "debug"
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
# Runs through SLURM: the same Snakemake and plugin, with the status checks at a steady interval
# instead of the plugin's growing one (tests/cluster/steady_status_checks.py).
SNAKEMAKE_SLURM = [sys.executable, str(ROOT / "tests" / "cluster" / "steady_status_checks.py")]
# The smoke preset without its target-rate experiment: calibration is covered by test_calibration
# and test_workflow, and the cluster path is the same for every training job; this keeps CI short.
SKIP_RATE_EXPERIMENT = "experiments={fmnist_rate: {enabled: false}}"
SKIPPED_EXPERIMENTS = {"fmnist_rate"}  # compared with the reference run (the whole preset) without it
# The SLURM run keeps at most one job queued: the 11 training packs of the smoke preset are
# ready at once, eleven times `jobs:` (array mode's failure needs only more ready than jobs).
WIDE_DAG_JOBS = 1
STALL_LIMIT_S = 1500
# Faster status polling than the plugin's defaults (40 s, then +10 s per idle check; with
# SNAKEMAKE_SLURM every 2 s throughout);
# squeue, not sacct: the test cluster has no slurmdbd (sacct fails), MinJobAge=3600.
FAST_STATUS = [
    "--slurm-status-command", "squeue",
    "--slurm-init-seconds-before-status-checks", "2",
    "--seconds-between-status-checks", "2",
    "--slurm-keep-successful-logs",
]


def _say(message: str) -> None:
    print(f"[test_slurm] {message}", file=sys.stderr, flush=True)


def _skip_or_fail(reason: str):
    _say(f"SKIP: {reason}")
    if os.environ.get("EISNN_REQUIRE_SLURM") == "1":
        pytest.fail(f"{reason} (EISNN_REQUIRE_SLURM=1)")
    pytest.skip(reason)


def run(cmd, *, timeout: float = 60, check: bool = True, env=None, cwd=None) -> subprocess.CompletedProcess:
    """Run a command in its own process group; on timeout kill the whole group (snakemake
    ignores SIGTERM while it waits on jobs, so `timeout`-style SIGTERM is not enough)."""
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=env, cwd=cwd, start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        raise AssertionError(f"timed out after {timeout} s: {' '.join(map(str, cmd))}\n{out[-6000:]}")
    result = subprocess.CompletedProcess(cmd, proc.returncode, out, "")
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}: {' '.join(map(str, cmd))}\n{out[-6000:]}")
    return result


def slurm_env() -> dict[str, str]:
    env = dict(os.environ, SLURM_CONF=str(SLURM_CONF))
    env["PATH"] = "/usr/sbin:/usr/bin:/sbin:/bin:" + env.get("PATH", "")
    for key in [k for k in env if k.startswith("SLURM_") and k != "SLURM_CONF"]:
        del env[key]  # never inherit an enclosing job's context
    return env


# ---------------------------------------------------------------------------------------------
# The cluster
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def slurm_cluster(request):
    """Start the local cluster once per session; the finalizer always stops it again."""
    if os.environ.get("EISNN_SKIP_SLURM") == "1":
        pytest.skip("EISNN_SKIP_SLURM=1: SLURM tests switched off")
    if os.geteuid() != 0:
        _skip_or_fail(f"local SLURM cluster not started: needs root (uid {os.geteuid()})")
    if shutil.which("apt-get") is None and shutil.which("slurmctld") is None:
        _skip_or_fail("local SLURM cluster not started: slurm not installed and no apt-get")

    # One session at a time owns the cluster (several pytest sessions may share a machine).
    lock = open(LOCK_FILE, "w")
    deadline = time.monotonic() + float(os.environ.get("EISNN_SLURM_LOCK_WAIT", 900))
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() > deadline:
                lock.close()
                _skip_or_fail(f"local SLURM cluster busy: another test session holds {LOCK_FILE}")
            time.sleep(2)

    def stop():
        if os.environ.get("EISNN_SLURM_KEEP") == "1":
            _say("EISNN_SLURM_KEEP=1: leaving the cluster running")
        else:
            started = time.perf_counter()
            result = subprocess.run(["bash", str(CLUSTER_SCRIPT), "down"], capture_output=True, text=True, timeout=120)
            _say(f"cluster stopped in {time.perf_counter() - started:.1f} s (rc {result.returncode})\n{result.stderr}")
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()

    request.addfinalizer(stop)  # registered before `up`: a half-started cluster is stopped too
    started = time.perf_counter()
    try:
        result = subprocess.run(["bash", str(CLUSTER_SCRIPT), "up"], capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired as error:
        _skip_or_fail(f"local SLURM cluster did not come up within 900 s: {error}")
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        errors = [line for line in result.stderr.splitlines() if line.startswith("[slurm_local] ERROR")]
        headline = errors[-1].removeprefix("[slurm_local] ERROR: ") if errors else f"exit code {result.returncode}"
        _skip_or_fail(
            f"local SLURM cluster failed to start: {headline}\n"
            f"(bash {CLUSTER_SCRIPT.relative_to(ROOT)} up; its output ends:)\n{result.stderr[-3000:]}"
        )
    _say(f"cluster up in {seconds:.1f} s")
    return {"env": slurm_env(), "up_seconds": seconds, "log": result.stderr}


def wait_for_jobs(env, job_ids, timeout: float = 120) -> dict[str, dict[str, str]]:
    """scontrol records of the given jobs (array tasks as '<id>_<task>') once all are finished."""
    deadline = time.monotonic() + timeout
    while True:
        records = scontrol_jobs(env)
        states = {j: records.get(j, {}).get("JobState") for j in job_ids}
        if all(s in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL") for s in states.values()):
            return {j: records[j] for j in job_ids}
        if time.monotonic() > deadline:
            raise AssertionError(f"jobs not finished after {timeout} s: {states}")
        time.sleep(0.5)


def scontrol_jobs(env) -> dict[str, dict[str, str]]:
    """Every job slurmctld still knows (MinJobAge=3600), keyed by JobId and, for array tasks,
    also by '<ArrayJobId>_<ArrayTaskId>'."""
    out = run(["scontrol", "-o", "show", "job"], env=env, check=False).stdout
    records = {}
    for line in out.splitlines():
        fields = dict(m.groups() for m in re.finditer(r"(\S+?)=(\S*)", line))
        if "JobId" not in fields:
            continue
        records[fields["JobId"]] = fields
        if fields.get("ArrayTaskId", "").isdigit():
            records[f"{fields['ArrayJobId']}_{fields['ArrayTaskId']}"] = fields
    return records


def minutes(time_limit: str) -> int:
    """SLURM TimeLimit ('7:00', '00:07:00', '1-00:00:00') in minutes."""
    days, _, rest = time_limit.rpartition("-")
    parts = [int(p) for p in rest.split(":")]
    while len(parts) < 3:
        parts.insert(0, 0)
    h, m, s = parts
    return int(days or 0) * 1440 + h * 60 + m + (1 if s else 0)


def megabytes(memory: str) -> int:
    number, unit = re.fullmatch(r"([\d.]+)([KMGT]?)", memory).groups()
    return round(float(number) * {"K": 1 / 1024, "M": 1, "": 1, "G": 1024, "T": 1024**2}[unit])


def sbatch(env, *args: str) -> str:
    return run(["sbatch", "--parsable", *args], env=env).stdout.strip().split(";")[0]


def test_cluster_is_up(slurm_cluster):
    env = slurm_cluster["env"]
    info = run(["sinfo", "-h", "-o", "%P|%a|%T|%N"], env=env).stdout.split()
    _say(f"sinfo: {info}; bring-up {slurm_cluster['up_seconds']:.1f} s")
    assert any(line.startswith(f"{PARTITION}*|up|idle|") for line in info), info
    config = run(["scontrol", "show", "config"], env=env).stdout
    assert re.search(r"MinJobAge\s*=\s*3600", config)
    assert re.search(r"AccountingStorageType\s*=\s*accounting_storage/none", config) or "AccountingStorageType" not in config
    # No slurmdbd: sacct fails, which is why every Snakemake run here passes
    # --slurm-status-command squeue (the plugin picks sacct whenever the binary exists).
    sacct = run(["sacct", "-X", "--parsable2", "--noheader", "--format=JobIdRaw,State"], env=env, check=False)
    assert sacct.returncode != 0 and "accounting storage is disabled" in sacct.stdout, sacct.stdout


def test_sbatch_resources_reach_the_job(slurm_cluster, tmp_path):
    env = slurm_cluster["env"]
    job = sbatch(
        env, "--time=7", "--mem=300", "--cpus-per-task=2", "--job-name=eisnn-test",
        f"--output={tmp_path}/%j.out", "--wrap", "echo cpus=$SLURM_CPUS_PER_TASK mem=$SLURM_MEM_PER_NODE; srun hostname -s",
    )
    record = wait_for_jobs(env, [job])[job]
    _say(f"job {job}: {record['JobState']} TimeLimit={record['TimeLimit']} "
         f"MinMemoryNode={record['MinMemoryNode']} CPUs/Task={record['CPUs/Task']} Partition={record['Partition']}")
    assert record["JobState"] == "COMPLETED"
    assert minutes(record["TimeLimit"]) == 7
    assert megabytes(record["MinMemoryNode"]) == 300
    assert record["CPUs/Task"] == "2"
    assert record["Partition"] == PARTITION
    out = (tmp_path / f"{job}.out").read_text().split()
    assert out[:2] == ["cpus=2", "mem=300"], out
    assert out[2] == run(["hostname", "-s"]).stdout.strip()  # srun inside the batch job works


def test_array_job_runs_every_task(slurm_cluster, tmp_path):
    env = slurm_cluster["env"]
    job = sbatch(
        env, "--array=0-2", "--time=2", "--mem=100", f"--output={tmp_path}/%A_%a.out",
        "--wrap", "echo task=$SLURM_ARRAY_TASK_ID of=$SLURM_ARRAY_JOB_ID",
    )
    tasks = [f"{job}_{i}" for i in range(3)]
    records = wait_for_jobs(env, tasks)
    assert [records[t]["JobState"] for t in tasks] == ["COMPLETED"] * 3
    for i in range(3):
        assert (tmp_path / f"{job}_{i}.out").read_text().split() == [f"task={i}", f"of={job}"]
    _say(f"array job {job}: tasks {tasks} COMPLETED")


# ---------------------------------------------------------------------------------------------
# snakemake-executor-plugin-slurm, on a workflow of our own
# ---------------------------------------------------------------------------------------------


def parse_snakemake_log(text: str):
    """Jobs of a Snakemake run: {jobid: {"rule", "local", "resources", "threads"}} and the
    SLURM ids they were submitted under ({jobid: '<id>' or '<arrayid>_<task>'})."""
    jobs = {}
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", text):
        header = re.search(r"^(local)?rule (\w+):$", block, flags=re.MULTILINE)
        jobid = re.search(r"^\s+jobid: (\d+)$", block, flags=re.MULTILINE)
        if not header or not jobid:
            continue
        found = re.search(r"^\s+resources: (.*)$", block, flags=re.MULTILINE)
        resources = dict(item.split("=", 1) for item in found.group(1).split(", ")) if found else {}
        threads = re.search(r"^\s+threads: (\d+)$", block, flags=re.MULTILINE)
        jobs[int(jobid.group(1))] = {
            "rule": header.group(2),
            "local": bool(header.group(1)),
            "resources": resources,
            "threads": int(threads.group(1)) if threads else 1,
        }
    slurm_ids = {}
    for m in re.finditer(r"Job (\d+) has been submitted with SLURM jobid (\d+)", text):
        slurm_ids[int(m.group(1))] = m.group(2)
    arrays = []
    for m in re.finditer(
        r"Submitted array job with Snakemake IDs ([\d,]+) and SLURM job ID (\d+)\. "
        r"The individual task IDs are (\d+)-(\d+)", text
    ):
        ids = [int(i) for i in m.group(1).split(",")]
        start = int(m.group(3))
        arrays.append((m.group(2), ids))
        for offset, jobid in enumerate(ids):
            slurm_ids[jobid] = f"{m.group(2)}_{start + offset}"
    run_id = re.search(r"SLURM run ID: (\S+)", text)
    return jobs, slurm_ids, arrays, run_id.group(1) if run_id else None


def check_slurm_run(env, workdir: Path, log: str, *, array_rules: set[str], expected_local: set[str]):
    """Every non-local job went through sbatch (log line, slurmctld record, slurm log file),
    under the run's job name, with the resources Snakemake computed for it."""
    jobs, slurm_ids, arrays, run_id = parse_snakemake_log(log)
    assert jobs, f"no jobs parsed from the Snakemake log:\n{log[-3000:]}"
    assert run_id, "no 'SLURM run ID' in the log: was the slurm executor used?"
    records = scontrol_jobs(env)
    remote = {j: info for j, info in jobs.items() if not info["local"]}
    local_rules = {info["rule"] for info in jobs.values() if info["local"]}
    assert local_rules <= expected_local, f"rules run locally that should be SLURM jobs: {local_rules - expected_local}"
    assert remote, "no job went to SLURM"
    # The plugin submits all tasks of an array with the resources of the array's first job
    # (run_array_jobs uses jobs[0]).
    first_of_array = {jobid: ids[0] for _, ids in arrays for jobid in ids}
    summary = {}
    for jobid, info in sorted(remote.items()):
        rule = info["rule"]
        assert jobid in slurm_ids, f"job {jobid} (rule {rule}) was not submitted with sbatch"
        sid = slurm_ids[jobid]
        record = records.get(sid)
        assert record is not None, f"job {jobid} (rule {rule}): SLURM job {sid} unknown to slurmctld"
        assert record["JobState"] == "COMPLETED", (rule, sid, record["JobState"])
        assert record["JobName"] == run_id
        assert record["Comment"].startswith(f"rule_{rule}")
        assert record["Partition"] == PARTITION
        res = info["resources"]
        is_array = "_" in sid
        if is_array and jobid in first_of_array:
            res = jobs[first_of_array[jobid]]["resources"]
        if rule in array_rules:
            assert is_array, f"job {jobid} (rule {rule}) was not submitted as an array task"
        if "runtime" in res:
            assert minutes(record["TimeLimit"]) == int(res["runtime"]), (rule, sid, record["TimeLimit"], res["runtime"])
        if "mem_mb" in res:
            mem = megabytes(record["MinMemoryNode"])
            want = int(res["mem_mb"])
            # array jobs: the plugin adds a few MB for the encoded task list ("memory fudge")
            assert (want <= mem <= want + 64) if is_array else mem == want, (rule, sid, mem, want)
        cpus = int(res.get("cpus_per_task", jobs[first_of_array.get(jobid, jobid)]["threads"]))
        assert int(record["CPUs/Task"]) == max(1, cpus), (rule, sid, record["CPUs/Task"], cpus)
        summary.setdefault(rule, []).append(
            f"{sid}:t={record['TimeLimit']},mem={record['MinMemoryNode']},cpus={record['CPUs/Task']}"
        )
    # the plugin's own per-job logs (kept with --slurm-keep-successful-logs)
    logdir = workdir / ".snakemake" / "slurm_logs"
    logs = sorted(p.relative_to(logdir).as_posix() for p in logdir.rglob("*.log"))
    for jobid, info in remote.items():
        sid = slurm_ids[jobid]
        assert any(p.startswith(f"rule_{info['rule']}/") and p.endswith(f"/{sid}.log") or p == f"rule_{info['rule']}/{sid}.log"
                   for p in logs), f"no slurm log for job {jobid} ({info['rule']}, {sid}) in {logdir}: {logs[:20]}"
    for rule, entries in sorted(summary.items()):
        _say(f"  {rule}: {len(entries)} SLURM job(s), e.g. {entries[0]}")
    for array_id, ids in arrays:
        _say(f"  array job {array_id}: {len(ids)} tasks (Snakemake jobs {ids})")
    return jobs, slurm_ids, arrays


def test_executor_plugin_on_mini_workflow(slurm_cluster, tmp_path):
    """tests/cluster/mini: a local rule, three `train` jobs as one array job, one `report` job."""
    env = slurm_cluster["env"]
    workdir = tmp_path / "mini"
    shutil.copytree(MINI, workdir)
    started = time.perf_counter()
    result = run([*SNAKEMAKE_SLURM, "--workflow-profile", "profile", *FAST_STATUS], cwd=workdir, env=env, timeout=300)
    seconds = time.perf_counter() - started
    _say(f"mini workflow through SLURM: {seconds:.0f} s")
    profile = yaml.safe_load((workdir / "profile" / "config.yaml").read_text())
    jobs, slurm_ids, arrays = check_slurm_run(
        env, workdir, result.stdout, array_rules={"train"}, expected_local={"all", "fetch"}
    )
    assert sorted(info["rule"] for info in jobs.values()) == ["all", "fetch", "report", "train", "train", "train"]
    assert len(arrays) == 1 and len(arrays[0][1]) == 3
    # profile set-resources -> Snakemake -> sbatch (checked against scontrol above)
    for jobid, info in jobs.items():
        for key, value in profile["set-resources"].get(info["rule"], {}).items():
            assert info["resources"][key] == str(value), (info["rule"], key)
    report = (workdir / "out" / "report.txt").read_text().split("\n")
    array_id = arrays[0][0]
    assert all("job=" in line and f"array={array_id}_" in line for line in report if line), report


# ---------------------------------------------------------------------------------------------
# The smoke preset through profiles/slurm
# ---------------------------------------------------------------------------------------------


def declared_localrules() -> set[str]:
    """Rule names listed in `localrules:` blocks of the Snakefile and workflow/rules/*.smk."""
    names = set()
    for path in [ROOT / "Snakefile", *sorted((ROOT / "workflow" / "rules").glob("*.smk"))]:
        for block in re.finditer(r"^localrules:\s*\n((?:[ \t]+\S.*\n?)+)|^localrules:(.*)$", path.read_text(), flags=re.MULTILINE):
            names |= set(re.findall(r"\w+", block.group(1) or block.group(2)))
    return names


def node_limits(env) -> tuple[int, int]:
    line = run(["scontrol", "-o", "show", "node"], env=env).stdout.splitlines()[0]
    fields = dict(m.groups() for m in re.finditer(r"(\S+?)=(\S*)", line))
    return int(fields["CPUTot"]), int(fields["RealMemory"])


def localise_profile(profile_file: Path, cpus: int, mem_mb: int) -> dict:
    """The slurm profile, pointed at the local cluster: partition -> debug, no account, no GPU,
    cpus/mem clamped to the single node. Everything else (runtime, array jobs...) is kept."""
    profile = yaml.safe_load(profile_file.read_text()) or {}

    def fix(resources):
        if isinstance(resources, list):  # "key=value" list form
            resources = dict(item.split("=", 1) for item in resources)
        out = {}
        for key, value in (resources or {}).items():
            if key in ("slurm_account", "gpu", "gres", "gpu_model", "constraint", "qos", "slurm_extra"):
                continue
            if key == "slurm_partition":
                value = PARTITION
            if key == "cpus_per_task" and isinstance(value, int):
                value = min(value, cpus)
            if key == "mem_mb" and isinstance(value, int):
                value = min(value, mem_mb - 512)
            out[key] = value
        return out

    profile["default-resources"] = fix(profile.get("default-resources"))
    profile["default-resources"]["slurm_partition"] = PARTITION
    profile["set-resources"] = {rule: fix(res) for rule, res in (profile.get("set-resources") or {}).items()}
    for key in ("slurm-qos", "slurm-reservation", "slurm-partition-config", "slurm-logdir"):
        profile.pop(key, None)
    profile_file.write_text(yaml.safe_dump(profile, sort_keys=False))
    return profile


@pytest.fixture(scope="session")
def smoke_prerequisites():
    missing = [p for p in ("Snakefile", "profiles/slurm/config.yaml", "config/presets/smoke.yaml") if not (ROOT / p).exists()]
    if missing:
        pytest.skip(f"smoke preset not runnable yet: missing {', '.join(missing)}")


@pytest.fixture(scope="module")
def smoke_local(smoke_reference):
    """A folder holding the results/ of the reference run (the whole smoke preset, run locally:
    tests/smoke_reference.py) as the run left them; skips when the run fails, as when it ran
    before the SLURM run."""
    _say(f"smoke preset, local reference run: {smoke_reference['seconds']:.0f} s")
    if smoke_reference["returncode"] != 0:
        pytest.skip(f"smoke preset not runnable yet: the local run fails (rc {smoke_reference['returncode']}):\n"
                    f"{smoke_reference['log'][-3000:]}")
    return smoke_reference["as_left"]


@pytest.fixture(scope="module")
def smoke_slurm(slurm_cluster, smoke_prerequisites, smoke_sources, smoke_reference_run, tmp_path_factory, request):
    smoke_reference_run.start(background=True)  # the local reference, beside this run
    # The copy's src/ is the library: the Snakefile puts it on PYTHONPATH, which sbatch
    # (--export=ALL) passes on to the jobs.
    env = slurm_cluster["env"]
    workdir = tmp_path_factory.mktemp("smoke_slurm") / "wf"
    shutil.copytree(smoke_sources, workdir, symlinks=True)
    cpus, mem = node_limits(env)
    profile = localise_profile(workdir / "profiles" / "slurm" / "config.yaml", cpus, mem)
    cmd = [
        *SNAKEMAKE_SLURM, "--workflow-profile", "profiles/slurm", "--executor", "slurm",
        *FAST_STATUS, "--latency-wait", "10", "--max-threads", str(cpus), "--jobs", str(WIDE_DAG_JOBS), "--verbose",
        "figures", "--config", "preset=smoke", SKIP_RATE_EXPERIMENT,
    ]
    _say(f"smoke preset through SLURM: snakemake {' '.join(cmd[len(SNAKEMAKE_SLURM):])}")
    started = time.perf_counter()
    # A stalled run never ends: the time limit (several times the measured ~5 min) fails it.
    result = run(cmd, cwd=workdir, env=env, check=False, timeout=STALL_LIMIT_S)
    seconds = time.perf_counter() - started
    _say(f"smoke preset through SLURM: rc {result.returncode}, {seconds:.0f} s")
    (workdir / "slurm_run.log").write_text(result.stdout)
    request.getfixturevalue("smoke_local")  # a failed local run skips, as when it ran first
    assert result.returncode == 0, f"smoke preset through SLURM failed:\n{result.stdout[-6000:]}"
    return {"workdir": workdir, "log": result.stdout, "profile": profile, "env": env, "seconds": seconds}


def parse_group_jobs(text: str) -> list[dict]:
    """Group jobs of a Snakemake run: {"group", "members": [(rule, jobid, resources)], "slurm_id"}.

    Snakemake prints each selected group's header with its member jobs indented below it; the
    plugin then prints one submission line per group, in the order the groups were printed
    (several groups can be selected at once)."""
    events = re.compile(
        r"^\[[^\]]*\] Group job (?P<group>\w+) \(jobs in lexicogr\. order\):$"
        r"|^Job [0-9a-f-]{36} has been submitted with SLURM jobid (?P<sid>\d+)",
        flags=re.MULTILINE,
    )
    matches = list(events.finditer(text))
    pending, groups = [], []
    for i, match in enumerate(matches):
        if match.group("sid"):
            if pending:
                group = pending.pop(0)
                group["slurm_id"] = match.group("sid")
                groups.append(group)
            continue
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        members = []
        for block in re.split(r"\n(?=    rule \w+:)", text[match.end():end]):
            header = re.search(r"^    rule (\w+):$", block, flags=re.MULTILINE)
            jobid = re.search(r"^\s+jobid: (\d+)$", block, flags=re.MULTILINE)
            found = re.search(r"^\s+resources: (.*)$", block, flags=re.MULTILINE)
            if header and jobid and found:
                resources = dict(item.split("=", 1) for item in found.group(1).split(", "))
                members.append((header.group(1), int(jobid.group(1)), resources))
        pending.append({"group": match.group("group"), "members": members})
    assert not pending, f"group jobs printed but never submitted: {[g['group'] for g in pending]}"
    return groups


@pytest.mark.slow
def test_smoke_preset_jobs_go_through_sbatch_without_stalling(smoke_slurm):
    """No array jobs (they stall wide DAGs: plugin issue #473); each training pack and its runs'
    metrics are one SLURM job, with the summed runtime and the largest memory of its jobs."""
    profile = smoke_slurm["profile"]
    log = smoke_slurm["log"]
    assert "slurm-array-jobs" not in profile, "array jobs stall a DAG wider than `jobs:` (plugin issue #473)"
    ready = [int(n) for n in re.findall(r"^Ready jobs: (\d+)$", log, flags=re.MULTILINE)]
    assert ready and max(ready) >= 10 * WIDE_DAG_JOBS, f"the DAG was never ten times wider than jobs: {ready[:20]}"
    jobs, slurm_ids, arrays = check_slurm_run(
        smoke_slurm["env"], smoke_slurm["workdir"], log, array_rules=set(), expected_local=declared_localrules(),
    )
    assert not arrays
    groups = parse_group_jobs(log)
    members = {rule for group in groups for rule, _, _ in group["members"]}
    assert {"train", "train_shd", "run_metrics", "statistics", "fig1b", "fig5"} <= members, members
    records = scontrol_jobs(smoke_slurm["env"])
    packs = [g for g in groups if g["group"] == "pack"]
    assert len(packs) == 11  # every training pack of the smoke preset (fmnist_rate off)
    # Each group job asks for the summed runtime and the largest memory of its jobs. Compared as
    # multisets per group name: when Snakemake selects several groups at once, the plugin's
    # submission lines need not follow the order in which the groups were printed.
    expected, submitted = Counter(), Counter()
    for group in groups:
        runtime = sum(int(res["runtime"]) for _, _, res in group["members"])
        mem = max(int(res["mem_mb"]) for _, _, res in group["members"])
        expected[(group["group"], runtime, mem)] += 1
        record = records[group["slurm_id"]]
        assert record["JobState"] == "COMPLETED", (group["group"], record["JobState"])
        name = record["Comment"].removeprefix("rule_").split("_")[0]
        assert name in ("pack", "summary"), record["Comment"]
        submitted[(name, minutes(record["TimeLimit"]), megabytes(record["MinMemoryNode"]))] += 1
        assert record["CPUs/Task"] == "1"
    assert submitted == expected
    for pack in packs:
        rules = sorted(rule for rule, _, _ in pack["members"])
        assert rules.count("run_metrics") == 2 and len(rules) == 3, rules  # 2 runs per smoke pack
    _say(f"wide DAG through SLURM: up to {max(ready)} ready jobs for jobs: {WIDE_DAG_JOBS}; "
         f"{len(groups)} group jobs ({len(packs)} packs), {smoke_slurm['seconds']:.0f} s")


def _result_files(workdir: Path, pattern: str, leave_out: set[str] = frozenset()) -> dict[str, Path]:
    """Files under results/ matching `pattern`, by path below results/, but for those of the
    experiments in `leave_out` (results/<preset>/<experiment>[@variant]/...)."""
    base = workdir / "results"
    files = {p.relative_to(base).as_posix(): p for p in base.rglob(pattern)}
    return {name: p for name, p in files.items() if (name.split("/") + [""])[1].split("@")[0] not in leave_out}


@pytest.mark.slow
def test_smoke_preset_results_match_a_local_run(smoke_slurm, smoke_local):
    import numpy as np
    import pandas as pd

    slurm_dir = smoke_slurm["workdir"]
    histories = _result_files(smoke_local, "history.csv", SKIPPED_EXPERIMENTS)
    weights = _result_files(smoke_local, "weights_epoch-*.npz", SKIPPED_EXPERIMENTS)
    assert histories and weights, "the local smoke run wrote no history.csv / weights npz"
    assert _result_files(slurm_dir, "history.csv").keys() == histories.keys()
    assert _result_files(slurm_dir, "weights_epoch-*.npz").keys() == weights.keys()
    for name, path in histories.items():
        local = pd.read_csv(path).drop(columns=["seconds"], errors="ignore")
        remote = pd.read_csv(slurm_dir / "results" / name).drop(columns=["seconds"], errors="ignore")
        pd.testing.assert_frame_equal(local, remote, check_exact=True, obj=name)
    identical_bytes = 0
    for name, path in weights.items():
        other = slurm_dir / "results" / name
        identical_bytes += path.read_bytes() == other.read_bytes()
        with np.load(path) as a, np.load(other) as b:
            assert sorted(a.files) == sorted(b.files), name
            for key in a.files:
                assert np.array_equal(a[key], b[key]), f"{name}:{key} differs"
    metrics = _result_files(smoke_local, "metrics/*.csv", SKIPPED_EXPERIMENTS)
    for name, path in metrics.items():
        pd.testing.assert_frame_equal(pd.read_csv(path), pd.read_csv(slurm_dir / "results" / name), check_exact=True, obj=name)
    _say(f"identical to the local run: {len(histories)} history.csv (all columns but seconds), "
         f"{len(weights)} weights npz (arrays equal; {identical_bytes} also byte-identical), {len(metrics)} metrics csv")
