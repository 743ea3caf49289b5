"""Benchmark of the way in: generate a province, ingest it, and the DuckDB yardstick on the same files.

    .venv/bin/python benchmarks/ingest_bench.py --persons 1000000 --work /tmp/yibao-bench-1m

Each stage runs as its own process, measured by :mod:`measure` (wall time, peak RSS of the process
tree).  Results go to ``benchmarks/results/ingest-<persons>.json`` and a Markdown table is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
from datetime import datetime
from pathlib import Path

import psutil


from yibao.benchmarks.harness import landing_rows as _landing_rows
from yibao.benchmarks.measure import measure
from yibao.maintenance import disk_bytes as _du

HERE = Path(__file__).parent
BIN = Path(sys.executable).parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--persons", type=int, required=True)
    ap.add_argument("--work", type=Path, required=True, help="scratch directory (landing, warehouse, duckdb)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--reuse", action="store_true", help="reuse an existing landing zone in --work")
    ap.add_argument("--load-note", default="", help="what else ran on the machine (written with the results)")
    args = ap.parse_args()
    work = args.work.resolve()
    landing, warehouse = work / "landing", work / "warehouse"
    env = dict(os.environ, YIBAO_DATA_ROOT=str(work), SPARK_REMOTE="")
    results: dict = {"persons": args.persons, "date": datetime.now().isoformat(timespec="seconds"),
                     "machine": {"cpus": psutil.cpu_count(), "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
                                 "python": platform.python_version()}, "stages": {},
                     "load_average_at_start": os.getloadavg(), "load_note": args.load_note}
    if not (args.reuse and landing.is_dir()):
        shutil.rmtree(work, ignore_errors=True)
        m = measure([str(BIN / "yibao"), "generate", "--persons", str(args.persons), "--seed", str(args.seed),
                     "--out", str(landing)], env=env)
        if m.returncode:
            sys.exit(f"generate failed:\n{m.stderr[-3000:]}")
        results["stages"]["generate"] = {"seconds": m.seconds, "peak_rss_gib": m.peak_rss_gib}
    shutil.rmtree(warehouse, ignore_errors=True)
    rows = _landing_rows(landing)
    results["landing"] = {"rows": rows, "bytes": _du(landing)}
    m = measure([str(BIN / "yibao"), "ingest", "--landing", str(landing)], env=env)
    if m.returncode:
        sys.exit(f"ingest failed:\n{m.stderr[-3000:]}")
    results["stages"]["ingest"] = {"seconds": m.seconds, "peak_rss_gib": m.peak_rss_gib,
                                   "rows_per_second": rows / m.seconds, "warehouse_bytes": _du(warehouse),
                                   "summary": " ".join(l.strip() for l in m.stderr.splitlines()
                                                       if "ingested in" in l or "rows landed" in l)[:500]}
    duck = work / "duckdb"
    shutil.rmtree(duck, ignore_errors=True)
    m = measure([sys.executable, str(HERE / "duckdb_ingest.py"), str(landing), str(duck)], env=env)
    if m.returncode:
        sys.exit(f"duckdb failed:\n{m.stderr[-3000:]}")
    results["stages"]["duckdb_ingest"] = {"seconds": m.seconds, "peak_rss_gib": m.peak_rss_gib,
                                          "rows_per_second": rows / m.seconds, "parquet_bytes": _du(duck)}
    out = HERE / "results" / f"ingest-{args.persons}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False))
    print(f"| stage | wall s | peak RSS GiB | rows/s |\n|---|---|---|---|")
    for name, s in results["stages"].items():
        print(f"| {name} | {s['seconds']:.1f} | {s['peak_rss_gib']:.2f} | {s.get('rows_per_second', 0):,.0f} |")
    print(f"landing: {rows:,} rows, {results['landing']['bytes'] / 2**30:.2f} GiB; results in {out}")


if __name__ == "__main__":
    main()
