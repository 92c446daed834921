"""The ``qcnet`` space: the ResNet-like quality-control network of seed 003 (§III-C, Fig. 3).

It predicts the Dice of a segmentation from the image, the segmentation result and the
uncertainty map (003 §III-A); :func:`quality_control_input` builds that input from the image and
the segmentation logits.

Macro architecture (``filters`` F, ``stages`` S, ``nodes`` m; defaults 8, 4, 3 — 003 §IV-A sets
m = 3 and an initial filter size of 8 for quality control; S = 4 follows ResNet's four stages)::

    stem            conv3x3_bn_s2: (C_img + K + 1, H, W) -> (F, H / 2)
    contracting_s   Contracting cell, s = 1..S: (F 2^s, H / 2^(s+1)). Input: the previous cell's output
                    (relu_conv1x1_bn to F 2^s channels); edges from it: down ops (stride 2).
                    Residual path: relu_conv1x1_bn_s2 of the cell input.
    nonscaling_s    Non-scaling cell: same shape in and out; edges from the input: normal ops.
                    Residual path: identity.
    dice_head       global average pool -> linear -> sigmoid: (B, 1) predicted Dice in [0, 1].

The stride-2 stem mirrors ResNet's, whose stem also downsamples before the first stage (here
H / 4 at the first Non-scaling cell, as ResNet's first stage): a network that predicts one number
needs no full-resolution features, and the cells cost a quarter of what they would at H / 2
(about 0.35 GFLOPs instead of 1.4 for a random genotype at 256 x 256).

Contracting and Non-scaling cells alternate; each reads only the previous cell's output (not the
previous two, unlike §III-B), and its output is the residual plus the sum of its intermediate
nodes (Fig. 3(b)); the nodes are computed as in §III-B (003 eq. 1). Any image size works (odd
sizes round up at each stride 2).
"""

from __future__ import annotations

from collections.abc import Mapping

from rtbench.spaces.base import register_space
from rtbench.spaces.cells.cell import CONTRACTING, NON_SCALING, emit_cell
from rtbench.spaces.cells.graph import GraphBuilder
from rtbench.spaces.cells.ops import quality_control_input
from rtbench.spaces.cells.space import CellSpace
from rtbench.tasks import Task

__all__ = ["QCNetSpace", "qc_channels", "quality_control_input"]


def qc_channels(task: Task) -> int:
    """Channels of the QC input: image + per-class softmax + uncertainty map."""
    return task.in_channels + task.num_classes + 1


@register_space("qcnet")
class QCNetSpace(CellSpace):
    """Alternating Contracting / Non-scaling cells with residual paths (003 §III-C); genotype genes
    ``filters``, ``stages``, ``nodes``, ``contracting`` and ``non_scaling``.

    Input (B, C_img + K + 1, H, W) (see :func:`quality_control_input`) -> predicted Dice (B, 1).
    This is not the ``Space.build`` contract of a segmentation network: the harness times and
    trains the QC network through the ``echonas`` space, which runs it on the segmentation output.
    """

    cells = (CONTRACTING, NON_SCALING)
    defaults = {"filters": 8, "stages": 4, "nodes": 3}

    def input_shape(self, task: Task, image_size: int) -> tuple[int, int, int]:
        return (qc_channels(task), image_size, image_size)

    def emit(self, b: GraphBuilder, genes: Mapping[str, int], task: Task) -> None:
        f, nodes = genes["filters"], genes["nodes"]
        x = b.op("stem", "conv3x3_bn_s2", (), f)
        for s in range(1, genes["stages"] + 1):
            pre = b.op(f"contracting{s}/pre", "relu_conv1x1_bn", (x,), f * 2**s)
            residual = b.op(f"contracting{s}/residual", "relu_conv1x1_bn_s2", (x,), f * 2**s)
            x = emit_cell(b, f"contracting{s}", CONTRACTING, (pre,), nodes, residual)
            x = emit_cell(b, f"nonscaling{s}", NON_SCALING, (x,), nodes, residual=x)
        b.op("dice_head", "dice_head", (x,), 1)
