"""Run one command and measure it: wall time and peak resident memory of its whole process tree.

Memory is sampled every 100 ms with psutil (RSS of the process and all its descendants, summed), so
short spikes between samples can be missed; for the stages measured here (seconds to minutes) the
error is small.
"""

from __future__ import annotations

import subprocess
import time
import threading
from dataclasses import dataclass, field
from typing import Callable

import psutil


@dataclass
class Measurement:
    command: list[str]
    seconds: float
    peak_rss_bytes: int
    returncode: int
    stdout: str
    stderr: str
    samples: list[tuple[float, int]] = field(default_factory=list)   # (epoch seconds, tree RSS bytes)

    @property
    def peak_rss_gib(self) -> float:
        return self.peak_rss_bytes / 2**30


def tree_rss(pid: int) -> int:
    """Resident memory of a process and all its descendants, in bytes (0 once it has exited)."""
    total = 0
    try:
        proc = psutil.Process(pid)
        procs = [proc] + proc.children(recursive=True)
    except psutil.NoSuchProcess:
        return 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def measure(command: list[str], env: dict | None = None, cwd: str | None = None,
            interval: float = 0.1, on_sample: Callable[[float, int], None] | None = None) -> Measurement:
    """Run ``command``; ``on_sample(elapsed_seconds, rss_bytes)`` is called at every sample (progress display)."""
    started = time.perf_counter()
    popen = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc = psutil.Process(popen.pid)
    peak = 0
    out_chunks: list[str] = []
    err_chunks: list[str] = []
    samples: list[tuple[float, int]] = []
    def drain(stream, sink):
        for line in stream:
            sink.append(line)

    threads = [threading.Thread(target=drain, args=(popen.stdout, out_chunks), daemon=True),
               threading.Thread(target=drain, args=(popen.stderr, err_chunks), daemon=True)]
    for t in threads:
        t.start()
    while popen.poll() is None:
        rss = tree_rss(proc.pid)
        peak = max(peak, rss)
        samples.append((time.time(), rss))
        if on_sample:
            on_sample(time.perf_counter() - started, rss)
        time.sleep(interval)
    seconds = time.perf_counter() - started
    for t in threads:
        t.join()
    return Measurement(command, seconds, peak, popen.returncode, "".join(out_chunks), "".join(err_chunks), samples)
