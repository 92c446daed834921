"""The ``msnas`` space: MS-NAS's two-level multi-scale search space as RT-DNAS uses it (seed 000 §2.1, §3.1).

Network level: a grid of L layers x S scales (default 10 x 4, scales 1 to 1/8; the paper gives
the 10 layers, not the number of scales, ``config.MSNASConfig.scales``). A network is a
union of N_l end-to-end paths over the grid; each path passes one cell per layer, and a cell is
contracting, non-scaling or expanding (max-pool down, bilinear up, factor 2). Cell level: a cell
turns its input X_0 into N blocks X_1..X_N (default 3), block i summing (input, op) pairs over
X_0..X_{i-1}; the supernet mixes all pairs of a block under one softmax (eq. 1).

Modules (one job each):

* ``paths``: the grid, legal paths, path counts per tile and k_c (supplementary Fig. 3).
* ``config``: ``MSNASConfig`` (the space options) and ``CELL_OPS``.
* ``ops``: the fixed ops (stem, the three scaling ops, head, concat, add) and their FLOPs.
* ``cell``: ``MixedCell`` (eq. 1 with partial channels) and ``DerivedCell``.
* ``supernet``: ``MSNASSupernet`` (alphas, betas, ``cell_weights``) and ``derive_cells``.
* ``genotype``: the genotype format, validation and random sampling.
* ``net``: ``MSNASNet`` (a derived network, path segments shared) and its op graph.
* ``cost``: expected latency / FLOPs over the supernet (eq. 3-5 as printed, and RT-DNAS's ``L_t``
  for the N_l-path derived network, ``UnionLatency``).

Design choices the paper leaves open (each also documented where it is implemented):

* Paths start and end at scale 0 (full-resolution stem, full-resolution head): ``paths``.
* One cell structure (alpha) shared by every cell; op weights per tile; the cells leaving a tile
  share its blocks: ``supernet``.
* Width ``C * 2^s`` at scale s (default C = 8); a scaling op is resample + ReLU-conv1x1-BN to the
  target width, applied to the concat of the blocks (that concat + 1x1 is how blocks combine; the
  whole of it is ``S_cell``): ``ops``.
* Ops: conv, dil_conv, sep_conv, identity from ``rtbench.spaces.ops``; ``zero`` excluded:
  ``config.CELL_OPS``.
* Tile merge: network-level-weighted sum in the supernet, plain sum in derived networks.
* Derivation: top-2 (input, op) pairs per block by eq. 1 weight, distinct inputs, at most
  ``max_identity`` identity edges per cell (P-DARTS's cap): ``derive_cells``.
* Partial channels: K = 4 in the supernet only; derived networks use all channels.

Scale of the default space at 128 px (random cells, 2-core CPU, 2 threads, best of 25 forwards,
measured on a shared machine, so indicative only): one path 0.6-0.8 GFLOPs and about 17-25 ms;
two paths about 25 ms; five to eight paths 1.5-2.1 GFLOPs and about 65-90 ms. So the cine bound
(50 ms) admits the smaller N_l and rules out the larger ones, and the search has to trade.
"""

from rtbench.spaces.msnas.config import CELL_OPS, IDENTITY, MSNASConfig
from rtbench.spaces.msnas.cost import ExpectedFlops, ExpectedLatency, UnionLatency
from rtbench.spaces.msnas.net import MSNASNet
from rtbench.spaces.msnas.paths import cell_probabilities, legal_cells, legal_paths, path_cells, path_counts
from rtbench.spaces.msnas.space import MSNASSpace
from rtbench.spaces.msnas.supernet import MSNASSupernet, derive_cells

__all__ = [
    "IDENTITY",
    "CELL_OPS",
    "ExpectedFlops",
    "ExpectedLatency",
    "MSNASConfig",
    "MSNASNet",
    "MSNASSpace",
    "MSNASSupernet",
    "UnionLatency",
    "cell_probabilities",
    "derive_cells",
    "legal_cells",
    "legal_paths",
    "path_cells",
    "path_counts",
]
