"""Fault benchmark: the pipeline killed with SIGKILL at every stage boundary and in the middle of each stage,
rerun, and compared with a clean run; reviewed suspect decisions survive kills.

    .venv/bin/python -m yibao.benchmarks.faults --work /tmp/yibao-faults [--persons 2000] [--only ID,...]

1. A landing zone is generated once (``--persons``, two batches); a **clean run** (``yibao run``) builds the
   reference warehouse with ``YIBAO_FAULT_TRACE`` set, so its trace lists every checkpoint the run passes
   (``yibao.faults``): stage starts, Delta writes, dbt nodes, read-path tables, ingestion files.
2. The **matrix** comes from that trace: a kill as each stage starts (boundary), and one in the middle of each
   stage: during its middle Delta write (``write:<n>+<delay>``: the kill lands while the write runs), during
   its middle dbt model, during the person registry's model (``int_person_registry``), during the read path's
   middle table.  Each cell runs on its own data root: the killed run, then a rerun without the fault.
3. **Compared with the clean run**: the eight gold tables of the contract row by row
   (``scale_out.compare_gold``), the row count of every bronze table (a re-ingested batch must not double
   rows), the batches recorded as applied, and the read path's tables (row counts; for the quality gate's run
   logs, the last measurement of each table, batch and rule with its outcome).
4. **Reviews**: on a copy of the clean run, a case action killed before its log append is re-issued (one decision in the
   log), one killed between the log append and the list's MERGE keeps its decision (the log is the truth), and
   a pipeline run killed in the fraud stage, then rerun, still shows every reviewed status.

A plain second run over a copy of the clean run (no kill) shows what any run after a completed one changes in the run
logs (the gold gate also checks the suspect list the first run wrote; the fraud model is trained again); a cell
whose only differences are exactly those is reported "as a second run".

Results: ``<results>/faults-<persons>.json`` and ``.md`` (the matrix: cell, kill point, killed?, rerun ok?,
identical?, what differs).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
YIBAO = str(Path(sys.executable).with_name("yibao"))
PERSON_MODEL = "int_person_registry"
# what a quality run log's row measured, and its outcome (serving_tables)
RUN_LOG_KEY = ("layer", "schema", "table", "source", "source_table", "batch_id", "rule", "expectation", "column",
               "validated_column", "dimension")
RUN_LOG_OUTCOME = ("success", "unexpected_count", "rows_checked", "failed", "bad_rows", "expectations", "passed",
                   "blocking_failed", "warning_failed", "tables", "score", "status")


def _env(root: Path, landing: Path, memory_gib: float, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("YIBAO_", "SAIL_"))}
    env.update(YIBAO_DATA_ROOT=str(root), YIBAO_LANDING_ROOT=str(landing), SPARK_REMOTE="",
               YIBAO_ENGINE_MEMORY_GIB=str(memory_gib), **extra)
    return env


def yibao(args: list[str], env: dict, timeout: float = 3600) -> subprocess.CompletedProcess:
    root = Path(env["YIBAO_DATA_ROOT"])
    root.mkdir(parents=True, exist_ok=True)
    return subprocess.run([YIBAO, *args], env=env, cwd=root, capture_output=True, text=True, timeout=timeout)


def read_trace(path: Path) -> list[tuple[str, str, int]]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        stage, point, n = line.split("\t")
        out.append((stage, point, int(n)))
    return out


def matrix(trace: list[tuple[str, str, int]]) -> list[dict]:
    """The kill points of a clean run's trace: every stage's start (but the first: nothing ran yet) and the middle
    of each stage that writes."""
    stages = list(dict.fromkeys(s for s, _, _ in trace if s))
    cells = [{"id": f"before {s}", "stage": s, "kind": "boundary", "fault": f"stage:{s}:1"} for s in stages[1:]]
    passes = defaultdict(list)
    for s, point, n in trace:
        passes[(s, point)].append(n)
    delays = {"write": 0.3, "dbt_node": 1.0, "serving_table": 0.05, "file": 0.0}
    for s in stages:
        for point, delay in delays.items():
            ns = passes.get((s, point))
            if ns:
                n = ns[len(ns) // 2]
                cells.append({"id": f"mid {s} ({point} {n})", "stage": s, "kind": "mid", "fault": f"{point}:{n}+{delay}"})
                break     # one mid-stage kill per stage: its first kind of checkpoint in this order
    for s, point, n in trace:
        if point == f"dbt_node:{PERSON_MODEL}":
            cells.append({"id": f"mid {s} (person master: {PERSON_MODEL})", "stage": s, "kind": "mid",
                          "fault": f"{point}:1+0.5"})
            break
    return cells


def bronze_counts(warehouse: Path) -> dict[str, int]:
    from yibao.benchmarks.scale_out import read_table

    out = {}
    base = warehouse / "bronze"
    for d in sorted(base.iterdir()) if base.is_dir() else []:
        rows = read_table(d, "delta")
        if rows is not None:
            out[d.name] = len(rows)
    return out


def applied_batches(warehouse: Path) -> list[tuple]:
    from yibao.benchmarks.scale_out import read_table

    rows = read_table(warehouse / "meta" / "ingest_log", "delta") or []
    return sorted({(r.get("source"), r.get("batch_id"), r.get("source_table"), r.get("status")) for r in rows},
                  key=repr)


def serving_tables(root: Path) -> dict[str, int] | None:
    import duckdb

    f = root / "serving" / "yibao.duckdb"
    if not f.is_file():
        return None
    con = duckdb.connect(str(f), read_only=True)
    try:
        names = [r[0] for r in con.execute("select table_schema || '.' || table_name from information_schema.tables "
                                           "where table_schema in ('gold', 'meta') and table_type = 'BASE TABLE'")
                 .fetchall()]
        out = {}
        for n in sorted(names):
            cols = [r[0] for r in con.execute(f"describe {n}").fetchall()]  # nosec B608
            if {"run_id", "run_time"} <= set(cols):
                # a run log (the quality gate's measurements): a killed run leaves the measurements it made and the
                # rerun makes them again; what must equal the clean run is the last measurement of each thing
                # measured, with its outcome
                key = [c for c in RUN_LOG_KEY if c in cols]
                outcome = [c for c in RUN_LOG_OUTCOME if c in cols]
                q = lambda cs: ", ".join(f'"{c}"' for c in cs)  # noqa: E731
                out[n] = con.execute(f"""
                    with last as (select *, row_number() over (partition by {q(key)} order by run_id desc) as _n
                                  from {n})
                    select count(*), md5(coalesce(string_agg(concat_ws('|', {q(key + outcome)}), '#'
                                                             order by concat_ws('|', {q(key + outcome)})), ''))
                    from last where _n = 1""").fetchone()  # nosec B608
            else:
                out[n] = con.execute(f"select count(*) from {n}").fetchone()[0]  # nosec B608
        return out
    finally:
        con.close()


def state_of(root: Path) -> dict:
    wh = root / "warehouse"
    return {"bronze": bronze_counts(wh), "batches": applied_batches(wh), "serving": serving_tables(root)}


def compare(clean_root: Path, root: Path, clean_state: dict) -> tuple[bool, list[str]]:
    from yibao.benchmarks.scale_out import compare_gold

    diffs = [c.describe() for c in compare_gold(clean_root / "warehouse", root / "warehouse").values()
             if not c.identical]
    st = state_of(root)
    for key in ("bronze", "serving"):
        a, b = clean_state[key] or {}, st[key] or {}
        diffs += [f"{key} {t}: {a.get(t)} vs {b.get(t)}" for t in sorted(set(a) | set(b)) if a.get(t) != b.get(t)]
    if st["batches"] != clean_state["batches"]:
        diffs.append(f"ingest_log: {len(clean_state['batches'])} vs {len(st['batches'])} batch entries")
    return not diffs, diffs


def run_cell(cell: dict, work: Path, landing: Path, clean_root: Path, clean_state: dict, memory_gib: float) -> dict:
    root = work / "cells" / cell["id"].replace(" ", "_").replace("(", "").replace(")", "").replace(":", "-")
    shutil.rmtree(root, ignore_errors=True)
    t0 = time.time()
    killed = yibao(["run"], _env(root, landing, memory_gib, YIBAO_FAULT_AT=cell["fault"]))
    t1 = time.time()
    rerun = yibao(["run"], _env(root, landing, memory_gib))
    t2 = time.time()
    out = {**cell, "killed": killed.returncode == -9, "killed_rc": killed.returncode,
           "killed_after_s": round(t1 - t0, 1), "rerun_rc": rerun.returncode, "rerun_s": round(t2 - t1, 1)}
    if rerun.returncode != 0:
        out.update(identical=False, diffs=[f"rerun failed: {(rerun.stdout + rerun.stderr)[-1500:]}"])
    else:
        out["identical"], out["diffs"] = compare(clean_root, root, clean_state)
    if out["identical"]:
        shutil.rmtree(root, ignore_errors=True)
    else:
        out["kept"] = str(root)      # a cell that differs keeps its data root for a look
    return out


def _statuses(root: Path) -> dict[str, str]:
    from yibao.benchmarks.scale_out import read_table

    return {r["suspect_id"]: r["status"] for r in read_table(root / "warehouse" / "gold" / "fraud_suspect", "delta")}


def _review_log(root: Path, suspect: str) -> list[dict]:
    from yibao.benchmarks.scale_out import read_table

    return sorted([r for r in read_table(root / "warehouse" / "meta" / "suspect_review", "delta") or []
                   if r["suspect_id"] == suspect], key=lambda r: r["updated_at"])


def review_cells(root: Path, landing: Path, memory_gib: float) -> list[dict]:
    """Case actions killed mid-way, and a pipeline run killed in the fraud stage after reviews: no decision lost.
    ``root``: a copy of the clean run (the cells change its decisions)."""
    env = _env(root, landing, memory_gib)
    ranked = sorted(_statuses(root))
    a, b = ranked[0], ranked[1]
    cells = []
    # 1. killed as the log append starts: nothing recorded; the supervisor re-issues the action, one decision
    k = yibao(["suspects", "assign", a, "--to", "王五", "--by", "张科长"], dict(env, YIBAO_FAULT_AT="write:1"))
    again = yibao(["suspects", "assign", a, "--to", "王五", "--by", "张科长"], env)
    log = _review_log(root, a)
    cells.append({"id": "review: killed before the log append, re-issued", "fault": "write:1",
                  "killed": k.returncode == -9, "killed_rc": k.returncode, "rerun_rc": again.returncode,
                  "identical": again.returncode == 0 and [r["status"] for r in log] == ["已分派"],
                  "diffs": [] if len(log) == 1 else [f"log rows: {[r['status'] for r in log]}"]})
    # 2. killed between the log append and the list's MERGE: the decision is in the log, the next run shows it
    # the case workflow up to a review: assigned, investigated, submitted (a case is concluded only from 已提交)
    for step in (["assign", b, "--to", "王五", "--by", "张科长"], ["start", b, "--by", "王五"],
                 ["submit", b, "--by", "王五", "--note", "病历与结算不符"]):
        done = yibao(["suspects", *step], env)
        if done.returncode != 0:
            raise RuntimeError(f"suspects {step[0]} failed: {(done.stdout + done.stderr)[-1500:]}")
    k = yibao(["suspects", "close", b, "--result", "已确认", "--by", "张科长", "--note", "核实属实"],
              dict(env, YIBAO_FAULT_AT="write:2"))
    log = _review_log(root, b)
    in_log = [r["status"] for r in log][-1:] == ["已确认"]
    # 3. a pipeline run killed in the middle of the fraud stage, then rerun: every reviewed status is in gold
    # (the write count of a run over a built warehouse differs from the clean run's: kill by time into the stage)
    fault = "stage:fraud:1+5"
    k2 = yibao(["run"], dict(env, YIBAO_FAULT_AT=fault))
    rerun = yibao(["run"], env)
    st = _statuses(root)
    kept = in_log and st.get(a) == "已分派" and st.get(b) == "已确认"
    cells.append({"id": "review: killed between log and list, then a run killed in fraud scoring", "fault":
                  f"write:2 / {fault}", "killed": k.returncode == -9 and k2.returncode == -9,
                  "killed_rc": f"{k.returncode} / {k2.returncode}", "rerun_rc": rerun.returncode,
                  "identical": kept and rerun.returncode == 0,
                  "diffs": [] if kept else [f"log has 已确认: {in_log}; gold: {a} {st.get(a)}, {b} {st.get(b)}"]})
    return cells


def markdown(res: dict) -> str:
    lines = [f"### Fault matrix, {res['persons']:,} persons ({res['started'][:16]})", "",
             f"Clean run {res['clean_s'] or '?'} s; {len(res['cells'])} cells, each a run killed with SIGKILL at the "
             f"point, then a rerun, compared with the clean run (contract gold tables row by row, bronze row "
             f"counts, applied batches, read-path tables).", "",
             "| cell | kill point | killed | rerun | equal to the clean run | what differs |", "|---|---|---|---|---|---|"]
    for c in res["cells"]:
        lines.append(f"| {c['id']} | `{c['fault']}` | {'yes' if c['killed'] else 'no (' + str(c.get('killed_rc')) + ')'} | "
                     f"{'ok' if c['rerun_rc'] == 0 else 'FAILED'} | {_verdict(c)} | "
                     f"{'; '.join(c['diffs'])[:300] if c['diffs'] else ''} |")
    if res.get("second_run_diffs"):
        lines += ["", "A run after a completed run, without any kill, differs from the first run in the run logs "
                  "only, and exactly so (`as a second run` above): " + "; ".join(res["second_run_diffs"])]
    return "\n".join(lines) + "\n"


def _verdict(c: dict) -> str:
    if c["identical"]:
        return "yes"
    return "yes, as a second run" if c.get("as_second_run") else "NO"


def classify(res: dict, second_diffs: list[str]) -> None:
    """Mark the cells whose only differences from the clean run are those any second run shows (a rerun after a
    kill late in a run is a second run: the gold gate then also checks the suspect list the first run wrote, and
    the fraud model is trained again)."""
    res["second_run_diffs"] = second_diffs
    for c in res["cells"]:
        c["as_second_run"] = bool(c["diffs"]) and c.get("rerun_rc") == 0 and set(c["diffs"]) <= set(second_diffs)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, required=True, help="working directory (landing zone, data roots)")
    ap.add_argument("--persons", type=int, default=2000)
    ap.add_argument("--memory-gib", type=float, default=3.0)
    ap.add_argument("--only", default=None, help="comma-separated cell ids (or prefixes) to run")
    ap.add_argument("--no-reviews", action="store_true", help="skip the review cells")
    ap.add_argument("--reuse", action="store_true", help="keep the clean run (and its trace) of an earlier call in "
                    "--work, and the cells already in its results file: a matrix can be run in parts")
    ap.add_argument("--results-dir", type=Path, default=RESULTS)
    args = ap.parse_args(argv)

    from yibao.benchmarks.scale_out import generate

    work = args.work.resolve()
    landing, clean_root = work / "landing", work / "clean"
    if not landing.is_dir():
        generate(landing, args.persons, seed=7, batches=2)
    trace_file, out_json = work / "trace.tsv", args.results_dir / f"faults-{args.persons}.json"
    earlier = json.loads(out_json.read_text(encoding="utf-8")) if args.reuse and out_json.is_file() else None
    if args.reuse and trace_file.is_file() and (clean_root / "warehouse").is_dir():
        clean_s = (earlier or {}).get("clean_s")
    else:
        earlier = None
        shutil.rmtree(clean_root, ignore_errors=True)
        trace_file.unlink(missing_ok=True)
        t0 = time.time()
        clean = yibao(["run"], _env(clean_root, landing, args.memory_gib, YIBAO_FAULT_TRACE=str(trace_file)))
        clean_s = round(time.time() - t0, 1)
        if clean.returncode != 0:
            print(f"the clean run failed:\n{(clean.stdout + clean.stderr)[-3000:]}", file=sys.stderr)
            return 1
    trace = read_trace(trace_file)
    clean_state = state_of(clean_root)
    second = work / "second"
    if not (args.reuse and (second / "serving").is_dir()):
        shutil.rmtree(second, ignore_errors=True)
        shutil.copytree(clean_root, second, symlinks=True)
        yibao(["run"], _env(second, landing, args.memory_gib))
    second_diffs = compare(clean_root, second, clean_state)[1]
    cells = matrix(trace)
    if args.only:
        wanted = [w.strip() for w in args.only.split(",")]
        cells = [c for c in cells if any(c["id"].startswith(w) for w in wanted)]
    done = {c["id"]: c for c in (earlier or {}).get("cells", [])}
    res = {"persons": args.persons, "started": (earlier or {}).get("started")
           or datetime.now().isoformat(timespec="seconds"), "clean_s": clean_s, "trace_points": len(trace),
           "cells": list(done.values())}

    def save() -> None:   # after every cell: a matrix stopped half-way keeps what it measured
        classify(res, second_diffs)
        args.results_dir.mkdir(parents=True, exist_ok=True)
        out_json.write_text(json.dumps(res, ensure_ascii=False, indent=1), encoding="utf-8")
        out_json.with_suffix(".md").write_text(markdown(res), encoding="utf-8")

    # the kills inside a stage first: they are the ones that leave half-written state behind
    todo = sorted((c for c in cells if c["id"] not in done), key=lambda c: c["kind"] != "mid")
    for i, cell in enumerate(todo, 1):
        print(f"[{i}/{len(todo)}] {cell['id']}: {cell['fault']} ...", file=sys.stderr, flush=True)
        r = run_cell(cell, work, landing, clean_root, clean_state, args.memory_gib)
        print(f"    killed={r['killed']} rerun={r['rerun_rc']} identical={r['identical']} {r['diffs'][:2]}",
              file=sys.stderr, flush=True)
        res["cells"].append(r)
        save()
    if not args.no_reviews and not any(c["id"].startswith("review:") for c in res["cells"]):
        # on a copy: the review cells change decisions, and the clean run stays the reference of later calls
        review_root = work / "review"
        shutil.rmtree(review_root, ignore_errors=True)
        shutil.copytree(clean_root, review_root, symlinks=True)
        res["cells"] += review_cells(review_root, landing, args.memory_gib)
        save()
    save()
    results = res["cells"]
    print(markdown(res))
    return 0 if all((c["identical"] or c.get("as_second_run")) and c["rerun_rc"] == 0 for c in results) else 1


if __name__ == "__main__":
    sys.exit(main())
