"""The Ray session of a submission: a private local Ray, or the cluster named by ray.address / RAY_ADDRESS.

* No address: a *private* local Ray (``ray.init(address="local")``) on this machine's CPUs, with a
  capacity-1 resource for every profile the machine can host. Another Ray on the machine, or a
  stale ``ray_current_cluster`` file in Ray's temp folder, is never attached to.
* An address: first a TCP probe and a GCS handshake (about 10 ms), so a missing or wrong token
  (Ray >= 2.60 turns token authentication on by default) or nobody listening stops the submission
  with one line saying what to set, instead of ~20 s of repeated warnings and a traceback. Ray's
  own warnings on stderr while connecting are captured and only their gist is reported.

An already-initialised Ray (e.g. the test session's) is reused.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

from rtbench.errors import RTBenchError
from rtbench.hardware.profile import load_profile, profile_names

Printer = Callable[[str], None]

AUTH_PATTERN = re.compile(r"InvalidAuthToken|Unauthenticated|UNAUTHENTICATED|AuthenticationError|authentication token", re.IGNORECASE)
"""What Ray prints or raises when a cluster refuses the client's (missing or wrong) token."""


class RayConnectError(RTBenchError):
    """The Ray cluster named by ray.address / RAY_ADDRESS cannot be used; the message says what to set."""


def quiet_ray() -> None:
    """Silence Ray's chatter that is not ours to show: deduplicated worker logs, INFO lines, the token-auth notice."""
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # the legacy reporter honours verbose=0; we print our own progress
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    for name in ("ray", "ray.tune", "ray.train", "ray._private"):
        logging.getLogger(name).setLevel(logging.ERROR)


def ensure_ray(spec: Any, echo: Printer) -> None:
    """Connect to the cluster named by ``spec.ray.address`` / RAY_ADDRESS, or start a private local Ray."""
    import ray

    if ray.is_initialized():
        return
    quiet_ray()
    address = spec.ray.address or os.environ.get("RAY_ADDRESS", "")
    if address and address != "local":
        echo(f"ray: connecting to {address}")
        connect_cluster(address)
        return
    start_private_ray(os.cpu_count() or 1, local_resources(spec))


def start_private_ray(num_cpus: int, resources: dict[str, float], **kwargs: Any) -> None:
    """A new local Ray owned by this process (``address="local"``): never one found through Ray's temp folder.

    Token authentication stays as Ray sets it (on by default for a new cluster since 2.60).
    """
    import ray

    ray.init(
        address="local",
        num_cpus=num_cpus,
        resources=resources,
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.ERROR,
        configure_logging=True,
        **kwargs,
    )


def local_resources(spec: Any) -> dict[str, float]:
    """Capacity-1 custom resources for every profile this machine can host."""
    import torch

    out = {}
    for name in profile_names():
        p = load_profile(name)
        if p.device == "cpu" or torch.cuda.is_available():
            out[p.resource] = 1.0
    out[spec.hardware.resource] = 1.0
    return out


# ----------------------------------------------------------------------------- a cluster


def auth_message(address: str) -> str:
    """The one line to show when the cluster at ``address`` refuses this client's token."""
    mode = os.environ.get("RAY_AUTH_MODE", "")
    if mode.lower() != "token":
        return (
            f"the Ray cluster at {address} requires token authentication: set RAY_AUTH_MODE=token and give this machine the "
            "head's token (RAY_AUTH_TOKEN=<token>, or a file named by RAY_AUTH_TOKEN_PATH, default ~/.ray/auth_token; "
            "`ray get-auth-token` on the head prints it)"
        )
    source = (
        "RAY_AUTH_TOKEN"
        if os.environ.get("RAY_AUTH_TOKEN")
        else f"the file {os.environ.get('RAY_AUTH_TOKEN_PATH') or '~/.ray/auth_token'}"
        + (" (RAY_AUTH_TOKEN_PATH)" if os.environ.get("RAY_AUTH_TOKEN_PATH") else "")
    )
    return (
        f"the Ray cluster at {address} refused this machine's token (read from {source}, RAY_AUTH_MODE=token): "
        "set RAY_AUTH_TOKEN, or RAY_AUTH_TOKEN_PATH to a file, holding the head's token (`ray get-auth-token` on the head prints it)"
    )


def is_auth_failure(text: str) -> bool:
    """Whether an exception's text or Ray's captured log says the cluster refused the client's token."""
    return bool(AUTH_PATTERN.search(text))


@contextlib.contextmanager
def captured_stderr() -> Iterator[Callable[[], str]]:
    """Route file descriptor 2 (where Ray's C++ core writes its warnings) to a temporary file meanwhile.

    Yields a function that returns what was written so far.
    """
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        saved = os.dup(2)
        try:
            os.dup2(tmp.fileno(), 2)

            def text() -> str:
                tmp.flush()
                tmp.seek(0)
                return tmp.read().decode(errors="replace")

            yield text
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _host_port(address: str) -> tuple[str, int] | None:
    m = re.fullmatch(r"(?:[a-z]+://)?\[?([^\]]+?)\]?:(\d+)", address.strip())
    return (m.group(1), int(m.group(2))) if m else None


def probe_cluster(address: str, timeout_s: float = 5.0) -> None:
    """RayConnectError naming what to do when nothing listens at ``address`` or its GCS refuses our token.

    Anything else (TLS, Ray Client ``ray://`` addresses, "auto") is left to ``ray.init``.
    """
    hp = _host_port(address)
    if hp is None or address.startswith("ray://"):
        return
    try:
        socket.create_connection(hp, timeout=timeout_s).close()
    except OSError as err:
        raise RayConnectError(
            f"nothing answers at ray.address={address} ({err.strerror or err}): start the head there "
            f"(ray start --head --port={hp[1]} ...) or fix the address"
        ) from None
    from ray._raylet import GcsClient

    with captured_stderr() as log:
        try:
            GcsClient(address=f"{hp[0]}:{hp[1]}")
        except Exception as err:
            if is_auth_failure(f"{type(err).__name__}: {err}\n{log()}"):
                raise RayConnectError(auth_message(address)) from None
            # not ours to judge: ray.init reports it


def connect_cluster(address: str) -> None:
    """``ray.init(address=...)`` with a one-line RayConnectError instead of Ray's repeated warnings and traceback."""
    import ray

    probe_cluster(address)
    with captured_stderr() as log:
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR, configure_logging=True)
            return
        except Exception as err:
            said = f"{type(err).__name__}: {err}\n{log()}"
    if is_auth_failure(said):
        raise RayConnectError(auth_message(address))
    lines = [ln.strip() for ln in said.splitlines() if ln.strip()]
    raise RayConnectError(f"cannot connect to the Ray cluster at {address}: {lines[0] if lines else 'no reason given'}")
