"""Peer runs (issue 8): the same ingestion and person deduplication on the embedded Sail engine, on Apache
Spark's JVM Spark Connect server (local mode, Parquet) and on DuckDB (the same dbt SQL, transpiled) land the
same bronze rows and build the same person master."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.jvm


def test_duckdb_macros_keep_spark_meaning():
    """The functions sqlglot does not carry over with Spark's meaning (see peer_duckdb.MACROS)."""
    import duckdb

    from yibao.benchmarks.peer_duckdb import MACROS, to_duckdb

    con = duckdb.connect()
    for ddl in MACROS.values():
        con.execute(ddl)
    sql = to_duckdb("select levenshtein('张三', '张四') as a, levenshtein('kitten', 'sitting') as b, "
                    "levenshtein('张三丰', '张四') as c, pmod(-7, 3) as d, "
                    "unix_timestamp(timestamp'1970-01-02 00:00:01') as e, concat('C', null) as f")
    assert con.execute(sql).fetchone() == (1, 3, 2, 2, 86401, None)


def test_peer_runs_agree(tmp_path):
    if shutil.which("java") is None:
        pytest.fail("java is not installed: .ci/run installs it (openjdk-17-jre-headless)")
    from yibao.benchmarks.peers import ENGINES, markdown, run_peers

    landing = tmp_path / "landing"
    gen = subprocess.run([str(Path(sys.executable).parent / "yibao"), "generate", "--persons", "2000",
                          "--out", str(landing)], capture_output=True, text=True, timeout=300)
    assert gen.returncode == 0, gen.stderr[-3000:]
    results = run_peers(landing, tmp_path / "work", memory_gib=2, results_dir=tmp_path / "results")
    print(markdown(results))
    assert not results["failed_steps"], {e: {s: r.get("error", "")[-2000:] for s, r in steps.items()}
                                         for e, steps in results["engines"].items()}
    par = results["parity"]
    assert par["ok"], par["mismatches"]
    counts = {e: st["person_master_rows"] for e, st in par["dedup"].items()}
    assert set(counts) == set(ENGINES) and len(set(counts.values())) == 1, counts
    assert 1900 <= counts["sail"] <= 2100, counts           # about one row per generated person
    assert set(par["person_ids_differing"].values()) == {0}
    for engine, steps in results["engines"].items():
        for step in ("ingest", "seed", "dedup"):
            assert steps[step]["seconds"] > 0, (engine, step)
        assert steps["ingest"]["rows"] == results["landing_rows"] > 0
    assert results["engines"]["duckdb"]["ingest"]["batches_rejected"]  # the generator's one corrupted batch
    for ratio in ("jvm/sail", "sail/duckdb"):
        assert results["ratios"][ratio]["dedup_seconds"] > 0
    saved = json.loads((tmp_path / "results" / "peers-2000.json").read_text())
    assert saved["parity"]["ok"]
