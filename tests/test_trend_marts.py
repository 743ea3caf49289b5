"""The tenders' demonstration analyses (issue 22, dbt_project/README.md D15): enrollment_trend, dependency_ratio,
contribution_trend, cross_region_care, medical_reform_indicators and disease_cost, on a hand-built landing zone.

One warehouse (module fixture) through the real stages: hand-written batches (medins, police, tax) -> ingestion ->
the bronze quality gate -> ``dbt build`` of these marts and everything upstream of them, with their data tests.
Reference date 2026-11-03: the trend months are 202411..202610.  Every expected figure is worked out by hand next
to the data.  Pooling regions: 610102 新城区 and 610103 碑林区 are in 西安市 (610100), 610202 in 铜川市 (610200).
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from landing import write_batch

from yibao.config import Settings

REF = date(2026, 11, 3)
BATCH = "20261103-001"
XA, TC = "610100", "610200"
MARTS = ["enrollment_trend", "dependency_ratio", "contribution_trend", "cross_region_care",
         "medical_reform_indicators", "disease_cost", "national_list_return", "national_list_progress"]

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def _check(body17: str) -> str:
    w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return "10X98765432"[sum(int(c) * x for c, x in zip(body17, w)) % 11]


def _certno(n: int, div: str = "610102") -> str:
    body = f"{div}19800101{n:03d}"
    return body + _check(body)


# psn_no -> (certno, hukou division); F1 and F2 are two person numbers of one person (same ID number)
PSN = {"A": _certno(11), "B": _certno(13), "C": _certno(15), "D": _certno(17), "E": _certno(19),
       "F1": _certno(21), "F2": _certno(21), "G": _certno(23),
       "H": _certno(31), "I": _certno(33, "610103"), "J": _certno(35, "110105")}
HUKOU = {"H": "610102", "I": "610103"}   # police: the only persons of the target population (care residents)
# the national list (national_uninsured), its entries' result by hand: H, I uninsured residents; A no hukou here
# (MOVED); K died (police: hukou cancelled 2026-05-01); L insured in another province (ENROLLED); Z nobody knows
K, L, Z = _certno(41, "610202"), _certno(43), _certno(45, "610103")
NATIONAL = [(PSN["H"], "610102", "UNINSURED"), (PSN["I"], "610103", "UNINSURED"), (PSN["A"], "610102", "MOVED"),
            (K, "610202", "DEAD"), (L, "610102", "ENROLLED"), (Z, "610103", "UNMATCHED")]

# psn_insu: (psn_no, insutype, psn_type, status, crt_insu_date, paus_insu_date, emp_no)
ENROLLMENTS = [
    ("A", "310", "11", "1", "2023-05-10", "", "E1"),          # insured every month
    ("B", "310", "12", "1", "2025-03-15", "", "E1"),          # retiree, new in 202503
    ("C", "390", "21", "2", "2024-01-01", "2025-06-20", ""),  # suspended in 202506
    ("D", "310", "11", "4", "2020-01-01", "2025-12-31", "E1"),  # terminated in 202512 ...
    ("D", "390", "21", "1", "2026-01-05", "", ""),            # ... and switched to 390 in 202601
    ("E", "390", "21", "2", "2024-05-01", "", ""),            # stopped without a date: in no month
    ("F1", "390", "21", "1", "2024-02-01", "", ""),           # one person, two enrollments: one spell from 202402
    ("F2", "390", "21", "4", "2025-01-01", "2025-08-01", ""),
    ("G", "310", "13", "1", "2026-11-02", "", "E1"),          # after the window
]
# contrib: (psn_no, insutype, accrym, psn_clct_amt, emp_clct_amt, clct_flag); tax: (psn_no, insutype, accrym, amount)
CONTRIB = [("A", "310", "202609", "100.00", "400.00", "1"),   # paid (core system)
           ("A", "310", "202610", "100.00", "400.00", "0"),   # paid (tax collected 500)
           ("C", "390", "202501", "400.00", "0.00", "0"),     # unpaid
           ("F1", "390", "202601", "400.00", "0.00", "1")]    # paid
TAX = [("A", "310", "202610", "500.00"), ("D", "390", "202601", "380.00")]   # D: collected, never assessed

FIXMEDINS = [("H1", "新城一级医院", "1", "3", "610102"), ("H2", "碑林三级医院", "1", "1", "610103"),
             ("H3", "铜川二级医院", "1", "2", "610202"), ("P1", "新城药店", "2", "9", "610102")]
# setl: id -> (psn_no, institution, med_type, begndate, enddate, medfee, fulamt_ownpay, hifp, insu_admdvs,
#              mdtrt_admdvs, dise_codg, refd)
SETTLEMENTS = {
    "S1": ("H", "H1", "11", "2026-03-02", "2026-03-02", 100, 0, 60, "610102", "610102", "J00", "0"),
    "S2": ("H", "H2", "11", "2026-03-05", "2026-03-05", 200, 0, 100, "610102", "610103", "J00", "0"),
    "S3": ("H", "H1", "21", "2026-03-10", "2026-03-15", 5000, 1000, 2800, "610102", "610102", "I10", "0"),
    "S4": ("I", "H1", "21", "2026-03-20", "2026-03-25", 3000, 0, 2100, "610103", "610102", "I10", "0"),
    "S5": ("H", "H3", "14", "2026-03-08", "2026-03-08", 300, 0, 200, "610102", "610202", "E11", "0"),
    "S6": ("H", "X1", "21", "2026-03-01", "2026-03-03", 8000, 0, 4000, "610102", "110105", "C34", "0"),
    "S7": ("J", "H2", "52", "2026-03-12", "2026-03-14", 4000, 0, 3000, "110105", "610103", "O80", "0"),
    "S8": ("H", "H2", "21", "2026-03-16", "2026-03-18", 9000, 0, 6000, "610102", "610103", "I10", "1"),  # reversed
    "S9": ("I", "P1", "41", "2026-04-02", "2026-04-02", 50, 0, 30, "610103", "610102", "J00", "0"),
}


def _tables() -> dict[str, dict[str, list[str]]]:
    info = ["psn_no,psn_name,gend,brdy,naty,psn_cert_type,certno,tel,surv_stas,hsreg_addr,hsreg_admdvs,resd_addr,"
            "resd_admdvs,hsreg_book_no"]
    for i, (psn, cert) in enumerate(PSN.items()):
        div = cert[:6]
        info.append(f"{psn},测试{i},1,1980-01-01,01,01,{cert},1390000{i:04d},1,某街道,{div},某街道,{div},BK{i:03d}")
    insu = ["psn_no,insutype,psn_type,psn_insu_stas,crt_insu_date,paus_insu_date,insu_admdvs,emp_no,emp_name",
            *[f"{p},{t},{pt},{st},{c},{ps},610102,{e},{'某公司' if e else ''}" for p, t, pt, st, c, ps, e in ENROLLMENTS]]
    contrib = ["psn_no,insutype,accrym,psn_clct_amt,emp_clct_amt,clct_flag,clct_time",
               *[f"{p},{t},{ym},{a},{b},{f},{'2026-10-20 10:00:00' if f == '1' else ''}" for p, t, ym, a, b, f in CONTRIB]]
    setl = ["setl_id,mdtrt_id,psn_no,certno,insutype,med_type,fixmedins_code,atddr_no,begndate,enddate,setl_time,"
            "dise_codg,medfee_sumamt,fulamt_ownpay_amt,hifp_pay,acct_pay,psn_cash_pay,insu_admdvs,mdtrt_admdvs,"
            "refd_setl_flag"]
    for sid, (p, h, med, b, e, fee, own, fund, ia, ma, dise, refd) in SETTLEMENTS.items():
        setl.append(f"{sid},M{sid},{p},{PSN[p]},310,{med},{h},D001,{b},{e},{e} 16:00:00,{dise},{fee}.00,{own}.00,"
                    f"{fund}.00,0,{fee - fund}.00,{ia},{ma},{refd}")
    medins = {
        "psn_info": info, "psn_insu": insu, "contrib": contrib, "setl": setl,
        "emp_info": ["emp_no,emp_name,uscc,emp_type,admdvs", "E1,某公司,91610100MA0000000X,10,610102"],
        "fixmedins": ["fixmedins_code,fixmedins_name,fixmedins_type,hosp_lv,admdvs",
                      *[",".join(f) for f in FIXMEDINS]],
        # section 6's settlement list for one settlement: its main diagnosis I63 replaces the settlement's I10
        "setl_list": ["setl_id,main_dise_codg,main_oprn_codg,ipt_days,dscg_way,drg_codg,dip_codg,list_sbmt_date",
                      "S4,I63,,5,1,,,2026-04-01"],
    }
    police = {"hsreg_psn": ["certno,psn_name,gend,brdy,naty,hsreg_admdvs,hsreg_addr,hsreg_book_no,hsreg_stas,cancel_date",
                            *[f"{PSN[p]},测试{p},1,1980-01-01,01,{d},某街道,HB{p},1," for p, d in HUKOU.items()],
                            f"{K},测试K,1,1980-01-01,01,610202,某街道,HBK,2,2026-05-01",
                            f"{L},测试L,1,1980-01-01,01,610102,某街道,HBL,1,"]}
    national = {"national_uninsured": ["certno,psn_name,hsreg_admdvs,issue_batch",
                                       *[f"{c},{'=1+1' if c == Z else f'名单{i}'},{d},2026-10"
                                         for i, (c, d, _) in enumerate(NATIONAL)]],
                "insured_elsewhere": ["certno,insutype,insu_admdvs,psn_insu_stas", f"{L},390,110105,1"]}
    tax = {"medins_clct": ["certno,insutype,accrym,clct_amt,pay_date,emp_uscc",
                           *[f"{PSN[p]},{t},{ym},{a},2026-10-25," for p, t, ym, a in TAX]]}
    return {"medins": medins, "police": police, "tax": tax, "national": national}


@pytest.fixture(scope="module")
def wh(tmp_path_factory) -> Settings:
    from yibao.ingestion.ingest import ingest
    from yibao.quality import run_quality
    from yibao.transform import run_dbt

    settings = Settings(data_root=tmp_path_factory.mktemp("trends"), spark_remote="", reference_date=REF)
    for source, files in _tables().items():
        write_batch(settings.landing, source, BATCH, files)
    ingest(settings)
    gate = run_quality(settings, reports=False)
    assert not gate.held, [h.table for h in gate.held]
    run_dbt(settings, ["build", "--select", *[f"+{m}" for m in MARTS], "--indirect-selection", "cautious"],
            vars={"disease_top_n": 2})
    return settings


def _df(settings: Settings, table: str) -> pd.DataFrame:
    from yibao.engine import spark_session
    from yibao.transform.runner import sync_catalog

    spark = spark_session(settings)
    sync_catalog(spark, settings)
    return spark.sql(f"select * from gold.{table}").toPandas()


def _months(first: str, last: str) -> list[str]:
    y, m = int(first[:4]), int(first[4:])
    out = []
    while f"{y}{m:02d}" <= last:
        out.append(f"{y}{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


WINDOW = _months("202411", "202610")


# -- enrollment_trend -------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def trend(wh) -> pd.DataFrame:
    return _df(wh, "enrollment_trend")


def _series(trend: pd.DataFrame, insutype: str, psn_type: str, col: str = "insured") -> dict[str, int]:
    t = trend[(trend["region"] == XA) & (trend["insutype"] == insutype) & (trend["psn_type"] == psn_type)]
    return dict(zip(t["ym"], t[col].astype(int)))


def test_every_group_has_every_month_of_the_window(trend):
    assert set(trend["region"]) == {XA}
    groups = trend.groupby(["insutype", "psn_type"])["ym"].apply(sorted)
    assert set(groups.index) == {("310", "11"), ("310", "12"), ("310", "13"), ("390", "21")}
    assert all(months == WINDOW for months in groups)
    assert (trend["region_name"] == "西安市").all()


def test_insured_at_month_end_from_the_enrollment_dates(trend):
    # 310/11: A all along, D until its termination on 2025-12-31 (not insured at the end of 202512)
    emp = _series(trend, "310", "11")
    assert all(emp[m] == (2 if m < "202512" else 1) for m in WINDOW), emp
    # 310/12: B from 202503
    ret = _series(trend, "310", "12")
    assert all(ret[m] == (1 if m >= "202503" else 0) for m in WINDOW), ret
    # 390/21: C until its suspension in 202506, F (two enrollments, one spell) all along, D from 202601; E never
    res = _series(trend, "390", "21")
    expected = {m: 2 if m < "202506" else (1 if m < "202601" else 2) for m in WINDOW}
    assert res == expected
    # 310/13: G enrolled after the window
    assert set(_series(trend, "310", "13").values()) == {0}


def test_movements_of_the_month(trend):
    def nonzero(insutype, psn_type, col):
        return {m: v for m, v in _series(trend, insutype, psn_type, col).items() if v}

    assert nonzero("310", "12", "new_enrollments") == {"202503": 1}
    assert nonzero("390", "21", "new_enrollments") == {"202601": 1}      # D; F's spell began before the window
    assert nonzero("390", "21", "suspensions") == {"202506": 1}           # C; F2 stopped but F1 is active
    assert nonzero("310", "11", "terminations") == {"202512": 1}          # D
    assert nonzero("390", "21", "switches_in") == {"202601": 1}           # D: 310 stopped 202512, 390 began 202601
    assert nonzero("310", "11", "switches_in") == {}
    und = trend[(trend["insutype"] == "390") & (trend["psn_type"] == "21")]["undated_stops"]
    assert (und == 1).all()                                               # E, on every row of its group


def test_month_on_month_and_year_on_year(trend):
    t = trend[(trend["insutype"] == "310") & (trend["psn_type"] == "12")].set_index("ym")
    assert t.loc["202503", "insured_mom"] == 1 and pd.isna(t.loc["202503", "insured_mom_rate"])   # from 0
    assert pd.isna(t.loc["202411", "insured_mom"])                         # the first month has no previous one
    assert t.loc["202603", "insured_yoy"] == 0 and t.loc["202603", "insured_yoy_rate"] == 0
    r = trend[(trend["insutype"] == "390") & (trend["psn_type"] == "21")].set_index("ym")
    assert r.loc["202506", "insured_mom_rate"] == pytest.approx(-0.5)
    assert r.loc["202606", "insured_yoy"] == 1 and r.loc["202606", "insured_yoy_rate"] == pytest.approx(1.0)


def test_dependency_ratio(wh):
    d = _df(wh, "dependency_ratio")
    assert set(d["region"]) == {XA, "ALL"}
    x = d[d["region"] == XA].set_index("ym")
    assert x.loc["202502", "working"] == 2 and x.loc["202502", "retirees"] == 0 and pd.isna(x.loc["202502", "ratio"])
    assert x.loc["202503", "ratio"] == pytest.approx(2.0)                 # A, D per B
    assert x.loc["202512", "ratio"] == pytest.approx(1.0)                 # D terminated: A per B
    assert x.loc["202512", "ratio_mom"] == pytest.approx(-1.0)
    assert x.loc["202603", "ratio_yoy"] == pytest.approx(-1.0)            # 1.0 against 2.0 in 202503
    a = d[d["region"] == "ALL"].set_index("ym")
    assert a.loc["202512", "ratio"] == pytest.approx(1.0) and a.loc["202512", "region_name"] == "全省"


# -- contribution_trend -----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def contrib(wh) -> pd.DataFrame:
    return _df(wh, "contribution_trend")


def _row(contrib, accrym, insutype, region=XA, psn_type="ALL", emp_type="ALL"):
    r = contrib[(contrib["accrym"] == accrym) & (contrib["insutype"] == insutype) & (contrib["region"] == region)
                & (contrib["psn_type"] == psn_type) & (contrib["emp_type"] == emp_type)]
    assert len(r) == 1, (accrym, insutype, region, psn_type, emp_type, len(r))
    return r.iloc[0]


def test_contribution_periods_paid_by_the_core_system_or_by_tax(contrib):
    a = _row(contrib, "202609", "310", psn_type="11", emp_type="10")
    assert (a["periods"], a["paid_periods"], float(a["assessed_amt"]), float(a["collected_amt"])) == (1, 1, 500, 500)
    b = _row(contrib, "202610", "310", psn_type="11", emp_type="10")   # clct_flag 0, but tax collected it
    assert (b["paid_periods"], float(b["collected_amt"]), b["payment_rate"]) == (1, 500, 1.0)
    assert b["collected_amt_mom"] == pytest.approx(0.0)
    c = _row(contrib, "202501", "390")                                  # C: assessed, nobody collected
    assert (c["periods"], c["paid_periods"], float(c["assessed_amt"]), float(c["collected_amt"])) == (1, 0, 400, 0)
    assert c["payment_rate"] == 0.0


def test_a_tax_collection_without_an_assessment_takes_the_persons_enrollment(contrib):
    # 202601/390: F1 assessed and paid 400; D collected 380 by tax with no assessment row (no psn_no: D's 390
    # enrollment gives the region and the person type; no employer)
    r = _row(contrib, "202601", "390", psn_type="21", emp_type="NONE")
    assert (r["periods"], r["paid_periods"], r["assessed_periods"]) == (2, 2, 1)
    assert float(r["assessed_amt"]) == 400 and float(r["collected_amt"]) == 780
    total = _row(contrib, "202601", "390", region="ALL")
    assert total["payment_rate"] == 1.0 and total["payment_rate_yoy"] == pytest.approx(1.0)   # 202501 was 0
    assert pd.isna(total["collected_amt_yoy"])                          # nothing collected a year before


def test_contribution_rollups_add_up(contrib):
    detail = contrib[(contrib["region"] != "ALL") & (contrib["psn_type"] != "ALL") & (contrib["emp_type"] != "ALL")]
    total = contrib[(contrib["region"] == "ALL") & (contrib["psn_type"] == "ALL") & (contrib["emp_type"] == "ALL")]
    assert detail["periods"].sum() == total["periods"].sum() == 5
    assert sorted(total["accrym"]) == ["202501", "202601", "202609", "202610"]
    assert set(contrib["accrym"]) <= set(WINDOW)


# -- cross_region_care ------------------------------------------------------------------------------------------

def test_cross_region_flows(wh):
    c = _df(wh, "cross_region_care")
    got = {(r.ym, r.insu_region, r.mdtrt_region): (r.flow, r.settlements, r.inpatient_cases, float(r.medfee_sumamt))
           for r in c.itertuples()}
    assert got == {
        ("202603", XA, XA): ("LOCAL", 4, 2, 8300.0),                   # S1-S4 (S8 reversed: not counted)
        ("202603", XA, TC): ("PROVINCE_INNER", 1, 0, 300.0),           # S5 in 铜川
        ("202603", XA, "110000"): ("OUT_OF_PROVINCE", 1, 1, 8000.0),   # S6 in Beijing, institution not registered
        ("202603", "110000", XA): ("INBOUND", 1, 1, 4000.0),           # S7, insured in Beijing
        ("202604", XA, XA): ("LOCAL", 1, 0, 50.0),                     # S9, a pharmacy
    }
    out = c[c["flow"] == "OUT_OF_PROVINCE"].iloc[0]
    assert out["mdtrt_region_name"] == "北京市" and out["insu_region_name"] == "西安市"
    assert out["fund_payment_ratio"] == pytest.approx(0.5)


# -- medical_reform_indicators ----------------------------------------------------------------------------------

def test_service_and_reform_indicators(wh):
    m = _df(wh, "medical_reform_indicators").set_index(["ym", "region"])
    x = m.loc[("202603", XA)]
    # outpatient visits at medical institutions in 西安: S1 (一级: primary), S2 (三级); inpatient S3, S4, S7
    assert (x["outpatient_visits"], x["primary_visits"], x["inpatient_cases"]) == (2, 1, 3)
    assert x["primary_visit_share"] == pytest.approx(0.5) and x["outpatient_discharge_ratio"] == pytest.approx(2 / 3)
    # (2,800 + 2,100 + 3,000) / ((5,000 - 1,000) + 3,000 + 4,000)
    assert x["inpatient_policy_ratio"] == pytest.approx(7900 / 11000)
    assert (x["maternity_cases"], float(x["maternity_medfee"]), x["chronic_visits"]) == (1, 4000, 0)
    # residents of 西安 (H in 610102, I in 610103): S3 in H's county; S4 (I at a 610102 hospital) and S6 (Beijing) not
    assert (x["resident_inpatient_cases"], x["in_county_cases"]) == (3, 1)
    assert x["in_county_admission_rate"] == pytest.approx(1 / 3)
    t = m.loc[("202603", TC)]
    assert (t["chronic_visits"], float(t["chronic_medfee"]), t["outpatient_visits"]) == (1, 300, 1)
    a = m.loc[("202603", "ALL")]
    assert (a["outpatient_visits"], a["inpatient_cases"], a["resident_inpatient_cases"]) == (3, 4, 3)
    assert a["outpatient_discharge_ratio"] == pytest.approx(0.75) and a["region_name"] == "全省"
    p = m.loc[("202604", XA)]
    assert p["outpatient_visits"] == 0 and pd.isna(p["primary_visit_share"])   # a pharmacy purchase is no visit


# -- disease_cost -----------------------------------------------------------------------------------------------

def test_cost_by_main_diagnosis_and_the_top_n(wh):
    d = _df(wh, "disease_cost")
    a = d[(d["region"] == "ALL") & (d["year"] == 2026)].set_index("dise_codg")
    # S4's settlement list says I63: I10 keeps S3 only; C34 and I10 would tie at 8,000 without it
    cost = {k: float(v) for k, v in a["medfee_sumamt"].items()}
    assert cost == {"C34": 8000, "I10": 5000, "O80": 4000, "I63": 3000, "J00": 350, "E11": 300}
    assert a.sort_values("rank_by_cost").index.tolist() == ["C34", "I10", "O80", "I63", "J00", "E11"]
    assert a["is_top_n"].to_dict() == {"C34": True, "I10": True, "O80": False, "I63": False, "J00": False,
                                       "E11": False}
    assert a.loc["C34", "cost_share"] == pytest.approx(8000 / 20650)
    assert a.loc["J00", "settlements"] == 3 and a.loc["J00", "cost_per_settlement"] == pytest.approx(350 / 3)
    x = d[(d["region"] == XA) & (d["year"] == 2026)].set_index("dise_codg")
    assert x["rank_by_cost"].to_dict() == {"I10": 1, "O80": 2, "I63": 3, "J00": 4}


# -- the national list's verification file and progress ----------------------------------------------------------

def test_national_list_return_labels_every_entry(wh):
    r = _df(wh, "national_list_return").set_index("certno")
    assert len(r) == len(NATIONAL)
    assert {c: r.loc[c, "result_code"] for c, _, _ in NATIONAL} == {c: want for c, _, want in NATIONAL}
    assert r.loc[PSN["H"], "result_name"] == "核实未参保" and r.loc[Z, "result_name"] == "未匹配到人员(需人工核查)"
    assert r.loc[K, "result_note"] == "死亡日期 2026-05-01"
    assert r.loc[L, "result_note"] == "已在外省参保" and r.loc[PSN["A"], "result_note"] == "本省无有效户籍"
    assert r["is_stale"].to_dict() == {c: want in ("MOVED", "DEAD", "ENROLLED") for c, _, want in NATIONAL}
    assert r.loc[K, "region"] == TC and r.loc[Z, "region"] == XA and (r["issue_batch"] == "2026-10").all()
    assert (r["verified_date"].astype(str) == REF.isoformat()).all()


def test_national_list_progress_per_prefecture(wh):
    p = _df(wh, "national_list_progress").set_index("region")
    assert p.loc[XA, ["entries", "uninsured", "moved", "enrolled", "unmatched", "labelled", "stale"]].tolist() == [
        5, 2, 1, 1, 1, 4, 2]
    assert p.loc[XA, "labelled_share"] == pytest.approx(0.8) and p.loc[XA, "region_name"] == "西安市"
    assert p.loc[TC, ["entries", "dead", "labelled"]].tolist() == [1, 1, 1]
    assert p.loc["ALL", "entries"] == 6 and p.loc["ALL", "labelled_share"] == pytest.approx(5 / 6)


def test_national_return_files_per_prefecture_escaped_and_audited(wh, tmp_path):
    from yibao.catalog import Catalog
    from yibao.engine import spark_session
    from yibao.national import HEADERS, export_return

    rec = export_return(wh, tmp_path / "all", fmt="xlsx", user="测试员")
    assert rec["rows"] == 6 and rec["regions"] == {XA: 5, TC: 1}
    names = sorted(p.name for p in rec["files"])
    assert names == [f"核查结果_{XA}_西安市.xlsx", f"核查结果_{TC}_铜川市.xlsx"]
    xa = pd.read_excel(tmp_path / "all" / f"核查结果_{XA}_西安市.xlsx", dtype=str)
    assert list(xa.columns) == list(HEADERS.values()) and len(xa) == 5
    row = xa.set_index("身份证号码").loc[Z]
    assert row["姓名"] == "'=1+1"                              # a formula in a name is written as text
    assert row["核查结果"] == "未匹配到人员(需人工核查)" and row["核查基准日期"] == REF.isoformat()
    one = export_return(wh, tmp_path / "tc", fmt="csv", region="6102")
    assert one["regions"] == {TC: 1}
    tc = pd.read_csv(one["files"][0], dtype=str, encoding="utf-8-sig")
    assert tc.loc[0, "身份证号码"] == K and tc.loc[0, "核查说明"] == "死亡日期 2026-05-01"
    with pytest.raises(ValueError):
        export_return(wh, tmp_path / "x", fmt="pdf")
    with pytest.raises(ValueError):
        export_return(wh, tmp_path / "x", region="6199")        # a prefecture without entries
    audit = Catalog(spark_session(wh), wh).read("meta", "export_audit").toPandas().set_index("export_id")
    assert audit.loc[rec["export_id"], "user"] == "测试员" and audit.loc[rec["export_id"], "row_count"] == 6
    assert audit.loc[one["export_id"], "filter"] == '{"region": "6102"}'
    assert audit.loc[one["export_id"], "unmasked"] == "certno,name"


# -- coverage_history: the published coverage of each reference month, kept (last: it rebuilds upstream) -----------

def test_coverage_history_keeps_each_reference_month(wh):
    from dataclasses import replace

    from yibao.transform import run_dbt

    def build(ref: date) -> pd.DataFrame:
        run_dbt(replace(wh, reference_date=ref), ["build", "--select", "+coverage_history", "--indirect-selection",
                                                  "cautious"])
        return _df(wh, "coverage_history")

    first = build(REF)
    assert set(first["reference_month"]) == {"202611"}
    prov = first[first["level"] == "province"].iloc[0]
    assert (prov["target_population"], prov["insured"], prov["uninsured"]) == (3, 1, 2)   # H, I, L (insured elsewhere)
    later = build(date(2026, 12, 3))
    assert sorted(set(later["reference_month"])) == ["202611", "202612"]
    kept = later[later["reference_month"] == "202611"].set_index(["admdvs", "level"]).sort_index()
    assert kept.drop(columns="published_at").equals(
        first.set_index(["admdvs", "level"]).sort_index().drop(columns="published_at"))   # the past as published
    again = build(REF)                                                # a rerun of a month replaces its rows only
    assert len(again) == len(later)
    assert (again[again["reference_month"] == "202611"]["published_at"].min()
            > first["published_at"].max())
