"""Load test of the dashboards: Locust users replay each role's dashboard requests against Superset.

    .venv/bin/python -m yibao.benchmarks.load --data-root /tmp/yibao-bench-1m [--users 100,200,400]
        [--duration 120] [--think 10,30] [--workers 2] [--label 1m]

The data root must hold a warehouse the pipeline has built (``yibao run``).  Steps:

1. **Serve.**  Superset is set up over the data root's read path with a throw-away PostgreSQL for its metadata
   (as in production: SQLite locks under concurrent writers) and started with ``--workers`` gunicorn workers
   (4 threads each), on 127.0.0.1 only.  ``--url`` uses a Superset already running instead (its logins file must be
   the data root's).
2. **Record.**  The administrator opens every dashboard in headless Chromium (``superset_side/render.py``) and
   every chart-data request the pages send is kept, with its class (``simple`` / ``complex``, as
   ``benchmarks/dashboard_queries.py`` classes the chart's query: the tenders want a simple query within 1 s, a
   complex one within 3 s).
3. **Load.**  For each user count, Locust (headless, ``benchmarks/locustfile.py``) starts that many users at
   ``--spawn-rate`` per second; each logs in as one of the demo users (the role mix below; the county and city
   analysts get their region's rows through row-level security) and opens its role's dashboards one after the
   other (page, metadata, every chart's data request), reading each for a think time of ``--think`` seconds.
   Latencies count from the moment the last user has started, for ``--duration`` seconds.
4. **Report.**  Per step (login, dashboard page, dashboard api, chart data simple / complex): requests, errors,
   p50 / p95 / p99 and throughput; the machine's CPU use while loaded; the slowest dashboards.  Written to
   ``<results>/load-<label>.json`` and ``.md``; ``benchmarks/RESULTS.md`` quotes them.

The load generator runs on the same two cores as Superset and DuckDB; its own CPU share is reported, so a
result is an upper bound on the latency a separate client machine would see.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
LIMITS = {"chart data: simple": 1.0, "chart data: complex": 3.0}
STEPS = ["login", "dashboard page", "dashboard api", "chart data: simple", "chart data: complex"]
# The role mix of the simulated users (demo users of yibao.dashboards.serve): region analysts are the many.
WEIGHTS = {"leader": 1, "analyst": 3, "xian_analyst": 3, "xincheng_analyst": 3, "supervisor": 2, "steward": 1}


def chart_classes() -> dict[str, str]:
    """slice name -> simple / complex, by the query the chart issues (``dashboard_queries.chart_sql``)."""
    from yibao.benchmarks.dashboard_queries import _load_bundle, chart_sql

    datasets, charts, _ = _load_bundle()
    out = {}
    for c in charts:
        try:
            out[c["slice_name"]] = chart_sql(c, datasets[c["dataset_uuid"]])[1]
        except (ValueError, KeyError):
            out[c["slice_name"]] = "complex"   # a chart type the model does not know: assume the worse class
    return out


def record(url: str, data_root: Path, out_dir: Path, slugs: list[str]) -> dict[str, dict]:
    """slug -> {"requests": [{"chart", "class", "body"}], "charts": n}: what each dashboard page sends."""
    from yibao.dashboards import serve

    job = {"url": url, "out_dir": str(out_dir / "screenshots"),
           "visits": [{"username": "admin", "password": serve.passwords(data_root, ["admin"])["admin"],
                       "dashboards": slugs, "full_page": True}]}
    jf, rf = out_dir / "record-job.json", out_dir / "record-result.json"
    jf.write_text(json.dumps(job, ensure_ascii=False), encoding="utf-8")
    subprocess.run([str(serve.venv_dir() / "bin" / "python"), str(serve.HERE / "superset_side" / "render.py"),
                    str(jf), str(rf)], check=True, timeout=1800)
    classes = chart_classes()
    plan = {}
    for page in json.loads(rf.read_text(encoding="utf-8")):
        # a request without a slice id is a native filter asking for its values: part of the page's load too
        reqs = [{"chart": c["slice_name"] or "筛选器取值", "slice_id": None if sid == "None" else int(sid),
                 "class": classes.get(c["slice_name"], "simple" if sid == "None" else "complex"), "body": c["request"]}
                for sid, c in page["charts"].items() if c.get("request") and c["status"] == 200]
        plan[page["slug"]] = {"requests": reqs, "charts": page["n_charts"]}
    return plan


def role_plan(data_root: Path, recorded: dict[str, dict]) -> list[dict]:
    """The simulated users: each demo user with its password, weight and the dashboards its roles read."""
    from yibao.dashboards import serve
    from yibao.dashboards.authoring import DASHBOARDS

    slug_of = {d["key"]: d["slug"] for d in DASHBOARDS}
    pw = serve.passwords(data_root, list(WEIGHTS))
    users = []
    for u in serve.DEMO_USERS:
        if u["username"] not in WEIGHTS:
            continue
        keys = [k for r in u["roles"] for k in serve.ROLE_DASHBOARDS.get(r, [])]
        dashboards = sorted({slug_of[k] for k in keys} & set(recorded))
        if dashboards:
            users.append({"username": u["username"], "password": pw[u["username"]], "weight": WEIGHTS[u["username"]],
                          "dashboards": dashboards})
    return users


class CpuSampler(threading.Thread):
    """The machine's CPU use (percent of all cores) and the load generator's own share, once a second."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.samples: list[tuple[float, float, float]] = []
        self.locust_pid: int | None = None
        self._stop = threading.Event()

    def run(self) -> None:
        import psutil

        psutil.cpu_percent(None)
        proc = None
        while not self._stop.wait(1.0):
            mine = 0.0
            if self.locust_pid and (proc is None or proc.pid != self.locust_pid):
                try:
                    proc = psutil.Process(self.locust_pid)
                    proc.cpu_percent(None)
                except psutil.Error:
                    proc = None
            elif proc is not None:
                try:
                    mine = proc.cpu_percent(None) / psutil.cpu_count()
                except psutil.Error:
                    proc = None
            self.samples.append((time.time(), psutil.cpu_percent(None), mine))

    def stop(self) -> None:
        self._stop.set()

    def between(self, t0: float, t1: float) -> dict:
        xs = [(c, m) for t, c, m in self.samples if t0 <= t <= t1]
        if not xs:
            return {"cpu_pct": None, "load_generator_cpu_pct": None}
        return {"cpu_pct": round(sum(c for c, _ in xs) / len(xs), 1),
                "load_generator_cpu_pct": round(sum(m for _, m in xs) / len(xs), 1)}


def _pct(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    k = min(len(xs) - 1, max(0, round(q / 100 * (len(xs) - 1))))
    return round(xs[k] / 1000, 3)


def summarise(samples: list[list], duration_s: float) -> dict:
    """Per step and per dashboard x step: requests, errors, p50/p95/p99 in seconds, requests per second (the
    samples after the last user started; logins: all)."""
    steady = [s for s in samples if s[4] is not None and s[4] >= 0]
    steps, dashboards = {}, {}
    for name in STEPS:
        # users log in when they start: logins are measured over the ramp-up, the rest once all users run
        rows = [s for s in (samples if name == "login" else steady) if s[0] == name]
        ok = [s[2] for s in rows if s[3]]
        steps[name] = {"requests": len(rows), "errors": len(rows) - len(ok),
                       "error_rate": round((len(rows) - len(ok)) / len(rows), 4) if rows else None,
                       "p50_s": _pct(ok, 50), "p95_s": _pct(ok, 95), "p99_s": _pct(ok, 99),
                       "per_s": round(len(rows) / duration_s, 2) if duration_s else None}
    for dash in sorted({s[1] for s in steady if s[1]}):
        for name in ("chart data: simple", "chart data: complex", "dashboard page"):
            ok = [s[2] for s in steady if s[1] == dash and s[0] == name and s[3]]
            if ok:
                dashboards.setdefault(dash, {})[name] = {"requests": len(ok), "p95_s": _pct(ok, 95)}
    return {"steps": steps, "dashboards": dashboards, "requests": sum(s["requests"] for s in steps.values()),
            "errors": sum(s["errors"] for s in steps.values())}


def run_locust(url: str, plan_file: Path, users: int, spawn_rate: float, duration_s: int, work: Path,
               cpu: CpuSampler) -> dict:
    samples_file = work / f"samples-{users}.json"
    ramp = users / spawn_rate
    env = dict(os.environ, YIBAO_LOAD_PLAN=str(plan_file), YIBAO_LOAD_SAMPLES=str(samples_file))
    cmd = [sys.executable, "-m", "locust", "-f", str(HERE / "locustfile.py"), "--headless", "--only-summary",
           "-u", str(users), "-r", str(spawn_rate), "-t", f"{int(ramp + duration_s)}s", "--host", url,
           "--stop-timeout", "60", "--loglevel", "WARNING", "--exit-code-on-error", "0"]
    t0 = time.time()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    cpu.locust_pid = proc.pid
    out, _ = proc.communicate(timeout=ramp + duration_s + 600)
    t1 = time.time()
    cpu.locust_pid = None
    if proc.returncode != 0 or not samples_file.is_file():
        raise RuntimeError(f"locust exited with {proc.returncode}:\n{out[-3000:]}")
    data = json.loads(samples_file.read_text(encoding="utf-8"))
    res = summarise(data["samples"], duration_s)
    spawned = data["spawned_at"] or t0 + ramp
    res.update(users=users, ramp_s=round(spawned - t0, 1), duration_s=duration_s, wall_s=round(t1 - t0, 1),
               **cpu.between(spawned, spawned + duration_s))
    fails = [ln for ln in out.splitlines() if "│" in ln or "Error" in ln or "error" in ln][-20:]
    res["failure_lines"] = fails if res["errors"] else []
    return res


def verdict(run: dict) -> dict:
    """Does the run meet the tenders' limits (p95 of simple ≤ 1 s, complex ≤ 3 s, no errors)?"""
    out = {}
    for step, limit in LIMITS.items():
        p95 = run["steps"][step]["p95_s"]
        out[step] = p95 is not None and p95 <= limit
    out["no errors"] = run["errors"] == 0
    return out


def markdown(res: dict) -> str:
    lines = [f"### Dashboard load test, {res['persons']:,} persons ({res['label']}, {res['started'][:16]})", "",
             f"Superset {res['workers']} gunicorn workers x 4 threads, PostgreSQL metadata, DuckDB read path; "
             f"think time {res['think_s'][0]}-{res['think_s'][1]} s; {res['recorded_requests']} chart requests "
             f"recorded over {len(res['dashboards'])} dashboards; each run measured for {res['duration_s']} s after "
             f"the last user started. Cache: {res['cache']}.", "",
             "| users | step | requests | errors | p50 s | p95 s | p99 s | req/s | CPU % (load generator) |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---|"]
    for run in res["runs"]:
        for step in STEPS:
            s = run["steps"][step]
            lines.append(f"| {run['users']} | {step} | {s['requests']:,} | {s['errors']:,} | {s['p50_s']} | "
                         f"{s['p95_s']} | {s['p99_s']} | {s['per_s']} | {run['cpu_pct']} ({run['load_generator_cpu_pct']}) |")
    lines += ["", "| users | simple p95 ≤ 1 s | complex p95 ≤ 3 s | no errors |", "|---:|---|---|---|"]
    for run in res["runs"]:
        v = run["verdict"]
        lines.append(f"| {run['users']} | {'yes' if v['chart data: simple'] else 'NO'} | "
                     f"{'yes' if v['chart data: complex'] else 'NO'} | {'yes' if v['no errors'] else 'NO'} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", type=Path, required=True)
    ap.add_argument("--users", default="100,200,400", help="comma-separated concurrent user counts, one run each")
    ap.add_argument("--duration", type=int, default=120, help="seconds measured per run, after the ramp-up")
    ap.add_argument("--spawn-rate", type=float, default=10.0, help="users started per second")
    ap.add_argument("--think", default="10,30", help="min,max seconds a user reads a dashboard before the next")
    ap.add_argument("--workers", type=int, default=2, help="gunicorn workers of the Superset started")
    ap.add_argument("--url", default=None, help="a running Superset over this data root (skips setup and start)")
    ap.add_argument("--results-dir", type=Path, default=RESULTS)
    ap.add_argument("--label", default=None, help="results file suffix (default: the person count)")
    args = ap.parse_args(argv)

    from yibao.config import load_settings
    from yibao.dashboards import readpath, serve
    from yibao.dashboards.authoring import DASHBOARDS

    root = args.data_root.resolve()
    warehouse = load_settings().with_(data_root=root).warehouse
    if not (warehouse / "gold" / "coverage_by_region" / "_delta_log").is_dir():
        print(f"{warehouse}/gold has no pipeline output: run `YIBAO_DATA_ROOT={root} yibao run --no-serve` first",
              file=sys.stderr)
        return 2
    readpath.register(root, warehouse)   # the read path of this warehouse, and an empty result cache
    con = readpath.connect(root)
    persons = con.execute("select count(*) from gold.person_master").fetchone()[0]
    con.close()
    label = args.label or str(persons)
    think = tuple(float(x) for x in args.think.split(","))
    counts = [int(x) for x in args.users.split(",")]
    args.results_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="yibao-load-"))
    pg = service = None
    try:
        url = args.url
        if not url:
            from yibao.benchmarks.pg import TempPostgres, free_port

            pg = TempPostgres(max_connections=300)
            uri = pg.start()
            print("setting up Superset (PostgreSQL metadata) ...", file=sys.stderr)
            serve.setup(root, warehouse, db_uri=uri, log=lambda *a: None)
            service = serve.start(root, port=free_port(), db_uri=uri, workers=args.workers, log=lambda *a: None)
            url = service.url
        print(f"recording the dashboards' requests at {url} ...", file=sys.stderr)
        recorded = record(url, root, work, [d["slug"] for d in DASHBOARDS])
        plan = {"users": role_plan(root, recorded), "dashboards": recorded, "think_s": think}
        plan_file = work / "plan.json"
        plan_file.write_text(json.dumps(plan, ensure_ascii=False), encoding="utf-8")
        cpu = CpuSampler()
        cpu.start()
        runs = []
        for n in counts:
            print(f"{n} users: ramp {n / args.spawn_rate:.0f} s, measure {args.duration} s ...", file=sys.stderr)
            run = run_locust(url, plan_file, n, args.spawn_rate, args.duration, work, cpu)
            run["verdict"] = verdict(run)
            runs.append(run)
            print(json.dumps({k: run[k] for k in ("users", "requests", "errors", "cpu_pct")}), file=sys.stderr)
        cpu.stop()
        res = {"label": label, "persons": persons, "started": datetime.now().isoformat(timespec="seconds"),
               "workers": args.workers, "think_s": think, "duration_s": args.duration, "url_given": bool(args.url),
               "cache": "Superset data cache on the file system (superset_config.py)",
               "dashboards": {k: {"charts": v["charts"], "requests": len(v["requests"])} for k, v in recorded.items()},
               "recorded_requests": sum(len(v["requests"]) for v in recorded.values()),
               "users": [{k: u[k] for k in ("username", "weight", "dashboards")} for u in plan["users"]],
               "runs": runs}
        (args.results_dir / f"load-{label}.json").write_text(json.dumps(res, ensure_ascii=False, indent=1),
                                                             encoding="utf-8")
        md = markdown(res)
        (args.results_dir / f"load-{label}.md").write_text(md, encoding="utf-8")
        print(md)
        return 0
    finally:
        if service:
            service.stop()
        if pg:
            pg.stop()


if __name__ == "__main__":
    sys.exit(main())
