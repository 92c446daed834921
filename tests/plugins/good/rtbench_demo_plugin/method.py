"""``demo-random``: latency-aware random search, written only against ``SearchContext`` (no rtbench.hardware import).

Samples ``method.samples`` genotypes of its space, prices each with the profile's latency model,
keeps those predicted under the task's latency bound and returns the ``method.keep`` cheapest.
"""

from __future__ import annotations

from dataclasses import dataclass

from rtbench.errors import ConfigError
from rtbench.methods import Candidate, Method, SearchContext


class LatencyAwareRandomSearch(Method):
    space = "demo-stack"
    description = "test plug-in: random genotypes of its own space, kept if predicted under the latency bound"

    @dataclass
    class Config:
        samples: int = 12
        keep: int = 2

        def __post_init__(self) -> None:
            if self.samples < 1 or not 1 <= self.keep <= self.samples:
                raise ConfigError(f"method.samples={self.samples} method.keep={self.keep}: need 1 <= keep <= samples")

    def search(self, ctx: SearchContext) -> list[Candidate]:
        model = ctx.latency_model()
        bound = ctx.task.latency_bound_ms
        seen: dict[str, tuple[float, dict]] = {}
        for _ in range(self.config.samples):
            genotype = ctx.space.sample_genotype(ctx.rng, ctx.task, ctx.budget.image_size)
            ms = model.predict_ms(genotype)
            if ms <= bound:
                seen[repr(genotype)] = (ms, genotype)
        ranked = sorted(seen.values(), key=lambda e: e[0])[: self.config.keep]
        ctx.report(message=f"{len(seen)} of {self.config.samples} samples predicted under {bound} ms ({model.predicts})")
        return [Candidate(self.space, g, f"random #{i}", {"latency_ms": ms, "flops": ctx.flops(g)}) for i, (ms, g) in enumerate(ranked)]
