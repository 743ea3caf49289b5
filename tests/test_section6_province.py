"""Contract section 6 end to end: a generated province delivering the version-2 tables, the whole pipeline, and
the answers the generator planted (its truth files) found in the gold tables and on the suspect list.

The generator plants upcoding cases (a high-weight DRG group on a short, cheap stay, with decoys that are only
cheap), fee lines above the 医保目录's price ceiling, institutions purchasing far less of their 集采 items than
agreed, reconciliation differences on both sides (settlements vs fund payments, fund payments vs the bank
account) and manual assistance payments duplicating one-stop ones.  Each must be found with precision and
recall of at least 0.95 (the issue's bar); the fraud rules R10 (高套分组) and R11 (超限价收费) must list exactly the
institutions the marts point at, and R12 (丙类纳入基金支付) the settlements of the institutions planted to bill
丙类 items to the fund.
"""

from __future__ import annotations

import pandas as pd
import pytest

from yibao.config import Settings

PERSONS = 2_000
SEED = 23
BAR = 0.95


@pytest.fixture(scope="module")
def province(tmp_path_factory):
    from yibao.orchestration.pipeline import run_pipeline
    from yibao.synthetic.generate import generate

    settings = Settings(data_root=tmp_path_factory.mktemp("section6"), spark_remote="")
    generate(settings.landing, persons=PERSONS, seed=SEED)
    summary = run_pipeline(settings, serve=False)
    return settings, summary


def _truth(settings: Settings, name: str) -> pd.DataFrame:
    return pd.read_parquet(settings.landing / "_truth" / f"{name}.parquet")


def _read(settings: Settings, schema: str, table: str) -> pd.DataFrame:
    from yibao.catalog import Catalog
    from yibao.engine import spark_session

    return Catalog(spark_session(settings), settings).read(schema, table).toPandas()


def _precision_recall(found: set, planted: set) -> tuple[float, float]:
    assert planted, "the generator planted nothing: the test would prove nothing"
    hit = len(found & planted)
    return (hit / len(found) if found else 0.0), hit / len(planted)


def _assert_found(found: set, planted: set, what: str) -> None:
    p, r = _precision_recall(found, planted)
    assert p >= BAR and r >= BAR, (f"{what}: precision {p:.3f}, recall {r:.3f} (found {len(found)}, planted "
                                   f"{len(planted)}; missed {sorted(planted - found)[:5]}, extra {sorted(found - planted)[:5]})")


def test_pipeline_ran_and_section6_was_delivered(province):
    settings, summary = province
    assert summary.ok, (summary.errors, summary.quality_failures)
    from yibao.contract import TABLES

    section6 = {t.bronze_name for t in TABLES if t.optional} | {"medins__setl"}
    assert not [t for t in summary.tables_held if any(n in t for n in section6)], summary.tables_held
    status = _read(settings, "gold", "section6_delivery")
    # the eight section-6 tables and setl's fund-share columns
    assert len(status) == 9 and status["delivered"].all(), status[["table_name", "status"]]


def test_upcoding_cases_are_the_planted_ones(province):
    settings, _ = province
    cases = _read(settings, "gold", "drg_case")
    assert len(cases) > 50
    found = set(cases.loc[cases["is_upcoding_suspect"].astype(bool), "setl_id"])
    _assert_found(found, set(_truth(settings, "drg_upcoding")["setl_id"]), "DRG upcoding")
    flagged = cases[cases["is_upcoding_suspect"].astype(bool)]
    assert flagged["upcoding_evidence"].str.len().gt(10).all()


def test_price_violations_are_the_planted_ones(province):
    settings, _ = province
    v = _read(settings, "gold", "price_violation")
    _assert_found(set(v["feedetl_sn"]), set(_truth(settings, "price_violation")["feedetl_sn"]), "price violations")
    assert (v["pric"].astype(float) > v["pric_uplmt"].astype(float)).all()


def test_under_completing_vbp_is_the_planted_one(province):
    settings, _ = province
    c = _read(settings, "gold", "vbp_completion")
    key = lambda df: set(zip(df["fixmedins_code"], df["med_list_codg"], df["year"].astype(int)))
    _assert_found(key(c[c["is_under"].astype(bool)]), key(_truth(settings, "vbp_under")), "集采 under-completion")


def test_reconciliation_differences_are_the_planted_ones(province):
    settings, _ = province
    d = _read(settings, "gold", "fund_reconciliation_diff")
    t = _truth(settings, "recon_diff")
    for side in ("SETTLEMENT_PAYMENT", "PAYMENT_BANK"):
        key = lambda df: set(zip(df["admdvs"], df["insutype"], df["ym"].astype(str), df["fixmedins_code"]))
        _assert_found(key(d[d["side"] == side]), key(t[t["side"] == side]), f"reconciliation side {side}")
    r = _read(settings, "gold", "fund_reconciliation")
    assert (r["status"] == "不一致").sum() >= 1 and (r["status"] == "一致").sum() >= 1


def test_duplicate_assistance_payments_are_the_planted_ones(province):
    settings, _ = province
    d = _read(settings, "gold", "assistance_duplicate")
    t = _truth(settings, "assistance_duplicate")
    _assert_found(set(zip(d["pay_id"], d["kind"])), set(zip(t["pay_id"], t["kind"])), "duplicate assistance payments")


def test_r12_finds_the_settlements_billing_class_c_items_to_the_fund(province):
    settings, _ = province
    hits = _read(settings, "gold", "fraud_rule_hit")
    r12 = hits[hits["rule_code"] == "R12_CLASS_C_FUND"]
    assert (r12["subject_type"] == "institution").all() and r12["evidence"].str.contains("丙类").all()
    _assert_found(set(r12["setl_ids"].explode()), set(_truth(settings, "class_c_fund")["setl_id"]),
                  "丙类纳入基金支付 settlements")
    suspects = _read(settings, "gold", "fraud_suspect")
    listed = set(suspects.loc[suspects["subject_type"] == "institution", "subject_id"])
    assert set(r12["subject_id"]) <= listed


def test_r10_and_r11_list_the_institutions_of_the_marts(province):
    settings, _ = province
    hits = _read(settings, "gold", "fraud_rule_hit")
    cases = _read(settings, "gold", "drg_case")
    up = set(cases.loc[cases["is_upcoding_suspect"].astype(bool), "fixmedins_code"])
    r10 = hits[hits["rule_code"] == "R10_DRG_UPCODING"]
    assert up and set(r10["subject_id"]) == up and (r10["subject_type"] == "institution").all()
    over = set(_read(settings, "gold", "price_violation")["fixmedins_code"])
    r11 = hits[hits["rule_code"] == "R11_OVER_CEILING"]
    assert over and set(r11["subject_id"]) == over
    assert r11["evidence"].str.contains("限价").all() and r10["evidence"].str.contains("高套").all()
    suspects = _read(settings, "gold", "fraud_suspect")
    listed = set(suspects.loc[suspects["subject_type"] == "institution", "subject_id"])
    assert up | over <= listed, "every institution a section-6 rule names is on the suspect list"
