"""The method interface: ``Method``, ``Candidate``, ``SearchContext`` and the method registry.

Methods search; the harness measures. A method only proposes architectures (``Candidate``s of a
named search space). The harness alone trains them from scratch with one shared recipe, scores
them on patients the method never saw, times them on the hardware profile, and checks the
real-time constraints.

Registering (timm-style, the registry is the table of contents)::

    @register("rtdnas")
    class RTDNAS(Method):
        space = "msnas"

        @dataclass
        class Config:            # every field overridable: method.paths=7 method.decoder=ga
            paths: int = 7

        def search(self, ctx: SearchContext) -> list[Candidate]: ...

Third-party methods need no edit of the harness: register them in the ``rtbench.methods``
entry-point group (``name = "package.module:Class"``), or name them on the command line as
``method=package.module:Class``.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from rtbench.budgets import Budget
from rtbench.errors import ConfigError
from rtbench.hardware.profile import HardwareProfile
from rtbench.tasks import Task

if TYPE_CHECKING:
    import torch
    from torch import nn
    from torch.utils.data import DataLoader

    from rtbench.datasets.base import Volume

ENTRY_POINT_GROUP = "rtbench.methods"


@dataclass(frozen=True)
class Candidate:
    """One proposed architecture.

    Attributes:
        space: name of the search space (``rtbench.spaces``) that builds ``genotype``.
        genotype: JSON-able dict; the space turns it into a static nn.Module.
        label: short human label, e.g. ``"GA N_l=7"``.
        predicted: what the method itself predicted (``latency_ms``, ``flops``...); recorded beside
            the harness's measurements, never used in place of them.
    """

    space: str
    genotype: dict[str, Any]
    label: str
    predicted: dict[str, float] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """Stable id of the architecture (space + genotype), independent of label and predictions."""
        blob = json.dumps({"space": self.space, "genotype": self.genotype}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:10]

    def to_dict(self) -> dict[str, Any]:
        return {"space": self.space, "genotype": self.genotype, "label": self.label, "predicted": dict(self.predicted)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Candidate:
        return cls(space=d["space"], genotype=d["genotype"], label=d["label"], predicted=dict(d.get("predicted", {})))


@dataclass
class SearchContext:
    """Everything a method may use while searching, and nothing it may not (no test patients).

    Attributes:
        task: classes and real-time constraints (``task.latency_bound_ms``).
        budget: the submission's budget (search epochs, GA population, image size...).
        hardware: the hardware profile the submission is timed on.
        volumes: the search pool only; splits guarantee no test patient is in it.
        seed: the submission's seed; ``rng`` is a numpy Generator seeded with it.
        device: torch device for search computation.
        checkpoint_dir: a folder kept across interruptions; a method saves its state here every
            epoch and resumes from it when the same submission runs again.
        report: progress callback, ``report(epoch=3, loss=0.4)``; shown to the user.
    """

    task: Task
    budget: Budget
    hardware: HardwareProfile
    volumes: list[Volume]
    seed: int
    rng: np.random.Generator
    device: torch.device
    checkpoint_dir: Path
    report: Callable[..., None] = lambda **metrics: None

    def loaders(self, val_fraction: float = 0.5, batch_size: int | None = None) -> tuple[DataLoader, DataLoader]:
        """Two slice loaders over disjoint patients of the search pool: (train, val).

        The val loader feeds architecture updates in bi-level search (DARTS first order).
        """
        from rtbench.train.data import slice_loader, split_patients

        train_v, val_v = split_patients(self.volumes, val_fraction, self.seed)
        bs = batch_size or self.budget.batch_size
        return (
            slice_loader(train_v, bs, shuffle=True, augment=True, seed=self.seed),
            slice_loader(val_v, bs, shuffle=True, augment=False, seed=self.seed + 1),
        )

    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one frame as the harness feeds it."""
        s = self.budget.image_size
        return (self.task.in_channels, s, s)

    def measure(self, module: nn.Module) -> dict[str, float]:
        """Time ``module`` with the harness protocol on this profile (batch-1 p50/p90/p99 in ms)."""
        from rtbench.hardware.measure import measure_latency

        return measure_latency(module, self.input_shape(), self.hardware, self.budget).to_dict()


class Method(ABC):
    """A NAS method (or a hand-designed baseline whose search returns its fixed candidates).

    Subclasses set ``name`` (via ``@register``), ``space`` and a dataclass ``Config`` whose fields
    are the method's ``method.<field>=value`` options, and implement ``search``.
    """

    name: ClassVar[str] = ""
    space: ClassVar[str] = ""
    description: ClassVar[str] = ""

    @dataclass
    class Config:
        pass

    def __init__(self, config: Any | None = None) -> None:
        self.config = config if config is not None else self.Config()

    @abstractmethod
    def search(self, ctx: SearchContext) -> list[Candidate]:
        """Propose candidates using only ``ctx``. Must be deterministic given ``ctx.seed``."""


_REGISTRY: dict[str, type[Method]] = {}


def register(name: str) -> Callable[[type[Method]], type[Method]]:
    """Class decorator: make a method available as ``method=<name>``."""

    def deco(cls: type[Method]) -> type[Method]:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"method '{name}' is registered twice ({_REGISTRY[name].__module__} and {cls.__module__})")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


BUILTIN_MODULES = ("unet_baseline", "rtdnas", "random_sampling", "hwnas", "bixnas", "icaunet", "echonas")


def _import_builtin() -> None:
    for mod in BUILTIN_MODULES:
        try:
            importlib.import_module(f"rtbench.methods.{mod}")
        except ModuleNotFoundError as err:  # a method module not written yet
            if err.name != f"rtbench.methods.{mod}":
                raise


def _entry_point_methods() -> dict[str, str]:
    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def method_names() -> list[str]:
    """Built-in and entry-point method names."""
    _import_builtin()
    return sorted(set(_REGISTRY) | set(_entry_point_methods()))


def _load_dotted(spec: str) -> type[Method]:
    mod_name, _, attr = spec.partition(":")
    try:
        obj = getattr(importlib.import_module(mod_name), attr)
    except (ImportError, AttributeError) as err:
        raise ConfigError(f"method='{spec}': cannot import it ({err}); expected package.module:Class") from None
    if not (isinstance(obj, type) and issubclass(obj, Method)):
        raise ConfigError(f"method='{spec}' is not a subclass of rtbench.methods.Method")
    if not obj.name:
        obj.name = spec
    return obj


def get_method_class(name: str) -> type[Method]:
    """Resolve ``name``: the registry, then the entry-point group, then ``package.module:Class``."""
    _import_builtin()
    if name in _REGISTRY:
        return _REGISTRY[name]
    eps = _entry_point_methods()
    if name in eps:
        cls = _load_dotted(eps[name])
        cls.name = name
        return cls
    if ":" in name:
        return _load_dotted(name)
    raise ConfigError(f"unknown method '{name}'; valid methods: {', '.join(method_names())} (or package.module:Class)")
