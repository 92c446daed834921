"""Network latency predicted from op latencies, and the metrics that grade a predictor.

Every predictor reads a derived network as its op DAG (``Space.op_graph``: ``OpNode``s in
topological order) and a lookup ``t(inst) -> ms`` (normally ``LatencyTable.latency_ms``), so it
works for any space.

* :func:`sum_latency`: ``T_sum = sum_v t(v)``, every op run one after another.
* :func:`longest_path_latency`: ``T_path = max over input-to-output chains P of sum_{v in P} t(v)``,
  the cell-level latency of RT-DNAS (seed 000, eq. 4: ``Lat_cell = max_x Path(x) + S_cell``,
  "solved by finding the longest path within the cell"), applied to the whole network: the
  latency if independent branches ran in parallel.
* :class:`CalibratedModel`: a linear correction of the sum model fit on measured networks (see
  its docstring for the features and why). It predicts the *measured* p50 latency of a whole
  network in ms (single stream, batch 1, on the profile its latency table and measurements come
  from) and, with a second set of coefficients fit on the same networks' measured p90s, their p90
  (the statistic the harness checks real-time bounds on); ``rtbench.hardware.fidelity`` fits one
  and caches it beside the table (:meth:`CalibratedModel.save`, :func:`rtbench.hardware.lut.calibration_path`).

Metrics (all in percent): :func:`mpe` (signed bias), :func:`mape`, :func:`rmspe`, :func:`acc10` (nn-Meter's accuracy:
the share of networks whose predicted latency is within +-10% of the measured one) and
:func:`spearman` (rank correlation: what a search that only compares candidates needs).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import least_squares
from scipy.stats import spearmanr

from rtbench.errors import ConfigError
from rtbench.jsonio import write_json_atomic
from rtbench.spaces.base import OpInstance, OpNode

Lookup = Callable[[OpInstance], float]
"""``t(inst)``: latency of one op instance in milliseconds (e.g. ``LatencyTable.latency_ms``)."""

CALIBRATION_FORMAT = 2  # version of the JSON layout of CalibratedModel.save (2: adds coef_p90)
READABLE_FORMATS = (1, 2)  # format 1 files (p50 only) still load, without a p90 fit


def sum_latency(graph: Sequence[OpNode], t: Lookup) -> float:
    """Sum model: ``T_sum = sum_v t(v)`` over every node of the op graph (ms)."""
    return float(sum(t(node.inst) for node in graph))


def longest_path_latency(graph: Sequence[OpNode], t: Lookup) -> float:
    """Longest-path model (RT-DNAS eq. 4 over the whole network): the heaviest input-to-output chain (ms).

    Dynamic programming over the topological order: ``L(v) = t(v) + max_{u in inputs(v)} L(u)``
    (``L(v) = t(v)`` for a node fed by the network input); ``T_path = max_v L(v)``. ValueError if a
    node names an input that does not come before it.
    """
    finish: dict[str, float] = {}
    for node in graph:
        try:
            start = max((finish[u] for u in node.inputs), default=0.0)
        except KeyError as err:
            raise ValueError(f"op graph is not in topological order: node '{node.id}' reads {err} before it is defined") from None
        finish[node.id] = start + t(node.inst)
    return max(finish.values(), default=0.0)


@dataclass(frozen=True)
class GraphFeatures:
    """What the calibrated model reads from one network's op graph.

    ``sum_ms`` and ``longest_ms`` are the two table-based predictions, ``n_ops`` the number of
    nodes and ``act_melems`` the total input activation volume, ``sum_v c_in * h * w``, in millions
    of elements.
    """

    sum_ms: float
    longest_ms: float
    n_ops: int
    act_melems: float


def graph_features(graph: Sequence[OpNode], t: Lookup) -> GraphFeatures:
    """:class:`GraphFeatures` of ``graph`` with op latencies from ``t``."""
    return GraphFeatures(
        sum_ms=sum_latency(graph, t),
        longest_ms=longest_path_latency(graph, t),
        n_ops=len(graph),
        act_melems=sum(n.inst.c_in * n.inst.h * n.inst.w for n in graph) / 1e6,
    )


@dataclass(frozen=True)
class CalibratedModel:
    """Calibrated model: ``T_cal = b0 + b1 * T_sum + b2 * n_ops + b3 * A``, fit on measured networks.

    What it predicts is what it was fit on: the measured p50 latency of a whole network in
    milliseconds, single stream at batch 1 (the harness protocol), on the hardware profile the
    latency table (which gives ``T_sum``) and the measurements come from; ``coef_p90``, the same
    four features fit on the same networks' measured p90s, predicts their p90 (None: not fitted, as
    in format-1 files). ``fitted_on`` is how many networks the fit saw (0: not known).

    ``A`` is the input activation volume (million elements). Why these features: a table entry is
    one op timed alone through the whole harness query, so it also contains what the network pays
    only once or differently:

    * ``b0``: the network's own per-query cost (host frame in, argmax over classes, mask out).
    * ``b2 * n_ops``: per-call overhead. Each entry holds a full query's fixed cost (Python and
      dispatcher overhead of the query, the argmax launch, tensor allocation), which the sum model
      counts once per op; ``b2`` (expected <= 0) takes back that share per op.
    * ``b3 * A``: size-proportional overhead and cache effects. Each entry also holds the argmax
      and copies over its own activations, and an op timed alone reads its input from a warm
      rotating pool, while in the network it reads its predecessor's fresh output; both scale with
      activation volume, not with FLOPs (which ``T_sum`` already carries); ``b3`` is expected <= 0.
      On a CPU the argmax part dominates: an ``identity`` entry, which is nothing but harness, grows
      with its activation size.
    * ``b1``: the remaining proportional mismatch of isolated and in-network kernels.

    The fit minimises the *relative* residuals ``(T_cal - T) / T`` (the metrics are relative)
    under a soft-L1 loss, so a few measurements disturbed by a busy machine do not drag the line.
    """

    coef: tuple[float, float, float, float]
    fitted_on: int = 0
    coef_p90: tuple[float, float, float, float] | None = None

    FEATURES = ("intercept_ms", "per_sum_ms", "per_op_ms", "per_melem_ms")
    UNIT = "ms"
    STATISTIC = "p50"

    @staticmethod
    def design(features: Sequence[GraphFeatures]) -> np.ndarray:
        """The design matrix, one row ``[1, T_sum, n_ops, A]`` per network."""
        return np.array([[1.0, f.sum_ms, float(f.n_ops), f.act_melems] for f in features], dtype=np.float64)

    @classmethod
    def fit(
        cls, features: Sequence[GraphFeatures], measured_ms: Sequence[float], measured_p90_ms: Sequence[float] | None = None
    ) -> CalibratedModel:
        """Fit the four coefficients on networks with known measured p50 latency (ms), and the four of
        ``coef_p90`` on their measured p90s when given.

        ValueError if there are fewer networks than coefficients or a measured latency is not positive.
        """
        x = cls.design(features)
        coef = cls._fit(x, measured_ms)
        coef_p90 = cls._fit(x, measured_p90_ms) if measured_p90_ms is not None else None
        return cls(coef, fitted_on=len(x), coef_p90=coef_p90)

    @classmethod
    def _fit(cls, x: np.ndarray, measured_ms: Sequence[float]) -> tuple[float, float, float, float]:
        """Robust relative least squares of ``x @ b`` on ``measured_ms`` (see the class docstring)."""
        y = np.asarray(measured_ms, dtype=np.float64)
        if len(y) != len(x):
            raise ValueError(f"{len(x)} feature rows but {len(y)} measured latencies")
        if len(y) < len(cls.FEATURES):
            raise ValueError(f"the calibrated model needs at least {len(cls.FEATURES)} measured networks, got {len(y)}")
        if np.any(y <= 0):
            raise ValueError("measured latencies must be positive")
        # start from the plain relative least-squares solution, then make it robust
        start = np.linalg.lstsq(x / y[:, None], np.ones_like(y), rcond=None)[0]
        fit = least_squares(lambda b: x @ b / y - 1.0, start, loss="soft_l1", f_scale=0.05, x_scale="jac")
        b0, b1, b2, b3 = (float(v) for v in fit.x)
        return (b0, b1, b2, b3)

    def predict(self, features: GraphFeatures) -> float:
        """``T_cal`` of one network: its predicted measured p50 latency (ms, single stream, batch 1)."""
        return float(self.design([features])[0] @ np.asarray(self.coef))

    def predict_p90(self, features: GraphFeatures) -> float | None:
        """The network's predicted measured p90 latency (ms, single stream, batch 1); None without a p90 fit."""
        if self.coef_p90 is None:
            return None
        return float(self.design([features])[0] @ np.asarray(self.coef_p90))

    def as_dict(self) -> dict[str, float]:
        """The p50 coefficients, named by :attr:`FEATURES`."""
        return dict(zip(self.FEATURES, self.coef, strict=True))

    def p90_dict(self) -> dict[str, float]:
        """The p90 coefficients, named by :attr:`FEATURES` (empty without a p90 fit)."""
        return dict(zip(self.FEATURES, self.coef_p90, strict=True)) if self.coef_p90 is not None else {}

    def save(self, path: Path, meta: dict[str, Any] | None = None) -> None:
        """Write the model to ``path`` as JSON, atomically (a temporary file in the same folder, then ``os.replace``).

        The file holds ``format`` (2), ``unit`` (``"ms"``), ``statistic`` (``"p50"``: ``coef`` predicts a
        network's measured p50 latency, single stream at batch 1), ``coef`` (named by
        :attr:`FEATURES`), ``coef_p90`` (likewise, predicting the measured p90; only when fitted),
        ``fitted_on`` (networks in the fit), then ``meta`` (what it was fit on: space, image size,
        profile, ...). ValueError if a ``meta`` key would replace one of those.
        """
        data: dict[str, Any] = {
            "format": CALIBRATION_FORMAT,
            "unit": self.UNIT,
            "statistic": self.STATISTIC,
            "coef": self.as_dict(),
            "fitted_on": self.fitted_on,
        }
        if self.coef_p90 is not None:
            data["coef_p90"] = self.p90_dict()
        clash = sorted(set(data) & set(meta or {}))
        if clash:
            raise ValueError(f"CalibratedModel.save: meta keys {', '.join(clash)} are reserved")
        data |= meta or {}
        write_json_atomic(Path(path), data)

    @classmethod
    def load(cls, path: Path) -> CalibratedModel | None:
        """Read a model written by :meth:`save` (format 2, or format 1 without ``coef_p90``): None if ``path``
        does not exist, ConfigError naming the file if it is not such a model (bad JSON, another format,
        unit or statistic, missing or non-finite coefficients)."""
        try:
            data = json.loads(Path(path).read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as err:
            raise ConfigError(f"{path}: not a readable calibrated latency model ({err}); delete it to refit") from None
        try:
            if not isinstance(data, dict):
                raise ValueError(f"a JSON {type(data).__name__}, expected an object")
            if data.get("format") not in READABLE_FORMATS:
                raise ValueError(f"format {data.get('format')!r}, expected one of {READABLE_FORMATS}")
            expected = {"unit": cls.UNIT, "statistic": cls.STATISTIC}
            for key, want in expected.items():
                if data.get(key) != want:
                    raise ValueError(f"{key} {data.get(key)!r}, expected {want!r}")
            values = cls._coefficients(data["coef"], "coef")
            p90 = cls._coefficients(data["coef_p90"], "coef_p90") if "coef_p90" in data else None
            fitted_on = data["fitted_on"]
            if not isinstance(fitted_on, int) or isinstance(fitted_on, bool) or fitted_on < 0:
                raise ValueError(f"fitted_on {fitted_on!r}, expected a count")
        except (KeyError, ValueError) as err:
            why = f"no {err} key" if isinstance(err, KeyError) else str(err)
            raise ConfigError(f"{path}: not a readable calibrated latency model ({why}); delete it to refit") from None
        return cls(values, fitted_on=fitted_on, coef_p90=p90)

    @classmethod
    def _coefficients(cls, coef: Any, key: str) -> tuple[float, float, float, float]:
        """The four coefficients of a saved ``coef`` / ``coef_p90`` object; ValueError if it is not one."""
        if not isinstance(coef, dict) or set(coef) != set(cls.FEATURES):
            raise ValueError(f"{key} must name exactly {', '.join(cls.FEATURES)}")
        values = tuple(coef[k] for k in cls.FEATURES)
        if not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in values):
            raise ValueError(f"{key} values must be finite numbers, got {values}")
        b0, b1, b2, b3 = (float(v) for v in values)
        return (b0, b1, b2, b3)


def _relative_errors(pred: Sequence[float], measured: Sequence[float]) -> np.ndarray:
    p = np.asarray(pred, dtype=np.float64)
    m = np.asarray(measured, dtype=np.float64)
    if p.shape != m.shape or p.ndim != 1 or len(m) == 0:
        raise ValueError(f"need two equally long non-empty vectors, got shapes {p.shape} and {m.shape}")
    if np.any(m <= 0):
        raise ValueError("measured latencies must be positive")
    return (p - m) / m


def mpe(pred: Sequence[float], measured: Sequence[float]) -> float:
    """Mean percentage error, signed: ``100 * mean((p - m) / m)``; > 0 means the predictor over-predicts."""
    return float(100.0 * np.mean(_relative_errors(pred, measured)))


def mape(pred: Sequence[float], measured: Sequence[float]) -> float:
    """Mean absolute percentage error: ``100 * mean(|p - m| / m)``."""
    return float(100.0 * np.mean(np.abs(_relative_errors(pred, measured))))


def rmspe(pred: Sequence[float], measured: Sequence[float]) -> float:
    """Root mean squared percentage error: ``100 * sqrt(mean(((p - m) / m)^2))``."""
    return float(100.0 * np.sqrt(np.mean(_relative_errors(pred, measured) ** 2)))


def acc10(pred: Sequence[float], measured: Sequence[float], tolerance: float = 0.10) -> float:
    """nn-Meter's +-10% accuracy: the percentage of networks with ``|p - m| / m <= tolerance``.

    (Zhang et al., "nn-Meter", MobiSys 2021, report 99.0% of networks within +-10% on CPU.)
    """
    return float(100.0 * np.mean(np.abs(_relative_errors(pred, measured)) <= tolerance + 1e-12))


def spearman(pred: Sequence[float], measured: Sequence[float]) -> float:
    """Spearman rank correlation of predicted and measured latency (``scipy.stats.spearmanr``); NaN if either is constant."""
    _relative_errors(pred, measured)  # same shape checks as the other metrics
    if len(set(pred)) < 2 or len(set(measured)) < 2:
        return float("nan")
    return float(spearmanr(pred, measured).statistic)
