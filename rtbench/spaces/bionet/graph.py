"""The op graph of a derived ``bionet`` network and every op instance the space can contain (for latency tables).

Node ids: ``stem``, ``head``; blocks ``e<t>.<level>`` / ``d<t>.<level>``; the bridge of iteration
``t`` is ``bridge<t>`` (after ``bridge<t>.pool``, before ``bridge<t>.up``); a block's resized or
pooled candidate ``k`` is ``<block>.in<k>`` and its merge ``<block>.mean``. Only live blocks appear
(``genotype.live_nodes``), exactly the kernels :class:`~rtbench.spaces.bionet.net.BiONet` launches.
"""

from __future__ import annotations

from typing import Any

from rtbench.spaces.base import OpInstance, OpNode
from rtbench.spaces.bionet.config import MAIN, BiONetConfig, BlockId
from rtbench.spaces.bionet.genotype import STEM, Bridge, live_nodes, parse_genes, source
from rtbench.spaces.bionet.ops import CONVS, MAXPOOL, head_op, mean_op, resize_op, stem_op
from rtbench.tasks import Task


def block_node_id(b: BlockId) -> str:
    return f"{b.side[0]}{b.iteration}.{b.level}"


def op_graph(genotype: dict[str, Any], task: Task, image_size: int) -> list[OpNode]:
    """The derived network of ``genotype`` at ``image_size`` as a DAG of op instances, in execution order."""
    config, genes = parse_genes(genotype)
    config.check_image_size(image_size)
    live, _ = live_nodes(config, genes)
    c = config.channels
    size = [config.level_size(image_size, level) for level in range(config.depth + 1)]
    nodes = [OpNode("stem", OpInstance(stem_op(config.stem_channels), task.in_channels, c, image_size, image_size))]

    def add(node_id: str, op: str, h: int, inputs: tuple[str, ...]) -> str:
        nodes.append(OpNode(node_id, OpInstance(op, c, c, h, h), inputs))
        return node_id

    def candidate(b: BlockId, k: int) -> str:
        src = source(config, b, k)
        name = f"{block_node_id(b)}.in{k}"
        if src == STEM:
            return "stem"
        if isinstance(src, Bridge):
            last = config.depth - 1
            bottom = block_node_id(BlockId(2 * src.iteration, last))
            pooled = add(f"bridge{src.iteration}.pool", MAXPOOL, size[last], (bottom,))
            bridge = add(f"bridge{src.iteration}", CONVS, size[config.depth], (pooled,))
            return add(f"bridge{src.iteration}.up", resize_op(config.depth, last), size[config.depth], (bridge,))
        assert isinstance(src, BlockId)
        if k == MAIN and b.side == "encoder":
            return add(name, MAXPOOL, size[src.level], (block_node_id(src),))
        if src.level == b.level:
            return block_node_id(src)
        return add(name, resize_op(src.level, b.level), size[src.level], (block_node_id(src),))

    for b in config.blocks():
        if b not in live:
            continue
        inputs = tuple(candidate(b, k) for k in genes[b])
        if len(inputs) > 1:
            inputs = (add(f"{block_node_id(b)}.mean", mean_op(len(inputs)), size[b.level], inputs),)
        add(block_node_id(b), CONVS, size[b.level], inputs)
    last_decoder = block_node_id(BlockId(config.stages - 1, 0))
    head = OpInstance(head_op(config.stem_channels), c, task.num_classes, size[0], size[0])
    nodes.append(OpNode("head", head, (last_decoder,)))
    return nodes


def op_instances(task: Task, image_size: int, config: BiONetConfig) -> list[OpInstance]:
    """Every op instance a network of ``config`` can contain at ``image_size``; sorted, no duplicates."""
    config.check_image_size(image_size)
    c, depth = config.channels, config.depth
    size = [config.level_size(image_size, level) for level in range(depth + 1)]
    insts = {
        OpInstance(stem_op(config.stem_channels), task.in_channels, c, image_size, image_size),
        OpInstance(head_op(config.stem_channels), c, task.num_classes, size[0], size[0]),
    }
    for level in range(depth + 1):
        insts.add(OpInstance(CONVS, c, c, size[level], size[level]))
    for level in range(depth):
        insts.add(OpInstance(MAXPOOL, c, c, size[level], size[level]))
        insts.add(OpInstance(resize_op(level + 1, level), c, c, size[level + 1], size[level + 1]))
        insts.update(OpInstance(mean_op(m), c, c, size[level], size[level]) for m in range(2, config.candidates + 1))
        for other in range(depth):
            if other != level:
                insts.add(OpInstance(resize_op(other, level), c, c, size[other], size[other]))
    return sorted(insts)
