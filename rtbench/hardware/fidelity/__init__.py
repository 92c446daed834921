"""Latency fidelity report: how well the lookup-table predictors match measured networks on a profile.

:func:`run_latency_check` samples ``n`` derived architectures of a space, predicts each one's
latency from the profile's latency table with the sum, longest-path and calibrated models
(``rtbench.hardware.predict``), measures each with the harness protocol (batch 1, input
``(task.in_channels, S, S)``), and grades every model with MAPE, RMSPE, acc10 and Spearman's rho.
The calibrated model is fit on ``calibration_n`` *other* random networks, never the ``n``
reported. Every reported network is measured twice, in two separate passes, and the second pass
graded against the first gives the ceiling any predictor can reach on this machine.

Drift correction (``drift="reference"``, the default). On a shared VM the host's load moves a
network's p50 by 10-30 % over minutes, more than the +-10 % that acc10 grades, so two passes over
the same networks disagree and no predictor can look better than that. Each network is therefore
measured with a fixed *reference* network (one more random genotype of the space) interleaved
query by query (``measure_latency_paired``), and its latency is rescaled to the run's typical
host state: ``corrected = p50 * median(reference p50 over the run) / reference p50 in the same
window`` (likewise p90). Load that drifts more slowly than one pair of queries cancels in the
ratio. Scores are computed on the corrected latencies and, printed beside them, on the raw ones
(each with its own calibration fit), so the correction's effect is visible, never hidden.
``drift="none"`` measures each network alone with the harness protocol.

Modules: ``check`` (:func:`run_latency_check`), ``sampling`` (which genotypes it draws),
``timer`` (how it times a network), ``report`` (:class:`FidelityReport`, its rows and scores)
and ``plot`` (:func:`write_report`: ``latency_check.{png,csv,json}``).
"""

from rtbench.hardware.fidelity.check import DRIFT, run_latency_check
from rtbench.hardware.fidelity.plot import plot_fidelity, write_report
from rtbench.hardware.fidelity.report import CEILING, MODELS, NN_METER_ACC10, FidelityReport, NetworkRow, Score
from rtbench.hardware.fidelity.sampling import check_genotypes, sample_distinct
from rtbench.hardware.fidelity.timer import PairMeasure

__all__ = [
    "CEILING",
    "DRIFT",
    "MODELS",
    "NN_METER_ACC10",
    "FidelityReport",
    "NetworkRow",
    "PairMeasure",
    "Score",
    "check_genotypes",
    "plot_fidelity",
    "run_latency_check",
    "sample_distinct",
    "write_report",
]
