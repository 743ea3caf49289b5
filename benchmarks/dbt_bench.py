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


from yibao.benchmarks.harness import dbt_groups
from yibao.benchmarks.measure import measure

HERE = Path(__file__).parent
BIN = Path(sys.executable).parent


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
    results["groups"] = dbt_groups(args.data_root.resolve() / "warehouse", m.samples)
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
