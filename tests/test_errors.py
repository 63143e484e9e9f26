"""Error reporting: a job's log ends with its error, one line for bad input, a traceback otherwise."""

import errno
import json
import subprocess
import sys

import pytest

from eisnn import cli
from eisnn.errors import USER_ERRORS, describe, logged_to


def test_a_user_error_ends_the_log_with_one_line_and_fails_the_job(tmp_path, capsys):
    log = tmp_path / "job.log"
    with pytest.raises(SystemExit) as stopped:
        with logged_to(log):
            print("epoch 1/3 done")
            print("a warning", file=sys.stderr)
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", "data/train.h5")
    assert stopped.value.code == 1
    assert log.read_text().splitlines() == [
        "epoch 1/3 done", "a warning", "error: data/train.h5: No such file or directory"
    ]
    captured = capsys.readouterr()
    assert captured.err == "error: data/train.h5: No such file or directory\n" and captured.out == ""


def test_an_unexpected_error_ends_the_log_with_its_traceback_and_is_raised_again(tmp_path):
    log = tmp_path / "job.log"
    with pytest.raises(ZeroDivisionError):
        with logged_to(log):
            print("started")
            1 / 0
    lines = log.read_text().splitlines()
    assert lines[0] == "started" and lines[1] == "Traceback (most recent call last):"
    assert lines[-1] == "ZeroDivisionError: division by zero"


def test_eisnn_traceback_puts_the_traceback_before_the_line(tmp_path, monkeypatch):
    monkeypatch.setenv("EISNN_TRACEBACK", "1")
    log = tmp_path / "job.log"
    with pytest.raises(SystemExit):
        with logged_to(log):
            raise ValueError("learning_rate must be > 0, got -1\n(a second line)")
    lines = log.read_text().splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert lines[-1] == "error: learning_rate must be > 0, got -1"


def test_a_block_without_error_leaves_its_output_and_restores_the_streams(tmp_path, capsys):
    log = tmp_path / "job.log"
    with logged_to(log):
        print("done")
    print("after")
    assert log.read_text() == "done\n" and capsys.readouterr().out == "after\n"


def test_the_command_line_and_the_jobs_share_one_definition_of_a_user_error():
    assert cli.USER_ERRORS is USER_ERRORS and cli.describe is describe
    assert describe(KeyError("seed")) == "missing key 'seed'"


def test_importing_it_loads_no_third_party_library():
    script = "import json, sys, eisnn.errors; print(json.dumps(sorted(sys.modules)))"
    loaded = set(json.loads(subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                                           check=True).stdout))
    assert not loaded & {"torch", "numpy", "pandas", "h5py", "yaml", "snakemake"}
