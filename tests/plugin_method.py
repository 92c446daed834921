"""A third-party method used by the tests: named on the command line as plugin_method:TinyUNet."""

from __future__ import annotations

from dataclasses import dataclass

from rtbench.methods import Candidate, Method, SearchContext


class TinyUNet(Method):
    space = "unet"
    description = "test plug-in: two U-Net widths, never registered"

    @dataclass
    class Config:
        widths: str = "4,6"

    def search(self, ctx: SearchContext) -> list[Candidate]:
        ctx.report(message=f"search pool: {len({v.patient for v in ctx.volumes})} patients")
        return [Candidate("unet", {"width": int(w), "depth": 3, "res_units": 0}, f"tiny U-Net({w})") for w in self.config.widths.split(",")]


class Checked(Method):
    """A plug-in whose Config checks its option with a plain ValueError (reported like a harness key error)."""

    space = "unet"

    @dataclass
    class Config:
        width: int = 4

        def __post_init__(self) -> None:
            if self.width < 1:
                raise ValueError(f"width must be >= 1, got {self.width}")

    def search(self, ctx: SearchContext) -> list[Candidate]:
        return [Candidate("unet", {"width": self.config.width, "depth": 3, "res_units": 0}, "checked")]


class Exploding(Method):
    """A plug-in whose search raises: the failure must be recorded with its traceback."""

    space = "unet"

    def search(self, ctx: SearchContext) -> list[Candidate]:
        raise RuntimeError("the search exploded on purpose")


class PoolProbe(Method):
    """Returns one U-Net labelled with the patients its context handed it (checked against the test fold)."""

    space = "unet"

    def search(self, ctx: SearchContext) -> list[Candidate]:
        patients = sorted({v.patient for v in ctx.volumes})
        leaked = [m for v in ctx.volumes for m in v.meta.values() if isinstance(m, str) and "/" in m]
        return [Candidate("unet", {"width": 4, "depth": 3, "res_units": 0}, "pool:" + ",".join(patients), {"leaked": float(len(leaked))})]
