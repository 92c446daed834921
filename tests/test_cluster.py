"""A Ray cluster a user actually has: a head started with ``ray start`` (token authentication on, as
Ray >= 2.60 has it by default), a second node without the profile's resource, and ``bench submit
ray.address=...`` in a subprocess. Also: the one-line message for a missing or wrong token, and the
detector behind it.

The nodes run in their own sessions with their own temp folder and are stopped by their process
group, never by ``ray stop`` (which would stop every Ray on the machine, other test runs' included).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from rtbench.raysession import auth_message, is_auth_failure

BIN = Path(sys.executable).parent
AUTH_VARS = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_ADDRESS")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(**extra: str) -> dict[str, str]:
    """This process's environment without Ray's auth and address variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in AUTH_VARS}
    return env | extra


def _stop(proc: subprocess.Popen) -> None:
    """Stop a node started by :func:`_start_node`: SIGTERM to its process group, SIGKILL after 10 s."""
    for sig, wait_s in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                proc.wait(timeout=10)
                return
            proc.poll()
            time.sleep(0.2)
    proc.wait(timeout=10)


def _node_id_of(proc: subprocess.Popen, timeout_s: float = 180) -> str:
    """The node id of the raylet in ``proc``'s process group (from its command line), once it runs (a
    loaded 2-core machine took over 60 s to start one)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                if os.getpgid(int(pid)) != proc.pid:
                    continue
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except (OSError, ProcessLookupError):
                continue
            if argv and argv[0].endswith(b"/raylet"):
                for arg in argv:
                    if arg.startswith(b"--node_id="):
                        return arg.split(b"=", 1)[1].decode()
        if proc.poll() is not None:
            break
        time.sleep(0.5)
    raise AssertionError(f"no raylet came up in process group {proc.pid}")


def _start_node(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "w") as out:
        return subprocess.Popen(
            [str(BIN / "ray"), "start", "--block", "--disable-usage-stats", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


@dataclass
class Cluster:
    address: str
    head_node_id: str
    worker_node_id: str
    token_file: Path
    folder: Path


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[Cluster]:
    """A head offering ``hw-local-cpu`` (2 CPUs) and a worker node without it (1 CPU), token auth on."""
    folder = Path(tempfile.mkdtemp(prefix="rtbc", dir="/tmp"))  # short: Ray's socket paths live below it
    token = folder / "token"
    token.write_text(secrets.token_hex(32))
    env = _env(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(token))
    port = _free_port()
    temp = f"--temp-dir={folder / 't'}"
    head_args = ["--head", f"--port={port}", "--num-cpus=2", '--resources={"hw-local-cpu": 1}', "--include-dashboard=false", temp]
    head = _start_node(head_args, env, folder / "head.log")
    nodes = [head]
    try:
        head_id = _node_id_of(head)
        worker = _start_node([f"--address=127.0.0.1:{port}", "--num-cpus=1", temp], env, folder / "worker.log")
        nodes.append(worker)
        worker_id = _node_id_of(worker)
        yield Cluster(f"127.0.0.1:{port}", head_id, worker_id, token, folder)
    finally:
        for node in reversed(nodes):
            _stop(node)
        shutil.rmtree(folder, ignore_errors=True)


def _bench(args: list[str], env: dict[str, str], cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "bench"), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def test_smoke_submission_on_a_cluster_times_on_the_node_offering_the_resource(ray_cluster, tmp_path):
    env = _env(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(ray_cluster.token_file))
    args = ["submit", "method=unet", "method.width=4", "method.depth=3", "budget=smoke", f"ray.address={ray_cluster.address}"]
    res = _bench([*args, f"runs.dir={tmp_path / 'runs'}"], env, tmp_path)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-5000:]
    assert f"ray: connecting to {ray_cluster.address}" in out
    assert "gcs_client.cc" not in out and "Traceback" not in out
    (record,) = tmp_path.glob("runs/*/*/record.json")
    rec = json.loads(record.read_text())
    assert rec["status"] == "complete", rec["failures"]
    (measure,) = record.parent.glob("units/measure-*.json")
    where = json.loads(measure.read_text())["payload"]["environment"]
    assert where["ray_node_id"] == ray_cluster.head_node_id != ray_cluster.worker_node_id
    assert rec["environment"]["ray_node_id"] == ray_cluster.head_node_id


@pytest.mark.parametrize(
    "auth, expected",
    [
        ({}, "requires token authentication: set RAY_AUTH_MODE=token"),
        ({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "0" * 64}, "refused this machine's token (read from RAY_AUTH_TOKEN"),
    ],
    ids=["no-token", "wrong-token"],
)
def test_a_refused_token_stops_with_one_line(ray_cluster, tmp_path, auth, expected):
    t0 = time.perf_counter()
    args = ["submit", "method=unet", "budget=smoke", f"ray.address={ray_cluster.address}", f"runs.dir={tmp_path}"]
    res = _bench(args, _env(**auth), tmp_path, 120)
    lines = [ln for ln in (res.stdout + res.stderr).splitlines() if ln.strip()]
    print("\n".join(lines))
    assert res.returncode == 2
    assert lines[-1].startswith("error: the Ray cluster at") and expected in lines[-1]
    assert len(lines) <= 4 and not any("gcs_client.cc" in ln or "Traceback" in ln for ln in lines), lines
    assert time.perf_counter() - t0 < 60


def test_nothing_listening_stops_with_one_line(tmp_path):
    port = _free_port()
    res = _bench(["submit", "method=unet", "budget=smoke", f"ray.address=127.0.0.1:{port}", f"runs.dir={tmp_path}"], _env(), tmp_path, 120)
    assert res.returncode == 2
    assert f"error: nothing answers at ray.address=127.0.0.1:{port}" in res.stdout and "Traceback" not in res.stdout + res.stderr


@pytest.mark.parametrize(
    "text",
    [
        "gcs_client.cc:210: Failed to get cluster ID from GCS server: Unauthenticated: RPC error: InvalidAuthToken: "
        "Authentication token is missing or incorrect",
        "AuthenticationError: Token authentication is enabled but no authentication token was found",
    ],
)
def test_auth_detector_recognises_rays_messages(text):
    assert is_auth_failure(text)


def test_auth_detector_ignores_other_failures():
    assert not is_auth_failure("ConnectionError: Failed to connect to Ray cluster at 10.0.0.1:6379: Timed out")


def test_auth_message_names_what_to_set(monkeypatch):
    for var in AUTH_VARS:
        monkeypatch.delenv(var, raising=False)
    assert "set RAY_AUTH_MODE=token" in auth_message("h:1") and "RAY_AUTH_TOKEN" in auth_message("h:1")
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", "/x/tok")
    assert "read from the file /x/tok (RAY_AUTH_TOKEN_PATH)" in auth_message("h:1")


STALE = """
import ray, sys
from rtbench.raysession import start_private_ray
if sys.argv[1] == "plain":
    ray.init(num_cpus=1, include_dashboard=False)  # what bench did before: attaches to the file's address
else:
    start_private_ray(1, {"hw-local-cpu": 1.0})
print("cpus", ray.cluster_resources().get("CPU"))
ray.shutdown()
"""


def test_a_stale_ray_current_cluster_file_is_never_attached_to(tmp_path):
    """Ray's temp folder names a cluster that is gone: a private local Ray starts anyway."""
    ray_tmp = Path(tempfile.mkdtemp(prefix="rtbs", dir="/tmp"))
    (ray_tmp / "ray").mkdir()
    (ray_tmp / "ray" / "ray_current_cluster").write_text(f"127.0.0.1:{_free_port()}")
    env = _env(RAY_TMPDIR=str(ray_tmp))
    try:
        plain = subprocess.run([sys.executable, "-c", STALE, "plain"], env=env, capture_output=True, text=True, timeout=120)
        private = subprocess.run([sys.executable, "-c", STALE, "private"], env=env, capture_output=True, text=True, timeout=120)
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert plain.returncode != 0 and "When connecting to an existing cluster" in plain.stderr
    assert private.returncode == 0 and "cpus 1.0" in private.stdout, private.stderr[-3000:]
