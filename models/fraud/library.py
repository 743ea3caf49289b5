"""The rule library (智能监管规则库) as data: parameterised rule templates, the library's versions, each rule's record.

Every rule is a ``[rules.<CODE>]`` table of ``rules.toml`` with its catalogue entry — ``name``, ``category``
(the national platform's 政策类 / 医疗类 / 管理类), ``subcategory`` (限性别, 限年龄, 限频次, 超限价, 重复收费, 分解住院,
挂床住院, ...), ``severity`` (一般 / 较重 / 严重), ``weight`` (its noisy-OR weight in the score), ``valid_from`` /
``valid_to`` and ``owner`` — and its parameters.  R01–R09 are built in (their logic is code, in rules.py and
graph.py, and their parameters are data).  A bureau adds a rule **without code** by naming a ``template``:

- ``age_limit`` (限年龄): fee lines of ``items`` (codes) or items whose name matches ``keywords`` billed to a person
  whose age on the settlement's first day is below ``min_age`` or above ``max_age`` (either bound optional);
- ``frequency_limit`` (限频次): a person billed more than ``max_count`` units (the fee line's ``cnt``) of ``items``
  / ``keywords`` within any ``window_days`` consecutive days;
- ``price_ceiling`` (超限价): a fee line of an item of ``ceilings`` (code → highest unit price, yuan) billed at a
  higher unit price (``pric``).

A template rule judges only settlements that began within ``valid_from``..``valid_to`` (both optional,
inclusive); for the built-ins the dates are recorded, not enforced.  Hits have the one schema of
:data:`yibao.fraud.rules.HIT_COLUMNS`, with Chinese evidence naming dates, institutions, settlements and figures,
and feed the suspect list like any rule.

The library is versioned: every score appends the library's entries to ``meta.rule_library`` when its content
changed (``version`` = hash of every entry), so what a suspect was judged by can be looked up.
``gold.fraud_rule_stats`` records per rule its hits, subjects, settlements, amount, and how many of its hits
were confirmed or dismissed (a reviewer's decision on the suspect, else the audits of the hit's settlements)
with the precision among the judged; ``gold.fraud_rule_trend`` its hits and amount per month.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime, timezone

import pandas as pd
from pyspark.sql import DataFrame, SparkSession

from yibao.fraud.config import sql_list

TEMPLATE_PARAMS = {"age_limit": (), "frequency_limit": ("max_count", "window_days"), "price_ceiling": ("ceilings",)}
CATALOGUE = ("name", "category", "subcategory", "severity", "weight", "valid_from", "valid_to", "owner")
LIBRARY_DDL = ("version string, recorded_at timestamp, rule_code string, name string, category string, "
               "subcategory string, severity string, weight double, template string, valid_from date, "
               "valid_to date, owner string, params string")
STATS_DDL = ("rule_code string, name string, category string, subcategory string, severity string, "
             "template string, hits long, subjects long, settlements long, amount double, judged long, "
             "confirmed long, dismissed long, precision double, first_event date, last_event date, "
             "library_version string, scored_at timestamp")
TREND_DDL = "rule_code string, name string, ym string, hits long, amount double"


def template_rules(cfg: dict) -> dict[str, dict]:
    """code -> entry of every rule that names a template."""
    return {c: r for c, r in cfg["rules"].items() if r.get("template")}


def validate(cfg: dict) -> None:
    """Refuse a library entry a template cannot run: unknown template, missing parameters or items, bad dates."""
    for code, r in template_rules(cfg).items():
        t = r["template"]
        if t not in TEMPLATE_PARAMS:
            raise ValueError(f"rule {code}: unknown template {t!r} (one of {sorted(TEMPLATE_PARAMS)})")
        missing = [p for p in ("name", "weight", *TEMPLATE_PARAMS[t]) if p not in r]
        if missing:
            raise ValueError(f"rule {code}: missing {missing}")
        if t != "price_ceiling" and not (r.get("items") or r.get("keywords")):
            raise ValueError(f"rule {code}: give items and/or keywords")
        if t == "age_limit" and r.get("min_age") is None and r.get("max_age") is None:
            raise ValueError(f"rule {code}: give min_age and/or max_age")
        if not 0 < float(r["weight"]) < 1:
            raise ValueError(f"rule {code}: weight must be between 0 and 1")
        for k in ("valid_from", "valid_to"):
            if r.get(k) is not None and not isinstance(r[k], date):
                raise ValueError(f"rule {code}: {k} must be a TOML date (YYYY-MM-DD without quotes)")


def _items(r: dict) -> str:
    """SQL condition: the fee line ``l`` is one of the rule's items (codes, or names matching a keyword)."""
    parts = []
    if r.get("items"):
        parts.append(f"l.med_list_codg in ({sql_list(r['items'])})")
    if r.get("keywords"):
        kw = "|".join(str(k).replace("'", "''") for k in r["keywords"])
        parts.append(f"l.list_name rlike '{kw}'")
    return "(" + " or ".join(parts) + ")"


def _valid(r: dict) -> str:
    """SQL condition: the settlement ``s`` began within the rule's validity."""
    cond = []
    if r.get("valid_from"):
        cond.append(f"s.begndate >= date'{r['valid_from'].isoformat()}'")
    if r.get("valid_to"):
        cond.append(f"s.begndate <= date'{r['valid_to'].isoformat()}'")
    return " and ".join(cond) or "true"


def _hit_select(code: str) -> str:
    """The common head of a template rule's hit row (one per person)."""
    return (f"select '{code}' as rule_code, 'person' as subject_type, person_id as subject_id, person_id, "
            f"min(fixmedins_code) as fixmedins_code, cast(null as string) as group_id, "
            f"array_sort(collect_set(setl_id)) as setl_ids, sum(amt) as amount, min(begndate) as event_date")


_LINES = """
    select s.person_id, s.setl_id, s.begndate, s.fixmedins_code, coalesce(s.fixmedins_name, s.fixmedins_code) as inst,
           l.med_list_codg, l.list_name, l.cnt, l.pric, l.amt, pm.brdy
    from fr_fee l join fr_setl s on s.setl_id = l.setl_id
    join fr_person pm on pm.person_id = s.person_id
    where {items} and {valid}"""


def age_limit(spark: SparkSession, code: str, r: dict) -> DataFrame:
    lo, hi = r.get("min_age"), r.get("max_age")
    out = " or ".join(x for x in (f"age < {int(lo)}" if lo is not None else "",
                                  f"age > {int(hi)}" if hi is not None else "") if x)
    allowed = (f"{int(lo)} 岁及以上" if hi is None else f"{int(hi)} 岁及以下" if lo is None
               else f"{int(lo)}–{int(hi)} 岁")
    return spark.sql(f"""
        with lines as ({_LINES.format(items=_items(r), valid=_valid(r))}),
        aged as (select *, cast(floor(months_between(begndate, brdy) / 12) as int) as age from lines
                 where brdy is not null)
        {_hit_select(code)},
               concat('限{allowed}使用的项目用于 ', cast(min(age) as string),
                      case when max(age) <> min(age) then concat('–', cast(max(age) as string)) else '' end, ' 岁参保人：',
                      array_join(array_sort(collect_list(concat(cast(begndate as string), ' ', inst, ' ', setl_id, ' ',
                          list_name, '(', med_list_codg, ') ', format_number(amt, 2), ' 元（', cast(age as string),
                          ' 岁）'))), '；')) as evidence
        from aged where {out}
        group by person_id""")


def frequency_limit(spark: SparkSession, code: str, r: dict) -> DataFrame:
    w, n = int(r["window_days"]), float(r["max_count"])
    return spark.sql(f"""
        with lines as ({_LINES.format(items=_items(r), valid=_valid(r))}),
        days as (select person_id, begndate, datediff(begndate, date'2000-01-01') as d, sum(cnt) as qty
                 from lines group by person_id, begndate),
        win as (select *, sum(qty) over (partition by person_id order by d
                                         range between current row and {w - 1} following) as qty_win
                from days),
        most as (select person_id, max(qty_win) as qty_max from win group by person_id having max(qty_win) > {n}),
        worst as (select w.person_id, m.qty_max, min(w.d) as d_start     -- the first of the fullest windows
                  from win w join most m on m.person_id = w.person_id and w.qty_win = m.qty_max
                  group by w.person_id, m.qty_max)
        {_hit_select(code)},
               concat('{w} 天内使用 ', format_number(max(qty_max), 0), ' 次（限 {n:g} 次）：',
                      array_join(array_sort(collect_list(concat(cast(begndate as string), ' ', inst, ' ', setl_id, ' ',
                          list_name, ' ×', format_number(cnt, 0)))), '；')) as evidence
        from (select l.*, wst.qty_max from lines l join worst wst on wst.person_id = l.person_id
              where datediff(l.begndate, date'2000-01-01') between wst.d_start and wst.d_start + {w - 1}) x
        group by person_id""")


def price_ceiling(spark: SparkSession, code: str, r: dict) -> DataFrame:
    ceil = {str(k): float(v) for k, v in r["ceilings"].items()}
    values = ", ".join(f"('{k.replace(chr(39), chr(39) * 2)}', {v!r})" for k, v in ceil.items())
    r = dict(r, items=list(ceil), keywords=[])
    return spark.sql(f"""
        with lines as ({_LINES.format(items=_items(r), valid=_valid(r))}),
        c as (select * from values {values} as c(code, ceiling)),
        over as (select l.*, c.ceiling, (l.pric - c.ceiling) * l.cnt as over_amt
                 from lines l join c on c.code = l.med_list_codg where l.pric > c.ceiling)
        select '{code}' as rule_code, 'person' as subject_type, person_id as subject_id, person_id,
               min(fixmedins_code) as fixmedins_code, cast(null as string) as group_id,
               array_sort(collect_set(setl_id)) as setl_ids, sum(over_amt) as amount, min(begndate) as event_date,
               concat('超最高限价收费：', array_join(array_sort(collect_list(concat(cast(begndate as string), ' ', inst, ' ',
                   setl_id, ' ', list_name, ' 单价 ', format_number(pric, 2), ' 元（限价 ', format_number(ceiling, 2),
                   ' 元）×', format_number(cnt, 0)))), '；')) as evidence
        from over group by person_id""")


TEMPLATES = {"age_limit": age_limit, "frequency_limit": frequency_limit, "price_ceiling": price_ceiling}


def template_hits(spark: SparkSession, cfg: dict) -> list[DataFrame]:
    """The engine DataFrames of every template rule's hits."""
    return [TEMPLATES[r["template"]](spark, code, r) for code, r in template_rules(cfg).items()]


# ------------------------------------------------------------------------------------ versions and record
def entries(cfg: dict) -> pd.DataFrame:
    """One row per rule of the library: catalogue fields, template ('builtin' for R01–R09) and parameters."""
    rows = []
    for code, r in sorted(cfg["rules"].items()):
        params = {k: v for k, v in r.items() if k not in CATALOGUE and k != "template"}
        rows.append({"rule_code": code, "name": r.get("name"), "category": r.get("category"),
                     "subcategory": r.get("subcategory"), "severity": r.get("severity"),
                     "weight": float(r.get("weight", 0.0)), "template": r.get("template", "builtin"),
                     "valid_from": r.get("valid_from"), "valid_to": r.get("valid_to"), "owner": r.get("owner"),
                     "params": json.dumps(params, ensure_ascii=False, sort_keys=True, default=str)})
    return pd.DataFrame(rows)


def version(e: pd.DataFrame) -> str:
    return "L" + hashlib.sha256(e.to_json(orient="records", date_format="iso").encode()).hexdigest()[:12]


def record_version(cat, cfg: dict) -> str:
    """Append the library to meta.rule_library when its content is new; its version."""
    e = entries(cfg)
    v = version(e)
    cat.ensure("meta", "rule_library", LIBRARY_DDL)
    known = cat.read("meta", "rule_library").where(f"version = '{v}'").limit(1).collect()
    if not known:
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        rows = [(v, now, r.rule_code, r.name, r.category, r.subcategory, r.severity, r.weight, r.template,
                 r.valid_from, r.valid_to, r.owner, r.params) for r in e.itertuples()]
        cat.append(cat.spark.createDataFrame(rows, LIBRARY_DDL), "meta", "rule_library")
    return v


def hit_outcomes(hits: pd.DataFrame, audited: pd.DataFrame, reviews: pd.DataFrame, cfg: dict) -> pd.Series:
    """Per hit (index of ``hits``, which has suspect_id): 1 confirmed, 0 dismissed, NaN not judged.  A reviewer's
    decision on the hit's suspect wins; else the audits of the hit's settlements (a violation on any = 1); an
    institution hit, the audits of the institution's settlements (an institution-level code,
    ``calibration.institution_codes``, on any = 1)."""
    from yibao.fraud.model import audit_codes, is_violation

    rc = cfg["review"]
    decided = {} if not len(reviews) else {
        s: 1.0 if st == rc["positive_status"] else 0.0
        for s, st in zip(reviews.suspect_id, reviews.status) if st in (rc["positive_status"], rc["negative_status"])}
    pos = (audited.assign(p=is_violation(audited.violation_code, cfg).astype(float)).groupby("setl_id").p.max()
           if len(audited) else pd.Series(dtype=float))
    # an institution hit (R09) is judged by the audits of its settlements: an institution-level conclusion or not
    inst = (audited.assign(p=audit_codes(audited.violation_code).isin(cfg["calibration"]["institution_codes"])
                           .astype(float))
            .groupby("fixmedins_code").p.max() if len(audited) else pd.Series(dtype=float))
    out = []
    for sid, stype, subj, setls in zip(hits.suspect_id, hits.subject_type, hits.subject_id, hits.setl_ids):
        if sid in decided:
            out.append(decided[sid])
            continue
        if stype == "institution":
            out.append(float(inst[subj]) if subj in inst.index else float("nan"))
            continue
        judged = [pos[x] for x in (setls if setls is not None else []) if x in pos.index]
        out.append(max(judged) if judged else float("nan"))
    return pd.Series(out, index=hits.index, dtype=float)


def stats(hits: pd.DataFrame, outcomes: pd.Series, cfg: dict, library_version: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(gold.fraud_rule_stats rows, gold.fraud_rule_trend rows) from the hits and their outcomes; every rule of
    the library has a stats row, with zero hits when it found nothing."""
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    h = hits.assign(y=outcomes, n_setl=[len(x) if x is not None else 0 for x in hits.setl_ids],
                    amt=pd.to_numeric(hits.amount, errors="coerce").fillna(0.0),
                    ev=pd.to_datetime(hits.event_date, errors="coerce"))
    rows, trend = [], []
    for code, r in sorted(cfg["rules"].items()):
        g = h[h.rule_code == code]
        judged = g.y.notna().sum()
        conf = int((g.y == 1).sum())
        rows.append({"rule_code": code, "name": r.get("name"), "category": r.get("category"),
                     "subcategory": r.get("subcategory"), "severity": r.get("severity"),
                     "template": r.get("template", "builtin"), "hits": int(len(g)),
                     "subjects": int(g.subject_id.nunique()),
                     "settlements": int(len({x for l in g.setl_ids if l is not None for x in l})),
                     "amount": round(float(g.amt.sum()), 2), "judged": int(judged), "confirmed": conf,
                     "dismissed": int((g.y == 0).sum()), "precision": conf / judged if judged else None,
                     "first_event": g.ev.min().date() if g.ev.notna().any() else None,
                     "last_event": g.ev.max().date() if g.ev.notna().any() else None,
                     "library_version": library_version, "scored_at": now})
        m = g[g.ev.notna()].groupby(g.ev.dt.strftime("%Y%m")).agg(hits=("rule_code", "size"), amount=("amt", "sum"))
        trend += [{"rule_code": code, "name": r.get("name"), "ym": ym, "hits": int(x.hits),
                   "amount": round(float(x.amount), 2)} for ym, x in m.iterrows()]
    return pd.DataFrame(rows), pd.DataFrame(trend, columns=["rule_code", "name", "ym", "hits", "amount"])
