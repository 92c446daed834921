"""Datasets: real ACDC cine MRI, synthetic cine (the embedded default), and patient-level splits."""

from rtbench.datasets.base import DatasetBundle, Volume, dataset_names, get_dataset_class, register_dataset

__all__ = ["DatasetBundle", "Volume", "dataset_names", "get_dataset_class", "register_dataset"]
