"""Shared fixtures: one Ray session per test run, the real ACDC data when present, tmp run stores."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("RTBENCH_CACHE", str(Path(__file__).resolve().parents[1] / ".cache" / "test"))

TESTS_DIR = Path(__file__).resolve().parent
PLUGINS = TESTS_DIR / "plugins"
"""``good/``: a plug-in package with a space and a method registered by entry points; ``broken/``: an
entry point that cannot be imported. Ray workers see ``good/`` (their PYTHONPATH); the driver only
inside the tests that prepend it to ``sys.path``."""
ACDC_ROOT = Path(__file__).resolve().parents[2] / "shared" / "data" / "acdc"


def acdc_available() -> bool:
    return (ACDC_ROOT / "training").is_dir() or any(ACDC_ROOT.glob("patient*"))


@pytest.fixture(scope="session")
def acdc_root() -> Path:
    if not acdc_available():
        pytest.skip(f"real ACDC data not found at {ACDC_ROOT}")
    return ACDC_ROOT


@pytest.fixture(scope="session")
def ray_session():
    """One private local Ray for the whole test run (the runner reuses an initialised Ray).

    ``address="local"`` (``rtbench.raysession.start_private_ray``): never attaches to another Ray on
    the machine, e.g. another test run's or one named by a stale ``ray_current_cluster`` file.
    """
    import ray

    from rtbench.config import resolve
    from rtbench.raysession import local_resources, quiet_ray, start_private_ray

    if not ray.is_initialized():
        quiet_ray()
        pythonpath = os.pathsep.join([str(TESTS_DIR), str(PLUGINS / "good"), os.environ.get("PYTHONPATH", "")])
        start_private_ray(
            os.cpu_count() or 1,
            local_resources(resolve(["budget=smoke"])),
            runtime_env={"env_vars": {"PYTHONPATH": pythonpath}},
        )
    yield ray
    ray.shutdown()
