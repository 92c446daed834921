"""Seed 003's hardware-aware joint segmentation + quality-control search: ``method=echonas`` (see ``method``).

Modules (one job each):

* ``objective``: eq. 3's terms: the QC target (true per-frame Dice, detached), ``L_MSE``, the
  weighted sum, and FBNet's Gumbel temperature schedule for ``LAT`` (eq. 4).
* ``search``: ``EchoSearch``, first-order DARTS over the ``echonas`` supernet with the D_seg_train /
  D_seg_eval roles of §IV-A, checkpointed every epoch.
* ``method``: the registered method (options, the latency table, decoding by the top-1 op per edge).
"""

from rtbench.methods.echonas.method import EchoNAS

__all__ = ["EchoNAS"]
