"""Patient-level splits. The search split and the test folds never mix.

Protocols (``budget.protocol``):

* ``holdout``: a stratified share ``budget.test_fraction`` of patients is the test set; the rest is
  both the search pool and the training set. One fold.
* ``kfold``: a stratified share ``budget.search_fraction`` of patients is reserved for search only
  and never tested; the remaining patients are split into ``budget.folds`` stratified folds. Fold k
  trains on the search pool plus the other folds and tests on fold k (the papers' 5-fold CV).
* ``roots``: the dataset brings its own test set (``DatasetBundle.test_volumes``); the development
  pool is both the search pool and the training set. One fold.
"""

from __future__ import annotations

from dataclasses import dataclass


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
