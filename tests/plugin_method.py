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
