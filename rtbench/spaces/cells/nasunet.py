"""The ``nasunet`` space: the U-Net-like segmentation network of seed 003 (§III-B, Fig. 2), NAS-Unet cells.

Macro architecture (``filters`` F, ``depth`` D, ``nodes`` m; defaults 4, 3, 3 — 003 §IV-A sets
m = 3 and an initial filter size of 4 for segmentation; the number of cells is not stated)::

    stem        conv3x3_bn: image (C_img, H, W) -> (F, H, W)
    down_i      Down cell, i = 1..D: (F 2^i, H / 2^i). Inputs: the previous two cells' outputs
                (the stem stands in for missing ones). c_{k-1} is preprocessed by relu_conv1x1_bn,
                c_{k-2} (at twice c_{k-1}'s resolution) by relu_conv1x1_bn_s2; down_1's inputs are
                both the stem, preprocessed once.
    up_j        Up cell, j = D..1: (F 2^(j-1), H / 2^(j-1)). Inputs: c_{k-1} = the previous cell
                (relu_conv1x1_bn) and the 'transform' of Fig. 2(a): the output of down_j, at up_j's
                input resolution, by relu_conv1x1_bn (for up_D, down_D is c_{k-1} itself,
                preprocessed once).
    head        conv1x1_head: (F, H, W) -> (K, H, W) logits.

Inside a cell every node has F 2^i channels at the cell's input resolution; edges from the two
inputs apply the cell's scaling family (Down: stride-2 down ops and pooling; Up: stride-2
transposed convolutions), edges between nodes the normal family (identity and zero included,
Table I), and the output is the sum of the nodes. Both inputs of an Up cell are therefore
upsampled by searched up ops, so the skip from the encoder joins *before* the resolution change
(a cell whose input edges are up ops cannot take a full-resolution skip). The image size must be
divisible by 2^D.

The network's forward returns the logits; :func:`uncertainty_map` (normalised softmax entropy)
turns them into the uncertainty map of 003 §III-A.
"""

from __future__ import annotations

from collections.abc import Mapping

from rtbench.errors import ConfigError
from rtbench.spaces.base import register_space
from rtbench.spaces.cells.cell import DOWN, UP, emit_cell
from rtbench.spaces.cells.graph import GraphBuilder
from rtbench.spaces.cells.ops import uncertainty_map
from rtbench.spaces.cells.space import CellSpace
from rtbench.tasks import Task

__all__ = ["NasUnetSpace", "uncertainty_map"]


@register_space("nasunet")
class NasUnetSpace(CellSpace):
    """NAS-Unet Down/Up cells stacked U-Net-like (003 §III-B); genotype genes ``filters``, ``depth``,
    ``nodes``, ``down`` and ``up``. Input (B, C_img, H, W) -> logits (B, K, H, W)."""

    cells = (DOWN, UP)
    defaults = {"filters": 4, "depth": 3, "nodes": 3}

    def input_shape(self, task: Task, image_size: int) -> tuple[int, int, int]:
        return (task.in_channels, image_size, image_size)

    def emit(self, b: GraphBuilder, genes: Mapping[str, int], task: Task) -> None:
        f, depth, nodes = genes["filters"], genes["depth"], genes["nodes"]
        size = b.shape(())[1]
        if size % 2**depth:
            raise ConfigError(f"nasunet: depth={depth} needs an image size divisible by {2**depth}, got {size}")
        prev2 = prev = b.op("stem", "conv3x3_bn", (), f)
        downs = []
        for i in range(1, depth + 1):
            in1 = b.op(f"down{i}/pre1", "relu_conv1x1_bn", (prev,), f * 2**i)
            in0 = in1 if prev2 == prev else b.op(f"down{i}/pre0", "relu_conv1x1_bn_s2", (prev2,), f * 2**i)
            prev2, prev = prev, emit_cell(b, f"down{i}", DOWN, (in0, in1), nodes)
            downs.append(prev)
        for j in range(depth, 0, -1):
            in1 = b.op(f"up{j}/pre1", "relu_conv1x1_bn", (prev,), f * 2 ** (j - 1))
            skip = downs[j - 1]
            in0 = in1 if skip == prev else b.op(f"up{j}/transform", "relu_conv1x1_bn", (skip,), f * 2 ** (j - 1))
            prev = emit_cell(b, f"up{j}", UP, (in0, in1), nodes)
        b.op("head", "conv1x1_head", (prev,), task.num_classes)
