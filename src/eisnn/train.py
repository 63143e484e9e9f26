"""Training of a pack of K runs in one process: Adam, noisy Dale-bounded updates, checkpoints.

Each run keeps its own random streams (initialisation, data order, update noise), derived from
its seed alone (:mod:`eisnn.initial`), so a run trained inside a pack equals the same run
trained alone. All of a run's state is saved in its own checkpoint after every epoch
(:mod:`eisnn.checkpoint`); a killed job resumes from there. Final outputs are written at the
end, atomically, with ``run.json`` last (:mod:`eisnn.outputs`).
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch

from .backends import set_cpu_threads
from .calibration import calibrate_runs
from .checkpoint import read_pack_checkpoints, write_checkpoint
from .data import SpikeDataset, load_spikes
from .initial import initial_network, stream_seed
from .layout import RunFiles
from .model import dale_bound_, forward_backward, make_input_batch, simulate
from .outputs import (
    json_attrs,
    lock_run_directories,
    provenance,
    remove_outputs,
    write_history,
    write_probe,
    write_run_json,
)
from .params import RunSpec, TrainOptions, fingerprint
from .snapshot import Snapshot


def resolve_device(device: str) -> torch.device:
    """``auto``: CUDA where available, else the CPU. A CUDA device that is not there is a ValueError."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if (resolved.index or 0) >= count:
            raise ValueError(
                f"device {device!r}: this machine has {count} CUDA device(s) that torch can use; "
                f"set device to auto or cpu"
            )
    return resolved


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

    @property
    def files(self) -> RunFiles:
        return RunFiles(self.run.run_dir)


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


class PackTrainer:
    """Trains K runs together. Use `train_pack` unless you need the pieces."""

    def __init__(self, runs: Sequence[RunSpec], train: SpikeDataset, test: SpikeDataset, options: TrainOptions):
        _check_pack(runs, train, test)
        self.runs = list(runs)
        self.train, self.test = train, test
        self.options = options
        self.config = options.model
        self.device = resolve_device(options.device)
        self.n_in, self.n_out, self.n_hidden = train.n_units, train.n_classes, options.n_hidden
        self.sigma_out = options.resolved_sigma_out()
        self.batch_size = min(options.batch_size, train.n_samples)
        self.batches_per_epoch = train.n_samples // self.batch_size
        data_attrs = {**train.attrs, "n_train": train.n_samples, "n_test": test.n_samples}
        self.states = [self._fresh_state(run, fingerprint(run, options, data_attrs)) for run in self.runs]
        self.w_in, self.w_out = self._initial_weights()
        self._setup_tensors()

    # -- set-up ---------------------------------------------------------------------------
    def _fresh_state(self, run: RunSpec, run_fingerprint: str) -> RunState:
        noise_generator = torch.Generator(device=self.device)
        noise_generator.manual_seed(stream_seed(run.seed, "noise"))
        return RunState(
            run=run,
            fingerprint=run_fingerprint,
            excitatory=np.ones(self.n_hidden, dtype=bool),
            shuffle_rng=np.random.default_rng(stream_seed(run.seed, "shuffle")),
            noise_generator=noise_generator,
        )

    def _initial_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        w_in, w_out = [], []
        for state in self.states:
            run = state.run
            run_w_in, run_w_out, state.excitatory = initial_network(
                run.ratio, run.seed, run.sigma_init, self.sigma_out, self.n_in, self.n_hidden, self.n_out
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
        loaded = read_pack_checkpoints(
            [state.files.checkpoint for state in self.states],
            [state.fingerprint for state in self.states],
            self.options.epochs,
            self.options.snapshot_epochs,
            _log,
        )
        if loaded is None:
            return 0
        for k, checkpoint in enumerate(loaded):
            self._restore(k, checkpoint)
        epoch = loaded[0]["epoch"]
        _log(f"resumed {len(self.states)} run(s) from their epoch-{epoch} checkpoints")
        return epoch

    def _restore(self, k: int, checkpoint: dict[str, Any]) -> None:
        state = self.states[k]
        self.w_in[k] = checkpoint["w_in"].to(self.device)
        self.w_out[k] = checkpoint["w_out"].to(self.device)
        for i, name in enumerate(("w_in", "w_out")):
            self.optimizer.exp_avg[i][k] = checkpoint[f"exp_avg_{name}"].to(self.device)
            self.optimizer.exp_avg_sq[i][k] = checkpoint[f"exp_avg_sq_{name}"].to(self.device)
        self.optimizer.step_count = checkpoint["step_count"]
        state.shuffle_rng.bit_generator.state = checkpoint["shuffle_rng"]
        state.noise_generator.set_state(checkpoint["noise_generator"])
        state.history = checkpoint["history"]
        state.snapshots = checkpoint["snapshots"]
        state.diverged_epoch = checkpoint["diverged_epoch"]
        state.epoch = checkpoint["epoch"]
        self.active[k] = state.diverged_epoch is None

    def save_checkpoints(self) -> None:
        for k, state in enumerate(self.states):
            record = {
                "fingerprint": state.fingerprint,
                "epoch": state.epoch,
                "step_count": self.optimizer.step_count,
                "shuffle_rng": state.shuffle_rng.bit_generator.state,
                "noise_generator": state.noise_generator.get_state(),
                "history": state.history,
                "snapshots": state.snapshots,
                "diverged_epoch": state.diverged_epoch,
            }
            for i, (name, weights) in enumerate((("w_in", self.w_in), ("w_out", self.w_out))):
                record[name] = weights[k].cpu().clone()
                record[f"exp_avg_{name}"] = self.optimizer.exp_avg[i][k].cpu().clone()
                record[f"exp_avg_sq_{name}"] = self.optimizer.exp_avg_sq[i][k].cpu().clone()
            write_checkpoint(state.files.checkpoint, record)

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
            result = forward_backward(self.w_in, self.w_out, batch, self.config, compute_gradients=False)
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
            result = forward_backward(self.w_in, self.w_out, batch, self.config)
            self._mark_diverged(result.loss)
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

    def _mark_diverged(self, loss: torch.Tensor) -> None:
        finite = torch.isfinite(loss).cpu().numpy()
        for k in np.flatnonzero(~finite & np.array(self.active)):
            self.active[k] = False
            self.states[k].diverged_epoch = self.states[k].epoch + 1
            _log(f"{self.states[k].run.run_dir}: loss became {loss[k].item()}; run marked diverged")

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
                for weights in (self.w_in[k], self.w_out[k]):
                    weights.add_(torch.randn(weights.shape, generator=generator, device=self.device), alpha=self.noise_std[k])
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
        probe_indices = np.arange(min(self.options.probe_samples, self.test.n_samples))
        probes = self._probe(probe_indices)
        probe_labels = self.test.labels[probe_indices]
        probe_input = self.test.dense(probe_indices).astype(np.uint8)
        summaries = []
        for k, state in enumerate(self.states):
            files = state.files
            history = write_history(files, state.history)
            for epoch, (w_in, w_out) in state.snapshots.items():
                diverged = state.diverged_epoch is not None and epoch >= state.diverged_epoch
                Snapshot(w_in, w_out, state.excitatory, state.run.ratio is not None, epoch, diverged).save(
                    files.snapshot(epoch)
                )
            by_epoch = {epoch: (hidden[k], output[k]) for epoch, (hidden, output) in probes.items()}
            write_probe(files, probe_labels, probe_input, self.config.dt_ms, state.excitatory, by_epoch)
            summary = self._summary(state, history["test_acc"].to_numpy(), started_at)
            write_run_json(files, summary)
            summaries.append(summary)
        return summaries

    def _summary(self, state: RunState, test_acc: np.ndarray, started_at: float) -> dict[str, Any]:
        return {
            "status": "diverged" if state.diverged_epoch is not None else "completed",
            "diverged_epoch": state.diverged_epoch,
            "params": {**state.run.params(), **self.options.as_dict(), "sigma_out": self.sigma_out},
            "seed": state.run.seed,
            "final_test_acc": float(test_acc[-1]) if len(test_acc) else None,
            "peak_test_acc": float(np.nanmax(test_acc)) if len(test_acc) else None,
            "epochs_trained": len(test_acc),
            "data": json_attrs(self.train.attrs),
            "n_train": self.train.n_samples,
            "n_test": self.test.n_samples,
            "provenance": provenance(self.device, self.options.threads),
            "wall_seconds": time.time() - started_at,
        }

    def _probe(self, indices: np.ndarray) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """Hidden raster uint8 [K, n, T, H] and readout voltage float32 [K, n, T+1, O] of the
        probed test samples at each snapshot epoch."""
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


def _check_pack(runs: Sequence[RunSpec], train: SpikeDataset, test: SpikeDataset) -> None:
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
    set_cpu_threads(options.threads, resolve_device(options.device))
    train = train_path if isinstance(train_path, SpikeDataset) else load_spikes(train_path)
    test = test_path if isinstance(test_path, SpikeDataset) else load_spikes(test_path)
    # Everything that can fail before training comes first (data, calibration, the device,
    # the pack's checks, writable run directories): a failing job deletes nothing.
    runs = calibrate_runs(runs, train, options, log=_log)
    trainer = PackTrainer(runs, train, test, options)
    # One writer per run directory (locking checks each is writable), from the last check to the last file written.
    with lock_run_directories([run.run_dir for run in runs]):
        for run in runs:
            remove_outputs(run.run_dir)
        _log(
            f"training {len(runs)} run(s) on {trainer.device}, {train.n_samples} train / {test.n_samples} test "
            f"samples, {options.epochs} epochs"
        )
        trainer.fit()
        return trainer.write_outputs(started_at)
