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
    parsed = [r for r in q if r["rule"] == "ingest.parse"]
    assert sorted((r["source"], r["source_table"], r["batch_id"], r["line_number"]) for r in parsed) == sorted(
        (t["source"], t["source_table"], t["batch_id"], t["row_number"] + 1) for t in truth)
    by_line = {(r["source"], r["source_table"], r["batch_id"], r["line_number"]): r["reason"] for r in parsed}
    for t in truth:
        reason = by_line[(t["source"], t["source_table"], t["batch_id"], t["row_number"] + 1)]
        if t["kind"] == "FIELD_COUNT":
            assert reason.startswith("wrong number of fields")
        elif t["kind"] == "EMPTY_KEY":
            assert f"key column {t['column']} is empty" in reason
        else:
            assert reason.startswith(f"{t['column']}: '{t['value']}' is not")
    # keys repeated inside one file: the earlier lines, as many as planted per file
    planted = pq.read_table(settings.landing / "_truth" / "planted_quarantine.parquet").to_pandas()
    want = planted[planted.stage == "ingest"].groupby(["source", "source_table", "batch_id"])["rows"].sum().to_dict()
    got = {}
    for r in q:
        if r["rule"] in ("ingest.parse", "ingest.superseded"):
            k = (r["source"], r["source_table"], r["batch_id"])
            got[k] = got.get(k, 0) + 1
    assert got == want
    assert summary.rows_quarantined == sum(want.values())


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
    first = log[("medins", "20261101-001", "setl")]
    later = [log[("medins", b, "setl")] for b in ("20261108-001", "20261108-002")]   # the week's two medins batches
    assert all(x.mode == "incremental" for x in later)
    batches = {r[0]: r[1] for r in setl.groupBy("_batch_id").count().collect()}
    assert batches["20261108-001"] > 0 and batches["20261101-001"] > 0 and batches["20261108-002"] > 0
    assert setl.count() <= first.rows_landed + sum(x.rows_landed - x.rows_deleted for x in later)
    assert setl.select("setl_id").distinct().count() == setl.count()


def test_gbk_sources_decode_to_chinese(province):
    settings, _ = province
    names = [r[0] for r in _table(settings, "bronze", "civil_affairs__death_cremation").select("psn_name")
             .limit(50).collect()]
    assert names and all(n and "\ufffd" not in n for n in names)
    assert any("\u4e00" <= ch <= "\u9fff" for n in names for ch in n)


def test_gzip_landing_is_the_same_delivery_and_ingests_the_same(province, tmp_path):
    """`yibao generate --gzip` (the province-scale landing zone): the same rows, compressed; the manifest's
    checksum is of the .gz file as delivered; ingestion lands and quarantines exactly what it does from the
    plain files."""
    import gzip
    import hashlib

    settings, plain = province
    gz_settings = Settings(data_root=tmp_path)
    generate(gz_settings.landing, persons=5000, seed=11, batches=2, chunk_size=2500, gzip=True)
    plain_files = sorted(p.relative_to(settings.landing) for p in settings.landing.glob("*/*/*.csv"))
    gz_files = sorted(p.relative_to(gz_settings.landing) for p in gz_settings.landing.glob("*/*/*.csv.gz"))
    assert plain_files and [str(p) + ".gz" for p in plain_files] == [str(p) for p in gz_files]
    assert not list(gz_settings.landing.glob("*/*/*.csv"))
    for rel in plain_files:
        assert gzip.decompress((gz_settings.landing / f"{rel}.gz").read_bytes()) == (settings.landing / rel).read_bytes()
    for manifest_path in gz_settings.landing.glob("*/*/_manifest.json"):
        for f in json.loads(manifest_path.read_text(encoding="utf-8"))["files"]:
            assert f["name"].endswith(".csv.gz")
            assert f["sha256"] == hashlib.sha256((manifest_path.parent / f["name"]).read_bytes()).hexdigest()
    summary = ingest(gz_settings)
    assert (summary.rows_landed, summary.rows_quarantined) == (plain.rows_landed, plain.rows_quarantined)
    assert sorted(summary.batches_applied) == sorted(plain.batches_applied)
    assert [label for label, _ in summary.batches_rejected] == [label for label, _ in plain.batches_rejected]
    assert [r.replace(".csv.gz", ".csv") for _, r in summary.batches_rejected] == [r for _, r in plain.batches_rejected]
