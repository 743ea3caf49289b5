"""Practitioner payment-qualification points (医保支付资格记分) and institution credit ratings (yibao.fraud.standing).

Pure tests of the arithmetic on hand-built rows (cap, thresholds, warning band, one event per settlement, a known
grade), then one generated province end to end: the published points are recomputed here from audit_result and the
settlements, a reviewer's confirmation pushes a practitioner over the suspension threshold, and a dismissal lifts
an institution's R09 deduction.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pytest

from yibao.config import Settings

PERSONS = 3_000
SEED = 7


# ------------------------------------------------------------------------------------------ pure tests
def _cfg(**credit) -> dict:
    """A configuration with fixed values, so the expected figures below are the test's own."""
    return {
        "rules": {"R01_AFTER_DEATH": {"name": "死亡后就医"}, "R02_SPLIT_ADMISSION": {"name": "分解住院"},
                  "R06_DUP_CHARGE": {"name": "重复收费"}},
        "review": {"positive_status": "已确认", "negative_status": "已排除"},
        "practitioner_score": {
            "responsible": ["atddr_no"], "year_basis": "settlement", "cap": 12, "warning": 6, "suspend": 9,
            "terminate": 12, "suspension_months": [[9, 1], [10, 3], [11, 6]], "max_reasons": 2,
            "points": {"R01_AFTER_DEATH": 10, "R02_SPLIT_ADMISSION": 6, "R06_DUP_CHARGE": 4, "OTHER": 2}},
        "credit": {"pseudo_settlements": credit.get("pseudo_settlements", 100),
                   "pseudo_audits": credit.get("pseudo_audits", 5),
                   "weights": {"violation_rate": 20, "deduction_ratio": 25, "audit_violation_share": 20,
                               "warning_rate": 15, "provider_outlier": 20},
                   "full": {"violation_rate": 0.02, "deduction_ratio": 0.05, "audit_violation_share": 0.5,
                            "warning_rate": 0.05},
                   "grades": {"A": 90, "B": 75, "C": 60}},
    }


def _event(setl_id, code, source, confirmed, setl_day, doctor, inst="H1"):
    return {"setl_id": setl_id, "code": code, "source": source, "confirmed_date": pd.Timestamp(confirmed),
            "confirmed_year": pd.Timestamp(confirmed).year, "setl_date": pd.Timestamp(setl_day),
            "setl_year": pd.Timestamp(setl_day).year, "fixmedins_code": inst, "atddr_no": doctor}


def _scores(events: list[dict], cfg: dict, base: pd.DataFrame | None = None) -> pd.DataFrame:
    from yibao.fraud import standing

    pc = cfg["practitioner_score"]
    e = standing.dedup_events(pd.DataFrame(events), cfg)
    pts = standing.practitioner_points(standing.practitioner_events(e, None, pc), cfg, {"R02_SPLIT_ADMISSION": "分解住院"})
    if base is None:
        base = pd.DataFrame(columns=["year", "prac_code", "main_fixmedins_code", "n_settlements"])
    reg = pd.DataFrame(columns=["prac_code", "prac_name", "prac_type", "fixmedins_code", "prac_type_name"])
    return standing.practitioner_table(base, pts, reg, cfg).set_index(["year", "prac_code"])


def test_status_thresholds_and_warning_band():
    from yibao.fraud.standing import next_threshold, status_of, suspension_months

    pc = _cfg()["practitioner_score"]
    got = {p: status_of(p, pc) for p in (0, 5, 6, 8, 9, 11, 12)}
    assert got == {0: "正常", 5: "正常", 6: "预警", 8: "预警", 9: "暂停支付资格", 11: "暂停支付资格", 12: "终止支付资格"}
    assert [next_threshold(p, pc) for p in (0, 8, 9, 11, 12)] == [9, 9, 12, 12, None]
    assert [suspension_months(p, pc) for p in (8, 9, 10, 11, 12)] == [None, 1, 3, 6, None]


def test_points_add_up_per_year_and_are_capped_at_12():
    cfg = _cfg()
    t = _scores([_event("S1", "R02_SPLIT_ADMISSION", "稽核", "2026-03-01", "2026-01-10", "D1"),
                 _event("S2", "R02_SPLIT_ADMISSION", "稽核", "2026-04-01", "2026-02-10", "D1"),
                 _event("S3", "R06_DUP_CHARGE", "稽核", "2026-05-01", "2026-03-10", "D1"),
                 _event("S4", "R06_DUP_CHARGE", "稽核", "2026-05-01", "2026-03-11", "D2"),
                 _event("S5", "R06_DUP_CHARGE", "稽核", "2026-02-01", "2025-12-30", "D2"),   # 2025: cleared on 1 January
                 _event("S6", "OTHER", "稽核", "2026-05-01", "2026-04-01", "D3"),
                 _event("S7", "R06_DUP_CHARGE", "稽核", "2026-06-01", "2026-04-02", "D3")], cfg)
    d1 = t.loc[(2026, "D1")]
    assert (d1.raw_points, d1.points, d1.violations, d1.status) == (16, 12, 3, "终止支付资格")
    assert pd.isna(d1.next_threshold) and pd.isna(d1.points_to_next)
    # reasons: the violations by settlement date with their points (max_reasons = 2, the rest counted), and the cap
    assert d1.reasons.startswith("2026-01-10 结算S1 分解住院 记6分（稽核确认 2026-03-01）；2026-02-10 结算S2")
    assert "等 3 项" in d1.reasons and "合计 16 分，按年度上限记 12 分" in d1.reasons
    assert t.loc[(2026, "D2")].points == 4 and t.loc[(2025, "D2")].points == 4
    assert (t.loc[(2026, "D2")].status, t.loc[(2026, "D2")].next_threshold, t.loc[(2026, "D2")].points_to_next) == ("正常", 9, 5)
    d3 = t.loc[(2026, "D3")]
    assert (d3.points, d3.status, d3.points_to_next) == (6, "预警", 3)


def test_one_event_per_settlement_the_higher_points_win():
    cfg = _cfg()
    # S1: audited as duplicate charge (4) and confirmed by a reviewer as after-death (10): one event of 10 points
    # S2: audited after-death (10) and reviewed as OTHER (2): the audit's 10; S3 audited and reviewed alike: once
    t = _scores([_event("S1", "R06_DUP_CHARGE", "稽核", "2026-03-01", "2026-01-10", "D1"),
                 _event("S1", "R01_AFTER_DEATH", "复核", "2026-06-01", "2026-01-10", "D1"),
                 _event("S2", "R01_AFTER_DEATH", "稽核", "2026-03-01", "2026-01-11", "D2"),
                 _event("S2", "OTHER", "复核", "2026-06-01", "2026-01-11", "D2"),
                 _event("S3", "R06_DUP_CHARGE", "复核", "2026-06-01", "2026-01-12", "D3"),
                 _event("S3", "R06_DUP_CHARGE", "稽核", "2026-03-01", "2026-01-12", "D3")], cfg)
    assert (t.loc[(2026, "D1")].points, t.loc[(2026, "D1")].violations, t.loc[(2026, "D1")].status) == (10, 1, "暂停支付资格")
    assert "复核确认" in t.loc[(2026, "D1")].reasons and "重复收费" not in t.loc[(2026, "D1")].reasons
    assert (t.loc[(2026, "D2")].points, t.loc[(2026, "D2")].violations) == (10, 1)
    assert (t.loc[(2026, "D3")].points, t.loc[(2026, "D3")].violations) == (4, 1)
    assert "稽核确认" in t.loc[(2026, "D3")].reasons      # a tie: the audit's conclusion is the one shown


def test_year_basis_and_practitioners_without_violations():
    cfg = _cfg()
    base = pd.DataFrame({"year": [2025, 2026], "prac_code": ["D9", "D9"], "main_fixmedins_code": ["H9", "H9"],
                         "n_settlements": [30, 40]})
    ev = [_event("S1", "R02_SPLIT_ADMISSION", "稽核", "2026-02-01", "2025-12-20", "D1"),
          _event("S2", "R01_AFTER_DEATH", "稽核", "2026-02-01", "2025-12-21", "D1")]
    by_settlement = _scores(ev, cfg, base)
    assert by_settlement.loc[(2025, "D1")].points == 12 and (2026, "D1") not in by_settlement.index
    row = by_settlement.loc[(2026, "D9")]
    assert (row.points, row.violations, row.status, row.reasons, row.fixmedins_code) == (0, 0, "正常", "无确认违规", "H9")
    cfg["practitioner_score"]["year_basis"] = "confirmation"
    assert _scores(ev, cfg, base).loc[(2026, "D1")].points == 12


def test_billing_doctors_answer_once_per_settlement_when_configured():
    from yibao.fraud import standing

    cfg = _cfg()
    e = standing.dedup_events(pd.DataFrame([_event("S1", "R02_SPLIT_ADMISSION", "稽核", "2026-03-01", "2026-01-10", "D1"),
                                            _event("S2", "R06_DUP_CHARGE", "稽核", "2026-03-01", "2026-01-11", "D2")]), cfg)
    billing = pd.DataFrame({"setl_id": ["S1", "S1", "S2"], "prac_code": ["D1", "D5", "D5"]})
    only_attending = standing.practitioner_events(e, billing, cfg["practitioner_score"])      # responsible: atddr_no
    assert sorted(zip(only_attending.prac_code, only_attending.setl_id)) == [("D1", "S1"), ("D2", "S2")]
    both = standing.practitioner_events(e, billing, {**cfg["practitioner_score"], "responsible": ["atddr_no", "bilg_dr_codg"]})
    assert sorted(zip(both.prac_code, both.setl_id)) == [("D1", "S1"), ("D2", "S2"), ("D5", "S1"), ("D5", "S2")]
    pts = standing.practitioner_points(both, cfg).set_index("prac_code")
    assert (pts.loc["D1"].raw_points, pts.loc["D5"].raw_points, pts.loc["D5"].violations) == (6, 10, 2)


def test_review_events_take_the_code_of_the_hit_naming_the_settlement():
    from yibao.fraud.standing import review_events

    reviews = pd.DataFrame({"suspect_id": ["A", "B", "C"], "status": ["已确认", "已排除", "核查中"],
                            "subject_type": "person", "updated_at": [datetime(2026, 6, 1, 9)] * 3})
    sus = pd.DataFrame({"suspect_id": ["A", "B", "C"], "subject_type": "person", "subject_id": ["p1", "p2", "p3"],
                        "setl_ids": [["S1", "S2", "S3"], ["S4"], ["S5"]]})
    hits = pd.DataFrame({"suspect_id": ["A", "A", "B"], "rule_code": ["R02_SPLIT_ADMISSION", "R06_DUP_CHARGE", "R01_AFTER_DEATH"],
                         "subject_type": "person", "subject_id": ["p1", "p1", "p2"], "fixmedins_code": "H1",
                         "setl_ids": [["S1", "S2"], ["S2"], ["S4"]]})
    got = review_events(reviews, sus, hits, _cfg())
    assert sorted(zip(got.setl_id, got.code)) == [("S1", "R02_SPLIT_ADMISSION"), ("S2", "R02_SPLIT_ADMISSION"),
                                                  ("S2", "R06_DUP_CHARGE"), ("S3", "OTHER")]
    assert set(got.confirmed_date) == {date(2026, 6, 1)}


def _inst(**kw) -> dict:
    row = {"year": 2026, "fixmedins_code": "H1", "fixmedins_name": "某医院", "n_settlements": 1000,
           "fund_income": 1_000_000.0, "n_audited": 20, "n_audit_violations": 5, "deduct_amt": 10_000.0,
           "n_violations": 5, "n_warning_settlements": 30, "r09_hit": True, "r09_confirmed": False}
    row.update(kw)
    return row


def test_credit_a_known_history_gives_a_known_grade():
    from yibao.fraud.standing import credit_scores

    clean = _inst(fixmedins_code="H0", n_audited=8, n_audit_violations=0, deduct_amt=0.0, n_violations=0,
                  n_warning_settlements=0, r09_hit=False)
    t = credit_scores(pd.DataFrame([_inst(), clean]), _cfg()).set_index("fixmedins_code")
    h1 = t.loc["H1"]
    # 5/(1000+100)/0.02 × 20 = 4.55; 1% / 5% × 25 = 5; 5/(20+5)/0.5 × 20 = 8; 30/1100/0.05 × 15 = 8.18; R09 20
    assert (h1.d_violation, h1.d_deduction, h1.d_audit, h1.d_warning, h1.d_outlier) == (4.55, 5.0, 8.0, 8.18, 20.0)
    assert (h1.score, h1.grade) == (54.3, "D")
    assert h1.reasons.startswith("机构异常（R09）") and "稽核扣款 10,000.00 元，占基金收入 1.00%，扣 5.0 分" in h1.reasons
    assert "抽查结算 20 笔中违规 5 笔（25.0%），扣 8.0 分" in h1.reasons
    assert (t.loc["H0"].score, t.loc["H0"].grade, t.loc["H0"].reasons) == (100.0, "A", "无负面记录")
    # without R09 the same history is 74.3: C; grade floors are inclusive
    assert credit_scores(pd.DataFrame([_inst(r09_hit=False)]), _cfg()).grade[0] == "C"
    from yibao.fraud.standing import grade_of

    assert [grade_of(s, _cfg()["credit"]) for s in (100, 90, 89.9, 75, 60, 59.9, 0)] == ["A", "A", "B", "B", "C", "D", "D"]


def test_credit_is_a_rate_not_a_count():
    """An institution ten times larger with ten times the findings keeps its score; a clinic with one audit that
    found one violation does not lose the whole audit weight."""
    from yibao.fraud.standing import credit_scores

    big = _inst(fixmedins_code="BIG", n_settlements=10_000, fund_income=1e7, n_audited=200, n_audit_violations=50,
                deduct_amt=1e5, n_violations=50, n_warning_settlements=300)
    cfg = _cfg(pseudo_settlements=0, pseudo_audits=0)
    t = credit_scores(pd.DataFrame([_inst(), big]), cfg).set_index("fixmedins_code")
    assert t.loc["H1"].score == t.loc["BIG"].score
    tiny = _inst(fixmedins_code="T", n_settlements=20, fund_income=2000.0, n_audited=1, n_audit_violations=1,
                 deduct_amt=0.0, n_violations=1, n_warning_settlements=0, r09_hit=False)
    row = credit_scores(pd.DataFrame([tiny]), _cfg()).iloc[0]
    assert 0 < row.d_audit < 20 and row.d_audit == round(20 * (1 / 6) / 0.5, 2)


def test_dismissed_r09_is_no_warning_and_a_confirmed_institution_is_flagged_on_its_latest_year():
    from yibao.fraud.standing import institution_flags, institution_inputs, warning_settlements

    hits = pd.DataFrame({"suspect_id": ["I1", "I2", "P1", "P2"],
                         "rule_code": ["R09_PROVIDER_OUTLIER", "R09_PROVIDER_OUTLIER", "R05_HIGH_FREQUENCY", "R02_SPLIT_ADMISSION"],
                         "subject_type": ["institution", "institution", "person", "person"],
                         "subject_id": ["H1", "H2", "p1", "p2"], "fixmedins_code": ["H1", "H2", "H1", "H1"],
                         "setl_ids": [[], [], ["S1", "S2"], ["S3"]]})
    reviews = pd.DataFrame({"suspect_id": ["I1", "I3", "P2"], "status": ["已排除", "已确认", "已排除"],
                            "subject_type": ["institution", "institution", "person"], "subject_id": ["H1", "H3", "p2"]})
    cfg = _cfg()
    assert warning_settlements(reviews, hits, cfg) == ["S1", "S2"]
    flags = institution_flags(reviews, hits, cfg).set_index("fixmedins_code")
    assert "H1" not in flags.index and bool(flags.loc["H2"].r09_hit) and not flags.loc["H2"].r09_confirmed
    assert bool(flags.loc["H3"].r09_hit) and bool(flags.loc["H3"].r09_confirmed)
    base = pd.DataFrame({"year": [2025, 2026, 2026], "fixmedins_code": ["H3", "H3", "H2"], "fixmedins_name": "x",
                         "n_settlements": 10, "fund_income": 1.0, "n_audited": 0, "n_audit_violations": 0,
                         "deduct_amt": 0.0})
    warned = pd.DataFrame({"year": [2026], "fixmedins_code": ["H2"], "n_warning_settlements": [2]})
    t = institution_inputs(base, pd.DataFrame(columns=["setl_year", "fixmedins_code"]), warned,
                           flags.reset_index()).set_index(["year", "fixmedins_code"])
    assert not t.loc[(2025, "H3")].r09_hit and t.loc[(2026, "H3")].r09_confirmed
    assert t.loc[(2026, "H2")].n_warning_settlements == 2 and t.loc[(2025, "H3")].n_violations == 0


def test_configured_points_and_weights_are_coherent():
    from yibao.fraud.config import RULE_CODES, load_config

    cfg = load_config()
    pc, cc = cfg["practitioner_score"], cfg["credit"]
    assert set(RULE_CODES) | {"OTHER"} <= set(pc["points"]) and all(1 <= v <= 12 for v in pc["points"].values())
    assert 0 < pc["warning"] < pc["suspend"] < pc["terminate"] <= pc["cap"]
    assert sum(cc["weights"].values()) == 100 and cc["grades"]["A"] > cc["grades"]["B"] > cc["grades"]["C"]


# ------------------------------------------------------------------------------------------ end to end
@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A generated province through ingestion, dbt and run_fraud, then compute_standing; the published tables
    before any review (later tests review suspects)."""
    from yibao.catalog import Catalog
    from yibao.engine import spark_session
    from yibao.fraud import load_config, run_fraud
    from yibao.fraud.standing import compute_standing
    from yibao.ingestion.ingest import ingest
    from yibao.synthetic.generate import generate
    from yibao.transform import build

    root = tmp_path_factory.mktemp("standing")
    settings = Settings(data_root=root, spark_remote="")
    generate(settings.landing, persons=PERSONS, seed=SEED)
    ingest(settings)
    build(settings)
    run_fraud(settings)
    spark = spark_session(settings)
    cat = Catalog(spark, settings)
    summary = compute_standing(spark, cat, load_config())
    return {"settings": settings, "cat": cat, "summary": summary, "cfg": load_config(),
            "prac": cat.read("gold", "practitioner_score").toPandas(),
            "credit": cat.read("gold", "institution_credit").toPandas(),
            "setl": cat.read("silver", "stg_medins__setl").toPandas(),
            "audit": cat.read("silver", "stg_medins__audit_result").toPandas()}


def _counted(setl: pd.DataFrame) -> pd.DataFrame:
    """Counted settlements with their year: setl_time's date, else enddate, else begndate."""
    s = setl[setl.refd_setl_flag.fillna("0") != "1"].copy()
    day = (pd.to_datetime(s.setl_time).dt.normalize().fillna(pd.to_datetime(s.enddate, errors="coerce"))
           .fillna(pd.to_datetime(s.begndate, errors="coerce")))
    return s.assign(year=day.dt.year)


def _expected_points(setl: pd.DataFrame, audit: pd.DataFrame, cfg: dict) -> pd.DataFrame:
    """Per year and attending doctor, from the audits alone: (raw points, violations), computed here."""
    pts = cfg["practitioner_score"]["points"]
    a = audit[audit.violation_code.notna()].merge(_counted(setl)[["setl_id", "atddr_no", "year"]], on="setl_id")
    a = a.dropna(subset=["atddr_no", "year"])
    a["p"] = [pts.get(c, pts["OTHER"]) for c in a.violation_code]
    return a.groupby(["year", "atddr_no"]).agg(raw=("p", "sum"), n=("p", "size"))


def test_points_recomputed_from_the_audits(world):
    cfg, prac = world["cfg"], world["prac"].set_index(["year", "prac_code"])
    pc = cfg["practitioner_score"]
    exp = _expected_points(world["setl"], world["audit"], cfg)
    print("standing", world["summary"])
    assert len(exp) >= 10 and prac.index.is_unique
    for (year, doc), r in exp.iterrows():
        got = prac.loc[(int(year), doc)]
        assert (got.raw_points, got.violations, got.points) == (r.raw, r.n, min(r.raw, pc["cap"])), (year, doc)
    others = prac.drop(index=[(int(y), d) for y, d in exp.index])
    assert (others.points == 0).all() and (others.status == "正常").all() and (others.reasons == "无确认违规").all()
    # every attending doctor of a counted settlement has a row for that year, with the settlements counted
    n = _counted(world["setl"]).dropna(subset=["atddr_no"]).groupby(["year", "atddr_no"]).size()
    assert len(prac) == len(n) and all(prac.loc[(int(y), d)].n_settlements == v for (y, d), v in n.items())
    # the province plants enough violations for thresholds to be reached, and every status follows its points
    assert (prac.points >= pc["suspend"]).any() and (prac.status == "预警").any()
    assert prac.points.max() <= pc["cap"] and (prac.raw_points > pc["cap"]).any()
    top = prac[prac.raw_points > pc["cap"]].iloc[0]
    assert top.status == "终止支付资格" and f"合计 {top.raw_points} 分" in top.reasons
    assert set(prac.prac_type_name.dropna()) <= {"医师", "护士", "药师", "技师"} and prac.prac_type_name.notna().all()
    assert world["summary"]["by_status"] == prac.status.value_counts().to_dict()


def test_fee_line_doctors_add_no_double_count(world):
    """With the fee lines' billing doctors answering too: the generated fee lines are billed by the settlement's
    attending doctor, so every practitioner keeps the same points (one event per practitioner and settlement)."""
    from yibao.engine import spark_session
    from yibao.fraud.standing import compute_standing

    settings, cat, cfg = world["settings"], world["cat"], world["cfg"]
    fee = cat.read("silver", "stg_medins__fee_list").select("setl_id", "bilg_dr_codg").toPandas()
    same = fee.merge(world["setl"][["setl_id", "atddr_no"]], on="setl_id")
    assert (same.bilg_dr_codg == same.atddr_no).all()
    both = {**cfg, "practitioner_score": {**cfg["practitioner_score"], "responsible": ["atddr_no", "bilg_dr_codg"]}}
    try:
        compute_standing(spark_session(settings), cat, both)
        got = cat.read("gold", "practitioner_score").toPandas().set_index(["year", "prac_code"]).sort_index()
    finally:
        compute_standing(spark_session(settings), cat, cfg)
    old = world["prac"].set_index(["year", "prac_code"]).sort_index()
    assert got.index.equals(old.index)
    assert (got.points == old.points).all() and (got.violations == old.violations).all()


def test_credit_components_recomputed_from_the_settlements_and_audits(world):
    cfg, credit = world["cfg"], world["credit"].set_index(["year", "fixmedins_code"])
    s = _counted(world["setl"])
    a = world["audit"].merge(s[["setl_id", "fixmedins_code", "year"]], on="setl_id")
    a["deduct"] = pd.to_numeric(a.deduct_amt)
    fund = pd.to_numeric(s.hifp_pay).fillna(0) + pd.to_numeric(s.acct_pay).fillna(0)
    by = s.assign(fund=fund).groupby(["year", "fixmedins_code"]).agg(n=("setl_id", "size"), fund=("fund", "sum"))
    aud = a.groupby(["year", "fixmedins_code"]).agg(n_aud=("setl_id", "size"), n_viol=("violation_code", "count"),
                                                     deduct=("deduct", "sum"))
    assert len(credit) == len(by)
    for key, r in by.join(aud).fillna(0).iterrows():
        got = credit.loc[(int(key[0]), key[1])]
        assert got.n_settlements == r.n and got.fund_income == pytest.approx(r.fund, abs=0.01)
        assert (got.n_audited, got.n_audit_violations) == (r.n_aud, r.n_viol) and got.deduct_amt == pytest.approx(r.deduct, abs=0.01)
        assert got.n_violations >= got.n_audit_violations       # audits are confirmed violations; no review yet
    assert credit.score.between(0, 100).all()
    clean = credit[(credit.n_violations == 0) & (credit.n_warning_settlements == 0) & ~credit.r09_hit & (credit.deduct_amt == 0)]
    assert len(clean) and (clean.score == 100).all() and (clean.grade == "A").all() and (clean.reasons == "无负面记录").all()
    floors = cfg["credit"]["grades"]
    expect = ["A" if x >= floors["A"] else "B" if x >= floors["B"] else "C" if x >= floors["C"] else "D" for x in credit.score]
    assert list(credit.grade) == expect and credit.grade.nunique() >= 3
    flagged = credit[credit.r09_hit]
    assert len(flagged) and all("机构异常（R09）" in t for t in flagged.reasons)
    assert world["summary"]["by_grade"] == credit.grade.value_counts().to_dict()


def _pending_push(world) -> tuple[str, str, int, int]:
    """A pending person suspect whose confirmation takes a practitioner from below the suspension threshold to it
    or above, worked out here from the suspect's hits: (suspect_id, practitioner, year, expected points)."""
    cat, cfg = world["cat"], world["cfg"]
    pc = cfg["practitioner_score"]
    pts = pc["points"]
    sus = cat.read("gold", "fraud_suspect").toPandas()
    hits = cat.read("gold", "fraud_rule_hit").toPandas()
    s = _counted(world["setl"]).set_index("setl_id")
    audited = world["audit"].dropna(subset=["violation_code"]).set_index("setl_id").violation_code
    current = world["prac"].set_index(["year", "prac_code"])
    for r in sus[(sus.subject_type == "person") & (sus.status == "待核查")].sort_values("rank").itertuples():
        h = hits[hits.suspect_id == r.suspect_id].explode("setl_ids")
        best = h.groupby("setl_ids").rule_code.agg(lambda c: max(pts.get(x, pts["OTHER"]) for x in c))
        extra: dict = {}
        for setl_id in r.setl_ids:
            if setl_id not in s.index or pd.isna(s.atddr_no[setl_id]):
                continue
            p = int(best.get(setl_id, pts["OTHER"]))
            old = pts.get(audited[setl_id], pts["OTHER"]) if setl_id in audited.index else 0
            key = (int(s.year[setl_id]), s.atddr_no[setl_id])
            extra[key] = extra.get(key, 0) + max(p - old, 0)
        for key, add in extra.items():
            before = current.loc[key]
            if before.raw_points < pc["suspend"] <= before.raw_points + add:
                return r.suspect_id, key[1], key[0], min(int(before.raw_points + add), pc["cap"])
    pytest.fail("no pending suspect would push a practitioner over the suspension threshold")


def test_a_confirmed_suspect_pushes_a_practitioner_over_the_threshold(world):
    from yibao.engine import spark_session
    from yibao.fraud.standing import compute_standing
    from yibao.fraud.suspects import review

    settings, cat, cfg = world["settings"], world["cat"], world["cfg"]
    sid, doc, year, expected = _pending_push(world)
    before = world["prac"].set_index(["year", "prac_code"]).loc[(year, doc)]
    review(settings, sid, "核查中", "张三", "调取病历")
    review(settings, sid, "已确认", "张三", "病历与结算不符")
    compute_standing(spark_session(settings), cat, cfg)
    after = cat.read("gold", "practitioner_score").toPandas().set_index(["year", "prac_code"]).loc[(year, doc)]
    print(f"{doc} {year}: {before.points} {before.status} -> {after.points} {after.status}; {after.reasons}")
    assert after.points == expected and after.points >= cfg["practitioner_score"]["suspend"]
    assert before.status in ("正常", "预警") and after.status in ("暂停支付资格", "终止支付资格")
    assert "复核确认" in after.reasons
    # the suspect's settlements now count as violations of their institutions, once each
    credit = cat.read("gold", "institution_credit").toPandas().set_index(["year", "fixmedins_code"])
    old = world["credit"].set_index(["year", "fixmedins_code"])
    assert (credit.n_violations >= old.n_violations).all() and (credit.n_violations > old.n_violations).any()
    assert (credit.score <= old.score).all()


def test_a_dismissed_r09_suspect_lifts_the_outlier_deduction(world):
    from yibao.engine import spark_session
    from yibao.fraud.standing import compute_standing
    from yibao.fraud.suspects import review

    settings, cat, cfg = world["settings"], world["cat"], world["cfg"]
    sus = cat.read("gold", "fraud_suspect").toPandas()
    inst = sus[(sus.subject_type == "institution") & sus.rule_codes.str.contains("R09") & (sus.status == "待核查")]
    assert len(inst)
    code, sid = inst.subject_id.iloc[0], inst.suspect_id.iloc[0]
    old = cat.read("gold", "institution_credit").toPandas()
    row = old[(old.fixmedins_code == code) & old.r09_hit]
    assert len(row) == 1
    review(settings, sid, "核查中", "李四")
    review(settings, sid, "已排除", "李四", "费用结构与收治病种相符")
    compute_standing(spark_session(settings), cat, cfg)
    new = cat.read("gold", "institution_credit").toPandas().set_index(["year", "fixmedins_code"])
    got = new.loc[(int(row.year.iloc[0]), code)]
    assert not got.r09_hit and got.d_outlier == 0
    assert got.score == pytest.approx(min(100.0, row.score.iloc[0] + cfg["credit"]["weights"]["provider_outlier"]), abs=0.11)
    assert "R09" not in got.reasons
