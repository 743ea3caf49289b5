"""Repeated business keys in silver: cleaning can make two delivered keys one (an ID number with full-width
digits next to the clean one, a person number with a trailing space).  One documented rule resolves them
(latest batch, then latest line; macro latest_per_key), the superseded rows are kept in a history table and
counted by the silver suite, and the silver layer is never blocked by them."""

from __future__ import annotations

import pytest
from landing import write_batch
from test_transform import PSN, _certno, _df, _fullwidth

from yibao.config import Settings

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

PENSION = "certno,pension_type,psn_name,stas,admdvs,emp_uscc"
A = _certno("610102", "19800101", "113")
B = _certno("610103", "19750505", "224")
BAD1, BAD2 = A[:17] + ("0" if A[17] != "0" else "1"), B[:17] + ("0" if B[17] != "0" else "1")  # wrong checksums


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from yibao.ingestion.ingest import ingest
    from yibao.quality import run_quality
    from yibao.transform import build

    settings = Settings(data_root=tmp_path_factory.mktemp("dedup"), spark_remote="")
    write_batch(settings.landing, "hrss", "20261101-001", {"pension_insu": [
        PENSION, f"{A},1,张三,1,610102,", f"{B},1,李四,1,610103,"]})
    write_batch(settings.landing, "hrss", "20261102-001", {"pension_insu": [
        PENSION, f"{A},1,张三,1,610102,", f"{_fullwidth(A)},1,张三,2,610102,",      # same key once cleaned: line 3 wins
        f"{B},1,李四,1,610103,", f" {B} ,3,李四,1,610103,",                       # another pension type: no repeat
        f"{BAD1},1,无名,1,610103,", f"{BAD2},1,无名二,1,610103,"]})   # untrustworthy numbers: never collapsed
    write_batch(settings.landing, "medins", "20261101-001", {"psn_info": [
        PSN, f"M1,张三,1,1980-01-01,01,01,{A},13800000000,1,a,610102,a,610102,BK1",
        f"M1 ,张三,1,1980-01-01,01,01,{A},13800000001,1,a,610102,a,610102,BK1"]})   # 'M1 ' cleans to 'M1'
    ingest(settings)
    gate = run_quality(settings)
    assert gate.ok, [(t.table, t.blocking) for t in gate.held]
    build(settings)
    silver = run_quality(settings, layer="silver")
    return settings, silver


def test_latest_batch_then_latest_line_wins(built):
    settings, _ = built
    rows = _df(settings, "select certno, pension_type, psn_name, stas, _batch_id, _line_number, _key_versions "
                         "from silver.stg_hrss__pension_insu order by certno, pension_type, psn_name")
    a = rows[rows.certno == A]
    assert len(a) == 1 and a.iloc[0].stas == "2" and a.iloc[0]._line_number == 3 and a.iloc[0]._key_versions == 2
    assert a.iloc[0]._batch_id == "20261102-001"
    assert sorted(rows[rows.certno == B].pension_type) == ["1", "3"]
    assert sorted(rows[rows.certno.isna()].psn_name) == ["无名", "无名二"]      # null keys kept as they are
    psn = _df(settings, "select psn_no, tel, _line_number from silver.stg_medins__psn_info")
    assert list(psn.psn_no) == ["M1"] and psn.iloc[0].tel == "13800000001" and psn.iloc[0]._line_number == 3


def test_superseded_rows_are_kept_in_the_history_and_counted(built):
    settings, silver = built
    hist = _df(settings, "select * from silver.stg_superseded_row order by source_table")
    assert [(r.source, r.source_table, r.business_key, r.kept_batch_id, r.kept_line_number, r.superseded_batch_id,
             r.superseded_line_number) for r in hist.itertuples()] == [
        ("hrss", "pension_insu", f"{A}|1", "20261102-001", 3, "20261102-001", 2),
        ("medins", "psn_info", "M1", "20261101-001", 3, "20261101-001", 2)]
    assert silver.ok, [(t.table, t.blocking) for t in silver.held]
    counted = {r["table"]: r["unexpected_count"] for r in silver.results if r["rule"] == "superseded.key"}
    assert counted["stg_hrss__pension_insu"] == 1 and counted["stg_medins__psn_info"] == 1
    assert not counted["stg_tax__taxpayer"]          # nothing delivered, nothing superseded


def test_an_incremental_model_takes_new_columns_of_a_release(tmp_path):
    """A warehouse built by an earlier release lacks the columns this one adds to an incremental model
    (stg_medins__setl gained _key_versions, _key_superseded, _file, _line_number): the next run merges with
    schema evolution instead of failing (Sail cannot ALTER TABLE ... ADD COLUMNS)."""
    from landing import write_batch
    from test_ingestion import SETL_HEADER, setl

    from yibao.catalog import Catalog
    from yibao.engine import spark_session
    from yibao.ingestion.ingest import ingest
    from yibao.transform import build

    settings = Settings(data_root=tmp_path, spark_remote="")
    write_batch(settings.landing, "medins", "20261101-001", {"setl": [SETL_HEADER, setl("S1"), setl("S2")]})
    ingest(settings)
    build(settings)
    cat = Catalog(spark_session(settings), settings)
    old = cat.read("silver", "stg_medins__setl").drop("_key_versions", "_key_superseded", "_file", "_line_number")
    cat.overwrite(cat.spark.createDataFrame(old.collect(), old.schema), "silver", "stg_medins__setl")
    # a new session of the new release: the catalog is rebuilt from the tables on disk
    from yibao.catalog import _registered
    from yibao.engine import remote_url

    cat.spark.sql("DROP TABLE IF EXISTS silver.stg_medins__setl")
    _registered.pop((remote_url() or "", "silver", "stg_medins__setl"), None)
    assert "_key_versions" not in cat.read("silver", "stg_medins__setl").columns
    write_batch(settings.landing, "medins", "20261102-001", {"setl": [SETL_HEADER, setl("S3")]}, mode="incremental")
    ingest(settings)
    build(settings)
    rows = {r.setl_id: r for r in cat.read("silver", "stg_medins__setl").collect()}
    assert sorted(rows) == ["S1", "S2", "S3"]
    assert rows["S3"]._key_versions == 1 and rows["S3"]._line_number == 2 and rows["S1"]._key_versions is None
