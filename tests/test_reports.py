"""Subscribed reports and alerts (issue 22 item 4; yibao.reports): periods, the figures of a region's report
against hand-computed values, region isolation, idempotent delivery, mail to a local SMTP sink (aiosmtpd on
127.0.0.1: nothing leaves the machine), a failed mail re-sent, and the three alerts.

The reports read gold tables, so the fixture publishes tiny gold tables (real Delta through the engine) with the
columns the marts publish; tests/test_province.py runs the same stage after a real pipeline run.  Regions:
西安市 610100 and 铜川市 610200 are pooling regions, 新城区 610102 a county of 西安市.  Reference date 2026-11-01:
the latest month is 2026-10, the latest quarter 2026Q3, the latest year 2025.
"""

from __future__ import annotations

import email
from datetime import date, datetime
from decimal import Decimal as D
from email import policy
from io import BytesIO
from pathlib import Path

import pandas as pd
import pytest

from yibao.benchmarks.pg import free_port as _free_port
from yibao.config import Settings
from yibao.regions import admdvs_prefix, in_region

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
REF = date(2026, 11, 1)
SEED = Path(__file__).resolve().parent.parent / "dbt_project" / "seeds" / "gbt2260_divisions.csv"

ENROLLMENT = ("ym string, region string, region_name string, insutype string, psn_type string, insured long, "
              "new_enrollments long, suspensions long, terminations long, switches_in long, insured_mom long, "
              "insured_yoy long")
ENROLLMENT_ROWS = [
    ("202610", "610100", "西安市", "310", "11", 100, 3, 1, 0, 0, 2, 10),
    ("202610", "610100", "西安市", "310", "12", 40, 0, 0, 0, 0, 0, 5),
    ("202610", "610100", "西安市", "390", "21", 200, 5, 2, 1, 1, -3, -20),
    ("202609", "610100", "西安市", "310", "11", 98, 2, 0, 0, 0, 1, 8),
    ("202610", "610200", "铜川市", "390", "21", 999, 9, 0, 0, 0, 0, 9),
]
CONTRIB = ("accrym string, insutype string, region string, region_name string, psn_type string, emp_type string, "
           "periods long, paid_periods long, assessed_amt decimal(20,2), collected_amt decimal(20,2), "
           "collected_amt_mom double, collected_amt_yoy double")
CONTRIB_ROWS = [
    ("202610", "310", "610100", "西安市", "ALL", "ALL", 100, 90, D("50000.00"), D("45000.00"), 0.1, None),
    ("202610", "390", "610100", "西安市", "ALL", "ALL", 50, 40, D("20000.00"), D("16000.00"), None, None),
    ("202610", "310", "610100", "西安市", "11", "ALL", 60, 55, D("30000.00"), D("27500.00"), None, None),  # detail
    ("202610", "310", "ALL", None, "ALL", "ALL", 999, 999, D("1.00"), D("99999.00"), None, None),       # roll-up
    ("202610", "310", "610200", "铜川市", "ALL", "ALL", 10, 10, D("5000.00"), D("5000.00"), None, None),
]
FUND = ("admdvs string, insutype string, ym string, income decimal(26,2), expense decimal(26,2), "
        "cum_balance decimal(38,2), months_payable double, current_surplus_rate double, risk_level string")
FUND_ROWS = [
    ("610100", "310", "202610", D("1000.00"), D("800.00"), D("50000.00"), 20.0, 0.2, "正常"),
    ("610100", "390", "202610", D("2000.00"), D("2500.00"), D("3000.00"), 1.5, -0.25, "严重"),
    ("610200", "310", "202610", D("900.00"), D("850.00"), D("4000.00"), 5.0, 0.05, "一般"),
]
CARE = ("ym string, insu_region string, insu_region_name string, mdtrt_region string, mdtrt_region_name string, "
        "flow string, settlements long, medfee_sumamt decimal(26,2), hifp_pay decimal(26,2)")
CARE_ROWS = [
    ("202610", "610100", "西安市", "610100", "西安市", "LOCAL", 30, D("3000.00"), D("2000.00")),
    ("202610", "610100", "西安市", "610200", "铜川市", "PROVINCE_INNER", 6, D("600.00"), D("400.00")),
    ("202610", "610100", "西安市", "110000", "北京市", "OUT_OF_PROVINCE", 4, D("4000.00"), D("2000.00")),
    ("202610", "610200", "铜川市", "610100", "西安市", "PROVINCE_INNER", 7, D("700.00"), D("500.00")),
]
REFORM = ("ym string, region string, region_name string, outpatient_visits long, primary_visits long, "
          "inpatient_cases long, resident_inpatient_cases long, in_county_cases long, inpatient_hifp_pay decimal(26,2), "
          "inpatient_policy_cost decimal(27,2), chronic_visits long, maternity_cases long")
REFORM_ROWS = [("202610", "610100", "西安市", 100, 60, 25, 20, 15, D("7000.00"), D("10000.00"), 5, 2),
               ("202610", "610200", "铜川市", 10, 10, 1, 1, 1, D("1.00"), D("1.00"), 0, 0)]
COVERAGE = ("reference_month string, admdvs string, admdvs_name string, level string, reference_date date, "
            "target_population long, insured long, uninsured long, coverage_rate double")
COVERAGE_ROWS = [("202611", "610100", "西安市", "city", REF, 1000, 950, 50, 0.95),
                 ("202611", "610102", "新城区", "county", REF, 100, 90, 10, 0.9),
                 ("202611", "610200", "铜川市", "city", REF, 500, 490, 10, 0.98)]
SUSPECT = ("suspect_id string, subject_type string, subject_id string, subject_name string, region string, "
           "score double, risk_level string, rule_names string, amount double, status string, scored_at timestamp")
AT = datetime(2026, 11, 2, 3, 0)
SUSPECT_ROWS = [("S1", "person", "P1", "张三", "610102", 0.9, "高", "分解住院", 100.0, "待核查", AT),
                ("S2", "person", "P2", "李四", "610103", 0.5, "中", "超限价收费", 50.0, "待核查", AT),
                ("S3", "institution", "H1", "某医院", "610100", 0.8, "高", "高套分组", 1000.0, "待核查", AT),
                ("S4", "person", "P4", "王五", "610202", 0.95, "高", "分解住院", 10.0, "待核查", AT)]


def _publish(cat, schema: str, table: str, ddl: str, rows: list[tuple]) -> None:
    cat.overwrite(cat.spark.createDataFrame(rows, ddl), schema, table)


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    from yibao.catalog import Catalog
    from yibao.engine import spark_session

    root = tmp_path_factory.mktemp("reports")
    settings = Settings(data_root=root, spark_remote="", reference_date=REF)
    cat = Catalog(spark_session(settings), settings)
    for table, ddl, rows in (("enrollment_trend", ENROLLMENT, ENROLLMENT_ROWS), ("contribution_trend", CONTRIB, CONTRIB_ROWS),
                             ("fund_operation", FUND, FUND_ROWS), ("cross_region_care", CARE, CARE_ROWS),
                             ("medical_reform_indicators", REFORM, REFORM_ROWS), ("coverage_history", COVERAGE, COVERAGE_ROWS),
                             ("fraud_suspect", SUSPECT, SUSPECT_ROWS)):
        _publish(cat, "gold", table, ddl, rows)
    codes = pd.read_csv(SEED.parent / "code_list.csv", dtype=str)
    _publish(cat, "silver", "code_list", "code_type string, code string, name string",
             list(codes.itertuples(index=False, name=None)))
    return settings, cat


def _overview(sheets) -> dict:
    return {r["指标"]: r["数值"] for r in sheets["概览"].to_dict("records")}


# -- periods and regions (pure) ------------------------------------------------------------------------------
def test_periods_are_the_calendar_periods_ended_before_the_reference_date():
    from yibao.reports.periodic import latest_period, period_of, periods_due

    assert latest_period("monthly", REF).months == (202610,)
    assert latest_period("quarterly", REF).months == (202607, 202608, 202609)
    assert latest_period("annual", REF).months == tuple(range(202501, 202513))
    assert latest_period("monthly", date(2026, 1, 15)).label == "2025-12"
    assert latest_period("quarterly", date(2026, 1, 1)).label == "2025Q4"
    assert latest_period("annual", date(2027, 1, 1)).label == "2026"
    # a new subscription gets the latest period only; an old one every period since its last
    assert [p.label for p in periods_due("monthly", REF, None)] == ["2026-10"]
    assert [p.label for p in periods_due("monthly", REF, "2026-07")] == ["2026-08", "2026-09", "2026-10"]
    assert periods_due("monthly", REF, "2026-10") == []
    assert [p.label for p in periods_due("quarterly", REF, "2025Q4")] == ["2026Q1", "2026Q2", "2026Q3"]
    assert period_of("quarterly", "2026Q3").title == "2026年第3季度"
    for kind, bad in (("monthly", "2026-13"), ("monthly", "202610"), ("quarterly", "2026Q5"), ("annual", "26")):
        with pytest.raises(ValueError):
            period_of(kind, bad)


def test_region_prefix_is_the_dashboards_rule():
    assert admdvs_prefix("610000") == "61" and admdvs_prefix("610100") == "6101" and admdvs_prefix("610102") == "610102"
    assert in_region("610403", "610400") and not in_region("610403", "610100") and not in_region(None, "610000")
    with pytest.raises(ValueError):
        admdvs_prefix("6101")


# -- the report's figures -------------------------------------------------------------------------------------
def test_monthly_report_of_a_prefecture_holds_its_figures_and_only_its_rows(warehouse):
    from yibao.reports.periodic import build_report, period_of

    settings, cat = warehouse
    sheets = build_report(cat, "610100", "西安市", period_of("monthly", "2026-10"))
    o = _overview(sheets)
    assert o["期末参保人数"] == 340                       # 100 + 40 + 200; 铜川 and 202609 not counted
    assert o["参保人数同比增减"] == -5                     # 10 + 5 - 20
    assert o["参保人数同比增长率"] == pytest.approx(-5 / 345)
    assert (o["新增参保"], o["暂停参保"], o["终止参保"], o["险种转换转入"]) == (8, 3, 1, 1)
    assert o["到账缴费金额"] == pytest.approx(6.1)        # (45000 + 16000) / 10000: detail and roll-up rows left out
    assert o["缴费率"] == pytest.approx(130 / 150)
    assert o["基金收入"] == pytest.approx(0.3) and o["基金支出"] == pytest.approx(0.33)
    assert o["期末累计结余"] == pytest.approx(5.3)
    assert o["有风险的统筹区×险种"] == 1
    assert o["异地就医结算人次"] == 10 and o["异地就医占比"] == pytest.approx(10 / 40)
    assert o["基层就诊率"] == pytest.approx(0.6) and o["县域内住院率"] == pytest.approx(0.75)
    assert o["参保率"] == pytest.approx(0.95) and o["未参保人数"] == 50
    assert (o["疑点数（高风险）"], o["疑点数（中风险）"], o["疑点数（低风险）"]) == (2, 1, 0)
    # nothing of 铜川 (6102) in any sheet
    for name, frame in sheets.items():
        for col in ("统筹区代码", "参保地代码", "区划代码"):
            if col in frame:
                assert frame[col].astype(str).str.startswith("6101").all(), (name, col)
    assert set(sheets["异地就医"]["就医地"]) == {"铜川市", "北京市"}
    assert dict(zip(sheets["缴费"]["险种"], sheets["缴费"]["缴费率"])) == pytest.approx(
        {"职工基本医疗保险": 0.9, "城乡居民基本医疗保险": 0.8})


def test_county_report_shows_its_pooling_region_and_its_own_rows(warehouse):
    from yibao.regions import pooling_region
    from yibao.reports.periodic import build_report, period_of

    _, cat = warehouse
    assert pooling_region("610102", SEED) == "610100" and pooling_region("610403", SEED) == "610403"
    assert pooling_region("610100", SEED) is None and pooling_region("110101", SEED) is None
    sheets = build_report(cat, "610102", "新城区", period_of("monthly", "2026-10"), pool="610100")
    o = _overview(sheets)
    assert o["统筹区口径"] == "610100"
    assert o["期末参保人数"] == 340 and o["基金收入"] == pytest.approx(0.3)     # 西安市 pooling region's figures
    assert set(sheets["参保"]["统筹区代码"]) == {"610100"}
    assert sheets["参保率"]["区划代码"].tolist() == ["610102"]                  # the county's own rows
    assert o["参保率"] == pytest.approx(0.9) and o["疑点数（高风险）"] == 1        # S1 only, not S3 (610100)


def test_quarterly_report_sums_the_quarter(warehouse):
    from yibao.reports.periodic import build_report, period_of

    _, cat = warehouse
    o = _overview(build_report(cat, "610100", "西安市", period_of("quarterly", "2026Q3")))
    assert o["期末参保人数"] == 98 and o["新增参保"] == 2      # only 202609 of the fixture falls in Q3


# -- subscriptions --------------------------------------------------------------------------------------------
def test_subscriptions_are_validated_idempotent_and_cancelled_with_a_record(warehouse):
    from yibao.reports.subscriptions import subscribe, subscriptions, unsubscribe

    _, cat = warehouse
    for recipient, region, topic, mail in (("../etc", "610100", "monthly", None), ("a b", "610100", "monthly", None),
                                           ("ok", "999999", "monthly", None), ("ok", "110000", "monthly", None),
                                           ("ok", "610100", "weekly", None), ("ok", "610100", "monthly", "x@")):
        with pytest.raises(ValueError):
            subscribe(cat, SEED, recipient, region, topic, email=mail, by="t")
    a = subscribe(cat, SEED, "tmp_user", "610100", "annual", by="t")
    assert subscribe(cat, SEED, "tmp_user", "610100", "annual", by="t")["subscription_id"] == a["subscription_id"]
    assert a["region_name"] == "西安市" and a["kind"] == "report"
    gone = unsubscribe(cat, a["subscription_id"], by="boss")
    assert gone["active"] is False and gone["cancelled_by"] == "boss"
    assert a["subscription_id"] not in {s["subscription_id"] for s in subscriptions(cat)}
    assert a["subscription_id"] in {s["subscription_id"] for s in subscriptions(cat, active_only=False)}
    with pytest.raises(LookupError):
        unsubscribe(cat, a["subscription_id"])


# -- delivery -------------------------------------------------------------------------------------------------
class _Sink:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


@pytest.fixture
def smtp_sink():
    from aiosmtpd.controller import Controller

    sink = _Sink()
    ctl = Controller(sink, hostname="127.0.0.1", port=_free_port())
    ctl.start()
    yield sink, ctl.port
    ctl.stop()


def _log(cat) -> pd.DataFrame:
    return cat.read("meta", "report_delivery").toPandas()


def test_a_report_is_delivered_to_the_folder_and_the_mail_sink_once_with_the_region_only(warehouse, smtp_sink):
    from yibao.reports import run_reports
    from yibao.reports.subscriptions import subscribe, unsubscribe

    settings, cat = warehouse
    sink, port = smtp_sink
    mailing = settings.with_(smtp_host="127.0.0.1", smtp_port=port)
    xian = subscribe(cat, SEED, "xian_analyst", "610100", "monthly", email="analyst@xian.example", by="t")
    tc = subscribe(cat, SEED, "tc_analyst", "610200", "monthly", by="t")     # no e-mail: folder only
    try:
        out = run_reports(mailing, only=xian["subscription_id"])
        assert [d["period"] for d in out.delivered] == ["2026-10"] and out.mailed == 1
        path = settings.outbox / "xian_analyst" / "月报_610100_西安市_2026-10.xlsx"
        assert path.is_file()
        (msg,) = sink.messages
        assert msg["To"] == "analyst@xian.example" and "西安市2026年10月月报" in msg["Subject"]
        assert "期末参保人数：340 人" in msg.get_body(("plain",)).get_content()
        (att,) = list(msg.iter_attachments())
        assert att.get_filename() == path.name
        sheets = pd.read_excel(BytesIO(att.get_content()), sheet_name=None, dtype=str)
        assert set(sheets["参保"]["统筹区代码"]) == {"610100"} and "铜川市" not in sheets["异地就医"]["参保地"].tolist()
        # rerun: nothing is due, nothing is sent again
        again = run_reports(mailing, only=xian["subscription_id"])
        assert again.delivered == [] and len(sink.messages) == 1
        # the other region's subscriber gets its own file, by folder only
        run_reports(mailing, only=tc["subscription_id"])
        tc_file = settings.outbox / "tc_analyst" / "月报_610200_铜川市_2026-10.xlsx"
        assert set(pd.read_excel(tc_file, sheet_name="参保", dtype=str)["统筹区代码"]) == {"610200"}
        assert len(sink.messages) == 1
        log = _log(cat)
        mine = log[log.subscription_id.isin([xian["subscription_id"], tc["subscription_id"]])]
        assert sorted(mine.channel) == ["folder", "folder+mail"] and set(mine.status) == {"delivered"}
    finally:
        unsubscribe(cat, xian["subscription_id"])
        unsubscribe(cat, tc["subscription_id"])


def test_a_failed_mail_is_recorded_and_sent_at_the_next_run(warehouse, smtp_sink):
    from yibao.reports import run_reports
    from yibao.reports.subscriptions import subscribe, unsubscribe

    settings, cat = warehouse
    sink, port = smtp_sink
    sub = subscribe(cat, SEED, "prov_lead", "610000", "quarterly", email="lead@prov.example", by="t")
    try:
        down = run_reports(settings.with_(smtp_host="127.0.0.1", smtp_port=_free_port()), only=sub["subscription_id"])
        assert len(down.mail_failures) == 1 and down.delivered[0]["status"] == "mail_failed"
        assert (settings.outbox / "prov_lead" / "季报_610000_陕西省_2026Q3.xlsx").is_file()
        up = run_reports(settings.with_(smtp_host="127.0.0.1", smtp_port=port), only=sub["subscription_id"])
        assert up.delivered == [] and up.mailed == 1 and not up.mail_failures
        assert sink.messages[0]["To"] == "lead@prov.example"
        log = _log(cat)
        assert log[log.subscription_id == sub["subscription_id"]].status.tolist().count("delivered") == 1
    finally:
        unsubscribe(cat, sub["subscription_id"])


def test_a_report_that_cannot_be_built_is_recorded_and_tried_again_without_stopping_the_others(warehouse):
    from yibao.reports import run_reports
    from yibao.reports.subscriptions import subscribe, unsubscribe

    settings, cat = warehouse
    xian = subscribe(cat, SEED, "x_fail", "610100", "monthly", by="t")
    tc = subscribe(cat, SEED, "t_ok", "610200", "annual", by="t")
    try:     # a gold table missing a column the report reads
        _publish(cat, "gold", "enrollment_trend", ENROLLMENT.replace(" insured long,", ""),
                 [r[:5] + r[6:] for r in ENROLLMENT_ROWS])
        out = run_reports(settings)
        assert [f.split(":")[0] for f in out.failures] == ["x_fail monthly 610100"]
        assert [d["recipient"] for d in out.delivered] == ["t_ok"]          # the other one is served
        log = _log(cat)
        assert log[log.subscription_id == xian["subscription_id"]].status.tolist() == ["failed"]
    finally:
        _publish(cat, "gold", "enrollment_trend", ENROLLMENT, ENROLLMENT_ROWS)
    again = run_reports(settings)                                           # repaired: delivered now
    assert [(d["recipient"], d["period"]) for d in again.delivered] == [("x_fail", "2026-10")] and not again.failures
    unsubscribe(cat, xian["subscription_id"])
    unsubscribe(cat, tc["subscription_id"])


def test_alerts_send_only_what_is_new(warehouse):
    from yibao.reports import run_reports
    from yibao.reports.subscriptions import subscribe, unsubscribe

    settings, cat = warehouse
    subs = {t: subscribe(cat, SEED, "sup_xian", "610100", t, by="t")
            for t in ("high_risk_suspects", "fund_risk_change")}
    subs["batch_held"] = subscribe(cat, SEED, "steward", "610102", "batch_held", by="t")

    def delivered(out, topic):
        return [d for d in out.delivered if d["topic"] == topic]

    try:
        first = run_reports(settings)
        (hi,) = delivered(first, "high_risk_suspects")
        frame = pd.read_excel(hi["file"], dtype=str)
        assert sorted(frame["疑点编号"]) == ["S1", "S3"]               # 西安's 高 suspects; not S2 (中), S4 (铜川)
        assert "张三" not in frame.to_string()                         # no names in an alert
        assert set(frame["对象类型"]) == {"参保人", "定点机构"}
        (fund,) = delivered(first, "fund_risk_change")
        f = pd.read_excel(fund["file"], dtype=str)
        assert f[["统筹区代码", "险种", "现风险等级"]].values.tolist() == [["610100", "城乡居民基本医疗保险", "严重"]]
        assert delivered(first, "batch_held") == []                    # nothing held yet
        assert Path(hi["file"]).parent == settings.outbox / "sup_xian"

        # nothing changed: nothing sent
        assert run_reports(settings).delivered == []

        # a new 高 suspect, a fund's level changes, a batch is refused: each is told once
        _publish(cat, "gold", "fraud_suspect", SUSPECT,
                 SUSPECT_ROWS + [("S5", "person", "P5", "赵六", "610104", 0.7, "高", "挂床住院", 5.0, "待核查", AT)])
        _publish(cat, "gold", "fund_operation", FUND,
                 [FUND_ROWS[0][:8] + ("一般",)] + FUND_ROWS[1:])
        from yibao.ingestion.ingest import BATCH_DDL
        cat.overwrite(cat.spark.createDataFrame(
            [("tax", "20261101-002", "rejected", "file taxpayer.csv: not gzip", "incremental", "UTF-8", "", 1, 0, "",
              AT, AT)], BATCH_DDL), "meta", "ingest_batch")
        second = run_reports(settings)
        assert pd.read_excel(delivered(second, "high_risk_suspects")[0]["file"], dtype=str)["疑点编号"].tolist() == ["S5"]
        f = pd.read_excel(delivered(second, "fund_risk_change")[0]["file"], dtype=str)
        assert f[["统筹区代码", "原风险等级", "现风险等级"]].values.tolist() == [["610100", "正常", "一般"]]
        (held,) = delivered(second, "batch_held")                      # a county steward is told too
        h = pd.read_excel(held["file"], dtype=str)
        assert h[["来源部门", "批次"]].values.tolist() == [["tax", "20261101-002"]] and "not gzip" in h["原因"][0]
        assert run_reports(settings).delivered == []
    finally:
        for s in subs.values():
            unsubscribe(cat, s["subscription_id"])
        _publish(cat, "gold", "fraud_suspect", SUSPECT, SUSPECT_ROWS)
        _publish(cat, "gold", "fund_operation", FUND, FUND_ROWS)


def test_cli_subscribes_lists_and_builds_a_report(warehouse, tmp_path):
    from typer.testing import CliRunner

    from yibao.cli import app

    settings, _ = warehouse
    env = {"YIBAO_DATA_ROOT": str(settings.data_root), "YIBAO_REFERENCE_DATE": "2026-11-01", "COLUMNS": "200"}
    runner = CliRunner()
    res = runner.invoke(app, ["reports", "subscribe", "-r", "cli_user", "--region", "610100", "-t", "annual"], env=env)
    assert res.exit_code == 0, res.output
    sid = res.output.split("subscription ")[1].split(":")[0]
    res = runner.invoke(app, ["reports", "list"], env=env)
    assert sid in res.output and "cli_user" in res.output
    res = runner.invoke(app, ["reports", "subscribe", "-r", "cli_user", "--region", "990000", "-t", "annual"], env=env)
    assert res.exit_code == 1 and "not a division" in res.output
    res = runner.invoke(app, ["reports", "build", "--region", "610100", "--period", "2026-10", "-o", str(tmp_path)],
                        env=env)
    assert res.exit_code == 0, res.output
    (path,) = tmp_path.glob("月报_610100_*_2026-10.xlsx")
    assert _overview(pd.read_excel(path, sheet_name=None))["期末参保人数"] == 340
    assert runner.invoke(app, ["reports", "unsubscribe", sid], env=env).exit_code == 0
