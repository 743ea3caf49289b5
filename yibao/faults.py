"""Fault injection for crash-safety tests and the fault benchmark (``benchmarks/faults.py``).

``YIBAO_FAULT_AT=<point>:<n>`` kills the process with SIGKILL (no clean-up, nothing flushed) the n-th time the
code passes ``checkpoint(<point>)``; ``<point>:<n>+<seconds>`` arms a timer instead, so that the kill lands that
many seconds later, in the middle of whatever the process does then (a Delta commit, a dbt model's write).
Points: ``stage:<stage name>`` (a pipeline stage starts), ``write`` (a Delta write or MERGE starts, in
``yibao.catalog``), ``dbt_node`` and ``dbt_node:<model>`` (dbt starts a node), ``serving_table`` (the read path
copies a table), ``file`` and ``quarantined`` (ingestion).

``YIBAO_FAULT_TRACE=<file>`` appends one line per checkpoint passed (``stage<TAB>point<TAB>n``): a clean run's
trace is the list of places a fault can be injected.  Unset, a checkpoint costs two dictionary lookups.
"""

from __future__ import annotations

import os
import signal
import threading
from collections import Counter

_seen: Counter = Counter()
_stage = ""


def set_stage(name: str) -> None:
    """The pipeline stage now running (recorded in the trace)."""
    global _stage
    _stage = name


def _kill() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def checkpoint(point: str) -> None:
    spec = os.environ.get("YIBAO_FAULT_AT")
    trace = os.environ.get("YIBAO_FAULT_TRACE")
    if not spec and not trace:
        return
    _seen[point] += 1
    if trace:
        with open(trace, "a", encoding="utf-8") as f:
            f.write(f"{_stage}\t{point}\t{_seen[point]}\n")
    if not spec:
        return
    name, _, when = spec.rpartition(":")
    count, _, delay = when.partition("+")
    if name != point or _seen[point] != int(count or 1):
        return
    if delay:
        t = threading.Timer(float(delay), _kill)
        t.daemon = True
        t.start()
    else:
        _kill()
