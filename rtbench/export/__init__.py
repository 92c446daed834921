"""Exporting a run's trained networks for deployment (``bench export``).

* :mod:`rtbench.export.trained`: find a run, rebuild a candidate's network with the weights its
  training trial kept (``RunFolder.weights``).
* :mod:`rtbench.export.to_onnx`: write it as a fixed batch-1 ONNX graph and check the graph against
  PyTorch with ONNX Runtime (max |logit difference|, mask agreement).
"""

from rtbench.export.trained import Run, find_run, load_trained

__all__ = ["Run", "find_run", "load_trained"]
