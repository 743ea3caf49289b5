"""Benchmark of the dbt layers on a data root whose bronze is already ingested.

    .venv/bin/python benchmarks/dbt_bench.py --data-root /tmp/yibao-bench-1m

Runs one ``yibao transform build`` (seed + run + test) as its own process, measured for wall time and peak
memory, then reads dbt's run_results.json to split the time by model group (seeds, staging, intermediate,
marts, tests).  The groups cannot run as separate processes: the intermediate layer reads a gold model
(int_person_status needs person_master), so peak memory is for the whole build.  Writes
``benchmarks/results/dbt-<label>.json`` plus a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime
from pathlib import Path


from yibao.benchmarks.measure import measure

HERE = Path(__file__).parent
BIN = Path(sys.executable).parent


def _group(node: dict) -> str:
    if node["resource_type"] == "seed":
        return "seeds"
    if node["resource_type"] == "test":
        return "tests"
    parts = Path(node["original_file_path"]).parts
    return parts[1] if len(parts) > 2 and parts[0] == "models" else node["resource_type"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-root", type=Path, required=True)
    ap.add_argument("--label", default=None, help="name of the results file (default: the data root's name)")
    ap.add_argument("--load-note", default="", help="what else ran on the machine")
    args = ap.parse_args()
    env = dict(os.environ, YIBAO_DATA_ROOT=str(args.data_root.resolve()), SPARK_REMOTE="")
    results = {"data_root": str(args.data_root), "date": datetime.now().isoformat(timespec="seconds"),
               "load_average_at_start": os.getloadavg(), "load_note": args.load_note, "groups": {}}
    m = measure([str(BIN / "yibao"), "transform", "build"], env=env)
    if m.returncode:
        sys.exit(f"dbt build failed:\n{m.stdout[-3000:]}\n{m.stderr[-3000:]}")
    results["build"] = {"seconds": m.seconds, "peak_rss_gib": m.peak_rss_gib}
    target = args.data_root.resolve() / "warehouse" / "_dbt" / "target"
    nodes = json.loads((target / "manifest.json").read_text())["nodes"]
    for r in json.loads((target / "run_results.json").read_text())["results"]:
        node = nodes.get(r["unique_id"])
        group = _group(node) if node else "other"
        g = results["groups"].setdefault(group, {"seconds": 0.0, "nodes": 0, "slowest": ["", 0.0]})
        g["seconds"] += r["execution_time"]
        g["nodes"] += 1
        if r["execution_time"] > g["slowest"][1]:
            g["slowest"] = [r["unique_id"].split(".")[-1], r["execution_time"]]
    out = HERE / "results" / f"dbt-{args.label or args.data_root.name}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"dbt build: {m.seconds:.1f} s wall, {m.peak_rss_gib:.2f} GiB peak")
    print("| model group | nodes | seconds | slowest |\n|---|---:|---:|---|")
    for name, r in results["groups"].items():
        print(f"| {name} | {r['nodes']} | {r['seconds']:.1f} | {r['slowest'][0]} ({r['slowest'][1]:.1f} s) |")
    print(f"results in {out}")


if __name__ == "__main__":
    main()
