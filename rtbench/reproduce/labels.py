"""Point labels that neither overlap one another nor leave the axes: a greedy placement for Fig. 2.

Each label tries a fixed list of offsets around its point (right, left, above, below, then further
out) in the order of :data:`OFFSETS`, and keeps the first whose text box stays inside the axes and
overlaps no label already placed, no other labelled point's marker and no unlabelled point's
marker (``avoid``: Fig. 2's random cloud). Where none is free (a dense cluster in a small panel),
it keeps the offset with the least overlap of the axes' edge, the labels and the labelled points,
and among those the one covering the least of the unlabelled points: a label covers a grey sample
before it covers a method's point. Labels are placed from the highest point down, so a cluster
fans out downwards. A label moved further than :data:`LEADER_PT` from its point gets a thin leader
line to it, so it still names the right point.

Written here rather than taken from a library: matplotlib has no label-repelling layout, and the
packages that do (``adjustText``) are not among the project's dependencies for one figure; the
greedy choice over eighteen offsets is enough for Table 2's ten or so labelled points.
"""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.axes import Axes
from matplotlib.backend_bases import RendererBase
from matplotlib.text import Text
from matplotlib.transforms import Bbox

OFFSETS: tuple[tuple[float, float, str], ...] = tuple(
    (dx, dy, ha) for dy in (3, -9, 10, -16, 17, -23, 24, -30, 31) for dx, ha in ((4, "left"), (-4, "right"))
)
"""``(dx, dy, horizontal alignment)`` in points, in the order they are tried."""
LEADER_PT = 10.0
"""A label whose vertical offset exceeds this (points) is tied to its point by a leader line."""
MARKER_PX = 5.0
"""Half the side of the square a labelled point's marker is taken to cover, in pixels."""


def _overlap(a: Bbox, b: Bbox) -> float:
    """The area two boxes share (0 when they are apart)."""
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return max(w, 0.0) * max(h, 0.0)


def _outside(box: Bbox, frame: Bbox) -> float:
    """How much of ``box`` lies outside ``frame`` (its area)."""
    return box.width * box.height - _overlap(box, frame)


def _marker(ax: Axes, x: float, y: float) -> Bbox:
    """The pixel square a marker at data ``(x, y)`` is taken to cover."""
    px, py = ax.transData.transform((x, y))
    return Bbox.from_extents(px - MARKER_PX, py - MARKER_PX, px + MARKER_PX, py + MARKER_PX)


def place_labels(
    ax: Axes,
    labels: list[tuple[str, float, float]],
    renderer: RendererBase,
    fontsize: float = 6,
    avoid: Sequence[tuple[float, float]] = (),
) -> list[Text]:
    """Annotate each ``(text, x, y)`` of ``labels`` (data coordinates) on ``ax``, keeping clear of the
    unlabelled points ``avoid`` (``(x, y)``) too; the annotations, in input order.

    Call it once the axes' limits and the figure's layout are final: boxes are measured in pixels.
    """
    frame = ax.get_window_extent(renderer)
    markers = [_marker(ax, x, y) for _, x, y in labels]
    unlabelled = [_marker(ax, x, y) for x, y in avoid]
    placed: list[Bbox] = []
    out: dict[int, Text] = {}
    for i in sorted(range(len(labels)), key=lambda k: (-labels[k][2], labels[k][1])):
        text, x, y = labels[i]
        obstacles = placed + [m for k, m in enumerate(markers) if k != i]
        best: tuple[tuple[float, float], Text, Bbox] | None = None
        for dx, dy, ha in OFFSETS:
            leader = {"arrowstyle": "-", "lw": 0.4, "color": "0.5", "shrinkA": 0, "shrinkB": 3} if abs(dy) > LEADER_PT else None
            ann = ax.annotate(text, (x, y), fontsize=fontsize, xytext=(dx, dy), textcoords="offset points", ha=ha, arrowprops=leader)
            ann.update_positions(renderer)  # the offset applied, as a draw would
            box = Text.get_window_extent(ann, renderer)  # the text alone (an Annotation's own box includes its leader)
            # compared in order: a random sample covered only breaks ties between places equally
            # clear of the axes' edge, the other labels and the labelled points
            cost = (10.0 * _outside(box, frame) + sum(_overlap(box, o) for o in obstacles), sum(_overlap(box, o) for o in unlabelled))
            if best is None or cost < best[0]:
                if best is not None:
                    best[1].remove()
                best = (cost, ann, box)
            else:
                ann.remove()
            if cost == (0.0, 0.0):
                break
        assert best is not None
        placed.append(best[2])
        out[i] = best[1]
    return [out[i] for i in range(len(labels))]
