"""Benchmark of the way out: every dashboard chart's query on the serving DuckDB file, as Superset issues it.

    .venv/bin/python benchmarks/dashboard_queries.py --data-root /tmp/yibao-bench-100k [--runs 20]

The data root must hold a warehouse the pipeline has built (``yibao run``); if its gold tables are missing the
script says so and stops (build one with ``yibao generate --persons N --out <root>/landing`` and
``YIBAO_DATA_ROOT=<root> yibao run --no-serve``).  The read path (``<root>/serving/yibao.duckdb``) is rebuilt
first with ``readpath.register`` (``--no-refresh`` keeps the existing file), then opened **read-only**, as
Superset opens it.

Each chart of ``dashboards/bundle/charts`` is turned into the SQL Superset's DuckDB dialect generates for it:
the dataset's saved metrics (their SQL expressions), the chart's x axis / group-by / columns, its adhoc
filters, ``GROUP BY`` / ``ORDER BY`` / ``LIMIT`` as the chart type implies (time series: month truncation of the
x axis and the top-``series_limit`` series subquery; tables: raw or aggregate mode), and, for each native
filter of the dashboards, the ``SELECT DISTINCT`` that fills its drop-down.  Every query runs ``--runs`` times
(after one warm-up), each time on a new read-only connection as Superset's NullPool engines do
(``--reuse-connection``: one connection for all); p50 / p95 go to
``benchmarks/results/dashboard-queries-<persons>.json`` and a Markdown table is printed.
``--compare-views N`` also times each query N times on a read path of views over ``delta_scan`` (the read path
before materialisation).

Classes (the tenders: a simple query within 1 s, a complex one within 3 s):
- simple: one aggregate or one group-by over one view (big numbers, pies, single-series bars, filter values)
- complex: a series breakdown (group-by + x axis, time series with top-N series), detail lists (raw tables
  with sorting), and everything on the views that unnest or join per row (uninsured_reason,
  fraud_suspect_rule, duplicate_enrollment, fund_risk_latest, quality_result).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
BUNDLE = REPO / "dashboards" / "bundle"
RESULTS = Path(__file__).resolve().parent / "results"
HEAVY_VIEWS = {"uninsured_reason", "fraud_suspect_rule", "duplicate_enrollment", "fund_risk_latest", "quality_result"}
LIMITS = {"simple": 1.0, "complex": 3.0}


def _q(col: str) -> str:
    return '"' + col.replace('"', '""') + '"'


def _load_bundle() -> tuple[dict, list[dict], list[dict]]:
    datasets = {}
    for p in (BUNDLE / "datasets").rglob("*.yaml"):
        d = yaml.safe_load(p.read_text(encoding="utf-8"))
        datasets[d["uuid"]] = d
    charts = [yaml.safe_load(p.read_text(encoding="utf-8")) for p in sorted((BUNDLE / "charts").glob("*.yaml"))]
    dashboards = [yaml.safe_load(p.read_text(encoding="utf-8")) for p in sorted((BUNDLE / "dashboards").glob("*.yaml"))]
    return datasets, charts, dashboards


def _metric(ds: dict, name: str) -> tuple[str, str]:
    for m in ds["metrics"]:
        if m["metric_name"] == name:
            return m["expression"], name
    raise KeyError(f"{ds['table_name']}: no metric {name}")


def _where(params: dict, rls: str | None) -> str:
    conds = [f"({f['sqlExpression']})" for f in params.get("adhoc_filters") or [] if f.get("clause") == "WHERE"]
    if rls:
        conds.append(f"({rls})")
    return (" WHERE " + " AND ".join(conds)) if conds else ""


def chart_sql(chart: dict, ds: dict, rls: str | None = None) -> tuple[str, str]:
    """(SQL, class) of one chart, shaped like Superset's generated query for it."""
    p, viz = chart["params"], chart["viz_type"]
    src = f"serving.{_q(ds['table_name'])}"
    where = _where(p, rls)
    limit = int(p.get("row_limit") or 10000)
    heavy = ds["table_name"] in HEAVY_VIEWS
    if viz == "big_number_total":
        expr, name = _metric(ds, p["metric"])
        return f"SELECT {expr} AS {_q(name)} FROM {src}{where} LIMIT {limit}", "complex" if heavy else "simple"
    if viz == "pie":
        expr, name = _metric(ds, p["metric"])
        g = ", ".join(_q(c) for c in p["groupby"])
        return (f"SELECT {g}, {expr} AS {_q(name)} FROM {src}{where} GROUP BY {g} ORDER BY {_q(name)} DESC "
                f"LIMIT {limit}"), "complex" if heavy else "simple"
    if viz == "table":
        if p.get("query_mode") == "raw":
            cols = ", ".join(_q(c) for c in p["all_columns"])
            order = ""
            if p.get("order_by_cols"):
                col, asc = json.loads(p["order_by_cols"][0])
                order = f" ORDER BY {_q(col)} {'ASC' if asc else 'DESC'}"
            return f"SELECT {cols} FROM {src}{where}{order} LIMIT {limit}", "complex"
        g = ", ".join(_q(c) for c in p["groupby"])
        ms = [_metric(ds, m) for m in p["metrics"]]
        sel = ", ".join(f"{e} AS {_q(n)}" for e, n in ms)
        sort = p.get("timeseries_limit_metric") or p["metrics"][0]
        se, _ = _metric(ds, sort)
        return (f"SELECT {g}, {sel} FROM {src}{where} GROUP BY {g} ORDER BY {se} "
                f"{'DESC' if p.get('order_desc', True) else 'ASC'} LIMIT {limit}"), "complex" if heavy else "simple"
    if viz in ("echarts_timeseries_bar", "echarts_timeseries_line"):
        x = p["x_axis"]
        # a line over batch_id (no time grain) is a category axis, like a bar's
        is_time = (viz == "echarts_timeseries_line" and bool(p.get("time_grain_sqla"))) or x.endswith("_date")
        xexpr = f"DATE_TRUNC('month', {_q(x)})" if is_time else _q(x)
        groupby = p.get("groupby") or []
        ms = [_metric(ds, m) for m in p["metrics"]]
        sel = ", ".join(f"{e} AS {_q(n)}" for e, n in ms)
        gcols = "".join(", " + _q(c) for c in groupby)
        inner = ""
        if groupby and p.get("series_limit"):
            # Superset's top-N series: a subquery ranking the series by the first metric
            g = ", ".join(_q(c) for c in groupby)
            e0 = ms[0][0]
            on = " AND ".join(f"{src}.{_q(c)} = series_limit.{_q(c + '__')}" for c in groupby)
            inner = (f" JOIN (SELECT {', '.join(_q(c) + ' AS ' + _q(c + '__') for c in groupby)} FROM {src}{where} "
                     f"GROUP BY {g} ORDER BY {e0} DESC LIMIT {int(p['series_limit'])}) AS series_limit ON {on}")
        order = f"{_q('__x')} ASC" if is_time or p.get("x_axis_sort") == x else f"{_q(ms[0][1])} DESC"
        sql = (f"SELECT {xexpr} AS {_q('__x')}{gcols}, {sel} FROM {src}{inner}{where} "
               f"GROUP BY {xexpr}{gcols} ORDER BY {order} LIMIT {limit}")
        return sql, "complex" if heavy or groupby else "simple"
    if viz == "deck_polygon":
        # a map: the metric per polygon, with the tooltip's columns
        expr, name = _metric(ds, p["metric"])
        g = ", ".join(_q(c) for c in [p["line_column"], *(p.get("tooltip_contents") or [])])
        return f"SELECT {g}, {expr} AS {_q(name)} FROM {src}{where} GROUP BY {g} LIMIT {limit}", "complex"
    raise ValueError(f"chart type {viz} not modelled")


def filter_sqls(dashboards: list[dict], datasets: dict) -> list[tuple[str, str, str]]:
    out = []
    for d in dashboards:
        for f in d["metadata"].get("native_filter_configuration") or []:
            t = f["targets"][0]
            ds = datasets[t["datasetUuid"]]
            col = _q(t["column"]["name"])
            out.append((f"{d['slug']}: 筛选器 {f['name']}",
                        f"SELECT {col} FROM serving.{_q(ds['table_name'])} GROUP BY {col} ORDER BY {col} LIMIT 1000",
                        "complex" if ds["table_name"] in HEAVY_VIEWS else "simple"))
    return out


def _time(con, sql: str, runs: int) -> tuple[list[float], int]:
    """``con``: a connection, or a function returning a new one (then each run connects, queries, closes)."""
    fresh = callable(con) and not hasattr(con, "execute")

    def once() -> int:
        c = con() if fresh else con
        try:
            return len(c.execute(sql).fetchall())
        finally:
            if fresh:
                c.close()

    once()   # warm-up (and a syntax check)
    times, n = [], 0
    for _ in range(runs):
        t = time.perf_counter()
        n = once()
        times.append(time.perf_counter() - t)
    return times, n


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    k = max(0, min(len(xs) - 1, int(round(q * (len(xs) - 1)))))
    return xs[k]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", type=Path, required=True)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--results-dir", type=Path, default=RESULTS, help="where the JSON results go")
    ap.add_argument("--no-refresh", action="store_true", help="use the existing serving DuckDB file as it is")
    ap.add_argument("--rls", default=None, help="an extra row-level-security clause on region-bound datasets, "
                                                "e.g. \"admdvs LIKE '6101%%'\"")
    ap.add_argument("--threads", type=int, default=None, help="DuckDB threads (default: DuckDB's)")
    ap.add_argument("--compare-views", type=int, default=0, metavar="RUNS",
                    help="also time every query RUNS times on a read path of views over delta_scan (no copies: "
                         "the behaviour before materialisation), in <root>/serving/yibao-views.duckdb")
    ap.add_argument("--reuse-connection", action="store_true",
                    help="run every query on one connection; by default each query opens a new read-only "
                         "connection, as Superset does (its engines use NullPool), so the time includes connecting "
                         "(and, on Delta views, loading the extension and reading the Delta log)")
    args = ap.parse_args(argv)

    import duckdb

    from yibao.config import load_settings
    from yibao.dashboards import readpath
    from yibao.dashboards.authoring import REGION_DATASETS

    root = args.data_root.resolve()
    warehouse = load_settings().with_(data_root=root).warehouse   # $YIBAO_WAREHOUSE_ROOT, or <root>/warehouse
    if not (warehouse / "gold" / "coverage_by_region" / "_delta_log").is_dir():
        print(f"{warehouse}/gold has no pipeline output: run `YIBAO_DATA_ROOT={root} yibao run --no-serve` first",
              file=sys.stderr)
        return 2
    refresh_s = None
    if not args.no_refresh:
        reg = readpath.register(root, warehouse)
        refresh_s = round(reg.seconds, 2)
        print(f"read path rebuilt in {refresh_s} s: {reg.rows}", file=sys.stderr)
    def opener(db_path=None):
        def open_():
            c = readpath.connect(root, db_path=db_path)
            if args.threads:
                c.execute(f"SET threads = {args.threads}")
            return c
        return open_

    con = opener()()
    persons = con.execute("select count(*) from gold.person_master").fetchone()[0]
    target = con.execute("select max(target_population) from gold.coverage_by_region where level = 'province'"
                         ).fetchone()[0]
    rows = {t: con.execute(f"select count(*) from {t}").fetchone()[0]
            for t in ("gold.uninsured_person", "gold.coverage_by_region", "gold.fraud_suspect",
                      "gold.medical_service_indicators", "gold.fund_operation", "meta.quality_result",
                      "meta.quarantine")}

    datasets, charts, dashboards = _load_bundle()
    slugs = {}
    for d in dashboards:
        for k, v in d["position"].items():
            if k.startswith("CHART-"):
                slugs.setdefault(v["meta"]["uuid"], []).append(d["slug"])
    work = []
    for c in charts:
        ds = datasets[c["dataset_uuid"]]
        rls = args.rls if args.rls and ds["table_name"] in REGION_DATASETS else None
        sql, cls = chart_sql(c, ds, rls)
        work.append((f"{'/'.join(slugs.get(c['uuid'], ['-']))}: {c['slice_name']}", c["viz_type"], sql, cls))
    work += [(name, "filter_select", sql, cls) for name, sql, cls in filter_sqls(dashboards, datasets)]

    results = []
    qcon = opener() if not args.reuse_connection else con
    for name, viz, sql, cls in work:
        try:
            times, n = _time(qcon, sql, args.runs)
        except duckdb.Error as e:
            results.append({"chart": name, "viz": viz, "class": cls, "error": str(e).splitlines()[0], "sql": sql})
            continue
        p95 = _pct(times, 0.95)
        results.append({"chart": name, "viz": viz, "class": cls, "rows": n, "p50_s": round(statistics.median(times), 4),
                        "p95_s": round(p95, 4), "max_s": round(max(times), 4), "limit_s": LIMITS[cls],
                        "within_limit": p95 <= LIMITS[cls], "sql": sql})
    con.close()

    views_refresh_s = None
    if args.compare_views:
        vpath = root / "serving" / "yibao-views.duckdb"
        vreg = readpath.register(root, warehouse, db_path=vpath, materialise=False)
        views_refresh_s = round(vreg.seconds, 2)
        vcon = opener(vpath)()
        vq = opener(vpath) if not args.reuse_connection else vcon
        for r in results:
            if "error" in r:
                continue
            try:
                times, _ = _time(vq, r["sql"], args.compare_views)
                r["views_p50_s"], r["views_p95_s"] = round(statistics.median(times), 4), round(_pct(times, 0.95), 4)
            except duckdb.Error as e:
                r["views_error"] = str(e).splitlines()[0]
        vcon.close()
        vpath.unlink(missing_ok=True)

    ok = [r for r in results if "error" not in r]
    summary = {cls: {"queries": sum(r["class"] == cls for r in ok),
                     "max_p95_s": max((r["p95_s"] for r in ok if r["class"] == cls), default=None),
                     "over_limit": [r["chart"] for r in ok if r["class"] == cls and not r["within_limit"]]}
               for cls in LIMITS}
    out = {"data_root": str(root), "persons": persons, "target_population": target, "rows": rows,
           "connection_per_query": not args.reuse_connection, "runs": args.runs, "rls": args.rls,
           "read_path_refresh_s": refresh_s, "views_read_path_refresh_s": views_refresh_s,
           "load": os.getloadavg(), "when": datetime.now().isoformat(timespec="seconds"),
           "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "duckdb": duckdb.__version__},
           "summary": summary, "errors": [r for r in results if "error" in r], "queries": results}
    args.results_dir.mkdir(parents=True, exist_ok=True)
    path = args.results_dir / f"dashboard-queries-{persons}{'-rls' if args.rls else ''}.json"
    path.write_text(json.dumps(out, ensure_ascii=False, indent=2), encoding="utf-8")

    print(f"## Dashboard queries: {persons:,} persons (gold.person_master), {args.runs} runs each"
          f"{', a new connection per query' if not args.reuse_connection else ''}\n")
    cmp = bool(args.compare_views)
    print("| chart | type | class | rows | p50 (s) | p95 (s) | limit (s) |"
          + (" p50 on Delta views (s) |" if cmp else ""))
    print("|---|---|---|---:|---:|---:|---:|" + ("---:|" if cmp else ""))
    for r in sorted(results, key=lambda r: -r.get("p95_s", 99)):
        if "error" in r:
            print(f"| {r['chart']} | {r['viz']} | {r['class']} | ERROR: {r['error']} | | | |" + (" |" if cmp else ""))
        else:
            extra = f" {r.get('views_p50_s', r.get('views_error', '-'))} |" if cmp else ""
            print(f"| {r['chart']} | {r['viz']} | {r['class']} | {r['rows']} | {r['p50_s']:.3f} | {r['p95_s']:.3f} | "
                  f"{r['limit_s']:.0f}{'' if r['within_limit'] else ' **over**'} |{extra}")
    for cls, s in summary.items():
        print(f"\n{cls}: {s['queries']} queries, max p95 {s['max_p95_s']} s, over the {LIMITS[cls]:.0f} s limit: "
              f"{s['over_limit'] or 'none'}")
    if cmp:
        tot = sum(r["p50_s"] for r in ok)
        vtot = sum(r.get("views_p50_s", 0) for r in ok)
        print(f"\nsum of p50 over all queries: {tot:.2f} s materialised vs {vtot:.2f} s on views over Delta; "
              f"read path rebuild {refresh_s} s (copies) vs {views_refresh_s} s (views)")
    print(f"\n{path}")
    return 1 if out["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
