"""ICA-UNet (Wang et al., MICCAI 2020): the hand-designed real-time baseline of seed 000 Table 2 (``method``)."""

from rtbench.methods.icaunet.method import ICAUNetBaseline

__all__ = ["ICAUNetBaseline"]
