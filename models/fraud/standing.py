"""Standing of practitioners and institutions: payment-qualification points (医保支付资格记分) and credit ratings
(定点医药机构信用评级).  ``compute_standing(spark, cat, cfg)`` writes ``gold.practitioner_score`` and
``gold.institution_credit``; parameters are ``[practitioner_score]`` and ``[credit]`` of rules.toml.

**Confirmed violations.**  A settlement is a confirmed violation when ``audit_result`` has a violation_code for it,
or when it is one of the ``setl_ids`` of a suspect whose latest review status (meta.suspect_review) is
``[review].positive_status``; such a settlement's code is the rule of the hits (gold.fraud_rule_hit) of that suspect
that name it, else ``OTHER``.  Reversed settlements never count.  One event per settlement: when several
conclusions name it (an audit and a review, two confirmed suspects), the one with the most points counts.

**Practitioner points** (医保发〔2024〕23号).  The practitioners answering for a settlement (``responsible``: its
attending doctor ``setl.atddr_no``, optionally the doctors billing its fee lines ``fee_list.bilg_dr_codg``) each get
the event's points (``[practitioner_score.points]``, by code; 1–3 minor, 4–6 misuse of the fund, 10–12 fraud).
Points add up per calendar year (``year_basis``: the settlement's year, or the year of the conclusion) and are
capped at ``cap`` (12).  Status: 终止支付资格 at ``terminate`` (12), 暂停支付资格 from ``suspend`` (9, for the
months of ``suspension_months``), 预警 from ``warning`` (6), else 正常.  ``next_threshold`` is the next sanction
(suspension, then termination) and ``points_to_next`` the points missing to it.  Every practitioner named as
attending doctor on a counted settlement of a year has a row for it (0 points: 正常).

**Institution credit**, per institution and year (the settlement's year), from rates only (an institution's size
does not move its grade)::

    violation_rate        = confirmed violating settlements / (settlements + pseudo_settlements)
    deduction_ratio       = audit deductions (deduct_amt) / fund income (hifp_pay + acct_pay of its settlements)
    audit_violation_share = audited settlements with a violation / (audited settlements + pseudo_audits)
    warning_rate          = settlements named by rule hits / (settlements + pseudo_settlements)
    provider_outlier      = 1 when R09 flagged it (its latest year), else 0
    deduction_k = weight_k × min(rate_k / full_k, 1)        score = max(0, 100 − Σ_k deduction_k)

The pseudo-counts shrink small denominators towards 0 (a clinic with two audits cannot lose the whole audit weight
on one finding).  Hits of suspects a reviewer dismissed (``negative_status``) are not warnings; an institution
suspect a reviewer confirmed counts as an R09 finding.  Grade: A ≥ ``grades.A``, B ≥ ``grades.B``, C ≥ ``grades.C``,
else D; an institution with settlements and nothing negative scores 100 (A).

The engine aggregates the settlements (per practitioner and year, per institution and year; the audits, violations
and rule-hit settlements joined to them); only those aggregates and the confirmed violations come to the client.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd
from pyspark.sql import DataFrame, SparkSession

from yibao.catalog import Catalog
from yibao.fraud import suspects

PRACTITIONER_DDL = ("year int, prac_code string, prac_name string, prac_type string, prac_type_name string, "
                    "fixmedins_code string, n_settlements long, points int, raw_points int, violations int, "
                    "status string, next_threshold int, points_to_next int, suspension_months int, reasons string, "
                    "updated_at timestamp, admdvs string")
CREDIT_DDL = ("year int, fixmedins_code string, fixmedins_name string, score double, grade string, "
              "n_settlements long, fund_income double, n_violations int, violation_rate double, deduct_amt double, "
              "deduction_ratio double, n_audited int, n_audit_violations int, audit_violation_share double, "
              "n_warning_settlements int, warning_rate double, r09_hit boolean, r09_confirmed boolean, "
              "d_violation double, d_deduction double, d_audit double, d_warning double, d_outlier double, "
              "reasons string, updated_at timestamp, admdvs string")
REVIEW_EVENT_DDL = "setl_id string, code string, confirmed_date date"
EVENT_COLUMNS = ["setl_id", "code", "source", "confirmed_date", "confirmed_year", "setl_date", "setl_year",
                 "fixmedins_code", "atddr_no"]
SOURCE_AUDIT, SOURCE_REVIEW = "稽核", "复核"
NORMAL, WARNING, SUSPENDED, TERMINATED = "正常", "预警", "暂停支付资格", "终止支付资格"
RESPONSIBLE = ("atddr_no", "bilg_dr_codg")
COMPONENTS = ("violation_rate", "deduction_ratio", "audit_violation_share", "warning_rate")


def _institution_regions(cat: Catalog, cfg: dict) -> dict:
    """fixmedins_code -> the institution's pooling region (else its division): the region a row belongs to."""
    t = _table(cat, cfg["common"]["institution_table"]).selectExpr(
        "fixmedins_code", "coalesce(pooling_region, admdvs) as region").groupBy("fixmedins_code").agg(
        {"region": "max"}).toPandas()
    return dict(zip(t.fixmedins_code, t["max(region)"]))


# ----------------------------------------------------------------------------------------------- entry
def compute_standing(spark: SparkSession, cat: Catalog, cfg: dict) -> dict:
    """Write gold.practitioner_score and gold.institution_credit; counts of rows per status and per grade."""
    pc = cfg["practitioner_score"]
    bad = sorted(set(pc["responsible"]) - set(RESPONSIBLE))
    if bad:
        raise ValueError(f"[practitioner_score] responsible: unknown columns {bad}; allowed {list(RESPONSIBLE)}")
    _views(spark, cat, cfg)
    reviews = suspects.latest_reviews(cat)
    sus = _read_or_empty(cat, "gold", "fraud_suspect", ["suspect_id", "subject_type", "subject_id", "setl_ids"])
    hits = _read_or_empty(cat, "gold", "fraud_rule_hit",
                          ["suspect_id", "rule_code", "subject_type", "subject_id", "fixmedins_code", "setl_ids"])
    reviewed = review_events(reviews, sus, hits, cfg)
    cat.upload(list(reviewed.itertuples(index=False, name=None)), REVIEW_EVENT_DDL,
               "standing_review_events").createOrReplaceTempView("st_review")
    events = dedup_events(_confirmed_violations(spark), cfg)
    names = _code_names(cat, cfg)

    billing = _billing_doctors(spark, cat, cfg, events) if "bilg_dr_codg" in pc["responsible"] else None
    points = practitioner_points(practitioner_events(events, billing, pc), cfg, names.get("violation_code", {}))
    prac = practitioner_table(_practitioner_base(spark), points, _registry(cat, cfg, names.get("prac_type", {})), cfg)

    warned = _warning_counts(spark, cat, warning_settlements(reviews, hits, cfg))
    inputs = institution_inputs(_institution_base(spark, cat, cfg), events, warned, institution_flags(reviews, hits, cfg))
    credit = credit_scores(inputs, cfg)

    now = datetime.now(timezone.utc).replace(tzinfo=None)
    region = _institution_regions(cat, cfg)        # admdvs: what the dashboards' row-level security filters on
    _write(cat, prac.assign(updated_at=now, admdvs=prac.fixmedins_code.map(region)), PRACTITIONER_DDL,
           "practitioner_score")
    _write(cat, credit.assign(updated_at=now, admdvs=credit.fixmedins_code.map(region)), CREDIT_DDL,
           "institution_credit")
    return {"practitioners": int(len(prac)), "by_status": _counts(prac, "status"),
            "institutions": int(len(credit)), "by_grade": _counts(credit, "grade"),
            "violations": int(len(events))}


# ---------------------------------------------------------------------------------------- on the engine
def _views(spark: SparkSession, cat: Catalog, cfg: dict) -> None:
    """st_setl: counted settlements (reversed ones dropped) with their date, year and fund payment; st_audit."""
    c = cfg["common"]
    _table(cat, c["settlement_detail_table"]).createOrReplaceTempView("st_setl_raw")
    _table(cat, c["audit_table"]).createOrReplaceTempView("st_audit_raw")
    spark.sql("""
        create or replace temp view st_setl as
        select setl_id, fixmedins_code, atddr_no, setl_date, year(setl_date) as setl_year, fund
        from (select setl_id, fixmedins_code, atddr_no,
                     coalesce(cast(setl_time as date), cast(enddate as date), cast(begndate as date)) as setl_date,
                     coalesce(cast(hifp_pay as double), 0) + coalesce(cast(acct_pay as double), 0) as fund
              from st_setl_raw where coalesce(refd_setl_flag, '0') <> '1') s
        where setl_date is not null""")
    spark.sql("""
        create or replace temp view st_audit as
        select setl_id, violation_code, coalesce(cast(deduct_amt as double), 0) as deduct_amt,
               cast(audit_date as date) as audit_date
        from st_audit_raw""")


def _confirmed_violations(spark: SparkSession) -> pd.DataFrame:
    """Every conclusion of a violation (audits with a code, settlements of confirmed suspects: view st_review) on a
    counted settlement, with the settlement's date, institution and attending doctor: :data:`EVENT_COLUMNS`."""
    return spark.sql(f"""
        select e.setl_id, e.code, e.source, e.confirmed_date, year(e.confirmed_date) as confirmed_year,
               s.setl_date, s.setl_year, s.fixmedins_code, s.atddr_no
        from (select setl_id, violation_code as code, '{SOURCE_AUDIT}' as source, audit_date as confirmed_date
              from st_audit where violation_code is not null
              union all
              select setl_id, code, '{SOURCE_REVIEW}' as source, confirmed_date from st_review) e
        join st_setl s on s.setl_id = e.setl_id""").toPandas()[EVENT_COLUMNS]


def _practitioner_base(spark: SparkSession) -> pd.DataFrame:
    """Per year and attending doctor (atddr_no): counted settlements, and the institution of most of them."""
    return spark.sql("""
        with c as (select setl_year as year, atddr_no as prac_code, fixmedins_code, count(*) as n
                   from st_setl where atddr_no is not null group by setl_year, atddr_no, fixmedins_code),
        r as (select *, row_number() over (partition by year, prac_code order by n desc, fixmedins_code nulls last) as rn,
                     sum(n) over (partition by year, prac_code) as total from c)
        select year, prac_code, fixmedins_code as main_fixmedins_code, total as n_settlements from r where rn = 1
        """).toPandas()


def _institution_base(spark: SparkSession, cat: Catalog, cfg: dict) -> pd.DataFrame:
    """Per year and institution: counted settlements, fund income, audited settlements, those found violating and
    the deductions; with the institution's name."""
    base = spark.sql("""
        select s.setl_year as year, s.fixmedins_code, count(*) as n_settlements, round(sum(s.fund), 2) as fund_income,
               count(a.setl_id) as n_audited, count(a.violation_code) as n_audit_violations,
               round(coalesce(sum(a.deduct_amt), 0), 2) as deduct_amt
        from st_setl s left join st_audit a on a.setl_id = s.setl_id
        where s.fixmedins_code is not null
        group by s.setl_year, s.fixmedins_code""").toPandas()
    inst = (_table(cat, cfg["common"]["institution_table"]).groupBy("fixmedins_code")
            .agg({"fixmedins_name": "max"}).withColumnRenamed("max(fixmedins_name)", "fixmedins_name").toPandas())
    return base.merge(inst, on="fixmedins_code", how="left")


def _billing_doctors(spark: SparkSession, cat: Catalog, cfg: dict, events: pd.DataFrame) -> pd.DataFrame:
    """setl_id, prac_code: the doctors who billed fee lines of the violating settlements."""
    ids = sorted(set(events.setl_id))
    cat.upload([(x,) for x in ids], "setl_id string", "standing_violation_ids").createOrReplaceTempView("st_viol")
    _table(cat, cfg["common"]["fee_table"]).createOrReplaceTempView("st_fee")
    return spark.sql("""select distinct f.setl_id, f.bilg_dr_codg as prac_code
                        from st_fee f join st_viol v on v.setl_id = f.setl_id
                        where f.bilg_dr_codg is not null""").toPandas()


def _warning_counts(spark: SparkSession, cat: Catalog, setl_ids: list[str]) -> pd.DataFrame:
    """year, fixmedins_code, n_warning_settlements: the settlements rule hits name, counted where they took place."""
    cat.upload([(x,) for x in setl_ids], "setl_id string", "standing_warning_ids").createOrReplaceTempView("st_warn")
    return spark.sql("""select s.setl_year as year, s.fixmedins_code, count(*) as n_warning_settlements
                        from st_setl s join st_warn w on w.setl_id = s.setl_id
                        where s.fixmedins_code is not null group by s.setl_year, s.fixmedins_code""").toPandas()


def _registry(cat: Catalog, cfg: dict, type_names: dict) -> pd.DataFrame:
    """prac_code, prac_name, prac_type, prac_type_name, fixmedins_code of the practitioner registry (empty without one)."""
    cols = ["prac_code", "prac_name", "prac_type", "fixmedins_code"]
    name = cfg["practitioner_score"]["practitioner_table"]
    if not cat.exists(*name.split(".")):
        reg = pd.DataFrame(columns=cols)
    else:
        reg = _table(cat, name).select(*cols).where("prac_code is not null").toPandas()
        reg = reg.sort_values("prac_code", kind="stable").drop_duplicates("prac_code")
    return reg.assign(prac_type_name=reg.prac_type.map(type_names))


def _code_names(cat: Catalog, cfg: dict) -> dict:
    """code_type -> {code: Chinese name} of the code list (prac_type, violation_code); rule names from the rules."""
    names = {"violation_code": {c: r["name"] for c, r in cfg["rules"].items()}}
    table = cfg["practitioner_score"]["code_list_table"]
    if cat.exists(*table.split(".")):
        cl = _table(cat, table).where("code_type in ('prac_type', 'violation_code')").toPandas()
        for t, g in cl.groupby("code_type"):
            names.setdefault(t, {}).update({c: n for c, n in zip(g.code, g.name) if c not in names.get(t, {})})
    return names


# ------------------------------------------------------------------------------- pure: practitioner points
def review_events(reviews: pd.DataFrame, suspect_rows: pd.DataFrame, hits: pd.DataFrame, cfg: dict) -> pd.DataFrame:
    """setl_id, code, confirmed_date: each settlement of each suspect whose latest status is the positive one; its
    code is the rule of a hit of that suspect naming it (one row per rule), else OTHER."""
    out = pd.DataFrame(columns=["setl_id", "code", "confirmed_date"])
    pos = reviews[reviews.status == cfg["review"]["positive_status"]] if len(reviews) else reviews
    if not len(pos) or not len(suspect_rows):
        return out
    s = (suspect_rows[["suspect_id", "setl_ids"]].merge(pos[["suspect_id", "updated_at"]], on="suspect_id")
         .explode("setl_ids").dropna(subset=["setl_ids"]).rename(columns={"setl_ids": "setl_id"}))
    if not len(s):
        return out
    h = (hits[["suspect_id", "rule_code", "setl_ids"]].explode("setl_ids").dropna(subset=["setl_ids"])
         .rename(columns={"setl_ids": "setl_id", "rule_code": "code"}) if len(hits)
         else pd.DataFrame(columns=["suspect_id", "code", "setl_id"]))
    m = s.merge(h, on=["suspect_id", "setl_id"], how="left")
    m["code"] = m.code.fillna("OTHER")
    m["confirmed_date"] = pd.to_datetime(m.updated_at).dt.date
    return m[["setl_id", "code", "confirmed_date"]].drop_duplicates().sort_values(["setl_id", "code"]).reset_index(drop=True)


def points_of(code, cfg: dict) -> int:
    """The points of one confirmed violation of ``code`` (OTHER's for a code not configured)."""
    pts = cfg["practitioner_score"]["points"]
    return int(pts.get(code, pts["OTHER"]))


def dedup_events(events: pd.DataFrame, cfg: dict) -> pd.DataFrame:
    """One event per settlement, with its points: the conclusion with the most points (then an audit before a review,
    then the earlier conclusion, then the code)."""
    e = events.copy()
    for c in ("confirmed_date", "setl_date"):
        e[c] = pd.to_datetime(e[c])
    e["points"] = [points_of(c, cfg) for c in e.code]
    e["_src"] = (e.source != SOURCE_AUDIT).astype(int)
    e = e.sort_values(["setl_id", "points", "_src", "confirmed_date", "code"],
                      ascending=[True, False, True, True, True], kind="stable")
    return e.drop_duplicates("setl_id").drop(columns="_src").reset_index(drop=True)


def practitioner_events(events: pd.DataFrame, billing: pd.DataFrame | None, pc: dict) -> pd.DataFrame:
    """The events with ``prac_code``: one row per practitioner answering for the settlement (``pc['responsible']``:
    its attending doctor, and the doctors of ``billing`` — setl_id, prac_code — when bilg_dr_codg is listed) and
    settlement, and ``year`` per ``pc['year_basis']``."""
    parts = []
    if "atddr_no" in pc["responsible"]:
        parts.append(events.assign(prac_code=events.atddr_no))
    if "bilg_dr_codg" in pc["responsible"] and billing is not None and len(billing):
        parts.append(events.merge(billing, on="setl_id"))
    e = pd.concat(parts, ignore_index=True) if parts else events.assign(prac_code=None).iloc[:0]
    e = e.dropna(subset=["prac_code"]).drop_duplicates(["prac_code", "setl_id"])
    basis = pc.get("year_basis", "settlement")
    if basis not in ("settlement", "confirmation"):
        raise ValueError(f"[practitioner_score] year_basis must be settlement or confirmation, got {basis!r}")
    e["year"] = e.setl_year if basis == "settlement" else e.confirmed_year
    return e.dropna(subset=["year"]).astype({"year": int}).reset_index(drop=True)


def practitioner_points(pe: pd.DataFrame, cfg: dict, code_names: dict | None = None) -> pd.DataFrame:
    """Per year and practitioner: raw_points (uncapped sum), violations, the institution of most of them
    (event_fixmedins_code) and ``reasons``: the violations by date with their points, in Chinese."""
    cols = ["year", "prac_code", "raw_points", "violations", "event_fixmedins_code", "reasons"]
    if not len(pe):
        return pd.DataFrame(columns=cols)
    pc = cfg["practitioner_score"]
    code_names = code_names or {}
    rows = []
    for (year, prac), g in pe.sort_values(["setl_date", "setl_id"], kind="stable").groupby(["year", "prac_code"]):
        raw = int(g.points.sum())
        shown = g.head(int(pc["max_reasons"]))
        parts = [f"{_day(r.setl_date)} 结算{r.setl_id} {code_names.get(r.code, r.code)} 记{int(r.points)}分"
                 f"（{r.source}确认 {_day(r.confirmed_date)}）" for r in shown.itertuples()]
        text = "；".join(parts)
        if len(g) > len(shown):
            text += f" 等 {len(g)} 项"
        if raw > int(pc["cap"]):
            text += f"；合计 {raw} 分，按年度上限记 {int(pc['cap'])} 分"
        inst = g.fixmedins_code.dropna().value_counts()
        top = sorted(inst[inst == inst.max()].index)[0] if len(inst) else None
        rows.append((int(year), prac, raw, int(len(g)), top, text))
    return pd.DataFrame(rows, columns=cols)


def status_of(points: int, pc: dict) -> str:
    """正常 / 预警 / 暂停支付资格 / 终止支付资格 for a year's (capped) points."""
    if points >= int(pc["terminate"]):
        return TERMINATED
    if points >= int(pc["suspend"]):
        return SUSPENDED
    if points >= int(pc["warning"]):
        return WARNING
    return NORMAL


def next_threshold(points: int, pc: dict) -> int | None:
    """The next sanction's threshold above ``points`` (suspension, then termination); None once terminated."""
    above = [t for t in (int(pc["suspend"]), int(pc["terminate"])) if t > points]
    return min(above) if above else None


def suspension_months(points: int, pc: dict) -> int | None:
    """Months of suspension proposed for ``points`` (``suspension_months``); None unless suspended."""
    if status_of(points, pc) != SUSPENDED:
        return None
    months = [int(m) for p, m in pc["suspension_months"] if points >= int(p)]
    return months[-1] if months else None


def practitioner_table(base: pd.DataFrame, points: pd.DataFrame, registry: pd.DataFrame, cfg: dict) -> pd.DataFrame:
    """Rows of gold.practitioner_score (without updated_at): every practitioner × year with settlements (``base``:
    year, prac_code, main_fixmedins_code, n_settlements) or points; points capped at ``cap``; status, next threshold,
    points to it and proposed suspension; the institution: registered, else of most settlements, else of most
    violations."""
    pc = cfg["practitioner_score"]
    t = base.merge(points, on=["year", "prac_code"], how="outer")
    t = t.merge(registry, on="prac_code", how="left", suffixes=("", "_reg"))
    for c in ("n_settlements", "raw_points", "violations"):
        t[c] = pd.to_numeric(t[c]).fillna(0).astype(int)
    t["points"] = t.raw_points.clip(upper=int(pc["cap"]))
    t["fixmedins_code"] = (t.fixmedins_code.where(t.fixmedins_code.notna(), t.main_fixmedins_code)
                           .where(lambda x: x.notna(), t.event_fixmedins_code))
    t["status"] = [status_of(p, pc) for p in t.points]
    t["next_threshold"] = [next_threshold(p, pc) for p in t.points]
    t["points_to_next"] = [None if n is None else n - p for n, p in zip(t.next_threshold, t.points)]
    t["suspension_months"] = [suspension_months(p, pc) for p in t.points]
    t["reasons"] = t.reasons.where(t.reasons.notna(), "无确认违规")
    t["year"] = t.year.astype(int)
    cols = [c.split()[0] for c in PRACTITIONER_DDL.split(", ") if c.split()[0] not in ("updated_at", "admdvs")]
    return t.sort_values(["year", "prac_code"]).reset_index(drop=True)[cols]


# ------------------------------------------------------------------------------- pure: institution credit
def _not_dismissed(reviews: pd.DataFrame, hits: pd.DataFrame, cfg: dict) -> pd.DataFrame:
    neg = set(reviews[reviews.status == cfg["review"]["negative_status"]].suspect_id) if len(reviews) else set()
    return hits[~hits.suspect_id.isin(neg)] if len(hits) else hits


def warning_settlements(reviews: pd.DataFrame, hits: pd.DataFrame, cfg: dict) -> list[str]:
    """The settlements named by rule hits, except those of suspects a reviewer dismissed."""
    h = _not_dismissed(reviews, hits, cfg)
    return sorted({s for l in h.setl_ids for s in (l if l is not None else [])}) if len(h) else []


def institution_flags(reviews: pd.DataFrame, hits: pd.DataFrame, cfg: dict) -> pd.DataFrame:
    """fixmedins_code, r09_hit, r09_confirmed: flagged by R09 (not dismissed), and confirmed by a reviewer (an
    institution suspect whose latest status is the positive one)."""
    cols = ["fixmedins_code", "r09_hit", "r09_confirmed"]
    h = _not_dismissed(reviews, hits, cfg)
    flagged = set(h[(h.rule_code == "R09_PROVIDER_OUTLIER") & (h.subject_type == "institution")].subject_id) if len(h) else set()
    confirmed = set()
    if len(reviews):
        pos = reviews[(reviews.status == cfg["review"]["positive_status"]) & (reviews.subject_type == "institution")]
        confirmed = set(pos.subject_id)
    codes = sorted(flagged | confirmed)
    return pd.DataFrame([(c, c in flagged or c in confirmed, c in confirmed) for c in codes], columns=cols)


def institution_inputs(base: pd.DataFrame, events: pd.DataFrame, warned: pd.DataFrame, flags: pd.DataFrame) -> pd.DataFrame:
    """The credit inputs per institution and year: ``base`` (year, fixmedins_code, fixmedins_name, n_settlements,
    fund_income, n_audited, n_audit_violations, deduct_amt) with n_violations (one event per settlement, in the
    settlement's year), n_warning_settlements, and the R09 flags on the institution's latest year."""
    t = base.copy()
    if len(events):
        v = (events.dropna(subset=["fixmedins_code", "setl_year"]).groupby(["setl_year", "fixmedins_code"]).size()
             .rename("n_violations").reset_index().rename(columns={"setl_year": "year"}))
        t = t.merge(v.astype({"year": int}), on=["year", "fixmedins_code"], how="left")
    else:
        t["n_violations"] = 0
    t = t.merge(warned.astype({"year": int}) if len(warned) else warned.assign(year=pd.Series(dtype=int)),
                on=["year", "fixmedins_code"], how="left")
    for c in ("n_violations", "n_warning_settlements", "n_audited", "n_audit_violations"):
        t[c] = pd.to_numeric(t[c]).fillna(0).astype(int)
    latest = t.groupby("fixmedins_code").year.transform("max") == t.year
    f = flags.set_index("fixmedins_code") if len(flags) else pd.DataFrame(columns=["r09_hit", "r09_confirmed"])
    for c in ("r09_hit", "r09_confirmed"):
        t[c] = latest & t.fixmedins_code.map(f[c]).eq(True)
    return t


def credit_scores(inputs: pd.DataFrame, cfg: dict) -> pd.DataFrame:
    """Rows of gold.institution_credit (without updated_at): the rates, each component's deduction, the score (0–100),
    the grade and the reasons (the deductions with their figures, largest first)."""
    cc = cfg["credit"]
    w, full = cc["weights"], cc["full"]
    t = inputs.copy()
    n = t.n_settlements.astype(float)
    t["violation_rate"] = t.n_violations / (n + float(cc["pseudo_settlements"]))
    t["deduction_ratio"] = [(d / f if f > 0 else (1.0 if d > 0 else 0.0)) for d, f in zip(t.deduct_amt, t.fund_income)]
    t["audit_violation_share"] = t.n_audit_violations / (t.n_audited + float(cc["pseudo_audits"]))
    t["warning_rate"] = t.n_warning_settlements / (n + float(cc["pseudo_settlements"]))
    for comp, col in zip(COMPONENTS, ("d_violation", "d_deduction", "d_audit", "d_warning")):
        t[col] = (float(w[comp]) * (t[comp] / float(full[comp])).clip(upper=1.0)).round(2)
    t["d_outlier"] = t.r09_hit.astype(float) * float(w["provider_outlier"])
    total = t[["d_violation", "d_deduction", "d_audit", "d_warning", "d_outlier"]].sum(axis=1)
    t["score"] = (100.0 - total).clip(lower=0.0).round(1)
    t["grade"] = [grade_of(s, cc) for s in t.score]
    t["reasons"] = [_credit_reasons(r) for r in t.itertuples()]
    cols = [c.split()[0] for c in CREDIT_DDL.split(", ") if c.split()[0] not in ("updated_at", "admdvs")]
    return t.sort_values(["year", "fixmedins_code"]).reset_index(drop=True)[cols]


def grade_of(score: float, cc: dict) -> str:
    """A / B / C for a score at or above that grade's configured floor, else D."""
    for g in ("A", "B", "C"):
        if score >= float(cc["grades"][g]):
            return g
    return "D"


def _credit_reasons(r) -> str:
    parts = []
    if r.d_violation > 0:
        parts.append((r.d_violation, f"确认违规结算 {r.n_violations} 笔（占结算 {_share(r.n_violations, r.n_settlements)}），"
                                     f"扣 {r.d_violation:.1f} 分"))
    if r.d_deduction > 0:
        parts.append((r.d_deduction, f"稽核扣款 {r.deduct_amt:,.2f} 元，占基金收入 {r.deduction_ratio:.2%}，"
                                     f"扣 {r.d_deduction:.1f} 分"))
    if r.d_audit > 0:
        parts.append((r.d_audit, f"抽查结算 {r.n_audited} 笔中违规 {r.n_audit_violations} 笔"
                                 f"（{_share(r.n_audit_violations, r.n_audited)}），扣 {r.d_audit:.1f} 分"))
    if r.d_warning > 0:
        parts.append((r.d_warning, f"规则预警涉及结算 {r.n_warning_settlements} 笔"
                                   f"（占结算 {_share(r.n_warning_settlements, r.n_settlements)}），扣 {r.d_warning:.1f} 分"))
    if r.d_outlier > 0:
        parts.append((r.d_outlier, "机构异常（R09）：费用结构显著偏离同类机构" + ("，经复核确认" if r.r09_confirmed else "")
                      + f"，扣 {r.d_outlier:.1f} 分"))
    parts.sort(key=lambda p: -p[0])
    return "；".join(p[1] for p in parts) if parts else "无负面记录"


# ---------------------------------------------------------------------------------------------- helpers
def _share(k, n) -> str:
    return f"{k / n:.1%}" if n else "—"


def _day(d) -> str:
    return "" if d is None or pd.isna(d) else str(pd.Timestamp(d).date())


def _table(cat: Catalog, name: str) -> DataFrame:
    schema, table = name.split(".", 1)
    return cat.read(schema, table)


def _read_or_empty(cat: Catalog, schema: str, table: str, cols: list[str]) -> pd.DataFrame:
    if not cat.exists(schema, table):
        return pd.DataFrame(columns=cols)
    return cat.read(schema, table).select(*cols).toPandas()


def _counts(df: pd.DataFrame, col: str) -> dict:
    return {str(k): int(v) for k, v in df[col].value_counts().sort_index().items()}


def _value(v, kind: str):
    """A pandas / numpy cell as a plain Python value of the DDL type ``kind`` (NaN, NaT and NA as None)."""
    if v is None or (not isinstance(v, (list, tuple, str)) and pd.isna(v)):
        return None
    if kind in ("int", "long"):
        return int(v)
    if kind == "double":
        return float(v)
    if kind == "boolean":
        return bool(v)
    if kind == "timestamp":
        return pd.Timestamp(v).to_pydatetime()
    return str(v)


def _write(cat: Catalog, df: pd.DataFrame, ddl: str, table: str) -> None:
    cols = [c.split()[0] for c in ddl.split(", ")]
    kinds = [c.split()[1] for c in ddl.split(", ")]
    rows = [tuple(_value(v, k) for v, k in zip(r, kinds)) for r in df[cols].itertuples(index=False, name=None)]
    cat.overwrite(cat.upload(rows, ddl, f"standing_{table}"), "gold", table)


__all__ = ["compute_standing", "credit_scores", "dedup_events", "grade_of", "institution_inputs",
           "practitioner_events", "practitioner_points", "practitioner_table", "review_events", "status_of"]
