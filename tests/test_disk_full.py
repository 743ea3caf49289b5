"""Disk full during a Delta write (issue 20 item 2): the warehouse lives on a size-limited file system (a tmpfs
half the size the ingest needs); ``yibao ingest`` fails with a clear message and nothing it had committed is
corrupt; once space is freed (the file system grown) a rerun lands exactly what a run with room lands.

Mounting needs root (CAP_SYS_ADMIN), as CI and the development machines run; elsewhere the test is skipped and
says why.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from landing import table_state

from yibao.config import Settings

YIBAO = str(Path(sys.executable).with_name("yibao"))


def _du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _mount(point: Path, size: int, remount: bool = False) -> subprocess.CompletedProcess:
    opts = f"{'remount,' if remount else ''}size={size}"
    return subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(point)], capture_output=True, text=True)


def _ingest(data_root: Path, warehouse: Path, landing: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("YIBAO_FAULT_AT", "YIBAO_FAULT_TRACE")}
    env.update(YIBAO_DATA_ROOT=str(data_root), YIBAO_WAREHOUSE_ROOT=str(warehouse), YIBAO_LANDING_ROOT=str(landing),
               SPARK_REMOTE="")
    return subprocess.run([YIBAO, "ingest"], env=env, capture_output=True, text=True, timeout=900)


def test_disk_full_during_ingest_loses_nothing_and_a_rerun_completes(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a size-limited file system needs root")
    from yibao.synthetic.generate import generate

    landing = tmp_path / "landing"
    generate(landing, persons=800, seed=3, batches=1, chunk_size=800)
    roomy = Settings(data_root=tmp_path / "roomy", landing_root=landing)
    done = _ingest(roomy.data_root, roomy.warehouse, landing)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    need = _du(roomy.warehouse)

    point = tmp_path / "small"
    point.mkdir()
    mounted = _mount(point, max(need // 2, 1 << 20))
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        full = Settings(data_root=tmp_path / "full", landing_root=landing, warehouse_root=point / "warehouse")
        failed = _ingest(full.data_root, full.warehouse, landing)
        out = " ".join((failed.stdout + failed.stderr).split())
        assert failed.returncode not in (0, -9), out[-3000:]
        assert "No space left on device" in out or "disk is full" in out, out[-3000:]
        assert "Traceback" not in out, out[-3000:]       # a clear message, not a stack trace
        # room again: the rerun resumes and lands exactly what the roomy run landed
        assert _mount(point, need * 4, remount=True).returncode == 0
        again = _ingest(full.data_root, full.warehouse, landing)
        assert again.returncode == 0, (again.stdout + again.stderr)[-3000:]
        assert table_state(full) == table_state(roomy)
    finally:
        shutil.rmtree(point / "warehouse", ignore_errors=True)
        subprocess.run(["umount", str(point)], capture_output=True)
