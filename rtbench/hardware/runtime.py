"""Runtimes: what runs a network's forward pass when the harness times it (a profile's ``runtime``).

A hardware profile names its runtime (``runtime:`` in the YAML, ``hardware.runtime=NAME`` on the
command line); the runtime is part of the board, since a network timed under one runtime is a
different row from the same network under another (``RunSpec.board``: ``local-cpu+onnxruntime``;
an ``eager`` profile keeps its plain name):

* ``eager`` (default): PyTorch eager mode on a private eval-mode copy of the network, on the
  profile's device and dtype: what the harness has always timed.
* ``compile``: ``torch.compile`` (TorchInductor, default mode, static shapes) of that copy. The
  first call compiles (seconds to minutes), so it falls in the untimed warm-up; on a CPU Inductor
  needs a C++ compiler.
* ``onnxruntime``: the copy exported to ONNX (:mod:`rtbench.hardware.runtime_onnx`: the TorchScript
  exporter, opset 17, the batch axis dynamic so the throughput stream runs the same graph) and
  run by an ONNX Runtime session: on a CPU profile the CPU execution provider with
  ``intra_op_num_threads = profile.num_threads()``, on ``cuda`` the CUDA execution provider with
  the input and output bound in torch's device memory.
* ``openvino``: the copy converted by ``openvino.convert_model`` and compiled for the CPU with
  ``INFERENCE_NUM_THREADS = profile.num_threads()`` and the LATENCY hint (CPU profiles only).

The measurement protocol is the same for every runtime (:mod:`rtbench.hardware.measure`): the
clock starts at float32 frames in host memory and stops at the uint8 mask in host memory; the
host-to-device copy, the argmax and the copy back stay torch's, and only the forward pass is the
runtime's (:func:`deployed`). A runtime this machine cannot run is refused with one line naming
what is missing (:func:`check_runtime`); ``pip install 'rtbench[runtime]'`` adds onnx and onnxruntime.
"""

from __future__ import annotations

import copy
import importlib.util
import os
import shutil
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from rtbench.errors import ConfigError

if TYPE_CHECKING:
    from rtbench.hardware.profile import HardwareProfile

RUNTIMES = ("eager", "compile", "onnxruntime", "openvino")
"""Every runtime a profile may name, in the order ``bench runtimes`` times them."""

Forward = Callable[[torch.Tensor], Any]
"""``forward(x) -> logits`` (or a tuple whose first element is the logits): what ``measure.segment`` calls."""


def _cxx_compiler() -> str | None:
    """A C++ compiler on PATH (or ``$CXX``), which TorchInductor needs to build CPU kernels; None if there is none."""
    named = os.environ.get("CXX")
    if named and shutil.which(named):
        return named
    return next((c for c in ("g++", "c++", "clang++") if shutil.which(c)), None)


def missing(runtime: str, device: str = "cpu", dtype: str = "float32") -> str | None:
    """Why ``runtime`` cannot run on ``device`` in ``dtype`` on this machine, in one phrase; None when it can.

    Checks that the packages import (without importing the heavy ones) and, where it matters, the
    device's provider or compiler. ``runtime`` must be one of :data:`RUNTIMES`.
    """
    if runtime == "eager":
        return None
    if runtime == "compile":
        if device == "cpu" and _cxx_compiler() is None:
            return "torch.compile on a CPU needs a C++ compiler (TorchInductor builds C++ kernels); none found (g++, c++, clang++ or $CXX)"
        if device == "cuda" and importlib.util.find_spec("triton") is None:
            return "torch.compile on cuda needs the Python package 'triton' (TorchInductor's GPU kernels)"
        return None
    if dtype != "float32":
        return f"runtime {runtime} is timed in float32 only here (the profile asks for {dtype})"
    if runtime == "onnxruntime":
        for package in ("onnx", "onnxruntime"):
            if importlib.util.find_spec(package) is None:
                return f"runtime onnxruntime needs the Python package '{package}' (pip install 'rtbench[runtime]')"
        if device == "cuda":
            import onnxruntime

            if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
                return (
                    f"runtime onnxruntime on cuda needs ONNX Runtime's CUDAExecutionProvider (pip install onnxruntime-gpu); "
                    f"this onnxruntime offers {', '.join(onnxruntime.get_available_providers())}"
                )
        return None
    if runtime == "openvino":
        if device != "cpu":
            return "runtime openvino times CPU profiles only (device=cpu)"
        if importlib.util.find_spec("openvino") is None:
            return "runtime openvino needs the Python package 'openvino' (pip install openvino)"
        return None
    raise ValueError(f"unknown runtime {runtime!r}")


def check_runtime(profile: HardwareProfile, where: str = "hardware") -> None:
    """ConfigError unless ``profile.runtime`` is a known runtime that this machine can run for the profile."""
    if profile.runtime not in RUNTIMES:
        raise ConfigError(f"{where}: runtime='{profile.runtime}' is not valid; expected one of: {', '.join(RUNTIMES)}")
    why = missing(profile.runtime, profile.device, profile.dtype)
    if why is not None:
        raise ConfigError(f"{where}: hardware.runtime={profile.runtime} cannot run on this machine: {why}")


def available(device: str = "cpu", dtype: str = "float32") -> list[str]:
    """The runtimes of :data:`RUNTIMES` this machine can run on ``device`` in ``dtype``."""
    return [r for r in RUNTIMES if missing(r, device, dtype) is None]


def eager_copy(model: nn.Module, device: torch.device, dtype: torch.dtype) -> nn.Module:
    """A private eval-mode copy of ``model`` on ``device`` in ``dtype`` (the caller's module is untouched)."""
    return copy.deepcopy(model).to(device=device, dtype=dtype).eval()


def deployed(model: nn.Module, profile: HardwareProfile, device: torch.device, dtype: torch.dtype, example: tuple[int, ...]) -> Forward:
    """The forward pass of ``model`` under ``profile.runtime``, ready for ``measure.segment`` to call.

    ``example`` is the (C, H, W) of one input frame (a window network's whole stack); runtimes that
    trace or export the network use a batch-1 zero input of that shape. Eager and compile return a
    module (the private copy); onnxruntime and openvino a callable holding their session, taking a
    tensor on the profile's device and returning torch tensors on it. ConfigError (one line)
    when the runtime cannot run here.
    """
    check_runtime(profile, f"hardware profile '{profile.name}'")
    if profile.runtime in ("eager", "compile"):
        net = eager_copy(model, device, dtype)
        if profile.runtime == "eager":
            return net
        torch.compiler.reset()  # a fresh cache: many networks of one class would otherwise hit the recompile limit and run eager
        return torch.compile(net, dynamic=False)
    cpu_net = eager_copy(model, torch.device("cpu"), torch.float32)
    if profile.runtime == "onnxruntime":
        from rtbench.hardware.runtime_onnx import OrtForward, onnx_bytes

        return OrtForward(onnx_bytes(cpu_net, example), profile.num_threads(), profile.device)
    from rtbench.hardware.runtime_onnx import openvino_forward

    return openvino_forward(cpu_net, example, profile.num_threads())


def runtime_info(profile: HardwareProfile) -> dict[str, str]:
    """What a measurement record adds about its runtime: nothing for eager (records stay as they were), else
    ``{"runtime": name, "runtime_version": version}`` (torch's for compile, the package's for the others)."""
    if profile.runtime == "eager":
        return {}
    from importlib.metadata import PackageNotFoundError, version

    package = {"compile": "torch", "onnxruntime": "onnxruntime", "openvino": "openvino"}[profile.runtime]
    try:
        found = version(package)
    except PackageNotFoundError:
        found = "?"
    return {"runtime": profile.runtime, "runtime_version": found}
