"""The exported runtimes: a network as an ONNX graph run by ONNX Runtime, or converted for OpenVINO.

:func:`onnx_bytes` is the one exporter of rtbench (``bench export`` writes its bytes to a file,
the ``onnxruntime`` runtime hands them to a session): ``torch.onnx.export`` with the TorchScript
exporter (``dynamo=False``: it needs no extra package and handles every space's ops), opset 17,
constant folding, input ``frames`` (B, C, H, W) float32, outputs ``logits`` (+ ``out1``, ... for a
network with several outputs). The batch axis is dynamic unless ``fixed_batch`` (``bench export``
ships a fixed batch-1 graph, the deployed single-stream case).

:class:`OrtForward` is the callable ``measure.segment`` calls in place of the module: on a CPU it
feeds ``x.numpy()`` (no copy: the tensor is already a host float32 tensor) and wraps the output
array with ``torch.from_numpy`` (no copy); on cuda it binds the input and a torch-allocated output
in device memory (``io_binding``), so no hidden host round trip is added to the clock.
"""

from __future__ import annotations

import io
import warnings
from typing import Any

import numpy as np
import torch
from torch import nn

OPSET = 17
INPUT = "frames"


def onnx_bytes(model: nn.Module, example: tuple[int, ...], fixed_batch: bool = False) -> bytes:
    """``model`` (an eval-mode CPU float32 module) exported to ONNX, traced on a batch-1 zero input of (C, H, W) ``example``."""
    x = torch.zeros((1, *example))
    with torch.no_grad():
        out = model(x)
    names = ["logits"] + [f"out{i}" for i in range(1, len(out))] if isinstance(out, tuple) else ["logits"]
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation and tracer notes, not problems of the graph
        torch.onnx.export(
            model,
            (x,),
            buf,
            dynamo=False,
            input_names=[INPUT],
            output_names=names,
            opset_version=OPSET,
            do_constant_folding=True,
            dynamic_axes=None if fixed_batch else {INPUT: {0: "batch"}, **{n: {0: "batch"} for n in names}},
        )
    return buf.getvalue()


def ort_session(graph: bytes | str, threads: int, device: str = "cpu") -> Any:
    """An ONNX Runtime InferenceSession of ``graph`` (bytes or a file path): ``threads`` intra-op threads, one
    inter-op thread, sequential execution, every graph optimisation; the CUDA provider on ``device='cuda'``."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if device == "cuda" else ["CPUExecutionProvider"]
    return ort.InferenceSession(graph, sess_options=options, providers=providers)


class OrtForward:
    """A network's forward pass run by an ONNX Runtime session: ``forward(x) -> logits`` (a tuple for several outputs)."""

    def __init__(self, graph: bytes, threads: int, device: str = "cpu") -> None:
        self.session = ort_session(graph, threads, device)
        self.device = device
        self.outputs = [o.name for o in self.session.get_outputs()]
        self._shapes: dict[tuple[int, ...], list[tuple[int, ...]]] = {}

    def __call__(self, x: torch.Tensor) -> Any:
        if self.device == "cuda":
            outs = self._run_cuda(x)
        else:
            outs = [torch.from_numpy(a) for a in self.session.run(None, {INPUT: x.numpy()})]
        return outs[0] if len(outs) == 1 else tuple(outs)

    def _run_cuda(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Run on device memory: the input bound where torch holds it, the outputs into torch tensors on the device."""
        x = x.contiguous()
        shapes = self._shapes.get(tuple(x.shape))
        if shapes is None:  # once per input shape: learn the output shapes from a host run
            shapes = [tuple(a.shape) for a in self.session.run(None, {INPUT: x.cpu().numpy()})]
            self._shapes[tuple(x.shape)] = shapes
        binding = self.session.io_binding()
        binding.bind_input(INPUT, "cuda", x.device.index or 0, np.float32, tuple(x.shape), x.data_ptr())
        outs = [torch.empty(s, device=x.device, dtype=torch.float32) for s in shapes]
        for name, out in zip(self.outputs, outs):
            binding.bind_output(name, "cuda", out.device.index or 0, np.float32, tuple(out.shape), out.data_ptr())
        self.session.run_with_iobinding(binding)
        return outs


def openvino_forward(model: nn.Module, example: tuple[int, ...], threads: int) -> Any:
    """``model`` converted by OpenVINO and compiled for the CPU (``threads`` inference threads, LATENCY hint)."""
    import openvino as ov

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        converted = ov.convert_model(model, example_input=torch.zeros((1, *example)))
    converted.reshape({converted.inputs[0]: ov.PartialShape([-1, *example])})
    compiled = ov.Core().compile_model(converted, "CPU", {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"})
    request = compiled.create_infer_request()

    def forward(x: torch.Tensor) -> Any:
        request.infer({0: x.numpy()})
        outs = [torch.from_numpy(request.get_output_tensor(i).data) for i in range(len(compiled.outputs))]
        return outs[0] if len(outs) == 1 else tuple(outs)

    return forward
