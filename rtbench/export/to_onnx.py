"""``bench export RUN format=onnx``: a trained candidate as an ONNX file, checked against PyTorch.

The file is the network's graph with a fixed batch-1 input ``frames`` of (1, C, S, S): C the task's
channels times the candidate's temporal window (n frames, oldest first), S the budget's image size;
output ``logits`` (1, classes, S, S). It is written by the one exporter of rtbench
(:func:`rtbench.hardware.runtime_onnx.onnx_bytes`), the same graph the ``onnxruntime`` runtime times
(which only frees the batch axis for the throughput stream).

Fidelity (:func:`check_fidelity`): the exported file run by ONNX Runtime against the PyTorch
module on the same inputs, one batch-1 query each: the maximum absolute difference of the logits
(and the largest logit, for scale) and the share of pixels whose argmax mask agrees. The inputs
are real: evenly spaced slices of the first test volume of the fold the weights were trained on
(windows for a window network, as the harness scores them); where the data cannot be read here
(another machine's path) they are N(0, 1) frames, and the report says so. The export passes when
the logits differ by at most :data:`LOGIT_TOLERANCE` and at least :data:`MASK_AGREEMENT` of the
pixels agree. The report is printed and written beside the file (``<file>.fidelity.json``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rtbench.export.trained import Run, input_shape
from rtbench.jsonio import write_json_atomic

FORMATS = ("onnx",)
LOGIT_TOLERANCE = 1e-3
MASK_AGREEMENT = 0.999


@dataclass(frozen=True)
class Fidelity:
    """How an exported graph's outputs compare with PyTorch's on ``inputs`` batch-1 queries."""

    inputs: int
    source: str
    max_abs_logit_diff: float
    max_abs_logit: float
    mask_agreement: float
    identical_masks: int

    @property
    def passed(self) -> bool:
        return self.max_abs_logit_diff <= LOGIT_TOLERANCE and self.mask_agreement >= MASK_AGREEMENT

    def line(self) -> str:
        verdict = "ok" if self.passed else f"FAILED (tolerance {LOGIT_TOLERANCE:g}, agreement >= {MASK_AGREEMENT:.1%})"
        return (
            f"fidelity on {self.inputs} inputs ({self.source}): max |logit diff| {self.max_abs_logit_diff:.3g} "
            f"(largest |logit| {self.max_abs_logit:.3g}), mask agreement {self.mask_agreement:.4%}, "
            f"identical masks {self.identical_masks}/{self.inputs}: {verdict}"
        )


def fidelity_inputs(run: Run, cand: dict[str, Any], fold: int, count: int = 8) -> tuple[list[np.ndarray], str]:
    """Up to ``count`` batch-1 inputs (1, C, S, S): real slices of the fold's first test volume, else N(0, 1) frames."""
    from rtbench.datasets.windows import causal_window, stack_window
    from rtbench.trials import load_data, space_of, window_of

    try:
        bundle, plan = load_data(run.spec)
        tests = set(plan.folds[fold].test)
        volumes = bundle.test_volumes if bundle.test_volumes is not None else [v for v in bundle.volumes if v.patient in tests]
        volume = sorted(volumes, key=lambda v: v.case_id)[0]
    except Exception as err:  # the data are not readable here: still check, on random frames, and say so
        shape = input_shape(run, cand)
        rng = np.random.default_rng(0)
        why = str(err).splitlines()[0][:160] if str(err) else type(err).__name__
        return [rng.standard_normal((1, *shape), dtype=np.float32) for _ in range(count)], f"random N(0,1) frames; data not readable: {why}"
    n = window_of(space_of(run.spec, cand["space"]), cand["genotype"])
    window = causal_window(volume, n)[0]
    picks = sorted({int(round(i)) for i in np.linspace(0, volume.image.shape[0] - 1, min(count, volume.image.shape[0]))})
    return [stack_window(window, i, i + 1) for i in picks], f"slices {picks} of test volume {volume.case_id} (fold {fold})"


def check_fidelity(model: nn.Module, graph: bytes | str, inputs: list[np.ndarray], source: str) -> Fidelity:
    """Compare ONNX Runtime's outputs of ``graph`` with ``model``'s (CPU, float32, eval) on each input."""
    from rtbench.hardware.runtime_onnx import INPUT, ort_session

    session = ort_session(graph, threads=torch.get_num_threads())
    model = model.to("cpu", torch.float32).eval()
    diff = largest = 0.0
    agree = total = identical = 0
    for x in inputs:
        with torch.inference_mode():
            ref = model(torch.from_numpy(x))
        ref = (ref[0] if isinstance(ref, tuple) else ref).numpy()
        got = session.run(None, {INPUT: x})[0]
        diff = max(diff, float(np.abs(got - ref).max()))
        largest = max(largest, float(np.abs(ref).max()))
        same = got.argmax(axis=1) == ref.argmax(axis=1)
        agree, total, identical = agree + int(same.sum()), total + same.size, identical + int(same.all())
    return Fidelity(len(inputs), source, diff, largest, agree / max(total, 1), identical)


def export_onnx(run: Run, cand: dict[str, Any], model: nn.Module, fold: int, out: Path, samples: int = 8) -> tuple[Path, Fidelity]:
    """Write ``model`` (the candidate's trained network) to ``out`` as a fixed batch-1 ONNX graph, check it,
    and write the fidelity report beside it (``<out>.fidelity.json``). Returns (the file, its fidelity)."""
    from rtbench.hardware.runtime_onnx import onnx_bytes

    shape = input_shape(run, cand)
    graph = onnx_bytes(model.to("cpu", torch.float32).eval(), shape, fixed_batch=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_bytes(graph)
    tmp.replace(out)
    inputs, source = fidelity_inputs(run, cand, fold, samples)
    fidelity = check_fidelity(model, str(out), inputs, source)
    report = {
        "run_id": run.name,
        "board": run.record.get("board"),
        "candidate": {"key": cand["key"], "label": cand["label"], "space": cand["space"]},
        "fold": fold,
        "file": str(out),
        "input": {"name": "frames", "shape": [1, *shape], "dtype": "float32"},
        "fidelity": asdict(fidelity) | {"passed": fidelity.passed, "logit_tolerance": LOGIT_TOLERANCE, "agreement_min": MASK_AGREEMENT},
        "torch": torch.__version__,
    }
    write_json_atomic(fidelity_path(out), report)
    return out, fidelity


def fidelity_path(out: Path) -> Path:
    """The fidelity report of the exported file ``out``: ``x.onnx`` -> ``x.onnx.fidelity.json``."""
    return out.with_name(f"{out.name}.fidelity.json")
