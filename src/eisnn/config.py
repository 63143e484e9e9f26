"""Workflow configuration: presets, schema validation, experiment grids and training packs.

The Snakefile calls :func:`load_workflow_config`; everything here also works without Snakemake.

* **Presets.** ``config/presets/<name>.yaml`` is merged over ``config/config.yaml``; values given
  on the command line (``--config``, ``--configfile``) are merged last, so they win.
* **Validation.** The merged config is checked against ``config/schemas/config.schema.yaml``
  and a few rules a schema cannot express (snapshot epochs within ``epochs``, a raw-data
  source for every dataset in use). Any problem raises one :class:`ConfigError` whose message
  names the key path, the bad value and what is allowed.
* **Grids.** Each experiment expands to runs (ratio × initialisation × noise_frac × seed). The
  initialisation is either a list of σ_init values (``sigma_init``) or a list of target initial
  hidden firing rates (``init: {target_rate_hz: [...]}``), for which each run's σ_init is found
  by calibration when it trains (:mod:`eisnn.calibration`). In a σ grid, ``ratio: null``
  (unconstrained) always adds the reference scale 7(1-β)/√n_in to the σ values: it is the
  baseline line of Fig 1c/d (paper §2.1: the lines of networks without Dale's law).
* **Variants.** ``variants: {<name>: {...}}`` in an experiment trains method variants beside it
  (e.g. the paper's literal loss and surrogate): each replaces some of the experiment's keys
  (``training`` options, optionally a thinner grid) and is expanded as experiment
  ``<experiment>@<name>`` (:func:`eisnn.layout.variant_experiment`), with its own runs, statistics
  and figures. The experiment itself is the default variant and keeps its name and paths.
* **Packs.** The seeds of one grid point are split, in the order listed, into consecutive
  chunks of ``runs_per_job``; each chunk is one training job. Appending seeds to a grid point
  whose last chunk is full only adds packs; existing packs keep their names.
"""

from __future__ import annotations

import copy
import difflib
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import yaml

from .layout import (
    ENCODED_SPLIT,
    FMNIST_FILES,
    PACK_MARKER,
    SHD_FILES,
    RUN_DIR,
    format_value,
    init_label,
    seeds_label,
    split_variant,
    variant_experiment,
)
from .params import CalibrationSettings, ModelConfig, reference_weight_scale
from .resources import DATASET_SIZES, Request, RequestPolicy

EXPERIMENTS = {"fmnist_sigma": "fmnist", "shd_sigma": "shd", "fmnist_noise": "fmnist", "fmnist_rate": "fmnist"}
"""Experiment id -> the dataset it has in the paper: the paper's three (Fig 1/3/4/5 and Table 2 on
Fashion-MNIST, Fig 1/5 and Table 3 on SHD, Fig 2) and the target-rate grid. Each has a workflow
target of the same name; a config may run an experiment on another dataset (the smoke preset's
synthetic data), but its figures and resources follow the paper's dataset."""


def experiments_of(paper_dataset: str) -> list[str]:
    """The experiments whose paper dataset is ``paper_dataset`` (:data:`EXPERIMENTS`)."""
    return [name for name, dataset in EXPERIMENTS.items() if dataset == paper_dataset]


def paper_dataset_of(name: str) -> str:
    """The paper dataset of an experiment or of one of its variants (``fmnist_sigma@paper``)."""
    return EXPERIMENTS[split_variant(name)[0]]

RAW_DATASETS = ("fmnist", "shd")
"""Datasets built from raw files (downloaded or found in ``data_dir``)."""

DATASET_INPUTS = {"fmnist": 784, "shd": 700}
"""Input units per dataset (the synthetic dataset's is its ``n_units``)."""

SNAPSHOT_LAST = "last"

SECTION_DEFAULTS = {
    "metrics": {"max_samples": None, "tau_ms": 1.0, "n_weight_bins": 50},
    "statistics": {"ttest": "welch", "noise_levels": [0.2, 0.4, 0.6], "reference_ratio": 1.0},
}
"""Values of the ``metrics`` and ``statistics`` sections where the config gives none."""


class ConfigError(ValueError):
    """A configuration problem, with a message that names the key and what is allowed."""


# ---------------------------------------------------------------------------------------------
# Loading and presets
# ---------------------------------------------------------------------------------------------


def load_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """Read a YAML mapping (an empty file is an empty mapping)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML ({error})") from error
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys, got {type(data).__name__}")
    return data


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``base`` with ``override`` merged in: mappings merge key by key, the rest is replaced."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def coerce_cli_values(value: Any) -> Any:
    """Give typed values to the strings that ``--config`` leaves inside nested values.

    Snakemake parses ``--config key=value`` itself but keeps every scalar nested in a mapping
    or list as a string (``"[0, 5]"`` -> ``["0", "5"]``). Each such string is read back as a
    YAML scalar (``"5"`` -> 5, ``"null"`` -> None, ``"true"`` -> True) or a float (``"1e-3"``).
    """
    if isinstance(value, Mapping):
        return {key: coerce_cli_values(item) for key, item in value.items()}
    if isinstance(value, list):
        return [coerce_cli_values(item) for item in value]
    if isinstance(value, str):
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            return value
        if parsed is None or isinstance(parsed, (bool, int, float)):
            return parsed
        try:
            return float(value)
        except ValueError:
            return value
    return value


def available_presets(presets_dir: str | os.PathLike) -> list[str]:
    """Names of the presets (``<name>.yaml`` files) in ``presets_dir``."""
    directory = Path(presets_dir)
    return sorted(p.stem for p in directory.glob("*.yaml")) if directory.is_dir() else []


def apply_preset(
    config: Mapping[str, Any],
    presets_dir: str | os.PathLike,
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Merge the preset named by ``config["preset"]`` over ``config``, then ``overrides`` over that.

    ``config`` is the base config (possibly already holding the overrides, as Snakemake's
    ``config`` does); merging ``overrides`` again last makes command-line values win over the
    preset. An unknown preset name is a :class:`ConfigError` listing the available ones.
    """
    name = config.get("preset")
    if name is None:
        return deep_merge(config, overrides or {})
    preset = load_yaml(preset_file(presets_dir, name))
    return deep_merge(deep_merge(config, preset), overrides or {})


def preset_file(presets_dir: str | os.PathLike, name: Any) -> Path:
    """The file of preset ``name``; an unknown name, or a preset naming another, is a :class:`ConfigError`."""
    presets = available_presets(presets_dir)
    if not isinstance(name, str) or name not in presets:
        raise ConfigError(
            f"preset: unknown preset {name!r}; available presets: {', '.join(presets) or '(none)'} "
            f"(files in {presets_dir})"
        )
    path = Path(presets_dir) / f"{name}.yaml"
    if "preset" in load_yaml(path):
        raise ConfigError(f"{path}: a preset cannot name another preset")
    return path


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------


def load_schema(path: str | os.PathLike) -> dict[str, Any]:
    return load_yaml(path)


def key_path(parts: Sequence[Any]) -> str:
    """``["experiments", "x", "seeds", 3]`` -> ``experiments.x.seeds[3]``."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _allowed_text(schema: Mapping[str, Any]) -> str:
    """A short human description of what a schema node accepts."""
    if "enum" in schema:
        return "one of " + ", ".join(_show(v) for v in schema["enum"])
    if "const" in schema:
        return _show(schema["const"])
    types = schema.get("type")
    if types is None:
        return ""
    types = [types] if isinstance(types, str) else list(types)
    return " or ".join("null" if t == "null" else ("a " if t[0] not in "aeiou" else "an ") + t for t in types)


def _show(value: Any) -> str:
    return "null" if value is None else repr(value)


def _format_error(error) -> str:
    """Turn one jsonschema ValidationError into a sentence naming key, value and rule."""
    where = key_path(list(error.absolute_path))
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    value = error.instance
    kind = error.validator
    if kind == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        extra = sorted(k for k in value if k not in schema.get("properties", {}))
        key = extra[0]
        message = f"{key_path([*error.absolute_path, key])}: unknown key {key!r}; allowed keys here: {', '.join(allowed)}"
        close = difflib.get_close_matches(key, allowed, n=1)
        if close:
            message += f" (did you mean {close[0]!r}?)"
    elif kind == "required":
        missing = [k for k in schema.get("required", []) if k not in value]
        message = f"{key_path([*error.absolute_path, missing[0]])}: missing (required)"
    elif kind == "type":
        message = f"{where}: {_show(value)} has the wrong type; expected {_allowed_text(schema)}"
        if isinstance(value, str) and re.fullmatch(r"[+-]?\d+(\.\d*)?[eE][+-]?\d+", value.strip()):
            message += f" (YAML reads {value} as text: write it with a decimal point, e.g. 1.0e-3)"
    elif kind == "enum":
        message = f"{where}: {_show(value)} is not allowed; expected {_allowed_text(schema)}"
    elif kind in ("anyOf", "oneOf"):
        options = " or ".join(filter(None, (_allowed_text(s) for s in error.validator_value)))
        message = f"{where}: {_show(value)} is not allowed; expected {options}"
    elif kind == "minItems" and error.validator_value == 1:
        message = f"{where}: the list is empty; give at least one value"
    elif kind == "uniqueItems":
        message = f"{where}: {_show(value)} lists a value twice; each value must appear once"
    else:
        message = f"{where}: {error.message}"
    hint = schema.get("x-hint")
    if hint:
        message += f" ({hint})"
    return message


def _error_order(error) -> tuple:
    """Sort key of errors: shallowest first, then list order, then specific before anyOf/oneOf."""
    path = [(0, part, "") if isinstance(part, int) else (1, 0, str(part)) for part in error.absolute_path]
    return (len(path), path, error.validator in ("anyOf", "oneOf"))


_BRANCH_LIMITS = {"minItems", "maxItems", "uniqueItems", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}


def with_experiment_properties(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The schema with one ``experiments.<id>`` property per id of :data:`EXPERIMENTS`."""
    schema = copy.deepcopy(dict(schema))
    experiments = schema.get("properties", {}).get("experiments")
    if experiments is not None:
        experiments["properties"] = {name: {"$ref": "#/$defs/experiment"} for name in EXPERIMENTS}
    return schema


def non_finite_values(value: Any, path: tuple = ()) -> Iterator[tuple[str, float]]:
    """(key path, value) of every NaN or infinite number in a config (a schema's bounds let NaN pass)."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from non_finite_values(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from non_finite_values(item, (*path, i))
    elif isinstance(value, float) and not math.isfinite(value):
        yield key_path(path), value


def check_sizes(config: Mapping[str, Any]) -> None:
    """A subset larger than its dataset is a :class:`ConfigError` (it would silently use all of it)."""
    for dataset, (full_train, full_test) in DATASET_SIZES.items():
        params = config.get("datasets", {}).get(dataset) or {}
        for key, full in (("subset_train", full_train), ("subset_test", full_test)):
            size = params.get(key)
            if isinstance(size, int) and size > full:
                raise ConfigError(
                    f"invalid config: datasets.{dataset}.{key}: {size} is more than the {full} samples of the "
                    f"{dataset} {key.removeprefix('subset_')} split; give at most {full}, or null for all of them"
                )


def validate(config: Mapping[str, Any], schema: Mapping[str, Any]) -> None:
    """Check ``config`` against the JSON schema; raise one :class:`ConfigError` on the first problem.

    Non-finite numbers are refused first, anywhere (NaN passes a schema's minimum and maximum).
    With several problems the one nearest the top level is reported (the first in list
    order among equals), and the count of the others is added.
    """
    import jsonschema

    for where, value in non_finite_values(config):
        raise ConfigError(f"invalid config: {where}: {value} is not a finite number")

    schema = with_experiment_properties(schema)
    validator_class = jsonschema.validators.validator_for(schema)
    validator = validator_class(schema)
    errors = list(validator.iter_errors(config))
    if not errors:
        return
    best = min(errors, key=_error_order)
    if best.validator in ("anyOf", "oneOf") and best.context:
        # The branch that got furthest: the deepest error or, at equal depth, a range or size
        # error of the branch whose type matched (e.g. an empty list or a repeated value).
        deeper = max(best.context, key=lambda e: (len(e.absolute_path), e.validator in _BRANCH_LIMITS))
        if len(deeper.absolute_path) > len(best.absolute_path) or deeper.validator in _BRANCH_LIMITS:
            best = deeper
    message = _format_error(best)
    others = len(errors) - 1
    if others:
        message += f" [and {others} more problem{'s' if others > 1 else ''}]"
    raise ConfigError(f"invalid config: {message}")


# ---------------------------------------------------------------------------------------------
# Labels and the reference scale
# ---------------------------------------------------------------------------------------------


def reference_sigma(n_in: int, tau_mem_ms: float = 10.0, dt_ms: float = 1.0, digits: int = 3) -> float:
    """:func:`eisnn.params.reference_weight_scale` 7(1-β)/√n_in, rounded to ``digits`` significant digits.

    Rounding keeps the run paths readable (0.0238 for Fashion-MNIST, 0.0252 for SHD).
    """
    value = reference_weight_scale(n_in, ModelConfig(tau_mem_ms=tau_mem_ms, dt_ms=dt_ms))
    return float(f"{value:.{digits}g}")


# ---------------------------------------------------------------------------------------------
# Runs, packs, experiments
# ---------------------------------------------------------------------------------------------


def point_labels(point) -> dict[str, str]:
    """Path labels of a grid point (a Run or a Pack): experiment, ratio, init, noise."""
    return {
        "experiment": point.experiment,
        "ratio": format_value(point.ratio),
        "init": init_label(point.sigma_init, point.target_rate_hz),
        "noise": format_value(point.noise_frac),
    }


@dataclass(frozen=True)
class Run:
    """One training run: a grid point and a seed (σ_init None: calibrated to ``target_rate_hz``)."""

    experiment: str
    ratio: float | None
    sigma_init: float | None
    noise_frac: float
    seed: int
    target_rate_hz: float | None = None

    @property
    def labels(self) -> dict[str, str]:
        return {**point_labels(self), "seed": str(self.seed)}

    def run_dir(self, results_dir: str) -> str:
        return RUN_DIR.format(results_dir=results_dir, **self.labels)

    def spec(self, results_dir: str, calibration: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Keyword arguments of :class:`eisnn.train.RunSpec` (``calibration``: settings of a target-rate run)."""
        spec = {
            "run_dir": self.run_dir(results_dir),
            "ratio": self.ratio,
            "sigma_init": self.sigma_init,
            "noise_frac": self.noise_frac,
            "seed": self.seed,
            "experiment": self.experiment,
        }
        if self.target_rate_hz is not None:
            spec.update(target_rate_hz=self.target_rate_hz, calibration=dict(calibration or {}))
        return spec


@dataclass(frozen=True)
class Pack:
    """The runs one training job trains together: one grid point, a chunk of its seeds."""

    experiment: str
    ratio: float | None
    sigma_init: float | None
    noise_frac: float
    seeds: tuple[int, ...]
    target_rate_hz: float | None = None

    @property
    def runs(self) -> list[Run]:
        return [
            Run(self.experiment, self.ratio, self.sigma_init, self.noise_frac, s, self.target_rate_hz)
            for s in self.seeds
        ]

    @property
    def labels(self) -> dict[str, str]:
        return {**point_labels(self), "seeds": seeds_label(self.seeds)}

    def marker(self, results_dir: str) -> str:
        return PACK_MARKER.format(results_dir=results_dir, **self.labels)


@dataclass(frozen=True)
class Experiment:
    """One experiment of the config, with its training options resolved."""

    name: str
    enabled: bool
    dataset: str
    ratios: tuple[float | None, ...]
    sigma_init: tuple[float, ...]
    noise_fracs: tuple[float, ...]
    seeds: tuple[int, ...]
    runs_per_job: int
    training: dict[str, Any]
    resources: dict[str, Any]
    baseline_sigma: float | None
    target_rates_hz: tuple[float, ...] = ()
    calibration: dict[str, Any] | None = None
    variant: str | None = None

    @property
    def base(self) -> str:
        """The paper experiment this is (itself, or the experiment a variant belongs to)."""
        return split_variant(self.name)[0]

    @property
    def by_rate(self) -> bool:
        """True for a target-rate grid (``init: {target_rate_hz: ...}``), False for a σ grid."""
        return bool(self.target_rates_hz)

    def sigmas_for(self, ratio: float | None) -> tuple[float, ...]:
        """σ values of one ratio: the listed ones, plus the reference scale for unconstrained."""
        if ratio is None and self.baseline_sigma is not None and self.baseline_sigma not in self.sigma_init:
            return (*self.sigma_init, self.baseline_sigma)
        return self.sigma_init

    def grid_points(self) -> Iterator[tuple[float | None, float | None, float, float | None]]:
        """(ratio, sigma_init, noise_frac, target_rate_hz); exactly one of σ and rate is None."""
        for ratio in self.ratios:
            inits = [(None, rate) for rate in self.target_rates_hz] or [(s, None) for s in self.sigmas_for(ratio)]
            for sigma, rate in inits:
                for noise in self.noise_fracs:
                    yield ratio, sigma, noise, rate

    def seed_chunks(self) -> list[tuple[int, ...]]:
        k = self.runs_per_job
        return [tuple(self.seeds[i : i + k]) for i in range(0, len(self.seeds), k)]

    def packs(self) -> list[Pack]:
        return [
            Pack(self.name, ratio, sigma, noise, chunk, rate)
            for ratio, sigma, noise, rate in self.grid_points()
            for chunk in self.seed_chunks()
        ]

    def runs(self) -> list[Run]:
        return [run for pack in self.packs() for run in pack.runs]

    @property
    def train_options(self) -> dict[str, Any]:
        """Options for :meth:`eisnn.train.TrainOptions.from_dict` ("last" resolved to epochs)."""
        return copy.deepcopy(self.training)


class WorkflowConfig:
    """The validated config with its experiments expanded; lookups used by the workflow rules."""

    def __init__(self, raw: Mapping[str, Any]):
        self.raw = copy.deepcopy(dict(raw))
        self.results_dir = str(raw["results_dir"]).rstrip("/")
        self.raw_dir = str(raw["raw_dir"]).rstrip("/")
        self.experiments: dict[str, Experiment] = {}
        for name, spec in raw["experiments"].items():
            self.experiments[name] = _build_experiment(name, spec, raw)
            for variant, overrides in (spec.get("variants") or {}).items():
                instance = variant_experiment(name, variant)
                self.experiments[instance] = _build_experiment(instance, variant_spec(spec, overrides), raw, variant)
        self._packs: dict[tuple[str, ...], Pack] = {}
        self._pack_of_run: dict[tuple[str, ...], Pack] = {}
        for experiment in self.experiments.values():
            for pack in experiment.packs():
                labels = pack.labels
                self._packs[tuple(labels.values())] = pack
                for run in pack.runs:
                    self._pack_of_run[tuple(run.labels.values())] = pack

    def section(self, name: str) -> dict[str, Any]:
        """A settings section (``metrics``, ``statistics``) with :data:`SECTION_DEFAULTS` filled in."""
        return {**copy.deepcopy(SECTION_DEFAULTS[name]), **copy.deepcopy(self.raw.get(name, {}))}

    @property
    def enabled(self) -> list[str]:
        """Names of the enabled experiments, in the order of :data:`EXPERIMENTS`, each followed by
        its variants (``<experiment>@<variant>``, in the order listed)."""
        return [name for base in EXPERIMENTS for name in self.variants_of(base) if self.experiments[name].enabled]

    def variants_of(self, base: str) -> list[str]:
        """The experiment ``base`` (if in the config) and its variants' experiment names."""
        return [name for name, spec in self.experiments.items() if spec.base == base]

    def experiment(self, name: str) -> Experiment:
        if name not in self.experiments:
            raise ConfigError(f"experiments.{name}: not in the config")
        return self.experiments[name]

    def dataset_sizes(self, dataset: str) -> tuple[int, int]:
        """(train, test) samples the encoded dataset will have (subsets, or the full dataset)."""
        params = self.raw.get("datasets", {}).get(dataset, {})
        if dataset == "synthetic":
            return int(params.get("n_train", 512)), int(params.get("n_test", 128))
        full_train, full_test = DATASET_SIZES[dataset]
        subset_train, subset_test = params.get("subset_train"), params.get("subset_test")
        return min(subset_train or full_train, full_train), min(subset_test or full_test, full_test)

    @property
    def request_policy(self) -> RequestPolicy:
        return RequestPolicy.from_config(self.raw.get("resources", {}))

    def training_request(self, pack: Pack, attempt: int = 1) -> Request:
        """runtime (minutes) and mem_mb of the job that trains ``pack`` (:mod:`eisnn.resources`);
        an experiment's ``resources.train_runtime``/``train_mem_mb`` replace the measured need.
        The runtime leaves room for the metrics of the pack's runs within ``max_runtime``: on a
        cluster they run in the same SLURM job (the profile's group ``pack``)."""
        experiment = self.experiment(pack.experiment)
        sizes = self.dataset_sizes(experiment.dataset)
        request = self.request_policy.training(
            experiment.dataset, sizes, len(pack.seeds), experiment.training["epochs"], attempt
        )
        fixed = experiment.resources
        runtime = int(fixed["train_runtime"]) * attempt if "train_runtime" in fixed else request.runtime
        # The pack's SLURM job also computes its runs' metrics: together within max_runtime.
        metrics_minutes = len(pack.seeds) * self.metrics_request(pack.experiment, attempt).runtime
        runtime = max(1, min(runtime, self.request_policy.max_runtime - metrics_minutes))
        return Request(runtime, int(fixed["train_mem_mb"]) * attempt if "train_mem_mb" in fixed else request.mem_mb)

    def metrics_request(self, experiment: str, attempt: int = 1) -> Request:
        """runtime (minutes) and mem_mb of one run's metrics job (every snapshot, the test split)."""
        spec = self.experiment(experiment)
        n_snapshots = len(spec.training.get("snapshot_epochs", [0, 1, 10, spec.training["epochs"]]))
        return self.request_policy.metrics(spec.dataset, self.dataset_sizes(spec.dataset)[1], n_snapshots, attempt)

    def check_requests(self) -> None:
        """A ConfigError if the SLURM job of a training pack of an enabled experiment (its
        training and its runs' metrics) would need more than ``resources.max_runtime`` minutes
        at its first attempt."""
        policy = self.request_policy
        for name in self.enabled:
            spec = self.experiment(name)
            if spec.dataset not in policy.measured:
                raise ConfigError(
                    f"invalid config: resources.measured.{spec.dataset}: missing, so the jobs of experiment {name} "
                    f"have no request; measure it with benchmarks/cluster_requests.py"
                )
            if "train_runtime" in spec.resources:
                continue
            if self._pack_minutes(name, spec.runs_per_job) <= policy.max_runtime:
                continue
            fitting = next(
                (n for n in range(spec.runs_per_job - 1, 0, -1) if self._pack_minutes(name, n) <= policy.max_runtime), 0
            )
            sizes = self.dataset_sizes(spec.dataset)
            need_s = policy.training_need_seconds(spec.dataset, sizes, spec.runs_per_job, spec.training["epochs"])
            advice = f"use runs_per_job: {fitting} or less for this experiment" if fitting else "shorten the epochs"
            raise ConfigError(
                f"invalid config: experiments.{name}.runs_per_job: a pack of {spec.runs_per_job} runs needs "
                f"{need_s / 3600:.1f} h of training; with the margin ({policy.margin:g}×) and its runs' metrics its "
                f"job would ask for more than resources.max_runtime ({policy.max_runtime} min); {advice}"
            )

    def request_table(self) -> list[dict[str, Any]]:
        """Per enabled experiment: the measured need and the requests (attempts 1 and 3) of its
        first training pack and of one run's metrics, for the README and ``eisnn requests``."""
        rows, policy = [], self.request_policy
        for name in self.enabled:
            spec = self.experiment(name)
            pack = spec.packs()[0]
            sizes = self.dataset_sizes(spec.dataset)
            n_snapshots = len(spec.training.get("snapshot_epochs", []))
            costs = policy.measured[spec.dataset]
            rows.append({
                "experiment": name,
                "job": f"train: {len(pack.seeds)} runs × {spec.training['epochs']} epochs, {sizes[0]} / {sizes[1]}",
                "need_s": policy.training_need_seconds(spec.dataset, sizes, len(pack.seeds), spec.training["epochs"]),
                "peak_mb": costs["train_peak_mb"],
                "request": self.training_request(pack),
                "retry": self.training_request(pack, 3),
            })
            rows.append({
                "experiment": name,
                "job": f"run_metrics: {n_snapshots} snapshots × {sizes[1]} test samples",
                "need_s": policy.metrics_need_seconds(spec.dataset, sizes[1], n_snapshots),
                "peak_mb": costs["metrics_peak_mb"],
                "request": self.metrics_request(name),
                "retry": self.metrics_request(name, 3),
            })
        return rows

    def _pack_minutes(self, experiment: str, runs: int) -> int:
        """Minutes a pack of ``runs`` runs asks for at its first attempt, training and metrics, uncapped."""
        spec, policy = self.experiment(experiment), self.request_policy
        need_s = policy.training_need_seconds(spec.dataset, self.dataset_sizes(spec.dataset), runs, spec.training["epochs"])
        training = math.ceil(need_s * policy.margin / 60) + policy.startup_minutes
        return training + runs * self.metrics_request(experiment).runtime

    def datasets_in_use(self) -> list[str]:
        return sorted({self.experiments[name].dataset for name in self.enabled})

    def dataset_params(self, dataset: str) -> dict[str, Any]:
        """Encoding parameters of a dataset for :func:`eisnn.data.encode_dataset`."""
        params = dict(self.raw.get("datasets", {}).get(dataset, {}))
        params.pop("data_dir", None)
        params.pop("download", None)
        return dict(sorted(params.items()))

    def encoded(self, dataset: str, split: str) -> str:
        return ENCODED_SPLIT.format(results_dir=self.results_dir, dataset=dataset, split=split)

    def pack(self, experiment: str, ratio: str, init: str, noise: str, seeds: str) -> Pack:
        """The pack with these path labels (a ConfigError if the config has no such pack)."""
        try:
            return self._packs[(experiment, ratio, init, noise, seeds)]
        except KeyError:
            raise ConfigError(
                f"no training pack {experiment}/ratio-{ratio}/{init}/noise-{noise}/pack-{seeds} in the config"
            ) from None

    def pack_of_run(self, experiment: str, ratio: str, init: str, noise: str, seed: str) -> Pack:
        """The pack that trains the run with these path labels."""
        try:
            return self._pack_of_run[(experiment, ratio, init, noise, str(seed))]
        except KeyError:
            raise ConfigError(
                f"no run {experiment}/ratio-{ratio}/{init}/noise-{noise}/seed-{seed} in the config"
            ) from None

    def pack_specs(self, pack: Pack) -> list[dict[str, Any]]:
        """:class:`eisnn.train.RunSpec` keyword arguments of every run of ``pack``."""
        calibration = self.experiment(pack.experiment).calibration
        return [run.spec(self.results_dir, calibration) for run in pack.runs]

    def run_dirs(self, experiment: str) -> list[str]:
        return [run.run_dir(self.results_dir) for run in self.experiment(experiment).runs()]


def variant_spec(spec: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The experiment spec of a variant: the experiment's keys with the variant's merged over
    them (``training`` key by key); a variant's σ values or target rates replace the other kind."""
    base = {key: value for key, value in spec.items() if key != "variants"}
    if "init" in overrides:
        base.pop("sigma_init", None)
    if overrides.get("sigma_init") is not None:
        base.pop("init", None)
    return deep_merge(base, overrides)


def _build_experiment(
    name: str, spec: Mapping[str, Any], raw: Mapping[str, Any], variant: str | None = None
) -> Experiment:
    if "epochs" in spec.get("training", {}):
        raise ConfigError(
            f"invalid config: experiments.{name}.training.epochs: set the epochs of an experiment "
            f"with experiments.{name}.epochs"
        )
    training = deep_merge(raw.get("training", {}), spec.get("training", {}))
    if "epochs" in spec:
        training["epochs"] = spec["epochs"]
    epochs = int(training.get("epochs", 30))
    training["epochs"] = epochs
    if "snapshot_epochs" in training:
        origin = (
            f"experiments.{name}.training.snapshot_epochs"
            if "snapshot_epochs" in spec.get("training", {})
            else "training.snapshot_epochs"
        )
        resolved = []
        for i, value in enumerate(training["snapshot_epochs"]):
            epoch = epochs if value == SNAPSHOT_LAST else int(value)
            if epoch > epochs:
                raise ConfigError(
                    f"invalid config: {origin}[{i}]: {value} is beyond the {epochs} epochs of experiment "
                    f"{name} (snapshot epochs run from 0 to epochs; \"last\" means the final epoch)"
                )
            resolved.append(epoch)
        training["snapshot_epochs"] = sorted(set(resolved))
    dataset = spec["dataset"]
    if dataset == "synthetic":
        n_in = int(raw.get("datasets", {}).get("synthetic", {}).get("n_units", 100))
    else:
        n_in = DATASET_INPUTS[dataset]
    sigmas, rates, calibration = _initialisation(name, spec, float(training.get("dt_ms", 1.0)))
    baseline = None
    if None in spec["ratios"] and not rates:
        baseline = reference_sigma(n_in, training.get("tau_mem_ms", 10.0), training.get("dt_ms", 1.0))
    resources = deep_merge(raw.get("resources", {}), spec.get("resources", {}))
    return Experiment(
        name=name,
        enabled=bool(spec.get("enabled", True)),
        dataset=dataset,
        ratios=tuple(None if r is None else float(r) for r in spec["ratios"]),
        sigma_init=sigmas,
        noise_fracs=tuple(float(n) for n in spec["noise_fracs"]),
        seeds=tuple(int(s) for s in spec["seeds"]),
        runs_per_job=int(spec.get("runs_per_job", raw["runs_per_job"])),
        training=dict(sorted(training.items())),
        resources=dict(sorted(resources.items())),
        baseline_sigma=baseline,
        target_rates_hz=rates,
        calibration=calibration,
        variant=variant,
    )


def _initialisation(
    name: str, spec: Mapping[str, Any], dt_ms: float
) -> tuple[tuple[float, ...], tuple[float, ...], dict | None]:
    """(σ values, target rates in Hz, calibration settings) of an experiment: σ or rates, never both.

    ``sigma_init: null`` counts as absent, so that an override can switch an experiment to
    target rates. Targets must be finite and below the rate a neuron cannot exceed (it fires at
    most every other step, 1/(2·dt)); the calibration settings are completed from
    :class:`eisnn.params.CalibrationSettings`, so that they are all part of the job's parameters.
    """
    sigmas, init = spec.get("sigma_init"), spec.get("init")
    where = f"invalid config: experiments.{name}"
    if sigmas is not None and init is not None:
        raise ConfigError(
            f"{where}: give either sigma_init (σ values) or init.target_rate_hz (target initial firing rates), "
            f"not both (set sigma_init: null to replace the σ values of a preset or the base config)"
        )
    if init is None:
        if sigmas is None:
            raise ConfigError(
                f"{where}.sigma_init: missing; give sigma_init (a list of σ values) or init: {{target_rate_hz: [...]}} "
                f"(target initial firing rates in Hz)"
            )
        for i, sigma in enumerate(sigmas):
            if not math.isfinite(sigma):
                raise ConfigError(f"{where}.sigma_init[{i}]: {sigma} is not a finite number")
        return tuple(float(s) for s in sigmas), (), None
    rates = init["target_rate_hz"]
    rates = tuple(float(r) for r in (rates if isinstance(rates, list) else [rates]))
    ceiling_hz = 1000.0 / (2 * dt_ms)
    for i, rate in enumerate(rates):
        if not rate < ceiling_hz:  # also catches inf and nan
            raise ConfigError(
                f"{where}.init.target_rate_hz[{i}]: {rate} Hz is unreachable: with dt = {dt_ms:g} ms a neuron "
                f"fires at most every other step, below {ceiling_hz:g} Hz"
            )
    given = {key: value for key, value in init.items() if key != "target_rate_hz"}
    low, high = given.get("sigma_bounds", CalibrationSettings.sigma_bounds)
    if not (0 < low < high and math.isfinite(high)):
        raise ConfigError(
            f"{where}.init.sigma_bounds: {given['sigma_bounds']} must be [low, high] with 0 < low < high < inf"
        )
    try:
        calibration = CalibrationSettings.from_dict(given).as_dict()
    except ValueError as error:
        raise ConfigError(f"{where}.init: {error}") from None
    return (), rates, dict(sorted(calibration.items()))


# ---------------------------------------------------------------------------------------------
# Raw data sources
# ---------------------------------------------------------------------------------------------


def raw_file_names(dataset: str) -> list[str]:
    """The raw files of a dataset as the download writes them."""
    if dataset == "fmnist":
        return [name for split in ("train", "test") for name in FMNIST_FILES[split].values()]
    if dataset == "shd":
        return [SHD_FILES[split] + ".gz" for split in ("train", "test")]
    return []


def _accepted_names(dataset: str, downloaded: str) -> tuple[str, ...]:
    """Names under which a raw file is accepted in a data_dir, in the order the loader prefers."""
    if dataset == "shd":
        return (downloaded.removesuffix(".gz"), downloaded)  # eisnn.data reads a plain .h5 first
    return (downloaded,)


@dataclass(frozen=True)
class RawSource:
    """Where the raw files of a dataset come from."""

    directory: str
    files: tuple[str, ...]
    downloaded: bool


def raw_source(cfg: WorkflowConfig, dataset: str, base_dir: str | os.PathLike = ".") -> RawSource:
    """The raw files of ``dataset``: in its ``data_dir``, or in the download folder.

    A configured ``data_dir`` (relative paths start at ``base_dir``, the working directory)
    that holds every raw file is used in place. Otherwise the files are downloaded into
    ``<raw_dir>/<dataset>/``, unless ``download`` is false: then a :class:`ConfigError` says
    which folder and which files are missing.
    """
    settings = cfg.raw.get("datasets", {}).get(dataset, {})
    data_dir = settings.get("data_dir")
    download = settings.get("download", True)
    names = raw_file_names(dataset)
    if data_dir:
        root = Path(data_dir) if Path(data_dir).is_absolute() else Path(base_dir) / data_dir
        found = []
        for name in names:
            present = [n for n in _accepted_names(dataset, name) if (root / n).is_file()]
            if present:
                found.append(f"{data_dir.rstrip('/')}/{present[0]}")
        if len(found) == len(names):
            return RawSource(data_dir.rstrip("/"), tuple(found), False)
        if not download:
            what = "is not a directory" if not root.is_dir() else "lacks some of the raw files"
            raise ConfigError(
                f"invalid config: datasets.{dataset}.data_dir: {data_dir!r} {what} (looked in "
                f"{root.resolve()}), and datasets.{dataset}.download is false; name the folder that "
                f"holds {', '.join(names)} or set download: true"
            )
    elif not download:
        raise ConfigError(
            f"invalid config: datasets.{dataset}.data_dir: missing, and datasets.{dataset}.download is "
            f"false, so the raw {dataset} files have no source; name the folder that holds "
            f"{', '.join(names)} or set download: true"
        )
    directory = f"{cfg.raw_dir}/{dataset}"
    return RawSource(directory, tuple(f"{directory}/{name}" for name in names), True)


def check_folders(cfg: WorkflowConfig, base_dir: str | os.PathLike = ".") -> None:
    """Raise a :class:`ConfigError` if ``results_dir`` or ``raw_dir``, or a folder above it, is a file."""
    for key, value in (("results_dir", cfg.results_dir), ("raw_dir", cfg.raw_dir)):
        path = Path(base_dir, value)
        blocked = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), None)
        if blocked is not None:
            raise ConfigError(
                f"invalid config: {key}: {value!r} is not a folder ({blocked} is a file); give the path of a folder"
            )


def check_data_sources(cfg: WorkflowConfig, base_dir: str | os.PathLike = ".") -> None:
    """Raise a :class:`ConfigError` if an enabled experiment's raw dataset has no source."""
    for dataset in cfg.datasets_in_use():
        if dataset in RAW_DATASETS:
            raw_source(cfg, dataset, base_dir)


# ---------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------


def build(config: Mapping[str, Any], schema: Mapping[str, Any]) -> WorkflowConfig:
    """Validate a merged config and expand its experiments."""
    validate(config, schema)
    check_sizes(config)
    return WorkflowConfig(config)


def load_workflow_config(
    config: Mapping[str, Any],
    overrides: Mapping[str, Any] | None = None,
    config_dir: str | os.PathLike = "config",
    base_dir: str | os.PathLike = ".",
    preset_merged: bool = False,
) -> WorkflowConfig:
    """Apply the preset, validate, expand, and check the raw-data sources.

    ``config`` is the base config; ``overrides`` the values that win over the preset (the
    command line's); ``config_dir`` holds ``presets/`` and ``schemas/``; ``base_dir`` is the
    directory relative ``data_dir`` paths start from. ``preset_merged``: ``config`` already
    holds its preset and overrides, merged in that order (the Snakefile loads the preset as a
    ``configfile``, over which Snakemake merges ``--configfile`` and ``--config``).
    """
    config_dir = Path(config_dir)
    if preset_merged:
        merged = deep_merge(config, overrides or {})
    else:
        merged = apply_preset(config, config_dir / "presets", overrides)
    cfg = build(merged, load_schema(config_dir / "schemas" / "config.schema.yaml"))
    check_folders(cfg, base_dir)
    check_data_sources(cfg, base_dir)
    cfg.check_requests()
    return cfg
