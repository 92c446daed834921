"""ICA-UNet (Wang et al., MICCAI 2020, arXiv 2007.09455), the hand-designed real-time baseline of seed 000.

Seed 000 (RT-DNAS) Table 2 and Fig. 2 compare RT-DNAS with "ICA-UNet (n=3)" and "ICA-UNet (n=4)",
the two settings of the original paper: ``method=icaunet method.n=3`` and ``method.n=4`` (any
n >= 1 is valid; n = 1 is the network without temporal context). Hand-designed: the search
returns its one fixed candidate, as the ``unet`` baseline does, and uses nothing of the context.

What n is. The number of cine frames the network consumes: the current frame and the n - 1
frames acquired before it. ICA-UNet's introduction sets it against MSU-Net, whose latency is "well
above 50 ms due to the need of input clustering, i.e., the inference is carried out only after all
the frames in a snippet have arrived"; ICA-UNet segments each frame as it arrives, so its window
is causal (frames t - n + 1 .. t) and its latency is one frame's. The harness feeds that window in
training, scoring and timing (``rtbench.datasets.windows``; the space declares it through
``frames(genotype)``).

The network (``rtbench.spaces.icaunet``): the ICA-inspired statistical layer (the window's mean
image and n - 1 components from a learned unmixing matrix, the canonical form of MSU-Net/SCNN),
a shared statistical stem over those terms, and a UNet.

Choices the text we could read left open (the stored copies of the paper stop after its
introduction; its method section, widths and training settings were not available):

* the layer's form: a learned unmixing W on the centred window (a 1 x 1 map over the frame axis,
  DCT-initialised) instead of FastICA at inference time, which would iterate per window and cost
  the latency ICA-UNet exists to remove;
* widths: a base ``width`` doubling per level over ``depth`` levels, 16 and 5 by default, the
  ``unet`` baseline's U-Net(16), so the two rows differ by the temporal path alone;
* loss and schedule: none of the method's own; the harness trains every candidate with its
  shared recipe (MONAI DiceCE), which is what makes rows comparable.
"""

from __future__ import annotations

from dataclasses import dataclass

from rtbench.errors import ConfigError
from rtbench.methods.base import Candidate, Method, register
from rtbench.methods.context import SearchContext

DEFAULT_WIDTH, DEFAULT_DEPTH = 16, 5


@register("icaunet")
class ICAUNetBaseline(Method):
    space = "icaunet"
    description = "hand-designed ICA-UNet: a causal window of method.n cine frames (seed 000 Table 2: n=3, n=4)"

    @dataclass
    class Config:
        """``n``: frames in the causal window (>= 1); ``width``: channels of the stem and the UNet's
        first level (>= 1); ``depth``: UNet levels (>= 2, so >= one 2x downsampling)."""

        n: int = 3
        width: int = DEFAULT_WIDTH
        depth: int = DEFAULT_DEPTH

        def __post_init__(self) -> None:
            for name, low in (("n", 1), ("width", 1), ("depth", 2)):
                value = getattr(self, name)
                if isinstance(value, bool) or not isinstance(value, int) or value < low:
                    raise ConfigError(f"method.{name}={value!r} is out of range; expected an integer >= {low}")

    def search(self, ctx: SearchContext) -> list[Candidate]:
        """The one fixed candidate, labelled as seed 000 labels it (``ICA-UNet (n=3)``)."""
        c = self.config
        genotype = {"n": c.n, "width": c.width, "depth": c.depth}
        ctx.space.validate(genotype)
        shape = "" if (c.width, c.depth) == (DEFAULT_WIDTH, DEFAULT_DEPTH) else f", width {c.width}, depth {c.depth}"
        return [Candidate(space=self.space, genotype=genotype, label=f"ICA-UNet (n={c.n}{shape})")]
