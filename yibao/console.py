"""Terminal output shared by every command: one rich console, a progress bar with the usual columns, and the
log file that keeps the engine's and the libraries' own logging off the console."""

from __future__ import annotations

import atexit
import io
import logging
import os
import sys
from pathlib import Path

import rich.progress as rp
from rich.console import Console

console = Console(stderr=True)


class Progress(rp.Progress):
    """A rich progress display with description, bar, count, elapsed and remaining time."""

    def __init__(self, **kwargs):
        kwargs.setdefault("console", console)
        super().__init__(rp.SpinnerColumn(), rp.TextColumn("{task.description}"), rp.BarColumn(),
                         rp.MofNCompleteColumn(), rp.TimeElapsedColumn(), rp.TimeRemainingColumn(), **kwargs)


def send_logs_to(path: Path) -> bool:
    """Keep the console for progress, summaries and errors; send the rest of this process's output to ``path``.

    The embedded engine (Sail, in this process) and the programs this process starts write their logs straight to
    file descriptor 2: that descriptor now points at ``path`` (appended).  Python's ``sys.stderr`` (the rich
    console, tracebacks) stays on the terminal; Python's logging and warnings go to the file too.  At exit, the
    path is printed once if anything was written.  Does nothing (returns False) when stderr is not a real file
    descriptor, as under a test runner that captures it.
    """
    try:
        if sys.stderr.fileno() != 2:
            return False
    except (AttributeError, OSError, io.UnsupportedOperation, ValueError):
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    terminal = os.fdopen(os.dup(2), "w", buffering=1, encoding=getattr(sys.stderr, "encoding", None) or "utf-8",
                         errors="replace")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
    os.dup2(fd, 2)
    os.close(fd)
    sys.stderr = terminal
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    if logging.getLogger().level > logging.INFO:
        logging.getLogger().setLevel(logging.INFO)
    logging.captureWarnings(True)
    size = path.stat().st_size

    def tell() -> None:
        try:
            if path.stat().st_size > size:
                terminal.write(f"engine and library log: {path}\n")
                terminal.flush()
        except OSError:
            pass

    atexit.register(tell)   # registered before the engine's own exit handler, so it runs after it
    return True
