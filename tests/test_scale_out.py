"""Scale-out: the whole pipeline on a separately started Sail server in cluster mode (a driver and two workers that
exchange tasks and shuffle data over RPC) publishes the same gold tables as the embedded engine.

The server is ``sail spark server`` with ``SAIL_MODE=local-cluster``, started on a free loopback port and reached
through ``SPARK_REMOTE`` with a fixed session id, as a bureau reaches Sail on Kubernetes; it shares this
machine's filesystem with the pipeline (on Kubernetes: a volume mounted in every pod).  The JVM Spark run on
Parquet is slower and is a benchmark (``benchmarks/scale_out.py``), not a test.
"""

from __future__ import annotations

import pytest

from yibao.benchmarks.scale_out import compare_gold, compare_table, generate, run_pipeline_process, sail_cluster

PERSONS = 2000


def test_comparison_finds_what_differs_and_ignores_only_the_scoring_time():
    import datetime

    row = {"suspect_id": "S1", "score": 0.8123456789, "risk_level": "高", "rule_codes": "R01",
           "model_version": "v20261204160551-4a0a9801",
           "scored_at": datetime.datetime(2026, 12, 4, 16, 5, 53), "setl_ids": ["a", "b"]}
    keys = ("suspect_id",)
    same = dict(row, scored_at=datetime.datetime(2026, 12, 5, 9, 0), model_version="v20261205090000-4a0a9801",
                score=0.8123457)
    assert compare_table("fraud_suspect", [row], [same], keys).identical
    for changed in (dict(row, risk_level="中"), dict(row, score=0.8124), dict(row, setl_ids=["b", "a"]),
                    dict(row, model_version="v20261204160551-ffffffff")):
        c = compare_table("fraud_suspect", [row], [changed], keys)
        assert not c.identical and c.differing_rows == 1, changed
    assert compare_table("fraud_suspect", [row], [dict(row, suspect_id="S2")], keys).only_a == 1
    assert not compare_table("fraud_suspect", [row], None, keys).identical
    assert not compare_table("person_master", [{"person_id": "p"}], [{"person_id": "p", "x": 1}],
                             ("person_id",)).identical


def _check_run(run) -> None:
    assert run.returncode == 0 and run.summary, f"{run.engine}: the pipeline process failed\n{run.stderr_tail}"
    s = run.summary
    assert s["ok"], f"{run.engine}: {s['errors']} {s['quality_failures']}"
    # every stage ran, fraud included: the comparison below is of a complete run
    assert {"ingest", "quality (bronze)", "transform (dbt)", "quality (silver)", "quality (gold)", "fraud"} \
        <= set(s["stages"]), s["stages"]


@pytest.mark.slow
def test_pipeline_on_sail_cluster_publishes_the_embedded_gold(tmp_path):
    landing = tmp_path / "landing"
    generate(landing, PERSONS)

    embedded = run_pipeline_process("embedded", tmp_path / "embedded", landing, memory_gib=2)
    _check_run(embedded)

    with sail_cluster(tmp_path / "server", workers=2, task_slots=32, memory_gib=2) as server:
        cluster = run_pipeline_process("sail-cluster", tmp_path / "cluster", landing, server)
        workers = server.workers()
        listeners = server.listeners()
        server_pid = server.proc.pid
    # the server is stopped when the block ends, also when the run above raised
    assert server.proc.poll() is not None, f"the Sail server {server_pid} is still running"
    _check_run(cluster)

    # the work ran on the cluster: two workers registered with the driver, each serving on its own port, and the
    # pipeline process itself held no engine (a client: far below the embedded run's engine-and-client peak)
    assert len(workers) == 2, f"workers that registered: {workers}\n{server.log.read_text()[-2000:]}"
    worker_ports = {int(addr.rsplit(':', 1)[1]) for _, addr in workers}
    assert worker_ports <= {port for _, port in listeners}, (workers, listeners)
    # nothing listens beyond loopback: Spark Connect, driver and worker endpoints
    assert listeners and all(ip == "127.0.0.1" for ip, _ in listeners), listeners
    assert cluster.server_peak_gib > 0

    # the same batches, rows and outcome on both engines
    for key in ("batches_applied", "batches_rejected", "rows_landed", "rows_quarantined", "tables_held",
                "rows_excluded", "uninsured", "suspects_by_level"):
        assert cluster.summary[key] == embedded.summary[key], key

    comparison = compare_gold(tmp_path / "embedded" / "warehouse", tmp_path / "cluster" / "warehouse")
    report = "\n".join(c.describe() + "".join(f"\n    {e}" for e in c.examples) for c in comparison.values())
    assert all(c.identical for c in comparison.values()), report
    # a comparison of empty tables proves nothing: the province is big enough to fill each one
    assert all(c.rows_a for c in comparison.values()), report
