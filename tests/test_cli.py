"""The command line: bad input ends in one line on stderr that names the problem, never a traceback."""

import json
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
