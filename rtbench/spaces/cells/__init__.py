"""Cell-based spaces of seed 003 (§III-B to §III-D): NAS-Unet segmentation, quality control, and both together.

Modules (one job each):

* ``ops``: the op specs of the cell families (Table I) and the QC input (image, mask, uncertainty).
* ``graph``: ``GraphBuilder``/``GraphNet``: a network as a DAG of op nodes, built once for the
  supernet (mixed nodes) and once per derived network.
* ``cell``: ``CellType`` and ``emit_cell``: one searched cell (its edges and nodes) into a graph.
* ``supernet``: ``Supernet`` (the searched edges' alphas) and ``SearchedEdge``.
* ``space``: ``CellSpace``, what the three spaces share (genotype format, op instances, sampling).
* ``nasunet``: the ``nasunet`` space (segmentation, Fig. 2).
* ``qcnet``: the ``qcnet`` space (quality control, Fig. 3).
* ``echonas``: the ``echonas`` space (segmentation and quality control searched and run together, Fig. 1).
* ``cost``: expected cost of a supernet over its architecture weights (expected FLOPs, 003 eq. 2).
* ``latency``: FBNet-style Gumbel-softmax latency over a lookup table (003 eq. 4).
"""

from rtbench.spaces.cells.cost import ExpectedCost, ExpectedFlops
from rtbench.spaces.cells.echonas import EchoNASSpace
from rtbench.spaces.cells.latency import ExpectedLatency, gumbel_softmax
from rtbench.spaces.cells.nasunet import NasUnetSpace
from rtbench.spaces.cells.qcnet import QCNetSpace
from rtbench.spaces.cells.space import CellSpace

__all__ = ["CellSpace", "EchoNASSpace", "ExpectedCost", "ExpectedFlops", "ExpectedLatency", "NasUnetSpace", "QCNetSpace", "gumbel_softmax"]
