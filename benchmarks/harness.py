"""``yibao bench``: the whole pipeline at a given size, every stage measured on its own.

    yibao bench --persons 1000000 --work /data/bench-1m            # generate, then every stage
    yibao bench --persons 1000000 --work /data/bench-1m --reuse    # keep the landing zone, redo the rest
    yibao bench --persons 1000000 --work /data/bench-1m --reuse --stages dbt,fraud   # only these (their
                                                                   # inputs must already be in --work)

Each stage is its own process (the same ``yibao`` commands an operator runs), measured by
:mod:`yibao.benchmarks.measure`: wall time, peak resident memory of the whole process tree (the embedded
engine runs inside it), rows per second where a stage has a natural row count, and the bytes on disk of every
layer after it.  The dbt stage is split into its model groups (seeds, staging, intermediate, marts, tests)
with dbt's own node timings, and each group's peak memory is read from the memory samples taken while its
nodes ran.  ``--peers`` adds the peer runs (:mod:`yibao.benchmarks.peers`: the same ingestion and person
deduplication on JVM Apache Spark and on DuckDB).

Results (``--results-dir``, default ``benchmarks/results``): ``bench-<label>.json`` (everything, including the
machine and its load), ``bench-<label>.md`` (the table that goes into RESULTS.md) and the dashboard query
replay's own ``dashboard-queries-<persons>.json``.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable

import psutil

from yibao.benchmarks.measure import Measurement, measure
from yibao.maintenance import disk_bytes as du

RESULTS = Path(__file__).resolve().parent / "results"
BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Stage:
    name: str
    title: str
    command: Callable[["BenchContext"], list[str]]
    rows: Callable[["BenchContext"], int | None] = lambda ctx: None


@dataclass
class BenchContext:
    persons: int
    work: Path
    seed: int
    runs: int
    results_dir: Path
    gzip: bool = False

    @property
    def landing(self) -> Path:
        return self.work / "landing"

    @property
    def warehouse(self) -> Path:
        return self.work / "warehouse"


def _yibao(*args: str) -> Callable[[BenchContext], list[str]]:
    return lambda ctx: [str(BIN / "yibao"), *args]


def landing_rows(landing: Path) -> int:
    """Data rows delivered, from the batches' manifests (the deliberately corrupted one is skipped)."""
    total = 0
    for m in landing.glob("*/*/_manifest.json"):
        try:
            total += sum(f["rows"] for f in json.loads(m.read_text(encoding="utf-8"))["files"])
        except (ValueError, KeyError):
            pass
    return total


def _table_rows(warehouse: Path, schemas: tuple[str, ...]) -> int:
    """Rows of the current version of every Delta table under the schemas (from the Delta log, no scan)."""
    from deltalake import DeltaTable

    total = 0
    for schema in schemas:
        for table in sorted((warehouse / schema).glob("*/_delta_log")):
            try:
                actions = DeltaTable(str(table.parent)).get_add_actions(flatten=True)
                total += sum(v for v in actions.column("num_records").to_pylist() if v is not None)
            except Exception:  # a table another engine left unreadable counts as zero, not as a crash
                continue
    return total


STAGES: tuple[Stage, ...] = (
    Stage("generate", "generate (synthetic landing zone)",
          lambda ctx: [str(BIN / "yibao"), "generate", "--persons", str(ctx.persons), "--seed", str(ctx.seed),
                       "--out", str(ctx.landing), "--workers", "2"] + (["--gzip"] if ctx.gzip else []),
          lambda ctx: landing_rows(ctx.landing)),
    Stage("ingest", "ingest (landing -> bronze)", lambda ctx: [str(BIN / "yibao"), "ingest", "--landing", str(ctx.landing)],
          lambda ctx: landing_rows(ctx.landing)),
    Stage("quality_bronze", "quality gate (bronze)", _yibao("quality", "--layer", "bronze"),
          lambda ctx: _table_rows(ctx.warehouse, ("bronze",))),
    Stage("dbt", "dbt build (silver, gold)", _yibao("transform"),
          lambda ctx: _table_rows(ctx.warehouse, ("silver", "gold"))),
    Stage("quality_silver", "quality (silver)", _yibao("quality", "--layer", "silver"),
          lambda ctx: _table_rows(ctx.warehouse, ("silver",))),
    Stage("quality_gold", "quality (gold)", _yibao("quality", "--layer", "gold"),
          lambda ctx: _table_rows(ctx.warehouse, ("gold",))),
    Stage("fraud", "fraud scoring (suspect list)", _yibao("suspects", "score")),
    Stage("serving", "serving refresh (DuckDB read path)", _yibao("serve", "--refresh")),
    Stage("dashboard_queries", "dashboard queries (p95)",
          lambda ctx: [sys.executable, "-m", "yibao.benchmarks.dashboard_queries", "--data-root", str(ctx.work),
                       "--no-refresh", "--runs", str(ctx.runs), "--results-dir", str(ctx.results_dir)]),
)
STAGE_NAMES = tuple(s.name for s in STAGES)
# One day of operation (``--days``): the generator delivers the next day's incremental batches, then the
# stages an operator's daily `yibao run` goes through run on the warehouse already built, each measured.
DAY_STAGES: tuple[Stage, ...] = (
    Stage("generate_day", "generate one day (incremental batches)",
          lambda ctx: [str(BIN / "yibao"), "generate", "--days", "1", "--out", str(ctx.landing), "--workers", "2"]),
    *(s for s in STAGES if s.name not in ("generate", "dashboard_queries")),
    # what `yibao run` does last; retention 0 gives the disk a warehouse keeps when its daily runs are a day apart
    Stage("maintain", "maintain (vacuum; retention 0 = daily steady state)", _yibao("maintain", "--retain-hours", "0")),
)
# what each stage writes, for the "on disk" column of the Markdown table (the JSON has every layer after every stage)
WRITES = {"generate": ("landing",), "ingest": ("bronze", "meta"), "dbt": ("silver", "gold", "spill"),
          "fraud": ("gold", "spill"), "serving": ("serving",)}


def dbt_groups(warehouse: Path, samples: list[tuple[float, int]]) -> dict:
    """dbt's node timings summed per model group, with the peak memory sampled while the group's nodes ran."""
    target = warehouse / "_dbt" / "target"
    nodes = json.loads((target / "manifest.json").read_text())["nodes"]
    groups: dict[str, dict] = {}
    for r in json.loads((target / "run_results.json").read_text())["results"]:
        node = nodes.get(r["unique_id"], {})
        if node.get("resource_type") in ("seed", "test"):
            group = node["resource_type"] + "s"
        else:
            parts = Path(node.get("original_file_path", "x")).parts
            group = parts[1] if len(parts) > 2 and parts[0] == "models" else "other"
        g = groups.setdefault(group, {"nodes": 0, "seconds": 0.0, "peak_rss_gib": 0.0, "slowest": ["", 0.0]})
        g["nodes"] += 1
        g["seconds"] += r["execution_time"]
        if r["execution_time"] > g["slowest"][1]:
            g["slowest"] = [r["unique_id"].split(".")[-1], round(r["execution_time"], 1)]
        for t in r.get("timing", []):
            if t.get("name") == "execute" and t.get("started_at") and t.get("completed_at"):
                start = datetime.fromisoformat(t["started_at"].replace("Z", "+00:00")).timestamp()
                end = datetime.fromisoformat(t["completed_at"].replace("Z", "+00:00")).timestamp()
                peak = max((rss for ts, rss in samples if start <= ts <= end), default=0)
                g["peak_rss_gib"] = max(g["peak_rss_gib"], round(peak / 2**30, 2))
    for g in groups.values():
        g["seconds"] = round(g["seconds"], 1)
    return groups


def _dashboard_summary(m: Measurement) -> dict:
    path = Path(m.stdout.strip().splitlines()[-1]) if m.stdout.strip() else None
    if not path or not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {"results_file": str(path), "persons": data["persons"], "queries": len(data["queries"]),
            "errors": len(data["errors"]),
            **{f"{cls}_max_p95_s": s["max_p95_s"] for cls, s in data["summary"].items()},
            "over_limit": sum((s["over_limit"] for s in data["summary"].values()), [])}


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def _machine() -> dict:
    import duckdb
    import pysail

    return {"cpus": psutil.cpu_count(), "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(), "pysail": getattr(pysail, "__version__", "?"),
            "duckdb": duckdb.__version__, "commit": _git_commit()}


def _measure_stage(stage: Stage, ctx: BenchContext, env: dict, work: Path,
                   on_progress: Callable[[str, float, int], None] | None) -> dict:
    """One stage as its own process: wall time, peak memory, rows/s, bytes on disk of every layer after it."""
    m = measure(stage.command(ctx), env=env,
                on_sample=(lambda s, r, n=stage.name: on_progress(n, s, r)) if on_progress else None)
    rec: dict = {"title": stage.title, "seconds": round(m.seconds, 1), "peak_rss_gib": round(m.peak_rss_gib, 2),
                 "returncode": m.returncode}
    if m.returncode:
        rec["error"] = (m.stderr.strip() or m.stdout.strip())[-4000:]
        return rec
    rows = stage.rows(ctx)
    if rows:
        rec["rows"] = rows
        rec["rows_per_second"] = round(rows / m.seconds)
    rec["disk_bytes"] = {"landing": du(ctx.landing), **{s: du(ctx.warehouse / s) for s in
                                                        ("bronze", "silver", "gold", "meta")},
                         "serving": du(work / "serving"), "spill": du(work / "spill")}
    held = [line.split(":")[0].split()[-1] for line in m.stdout.splitlines() if line.startswith("held ")]
    if held:
        rec["held"] = held
    if stage.name == "dbt":
        rec["groups"] = dbt_groups(ctx.warehouse, m.samples)
    if stage.name == "dashboard_queries":
        rec["queries"] = _dashboard_summary(m)
    return rec


def run_days(ctx: BenchContext, days: int, env: dict, results: dict,
             on_progress: Callable[[str, float, int], None] | None = None,
             on_stage_done: Callable[[str, dict], None] | None = None) -> None:
    """``days`` daily rounds on the warehouse in ``ctx.work``: each round generates the next day's batches and
    runs DAY_STAGES on them, every stage measured; appended to ``results["days"]``.  A failing stage stops."""
    if not (ctx.warehouse / "meta" / "ingest_batch").is_dir():
        raise FileNotFoundError(f"{ctx.warehouse} has no warehouse: --days needs a full load first "
                                f"(run without --reuse, or with the ingest stage)")
    results.setdefault("days", [])
    for _ in range(days):
        delivered_before = landing_rows(ctx.landing)
        day: dict = {"stages": {}}
        results["days"].append(day)
        for stage in DAY_STAGES:
            rec = _measure_stage(stage, ctx, env, ctx.work, on_progress)
            day["stages"][stage.name] = rec
            if on_stage_done:
                on_stage_done(f"day {len(results['days'])}: {stage.name}", rec)
            if rec["returncode"]:
                results["ok"] = False
                return
            if stage.name == "generate_day":
                day["rows_delivered"] = landing_rows(ctx.landing) - delivered_before
                day["bronze_rows_before"] = _table_rows(ctx.warehouse, ("bronze",))


def run_bench(persons: int, work: Path, *, reuse: bool = False, stages: tuple[str, ...] | None = None,
              seed: int = 42, runs: int = 10, label: str | None = None, peers: bool = False,
              results_dir: Path = RESULTS, gzip: bool = False, days: int = 0,
              on_progress: Callable[[str, float, int], None] | None = None,
              on_stage_done: Callable[[str, dict], None] | None = None) -> dict:
    """Run the stages in order, each measured; return (and write) the results.

    ``stages`` defaults to every stage; without ``reuse`` the work directory is wiped and the landing zone
    generated.  ``days``: then that many daily rounds (:func:`run_days`); with ``reuse`` and no ``stages``,
    only the daily rounds, on the warehouse already in ``work``.  A failing stage stops the run (later stages need its output) and is recorded with the tail
    of its error output; the results file is written either way.
    """
    work = work.resolve()
    ctx = BenchContext(persons, work, seed, runs, results_dir, gzip)
    chosen = list(stages if stages is not None else ([] if (days and reuse) else STAGE_NAMES))
    unknown = set(chosen) - set(STAGE_NAMES)
    if unknown:
        raise ValueError(f"unknown stages {sorted(unknown)}; known: {', '.join(STAGE_NAMES)}")
    if reuse and ctx.landing.is_dir() and "generate" in chosen and stages is None:
        chosen.remove("generate")
    if "generate" in chosen:
        shutil.rmtree(work, ignore_errors=True)
    elif not ctx.landing.is_dir():
        raise FileNotFoundError(f"{ctx.landing} has no landing zone: run without --reuse (or with the generate stage)")
    if "ingest" in chosen:  # a fresh warehouse: the stages after it measure a first full run
        for sub in ("warehouse", "serving", "models", "reports", "spill"):
            shutil.rmtree(work / sub, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)

    env = dict(os.environ, YIBAO_DATA_ROOT=str(work), SPARK_REMOTE="")
    env.pop("YIBAO_LANDING_ROOT", None)
    env.pop("YIBAO_WAREHOUSE_ROOT", None)
    command = " ".join([f"yibao bench --persons {persons} --work {work}"] + (["--reuse"] if reuse else [])
                       + ([f"--stages {','.join(stages)}"] if stages else []) + (["--gzip"] if gzip else [])
                       + ([f"--days {days}"] if days else [])
                       + ([f"--seed {seed}"] if seed != 42 else []) + ([f"--label {label}"] if label else []))
    label = label or f"{persons}"
    results: dict = {"persons": persons, "label": label, "work": str(work), "seed": seed, "command": command,
                     "started": datetime.now().isoformat(timespec="seconds"), "machine": _machine(),
                     "load_average_at_start": [round(x, 2) for x in os.getloadavg()], "stages": {}, "ok": True}
    for stage in STAGES:
        if stage.name not in chosen:
            continue
        rec = _measure_stage(stage, ctx, env, work, on_progress)
        results["stages"][stage.name] = rec
        if on_stage_done:
            on_stage_done(stage.name, rec)
        if rec["returncode"]:
            results["ok"] = False
            break
    if days and results["ok"]:
        run_days(ctx, days, env, results, on_progress, on_stage_done)
    if peers and results["ok"]:
        from yibao.benchmarks.peers import run_peers

        results["peers"] = run_peers(ctx.landing, work / "peers")
    results["finished"] = datetime.now().isoformat(timespec="seconds")
    results["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results_dir.mkdir(parents=True, exist_ok=True)
    out = results_dir / f"bench-{label}.json"
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")
    (results_dir / f"bench-{label}.md").write_text(markdown(results), encoding="utf-8")
    results["results_file"] = str(out)
    return results


def markdown(results: dict) -> str:
    """The results as the Markdown that goes into RESULTS.md."""
    mach = results["machine"]
    lines = [f"### {results['persons']:,} persons ({results['started'][:10]}, commit {mach.get('commit', '?')}, "
             f"{mach['cpus']} cores, {mach['memory_gib']} GiB; load at start "
             f"{'/'.join(str(x) for x in results['load_average_at_start'])})", "",
             "`%s`" % (results.get("command") or f"yibao bench --persons {results['persons']} --work {results['work']}"),
             ""]
    if results["stages"]:
        lines += _stages_markdown(results)
    if results.get("days"):
        lines += ([""] if results["stages"] else []) + days_markdown(results["days"])
    for name, s in [*results["stages"].items(),
                    *((f"day {i}: {n}", s) for i, d in enumerate(results.get("days", []), 1)
                      for n, s in d["stages"].items())]:
        if s.get("error"):
            lines += ["", f"{name} failed:", "```", s["error"][-1500:], "```"]
    return "\n".join(lines) + "\n"


def _stages_markdown(results: dict) -> list[str]:
    lines = ["| stage | wall s | peak RSS GiB | rows | rows/s | written, on disk (GiB) |",
             "|---|---:|---:|---:|---:|---|"]
    total = 0.0
    for name, s in results["stages"].items():
        total += s["seconds"] if name not in ("generate", "dashboard_queries") else 0
        disk = s.get("disk_bytes", {})
        disk_txt = ", ".join(f"{k} {disk[k] / 2**30:.2f}" for k in WRITES.get(name, ()) if disk.get(k))
        rows = f"{s['rows']:,}" if s.get("rows") else ""
        rps = f"{s['rows_per_second']:,}" if s.get("rows_per_second") else ""
        status = "" if not s.get("returncode") else " **failed**"
        if s.get("held"):
            status += f" (held: {', '.join(s['held'])})"
        lines.append(f"| {s['title']}{status} | {s['seconds']:.1f} | {s['peak_rss_gib']:.2f} | {rows} | {rps} | {disk_txt} |")
    lines.append(f"| **ingest to suspect list and serving (no generate, no query replay)** | **{total:.1f}** | | | | |")
    dbt = results["stages"].get("dbt", {}).get("groups")
    if dbt:
        lines += ["", "| dbt group | nodes | seconds | peak RSS GiB | slowest node |", "|---|---:|---:|---:|---|"]
        for g, v in dbt.items():
            lines.append(f"| {g} | {v['nodes']} | {v['seconds']:.1f} | {v['peak_rss_gib']:.2f} | "
                         f"{v['slowest'][0]} ({v['slowest'][1]} s) |")
    q = results["stages"].get("dashboard_queries", {}).get("queries")
    if q:
        lines += ["", f"Dashboard queries: {q['queries']} queries, simple p95 max {q.get('simple_max_p95_s')} s "
                      f"(limit 1 s), complex p95 max {q.get('complex_max_p95_s')} s (limit 3 s), "
                      f"errors {q['errors']}, over limit: {q['over_limit'] or 'none'}"]
    return lines


def days_markdown(days: list[dict]) -> list[str]:
    """One column per day: each stage's wall seconds and peak memory, the day's run end to end."""
    lines = ["| daily run: stage (wall s / peak RSS GiB) | " + " | ".join(f"day {i}" for i in range(1, len(days) + 1))
             + " |", "|---|" + "---:|" * len(days),
             "| rows delivered that day | " + " | ".join(f"{d.get('rows_delivered', 0):,}" for d in days) + " |",
             "| bronze rows before the day | " + " | ".join(f"{d.get('bronze_rows_before', 0):,}" for d in days) + " |"]
    for stage in DAY_STAGES:
        n, title = stage.name, stage.title
        cells = [f"{d['stages'][n]['seconds']:.1f} / {d['stages'][n]['peak_rss_gib']:.2f}"
                 + (" **failed**" if d["stages"][n].get("returncode") else "") if n in d["stages"] else "—"
                 for d in days]
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
        if n == "dbt":   # where dbt's time goes, by model group (dbt's own node timings)
            groups = sorted({g for d in days for g in d["stages"].get("dbt", {}).get("groups", {})})
            for g in groups:
                lines.append(f"| &nbsp;&nbsp;dbt {g} | " + " | ".join(
                    f"{d['stages']['dbt']['groups'][g]['seconds']:.1f}"
                    if g in d["stages"].get("dbt", {}).get("groups", {}) else "—" for d in days) + " |")
    run = [sum(s["seconds"] for n, s in d["stages"].items() if n != "generate_day") for d in days]
    lines.append("| **daily run, ingest to maintain** | " + " | ".join(f"**{x:.1f}**" for x in run) + " |")

    def warehouse_gib(d: dict, stage: str) -> str:
        disk = d["stages"].get(stage, {}).get("disk_bytes")
        return f"{sum(disk.get(k, 0) for k in ('bronze', 'silver', 'gold', 'meta')) / 2**30:.2f}" if disk else "—"

    lines.append("| warehouse GiB before the vacuum (after serving) | "
                 + " | ".join(warehouse_gib(d, "serving") for d in days) + " |")
    lines.append("| warehouse GiB after the vacuum | " + " | ".join(warehouse_gib(d, "maintain") for d in days) + " |")
    return lines
