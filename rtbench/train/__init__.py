"""The shared training and evaluation recipe: patient splits, slice loaders, training, Dice/HD95.

The harness alone uses this to train every method's candidates from scratch and to score them on
patients the method never saw (see DESIGN.md, "The one idea").
"""

from rtbench.train.data import SliceDataset, slice_loader, split_patients, train_transforms
from rtbench.train.metrics import (
    evaluate,
    metric_names,
    predict_probabilities,
    predict_volume,
    row_metric_names,
    score_volume,
    summarize,
)
from rtbench.train.recipe import TrainingDiverged, seed_everything, train_model

__all__ = [
    "SliceDataset",
    "TrainingDiverged",
    "evaluate",
    "metric_names",
    "predict_probabilities",
    "predict_volume",
    "row_metric_names",
    "score_volume",
    "seed_everything",
    "slice_loader",
    "split_patients",
    "summarize",
    "train_model",
    "train_transforms",
]
