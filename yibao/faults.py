"""Fault injection for crash-safety tests.

``YIBAO_FAULT_AT=<point>:<n>`` kills the process (exit code 137, no clean-up, as SIGKILL would) the n-th
time the code passes ``checkpoint(<point>)``.  Unset, a checkpoint costs one dictionary lookup.
"""

from __future__ import annotations

import os
from collections import Counter

_seen: Counter = Counter()


def checkpoint(point: str) -> None:
    spec = os.environ.get("YIBAO_FAULT_AT")
    if not spec:
        return
    name, _, count = spec.partition(":")
    if name != point:
        return
    _seen[point] += 1
    if _seen[point] >= int(count or 1):
        os._exit(137)
