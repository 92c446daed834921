"""Budgets: how much compute one submission spends. The budget is part of the board.

* ``smoke``: tiny images, one epoch, one holdout fold; every method end to end in seconds (tests).
* ``quick``: a real but small run on a 2-core CPU: 128 px images, a few epochs, a holdout split.
* ``paper``: the papers' settings (40 search epochs and 5-fold cross-validation in seed 000);
  meant for a GPU.

A reduced budget changes only these numbers, never the algorithm. Any field can be overridden on
the command line (``budget.epochs=3``); an overridden budget is a different board.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from rtbench.errors import ConfigError


@dataclass(frozen=True)
class Budget:
    """Compute budget of one submission. Every field is a plain number or string (hashable, JSON-able)."""

    name: str
    # data
    image_size: int = 128  # H = W of every 2D slice fed to a network (pixels)
    spacing_mm: float = 1.8  # target in-plane spacing after resampling (mm per pixel)
    synthetic_patients: int = 20  # number of synthetic patients (synthetic datasets only)
    max_patients: int = 0  # cap on patients read from a real dataset (0: all)
    # protocol
    protocol: str = "holdout"  # "holdout" | "kfold" | "roots" (train on dataset.root, test on dataset.test_root)
    folds: int = 5  # K for "kfold"
    test_fraction: float = 0.2  # share of patients held out for "holdout"
    search_fraction: float = 0.2  # share of patients reserved for search under "kfold"
    # shared training recipe (the harness trains every candidate with these)
    epochs: int = 8
    batch_size: int = 16
    lr: float = 1e-3
    # search (methods read these through SearchContext.budget)
    search_epochs: int = 4
    search_batches: int = 0  # weight/architecture steps per search epoch (0: one pass over the search pool)
    search_warmup_epochs: int = 1  # weight-only epochs before architecture updates start
    ga_population: int = 20
    ga_generations: int = 100
    random_samples: int = 8
    # measurement (0 / 0.0: take the hardware profile's own setting)
    min_queries: int = 0
    min_duration_s: float = 0.0
    warmup_queries: int = 0


BUDGETS: dict[str, Budget] = {
    "smoke": Budget(
        name="smoke",
        image_size=32,
        spacing_mm=6.0,
        synthetic_patients=6,
        max_patients=10,
        protocol="holdout",
        test_fraction=0.34,
        epochs=1,
        batch_size=8,
        search_epochs=1,
        search_batches=2,
        search_warmup_epochs=0,
        ga_population=6,
        ga_generations=5,
        random_samples=2,
        min_queries=5,
        min_duration_s=0.05,
        warmup_queries=2,
    ),
    # batch 8 / lr 2e-3: twice the updates of batch 16 in the same epochs (ACDC U-Net(16), 8 epochs,
    # mean per-volume Dice 0.813 at batch 16 / lr 1e-3 -> 0.848; batch 4 gave 0.846).
    # 1.5 mm: ACDC U-Net(16), 8 epochs, 20 held-out patients, seed 0: 1.8 mm 0.846, 1.6 mm 0.849,
    # 1.5 mm 0.853 (seed 1: 0.861); lr 3e-3 or 9 epochs at 1.8 mm did not help (0.846, 0.849). The
    # 192 mm field of view crops part of the heart of 2 of 100 ACDC patients (patient046: 25% of its
    # labelled area at ED; 10 of 200 volumes lose more than 1%, 3 of 200 at 1.8 mm).
    "quick": Budget(name="quick", spacing_mm=1.5, batch_size=8, lr=2e-3, search_batches=25),
    "paper": Budget(
        name="paper",
        image_size=224,
        spacing_mm=1.25,
        synthetic_patients=100,
        protocol="kfold",
        folds=5,
        epochs=100,
        batch_size=16,
        search_epochs=40,
        search_warmup_epochs=0,
        ga_population=20,
        ga_generations=100,
        random_samples=100,
    ),
}

PROTOCOLS = ("holdout", "kfold", "roots")


def get_budget(name: str) -> Budget:
    try:
        return BUDGETS[name]
    except KeyError:
        raise ConfigError(f"unknown budget '{name}'; valid budgets: {', '.join(BUDGETS)}") from None


RANGES: dict[str, tuple[float, float | None, str]] = {
    "image_size": (8, None, ">= 8"),
    "spacing_mm": (1e-3, None, "> 0"),
    "synthetic_patients": (2, None, ">= 2"),
    "max_patients": (0, None, ">= 0 (0: all)"),
    "folds": (2, None, ">= 2"),
    "test_fraction": (1e-9, 1 - 1e-9, "strictly between 0 and 1"),
    "search_fraction": (1e-9, 1 - 1e-9, "strictly between 0 and 1"),
    "epochs": (1, None, ">= 1"),
    "batch_size": (1, None, ">= 1"),
    "lr": (1e-12, None, "> 0"),
    "search_epochs": (0, None, ">= 0"),
    "search_batches": (0, None, ">= 0 (0: one pass)"),
    "search_warmup_epochs": (0, None, ">= 0"),
    "ga_population": (2, None, ">= 2"),
    "ga_generations": (0, None, ">= 0"),
    "random_samples": (1, None, ">= 1"),
    "min_queries": (0, None, ">= 0 (0: the profile's)"),
    "min_duration_s": (0, None, ">= 0 (0: the profile's)"),
    "warmup_queries": (0, None, ">= 0 (0: the profile's)"),
}
"""Valid range of each numeric budget field: (lowest, highest or None, how the error states it)."""


def check_ranges(budget: Budget) -> Budget:
    """ConfigError naming the first field outside its range (:data:`RANGES`), its value and the valid range."""
    for name, (low, high, text) in RANGES.items():
        value = getattr(budget, name)
        if value < low or (high is not None and value > high):
            raise ConfigError(f"budget.{name}={value} is out of range; expected {text}")
    if budget.search_warmup_epochs > budget.search_epochs:
        raise ConfigError(
            f"budget.search_warmup_epochs={budget.search_warmup_epochs} is out of range; expected <= budget.search_epochs "
            f"({budget.search_epochs})"
        )
    return budget


def with_overrides(budget: Budget, **fields: object) -> Budget:
    """A copy of ``budget`` with ``fields`` replaced (types already checked by the config layer), range-checked."""
    out = replace(budget, **fields)  # type: ignore[arg-type]
    if out.protocol not in PROTOCOLS:
        raise ConfigError(f"budget.protocol='{out.protocol}' is not valid; expected one of: {', '.join(PROTOCOLS)}")
    return check_ranges(out)
