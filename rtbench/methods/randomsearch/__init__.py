"""Random sampling of the ``msnas`` space (seed 000 Fig. 2): ``method=random`` (see ``method``).

Modules (one job each):

* ``genes``: one genotype drawn gene by gene through an Optuna trial (``trial.suggest_*``).
* ``study``: the journaled Optuna study (resume, per-sample seeding, duplicate redraws).
* ``method``: the registered method (options, one candidate per sample).
"""

from rtbench.methods.randomsearch.method import RandomSearch

__all__ = ["RandomSearch"]
