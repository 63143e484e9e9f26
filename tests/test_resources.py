"""Cluster requests from measured costs (eisnn.resources, eisnn.config.WorkflowConfig)."""

import math
from pathlib import Path

import pytest
import yaml

from eisnn import config as ec
from eisnn.resources import RequestPolicy

ROOT = Path(__file__).resolve().parents[1]
MEASURED = {"fmnist": {"train_seconds_per_network_epoch": 8.5, "train_peak_mb": 1732, "metrics_seconds_per_snapshot": 5.23,
                       "metrics_peak_mb": 816, "n_train": 60000, "n_test": 10000}}


def full_paper(**changes):
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config = ec.deep_merge(config, changes)
    cfg = ec.build(config, ec.load_schema(ROOT / "config" / "schemas" / "config.schema.yaml"))
    return cfg


def test_requests_scale_the_measured_need_by_runs_epochs_data_margin_and_attempt():
    policy = RequestPolicy(MEASURED, margin=2.0, startup_minutes=2, min_runtime=5, max_runtime=1440)
    # 8 runs × 30 epochs × 8.5 s on the measured sizes: 2 040 s; × 2 = 68 min, + 2 min start-up.
    assert policy.training("fmnist", (60000, 10000), 8, 30).as_dict() == {"runtime": 70, "mem_mb": 3464}
    assert policy.training("fmnist", (60000, 10000), 8, 30, attempt=2).as_dict() == {"runtime": 138, "mem_mb": 6928}
    # A subset scales the time by its samples: 12 000 of 70 000.
    subset = policy.training_need_seconds("fmnist", (10000, 2000), 4, 10)
    assert subset == pytest.approx(4 * 10 * 8.5 * 12000 / 70000)
    # Metrics: 4 snapshots × 5.23 s = 21 s, ×2 → 1 min + 2: below the 5 min floor.
    assert policy.metrics("fmnist", 10000, 4).as_dict() == {"runtime": 5, "mem_mb": 1632}
    assert policy.training("fmnist", (60000, 10000), 8, 3000).runtime == 1440  # capped at max_runtime
    with pytest.raises(KeyError, match="no entry for dataset 'shd'"):
        policy.training("shd", (1, 1), 1, 1)


def test_full_paper_requests_stay_within_a_day_at_every_attempt():
    cfg = full_paper()
    policy = cfg.request_policy
    for name in cfg.enabled:
        for pack in cfg.experiment(name).packs()[:3]:
            for attempt in (1, 2, 3):
                training = cfg.training_request(pack, attempt)
                metrics = cfg.metrics_request(name, attempt)
                # The pack's SLURM job: training plus its runs' metrics, one after the other.
                assert training.runtime + len(pack.seeds) * metrics.runtime <= policy.max_runtime == 1440
            assert cfg.training_request(pack, 2).runtime > cfg.training_request(pack, 1).runtime
            assert cfg.training_request(pack, 2).mem_mb == 2 * cfg.training_request(pack, 1).mem_mb
    shd = cfg.experiment("shd_sigma")
    need_s = policy.training_need_seconds("shd", cfg.dataset_sizes("shd"), 8, 200)
    assert need_s == pytest.approx(8 * 200 * 10.09)  # the measured cost, full SHD
    assert cfg.training_request(shd.packs()[0]).runtime == math.ceil(need_s * 2 / 60) + 2


def test_a_pack_that_cannot_fit_in_max_runtime_is_refused_when_the_config_is_read():
    # 19 SHD runs: ceil(19·200·10.09 s · 2 / 60) + 2 = 1 281 min of training + 19 · 5 min of
    # metrics = 1 376 ≤ 1 440; 20 runs: 1 348 + 100 = 1 448 > 1 440.
    cfg = full_paper(experiments={"shd_sigma": {"runs_per_job": 64}})
    with pytest.raises(ec.ConfigError, match=r"experiments\.shd_sigma\.runs_per_job: a pack of 64 runs needs 35\.9 h.*"
                                             r"use runs_per_job: 19 or less"):
        cfg.check_requests()
    without = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    del without["resources"]["measured"]["shd"]
    with pytest.raises(ec.ConfigError, match=r"resources\.measured\.shd: missing, so the jobs of experiment shd_sigma"):
        ec.build(without, ec.load_schema(ROOT / "config" / "schemas" / "config.schema.yaml")).check_requests()
    # An explicit request replaces the measured need (and is not checked against it).
    full_paper(experiments={"shd_sigma": {"runs_per_job": 64, "resources": {"train_runtime": 600}}}).check_requests()


def test_subset_sizes_come_from_the_dataset_settings():
    cfg = full_paper(datasets={"fmnist": {"subset_train": 10000, "subset_test": 2000}})
    assert cfg.dataset_sizes("fmnist") == (10000, 2000) and cfg.dataset_sizes("shd") == (8156, 2264)
    with pytest.raises(ec.ConfigError, match="1000000 is more than the 60000 samples"):  # never silently clamped
        full_paper(datasets={"fmnist": {"subset_train": 10**6}})


def _spaced(number: int) -> str:
    return f"{number:,}".replace(",", " ")


def test_readme_cluster_table_is_what_the_config_requests():
    readme = (ROOT / "README.md").read_text()
    cfg = full_paper()
    for row in cfg.request_table():
        for request in (row["request"], row["retry"]):
            text = f"{_spaced(request.runtime)} min, {_spaced(request.mem_mb)} MB"
            assert text in readme, f"README lacks the request {text!r} of {row['job']}"
    for name, minutes in (("fmnist_sigma", 110), ("shd_sigma", 581)):
        pack = cfg.experiment(name).packs()[0]
        total = cfg.training_request(pack).runtime + len(pack.seeds) * cfg.metrics_request(name).runtime
        assert total == minutes and f"{minutes} min" in readme
