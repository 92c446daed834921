"""The method interface: ``Method``, ``Candidate`` and the ``METHODS`` registry (the context is in ``context``).

Methods search; the harness measures. A method only proposes architectures (``Candidate``s of a
named search space). The harness alone trains them from scratch with one shared recipe, scores
them on patients the method never saw, times them on the hardware profile, and checks the
real-time constraints. A method sees the harness only through its ``SearchContext``.

Registering (timm-style, the registry is the table of contents)::

    @register("rtdnas")
    class RTDNAS(Method):
        space = "msnas"

        @dataclass
        class Config:            # every field overridable: method.paths=7 method.decoder=ga
            paths: str = "7"

        def search(self, ctx: SearchContext) -> list[Candidate]: ...

A ``Config`` may check its values in ``__post_init__`` and raise ``ConfigError`` (or ``ValueError``):
the user sees that one line before any work, as for the harness's own keys.

Third-party methods need no edit of the harness: register them in the ``rtbench.methods``
entry-point group (``name = "package.module:Class"``), or name them on the command line as
``method=package.module:Class`` (the package installed or on PYTHONPATH).
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from rtbench.registry import Registry

if TYPE_CHECKING:
    from rtbench.methods.context import SearchContext


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


METHODS: Registry[type[Method]] = Registry("method", "method", "rtbench.methods", Method)
"""Methods by name; third-party methods register in the ``rtbench.methods`` entry-point group."""

register = METHODS.register


def build_method(name: str, config: dict[str, Any]) -> Method:
    """The method ``name`` with its ``Config`` rebuilt from a resolved config dict (a RunSpec's ``method_config``)."""
    cls = METHODS.get(name)
    return cls(cls.Config(**config))
