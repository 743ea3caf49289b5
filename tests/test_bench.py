"""`yibao bench` end to end on a tiny province: every stage runs as its own measured process and the
results file says what each stage did (rows, memory, bytes on disk, dbt groups, dashboard queries)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from yibao.benchmarks.harness import DAY_STAGES, STAGE_NAMES, markdown

YIBAO = str(Path(sys.executable).with_name("yibao"))
MARTS = Path(__file__).resolve().parents[1] / "dbt_project" / "models" / "marts"


def _bench(work: Path, results: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, SPARK_REMOTE="", YIBAO_DATA_ROOT=str(work))
    return subprocess.run([YIBAO, "bench", "--persons", "2000", "--work", str(work), "--runs", "1",
                           "--results-dir", str(results), "--label", "t", *args],
                          env=env, capture_output=True, text=True, timeout=1500)


def test_bench_measures_every_stage(tmp_path):
    work, results = tmp_path / "bench", tmp_path / "results"
    proc = _bench(work, results)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    res = json.loads((results / "bench-t.json").read_text(encoding="utf-8"))
    assert res["ok"] and list(res["stages"]) == list(STAGE_NAMES)
    st = res["stages"]
    for name, s in st.items():
        assert s["returncode"] == 0 and s["seconds"] > 0 and s["peak_rss_gib"] > 0, name
    # the generator's manifests count the rows; the ingest stage reports the same rows
    assert st["generate"]["rows"] == st["ingest"]["rows"] > 20_000
    assert st["ingest"]["disk_bytes"]["bronze"] > 0 and st["generate"]["disk_bytes"]["bronze"] == 0
    assert st["dbt"]["disk_bytes"]["gold"] > 0 and st["dbt"]["rows"] > 0
    assert st["serving"]["disk_bytes"]["serving"] > 0
    groups = st["dbt"]["groups"]
    assert {"seeds", "staging", "intermediate", "marts", "tests"} <= set(groups)
    assert all(g["nodes"] > 0 and g["peak_rss_gib"] > 0 for g in groups.values())
    # every mart but the forecast's (tag forecast: built by the forecast stage, not by the main dbt build)
    assert groups["marts"]["nodes"] == len([m for m in MARTS.glob("*.sql") if "tags=['forecast']" not in m.read_text()])
    q = st["dashboard_queries"]["queries"]
    assert q["queries"] > 50 and q["errors"] == 0 and q["simple_max_p95_s"] < 1.0
    md = (results / "bench-t.md").read_text(encoding="utf-8")
    assert md == markdown(res) and "| dbt group |" in md and "2,000 persons" in md

    # --reuse --days: one daily round on the warehouse built, every stage of the daily run measured
    proc = _bench(work, results, "--reuse", "--days", "1")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    daily = json.loads((results / "bench-t.json").read_text(encoding="utf-8"))
    assert daily["ok"] and daily["stages"] == {} and len(daily["days"]) == 1
    day = daily["days"][0]
    assert list(day["stages"]) == [s.name for s in DAY_STAGES]
    assert all(s["returncode"] == 0 and s["seconds"] > 0 and s["peak_rss_gib"] > 0 for s in day["stages"].values())
    # a day is a small delivery next to the full load, and it landed
    assert 0 < day["rows_delivered"] < st["ingest"]["rows"] // 5
    assert day["stages"]["ingest"]["rows"] == st["ingest"]["rows"] + day["rows_delivered"]
    assert day["bronze_rows_before"] > st["ingest"]["rows"] // 2 and day["stages"]["dbt"]["groups"]["staging"]["nodes"] > 0
    md = (results / "bench-t.md").read_text(encoding="utf-8")
    assert md == markdown(daily) and "| daily run: stage" in md and "| stage |" not in md

    # --reuse keeps the landing zone and re-measures only the chosen stages, on the same data
    stamp = (work / "landing" / "medins").stat().st_mtime_ns
    proc = _bench(work, results, "--reuse", "--stages", "ingest,quality_bronze")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    again = json.loads((results / "bench-t.json").read_text(encoding="utf-8"))
    assert list(again["stages"]) == ["ingest", "quality_bronze"]
    assert again["stages"]["ingest"]["rows"] == day["stages"]["ingest"]["rows"]
    assert (work / "landing" / "medins").stat().st_mtime_ns == stamp

    # a stage whose input is missing fails clearly, and the run says so
    proc = _bench(tmp_path / "empty", results, "--reuse", "--stages", "dbt")
    assert proc.returncode == 2 and "no landing zone" in " ".join((proc.stdout + proc.stderr).split())   # wrapped
    assert (results / f"dashboard-queries-{q['persons']}.json").is_file()
