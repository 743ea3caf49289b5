"""The warehouse catalog: where tables live on disk, and the few ways stages write them.

Layout: ``<warehouse>/<schema>/<table>/`` holds one table (Delta by default).  The tables on disk are
the truth; the engine's catalog is rebuilt from them at session start.  All writes go through this
module so that the Delta path (atomic commits, MERGE) and the Parquet path (a JVM Spark without
Delta, used to prove portability) stay in one place.

SQL text is built here only from validated names (schemas, tables and columns: identifiers; locations:
warehouse paths without quote, backslash or backtick); values always travel as data (DataFrames,
literals), never inside SQL text.
"""

from __future__ import annotations

import json
import re
import shutil
import uuid
from functools import reduce
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from yibao.config import Settings
from yibao.faults import checkpoint

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# Spark Connect sends a client-built DataFrame as one gRPC message, 128 MiB at most; Spark 4's chunked
# upload of large local relations (artifacts) is not implemented by Sail.  Larger uploads go in chunks of
# about this many bytes of data (Arrow's encoding adds offsets and validity: well under the limit).
UPLOAD_CHUNK_BYTES = 32 << 20

# (session url, schema, table) -> registered location; lets one process switch warehouses safely.
_registered: dict[tuple[str, str, str], str] = {}


def is_delta_table(path: Path) -> bool:
    """Whether ``path`` holds a Delta table: a commit in its log, not only the log folder (a write that failed
    before its first commit, on a full disk or killed, can leave an empty ``_delta_log`` behind)."""
    return next((Path(path) / "_delta_log").glob("*.json"), None) is not None


def allow_time_travel(path: Path | str, version: int) -> None:
    """Make version ``version`` of the Delta table at ``path`` readable by time travel on Sail.

    Sail 0.7 trap (found 2026-12-07, when the bronze tables of a 1M warehouse reached their first checkpoint after
    ten daily runs): a read of a version older than the table's latest checkpoint fails with "Missing commit file:
    expected version 0, found <version - 1>", because the reader starts listing the log just below the version
    named by ``_delta_log/_last_checkpoint`` and then finds no checkpoint at or before the version it wants.  That
    file is only a hint (the Delta protocol lets readers do without it): removed, the reader lists the whole log and
    replays from version 0 or the latest checkpoint at or before ``version``, correctly.  The next checkpoint
    (every tenth commit) writes it again.  A local warehouse only; on object storage nothing is done."""
    hint = Path(path) / "_delta_log" / "_last_checkpoint"
    try:
        checkpoint_version = int(json.loads(hint.read_text(encoding="utf-8"))["version"])
    except (OSError, ValueError, KeyError, TypeError):
        return
    if checkpoint_version > int(version):
        hint.unlink(missing_ok=True)


def read_version(spark: SparkSession, path: Path | str, version: int) -> DataFrame:
    """The Delta table at ``path`` as of ``version`` (time travel; see :func:`allow_time_travel`)."""
    allow_time_travel(path, version)
    return spark.read.format("delta").option("versionAsOf", int(version)).load(str(path))


def read_delta_arrow(path: Path, columns: list[str] | None = None):
    """The current version of the Delta table at ``path`` as an Arrow table of ``columns`` (None: all), read without
    the engine (for the orchestrator's sensor, warehouse maintenance and tests); None when ``path`` is not a Delta
    table.  Read through the file list, not ``to_pyarrow_table`` (which can abort the interpreter at exit:
    stack.md); a table with deletion vectors (an incremental bronze table) through delta-rs's query engine,
    which applies them (its file list would bring back the rows they remove)."""
    if not is_delta_table(path):
        return None
    import pyarrow as pa
    import pyarrow.dataset as ds
    from deltalake import DeltaTable, QueryBuilder

    dt = DeltaTable(str(path))
    if _has_deletion_vectors(dt):
        table = pa.table(QueryBuilder().register("t", dt).execute("SELECT * FROM t").read_all())
        return table if columns is None else table.select(columns)
    return ds.dataset(dt.file_uris(), format="parquet").to_table(columns=columns)


def _has_deletion_vectors(dt) -> bool:
    """Whether the Delta table ``dt`` (a ``deltalake.DeltaTable``) may carry deletion vectors (its protocol has the
    reader feature)."""
    return "deletionVectors" in (dt.protocol().reader_features or [])


def _ident(name: str) -> str:
    if not isinstance(name, str) or not _IDENT.fullmatch(name):
        raise ValueError(f"not a valid table or schema name: {name!r}")
    return name


def _col(name: str) -> str:
    """A column name quoted for SQL text (identifiers only)."""
    if not isinstance(name, str) or not _IDENT.fullmatch(name):
        raise ValueError(f"not a valid column name: {name!r}")
    return f"`{name}`"


_UNSAFE_IN_LOCATION = re.compile(r"['\\`\x00-\x1f\x7f]")


def _location(path: Path) -> str:
    """A warehouse path as it appears in SQL text (``LOCATION '...'``, ``delta.`...```)."""
    text = str(path)
    if _UNSAFE_IN_LOCATION.search(text):
        raise ValueError(f"warehouse path {text!r} contains a quote, backslash, backtick or control character; "
                         f"choose a warehouse_root without them")
    return text


# Column types compared by value in a MERGE that deletes rows matched on every column.
_EXACT_TYPES = (T.StringType, T.BooleanType, T.ByteType, T.ShortType, T.IntegerType, T.LongType, T.DecimalType,
                T.DateType, T.TimestampType, T.TimestampNTZType, T.BinaryType)


class Catalog:
    def __init__(self, spark: SparkSession, settings: Settings):
        self.spark = spark
        self.settings = settings
        self.fmt = settings.table_format
        self.root = settings.warehouse

    # -- locations -------------------------------------------------------------------------------
    def path(self, schema: str, table: str) -> Path:
        return self.root / _ident(schema) / _ident(table)

    def exists(self, schema: str, table: str) -> bool:
        p = self.path(schema, table)
        if self.fmt == "delta":
            return is_delta_table(p)
        return p.is_dir() and any(p.glob("*.parquet"))

    def tables(self) -> list[tuple[str, str]]:
        """Every (schema, table) stored under the warehouse root."""
        found = []
        if not self.root.is_dir():
            return found
        # schemas starting with '_' hold work files (e.g. ingestion staging), not published tables
        for sdir in sorted(p for p in self.root.iterdir()
                           if p.is_dir() and _IDENT.fullmatch(p.name) and not p.name.startswith("_")):
            for tdir in sorted(p for p in sdir.iterdir() if p.is_dir() and _IDENT.fullmatch(p.name)):
                if self.exists(sdir.name, tdir.name):
                    found.append((sdir.name, tdir.name))
        return found

    # -- catalog ---------------------------------------------------------------------------------
    def register(self, schema: str, table: str) -> None:
        """Make ``schema.table`` name the table at its warehouse location (idempotent)."""
        from yibao.engine import remote_url

        location = str(self.path(schema, table))
        key = (remote_url() or "", schema, table)
        if _registered.get(key) == location:
            return
        self.spark.sql(f"CREATE SCHEMA IF NOT EXISTS {_ident(schema)}")
        if key in _registered:  # the name points at another warehouse: drop the entry (data stays)
            self.spark.sql(f"DROP TABLE IF EXISTS {schema}.{_ident(table)}")
        self.spark.sql(f"CREATE TABLE IF NOT EXISTS {schema}.{_ident(table)} USING {_ident(self.fmt)} "
                       f"LOCATION '{_location(Path(location))}'")
        _registered[key] = location

    def _target(self, schema: str, table: str) -> str:
        """SQL name of a Delta table by location, independent of the catalog."""
        return f"delta.`{_location(self.path(schema, table))}`"

    def rebuild(self) -> list[tuple[str, str]]:
        """Register every table on disk in the engine's catalog (Sail keeps it in memory only)."""
        tables = self.tables()
        for schema, table in tables:
            self.register(schema, table)
        return tables

    # -- client data ----------------------------------------------------------------------------
    def upload(self, rows: list[tuple], schema: T.StructType | str, name: str) -> DataFrame:
        """Rows built on the client as an engine DataFrame, however many there are.

        Rows that fit one message are sent as one local relation.  Larger ones are written in chunks to the
        work table ``_upload.<name>`` (overwritten by the next upload of that name) and read back, so a
        final write from the result is still one atomic commit of the target table."""
        chunks = list(chunk_rows(rows, UPLOAD_CHUNK_BYTES))
        if len(chunks) <= 1:
            return self.spark.createDataFrame(rows, schema)
        for i, chunk in enumerate(chunks):
            df = self.spark.createDataFrame(chunk, schema)
            if i == 0:
                self.overwrite(df, "_upload", name)
            else:
                self.append(df, "_upload", name)
        return self.read("_upload", name)

    # -- reads -----------------------------------------------------------------------------------
    def read(self, schema: str, table: str) -> DataFrame:
        return self.spark.read.format(self.fmt).load(str(self.path(schema, table)))

    # -- writes ----------------------------------------------------------------------------------
    def overwrite(self, df: DataFrame, schema: str, table: str, partition_by: list[str] | None = None) -> None:
        """Replace the table's content with ``df`` (one atomic commit on Delta)."""
        checkpoint("write")
        if self.fmt == "delta" or not self.exists(schema, table):
            w = df.write.format(self.fmt).mode("overwrite")
            if self.fmt == "delta":
                w = w.option("overwriteSchema", "true")
            if partition_by:
                w = w.partitionBy(*partition_by)
            w.save(str(self.path(schema, table)))
        else:
            self._swap_parquet(df, schema, table, partition_by)
        self.register(schema, table)

    def overwrite_work(self, df: DataFrame, schema: str, table: str) -> None:
        """Overwrite a work table (rebuilt on every run, never time-travelled) and drop its earlier versions'
        files, which can be as large as the table itself."""
        self.overwrite(df, schema, table)
        if self.fmt == "delta":
            import warnings

            from deltalake import DeltaTable

            try:
                DeltaTable(str(self.path(schema, table))).vacuum(retention_hours=0, dry_run=False,
                                                                 enforce_retention_duration=False)
            except Exception as exc:   # disk space only: the table itself is complete
                warnings.warn(f"could not vacuum {schema}.{table}: {exc}")

    def append(self, df: DataFrame, schema: str, table: str) -> None:
        checkpoint("write")
        df.write.format(self.fmt).mode("append").save(str(self.path(schema, table)))
        self.register(schema, table)

    def ensure(self, schema: str, table: str, ddl: str) -> None:
        """Create the table empty with the given schema if it does not exist yet."""
        if not self.exists(schema, table):
            self.overwrite(self.spark.createDataFrame([], ddl), schema, table)

    def ensure_columns(self, schema: str, table: str, ddl: str) -> None:
        """Create the table empty with ``ddl``, or add the columns of ``ddl`` it lacks (null in existing rows;
        on Delta a commit of the schema only)."""
        if not self.exists(schema, table):
            self.ensure(schema, table, ddl)
            return
        current = self.read(schema, table)
        missing = [f for f in self.spark.createDataFrame([], ddl).schema.fields if f.name not in current.columns]
        if not missing:
            return
        if self.fmt == "delta":
            (self.spark.createDataFrame([], T.StructType(current.schema.fields + missing)).write.format("delta")
             .mode("append").option("mergeSchema", "true").save(str(self.path(schema, table))))
            self.register(schema, table)
        else:
            self.overwrite(current.select("*", *[F.lit(None).cast(f.dataType).alias(f.name) for f in missing]),
                           schema, table)

    @staticmethod
    def matching(values: dict) -> Column:
        """Rows whose columns equal ``values`` ({column: value}; None matches null), as a filter."""
        if not values:
            raise ValueError("matching needs at least one column")
        return reduce(lambda a, b: a & b, [F.col(c).eqNullSafe(F.lit(v)) for c, v in values.items()])

    def delete_where(self, schema: str, table: str, condition: Column | dict) -> None:
        """Delete the rows that satisfy ``condition``: a Column, or {column: value} (equality, None = null).

        Values are passed as data, never formatted into SQL text.  Nothing is committed when no row
        matches.  On Delta the rows are deleted by a MERGE against the matching rows (from a dict: one row
        of the values), so only files holding them are rewritten."""
        if isinstance(condition, dict):
            where = self.matching(condition)
        elif isinstance(condition, Column):
            where = condition
        else:
            raise TypeError(f"delete_where takes a Column or a dict of column values, not {type(condition).__name__}")
        if not self.exists(schema, table):
            return
        current = self.read(schema, table)
        if not current.where(where).limit(1).collect():
            return
        fields = current.schema.fields
        if self.fmt != "delta" or (not isinstance(condition, dict)
                                   and not all(isinstance(f.dataType, _EXACT_TYPES) for f in fields)):
            self.overwrite(current.where(~where | where.isNull()), schema, table)    # rows where it is null stay
        elif isinstance(condition, dict):
            by_name = {f.name: f for f in fields}
            keys = list(condition)
            source = self.spark.createDataFrame([tuple(condition[c] for c in keys)],
                                                T.StructType([by_name[c] for c in keys]))
            self._merge_delete(source, schema, table, keys, null_safe=True, store=False)
        else:
            self._merge_delete(current.where(where).distinct(), schema, table, [f.name for f in fields],
                               null_safe=True)

    def _merge_delete(self, source: DataFrame, schema: str, table: str, keys: list[str], null_safe: bool,
                      store: bool = True) -> None:
        """MERGE ... DELETE the rows matching ``source`` on ``keys``.  The source's keys are stored first
        (``_staging/_delete__<schema>__<table>``) unless ``store`` is false (one row made locally): a stored
        table has exact statistics, so the engine can build the MERGE's join on it (the rows to delete, few)
        and not on the target; Sail cannot spill a join's hash table, and a source computed from the target
        itself (a filter of it) gives the planner no size to choose by."""
        checkpoint("write")
        work = f"_delete__{schema}__{table}"
        if store:
            self.overwrite(source.select(*keys).distinct(), "_staging", work)
            source = self.read("_staging", work)
        view = f"_delete_{uuid.uuid4().hex}"
        source.select(*keys).createOrReplaceTempView(view)
        eq = "<=>" if null_safe else "="
        on = " AND ".join(f"t.{_col(k)} {eq} s.{_col(k)}" for k in keys)
        try:
            self.spark.sql(f"MERGE INTO {self._target(schema, table)} t USING {view} s ON {on} "
                           f"WHEN MATCHED THEN DELETE")
        finally:
            self.spark.catalog.dropTempView(view)
            if store:
                shutil.rmtree(self.path("_staging", work), ignore_errors=True)

    def delete_matching(self, df: DataFrame, schema: str, table: str, keys: list[str]) -> None:
        """Delete the table's rows that match a row of ``df`` on ``keys`` (all non-null)."""
        if self.fmt == "delta":
            self._merge_delete(df, schema, table, list(keys), null_safe=False)
        else:
            kept = self.read(schema, table).join(df.select(*keys), on=keys, how="left_anti")
            self._swap_parquet(kept, schema, table)

    def deletion_vectors(self, schema: str, table: str) -> bool:
        """Switch on Delta deletion vectors for a table (once: one commit of the table property; True when it
        was switched on now).  A MERGE into such a table marks the replaced and deleted rows of a data file in
        a small deletion-vector file instead of rewriting the file: one day's corrections, spread over every
        file of a bronze table, rewrote the whole table (2.5 GB of bronze at 10M persons for 0.3% of them
        changing).  Read by the engine (Sail, delta-spark) and :func:`read_delta_arrow`."""
        from deltalake import DeltaTable

        if self.fmt != "delta" or _has_deletion_vectors(DeltaTable(str(self.path(schema, table)))):
            return False
        self.register(schema, table)
        self.spark.sql(f"ALTER TABLE {_ident(schema)}.{_ident(table)} "
                       "SET TBLPROPERTIES ('delta.enableDeletionVectors' = 'true')")
        return True

    def upsert(self, df: DataFrame, schema: str, table: str, keys: list[str] | tuple[str, ...],
               delete_flag: str | None = None, deletion_vectors: bool = False) -> None:
        """Insert or replace rows of ``df`` by ``keys``; rows whose ``delete_flag`` column is '1' delete.

        ``df`` must have the table's columns and at most one row per key.  ``deletion_vectors``: the MERGE
        marks replaced rows instead of rewriting their files (:meth:`deletion_vectors`).
        """
        if not keys:
            raise ValueError(f"upsert into {schema}.{table} needs key columns")
        cols = df.columns
        kept = df.where(F.coalesce(F.col(delete_flag), F.lit("0")) != F.lit("1")) if delete_flag else df
        if not self.exists(schema, table):
            self.overwrite(kept, schema, table)
            return
        if self.fmt == "delta":
            if deletion_vectors:
                self.deletion_vectors(schema, table)
            checkpoint("write")
            view = f"_upsert_{uuid.uuid4().hex}"
            df.createOrReplaceTempView(view)
            on = " AND ".join(f"t.{_col(k)} = s.{_col(k)}" for k in keys)
            sets = ", ".join(f"t.{_col(c)} = s.{_col(c)}" for c in cols)
            ins_cols = ", ".join(_col(c) for c in cols)
            ins_vals = ", ".join(f"s.{_col(c)}" for c in cols)
            deleted = f"coalesce(s.{_col(delete_flag)}, '0') = '1'" if delete_flag else "false"
            try:
                self.spark.sql(
                    f"MERGE INTO {self._target(schema, table)} t USING {view} s ON {on} "
                    f"WHEN MATCHED AND {deleted} THEN DELETE "
                    f"WHEN MATCHED THEN UPDATE SET {sets} "
                    f"WHEN NOT MATCHED AND NOT ({deleted}) THEN INSERT ({ins_cols}) VALUES ({ins_vals})")
            finally:
                self.spark.catalog.dropTempView(view)
        else:
            old = self.read(schema, table).join(df.select(*keys), on=list(keys), how="left_anti")
            self._swap_parquet(old.unionByName(kept.select(*old.columns)), schema, table)

    def _swap_parquet(self, df: DataFrame, schema: str, table: str,
                      partition_by: list[str] | None = None) -> None:
        """Parquet has no transactions: write the new state beside the table, then swap directories.

        Only used on the JVM Spark portability path, where the warehouse is a local directory.
        """
        target = self.path(schema, table)
        staging = target.with_name(f".{table}.next")
        shutil.rmtree(staging, ignore_errors=True)
        w = df.write.format("parquet").mode("overwrite")
        if partition_by:
            w = w.partitionBy(*partition_by)
        w.save(str(staging))
        old = target.with_name(f".{table}.old")
        shutil.rmtree(old, ignore_errors=True)
        if target.exists():
            target.rename(old)
        staging.rename(target)
        shutil.rmtree(old, ignore_errors=True)
        self.register(schema, table)
        self.spark.sql(f"REFRESH TABLE {_ident(schema)}.{_ident(table)}")


def _value_bytes(v) -> int:
    if isinstance(v, str):
        return len(v.encode())
    if isinstance(v, (list, tuple)):
        return 8 + sum(_value_bytes(x) for x in v)
    return 8


def chunk_rows(rows: list[tuple], budget: int):
    """Consecutive runs of ``rows`` whose estimated data size stays within ``budget`` bytes (at least one
    row each); no rows, one empty run."""
    start, size = 0, 0
    for i, row in enumerate(rows):
        n = 16 + sum(_value_bytes(v) for v in row)
        if size and size + n > budget:
            yield rows[start:i]
            start, size = i, 0
        size += n
    yield rows[start:]
