"""RT-DNAS (seed 000) and its MS-NAS baseline: ``method=rtdnas`` and ``method=msnas`` (see ``method``).

Modules (one job each):

* ``options``: the options both methods share (N_l, the msnas grid).
* ``search``: the supernet search, eq. 2, first-order bi-level, checkpointed every epoch.
* ``dijkstra``: path weights and MS-NAS's decoding (the N_l highest-weight paths).
* ``ga``: the genetic algorithm of §2.3 over the top-10 gene pool.
* ``fitness``: a GA individual's fitness under the real-time bounds.
* ``decoder``: ``PathDecoder``, candidates from a searched supernet by either decoder.
* ``method``: the two registered methods.
"""

from rtbench.methods.rtdnas.method import MSNAS, RTDNAS

__all__ = ["MSNAS", "RTDNAS"]
