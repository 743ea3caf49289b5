"""The quality gate keeps the province running: row-level dirt is flagged or quarantined row by row and the
rest is released; only structural breakage holds a table; a held parent makes its children's rows wait
(named, not reported as orphans); a steward releases or holds with an audited decision.

Every case goes through the real path: landing files -> ingestion -> bronze Delta -> GE on Spark Connect ->
the ``released.*`` views dbt reads.
"""

from __future__ import annotations

import json

import pytest
from landing import write_batch
from test_quality import INSU_HEADER, PSN_HEADER, certno, insu, persons, psn

from yibao.ingestion.ingest import ingest
from yibao.quality import released_version, run_quality

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def released_rows(settings, table: str) -> list[dict]:
    """What dbt would read: the released.* view (released version minus the gate's exclusions)."""
    from yibao.engine import spark_session
    from yibao.transform.runner import ensure_sources, release_sources

    spark = spark_session(settings)
    ensure_sources(spark, settings)
    release_sources(spark, settings)
    return [r.asDict() for r in spark.sql(f"SELECT * FROM released.{table}").collect()]


def quarantine(read, table: str) -> list[dict]:
    return [r for r in read("meta", "quarantine") if r["source_table"] == table]


def test_ordinary_dirt_is_released_with_warnings_and_dimension_scores(settings, read):
    """Missing phones and booklet numbers, an odd code, a typo'd division: all flagged, nothing held."""
    rows = [PSN_HEADER] + [psn(i, tel="" if i % 3 == 0 else "13800000000") for i in range(10)]
    rows[2] = psn(1, gend="0")                  # a code outside the code list
    rows[3] = psn(2, admdvs="999999")           # a division not in GB/T 2260
    rows[4] = psn(3, name="")                   # a required field empty
    write_batch(settings.landing, "medins", "20261101-001", {"psn_info": rows})
    ingest(settings)
    run = run_quality(settings)
    t = run.table("medins__psn_info")
    assert t.status == "released" and run.ok and not t.blocking
    failed = {(r["rule"], r["severity"], r["unexpected_count"]) for r in run.failures("medins__psn_info")}
    assert failed == {("expected.tel", "warning", 3), ("code.gend", "warning", 1),
                      ("division.hsreg_admdvs", "warning", 1), ("required.psn_name", "warning", 1)}
    assert len(released_rows(settings, "medins__psn_info")) == 10
    dims = {(d["table"], d["dimension"]): d for d in read("meta", "quality_dimension")}
    assert dims[("medins__psn_info", "completeness")]["score"] < 100
    assert dims[("medins__psn_info", "validity")]["score"] < 100
    assert dims[("medins__psn_info", "uniqueness")]["score"] == 100
    assert dims[("medins__psn_info", "timeliness")]["dimension_zh"] == "时效性"
    assert {d["dimension"] for d in dims.values()} >= {"completeness", "validity", "uniqueness", "timeliness"}


def test_orphans_are_quarantined_row_by_row_and_the_rest_released(settings, read):
    write_batch(settings.landing, "medins", "20261101-001", {
        "psn_info": persons(5),
        "emp_info": ["emp_no,emp_name,uscc,emp_type,admdvs", "E0,某厂,,1,610102"],
        "psn_insu": [INSU_HEADER] + [insu(i) for i in range(5)] + [
            insu(77), insu(78),                                 # persons nobody registered: orphans
            insu(2, insutype="310", emp="E1", emp_name="某公司")],   # employer not in emp_info: flagged only
    })
    ingest(settings)
    run = run_quality(settings)
    assert run.table("medins__psn_insu").status == "released"
    ref = {r["rule"]: r for r in run.failures("medins__psn_insu")}
    assert ref["reference.psn_no"]["unexpected_count"] == 2 and ref["reference.psn_no"]["severity"] == "warning"
    assert ref["reference.emp_no"]["unexpected_count"] == 1
    (ex,) = [e for e in run.exclusions if e.table == "medins__psn_insu"]
    assert (ex.orphan_rows, ex.waiting_rows) == (2, 0)
    q = quarantine(read, "psn_insu")
    assert sorted(json.loads(r["raw_line"])["psn_no"] for r in q) == ["P77", "P78"]
    assert {r["rule"] for r in q} == {"gate.reference.psn_no"} and {r["batch_id"] for r in q} == {"20261101-001"}
    assert all("孤儿记录" in r["reason"] and r["line_number"] in (7, 8) for r in q)
    seen = released_rows(settings, "medins__psn_insu")
    assert sorted((r["psn_no"], r["insutype"]) for r in seen) == \
        [("P0", "390"), ("P1", "390"), ("P2", "310"), ("P2", "390"), ("P3", "390"), ("P4", "390")]
    # the parent arrives later: the orphans become ordinary rows, nothing of them is left in quarantine
    write_batch(settings.landing, "medins", "20261102-001",
                {"psn_info": [PSN_HEADER, psn(77), psn(78)]}, mode="incremental")
    ingest(settings)
    again = run_quality(settings)
    (ex,) = [e for e in again.exclusions if e.table == "medins__psn_insu"]
    assert (ex.orphan_rows, ex.waiting_rows) == (0, 0)
    assert quarantine(read, "psn_insu") == []
    assert len(released_rows(settings, "medins__psn_insu")) == 8


def test_held_parent_makes_children_wait_not_orphans_and_a_steward_releases_it(settings, read):
    from typer.testing import CliRunner

    from yibao.cli import app

    write_batch(settings.landing, "medins", "20261101-001",
                {"psn_info": persons(10), "psn_insu": [INSU_HEADER] + [insu(i) for i in range(10)]})
    ingest(settings)
    assert run_quality(settings).ok
    # the next psn_info delivery uses another code system for sex (男/女): the whole column is broken
    broken = [PSN_HEADER] + [psn(i, gend="男") for i in range(12)]
    write_batch(settings.landing, "medins", "20261108-001", {"psn_info": broken})
    write_batch(settings.landing, "medins", "20261108-002",
                {"psn_insu": [INSU_HEADER, insu(10), insu(11)]}, mode="incremental")
    ingest(settings)
    before = released_version(settings, "bronze", "medins__psn_info")
    run = run_quality(settings)
    parent, child = run.table("medins__psn_info"), run.table("medins__psn_insu")
    assert parent.status == "held" and {r["rule"] for r in parent.blocking} == {"code.gend"}
    assert child.status == "released"
    # P10 and P11 are in the held parent batch: not orphans
    assert "reference.psn_no" not in {r["rule"] for r in run.failures("medins__psn_insu")}
    assert "held because parent medins/psn_info 20261108-001 is held" in child.note
    q = quarantine(read, "psn_insu")
    assert len(q) == 2 and {r["rule"] for r in q} == {"gate.waiting.psn_no"}
    assert all("held because parent medins/psn_info batch 20261108-001 is held" in r["reason"] for r in q)
    assert len(released_rows(settings, "medins__psn_insu")) == 10
    assert released_version(settings, "bronze", "medins__psn_info") == before
    # the steward dashboard reads what is held now
    current = {(h["kind"], h["source_table"], h["batch_id"]) for h in read("meta", "quality_hold_current")}
    assert current == {("gate", "psn_info", "20261108-001"), ("waiting", "psn_insu", "")}

    runner = CliRunner()
    env = {"YIBAO_DATA_ROOT": str(settings.data_root)}
    listed = runner.invoke(app, ["quality", "holds"], env=env)
    assert listed.exit_code == 0, listed.output
    assert "medins/psn_info" in listed.output and "20261108-001" in listed.output
    assert "medins/psn_insu" in listed.output       # the waiting rows, with their parent

    # the steward checks with the department (the new code system is agreed) and releases the batch
    rel = runner.invoke(app, ["quality", "release", "medins/psn_info", "20261108-001", "--reason",
                              "民政已确认性别代码改为汉字, 本批放行", "--user", "steward-zhang"], env=env)
    assert rel.exit_code == 0, rel.output
    (d,) = read("meta", "steward_decision")
    assert (d["action"], d["source"], d["source_table"], d["batch_id"], d["decided_by"]) == \
        ("release", "medins", "psn_info", "20261108-001", "steward-zhang")
    after = run_quality(settings)
    assert after.table("medins__psn_info").status == "released"
    assert "released by steward steward-zhang" in after.table("medins__psn_info").note
    assert released_version(settings, "bronze", "medins__psn_info") == before + 1
    assert quarantine(read, "psn_insu") == [] and len(released_rows(settings, "medins__psn_insu")) == 12
    assert "20261108-001" not in runner.invoke(app, ["quality", "holds"], env=env).output


def test_steward_hold_keeps_a_passing_batch_out_until_released(settings, read):
    from typer.testing import CliRunner

    from yibao.cli import app

    write_batch(settings.landing, "medins", "20261101-001", {"psn_info": persons(4)})
    ingest(settings)
    assert run_quality(settings).ok
    v1 = released_version(settings, "bronze", "medins__psn_info")
    write_batch(settings.landing, "medins", "20261108-001", {"psn_info": [PSN_HEADER, psn(9)]},
                mode="incremental")
    ingest(settings)
    runner, env = CliRunner(), {"YIBAO_DATA_ROOT": str(settings.data_root)}
    out = runner.invoke(app, ["quality", "hold", "medins/psn_info", "20261108-001", "--reason", "待核实来源",
                              "--user", "steward-li"], env=env)
    assert out.exit_code == 0, out.output
    missing = runner.invoke(app, ["quality", "hold", "medins/psn_info", "20261108-001"], env=env)
    assert missing.exit_code != 0                  # a decision without a reason is refused
    bad = runner.invoke(app, ["quality", "hold", "medins/nope", "20261108-001", "--reason", "x"], env=env)
    assert bad.exit_code == 2 and "not a table of the data contract" in bad.output
    run = run_quality(settings)
    t = run.table("medins__psn_info")
    assert t.status == "held" and "held by steward steward-li" in t.note and not t.blocking
    assert released_version(settings, "bronze", "medins__psn_info") == v1
    # quality exits 0 on a hold; --strict makes it 1
    assert runner.invoke(app, ["quality", "--force"], env=env).exit_code == 0
    assert runner.invoke(app, ["quality", "--force", "--strict"], env=env).exit_code == 1
    runner.invoke(app, ["quality", "release", "medins/psn_info", "20261108-001", "--reason", "已核实",
                        "--user", "steward-li"], env=env)
    assert run_quality(settings).table("medins__psn_info").status == "released"
    assert [(d["action"], d["decided_by"]) for d in read("meta", "steward_decision", "decided_at")] == \
        [("hold", "steward-li"), ("release", "steward-li")]


def test_incremental_deletes_that_collapse_a_table_are_held(settings):
    write_batch(settings.landing, "medins", "20261101-001", {"psn_info": persons(10)})
    ingest(settings)
    assert run_quality(settings).ok
    deletes = [PSN_HEADER + ",del_flag"] + [psn(i) + ",1" for i in range(6)]
    write_batch(settings.landing, "medins", "20261108-001", {"psn_info": deletes}, mode="incremental")
    ingest(settings)
    run = run_quality(settings)
    t = run.table("medins__psn_info")
    assert t.status == "held" and [r["rule"] for r in t.blocking] == ["row_count.min"]
    assert len(released_rows(settings, "medins__psn_info")) == 10


def test_accuracy_against_the_police_register(settings, read):
    hsreg = ("certno,psn_name,gend,brdy,naty,hsreg_admdvs,hsreg_addr,hsreg_book_no,hsreg_stas,cancel_date")
    police = [hsreg] + [f"{certno(i)},张三,1,{certno(i)[6:10]}-{certno(i)[10:12]}-{certno(i)[12:14]},01,610102,"
                        f"陕西省西安市,B{i},1," for i in range(4)]
    write_batch(settings.landing, "police", "20261101-001", {"hsreg_psn": police})
    people = [PSN_HEADER, psn(0), psn(1, name="张 三"), psn(2, name="李四"), psn(3, gend="2"), psn(5)]
    write_batch(settings.landing, "medins", "20261101-001", {"psn_info": people})
    ingest(settings)
    run = run_quality(settings)
    acc = [r for r in run.results if r["table"] == "medins__psn_info" and r["rule"] == "accuracy.police"
           and r["severity"] == "warning"]
    # P1's stray space is not a disagreement; P2's name and P3's sex are; P5 is unknown to police (not checked)
    assert acc[0]["unexpected_count"] == 2 and acc[0]["rows_checked"] == 5
    sample = {x["psn_no"] for x in json.loads(acc[0]["sample"])}
    assert sample == {"P2", "P3"}
    dims = {(d["table"], d["dimension"]): d for d in read("meta", "quality_dimension")}
    assert dims[("medins__psn_info", "accuracy")]["score"] < 100


def test_a_release_whose_run_died_before_recording_is_validated_again(settings, read, monkeypatch):
    """Issue 20 (fault matrix): the gate releases each table as it goes and records the run's measurements at
    the end.  A run killed in between must not leave a released version without its results: the next run
    validates that version again and records it, once."""
    from yibao.quality import run as qrun

    write_batch(settings.landing, "medins", "20261101-001",
                {"psn_info": [PSN_HEADER] + [psn(i) for i in range(6)]})
    ingest(settings)

    def killed(*_a, **_k):
        raise KeyboardInterrupt("killed after releasing, before recording")

    monkeypatch.setattr(qrun, "_persist", killed)
    with pytest.raises(KeyboardInterrupt):
        run_quality(settings, reports=False)
    from yibao.catalog import Catalog
    from yibao.engine import spark_session

    cat = Catalog(spark_session(settings), settings)
    assert released_version(settings, "bronze", "medins__psn_info") is not None     # released ...
    assert not cat.exists("meta", "quality_result") or not read("meta", "quality_result")   # ... nothing recorded
    monkeypatch.undo()

    again = run_quality(settings, reports=False)
    assert again.table("medins__psn_info").status == "released"
    recorded = {r["table"] for r in read("meta", "quality_result")}
    assert "medins__psn_info" in recorded
    # a further run finds everything released and recorded: nothing validated twice
    third = run_quality(settings, reports=False)
    assert not third.tables
