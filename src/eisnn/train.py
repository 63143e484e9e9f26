"""Training of a pack of K runs in one process: Adam, noisy Dale-bounded updates, checkpoints.

Each run keeps its own random streams (initialisation, data order, update noise), derived from
its seed alone, so a run trained inside a pack equals the same run trained alone. All of a run's
state is saved in its own `checkpoint.pt` after every epoch; a killed job resumes from there.
Final outputs are written at the end, atomically, with `run.json` last.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import h5py
import numpy as np
import pandas as pd
import torch

from . import __version__
from .calibration import calibrate_runs
from .config import DEFAULT_CALIBRATION
from .data import SpikeDataset, load_spikes
from .io import atomic_path, write_csv_atomic, write_json_atomic
from .model import (
    ModelConfig,
    dale_bound_,
    forward_backward,
    init_weights,
    make_input_batch,
    readout_kernel,
    reference_weight_scale,
    simulate,
    stream_seed,
)

CHECKPOINT_FORMAT = 1
HISTORY_COLUMNS = ["epoch", "train_loss", "train_acc", "test_loss", "test_acc", "seconds", "diverged"]


@dataclass(frozen=True)
class RunSpec:
    """The parameters that identify one training run.

    The initial input-weight scale is either given (`sigma_init`) or asked for as an initial
    hidden firing rate (`target_rate_hz`, with `sigma_init` None): `train_pack` then finds
    σ_init by calibration (`eisnn.calibration.calibrate_runs`) before training. `calibration`
    holds the calibration's settings (`n_samples`, `rel_tolerance`, `sigma_bounds`) and, once
    calibrated, its whole record (the σ found, the rate reached, …); both become part of the
    run's parameters (run.json, checkpoint fingerprint).
    """

    run_dir: Path
    ratio: float | None
    sigma_init: float | None
    noise_frac: float
    seed: int
    experiment: str = ""
    target_rate_hz: float | None = None
    calibration: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "run_dir", Path(self.run_dir))
        if self.ratio is not None and not 0.0 <= self.ratio <= 1.0:
            raise ValueError(f"ratio must be in [0, 1] or None (unconstrained), got {self.ratio}")
        if self.sigma_init is None and self.target_rate_hz is None:
            raise ValueError(f"{self.run_dir}: give sigma_init or target_rate_hz")
        if (
            self.sigma_init is not None
            and self.target_rate_hz is not None
            and (self.calibration or {}).get("sigma_init") != self.sigma_init
        ):
            raise ValueError(
                f"{self.run_dir}: give sigma_init or target_rate_hz, not both (a calibrated run carries the "
                "calibration record whose sigma_init it uses)"
            )
        if self.sigma_init is not None and not self.sigma_init > 0:
            raise ValueError(f"sigma_init must be > 0, got {self.sigma_init}")
        if self.target_rate_hz is not None and not (math.isfinite(self.target_rate_hz) and self.target_rate_hz > 0):
            raise ValueError(f"target_rate_hz must be a positive finite rate in Hz, got {self.target_rate_hz}")
        if self.calibration is not None and self.target_rate_hz is None:
            raise ValueError(f"{self.run_dir}: calibration settings need a target_rate_hz")
        if not 0.0 <= self.noise_frac:
            raise ValueError(f"noise_frac must be >= 0, got {self.noise_frac}")

    @property
    def has_sigma(self) -> bool:
        """True when σ_init is known (given, or found for the target rate by calibration)."""
        return self.sigma_init is not None

    def params(self) -> dict[str, Any]:
        params = {
            "experiment": self.experiment,
            "ratio": self.ratio,
            "sigma_init": self.sigma_init,
            "noise_frac": self.noise_frac,
            "seed": self.seed,
        }
        if self.target_rate_hz is not None:
            params["target_rate_hz"] = self.target_rate_hz
            params["calibration"] = dict(self.calibration or {})
        return params


@dataclass(frozen=True)
class TrainOptions:
    """Training settings shared by the runs of a pack (SPEC §1 defaults)."""

    epochs: int = 30
    batch_size: int = 256
    learning_rate: float = 2e-4
    adam_betas: tuple[float, float] = (0.9, 0.999)
    adam_eps: float = 1e-8
    n_hidden: int = 100
    dt_ms: float = 1.0
    tau_syn_ms: float = 5.0
    tau_mem_ms: float = 10.0
    threshold: float = 1.0
    surrogate: str = "fast_sigmoid"
    surrogate_scale: float = 100.0
    readout: str = "max"
    sigma_out: float | None = None
    snapshot_epochs: tuple[int, ...] = (0, 1, 10, 30)
    probe_samples: int = 16
    device: str = "auto"
    threads: int = 1
    progress: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "adam_betas", tuple(float(b) for b in self.adam_betas))
        object.__setattr__(self, "snapshot_epochs", tuple(sorted({int(e) for e in self.snapshot_epochs})))
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1 or self.n_hidden < 1 or self.threads < 1:
            raise ValueError("batch_size, n_hidden and threads must be >= 1")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        bad = [e for e in self.snapshot_epochs if not 0 <= e <= self.epochs]
        if bad:
            raise ValueError(f"snapshot_epochs {bad} lie outside 0..epochs ({self.epochs})")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ValueError(f"device must be auto, cpu or cuda, got {self.device!r}")
        self.model_config()  # validates surrogate and readout

    @classmethod
    def from_dict(cls, mapping: Mapping[str, Any]) -> "TrainOptions":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(mapping) - known)
        if unknown:
            raise ValueError(f"unknown training option(s) {unknown}; allowed: {sorted(known)}")
        values = dict(mapping)
        if "snapshot_epochs" in values:
            epochs = values.get("epochs", cls.epochs)
            values["snapshot_epochs"] = tuple(epochs if e == "last" else e for e in values["snapshot_epochs"])
        return cls(**values)

    def model_config(self) -> ModelConfig:
        return ModelConfig(
            dt_ms=self.dt_ms,
            tau_syn_ms=self.tau_syn_ms,
            tau_mem_ms=self.tau_mem_ms,
            threshold=self.threshold,
            surrogate=self.surrogate,
            surrogate_scale=self.surrogate_scale,
            readout=self.readout,
        )

    def resolved_device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _fingerprint(run: RunSpec, options: TrainOptions, data_attrs: Mapping[str, Any]) -> str:
    """Hash of everything a checkpoint's validity depends on (not epochs, device or progress).

    Of a calibration, the settings count (with the σ_init found, a run parameter), not what it
    measured: spike counts may differ by a spike on another CPU without changing σ_init.
    """
    ignored = {"epochs", "snapshot_epochs", "probe_samples", "device", "threads", "progress"}
    relevant = {k: v for k, v in options.as_dict().items() if k not in ignored}
    params = run.params()
    if "calibration" in params:
        params["calibration"] = {key: params["calibration"].get(key) for key in sorted(DEFAULT_CALIBRATION)}
    payload = json.dumps(
        {"run": params, "options": relevant, "data": {k: str(v) for k, v in sorted(data_attrs.items())}},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


@dataclass
class RunState:
    """Everything needed to continue one run; saved as its checkpoint."""

    run: RunSpec
    fingerprint: str
    excitatory: np.ndarray
    shuffle_rng: np.random.Generator
    noise_generator: torch.Generator
    history: list[dict[str, Any]] = field(default_factory=list)
    snapshots: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    diverged_epoch: int | None = None
    epoch: int = 0


class Adam:
    """Adam (as torch.optim.Adam, no weight decay) on stacked ensemble parameters.

    Purely element-wise, so each network's update depends on its own gradients only.
    """

    def __init__(self, params: Sequence[torch.Tensor], lr: float, betas: tuple[float, float], eps: float):
        self.params = list(params)
        self.lr, self.betas, self.eps = lr, betas, eps
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]
        self.step_count = 0

    def step(self, grads: Sequence[torch.Tensor]) -> None:
        self.step_count += 1
        beta1, beta2 = self.betas
        bias_correction1 = 1 - beta1**self.step_count
        bias_correction2_sqrt = math.sqrt(1 - beta2**self.step_count)
        for param, grad, exp_avg, exp_avg_sq in zip(self.params, grads, self.exp_avg, self.exp_avg_sq):
            exp_avg.lerp_(grad, 1 - beta1)
            exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(self.eps)
            param.addcdiv_(exp_avg, denom, value=-self.lr / bias_correction1)


def _log(message: str) -> None:
    print(f"[eisnn {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _git_commit() -> str | None:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def provenance(device: torch.device, threads: int) -> dict[str, Any]:
    return {
        "eisnn_version": __version__,
        "git_commit": _git_commit(),
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
        "device": str(device),
        "cuda_device": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "threads": threads,
        "hostname": platform.node(),
    }


class PackTrainer:
    """Trains K runs together. Use `train_pack` unless you need the pieces."""

    def __init__(self, runs: Sequence[RunSpec], train: SpikeDataset, test: SpikeDataset, options: TrainOptions):
        if not runs:
            raise ValueError("a pack needs at least one run")
        uncalibrated = [str(run.run_dir) for run in runs if not run.has_sigma]
        if uncalibrated:
            raise ValueError(
                f"runs {uncalibrated} have a target rate but no sigma_init yet: calibrate them first "
                "(eisnn.calibration.calibrate_runs; train_pack does it)"
            )
        if train.n_units != test.n_units or train.n_classes != test.n_classes or train.n_steps != test.n_steps:
            raise ValueError("train and test data disagree in n_units, n_classes or n_steps")
        self.runs = list(runs)
        self.train, self.test = train, test
        self.options = options
        self.config = options.model_config()
        self.device = options.resolved_device()
        self.n_in, self.n_out, self.n_hidden = train.n_units, train.n_classes, options.n_hidden
        self.sigma_out = options.sigma_out or reference_weight_scale(self.n_hidden, self.config)
        self.kernel = readout_kernel(train.n_steps, self.config, device=self.device)
        self.batch_size = min(options.batch_size, train.n_samples)
        self.batches_per_epoch = train.n_samples // self.batch_size
        data_attrs = {**train.attrs, "n_train": train.n_samples, "n_test": test.n_samples}
        self.states = [self._fresh_state(run, _fingerprint(run, options, data_attrs)) for run in self.runs]
        self.w_in, self.w_out = self._initial_weights()
        self._setup_tensors()

    # -- set-up ---------------------------------------------------------------------------
    def _fresh_state(self, run: RunSpec, fingerprint: str) -> RunState:
        noise_generator = torch.Generator(device=self.device)
        noise_generator.manual_seed(stream_seed(run.seed, "noise"))
        return RunState(
            run=run,
            fingerprint=fingerprint,
            excitatory=np.ones(self.n_hidden, dtype=bool),
            shuffle_rng=np.random.default_rng(stream_seed(run.seed, "shuffle")),
            noise_generator=noise_generator,
        )

    def _initial_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        w_in, w_out = [], []
        for state in self.states:
            generator = torch.Generator().manual_seed(stream_seed(state.run.seed, "init"))
            run_w_in, run_w_out, state.excitatory = init_weights(
                self.n_in, self.n_hidden, self.n_out, state.run.ratio, state.run.sigma_init, self.sigma_out, generator
            )
            w_in.append(run_w_in)
            w_out.append(run_w_out)
        return torch.stack(w_in).to(self.device), torch.stack(w_out).to(self.device)

    def _setup_tensors(self) -> None:
        excitatory = torch.as_tensor(np.stack([s.excitatory for s in self.states]), device=self.device)
        self.out_sign = torch.where(excitatory, 1.0, -1.0).unsqueeze(-1)
        self.constrained = torch.tensor(
            [s.run.ratio is not None for s in self.states], device=self.device
        ).view(-1, 1, 1)
        self.noise_std = [s.run.noise_frac * s.run.sigma_init for s in self.states]
        self.optimizer = Adam(
            [self.w_in, self.w_out], self.options.learning_rate, self.options.adam_betas, self.options.adam_eps
        )
        self.active = [state.diverged_epoch is None for state in self.states]
        dale_bound_(self.w_in, self.w_out, self.out_sign, self.constrained)

    # -- checkpoints ----------------------------------------------------------------------
    def try_resume(self) -> int:
        """Load every run's checkpoint if all exist, match and agree on the epoch; return it."""
        paths = [state.run.run_dir / "checkpoint.pt" for state in self.states]
        if not all(p.exists() for p in paths):
            if any(p.exists() for p in paths):
                _log("some runs of this pack have no checkpoint: starting the whole pack from epoch 0")
            return 0
        loaded = []
        for state, path in zip(self.states, paths):
            try:
                checkpoint = torch.load(path, map_location="cpu", weights_only=False)
            except Exception as error:  # an unreadable checkpoint is discarded, never trusted
                _log(f"{path}: unreadable checkpoint ({error}); starting from epoch 0")
                return 0
            if checkpoint.get("format") != CHECKPOINT_FORMAT or checkpoint.get("fingerprint") != state.fingerprint:
                _log(f"{path}: checkpoint belongs to other parameters; starting from epoch 0")
                return 0
            loaded.append(checkpoint)
        epochs = {c["epoch"] for c in loaded}
        epoch = epochs.pop()
        if epochs or epoch > self.options.epochs:
            _log("checkpoints of this pack disagree or exceed the epochs asked for; starting from epoch 0")
            return 0
        missing = [e for e in self.options.snapshot_epochs if e <= epoch and e not in loaded[0]["snapshots"]]
        if missing:
            _log(f"checkpoints lack snapshot epochs {missing}; starting from epoch 0")
            return 0
        for k, (state, checkpoint) in enumerate(zip(self.states, loaded)):
            self.w_in[k] = checkpoint["w_in"].to(self.device)
            self.w_out[k] = checkpoint["w_out"].to(self.device)
            self.optimizer.exp_avg[0][k] = checkpoint["exp_avg_w_in"].to(self.device)
            self.optimizer.exp_avg[1][k] = checkpoint["exp_avg_w_out"].to(self.device)
            self.optimizer.exp_avg_sq[0][k] = checkpoint["exp_avg_sq_w_in"].to(self.device)
            self.optimizer.exp_avg_sq[1][k] = checkpoint["exp_avg_sq_w_out"].to(self.device)
            self.optimizer.step_count = checkpoint["step_count"]
            state.shuffle_rng.bit_generator.state = checkpoint["shuffle_rng"]
            state.noise_generator.set_state(checkpoint["noise_generator"])
            state.history = checkpoint["history"]
            state.snapshots = checkpoint["snapshots"]
            state.diverged_epoch = checkpoint["diverged_epoch"]
            state.epoch = epoch
            self.active[k] = state.diverged_epoch is None
        _log(f"resumed {len(self.states)} run(s) from their epoch-{epoch} checkpoints")
        return epoch

    def save_checkpoints(self) -> None:
        for k, state in enumerate(self.states):
            checkpoint = {
                "format": CHECKPOINT_FORMAT,
                "fingerprint": state.fingerprint,
                "epoch": state.epoch,
                "w_in": self.w_in[k].cpu().clone(),
                "w_out": self.w_out[k].cpu().clone(),
                "exp_avg_w_in": self.optimizer.exp_avg[0][k].cpu().clone(),
                "exp_avg_w_out": self.optimizer.exp_avg[1][k].cpu().clone(),
                "exp_avg_sq_w_in": self.optimizer.exp_avg_sq[0][k].cpu().clone(),
                "exp_avg_sq_w_out": self.optimizer.exp_avg_sq[1][k].cpu().clone(),
                "step_count": self.optimizer.step_count,
                "shuffle_rng": state.shuffle_rng.bit_generator.state,
                "noise_generator": state.noise_generator.get_state(),
                "history": state.history,
                "snapshots": state.snapshots,
                "diverged_epoch": state.diverged_epoch,
            }
            with atomic_path(state.run.run_dir / "checkpoint.pt") as tmp:
                torch.save(checkpoint, tmp)

    # -- training -------------------------------------------------------------------------
    def take_snapshot(self, epoch: int) -> None:
        if epoch in self.options.snapshot_epochs:
            for k, state in enumerate(self.states):
                state.snapshots[epoch] = (self.w_in[k].cpu().numpy().copy(), self.w_out[k].cpu().numpy().copy())

    def evaluate(self, dataset: SpikeDataset) -> tuple[np.ndarray, np.ndarray]:
        """Mean loss and accuracy of every network on a whole dataset (all samples)."""
        n_networks = len(self.states)
        total_loss = torch.zeros(n_networks, dtype=torch.float64, device=self.device)
        total_correct = torch.zeros(n_networks, dtype=torch.int64, device=self.device)
        eval_batch = max(self.options.batch_size, 256)
        for start in range(0, dataset.n_samples, eval_batch):
            chunk = np.arange(start, min(start + eval_batch, dataset.n_samples))
            batch = make_input_batch(dataset, np.broadcast_to(chunk, (n_networks, len(chunk))), self.device)
            result = forward_backward(self.w_in, self.w_out, batch, self.config, self.kernel, compute_gradients=False)
            total_loss += result.loss.double() * len(chunk)
            total_correct += result.correct
        return (total_loss / dataset.n_samples).cpu().numpy(), (total_correct.double() / dataset.n_samples).cpu().numpy()

    def train_epoch(self) -> tuple[np.ndarray, np.ndarray]:
        """One pass over the shuffled training data; returns mean batch loss and accuracy per run."""
        n_networks = len(self.states)
        permutations = np.stack([s.shuffle_rng.permutation(self.train.n_samples) for s in self.states])
        loss_sum = torch.zeros(n_networks, dtype=torch.float64, device=self.device)
        correct_sum = torch.zeros(n_networks, dtype=torch.int64, device=self.device)
        progress = _progress(self.batches_per_epoch, self.options.progress)
        for i in range(self.batches_per_epoch):
            indices = permutations[:, i * self.batch_size : (i + 1) * self.batch_size]
            batch = make_input_batch(self.train, indices, self.device)
            result = forward_backward(self.w_in, self.w_out, batch, self.config, self.kernel)
            finite = torch.isfinite(result.loss).cpu().numpy()
            for k in np.flatnonzero(~finite & np.array(self.active)):
                self.active[k] = False
                self.states[k].diverged_epoch = self.states[k].epoch + 1
                _log(f"{self.states[k].run.run_dir}: loss became {result.loss[k].item()}; run marked diverged")
            if not any(self.active):
                break
            self._update(result)
            loss_sum += result.loss.double()
            correct_sum += result.correct
            progress.update()
        progress.close()
        n_batches = max(i + 1, 1)
        return (
            (loss_sum / n_batches).cpu().numpy(),
            (correct_sum.double() / (n_batches * self.batch_size)).cpu().numpy(),
        )

    def _update(self, result) -> None:
        """Adam step, update noise, Dale bound; diverged runs keep their weights unchanged."""
        frozen = [k for k, active in enumerate(self.active) if not active]
        kept = [(k, self.w_in[k].clone(), self.w_out[k].clone()) for k in frozen]
        grads = [result.grad_w_in, result.grad_w_out]
        for grad in grads:
            for k in frozen:
                grad[k].zero_()
        self.optimizer.step(grads)
        for k, state in enumerate(self.states):
            if self.noise_std[k] > 0 and self.active[k]:
                generator = state.noise_generator
                self.w_in[k].add_(torch.randn(self.w_in[k].shape, generator=generator, device=self.device), alpha=self.noise_std[k])
                self.w_out[k].add_(torch.randn(self.w_out[k].shape, generator=generator, device=self.device), alpha=self.noise_std[k])
        dale_bound_(self.w_in, self.w_out, self.out_sign, self.constrained)
        for k, w_in, w_out in kept:
            self.w_in[k] = w_in
            self.w_out[k] = w_out

    def fit(self) -> None:
        start_epoch = self.try_resume()
        if start_epoch == 0:
            self.take_snapshot(0)
        for epoch in range(start_epoch + 1, self.options.epochs + 1):
            started = time.perf_counter()
            was_active = list(self.active)
            train_loss, train_acc = self.train_epoch()
            test_loss, test_acc = self.evaluate(self.test)
            seconds = time.perf_counter() - started
            for k, state in enumerate(self.states):
                state.epoch = epoch
                if was_active[k]:
                    diverged = not self.active[k]
                    state.history.append(
                        {
                            "epoch": epoch,
                            "train_loss": float("nan") if diverged else float(train_loss[k]),
                            "train_acc": float(train_acc[k]),
                            "test_loss": float(test_loss[k]),
                            "test_acc": float(test_acc[k]),
                            "seconds": seconds,
                            "diverged": diverged,
                        }
                    )
            self.take_snapshot(epoch)
            self.save_checkpoints()
            summary = ", ".join(f"{a:.3f}" for a in test_acc[:8])
            _log(
                f"epoch {epoch}/{self.options.epochs} in {seconds:.1f} s; "
                f"test accuracy {summary}{' …' if len(test_acc) > 8 else ''}"
            )

    # -- outputs --------------------------------------------------------------------------
    def write_outputs(self, started_at: float) -> list[dict[str, Any]]:
        probes = self._probe()
        summaries = []
        for k, state in enumerate(self.states):
            run_dir = state.run.run_dir
            history = pd.DataFrame(state.history, columns=HISTORY_COLUMNS)
            write_csv_atomic(run_dir / "history.csv", history)
            for epoch, (w_in, w_out) in state.snapshots.items():
                with atomic_path(run_dir / f"weights_epoch-{epoch}.npz") as tmp:
                    with open(tmp, "wb") as handle:
                        np.savez(
                            handle,
                            w_in=w_in,
                            w_out=w_out,
                            excitatory=state.excitatory,
                            constrained=np.bool_(state.run.ratio is not None),
                            epoch=np.int64(epoch),
                            diverged=np.bool_(state.diverged_epoch is not None and epoch >= state.diverged_epoch),
                        )
            self._write_probe(run_dir / "probe.h5", probes, k)
            test_acc = history["test_acc"].to_numpy()
            summary = {
                "status": "diverged" if state.diverged_epoch is not None else "completed",
                "diverged_epoch": state.diverged_epoch,
                "params": {**state.run.params(), **self.options.as_dict(), "sigma_out": self.sigma_out},
                "seed": state.run.seed,
                "final_test_acc": float(test_acc[-1]) if len(test_acc) else None,
                "peak_test_acc": float(np.nanmax(test_acc)) if len(test_acc) else None,
                "epochs_trained": len(history),
                "data": {k: (v if isinstance(v, (int, float, str, bool)) else str(v)) for k, v in self.train.attrs.items()},
                "n_train": self.train.n_samples,
                "n_test": self.test.n_samples,
                "provenance": provenance(self.device, self.options.threads),
                "wall_seconds": time.time() - started_at,
            }
            write_json_atomic(run_dir / "run.json", summary)
            (run_dir / "checkpoint.pt").unlink(missing_ok=True)
            summaries.append(summary)
        return summaries

    def _probe(self) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """Hidden raster and readout voltage of the first test samples at each snapshot epoch."""
        n_probe = min(self.options.probe_samples, self.test.n_samples)
        indices = np.arange(n_probe)
        probes = {}
        for epoch in sorted(self.states[0].snapshots):
            w_in = torch.stack([torch.as_tensor(s.snapshots[epoch][0]) for s in self.states]).to(self.device)
            w_out = torch.stack([torch.as_tensor(s.snapshots[epoch][1]) for s in self.states]).to(self.device)
            spikes, voltage_out = simulate(w_in, w_out, self.test, indices, self.config)
            probes[epoch] = (
                spikes.permute(1, 2, 0, 3).cpu().numpy().astype(np.uint8),
                voltage_out.permute(1, 2, 0, 3).cpu().numpy().astype(np.float32),
            )
        return probes

    def _write_probe(self, path: Path, probes, k: int) -> None:
        n_probe = min(self.options.probe_samples, self.test.n_samples)
        indices = np.arange(n_probe)
        with atomic_path(path) as tmp:
            with h5py.File(tmp, "w") as handle:
                handle.create_dataset("labels", data=self.test.labels[indices])
                handle.create_dataset("input", data=self.test.dense(indices).astype(np.uint8), compression="gzip")
                handle.attrs["n_steps"] = self.test.n_steps
                handle.attrs["dt_ms"] = self.options.dt_ms
                handle.attrs["excitatory"] = self.states[k].excitatory
                for epoch, (hidden, output) in probes.items():
                    group = handle.create_group(f"epoch-{epoch}")
                    group.create_dataset("hidden", data=hidden[k], compression="gzip")
                    group.create_dataset("output", data=output[k])


class _NoProgress:
    def update(self) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, enabled: bool):
    if enabled and sys.stderr.isatty():
        from tqdm import tqdm

        return tqdm(total=total, unit="batch", leave=False)
    return _NoProgress()


def remove_outputs(run_dir: Path) -> None:
    """Delete a run's previous outputs (not its checkpoint) so that none outlives a retraining.

    `run.json` goes first: a run directory without it is never taken for a complete run.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    for path in [run_dir / "run.json", run_dir / "history.csv", run_dir / "probe.h5", *run_dir.glob("weights_epoch-*.npz")]:
        path.unlink(missing_ok=True)


def train_pack(
    runs: Sequence[RunSpec],
    train_path: str | os.PathLike | SpikeDataset,
    test_path: str | os.PathLike | SpikeDataset,
    options: TrainOptions,
) -> list[dict[str, Any]]:
    """Train every run of the pack together and write each run's outputs to its run_dir.

    Runs given by a target rate are calibrated first, on the training data (`calibrate_runs`).
    """
    started_at = time.time()
    torch.set_num_threads(options.threads)
    train = train_path if isinstance(train_path, SpikeDataset) else load_spikes(train_path)
    test = test_path if isinstance(test_path, SpikeDataset) else load_spikes(test_path)
    runs = calibrate_runs(runs, train, options, log=_log)  # first: an unreachable target deletes nothing
    for run in runs:
        remove_outputs(run.run_dir)
    trainer = PackTrainer(runs, train, test, options)
    _log(
        f"training {len(runs)} run(s) on {trainer.device}, {train.n_samples} train / {test.n_samples} test samples, "
        f"{options.epochs} epochs"
    )
    trainer.fit()
    return trainer.write_outputs(started_at)
