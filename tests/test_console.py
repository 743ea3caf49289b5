"""A quiet console (issue 19, item 5): the engine's and the libraries' logs go to a file under the warehouse whose
path is printed once; --verbose brings them back to the console."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

YIBAO = str(Path(sys.executable).with_name("yibao"))


def _tables(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, YIBAO_DATA_ROOT=str(root), SPARK_REMOTE="", YIBAO_ENGINE_MEMORY_GIB="1")
    return subprocess.run([YIBAO, *args, "tables"], env=env, capture_output=True, text=True, timeout=300)


def test_engine_logs_go_to_a_file_and_the_console_keeps_the_output(tmp_path):
    proc = _tables(tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout + proc.stderr
    assert "┃ schema" in out                                  # the command's own output
    assert "sail" not in out and " INFO " not in out and " WARN " not in out, out[-2000:]
    (log,) = (tmp_path / "warehouse" / "_logs").glob("yibao-*.log")
    assert "Spark Connect server" in log.read_text()
    assert out.count(f"engine and library log: {log}") == 1


def test_verbose_shows_the_engine_logs(tmp_path):
    proc = _tables(tmp_path, "--verbose")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Spark Connect server" in proc.stderr and "engine and library log" not in proc.stderr
    assert not (tmp_path / "warehouse" / "_logs").exists()


def test_an_error_still_reaches_the_console(tmp_path):
    """A failure after the logs went to the file: the traceback and the message are on the console."""
    env = dict(os.environ, YIBAO_DATA_ROOT=str(tmp_path), SPARK_REMOTE="")
    proc = subprocess.run([YIBAO, "quality", "--layer", "platinum"], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 1 and "layer must be one of" in proc.stderr, proc.stderr[-2000:]
    assert (tmp_path / "warehouse" / "_logs").is_dir()
