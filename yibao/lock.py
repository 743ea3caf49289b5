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
import json
import os
import socket
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from yibao.config import Settings


class WarehouseBusy(RuntimeError):
    """Another process holds the warehouse lock."""


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
    path = lock_path(settings)
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
                    raise WarehouseBusy(f"the warehouse {settings.warehouse} is being written by {_holder(path)}; "
                                        f"try again when it has finished (or pass --wait)") from None
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
