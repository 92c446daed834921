"""NAS methods and baselines behind one interface (``base``: Method, Candidate, METHODS; ``context``: SearchContext).

Built-in families, imported here by name so that a missing module fails loudly:

* ``unet``: the hand-designed U-Net baseline (MONAI), one fixed candidate.
* ``rtdnas/``: RT-DNAS (seed 000) and its MS-NAS baseline (Dijkstra decoding).
* ``hwnas/``: HW-aware NAS (Zeng et al. 2020) as seed 000 re-ran it: accuracy + FLOPs, msnas space.
* ``bixnas/``: BiX-NAS (Wang et al. 2021) in its own ``bionet`` space.
* ``icaunet/``: the hand-designed ICA-UNet (Wang et al. 2020), a causal temporal window.
* ``randomsearch/``: ``random``, Optuna random sampling of the msnas space (seed 000 Fig. 2).
* ``unetresnet``: ``unet-resnet18``, seed 003 Table II's hand-designed vanilla U-Net + ResNet18 QC baselines.
* ``echonas/``: seed 003's joint segmentation + quality-control search with the latency term (eq. 3-4).

Third-party methods register in the ``rtbench.methods`` entry-point group or are named as
``method=package.module:Class`` (see ``rtbench.registry``).
"""

from rtbench.methods import bixnas, echonas, hwnas, icaunet, randomsearch, rtdnas, unet  # noqa: E402, F401, I001  (built-ins register themselves)
from rtbench.methods import unetresnet  # noqa: E402, F401, I001  (seed 003 Table II's baselines, registers itself)
from rtbench.methods.base import METHODS, Candidate, Method, build_method, register
from rtbench.methods.context import Measurement, SearchContext

__all__ = ["METHODS", "Candidate", "Measurement", "Method", "SearchContext", "build_method", "register"]
