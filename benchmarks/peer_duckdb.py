"""Peer run on DuckDB: the person deduplication of the dbt project, the same SQL, executed by DuckDB.

    python -m yibao.benchmarks.peer_duckdb --manifest M --bronze DIR --db FILE [--memory-limit 9GiB]

One source of truth: nothing here restates a matching rule.  ``dbt compile --select +person_master``
(run by ``peers.py`` through ``yibao transform compile``) renders the models; this module takes each
selected model's ``compiled_code`` from dbt's ``manifest.json``, transpiles it from Spark SQL to DuckDB with
``sqlglot`` and runs the models in dependency order as ``CREATE TABLE <schema>.<model> AS ...`` in a DuckDB
database file, over:

* ``released.<source>__<table>``: views over the bronze Parquet files of ``duckdb_ingest.py --bronze``
  (a contract table never delivered is an empty table with its bronze columns, as ``ensure_sources`` does);
* the seeds the models need, loaded from the project's CSV files with the column types of ``dbt_project.yml``.

Spark functions that sqlglot does not carry over with Spark's meaning are DuckDB macros defined here
(:data:`MACROS`): ``pmod`` (DuckDB has none), ``levenshtein`` (DuckDB's counts bytes, Spark's counts
characters: '张三' vs '张四' is 3 in DuckDB, 1 in Spark) and ``unix_timestamp`` of a timestamp (sqlglot
assumes a string and emits ``epoch(strptime(x, ...))``, which DuckDB refuses for a timestamp).
Prints one JSON line: seconds per model and in total.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import duckdb
import sqlglot
from sqlglot import exp

from yibao.benchmarks.duckdb_ingest import fresh_connection

MACROS = {
    # Spark pmod: the non-negative remainder (null when dividing by zero)
    "pmod": "CREATE OR REPLACE MACRO pmod(a, n) AS CASE WHEN n = 0 THEN NULL ELSE ((a % n) + n) % n END",
    # Spark unix_timestamp(ts): whole seconds since the epoch (the session time zone is UTC on both sides)
    "spark_unix_timestamp": "CREATE OR REPLACE MACRO spark_unix_timestamp(x) AS "
                            "CAST(floor(epoch(CAST(x AS TIMESTAMP))) AS BIGINT)",
    # Spark levenshtein counts edits of characters; DuckDB's built-in counts bytes (UTF-8).  ASCII strings take
    # the built-in; others a dynamic-programming row per character of a (list_reduce over the rows).
    "_levenshtein_chars": "CREATE OR REPLACE MACRO _levenshtein_chars(a, b) AS (list_reduce("
                          "list_transform(generate_series(1, length(a)), lambda x: [x]), "
                          "lambda prev, il: list_reduce(list_transform(generate_series(1, length(b)), lambda y: [y]), "
                          "lambda row, jl: list_append(row, least(prev[jl[1] + 1] + 1, row[jl[1]] + 1, prev[jl[1]] + "
                          "CAST(substring(a, il[1], 1) <> substring(b, jl[1], 1) AS BIGINT))), [il[1]]), "
                          "generate_series(0, length(b))))[-1]",
    "spark_levenshtein": "CREATE OR REPLACE MACRO spark_levenshtein(a, b) AS CASE "
                         "WHEN strlen(a) = length(a) AND strlen(b) = length(b) THEN levenshtein(a, b) "
                         "ELSE _levenshtein_chars(a, b) END",
}

_SPARK_DEFAULT_TS = sqlglot.parse_one("unix_timestamp(x)", read="spark").args["format"].name


def _spark_meaning(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.StrToUnix) and (node.args.get("format") is None
                                            or node.args["format"].name == _SPARK_DEFAULT_TS):
        return exp.Anonymous(this="spark_unix_timestamp", expressions=[node.this])
    if isinstance(node, exp.Levenshtein) and not any(node.args.get(k) for k in ("ins_cost", "del_cost", "sub_cost",
                                                                                "max_dist")):
        return exp.Anonymous(this="spark_levenshtein", expressions=[node.this, node.expression])
    return node


def to_duckdb(spark_sql: str) -> str:
    """One compiled dbt model (Spark SQL) as DuckDB SQL, Spark's meaning kept (see :data:`MACROS`)."""
    tree = sqlglot.parse_one(spark_sql, read="spark")
    return tree.transform(_spark_meaning).sql(dialect="duckdb")


def _duck_type(spark_type: str) -> str:
    return exp.DataType.build(spark_type, dialect="spark").sql(dialect="duckdb")


def plan(manifest: dict, target: str = "person_master") -> tuple[list[dict], list[dict], list[dict]]:
    """(sources, seeds, models in dependency order) that ``target`` needs."""
    nodes, sources = manifest["nodes"], manifest["sources"]
    root = next(k for k, n in nodes.items() if n["resource_type"] == "model" and n["name"] == target)
    order, seen = [], set()

    def visit(uid: str) -> None:
        if uid in seen:
            return
        seen.add(uid)
        node = nodes.get(uid) or sources.get(uid)
        for dep in (node.get("depends_on") or {}).get("nodes", []):
            visit(dep)
        order.append(uid)

    visit(root)
    srcs = [sources[u] for u in order if u in sources]
    seeds = [nodes[u] for u in order if u in nodes and nodes[u]["resource_type"] == "seed"]
    models = [nodes[u] for u in order if u in nodes and nodes[u]["resource_type"] == "model"]
    return srcs, seeds, models


def _release(con, src: dict, bronze: Path) -> None:
    from yibao.benchmarks.duckdb_ingest import BRONZE_TYPES, LINEAGE_TYPES
    from yibao.contract import TABLES

    rel, path = src["relation_name"], bronze / f"{src['identifier']}.parquet"
    if path.is_file():
        con.execute(f"CREATE OR REPLACE VIEW {rel} AS SELECT * FROM read_parquet('{path}')")
        return
    spec = next(t for t in TABLES if t.bronze_name == src["identifier"])
    cols = [f'"{c}" {BRONZE_TYPES[spec.type_of(c)]}' for c in spec.all_columns]
    cols += [f'"{c}" {t}' for c, t in LINEAGE_TYPES.items()]
    con.execute(f"CREATE OR REPLACE TABLE {rel} ({', '.join(cols)})")


def _seed(con, node: dict) -> None:
    path = Path(node["root_path"]) / node["original_file_path"]
    types = node["config"].get("column_types") or {}
    header = [d[0] for d in con.execute(f"SELECT * FROM read_csv('{path}', all_varchar=true, header=true) LIMIT 0")
              .description]
    cols = [f'CAST("{c}" AS {_duck_type(types[c])}) AS "{c}"' if c in types else f'"{c}"' for c in header]
    con.execute(f"CREATE OR REPLACE TABLE {node['relation_name']} AS SELECT {', '.join(cols)} "
                f"FROM read_csv('{path}', all_varchar=true, header=true)")


def run(manifest_path: Path, bronze: Path, db: Path, threads: int = 2, memory_limit: str = "",
        target: str = "person_master") -> dict:
    manifest = json.loads(manifest_path.read_text())
    srcs, seeds, models = plan(manifest, target)
    missing = [m["name"] for m in models if not m.get("compiled_code")]
    if missing:
        raise RuntimeError(f"{manifest_path} has no compiled SQL for {missing}: run dbt compile --select +{target}")
    started = time.perf_counter()
    sql = {m["name"]: to_duckdb(m["compiled_code"]) for m in models}
    out = {"transpile_seconds": time.perf_counter() - started, "models": {}}
    con = fresh_connection(db, threads, memory_limit)
    con.execute("SET TimeZone = 'UTC'")
    for ddl in MACROS.values():
        con.execute(ddl)
    schemas = {r.split(".")[0] for r in [s["relation_name"] for s in srcs] + [n["relation_name"] for n in seeds + models]}
    for schema in sorted(schemas):
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    t0 = time.perf_counter()
    for s in srcs:
        _release(con, s, bronze)
    for s in seeds:
        _seed(con, s)
    out["sources_and_seeds_seconds"] = time.perf_counter() - t0
    for m in models:
        t0 = time.perf_counter()
        try:
            con.execute(f"CREATE OR REPLACE TABLE {m['relation_name']} AS {sql[m['name']]}")
        except duckdb.Error as e:
            raise RuntimeError(f"model {m['name']} failed on DuckDB: {e}\n--- transpiled SQL:\n{sql[m['name']]}") from e
        out["models"][m["name"]] = time.perf_counter() - t0
    con.execute("CHECKPOINT")
    con.close()
    out["seconds"] = time.perf_counter() - started
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--manifest", type=Path, required=True, help="dbt target/manifest.json after dbt compile")
    ap.add_argument("--bronze", type=Path, required=True, help="folder of <source>__<table>.parquet")
    ap.add_argument("--db", type=Path, required=True, help="DuckDB database file to build (replaced)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--memory-limit", default="", help="DuckDB memory_limit, e.g. 9GiB (default: DuckDB's 80%% of RAM)")
    ap.add_argument("--target", default="person_master")
    ap.add_argument("--show-sql", action="store_true", help="print the transpiled SQL of each model and exit")
    args = ap.parse_args(argv)
    if args.show_sql:
        _, _, models = plan(json.loads(args.manifest.read_text()), args.target)
        for m in models:
            print(f"-- {m['relation_name']}\n{to_duckdb(m['compiled_code'])};\n")
        return
    print(json.dumps(run(args.manifest, args.bronze, args.db, args.threads, args.memory_limit, args.target)))


if __name__ == "__main__":
    sys.exit(main())
