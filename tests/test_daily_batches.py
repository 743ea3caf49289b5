"""Daily incremental batches of the synthetic generator (``yibao generate --days N``, yibao.synthetic.daily)."""

from __future__ import annotations

import csv
import io
import json
import shutil
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from test_synthetic import _person_of_cert, _unpaid_from_files, replay
from yibao.cli import app
from yibao.config import Settings
from yibao.synthetic.daily import generate_days
from yibao.synthetic.generate import generate
from yibao.synthetic.schema import KEYS, SOURCES, encoding_of

N = 2000
SEED = 9
FULL = ["20261101-001", "20261108-001", "20261108-002"]
DAYS = ["20261109-001", "20261110-001", "20261111-001"]
REF = date(2026, 11, 1)


@pytest.fixture(scope="module")
def province(tmp_path_factory) -> Settings:
    """2,000 persons with the batch-2 week, then three daily batches per department."""
    settings = Settings(data_root=tmp_path_factory.mktemp("daily"), spark_remote="")
    generate(settings.landing, N, seed=SEED, batches=2, chunk_size=1000)
    generate_days(settings.landing, 3)
    return settings


def _manifests(root: Path, batch_ids) -> list[dict]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(root.glob("*/*/_manifest.json"))
            if p.parent.name in batch_ids]


def _rows(root: Path, source: str, batch: str, table: str) -> pd.DataFrame:
    text = (root / source / batch / f"{table}.csv").read_bytes().decode(encoding_of(source))
    rows = list(csv.reader(io.StringIO(text)))
    return pd.DataFrame([r for r in rows[1:] if len(r) == len(rows[0])], columns=rows[0])


def test_batch_ids_modes_and_layout(province):
    root = province.landing
    for source in SOURCES:
        ids = sorted(p.name for p in (root / source).iterdir())
        daily = [b for b in ids if b > FULL[-1]]
        assert daily and set(daily) <= set(DAYS), (source, ids)
        assert ids[-len(daily):] == daily                    # delivered after every full-load batch, in order
    mans = _manifests(root, DAYS)
    assert {m["mode"] for m in mans} == {"incremental"}
    assert {(m["source"], m["batch_id"]) for m in mans} >= {("medins", b) for b in DAYS}
    for m in mans:
        assert m["files"] and m["encoding"] == encoding_of(m["source"])
        assert m["extract_time"] == f"{m['batch_id'][:4]}-{m['batch_id'][4:6]}-{m['batch_id'][6:8]} 02:00:00"
        for f in m["files"]:
            header = (root / m["source"] / m["batch_id"] / f["name"]).read_bytes().split(b"\n", 1)[0]
            cols = next(csv.reader([header.decode(encoding_of(m["source"]))]))
            assert cols[: len(SOURCES[m["source"]][f["table"]])] == SOURCES[m["source"]][f["table"]]
            assert cols[-1] == "del_flag" and f["rows"] > 0
    meta = pd.read_parquet(root / "_truth" / "meta.parquet").iloc[0]
    assert meta.truth_state_after_batch == DAYS[-1] and meta.days_delivered == 3
    assert meta.batches.split(",") == FULL + DAYS
    state = json.loads((root / "_state" / "state.json").read_text(encoding="utf-8"))
    assert state["days_delivered"] == 3 and state["day_batch_ids"] == DAYS
    for b in DAYS:
        assert (root / "_truth" / "days" / b / "enrolled_unpaid.parquet").exists()


def test_every_department_upserts_and_corrects(province):
    root = province.landing
    flags: dict = {}
    deleted = set()
    for m in _manifests(root, DAYS):
        for f in m["files"]:
            df = _rows(root, m["source"], m["batch_id"], f["table"])
            for flag, n in df["del_flag"].value_counts().items():
                flags[(m["source"], flag)] = flags.get((m["source"], flag), 0) + n
            d = df[df["del_flag"] == "1"]
            deleted |= {(m["source"], f["table"], m["batch_id"], "|".join(k))
                        for k in d[KEYS[f["table"]]].itertuples(index=False)}
    for source in SOURCES:
        assert flags.get((source, "0"), 0) > 0, source
        assert flags.get((source, "1"), 0) > 0, source
    # every deletion is a correction the truth explains (a row delivered in an earlier batch)
    corr = pd.read_parquet(root / "_truth" / "corrections.parquet")
    assert set(zip(corr.source, corr.source_table, corr.batch_id, corr.source_key)) == deleted
    assert (corr.first_batch_id < corr.batch_id).all()
    assert {"ERRONEOUS_ENTRY", "DUP_RECORD_MERGED", "STALE_LIST_ENTRY", "EXPIRED_PERMIT_PURGED"} <= set(corr.reason)
    rec = pd.read_parquet(root / "_truth" / "records.parquet").set_index(["source", "source_table", "source_key"])
    ident = corr[~corr.source_table.isin(["setl", "fee_list"])]
    assert (rec.loc[list(zip(ident.source, ident.source_table, ident.source_key)), "deleted_in_batch"].to_numpy()
            == ident.batch_id.to_numpy()).all()
    # the register events of the days, across departments
    ev = pd.read_parquet(root / "_truth" / "events.parquet")
    assert {"BIRTH", "DEATH", "DEATH_REGISTERED", "MOVE_OUT", "MOVE_COUNTY", "ENROLL", "SUSPEND", "TERMINATE", "PHONE",
            "TAX_WITHHELD", "PENSION_DRAWN", "AID_GRANTED"} <= set(ev.kind)
    assert set(ev.batch_id) == set(DAYS)


def test_births_deaths_and_late_rows(province):
    root = province.landing
    t = root / "_truth"
    ev = pd.read_parquet(t / "events.parquet")
    persons = pd.read_parquet(t / "persons.parquet").set_index("person_id")
    births = ev[ev.kind == "BIRTH"]
    assert births.person_id.isin(persons.index).all()
    born = persons.loc[births.person_id]
    assert (born.brdy > pd.Timestamp(REF)).all() and not born.is_newborn.any()     # born after the reference date
    # health certifies the birth at once; the child's ID number comes with the hukou registration weeks later
    rec = pd.read_parquet(t / "records.parquet")
    certs = rec[(rec.source_table == "birth_cert") & rec.person_id.isin(births.person_id) & (rec.dirt != "DUPLICATE_CERT")]
    assert set(certs.person_id) == set(births.person_id)
    bc = pd.concat([_rows(root, "health", b, "birth_cert") for b in DAYS if (root / "health" / b / "birth_cert.csv").exists()])
    bc = bc[bc.birth_cert_no.isin(certs.source_key)].drop_duplicates("birth_cert_no")
    assert len(bc) == len(certs) and (bc.child_certno == "").all()
    mother = persons.loc[births.detail.to_numpy(), "certno"].to_numpy()
    assert set(bc.mother_certno) == set(mother)
    # a death reaches the departments on different days: the first registers it, the others later
    reg = ev[ev.kind == "DEATH_REGISTERED"]
    first = reg.groupby("person_id").batch_id.min()
    dead = persons.loc[first.index]
    assert dead.died_by_last_batch.all()
    # dead on the reference date as the records say it: a dated death on or before it, or medins' undated one
    on_ref = (dead.death_date <= pd.Timestamp(REF)) | dead.death_sources.str.contains("medins")
    assert (dead.is_deceased == on_ref).all() and (~dead.is_deceased).any()
    assert (reg.groupby("person_id").batch_id.nunique() > 1).any()
    # late rows: settlements of 8-60 days ago, deaths registered days after they happened, old periods collected
    late = pd.read_parquet(t / "late_arrivals.parquet")
    daily_late = late[late.batch_id.isin(DAYS)]
    assert {"setl", "medins_clct"} <= set(daily_late.source_table)
    s = daily_late[daily_late.source_table == "setl"]
    for r in s.itertuples():
        assert pd.Timestamp(r.business_date.replace("-", "")) < pd.Timestamp(f"{r.batch_id[:8]}") - pd.Timedelta(days=8)


@pytest.fixture(scope="module")
def replayed(province):
    root = province.landing
    state, states, counts = replay(root)
    t = root / "_truth"
    persons = pd.read_parquet(t / "persons.parquet")
    rec = pd.read_parquet(t / "records.parquet")
    psn_person = rec[rec.source_table == "psn_info"].set_index("source_key")["person_id"]
    return {"state": state, "states": states, "counts": counts, "persons": persons, "psn_person": psn_person,
            "cert_person": persons.set_index("certno")["person_id"], "truth": t}


def _duplicates_from_files(r) -> set:
    st = r["state"]
    insu = st[("medins", "psn_insu")].copy()
    insu["person_id"] = insu.psn_no.map(r["psn_person"])
    act = insu[(insu.psn_insu_stas.str.strip() == "1") & insu.insutype.isin(["310", "390"]) & insu.person_id.notna()]
    want = set()
    for pid, g in act.groupby("person_id"):
        if g.insutype.nunique() > 1:
            want.add((pid, "EMP_RESIDENT"))
        if (g.groupby("insutype").insu_admdvs.nunique() > 1).any():
            want.add((pid, "MULTI_REGION"))
    ie = st[("national", "insured_elsewhere")]
    elsewhere = set(_person_of_cert(r, ie[ie.psn_insu_stas.str.strip() == "1"].certno).dropna())
    return want | {(pid, "CROSS_PROVINCE") for pid in set(act.person_id) & elsewhere}


def _target_from_files(r) -> set:
    """Contract section 4 from the replayed files: alive per every source, and an active local hukou or a
    residence permit valid on the reference date."""
    st = r["state"]
    hs = st[("police", "hsreg_psn")]
    person = lambda col: _person_of_cert(r, col)
    hukou = set(person(hs[hs.hsreg_stas.str.strip() == "1"].certno).dropna())
    rp = st[("police", "resd_permit")]
    day = lambda c: pd.to_datetime(c.str.replace("-", ""), format="%Y%m%d", errors="coerce")
    valid = (day(rp.issue_date) <= pd.Timestamp(REF)) & (day(rp.expire_date) >= pd.Timestamp(REF))
    permit = set(person(rp[valid].certno).dropna())
    # dead on the reference date: a dated death on or before it (civil affairs, health, police cancellation), or
    # medins' surv_stas 2 (no date)
    ref = pd.Timestamp(REF)
    dead = set(person(hs[(hs.hsreg_stas.str.strip() == "2") & (day(hs.cancel_date) <= ref)].certno).dropna())
    for src, table in (("civil_affairs", "death_cremation"), ("health", "death_cert")):
        d = st[(src, table)]
        dead |= set(person(d[day(d.death_date) <= ref].certno).dropna())
    info = st[("medins", "psn_info")]
    dead |= set(info[info.surv_stas.str.strip() == "2"].psn_no.map(r["psn_person"]).dropna())
    return (hukou | permit) - dead


def test_truth_after_the_last_day_follows_the_contract(replayed):
    r = replayed
    eu = pd.read_parquet(r["truth"] / "enrolled_unpaid.parquet")
    truth = {(p, t, int(m)) for p, t, ms in zip(eu.person_id, eu.insutype, eu.accrym_missing) for m in ms}
    assert _unpaid_from_files(r, REF, annual_whole_year=False) == truth and truth
    de = pd.read_parquet(r["truth"] / "duplicate_enrollment.parquet")
    assert set(zip(de.person_id, de.kind)) == _duplicates_from_files(r)
    p = r["persons"]
    assert _target_from_files(r) == set(p.loc[p.in_target_population, "person_id"])
    # rows kept out are exactly those planted, daily batches included
    pq_ = pd.read_parquet(r["truth"] / "planted_quarantine.parquet")
    ingest = pq_[pq_.stage == "ingest"]
    assert r["counts"] == {(x.source, x.source_table, x.batch_id, x.reason_class): x.rows for x in ingest.itertuples()}
    assert set(ingest.batch_id) & set(DAYS)
    # no daily row is orphaned: what lacks a parent after all batches is exactly the planted orphans
    st = r["state"]
    psn = set(st[("medins", "psn_info")].psn_no)
    found = set()
    for t in ("psn_insu", "contrib", "setl"):
        d = st[("medins", t)]
        d = d[~d.psn_no.isin(psn)]
        found |= {(t, "|".join(k)) for k in d[KEYS[t]].itertuples(index=False)}
    orph = pd.read_parquet(r["truth"] / "orphans.parquet")
    assert found == set(zip(orph.source_table, orph.source_key))
    setl = set(st[("medins", "setl")].setl_id)
    fee = st[("medins", "fee_list")]
    assert fee.setl_id.isin(setl | set(orph.source_key)).all()


def test_fraud_planted_across_day_boundaries(replayed):
    r = replayed
    st = r["state"]
    setl = st[("medins", "setl")].set_index("setl_id")
    f = pd.read_parquet(r["truth"] / "fraud.parquet")
    daily = f[f.setl_ids.map(lambda ids: any(s.startswith("SD") for s in ids))]
    assert {"R01_AFTER_DEATH", "R02_SPLIT_ADMISSION", "R07_IDLE_BED"} <= set(daily[~daily.is_decoy].rule_code)
    when = lambda c: pd.to_datetime(c.str.replace("-", ""), format="%Y%m%d")
    # R02: readmission to the same hospital 1-15 days after a stay delivered in an EARLIER batch
    r02 = daily[daily.rule_code == "R02_SPLIT_ADMISSION"]
    crossing = 0
    for row in r02.itertuples():
        s = setl.loc[list(row.setl_ids)]
        s = s.assign(b=when(s.begndate), e=when(s.enddate)).sort_values("b")
        gap = (s.b.iloc[1] - s.e.iloc[0]).days
        same = s.fixmedins_code.nunique() == 1
        if row.is_decoy:
            assert gap > 15 or not same
        else:
            assert same and 1 <= gap <= 15
            crossing += not s.index[0].startswith("SD") or s.index[0][:5] != s.index[1][:5]
    assert crossing == (~r02.is_decoy).sum() > 0
    # R01: care after the death date of a source; some deaths were registered only after the visits were delivered
    persons = r["persons"].set_index("person_id")
    r01 = daily[(daily.rule_code == "R01_AFTER_DEATH") & ~daily.is_decoy]
    for row in r01.itertuples():
        death = persons.loc[row.subject_id, "death_date"]
        assert persons.loc[row.subject_id, "is_deceased"]
        assert (when(setl.loc[list(row.setl_ids), "begndate"]) > pd.Timestamp(death)).all()
    ev = pd.read_parquet(r["truth"] / "events.parquet")
    back = ev[ev.kind == "DEATH_BACKDATED"].set_index("person_id").batch_id
    assert len(back) and set(back.index) <= set(r01.subject_id)
    for pid in back.index:
        ids = r01[r01.subject_id == pid].setl_ids.iloc[0]
        assert all(f"D{int(s[2:5]):03d}" < f"D{DAYS.index(back[pid]) + 1:03d}" for s in ids)   # delivered before the death
    # R07 idle days of daily stays follow the fee lines as delivered
    meta = pd.read_parquet(r["truth"] / "meta.parquet").iloc[0]
    bed, care = meta.r07_bed_charge_types.split(","), meta.r07_care_charge_types.split(",")
    idle_t = pd.read_parquet(r["truth"] / "r07_idle_days.parquet")
    idle_t = idle_t[idle_t.batch_id.isin(DAYS)]
    assert len(idle_t) and set(idle_t.planted) == {"hit", "decoy"}
    fee = st[("medins", "fee_list")]
    fee = fee[fee.setl_id.isin(idle_t.setl_id)].assign(day=lambda x: x.fee_ocur_time.str[:10], t=lambda x: x.med_chrgitm_type.str.strip())
    g = fee.groupby(["setl_id", "day"]).t.agg(set)
    idle = g[g.map(lambda s: bool(s & set(bed)) and not (s & set(care)))].groupby(level=0).size()
    assert {s: int(n) for s, n in zip(idle_t.setl_id, idle_t.idle_days) if n} == idle.to_dict()


def _replay_until(root: Path, last: str, tmp: Path):
    """The landing zone as it stood after batch ``last`` (later batches left out)."""
    view = tmp / f"view-{last}"
    for m in root.glob("*/*/_manifest.json"):
        if m.parent.name <= last:
            shutil.copytree(m.parent, view / m.parent.parent.name / m.parent.name)
    return replay(view)


def test_truth_day_by_day(replayed, province, tmp_path):
    root = province.landing
    r0 = replayed
    for b in DAYS:
        state, states, counts = _replay_until(root, b, tmp_path)
        r = dict(r0, state=state)
        target = _target_from_files(r)
        r["persons"] = pd.DataFrame({"person_id": sorted(target), "in_target_population": True})
        d = root / "_truth" / "days" / b
        eu = pd.read_parquet(d / "enrolled_unpaid.parquet")
        truth = {(p, t, int(m)) for p, t, ms in zip(eu.person_id, eu.insutype, eu.accrym_missing) for m in ms}
        assert _unpaid_from_files(r, REF, annual_whole_year=False) == truth, b
        de = pd.read_parquet(d / "duplicate_enrollment.parquet")
        assert set(zip(de.person_id, de.kind)) == _duplicates_from_files(r), b
        # uninsured = target population - insured (active local basic enrollment, or active elsewhere)
        st = state
        insu = st[("medins", "psn_insu")]
        active = set(insu[(insu.psn_insu_stas.str.strip() == "1") & insu.insutype.isin(["310", "390"])].psn_no.map(
            r["psn_person"]).dropna())
        ie = st[("national", "insured_elsewhere")]
        active |= set(_person_of_cert(r, ie[ie.psn_insu_stas.str.strip() == "1"].certno).dropna())
        un = pd.read_parquet(d / "uninsured.parquet")
        assert set(un.person_id) == target - active, b


def test_ingestion_takes_every_daily_batch(province):
    from yibao.catalog import Catalog
    from yibao.engine import spark_session
    from yibao.ingestion.ingest import ingest

    settings = province
    summary = ingest(settings)
    truth = pd.read_parquet(settings.landing / "_truth" / "rejected_batches.parquet")
    assert sorted(label for label, _ in summary.batches_rejected) == sorted(f"{s}/{b}" for s, b in zip(truth.source,
                                                                                                       truth.batch_id))
    assert not summary.files_rejected and not summary.files_held
    cat = Catalog(spark_session(settings), settings)
    q = [x.asDict() for x in cat.read("meta", "quarantine").collect()]
    got: dict = {}
    for x in q:
        if x["rule"] in ("ingest.parse", "ingest.superseded"):
            k = (x["source"], x["source_table"], x["batch_id"])
            got[k] = got.get(k, 0) + 1
    planted = pd.read_parquet(settings.landing / "_truth" / "planted_quarantine.parquet")
    want = planted[planted.stage == "ingest"].groupby(["source", "source_table", "batch_id"]).rows.sum().to_dict()
    assert got == want and any(k[2] in DAYS for k in want)
    log = {(x.source, x.batch_id, x.source_table): x for x in cat.read("meta", "ingest_log").collect()}
    db = pd.read_parquet(settings.landing / "_truth" / "daily_batches.parquet")
    for row in db.itertuples():
        entry = log[(row.source, row.batch_id, row.source_table)]
        assert entry.status == "applied" and entry.mode == "incremental"
        assert entry.rows_read == row.rows == entry.rows_landed + entry.rows_quarantined
        assert entry.rows_deleted == row.deletes
    # the bronze tables hold the replayed state after the last day (keys as delivered)
    state, _, _ = replay(settings.landing)
    for source, table in (("medins", "setl"), ("medins", "psn_info"), ("police", "hsreg_psn"), ("tax", "taxpayer")):
        bronze = cat.read("bronze", f"{source}__{table}").select(*KEYS[table]).toPandas()
        assert set(map(tuple, bronze.astype(str).to_numpy())) == set(map(tuple, state[(source, table)][KEYS[table]].to_numpy())), table


def test_continuation_never_rewrites_and_is_deterministic(province, tmp_path):
    # --days 2 on top of --days 3 continues with days 4 and 5 and leaves the delivered batches as they were
    cont = tmp_path / "continued"
    shutil.copytree(province.landing, cont)
    before = {p.relative_to(cont): p.read_bytes() for p in cont.rglob("*") if p.is_file() and p.parts[len(cont.parts)][0] != "_"}
    res = CliRunner().invoke(app, ["generate", "--out", str(cont), "--days", "2", "--workers", "1"])
    assert res.exit_code == 0, res.output
    assert "20261112-001" in res.output and "20261113-001" in res.output
    for p, data in before.items():
        assert (cont / p).read_bytes() == data, p
    new = sorted({p.parent.name for p in cont.glob("*/*/_manifest.json")} - set(FULL) - {"20261101-002"} - set(DAYS))
    assert new == ["20261112-001", "20261113-001"]
    assert pd.read_parquet(cont / "_truth" / "meta.parquet").truth_state_after_batch[0] == "20261113-001"
    # the same seed written in one go, two worker processes, five days at once: the same bytes and truth
    fresh = tmp_path / "fresh"
    generate(fresh, N, seed=SEED, batches=2, chunk_size=1000, workers=2)
    generate_days(fresh, 5, workers=2)
    files = lambda root: sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file()
                                and p.parts[len(root.parts)] not in ("_state", "_generate.lock"))
    assert files(cont) == files(fresh)
    for p in files(cont):
        if p.suffix == ".parquet":
            assert pd.read_parquet(cont / p).equals(pd.read_parquet(fresh / p)), p
        else:
            assert (cont / p).read_bytes() == (fresh / p).read_bytes(), p


def test_days_need_the_generator_state(tmp_path):
    old = tmp_path / "old"
    generate(old, 500, seed=1, chunk_size=1000, keep_state=False)
    with pytest.raises(FileNotFoundError):
        generate_days(old, 1)
    res = CliRunner().invoke(app, ["generate", "--out", str(old), "--days", "1"])
    assert res.exit_code == 1 and "no generator state" in res.output
    # --days on an empty folder writes the full load first; the options must then match the landing zone
    new = tmp_path / "new"
    res = CliRunner().invoke(app, ["generate", "--out", str(new), "-n", "500", "--days", "1", "--chunk-size", "1000",
                                   "--workers", "1"])
    assert res.exit_code == 0, res.output
    assert (new / "medins" / "20261101-001").is_dir() and (new / "medins" / "20261109-001" / "_manifest.json").exists()
    res = CliRunner().invoke(app, ["generate", "--out", str(new), "-n", "400", "--days", "1"])
    assert res.exit_code == 1 and "--persons 400 (the landing zone has 500)" in res.output


def test_a_run_that_dies_before_the_switch_is_redone(tmp_path, monkeypatch):
    """Batches and truth are put in place before the state switches to the new days; a run killed in between
    leaves the state in force, and the next run writes the same days again to the same bytes."""
    import yibao.synthetic.state as stt

    a, b = tmp_path / "a", tmp_path / "b"
    generate(a, 600, seed=4, chunk_size=1000)
    shutil.copytree(a, b)
    switch = stt.write_meta

    def die(*args, **kwargs):
        raise RuntimeError("killed before the switch")

    monkeypatch.setattr(stt, "write_meta", die)
    with pytest.raises(RuntimeError):
        generate_days(a, 2)
    assert json.loads((a / "_state" / "state.json").read_text(encoding="utf-8"))["days_delivered"] == 0
    assert (a / "medins" / "20261110-001").is_dir()                     # the batches were already in place
    monkeypatch.setattr(stt, "write_meta", switch)
    generate_days(a, 2)
    generate_days(b, 2)
    files = lambda root: sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file()
                                and p.parts[len(root.parts)] not in ("_state", "_generate.lock"))
    assert files(a) == files(b)
    for p in files(a):
        if p.suffix == ".parquet":
            assert pd.read_parquet(a / p).equals(pd.read_parquet(b / p)), p
        else:
            assert (a / p).read_bytes() == (b / p).read_bytes(), p
    assert json.loads((a / "_state" / "state.json").read_text(encoding="utf-8"))["days_delivered"] == 2
