"""The random networks a latency fidelity report measures: distinct genotypes drawn in a fixed order."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from rtbench.errors import ConfigError
from rtbench.spaces.base import Space
from rtbench.tasks import Task


def sample_distinct(
    space: Space,
    rng: np.random.Generator,
    task: Task,
    image_size: int,
    config: dict[str, Any] | None,
    count: int,
    exclude: set[str],
) -> list[dict[str, Any]]:
    """``count`` random genotypes whose canonical JSON is not in ``exclude`` nor repeated (added to ``exclude``).

    ConfigError if the space yields too few distinct genotypes (100 draws per wanted genotype).
    """
    out: list[dict[str, Any]] = []
    for _ in range(100 * count):
        if len(out) == count:
            break
        genotype = space.sample_genotype(rng, task, image_size, config)
        canon = json.dumps(genotype, sort_keys=True)
        if canon not in exclude:
            exclude.add(canon)
            out.append(genotype)
    if len(out) < count:
        raise ConfigError(f"space '{space.name}' produced only {len(out)} new distinct genotypes of the {count} needed")
    return out


def check_genotypes(
    space: Space, task: Task, image_size: int, config: dict[str, Any] | None, seed: int, n: int, calibration_n: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    """The genotypes :func:`run_latency_check` uses for ``seed``: (``n`` reported, ``calibration_n`` calibration, the reference).

    Drawn in that order from ``numpy.random.default_rng(seed)``, all distinct. The reference is drawn
    last, so it does not move the other two whether or not drift correction uses it.
    """
    rng = np.random.default_rng(seed)
    seen: set[str] = set()
    reported = sample_distinct(space, rng, task, image_size, config, n, seen)
    calibration = sample_distinct(space, rng, task, image_size, config, calibration_n, seen)
    reference = sample_distinct(space, rng, task, image_size, config, 1, seen)[0]
    return reported, calibration, reference
