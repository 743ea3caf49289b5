"""Peer runs (issue 8): the same ingestion and the same person deduplication on three engines, side by side.

    .venv/bin/python -m yibao.benchmarks.peers --landing var/landing --work /tmp/yibao-peers [--engines sail jvm duckdb]

One landing zone, three engines on this machine, one after the other (never at the same time), every step
its own process measured by :func:`yibao.benchmarks.measure.measure` (wall seconds, peak RSS of the process
tree, so a JVM server or an embedded engine started by the step counts):

=========  ===============================================  ==================================================
engine     ingest                                           dedup (the dbt models behind ``person_master``)
=========  ===============================================  ==================================================
sail       ``yibao ingest`` (embedded Sail, Delta)          ``yibao transform seed``, then
                                                            ``yibao transform run --select +person_master``
jvm        the same commands, on the pyspark wheel's JVM    the same commands on the same server kind
           Spark Connect server, ``local[2]``, Parquet      (:mod:`yibao.benchmarks.peer_jvm`)
           (:mod:`yibao.benchmarks.peer_jvm`)
duckdb     ``duckdb_ingest.py --bronze``: DuckDB reads the  the same models: dbt's compiled SQL (the sail run's
           files into the bronze state ``yibao ingest``     manifest, else ``dbt compile`` on the embedded engine,
           leaves (same checks, typing, quarantine rules,   measured apart), each model transpiled to DuckDB by
           full/incremental apply)                          sqlglot and run in DuckDB (:mod:`.peer_duckdb`)
=========  ===============================================  ==================================================

Every engine gets the same memory budget (``--memory-gib``, default the embedded engine's own: 40% of RAM):
Sail's pool (``YIBAO_ENGINE_MEMORY_GIB``), the JVM's ``--driver-memory``, DuckDB's ``memory_limit``; 2 threads
(``local[2]``, DuckDB ``threads=2``; Sail uses the machine's cores, 2 here).

Parity: after the runs the bronze tables (rows per table) and the dedup outputs (``person_master`` rows,
distinct person_ids, the set of person_ids, clusters, records, matched pairs, rows identical in every column)
are compared across engines; any difference is listed under ``parity.mismatches`` and printed loudly.
Results: ``benchmarks/results/peers-<persons>.json`` and a Markdown table on stdout.
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

from yibao.benchmarks.harness import landing_rows
from yibao.benchmarks.measure import Measurement, measure

HERE = Path(__file__).parent
BIN = Path(sys.executable).parent
ENGINES = ("sail", "jvm", "duckdb")
SELECT = "+person_master"
# the dedup outputs compared across engines: (schema, table)
OUTPUTS = {"person_master": ("gold", "person_master"), "int_person_clusters": ("silver", "int_person_clusters"),
           "int_person_records": ("silver", "int_person_records"), "int_person_pairs": ("silver", "int_person_pairs")}


# -- helpers --------------------------------------------------------------------------------------------

def landing_label(landing: Path) -> str:
    try:
        import pyarrow.parquet as pq

        return str(pq.read_table(landing / "_truth" / "meta.parquet").column("persons")[0].as_py())
    except Exception:
        return landing.resolve().name


def _tail(m: Measurement, n: int = 4000) -> str:
    return (m.stdout[-n // 2:] + "\n" + m.stderr[-n:]).strip()


def _last_json(text: str) -> dict:
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                continue
    return {}


def _env(**values) -> dict:
    """This process's environment without any yibao setting or Spark endpoint, plus ``values``: every engine
    reads only what its runner sets (a YIBAO_WAREHOUSE_ROOT or SPARK_REMOTE of the caller must not leak in)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("YIBAO_", "SPARK_", "SAIL_", "PYSPARK_")) or k == "PYSPARK_PYTHON"}
    env.update({k: str(v) for k, v in values.items()})
    return env


def _step(m: Measurement, rows: int | None = None, seconds: float | None = None, **extra) -> dict:
    s = m.seconds if seconds is None else seconds
    out = {"seconds": s, "wall_seconds": m.seconds, "peak_gib": m.peak_rss_gib, "returncode": m.returncode}
    if rows is not None:
        out["rows"] = rows
        out["rows_per_second"] = rows / s if s > 0 else None
    if m.returncode:
        out["error"] = _tail(m)
    out.update(extra)
    return out


def _dbt_models_seconds(data_root: Path) -> dict:
    """dbt's own execution time of the models in the last run (engine time, without dbt's start-up)."""
    p = data_root / "warehouse" / "_dbt" / "target" / "run_results.json"
    if not p.is_file():
        return {}
    res = json.loads(p.read_text())["results"]
    return {r["unique_id"].split(".")[-1]: r["execution_time"] for r in res if r["unique_id"].startswith("model.")}


# -- engines --------------------------------------------------------------------------------------------

def _run_sail(landing: Path, root: Path, rows: int, mem_gib: int, **_) -> dict:
    env = _env(YIBAO_DATA_ROOT=root, YIBAO_TABLE_FORMAT="delta", YIBAO_ENGINE_MEMORY_GIB=mem_gib)
    yb = str(BIN / "yibao")
    steps = {}
    m = measure([yb, "ingest", "--landing", str(landing)], env=env, cwd=str(root))
    steps["ingest"] = _step(m, rows)
    if m.returncode:
        return steps
    m = measure([yb, "transform", "seed"], env=env, cwd=str(root))
    steps["seed"] = _step(m)
    if m.returncode:
        return steps
    m = measure([yb, "transform", "run", "--select", SELECT], env=env, cwd=str(root))
    models = _dbt_models_seconds(root)
    steps["dedup"] = _step(m, models_seconds=sum(models.values()), model_seconds=models)
    return steps


def _run_jvm(landing: Path, root: Path, rows: int, mem_gib: int, jvm_conf: dict | None = None, **_) -> dict:
    base = [sys.executable, "-m", "yibao.benchmarks.peer_jvm", "--data-root", str(root),
            "--driver-memory", f"{mem_gib}g"]
    for k, v in (jvm_conf or {}).items():
        base += ["--conf", f"{k}={v}"]
    steps = {}
    m = measure(base + ["--landing", str(landing), "ingest"], env=_env(), cwd=str(root))
    out = _last_json(m.stdout)
    inner = out.get("steps", {}).get("ingest", {}).get("seconds")
    steps["ingest"] = _step(m, rows, seconds=inner or m.seconds, server_start_seconds=out.get("server_start_seconds"))
    if m.returncode:
        return steps
    m = measure(base + ["seed", "dedup"], env=_env(), cwd=str(root))
    out = _last_json(m.stdout)
    inner = out.get("steps", {})
    note = "seed and dedup in one process (one JVM server): the peak is the pair's"
    if "seed" in inner:
        steps["seed"] = {"seconds": inner["seed"]["seconds"], "wall_seconds": m.seconds, "peak_gib": m.peak_rss_gib,
                         "returncode": 0, "server_start_seconds": out.get("server_start_seconds"), "note": note}
    models = _dbt_models_seconds(root) if "dedup" in inner else {}
    steps["dedup"] = _step(m, seconds=inner.get("dedup", {}).get("seconds") or m.seconds,
                           models_seconds=sum(models.values()) or None, model_seconds=models, note=note,
                           server_start_seconds=out.get("server_start_seconds"))
    return steps


def _compiled(manifest: Path) -> bool:
    """Whether ``manifest`` holds dbt's compiled SQL of every model behind person_master."""
    if not manifest.is_file():
        return False
    from yibao.benchmarks.peer_duckdb import plan

    try:
        _, _, models = plan(json.loads(manifest.read_text()))
    except (StopIteration, ValueError, KeyError):
        return False
    return all(m.get("compiled_code") for m in models)


def _run_duckdb(landing: Path, root: Path, rows: int, mem_gib: int, sail_manifest: Path | None = None,
                **_) -> dict:
    steps = {}
    m = measure([sys.executable, "-m", "yibao.benchmarks.duckdb_ingest", "--bronze", str(landing), str(root),
                 f"{mem_gib}GiB"], env=_env(), cwd=str(root))
    out = _last_json(m.stdout)
    steps["ingest"] = _step(m, rows, batches_rejected=out.get("batches_rejected"))
    if m.returncode:
        return steps
    # The models' SQL comes from dbt itself.  The embedded engine's dbt run of this peer run compiled exactly
    # these models (same project, same vars; neither the warehouse path nor the table format appears in the SQL):
    # take its manifest; without it, dbt compile on the embedded engine over an empty scratch warehouse.
    manifest = sail_manifest
    if manifest is not None and _compiled(manifest):
        steps["compile"] = {"seconds": 0.0, "wall_seconds": None, "peak_gib": None, "returncode": 0,
                            "note": f"SQL taken from the sail dedup's dbt manifest ({manifest})"}
    else:
        scratch = root / "compile"
        env = _env(YIBAO_DATA_ROOT=scratch, YIBAO_TABLE_FORMAT="delta", YIBAO_ENGINE_MEMORY_GIB=mem_gib)
        scratch.mkdir(parents=True, exist_ok=True)
        m = measure([str(BIN / "yibao"), "transform", "compile", "--select", SELECT], env=env, cwd=str(scratch))
        steps["compile"] = _step(m, note="dbt compile on the embedded engine (SQL generation, not counted as dedup)")
        if m.returncode:
            return steps
        manifest = scratch / "warehouse" / "_dbt" / "target" / "manifest.json"
    m = measure([sys.executable, "-m", "yibao.benchmarks.peer_duckdb", "--manifest", str(manifest),
                 "--bronze", str(root / "bronze"), "--db", str(root / "dedup.duckdb"),
                 "--memory-limit", f"{mem_gib}GiB"], env=_env(), cwd=str(root))
    out = _last_json(m.stdout)
    if "sources_and_seeds_seconds" in out:
        steps["seed"] = {"seconds": out["sources_and_seeds_seconds"], "wall_seconds": None, "peak_gib": None,
                         "returncode": 0, "note": "inside the dedup process: seed CSV load and released views"}
    steps["dedup"] = _step(m, models_seconds=sum(out.get("models", {}).values()) or None,
                           model_seconds=out.get("models"), transpile_seconds=out.get("transpile_seconds"))
    return steps


RUNNERS = {"sail": _run_sail, "jvm": _run_jvm, "duckdb": _run_duckdb}


# -- parity ---------------------------------------------------------------------------------------------

def _relation(con, engine: str, root: Path, schema: str, table: str) -> str | None:
    """A DuckDB relation name over one engine's table (registered on ``con``), or None when missing."""
    name = f"{engine}_{schema}_{table}"
    if engine == "duckdb":
        db = root / "dedup.duckdb"
        if schema == "bronze":
            p = root / "bronze" / f"{table}.parquet"
            if not p.is_file():
                return None
            con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM read_parquet('{p}')")
            return name
        if not db.is_file():
            return None
        try:
            con.execute(f"ATTACH IF NOT EXISTS '{db}' AS duck_out (READ_ONLY)")
            con.execute(f"SELECT 1 FROM duck_out.{schema}.{table} LIMIT 0")
        except Exception:
            return None
        return f"duck_out.{schema}.{table}"
    path = root / "warehouse" / schema / table
    if engine == "jvm":
        if not any(path.glob("*.parquet")):
            return None
        con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM read_parquet('{path}/*.parquet')")
        return name
    if not (path / "_delta_log").is_dir():
        return None
    from deltalake import DeltaTable

    files = DeltaTable(str(path)).file_uris()
    if not files:
        return None
    listed = ", ".join("'" + f.removeprefix("file://") + "'" for f in files)
    con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM read_parquet([{listed}])")
    return name


def _tables_on_disk(engine: str, root: Path, schema: str) -> list[str]:
    if engine == "duckdb":
        return sorted(p.stem for p in (root / "bronze").glob("*.parquet"))
    d = root / "warehouse" / schema
    return sorted(p.name for p in d.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))) if d.is_dir() else []


def parity(roots: dict[str, Path]) -> dict:
    """Compare the engines' bronze tables and dedup outputs; every difference goes to ``mismatches``."""
    import duckdb

    con = duckdb.connect()
    out: dict = {"bronze_rows": {}, "dedup": {}, "mismatches": []}
    engines = list(roots)
    tables = sorted({t for e in engines for t in _tables_on_disk(e, roots[e], "bronze")})
    for t in tables:
        counts = {}
        for e in engines:
            rel = _relation(con, e, roots[e], "bronze", t)
            counts[e] = con.execute(f"SELECT count(*) FROM {rel}").fetchone()[0] if rel else None
        out["bronze_rows"][t] = counts
        if len(set(counts.values())) > 1:
            out["mismatches"].append(f"bronze.{t}: rows {counts}")
    rels = {e: {k: _relation(con, e, roots[e], s, t) for k, (s, t) in OUTPUTS.items()} for e in engines}
    for e in engines:
        r = rels[e]
        if r["person_master"] is None:
            out["dedup"][e] = None
            out["mismatches"].append(f"{e}: no person_master (the dedup did not run or failed)")
            continue
        pm = con.execute(f"SELECT count(*), count(DISTINCT person_id), count(DISTINCT certno), "
                         f"count(*) FILTER (WHERE certno IS NULL) FROM {r['person_master']}").fetchone()
        stats = {"person_master_rows": pm[0], "distinct_person_ids": pm[1], "distinct_certnos": pm[2],
                 "persons_without_certno": pm[3]}
        if r["int_person_clusters"]:
            stats["clusters"] = con.execute(f"SELECT count(DISTINCT cluster_key) FROM {r['int_person_clusters']}").fetchone()[0]
        if r["int_person_records"]:
            stats["records"] = con.execute(f"SELECT count(*) FROM {r['int_person_records']}").fetchone()[0]
        if r["int_person_pairs"]:
            stats["pairs_compared"], stats["pairs_matched"] = con.execute(
                f"SELECT count(*), count(*) FILTER (WHERE is_match) FROM {r['int_person_pairs']}").fetchone()
        out["dedup"][e] = stats
    done = [e for e in engines if out["dedup"].get(e)]
    for key in ("person_master_rows", "distinct_person_ids", "distinct_certnos", "clusters", "records", "pairs_matched"):
        vals = {e: out["dedup"][e].get(key) for e in done}
        if len(set(vals.values())) > 1:
            out["mismatches"].append(f"{key}: {vals}")
    if len(done) > 1:
        ref = done[0]
        pm_ref = rels[ref]["person_master"]
        cols = [d[0] for d in con.execute(f"SELECT * FROM {pm_ref} LIMIT 0").description]
        as_text = ", ".join(f'CAST("{c}" AS VARCHAR) AS "{c}"' for c in cols)
        out["person_ids_differing"], out["person_master_rows_differing"] = {}, {}
        for e in done[1:]:
            pm = rels[e]["person_master"]
            ids = con.execute(f"SELECT (SELECT count(*) FROM (SELECT person_id FROM {pm_ref} EXCEPT SELECT person_id FROM {pm})) + "
                              f"(SELECT count(*) FROM (SELECT person_id FROM {pm} EXCEPT SELECT person_id FROM {pm_ref}))").fetchone()[0]
            out["person_ids_differing"][f"{ref}/{e}"] = ids
            if ids:
                out["mismatches"].append(f"person_id sets differ between {ref} and {e}: {ids} ids in one only")
            rows = con.execute(f"SELECT count(*) FROM (SELECT {as_text} FROM {pm_ref} EXCEPT ALL SELECT {as_text} FROM {pm})"
                               ).fetchone()[0]
            # informational: survivorship ties (two records with the same rank and update time) may pick either value
            out["person_master_rows_differing"][f"{ref}/{e}"] = rows
    out["ok"] = not out["mismatches"]
    con.close()
    return out


# -- the run --------------------------------------------------------------------------------------------

def _ratio(a, b):
    return a / b if a and b else None


def run_peers(landing: Path, work: Path, engines=ENGINES, memory_gib: int | None = None,
              results_dir: Path | None = None, label: str | None = None, load_note: str = "",
              jvm_conf: dict | None = None) -> dict:
    """Run the peer benchmark; returns the results (also written to ``<results_dir>/peers-<label>.json``).

    ``work`` gets one folder per engine (replaced); ``memory_gib``: each engine's memory budget (default 40% of
    RAM, the embedded engine's own default); ``jvm_conf``: extra Spark settings for the JVM server (none by
    default: Spark as it comes, apart from local[2] and the driver memory).
    """
    from yibao.config import Settings

    landing, work = Path(landing).resolve(), Path(work).resolve()
    unknown = [e for e in engines if e not in RUNNERS]
    if unknown:
        raise ValueError(f"unknown engine(s) {unknown}; choose from {ENGINES}")
    mem = memory_gib or max(1, int(Settings().engine_memory_bytes / 2**30))
    rows = landing_rows(landing)
    label = label or landing_label(landing)
    results: dict = {
        "label": label, "landing": str(landing), "landing_rows": rows, "date": datetime.now().isoformat(timespec="seconds"),
        "machine": {"cpus": psutil.cpu_count(), "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
                    "python": platform.python_version()},
        "load_average_at_start": os.getloadavg(), "load_note": load_note, "memory_budget_gib": mem,
        "jvm_conf": jvm_conf or {}, "engines": {}}
    roots = {}
    for e in engines:
        root = work / e
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        roots[e] = root
        sail_manifest = roots["sail"] / "warehouse" / "_dbt" / "target" / "manifest.json" if "sail" in roots else None
        results["engines"][e] = RUNNERS[e](landing, root, rows, mem, sail_manifest=sail_manifest, jvm_conf=jvm_conf)
    par = parity(roots)
    results["parity"] = par
    for e, steps in results["engines"].items():  # dedup rows: the person records the matcher read
        d = steps.get("dedup")
        recs = (par["dedup"].get(e) or {}).get("records")
        if d and recs:
            d["rows"] = recs
            d["rows_per_second"] = recs / d["seconds"] if d["seconds"] > 0 else None
    eng = results["engines"]

    def sec(e, step, key="seconds"):
        return (eng.get(e, {}).get(step) or {}).get(key)

    results["ratios"] = {
        f"{a}/{b}": {"ingest_seconds": _ratio(sec(a, "ingest"), sec(b, "ingest")),
                     "dedup_seconds": _ratio(sec(a, "dedup"), sec(b, "dedup")),
                     "dedup_models_seconds": _ratio(sec(a, "dedup", "models_seconds"), sec(b, "dedup", "models_seconds")),
                     "ingest_peak": _ratio(sec(a, "ingest", "peak_gib"), sec(b, "ingest", "peak_gib")),
                     "dedup_peak": _ratio(sec(a, "dedup", "peak_gib"), sec(b, "dedup", "peak_gib"))}
        for a, b in (("jvm", "sail"), ("sail", "duckdb")) if a in eng and b in eng}
    failed = [f"{e}.{s}" for e, steps in eng.items() for s, r in steps.items() if r.get("returncode")]
    results["failed_steps"] = failed
    results_dir = Path(results_dir) if results_dir else HERE / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    out = results_dir / f"peers-{label}.json"
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str))
    results["results_file"] = str(out)
    return results


def markdown(results: dict) -> str:
    lines = [f"Landing {results['landing']} ({results['landing_rows']:,} rows), memory budget "
             f"{results['memory_budget_gib']} GiB per engine, load average at start "
             f"{', '.join(f'{x:.1f}' for x in results['load_average_at_start'])}", "",
             "| engine | step | rows | seconds | peak GiB | rows/s | note |", "|---|---|---:|---:|---:|---:|---|"]
    for e, steps in results["engines"].items():
        for s, r in steps.items():
            note = []
            if r.get("returncode"):
                note.append("FAILED")
            if r.get("server_start_seconds"):
                note.append(f"+{r['server_start_seconds']:.1f} s JVM server start (excluded)")
            if r.get("models_seconds"):
                note.append(f"models {r['models_seconds']:.1f} s")
            if s == "compile" and r.get("note"):
                note.append(r["note"])
            if r.get("wall_seconds") and abs(r["wall_seconds"] - r["seconds"]) > 0.05 and not r.get("server_start_seconds"):
                note.append(f"wall {r['wall_seconds']:.1f} s")
            peak = f"{r['peak_gib']:.2f}" if r.get("peak_gib") is not None else ""
            rows = f"{r['rows']:,}" if r.get("rows") else ""
            rps = f"{r['rows_per_second']:,.0f}" if r.get("rows_per_second") else ""
            lines.append(f"| {e} | {s} | {rows} | {r['seconds']:.1f} | {peak} | {rps} | {'; '.join(note)} |")
    lines += ["", "| ratio | ingest s | dedup s | dedup models s | ingest peak | dedup peak |", "|---|---:|---:|---:|---:|---:|"]
    for k, r in results.get("ratios", {}).items():
        f = lambda v: f"{v:.2f}" if v else "n/a"  # noqa: E731
        lines.append(f"| {k} | {f(r['ingest_seconds'])} | {f(r['dedup_seconds'])} | {f(r['dedup_models_seconds'])} | "
                     f"{f(r['ingest_peak'])} | {f(r['dedup_peak'])} |")
    par = results["parity"]
    lines += ["", "| engine | person_master rows | distinct person_ids | clusters | records | pairs matched |",
              "|---|---:|---:|---:|---:|---:|"]
    for e, st in par["dedup"].items():
        if st:
            lines.append(f"| {e} | {st['person_master_rows']:,} | {st['distinct_person_ids']:,} | {st.get('clusters', 0):,} | "
                         f"{st.get('records', 0):,} | {st.get('pairs_matched', 0):,} |")
    lines.append("")
    lines.append("parity: OK (same bronze rows per table, same person_master, same person_ids)" if par["ok"] else
                 "PARITY MISMATCH:\n" + "\n".join(f"  - {m}" for m in par["mismatches"]))
    if par.get("person_master_rows_differing"):
        lines.append(f"person_master rows differing in some column (survivorship ties): {par['person_master_rows_differing']}")
    if results.get("failed_steps"):
        lines.append(f"FAILED steps: {', '.join(results['failed_steps'])} (errors in the results file)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--landing", type=Path, required=True, help="landing zone (yibao generate --out)")
    ap.add_argument("--work", type=Path, required=True, help="scratch folder: one warehouse per engine (replaced)")
    ap.add_argument("--engines", nargs="+", default=list(ENGINES), choices=ENGINES)
    ap.add_argument("--memory-gib", type=int, default=None, help="memory budget per engine (default: 40%% of RAM)")
    ap.add_argument("--results-dir", type=Path, default=None, help="default: benchmarks/results")
    ap.add_argument("--label", default=None, help="results file peers-<label>.json (default: persons of the landing)")
    ap.add_argument("--load-note", default="", help="what else ran on the machine (written with the results)")
    ap.add_argument("--jvm-conf", action="append", default=[], metavar="KEY=VALUE",
                    help="extra Spark setting for the JVM server (repeatable; default none)")
    args = ap.parse_args(argv)
    results = run_peers(args.landing, args.work, tuple(args.engines), args.memory_gib, args.results_dir, args.label,
                        args.load_note, dict(c.split("=", 1) for c in args.jvm_conf))
    print(markdown(results))
    print(f"results in {results['results_file']}")
    if not results["parity"]["ok"] or results["failed_steps"]:
        print("\n!!! " + ("PARITY MISMATCH" if not results["parity"]["ok"] else "") +
              (" FAILED STEPS " + ", ".join(results["failed_steps"]) if results["failed_steps"] else ""), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
