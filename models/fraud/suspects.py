"""The suspect list (gold.fraud_suspect), its review (the case workflow: cases.py) and audited exports.

score = 100 × (w_rules·noisy_or(rule weights) + w_model·model_score + w_anomaly·anomaly_pct + w_group·in_group)
probability (of confirmation) and risk_level 高/中/低: calibration.py.  ``suspect_id`` = "S" + sha256(subject_type|subject_id)[:16],
so a re-score finds every reviewer's decision again; the latest decision in meta.suspect_review is the status.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
from pyspark.sql import types as T

from yibao.catalog import Catalog
from yibao.fraud import calibration, cases
from yibao.fraud.config import load_config
from yibao.masking import mask_values

SUSPECT_SCHEMA = T.StructType([
    T.StructField("suspect_id", T.StringType()), T.StructField("subject_type", T.StringType()),
    T.StructField("subject_id", T.StringType()), T.StructField("subject_name", T.StringType()),
    T.StructField("region", T.StringType()), T.StructField("score", T.DoubleType()),
    T.StructField("risk_level", T.StringType()), T.StructField("rank", T.IntegerType()),
    T.StructField("rule_codes", T.StringType()), T.StructField("rule_names", T.StringType()),
    T.StructField("model_score", T.DoubleType()), T.StructField("anomaly_score", T.DoubleType()),
    T.StructField("group_id", T.StringType()), T.StructField("amount", T.DoubleType()),
    T.StructField("setl_ids", T.ArrayType(T.StringType())), T.StructField("evidence", T.StringType()),
    T.StructField("explanation", T.StringType()), T.StructField("status", T.StringType()),
    T.StructField("model_version", T.StringType()), T.StructField("scored_at", T.TimestampType()),
    # the evidence as short Chinese sentences with the figures (evidence_sentences): what dashboards and exports show
    T.StructField("evidence_text", T.StringType()),
    # calibrated probability that the suspect is confirmed (calibration.py; null without any outcome to fit on)
    T.StructField("probability", T.DoubleType()),
    # the case (cases.py): who investigates it and by when (null until assigned)
    T.StructField("assignee", T.StringType()), T.StructField("deadline", T.DateType()),
])
SUBJECT_CN = {"person": "参保人", "institution": "定点机构", "group": "团伙", "practitioner": "医保医师"}


def suspect_id(subject_type: str, subject_id: str) -> str:
    return "S" + hashlib.sha256(f"{subject_type}|{subject_id}".encode()).hexdigest()[:16].upper()


def latest_reviews(cat: Catalog) -> pd.DataFrame:
    """Each suspect's case: the latest row of the audit log meta.suspect_review (cases.py)."""
    return cases.latest_cases(cat)


def review_labels(cat: Catalog, cfg: dict) -> pd.DataFrame:
    """Settlements of confirmed / excluded person suspects as training labels (setl_id, y, label_date)."""
    rv = latest_reviews(cat)
    rc = cfg["review"]
    rv = rv[rv.status.isin([rc["positive_status"], rc["negative_status"]])]
    if not len(rv) or not cat.exists("gold", "fraud_suspect"):
        return pd.DataFrame(columns=["setl_id", "y", "label_date"])
    s = cat.read("gold", "fraud_suspect").select("suspect_id", "setl_ids").toPandas()
    m = rv.merge(s, on="suspect_id").explode("setl_ids").dropna(subset=["setl_ids"])
    return pd.DataFrame({"setl_id": m.setl_ids, "y": (m.status == rc["positive_status"]).astype(int),
                         "label_date": pd.to_datetime(m.updated_at)}).drop_duplicates("setl_id")


def assemble(hits: pd.DataFrame, result, features_for, names: dict, regions: dict, cat: Catalog,
             cfg: dict, audited: pd.DataFrame | None = None, n_scored: int = 0) -> pd.DataFrame:
    """Combine rule hits, model scores, anomaly scores and groups into the ranked suspect list.

    ``result.setl_scores`` holds the settlement scores of the candidate persons only (every person with a hit,
    every gang member, every person whose best score reaches ``model_only_threshold``), ``result.anomaly``
    their anomaly percentiles; ``features_for(setl_ids)`` fetches the features of the settlements explained.
    ``audited`` (setl_id, person_id, fixmedins_code, violation_code, audit_date) and the reviews are the outcomes
    the probability is calibrated on; ``n_scored`` (persons and institutions scored) bounds the levels.  The
    calibration report goes to ``result.metrics['calibration']``."""
    scores = _CandidateScores(result)
    rows = _rule_subject_rows(hits, scores, cfg["rules"])
    rows += _model_only_rows(scores, {(r["subject_type"], r["subject_id"]) for r in rows}, cfg)
    if not rows:
        return pd.DataFrame(columns=[f.name for f in SUSPECT_SCHEMA.fields])
    s = _score_and_rank(pd.DataFrame(rows), cfg)
    reviews = latest_reviews(cat)
    if audited is None:
        audited = pd.DataFrame(columns=["setl_id", "person_id", "fixmedins_code", "violation_code", "audit_date"])
    others = _audited_population(s, result, scores, audited, cfg)
    s, result.metrics["calibration"] = calibration.calibrate(s, others, hits, audited, reviews, n_scored, cfg)
    s["explanation"] = _explanations(s, result, scores, features_for, int(cfg["model"]["explain_top_features"]))
    evidence = [{"对象": f"{SUBJECT_CN.get(t, t)} {i}", "命中规则": h, "团伙编号": g, "模型得分": round(m, 4),
                 "异常分位": round(a, 4), "模型解释": e}
                for t, i, h, g, m, a, e in zip(s.subject_type, s.subject_id, s.hits, s.group_id, s.model_score,
                                                s.anomaly_score, s.explanation)]
    s["evidence"] = [json.dumps(e, ensure_ascii=False) for e in evidence]
    s["evidence_text"] = [evidence_sentences(e) for e in evidence]
    s["subject_name"] = [names.get((t, i)) for t, i in zip(s.subject_type, s.subject_id)]
    s["region"] = [regions.get((t, i)) for t, i in zip(s.subject_type, s.subject_id)]
    case = reviews.set_index("suspect_id")
    s["status"] = [case.status.get(x, cfg["review"]["initial"]) for x in s.suspect_id]
    s["assignee"] = [case.assignee.get(x) for x in s.suspect_id]
    s["deadline"] = [pd.Timestamp(d).date() if d is not None and not pd.isna(d) else None
                     for d in (case.deadline.get(x) for x in s.suspect_id)]
    s["model_version"] = result.version
    s["scored_at"] = datetime.now(timezone.utc).replace(tzinfo=None)
    return s[[f.name for f in SUSPECT_SCHEMA.fields]]


class _CandidateScores:
    """The candidate persons' model scores (per settlement, the best per person, each person's settlements best
    first) and the anomaly percentiles (kind -> Series by key), from the pipeline's ``result``."""

    def __init__(self, result):
        self.by_setl = result.setl_scores.set_index("setl_id").p
        self.by_person = result.setl_scores.groupby("person_id").p.max()
        # each candidate person's settlements, best score first (ties: setl_id order); one pass, not one per person
        ranked = result.setl_scores.sort_values(["p", "setl_id"], ascending=[False, True], kind="stable")
        self.setls_best_first = ranked.groupby("person_id", sort=False).setl_id.agg(list).to_dict()
        self.anomaly = {k: v.set_index(v.columns[0]).anomaly_pct for k, v in result.anomaly.items()}

    def anomaly_of(self, kind: str) -> pd.Series:
        return self.anomaly.get(kind, pd.Series(dtype=float))

    def model_and_anomaly(self, subject_type: str, subject_id: str, members: list[str]) -> tuple[float, float]:
        """(model score, anomaly percentile) of a subject: a person's own; an institution's anomaly percentile
        for both; a group's, the mean over its ``members``."""
        if subject_type == "person":
            return float(self.by_person.get(subject_id, 0.0)), float(self.anomaly_of("person").get(subject_id, 0.0))
        if subject_type == "institution":
            pct = float(self.anomaly_of("institution").get(subject_id, 0.0))
            return pct, pct
        if not members:
            return 0.0, 0.0
        members = pd.Series(members, dtype=object)
        return (float(self.by_person.reindex(members).fillna(0).mean()),
                float(self.anomaly_of("person").reindex(members).fillna(0).mean()))


def _rule_subject_rows(hits: pd.DataFrame, scores: _CandidateScores, rules_cfg: dict) -> list[dict]:
    """One row per subject with a rule hit: the noisy-OR of its rules' weights, its settlements, gang, amount,
    model and anomaly scores, and its hits (the evidence)."""
    if not len(hits):
        return []
    person_hits = hits[hits.subject_type == "person"]
    members_of = person_hits.groupby("group_id").person_id.agg(list).to_dict() if len(person_hits) else {}
    rows = []
    for (stype, sid), h in hits.groupby(["subject_type", "subject_id"], sort=False):
        codes = sorted(set(h.rule_code))
        noisy = 1.0
        for c in codes:
            noisy *= 1 - float(rules_cfg[c]["weight"])
        gid = next((g for g in h.group_id if isinstance(g, str) and g), None)
        model, an = scores.model_and_anomaly(stype, sid, members_of.get(gid, []))
        amount = pd.to_numeric(h.amount, errors="coerce").sum()
        rows.append(dict(subject_type=stype, subject_id=sid, rules_noisy_or=1 - noisy, rule_codes=",".join(codes),
                         model_score=model, anomaly_score=an, group_id=gid,
                         setl_ids=sorted(set(s for l in h.setl_ids for s in (l if l is not None else []))),
                         amount=float(amount) if pd.notna(amount) else 0.0,
                         hits=[{"规则": f"{c} {rules_cfg[c]['name']}", "说明": e,
                                "结算单": list(l) if l is not None else []}
                               for c, e, l in zip(h.rule_code, h.evidence, h.setl_ids)]))
    return rows


def _model_only_rows(scores: _CandidateScores, seen: set, cfg: dict) -> list[dict]:
    """Model-only suspects: persons without a rule hit (not in ``seen``) whose best settlement's calibrated
    probability reaches ``model_only_threshold``; their five best settlements."""
    thr = float(cfg["model"]["model_only_threshold"])
    best = scores.by_person
    return [dict(subject_type="person", subject_id=pid, rules_noisy_or=0.0, rule_codes="", model_score=float(p),
                 anomaly_score=float(scores.anomaly_of("person").get(pid, 0.0)), group_id=None,
                 setl_ids=scores.setls_best_first.get(pid, [])[:5], amount=0.0, hits=[])
            for pid, p in best[best >= thr].items() if ("person", pid) not in seen]


def composite(rules_noisy_or, model_score, anomaly_score, in_group, cfg: dict):
    """The suspect score (0–100): the configured mix of the rules' noisy-OR, the model, the anomaly percentile
    and gang membership."""
    sc = cfg["score"]
    return (100 * (sc["w_rules"] * rules_noisy_or + sc["w_model"] * model_score + sc["w_anomaly"] * anomaly_score
                   + sc["w_group"] * in_group)).round(2)


def _score_and_rank(s: pd.DataFrame, cfg: dict) -> pd.DataFrame:
    """score, suspect_id, rank (by score, then amount, then suspect_id) and rule_names."""
    rules_cfg = cfg["rules"]
    s["score"] = composite(s.rules_noisy_or, s.model_score, s.anomaly_score, s.group_id.notna().astype(float), cfg)
    s["suspect_id"] = [suspect_id(t, i) for t, i in zip(s.subject_type, s.subject_id)]
    s = s.sort_values(["score", "amount", "suspect_id"], ascending=[False, False, True]).reset_index(drop=True)
    s["rank"] = range(1, len(s) + 1)
    s["rule_names"] = [",".join(rules_cfg[c]["name"] for c in rc.split(",") if c) for rc in s.rule_codes]
    return s


def _audited_population(s: pd.DataFrame, result, scores: _CandidateScores, audited: pd.DataFrame,
                        cfg: dict) -> pd.DataFrame:
    """suspect_id, subject_type, subject_id, score of the audited persons and institutions that are not suspects: no rule
    hit, so their score is the model's and the anomaly model's part alone.  With the suspects they are what the
    probability is calibrated on (a list calibrated on itself only learns how good its own members are)."""
    listed = set(zip(s.subject_type, s.subject_id))
    out = []
    a = result.audited_scores
    if a is not None and len(a):
        a = a[[("person", x) not in listed for x in a.person_id]]
        out.append(pd.DataFrame({"subject_type": "person", "subject_id": a.person_id.to_numpy(),
                                 "score": composite(0.0, a.p.fillna(0.0), a.anomaly_pct.fillna(0.0), 0.0, cfg)}))
    inst = pd.Series(sorted(set(audited.fixmedins_code.dropna())), dtype=object)
    inst = inst[[("institution", x) not in listed for x in inst]]
    if len(inst):
        pct = inst.map(scores.anomaly_of("institution")).fillna(0.0).astype(float)
        out.append(pd.DataFrame({"subject_type": "institution", "subject_id": inst.to_numpy(),
                                 "score": composite(0.0, pct, pct, 0.0, cfg).to_numpy()}))
    o = (pd.concat(out, ignore_index=True) if out
         else pd.DataFrame({"subject_type": pd.Series(dtype=object), "subject_id": pd.Series(dtype=object),
                            "score": pd.Series(dtype=float)}))
    o["suspect_id"] = [suspect_id(t, i) for t, i in zip(o.subject_type, o.subject_id)]
    return o


def _explanations(s: pd.DataFrame, result, scores: _CandidateScores, features_for, top: int) -> list[str]:
    """Per suspect row: the ``top`` contributing features of a person's highest-scored settlement ('' otherwise)."""
    from yibao.fraud.model import explain

    best = {}
    persons = s.subject_type == "person"
    for pid, setls in zip(s.subject_id[persons], s.setl_ids[persons]):
        scored = [x for x in setls if x in scores.by_setl.index]
        if scored:
            best[pid] = max(scored, key=lambda x: scores.by_setl.get(x, 0))
        elif scores.setls_best_first.get(pid):
            best[pid] = scores.setls_best_first[pid][0]
    ids = sorted(set(best.values()))
    ex = explain(result, features_for(ids), ids, top)
    return [ex.get(best.get(i, ""), "") if t == "person" else "" for t, i in zip(s.subject_type, s.subject_id)]


# ------------------------------------------------------------------------------------------- review
def review(settings, suspect: str, status: str, reviewer: str, note: str = "", config: str | None = None) -> dict:
    """Move one suspect's case to ``status`` (cases.py: the workflow, its transitions and audit log)."""
    return cases.act(settings, suspect, None, reviewer, note, status=status, config=config)


# ------------------------------------------------------------------------------------------- export
EXPORT_HEADERS = {"rank": "排名", "suspect_id": "疑点编号", "subject_type_cn": "对象类型", "subject_id": "对象编号",
                  "subject_name": "姓名/名称", "certno": "身份证号", "tel": "联系电话", "region": "统筹区",
                  "risk_level": "风险等级", "score": "综合得分", "probability": "确认概率", "rule_codes": "命中规则", "rule_names": "规则名称",
                  "model_score": "模型得分", "group_id": "团伙编号", "amount": "涉及基金(元)", "evidence": "疑点证据",
                  "explanation": "模型解释", "status": "核查状态", "model_version": "模型版本"}
LEVELS = {"high": "高", "medium": "中", "low": "低", "高": "高", "中": "中", "低": "低"}


def export(settings, out: Path, fmt: str = "xlsx", region: str | None = None, levels: list[str] | None = None,
           role: str | None = None, user: str | None = None, status: str | None = None,
           config: str | None = None) -> dict:
    """Write the filtered suspect list with Chinese headers, masking per role; record it in meta.export_audit.

    Cells that a spreadsheet would run as a formula are escaped (:mod:`yibao.export`); filters reach the
    engine as data, never as SQL text."""
    from pyspark.sql import functions as F

    from yibao.engine import spark_session
    from yibao.export import record_export, write_csv, write_xlsx

    cfg = load_config(config)
    role = role or cfg["export"]["default_role"]
    if role not in cfg["export"]["roles"]:
        raise ValueError(f"unknown role {role!r}; configured: {sorted(cfg['export']['roles'])}")
    if fmt not in ("xlsx", "csv"):
        raise ValueError("format must be xlsx or csv")
    perm = cfg["export"]["roles"][role]
    spark = spark_session(settings)
    cat = Catalog(spark, settings)
    df = cat.read("gold", "fraud_suspect")
    filt = {}
    if region:
        df = df.where(F.col("region").startswith(F.lit(region)))
        filt["region"] = region
    if levels:
        lv = [LEVELS.get(x.strip(), x.strip()) for item in levels for x in item.split(",")]
        df = df.where(df.risk_level.isin(lv))
        filt["level"] = lv
    if status:
        df = df.where(F.col("status") == F.lit(status))
        filt["status"] = status
    s = df.orderBy("rank").toPandas()
    c = cfg["common"]
    pschema, ptable = c["person_table"].split(".")
    persons = cat.read(pschema, ptable).select("person_id", "certno", "tel").toPandas().set_index("person_id")
    is_p = s.subject_type == "person"
    s["certno"] = [persons.certno.get(i) if p else None for i, p in zip(s.subject_id, is_p)]
    s["tel"] = [persons.tel.get(i) if p else None for i, p in zip(s.subject_id, is_p)]
    # masking: the project's one rule (yibao.masking), by the column the values come from
    if not perm.get("unmask_certno"):
        s["certno"] = mask_values("certno", s.certno)
    if not perm.get("unmask_tel"):
        s["tel"] = mask_values("tel", s.tel)
    if not perm.get("unmask_name"):
        s.loc[is_p, "subject_name"] = mask_values("psn_name", s.loc[is_p, "subject_name"])
    s["subject_type_cn"] = s.subject_type.map(lambda t: SUBJECT_CN.get(t, t))
    s["evidence"] = s.evidence_text
    table = s[list(EXPORT_HEADERS)].rename(columns=EXPORT_HEADERS)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "xlsx":   # one sheet per subject type (参保人, 定点机构, ...), in the list's order; an empty list: one sheet
        types = list(dict.fromkeys(s.subject_type_cn)) or ["疑点清单"]
        write_xlsx({t: table[s.subject_type_cn.values == t] for t in types}, out)
    else:
        write_csv(table, out, encoding="utf-8-sig")
    unmasked = ",".join(k for k in ("certno", "tel", "name") if perm.get(f"unmask_{k}"))
    return record_export(cat, user=user, role=role, filt=filt, row_count=len(table), file=out, fmt=fmt,
                         unmasked=unmasked)


def evidence_sentences(e: dict) -> str:
    """A suspect's evidence (the dict behind the ``evidence`` JSON) as short Chinese sentences with the figures,
    one per line: each rule hit with what it found, then the model's score and explanation."""
    parts = [f"【{h['规则']}】{h['说明']}" for h in e.get("命中规则") or []]
    if e.get("模型解释"):
        parts.append(f"【模型】得分 {e.get('模型得分')}：{e['模型解释']}")
    elif not parts:
        parts.append(f"【模型】得分 {e.get('模型得分')}")
    return "\n".join(parts)


def list_suspects(settings, limit: int = 20, level: str | None = None) -> pd.DataFrame:
    from yibao.engine import spark_session

    cat = Catalog(spark_session(settings), settings)
    df = cat.read("gold", "fraud_suspect")
    if level:
        df = df.where(df.risk_level == LEVELS.get(level, level))
    return df.orderBy("rank").limit(limit).select("rank", "suspect_id", "subject_type", "subject_id", "subject_name",
                                                   "score", "risk_level", "rule_codes", "model_score", "group_id",
                                                   "status").toPandas()


__all__ = ["assemble", "review", "export", "list_suspects", "suspect_id"]
