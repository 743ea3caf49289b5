"""Ingestion from landing zone to bronze, through the real engine and real Delta tables.

Each bad-input case of the contract is delivered on purpose and the exact outcome is asserted:
the rejected batch or file with its reason, the quarantined row with its line and reason, and that
nothing else was lost.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from landing import delta_versions, table_state, write_batch

from yibao.ingestion.ingest import ingest

PSN_HEADER = ("psn_no,psn_name,gend,brdy,naty,psn_cert_type,certno,tel,surv_stas,hsreg_addr,hsreg_admdvs,"
              "resd_addr,resd_admdvs,hsreg_book_no")
SETL_HEADER = ("setl_id,mdtrt_id,psn_no,certno,insutype,med_type,fixmedins_code,atddr_no,begndate,enddate,setl_time,"
               "dise_codg,medfee_sumamt,fulamt_ownpay_amt,hifp_pay,acct_pay,psn_cash_pay,insu_admdvs,mdtrt_admdvs,"
               "refd_setl_flag")


def psn(no: str, name: str = "张三", brdy: str = "1985-01-01", certno: str = "610102198501011234",
        tel: str = "13800000000") -> str:
    return f"{no},{name},1,{brdy},01,01,{certno},{tel},1,陕西省西安市新城区,610102,陕西省西安市新城区,610102,B{no}"


def setl(sid: str, amount: str = "100.00", begn: str = "2026-10-01") -> str:
    return (f"{sid},M{sid},P1,610102198501011234,390,11,H001,D01,{begn},{begn},{begn} 10:00:00,J06.9,{amount},"
            f"0,60.00,0,{amount},610100,610100,0")


def test_clean_batch_lands_with_lineage(settings, read):
    write_batch(settings.landing, "medins", "20261101-001", {"psn_info": [PSN_HEADER, psn("P1"), psn("P2", "李四")]})
    summary = ingest(settings)
    assert summary.batches_applied == ["medins/20261101-001"]
    rows = read("bronze", "medins__psn_info", "psn_no")
    assert [r["psn_no"] for r in rows] == ["P1", "P2"]
    assert rows[1]["psn_name"] == "李四"
    assert rows[0]["brdy"] == dt.date(1985, 1, 1)
    assert {r["_source"] for r in rows} == {"medins"}
    assert {r["_batch_id"] for r in rows} == {"20261101-001"}
    assert {r["_file"] for r in rows} == {"psn_info.csv"}
    assert [r["_line_number"] for r in rows] == [2, 3]
    assert all(isinstance(r["_ingest_time"], dt.datetime) for r in rows)
    log = read("meta", "ingest_log")
    assert [(r["source_table"], r["status"], r["rows_read"], r["rows_landed"], r["rows_quarantined"])
            for r in log] == [("psn_info", "applied", 2, 2, 0)]


def test_gbk_file_is_decoded(settings, read):
    header = "certno,psn_name,death_date,admdvs"
    write_batch(settings.landing, "civil_affairs", "20261101-001",
                {"death_cremation": [header, "610102198501011234,王小明,2026-03-04,610102"]}, encoding="gbk")
    ingest(settings)
    rows = read("bronze", "civil_affairs__death_cremation")
    assert rows[0]["psn_name"] == "王小明"
    assert rows[0]["death_date"] == dt.date(2026, 3, 4)


def test_bad_rows_are_quarantined_with_reason_and_the_rest_lands(settings, read):
    lines = [
        SETL_HEADER,
        setl("S1"),                                   # line 2: good
        setl("S2", amount="12.3.4"),                  # line 3: unparseable amount
        setl("S3", begn="2026-02-30"),                # line 4: impossible date (begndate, enddate, setl_time)
        "S4,M4,P1",                                   # line 5: wrong field count
        setl("S5", amount="abc"),                     # line 6: not a number
        setl("", amount="1.00"),                      # line 7: key missing
        setl("S7", begn="20261005"),                  # line 8: compact date is fine
    ]
    write_batch(settings.landing, "medins", "20261101-001", {"setl": lines})
    summary = ingest(settings)
    assert summary.rows_landed == 2 and summary.rows_quarantined == 5
    good = read("bronze", "medins__setl", "setl_id")
    assert [(r["setl_id"], r["_line_number"]) for r in good] == [("S1", 2), ("S7", 8)]
    assert good[0]["medfee_sumamt"] == Decimal("100.00")
    assert good[1]["begndate"] == dt.date(2026, 10, 5)
    q = {r["line_number"]: r for r in read("meta", "quarantine")}
    assert sorted(q) == [3, 4, 5, 6, 7]
    assert q[3]["reason"] == ("medfee_sumamt: '12.3.4' is not an amount in yuan with at most 2 decimals; "
                              "psn_cash_pay: '12.3.4' is not an amount in yuan with at most 2 decimals")
    assert q[4]["reason"].startswith("begndate: '2026-02-30' is not a date (YYYY-MM-DD or YYYYMMDD); "
                                     "enddate: '2026-02-30' is not a date")
    assert q[5]["reason"] == "wrong number of fields: expected 20, got 3"
    assert q[5]["raw_line"] == "S4,M4,P1"
    assert "medfee_sumamt: 'abc'" in q[6]["reason"]
    assert q[7]["reason"] == "key column setl_id is empty"
    assert q[3]["raw_line"] == lines[2]
    assert {(r["source"], r["source_table"], r["batch_id"], r["file"]) for r in q.values()} == {
        ("medins", "setl", "20261101-001", "setl.csv")}
    log = read("meta", "ingest_log")[0]
    assert (log["rows_read"], log["rows_landed"], log["rows_quarantined"]) == (7, 2, 5)


def test_undecodable_bytes_quarantine_only_their_row(settings, read):
    batch = write_batch(settings.landing, "police", "20261101-001", {"resd_permit": [
        "certno,psn_name,gend,brdy,resd_admdvs,resd_addr,issue_date,expire_date",
        "610102198501011234,张三,1,1985-01-01,610102,西安,2025-01-01,2027-01-01",
        "610102198501011235,XX,1,1985-01-01,610102,西安,2025-01-01,2027-01-01"]}, encoding="gbk")
    # replace the placeholder name by a byte pair that is not GBK, then fix the manifest checksum
    path = batch / "resd_permit.csv"
    data = path.read_bytes().replace(b"XX", b"\x80\xff")
    path.write_bytes(data)
    import hashlib
    import json
    m = json.loads((batch / "_manifest.json").read_text())
    m["files"][0]["sha256"] = hashlib.sha256(data).hexdigest()
    (batch / "_manifest.json").write_text(json.dumps(m))
    ingest(settings)
    assert [r["certno"] for r in read("bronze", "police__resd_permit")] == ["610102198501011234"]
    q = read("meta", "quarantine")
    assert [(r["line_number"], r["reason"]) for r in q] == [
        (3, "column psn_name: bytes not valid in the declared encoding")]


@pytest.mark.parametrize("case, overrides, reason_start", [
    ("row count", {"file_overrides": {"psn_info": {"rows": 5}}}, "file psn_info.csv: 2 data rows, the manifest says 5"),
    ("checksum", {"file_overrides": {"psn_info": {"sha256": "0" * 64}}}, "file psn_info.csv: sha256 "),
    ("missing file", {"delete": "psn_info.csv"}, "file psn_info.csv listed in the manifest is missing"),
    ("bad mode", {"manifest_overrides": {"mode": "sometimes"}}, "mode 'sometimes' is not one of full, incremental"),
    ("wrong source", {"manifest_overrides": {"source": "tax"}}, "manifest source 'tax' does not match folder"),
])
def test_manifest_mismatch_rejects_the_whole_batch(settings, read, case, overrides, reason_start):
    overrides = dict(overrides)
    gone = overrides.pop("delete", None)
    batch = write_batch(settings.landing, "medins", "20261101-001",
                        {"psn_info": [PSN_HEADER, psn("P1"), psn("P2")],
                         "setl": [SETL_HEADER, setl("S1")]}, **overrides)
    if gone:
        (batch / gone).unlink()
    write_batch(settings.landing, "police", "20261101-001", {"resd_permit": [
        "certno,psn_name,gend,brdy,resd_admdvs,resd_addr,issue_date,expire_date",
        "610102198501011234,张三,1,1985-01-01,610102,西安,2025-01-01,2027-01-01"]})
    summary = ingest(settings)
    assert [label for label, _ in summary.batches_rejected] == ["medins/20261101-001"]
    assert summary.batches_rejected[0][1].startswith(reason_start)
    assert summary.batches_applied == ["police/20261101-001"]   # the other source's batch still lands
    from yibao.catalog import Catalog
    from yibao.engine import spark_session
    cat = Catalog(spark_session(settings), settings)
    assert not cat.exists("bronze", "medins__psn_info") and not cat.exists("bronze", "medins__setl")
    batches = {r["source"]: r for r in read("meta", "ingest_batch")}
    assert batches["medins"]["status"] == "rejected"
    assert batches["medins"]["reason"].startswith(reason_start)
    assert batches["police"]["status"] == "applied"


def test_corrupted_manifest_json_rejects_batch(settings, read):
    batch = write_batch(settings.landing, "hrss", "20261101-001", {"pension_insu": [
        "certno,pension_type,psn_name,stas,admdvs,emp_uscc", "610102198501011234,1,张三,1,610102,"]})
    (batch / "_manifest.json").write_text('{"source": "hrss", "files": [', encoding="utf-8")
    summary = ingest(settings)
    assert summary.batches_rejected[0][0] == "hrss/20261101-001"
    assert summary.batches_rejected[0][1].startswith("manifest is not valid JSON")
    assert read("meta", "ingest_batch")[0]["status"] == "rejected"


def test_missing_required_column_rejects_only_that_file(settings, read):
    write_batch(settings.landing, "medins", "20261101-001", {
        "psn_info": [PSN_HEADER.replace(",naty", ""), psn("P1").replace(",01,01,", ",01,", 1)],
        "fixmedins": ["fixmedins_code,fixmedins_name,fixmedins_type,hosp_lv,admdvs", "H001,西安市第一医院,1,1,610100"]})
    summary = ingest(settings)
    assert summary.files_rejected == [("medins/20261101-001/psn_info.csv", "missing required column(s): naty")]
    assert [r["fixmedins_code"] for r in read("bronze", "medins__fixmedins")] == ["H001"]
    log = {r["source_table"]: r for r in read("meta", "ingest_log")}
    assert log["psn_info"]["status"] == "rejected" and log["fixmedins"]["status"] == "applied"
    assert read("meta", "ingest_batch")[0]["reason"] == "file(s) rejected: psn_info.csv"


def test_unknown_extra_columns_are_kept(settings, read):
    write_batch(settings.landing, "medins", "20261101-001",
                {"psn_info": [PSN_HEADER + ",ext_remark", psn("P1") + ",迁入", psn("P2") + ","]})
    ingest(settings)
    rows = read("bronze", "medins__psn_info", "psn_no")
    assert rows[0]["_extra"] == '{"ext_remark": "迁入"}'
    assert rows[1]["_extra"] == '{"ext_remark": null}'


def test_full_batch_replaces_and_incremental_upserts_and_deletes(settings, read):
    write_batch(settings.landing, "medins", "20261101-001",
                {"psn_info": [PSN_HEADER, psn("P1"), psn("P2"), psn("P3")]})
    write_batch(settings.landing, "medins", "20261108-001",
                {"psn_info": [PSN_HEADER + ",del_flag", psn("P2", tel="13900000000") + ",0", psn("P3") + ",1",
                              psn("P4") + ",", psn("P4", name="李四") + ","]}, mode="incremental")
    summary = ingest(settings)
    assert summary.batches_applied == ["medins/20261101-001", "medins/20261108-001"]
    rows = {r["psn_no"]: r for r in read("bronze", "medins__psn_info")}
    assert sorted(rows) == ["P1", "P2", "P4"]                     # P3 deleted
    assert rows["P2"]["tel"] == "13900000000" and rows["P2"]["_batch_id"] == "20261108-001"
    assert rows["P1"]["_batch_id"] == "20261101-001"
    assert rows["P4"]["psn_name"] == "李四"                        # the later of two rows with one key wins
    q = read("meta", "quarantine")
    assert [(r["line_number"], r["reason"]) for r in q] == [
        (4, "duplicate key (psn_no) in this file; superseded by line 5")]
    log = {r["batch_id"]: r for r in read("meta", "ingest_log")}
    assert log["20261108-001"]["rows_deleted"] == 1
    # a later full snapshot replaces everything (it removes one row of three: below the shrink hold)
    write_batch(settings.landing, "medins", "20261115-001",
                {"psn_info": [PSN_HEADER, psn("P1"), psn("P2", name="王五"), psn("P9")]})
    ingest(settings)
    rows = {r["psn_no"]: r for r in read("bronze", "medins__psn_info")}
    assert sorted(rows) == ["P1", "P2", "P9"] and rows["P2"]["psn_name"] == "王五"
    assert {r["_batch_id"] for r in rows.values()} == {"20261115-001"}


def test_redelivery_changes_nothing(settings, read):
    write_batch(settings.landing, "medins", "20261101-001",
                {"psn_info": [PSN_HEADER, psn("P1")], "setl": [SETL_HEADER, setl("S1"), setl("S2", amount="x")]})
    ingest(settings)
    before = delta_versions(settings)
    summary = ingest(settings)
    assert summary.batches_skipped == ["medins/20261101-001"] and not summary.batches_applied
    assert delta_versions(settings) == before


def test_out_of_order_and_changed_redelivery_are_refused(settings, read):
    write_batch(settings.landing, "medins", "20261108-001", {"psn_info": [PSN_HEADER, psn("P1")]})
    ingest(settings)
    write_batch(settings.landing, "medins", "20261101-001", {"psn_info": [PSN_HEADER, psn("P0")]})
    write_batch(settings.landing, "medins", "20261108-001", {"psn_info": [PSN_HEADER, psn("P1"), psn("P2")]})
    summary = ingest(settings)
    reasons = dict(summary.batches_rejected)
    assert reasons["medins/20261101-001"] == "arrived after the later batch 20261108-001 was applied (out of order)"
    assert reasons["medins/20261108-001"].startswith("re-delivered with different content after it was applied")
    assert [r["psn_no"] for r in read("bronze", "medins__psn_info")] == ["P1"]


@pytest.mark.parametrize("fault", ["quarantined:2", "file:3"])
def test_killed_run_then_rerun_equals_one_clean_run(tmp_path, fault):
    from yibao.config import Settings

    def deliver(landing: Path) -> None:
        write_batch(landing, "medins", "20261101-001", {
            "psn_info": [PSN_HEADER, psn("P1"), psn("P2"), "bad,row"],
            "setl": [SETL_HEADER, setl("S1"), setl("S2", amount="oops")],
            "fixmedins": ["fixmedins_code,fixmedins_name,fixmedins_type,hosp_lv,admdvs", "H001,医院,1,1,610100"]})
        write_batch(landing, "medins", "20261108-001", {"psn_info": [PSN_HEADER + ",del_flag", psn("P1") + ",1",
                                                                     psn("P3") + ",0"]}, mode="incremental")

    clean, crashed = Settings(data_root=tmp_path / "clean"), Settings(data_root=tmp_path / "crashed")
    deliver(clean.landing)
    deliver(crashed.landing)
    ingest(clean)
    env = dict(os.environ, YIBAO_DATA_ROOT=str(tmp_path / "crashed"), YIBAO_FAULT_AT=fault, SPARK_REMOTE="")
    killed = subprocess.run([sys.executable, "-m", "yibao.cli", "ingest"], env=env, capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr[-2000:]   # SIGKILL
    env.pop("YIBAO_FAULT_AT")
    rerun = subprocess.run([sys.executable, "-m", "yibao.cli", "ingest"], env=env, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert table_state(crashed) == table_state(clean)


def test_large_file_parsed_in_ranges_keeps_exact_lines(settings, read, monkeypatch):
    import yibao.ingestion.manifest as manifest
    monkeypatch.setattr(manifest, "SPLIT_BYTES", 300)   # force many parallel byte ranges
    lines = [PSN_HEADER]
    bad = {7, 8, 23, 41, 42, 43, 60}
    for line_no in range(2, 62):
        lines.append(f"X{line_no},only,three" if line_no in bad else psn(f"P{line_no}", brdy="19850101"))
    write_batch(settings.landing, "medins", "20261101-001", {"psn_info": lines})
    summary = ingest(settings)
    rows = read("bronze", "medins__psn_info")
    assert sorted((r["psn_no"], r["_line_number"]) for r in rows) == sorted(
        (f"P{n}", n) for n in range(2, 62) if n not in bad)
    assert sorted(r["line_number"] for r in read("meta", "quarantine")) == sorted(bad)
    assert summary.rows_landed == 60 - len(bad)


def test_gzip_file_is_read(settings, read):
    import gzip
    import hashlib
    import json
    batch = write_batch(settings.landing, "medins", "20261101-001", {"psn_info": [PSN_HEADER, psn("P1"), psn("P2")]})
    raw = (batch / "psn_info.csv").read_bytes()
    (batch / "psn_info.csv").unlink()
    gz = gzip.compress(raw)
    (batch / "psn_info.csv.gz").write_bytes(gz)
    m = json.loads((batch / "_manifest.json").read_text())
    m["files"][0].update(name="psn_info.csv.gz", sha256=hashlib.sha256(gz).hexdigest())
    (batch / "_manifest.json").write_text(json.dumps(m))
    ingest(settings)
    assert sorted(r["psn_no"] for r in read("bronze", "medins__psn_info")) == ["P1", "P2"]


def test_repeated_key_in_full_snapshot_keeps_last_line(settings, read):
    write_batch(settings.landing, "medins", "20261101-001",
                {"psn_info": [PSN_HEADER, psn("P1", name="甲"), psn("P2"), psn("P1", name="乙"), psn("P1", name="丙")]})
    summary = ingest(settings)
    rows = {r["psn_no"]: r for r in read("bronze", "medins__psn_info")}
    assert sorted(rows) == ["P1", "P2"] and rows["P1"]["psn_name"] == "丙" and rows["P1"]["_line_number"] == 5
    q = read("meta", "quarantine", "line_number")
    assert [(r["line_number"], r["reason"]) for r in q] == [
        (2, "duplicate key (psn_no) in this file; superseded by line 5"),
        (3 + 1, "duplicate key (psn_no) in this file; superseded by line 5")]
    assert q[0]["raw_line"].startswith("P1,甲,1,1985-01-01,")
    assert (summary.rows_landed, summary.rows_quarantined) == (2, 2)


def test_invalid_utf8_bytes_in_utf8_file_quarantine_only_their_row(settings, read):
    """UTF-8 files are passed to the parser without decoding; bytes that are not UTF-8 still refuse only their row."""
    import hashlib
    import json
    batch = write_batch(settings.landing, "medins", "20261101-001", {"psn_info": [
        PSN_HEADER, psn("P1"), psn("P2", name="NAMEX"), psn("P3", brdy="DATEX"), psn("P4", name="李四")]})
    path = batch / "psn_info.csv"
    data = path.read_bytes().replace(b"NAMEX", b"\xe6\x9d").replace(b"DATEX", b"\xff")
    path.write_bytes(data)
    m = json.loads((batch / "_manifest.json").read_text())
    m["files"][0]["sha256"] = hashlib.sha256(data).hexdigest()
    (batch / "_manifest.json").write_text(json.dumps(m))
    ingest(settings)
    assert [(r["psn_no"], r["psn_name"]) for r in read("bronze", "medins__psn_info", "psn_no")] == [
        ("P1", "张三"), ("P4", "李四")]
    q = {r["line_number"]: r for r in read("meta", "quarantine")}
    assert q[3]["reason"] == "column psn_name: bytes not valid in the declared encoding"
    assert q[3]["raw_line"].startswith("P2,\ufffd,1,")
    assert q[4]["reason"] == ("brdy: '\ufffd' is not a date (YYYY-MM-DD or YYYYMMDD); "
                              "column brdy: bytes not valid in the declared encoding")


def test_chunk_boundaries_do_not_change_the_parse(tmp_path, monkeypatch):
    """Reading in small chunks (cut inside characters, around undecodable bytes) gives the same rows."""
    import pyarrow as pa

    from yibao.ingestion import parse
    from yibao.contract import table_spec
    from yibao.ingestion.manifest import parse_header, scan_file
    lines = [PSN_HEADER] + [psn(f"P{i}", name="张三丰" if i % 3 else "王五",
                                brdy="19850101" if i % 4 else "1985-01-01") for i in range(40)]
    for encoding, bad in (("utf-8", b"\xe5\xbc"), ("gbk", b"\x81\x20")):
        data = bytearray(("\n".join(lines) + "\n").encode(encoding))
        at = data.index(b"BP1\n") + 3
        data[at:at] = bad                            # undecodable bytes at the end of one row
        path = tmp_path / f"psn_info_{encoding}.csv"
        path.write_bytes(bytes(data))
        scan = scan_file(path, 1 << 20, ",", encoding)
        header_bytes, ranges = scan.header, scan.ranges
        header = parse_header(header_bytes, encoding, ",")
        lineage = {"source": "medins", "batch_id": "b", "file": path.name, "ingest_time": dt.datetime(2026, 1, 1)}

        def parsed():
            return pa.Table.from_batches(list(parse.parse_range(
                str(path), table_spec("medins", "psn_info"), header, header_bytes, ranges[0][0], -1, 2,
                encoding, ",", lineage)))
        whole = parsed()
        for chunk in (80, 97, 130):     # lines are up to ~150 bytes: reads end inside lines and characters
            monkeypatch.setattr(parse, "_CHUNK", chunk)
            assert parsed().equals(whole), (encoding, chunk)
        monkeypatch.undo()
        refused = whole.filter(whole["_reject_reason"].is_valid())
        assert refused["_reject_reason"].to_pylist() == [
            "column hsreg_book_no: bytes not valid in the declared encoding"]
        assert whole.num_rows == 40


def test_type_column_takes_each_value_by_its_spelling():
    import pyarrow as pa

    from yibao.ingestion.parse import type_column
    typed, failed = type_column(pa.array(["2026-10-01", "20261005", None, " 2026-10-03 ", "x"]), "date")
    assert typed.to_pylist() == [dt.date(2026, 10, 1), dt.date(2026, 10, 5), None, dt.date(2026, 10, 3), None]
    assert failed.to_pylist() == [False, False, False, False, True]
    typed, failed = type_column(pa.array(["2026-10-01", "2026-02-30", "20261005"]), "date")   # impossible date
    assert typed.to_pylist() == [dt.date(2026, 10, 1), None, dt.date(2026, 10, 5)]
    assert failed.to_pylist() == [False, True, False]
    typed, failed = type_column(pa.array(["2026-10-01 10:00:00", None, "2026-10-01 24:00:00"]), "timestamp")
    assert [v if v is None else v.replace(tzinfo=None) for v in typed.to_pylist()] == [
        dt.datetime(2026, 10, 1, 10), None, None]
    assert failed.to_pylist() == [False, False, True]
    typed, failed = type_column(pa.array(["202601", "202612", None]), "yearmonth")   # all in the canonical form
    assert typed.to_pylist() == ["202601", "202612", None] and failed.to_pylist() == [False, False, False]
    typed, failed = type_column(pa.array(["202601", "202613", "2026-02"]), "yearmonth")
    assert typed.to_pylist() == ["202601", None, "202602"] and failed.to_pylist() == [False, True, False]
    typed, failed = type_column(pa.array(["1.5", " 2.25 ", "1.234", None]), "money")
    assert typed.to_pylist() == [Decimal("1.50"), Decimal("2.25"), None, None]
    assert failed.to_pylist() == [False, False, True, False]


def test_extra_columns_json_matches_json_dumps():
    import json

    import pyarrow as pa

    from yibao.ingestion.parse import _extra_json
    names = ["ext_a", "备注"]
    for values in ([["迁入", None, ""], ["x", "y", None]],                        # built with Arrow
                   [['say "hi"', "a\\b", "tab\there"], [None, "\u2028", "z"]]):   # needs escaping
        got = _extra_json(names, [pa.array(v, pa.string()) for v in values]).to_pylist()
        assert got == [json.dumps(dict(zip(names, row)), ensure_ascii=False) for row in zip(*values)]


def test_manifest_mismatch_reason_is_the_first_in_manifest_order(tmp_path):
    """Files are checked in parallel; the reason given is still the first mismatch in manifest order."""
    from yibao.ingestion.manifest import BatchRejected, read_manifest, verify_batch
    batch = write_batch(tmp_path, "medins", "20261101-001",
                        {"psn_info": [PSN_HEADER, psn("P1")], "setl": [SETL_HEADER, setl("S1")],
                         "fixmedins": ["fixmedins_code,fixmedins_name,fixmedins_type,hosp_lv,admdvs",
                                       "H001,医院,1,1,610100"]},
                        file_overrides={"setl": {"rows": 9}})
    (batch / "fixmedins.csv").unlink()     # a later mismatch in manifest order: a missing file
    with pytest.raises(BatchRejected) as exc:
        verify_batch(batch, read_manifest(batch))
    assert exc.value.reason == "file setl.csv: 1 data rows, the manifest says 9"


CONTRIB_HEADER = "psn_no,insutype,accrym,psn_clct_amt,emp_clct_amt,clct_flag,clct_time"


def _contrib_lines(n: int, month: str, repeated: int) -> list[str]:
    """``n`` contribution rows of one month, then the first ``repeated`` keys again (a corrected amount)."""
    rows = [f"P{i:09d},310,{month},80.00,280.00,1,2026-06-09 16:54:53" for i in range(n)]
    return [CONTRIB_HEADER] + rows + [f"P{i:09d},310,{month},81.00,280.00,1,2026-06-10 09:00:00"
                                      for i in range(repeated)]


def test_repeated_keys_of_a_large_file_are_removed_in_little_memory(tmp_path):
    """A file's superseded lines are removed holding only them in the engine's memory.

    Sail builds a join's hash table on one side (the left, unless statistics say the right is smaller) and cannot
    spill it: an anti join from the file's rows, or a MERGE ... DELETE into the table just written, held the whole
    file and failed on the 41M-row contribution file of 10M persons.  Here a file far larger than the engine's memory pool lands, first as the table's first full
    snapshot (written straight to bronze), then as a second full snapshot (staged); then a day's incremental batch
    with repeated keys is merged into the large table.
    """
    from yibao.config import Settings

    n, day, repeated = 1_500_000, 20_000, 1_000
    s = Settings(data_root=tmp_path)
    write_batch(s.landing, "medins", "20261101-001", {"contrib": _contrib_lines(n, "202606", repeated)})
    write_batch(s.landing, "medins", "20261102-001", {"contrib": _contrib_lines(n, "202607", repeated)})
    write_batch(s.landing, "medins", "20261103-001", {"contrib": [CONTRIB_HEADER + ",del_flag"] + [
        line + ",0" for line in _contrib_lines(day, "202608", repeated)[1:]]}, mode="incremental")
    env = dict(os.environ, YIBAO_DATA_ROOT=str(tmp_path), SPARK_REMOTE="", YIBAO_ENGINE_MEMORY_GIB="0.0625")
    run = subprocess.run([sys.executable, "-m", "yibao.cli", "ingest"], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]

    import pyarrow.compute as pc

    from yibao.catalog import read_delta_arrow

    def table(schema: str, name: str):
        return read_delta_arrow(s.warehouse / schema / name)

    bronze = table("bronze", "medins__contrib")
    assert bronze.num_rows == n + day                    # July's full snapshot, a day of August merged into it
    months = pc.value_counts(bronze["accrym"]).to_pylist()
    assert sorted((m["values"], m["counts"]) for m in months) == [("202607", n), ("202608", day)]
    corrected = sum(1 for v in bronze["psn_clct_amt"].to_pylist() if v == Decimal("81.00"))
    assert corrected == 2 * repeated                     # the later line of each repeated key won
    q = table("meta", "quarantine")
    assert q.num_rows == 3 * repeated                    # every superseded line, each file's on its own
    assert set(q["rule"].to_pylist()) == {"ingest.superseded"}
