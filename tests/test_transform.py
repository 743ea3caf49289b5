"""The dbt layers (staging -> person master -> cross-checks -> indicators), run for real.

Two warehouses are built through the embedded engine:
- a hand-made one whose every dirty value and every match is known, to pin the normalisation and
  matching rules and the uninsured reason codes;
- one from the synthetic generator (two weekly batches), checked against the generator's ground truth:
  dedup precision/recall, uninsured precision/recall, the cross-checks and fund indicators, person_id
  stability across a rerun and a second batch, and the incremental settlement merge.
"""

from __future__ import annotations

import shutil
from collections import Counter
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from landing import write_batch

from yibao.config import Settings

CONTRACT_COLUMNS = {
    "person_master": ["person_id", "certno", "psn_name", "gend", "brdy", "hsreg_admdvs", "resd_admdvs",
                      "is_deceased", "death_date", "hsreg_stas", "sources"],
    "person_xref": ["source", "source_table", "source_key", "person_id", "match_rule"],
    "uninsured_person": ["person_id", "certno", "psn_name", "admdvs", "age", "gend", "reason_codes",
                         "in_national_list"],
    "enrolled_unpaid": ["person_id", "insutype", "insu_admdvs", "accrym_missing"],
    "duplicate_enrollment": ["person_id", "insutypes", "insu_admdvs_list", "kind"],
    "coverage_by_region": ["admdvs", "target_population", "insured", "uninsured", "coverage_rate"],
    "fund_operation": ["admdvs", "insutype", "ym", "income", "expense", "cum_balance", "months_payable",
                       "current_surplus_rate", "risk_level"],
}


# -- helpers ---------------------------------------------------------------------------------------

def _check(body17: str) -> str:
    """Test oracle for the MOD 11-2 check character (the product's rule lives in SQL only)."""
    w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return "10X98765432"[sum(int(c) * x for c, x in zip(body17, w)) % 11]


def _certno(div: str, birth: str, seq: str) -> str:
    body = div + birth + seq
    return body + _check(body)


def _certno_ending(ch: str, div: str, birth: str, sex_odd: bool) -> str:
    for s in range(1000):
        seq = f"{s:03d}"
        if (int(seq[-1]) % 2 == 1) == sex_odd and _check(div + birth + seq) == ch:
            return div + birth + seq + ch
    raise AssertionError("no such number")


def _fullwidth(s: str) -> str:
    return s.translate(str.maketrans("0123456789Xx", "０１２３４５６７８９Ｘｘ"))


def _df(settings: Settings, sql: str) -> pd.DataFrame:
    from yibao.engine import spark_session
    from yibao.transform.runner import sync_catalog

    spark = spark_session(settings)
    sync_catalog(spark, settings)
    return spark.sql(sql).toPandas()


def _pairs(df: pd.DataFrame, keys: list[str]) -> int:
    n = df.groupby(keys).size()
    return int((n * (n - 1) // 2).sum())


# -- the hand-made warehouse -----------------------------------------------------------------------

PSN = ("psn_no,psn_name,gend,brdy,naty,psn_cert_type,certno,tel,surv_stas,hsreg_addr,hsreg_admdvs,resd_addr,"
       "resd_admdvs,hsreg_book_no")
HSREG = "certno,psn_name,gend,brdy,naty,hsreg_admdvs,hsreg_addr,hsreg_book_no,hsreg_stas,cancel_date"

A = _certno_ending("X", "610102", "19850101", sex_odd=True)        # man, check character X
B18 = _certno("610103", "19700305", "122")                         # legacy holder (15 digits in medins)
B15 = B18[:6] + B18[8:17]
C = _certno("610104", "19900707", "123")                           # mistyped in medins
C_TYPO = C[:15] + str((int(C[15]) + 1) % 10) + C[16:]
D = _certno("610112", "19950505", "224")                           # delivered with spaces
E = _certno("610113", "19600101", "335")                           # police only: uninsured taxpayer


@pytest.fixture(scope="module")
def handmade(tmp_path_factory):
    from yibao.ingestion.ingest import ingest
    from yibao.transform import build

    root = tmp_path_factory.mktemp("handmade")
    settings = Settings(data_root=root, spark_remote="")
    write_batch(settings.landing, "medins", "20261101-001", {"psn_info": [
        PSN,
        f"M1,张三,1,1985-01-01,01,01,{_fullwidth(A[:17] + 'x')},+86 138-0013-8000,1,a,610102,a,610102,BK1",
        f"M2, 李　四 ,2,1970-03-05,01,01,{B15},13900000001,1,a,610103,a,610103,BK2",
        f"M3,王五,1,1990-07-07,01,01,{C_TYPO},13900000002,1,a,610104,a,610104,BK3",
        f"M4,赵六,2,1995-05-05,01,01, {D[:6]} {D[6:14]} {D[14:]},139-0000-0003,1,a,619999,a,610112,BK4",
        "M5,孙七,1,2000-02-02,01,01,,13900000005,1,a,610115,a,610115,BK5",
        "M6,孙七,1,2000-02-02,01,01,,13900000005,1,a,610115,a,610115,BK5",
        "M7,孙七,1,2001-03-03,01,01,,13900000007,1,a,610116,a,610116,BK7",
    ]})
    write_batch(settings.landing, "police", "20261101-001", {"hsreg_psn": [
        HSREG,
        f"{A},张三,1,1985-01-01,01,610102,a,BK1,1,",
        f"{C},王五,1,1990-07-07,01,610104,a,BK3,1,",
        f"{E},周八,1,1960-01-01,01,610113,a,BK8,1,",
    ]})
    write_batch(settings.landing, "tax", "20261101-001", {"taxpayer": [
        "certno,emp_uscc,psn_name,last_tax_ym", f"{E},91610000X,周八,202609"]})
    ingest(settings)
    build(settings)
    return settings


def test_id_numbers_are_normalised_and_validated(handmade):
    rows = _df(handmade, "select * from silver.stg_medins__psn_info").set_index("psn_no")
    assert rows.loc["M1", "certno"] == A and rows.loc["M1", "certno_status"] == "VALID"
    assert {"FULLWIDTH", "LOWER_X"} <= set(rows.loc["M1", "certno_flags"].split(","))
    assert rows.loc["M2", "certno"] == B18 and rows.loc["M2", "certno_status"] == "LEGACY15"
    assert rows.loc["M3", "certno"] is None and rows.loc["M3", "certno_status"] == "BAD_CHECKSUM"
    assert rows.loc["M3", "certno_norm"] == C_TYPO            # kept for matching, never trusted
    assert rows.loc["M4", "certno"] == D and "SPACES" in rows.loc["M4", "certno_flags"]
    assert rows.loc["M5", "certno_status"] == "MISSING"
    assert rows.loc["M1", "tel"] == "13800138000" and rows.loc["M4", "tel"] == "13900000003"
    assert rows.loc["M2", "psn_name"] == "李四" and "NAME_INNER_SPACE" in rows.loc["M2", "quality_flags"]
    assert "HSREG_ADMDVS_UNKNOWN" in rows.loc["M4", "quality_flags"]
    assert "HSREG_ADMDVS_UNKNOWN" not in rows.loc["M1", "quality_flags"]


def test_handmade_records_resolve_to_the_right_persons(handmade):
    x = _df(handmade, "select * from gold.person_xref")
    pid = {(r.source_table, r.source_key): r.person_id for r in x.itertuples()}
    rule = {(r.source_table, r.source_key): r.match_rule for r in x.itertuples()}
    assert pid[("psn_info", "M1")] == pid[("hsreg_psn", A)]                     # dirty vs clean number
    assert rule[("psn_info", "M1")] == "DETERMINISTIC_CERTNO"
    assert pid[("psn_info", "M3")] == pid[("hsreg_psn", C)]                     # mistyped: probabilistic
    assert rule[("psn_info", "M3")] == "PROBABILISTIC_ANCHORED"
    assert pid[("psn_info", "M5")] == pid[("psn_info", "M6")]                   # no number at all
    assert rule[("psn_info", "M5")] == "PROBABILISTIC"
    assert pid[("psn_info", "M7")] != pid[("psn_info", "M5")]                   # same name, other person
    assert rule[("psn_info", "M7")] == "SINGLETON"
    assert len(x) == 11 and x.person_id.nunique() == 7
    pm = _df(handmade, "select * from gold.person_master").set_index("person_id")
    assert pm.loc[pid[("psn_info", "M1")], "certno"] == A
    assert pm.loc[pid[("psn_info", "M1")], "sources"] == "medins.psn_info,police.hsreg_psn"
    assert pm.loc[pid[("psn_info", "M5")], "certno"] is None
    assert pm.loc[pid[("psn_info", "M2")], "certno"] == B18


def test_handmade_uninsured_and_reasons(handmade):
    u = _df(handmade, "select * from gold.uninsured_person").set_index("certno")
    # police hukou holders without any enrollment: 张三, 王五, 周八; only 周八 withheld income tax
    assert set(u.index) == {A, C, E}
    assert u.loc[E, "reason_codes"] == "TAXPAYER,NEVER_ENROLLED"
    assert u.loc[A, "reason_codes"] == "NEVER_ENROLLED"
    assert u.loc[E, "age"] == 66 and u.loc[E, "admdvs"] == "610113"
    cov = _df(handmade, "select * from gold.coverage_by_region where level = 'province'")
    assert cov.target_population.tolist() == [3] and cov.uninsured.tolist() == [3]


def test_gold_tables_have_the_contract_columns(handmade):
    for table, cols in CONTRACT_COLUMNS.items():
        got = _df(handmade, f"select * from gold.{table} limit 0").columns.tolist()
        assert [c for c in cols if c not in got] == [], table
        assert (handmade.warehouse / "gold" / table / "_delta_log").is_dir()


def test_docs_generate_writes_catalog_and_lineage(handmade):
    import json

    from yibao.transform import run_dbt

    run_dbt(handmade, ["docs", "generate"])
    target = handmade.warehouse / "_dbt" / "target"
    catalog = json.loads((target / "catalog.json").read_text())
    manifest = json.loads((target / "manifest.json").read_text())
    assert "person_id" in catalog["nodes"]["model.yibao.person_master"]["columns"]
    from yibao.contract import TABLES

    assert len(catalog["sources"]) == len(TABLES) == 30     # sections 1-2 (22 tables) and section 6 (8, optional)
    parents = manifest["parent_map"]["model.yibao.person_master"]
    assert "model.yibao.int_person_clusters" in parents and (target / "index.html").is_file()


# -- the generated warehouse -----------------------------------------------------------------------

PERSONS = 3000


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    from yibao.ingestion.ingest import ingest
    from yibao.synthetic.generate import generate
    from yibao.transform import build, run_dbt

    gen = tmp_path_factory.mktemp("landing")
    generate(gen, persons=PERSONS, seed=20261101, batches=2)
    week1 = tmp_path_factory.mktemp("landing_week1")
    for src in gen.iterdir():
        if src.is_dir() and not src.name.startswith("_"):
            for batch in src.iterdir():
                if not batch.name.startswith("20261108"):
                    shutil.copytree(batch, week1 / src.name / batch.name)
    root = tmp_path_factory.mktemp("warehouse")
    s1 = Settings(data_root=root, landing_root=week1, spark_remote="")
    ingest(s1)
    build(s1)
    q = "select record_id, person_id from gold.person_xref"
    out = {"xref1": _df(s1, q), "setl1": _df(s1, "select setl_id, _batch_id from silver.stg_medins__setl")}
    run_dbt(s1, ["run"])                                   # a rerun on the same data
    out["xref1_rerun"] = _df(s1, q)
    s2 = Settings(data_root=root, landing_root=gen, spark_remote="")
    ingest(s2)
    build(s2)
    out["xref2"] = _df(s2, "select * from gold.person_xref")
    out["setl2"] = _df(s2, "select setl_id, _batch_id from silver.stg_medins__setl")
    out["settings"], out["truth"] = s2, gen / "_truth"
    return out


def _truth(g, name: str) -> pd.DataFrame:
    return pd.read_parquet(g["truth"] / f"{name}.parquet")


def _person_map(g) -> pd.Series:
    """predicted person_id -> true person id (majority of its records)."""
    rec = _truth(g, "records")
    rec = rec[rec.deleted_in_batch.isna()]
    m = rec.merge(g["xref2"], on=["source", "source_table", "source_key"], suffixes=("_t", "_p"))
    return m.groupby("person_id_p")["person_id_t"].agg(lambda v: Counter(v).most_common(1)[0][0])


def _pr(truth: set, pred: set) -> tuple[float, float]:
    hit = len(truth & pred)
    return hit / max(1, len(pred)), hit / max(1, len(truth))


def test_every_live_record_is_mapped_and_dedup_matches_the_truth(generated):
    rec = _truth(generated, "records")
    live = rec[rec.deleted_in_batch.isna()]
    bad_rows = _truth(generated, "bad_rows")      # rows planted to be quarantined at ingestion
    m = live.merge(generated["xref2"], on=["source", "source_table", "source_key"], how="left",
                   suffixes=("_t", "_p"))
    unmapped = m[m.person_id_p.isna()]
    # only records whose row was quarantined at ingestion may be missing
    assert len(unmapped) <= len(bad_rows), unmapped.head()
    b = m.dropna(subset=["person_id_p"])
    tp, pred, true = _pairs(b, ["person_id_t", "person_id_p"]), _pairs(b, ["person_id_p"]), _pairs(b, ["person_id_t"])
    precision, recall = tp / pred, tp / true
    f1 = 2 * precision * recall / (precision + recall)
    print(f"dedup pairs: precision {precision:.4f} recall {recall:.4f} F1 {f1:.4f}")
    assert true > 100                       # the generator does plant several numbers per person
    assert f1 >= 0.99
    assert (b.groupby("person_id_t").person_id_p.nunique() > 1).sum() <= 0.005 * b.person_id_t.nunique()


def test_uninsured_persons_and_reasons_match_the_truth(generated):
    pmap = _person_map(generated)
    truth = _truth(generated, "persons")
    u = _df(generated["settings"], "select * from gold.uninsured_person")
    u["t"] = u.person_id.map(pmap)
    precision, recall = _pr(set(truth[truth.uninsured].person_id), set(u.t.dropna()))
    print(f"uninsured: precision {precision:.4f} recall {recall:.4f} ({len(u)} listed)")
    assert truth.uninsured.sum() > 30
    assert precision >= 0.98 and recall >= 0.98
    want = truth[truth.uninsured].set_index("person_id").uninsured_reasons.map(lambda a: sorted(a))
    got = u.dropna(subset=["t"]).set_index("t").reason_codes.map(lambda s: sorted(s.split(",")))
    j = pd.concat([want.rename("w"), got.rename("g")], axis=1, join="inner")
    assert (j.w == j.g).mean() >= 0.98
    listed = truth[truth.uninsured & truth.in_national_list].person_id
    assert _pr(set(listed), set(u[u.in_national_list].t))[1] >= 0.98


def test_cross_checks_match_the_truth(generated):
    pmap, s = _person_map(generated), generated["settings"]
    nl = _truth(generated, "national_list")
    review = _df(s, "select * from gold.national_list_review")
    review["t"] = review.person_id.map(pmap)
    m = nl.merge(review, left_on="person_id", right_on="t")
    assert len(m) >= 0.98 * len(nl)
    assert (m.stale_reason.replace("", "UNINSURED") == m.review_status).mean() >= 0.98
    assert (m.stale_reason != "").sum() > 0
    eu, pe = _truth(generated, "enrolled_unpaid"), _df(s, "select * from gold.enrolled_unpaid")
    p, r = _pr(set(zip(eu.person_id, eu.insutype)), set(zip(pe.person_id.map(pmap), pe.insutype)))
    assert len(eu) > 0 and p >= 0.98 and r >= 0.98
    dup = _truth(generated, "duplicate_enrollment")          # one row per person and kind (contract section 4)
    de = _df(s, "select * from gold.duplicate_enrollment")
    assert set(dup.kind) == {"EMP_RESIDENT", "MULTI_REGION", "CROSS_PROVINCE"}
    for kind in sorted(set(dup.kind)):
        t, g = dup[dup.kind == kind], de[de.kind == kind]
        p, r = _pr(set(t.person_id), set(g.person_id.map(pmap)))
        assert p >= 0.98 and r >= 0.98, (kind, p, r)
    cr = _truth(generated, "contrib_recon")
    pc = _df(s, "select * from gold.contrib_reconciliation where status <> 'MATCH'")
    p, r = _pr(set(zip(cr.person_id, cr.insutype, cr.accrym.astype(str), cr.status)),
               set(zip(pc.person_id.map(pmap), pc.insutype, pc.accrym, pc.status)))
    assert len(cr) > 0 and p >= 0.97 and r >= 0.98


def test_fund_operation_matches_the_planted_risks(generated):
    fr = _truth(generated, "fund_risk")
    fr["ym"] = fr.ym.astype(str)
    fo = _df(generated["settings"], "select * from gold.fund_operation")
    m = fr.merge(fo, on=["admdvs", "insutype", "ym"], suffixes=("_t", "_p"))
    assert len(m) == len(fr) == len(fo)
    # the generator sums in float; the ledger in DECIMAL(16,2): a few cents apart over 24 months
    for c, tol in (("income", 0.05), ("expense", 0.05), ("cum_balance", 1.0), ("months_payable", 1e-3),
                   ("current_surplus_rate", 1e-4)):
        assert (m[c + "_t"].astype(float) - m[c + "_p"].astype(float)).abs().max() < tol, c
    assert (m.planted_risk == m.risk_level).mean() >= 0.99
    assert set(m.risk_level) > {"正常"}
    assert ((m.risk_level != "正常") | ~m.expected_at_least_general).all()


def test_indicators_are_consistent(generated):
    s = generated["settings"]
    cov = _df(s, "select * from gold.coverage_by_region")
    assert set(cov.level) == {"province", "city", "county", "pool"}
    prov = cov[cov.level == "province"].iloc[0]
    assert prov.admdvs == "610000"
    for level in ("city", "county", "pool"):
        assert cov[cov.level == level].target_population.sum() == prov.target_population, level
    assert prov.target_male + prov.target_female == prov.target_population
    assert prov.target_age_0_17 + prov.target_age_18_59 + prov.target_age_60_plus == prov.target_population
    truth = _truth(generated, "persons")
    assert prov.target_population == truth.in_target_population.sum()
    assert len(cov[cov.level == "pool"]) == 12
    msi = _df(s, "select * from gold.medical_service_indicators where hosp_lv = 'ALL' and region = 'ALL'")
    assert len(msi) >= 12 and msi.settlements.sum() > 0
    assert msi.fund_payment_ratio.between(0, 1).all() and msi.oop_ratio.between(0, 1).all()
    assert msi.avg_los.dropna().gt(0).all()
    assert msi.cost_per_case_mom.notna().sum() >= 10
    assert msi.cost_per_case_yoy.notna().sum() >= 1


def test_person_id_is_stable_across_a_rerun_and_a_second_batch(generated):
    a, b = generated["xref1"], generated["xref1_rerun"]
    m = a.merge(b, on="record_id")
    assert len(m) == len(a) == len(b) and (m.person_id_x == m.person_id_y).all()
    c = generated["xref2"][["record_id", "person_id"]]
    m2 = a.merge(c, on="record_id")
    assert len(m2) >= 0.99 * len(a)                    # a few records are deleted in week 2
    assert (m2.person_id_x == m2.person_id_y).all()
    assert len(c) > len(m2)                            # week 2 brought new records


def test_settlements_are_merged_incrementally(generated):
    s1, s2 = generated["setl1"], generated["setl2"]
    assert s1.setl_id.is_unique and s2.setl_id.is_unique
    assert len(s2) > len(s1)
    assert set(s1.setl_id) <= set(s2.setl_id)
    # week 2 comes as the weekly batch and the late batch of the same week (medins/20261108-002)
    assert set(s2._batch_id) == {"20261101-001", "20261108-001", "20261108-002"}


def test_seeds_are_loaded_again_only_when_their_files_change(tmp_path, monkeypatch):
    """The daily run leaves the seeds out of its build while the warehouse holds them as the seed files define
    them; a changed seed file, a changed project file, a missing seed table or a seed load by hand makes the next
    run load them again."""
    from yibao.transform.runner import SEEDS_RECORD, record_seeds, seeds_loaded

    proj = tmp_path / "project"
    shutil.copytree(Path(__file__).parents[1] / "dbt_project" / "seeds", proj / "seeds")
    shutil.copy(Path(__file__).parents[1] / "dbt_project" / "dbt_project.yml", proj / "dbt_project.yml")
    monkeypatch.setenv("YIBAO_DBT_PROJECT_DIR", str(proj))
    settings = Settings(data_root=tmp_path / "var", spark_remote="")
    seeds = sorted(p.stem for p in (proj / "seeds").glob("*.csv"))
    assert seeds == ["code_list", "gbt2260_divisions"]
    for name in seeds:   # a committed Delta table: a commit in its log
        (settings.warehouse / "silver" / name / "_delta_log").mkdir(parents=True)
        (settings.warehouse / "silver" / name / "_delta_log" / "00000000000000000000.json").write_text("{}")

    assert not seeds_loaded(settings)            # never recorded: load them
    record_seeds(settings)
    assert seeds_loaded(settings)
    with open(proj / "seeds" / "code_list.csv", "a", encoding="utf-8") as f:
        f.write("uninsured_reason,Z9,新增原因\n")   # a province extends a code list
    assert not seeds_loaded(settings)
    record_seeds(settings)
    assert seeds_loaded(settings)
    (proj / "dbt_project.yml").write_text((proj / "dbt_project.yml").read_text() + "\n# changed\n")
    assert not seeds_loaded(settings)
    record_seeds(settings)
    shutil.rmtree(settings.warehouse / "silver" / "code_list")   # the table is gone
    assert not seeds_loaded(settings)
    assert (settings.warehouse / "_dbt" / SEEDS_RECORD).is_file()


def test_a_build_that_keeps_the_seeds_selects_everything_else(settings):
    """The daily build without the seeds selects the default selection (selectors.yml: the forecast marts left to
    the forecast stage) minus exactly the two seed nodes: every test stays, those on the seeds and the marts'
    code-list tests included."""
    from yibao.transform.runner import run_dbt, selection

    def names(flags):
        res = run_dbt(settings, ["--quiet", "ls", "--output", "name", *flags]).result
        return set(res)

    everything = names(selection(None, False, keep_seeds=False))
    kept = names(selection(None, False, keep_seeds=True))
    assert {"code_list", "gbt2260_divisions"} <= everything
    assert everything - kept == {"code_list", "gbt2260_divisions"}
    assert not kept - everything
    assert not {n for n in everything if "forecast" in n and not n.startswith("forecast.")}, \
        "the forecast marts are the forecast stage's"
    assert any(n.startswith("in_code_list_person_master") for n in kept)
