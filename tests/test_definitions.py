"""The contract's exact definitions (data-contract.md sections 4 and 5), pinned on a hand-built landing zone.

One warehouse (module fixture): hand-written batches -> ingestion -> dbt build (no quality gate: dbt reads the
bronze heads) -> the fraud rule R07 on the engine.  Every edge case the definitions had to decide is a person
or a stay below, with the answer written next to it (dbt_project/README.md "Definitions", models/fraud/README.md).

Reference date 2026-11-03: the contribution window is 202511..202610 (the 12 whole calendar months before it),
the 390 annual period is 202601.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from landing import write_batch

from yibao.config import Settings

REF = date(2026, 11, 3)
WINDOW = [f"{y}{m:02d}" for y, m in [(2025, 11), (2025, 12)] + [(2026, m) for m in range(1, 11)]]


def _check(body17: str) -> str:
    w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return "10X98765432"[sum(int(c) * x for c, x in zip(body17, w)) % 11]


def _certno(n: int, div: str = "610102", birth: str = "19800101") -> str:
    body = f"{div}{birth}{n:03d}"
    return body + _check(body)


# -- the persons --------------------------------------------------------------------------------------------
# key: (certno, name, hukou division, hsreg_stas)
PERSONS = {
    # enrolled_unpaid
    "EMP": (_certno(11), "甲一", "610102", "1"),        # 310/11: 202603 no row, 202605 flag 0 + tax, 202607 flag 0
    "FLEX_MID": (_certno(13), "甲二", "610103", "1"),   # 310/13 enrolled 2026-03-15, 202604.. paid
    "RETIREE": (_certno(15), "甲三", "610102", "1"),    # 310/12, nothing paid: owes nothing
    "RES_UNPAID": (_certno(17), "甲四", "610102", "1"),  # 390/21, no assessment, no tax: owes 202601
    "RES_TAX": (_certno(19), "甲五", "610102", "1"),     # 390/21, 202601 flag 0, tax collected: paid
    "DEAD": (_certno(21), "甲六", "610102", "1"),        # 310/11 active, nothing paid, cremated: not in target
    "TWO_PSN": (_certno(23), "甲七", "610102", "1"),     # 310/11 on psn_no A, paid on psn_no B except 202610
    "LATE": (_certno(25), "甲八", "610102", "1"),        # 310/11 enrolled 2026-11-02: no whole month yet
    "MOVED": (_certno(27), "甲九", "610102", "3"),       # 390/21 unpaid, hukou moved out of the province
    "EMP_PAID": (_certno(29), "甲十", "610102", "1"),    # 310/11, paid every month (core or tax): nothing
    "RES_MID": (_certno(45), "甲十一", "610102", "1"),   # 390/22 enrolled 2026-05-10, nothing paid: owes 202601
    "NO_DATE": (_certno(47), "甲十二", "610102", "1"),   # 310/11 without crt_insu_date: owes the whole window
    # duplicate_enrollment
    "DUP_ER": (_certno(31), "乙一", "610102", "1"),      # 310 + 390 in one pool
    "DUP_MR": (_certno(33), "乙二", "610102", "1"),      # 390 in 610102 (pool 6101) and 610202 (pool 6102)
    "DUP_CP": (_certno(35), "乙三", "610102", "1"),      # local 390 + elsewhere 390 in 110105, active
    "DUP_TWO": (_certno(37), "乙四", "610102", "1"),     # 310 + 390 locally and elsewhere 310 in 310115
    "ELSE_STAS4": (_certno(39), "乙五", "610102", "1"),  # local 390 + elsewhere terminated (stas 4)
    "ELSE_LOCAL": (_certno(41), "乙六", "610102", "1"),  # local 390 + elsewhere row inside the province
    "DUP_TERM": (_certno(43), "乙七", "610102", "1"),    # 310 active + 390 terminated
    # R07
    "R07_IDLE": (_certno(51), "丙一", "610102", "1"),
    "R07_CARE": (_certno(53), "丙二", "610102", "1"),
    "R07_ONE": (_certno(55), "丙三", "610102", "1"),
    "R07_OUTPATIENT": (_certno(57), "丙四", "610102", "1"),
}

# psn_no, person, insutype, psn_type, stas, crt_insu_date, insu_admdvs
ENROLLMENTS = [
    ("N_EMP", "EMP", "310", "11", "1", "2020-01-01", "610102"),
    ("N_FLEX", "FLEX_MID", "310", "13", "1", "2026-03-15", "610103"),
    ("N_RET", "RETIREE", "310", "12", "1", "2010-01-01", "610102"),
    ("N_RESU", "RES_UNPAID", "390", "21", "1", "2019-01-01", "610102"),
    ("N_REST", "RES_TAX", "390", "21", "1", "2019-01-01", "610102"),
    ("N_DEAD", "DEAD", "310", "11", "1", "2015-01-01", "610102"),
    ("N_TWO_A", "TWO_PSN", "310", "11", "1", "2020-01-01", "610102"),
    ("N_TWO_B", "TWO_PSN", "310", "11", "4", "2012-01-01", "610102"),
    ("N_LATE", "LATE", "310", "11", "1", "2026-11-02", "610102"),
    ("N_MOVED", "MOVED", "390", "21", "1", "2019-01-01", "610102"),
    ("N_PAID", "EMP_PAID", "310", "11", "1", "2018-01-01", "610102"),
    ("N_RESMID", "RES_MID", "390", "22", "1", "2026-05-10", "610102"),
    ("N_NODATE", "NO_DATE", "310", "11", "1", "", "610102"),
    ("N_ER1", "DUP_ER", "310", "11", "1", "2018-01-01", "610102"),
    ("N_ER2", "DUP_ER", "390", "21", "1", "2018-01-01", "610103"),
    ("N_MR1", "DUP_MR", "390", "21", "1", "2018-01-01", "610102"),
    ("N_MR2", "DUP_MR", "390", "21", "1", "2018-01-01", "610202"),
    ("N_CP", "DUP_CP", "390", "21", "1", "2018-01-01", "610102"),
    ("N_TW1", "DUP_TWO", "310", "11", "1", "2018-01-01", "610102"),
    ("N_TW2", "DUP_TWO", "390", "21", "1", "2018-01-01", "610103"),
    ("N_S4", "ELSE_STAS4", "390", "21", "1", "2018-01-01", "610102"),
    ("N_EL", "ELSE_LOCAL", "390", "21", "1", "2018-01-01", "610102"),
    ("N_TM1", "DUP_TERM", "310", "11", "1", "2018-01-01", "610102"),
    ("N_TM2", "DUP_TERM", "390", "21", "4", "2016-01-01", "610102"),
]
# psn_info rows: one per psn_no above, plus the R07 persons' numbers
EXTRA_PSN = [("N_R1", "R07_IDLE"), ("N_R2", "R07_CARE"), ("N_R3", "R07_ONE"), ("N_R4", "R07_OUTPATIENT")]

# the expected enrolled_unpaid rows of the enrolled_unpaid persons: person -> (insutype, accrym_missing, not assessed)
EXPECTED_UNPAID = {
    "EMP": ("310", "202603,202607", "202603"),
    "FLEX_MID": ("310", "202603", "202603"),        # the month of enrollment is owed, earlier months are not
    "RES_UNPAID": ("390", "202601", "202601"),
    "TWO_PSN": ("310", "202610", "202610"),        # B's payments count for A; 202610 has no row anywhere
    "RES_MID": ("390", "202601", "202601"),         # a resident enrolled during the year owes the year
    "NO_DATE": ("310", "202511", None),             # no enrollment date: the whole window is owed
}
NOT_UNPAID = ["RETIREE", "RES_TAX", "DEAD", "LATE", "MOVED", "EMP_PAID"]


def _contrib_and_tax() -> tuple[list[str], list[str]]:
    contrib, tax = ["psn_no,insutype,accrym,psn_clct_amt,emp_clct_amt,clct_flag,clct_time"], \
        ["certno,insutype,accrym,clct_amt,pay_date,emp_uscc"]

    def c(psn, ins, ym, flag):
        contrib.append(f"{psn},{ins},{ym},100.00,350.00,{flag},{'2026-01-10 10:00:00' if flag == '1' else ''}")

    def t(person, ins, ym, certno=None):
        tax.append(f"{certno or PERSONS[person][0]},{ins},{ym},450.00,2026-01-10,91610000MA0000000X")

    for ym in WINDOW:
        if ym == "202603":
            continue                                  # EMP: no assessment row at all -> owed
        c("N_EMP", "310", ym, "0" if ym in ("202605", "202607") else "1")
    c("N_EMP", "310", "202611", "0")                  # the reference month has not ended: never listed
    cert = PERSONS["EMP"][0]
    t("EMP", "310", "202605", certno=f"{cert[:6]} {cert[6:14]} {cert[14:]}")   # tax has it, number with spaces
    for ym in WINDOW:
        if "202604" <= ym <= "202610":
            c("N_FLEX", "310", ym, "1")
    c("N_REST", "390", "202601", "0")
    t("RES_TAX", "390", "202601")
    for ym in WINDOW[:-1]:
        c("N_TWO_B", "310", ym, "1")                  # booked under the person's other (terminated) psn_no
    for ym in WINDOW:
        c("N_NODATE", "310", ym, "0" if ym == "202511" else "1")
    for ym in WINDOW:                                 # EMP_PAID: half in the core system, half only at tax
        if ym < "202605":
            c("N_PAID", "310", ym, "1")
        else:
            t("EMP_PAID", "310", ym)
    # the duplicate-enrollment persons are paid up (so enrolled_unpaid stays about the persons above)
    for psn, person, ins, ptype, stas, *_ in ENROLLMENTS:
        if person.startswith(("DUP_", "ELSE_")) and stas == "1":
            if ins == "390":
                c(psn, "390", "202601", "1")
            else:
                for ym in WINDOW:
                    t(person, "310", ym)
    return contrib, tax


FEE = "feedetl_sn,setl_id,med_list_codg,med_chrgitm_type,list_name,cnt,pric,det_item_fee_sumamt,bilg_dr_codg,fee_ocur_time"
SETL = ("setl_id,mdtrt_id,psn_no,certno,insutype,med_type,fixmedins_code,atddr_no,begndate,enddate,setl_time,dise_codg,"
        "medfee_sumamt,fulamt_ownpay_amt,hifp_pay,acct_pay,psn_cash_pay,insu_admdvs,mdtrt_admdvs,refd_setl_flag")
ITEM = {"01": ("001109000010000", "床位费", 45.0), "02": ("001102000030000", "住院诊察费", 20.0),
        "03": ("002201000010000", "CT检查", 200.0), "04": ("002503000010000", "血常规", 30.0),
        "05": ("003100000010000", "静脉输液", 15.0), "06": ("003300000010000", "阑尾切除术", 1500.0),
        "07": ("001202000010000", "二级护理", 20.0), "09": ("XA01AA000000000", "阿莫西林", 12.0),
        "10": ("T00000000000001", "黄芪", 8.0), "11": ("ZA01AA000000000", "连花清瘟胶囊", 25.0)}

# settlements: setl_id, psn_no, med_type, begndate, enddate, {day: [charge types]}
STAYS = [
    # two idle days (09-03 with bed + nursing + ward round, 09-04 bed only) among treated days: a hit
    ("S00000001", "N_R1", "21", "2026-09-01", "2026-09-06",
     {"2026-09-01": ["01", "09"], "2026-09-02": ["01", "03"], "2026-09-03": ["01", "07", "02"],
      "2026-09-04": ["01"], "2026-09-05": ["01", "04"], "2026-09-06": ["01", "11"]}),
    # every day has care (each care type once); bed-only lines dated before and after the stay: no hit
    ("S00000002", "N_R2", "21", "2026-09-01", "2026-09-04",
     {"2026-08-29": ["01"], "2026-08-30": ["01"], "2026-09-01": ["01", "05"], "2026-09-02": ["01", "06", "08"],
      "2026-09-03": ["01", "10"], "2026-09-04": ["01", "09", "03"], "2026-09-05": ["01"], "2026-09-06": ["01"]}),
    # one idle day (09-02): below the default threshold of 2
    ("S00000003", "N_R3", "52", "2026-09-01", "2026-09-03",
     {"2026-09-01": ["01", "04"], "2026-09-02": ["01"], "2026-09-03": ["01", "09"]}),
    # an outpatient settlement with bed-only lines on two days: not an inpatient stay
    ("S00000004", "N_R4", "11", "2026-09-01", "2026-09-02", {"2026-09-01": ["01"], "2026-09-02": ["01"]}),
]


def _settlements() -> tuple[list[str], list[str]]:
    setl, fee = [SETL], [FEE]
    psn_person = dict(EXTRA_PSN)
    n = 0
    for sid, psn, med, b, e, days in STAYS:
        total = 0.0
        for day, types in sorted(days.items()):
            for k, ct in enumerate(types):
                n += 1
                code, name, price = ITEM.get(ct, ("C0000000000" + ct, "卫生材料", 5.0))
                total += price
                fee.append(f"F{n:08d},{sid},{code},{ct},{name},1,{price:.2f},{price:.2f},D001,{day} {9 + k:02d}:00:00")
        cert = PERSONS[psn_person[psn]][0]
        setl.append(f"{sid},M{sid[1:]},{psn},{cert},310,{med},H0001,D001,{b},{e},{e} 16:00:00,J18.9,{total:.2f},0,"
                    f"{total * 0.7:.2f},0,{total * 0.3:.2f},610102,610102,0")
    return setl, fee


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    from yibao.ingestion.ingest import ingest
    from yibao.transform import build

    root = tmp_path_factory.mktemp("definitions")
    settings = Settings(data_root=root, spark_remote="", reference_date=REF)
    landing, batch = settings.landing, "20261103-001"
    psn_of = {p: [] for p in PERSONS}
    for psn, person, *_ in ENROLLMENTS:
        psn_of[person].append(psn)
    for psn, person in EXTRA_PSN:
        psn_of[person].append(psn)
    info = ["psn_no,psn_name,gend,brdy,naty,psn_cert_type,certno,tel,surv_stas,hsreg_addr,hsreg_admdvs,resd_addr,"
            "resd_admdvs,hsreg_book_no"]
    police = ["certno,psn_name,gend,brdy,naty,hsreg_admdvs,hsreg_addr,hsreg_book_no,hsreg_stas,cancel_date"]
    for i, (person, (cert, name, adm, stas)) in enumerate(PERSONS.items()):
        police.append(f"{cert},{name},1,1980-01-01,01,{adm},某街道,BK{i:03d},{stas},"
                      f"{'2025-06-01' if stas != '1' else ''}")
        for psn in psn_of[person]:
            info.append(f"{psn},{name},1,1980-01-01,01,01,{cert},1390000{i:04d},1,某街道,{adm},某街道,{adm},BK{i:03d}")
    insu = ["psn_no,insutype,psn_type,psn_insu_stas,crt_insu_date,paus_insu_date,insu_admdvs,emp_no,emp_name"]
    for psn, _, ins, ptype, stas, crt, adm in ENROLLMENTS:
        insu.append(f"{psn},{ins},{ptype},{stas},{crt},{'2020-01-01' if stas == '4' else ''},{adm},"
                    f"{'E001,某公司' if ins == '310' else ','}")
    contrib, tax = _contrib_and_tax()
    setl, fee = _settlements()
    write_batch(landing, "medins", batch, {
        "psn_info": info, "psn_insu": insu, "contrib": contrib, "setl": setl, "fee_list": fee,
        "fixmedins": ["fixmedins_code,fixmedins_name,fixmedins_type,hosp_lv,admdvs", "H0001,某市人民医院,1,2,610102"]})
    write_batch(landing, "police", batch, {"hsreg_psn": police})
    write_batch(landing, "tax", batch, {"medins_clct": tax})
    write_batch(landing, "civil_affairs", batch, {"death_cremation": [
        "certno,psn_name,death_date,admdvs", f"{PERSONS['DEAD'][0]},甲六,2026-05-20,610102"]})
    write_batch(landing, "national", batch, {"insured_elsewhere": [
        "certno,insutype,insu_admdvs,psn_insu_stas",
        f"{PERSONS['DUP_CP'][0]},390,110105,1",
        f"{PERSONS['DUP_TWO'][0]},310,310115,1",
        f"{PERSONS['ELSE_STAS4'][0]},390,110105,4",
        f"{PERSONS['ELSE_LOCAL'][0]},390,610402,1"]})
    ingest(settings)
    build(settings)   # dbt build: models and every data test, including the definition tests in dbt_project/tests
    return settings


def _df(settings: Settings, sql: str) -> pd.DataFrame:
    from yibao.engine import spark_session
    from yibao.transform.runner import sync_catalog

    spark = spark_session(settings)
    sync_catalog(spark, settings)
    return spark.sql(sql).toPandas()


@pytest.fixture(scope="module")
def pid(warehouse) -> dict[str, str]:
    pm = _df(warehouse, "select person_id, certno from gold.person_master")
    by_cert = dict(zip(pm.certno, pm.person_id))
    return {k: by_cert[v[0]] for k, v in PERSONS.items()}


# -- enrolled_unpaid -----------------------------------------------------------------------------------------

def test_enrolled_unpaid_lists_exactly_the_owed_periods(warehouse, pid):
    eu = _df(warehouse, "select * from gold.enrolled_unpaid")
    person = {v: k for k, v in pid.items()}
    got = {person.get(r.person_id, r.person_id): (r.insutype, r.accrym_missing, r.accrym_not_assessed)
           for r in eu.itertuples()}
    assert len(eu) == len(got)                       # one row per person x insutype (each has one insutype here)
    assert got == EXPECTED_UNPAID
    row = eu.set_index("person_id").loc[pid["EMP"]]
    assert row.months_missing == 2 and row.insu_admdvs == "610102"
    assert eu.set_index("person_id").loc[pid["TWO_PSN"]].psn_nos == "N_TWO_A"


@pytest.mark.parametrize("who", NOT_UNPAID)
def test_enrolled_unpaid_leaves_out(warehouse, pid, who):
    """Retiree, 390 paid by tax only, deceased, enrolled in the reference month, moved out, fully paid."""
    eu = _df(warehouse, "select person_id from gold.enrolled_unpaid")
    assert pid[who] not in set(eu.person_id)


def test_contrib_reconciliation_names_each_side(warehouse, pid):
    """The same periods seen from the reconciliation: no row at all and nothing at tax is NOT_ASSESSED (an owed
    period, D7), clct_flag 0 with a tax collection COLLECTED_NOT_RECORDED, clct_flag 0 alone
    ASSESSED_NOT_COLLECTED, a tax collection without any assessment row COLLECTED_NOT_ASSESSED."""
    cr = _df(warehouse, "select person_id, insutype, accrym, status from gold.contrib_reconciliation")
    st = {(r.person_id, r.accrym): r.status for r in cr.itertuples()}
    emp, paid = pid["EMP"], pid["EMP_PAID"]
    assert st[(emp, "202603")] == "NOT_ASSESSED"
    assert st[(emp, "202605")] == "COLLECTED_NOT_RECORDED"
    assert st[(emp, "202607")] == "ASSESSED_NOT_COLLECTED"
    assert st[(emp, "202604")] == "RECORDED_NOT_COLLECTED"      # booked as received, tax has nothing
    assert st[(paid, "202606")] == "COLLECTED_NOT_ASSESSED"
    assert st[(pid["RES_UNPAID"], "202601")] == "NOT_ASSESSED"
    assert st[(pid["RES_TAX"], "202601")] == "COLLECTED_NOT_RECORDED"
    # NOT_ASSESSED comes from the owed periods only: a retiree's or a deceased person's empty months are not listed
    assert not {pid["RETIREE"], pid["DEAD"]} & set(cr.person_id)


# -- duplicate_enrollment -------------------------------------------------------------------------------------

def test_duplicate_enrollment_kinds(warehouse, pid):
    de = _df(warehouse, "select * from gold.duplicate_enrollment")
    person = {v: k for k, v in pid.items()}
    got = {(person[r.person_id], r.kind): (r.insutypes, r.insu_admdvs_list) for r in de.itertuples()}
    assert got == {
        ("DUP_ER", "EMP_RESIDENT"): ("310,390", "610102,610103"),
        ("DUP_MR", "MULTI_REGION"): ("390", "610102,610202"),
        ("DUP_CP", "CROSS_PROVINCE"): ("390", "110105,610102"),
        ("DUP_TWO", "EMP_RESIDENT"): ("310,390", "610102,610103"),       # one person, two kinds: two rows
        ("DUP_TWO", "CROSS_PROVINCE"): ("310,390", "310115,610102,610103"),
    }
    rows = de.set_index(["person_id", "kind"])
    cp = rows.loc[(pid["DUP_TWO"], "CROSS_PROVINCE")]
    assert cp.local_admdvs_list == "610102,610103" and cp.elsewhere_admdvs_list == "310115"
    assert rows.loc[(pid["DUP_ER"], "EMP_RESIDENT")].elsewhere_admdvs_list is None
    # not duplicates: elsewhere terminated, elsewhere inside the province, 390 terminated
    assert not {pid["ELSE_STAS4"], pid["ELSE_LOCAL"], pid["DUP_TERM"]} & set(de.person_id)


# -- R07_IDLE_BED --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fraud_views(warehouse):
    """The fraud rules' temp views (fr_setl, fr_fee, ...) over this warehouse, built once."""
    from yibao.catalog import Catalog
    from yibao.engine import spark_session
    from yibao.fraud.config import load_config
    from yibao.fraud.rules import prepare_views

    spark = spark_session(warehouse)
    prepare_views(spark, Catalog(spark, warehouse), load_config())
    return spark


def _r07(spark, **params) -> pd.DataFrame:
    from yibao.fraud.config import load_config
    from yibao.fraud.rules import r07_idle_bed

    cfg = load_config()
    cfg["rules"] = {**cfg["rules"], "R07_IDLE_BED": {**cfg["rules"]["R07_IDLE_BED"], **params}}
    return r07_idle_bed(spark, cfg).toPandas()


def test_r07_idle_days_inside_a_stay(fraud_views, pid):
    hits = _r07(fraud_views)
    assert hits.person_id.tolist() == [pid["R07_IDLE"]]
    h = hits.iloc[0]
    assert list(h.setl_ids) == ["S00000001"]
    assert "2026-09-03、2026-09-04" in h.evidence and "空床日 2 天" in h.evidence
    assert str(h.event_date) == "2026-09-03"
    # the idle days' charges: bed 45 + nursing 20 + ward round 20 on 09-03, bed 45 on 09-04
    assert h.amount == pytest.approx(130.0)


def test_r07_threshold_is_configuration(fraud_views, pid):
    one = _r07(fraud_views, min_idle_days=1)
    assert set(one.person_id) == {pid["R07_IDLE"], pid["R07_ONE"]}      # 52 生育住院 is inpatient too
    assert "2026-09-02" in one.set_index("person_id").loc[pid["R07_ONE"]].evidence
    assert _r07(fraud_views, min_idle_days=3).empty
    # nursing counted as care: 09-03 of S00000001 is no longer idle
    assert _r07(fraud_views, care_charge_types=["03", "04", "05", "06", "07", "09", "10", "11"]).empty
