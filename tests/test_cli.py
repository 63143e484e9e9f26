"""The command line: bad input ends in one line on stderr that names the problem, never a traceback."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from eisnn.cli import main
from eisnn.data import make_synthetic_splits, save_spikes


def one_line_error(capsys, argv, code=1) -> str:
    """Run ``eisnn argv``; assert it fails with ``code`` and one stderr line; return that line."""
    with pytest.raises(SystemExit) as info:
        status = main(argv)
        raise SystemExit(status)
    assert info.value.code == code
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


@pytest.fixture(scope="module")
def splits(tmp_path_factory):
    directory = tmp_path_factory.mktemp("data")
    train, test = make_synthetic_splits(64, 32, n_units=20, n_steps=10, n_classes=2)
    save_spikes(directory / "train.h5", train)
    save_spikes(directory / "test.h5", test)
    return directory / "train.h5", directory / "test.h5"


def test_missing_input_file(capsys, tmp_path, splits):
    _, test = splits
    missing = tmp_path / "nope.h5"
    line = one_line_error(capsys, ["train", "--train", str(missing), "--test", str(test), "--out", str(tmp_path / "r"),
                                   "--sigma", "0.01"])
    assert line.startswith("eisnn train: ") and str(missing) in line


def test_corrupt_encoded_file(capsys, tmp_path, splits):
    _, test = splits
    corrupt = tmp_path / "train.h5"
    corrupt.write_bytes(b"not an HDF5 file at all")
    line = one_line_error(capsys, ["train", "--train", str(corrupt), "--test", str(test), "--out", str(tmp_path / "r"),
                                   "--sigma", "0.01"])
    assert str(corrupt) in line
    assert not (tmp_path / "r" / "run.json").exists()


@pytest.mark.parametrize(
    "content, expected",
    [
        ("{not json", "not valid JSON"),
        ('{"options": {}}', "non-empty 'runs' list"),
        ('{"runs": [{"run_dir": "r", "ratio": 0.8, "sigma_init": 0.01, "noise_frac": 0, "seed": 0, "colour": 1}]}',
         "runs[0]"),
        ('{"runs": [{"run_dir": "r", "ratio": 0.8, "sigma_init": 0.01, "noise_frac": 0, "seed": 0}], '
         '"options": {"readout": "last"}}', "options"),
    ],
)
def test_malformed_pack_file(capsys, tmp_path, splits, content, expected):
    train, test = splits
    pack = tmp_path / "pack.json"
    pack.write_text(content)
    line = one_line_error(capsys, ["train", "--train", str(train), "--test", str(test), "--pack", str(pack)])
    assert str(pack) in line and expected in line


@pytest.mark.parametrize(
    "option, value",
    [("--surrogate", "sigmoid"), ("--readout", "last"), ("--device", "tpu"), ("--ratio", "80"), ("--epochs", "ten")],
)
def test_bad_choices_and_values_are_one_line_usage_errors(capsys, tmp_path, splits, option, value):
    train, test = splits
    line = one_line_error(capsys, ["train", "--train", str(train), "--test", str(test), "--out", str(tmp_path / "r"),
                                   "--sigma", "0.01", option, value], code=2)
    assert option in line and "eisnn train --help" in line


def test_encode_from_a_missing_source(capsys, tmp_path):
    line = one_line_error(capsys, ["encode", "fmnist", "--source", str(tmp_path / "absent"),
                                   "--train-out", str(tmp_path / "a.h5"), "--test-out", str(tmp_path / "b.h5")])
    assert line.startswith("eisnn encode: ") and "absent" in line
    assert not (tmp_path / "a.h5").exists()


def test_help_describes_seed_and_progress():
    text = subprocess.run([sys.executable, "-m", "eisnn", "train", "--help"], capture_output=True, text=True).stdout
    assert "--seed SEED" in text and "initial weights" in text
    assert "--progress, --no-progress" in text and "one line per epoch" in text
    assert "{fast_sigmoid,exponential}" in text and "{max,per_step}" in text


def test_the_installed_command_exits_nonzero_with_one_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "eisnn", "train", "--train", str(tmp_path / "x.h5"),
                             "--test", str(tmp_path / "y.h5"), "--out", str(tmp_path / "r"), "--sigma", "0.01"],
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1 and "x.h5" in result.stderr


# ---------------------------------------------------------------------------------------------
# eisnn metrics and eisnn stats: the workflow's library calls, from the command line
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory, splits):
    """Three tiny runs of two ratios (2 epochs, 12 hidden neurons, per-step readout)."""
    train, test = splits
    root = tmp_path_factory.mktemp("runs")
    runs = []
    for ratio, seed in (("0.8", 0), ("0.8", 1), ("1.0", 0)):
        run = root / f"ratio-{ratio}" / f"seed-{seed}"
        assert main(["train", "--train", str(train), "--test", str(test), "--out", str(run), "--ratio", ratio,
                     "--sigma", "0.05", "--seed", str(seed), "--epochs", "2", "--n-hidden", "12",
                     "--batch-size", "16", "--readout", "per_step", "--no-progress"]) == 0
        runs.append(run)
    return root, runs


def test_metrics_command_writes_what_the_library_computes(tmp_path, capsys, splits, trained):
    """`eisnn metrics` equals compute_run_metrics with the run's own neuron constants and readout
    (run.json), which is what the workflow's run_metrics job passes (eisnn.metrics.run_metrics)."""
    import pandas as pd

    from eisnn.data import load_spikes
    from eisnn.metrics import compute_run_metrics
    from eisnn.params import ModelConfig

    _, test = splits
    _, runs = trained
    run = tmp_path / "run"
    shutil.copytree(runs[0], run)
    assert main(["metrics", str(run), "--test", str(test), "--max-samples", "8"]) == 0
    assert "wrote" in capsys.readouterr().out
    params = json.loads((run / "run.json").read_text())["params"]
    model = ModelConfig.from_dict(params)
    assert model.readout == "per_step"
    expected = compute_run_metrics(run, load_spikes(test), max_samples=8, model_config=model)
    for name, frame in expected.items():
        written = pd.read_csv(run / "metrics" / f"{name}.csv")
        pd.testing.assert_frame_equal(written, frame.reset_index(drop=True), check_dtype=False, obj=name)


def test_stats_command_writes_what_the_library_computes(tmp_path, capsys, splits, trained):
    """`eisnn stats FOLDER` finds the runs under it (sorted) and writes the files of
    eisnn.stats.experiment_statistics, the workflow's statistics job; the dataset comes from run.json."""
    from eisnn.stats import collect_run_table, write_stats

    _, test = splits
    root, runs = trained
    for run in runs:
        assert main(["metrics", str(run), "--test", str(test)]) == 0
    capsys.readouterr()
    assert main(["stats", str(root), "--out", str(tmp_path / "cli"), "--ttest", "student"]) == 0
    assert capsys.readouterr().out.startswith("3 runs; wrote ")
    expected = write_stats(collect_run_table(sorted(runs), "synthetic"), tmp_path / "lib", "synthetic", test="student")
    assert len(expected) == 5
    for name, path in expected.items():
        assert (tmp_path / "cli" / path.name).read_bytes() == path.read_bytes(), name


def test_workflow_scripts_call_the_commands_entry_points():
    """The workflow's metrics and statistics jobs call the functions `eisnn metrics` and `eisnn stats` call."""
    import ast

    root = Path(__file__).resolve().parents[1]
    for script, function in (("run_metrics.py", "run_metrics"), ("statistics.py", "experiment_statistics")):
        tree = ast.parse((root / "workflow" / "scripts" / script).read_text())
        called = {node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
        assert function in called, script
        cli = ast.parse((root / "src" / "eisnn" / "cli.py").read_text())
        assert any(isinstance(node, ast.Call) and getattr(node.func, "id", None) == function for node in ast.walk(cli))


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["metrics", "{tmp}/absent"], "no such run directory"),
        (["metrics", "{run}", "--test", "{tmp}/absent.h5"], "absent.h5"),
        (["stats", "{tmp}/absent", "--out", "{tmp}/o"], "absent: no such run directory or folder"),
        (["stats", "{tmp}", "--out", "{tmp}/o"], "no run directory (a folder with run.json)"),
    ],
)
def test_metrics_and_stats_bad_input_is_one_line(capsys, tmp_path, trained, argv, expected):
    _, runs = trained
    argv = [a.format(tmp=tmp_path, run=runs[0]) for a in argv]
    line = one_line_error(capsys, argv)
    assert line.startswith(f"eisnn {argv[0]}: ") and expected in line, line


def test_metrics_without_test_split_names_the_default_it_looked_for(capsys, trained):
    """A run outside a results folder: the default <results>/encoded/<dataset>/test.h5 is named."""
    _, runs = trained
    line = one_line_error(capsys, ["metrics", str(runs[0])])
    assert "encoded/synthetic/test.h5" in line and "--test" in line, line
