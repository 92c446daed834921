"""Search spaces: hand-designed U-Net (MONAI), MS-NAS multi-scale supernet, NAS-Unet cells, QC cells."""

from rtbench.spaces.base import OpInstance, OpNode, Space, get_space, register_space, space_names

__all__ = ["OpInstance", "OpNode", "Space", "get_space", "register_space", "space_names"]
