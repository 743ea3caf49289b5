"""One writer at a time: the warehouse lock.

Two `yibao run` (or a run and a `yibao ingest`, `transform`, `maintain` ...) on one warehouse would take the same
batches twice, race on Delta commits and vacuum what the other still reads.  Every command that writes the warehouse
holds ``<warehouse>/_run.lock`` (an exclusive ``flock``) for its duration; a second one refuses at once with who
holds it (:class:`WarehouseBusy`), or with ``wait`` waits for it.  The kernel releases the lock when its process
ends, however it ends (a SIGKILL included): there is never a stale lock to clean up by hand.  The file's content
(pid, host, command, start time) is only for the message; the lock is the ``flock``.
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import socket
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from yibao.config import Settings


class Busy(RuntimeError):
    """Another process holds the lock."""


class WarehouseBusy(Busy):
    """Another process holds the warehouse lock."""


class LandingBusy(Busy):
    """Another generator is writing the landing zone."""


def lock_path(settings: Settings) -> Path:
    return settings.warehouse / "_run.lock"


def _holder(path: Path) -> str:
    try:
        h = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return "another process"
    return (f"`{h.get('command', '?')}` (pid {h.get('pid', '?')} on {h.get('host', '?')}, since "
            f"{h.get('started', '?')} UTC)")


@contextmanager
def warehouse_lock(settings: Settings, command: str, wait: float = 0.0):
    """Hold the warehouse lock while the block runs.  ``wait``: seconds to wait for it (0: refuse at once);
    raises :class:`WarehouseBusy` naming the holder when it is not had in time.  Re-entrant within one process."""
    with file_lock(lock_path(settings), command, f"the warehouse {settings.warehouse}", wait, WarehouseBusy,
                   "try again when it has finished (or pass --wait)"):
        yield


@contextmanager
def landing_lock(landing: Path, command: str):
    """Hold the synthetic generator's lock on a landing zone (``<landing>/_generate.lock``; the ingestion skips
    '_' entries): two generators on one landing zone would spoil each other's staging folder and generator state.
    Raises :class:`LandingBusy` naming the holder at once."""
    with file_lock(Path(landing) / "_generate.lock", command, f"the landing zone {landing}", 0.0, LandingBusy,
                   "try again when it has finished"):
        yield


def holds_landing_lock(command: str):
    """Decorator: the function (whose first argument, or ``out=``, is the landing zone) runs under
    :func:`landing_lock`."""
    def deco(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with landing_lock(Path(kwargs["out"] if "out" in kwargs else args[0]), command):
                return fn(*args, **kwargs)
        return wrapper
    return deco


@contextmanager
def file_lock(path: Path, command: str, what: str, wait: float = 0.0, busy: type[Busy] = Busy,
              advice: str = "try again when it has finished"):
    """An exclusive ``flock`` on ``path`` while the block runs (``what``: how the refusal names what is locked).
    Re-entrant within one process; the kernel releases it when the process ends, however it ends."""
    key = str(path)
    if _held.get(key):
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise busy(f"{what} is being written by {_holder(path)}; {advice}") from None
                time.sleep(min(1.0, max(0.05, deadline - time.monotonic())))
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "command": command,
                                 "started": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")}).encode())
        _held[key] = 1
        try:
            yield
        finally:
            _held.pop(key, None)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


_held: dict[str, int] = {}     # lock files this process holds -> depth
