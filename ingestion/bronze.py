"""Engine jobs that land one checked file in bronze: stage, split good from bad, apply, quarantine.

1. *Stage*: the file's byte ranges are parsed in parallel inside the engine (``mapInArrow`` over a
   DataFrame of ranges) and written once to ``_staging/<source>__<table>``.
2. *Split*: rows with a reject reason, and rows whose key repeats in the file (all but the last
   occurrence), go to ``meta.quarantine`` with their reason and line; the rest are the file's rows.
3. *Apply*: ``full`` replaces the bronze table with the file's rows (one atomic commit);
   ``incremental`` merges by the contract key, ``del_flag = '1'`` deleting.

Each step replaces what an interrupted earlier attempt of the same batch may have left, so running
it again gives the same state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from yibao.catalog import Catalog
from yibao.faults import checkpoint
from yibao.ingestion.manifest import Manifest, ScannedFile
from yibao.ingestion.parse import ddl, parse_range

QUARANTINE_DDL = ("source string, source_table string, batch_id string, file string, line_number bigint, "
                  "reason string, raw_line string, ingest_time timestamp")


@dataclass
class FileResult:
    rows_read: int
    rows_landed: int
    rows_quarantined: int
    rows_deleted: int


def _parser(f: ScannedFile, manifest: Manifest, ingest_time: datetime):
    """The function the engine runs on each partition of byte ranges (pickled by value)."""
    path, spec, header, header_bytes = str(f.path), f.spec, list(f.header), f.header_bytes
    encoding, delimiter = manifest.encoding, manifest.delimiter
    lineage = {"source": manifest.source, "batch_id": manifest.batch_id, "file": f.entry.name,
               "ingest_time": ingest_time}

    def parse_partition(batches):
        for batch in batches:
            for start, end, first_line in zip(*(batch.column(i).to_pylist() for i in range(3))):
                yield from parse_range(path, spec, header, header_bytes, start, end, first_line,
                                       encoding, delimiter, lineage)

    return parse_partition


def stage(cat: Catalog, f: ScannedFile, manifest: Manifest, ingest_time: datetime) -> DataFrame:
    ranges = [(s, e, line) for s, e, line in f.ranges] if not f.compressed else [(0, -1, 2)]
    df = cat.spark.createDataFrame(ranges, "start long, end long, first_line long")
    if len(ranges) > 1:
        df = df.repartition(len(ranges))
    parsed = df.mapInArrow(_parser(f, manifest, ingest_time), ddl(f.spec))
    cat.overwrite(parsed, "_staging", f.spec.bronze_name)
    return cat.read("_staging", f.spec.bronze_name)


def split(staged: DataFrame, f: ScannedFile, delimiter: str) -> tuple[DataFrame, DataFrame]:
    """(rows to apply, rows to quarantine) of a staged file."""
    keys = list(f.spec.keys)
    good = staged.where(F.col("_reject_reason").isNull())
    w = Window.partitionBy(*keys)
    ranked = good.withColumn("_last_line", F.max("_line_number").over(w))
    applied = ranked.where(F.col("_line_number") == F.col("_last_line")).drop("_last_line", "_reject_reason",
                                                                             "_raw_line")
    superseded = (ranked.where(F.col("_line_number") != F.col("_last_line"))
                  .withColumn("_reject_reason", F.concat(F.lit(f"duplicate key ({', '.join(keys)}) in this file; "
                                                               "superseded by line "),
                                                         F.col("_last_line").cast("string")))
                  .withColumn("_raw_line", F.concat_ws(delimiter, *[F.coalesce(F.col(c).cast("string"), F.lit(""))
                                                                    for c in f.spec.all_columns])))
    bad = staged.where(F.col("_reject_reason").isNotNull()).unionByName(superseded.drop("_last_line"))
    quarantine = bad.select(F.col("_source").alias("source"), F.lit(f.spec.name).alias("source_table"),
                            F.col("_batch_id").alias("batch_id"), F.col("_file").alias("file"),
                            F.col("_line_number").alias("line_number"), F.col("_reject_reason").alias("reason"),
                            F.col("_raw_line").alias("raw_line"), F.col("_ingest_time").alias("ingest_time"))
    return applied, quarantine


def land(cat: Catalog, f: ScannedFile, manifest: Manifest, ingest_time: datetime) -> FileResult:
    """Stage, quarantine and apply one file; returns its row counts."""
    staged = stage(cat, f, manifest, ingest_time)
    applied, quarantine = split(staged, f, manifest.delimiter)
    cat.ensure("meta", "quarantine", QUARANTINE_DDL)
    cat.delete_where("meta", "quarantine", f"source = '{manifest.source}' AND batch_id = '{manifest.batch_id}' "
                                           f"AND source_table = '{f.spec.name}'")
    n_quarantined = quarantine.count()
    if n_quarantined:
        cat.append(quarantine, "meta", "quarantine")
    checkpoint("quarantined")
    rows_read = staged.count()
    deleted = 0
    if manifest.mode == "full":
        cat.overwrite(applied, "bronze", f.spec.bronze_name)
    else:
        deleted = applied.where(F.col("del_flag") == "1").count()
        cat.ensure("bronze", f.spec.bronze_name, ddl(f.spec, with_reject=False))
        cat.upsert(applied, "bronze", f.spec.bronze_name, f.spec.keys, delete_flag="del_flag")
    return FileResult(rows_read, rows_read - n_quarantined, n_quarantined, deleted)
