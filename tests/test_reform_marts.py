"""DRG/DIP and prices (data-contract.md section 6): the gold marts drg_case, drg_institution_year, dip_point_value,
dip_clearing, price_violation, price_trend, vbp_completion and section6_delivery, on hand-built landing zones.

Two warehouses (module fixtures), each through the real stages: hand-written batches -> ingestion -> the bronze
quality gate -> ``dbt build`` of these marts and everything upstream of them (seeds, staging, person master,
int_settlement, with every data test on the way).

* ``reform``: three institutions in two pooling regions (H1, H2 in 西安市 610100; H3 in 铜川市 610200), eight
  counted inpatient settlements with a settlement list, and decoys that must not count (an outpatient settlement
  with a list row, a reversed inpatient one, an inpatient one without a list row).  Every expected figure below is
  worked out by hand next to the data.
* ``bare``: the same core tables without any section-6 table: every mart is empty and section6_delivery says 未交付.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pandas as pd
import pytest
from landing import write_batch

from yibao.config import Settings

REF = date(2026, 11, 3)
BATCH = "20261103-001"
TOP_N = 2   # price_trend_top_n for this build: the two items billed most (M2, M3), not M1
SHARES = "hifmi_pay,hifob_pay,cvlserv_pay,maf_pay,oth_pay"


def _check(body17: str) -> str:
    w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return "10X98765432"[sum(int(c) * x for c, x in zip(body17, w)) % 11]


def _certno(n: int) -> str:
    body = f"61010219800101{n:03d}"
    return body + _check(body)


PSN = {f"N{i}": _certno(10 + 2 * i) for i in range(1, 5)}
FIXMEDINS = [("H1", "西安甲医院", "610102"), ("H2", "西安乙医院", "610103"), ("H3", "铜川丙医院", "610202")]

# -- settlements -------------------------------------------------------------------------------------------------
# setl_id: (psn_no, institution, med_type, begndate, days, medfee_sumamt, hifp_pay, refd_setl_flag,
#           setl_list (drg_codg, dip_codg) or None)
# DRG groups of 2026: AA1 RW 3.0 avg 10 days / 20,000 yuan; BB1 RW 1.0, 5 days / 5,000; CC1 RW 2.5 without
# averages (the region's own means apply).  2025 has AA1 at RW 9.0 (the wrong year must not be used).
SETTLEMENTS = {
    "S01": ("N1", "H1", "21", "2026-03-01", 10, 20000, 14000, "0", ("AA1", "D1")),  # normal
    "S02": ("N2", "H1", "21", "2026-03-05", 3, 6000, 4200, "0", ("AA1", "D1")),     # upcoding + 低倍率
    "S03": ("N3", "H2", "21", "2026-04-01", 12, 45000, 31500, "0", ("AA1", "D1")),  # 高倍率 (> 40,000)
    "S04": ("N4", "H2", "21", "2026-04-03", 1, 1500, 1050, "0", ("BB1", "D2")),     # decoy: RW 1.0 < 2; 低倍率
    "S05": ("N1", "H1", "21", "2026-05-01", 6, 7000, 4900, "0", ("AA1", "D2")),     # decoy: 6 days >= 5; 低倍率
    "S06": ("N2", "H2", "21", "2026-05-02", 5, 5000, 3500, "0", ("BB1", "DX9")),    # normal; DIP code unknown
    "S07": ("N3", "H3", "21", "2026-06-01", 8, 10000, 7000, "0", ("CC1", "D1")),    # normal (region means)
    "S08": ("N4", "H3", "52", "2026-06-05", 2, 2000, 1400, "0", ("CC1", "D2")),     # upcoding via region means
    "S09": ("N1", "H1", "11", "2026-07-01", 1, 300, 210, "0", ("AA1", "D1")),       # outpatient: not a DRG case
    "S10": ("N2", "H1", "21", "2026-07-01", 2, 3000, 2100, "1", ("AA1", "D1")),     # reversed: not counted
    "S11": ("N3", "H2", "21", "2026-07-05", 4, 8000, 5600, "0", None),              # no settlement list
}
DRG_CASES = [f"S0{i}" for i in range(1, 9)]

# -- fee lines: feedetl_sn: (setl_id, med_list_codg, cnt, pric, fee_ocur_time) ----------------------------------
# med_list: M1 ceiling 10.00, M2 no ceiling, M3 ceiling 100.00; X999 is not in the catalogue
FEES = {
    "F1": ("S01", "M1", 3, "12.50", "2026-03-02 09:00:00"),   # over: (12.50 - 10) x 3 = 7.50
    "F2": ("S01", "M1", 2, "10.00", "2026-03-02 10:00:00"),   # at the ceiling: not a violation
    "F3": ("S02", "M2", 1, "9999.00", "2026-03-06 09:00:00"),  # no ceiling
    "F4": ("S03", "M3", 2, "150.00", "2026-04-02 09:00:00"),  # over: (150 - 100) x 2 = 100.00
    "F5": ("S10", "M1", 1, "20.00", "2026-07-01 09:00:00"),   # over, but the settlement is reversed
    "F6": ("S01", "X999", 1, "50.00", "2026-03-03 09:00:00"),  # not in the catalogue
    "F7": ("S07", "M3", 1, "90.00", "2026-06-02 09:00:00"),   # under the ceiling
}

# -- vbp_purchase: (institution, item, ym, agreed_qty, purc_qty) ----------------------------------------------
VBP = ([("H1", "M1", f"2026{m:02d}", "1200", "100") for m in range(1, 7)]          # 600/1200, 6 months: on track
       + [("H2", "M1", f"2026{m:02d}", "1000" if m == 1 else "1200", "50") for m in range(1, 5)]   # 200/1200: under
       + [("H2", "M1", "202512", "900", "900")]                                     # the 2025 agreement: done
       + [("H1", "M3", f"2026{m:02d}", "100", "6.7") for m in range(1, 7)]         # progress 0.804: just on track
       + [("H3", "M3", f"2026{m:02d}", "120", "25") for m in range(4, 7)])         # 75/120 in 3 months


def _ymd(d: str, plus: int) -> str:
    return date.fromordinal(date.fromisoformat(d).toordinal() + plus).isoformat()


def _tables(section6: bool) -> dict[str, list[str]]:
    info = ["psn_no,psn_name,gend,brdy,naty,psn_cert_type,certno,tel,surv_stas,hsreg_addr,hsreg_admdvs,resd_addr,"
            "resd_admdvs,hsreg_book_no"]
    for i, (psn, cert) in enumerate(PSN.items()):
        info.append(f"{psn},测试{i},1,1980-01-01,01,01,{cert},1390000{i:04d},1,某街道,610102,某街道,610102,BK{i:03d}")
    head = ("setl_id,mdtrt_id,psn_no,certno,insutype,med_type,fixmedins_code,atddr_no,begndate,enddate,setl_time,"
            "dise_codg,medfee_sumamt,fulamt_ownpay_amt,hifp_pay,acct_pay,psn_cash_pay,insu_admdvs,mdtrt_admdvs,"
            "refd_setl_flag")
    setl = [head + ("," + SHARES if section6 else "")]
    for sid, (psn, h, med, b, days, total, fund, refd, _) in SETTLEMENTS.items():
        e = _ymd(b, days)
        row = (f"{sid},M{sid},{psn},{PSN[psn]},310,{med},{h},D001,{b},{e},{e} 16:00:00,J18.9,{total}.00,0,"
               f"{fund}.00,0,{total - fund}.00,610102,610102,{refd}")
        setl.append(row + (",0,0,0,0,0" if section6 else ""))
    fee = ["feedetl_sn,setl_id,med_list_codg,med_chrgitm_type,list_name,cnt,pric,det_item_fee_sumamt,bilg_dr_codg,"
           "fee_ocur_time"]
    for sn, (sid, code, cnt, pric, t) in FEES.items():
        fee.append(f"{sn},{sid},{code},09,项目{code},{cnt},{pric},{Decimal(pric) * cnt:.2f},D001,{t}")
    out = {"psn_info": info, "setl": setl, "fee_list": fee,
           "fixmedins": ["fixmedins_code,fixmedins_name,fixmedins_type,hosp_lv,admdvs",
                         *[f"{c},{n},1,2,{a}" for c, n, a in FIXMEDINS]]}
    if section6:
        out["setl_list"] = ["setl_id,main_dise_codg,main_oprn_codg,ipt_days,dscg_way,drg_codg,dip_codg,list_sbmt_date",
                            *[f"{sid},J18.9,,{v[4]},1,{v[8][0]},{v[8][1]},2026-09-01"
                              for sid, v in SETTLEMENTS.items() if v[8]]]
        out["drg_group"] = ["year,drg_codg,drg_name,weight,avg_days,avg_cost",
                            "2026,AA1,甲组,3.0,10,20000.00", "2026,BB1,乙组,1.0,5,5000.00", "2026,CC1,丙组,2.5,,",
                            "2025,AA1,甲组,9.0,10,20000.00"]
        out["dip_group"] = ["year,dip_codg,dip_name,score", "2026,D1,病种一,100", "2026,D2,病种二,50",
                            "2025,D1,病种一,999"]
        out["med_list"] = ["med_list_codg,list_name,list_type,chrgitm_lv,pric_uplmt,gend_lmt,vbp_flag",
                           "M1,阿托伐他汀钙片,1,1,10.00,,1", "M2,手术费,2,1,,,0", "M3,冠脉支架,3,2,100.00,,1"]
        price = {"M1": Decimal("2.00"), "M3": Decimal("80.00")}
        out["vbp_purchase"] = ["fixmedins_code,med_list_codg,ym,agreed_qty,purc_qty,purc_amt",
                               *[f"{h},{m},{ym},{a},{q},{Decimal(q) * price[m]:.2f}" for h, m, ym, a, q in VBP]]
    return out


def _build(root, section6: bool) -> Settings:
    from yibao.ingestion.ingest import ingest
    from yibao.quality import run_quality
    from yibao.transform import run_dbt

    settings = Settings(data_root=root, spark_remote="", reference_date=REF)
    write_batch(settings.landing, "medins", BATCH, _tables(section6))
    ingest(settings)
    gate = run_quality(settings, reports=False)
    assert not gate.held, [h.table for h in gate.held]   # everything written here passes the gate
    marts = ["drg_case", "drg_institution_year", "dip_point_value", "dip_clearing", "price_violation",
             "price_trend", "vbp_completion", "section6_delivery"]
    # these marts and everything upstream, with the tests of those models only (cautious: not a test that also
    # reads a model outside the selection)
    run_dbt(settings, ["build", "--select", *[f"+{m}" for m in marts], "--indirect-selection", "cautious"],
            vars={"price_trend_top_n": TOP_N})
    return settings


def _df(settings: Settings, table: str) -> pd.DataFrame:
    from yibao.engine import spark_session
    from yibao.transform.runner import sync_catalog

    spark = spark_session(settings)
    sync_catalog(spark, settings)
    return spark.sql(f"select * from gold.{table}").toPandas()


@pytest.fixture(scope="module")
def reform(tmp_path_factory) -> Settings:
    return _build(tmp_path_factory.mktemp("reform"), section6=True)


@pytest.fixture(scope="module")
def bare(reform, tmp_path_factory) -> Settings:   # after `reform`: one warehouse at a time in the session
    return _build(tmp_path_factory.mktemp("reform_bare"), section6=False)


@pytest.fixture(scope="module")
def cases(reform) -> pd.DataFrame:
    return _df(reform, "drg_case").set_index("setl_id")


# -- drg_case -------------------------------------------------------------------------------------------------

def test_drg_cases_are_the_counted_inpatient_settlements_with_a_list(cases):
    assert sorted(cases.index) == DRG_CASES            # not S09 (outpatient), S10 (reversed), S11 (no list)
    assert cases.loc["S01", "admdvs"] == "610100" and cases.loc["S07", "admdvs"] == "610200"
    assert (cases["year"] == 2026).all()
    assert cases.loc["S01", "weight"] == 3.0            # the 2026 weight, not 2025's 9.0
    assert cases.loc["S04", "weight"] == 1.0 and cases.loc["S07", "weight"] == 2.5
    assert cases.loc["S01", "dip_score"] == 100 and cases.loc["S05", "dip_score"] == 50
    assert pd.isna(cases.loc["S06", "dip_score"])        # DX9 is not a DIP group
    assert cases.loc["S02", "ipt_days"] == 3 and cases.loc["S03", "medfee_sumamt"] == Decimal("45000.00")
    assert cases.loc["S03", "hifp_pay"] == Decimal("31500.00") and cases.loc["S03", "drg_name"] == "甲组"


def test_group_averages_come_from_drg_group_else_the_region(cases):
    assert cases.loc["S02", "group_avg_cost"] == 20000 and cases.loc["S02", "group_avg_days"] == 10
    # CC1 has no averages: region 610200's CC1 cases S07 (10,000 yuan, 8 days) and S08 (2,000, 2)
    assert cases.loc["S08", "group_avg_cost"] == pytest.approx(6000) and cases.loc["S08", "group_avg_days"] == 5
    assert cases.loc["S03", "cost_ratio"] == pytest.approx(45000 / 20000)
    assert cases.loc["S08", "cost_ratio"] == pytest.approx(2000 / 6000)


def test_outliers(cases):
    # 高倍率: cost > 2 x average; 低倍率: cost < 0.5 x average
    expected = {"S03": "高倍率", "S02": "低倍率", "S04": "低倍率", "S05": "低倍率", "S08": "低倍率"}
    got = {k: v for k, v in cases["outlier"].items() if v is not None and not pd.isna(v)}
    assert got == expected


def test_upcoding_suspects_and_decoys(cases):
    # S02: RW 3 >= 2, 6,000 < 0.4 x 20,000 = 8,000, 3 days < 0.5 x 10 = 5 -> suspect
    # S08: RW 2.5, 2,000 < 0.4 x 6,000 = 2,400, 2 days < 0.5 x 5 = 2.5 (region means) -> suspect
    # decoys: S04 cheap and short but RW 1.0; S05 cheap (7,000 < 8,000) but 6 days >= 5
    assert set(cases.index[cases["is_upcoding_suspect"]]) == {"S02", "S08"}
    ev = cases.loc["S02", "upcoding_evidence"]
    assert "AA1" in ev and "6,000.00元" in ev and "20,000.00元" in ev and "30.0%" in ev and "住院 3 天" in ev
    assert "疑似高套分组" in ev
    assert cases.loc[~cases["is_upcoding_suspect"], "upcoding_evidence"].isna().all()


# -- drg_institution_year ---------------------------------------------------------------------------------------

def test_cmi_cost_and_time_index(reform):
    d = _df(reform, "drg_institution_year").set_index("fixmedins_code")
    assert sorted(d.index) == ["H1", "H2", "H3"] and (d["year"] == 2026).all()
    assert d.loc["H1", "fixmedins_name"] == "西安甲医院" and d.loc["H3", "admdvs"] == "610200"
    # CMI: H1 = (3 + 3 + 3) / 3; H2 = (3 + 1 + 1) / 3; H3 = (2.5 + 2.5) / 2
    assert list(d.loc[["H1", "H2", "H3"], "cases"]) == [3, 3, 2]
    assert d.loc["H1", "cmi"] == pytest.approx(3.0)
    assert d.loc["H2", "cmi"] == pytest.approx(5 / 3) and d.loc["H2", "total_weight"] == pytest.approx(5.0)
    assert d.loc["H3", "cmi"] == pytest.approx(2.5)
    # region 610100 means: AA1 cost (20,000 + 6,000 + 45,000 + 7,000) / 4 = 19,500, days (10 + 3 + 12 + 6) / 4
    # = 7.75; BB1 cost (1,500 + 5,000) / 2 = 3,250, days (1 + 5) / 2 = 3
    assert d.loc["H1", "cost_index"] == pytest.approx((33000 / 3) / 19500)                    # 3 AA1 cases
    assert d.loc["H2", "cost_index"] == pytest.approx((1 * 45000 / 19500 + 2 * 3250 / 3250) / 3)
    assert d.loc["H1", "time_index"] == pytest.approx((19 / 3) / 7.75)
    assert d.loc["H2", "time_index"] == pytest.approx((1 * 12 / 7.75 + 2 * 3 / 3) / 3)
    assert d.loc["H3", "cost_index"] == pytest.approx(1.0) and d.loc["H3", "time_index"] == pytest.approx(1.0)
    assert list(d.loc[["H1", "H2", "H3"], "high_outlier_cases"]) == [0, 1, 0]
    assert list(d.loc[["H1", "H2", "H3"], "low_outlier_cases"]) == [2, 1, 1]
    assert list(d.loc[["H1", "H2", "H3"], "upcoding_cases"]) == [1, 0, 1]
    assert d.loc["H1", "medfee_sumamt"] == Decimal("33000.00")


# -- DIP ------------------------------------------------------------------------------------------------------

def test_dip_point_value_and_clearing(reform):
    pv = _df(reform, "dip_point_value").set_index("admdvs")
    # 610100: S01..S05 (S06's DX9 has no score): scores 100 + 100 + 100 + 50 + 50 = 400,
    #         budget = hifp 14,000 + 4,200 + 31,500 + 1,050 + 4,900 = 55,650 -> 139.125 yuan a point
    # 610200: S07 (100) + S08 (50) = 150, budget 7,000 + 1,400 = 8,400 -> 56 yuan a point
    assert sorted(pv.index) == ["610100", "610200"]
    assert pv.loc["610100", "cases"] == 5 and pv.loc["610100", "total_score"] == 400
    assert pv.loc["610100", "budget"] == Decimal("55650.00")
    assert pv.loc["610100", "point_value"] == pytest.approx(139.125)
    assert pv.loc["610200", "point_value"] == pytest.approx(56.0)

    cl = _df(reform, "dip_clearing").set_index("fixmedins_code")
    # H1: S01, S02, S05 = 250 points x 139.125 = 34,781.25; paid 14,000 + 4,200 + 4,900 = 23,100 -> +11,681.25
    # H2: S03, S04 = 150 points -> 20,868.75; paid 32,550 -> -11,681.25 (the region's budget is shared out)
    # H3: 150 points x 56 = 8,400 = paid 8,400 -> 0
    assert cl.loc["H1", "total_score"] == 250 and cl.loc["H1", "clearing_amount"] == Decimal("34781.25")
    assert cl.loc["H1", "paid_amount"] == Decimal("23100.00") and cl.loc["H1", "clearing_diff"] == Decimal("11681.25")
    assert cl.loc["H2", "clearing_diff"] == Decimal("-11681.25") and cl.loc["H2", "cases"] == 2
    assert cl.loc["H3", "clearing_diff"] == Decimal("0.00") and cl.loc["H3", "point_value"] == pytest.approx(56.0)
    assert cl.loc["H1", "fixmedins_name"] == "西安甲医院"


# -- prices ---------------------------------------------------------------------------------------------------

def test_price_violations_are_the_lines_above_the_ceiling(reform):
    v = _df(reform, "price_violation").set_index("feedetl_sn")
    assert sorted(v.index) == ["F1", "F4"]   # not F2 (at the ceiling), F3 (none), F5 (reversed), F6, F7
    assert v.loc["F1", "excess_amount"] == Decimal("7.50") and v.loc["F4", "excess_amount"] == Decimal("100.00")
    assert v.loc["F1", "pric_uplmt"] == Decimal("10.00") and v.loc["F1", "list_name"] == "阿托伐他汀钙片"
    assert v.loc["F4", "setl_id"] == "S03" and v.loc["F4", "fixmedins_code"] == "H2"
    assert v.loc["F4", "admdvs"] == "610100" and str(v.loc["F4", "fee_date"]) == "2026-04-02"
    assert v.loc["F4", "fixmedins_name"] == "西安乙医院" and v["person_id"].notna().all()


def test_price_trend_top_items_by_month(reform):
    t = _df(reform, "price_trend").set_index(["med_list_codg", "ym"]).sort_index()
    # billed: M2 9,999.00; M3 300 + 90 = 390; M1 37.50 + 20.00 = 57.50 (F5's settlement is reversed: not counted)
    assert sorted(t.index) == [("M2", "202603"), ("M3", "202604"), ("M3", "202606")]   # top 2 only
    m3 = t.loc[("M3", "202604")]
    assert (m3["lines"], m3["qty"], m3["amount"], m3["over_ceiling_lines"]) == (1, 2, Decimal("300.00"), 1)
    assert m3["avg_pric"] == pytest.approx(150.0) and m3["pric_uplmt"] == Decimal("100.00")
    assert t.loc[("M3", "202606"), "over_ceiling_lines"] == 0
    assert t.loc[("M2", "202603"), "amount_rank"] == 1 and m3["amount_rank"] == 2


# -- 集采 -------------------------------------------------------------------------------------------------------

def test_vbp_completion_and_progress(reform):
    v = _df(reform, "vbp_completion").set_index(["fixmedins_code", "med_list_codg", "year"])
    assert len(v) == 5
    a = v.loc[("H1", "M1", 2026)]    # 600 / 1,200 = 0.5 in 6 months: progress 0.5 / 0.5 = 1
    assert (a["agreed_qty"], a["purc_qty"], a["months"]) == (1200, 600, 6)
    assert a["completion_rate"] == pytest.approx(0.5) and a["progress"] == pytest.approx(1.0) and not a["is_under"]
    assert a["purc_amt"] == Decimal("1200.00") and a["list_name"] == "阿托伐他汀钙片" and a["admdvs"] == "610100"
    b = v.loc[("H2", "M1", 2026)]    # agreed = max(1,000, 1,200); 200 / 1,200 in 4 months: (1/6) / (4/12) = 0.5
    assert b["agreed_qty"] == 1200 and b["completion_rate"] == pytest.approx(1 / 6)
    assert b["progress"] == pytest.approx(0.5) and b["is_under"]
    c = v.loc[("H2", "M1", 2025)]    # a year of its own
    assert c["completion_rate"] == pytest.approx(1.0) and c["months"] == 1 and not c["is_under"]
    d = v.loc[("H1", "M3", 2026)]    # 40.2 / 100 in 6 months: 0.804 >= 0.8
    assert d["progress"] == pytest.approx(0.804) and not d["is_under"]
    e = v.loc[("H3", "M3", 2026)]    # 75 / 120 in 3 months: 0.625 / 0.25 = 2.5
    assert e["progress"] == pytest.approx(2.5) and e["admdvs"] == "610200"
    assert {k for k, u in v["is_under"].items() if u} == {("H2", "M1", 2026)}


# -- delivery ------------------------------------------------------------------------------------------------

def test_section6_delivery_counts_the_delivered_tables(reform):
    d = _df(reform, "section6_delivery").set_index("table_name")
    assert len(d) == 9 and d["table_zh"].notna().all()
    assert d.loc["setl_list", "rows"] == 10 and d.loc["setl_list", "status"] == "已交付 10 行"
    assert d.loc["setl", "rows"] == len(SETTLEMENTS) and d.loc["drg_group", "rows"] == 4
    assert d.loc["vbp_purchase", "rows"] == len(VBP) and d.loc["vbp_purchase", "area"] == "价格与集采"
    for t in ("fund_payment", "bank_stmt", "assistance_pay"):
        assert not d.loc[t, "delivered"] and d.loc[t, "status"] == "未交付" and d.loc[t, "rows"] == 0
    assert d.loc["assistance_pay", "source"] == "civil_affairs" and d.loc["setl_list", "area"] == "支付方式改革"


def test_without_section6_tables_every_mart_is_empty(bare):
    for t in ("drg_case", "drg_institution_year", "dip_point_value", "dip_clearing", "price_violation",
              "price_trend", "vbp_completion"):
        assert _df(bare, t).empty, t
    d = _df(bare, "section6_delivery")
    assert len(d) == 9 and (d["status"] == "未交付").all() and not d["delivered"].any() and (d["rows"] == 0).all()
    # the core tables did land: the marts are empty for want of section 6, not of settlements
    from yibao.engine import spark_session
    assert spark_session(bare).sql("select count(*) from silver.int_settlement").collect()[0][0] == 10


def test_the_range_tests_can_fail(reform):
    # the marts' data tests are live: price_trend was built with the top 2 items, so its rank test fails when
    # the bound says 1 (value_between on amount_rank), and passes again with the build's bound
    from yibao.transform import run_dbt

    args = ["test", "--select", "price_trend,test_name:value_between"]
    bad = run_dbt(reform, args, vars={"price_trend_top_n": 1}, raise_on_failure=False)
    assert not bad.success and [str(r.status) for r in bad.result.results] == ["fail"]
    assert run_dbt(reform, args, vars={"price_trend_top_n": TOP_N}, raise_on_failure=False).success
