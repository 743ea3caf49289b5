"""The generator's contract section 6 (version 2): the files a consumer reads, and every planted answer
recomputed from those files by the team's definitions (no engine: pandas on the CSVs)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from yibao.contract import SETL_FUND_SHARES, TABLES
from yibao.synthetic.generate import generate
from yibao.synthetic.schema import KEYS, encoding_of

B1, BT, BL = "20261101-001", "20261108-001", "20261108-002"
SEC6 = [t for t in TABLES if t.optional]


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sec6")
    generate(out, 2000, seed=42, batches=2, chunk_size=100_000)
    return out


def read(root: Path, source: str, batch: str, table: str) -> pd.DataFrame:
    """A file as ingestion lands it: well-formed lines, the last line of a repeated key."""
    p = root / source / batch / f"{table}.csv"
    if not p.exists():
        return pd.DataFrame()
    rows = list(csv.reader(io.StringIO(p.read_bytes().decode(encoding_of(source)))))
    df = pd.DataFrame([r for r in rows[1:] if len(r) == len(rows[0])], columns=rows[0])
    df = df[(df[KEYS[table]] != "").all(axis=1)]
    return df.drop_duplicates(KEYS[table], keep="last")


def latest(root: Path, source: str, table: str) -> pd.DataFrame:
    """The table after every batch (later batches upsert by key)."""
    parts = [read(root, source, b, table) for b in (B1, BT, BL)]
    df = pd.concat([p for p in parts if len(p)], ignore_index=True)
    return df.drop_duplicates(KEYS[table], keep="last")


def cents(s: pd.Series) -> pd.Series:
    return (s.astype(float) * 100).round().astype(np.int64)


def truth(root: Path, name: str) -> pd.DataFrame:
    return pd.read_parquet(root / "_truth" / f"{name}.parquet")


def counted_setl(root: Path) -> pd.DataFrame:
    s = latest(root, "medins", "setl")
    s = s[s["medfee_sumamt"].str.fullmatch(r"\d+\.\d{2}") & s["psn_cash_pay"].str.fullmatch(r"\d+\.\d{2}")]
    return s[s["refd_setl_flag"] != "1"]


def test_files_columns_and_manifests(landing):
    for t in SEC6:
        man = json.loads((landing / t.source / B1 / "_manifest.json").read_text(encoding="utf-8"))
        files = {f["table"]: f for f in man["files"]}
        assert t.name in files, t.name
        data = (landing / t.source / B1 / files[t.name]["name"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == files[t.name]["sha256"]
        assert data.count(b"\n") - 1 == files[t.name]["rows"] > 0
        header = next(csv.reader([data.split(b"\n", 1)[0].decode(encoding_of(t.source))]))
        assert header[: len(t.columns)] == list(t.columns), t.name
    setl_header = (landing / "medins" / B1 / "setl.csv").read_text(encoding="utf-8").split("\n", 1)[0].split(",")
    spec = next(t for t in TABLES if t.name == "setl")
    assert setl_header == list(spec.columns) + list(SETL_FUND_SHARES)
    # incremental batches carry setl_list rows of their new inpatient settlements, with del_flag
    inc = read(landing, "medins", BT, "setl_list")
    assert "del_flag" in inc.columns and set(inc["del_flag"]) <= {"0"}
    assert set(inc["setl_id"]) <= set(read(landing, "medins", BT, "setl")["setl_id"])


def test_setl_balance_with_fund_shares(landing):
    s = latest(landing, "medins", "setl")
    s = s[s["medfee_sumamt"].str.fullmatch(r"\d+\.\d{2}") & s["psn_cash_pay"].str.fullmatch(r"\d+\.\d{2}")]
    parts = ["hifp_pay", "acct_pay", "psn_cash_pay", *SETL_FUND_SHARES]
    total = sum(cents(s[c]) for c in parts)
    assert (total == cents(s["medfee_sumamt"])).all()
    assert (cents(s["psn_cash_pay"]) >= cents(s["fulamt_ownpay_amt"])).all()
    for c in SETL_FUND_SHARES:
        assert (cents(s[c]) >= 0).all()
    ip = s["med_type"].isin(["21", "52"])
    assert (cents(s.loc[ip & (s["insutype"] == "390"), "hifmi_pay"]) > 0).any()
    assert (cents(s.loc[ip & (s["insutype"] == "310"), "hifob_pay"]) > 0).any()
    assert (cents(s.loc[s["insutype"] == "390", "hifob_pay"]) == 0).all()
    assert (cents(s.loc[s["insutype"] == "310", "hifmi_pay"]) == 0).all()
    assert (cents(s["maf_pay"]) > 0).any() and (cents(s["cvlserv_pay"]) > 0).any()


def test_setl_list_follows_the_settlements(landing):
    s = counted_setl(landing)
    sl = latest(landing, "medins", "setl_list")
    ip = s[s["med_type"].isin(["21", "52"])]
    assert set(ip["setl_id"]) <= set(sl["setl_id"]) <= set(latest(landing, "medins", "setl")["setl_id"])
    m = sl.merge(s, on="setl_id")
    assert (m["main_dise_codg"] == m["dise_codg"]).all()
    begn = pd.to_datetime(m["begndate"].str.replace("-", ""), format="%Y%m%d")
    end = pd.to_datetime(m["enddate"].str.replace("-", ""), format="%Y%m%d")
    assert (m["ipt_days"].astype(int) == np.maximum((end - begn).dt.days, 1)).all()
    assert set(sl["dscg_way"]) <= {"1", "2", "3", "4", "5", "9"}
    groups = read(landing, "medins", B1, "drg_group")
    assert 40 <= len(groups) <= 80 and set(sl["drg_codg"]) <= set(groups["drg_codg"])
    assert groups["weight"].astype(float).between(0.3, 6).all()
    dip = read(landing, "medins", B1, "dip_group")
    assert set(zip(m["setl_time"].str[:4], m["dip_codg"])) <= set(zip(dip["year"], dip["dip_codg"]))
    assert (dip["score"].astype(float) > 0).all()


def test_med_list_covers_fee_lines_with_gender_limits(landing):
    from yibao.synthetic import vocabulary
    ml = read(landing, "medins", B1, "med_list")
    fee = pd.concat([read(landing, "medins", b, "fee_list") for b in (B1, BT, BL)], ignore_index=True)
    assert set(fee["med_list_codg"]) <= set(ml["med_list_codg"])
    it = vocabulary.items()
    want = dict(zip(it["code"], it["gend_only"]))
    assert dict(zip(ml["med_list_codg"], ml["gend_lmt"])) == want
    assert set(ml["list_type"]) == {"1", "2", "3"} and set(ml["vbp_flag"]) == {"0", "1"}


def test_price_violation_truth(landing):
    s = counted_setl(landing)
    ml = read(landing, "medins", B1, "med_list")
    fee = pd.concat([read(landing, "medins", b, "fee_list") for b in (B1, BT, BL)], ignore_index=True)
    fee = fee[fee["pric"].str.fullmatch(r"\d+\.\d{2}") & fee["setl_id"].isin(s["setl_id"])]
    m = fee.merge(ml[ml["pric_uplmt"] != ""], on="med_list_codg")
    over = m[cents(m["pric"]) > cents(m["pric_uplmt"])]
    t = truth(landing, "price_violation")
    assert len(t) >= 3
    assert set(zip(t["feedetl_sn"], t["setl_id"])) == set(zip(over["feedetl_sn"], over["setl_id"]))


def test_drg_upcoding_truth(landing):
    s = counted_setl(landing)
    sl = latest(landing, "medins", "setl_list").merge(s[["setl_id", "medfee_sumamt", "setl_time", "enddate"]], on="setl_id")
    g = read(landing, "medins", B1, "drg_group")
    sl["year"] = sl["setl_time"].str[:4]
    m = sl.merge(g, on=["year", "drg_codg"])
    hit = ((m["weight"].astype(float) >= 2.0) & (m["medfee_sumamt"].astype(float) < 0.4 * m["avg_cost"].astype(float))
           & (m["ipt_days"].astype(float) < 0.5 * m["avg_days"].astype(float)))
    t = truth(landing, "drg_upcoding")
    assert len(t) >= 3
    assert set(t["setl_id"]) == set(m.loc[hit, "setl_id"])
    # decoys: high-weight, low-cost cases with a normal stay exist and are not upcoding
    decoy = ((m["weight"].astype(float) >= 2.0) & (m["medfee_sumamt"].astype(float) < 0.4 * m["avg_cost"].astype(float))
             & ~hit)
    assert decoy.sum() >= 1
    # a group's average cost is near the mean cost of its cases where it has many
    c = m.groupby(["year", "drg_codg"]).agg(n=("setl_id", "size"), mean=("medfee_sumamt", lambda v: v.astype(float).mean()),
                                            avg=("avg_cost", "first"))
    big = c[c["n"] >= 10]
    assert len(big) and ((big["mean"] / big["avg"].astype(float) - 1).abs() < 0.25).all()


def test_vbp_under_truth(landing):
    v = read(landing, "medins", B1, "vbp_purchase")
    ml = read(landing, "medins", B1, "med_list")
    assert set(v["med_list_codg"]) <= set(ml.loc[ml["vbp_flag"] == "1", "med_list_codg"])
    v["year"] = v["ym"].str[:4].astype(int)
    g = v.groupby(["fixmedins_code", "med_list_codg", "year"]).agg(agreed=("agreed_qty", lambda x: x.astype(float).max()),
                                                                      purc=("purc_qty", lambda x: x.astype(float).sum()),
                                                                      months=("ym", "nunique")).reset_index()
    progress = g["purc"] / g["agreed"] / (g["months"] / 12)
    under = g[progress < 0.8]
    t = truth(landing, "vbp_under")
    assert t["fixmedins_code"].nunique() >= 3
    assert set(zip(t["fixmedins_code"], t["med_list_codg"], t["year"])) == set(zip(under["fixmedins_code"], under["med_list_codg"], under["year"]))
    assert progress[progress >= 0.8].between(0.8, 1.3).all()


def test_reconciliation_truth(landing):
    s = counted_setl(landing)
    s["ym"] = s["setl_time"].str[:7].str.replace("-", "")
    s["owed"] = cents(s["hifp_pay"]) + cents(s["acct_pay"])
    fp = read(landing, "medins", B1, "fund_payment")
    bank = read(landing, "medins", B1, "bank_stmt")
    fix = set(read(landing, "medins", B1, "fixmedins")["fixmedins_code"])
    last = fp["ym"].max()
    owed = s[s["ym"] <= last].groupby(["insu_admdvs", "insutype", "fixmedins_code", "ym"])["owed"].sum()
    owed = owed[owed > 0]
    owed.index.names = ["admdvs", "insutype", "fixmedins_code", "ym"]
    paid = fp.assign(a=cents(fp["amount"])).groupby(["admdvs", "insutype", "fixmedins_code", "ym"])["a"].sum()
    both = pd.concat([owed.rename("owed"), paid.rename("paid")], axis=1).fillna(0)
    sp = both[both["owed"] != both["paid"]]
    got_sp = {(k[0], k[1], k[3], k[2], round((r.paid - r.owed) / 100, 2)) for k, r in sp.iterrows()}
    # payment vs bank: memo's pay_id first (every payment here carries one), then institution rows without a payment
    e = bank[bank["direction"] == "E"].copy()
    e["pay_id"] = e["memo"].str.extract(r"(FP\d+)")[0]
    m = fp.merge(e[["pay_id", "txn_id", "amount"]].rename(columns={"amount": "bank"}), on="pay_id", how="left")
    pb = {(r.admdvs, r.insutype, r.ym, r.fixmedins_code, r.pay_id, None if pd.isna(r.txn_id) else r.txn_id,
           round((0 if pd.isna(r.bank) else float(r.bank)) - float(r.amount), 2))
          for r in m.itertuples() if pd.isna(r.bank) or cents(pd.Series([r.bank]))[0] != cents(pd.Series([r.amount]))[0]}
    stray = e[e["pay_id"].isna() & e["counterparty"].isin(fix)]
    pb |= {(r.admdvs, r.insutype, _month_before(r.txn_date), r.counterparty, None, r.txn_id, round(float(r.amount), 2))
           for r in stray.itertuples()}
    t = truth(landing, "recon_diff")
    tsp = t[t["side"] == "SETTLEMENT_PAYMENT"]
    tpb = t[t["side"] == "PAYMENT_BANK"]
    assert len(tsp) >= 6 and len(tpb) >= 6
    assert {(r.admdvs, r.insutype, r.ym, r.fixmedins_code, round(r.diff_amount, 2)) for r in tsp.itertuples()} == got_sp
    assert {(r.admdvs, r.insutype, r.ym, r.fixmedins_code, r.pay_id, r.txn_id, round(r.diff_amount, 2))
            for r in tpb.itertuples()} == pb
    assert (bank["direction"] == "I").any() and (~bank.loc[bank["direction"] == "E", "counterparty"].isin(fix)).any()


def test_assistance_duplicate_truth(landing):
    ap = read(landing, "civil_affairs", B1, "assistance_pay")
    assert len(ap) and set(ap["aid_type"]) <= {"1", "2", "3", "4"}
    s = counted_setl(landing)
    one_stop = set(s.loc[cents(s["maf_pay"]) > 0, "setl_id"])
    ap = ap.sort_values(["pay_date", "pay_id"])
    later = ap.groupby("setl_id").cumcount() > 0
    kind = np.where(ap["setl_id"].isin(one_stop), "ONE_STOP_AND_MANUAL", np.where(later, "MANUAL_TWICE", ""))
    want = set(zip(ap["pay_id"][kind != ""], kind[kind != ""]))
    t = truth(landing, "assistance_duplicate")
    assert set(zip(t["pay_id"], t["kind"])) == want
    assert (t["kind"] == "ONE_STOP_AND_MANUAL").sum() >= 3 and (t["kind"] == "MANUAL_TWICE").sum() >= 3
    # manual payments otherwise go to settlements that carried no one-stop assistance
    assert not set(ap.loc[kind == "", "setl_id"]) & one_stop


def test_contract_version_1_writes_no_section_6(tmp_path):
    out = tmp_path / "v1"
    generate(out, 1500, seed=3, chunk_size=100_000, contract_version=1)
    for t in SEC6:
        assert not list(out.glob(f"{t.source}/*/{t.name}.csv")), t.name
        for m in out.glob(f"{t.source}/*/_manifest.json"):
            assert t.name not in {f["table"] for f in json.loads(m.read_text(encoding="utf-8"))["files"]}
    header = (out / "medins" / B1 / "setl.csv").read_text(encoding="utf-8").split("\n", 1)[0].split(",")
    assert not set(header) & set(SETL_FUND_SHARES)
    for name in ("drg_upcoding", "price_violation", "vbp_under", "recon_diff", "assistance_duplicate"):
        assert not (out / "_truth" / f"{name}.parquet").exists()
    # the same province as version 2, less section 6: identical files outside the settlements it touches
    v2 = tmp_path / "v2"
    generate(v2, 1500, seed=3, chunk_size=100_000)
    for f in ("psn_info", "contrib", "psn_insu"):
        assert (out / "medins" / B1 / f"{f}.csv").read_bytes() == (v2 / "medins" / B1 / f"{f}.csv").read_bytes(), f


def _month_before(day: str) -> str:
    """YYYYMM of the month before a YYYY-MM-DD date: the settlement month a bank payment made then covers (dbt D14)."""
    y, m = int(day[:4]), int(day[5:7])
    return f"{y - 1}12" if m == 1 else f"{y}{m - 1:02d}"
