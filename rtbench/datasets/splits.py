"""Patient-level splits. The search split and the test folds never mix.

Protocols (``budget.protocol``):

* ``holdout``: a stratified share ``budget.test_fraction`` of patients is the test set; the rest is
  both the search pool and the training set. One fold.
* ``kfold``: a stratified share ``budget.search_fraction`` of patients is reserved for search only
  and never tested; the remaining patients are split into ``budget.folds`` stratified folds. Fold k
  trains on the search pool plus the other folds and tests on fold k (the papers' 5-fold CV).
* ``roots``: the dataset brings its own test set (``DatasetBundle.test_volumes``); the development
  pool is both the search pool and the training set. One fold.

Splits are made over patients, never frames or slices (ED and ES of one patient are near
duplicates), stratified by group (ACDC's five pathology groups), and depend only on
(patients, budget, seed).

Stratification is written here rather than with MONAI's ``partition_dataset_classes``, which
rounds each group's share separately and deals every group's remainder to the first partition:
on the smoke budget's 6 synthetic patients at ``test_fraction=0.34`` it gives 1 or 3 test patients
(not 2) depending on the groups, 80 patients in 5 folds come out 20/15/15/15/15, and three or more
ratios can leave patients out of every partition (4 patients at ratios 1:1:1 give 1/1/1).
Here the total is rounded once, each group's share comes from largest remainders, and folds are
dealt round-robin over a group-ordered list, so fold sizes and each group's count per fold differ
by at most one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from rtbench.budgets import Budget
from rtbench.errors import ConfigError


@dataclass(frozen=True)
class Fold:
    """One evaluation fold: patients to train on and patients to score on."""

    index: int
    train: tuple[str, ...]
    test: tuple[str, ...]


@dataclass(frozen=True)
class SplitPlan:
    """The search pool (never tested) and the evaluation folds."""

    protocol: str
    search: tuple[str, ...]
    folds: tuple[Fold, ...]


def make_split(patients: Mapping[str, str], budget: Budget, seed: int, has_test_set: bool = False) -> SplitPlan:
    """Split patients into a search pool and evaluation folds under ``budget.protocol``.

    Args:
        patients: patient id -> group (``DatasetBundle.patients()``, the development pool).
        budget: gives ``protocol``, ``folds``, ``test_fraction`` and ``search_fraction``.
        seed: the submission seed; the same seed gives the same split.
        has_test_set: the dataset brought its own test set (``DatasetBundle.test_volumes``).
            Required by protocol ``roots``, refused by the others (the test set would be ignored).

    Returns:
        A :class:`SplitPlan` whose tuples are sorted. Under ``roots`` the one fold's ``test`` is
        empty: its test patients are those of ``DatasetBundle.test_volumes``.

    Raises:
        ConfigError: an unknown protocol, a fraction outside (0, 1), fewer than 2 folds, too few
            patients for the protocol, or a test set that does not match the protocol.
    """
    ids = tuple(sorted(patients))
    protocol = budget.protocol
    if protocol == "roots":
        if not has_test_set:
            raise ConfigError("budget.protocol=roots needs a dataset with its own test set (e.g. dataset.test_root=PATH)")
        if not ids:
            raise ConfigError("budget.protocol=roots: the development pool has no patients")
        return SplitPlan(protocol=protocol, search=ids, folds=(Fold(index=0, train=ids, test=()),))
    if has_test_set:
        raise ConfigError(f"the dataset brings its own test set but budget.protocol={protocol}; set budget.protocol=roots")
    rng = np.random.default_rng(seed)
    strata = {g: _shuffled([p for p in ids if patients[p] == g], rng) for g in sorted(set(patients.values()))}
    if protocol == "holdout":
        n_test = _share("budget.test_fraction", budget.test_fraction, len(ids), least_left=1)
        test = _stratified_take(strata, n_test, rng)
        train = tuple(sorted(set(ids) - set(test)))
        return SplitPlan(protocol=protocol, search=train, folds=(Fold(index=0, train=train, test=tuple(sorted(test))),))
    if protocol == "kfold":
        k = budget.folds
        if k < 2:
            raise ConfigError(f"budget.folds={k} is not valid for budget.protocol=kfold; expected 2 or more")
        n_search = _share("budget.search_fraction", budget.search_fraction, len(ids), least_left=k)
        search = tuple(sorted(_stratified_take(strata, n_search, rng)))
        ordered = [p for g in sorted(strata) for p in strata[g]]  # group by group; dealing round-robin stratifies
        tests = [tuple(sorted(ordered[i::k])) for i in range(k)]
        folds = tuple(
            Fold(index=i, train=tuple(sorted(search + tuple(p for j, t in enumerate(tests) if j != i for p in t))), test=tests[i])
            for i in range(k)
        )
        return SplitPlan(protocol=protocol, search=search, folds=folds)
    raise ConfigError(f"budget.protocol='{protocol}' is not valid; expected one of: holdout, kfold, roots")


def _shuffled(items: list[str], rng: np.random.Generator) -> list[str]:
    return [items[i] for i in rng.permutation(len(items))]


def _share(key: str, fraction: float, n: int, least_left: int) -> int:
    """round(fraction * n), at least 1, leaving at least ``least_left`` patients; ConfigError when impossible."""
    if not 0.0 < fraction < 1.0:
        raise ConfigError(f"{key}={fraction} is not valid; expected a fraction strictly between 0 and 1")
    if n < 1 + least_left:
        raise ConfigError(f"{key}={fraction} needs at least {1 + least_left} patients to split; the dataset has {n}")
    return min(max(1, math.floor(fraction * n + 0.5)), n - least_left)


def _stratified_take(strata: dict[str, list[str]], n: int, rng: np.random.Generator) -> list[str]:
    """Remove and return ``n`` patients from ``strata`` (group -> shuffled ids), in proportion to group sizes.

    Each group gives the floor of its exact quota; the patients still owed go to the groups with the
    largest remainders (ties broken by ``rng``). Patients are taken from the front of each list.
    """
    total = sum(len(v) for v in strata.values())
    groups = sorted(strata)
    quota = {g: n * len(strata[g]) / total for g in groups}
    take = {g: math.floor(quota[g]) for g in groups}
    tie_break = rng.permutation(len(groups))
    by_remainder = sorted(range(len(groups)), key=lambda i: (-(quota[groups[i]] - take[groups[i]]), tie_break[i]))
    for i in by_remainder[: n - sum(take.values())]:
        take[groups[i]] += 1
    out: list[str] = []
    for g in groups:
        out += strata[g][: take[g]]
        del strata[g][: take[g]]
    return out
