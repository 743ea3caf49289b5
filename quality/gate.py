"""The release gate between bronze and silver.

``meta.released_version`` holds, per bronze table, the last Delta version that passed its blocking
checks (one row per table, replaced on each release).  Downstream reads that version, never the head
of the table, so a batch that fails a blocking check is *held*: it stays in bronze (and in the Delta
history) but silver and gold keep being built from the previous good version.  Each hold is recorded in
``meta.quality_hold`` with its reasons; a later batch that passes releases its own (newer) version.
"""

from __future__ import annotations

from datetime import datetime, timezone

from pyspark.sql import DataFrame, Row
from pyspark.sql import functions as F

from yibao.catalog import Catalog
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
    return cat.spark.read.format("delta").option("versionAsOf", v).load(path)


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
