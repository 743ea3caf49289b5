"""The steward dashboard's read path: what is held and why, the stewards' decisions, GB/T 36344 dimension
scores and the quarantine by rule class, as ``serving.*`` views over real Delta tables.

The warehouse is made the real way: landing batches -> ingestion -> bronze Delta -> the quality gate (GE on the
embedded engine) -> steward decisions through ``yibao.decisions``; then ``readpath.register`` copies the meta
tables into DuckDB and the views are read as Superset reads them (read-only).  The Superset side (the charts of
the quality dashboard rendering in Chromium) is in ``test_dashboards.py``.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from landing import write_batch
from test_quality import INSU_HEADER, PSN_HEADER, certno, insu, persons, psn

from yibao.ingestion.ingest import ingest
from yibao.quality import run_quality

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

EMP_HEADER = "emp_no,emp_name,uscc,emp_type,admdvs"
CLEAR_ID = re.compile(r"[0-9]{15,}")


def _rows(con, sql: str) -> list[dict]:
    cur = con.execute(sql)
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


@pytest.fixture
def warehouse(settings):
    """A warehouse with one table held at the door, one held at the gate, rows waiting on it, an orphan, a parse
    error, a superseded duplicate, and three steward decisions."""
    from yibao import decisions
    from yibao.catalog import Catalog
    from yibao.engine import spark_session

    psn_lines = persons(10)
    psn_lines.insert(3, "P99,张三,1")                                  # a wrong field count: ingest.parse
    psn_lines.insert(5, psn(3, name="李四"))                          # P3 repeated later: ingest.superseded
    write_batch(settings.landing, "medins", "20261101-001", {
        "psn_info": psn_lines,
        "psn_insu": [INSU_HEADER] + [insu(i) for i in range(10)] + [insu(77)],   # P77: nobody registered him
        "emp_info": [EMP_HEADER] + [f"E{i},某厂{i},,1,610102" for i in range(4)],
    })
    ingest(settings)
    first = run_quality(settings)
    assert first.ok
    # next week: psn_info in another code system for sex (held at the gate), an emp_info snapshot that would
    # empty the table (held at the door), and two insured persons of the held psn_info batch (their rows wait)
    write_batch(settings.landing, "medins", "20261108-001", {
        "psn_info": [PSN_HEADER] + [psn(i, gend="男") for i in range(12)],
        "emp_info": [EMP_HEADER]})
    write_batch(settings.landing, "medins", "20261108-002", {"psn_insu": [INSU_HEADER, insu(10), insu(11)]},
                mode="incremental")
    ingest(settings)
    run_quality(settings)
    run_quality(settings, force=True)     # every batch measured twice: the dashboard shows the last measurement
    cat = Catalog(spark_session(settings), settings)
    decisions.record(cat, "hold", "medins", "emp_info", "20261108-001",
                     f"单位表清空待核实, 经办人身份证 {certno(5)}", user="steward-li")
    decisions.record(cat, "release", "medins", "psn_info", "20261108-001", "性别代码改为汉字已确认", user="steward-zhang")
    decisions.record(cat, "hold", "medins", "psn_info", "20261108-001", "代码对照表未到, 暂缓", user="steward-li")
    return settings


@pytest.fixture
def serving(warehouse, tmp_path):
    from yibao.dashboards import readpath

    reg = readpath.register(tmp_path / "serving_root", warehouse.warehouse)
    assert not reg.unreadable, reg.unreadable
    for t in ("meta.quality_hold_current", "meta.steward_decision", "meta.quality_dimension", "meta.quarantine"):
        assert t in reg.found, (t, reg.stubbed)
    con = readpath.connect(tmp_path / "serving_root")
    yield con
    con.close()


def test_holds_and_decisions_read_in_chinese_with_the_deciding_command(serving, read):
    holds = _rows(serving, "select * from serving.quality_hold_current order by kind_order")
    assert [(h["hold_kind_name"], h["source_name"], h["source_table"], h["batch_id"]) for h in holds] == [
        ("接收暂停 (未入湖)", "医保核心业务系统", "emp_info", "20261108-001"),
        ("发布暂停 (未进入标准层)", "医保核心业务系统", "psn_info", "20261108-001"),
        ("等待上级批次", "医保核心业务系统", "psn_insu", "—")]
    door, gate, waiting = holds
    assert "full snapshot would remove 4 of 4 rows" in door["reason"]
    assert "yibao quality release medins/emp_info 20261108-001 --reason" in door["decide"]
    assert "yibao quality hold medins/emp_info 20261108-001 --reason" in door["decide"]
    assert "gend" in gate["reason"] and "yibao quality release medins/psn_info 20261108-001" in gate["decide"]
    assert waiting["reason"].startswith("2 rows held because parent") and "medins/psn_info 20261108-001" in \
        waiting["reason"]
    assert waiting["decide"].startswith("随上级表")
    # the warehouse's UTC time shown as Beijing time
    assert door["as_of_bj"] - door["as_of"].replace(tzinfo=None) == timedelta(hours=8)

    decided = _rows(serving, "select * from serving.steward_decision order by decided_at desc")
    assert [(d["action_name"], d["source_table"], d["decided_by"], d["in_force_name"]) for d in decided] == [
        ("暂停", "psn_info", "steward-li", "生效"),
        ("放行", "psn_info", "steward-zhang", "已被后续决定取代"),
        ("暂停", "emp_info", "steward-li", "生效")]
    assert {d["source_name"] for d in decided} == {"医保核心业务系统"}
    # a reason is free text: an ID number typed into it is masked like everywhere else
    emp_reason = decided[2]["reason"]
    assert certno(5) not in emp_reason and f"{certno(5)[:6]}********{certno(5)[-4:]}" in emp_reason
    assert [d["decision_id"] for d in decided] == [
        d["decision_id"] for d in sorted(read("meta", "steward_decision"), key=lambda d: d["decided_at"], reverse=True)]


def test_dimension_scores_are_the_last_measurement_of_each_batch(serving, read):
    raw = read("meta", "quality_dimension")
    bronze = [r for r in raw if r["layer"] == "bronze"]
    keys = {(r["table"], r["batch_id"], r["dimension"]) for r in bronze}
    assert len(bronze) > len(keys)       # batches measured more than once (the forced run)
    last = {}
    for r in sorted(bronze, key=lambda r: (r["run_time"], r["run_id"])):
        last[(r["table"], r["batch_id"], r["dimension"])] = r
    got = _rows(serving, "select * from serving.quality_dimension where layer = 'bronze'")
    assert len(got) == len(keys)
    for g in got:
        want = last[(g["table"], g["batch_id"], g["dimension"])]
        assert (g["run_id"], g["score_value"], g["bad_rows"]) == (want["run_id"], want["score"], want["bad_rows"])
        assert g["source_table"] == g["table"].split("__", 1)[1] and g["layer_name"] == "贴源层"
    by = {(g["source_table"], g["batch_id"], g["dimension_name"]): g for g in got}
    assert {g["dimension_name"] for g in got} >= {"完整性", "规范性", "唯一性", "时效性"}
    assert {g["dimension_name"] for g in got} <= {"完整性", "规范性", "一致性", "唯一性", "时效性", "准确性"}
    # psn_info: its latest batch is the held one, whose sex column is in another code system
    assert by[("psn_info", "20261108-001", "规范性")]["latest_batch"] is True
    assert by[("psn_info", "20261101-001", "规范性")]["latest_batch"] is False
    assert by[("psn_info", "20261108-001", "规范性")]["score_value"] < by[("psn_info", "20261101-001", "规范性")][
        "score_value"]
    assert by[("psn_info", "20261108-001", "唯一性")]["score_value"] == 100
    assert all(0 <= g["score_value"] <= 100 for g in got)
    # the dashboard's saved metrics: one column per dimension for the latest batch of every table
    from yibao.dashboards.authoring import DATASETS

    metric = {m[0]: m[1] for m in DATASETS["quality_dimension"]["metrics"]}
    (row,) = _rows(serving, f"select {metric['dim_validity']} as v, {metric['dim_uniqueness']} as u "
                            "from serving.quality_dimension where latest_batch and layer = 'bronze' "
                            "and source_table = 'psn_info'")
    assert row["v"] == pytest.approx(by[("psn_info", "20261108-001", "规范性")]["score_value"])
    assert row["u"] == 100
    # the failing checks of the latest run carry their dimension and a share instead of a percent
    failing = _rows(serving, "select * from serving.quality_result where not success and source_table = 'psn_info' "
                             "and layer = 'bronze' and rule = 'code.gend'")
    assert failing and all(f["dimension_name"] == "规范性" and f["severity_name"] in ("阻断", "警告") for f in failing)
    assert all(f["unexpected_share"] == pytest.approx(f["unexpected_percent"] / 100) for f in failing)


def test_quarantine_by_rule_class_with_masked_lines(serving, read):
    got = _rows(serving, "select * from serving.quarantine")
    by_class = {}
    for g in got:
        by_class.setdefault(g["rule_class_name"], []).append(g)
    assert {k: len(v) for k, v in by_class.items()} == {"解析失败": 1, "同批重复键": 1, "孤儿记录": 1, "等待上级批次": 2}
    assert {(g["source_name"], g["source_table"]) for g in by_class["等待上级批次"]} == {("医保核心业务系统", "psn_insu")}
    assert {json.loads(g["raw_line_masked"])["psn_no"] for g in by_class["等待上级批次"]} == {"P10", "P11"}
    (orphan,) = by_class["孤儿记录"]
    assert (orphan["rule"], orphan["rule_columns"], orphan["stage_name"]) == ("gate.reference.psn_no", "psn_no", "质量门")
    assert json.loads(orphan["raw_line_masked"])["psn_no"] == "P77"
    (dup,) = by_class["同批重复键"]
    assert (dup["rule"], dup["stage_name"], dup["source_table"]) == ("ingest.superseded", "入湖解析", "psn_info")
    # the superseded line is the delivered CSV line: its ID number and mobile number are masked
    assert not CLEAR_ID.search(dup["raw_line_masked"]) and "138****0000" in dup["raw_line_masked"]
    assert f"{certno(3)[:6]}********{certno(3)[-4:]}" in dup["raw_line_masked"]
    assert by_class["解析失败"][0]["rule"] == "ingest.parse"
    assert sum(1 for r in read("meta", "quarantine")) == len(got)
    assert not any(CLEAR_ID.search(g["raw_line_masked"] or "") for g in got)


def test_gate_rows_mask_personal_fields_of_their_json(tmp_path):
    """The gate keeps a quarantined row as JSON of its columns: names, phones, addresses, booklets are masked by
    field, ID numbers anywhere, and rows from before meta.quarantine had a rule are classified by their reason."""
    import duckdb

    from yibao.dashboards import readpath
    from yibao.masking import raw_line_sql

    reg = readpath.register(tmp_path, tmp_path / "warehouse")    # empty warehouse: the expected empty tables
    assert {"meta.quality_hold_current", "meta.steward_decision", "meta.quality_dimension"} <= set(reg.stubbed)
    con = readpath.connect(tmp_path)
    for view in ("quality_hold_current", "steward_decision", "quality_dimension", "quarantine"):
        assert con.execute(f"select count(*) from serving.{view}").fetchone()[0] == 0
    cols = {r[0] for r in con.execute("describe serving.quality_hold_current").fetchall()}
    assert {"hold_kind_name", "source_name", "reason", "decide", "as_of_bj"} <= cols
    con.close()
    line = json.dumps({"psn_no": "P1", "psn_name": "欧阳娜娜", "certno": certno(1), "tel": "13912345678",
                       "hsreg_addr": "陕西省西安市新城区某路1号", "hsreg_book_no": "B0001"}, ensure_ascii=False)
    mem = duckdb.connect()
    mem.execute("create table meta_q (rule VARCHAR, reason VARCHAR, raw_line VARCHAR)")
    mem.execute("insert into meta_q values ('gate.reference.psn_no', 'orphan', ?), "
                "(NULL, 'duplicate key (psn_no) in this file; superseded by line 9', 'x'), (NULL, 'bad date', 'y')",
                [line])
    masked = mem.execute(f"select {raw_line_sql('raw_line')} from meta_q").fetchone()[0]
    got = json.loads(masked)
    assert got == {"psn_no": "P1", "psn_name": "欧***", "certno": f"{certno(1)[:6]}********{certno(1)[-4:]}",
                   "tel": "139****5678", "hsreg_addr": "陕西省西安市***", "hsreg_book_no": "****"}
    sql = readpath.serving_views()["quarantine"].replace("meta.quarantine", "(select 's' as source, 't' as source_table, "
                                                         "'b' as batch_id, 'f' as file, 1 as line_number, reason, "
                                                         "raw_line, now() as ingest_time, rule from meta_q)")
    assert sorted(r[0] for r in mem.execute(f"select rule_class_name from ({sql})").fetchall()) == \
        ["同批重复键", "孤儿记录", "解析失败"]


def test_steward_datasets_are_province_wide_and_for_stewards_only():
    """The meta views have no region: like the other quality datasets they get no row-level-security filter
    (which filters on ``admdvs``), and only the steward role (besides Admin) is given access to them."""
    from yibao.dashboards import readpath
    from yibao.dashboards.authoring import REGION_DATASETS, uid
    from yibao.dashboards.serve import ROLE_DASHBOARDS, _datasets_of

    new = {"quality_hold_current", "steward_decision", "quality_dimension", "quarantine"}
    assert not new & set(REGION_DATASETS)
    views = readpath.serving_views()
    assert all("admdvs" not in views[v] for v in new)
    uuids = {uid("dataset", v) for v in new}
    assert uuids <= set(_datasets_of(ROLE_DASHBOARDS["steward"]))
    for role, keys in ROLE_DASHBOARDS.items():
        if role != "steward":
            assert not uuids & set(_datasets_of(keys)), role
