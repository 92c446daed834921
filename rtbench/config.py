"""Resolve ``key=value`` overrides into one typed, hashed :class:`RunSpec`.

Keys a submission takes (every error names the key and the valid choices, before any work)::

    method=NAME | package.module:Class      method.<field>=VALUE   (the method's Config dataclass)
    dataset=NAME                             dataset.<field>=VALUE  (the dataset's Config dataclass)
    hardware=NAME                            hardware.<field>=VALUE (HardwareProfile fields)
    budget=NAME                              budget.<field>=VALUE   (Budget fields)
    task=NAME (default: the dataset's task)  seed=INT  device=auto|cpu|cuda
    ray.address=ADDR  ray.train_cpus=N  ray.train_gpus=N  runs.dir=PATH

``task=NAME`` without ``dataset=`` takes the task's embedded dataset (``Task.default_dataset``:
``synthetic-cine`` for cine, ``synthetic-echo`` for echo); a task the harness cannot train yet
(``Task.not_trainable``) is refused here with that reason.

Values are typed by the target dataclass field (OmegaConf structured configs do the checking).
The resolved config minus where it runs (ray.*, runs.dir, device) and where the data lie (a
dataset's ``*root`` paths: the data fingerprint hashes the files' content) is hashed into the run id, so the
same submission always lands in the same run folder, which is what makes resuming work. The hash
includes the method's provenance (its module, package version and a hash of its source,
``rtbench.registry.provenance``) and that of the space it builds networks in: editing a method's or
its space's code gives a new run instead of silently reusing results of the old code. This module
only resolves; building methods and datasets lives with their registries
(``rtbench.methods.build_method``, ``rtbench.datasets.build_dataset``) and the run folder's layout
in ``rtbench.runfolder``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from rtbench.budgets import Budget, get_budget, with_overrides
from rtbench.datasets import DATASETS
from rtbench.errors import ConfigError
from rtbench.hardware.profile import HardwareProfile, load_profile, validate_profile
from rtbench.methods import METHODS
from rtbench.registry import provenance
from rtbench.runfolder import RunFolder
from rtbench.spaces import SPACES
from rtbench.tasks import get_task

TOP_KEYS = ("method", "dataset", "hardware", "budget", "task", "seed", "device")
GROUPS = ("method", "dataset", "hardware", "budget", "ray", "runs")
RAY_KEYS = {"address": str, "train_cpus": int, "train_gpus": float}
RUNS_KEYS = {"dir": str}
DEVICES = ("auto", "cpu", "cuda")
DEFAULTS = {"method": "unet", "dataset": "synthetic-cine", "hardware": "local-cpu", "budget": "quick", "seed": "0", "device": "auto"}


@dataclass(frozen=True)
class RayOptions:
    """Where the submission's trials run (not part of the run's identity)."""

    address: str = ""  # "" -> RAY_ADDRESS if set, else a local Ray on this machine's CPUs
    train_cpus: int = 0  # CPUs per training trial (0: every CPU of a local Ray)
    train_gpus: float = 0.0  # GPUs per training trial


@dataclass(frozen=True)
class RunSpec:
    """One fully resolved submission."""

    method: str
    method_config: dict[str, Any]
    dataset: str
    dataset_config: dict[str, Any]
    task: str
    hardware: HardwareProfile
    budget: Budget
    seed: int
    budget_overridden: bool = False
    method_provenance: dict[str, str] = field(default_factory=dict)
    space_provenance: dict[str, str] = field(default_factory=dict)
    data_fingerprint: str = ""
    data_label: str = ""
    device: str = "auto"
    ray: RayOptions = field(default_factory=RayOptions)
    runs_dir: str = "runs"

    def identity(self) -> dict[str, Any]:
        """The part of the spec that defines the result (hashed into the run id)."""
        return {
            "method": self.method,
            "method_config": self.method_config,
            "method_provenance": self.method_provenance,
            "space_provenance": self.space_provenance,
            "dataset": self.dataset,
            # where the files lie (``*root``) is not part of the result: the fingerprint hashes their content
            "dataset_config": {k: v for k, v in self.dataset_config.items() if not (self.data_fingerprint and k.endswith("root"))},
            "data_fingerprint": self.data_fingerprint,
            "task": self.task,
            "hardware": self.hardware.to_dict(),
            "budget": dataclasses.asdict(self.budget),
            "seed": self.seed,
        }

    @property
    def config_hash(self) -> str:
        blob = json.dumps(self.identity(), sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()

    @property
    def budget_label(self) -> str:
        """The budget's name, plus a short hash when fields were overridden (a different board)."""
        if not self.budget_overridden:
            return self.budget.name
        h = hashlib.sha256(json.dumps(dataclasses.asdict(self.budget), sort_keys=True).encode()).hexdigest()[:6]
        return f"{self.budget.name}+{h}"

    @property
    def board(self) -> str:
        """task/dataset/hardware/budget: rows on different boards are never compared.

        The dataset part is ``data_label``: the dataset's name, followed by ``@`` and the first 6
        hex digits of the data fingerprint when the data come from files or a non-default config
        (``acdc@3fa2c1``), so rows trained on different data never share a board. The hardware part is
        the profile's label: its name, plus ``+<runtime>`` when it times under a runtime other than
        eager (``local-cpu+onnxruntime``), so rows timed under different runtimes never rank together.
        """
        return f"{self.task}/{self.data_label or self.dataset}/{self.hardware.label}/{self.budget_label}"

    @property
    def run_id(self) -> str:
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", self.method).strip("-")
        return f"{slug}-s{self.seed}-{self.config_hash[:10]}"

    @property
    def folder(self) -> RunFolder:
        """This run's folder in the run store (``rtbench.runfolder``)."""
        return RunFolder.of(self.runs_dir, self.board, self.run_id)

    def to_dict(self) -> dict[str, Any]:
        d = self.identity()
        d.update(
            dataset_config=self.dataset_config,  # with its root: the trials read the data from there
            board=self.board,
            run_id=self.run_id,
            config_hash=self.config_hash,
            budget_label=self.budget_label,
            data_label=self.data_label,
            device=self.device,
            ray=dataclasses.asdict(self.ray),
            run_dir=str(self.folder.root),  # where a training trial keeps its weights (rtbench.runfolder)
        )
        return d


def parse_overrides(args: list[str]) -> dict[str, str]:
    """``["a=1", "b.c=x"]`` -> ``{"a": "1", "b.c": "x"}``; a token without '=' is an error."""
    out: dict[str, str] = {}
    for arg in args:
        key, sep, value = arg.partition("=")
        if not sep or not key:
            raise ConfigError(f"'{arg}' is not key=value; e.g. method=unet method.width=16 budget=quick")
        if key in out:
            raise ConfigError(f"key '{key}' is given twice ('{out[key]}' and '{value}')")
        out[key] = value
    return out


def _typed_fields(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def _default_config(cls: type, prefix: str, owner: str) -> Any:
    """``cls()``, a plug-in's Config with its defaults; a ValueError/TypeError of its checks becomes one ConfigError line."""
    try:
        return cls()
    except ConfigError:
        raise
    except (ValueError, TypeError) as err:
        raise ConfigError(f"{prefix}: {owner}'s defaults are refused by its own checks: {err}") from None


def _merge_dataclass(instance: Any, overrides: dict[str, str], prefix: str, owner: str) -> Any:
    """Apply ``overrides`` (field -> raw string) to a dataclass instance with OmegaConf type checks.

    A ``__post_init__`` that raises ConfigError, ValueError or TypeError (a method checking its own
    options) stops with one line naming the keys given.
    """
    if not overrides:
        return instance
    valid = _typed_fields(type(instance))
    for key in overrides:
        if key not in valid:
            choices = ", ".join(f"{prefix}.{v}" for v in valid) or "(none)"
            raise ConfigError(f"unknown key '{prefix}.{key}' for {owner}; valid keys: {choices}")
    types = {f.name: f.type for f in dataclasses.fields(type(instance))}
    # a string field takes the value as typed: the dotlist parser reads values as YAML, which would turn
    # `{patient}_img.nii.gz` into a mapping and `*.nii` into an alias; other fields are typed by OmegaConf
    verbatim = {k: v.replace("${", "\\${") for k, v in overrides.items() if types[k] in (str, "str")}
    parsed = [f"{k}={v}" for k, v in overrides.items() if k not in verbatim]
    try:
        merged = OmegaConf.merge(OmegaConf.structured(instance), OmegaConf.from_dotlist(parsed), verbatim)
    except OmegaConfBaseException as err:
        return _type_error(err, instance, overrides, prefix, owner)
    try:
        return OmegaConf.to_object(merged)
    except ConfigError:
        raise
    except OmegaConfBaseException as err:
        return _type_error(err, instance, overrides, prefix, owner)
    except (ValueError, TypeError) as err:
        raise _option_error(err, overrides, prefix, owner) from None


def _option_error(err: Exception, overrides: dict[str, str], prefix: str, owner: str) -> ConfigError:
    """A Config's own check failed: one line with its message and the keys that were given."""
    given = " ".join(f"{prefix}.{k}={v}" for k, v in overrides.items())
    return ConfigError(f"{given}: refused by {owner}: {err}")


def _type_error(err: OmegaConfBaseException, instance: Any, overrides: dict[str, str], prefix: str, owner: str) -> Any:
    """A value OmegaConf could not convert to its field's type: one line naming the key and the type."""
    key = getattr(err, "full_key", None) or next(iter(overrides))
    ftype = {f.name: f.type for f in dataclasses.fields(type(instance))}.get(str(key), "?")
    ftype = getattr(ftype, "__name__", ftype)
    raise ConfigError(f"{prefix}.{key}='{overrides.get(str(key), '')}' is not a valid {ftype} (for {owner})") from None


def _absolute_roots(cfg: Any) -> Any:
    """Make ``*root`` path fields absolute (trials run in other working folders) and check they exist."""
    changes = {}
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if f.name.endswith("root") and isinstance(value, str) and value:
            path = Path(value).expanduser().resolve()
            if not path.exists():
                raise ConfigError(f"dataset.{f.name}='{value}' does not exist (resolved to {path})")
            changes[f.name] = str(path)
    return dataclasses.replace(cfg, **changes) if changes else cfg


def _data_identity(name: str, cls: type, cfg: Any) -> tuple[str, str]:
    """(the data fingerprint, the board's dataset label) of dataset ``name`` with config ``cfg``.

    The fingerprint (``Dataset.fingerprint``: relative paths, sizes and content hashes of the files,
    or a generator's config) goes into the run id, so fixing a file and resubmitting trains again,
    while the same files at another path or on another machine keep their board and run ids. The label shows it when
    the data are files or a non-default config.
    """
    fingerprint = cls(cfg).fingerprint()
    default = dataclasses.asdict(_default_config(cls.Config, "dataset", f"dataset '{name}'"))
    from_files = any(f.name.endswith("root") and getattr(cfg, f.name) for f in dataclasses.fields(cfg))
    return fingerprint, f"{name}@{fingerprint[:6]}" if from_files or dataclasses.asdict(cfg) != default else name


def typed_args(overrides: dict[str, str], schema: dict[str, type], prefix: str = "") -> dict[str, Any]:
    """Convert raw ``key=value`` strings by ``schema``; one-line errors name ``<prefix>key`` and the valid keys."""
    out: dict[str, Any] = {}
    for key, raw in overrides.items():
        if key not in schema:
            raise ConfigError(f"unknown key '{prefix}{key}'; valid keys: {', '.join(f'{prefix}{k}' for k in schema)}")
        try:
            out[key] = schema[key](raw)
        except ValueError:
            raise ConfigError(f"{prefix}{key}='{raw}' is not a valid {schema[key].__name__}") from None
    return out


def resolve(args: list[str] | dict[str, str]) -> RunSpec:
    """Turn command-line ``key=value`` tokens into a RunSpec, or raise ConfigError naming the bad key."""
    raw = parse_overrides(args) if isinstance(args, list) else dict(args)
    top: dict[str, str] = dict(DEFAULTS)
    grouped: dict[str, dict[str, str]] = {g: {} for g in GROUPS}
    for key, value in raw.items():
        if "." in key and key.split(".", 1)[0] in GROUPS:
            group, sub = key.split(".", 1)
            grouped[group][sub] = value
        elif key in TOP_KEYS:
            top[key] = value
        else:
            valid = ", ".join([*TOP_KEYS, *(f"{g}.<field>" for g in GROUPS)])
            raise ConfigError(f"unknown key '{key}'; valid keys: {valid}")

    method_cls = METHODS.get(top["method"])
    owner = f"method '{top['method']}'"
    method_cfg = _merge_dataclass(_default_config(method_cls.Config, "method", owner), grouped["method"], "method", owner)

    space_cls = _space_class(method_cls.space)
    space_tasks = space_cls.tasks if space_cls is not None else ()
    if space_tasks and "task" not in raw and "dataset" not in raw:  # method=echonas alone: its task
        raw["task"] = top["task"] = space_tasks[0]
    if "task" in raw and "dataset" not in raw:  # task=NAME alone: the task's embedded dataset
        top["dataset"] = get_task(raw["task"]).default_dataset
    dataset_cls = DATASETS.get(top["dataset"])
    task = get_task(top.get("task") or dataset_cls.task)
    if "task" in raw and task.name != dataset_cls.task:
        raise ConfigError(f"task='{task.name}' does not match dataset '{top['dataset']}', which is a '{dataset_cls.task}' dataset")
    if space_tasks and task.name not in space_tasks:
        raise ConfigError(
            f"method '{top['method']}' builds '{method_cls.space}' networks, which are for task {' or '.join(space_tasks)}; "
            f"got task={task.name} (dataset={top['dataset']}): add task={space_tasks[0]} or a dataset of that task"
        )
    if task.not_trainable:
        raise ConfigError(f"task={task.name} (dataset={top['dataset']}) cannot be submitted yet: {task.not_trainable}")
    owner = f"dataset '{top['dataset']}'"
    dataset_cfg = _merge_dataclass(_default_config(dataset_cls.Config, "dataset", owner), grouped["dataset"], "dataset", owner)
    dataset_cfg = _absolute_roots(dataset_cfg)
    fingerprint, data_label = _data_identity(top["dataset"], dataset_cls, dataset_cfg)

    budget = get_budget(top["budget"])
    budget = _merge_dataclass(budget, grouped["budget"], "budget", f"budget '{top['budget']}'")
    budget = with_overrides(budget)

    if "name" in grouped["hardware"]:
        raise ConfigError("hardware.name cannot be overridden; choose a profile with hardware=NAME")
    profile = _merge_dataclass(load_profile(top["hardware"]), grouped["hardware"], "hardware", f"profile '{top['hardware']}'")
    validate_profile(profile, f"hardware '{top['hardware']}'")

    try:
        seed = int(top["seed"])
    except ValueError:
        raise ConfigError(f"seed='{top['seed']}' is not a valid int") from None
    if top["device"] not in DEVICES:
        raise ConfigError(f"device='{top['device']}' is not valid; expected one of: {', '.join(DEVICES)}")

    ray_opts = RayOptions(**typed_args(grouped["ray"], RAY_KEYS, "ray."))
    runs = typed_args(grouped["runs"], RUNS_KEYS, "runs.")
    return RunSpec(
        method=top["method"],
        method_config=dataclasses.asdict(method_cfg),
        method_provenance=provenance(method_cls),
        space_provenance=provenance(space_cls) if space_cls is not None else {},
        data_fingerprint=fingerprint,
        data_label=data_label,
        dataset=top["dataset"],
        dataset_config=dataclasses.asdict(dataset_cfg),
        task=task.name,
        hardware=profile,
        budget=budget,
        seed=seed,
        budget_overridden=bool(grouped["budget"]),
        device=top["device"],
        ray=ray_opts,
        runs_dir=runs.get("dir", "runs"),
    )


def _space_class(name: str) -> type | None:
    """The class of the space a method builds in (registered, entry point or ``package.module:Class``);
    None when it names none that loads: the method's candidates then fail where they are built, with
    the space's own error."""
    if not name:
        return None
    try:
        return SPACES.get(name)
    except ConfigError:
        return None


def spec_from_dict(d: dict[str, Any]) -> RunSpec:
    """Rebuild a RunSpec from ``RunSpec.to_dict()`` (a run record's ``config``)."""
    return RunSpec(
        method=d["method"],
        method_config=d["method_config"],
        dataset=d["dataset"],
        dataset_config=d["dataset_config"],
        task=d["task"],
        hardware=HardwareProfile(**d["hardware"]),
        budget=Budget(**d["budget"]),
        seed=int(d["seed"]),
        budget_overridden="+" in d.get("budget_label", ""),
        method_provenance=dict(d.get("method_provenance", {})),
        space_provenance=dict(d.get("space_provenance", {})),
        data_fingerprint=d.get("data_fingerprint", ""),
        data_label=d.get("data_label", ""),
        device=d.get("device", "auto"),
        ray=RayOptions(**d.get("ray", {})),
    )
