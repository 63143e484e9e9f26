"""Deployment: the conda environments of the rules, the pins, the catalog files, and a Snakefile that
needs nothing but Snakemake (README, Deployment).

`snakemake --sdm conda` itself is not run: no conda frontend installs here and no conda channel is
reachable (README, Deployment). What it would build is checked from the environment files instead.
"""

import os
import re
import shutil
import subprocess
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, packages_distributions, requires, version
from pathlib import Path

import pytest
import yaml
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
DEPENDENCIES = PYPROJECT["project"]["dependencies"]
EXTRAS = PYPROJECT["project"]["optional-dependencies"]
ENVS = ROOT / "workflow" / "envs"
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def _env_file(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def _pip(env: dict) -> list[str]:
    (pip,) = [item["pip"] for item in env["dependencies"] if isinstance(item, dict)]
    return pip


def _rule_blocks() -> dict[str, str]:
    """{rule name: its text} of every rule and checkpoint in the Snakefile and workflow/rules/."""
    blocks = {}
    for path in [ROOT / "Snakefile", *sorted((ROOT / "workflow" / "rules").glob("*.smk"))]:
        text = path.read_text()
        for match in re.finditer(r"^(?:rule|checkpoint) (\w+):\n((?:[ \t]+.*\n|\n)*)", text, flags=re.MULTILINE):
            blocks[match.group(1)] = match.group(2)
    return blocks


def _env_variables() -> dict[str, str]:
    """The names the rules give `conda:` (set in common.smk) -> the environment file, relative to workflow/rules/."""
    common = (ROOT / "workflow" / "rules" / "common.smk").read_text()
    return dict(re.findall(r'^(\w*ENV) = "([^"]+)"$', common, flags=re.MULTILINE))


# ---------------------------------------------------------------------------------------------
# The environments of the rules
# ---------------------------------------------------------------------------------------------


def test_every_rule_that_runs_code_names_an_environment_file():
    variables = _env_variables()
    blocks = _rule_blocks()
    running = {name: text for name, text in blocks.items() if re.search(r"^\s+(script|shell|run):", text, re.M)}
    assert len(running) >= 15, sorted(running)
    used = set()
    for name, text in running.items():
        found = re.search(r"^\s+conda:\n\s+(\w+)\n", text, flags=re.MULTILINE)
        assert found, f"rule {name} has no conda: environment"
        assert found.group(1) in variables, f"rule {name}: conda: {found.group(1)} is not an environment of common.smk"
        used.add(found.group(1))
        env_file = (ROOT / "workflow" / "rules" / variables[found.group(1)]).resolve()
        assert env_file.parent == ENVS and env_file.is_file(), (name, env_file)
    assert used == set(variables)
    # `use rule X as Y` inherits X's environment: train_shd is train's.
    assert "use rule train as train_shd with:" in (ROOT / "workflow" / "rules" / "training.smk").read_text()
    assert "export" in re.search(r"^\s+conda:\n\s+(\w+)", blocks["export_nir_run"], re.M).group(1).lower()


def test_environment_files_install_exactly_the_dependencies_of_pyproject():
    """eisnn.yaml is the library's dependencies, export.yaml those and the `export` extra, each as
    pyproject.toml writes it, on the Python that pyproject requires, and no local path."""
    expected = {"eisnn.yaml": DEPENDENCIES, "export.yaml": [*DEPENDENCIES, *EXTRAS["export"]]}
    assert sorted(p.name for p in ENVS.glob("*.yaml")) == sorted(expected)
    requires_python = SpecifierSet(PYPROJECT["project"]["requires-python"])
    for name, requirements in expected.items():
        env = _env_file(ENVS / name)
        assert env["channels"] == ["conda-forge"]
        conda = [item for item in env["dependencies"] if isinstance(item, str)]
        (python,) = [item for item in conda if item.startswith("python=")]
        assert Version(python.removeprefix("python=")) in requires_python and "pip" in conda
        pip = _pip(env)
        assert pip == requirements, name
        for line in pip:
            Requirement(line)  # a PyPI requirement: no -e, no path, no URL
            assert not line.startswith(("-", ".", "/")) and "://" not in line and "file:" not in line, line


def test_no_environment_names_the_checkout():
    """Snakemake builds an environment from its copy in .snakemake/conda/<hash>.yaml, where a path
    relative to the env file points nowhere: the library reaches the jobs through PYTHONPATH."""
    for path in [*ENVS.glob("*.yaml"), ROOT / "environment.yml"]:
        env = _env_file(path)
        if path.parent == ENVS:
            assert not any("eisnn" in line for line in _pip(env)), path
    snakefile = (ROOT / "Snakefile").read_text()
    assert 'os.path.join(workflow.basedir, "src")' in snakefile and "os.environ.update(PYTHONPATH=" in snakefile


def test_the_root_environment_installs_the_checkout_with_the_pinned_torch():
    """environment.yml (conda env create -f environment.yml, from the repository root, where
    conda resolves `-e .`): the torch make setup installs, then the library with its extras."""
    pip = _pip(_env_file(ROOT / "environment.yml"))
    assert pip == ["torch==2.13.0", "-e .[workflow,test]"]


# ---------------------------------------------------------------------------------------------
# Pins
# ---------------------------------------------------------------------------------------------


def _pyproject_requirement(name: str) -> Requirement:
    everything = [*DEPENDENCIES, *(r for extra in EXTRAS.values() for r in extra)]
    found = [Requirement(r) for r in everything if canonicalize_name(Requirement(r).name) == canonicalize_name(name)]
    assert found, name
    return found[0]


def test_pins_agree_with_pyproject():
    """The torch that make setup and environment.yml install satisfies pyproject's range, which
    admits no newer release than the one tested (pip would fetch a CUDA build of one); Snakemake
    is bounded below the next major version (the rules use its script preamble and configfile
    semantics); the SLURM plugin is the version profiles/slurm is tested with (>= 2.6)."""
    torch = _pyproject_requirement("torch").specifier
    makefile = (ROOT / "Makefile").read_text()
    pinned = set(re.findall(r"torch==([\d.]+)", makefile)) | set(
        re.findall(r"torch==([\d.]+)", (ROOT / "environment.yml").read_text())
    )
    assert pinned == {"2.13.0"} and Version("2.13.0") in torch
    assert Version("2.14.0") not in torch and Version("3.0") not in torch
    snakemake = _pyproject_requirement("snakemake").specifier
    assert Version("9.0") in snakemake and Version("10.0") not in snakemake
    assert Version(version("snakemake")) in snakemake
    slurm = _pyproject_requirement("snakemake-executor-plugin-slurm").specifier
    assert str(slurm) == "==2.8.0" and Version("2.8.0") >= Version("2.6")
    try:
        assert Version(version("snakemake-executor-plugin-slurm")) in slurm
    except PackageNotFoundError:
        pytest.skip("snakemake-executor-plugin-slurm is not installed")


# ---------------------------------------------------------------------------------------------
# The Snakefile with nothing but Snakemake
# ---------------------------------------------------------------------------------------------


def _closure(name: str) -> set[str]:
    """Canonical names of a distribution and everything it requires (extras left out)."""
    seen, todo = set(), [name]
    marker_env = {**default_environment(), "extra": ""}
    while todo:
        current = canonicalize_name(todo.pop())
        if current in seen:
            continue
        seen.add(current)
        try:
            needed = requires(current) or []
        except PackageNotFoundError:
            continue
        for line in needed:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate(marker_env):
                todo.append(requirement.name)
    return seen


def _not_brought_by_snakemake() -> set[str]:
    """Top-level modules of the library's dependencies that Snakemake does not install."""
    brought = _closure("snakemake")
    others = {canonicalize_name(Requirement(r).name) for r in DEPENDENCIES} - brought
    return {
        module for module, dists in packages_distributions().items()
        if any(canonicalize_name(d) in others for d in dists) and not module.startswith("_")
    }


HIDE = '''
import builtins
import os
import sys

_hidden = os.path.realpath(os.environ["EISNN_HIDDEN_SRC"])
sys.path[:] = [p for p in sys.path if os.path.realpath(p or ".") != _hidden]
_blocked = set(filter(None, os.environ.get("EISNN_BLOCKED", "").split(",")))
_checkout = os.environ.get("EISNN_CHECKOUT", "//")
_import = builtins.__import__


def _guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
    """Fail an import statement of a blocked module in the checkout's code, even if already loaded
    (Snakemake's plugins may import what they bring)."""
    try:
        caller = sys._getframe(1).f_code.co_filename
    except ValueError:  # an import from C, with no Python caller
        caller = ""
    if level == 0 and name.split(".")[0] in _blocked and caller.startswith(_checkout):
        raise ImportError(f"{name} is not installed here (imported by {caller})")
    return _import(name, globals, locals, fromlist, level)


builtins.__import__ = _guarded_import
'''


def _checkout(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A copy of the checkout (Snakefile, workflow/, config/, src/) and an environment in which the
    installed library (this repository's src/) is not importable."""
    workdir = tmp_path / "clone"
    workdir.mkdir()
    shutil.copy2(ROOT / "Snakefile", workdir / "Snakefile")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in ("workflow", "config", "src"):
        shutil.copytree(ROOT / name, workdir / name, ignore=ignore)
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text(HIDE)
    env = {**os.environ, "PYTHONPATH": str(hide), "EISNN_HIDDEN_SRC": str(ROOT / "src")}
    return workdir, env


def test_the_snakefile_parses_with_nothing_but_snakemake(tmp_path):
    """A dry run of the smoke preset from a copy of the checkout, with the installed library
    unimportable and every dependency of it that Snakemake does not bring (torch, numpy, scipy,
    pandas, h5py, ...) unimportable for the workflow's and the library's code (Snakemake's plugins
    may import what they bring): the Snakefile imports the library from its own src/, and the
    modules that build the DAG need only the standard library, PyYAML and jsonschema."""
    blocked = _not_brought_by_snakemake()
    assert {"torch", "numpy", "pandas", "scipy", "h5py", "matplotlib"} <= blocked
    assert not {"yaml", "jsonschema"} & blocked
    workdir, env = _checkout(tmp_path)
    env.update(EISNN_BLOCKED=",".join(sorted(blocked)), EISNN_CHECKOUT=str(workdir))
    probe = subprocess.run([sys.executable, "-c", "import eisnn"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert probe.returncode != 0 and "No module named 'eisnn'" in probe.stderr  # hidden indeed
    (workdir / "probe.py").write_text("import numpy\n")
    probe = subprocess.run([sys.executable, str(workdir / "probe.py")], env=env, capture_output=True, text=True)
    assert "numpy is not installed here" in probe.stderr  # blocked for the checkout's code
    (workdir / "probe.py").unlink()
    result = subprocess.run(
        [*SNAKEMAKE, "--directory", str(workdir), "--snakefile", str(workdir / "Snakefile"), "--dry-run",
         "figures", "--config", "preset=smoke"],
        capture_output=True, text=True, timeout=300, env=env,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "This was a dry-run" in output and re.search(r"^train\s+\d+$", output, flags=re.MULTILINE)


def test_a_job_imports_the_library_of_its_checkout(tmp_path):
    """A real job (the smoke preset's synthetic encoding) from a copy of the checkout, with the
    installed library unimportable: the job's script finds the copy's src/ through the PYTHONPATH
    the Snakefile sets, as a job in a conda environment without the library does."""
    workdir, env = _checkout(tmp_path)
    target = "results/smoke/encoded/synthetic/test.h5"
    result = subprocess.run(
        [*SNAKEMAKE, "--directory", str(workdir), "--snakefile", str(workdir / "Snakefile"), "--cores", "1",
         target, "--config", "preset=smoke"],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert (workdir / target).is_file()


# ---------------------------------------------------------------------------------------------
# The catalog's files
# ---------------------------------------------------------------------------------------------


def _schema_keys(node, keys: set[str]) -> set[str]:
    if isinstance(node, dict):
        keys.update(node.get("properties", {}))
        for value in node.values():
            _schema_keys(value, keys)
    elif isinstance(node, list):
        for value in node:
            _schema_keys(value, keys)
    return keys


def test_config_readme_documents_every_key_and_preset():
    readme = (ROOT / "config" / "README.md").read_text()
    documented = set(re.findall(r"`([a-z_0-9+]+)`", readme))
    schema = yaml.safe_load((ROOT / "config" / "schemas" / "config.schema.yaml").read_text())
    keys = _schema_keys(schema, set())
    assert len(keys) > 60
    assert not keys - documented, f"config keys missing from config/README.md: {sorted(keys - documented)}"
    presets = {p.stem for p in (ROOT / "config" / "presets").glob("*.yaml")}
    for preset in presets:
        assert re.search(rf"^\| `{preset}` \|", readme, flags=re.MULTILINE), preset
    experiments = set(yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["experiments"])
    assert experiments <= documented


def test_license_is_the_mit_license_pyproject_names():
    assert PYPROJECT["project"]["license"] == {"text": "MIT"}
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License\n\nCopyright (c) 2026 the eisnn authors\n")
    assert "Permission is hereby granted, free of charge" in text and 'THE SOFTWARE IS PROVIDED "AS IS"' in text


def test_the_catalog_file_names_the_usage():
    catalog = yaml.safe_load((ROOT / ".snakemake-workflow-catalog.yml").read_text())["usage"]
    assert set(catalog) == {"mandatory-flags", "software-stack-deployment"}
    assert set(catalog["mandatory-flags"]) == {"desc", "flags"}
    assert "--config preset=smoke" in catalog["mandatory-flags"]["desc"]
    deployment = catalog["software-stack-deployment"]
    assert deployment["conda"] is True and deployment["apptainer"] is False and deployment["report"] is True
    assert not list(ROOT.glob("Dockerfile*")) and not list(ROOT.glob("*.def"))  # no container recipe
