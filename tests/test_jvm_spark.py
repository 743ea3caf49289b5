"""The ingestion code is not tied to Sail: the same run through Apache Spark's own (JVM) Spark Connect
server, from the pyspark wheel, with Parquet tables, lands the same rows."""

from __future__ import annotations

import datetime
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.dataset as ds
import pytest
from landing import write_batch
from test_ingestion import PSN_HEADER, SETL_HEADER, psn, setl

pytestmark = pytest.mark.jvm


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def jvm_spark(tmp_path_factory):
    if shutil.which("java") is None:
        pytest.fail("java is not installed: .ci/run installs it (openjdk-17-jre-headless)")
    import pyspark

    home = Path(pyspark.__file__).parent
    port = _free_port()
    work = tmp_path_factory.mktemp("jvm")
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable, SPARK_HOME=str(home))
    env.pop("SPARK_REMOTE", None)
    env.pop("SPARK_CONNECT_MODE_ENABLED", None)
    log = (work / "server.log").open("w")
    proc = subprocess.Popen(
        [str(home / "bin" / "spark-submit"), "--class", "org.apache.spark.sql.connect.service.SparkConnectServer",
         "--master", "local[2]", "--conf", f"spark.connect.grpc.binding.port={port}",
         "--conf", "spark.connect.grpc.binding.address=127.0.0.1", "--conf", "spark.ui.enabled=false",
         "--conf", "spark.driver.bindAddress=127.0.0.1", "--conf", "spark.driver.host=127.0.0.1",   # all on loopback
         "--conf", f"spark.sql.warehouse.dir={work / 'spark-warehouse'}",
         "--conf", f"spark.driver.extraJavaOptions=-Dderby.system.home={work}"],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=work)
    deadline = time.time() + 180
    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"JVM Spark Connect server exited: {(work / 'server.log').read_text()[-3000:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(1)
    else:
        proc.kill()
        pytest.fail("JVM Spark Connect server did not start within 180 s")
    yield f"sc://127.0.0.1:{port}"
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()


def _deliver(landing: Path) -> None:
    write_batch(landing, "medins", "20261101-001", {
        "psn_info": [PSN_HEADER + ",ext_remark", psn("P1") + ",x", psn("P2", "李四") + ",", "broken,row"],
        "setl": [SETL_HEADER, setl("S1"), setl("S2", amount="1.2.3"), setl("S3", begn="20261002")]})
    write_batch(landing, "medins", "20261108-001", {
        "psn_info": [PSN_HEADER + ",del_flag", psn("P1") + ",1", psn("P3", "王五") + ",0"]}, mode="incremental")
    write_batch(landing, "police", "20261101-001", {"resd_permit": [
        "certno,psn_name,gend,brdy,resd_admdvs,resd_addr,issue_date,expire_date",
        "610102198501011234,张三,1,1985-01-01,610102,西安,2025-01-01,2027-01-01"]}, encoding="gbk")


def _rows(path: Path, fmt: str) -> list[str]:
    if fmt == "delta":
        from deltalake import DeltaTable
        table = ds.dataset(DeltaTable(str(path)).file_uris(), format="parquet").to_table()
    else:
        table = ds.dataset(str(path), format="parquet").to_table()
    keep = [c for c in table.column_names if c not in ("_ingest_time", "ingest_time")]

    def plain(v):  # JVM Parquet stores timestamps as INT96 nanoseconds, Delta as microseconds in UTC
        return v.strftime("%Y-%m-%d %H:%M:%S") if isinstance(v, datetime.datetime) else v

    return sorted(repr({k: plain(v) for k, v in r.items()}) for r in table.select(keep).to_pylist())


def test_same_ingestion_on_jvm_spark_with_parquet(tmp_path, jvm_spark):
    sail_root, jvm_root = tmp_path / "sail", tmp_path / "jvm"
    _deliver(sail_root / "landing")
    _deliver(jvm_root / "landing")
    script = ("from yibao.config import load_settings; from yibao.ingestion.ingest import ingest; "
              "s = ingest(load_settings()); print(len(s.batches_applied), s.rows_landed, s.rows_quarantined)")
    results = {}
    for name, root, remote, fmt in (("sail", sail_root, "", "delta"), ("jvm", jvm_root, jvm_spark, "parquet")):
        env = dict(os.environ, YIBAO_DATA_ROOT=str(root), SPARK_REMOTE=remote, YIBAO_TABLE_FORMAT=fmt)
        run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stderr[-3000:]
        results[name] = run.stdout.strip().splitlines()[-1]
    assert results["sail"] == results["jvm"] == "3 7 2"
    for table in ("bronze/medins__psn_info", "bronze/medins__setl", "bronze/police__resd_permit", "meta/quarantine"):
        assert _rows(jvm_root / "warehouse" / table, "parquet") == _rows(sail_root / "warehouse" / table, "delta"), table
