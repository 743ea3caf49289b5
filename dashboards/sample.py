"""A small gold-shaped warehouse for the dashboards' tests and demos (no pipeline needed).

Writes Delta tables with the ``deltalake`` package under ``<warehouse>/gold`` and ``<warehouse>/meta``,
with the columns of the data contract (section 4) and of the marts in ``dbt_project/models/marts``.
The numbers are consistent with each other: ``coverage_by_region`` is computed from the same simulated
persons as ``uninsured_person``, so a dashboard's totals can be checked against a count of the table.
"""

from __future__ import annotations

import csv
import random
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa

from yibao.dashboards.readpath import DIVISIONS_SEED

REASONS = ["TAXPAYER", "PENSION_INSURED", "SUBSIDY_ELIGIBLE", "NEWBORN", "SUSPENDED", "TERMINATED", "NEVER_ENROLLED"]
RULES = ["R01_AFTER_DEATH", "R02_SPLIT_ADMISSION", "R03_OVERLAP_STAY", "R04_GENDER_ITEM", "R05_HIGH_FREQUENCY",
         "R06_DUP_CHARGE", "R07_IDLE_BED", "R08_GANG", "R09_PROVIDER_OUTLIER"]


def _divisions() -> list[dict]:
    with DIVISIONS_SEED.open(encoding="utf-8") as fh:
        return [r for r in csv.DictReader(fh) if r["in_region"] == "1"]


def _write(warehouse: Path, schema: str, table: str, rows: list[dict], schema_pa: pa.Schema | None = None) -> None:
    from deltalake import write_deltalake

    data = pa.Table.from_pylist(rows, schema=schema_pa)
    data = data.cast(pa.schema([pa.field(f.name, pa.string()) if pa.types.is_null(f.type) else f for f in data.schema]))
    write_deltalake(str(warehouse / schema / table), data, mode="overwrite", schema_mode="overwrite")


def _certno(rng: random.Random, admdvs: str, birth: datetime, gend: str) -> str:
    seq = rng.randint(0, 49) * 2 + (1 if gend == "1" else 0)
    body = f"{admdvs}{birth:%Y%m%d}{rng.randint(0, 9)}{seq:02d}"
    w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return body + "10X98765432"[sum(int(a) * b for a, b in zip(body, w)) % 11]


def write_sample(warehouse: Path, persons: int = 4000, seed: int = 7, reference: str = "2026-11-01") -> dict:
    """Write the sample tables; returns a few totals for assertions."""
    rng = random.Random(seed)
    warehouse = Path(warehouse)
    divs = _divisions()
    by_code = {d["code"]: d for d in divs}
    counties = [d for d in divs if d["level"] == "3"]
    ref = datetime.fromisoformat(reference)
    surnames = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
    given = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英"
    people = []
    for i in range(persons):
        c = counties[min(int(rng.paretovariate(1.2)) - 1, len(counties) - 1)] if rng.random() < 0.5 else rng.choice(counties)
        age = min(int(rng.expovariate(1 / 38)), 99)
        gend = rng.choice("12")
        birth = ref - timedelta(days=365 * age + rng.randint(0, 364))
        insured = rng.random() < (0.93 if age >= 1 else 0.6)
        people.append(dict(person_id=f"P{i:08d}", admdvs=c["code"], age=age, gend=gend, insured=insured,
                           certno=_certno(rng, c["code"], birth, gend),
                           psn_name=rng.choice(surnames) + "".join(rng.choice(given) for _ in range(rng.choice((1, 2)))),
                           new=insured and rng.random() < 0.01))
    # uninsured_person
    unins = []
    for p in people:
        if p["insured"]:
            continue
        reasons = [r for r in REASONS[:4] if rng.random() < 0.25]
        if p["age"] == 0:
            reasons.append("NEWBORN") if "NEWBORN" not in reasons else None
        reasons.append(rng.choice(["SUSPENDED", "TERMINATED", "NEVER_ENROLLED", "NEVER_ENROLLED"]))
        unins.append(dict(person_id=p["person_id"], certno=p["certno"], psn_name=p["psn_name"], admdvs=p["admdvs"],
                          age=p["age"], gend=p["gend"], reason_codes=",".join(r for r in REASONS if r in reasons),
                          in_national_list=rng.random() < 0.4, hsreg_admdvs=p["admdvs"], resd_admdvs=p["admdvs"]))
    _write(warehouse, "gold", "uninsured_person", unins, pa.schema([
        ("person_id", pa.string()), ("certno", pa.string()), ("psn_name", pa.string()), ("admdvs", pa.string()),
        ("age", pa.int32()), ("gend", pa.string()), ("reason_codes", pa.string()), ("in_national_list", pa.bool_()),
        ("hsreg_admdvs", pa.string()), ("resd_admdvs", pa.string())]))
    # coverage_by_region at province, city, county and pooling-region level
    agg: dict[tuple[str, str], dict] = {}
    for p in people:
        d = by_code[p["admdvs"]]
        band = "0_17" if p["age"] < 18 else "18_59" if p["age"] < 60 else "60_plus"
        for level, code in (("province", "610000"), ("city", d["city_code"]), ("county", d["code"]),
                            ("pool", d["pooling_region"])):
            a = agg.setdefault((code, level), {"admdvs": code, "admdvs_name": by_code[code]["name"], "level": level,
                                               "reference_date": ref.date(), "target_population": 0, "insured": 0,
                                               "uninsured": 0, "insured_elsewhere": 0, "new_enrollments_7d": 0,
                                               **{f"{k}_{s}": 0 for k in ("target", "insured", "uninsured")
                                                  for s in ("male", "female", "age_0_17", "age_18_59", "age_60_plus")}})
            k = "insured" if p["insured"] else "uninsured"
            sex = "male" if p["gend"] == "1" else "female"
            a["target_population"] += 1
            a[k] += 1
            for pre in ("target", k):
                a[f"{pre}_{sex}"] += 1
                a[f"{pre}_age_{band}"] += 1
            a["new_enrollments_7d"] += p["new"]
            a["insured_elsewhere"] += p["insured"] and rng.random() < 0.01
    cov = []
    for a in agg.values():
        a["coverage_rate"] = round(a["insured"] / a["target_population"], 6)
        cov.append(a)
    _write(warehouse, "gold", "coverage_by_region", cov)
    # enrolled_unpaid and duplicate_enrollment
    ins = [p for p in people if p["insured"]]
    unpaid = [dict(person_id=p["person_id"], insutype=rng.choice(["310", "390", "390"]), insu_admdvs=p["admdvs"],
                   accrym_missing=",".join(f"2026{m:02d}" for m in sorted(rng.sample(range(1, 11), rng.randint(1, 4)))))
              for p in rng.sample(ins, len(ins) // 25)]
    _write(warehouse, "gold", "enrolled_unpaid", unpaid)
    dups = []
    for p in rng.sample(ins, len(ins) // 80):
        kind = rng.choice(["SCHEME", "REGION", "SCHEME|REGION"])
        other = rng.choice(counties)["code"]
        dups.append(dict(person_id=p["person_id"], insutypes="310,390" if "SCHEME" in kind else "390",
                         insu_admdvs_list=",".join(sorted({p["admdvs"], other})) if "REGION" in kind else p["admdvs"],
                         kind=kind, psn_nos=f"{p['person_id']}A,{p['person_id']}B"))
    _write(warehouse, "gold", "duplicate_enrollment", dups)
    # fund_operation: 12 pooling regions x 2 schemes x 24 months
    pools = sorted({d["pooling_region"] for d in counties})
    months = [(2024 + (10 + i) // 12, (10 + i) % 12 + 1) for i in range(24)]   # 2024-11 .. 2026-10
    fund = []
    for pool in pools:
        for insutype in ("310", "390"):
            size = rng.uniform(2e7, 3e8) * (3 if pool == "610100" else 1)
            stress = rng.choice([0.7, 0.95, 1.0, 1.05, 1.12, 1.25])
            balance = size * rng.uniform(3, 14)
            hist = []
            for y, m in months:
                if m == 1:
                    ytd_i = ytd_e = 0.0
                elif not hist:
                    ytd_i = ytd_e = 0.0
                income = size * rng.uniform(0.9, 1.1) * (1.6 if m in (1, 12) else 1)
                expense = size * stress * rng.uniform(0.9, 1.1)
                balance += income - expense
                ytd_i += income
                ytd_e += expense
                hist.append(expense)
                mp = balance / (sum(hist[-12:]) / len(hist[-12:]))
                sr = (ytd_i - ytd_e) / ytd_i
                lvl = ("严重" if mp <= 1 or sr < 0 else "中等" if mp <= 3 or sr < 0.05
                       else "一般" if mp <= 6 or sr < 0.15 else "正常")
                fund.append(dict(admdvs=pool, insutype=insutype, ym=f"{y}{m:02d}", income=round(income, 2),
                                 expense=round(expense, 2), cum_balance=round(balance, 2), months_payable=mp,
                                 current_surplus_rate=sr, risk_level=lvl))
    _write(warehouse, "gold", "fund_operation", fund)
    # medical_service_indicators: hospital level x pooling region x month, with 'ALL' roll-ups
    med = []
    base = {}
    for lv in ("1", "2", "3", "9"):
        for pool in pools:
            for y, m in months:
                cases = rng.randint(50, 400) * (4 - int(lv) if lv != "9" else 1)
                cpc = {"1": 15000, "2": 8000, "3": 4000, "9": 3000}[lv] * rng.uniform(0.85, 1.15)
                visits = cases * rng.randint(8, 15)
                base[(lv, pool, f"{y}{m:02d}")] = dict(
                    settlements=cases + visits, inpatient_cases=cases, outpatient_visits=visits,
                    inpatient_cost=cases * cpc, outpatient_cost=visits * rng.uniform(150, 400),
                    los_days=cases * rng.uniform(6, 11), readmissions_15d=int(cases * rng.uniform(0.01, 0.06)))
    roll: dict[tuple, dict] = {}
    for (lv, pool, ym), r in base.items():
        for key in ((lv, pool, ym), ("ALL", pool, ym), (lv, "ALL", ym), ("ALL", "ALL", ym)):
            t = roll.setdefault(key, {k: 0.0 for k in r})
            for k, v in r.items():
                t[k] += v
    def prev(ym: str, n: int) -> str:
        y, m = int(ym[:4]), int(ym[4:])
        i = y * 12 + m - 1 - n
        return f"{i // 12}{i % 12 + 1:02d}"
    for (lv, region, ym), t in roll.items():
        cost = t["inpatient_cost"] + t["outpatient_cost"]
        row = dict(hosp_lv=lv, region=region, ym=ym, settlements=int(t["settlements"]),
                   inpatient_cases=int(t["inpatient_cases"]), outpatient_visits=int(t["outpatient_visits"]),
                   medfee_sumamt=round(cost, 2), hifp_pay=round(cost * 0.62, 2), psn_cash_pay=round(cost * 0.28, 2),
                   cost_per_case=t["inpatient_cost"] / t["inpatient_cases"],
                   cost_per_visit=t["outpatient_cost"] / t["outpatient_visits"], fund_payment_ratio=0.62,
                   oop_ratio=0.28 + rng.uniform(-0.03, 0.03), avg_los=t["los_days"] / t["inpatient_cases"],
                   readmission_15d_rate=t["readmissions_15d"] / t["inpatient_cases"])
        for metric in ("cost_per_case", "avg_los", "inpatient_cases"):
            for suffix, n in (("mom", 1), ("yoy", 12)):
                o = roll.get((lv, region, prev(ym, n)))
                if o is None:
                    row[f"{metric}_{suffix}"] = None
                    continue
                ov = {"cost_per_case": o["inpatient_cost"] / o["inpatient_cases"],
                      "avg_los": o["los_days"] / o["inpatient_cases"], "inpatient_cases": o["inpatient_cases"]}[metric]
                row[f"{metric}_{suffix}"] = (row[metric] / ov - 1) if metric != "avg_los" else row[metric] - ov
        med.append(row)
    _write(warehouse, "gold", "medical_service_indicators", med)
    # fraud_suspect
    sus = []
    for i in range(120):
        kind = rng.choice(["person", "person", "institution", "practitioner", "group"])
        rules = sorted(rng.sample(RULES, rng.choice((1, 1, 2, 3))))
        score = round(rng.uniform(40, 99), 1)
        c = rng.choice(counties)
        sus.append(dict(suspect_id=f"S2026{i:05d}", subject_type=kind,
                        subject_id={"person": "PSN", "institution": "H61", "practitioner": "D61", "group": "G"}[kind]
                        + f"{rng.randint(0, 10**8):08d}",
                        score=score, risk_level="高" if score >= 80 else "中" if score >= 60 else "低",
                        rule_codes=",".join(rules), model_score=round(rng.random(), 3),
                        group_id=f"G{rng.randint(1, 12):03d}" if kind in ("person", "group") else None,
                        evidence="；".join(f"{r}: 结算单 SETL{rng.randint(0, 10**9):09d} 金额 {rng.randint(200, 20000)} 元"
                                          for r in rules),
                        status=rng.choice(["new", "new", "new", "in_review", "confirmed", "dismissed"]),
                        admdvs=c["code"]))
    _write(warehouse, "gold", "fraud_suspect", sus)
    # meta: quality scores and results, quarantine, ingest log
    sources = ["medins", "national", "police", "civil_affairs", "tax", "health", "hrss"]
    scores, results, quar, logs = [], [], [], []
    for b, batch in enumerate(["20261025-001", "20261101-001"]):
        run_time = [datetime(2026, 10, 25, 3), datetime(2026, 11, 1, 3)][b]
        for s in sources:
            n = rng.randint(20, 60)
            failed = rng.randint(0, 5)
            scores.append(dict(run_id=f"run{b}", run_time=run_time, layer="bronze", source=s, batch_id=batch,
                               tables=rng.randint(1, 11), expectations=n, passed=n - failed,
                               blocking_failed=min(failed, 1), warning_failed=failed - min(failed, 1),
                               pass_rate=(n - failed) / n, score=round(100 * (n - failed) / n, 1),
                               status="released" if failed < 3 else "hold"))
            for k in range(failed):
                results.append(dict(run_id=f"run{b}", run_time=run_time, layer="bronze", schema="bronze",
                                    table=f"{s}__t{k}", source=s, source_table=f"t{k}", batch_id=batch, rule=f"RULE{k}",
                                    expectation="expect_column_values_to_match_regex", column="certno",
                                    severity=rng.choice(["blocking", "warning"]), title="身份证号校验位错误",
                                    success=False, unexpected_count=rng.randint(1, 80),
                                    unexpected_percent=rng.uniform(0, 3), rows_checked=rng.randint(1000, 9000)))
            for k in range(rng.randint(0, 6)):
                quar.append(dict(source=s, source_table="psn_info", batch_id=batch, file="psn_info.csv",
                                 line_number=rng.randint(2, 5000), reason=rng.choice(["字段数不符", "日期无法解析", "金额无法解析"]),
                                 raw_line=f"PSN1,张三,1,19800101,{_certno(rng, '610102', datetime(1980, 1, 1), '1')}",
                                 ingest_time=run_time))
            logs.append(dict(source=s, batch_id=batch, source_table="psn_info", file="psn_info.csv", mode="full",
                             status="applied", rows_read=5000, rows_landed=4990, rows_quarantined=10,
                             rows_deleted=0, reason=None, finished_at=run_time))
    _write(warehouse, "meta", "quality_score", scores)
    _write(warehouse, "meta", "quality_result", results)
    _write(warehouse, "meta", "quarantine", quar)
    _write(warehouse, "meta", "ingest_log", logs)
    return {"persons": persons, "uninsured": len(unins), "insured": persons - len(unins), "suspects": len(sus)}
