"""Search spaces: each turns a JSON genotype into a static ``nn.Module`` and owns its cost model.

Built-in families, imported here by name so that a missing module fails loudly:

* ``unet``: MONAI's hand-designed U-Net (the baselines' fixed networks).
* ``msnas/``: the MS-NAS multi-scale grid searched by RT-DNAS (seed 000).
* ``bionet/``: BiX-NAS's bidirectional recurrent U-Net (BiO-Net style) with searchable skips.
* ``icaunet/``: ICA-UNet, a network over a causal window of cine frames (``Space.frames``).
* ``cells/``: the NAS-Unet segmentation cells, the quality-control cells and their joint
  ``echonas`` space (seed 003).
* ``unetresnet``: ``unet-resnet18``, seed 003 Table II's baselines (vanilla U-Net + ResNet18 QC).

Third-party spaces register in the ``rtbench.spaces`` entry-point group (see ``rtbench.registry``).
"""

from rtbench.spaces import bionet, cells, icaunet, msnas, unet, unetresnet  # noqa: E402, F401, I001  (built-ins register themselves)
from rtbench.spaces.base import SPACES, OpInstance, OpNode, Space, register_space

__all__ = ["SPACES", "OpInstance", "OpNode", "Space", "register_space"]
