"""Datasets: real ACDC cine MRI, any cine NIfTI folder (nifti-folder), synthetic cine (the embedded default),
synthetic contrast echo (synthetic-echo, the echo task's default), CAMUS echo, and patient-level splits.

Built-ins are imported here by name; third-party datasets register in the ``rtbench.datasets``
entry-point group (see ``rtbench.registry``).
"""

from rtbench.datasets import acdc, camus, nifti_folder, synthetic_cine, synthetic_echo  # noqa: E402, F401, I001  (built-ins register themselves)
from rtbench.datasets.base import DATASETS, Dataset, DatasetBundle, Volume, build_dataset, register_dataset

__all__ = ["DATASETS", "Dataset", "DatasetBundle", "Volume", "build_dataset", "register_dataset"]
