"""ICA-UNet (Wang et al., "ICA-UNet: ICA Inspired Statistical UNet for Real-time 3D Cardiac Cine MRI
Segmentation", MICCAI 2020, arXiv 2007.09455): the ``icaunet`` space of hand-designed networks that
consume a causal window of n cine frames.

``ica`` (the ICA-inspired statistical layer), ``net`` (stem, fusion, MONAI UNet), ``space`` (the
genotype, ``frames(genotype)``: the window the harness feeds).
"""

from rtbench.spaces.icaunet.space import ICAUNetSpace

__all__ = ["ICAUNetSpace"]
