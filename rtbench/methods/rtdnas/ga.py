"""The RT-DNAS genetic algorithm that decodes the network level (seed 000 §2.3, §3.1).

Vocabulary (§2.3):

* *gene*: a legal end-to-end path from the gene pool, here its index in the pool. The pool lists
  the top paths by accumulated weight, best first (``dijkstra.best_weight_paths``), so a
  smaller index is a heavier path.
* *individual*: N_l distinct genes, kept sorted by weight (ascending pool index) -- "the paths are
  sorted by their weights and the order of genes is maintained throughout the process" -- so an
  individual is a sorted tuple and two equal networks are equal tuples.
* *fitness*: anything orderable, lower is better; RT-DNAS uses the derived network's path weight
  or predicted latency under the real-time bounds (``fitness``). The GA itself knows nothing of either.

Initial population: the ``seeds`` given (RT-DNAS seeds the Dijkstra individual, the N_l heaviest
genes ``(0, ..., N_l - 1)``), then random individuals up to the population size. With elitism the
result is never less fit than any seed: at equal N_l the GA's network is at least as fit as
MS-NAS's (at least as fast under the latency fitness).

One generation: the ``elite`` best individuals pass unchanged (elitism: the best fitness never
worsens); the rest of the next population are children of parents picked by binary tournament,
crossed over with probability ``CROSSOVER_RATE`` and each mutated with probability
``MUTATION_RATE``. Ties in fitness go to the individual with the heavier genes (the smaller
tuple), so the result is a function of the fitness, the pool and the random generator alone.
The paper gives the population (20), the pool (top 10) and the generations (100) but not the
operator rates or the selection scheme; those are ours.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

import numpy as np

Individual = tuple[int, ...]
"""N_l distinct gene-pool indices in ascending order (descending path weight)."""

CROSSOVER_RATE = 0.9
MUTATION_RATE = 0.3


class Orderable(Protocol):
    """A fitness value: anything with ``<`` (lower is fitter)."""

    def __lt__(self, other: object, /) -> bool: ...


F = TypeVar("F", bound=Orderable)


@dataclass(frozen=True)
class GAResult(Generic[F]):
    """The outcome of :func:`evolve`.

    Attributes:
        best: the fittest individual of the last generation (the best ever seen, by elitism).
        fitness: its fitness.
        history: the best fitness of the initial population and of every generation after it
            (``generations + 1`` entries, never increasing).
        population: the last generation.
    """

    best: Individual
    fitness: F
    history: list[F]
    population: list[Individual]


def random_individual(pool: int, n_genes: int, rng: np.random.Generator) -> Individual:
    """``n_genes`` distinct genes drawn uniformly from a pool of ``pool`` genes, sorted."""
    return tuple(sorted(int(g) for g in rng.choice(pool, size=n_genes, replace=False)))


def repair(genes: list[int], pool: int, rng: np.random.Generator) -> Individual:
    """An individual from ``genes``: every repeated gene is replaced by a pool gene drawn uniformly among those
    the individual lacks, then the genes are sorted (by weight)."""
    out: list[int] = []
    for g in genes:
        if g in out:
            unused = [u for u in range(pool) if u not in out and u not in genes]
            g = int(rng.choice(unused))
        out.append(g)
    return tuple(sorted(out))


def crossover(a: Individual, b: Individual, pool: int, rng: np.random.Generator) -> tuple[Individual, Individual]:
    """Two individuals exchange a portion of their genes (§2.3): one-point crossover of the weight-sorted genes.

    A cut ``k`` in 1..N_l-1 is drawn; the children are ``a[:k] + b[k:]`` and ``b[:k] + a[k:]`` (the
    heavier genes of one parent, the lighter of the other), repaired (:func:`repair`) and sorted.
    Individuals of one gene have no cut and are returned unchanged.
    """
    n = len(a)
    if n < 2:
        return a, b
    k = int(rng.integers(1, n))
    return repair([*a[:k], *b[k:]], pool, rng), repair([*b[:k], *a[k:]], pool, rng)


def mutate(ind: Individual, pool: int, rng: np.random.Generator) -> Individual:
    """Replace one random gene by a pool gene the individual lacks (§2.3); unchanged if it holds the whole pool."""
    unused = [g for g in range(pool) if g not in ind]
    if not unused:
        return ind
    genes = list(ind)
    genes[int(rng.integers(len(genes)))] = int(rng.choice(unused))
    return tuple(sorted(genes))


def evolve(
    pool: int,
    n_genes: int,
    fitness: Callable[[Individual], F],
    population: int,
    generations: int,
    rng: np.random.Generator,
    elite: int | None = None,
    seeds: Sequence[Individual] = (),
) -> GAResult[F]:
    """Run the GA: ``population`` individuals of ``n_genes`` genes from a pool of ``pool`` genes (the
    ``seeds``, then random ones), evolved for ``generations`` generations, minimising ``fitness``
    (§2.3; seed 000 §3.1: 20, top 10, 100).

    ``elite`` individuals survive each generation unchanged (default: a tenth of the population, at
    least one). ``fitness`` is called once per distinct individual. Deterministic given ``rng``'s state.
    ValueError if a seed is not ``n_genes`` distinct sorted pool genes or there are more seeds than places.
    """
    if not 1 <= n_genes <= pool:
        raise ValueError(f"individuals of {n_genes} genes cannot be drawn from a pool of {pool}")
    if population < 2:
        raise ValueError(f"the GA needs a population of at least 2, got {population}")
    n_elite = max(1, population // 10) if elite is None else elite
    if not 1 <= n_elite < population:
        raise ValueError(f"elite={n_elite} must be in 1..population-1 ({population - 1})")
    for ind in seeds:
        if len(ind) != n_genes or list(ind) != sorted(set(ind)) or not all(0 <= g < pool for g in ind):
            raise ValueError(f"seed individual {ind} is not {n_genes} distinct sorted genes of a pool of {pool}")
    if len(seeds) > population:
        raise ValueError(f"{len(seeds)} seed individuals do not fit a population of {population}")
    scores: dict[Individual, F] = {}

    def rank(ind: Individual) -> tuple[F, Individual]:
        if ind not in scores:
            scores[ind] = fitness(ind)
        return scores[ind], ind

    def tournament(pop: list[Individual]) -> Individual:
        i, j = rng.integers(len(pop), size=2)
        return min(pop[int(i)], pop[int(j)], key=rank)

    pop = [tuple(ind) for ind in seeds] + [random_individual(pool, n_genes, rng) for _ in range(population - len(seeds))]
    history = [rank(min(pop, key=rank))[0]]
    for _ in range(generations):
        nxt = sorted(pop, key=rank)[:n_elite]
        while len(nxt) < population:
            a, b = tournament(pop), tournament(pop)
            if rng.random() < CROSSOVER_RATE:
                a, b = crossover(a, b, pool, rng)
            for child in (a, b):
                if rng.random() < MUTATION_RATE:
                    child = mutate(child, pool, rng)
                if len(nxt) < population:
                    nxt.append(child)
        pop = nxt
        history.append(rank(min(pop, key=rank))[0])
    best = min(pop, key=rank)
    return GAResult(best=best, fitness=scores[best], history=history, population=pop)
