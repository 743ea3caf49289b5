"""The yardstick: the same landing files into typed Parquet with DuckDB, as a peer would do it.

For every file of every batch: decode (DuckDB reads UTF-8 only offline, so GBK files are transcoded
to a temporary UTF-8 file first, and that time counts), read every column as text with bad rows
skipped into DuckDB's reject table, type the contract's date/amount columns with TRY_ functions,
and write one Parquet file per table.  No manifest checks, no merge, no log: this is the lower
bound of the work, not the same feature set.

    python benchmarks/duckdb_ingest.py LANDING OUT_DIR

``--bronze`` (used by the peer runs, ``peers.py``): the same files into the same *bronze state* as
``yibao ingest``, so that what is built on it can be compared row for row: manifests checked with the
ingestion's own checker (a batch that does not match is skipped whole, a file missing a required
column alone), values typed by the ingestion's rules (the accepted spellings of dates, timestamps,
amounts, year-months), rows that ``yibao ingest`` would quarantine left out (a value that cannot be
typed, an empty key, an empty row, bytes invalid in the declared encoding, a key repeated later in the
same file), ``full`` batches replacing the table and ``incremental`` ones merged by the contract key with
``del_flag = 1`` deleting, and the lineage columns the staging models read.  One Parquet file per
bronze table: ``OUT_DIR/bronze/<source>__<table>.parquet``.  Still no log, no quarantine table, no
re-delivery rules and no ``_extra`` column; ``_line_number`` is the row's position among the file's
parsed rows, not its physical line.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from yibao.ingestion import parse as _parse_rules
from yibao.contract import (DATE, FLAG, MONEY, QUANTITY, STRING, TABLES, TIMESTAMP, YEAR, YEARMONTH,
                                      table_spec)

_SQL_TYPE = {
    DATE: "COALESCE(TRY_STRPTIME({c}, '%Y-%m-%d'), TRY_STRPTIME({c}, '%Y%m%d'))::DATE",
    TIMESTAMP: "TRY_STRPTIME({c}, '%Y-%m-%d %H:%M:%S')",
    MONEY: "TRY_CAST({c} AS DECIMAL(16,2))",
    QUANTITY: "TRY_CAST({c} AS DECIMAL(18,4))",
    YEAR: "TRY_CAST({c} AS INTEGER)",
}


def run(landing: Path, out: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute("SET threads = 2")
    rows = 0
    started = time.perf_counter()
    for manifest_path in sorted(landing.glob("*/*/_manifest.json")):
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            continue
        for entry in manifest.get("files", []):
            spec = table_spec(manifest["source"], entry["table"])
            src = manifest_path.parent / entry["name"]
            if spec is None or not src.is_file():
                continue
            path = src
            tmp = None
            if manifest.get("encoding", "utf-8").lower() != "utf-8":
                tmp = tempfile.NamedTemporaryFile(suffix=".csv", delete=False)
                with src.open("r", encoding=manifest["encoding"], errors="replace") as fin, \
                        open(tmp.name, "w", encoding="utf-8") as fout:
                    for chunk in iter(lambda: fin.read(1 << 22), ""):
                        fout.write(chunk)
                path = Path(tmp.name)
            header = con.execute(f"SELECT * FROM read_csv('{path}', all_varchar=true, header=true) LIMIT 0").description
            present = {d[0] for d in header}
            cols = []
            for c in spec.all_columns:
                if c not in present:
                    cols.append(f"NULL AS {c}")
                    continue
                expr = _SQL_TYPE.get(spec.type_of(c))
                cols.append(f"{expr.format(c=c)} AS {c}" if expr else c)
            target = out / f"{manifest['source']}__{spec.name}__{manifest['batch_id']}.parquet"
            con.execute(f"COPY (SELECT {', '.join(cols)} FROM read_csv('{path}', all_varchar=true, header=true, "
                        f"ignore_errors=true, parallel=true)) TO '{target}' (FORMAT parquet)")
            rows += con.execute(f"SELECT count(*) FROM '{target}'").fetchone()[0]
            if tmp is not None:
                Path(tmp.name).unlink()
    return {"rows": rows, "seconds": time.perf_counter() - started}


# -- bronze mode: the typing rules of yibao.ingestion.parse, in DuckDB SQL --------------------------------

# The accepted spellings and value patterns are the ingestion's own (one source of truth); DuckDB's
# regexp_full_match wants them without the ^...$ anchors.
_PATTERNS = {kind: (_parse_rules._PATTERNS[kind].removeprefix("^").removesuffix("$"), cast)
             for kind, cast in ((MONEY, "DECIMAL(16,2)"), (QUANTITY, "DECIMAL(18,4)"), (YEAR, "INTEGER"),
                                (FLAG, "VARCHAR"))}
_DATE_REWRITES, _TS_REWRITES = _parse_rules._DATE_REWRITES, _parse_rules._TS_REWRITES
BRONZE_TYPES = {STRING: "VARCHAR", DATE: "DATE", TIMESTAMP: "TIMESTAMP", MONEY: "DECIMAL(16,2)",
                QUANTITY: "DECIMAL(18,4)", YEARMONTH: "VARCHAR", YEAR: "INTEGER", FLAG: "VARCHAR"}
LINEAGE_TYPES = {"_source": "VARCHAR", "_batch_id": "VARCHAR", "_file": "VARCHAR", "_line_number": "BIGINT",
                 "_ingest_time": "TIMESTAMP"}


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _canonical(t: str, rewrites, canonical: str, fmt: str, cast: str) -> str:
    rewritten = t
    for pattern, repl in rewrites:
        rewritten = f"regexp_replace({rewritten}, {_lit(pattern)}, {_lit(repl)})"
    text = f"(CASE WHEN regexp_full_match({t}, {_lit(canonical)}) THEN {t} ELSE {rewritten} END)"
    return f"CASE WHEN regexp_full_match({text}, {_lit(canonical)}) THEN CAST(TRY_STRPTIME({text}, {_lit(fmt)}) AS {cast}) END"


def _typed(col: str, kind: str) -> str:
    """The typed value of one raw text column, as yibao.ingestion.parse types it (null when it cannot be typed)."""
    raw = _q(col)
    if kind == STRING:
        return f"NULLIF({raw}, '')"
    t = f"NULLIF(trim({raw}), '')"
    if kind == DATE:
        return _canonical(t, _DATE_REWRITES, r"\d{4}-\d{2}-\d{2}", "%Y-%m-%d", "DATE")
    if kind == TIMESTAMP:
        return _canonical(t, _TS_REWRITES, r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", "%Y-%m-%d %H:%M:%S", "TIMESTAMP")
    if kind == YEARMONTH:
        compact = f"regexp_replace({t}, '^(\\d{{4}})-(\\d{{2}})$', '\\1\\2')"
        return f"CASE WHEN regexp_full_match({compact}, '\\d{{4}}(0[1-9]|1[0-2])') THEN {compact} END"
    pattern, cast = _PATTERNS[kind]
    return f"CASE WHEN regexp_full_match({t}, {_lit(pattern)}) THEN CAST({t} AS {cast}) END"


def fresh_connection(db: Path, threads: int, memory_limit: str = ""):
    """A new DuckDB database file (any earlier one removed) with the peer runs' thread and memory budget."""
    db.unlink(missing_ok=True)
    con = duckdb.connect(str(db))
    con.execute(f"SET threads = {int(threads)}")
    if memory_limit:
        con.execute(f"SET memory_limit = {_lit(memory_limit)}")
    return con


def _file_query(con, path: Path, spec, header: list[str], lineage: dict) -> str:
    """SELECT of the rows of one file that ``yibao ingest`` would land, typed, with lineage; the last
    occurrence of a repeated key wins."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE _raw AS SELECT * FROM read_csv({_lit(str(path))}, all_varchar=true, "
                f"header=true, ignore_errors=true, parallel=true, names=[{', '.join(_lit(c) for c in header)}])")
    present = set(header)
    typed, bad = [], []
    for c in spec.all_columns:
        kind = spec.type_of(c)
        if c not in present:
            typed.append(f"CAST(NULL AS {BRONZE_TYPES[kind]}) AS {_q(c)}")
            continue
        expr = _typed(c, kind)
        typed.append(f"{expr} AS {_q(c)}")
        if kind != STRING:
            bad.append(f"(NULLIF(trim({_q(c)}), '') IS NOT NULL AND ({expr}) IS NULL)")
    cols_present = [c for c in spec.all_columns if c in present]
    bad.append("(" + " AND ".join(f"NULLIF({_q(c)}, '') IS NULL" for c in cols_present) + ")" if cols_present else "true")
    bad += [f"NULLIF({_q(k)}, '') IS NULL" for k in spec.keys]
    bad += [f"coalesce(contains({_q(c)}, '\ufffd'), false)" for c in header]
    keys = ", ".join(_q(k) for k in spec.keys)
    lin = (f"{_lit(lineage['source'])} AS _source, {_lit(lineage['batch_id'])} AS _batch_id, "
           f"{_lit(lineage['file'])} AS _file, rowid + 1 AS _line_number, "
           f"TIMESTAMP {_lit(lineage['ingest_time'])} AS _ingest_time")
    return (f"SELECT * EXCLUDE (_bad) FROM (SELECT {', '.join(typed)}, {lin}, ({' OR '.join(bad)}) AS _bad FROM _raw) "
            f"WHERE NOT _bad QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY _line_number DESC) = 1")


def run_bronze(landing: Path, out: Path, threads: int = 2, memory_limit: str = "") -> dict:
    """The landing zone into the bronze state ``yibao ingest`` would leave (see the module docstring)."""
    from datetime import datetime, timezone

    from yibao.ingestion.ingest import discover
    from yibao.ingestion.manifest import BatchRejected, header_problem, read_manifest, verify_batch

    started = time.perf_counter()
    bronze = out / "bronze"
    bronze.mkdir(parents=True, exist_ok=True)
    work_db = out / "_ingest.duckdb"
    con = fresh_connection(work_db, threads, memory_limit)
    con.execute("SET preserve_insertion_order = true")
    rejected, files_rejected, applied = [], [], set()
    for batch_dir in discover(landing):
        try:
            manifest = read_manifest(batch_dir)
            files = verify_batch(batch_dir, manifest)
        except BatchRejected as exc:
            rejected.append([f"{batch_dir.parent.name}/{batch_dir.name}", exc.reason])
            continue
        ingest_time = datetime.now(timezone.utc).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
        for f in files:
            problem = header_problem(f)
            if problem:
                files_rejected.append([f"{manifest.source}/{manifest.batch_id}/{f.entry.name}", problem])
                continue
            path, tmp = f.path, None
            if manifest.encoding.lower() not in ("utf-8", "utf8"):
                tmp = tempfile.NamedTemporaryFile(suffix=".csv", delete=False)
                with f.path.open("r", encoding=manifest.encoding, errors="replace") as fin, \
                        open(tmp.name, "w", encoding="utf-8") as fout:
                    for chunk in iter(lambda: fin.read(1 << 22), ""):
                        fout.write(chunk)
                path = Path(tmp.name)
            spec, table = f.spec, _q("b_" + f.spec.bronze_name)
            query = _file_query(con, path, spec, f.header, {"source": manifest.source, "batch_id": manifest.batch_id,
                                                            "file": f.entry.name, "ingest_time": ingest_time})
            if manifest.mode == "full" or spec.bronze_name not in applied:
                keep = "" if manifest.mode == "full" else " WHERE coalesce(del_flag, '0') <> '1'"
                con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM ({query}){keep}")
            else:
                con.execute(f"CREATE OR REPLACE TEMP TABLE _new AS {query}")
                on = " AND ".join(f"t.{_q(k)} = n.{_q(k)}" for k in spec.keys)
                con.execute(f"DELETE FROM {table} t USING _new n WHERE {on}")
                con.execute(f"INSERT INTO {table} SELECT * FROM _new WHERE coalesce(del_flag, '0') <> '1'")
            applied.add(spec.bronze_name)
            if tmp is not None:
                Path(tmp.name).unlink()
    rows = {}
    for name in sorted(applied):
        target = bronze / f"{name}.parquet"
        con.execute(f"COPY {_q('b_' + name)} TO {_lit(str(target))} (FORMAT parquet)")
        rows[name] = con.execute(f"SELECT count(*) FROM {_q('b_' + name)}").fetchone()[0]
    con.close()
    work_db.unlink(missing_ok=True)
    Path(str(work_db) + ".wal").unlink(missing_ok=True)
    return {"rows": sum(rows.values()), "tables": rows, "batches_rejected": rejected, "files_rejected": files_rejected,
            "seconds": time.perf_counter() - started}


if __name__ == "__main__":
    args = sys.argv[1:]
    if args and args[0] == "--bronze":
        print(json.dumps(run_bronze(Path(args[1]), Path(args[2]), memory_limit=args[3] if len(args) > 3 else "")))
    else:
        print(json.dumps(run(Path(args[0]), Path(args[1]))))
