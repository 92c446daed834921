"""RT-DNAS (seed 000) and its MS-NAS baseline as rtbench methods: ``method=rtdnas`` and ``method=msnas``.

Both search the ``msnas`` space's supernet (§2.1) with first-order bi-level optimisation
(``search``) and then decode the network level from the searched weights:

* ``rtdnas``: the architecture objective is eq. 2 in units of the bound,
  ``L_a * (L_t / L_ub) + lambda * exp(s * (L_t - L_ub) / L_ub)`` (``search``), with ``L_t`` the
  expected latency of the N_l-path derived network (eq. 3-5 extended to the union of N_l paths,
  ``rtbench.spaces.msnas.cost.UnionLatency``) from the profile's op latency table; the paths are chosen by
  the genetic algorithm of §2.3 (``ga``) from a pool of the top 10 paths, seeded with the Dijkstra
  individual. ``method.fitness=weight`` (default) returns the heaviest individual (the accuracy
  proxy) that meets the real-time bounds by prediction, ``latency`` the fastest one (the paper's
  literal fitness, Table 1's ablation; ``fitness``). ``method.decoder=dijkstra`` or ``both`` also
  (or only) emits the MS-NAS decoding of the same search. ``method.paths`` defaults to ``auto``:
  the largest N_l whose GA network meets the bounds, the method's entry candidate.
* ``msnas``: RT-DNAS's joint (input, op) relaxation of eq. 1 with Dijkstra decoding and no latency
  term: the architecture objective is ``L_a`` alone and the paths are the N_l highest-weight paths
  (``dijkstra.best_weight_paths``). (MS-NAS itself relaxes connections and ops separately; seed 000
  §2.1 replaces that by the joint relaxation, which both methods here share, so the two differ
  only in eq. 2's latency term and the decoding.) ``method.paths`` defaults to 7; ``auto`` picks
  the largest N_l whose Dijkstra network meets the task's bounds by prediction.

One search yields one candidate per N_l (``method.paths=3,5,7``) per decoder, labelled
``"GA N_l=7"`` / ``"Dijkstra N_l=7"``, plus, with ``auto``, the entry ``"GA N_l=6 (auto)"``; when
two of them are the same network, one candidate carries both labels (``"Dijkstra N_l=3 = GA
N_l=3"``). Every candidate's ``predicted`` holds the derived network's predicted latency
(``latency_ms``, the one checked against the bounds: calibrated p90 where available), its table
sum (``table_sum_ms``), ``violation_ms`` (0: predicted to meet them), its ``flops``, the
accumulated log-weight of its paths (``log_weight``) and, on the entry, ``entry = 1.0``.

Bounds in measured milliseconds. ``method.latency_bound_ms`` (and the task's bounds) mean
*measured p90* on the profile, the statistic the harness checks, wherever the profile has a
calibration with a p90 fit (``bench latency-check``, which saves it beside the op table; see
``rtbench.hardware.latency_model``):

* the decoders check ``LatencyModel.predict_p90_ms``, the calibrated p90 of the derived network;
* eq. 2 compares ``c * L_t`` with ``L_ub``, where ``L_t`` is the table-unit estimate and ``c`` a
  scalar fit from the calibration (:func:`p90_scale`): the median, over 16 random networks of the
  space with the estimate's N_l (random cells and paths, seeded by the search seed), of
  ``calibrated_p90_ms / table_sum_ms``. A scalar keeps ``L_t``'s gradient; its error is the
  spread of that ratio across networks of one N_l (the calibration is affine in the table sum,
  the op count and the activation volume, so the ratio is not quite constant).

Without a calibration (or with one fitted before p90 fits existed) both fall back to raw
table-sum ms, ``c = 1``, and the search says so in a progress message: the table sum over-predicts
measured latency (1.6-2.1x on local-cpu at one thread), so the bound is that much tighter than it
reads. To create a calibration for a profile: ``bench latency-check hardware=<profile>
space=msnas budget=<budget>`` (the budget sets the image size; about half an hour on the 2-core
dev box at the default n=50, calibration_n=20; n=4 still fits the calibration on its 20 networks).

Everything of the harness comes through the ``SearchContext``: the space (``ctx.space``: the
supernet and the eq. 3-5 estimator of the ``msnas`` space), the profile's latency model
(``ctx.latency_model()``: op p50s for the estimate, calibrated p90 predictions for the decoders,
built before the search or reused from the cache, with progress lines) and FLOPs (``ctx.flops``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from monai.utils import set_determinism

from rtbench.errors import ConfigError
from rtbench.methods.base import Candidate, Method, register
from rtbench.methods.context import SearchContext
from rtbench.methods.rtdnas.decoder import PathDecoder
from rtbench.methods.rtdnas.fitness import FITNESSES, RealTimeBounds
from rtbench.methods.rtdnas.options import MSNASOptions
from rtbench.methods.rtdnas.search import PENALTY_SHARPNESS, SearchSettings, SupernetSearch
from rtbench.spaces.msnas import IDENTITY, MSNASConfig

P90_SCALE_NETWORKS = 16
"""Random networks :func:`p90_scale` fits its factor on."""

DECODERS = ("ga", "dijkstra", "both")
ESTIMATES = ("union", "one_path")


def p90_scale(ctx: SearchContext, model: Any, options: dict[str, Any], n_paths: int) -> float | None:
    """``c``: median of ``calibrated_p90_ms / table_sum_ms`` over ``P90_SCALE_NETWORKS`` random networks of
    ``n_paths`` paths (space ``options``; generator seeded by (seed, 90)), or None without a p90 calibration.

    ``model`` is ``ctx.latency_model()``'s ``LatencyModel``. See the module docstring.
    """
    rng = np.random.default_rng([int(ctx.seed), 90])
    ratios = []
    for _ in range(P90_SCALE_NETWORKS):
        genotype = ctx.space.sample_genotype(rng, ctx.task, ctx.budget.image_size, {**options, "paths": n_paths})
        p90 = model.calibrated_p90_ms(genotype)
        if p90 is None:
            return None
        ratios.append(p90 / model.table_sum_ms(genotype))
    return float(np.median(ratios))


def floor_ms(
    estimate: Callable[[list[torch.Tensor]], torch.Tensor],
    shapes: list[torch.Size],
    identity: int | None = None,
    max_identity_blocks: int | None = None,
) -> float:
    """The least ``L_t`` any architecture weights of a derivable cell can give: each block's mass on one
    op (on its first input), every choice of op per block tried, with at most ``max_identity_blocks``
    blocks on the op of index ``identity`` (None: no limit). ``shapes`` are those of
    ``supernet.block_weights()``; 4 ops x 3 blocks is 64 estimates."""
    best = math.inf
    for ops in itertools.product(range(shapes[0][-1]), repeat=len(shapes)):
        if identity is not None and max_identity_blocks is not None and ops.count(identity) > max_identity_blocks:
            continue
        weights = []
        for shape, op in zip(shapes, ops, strict=True):
            w = torch.zeros(shape, dtype=torch.float64)
            w[0, op] = 1.0
            weights.append(w)
        best = min(best, float(estimate(weights)))
    return best


def identity_blocks(space_cfg: MSNASConfig, max_identity: int) -> int:
    """``max_identity`` edges of the cell as blocks of :func:`floor_ms`'s one-op-per-block cells: its share of
    the cell's edges, rounded down (2 of 5 edges -> 1 of 3 blocks), so the floor never undercuts a capped cell."""
    edges = sum(min(space_cfg.edges_per_block, i) for i in range(1, space_cfg.blocks + 1))
    return min(space_cfg.blocks, max_identity * space_cfg.blocks // edges)


def fitting_search_paths(
    ctx: SearchContext,
    model: Any,
    space_cfg: MSNASConfig,
    options: dict[str, Any],
    shapes: list[torch.Size],
    n_max: int,
    bound_ms: float,
    max_identity: int | None = None,
) -> tuple[int, float]:
    """(N_l, its floor in the bound's units): the largest N_l <= ``n_max`` whose cheapest derivable
    N_l-path network (:func:`floor_ms` under the ``max_identity`` cap, times :func:`p90_scale` where
    calibrated) is within ``bound_ms``; 1 if none is. What eq. 2 prices under ``method.paths=auto``:
    pricing an N_l that cannot meet the bound saturates the penalty, which then fixes every op at the
    cheapest whatever the accuracy; pricing against the floor of an all-identity cell (before the cap)
    drove every edge to identity."""
    floor = math.inf
    ident = space_cfg.ops.index(IDENTITY) if IDENTITY in space_cfg.ops else None
    cap = None if max_identity is None else identity_blocks(space_cfg, max_identity)
    for n in range(n_max, 0, -1):
        estimate = ctx.space.expected_latency(space_cfg, ctx.task, ctx.budget.image_size, model.op_ms, n)
        floor = (p90_scale(ctx, model, options, n) or 1.0) * floor_ms(estimate, shapes, ident, cap)
        if floor <= bound_ms:
            return n, floor
    return 1, floor


def _scaled(latency: Callable[[list[torch.Tensor]], torch.Tensor], factor: float) -> Callable[[list[torch.Tensor]], torch.Tensor]:
    """``latency`` times ``factor`` (table ms -> calibrated p90 ms)."""
    return lambda weights: factor * latency(weights)


class _PathDecodingNAS(Method):
    """The shared search and decoding of ``msnas`` and ``rtdnas``; subclasses choose the objective and decoders."""

    space = "msnas"

    def latency_bound_ms(self, ctx: SearchContext) -> float | None:
        """``L_ub`` of eq. 2 (ms), or None to search with ``L = L_a``."""
        return None

    def lambda_(self) -> float:
        return 0.0

    def sharpness(self) -> float:
        """``s`` of eq. 2's penalty (``search.PENALTY_SHARPNESS``)."""
        return PENALTY_SHARPNESS

    def estimate_paths(self) -> int | None:
        """N_l of the ``L_t`` estimate (``UnionLatency``), or None for eq. 3-5 as printed (one path)."""
        return self.config.estimate_paths()

    def decoders(self) -> tuple[str, ...]:
        return ("dijkstra",)

    def prices_auto(self) -> bool:
        """Whether eq. 2's N_l is chosen to fit the bound (:func:`fitting_search_paths`)."""
        return False

    def fitness(self) -> str:
        """The GA's objective (``fitness.FITNESSES``)."""
        return "weight"

    def search(self, ctx: SearchContext) -> list[Candidate]:
        """Get the profile's latency model (op table built or reused), search the supernet (resuming
        from ``ctx.checkpoint_dir``), then decode one candidate per N_l per decoder, and the ``auto`` entry.

        The supernet is initialised under ``set_determinism(ctx.seed)``, the search's data order by
        (seed, epoch), and each N_l's GA by (seed, N_l): the candidates are a function of the seed and
        the latency table.
        """
        cfg: MSNASOptions = self.config
        space_cfg = cfg.space_config()
        model = ctx.latency_model(cfg.space_options())
        set_determinism(seed=int(ctx.seed))
        supernet = ctx.space.supernet(space_cfg, ctx.task).to(ctx.device)
        train, val = ctx.loaders(val_fraction=0.5)
        n_est = self.estimate_paths()
        bound_ms = self.latency_bound_ms(ctx)
        if n_est is not None and bound_ms is not None and self.prices_auto():
            shapes = [w.shape for w in supernet.block_weights()]
            n_est, floor = fitting_search_paths(ctx, model, space_cfg, cfg.space_options(), shapes, n_est, bound_ms, cfg.max_identity)
            why = (
                f"the largest N_l <= {cfg.estimate_paths()} whose cheapest network ({floor:.1f} ms) fits the {bound_ms:g} ms bound"
                if floor <= bound_ms
                else f"none fits the {bound_ms:g} ms bound: the cheapest 1-path network the cell cap allows is {floor:.1f} ms"
            )
            ctx.report(message=f"{self.name}: eq. 2 prices N_l={n_est} paths, {why}")
        estimate = ctx.space.expected_latency(space_cfg, ctx.task, ctx.budget.image_size, model.op_ms, n_est)
        scale = p90_scale(ctx, model, cfg.space_options(), n_est or 1)
        where = f"{ctx.space.name} @ {ctx.budget.image_size} px on {ctx.hardware.name}"
        if scale is None:
            ctx.report(
                message=f"{self.name}: no p90 calibration for {where}: the latency bounds are checked against raw "
                f"table-sum ms, which over-predict measured latency (1.6-2.1x on local-cpu); fit one with "
                f"`bench latency-check hardware={ctx.hardware.name} space={ctx.space.name} budget={ctx.budget.name}`"
            )
        else:
            ctx.report(message=f"{self.name}: latency bounds in calibrated p90 ms ({where}); eq. 2's L_t = {scale:.3f} x table ms")
        what = f"union N_l={n_est}" if n_est else "eq. 3-5 one path"
        settings = SearchSettings(
            epochs=ctx.budget.search_epochs,
            steps_per_epoch=ctx.budget.search_batches,
            warmup_epochs=ctx.budget.search_warmup_epochs,
            latency_bound_ms=bound_ms,
            lambda_=self.lambda_(),
            sharpness=self.sharpness(),
            latency_estimate=f"{what}, table ms" if scale is None else f"{what}, {scale:.6g} x table ms = calibrated p90 ms",
        )
        latency = estimate if scale is None else _scaled(estimate, scale)
        SupernetSearch(supernet, latency, train, val, settings, ctx.checkpoint_dir, ctx.seed).run(ctx.report)
        bound = settings.latency_bound_ms or ctx.task.latency_bound_ms
        decoder = PathDecoder(
            supernet.cpu(),
            model.predict_p90_ms,
            ctx.flops,
            RealTimeBounds.of(ctx.task, bound),
            self.fitness(),
            table_sum_ms=model.table_sum_ms,
            predicts=model.predicts_p90,
            max_identity=cfg.max_identity,
        )
        auto = cfg.auto_paths() if cfg.auto() else ()
        return decoder.candidates(cfg.n_paths(), self.decoders(), ctx.budget, ctx.seed, ctx.report, auto)


@register("msnas")
class MSNAS(_PathDecodingNAS):
    description = "MS-NAS baseline: RT-DNAS's joint relaxation with Dijkstra decoding and no latency term"

    @dataclass
    class Config(MSNASOptions):
        pass


@register("rtdnas")
class RTDNAS(_PathDecodingNAS):
    description = "RT-DNAS: supernet search on eq. 2 (latency-penalised), GA decoding under the real-time bounds"

    @dataclass
    class Config(MSNASOptions):
        """RT-DNAS options (see ``MSNASOptions`` for paths, max_paths, layers, scales, channels).

        Attributes:
            paths: as ``MSNASOptions.paths``, but ``auto`` by default: the largest N_l whose GA
                network meets the bounds by prediction.
            decoder: ``ga`` (RT-DNAS), ``dijkstra`` (MS-NAS's decoding of the same search) or ``both``.
            fitness: the GA's objective: ``weight`` (the heaviest network meeting the bounds) or
                ``latency`` (the fastest; the paper's literal §2.3 fitness). See ``fitness``.
            estimate: eq. 2's ``L_t``: ``union`` (default), the expected table-sum latency of the
                derived network of N_l paths (``rtbench.spaces.msnas.cost.UnionLatency``), or
                ``one_path``, eq. 3-5 as printed (the mean one-path network, longest-path cells).
            search_paths: the N_l of the ``union`` estimate; 0: the largest N_l of ``paths``, or,
                with ``paths=auto`` alone, the largest N_l <= 7 (``options.AUTO_SEARCH_PATHS``)
                whose cheapest network is predicted within the bound (``fitting_search_paths``).
            lambda_: lambda of eq. 2 (see ``search`` for the default of 10).
            sharpness: ``s`` of eq. 2's penalty ``exp(s * (L_t - L_ub) / L_ub)``: e-fold per 1/s of the
                bound (default 50, the printed eq. 2's e-fold per ms at 50 ms; see ``search``).
            latency_bound_ms: L_ub of eq. 2 and the decoders' latency bound; 0 takes the task's
                (cine: 50 ms). It means measured p90 ms on the profile where the profile has a
                p90 calibration, else raw table-sum ms, which on local-cpu (1 thread) were 2.1x a
                network's measured p50 (``bench latency-check``, session 4) and 1.6x the Table 1
                networks' measured p90 (session 3); see the module docstring for how to fit one.
                The harness's constraint check always uses the measured p90.
        """

        paths: str = "auto"
        decoder: str = "ga"
        fitness: str = "weight"
        estimate: str = "union"
        search_paths: int = 0
        lambda_: float = 10.0
        sharpness: float = PENALTY_SHARPNESS
        latency_bound_ms: float = 0.0

        def __post_init__(self) -> None:
            super().__post_init__()
            if self.decoder not in DECODERS:
                raise ConfigError(f"method.decoder='{self.decoder}' is not valid; expected one of: {', '.join(DECODERS)}")
            if self.fitness not in FITNESSES:
                raise ConfigError(f"method.fitness='{self.fitness}' is not valid; expected one of: {', '.join(FITNESSES)}")
            if self.estimate not in ESTIMATES:
                raise ConfigError(f"method.estimate='{self.estimate}' is not valid; expected one of: {', '.join(ESTIMATES)}")
            if not 0 <= self.search_paths <= self.n_legal_paths():
                raise ConfigError(
                    f"method.search_paths={self.search_paths} is out of range; expected 0..{self.n_legal_paths()} "
                    "(0: from method.paths; at most the grid's legal paths)"
                )
            if self.lambda_ < 0 or self.latency_bound_ms < 0:
                raise ConfigError("method.lambda_ and method.latency_bound_ms must be >= 0")
            if not self.sharpness > 0:
                raise ConfigError(f"method.sharpness={self.sharpness} is out of range; expected > 0")

        def estimate_paths(self) -> int:
            """``search_paths``, else ``MSNASOptions.estimate_paths``."""
            return self.search_paths or super().estimate_paths()

    def latency_bound_ms(self, ctx: SearchContext) -> float | None:
        return self.config.latency_bound_ms or ctx.task.latency_bound_ms

    def lambda_(self) -> float:
        return self.config.lambda_

    def sharpness(self) -> float:
        return self.config.sharpness

    def estimate_paths(self) -> int | None:
        return self.config.estimate_paths() if self.config.estimate == "union" else None

    def decoders(self) -> tuple[str, ...]:
        return ("dijkstra", "ga") if self.config.decoder == "both" else (self.config.decoder,)

    def prices_auto(self) -> bool:
        """``method.paths=auto`` alone and ``method.search_paths=0``: eq. 2 prices the largest N_l <= 7 that can fit."""
        c = self.config
        return c.auto() and not c.n_paths() and c.search_paths == 0

    def fitness(self) -> str:
        return self.config.fitness
