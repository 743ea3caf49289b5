"""The shared warehouse catalog: client uploads larger than one Spark Connect message."""

from __future__ import annotations

from datetime import date

from yibao import catalog
from yibao.catalog import chunk_rows

DDL = "id string, names array<string>, amount double, day date"


def _rows(n: int) -> list[tuple]:
    return [(f"P{i:06d}", [f"成员{i}", "甲" * (i % 7)], i * 1.5 if i % 5 else None, date(2026, 1, 1 + i % 28))
            for i in range(n)]


def test_chunk_rows_respects_the_budget_and_keeps_every_row():
    rows = _rows(1000)
    chunks = list(chunk_rows(rows, 2000))
    assert len(chunks) > 10
    assert [r for c in chunks for r in c] == rows
    assert all(len(c) >= 1 for c in chunks)
    # each run stays within the budget unless it is a single row
    big = [("x" * 5000,), ("y",)]
    assert [len(c) for c in chunk_rows(big, 2000)] == [1, 1]
    assert list(chunk_rows([], 2000)) == [[]]


def test_upload_in_chunks_gives_the_same_rows_and_a_rerun_replaces_them(settings, monkeypatch):
    from yibao.catalog import Catalog
    from yibao.engine import spark_session

    cat = Catalog(spark_session(settings), settings)
    small = cat.upload(_rows(3), DDL, "t_small")
    assert sorted(tuple(r) for r in small.collect()) == [tuple(r) for r in _rows(3)]
    assert not cat.exists("_upload", "t_small")          # one message: no work table

    monkeypatch.setattr(catalog, "UPLOAD_CHUNK_BYTES", 4000)
    rows = _rows(700)
    assert len(list(chunk_rows(rows, 4000))) > 5
    df = cat.upload(rows, DDL, "t_big")
    assert cat.exists("_upload", "t_big")
    got = sorted((r.id, list(r.names), r.amount, r.day) for r in df.collect())
    assert got == [(a, list(b), c, d) for a, b, c, d in rows]
    cat.overwrite(df, "gold", "uploaded")
    assert cat.read("gold", "uploaded").count() == 700
    # the work table is replaced, not appended to, by the next upload of the same name
    again = cat.upload(_rows(300), DDL, "t_big")
    assert again.count() == 300
    assert ("_upload", "t_big") not in cat.tables()         # work tables are not published tables


def test_every_version_reads_by_time_travel_after_a_checkpoint(settings):
    """The gate and dbt read bronze at the version the gate released, often one behind the head.  Once a table has
    a checkpoint (every tenth commit: after about ten daily runs), Sail 0.7 cannot read a version before it
    unless the log's _last_checkpoint hint is out of the way (yibao.catalog.allow_time_travel)."""
    from yibao.catalog import read_version
    from yibao.engine import spark_session

    spark = spark_session(settings)
    path = settings.warehouse / "bronze" / "time_travel"
    for i in range(12):   # versions 0..11, version v holds v + 1 rows
        spark.createDataFrame([(i,)], "n int").write.format("delta").mode("append").save(str(path))
    assert (path / "_delta_log" / "00000000000000000010.checkpoint.parquet").is_file()
    assert (path / "_delta_log" / "_last_checkpoint").is_file()
    for v in (9, 3, 0, 10, 11):
        assert read_version(spark, path, v).count() == v + 1, v
    assert spark.read.format("delta").load(str(path)).count() == 12
    # the table takes more commits, and the next checkpoint, as before
    for i in range(12, 21):
        spark.createDataFrame([(i,)], "n int").write.format("delta").mode("append").save(str(path))
    assert (path / "_delta_log" / "00000000000000000020.checkpoint.parquet").is_file()
    assert [read_version(spark, path, v).count() for v in (19, 20, 15)] == [20, 21, 16]


def test_an_upsert_with_deletion_vectors_marks_rows_instead_of_rewriting_files(settings):
    """A daily batch's corrections touch keys in every file of a bronze table; with deletion vectors the MERGE
    keeps every data file and marks the replaced rows (at 10M it rewrote 2.5 GB of bronze for one day)."""
    from deltalake import DeltaTable

    from yibao.catalog import Catalog, read_delta_arrow, read_version
    from yibao.engine import spark_session

    spark = spark_session(settings)
    cat = Catalog(spark, settings)
    cat.overwrite(spark.range(0, 4000, 1, 4).selectExpr("cast(id as string) as k", "'a' as v", "'0' as del_flag"),
                  "bronze", "dv_probe")
    path = cat.path("bronze", "dv_probe")
    before = set(DeltaTable(str(path)).file_uris())
    assert len(before) == 4
    # one key in each of the four files updated, one deleted, two new
    day = spark.createDataFrame([("10", "b", "0"), ("1500", "b", "0"), ("2500", "b", "0"), ("3999", "x", "1"),
                                 ("4000", "n", "0"), ("4001", "n", "0")], "k string, v string, del_flag string")
    cat.upsert(day, "bronze", "dv_probe", ["k"], delete_flag="del_flag", deletion_vectors=True)
    dt = DeltaTable(str(path))
    assert "deletionVectors" in (dt.protocol().reader_features or [])
    assert before <= set(dt.file_uris())          # no data file rewritten; the changed rows were appended
    rows = {r["k"]: r["v"] for r in cat.read("bronze", "dv_probe").collect()}
    assert len(rows) == 4000 - 1 + 2
    assert [rows["10"], rows["1500"], rows["2500"], rows["4000"], rows["0"]] == ["b", "b", "b", "n", "a"]
    assert "3999" not in rows
    # the version before reads as it was; a second day merges on the same vectors
    assert read_version(spark, path, 0).where("v = 'a'").count() == 4000
    cat.upsert(spark.createDataFrame([("11", "c", "0"), ("1500", "c", "0")], "k string, v string, del_flag string"),
               "bronze", "dv_probe", ["k"], delete_flag="del_flag", deletion_vectors=True)
    after = {r["k"]: r["v"] for r in cat.read("bronze", "dv_probe").collect()}
    assert len(after) == 4001 and after["11"] == "c" and after["1500"] == "c" and after["10"] == "b"
    assert not cat.deletion_vectors("bronze", "dv_probe")     # switched on once
    # read without the engine, the vectors applied (the bare file list would bring back the replaced rows)
    arrow = read_delta_arrow(path, ["k", "v"]).to_pylist()
    assert {r["k"]: r["v"] for r in arrow} == after and len(arrow) == 4001
