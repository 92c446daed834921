"""Patient-level splits: no leakage between search and test, coverage, stratification, determinism, errors."""

from __future__ import annotations

from collections import Counter

import pytest

from rtbench.budgets import BUDGETS, Budget
from rtbench.datasets.splits import SplitPlan, make_split
from rtbench.errors import ConfigError

GROUPS = ("DCM", "HCM", "MINF", "NOR", "RV")


def acdc_like(n_per_group: int = 20) -> dict[str, str]:
    """ACDC training: 5 groups of 20, ids patient001..100 in group blocks."""
    return {f"patient{g * n_per_group + i + 1:03d}": group for g, group in enumerate(GROUPS) for i in range(n_per_group)}


def uneven(n: int) -> dict[str, str]:
    return {f"p{i:03d}": GROUPS[(i * 7) % 11 % 5] for i in range(n)}


def budget(**fields: object) -> Budget:
    return Budget(name="test", **fields)  # type: ignore[arg-type]


def assert_sorted(plan: SplitPlan) -> None:
    for seq in (plan.search, *(f.train for f in plan.folds), *(f.test for f in plan.folds)):
        assert list(seq) == sorted(seq) and len(set(seq)) == len(seq)


@pytest.mark.parametrize("patients", [acdc_like(), uneven(37), uneven(6)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_holdout_partitions_patients_and_stratifies(patients: dict[str, str], seed: int) -> None:
    plan = make_split(patients, budget(protocol="holdout", test_fraction=0.34), seed)
    assert plan.protocol == "holdout" and len(plan.folds) == 1
    fold = plan.folds[0]
    assert_sorted(plan)
    assert not set(fold.test) & set(plan.search)  # search never sees a test patient
    assert set(fold.test) | set(fold.train) == set(patients) and fold.train == plan.search
    assert len(fold.test) == round(0.34 * len(patients))
    tested = Counter(patients[p] for p in fold.test)
    for group, size in Counter(patients.values()).items():  # each group within one patient of its exact share
        assert abs(tested[group] - len(fold.test) * size / len(patients)) < 1.0, group


def test_holdout_on_acdc_takes_exactly_a_fifth_of_every_group() -> None:
    patients = acdc_like()
    plan = make_split(patients, budget(protocol="holdout", test_fraction=0.2), 0)
    assert Counter(patients[p] for p in plan.folds[0].test) == {g: 4 for g in GROUPS}


def test_smoke_budget_on_six_synthetic_patients_tests_two() -> None:
    patients = {f"syn{i:03d}": ("NOR", "DCM", "HCM", "MINF", "RV")[i % 5] for i in range(6)}
    plan = make_split(patients, BUDGETS["smoke"], 0)
    assert len(plan.folds[0].test) == 2 and len(plan.search) == 4


@pytest.mark.parametrize("patients", [acdc_like(), uneven(53), uneven(12)])
@pytest.mark.parametrize("seed", [0, 3])
def test_kfold_reserves_search_pool_and_tests_every_other_patient_once(patients: dict[str, str], seed: int) -> None:
    k = 5
    plan = make_split(patients, budget(protocol="kfold", folds=k, search_fraction=0.2), seed)
    assert plan.protocol == "kfold" and [f.index for f in plan.folds] == list(range(k))
    assert_sorted(plan)
    search = set(plan.search)
    assert len(search) == max(1, round(0.2 * len(patients)))
    tested = Counter(p for f in plan.folds for p in f.test)
    assert not search & set(tested)  # the search pool is never tested
    assert set(tested) == set(patients) - search and set(tested.values()) == {1}  # every other patient exactly once
    for f in plan.folds:
        assert set(f.train) == set(patients) - set(f.test)  # train = search pool + the other folds
    sizes = [len(f.test) for f in plan.folds]
    assert max(sizes) - min(sizes) <= 1
    for group in set(patients.values()):
        per_fold = [sum(patients[p] == group for p in f.test) for f in plan.folds]
        assert max(per_fold) - min(per_fold) <= 1, group


def test_kfold_on_acdc_is_balanced() -> None:
    patients = acdc_like()
    plan = make_split(patients, budget(protocol="kfold", folds=5, search_fraction=0.2), 0)
    assert Counter(patients[p] for p in plan.search) == {g: 4 for g in GROUPS}
    assert [len(f.test) for f in plan.folds] == [16] * 5
    for f in plan.folds:  # 16 left per group over 5 folds: 3 or 4 of each group in every fold
        assert set(Counter(patients[p] for p in f.test).values()) <= {3, 4}


def test_roots_uses_the_whole_pool_for_search_and_training() -> None:
    patients = uneven(9)
    plan = make_split(patients, budget(protocol="roots"), 0, has_test_set=True)
    assert plan.search == tuple(sorted(patients)) and plan.folds[0].train == plan.search and plan.folds[0].test == ()


@pytest.mark.parametrize("protocol", ["holdout", "kfold"])
def test_deterministic_by_seed(protocol: str) -> None:
    patients = acdc_like()
    b = budget(protocol=protocol)
    assert make_split(patients, b, 4) == make_split(dict(reversed(list(patients.items()))), b, 4)
    assert make_split(patients, b, 4) != make_split(patients, b, 5)


@pytest.mark.parametrize(
    ("fields", "has_test_set", "n", "match"),
    [
        ({"protocol": "roots"}, False, 10, "test_root"),
        ({"protocol": "holdout"}, True, 10, "protocol=roots"),
        ({"protocol": "holdout", "test_fraction": 0.0}, False, 10, "budget.test_fraction"),
        ({"protocol": "holdout", "test_fraction": 1.0}, False, 10, "budget.test_fraction"),
        ({"protocol": "holdout"}, False, 1, "at least 2 patients"),
        ({"protocol": "kfold", "folds": 1}, False, 10, "budget.folds"),
        ({"protocol": "kfold", "folds": 5}, False, 5, "at least 6 patients"),
        ({"protocol": "kfold", "search_fraction": 0.0}, False, 10, "budget.search_fraction"),
        ({"protocol": "bogus"}, False, 10, "not valid"),
    ],
)
def test_bad_settings_are_config_errors(fields: dict[str, object], has_test_set: bool, n: int, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        make_split(uneven(n), budget(**fields), 0, has_test_set=has_test_set)
