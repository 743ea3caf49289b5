"""Warehouse maintenance (issue 16, disk): vacuum deletes the files of replaced versions, keeps every version the
quality gate released or holds for bronze, honours the retention, and compaction keeps the content."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import functions as F

from yibao.config import Settings

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _parquet_files(path: Path) -> int:
    return len([p for p in path.rglob("*.parquet") if "_delta_log" not in p.parts])


def _live_files(path: Path) -> int:
    from deltalake import DeltaTable

    return len(DeltaTable(str(path)).file_uris())


@pytest.fixture
def warehouse(tmp_path):
    from yibao.catalog import Catalog
    from yibao.engine import spark_session
    from yibao.quality.gate import release

    settings = Settings(data_root=tmp_path, spark_remote="")
    spark = spark_session(settings)
    cat = Catalog(spark, settings)

    def rows(n: int):
        return spark.range(n).withColumn("v", F.lit(n))

    for n in (10, 20, 30):                       # a silver table rebuilt by three runs
        cat.overwrite(rows(n), "silver", "rebuilt")
    for n in (5, 6, 7):                          # bronze: version 0 released, 1 and 2 (the head) held
        cat.overwrite(rows(n), "bronze", "src__held")
    release(cat, "bronze", "src__held", 0, "B0", "run-1")
    for n in (1, 2):                             # bronze never released
        cat.overwrite(rows(n), "bronze", "src__never")
    for n in (3, 4, 5, 6):                       # a table that daily appends leave in small files
        cat.append(rows(n), "silver", "appended")
    return settings, cat


def _count_at(cat, schema: str, table: str, version: int) -> int:
    return cat.spark.read.format("delta").option("versionAsOf", version).load(str(cat.path(schema, table))).count()


def test_vacuum_deletes_replaced_versions_and_keeps_what_the_gate_reads(warehouse):
    from yibao.maintenance import maintain

    settings, cat = warehouse
    rebuilt = cat.path("silver", "rebuilt")
    before = _parquet_files(rebuilt)
    assert before > _live_files(rebuilt)

    result = maintain(settings, retain_hours=0)
    assert not result.errors, result.errors
    by = {(t.schema, t.table): t for t in result.tables}
    # a rebuilt table keeps its current files only, and reads as before
    assert _parquet_files(rebuilt) == _live_files(rebuilt) < before
    assert by["silver", "rebuilt"].files_deleted == before - _live_files(rebuilt)
    assert by["silver", "rebuilt"].bytes_after < by["silver", "rebuilt"].bytes_before
    assert cat.read("silver", "rebuilt").count() == 30
    # bronze: the released version and the held ones after it stay readable
    assert [_count_at(cat, "bronze", "src__held", v) for v in (0, 1, 2)] == [5, 6, 7]
    assert by["bronze", "src__held"].kept_versions == [0, 1, 2]
    # a bronze table nothing of which was released is not vacuumed at all
    assert by["bronze", "src__never"].files_deleted == 0 and _count_at(cat, "bronze", "src__never", 0) == 1
    assert result.bytes_freed > 0 and result.files_deleted >= by["silver", "rebuilt"].files_deleted

    # once the head is released, the versions before it go
    from yibao.quality.gate import release

    release(cat, "bronze", "src__held", 2, "B2", "run-2")
    again = maintain(settings, retain_hours=0)
    held = next(t for t in again.tables if t.table == "src__held")
    assert held.kept_versions == [2] and held.files_deleted == 2
    assert cat.read("bronze", "src__held").count() == 7
    with pytest.raises(Exception):    # its files are gone (collect: a count may come from the log's statistics)
        cat.spark.read.format("delta").option("versionAsOf", 0).load(str(cat.path("bronze", "src__held"))).collect()


def test_vacuum_keeps_versions_replaced_within_the_retention(warehouse):
    from yibao.maintenance import maintain

    settings, cat = warehouse
    rebuilt = cat.path("silver", "rebuilt")
    before = _parquet_files(rebuilt)
    result = maintain(settings)          # the default retention: 24 hours; everything here is minutes old
    assert not result.errors and result.files_deleted == 0
    assert _parquet_files(rebuilt) == before and _count_at(cat, "silver", "rebuilt", 0) == 10


def test_compaction_rewrites_small_files_and_keeps_the_content(warehouse):
    from yibao.maintenance import maintain

    settings, cat = warehouse
    appended = cat.path("silver", "appended")
    files = _live_files(appended)
    assert files >= 4
    content = sorted(map(tuple, cat.read("silver", "appended").collect()))
    result = maintain(settings, optimize=True, retain_hours=0)
    assert not result.errors, result.errors
    t = next(t for t in result.tables if t.table == "appended")
    assert t.compacted == files and _live_files(appended) == 1 == _parquet_files(appended)
    # the engine reads the compacted table exactly as before
    assert sorted(map(tuple, cat.read("silver", "appended").collect())) == content
