"""The release gate between bronze and silver.

``meta.released_version`` holds, per bronze table, the last Delta version that passed its blocking
checks (one row per table, replaced on each release).  Downstream reads that version, never the head
of the table, so a batch that fails a blocking check is *held*: it stays in bronze (and in the Delta
history) but silver and gold keep being built from the previous good version.  Each hold is recorded in
``meta.quality_hold`` with its reasons; a later batch that passes releases its own (newer) version.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

from pyspark.sql import DataFrame, Row
from pyspark.sql import functions as F

from yibao.catalog import Catalog, read_version
from yibao.config import Settings

RELEASED_DDL = ("`schema` string, `table` string, delta_version bigint, batch_id string, released_at timestamp, "
                "run_id string")
HOLD_DDL = ("run_id string, run_time timestamp, layer string, `schema` string, `table` string, source string, "
            "batch_id string, delta_version bigint, released_version bigint, blocking_failures int, "
            "reasons string")


def _catalog(settings: Settings) -> Catalog:
    from yibao.engine import spark_session

    return Catalog(spark_session(settings), settings)


def current_version(cat: Catalog, schema: str, table: str) -> int | None:
    """Head version of a Delta table (None when it does not exist)."""
    if not cat.exists(schema, table):
        return None
    from deltalake import DeltaTable

    return DeltaTable(str(cat.path(schema, table))).version()


def released_versions(cat: Catalog) -> dict[tuple[str, str], Row]:
    if not cat.exists("meta", "released_version"):
        return {}
    return {(r["schema"], r["table"]): r for r in cat.read("meta", "released_version").collect()}


def released_version(settings: Settings, schema: str, table: str) -> int | None:
    """The last Delta version of ``schema.table`` that passed its blocking checks (None: nothing released)."""
    r = released_versions(_catalog(settings)).get((schema, table))
    return None if r is None else int(r["delta_version"])


def read_released(settings: Settings, schema: str, table: str) -> DataFrame:
    """The released version of a table as a Spark DataFrame.

    When nothing of the table has been released yet the result is empty, with the table's columns, so that
    downstream models publish nothing from a table that never passed its checks.
    """
    cat = _catalog(settings)
    path = str(cat.path(schema, table))
    v = released_version(settings, schema, table)
    if v is None:
        return cat.spark.read.format("delta").load(path).limit(0)
    return read_version(cat.spark, path, v)


def release(cat: Catalog, schema: str, table: str, version: int, batch_id: str | None, run_id: str) -> None:
    cat.ensure("meta", "released_version", RELEASED_DDL)
    row = Row(schema=schema, table=table, delta_version=int(version), batch_id=batch_id,
              released_at=datetime.now(timezone.utc).replace(tzinfo=None), run_id=run_id)
    cat.upsert(cat.spark.createDataFrame([row], RELEASED_DDL), "meta", "released_version", ["schema", "table"])


def record_holds(cat: Catalog, rows: list[dict]) -> None:
    if not rows:
        return
    cat.ensure("meta", "quality_hold", HOLD_DDL)
    cat.append(cat.spark.createDataFrame([Row(**r) for r in rows], HOLD_DDL), "meta", "quality_hold")


def holds(settings: Settings) -> DataFrame | None:
    cat = _catalog(settings)
    return cat.read("meta", "quality_hold").orderBy(F.col("run_time").desc()) \
        if cat.exists("meta", "quality_hold") else None


# -- what is held, and the steward's decisions --------------------------------------------------------------

def latest_applied_batch(cat: Catalog, source: str, source_table: str) -> str | None:
    """The latest batch applied to a bronze table (meta.ingest_log), None when nothing was delivered."""
    if not cat.exists("meta", "ingest_log"):
        return None
    row = (cat.read("meta", "ingest_log")
           .where((F.col("source") == source) & (F.col("source_table") == source_table)
                  & (F.col("status") == "applied"))
           .agg(F.max("batch_id")).first())
    return row[0] if row else None


def door_held(cat: Catalog) -> dict[tuple[str, str], list[str]]:
    """(source, table) -> batch ids held at the door (ingestion did not apply them; meta.ingest_log status held)."""
    if not cat.exists("meta", "ingest_log"):
        return {}
    out: dict[tuple[str, str], list[str]] = {}
    for r in cat.read("meta", "ingest_log").where(F.col("status") == "held").collect():
        out.setdefault((r.source, r.source_table), []).append(r.batch_id)
    return out


def delete_gate_quarantine(cat: Catalog, spec) -> None:
    """Remove the gate's rows of one contract table from meta.quarantine (ingestion's rows stay)."""
    from yibao.contract import table_spec

    if table_spec(spec.source, spec.name) is None:
        raise ValueError(f"not a contract table: {spec}")
    if not cat.exists("meta", "quarantine"):
        return
    keys = ["source", "source_table", "rule", "batch_id", "file", "line_number"]
    stale = (cat.read("meta", "quarantine")
             .where((F.col("source") == spec.source) & (F.col("source_table") == spec.name)
                    & F.col("rule").startswith("gate.")).select(*keys))
    if stale.limit(1).count():
        cat.delete_matching(stale, "meta", "quarantine", keys)


def steward_hold(decisions: dict, source: str, source_table: str, released_batch: str | None,
                 head_batch: str | None) -> Row | None:
    """A steward's hold in force on a batch of this table that the released version does not contain yet."""
    for (s, t, b), d in sorted(decisions.items(), key=lambda kv: kv[0][2]):
        if (s, t) == (source, source_table) and d.action == "hold" \
                and (released_batch is None or b > released_batch) and (head_batch is None or b <= head_batch):
            return d
    return None


def pending(cat: Catalog) -> list[dict]:
    """Everything held now, for stewards: batches held at the door (ingestion did not apply them), table
    versions held at the gate, and rows waiting on a held parent.  One dict per item with ``kind``
    (door | gate | waiting), source, source_table, batch_id, reason and the command that decides it."""
    out: list[dict] = []
    if cat.exists("meta", "ingest_log"):
        for r in cat.read("meta", "ingest_log").where(F.col("status") == "held").orderBy("batch_id").collect():
            out.append(dict(kind="door", source=r.source, source_table=r.source_table, batch_id=r.batch_id,
                            reason=r.reason or ""))
    released = released_versions(cat)
    if cat.exists("meta", "quality_hold"):
        last: dict[str, Row] = {}
        for r in cat.read("meta", "quality_hold").where(F.col("layer") == "bronze").orderBy("run_time").collect():
            last[r["table"]] = r
        for table, r in sorted(last.items()):
            rel = released.get(("bronze", table))
            if rel is not None and r.delta_version is not None and int(rel.delta_version) >= int(r.delta_version):
                continue     # released since (a later batch passed, or a steward released it)
            source, source_table = table.split("__", 1)
            out.append(dict(kind="gate", source=source, source_table=source_table, batch_id=r.batch_id,
                            reason=r.reasons or ""))
    if cat.exists("meta", "gate_exclusion"):
        for r in cat.read("meta", "gate_exclusion").where(F.col("waiting_rows") > 0).collect():
            source, source_table = r["table"].split("__", 1)
            parents = ", ".join(json.loads(r.waiting_on or "[]")) or "?"
            out.append(dict(kind="waiting", source=source, source_table=source_table, batch_id="",
                            reason=f"{r.waiting_rows:,} rows held because parent {parents} is held "
                                   f"({r.waiting_rows:,} 行等待上级批次 {parents} 放行)"))
    for item in out:
        if item["kind"] != "waiting":
            label = f"{item['source']}/{item['source_table']} {item['batch_id']}"
            item["decide"] = f"yibao quality release {label} --reason ...  |  yibao quality hold {label} --reason ..."
        else:
            item["decide"] = "decided with the parent's hold"
    return out
