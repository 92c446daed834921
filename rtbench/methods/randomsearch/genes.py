"""One ``msnas`` genotype drawn gene by gene through an Optuna trial: every gene is a ``trial.suggest_*`` call.

What a genotype holds (``rtbench.spaces.msnas.genotype``): the grid (``layers``, ``scales``,
``channels``: fixed by the method's options, not drawn), one cell structure shared by every cell,
and N_l distinct legal paths. The draw is uniform over legal genotypes in the same sense as
``MSNASSpace.sample_genotype``, but Optuna does the drawing, so the study records every gene:

* ``n_paths``: N_l, ``suggest_int(min_paths, max_paths)``.
* Cell, block i = 1..N keeps ``k_i = min(edges_per_block, i)`` pairs with distinct inputs among
  X_0..X_{i-1}: pair e draws its input as ``block{i}_input{e}``, an index into the inputs not yet
  taken (``suggest_int(0, i - 1 - e)``; uniform without replacement), and its op as
  ``block{i}_op{e}`` (``suggest_categorical`` over the space's cell ops). Pairs are listed by input.
* Paths: path k = 0..N_l-1 is ``path{k}``, an index into the legal paths not yet taken, in the
  lexicographic order of ``legal_paths`` (``suggest_int(0, n_legal - 1 - k)``): N_l distinct paths
  drawn uniformly without replacement. Indices rather than one categorical over all paths keep the
  journal small (2135 legal paths on the default grid) and each parameter's range the same in
  every trial. The genotype lists the paths sorted.

``suggest_genotype`` works with any ``optuna.trial.BaseTrial``: replayed through a ``FixedTrial``
of a trial's ``params`` it rebuilds that trial's genotype (tested).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from optuna.trial import BaseTrial

from rtbench.spaces.msnas import MSNASConfig
from rtbench.spaces.msnas.genotype import cell_gene
from rtbench.spaces.msnas.paths import Path


def suggest_genotype(trial: BaseTrial, config: MSNASConfig, min_paths: int, max_paths: int, legal: Sequence[Path]) -> dict[str, Any]:
    """A genotype of the grid ``config`` with N_l in ``min_paths..max_paths``, every gene suggested by ``trial``.

    ``legal`` is ``legal_paths(config.layers, config.scales)`` (at least ``max_paths`` of them).
    """
    n_paths = trial.suggest_int("n_paths", min_paths, max_paths)
    cell = []
    for i in range(1, config.blocks + 1):
        free = list(range(i))
        pairs = []
        for e in range(min(config.edges_per_block, i)):
            j = free.pop(trial.suggest_int(f"block{i}_input{e}", 0, len(free) - 1))
            pairs.append((j, str(trial.suggest_categorical(f"block{i}_op{e}", config.ops))))
        cell.append(sorted(pairs))
    pool = list(legal)
    paths = [pool.pop(trial.suggest_int(f"path{k}", 0, len(pool) - 1)) for k in range(n_paths)]
    return {
        "layers": config.layers,
        "scales": config.scales,
        "channels": config.channels,
        "cell": cell_gene(cell),
        "paths": [list(p) for p in sorted(paths)],
    }
