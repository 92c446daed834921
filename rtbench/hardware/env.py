"""The environment a measurement ran in: library versions, CPU/GPU, threads, code version.

Every run record carries ``environment_info(profile)`` so a latency figure can be traced to the
machine and code that produced it; ``device_name(profile)`` is part of a latency table's cache key.
"""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import time
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import torch

from rtbench.hardware.measure import torch_device
from rtbench.hardware.profile import HardwareProfile

REPO_ROOT = Path(__file__).resolve().parents[2]


def package_version(name: str) -> str | None:
    """Installed version of distribution ``name`` (read from its metadata, not imported); None if absent."""
    try:
        return version(name)
    except PackageNotFoundError:
        return None


@lru_cache(maxsize=1)
def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else ``platform.processor()`` or the machine type."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "Hardware") and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def device_name(profile: HardwareProfile) -> str:
    """Name of the device ``profile`` measures on: the GPU's name for CUDA profiles, the CPU model otherwise.

    Raises ConfigError for a CUDA profile on a machine without CUDA.
    """
    device = torch_device(profile)
    return torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_model()


def _cpu_times() -> tuple[int, int] | None:
    """(busy, total) jiffies summed over all cores from the first line of /proc/stat; None off Linux."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    # guest time is already counted in user / nice, so only the first 8 fields add up to the total
    total = sum(fields[:8])
    return total - idle, total


def cpu_busy_cores(window_s: float = 1.0) -> float | None:
    """How many cores other processes keep busy right now: the busy share of all CPU time over ``window_s``, times the core count.

    Read from /proc/stat twice, ``window_s`` apart (Linux); elsewhere the 1-minute load average
    stands in (None where the OS has neither). Unlike the load average, this does not remember
    work that ended up to a minute ago (e.g. the training that ran just before a measurement).
    The caller sleeps through the window, so its own share is close to zero.
    """
    start = _cpu_times()
    if start is None:
        return os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    time.sleep(window_s)
    end = _cpu_times()
    if end is None or end[1] <= start[1]:
        return None
    return (end[0] - start[0]) / (end[1] - start[1]) * (os.cpu_count() or 1)


def git_sha(root: Path = REPO_ROOT) -> str | None:
    """Commit of the rtbench checkout at ``root``; None if rtbench is not running from a git checkout."""
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--show-toplevel", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return None
    # an installed (non-editable) copy inside some other repository must not report that repository's commit
    if len(out) != 2 or Path(out[0]).resolve() != root.resolve():
        return None
    return out[1]


def environment_info(profile: HardwareProfile | None = None) -> dict[str, Any]:
    """A JSON-able description of this machine and software, for run records.

    Keys: python, torch, monai, ray, platform, cpu, logical_cores, torch_threads (the threads
    ``profile`` measures with; torch's current setting without a profile), cuda_device,
    cuda_version, cudnn_version (None unless ``profile`` is a CUDA profile and CUDA is
    available), load_avg_1m (the machine's 1-minute load average when the record was taken: a
    busy machine makes latency figures unreliable; None where the OS has none), git_sha (None
    outside a git checkout), hostname.
    """
    cuda = profile is not None and profile.device == "cuda" and torch.cuda.is_available()
    return {
        "python": platform.python_version(),
        "torch": package_version("torch"),
        "monai": package_version("monai"),
        "ray": package_version("ray"),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "logical_cores": os.cpu_count(),
        "torch_threads": profile.num_threads() if profile is not None else torch.get_num_threads(),
        "cuda_device": torch.cuda.get_device_name() if cuda else None,
        "cuda_version": torch.version.cuda if cuda else None,
        "cudnn_version": torch.backends.cudnn.version() if cuda else None,
        "load_avg_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "git_sha": git_sha(),
        "hostname": socket.gethostname(),
    }
