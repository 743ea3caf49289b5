"""The ingestion code is not tied to Sail: the same run through Apache Spark's own (JVM) Spark Connect
server, from the pyspark wheel, with Parquet tables, lands the same rows."""

from __future__ import annotations

import datetime
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.dataset as ds
import pytest
from landing import write_batch
from test_ingestion import PSN_HEADER, SETL_HEADER, psn, setl

pytestmark = pytest.mark.jvm


@pytest.fixture(scope="module")
def jvm_spark(tmp_path_factory):
    if shutil.which("java") is None:
        pytest.fail("java is not installed: .ci/run installs it (openjdk-17-jre-headless)")
    from yibao.benchmarks.peer_jvm import spark_connect_server

    with spark_connect_server(tmp_path_factory.mktemp("jvm")) as (url, _, _):
        yield url


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
        from yibao.catalog import read_delta_arrow
        table = read_delta_arrow(path)   # the vectors of an incremental bronze merge applied
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
