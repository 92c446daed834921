"""Search-space registry. A space turns a genotype (a JSON-able dict) into a static nn.Module.

Spaces are separate from search methods (as in NASLib): a method proposes genotypes of a named
space, and the harness alone builds, trains and times them. ``build`` must be deterministic given
the genotype and ``torch.manual_seed``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

from torch import nn

from rtbench.errors import ConfigError
from rtbench.tasks import Task


class Space(ABC):
    """A family of architectures addressed by genotypes."""

    name: ClassVar[str] = ""

    @abstractmethod
    def build(self, genotype: dict[str, Any], task: Task, image_size: int) -> nn.Module:
        """A static network for ``genotype``: input (B, task.in_channels, H, W) -> logits
        (B, task.num_classes, H, W), with H = W = ``image_size``."""

    def validate(self, genotype: dict[str, Any]) -> None:
        """Raise ConfigError naming the bad gene if ``genotype`` is not of this space."""
        return None


_SPACES: dict[str, type[Space]] = {}


def register_space(name: str) -> Callable[[type[Space]], type[Space]]:
    def deco(cls: type[Space]) -> type[Space]:
        cls.name = name
        _SPACES[name] = cls
        return cls

    return deco


def space_names() -> list[str]:
    _import_builtin()
    return sorted(_SPACES)


def get_space(name: str) -> Space:
    _import_builtin()
    try:
        return _SPACES[name]()
    except KeyError:
        raise ConfigError(f"unknown search space '{name}'; valid spaces: {', '.join(sorted(_SPACES))}") from None


def _import_builtin() -> None:
    import importlib

    for mod in ("unet", "msnas", "nasunet", "qcnet"):
        try:
            importlib.import_module(f"rtbench.spaces.{mod}")
        except ModuleNotFoundError as err:  # a space module not written yet
            if err.name != f"rtbench.spaces.{mod}":
                raise
