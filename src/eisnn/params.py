"""The parameter types of the library: neuron model, training, calibration, and a run's identity.

Small immutable types with flat ``as_dict``/``from_dict``, so that YAML configs, ``run.json``,
the CLI flags and checkpoint fingerprints all see one flat mapping of names. Standard library
only: the workflow imports these to build job parameters without importing torch.

- :class:`ModelConfig` — the neuron constants and the readout (paper §4.1, docs/architecture.md).
- :class:`TrainOptions` — the training settings of a pack; embeds a ModelConfig.
- :class:`CalibrationSettings` — how a target-rate run's σ_init is found (:mod:`eisnn.calibration`).
- :class:`RunSpec` — what identifies one run; :func:`fingerprint` hashes a run's identity.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

SURROGATES = ("fast_sigmoid", "exponential")
READOUTS = ("max", "per_step")
DEVICES = ("auto", "cpu", "cuda")


def _field_names(cls) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def _pick(mapping: Mapping[str, Any], cls) -> dict[str, Any]:
    return {name: mapping[name] for name in _field_names(cls) if name in mapping}


@dataclass(frozen=True)
class ModelConfig:
    """Neuron constants and the training-relevant readout choices (paper §4.1).

    V[t+1] = β·V[t] + I[t] (reset to 0 after a spike), I[t+1] = α·I[t] + W·S[t], with
    α = exp(-dt/τ_syn), β = exp(-dt/τ_mem); a spike when V > threshold. The surrogate replaces
    the Heaviside's derivative in the backward pass; the readout decides how the output
    membrane traces become a loss and a prediction (:mod:`eisnn.readout`).
    """

    dt_ms: float = 1.0
    tau_syn_ms: float = 5.0
    tau_mem_ms: float = 10.0
    threshold: float = 1.0
    surrogate: str = "fast_sigmoid"
    surrogate_scale: float = 100.0
    readout: str = "max"

    def __post_init__(self) -> None:
        if self.surrogate not in SURROGATES:
            raise ValueError(f"surrogate {self.surrogate!r} is not one of {SURROGATES}")
        if self.readout not in READOUTS:
            raise ValueError(f"readout {self.readout!r} is not one of {READOUTS}")
        for name in ("dt_ms", "tau_syn_ms", "tau_mem_ms", "surrogate_scale"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
        if not (isinstance(self.threshold, (int, float)) and math.isfinite(self.threshold)):
            raise ValueError(f"threshold must be a finite number, got {self.threshold!r}")

    @property
    def alpha(self) -> float:
        """Synaptic decay per step, exp(-dt/τ_syn)."""
        return math.exp(-self.dt_ms / self.tau_syn_ms)

    @property
    def beta(self) -> float:
        """Membrane decay per step, exp(-dt/τ_mem)."""
        return math.exp(-self.dt_ms / self.tau_mem_ms)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return _field_names(cls)

    @classmethod
    def from_dict(cls, mapping: Mapping[str, Any]) -> "ModelConfig":
        """The ModelConfig of a flat mapping; keys that are not neuron constants are ignored."""
        return cls(**_pick(mapping, cls))

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def reference_weight_scale(n_presynaptic: int, config: ModelConfig) -> float:
    """The reference tutorial's scale 7(1-β)/√n (σ_out default; σ_init of the baseline runs)."""
    return 7.0 * (1.0 - config.beta) / math.sqrt(n_presynaptic)


def _not_identity(retrains: bool = False) -> Any:
    """Field metadata: the option is not part of a run's checkpoint fingerprint (a checkpoint
    resumes across a change of it). ``retrains``: a finished run still trains again when it
    changes, because it decides how long the run trains or what it saves."""
    return {"identity": False, "retrains": retrains}


@dataclass(frozen=True)
class TrainOptions:
    """Training settings shared by the runs of a pack (paper §4.1; the update noise of §4.2).

    Flat as a mapping (:meth:`as_dict`, :meth:`from_dict`): the neuron constants of the
    embedded :class:`ModelConfig` sit beside the other options. Options marked
    ``identity: False`` (how long, what is saved, where it runs) do not change the result of an
    epoch, so they are left out of a run's fingerprint (:func:`fingerprint`); of those, the run
    settings (:meth:`setting_names`) do not make a finished run train again either.
    """

    epochs: int = field(default=30, metadata=_not_identity(retrains=True))
    batch_size: int = 256
    learning_rate: float = 2e-4
    adam_betas: tuple[float, float] = (0.9, 0.999)
    adam_eps: float = 1e-8
    n_hidden: int = 100
    model: ModelConfig = field(default_factory=ModelConfig)
    sigma_out: float | None = None
    snapshot_epochs: tuple[int, ...] = field(default=(0, 1, 10, 30), metadata=_not_identity(retrains=True))
    probe_samples: int = field(default=16, metadata=_not_identity())
    device: str = field(default="auto", metadata=_not_identity())
    threads: int = field(default=1, metadata=_not_identity())
    progress: bool = field(default=True, metadata=_not_identity())

    def __post_init__(self) -> None:
        object.__setattr__(self, "adam_betas", tuple(float(b) for b in self.adam_betas))
        object.__setattr__(self, "snapshot_epochs", tuple(sorted({int(e) for e in self.snapshot_epochs})))
        if not isinstance(self.model, ModelConfig):
            raise TypeError(f"model must be a ModelConfig, got {type(self.model).__name__}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1 or self.n_hidden < 1 or self.threads < 1:
            raise ValueError("batch_size, n_hidden and threads must be >= 1")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        bad = [e for e in self.snapshot_epochs if not 0 <= e <= self.epochs]
        if bad:
            raise ValueError(f"snapshot_epochs {bad} lie outside 0..epochs ({self.epochs})")
        if self.device not in DEVICES and not self.device.startswith("cuda:"):
            raise ValueError(f"device must be auto, cpu or cuda, got {self.device!r}")

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        """Every flat option name: the training fields and the neuron constants."""
        return tuple(name for name in _field_names(cls) if name != "model") + ModelConfig.field_names()

    @classmethod
    def from_dict(cls, mapping: Mapping[str, Any]) -> "TrainOptions":
        """Options from a flat mapping; ``"last"`` in ``snapshot_epochs`` means ``epochs``."""
        known = set(cls.option_names())
        unknown = sorted(set(mapping) - known)
        if unknown:
            raise ValueError(f"unknown training option(s) {unknown}; allowed: {sorted(known)}")
        values = {name: value for name, value in mapping.items() if name not in ModelConfig.field_names()}
        if "snapshot_epochs" in values:
            epochs = values.get("epochs", cls.epochs)
            values["snapshot_epochs"] = tuple(epochs if e == "last" else e for e in values["snapshot_epochs"])
        return cls(model=ModelConfig.from_dict(mapping), **values)

    def as_dict(self) -> dict[str, Any]:
        """The flat mapping (the form of ``run.json`` ``params`` and of the config's ``training``)."""
        flat = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "model"}
        return {**flat, **self.model.as_dict()}

    @classmethod
    def setting_names(cls) -> tuple[str, ...]:
        """The run settings: where and how a run trains (device, threads, progress lines) and how
        many test samples ``probe.h5`` holds. They change neither its fingerprint nor its trained
        networks, so a finished run is not trained again when one of them changes."""
        return tuple(
            f.name
            for f in dataclasses.fields(cls)
            if not f.metadata.get("identity", True) and not f.metadata.get("retrains", False)
        )

    def identity_dict(self) -> dict[str, Any]:
        """The options that change a run's results (the fingerprint's part of the options)."""
        ignored = {f.name for f in dataclasses.fields(self) if not f.metadata.get("identity", True)}
        return {name: value for name, value in self.as_dict().items() if name not in ignored}

    def resolved_sigma_out(self) -> float:
        """σ_out: the given one, else 7(1-β)/√n_hidden (0 and None both mean the default)."""
        return float(self.sigma_out or reference_weight_scale(self.n_hidden, self.model))

    def replace(self, **changes: Any) -> "TrainOptions":
        """A copy with flat options changed (neuron constants included)."""
        return TrainOptions.from_dict({**self.as_dict(), **changes})


@dataclass(frozen=True)
class CalibrationSettings:
    """How σ_init is found for a target initial rate (:mod:`eisnn.calibration`).

    ``n_samples`` training samples (a fixed class-balanced subset; None: all), the relative
    tolerance of the rate reached, and the σ_init bracket of the bisection.
    """

    n_samples: int | None = 2048
    rel_tolerance: float = 0.05
    sigma_bounds: tuple[float, float] = (1e-6, 10.0)

    def __post_init__(self) -> None:
        bounds = tuple(float(b) for b in self.sigma_bounds)
        object.__setattr__(self, "sigma_bounds", bounds)
        if len(bounds) != 2 or not (0 < bounds[0] < bounds[1] and math.isfinite(bounds[1])):
            raise ValueError(f"sigma_bounds must satisfy 0 < low < high < inf, got {list(self.sigma_bounds)}")
        if not 0 < self.rel_tolerance < 1:
            raise ValueError(f"rel_tolerance must lie in (0, 1), got {self.rel_tolerance}")
        if self.n_samples is not None and self.n_samples < 1:
            raise ValueError(f"n_samples must be >= 1 or None (all samples), got {self.n_samples}")

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return _field_names(cls)

    @classmethod
    def from_dict(cls, mapping: Mapping[str, Any] | None) -> "CalibrationSettings":
        """Settings from a mapping (missing keys: defaults); unknown keys are an error."""
        mapping = dict(mapping or {})
        unknown = sorted(set(mapping) - set(_field_names(cls)))
        if unknown:
            raise ValueError(f"unknown calibration setting(s) {unknown}; allowed: {sorted(_field_names(cls))}")
        return cls(**mapping)

    def as_dict(self) -> dict[str, Any]:
        return {"n_samples": self.n_samples, "rel_tolerance": self.rel_tolerance, "sigma_bounds": list(self.sigma_bounds)}


@dataclass(frozen=True)
class RunSpec:
    """The parameters that identify one training run.

    The initial input-weight scale is either given (``sigma_init``) or asked for as an initial
    hidden firing rate (``target_rate_hz``, with ``sigma_init`` None): training then finds
    σ_init by calibration first (:func:`eisnn.calibration.calibrate_runs`). ``calibration``
    holds the calibration's settings (:class:`CalibrationSettings` keys) and, once calibrated,
    its whole record (the σ found, the rate reached, …).
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
        if self.sigma_init is not None and not (math.isfinite(self.sigma_init) and self.sigma_init > 0):
            raise ValueError(f"sigma_init must be a finite number > 0, got {self.sigma_init}")
        if self.target_rate_hz is not None and not (math.isfinite(self.target_rate_hz) and self.target_rate_hz > 0):
            raise ValueError(f"target_rate_hz must be a positive finite rate in Hz, got {self.target_rate_hz}")
        if self.calibration is not None and self.target_rate_hz is None:
            raise ValueError(f"{self.run_dir}: calibration settings need a target_rate_hz")
        if not (math.isfinite(self.noise_frac) and self.noise_frac >= 0):
            raise ValueError(f"noise_frac must be a finite number >= 0, got {self.noise_frac}")

    @property
    def has_sigma(self) -> bool:
        """True when σ_init is known (given, or found for the target rate by calibration)."""
        return self.sigma_init is not None

    @property
    def calibration_settings(self) -> CalibrationSettings:
        """The calibration settings of a target-rate run (defaults where none are given)."""
        settings = self.calibration or {}
        known = CalibrationSettings.field_names()
        if self.has_sigma:  # a calibrated run's record holds more than the settings
            settings = {key: settings[key] for key in known if key in settings}
        return CalibrationSettings.from_dict(settings)

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

    def identity(self) -> dict[str, Any]:
        """What a checkpoint of this run depends on: its parameters; of a calibration, the settings
        (with the σ_init found), not what it measured (a spike count may differ by one on
        another CPU without changing σ_init)."""
        params = self.params()
        if "calibration" in params:
            params["calibration"] = {key: params["calibration"].get(key) for key in CalibrationSettings.field_names()}
        return params


def fingerprint(run: RunSpec, options: TrainOptions, data_attrs: Mapping[str, Any]) -> str:
    """Hash of everything a run's checkpoint depends on: the run, the options, the data."""
    payload = json.dumps(
        {
            "run": run.identity(),
            "options": options.identity_dict(),
            "data": {key: str(value) for key, value in sorted(data_attrs.items())},
        },
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()
