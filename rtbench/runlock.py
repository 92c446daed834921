"""One submission at a time per run folder: an OS file lock (``fcntl.flock``) on ``<run folder>/submit.lock``.

``bench submit`` takes the lock for the whole submission and *refuses* (exit 2, one line naming the
holder) when another process holds it, rather than waiting: the other submission is already doing
this work, and once it ends, running the same command again resumes whatever is left. The kernel
releases the lock when its holder exits however it exits (Ctrl-C, kill -9, a crash), so a stale
lock file never blocks anyone; the file stays (deleting it could let two holders lock two
different files).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from rtbench.errors import RTBenchError


class RunLocked(RTBenchError):
    """Another process holds the run folder's submission lock."""


@contextlib.contextmanager
def submission_lock(path: Path, invocation: str) -> Iterator[None]:
    """Hold the lock at ``path`` meanwhile, or raise RunLocked naming the process that holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = path.read_text(errors="replace").strip() or "another process"
            raise RunLocked(
                f"this run is being submitted by {holder} (lock {path}): wait for it to end, "
                "then run the same command again to resume what is left"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()} (invocation {invocation}, since {time.strftime('%H:%M:%S')})\n".encode())
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def lock_held(path: Path) -> bool:
    """Whether a process holds the submission lock at ``path`` (probed with a shared lock, released at once)."""
    if not path.is_file():
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)
