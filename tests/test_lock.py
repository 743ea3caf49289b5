"""One writer at a time (issue 20 item 2: two `yibao run` started at once): the warehouse lock (yibao/lock.py).

A second writer refuses at once with who holds the warehouse (exit 75), or waits with --wait; a holder killed with
SIGKILL leaves no stale lock; nothing is written by the refused command."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from yibao.config import Settings

HOLD = """
import sys, time
from pathlib import Path
from yibao.config import Settings
from yibao.lock import warehouse_lock
with warehouse_lock(Settings(data_root=Path(sys.argv[1])), "yibao run"):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _holder(root, seconds: float) -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, "-c", HOLD, str(root), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "held"
    return p


def test_a_second_writer_is_refused_with_the_holder_and_a_killed_holder_leaves_no_lock(tmp_path):
    from yibao.lock import WarehouseBusy, warehouse_lock

    settings = Settings(data_root=tmp_path)
    p = _holder(tmp_path, 60)
    try:
        with pytest.raises(WarehouseBusy, match=rf"being written by `yibao run` \(pid {p.pid} on "):
            with warehouse_lock(settings, "yibao ingest"):
                pass
        started = time.monotonic()
        with pytest.raises(WarehouseBusy):
            with warehouse_lock(settings, "yibao ingest", wait=0.6):
                pass
        assert time.monotonic() - started >= 0.5
    finally:
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
    with warehouse_lock(settings, "yibao ingest"):          # the kernel released it with the process
        with warehouse_lock(settings, "yibao run"):          # re-entrant within one process
            pass


def test_waiting_writer_runs_when_the_holder_finishes(tmp_path):
    from yibao.lock import warehouse_lock

    p = _holder(tmp_path, 1.0)
    with warehouse_lock(Settings(data_root=tmp_path), "yibao maintain", wait=30):
        assert p.poll() is not None or p.wait(timeout=5) == 0


def test_yibao_run_refuses_while_another_writes_and_touches_nothing(tmp_path):
    from typer.testing import CliRunner

    from yibao.cli import BUSY_EXIT, app

    env = {"YIBAO_DATA_ROOT": str(tmp_path), "YIBAO_LANDING_ROOT": "", "YIBAO_WAREHOUSE_ROOT": "", "COLUMNS": "300"}
    p = _holder(tmp_path, 60)
    try:
        for args in (["run"], ["run", "--wait", "0.5"], ["ingest"], ["maintain"]):
            res = CliRunner().invoke(app, args, env=env)
            assert res.exit_code == BUSY_EXIT, (args, res.output)
            assert "is being written by `yibao run`" in " ".join(res.output.split())
        assert sorted(x.name for x in (tmp_path / "warehouse").iterdir()) == ["_run.lock"]
    finally:
        os.kill(p.pid, signal.SIGKILL)
        p.wait()


HOLD_LANDING = """
import sys, time
from pathlib import Path
from yibao.lock import landing_lock
with landing_lock(Path(sys.argv[1]), "yibao generate --days"):
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_second_generator_on_one_landing_zone_is_refused(tmp_path):
    """Two generators on one landing zone would spoil each other's staging folder and state (seen when a killed
    benchmark left its `yibao generate --days` running): the second refuses at once, writing nothing."""
    from yibao.lock import LandingBusy
    from yibao.synthetic.daily import generate_days
    from yibao.synthetic.generate import generate

    landing = tmp_path / "landing"
    p = subprocess.Popen([sys.executable, "-c", HOLD_LANDING, str(landing)], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "held"
        with pytest.raises(LandingBusy, match=rf"landing zone .* is being written by `yibao generate --days` "
                                              rf"\(pid {p.pid} on "):
            generate_days(landing, 1)
        with pytest.raises(LandingBusy):
            generate(out=landing, persons=100)
        cli = subprocess.run([str(Path(sys.executable).parent / "yibao"), "generate", "--persons", "100",
                              "--out", str(landing)], capture_output=True, text=True)
        assert cli.returncode == 75, cli.stdout + cli.stderr
        assert "is being written by `yibao generate --days`" in " ".join((cli.stdout + cli.stderr).split())
        assert sorted(x.name for x in landing.iterdir()) == ["_generate.lock"]   # nothing else written
    finally:
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
    with pytest.raises(FileNotFoundError, match="state.json not found"):   # the lock is free again
        generate_days(landing, 1)
