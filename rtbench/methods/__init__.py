"""NAS methods and baselines behind one interface (``base``: Method, Candidate, METHODS; ``context``: SearchContext).

Built-in families, imported here by name so that a missing module fails loudly:

* ``unet``: the hand-designed U-Net baseline (MONAI), one fixed candidate.
* ``rtdnas/``: RT-DNAS (seed 000) and its MS-NAS baseline (Dijkstra decoding).

Third-party methods register in the ``rtbench.methods`` entry-point group or are named as
``method=package.module:Class`` (see ``rtbench.registry``).
"""

from rtbench.methods import rtdnas, unet  # noqa: E402, F401, I001  (built-ins register themselves)
from rtbench.methods.base import METHODS, Candidate, Method, build_method, register
from rtbench.methods.context import Measurement, SearchContext

__all__ = ["METHODS", "Candidate", "Measurement", "Method", "SearchContext", "build_method", "register"]
