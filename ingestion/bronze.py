"""Engine jobs that land one checked file in bronze: parse, apply, quarantine.

1. *Parse*: the file's byte ranges are parsed in parallel inside the engine (``mapInArrow`` over a
   DataFrame of ranges).  Good rows flow on; refused rows are written by the same task, beside the
   warehouse, to ``_staging/quarantine/<source>__<table>/<range>.parquet`` (one pass over the file).
2. *Apply*: ``full`` replaces the bronze table (one atomic commit); ``incremental`` writes the rows to
   ``_staging/<source>__<table>`` and merges them by the contract key, ``del_flag = '1'`` deleting.
   A ``full`` file that would remove more than ``snapshot_shrink_hold`` of a non-empty table's rows is
   parsed to the staging table only, and *held*: bronze is not touched, and a steward decides
   (:mod:`yibao.decisions`).  Into an empty or new table, or when a steward released it, the file is
   written straight to bronze.
3. *Repeated keys*: when a key occurs more than once in a file, the last line wins; the earlier ones
   are quarantined as superseded (and removed from a full snapshot, or left out of the merge).
4. *Quarantine*: the refused rows replace whatever an earlier attempt of this batch left in
   ``meta.quarantine`` for this table (ingestion's rows: ``rule`` ``ingest.parse`` or ``ingest.superseded``).

Every step overwrites what an interrupted earlier attempt of the same batch may have left, so running
it again gives the same state.  Values reach the engine as data (DataFrame filters, literals), never as
SQL text.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from yibao.catalog import Catalog
from yibao.engine import remote_url
from yibao.faults import checkpoint
from yibao.ingestion.manifest import Manifest, ScannedFile
from yibao.ingestion.records import file_identity
from yibao.ingestion.parse import ddl, parse_range

# meta.quarantine.rule: ingest.parse (a row that cannot be read or typed), ingest.superseded (a key repeated
# later in the same file); the quality gate adds gate.reference.* (orphans) and gate.waiting.* (rows waiting
# on a held parent batch), see yibao.quality.exclusions.  Ingestion replaces only its own rows.
PARSE_RULE, SUPERSEDED_RULE = "ingest.parse", "ingest.superseded"
QUARANTINE_DDL = ("source string, source_table string, batch_id string, file string, line_number bigint, "
                  "reason string, raw_line string, ingest_time timestamp, rule string")
_QUARANTINE_COLS = ("_source", "_batch_id", "_file", "_line_number", "_reject_reason", "_raw_line", "_ingest_time")


@dataclass
class FileResult:
    rows_read: int
    rows_landed: int
    rows_quarantined: int
    rows_deleted: int
    rows_before: int | None = None      # full files: the bronze table's rows before
    held: str | None = None             # why a full file was held instead of applied


def _parser(f: ScannedFile, manifest: Manifest, ingest_time: datetime, reject_dir: Path):
    """The function the engine runs on each partition of byte ranges (pickled by value)."""
    path, spec, header, header_bytes = str(f.path), f.spec, list(f.header), f.header_bytes
    encoding, delimiter = manifest.encoding, manifest.delimiter
    lineage = {"source": manifest.source, "batch_id": manifest.batch_id, "file": f.entry.name,
               "ingest_time": ingest_time}
    reject_dir = str(reject_dir)

    def parse_partition(batches):
        for batch in batches:
            for start, end, first_line, multiline in zip(*(batch.column(i).to_pylist() for i in range(4))):
                refused = []
                for rb in parse_range(path, spec, header, header_bytes, start, end, first_line,
                                      encoding, delimiter, lineage, multiline=bool(multiline)):
                    if rb.column("_reject_reason").null_count < rb.num_rows:
                        bad = pc.is_valid(rb.column("_reject_reason"))
                        refused.append(rb.filter(bad).select(list(_QUARANTINE_COLS)))
                        rb = rb.filter(pc.invert(bad))
                    yield rb.drop_columns(["_reject_reason", "_raw_line"])
                if refused:
                    pq.write_table(pa.Table.from_batches(refused), f"{reject_dir}/{start:015d}.parquet")

    return parse_partition


def _parsed(cat: Catalog, f: ScannedFile, manifest: Manifest, ingest_time: datetime, reject_dir: Path) -> DataFrame:
    ranges = [(s, e, line, bool(multi)) for s, e, line, multi in f.ranges]
    df = cat.spark.createDataFrame(ranges, "start long, end long, first_line long, multiline boolean")
    tasks = _parse_tasks(len(ranges))
    if tasks > 1:
        df = df.repartition(tasks)
    return df.mapInArrow(_parser(f, manifest, ingest_time, reject_dir), ddl(f.spec, with_reject=False))


def _parse_tasks(n_ranges: int) -> int:
    """How many tasks parse a file's ranges.

    An engine on this machine gets one task per core, each parsing its ranges one after the other:
    Sail runs all partitions of a job at once, and each running task buffers a row group (up to a
    million rows) of its output file, so one task per range would hold a whole large file in memory.
    A remote engine gets one task per range and schedules them itself.
    """
    if urlparse(remote_url() or "").hostname not in ("127.0.0.1", "localhost", "::1"):
        return n_ranges
    return max(1, min(n_ranges, os.cpu_count() or 1))


def _superseded(cat: Catalog, rows: DataFrame, keys: list[str], name: str) -> DataFrame | None:
    """Rows whose key occurs again later in the file (None when every key is unique, the usual case).

    A first pass counts a 64-bit hash of the key, which is much cheaper to group than the key
    columns; only when some hash repeats (a repeated key, or very rarely a collision) are the keys
    themselves grouped.  The repeated keys and then the superseded rows are stored under ``_staging``
    (removed by :func:`land`): Sail builds a join's hash table on the side its statistics say is the
    smaller and cannot spill it, and only a stored table tells it how few rows these are; joined
    unstored, the whole file was held (the 41M-row contribution file of 10M persons failed).
    """
    if not rows.groupBy(F.xxhash64(*keys)).count().where(F.col("count") > 1).limit(1).collect():
        return None
    dup = (rows.groupBy(*keys).agg(F.count(F.lit(1)).alias("_n"), F.max("_line_number").alias("_last"))
           .where(F.col("_n") > 1).drop("_n"))
    cat.overwrite(dup, "_staging", f"{name}__repeated")
    dup = cat.read("_staging", f"{name}__repeated")
    if not dup.limit(1).collect():
        return None
    cat.overwrite(dup.join(rows, on=keys, how="inner").where(F.col("_line_number") != F.col("_last")),
                  "_staging", f"{name}__superseded")
    return cat.read("_staging", f"{name}__superseded")


def _without(rows: DataFrame, superseded: DataFrame, keys: list[str]) -> DataFrame:
    """``rows`` less the ``superseded`` ones (matched on the key and the line number).

    A right outer join from the (stored, few) superseded rows, not an anti join from ``rows`` nor a
    MERGE ... DELETE into the table just written: those held the whole file in the engine's memory (see
    :func:`_superseded`); here only the superseded rows are held.
    """
    on = keys + ["_line_number"]
    marked = superseded.select(*on).withColumn("_superseded", F.lit(True))
    return marked.join(rows, on=on, how="right").where(F.col("_superseded").isNull()).select(*rows.columns)


def _as_quarantine(df: DataFrame, table: str, rule: str) -> DataFrame:
    return df.select(F.col("_source").alias("source"), F.lit(table).alias("source_table"),
                     F.col("_batch_id").alias("batch_id"), F.col("_file").alias("file"),
                     F.col("_line_number").alias("line_number"), F.col("_reject_reason").alias("reason"),
                     F.col("_raw_line").alias("raw_line"), F.col("_ingest_time").alias("ingest_time"),
                     F.lit(rule).alias("rule"))


def shrink_reason(f: ScannedFile, manifest: Manifest, before: int, landed: int, threshold: float) -> str | None:
    """Why a full snapshot is held (it would remove more than ``threshold`` of the table's rows), or None."""
    removed = before - landed
    if before <= 0 or removed <= threshold * before:
        return None
    return (f"full snapshot would remove {removed:,} of {before:,} rows ({removed / before:.0%}, threshold "
            f"{threshold:.0%}); held for a steward: yibao quality release {manifest.source}/{f.spec.name} "
            f"{manifest.batch_id} --reason ...")


def land(cat: Catalog, f: ScannedFile, manifest: Manifest, ingest_time: datetime,
         shrink_hold: float | None = None, rows_before: int | None = None,
         on_apply: Callable[[int], None] | None = None) -> FileResult:
    """Parse, apply and quarantine one file; returns its row counts.

    ``shrink_hold``: a full file that would remove more than this share of the bronze table's rows is
    not applied (``FileResult.held`` says why); None applies it whatever it removes (a steward's release).
    ``rows_before``: the table's rows before this batch (default: counted now); ``on_apply(rows_before)``
    is called before a checked full file replaces a non-empty table, so that an interrupted run can
    resume with the same count.
    """
    spec, keys, name = f.spec, list(f.spec.keys), f.spec.bronze_name
    full = manifest.mode == "full"
    before = None
    if full:
        before = rows_before if rows_before is not None else (
            cat.read("bronze", name).count() if cat.exists("bronze", name) else 0)
    staged = not full or (shrink_hold is not None and before > 0)
    reject_dir = cat.root / "_staging" / "quarantine" / name
    shutil.rmtree(reject_dir, ignore_errors=True)
    reject_dir.mkdir(parents=True)
    parsed = _parsed(cat, f, manifest, ingest_time, reject_dir)
    target = "_staging" if staged else "bronze"
    prior = (cat.exists("bronze", name), _version(cat, name)) if target == "bronze" else None
    cat.overwrite(parsed, target, name)
    changed = _changed_since_verified(f)
    if changed:
        # the rows just parsed are not the verified file's: nothing of them may stay (a direct bronze write is
        # rolled back), and the batch is taken again at the next run, verified afresh
        if target == "bronze":
            _roll_back(cat, name, *prior)
        shutil.rmtree(reject_dir, ignore_errors=True)
        raise FileChanged(f"file {f.entry.name} {changed}; the batch is taken again at the next run")
    rows = cat.read(target, name)
    superseded = _superseded(cat, rows, keys, name)
    n_quarantined = _quarantine(cat, f, manifest, reject_dir, superseded)
    checkpoint("quarantined")
    landed, deleted = f.rows - n_quarantined, 0
    held = shrink_reason(f, manifest, before, landed, shrink_hold) if full and staged else None
    if full and staged and not held:
        if on_apply is not None:
            on_apply(before)
        cat.overwrite(rows if superseded is None else _without(rows, superseded, keys), "bronze", name)
    elif full and not staged and superseded is not None:
        # the file went straight to bronze: its next version is the same rows less the superseded ones
        cat.overwrite(_without(rows, superseded, keys), "bronze", name)
    elif not full:
        if superseded is not None:
            # stored again, so that the MERGE below knows how few rows it merges (see _superseded)
            cat.overwrite(_without(rows, superseded, keys), "_staging", name)
        applied = cat.read("_staging", name)
        deleted = applied.where(F.col("del_flag") == F.lit("1")).count()
        cat.ensure_columns("bronze", name, ddl(spec, with_reject=False))   # a table landed before v2 columns
        # deletion vectors: a day's corrections mark rows in place instead of rewriting every file they touch
        cat.upsert(applied, "bronze", name, spec.keys, delete_flag="del_flag", deletion_vectors=True)
    shutil.rmtree(reject_dir, ignore_errors=True)
    for work in ("repeated", "superseded"):
        shutil.rmtree(cat.path("_staging", f"{name}__{work}"), ignore_errors=True)
    return FileResult(f.rows, 0 if held else landed, n_quarantined, deleted, before, held)


class FileChanged(Exception):
    """A delivered file changed between its verification against the manifest (sha256) and its parse."""


def _changed_since_verified(f: ScannedFile) -> str | None:
    """Why the file on disk is not the one whose sha256 was verified (size, time, inode), or None."""
    if f.identity is None:
        return None
    try:
        now = file_identity(os.stat(f.path, follow_symlinks=False))
    except OSError as exc:
        return f"could not be read again ({exc.strerror or exc})"
    return None if now == f.identity else "changed while it was read (its size or modification time is not the verified file's)"


def _version(cat: Catalog, name: str) -> int | None:
    """bronze.<name>'s Delta version now; None when there is no table or it is not Delta."""
    if cat.fmt != "delta" or not cat.exists("bronze", name):
        return None
    from deltalake import DeltaTable

    return DeltaTable(str(cat.path("bronze", name))).version()


def _roll_back(cat: Catalog, name: str, existed: bool, version: int | None) -> None:
    """Put bronze.<name> back as it was before this file's write: no table, or its earlier Delta version.  (The
    Parquet tables of the JVM portability path have no versions: one that existed keeps the new rows, and the
    error says so.)"""
    path = cat.path("bronze", name)
    if not existed:
        shutil.rmtree(path, ignore_errors=True)
    elif version is not None:
        from deltalake import DeltaTable

        DeltaTable(str(path)).restore(version)
    else:
        raise FileChanged(f"bronze.{name} (Parquet) holds rows of a file that changed while it was read and "
                          f"cannot be rolled back: re-deliver the table in full")


def _quarantine(cat: Catalog, f: ScannedFile, manifest: Manifest, reject_dir: Path,
                superseded: DataFrame | None) -> int:
    """Replace this file's rows in meta.quarantine (refused by the parser, superseded by a later line);
    returns how many there are."""
    spec, keys = f.spec, list(f.spec.keys)
    quarantine = [_as_quarantine(cat.spark.read.parquet(str(reject_dir)), spec.name, PARSE_RULE)] \
        if any(reject_dir.glob("*.parquet")) else []
    if superseded is not None:
        message = F.concat(F.lit(f"duplicate key ({', '.join(keys)}) in this file; superseded by line "),
                           F.col("_last").cast("string"))
        line = F.concat_ws(manifest.delimiter,
                           *[F.coalesce(F.col(c).cast("string"), F.lit("")) for c in spec.all_columns])
        quarantine.append(_as_quarantine(superseded.withColumn("_reject_reason", message)
                                         .withColumn("_raw_line", line), spec.name, SUPERSEDED_RULE))
    cat.ensure_columns("meta", "quarantine", QUARANTINE_DDL)
    # this file's rows from ingestion (rule ingest.*, or null: rows from before the column), values as data
    mine = (Catalog.matching({"source": manifest.source, "batch_id": manifest.batch_id, "source_table": spec.name})
            & (F.col("rule").isNull() | F.col("rule").startswith("ingest.")))
    cat.delete_where("meta", "quarantine", mine)
    if not quarantine:
        return 0
    q = quarantine[0]
    for other in quarantine[1:]:
        q = q.unionByName(other)
    cat.append(q, "meta", "quarantine")
    return cat.read("meta", "quarantine").where(mine).count()
