"""Ingestion of a whole generated province: the outcome must agree with the generator's ground truth."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from yibao.config import Settings
from yibao.ingestion.ingest import ingest
from yibao.synthetic.generate import generate


@pytest.fixture(scope="module")
def province(tmp_path_factory):
    root = tmp_path_factory.mktemp("province")
    settings = Settings(data_root=root)
    generate(settings.landing, persons=5000, seed=11, batches=2, chunk_size=2500)
    summary = ingest(settings)
    return settings, summary


def _table(settings, schema, name):
    from yibao.catalog import Catalog
    from yibao.engine import spark_session
    return Catalog(spark_session(settings), settings).read(schema, name)


def test_rejected_batches_are_exactly_the_corrupted_ones(province):
    settings, summary = province
    truth = pq.read_table(settings.landing / "_truth" / "rejected_batches.parquet").to_pylist()
    assert sorted(label for label, _ in summary.batches_rejected) == sorted(
        f"{t['source']}/{t['batch_id']}" for t in truth)
    for label, reason in summary.batches_rejected:
        t = next(t for t in truth if f"{t['source']}/{t['batch_id']}" == label)
        assert reason == f"file {t['file']}: {t['actual_rows']} data rows, the manifest says {t['manifest_rows']}"


def test_quarantine_holds_exactly_the_planted_bad_rows(province):
    settings, summary = province
    truth = pq.read_table(settings.landing / "_truth" / "bad_rows.parquet").to_pylist()
    q = [r.asDict() for r in _table(settings, "meta", "quarantine").collect()]
    assert sorted((r["source"], r["source_table"], r["batch_id"], r["line_number"]) for r in q) == sorted(
        (t["source"], t["source_table"], t["batch_id"], t["row_number"] + 1) for t in truth)
    by_line = {(r["source"], r["source_table"], r["line_number"]): r["reason"] for r in q}
    for t in truth:
        reason = by_line[(t["source"], t["source_table"], t["row_number"] + 1)]
        if t["kind"] == "FIELD_COUNT":
            assert reason.startswith("wrong number of fields")
        else:
            assert reason.startswith(f"{t['column']}: '{t['value']}' is not")
    assert summary.rows_quarantined == len(truth)


def test_every_delivered_row_is_landed_or_quarantined(province):
    settings, _ = province
    log = {(r.source, r.batch_id, r.source_table): r for r in _table(settings, "meta", "ingest_log").collect()}
    for manifest_path in sorted(settings.landing.glob("*/*/_manifest.json")):
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if manifest["source"] == "hrss" and manifest["batch_id"].endswith("-002"):
            continue  # the rejected batch
        for f in manifest["files"]:
            r = log[(manifest["source"], manifest["batch_id"], f["table"])]
            assert r.status == "applied"
            assert r.rows_read == f["rows"] == r.rows_landed + r.rows_quarantined


def test_full_tables_hold_the_last_snapshot_and_incremental_ones_merge(province):
    settings, _ = province
    log = {(r.source, r.batch_id, r.source_table): r for r in _table(settings, "meta", "ingest_log").collect()}
    hsreg = _table(settings, "bronze", "police__hsreg_psn")
    last = log[("police", "20261108-001", "hsreg_psn")]
    assert hsreg.count() == last.rows_landed
    assert {r[0] for r in hsreg.select("_batch_id").distinct().collect()} == {"20261108-001"}
    setl = _table(settings, "bronze", "medins__setl")
    first, second = log[("medins", "20261101-001", "setl")], log[("medins", "20261108-001", "setl")]
    assert second.mode == "incremental"
    batches = {r[0]: r[1] for r in setl.groupBy("_batch_id").count().collect()}
    assert batches["20261108-001"] > 0 and batches["20261101-001"] > 0
    assert setl.count() <= first.rows_landed + second.rows_landed - second.rows_deleted
    assert setl.select("setl_id").distinct().count() == setl.count()


def test_gbk_sources_decode_to_chinese(province):
    settings, _ = province
    names = [r[0] for r in _table(settings, "bronze", "civil_affairs__death_cremation").select("psn_name")
             .limit(50).collect()]
    assert names and all(n and "\ufffd" not in n for n in names)
    assert any("\u4e00" <= ch <= "\u9fff" for n in names for ch in n)
