"""Accuracy of the published tables against a synthetic landing zone's ground truth (``<landing>/_truth``).

One function, :func:`evaluate`, used by the tests (small provinces) and by ``python -m
yibao.benchmarks.accuracy`` (written down in ``benchmarks/RESULTS.md`` for 1M persons).  Every figure compares
what the pipeline published (gold tables, read through the engine) with what the generator planted, in terms of
the generator's own latent natural persons: a published ``person_id`` is mapped to the true person most of its
source records belong to (``gold.person_xref`` x ``_truth/records``).

| measure | truth | published |
|---|---|---|
| person dedup (pairs of records of one person) | records.person_id | person_xref.person_id |
| uninsured | persons.uninsured | uninsured_person |
| enrolled_unpaid (person x insutype, and x period) | enrolled_unpaid | enrolled_unpaid (accrym_missing) |
| duplicate_enrollment per kind | persons.duplicate_enrollment_kind | duplicate_enrollment.kind |
| R07_IDLE_BED (stays) | r07_idle_days: counted stays with >= min_idle_days idle days | fraud_rule_hit of R07 (setl ids) |
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import pandas as pd

from yibao.config import Settings


def _pr(truth: set, pred: set) -> dict:
    hit = len(truth & pred)
    p = hit / len(pred) if pred else (1.0 if not truth else 0.0)
    r = hit / len(truth) if truth else (1.0 if not pred else 0.0)
    return {"precision": round(p, 4), "recall": round(r, 4), "truth": len(truth), "published": len(pred),
            "hits": hit}


def _pairs(df: pd.DataFrame, keys: list[str]) -> int:
    n = df.groupby(keys).size()
    return int((n * (n - 1) // 2).sum())


def _read(settings: Settings, sql: str) -> pd.DataFrame:
    from yibao.engine import spark_session
    from yibao.transform.runner import sync_catalog

    spark = spark_session(settings)
    sync_catalog(spark, settings)
    return spark.sql(sql).toPandas()


def _truth(truth: Path, name: str) -> pd.DataFrame:
    return pd.read_parquet(truth / f"{name}.parquet")


def person_map(xref: pd.DataFrame, records: pd.DataFrame) -> tuple[pd.Series, pd.DataFrame]:
    """(published person_id -> true person_id, the record-level merge)."""
    live = records[records.deleted_in_batch.isna()] if "deleted_in_batch" in records else records
    m = live.merge(xref, on=["source", "source_table", "source_key"], suffixes=("_t", "_p"))
    pmap = m.groupby("person_id_p")["person_id_t"].agg(lambda v: Counter(v).most_common(1)[0][0])
    return pmap, m


def dedup(m: pd.DataFrame) -> dict:
    tp = _pairs(m, ["person_id_t", "person_id_p"])
    pred, true = _pairs(m, ["person_id_p"]), _pairs(m, ["person_id_t"])
    p, r = tp / max(pred, 1), tp / max(true, 1)
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(2 * p * r / max(p + r, 1e-12), 4),
            "true_pairs": true, "published_pairs": pred}


def evaluate(settings: Settings, truth: Path) -> dict:
    """Every measure of the module docstring, as a dict (JSON-able)."""
    records = _truth(truth, "records")
    xref = _read(settings, "select source, source_table, source_key, person_id from gold.person_xref")
    pmap, m = person_map(xref, records)
    out: dict = {"dedup": dedup(m)}
    persons = _truth(truth, "persons")

    u = _read(settings, "select person_id from gold.uninsured_person")
    out["uninsured"] = _pr(set(persons[persons.uninsured].person_id), set(u.person_id.map(pmap).dropna()))

    eu_t = _truth(truth, "enrolled_unpaid")
    eu_p = _read(settings, "select person_id, insutype, accrym_missing from gold.enrolled_unpaid")
    eu_p["t"] = eu_p.person_id.map(pmap)
    out["enrolled_unpaid"] = _pr(set(zip(eu_t.person_id, eu_t.insutype)), set(zip(eu_p.t.dropna(), eu_p.insutype)))
    periods_t = {(p, t, int(a)) for p, t, ms in zip(eu_t.person_id, eu_t.insutype, eu_t.accrym_missing) for a in ms}
    periods_p = {(p, t, int(a)) for p, t, ms in zip(eu_p.t, eu_p.insutype, eu_p.accrym_missing)
                 if isinstance(p, str) for a in str(ms).split(",") if a.strip()}
    out["enrolled_unpaid_periods"] = _pr(periods_t, periods_p)

    de = _read(settings, "select person_id, kind from gold.duplicate_enrollment")
    de["t"] = de.person_id.map(pmap)
    truth_kinds = {(p, k) for p, ks in zip(persons.person_id, persons.duplicate_enrollment_kind) if ks
                   for k in ks.split("|")}
    pub_kinds = {(p, k) for p, k in zip(de.t, de.kind) if isinstance(p, str)}
    kinds = sorted({k for _, k in truth_kinds} | {k for _, k in pub_kinds})
    out["duplicate_enrollment"] = {k: _pr({x for x in truth_kinds if x[1] == k}, {x for x in pub_kinds if x[1] == k})
                                   for k in kinds}

    # R07 by definition (contract section 5): every counted inpatient stay with at least min_idle_days idle days,
    # planted or not; the generator records the threshold it planted against
    stays = _truth(truth, "r07_idle_days")
    need = int(_truth(truth, "meta").r07_min_idle_days.iloc[0])
    counted = stays.refd_setl_flag.astype(str) != "1"
    truth_stays = set(stays[counted & (stays.idle_days >= need)].setl_id)
    hits = _read(settings, "select setl_ids from gold.fraud_rule_hit where rule_code = 'R07_IDLE_BED'")
    out["r07_idle_bed"] = _pr(truth_stays, {s for ids in hits.setl_ids for s in (ids if ids is not None else [])})
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Accuracy of a warehouse's gold tables against its landing zone's truth.")
    ap.add_argument("--data-root", required=True, type=Path, help="the data root the pipeline ran in")
    ap.add_argument("--truth", type=Path, help="the truth folder (default: <data-root>/landing/_truth)")
    ap.add_argument("--out", type=Path, help="write the figures as JSON here")
    a = ap.parse_args(argv)
    settings = Settings(data_root=a.data_root, spark_remote="")
    res = evaluate(settings, a.truth or a.data_root / "landing" / "_truth")
    text = json.dumps(res, ensure_ascii=False, indent=2)
    print(text)
    if a.out:
        a.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
