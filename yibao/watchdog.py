"""Fail a run whose embedded engine has hung, instead of waiting for someone to notice.

At 10M persons a dbt node once sat for ten minutes with its query outstanding and the engine idle (no CPU, all
threads waiting) after the memory pool was exhausted; nothing timed it out, and a nightly run that meets such a
hang would wait until an operator looks.  Every command that writes the warehouse (and every stage of
``yibao run``) runs inside :func:`watch`: while a watched section is open, a monitor thread samples this
process's CPU time (the embedded engine runs in this process, so its worker threads count).  Working, the
engine keeps at least one core busy; when the process used less than ``IDLE_CPU_SHARE`` of one core over
``engine_idle_timeout_s`` seconds, the section is declared hung:

1. every operation of the engine session is interrupted (Spark Connect ``interruptAll``): the query fails and
   the section ends with :class:`EngineHung`, naming the section and how long the engine was idle;
2. if the section has still not ended ``GRACE_S`` seconds later (an interrupt the engine cannot act on), the
   process exits with ``HUNG_EXIT`` after saying why.  Every stage is safe to kill and rerun (the fault tests
   kill the run inside every stage), so the next run resumes.

Only the embedded engine is watched: with ``SPARK_REMOTE`` the work runs in another process, and a quiet client
is normal (the check is made when the section would fire, since the engine starts lazily inside it).  ``engine_idle_timeout_s = 0`` switches the watchdog off.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections import deque
from contextlib import contextmanager

from yibao.config import Settings

log = logging.getLogger(__name__)

HUNG_EXIT = 70          # EX_SOFTWARE: the engine hung and could not be interrupted
IDLE_CPU_SHARE = 0.02   # below this share of one core over the whole window, the engine is not working
GRACE_S = 60.0          # how long an interrupted section may take to end before the process exits


class EngineHung(RuntimeError):
    """The engine sat idle with a watched section's query outstanding, and the query was interrupted."""


def is_hung(samples, window_s: float, idle_share: float = IDLE_CPU_SHARE) -> bool:
    """Whether ``samples`` ((wall seconds, process CPU seconds), oldest first, taken while a section was open)
    show a whole ``window_s`` with less than ``idle_share`` of one core used."""
    if not samples or window_s <= 0:
        return False
    t_end, cpu_end = samples[-1]
    start = next(((t, c) for t, c in reversed(samples) if t_end - t >= window_s), None)
    if start is None:       # the section has not been open that long
        return False
    t0, cpu0 = start
    return (cpu_end - cpu0) < idle_share * (t_end - t0)


class _Monitor:
    """One thread per process; sections are a stack (a stage inside ``yibao run`` inside its command)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sections: list[dict] = []
        self.samples: deque = deque()
        self.thread: threading.Thread | None = None

    def open(self, label: str, timeout_s: float) -> dict:
        section = {"label": label, "timeout_s": timeout_s, "hung": None}
        with self.lock:
            if not self.sections:
                self.samples.clear()
            self.sections.append(section)
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._loop, name="yibao-watchdog", daemon=True)
                self.thread.start()
        return section

    def close(self, section: dict) -> None:
        with self.lock:
            if section in self.sections:
                self.sections.remove(section)
            if not self.sections:
                self.samples.clear()

    def _loop(self) -> None:
        from yibao.engine import embedded

        while True:
            with self.lock:
                if not self.sections:
                    self.thread = None
                    return
                section = self.sections[-1]
                window = min(s["timeout_s"] for s in self.sections)
                self.samples.append((time.monotonic(), time.process_time()))
                while len(self.samples) > 2 and self.samples[-1][0] - self.samples[1][0] >= window:
                    self.samples.popleft()     # keep just over one window
                hung = section["hung"] is None and is_hung(self.samples, window)
            if hung and embedded():
                self._fire(section, window)
            time.sleep(max(0.2, min(10.0, window / 20)))

    def _fire(self, section: dict, window: float) -> None:
        section["hung"] = (f"{section['label']}: the engine was idle for {window:,.0f} s (less than "
                           f"{IDLE_CPU_SHARE:.0%} of a core) with the work outstanding; its queries were interrupted "
                           f"(engine_idle_timeout_s = {window:g}). Nothing committed is lost; run the command again.")
        log.error("watchdog: %s", section["hung"])
        # the interrupt itself may wait on the engine (a Python UDF's batch holds it): never on this thread
        threading.Thread(target=_interrupt, name="yibao-watchdog-interrupt", daemon=True).start()
        deadline = time.monotonic() + GRACE_S
        while time.monotonic() < deadline:
            time.sleep(0.5)
            with self.lock:
                if section not in self.sections:
                    self.samples.clear()
                    return
        msg = (f"yibao: {section['hung']} The interrupt did not end it within {GRACE_S:g} s; exiting "
               f"(code {HUNG_EXIT}).")
        print(msg, file=sys.stderr, flush=True)
        log.critical(msg)
        os._exit(HUNG_EXIT)


def _interrupt() -> None:
    from yibao.engine import interrupt_all

    try:
        log.error("watchdog: interrupted %d operation(s)", len(interrupt_all()))
    except Exception as exc:      # the engine may not answer either: the grace period decides
        log.error("watchdog: interrupting the engine failed: %r", exc)


_monitor = _Monitor()


@contextmanager
def watch(settings: Settings, label: str):
    """Run the body under the watchdog (see the module).  Raises :class:`EngineHung` when the body ended after the
    watchdog interrupted it, whatever the body raised (or returned) then."""
    timeout = float(settings.engine_idle_timeout_s)
    if timeout <= 0:
        yield
        return
    section = _monitor.open(label, timeout)
    try:
        yield
    except BaseException as exc:
        if section["hung"]:
            raise EngineHung(section["hung"]) from exc
        raise
    finally:
        _monitor.close(section)
    if section["hung"]:
        raise EngineHung(section["hung"])
