"""BiX-NAS (Wang et al., MICCAI 2021): ``method=bixnas`` on the ``bionet`` space (see ``method``).

Modules (one job each):

* ``training``: the search loss, validation Dice, seeded data order, atomic checkpoints.
* ``phase1``: the Gumbel-softmax selection matrices and the Phase 1 supernet search (§2.2).
* ``evolution``: Phase 2's offspring sampling and Pareto selection.
* ``phase2``: the progressive evolutionary search, one extraction stage per generation (§2.3).
* ``method``: the registered method, its options and its candidates.
"""

from rtbench.methods.bixnas.method import BiXNAS

__all__ = ["BiXNAS"]
