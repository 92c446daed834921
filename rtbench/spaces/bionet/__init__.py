"""The ``bionet`` space: BiX-Net's multi-scale bi-directional (BiO-Net style) recurrent U-Net (Wang et al., MICCAI 2021).

A network unrolls ``T`` iterations of an encoder stage and a decoder stage of ``L`` levels, the
convolutions of each (side, level) shared by every iteration (BiO-Net, Xiang et al., MICCAI 2020).
Every block may read its main input and one skip per level of the other side: *forward* skips
from the encoder blocks of its iteration into a decoder block, *backward* skips from the decoder
blocks of the previous iteration into an encoder block (BiX-Net's multi-scale upgrade of BiO-Net's
same-level skips). The genotype is the chosen skip set (gene) of every block of every iteration;
a block averages its chosen inputs, each resized bilinearly to its resolution.

Modules (one job each):

* ``config``: ``BiONetConfig`` (T, L, widths), ``BlockId`` and the one numbering of candidates.
* ``genotype``: the genotype format, its checks, live blocks, canonical form and random sampling.
* ``ops``: stem, head, the conv pair of a block or the bridge, resizes and merges; their FLOPs.
* ``net``: the unrolled schedule (``BiONetWeights.run_stages``), ``BiONet`` (a derived network)
  and ``BiONetSupernet`` (all blocks, for BiX-NAS's search).
* ``graph``: the op graph of a derived network and the op instances of the space (latency tables).
* ``space``: ``BiONetSpace``, registered as ``bionet``.

Choices the papers leave open (BiX-Net's public code decides most of them; each is also
documented where it is implemented): one width ``C`` at every level (code: 48) so any skip can be
averaged with any other; bilinear resizing for every skip and for the decoder's main path, max-
pooling for the encoder's; a stem of three conv-BN-ReLU (width 32) and a 2x2 max-pool; a head of
bilinear x2, two conv-BN-ReLU and a 1x1 conv (logits, for the harness's DiceCE loss, instead of the
code's sigmoid); convolutions shared across iterations with BatchNorms per iteration; dead blocks
(whose outputs nothing reads) are not built.

Scale: at 128 px the default BiX-Net shape (T = 3, L = 4, C = 48) is 2.12 GMACs with every block
live, whatever its skips (resizes and merges cost no MACs): a network saves MACs only by dead blocks.
"""

from rtbench.spaces.bionet.config import MAIN, BiONetConfig, BlockId, skip_id
from rtbench.spaces.bionet.genotype import (
    bionet_genes,
    canonical,
    full_genes,
    live_nodes,
    parse_genes,
    random_gene,
    to_genotype,
)
from rtbench.spaces.bionet.net import BiONet, BiONetSupernet, Merge, State, mean_merge
from rtbench.spaces.bionet.space import BiONetSpace

__all__ = [
    "MAIN",
    "BiONet",
    "BiONetConfig",
    "BiONetSpace",
    "BiONetSupernet",
    "BlockId",
    "Merge",
    "State",
    "bionet_genes",
    "canonical",
    "full_genes",
    "live_nodes",
    "mean_merge",
    "parse_genes",
    "random_gene",
    "skip_id",
    "to_genotype",
]
