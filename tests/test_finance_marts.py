"""Medical assistance and fund finance (data-contract.md section 6; dbt_project/models/marts/_marts_finance.yml),
end to end on a hand-made landing zone whose every figure is worked out by hand below.

One warehouse (module fixture): hand-written batches -> ingestion -> the quality gate (bronze) -> ``dbt build`` of
the five marts and everything they are built on (their tests included).  A second, smaller warehouse without any
section-6 table checks that the marts still build (empty where they need section 6).

The insured region is 610102 (settlements' insu_admdvs = fund_payment.admdvs), insutype 390 unless named.
Settlement months 202609 and 202610 are paid in the following month.  Fund owed by a settlement = hifp_pay +
acct_pay.

  institution-month   owed                         paid (fund_payment)    bank E rows
  H1 202609           S1 600 + S2 (300+50) = 950   FP0901 950             B01 950 memo FP0901; B08 950 memo FP0901 again
  H2 202609           S3 1200 + S4 (200+100) = 1500  FP0902 1400 (under)  B02 1400 memo FP0902
  H5 202609           nothing                      FP0905 300             B03 300, memo without pay_id (fallback keys)
  H3 202610           S5 500 (S6 reversed)         none (owed, not paid)  -
  H4 202610           S7 400                       FP1004 400             B04 410 memo FP1004 (amount differs)
  H1 202610           S9 100 (no setl_time: enddate 2026-10-31 gives the month, not begndate 09-28; int_settlement.ym)  FP1001 100   no bank row
  -                   -                            -                      B05 250 to H2 on 2026-10-20, no payment
  H1 202609 (310)     S10 150                      FP0906 150             B09 150 memo FP0906 (all agree)
Not part of the reconciliation: B06 (E to a non-institution, 上解), B07 (an I row), S8 (202505, before the months
fund_payment covers).
"""

from __future__ import annotations

import time
from datetime import date
from decimal import Decimal

import pandas as pd
import pytest
from landing import write_batch

from yibao.config import Settings

REF = date(2026, 11, 3)
BATCH = "20261103-001"
MARTS = ["assistance_beneficiary", "assistance_duplicate", "fund_income_expense", "fund_reconciliation",
         "fund_reconciliation_diff"]
D = Decimal


def _check(body17: str) -> str:
    w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return "10X98765432"[sum(int(c) * x for c, x in zip(body17, w)) % 11]


def _certno(n: int) -> str:
    body = f"61010219800101{n:03d}"
    return body + _check(body)


# person: (psn_no, certno, name)
PERSONS = {"A": ("NA", _certno(11), "甲一"), "B": ("NB", _certno(13), "甲二"), "C": ("NC", _certno(15), "甲三"),
           "D": ("ND", _certno(17), "甲四")}
# assistance objects: person, aid_type, admdvs, begn_date, end_date
OBJECTS = [("A", "1", "610102", "2025-01-01", ""),
           ("B", "2", "610103", "2026-03-01", "2026-12-31"),
           ("B", "3", "610103", "2026-01-01", ""),          # B holds 2 and 3 in 2026: counted once, under 2
           ("D", "2", "610102", "2024-01-01", "2025-06-30")]  # active in 2025 only
SETL = ("setl_id,mdtrt_id,psn_no,certno,insutype,med_type,fixmedins_code,atddr_no,begndate,enddate,setl_time,"
        "dise_codg,medfee_sumamt,fulamt_ownpay_amt,hifp_pay,acct_pay,psn_cash_pay,insu_admdvs,mdtrt_admdvs,"
        "refd_setl_flag,hifmi_pay,hifob_pay,cvlserv_pay,maf_pay,oth_pay")
# setl_id, person, insutype, institution, begndate, setl_time, medfee, hifp, acct, cash, hifmi, maf, oth, reversed
SETTLEMENTS = [
    ("S1", "A", "390", "H1", "2026-09-10", "2026-09-10 10:00:00", 1000, 600, 0, 100, 100, 150, 50, "0"),
    ("S2", "A", "390", "H1", "2026-09-20", "2026-09-20 10:00:00", 500, 300, 50, 150, 0, 0, 0, "0"),
    ("S3", "B", "390", "H2", "2026-09-15", "2026-09-15 10:00:00", 2000, 1200, 0, 300, 200, 300, 0, "0"),
    ("S4", "C", "390", "H2", "2026-09-16", "2026-09-16 10:00:00", 400, 200, 100, 100, 0, 0, 0, "0"),
    ("S5", "B", "390", "H3", "2026-10-05", "2026-10-05 10:00:00", 800, 500, 0, 300, 0, 0, 0, "0"),
    ("S6", "C", "390", "H3", "2026-10-06", "2026-10-06 10:00:00", 300, 150, 50, 100, 0, 0, 0, "1"),
    ("S7", "A", "390", "H4", "2026-10-07", "2026-10-07 10:00:00", 600, 400, 0, 200, 0, 0, 0, "0"),
    ("S8", "D", "390", "H1", "2025-05-10", "2025-05-10 10:00:00", 700, 500, 0, 100, 0, 100, 0, "0"),
    ("S9", "C", "390", "H1", "2026-09-28", "", 120, 100, 0, 20, 0, 0, 0, "0"),
    ("S10", "C", "310", "H1", "2026-09-25", "2026-09-25 10:00:00", 200, 150, 0, 50, 0, 0, 0, "0"),
]
# pay_id, institution, insutype, ym, amount, pay_date
PAYMENTS = [("FP0901", "H1", "390", "202609", "950.00", "2026-10-15"),
            ("FP0902", "H2", "390", "202609", "1400.00", "2026-10-15"),
            ("FP0905", "H5", "390", "202609", "300.00", "2026-10-15"),
            ("FP1004", "H4", "390", "202610", "400.00", "2026-11-02"),
            ("FP1001", "H1", "390", "202610", "100.00", "2026-11-02"),
            ("FP0906", "H1", "310", "202609", "150.00", "2026-10-15")]
# txn_id, insutype, txn_date, direction, amount, counterparty, memo
BANK = [("B01", "390", "2026-10-15", "E", "950.00", "H1", "拨付FP0901医保结算款"),
        ("B02", "390", "2026-10-15", "E", "1400.00", "H2", "FP0902"),
        ("B03", "390", "2026-10-15", "E", "300.00", "H5", "医保基金拨付"),
        ("B04", "390", "2026-11-02", "E", "410.00", "H4", "拨付 FP1004"),
        ("B05", "390", "2026-10-20", "E", "250.00", "H2", "其他拨付"),
        ("B06", "390", "2026-10-20", "E", "5000.00", "省级调剂金专户", "上解"),
        ("B07", "390", "2026-10-10", "I", "10000.00", "税务", "征缴收入"),
        ("B08", "390", "2026-10-16", "E", "950.00", "H1", "FP0901重复"),
        ("B09", "310", "2026-10-15", "E", "150.00", "H1", "FP0906")]
# pay_id, person, aid_type, setl_id, amount, pay_date
ASSIST_PAY = [("AP1", "A", "1", "S1", "80.00", "2026-10-01"),    # S1 had maf_pay 150: ONE_STOP_AND_MANUAL
              ("AP2", "B", "2", "S5", "120.00", "2026-10-20"),   # first manual payment of S5: fine
              ("AP3", "B", "2", "S5", "120.00", "2026-10-25"),   # second one: MANUAL_TWICE (first AP2)
              ("AP4", "A", "1", "S2", "60.00", "2026-10-02")]    # S2 had no maf_pay, paid once: fine
LEDGER = [("610100", "390", "202610", "I", "01", "600.00"), ("610100", "390", "202610", "I", "02", "400.00"),
          ("610100", "390", "202610", "E", "01", "900.00"), ("610100", "390", "202510", "I", "01", "500.00"),
          ("610100", "390", "202510", "E", "01", "1200.00")]


def _core_batches(landing, shares: bool) -> None:
    """Sections 1-2: persons, enrollment, institutions, settlements (with section 6's fund shares when
    ``shares``), assistance objects, the fund ledger."""
    info = ["psn_no,psn_name,gend,brdy,naty,psn_cert_type,certno,tel,surv_stas,hsreg_addr,hsreg_admdvs,resd_addr,"
            "resd_admdvs,hsreg_book_no"]
    for i, (psn, cert, name) in enumerate(PERSONS.values()):
        info.append(f"{psn},{name},1,1980-01-01,01,01,{cert},1390000{i:04d},1,某街道,610102,某街道,610102,BK{i:03d}")
    insu = ["psn_no,insutype,psn_type,psn_insu_stas,crt_insu_date,paus_insu_date,insu_admdvs,emp_no,emp_name",
            "NA,390,21,1,2019-01-01,,610102,,"]          # only A is insured
    fix = ["fixmedins_code,fixmedins_name,fixmedins_type,hosp_lv,admdvs"] + \
        [f"H{i},某医院{i},1,2,610102" for i in range(1, 6)]
    n_cols = len(SETL.split(",")) - (0 if shares else 5)
    setl = [",".join(SETL.split(",")[:n_cols])]
    for sid, who, ins, h, b, st, fee, hifp, acct, cash, hifmi, maf, oth, refd in SETTLEMENTS:
        psn, cert, _ = PERSONS[who]
        setl.append(f"{sid},M{sid},{psn},{cert},{ins},11,{h},D001,{b},{b if st else '2026-10-31'},{st},J18.9,"
                    f"{fee:.2f},0,{hifp:.2f},{acct:.2f},{cash:.2f},610102,610102,{refd},"
                    f"{hifmi:.2f},0,0,{maf:.2f},{oth:.2f}")
        setl[-1] = ",".join(setl[-1].split(",")[:n_cols])
    ledger = ["admdvs,insutype,ym,direction,item_type,amount"] + [",".join(r) for r in LEDGER]
    write_batch(landing, "medins", BATCH, {"psn_info": info, "psn_insu": insu, "fixmedins": fix, "setl": setl,
                                           "fund_ledger": ledger})
    obj = ["certno,aid_type,psn_name,admdvs,begn_date,end_date"] + \
        [f"{PERSONS[w][1]},{a},{PERSONS[w][2]},{adm},{b},{e}" for w, a, adm, b, e in OBJECTS]
    write_batch(landing, "civil_affairs", BATCH, {"assistance_obj": obj})


def _section6_batches(landing) -> None:
    pay = ["pay_id,fixmedins_code,admdvs,insutype,ym,amount,pay_date"] + \
        [f"{p},{h},610102,{ins},{ym},{a},{d}" for p, h, ins, ym, a, d in PAYMENTS]
    bank = ["txn_id,admdvs,insutype,txn_date,direction,amount,counterparty,memo"] + \
        [f"{t},610102,{ins},{d},{di},{a},{c},{m}" for t, ins, d, di, a, c, m in BANK]
    write_batch(landing, "medins", "20261103-002", {"fund_payment": pay, "bank_stmt": bank})
    ap = ["pay_id,certno,aid_type,setl_id,amount,pay_date,admdvs"] + \
        [f"{p},{PERSONS[w][1]},{a},{s},{amt},{d},610102" for p, w, a, s, amt, d in ASSIST_PAY]
    write_batch(landing, "civil_affairs", "20261103-002", {"assistance_pay": ap})


def _build(root, section6: bool) -> tuple[Settings, dict]:
    from yibao.ingestion.ingest import ingest
    from yibao.quality import run_quality
    from yibao.transform.runner import run_dbt

    settings = Settings(data_root=root, spark_remote="", reference_date=REF)
    _core_batches(settings.landing, shares=section6)
    if section6:
        _section6_batches(settings.landing)
    t0 = time.time()
    ingest(settings)
    t1 = time.time()
    run = run_quality(settings, reports=False)
    t2 = time.time()
    # the marts and everything upstream of them, with their tests (cautious: no test of a model not built here)
    run_dbt(settings, ["build", "--select", *[f"+{m}" for m in MARTS], "--indirect-selection", "cautious"])
    t3 = time.time()
    print(f"\n[{'with' if section6 else 'without'} section 6] ingest {t1 - t0:.0f}s, quality gate {t2 - t1:.0f}s, "
          f"dbt build {t3 - t2:.0f}s")
    return settings, {"quality_ok": run.ok, "run": run}


def _read(settings: Settings, table: str, schema: str = "gold") -> pd.DataFrame:
    from yibao.catalog import Catalog
    from yibao.engine import spark_session
    from yibao.transform.runner import sync_catalog

    spark = spark_session(settings)
    sync_catalog(spark, settings)
    return Catalog(spark, settings).read(schema, table).toPandas()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    settings, info = _build(tmp_path_factory.mktemp("finance"), section6=True)
    return settings, info, {**{m: _read(settings, m) for m in MARTS},
                            "match": _read(settings, "int_fund_bank_match", "silver")}


def test_gate_released_every_table(world):
    _, info, _ = world
    run = info["run"]
    for t in ("medins__setl", "medins__fund_payment", "medins__bank_stmt", "civil_affairs__assistance_pay",
              "civil_affairs__assistance_obj", "medins__fund_ledger"):
        assert run.table(t).status == "released", t
    assert info["quality_ok"]


# -- fund_reconciliation_diff / fund_reconciliation ----------------------------------------------------------

# (side, ym, institution, pay_id, txn_id) -> (expected, actual, diff, words in the reason, match_rule)
EXPECTED_DIFF = {
    ("SETTLEMENT_PAYMENT", "202609", "H2", "FP0902", None): ("1500.00", "1400.00", "-100.00", "拨付少于结算应付", None),
    ("SETTLEMENT_PAYMENT", "202609", "H5", "FP0905", None): ("0.00", "300.00", "300.00", "无结算应付却拨付", None),
    ("SETTLEMENT_PAYMENT", "202610", "H3", None, None): ("500.00", "0.00", "-500.00", "结算应付未拨付", None),
    ("PAYMENT_BANK", "202610", "H1", "FP1001", None): ("100.00", "0.00", "-100.00", "基金拨付无对应银行流水", None),
    ("PAYMENT_BANK", "202610", "H4", "FP1004", "B04"): ("400.00", "410.00", "10.00", "银行流水金额与拨付不符",
                                                        "MEMO_PAY_ID"),
    ("PAYMENT_BANK", "202609", "H2", None, "B05"): ("0.00", "250.00", "250.00", "银行流水无对应基金拨付", None),
    # B08 names FP0901 too, but FP0901 is B01's: one payment, one bank row
    ("PAYMENT_BANK", "202609", "H1", None, "B08"): ("0.00", "950.00", "950.00", "银行流水无对应基金拨付", None),
}


def _none(v):
    return None if v is None or (isinstance(v, float) and pd.isna(v)) else v


def test_every_difference_is_listed_with_its_side(world):
    diff = world[2]["fund_reconciliation_diff"]
    got = {}
    for r in diff.itertuples():
        assert (r.admdvs, r.insutype) == ("610102", "390")
        key = (r.side, r.ym, r.fixmedins_code, _none(r.pay_id), _none(r.txn_id))
        assert key not in got
        got[key] = r
    assert set(got) == set(EXPECTED_DIFF)
    for key, (exp, act, d, words, rule) in EXPECTED_DIFF.items():
        r = got[key]
        assert (r.expected_amount, r.actual_amount, r.diff_amount) == (D(exp), D(act), D(d)), key
        assert r.reason.startswith(words), r.reason
        assert _none(r.match_rule) == rule
        assert r.side_zh == {"SETTLEMENT_PAYMENT": "结算应付与基金拨付不符",
                             "PAYMENT_BANK": "基金拨付与银行流水不符"}[r.side]
    # the reasons carry the figures
    assert "1,500.00元" in got[("SETTLEMENT_PAYMENT", "202609", "H2", "FP0902", None)].reason
    assert "410.00元" in got[("PAYMENT_BANK", "202610", "H4", "FP1004", "B04")].reason


def test_matched_rows_are_not_differences(world):
    """B01 (memo), B03 (fallback keys: no pay_id in its memo), B09 (310) are matched; B06 (上解) and B07 (income)
    are not institution payments; S8's month lies before the months fund_payment covers."""
    diff = world[2]["fund_reconciliation_diff"]
    listed_txn = set(diff["txn_id"].dropna())
    listed_pay = {p for v in diff["pay_id"].dropna() for p in v.split(",")}
    assert not listed_txn & {"B01", "B02", "B03", "B06", "B07", "B09"}
    assert "FP0901" not in listed_pay and "FP0906" not in listed_pay
    assert not (diff["ym"] == "202505").any()
    assert not (diff["side"].eq("PAYMENT_BANK") & diff["fixmedins_code"].eq("H5")).any()
    rule = {r.pay_id: (r.txn_id, r.match_rule) for r in world[2]["match"].itertuples() if r.pay_id}
    assert rule == {"FP0901": ("B01", "MEMO_PAY_ID"), "FP0902": ("B02", "MEMO_PAY_ID"),
                    "FP0905": ("B03", "KEYS_AMOUNT"), "FP1004": ("B04", "MEMO_PAY_ID"),
                    "FP1001": (None, None), "FP0906": ("B09", "MEMO_PAY_ID")}


def test_reconciliation_per_region_month(world):
    rec = world[2]["fund_reconciliation"].set_index(["admdvs", "insutype", "ym"])
    assert set(rec.index) == {("610102", "390", "202609"), ("610102", "390", "202610"), ("610102", "310", "202609")}
    expected = {
        # settled, paid, bank, differences
        ("610102", "390", "202609"): ("2450.00", "2650.00", "3850.00", 4),   # bank: B01+B02+B03+B05+B08
        ("610102", "390", "202610"): ("1000.00", "500.00", "410.00", 3),     # settled: S5+S7+S9
        ("610102", "310", "202609"): ("150.00", "150.00", "150.00", 0),
    }
    for key, (settled, paid, bank, n) in expected.items():
        r = rec.loc[key]
        assert (r.settled_amount, r.paid_amount, r.bank_amount) == (D(settled), D(paid), D(bank)), key
        assert r.diff_settlement_payment == D(paid) - D(settled)
        assert r.diff_payment_bank == D(bank) - D(paid)
        assert r.differences == n and r.status == ("一致" if n == 0 else "不一致")


# -- assistance ---------------------------------------------------------------------------------------------

def test_assistance_duplicates(world):
    dup = world[2]["assistance_duplicate"]
    got = {(r.pay_id, r.kind): r for r in dup.itertuples()}
    assert set(got) == {("AP1", "ONE_STOP_AND_MANUAL"), ("AP3", "MANUAL_TWICE")}
    one = got["AP1", "ONE_STOP_AND_MANUAL"]
    assert (one.setl_id, one.one_stop_maf_pay, one.amount, _none(one.first_pay_id)) == ("S1", D("150.00"), D("80.00"), None)
    assert one.certno == PERSONS["A"][1] and one.person_id.startswith("P") and one.aid_type == "1"
    two = got["AP3", "MANUAL_TWICE"]
    assert (two.setl_id, two.first_pay_id, two.amount, two.one_stop_maf_pay) == ("S5", "AP2", D("120.00"), D("0.00"))
    assert str(two.pay_date) == "2026-10-25" and two.kind_zh == "同一结算重复手工报销"


def test_assistance_beneficiaries(world):
    ben = world[2]["assistance_beneficiary"].set_index(["admdvs", "aid_type", "year"])
    # (beneficiaries, insured, settlements, medfee, basic, serious, maf_one_stop, maf_manual, other, cash)
    expected = {
        ("610102", "1", 2025): (1, 1, 0, 0, 0, 0, 0, 0, 0, 0),                    # A, no care in 2025
        ("610102", "2", 2025): (1, 0, 1, 700, 500, 0, 100, 0, 0, 100),             # D: S8
        ("610102", "1", 2026): (1, 1, 3, 2100, 1350, 100, 150, 140, 50, 450),     # A: S1 S2 S7; AP1 + AP4
        ("610103", "2", 2026): (1, 0, 2, 2800, 1700, 200, 300, 240, 0, 600),      # B: S3 S5; AP2 + AP3
    }
    assert set(ben.index) == set(expected)
    cols = ["beneficiaries", "insured", "settlements", "medfee_sumamt", "basic_pay", "serious_pay", "maf_one_stop",
            "maf_manual", "other_pay", "psn_cash_pay"]
    for key, values in expected.items():
        r = ben.loc[key]
        assert tuple(r[c] for c in cols) == tuple(D(v) if i >= 3 else v for i, v in enumerate(values)), key
        assert r.uninsured == r.beneficiaries - r.insured
    assert ben.loc[("610102", "1", 2026)].one_stop_share == pytest.approx(150 / 290)
    assert ben.loc[("610103", "2", 2026)].one_stop_share == pytest.approx(300 / 540)
    assert ben.loc[("610102", "2", 2025)].one_stop_share == pytest.approx(1.0)
    assert pd.isna(ben.loc[("610102", "1", 2025)].one_stop_share)
    assert ben.loc[("610103", "2", 2026)].aid_type_name == "最低生活保障对象"


# -- fund_income_expense ------------------------------------------------------------------------------------

def test_fund_income_expense(world):
    fie = world[2]["fund_income_expense"].set_index(["admdvs", "insutype", "ym", "direction", "item_type"])
    assert len(fie) == len(LEDGER)
    i01 = fie.loc[("610100", "390", "202610", "I", "01")]
    assert i01.amount == D("600.00") and i01.item_name == "征缴收入" and i01.share_of_direction == pytest.approx(0.6)
    assert i01.yoy_amount == D("500.00") and i01.yoy_rate == pytest.approx(0.2)
    i02 = fie.loc[("610100", "390", "202610", "I", "02")]
    assert i02.item_name == "财政补贴收入" and i02.share_of_direction == pytest.approx(0.4) and pd.isna(i02.yoy_amount)
    e01 = fie.loc[("610100", "390", "202610", "E", "01")]
    assert e01.item_name == "待遇支出" and e01.share_of_direction == pytest.approx(1.0)
    assert e01.yoy_amount == D("1200.00") and e01.yoy_rate == pytest.approx(-0.25)


# -- without section 6 --------------------------------------------------------------------------------------

def test_without_section6_the_marts_build(tmp_path_factory):
    settings, _ = _build(tmp_path_factory.mktemp("finance_core"), section6=False)
    got = {m: _read(settings, m) for m in MARTS}
    for m in ("assistance_duplicate", "fund_reconciliation", "fund_reconciliation_diff"):
        assert got[m].empty, m
    assert len(got["fund_income_expense"]) == len(LEDGER)
    ben = got["assistance_beneficiary"].set_index(["admdvs", "aid_type", "year"])
    # the settlements count; the columns of undelivered section-6 data are null, not 0
    r = ben.loc[("610102", "1", 2026)]
    assert (r.beneficiaries, r.insured, r.settlements, r.basic_pay) == (1, 1, 3, D("1350.00"))
    for c in ("serious_pay", "maf_one_stop", "maf_manual", "other_pay", "one_stop_share"):
        assert pd.isna(r[c]), c
