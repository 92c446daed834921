"""HW-NAS (Zeng et al., ICCAD 2020) as seed 000 re-ran it for Table 2: ``method=hwnas`` (see ``method``).

Modules (one job each):

* ``objective``: the FLOPs term ``F / F_ref`` (expected FLOPs of the supernet, dimensionless) and
  the architecture loss ``L_a + w * F / F_ref``.
* ``search``: ``FlopsSearch``, RT-DNAS's supernet search with that loss, checkpointed every epoch.
* ``method``: the registered method (options, decoding by the N_l highest-weight paths).
"""

from rtbench.methods.hwnas.method import HWNAS

__all__ = ["HWNAS"]
