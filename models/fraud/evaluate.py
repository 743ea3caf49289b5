"""Honest evaluation of the supervision models: model alone, rules alone and both, on a time-split hold-out.

``yibao suspects evaluate`` (after ``yibao suspects score``) writes ``<data_root>/reports/fraud_evaluation/
<model version>/report.json`` and ``report.md``.

* **Split**: the audits (``audit_result``) ordered by ``audit_date``; the latest ``model.test_fraction`` are the
  test set, everything is trained on the earlier ones.  Reviewers' decisions are not used here: they are taken
  on the suspects this very system ranked, so they would grade the list by its own choices.
* **Variants** (settlements and persons):
  - ``model`` 模型（不含规则特征）: the classifier of model.py trained without :data:`RULE_FEATURES` (the
    features that restate a rule or count rule hits), i.e. what the data alone says;
  - ``rules`` 规则: the noisy-OR of the configured weights of the rules whose hits name the settlement;
  - ``both`` 模型+规则: the classifier on every feature, as deployed.
  A person's score is the best over its test settlements, its outcome whether any of them was a violation.
* **Institutions**: outcome = an institution-level violation (``calibration.institution_codes``) concluded on
  one of its test-period audits; ``model`` = the isolation forest's percentile, ``rules`` = R09's weight when
  R09 flagged it, ``both`` = the suspect score's mix of the two (``[score]`` weights).
* **Metrics** per subject type and variant: ROC AUC, PR AUC, precision and lift at each k of
  ``evaluation.k`` (lift = precision@k ÷ the positive rate).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score
from threadpoolctl import threadpool_limits

from yibao.fraud import model
from yibao.fraud.features import FEATURE_COLUMNS, FEATURES

# features that restate a rule (one home: the rule's own definition in rules.py) or count rule hits
RULE_FEATURES = {"after_death": "R01", "readmit_gap": "R02", "overlap_stay": "R03", "gender_item": "R04",
                 "dup_lines": "R06", "g_degree": "R08", "g_strength": "R08", "g_community_size": "R08",
                 "n_rules": "R01–R09"}
VARIANTS = {"model": "模型（不含规则特征）", "rules": "规则", "both": "模型+规则"}
SUBJECTS = {"settlement": "结算单", "person": "参保人", "institution": "定点机构"}


def ranking_metrics(y: np.ndarray, p: np.ndarray, ks: list[int]) -> dict:
    """n, positives, positive rate, ROC AUC, PR AUC, and precision / lift at each k (ties broken by order)."""
    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=float)
    rate = float(y.mean()) if len(y) else 0.0
    m: dict = {"n": int(len(y)), "positives": int(y.sum()), "positive_rate": rate}
    if 0 < y.sum() < len(y):
        m["roc_auc"] = float(roc_auc_score(y, p))
        m["pr_auc"] = float(average_precision_score(y, p))
    order = np.argsort(-p, kind="stable")
    for k in ks:
        if k <= len(y) and rate > 0:
            prec = float(y[order[:k]].mean())
            m[f"precision@{k}"] = prec
            m[f"lift@{k}"] = prec / rate
    return m


def split(labelled: pd.DataFrame, labels: pd.DataFrame, test_fraction: float) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """(train, test, cutoff date): audit labels only, ordered by date; the latest ``test_fraction`` are the test."""
    data = labelled.merge(labels[labels.source == "audit"], on="setl_id").sort_values(["label_date", "setl_id"],
                                                                                    kind="stable")
    cut = int(len(data) * (1 - test_fraction))
    if not len(data) or cut >= len(data):
        return data, data.iloc[0:0], ""
    cutoff = data.label_date.iloc[cut]
    return data[data.label_date < cutoff], data[data.label_date >= cutoff], str(pd.Timestamp(cutoff).date())


def rule_scores(hits: pd.DataFrame, setl_ids: pd.Series, cfg: dict) -> np.ndarray:
    """Per settlement: 1 − Π(1 − weight) over the distinct rules whose person hits name it."""
    w = {c: float(r["weight"]) for c, r in cfg["rules"].items()}
    if not len(hits):
        return np.zeros(len(setl_ids))
    per = hits[hits.subject_type == "person"][["rule_code", "setl_ids"]].explode("setl_ids").dropna().drop_duplicates()
    per["keep"] = 1 - per.rule_code.map(w).fillna(0.0)
    noisy = 1 - per.groupby("setl_ids").keep.prod()
    return setl_ids.map(noisy).fillna(0.0).to_numpy()


def evaluate_frames(labelled: pd.DataFrame, labels: pd.DataFrame, hits: pd.DataFrame, inst_anomaly: pd.DataFrame,
                    cfg: dict) -> dict:
    """The report (a dict) from the labelled settlements' features (KEY_COLUMNS + FEATURE_COLUMNS), the labels
    (model.labels_from), the rule hits and the institutions' anomaly percentiles (fixmedins_code, anomaly_pct)."""
    mc, ks = cfg["model"], [int(k) for k in cfg["evaluation"]["k"]]
    train, test, cutoff = split(labelled, labels, float(mc["test_fraction"]))
    rep: dict = {"created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "cutoff_audit_date": cutoff,
                 "train": {"n": int(len(train)), "positives": int(train.y.sum())},
                 "test": {"n": int(len(test)), "positives": int(test.y.sum())},
                 "rule_features": RULE_FEATURES, "k": ks, "results": {}}
    if train.y.nunique() < 2 or train.y.sum() < 2 or not len(test):
        rep["note"] = "not enough audits with both outcomes before the cutoff to train and test"
        return rep
    no_rules = [c for c in FEATURE_COLUMNS if c not in RULE_FEATURES]
    scores = {"rules": rule_scores(hits, test.setl_id, cfg)}
    with threadpool_limits(limits=1):
        for name, cols in (("model", no_rules), ("both", FEATURE_COLUMNS)):
            clf = model.classifier(cfg, int(train.y.sum())).fit(train[cols].to_numpy(), train.y.to_numpy())
            scores[name] = clf.predict_proba(test[cols].to_numpy())[:, 1]
            if name == "model":
                rep["model_features"] = no_rules
    y = test.y.to_numpy()
    res = {"settlement": {v: ranking_metrics(y, scores[v], ks) for v in VARIANTS}}
    per = pd.DataFrame({"person_id": test.person_id.to_numpy(), "y": y, **scores}).groupby("person_id").max()
    res["person"] = {v: ranking_metrics(per.y.to_numpy(), per[v].to_numpy(), ks) for v in VARIANTS}
    res["institution"] = _institutions(test, hits, inst_anomaly, cfg, ks)
    rep["results"] = res
    return rep


def _institutions(test: pd.DataFrame, hits: pd.DataFrame, inst_anomaly: pd.DataFrame, cfg: dict, ks: list[int]) -> dict:
    t = test.assign(pos=model.audit_codes(test.violation_code).isin(cfg["calibration"]["institution_codes"]).astype(int))
    inst = t.groupby("fixmedins_code").pos.max().rename("y").reset_index()
    if inst.y.nunique() < 2:
        return {"note": "no institution-level violation among the test audits"}
    flagged = set(hits[hits.rule_code == "R09_PROVIDER_OUTLIER"].subject_id) if len(hits) else set()
    w09 = float(cfg["rules"]["R09_PROVIDER_OUTLIER"]["weight"])
    pct = inst.fixmedins_code.map(inst_anomaly.set_index("fixmedins_code").anomaly_pct).fillna(0.0).to_numpy()
    rules = np.where(inst.fixmedins_code.isin(flagged), w09, 0.0)
    sc = cfg["score"]
    both = sc["w_rules"] * rules + (sc["w_model"] + sc["w_anomaly"]) * pct
    return {v: ranking_metrics(inst.y.to_numpy(), s, ks) for v, s in (("model", pct), ("rules", rules), ("both", both))}


def markdown(rep: dict) -> str:
    """The report as Chinese Markdown: one table per subject type, one row per variant."""
    lines = [f"# 基金监管模型评估报告（{rep.get('model_version', '')}）", "",
             f"按稽核日期切分：{rep.get('cutoff_audit_date') or '—'} 之前的稽核结论训练，之后的检验"
             f"（训练 {rep['train']['n']:,} 条、违规 {rep['train']['positives']:,}；检验 {rep['test']['n']:,} 条、"
             f"违规 {rep['test']['positives']:,}）。", ""]
    if rep.get("note"):
        return "\n".join(lines + [f"未能评估：{rep['note']}", ""])
    ks = [k for k in rep["k"]]
    lines.append("规则类特征（“模型（不含规则特征）”不使用）：" +
                 "、".join(f"{FEATURES[c]}（{r}）" for c, r in rep["rule_features"].items()))
    for subject, per in rep["results"].items():
        lines += ["", f"## {SUBJECTS[subject]}", ""]
        if "note" in per:
            lines.append(f"未能评估：{per['note']}")
            continue
        first = next(iter(per.values()))
        lines.append(f"检验对象 {first['n']:,} 个，其中违规 {first['positives']:,} 个（{first['positive_rate']:.1%}）。")
        lines += ["", "| 方法 | ROC AUC | PR AUC | " + " | ".join(f"前{k}精确率 | 前{k}提升度" for k in ks) + " |",
                  "|---|---:|---:|" + "---:|---:|" * len(ks)]
        for v, m in per.items():
            cells = [f"{m[x]:.3f}" if x in m else "—" for x in ("roc_auc", "pr_auc")]
            for k in ks:
                cells += [f"{m[f'precision@{k}']:.3f}" if f"precision@{k}" in m else "—",
                          f"{m[f'lift@{k}']:.1f}" if f"lift@{k}" in m else "—"]
            lines.append(f"| {VARIANTS[v]} | " + " | ".join(cells) + " |")
    cal = rep.get("calibration") or {}
    ho = cal.get("holdout") or {}
    if ho.get("reliability"):
        lines += ["", "## 风险概率校准（按时间留出检验）", "",
                  f"训练 {ho['train']:,} 个有结论的对象（疑点及稽核过的参保人、机构），检验 {ho['test']:,} 个；"
                  f"Brier 分数 {ho['brier']:.3f}。", "",
                  "| 预测概率区间 | 对象数 | 平均预测概率 | 实际确认率 |", "|---|---:|---:|---:|"]
        lines += [f"| {b['p_min']:.2f}–{b['p_max']:.2f} | {b['n']:,} | {b['p_mean']:.3f} | {b['observed']:.3f} |"
                  for b in ho["reliability"]]
    if cal.get("level_mix"):
        mix = cal["level_mix"]
        lines += ["", f"风险等级分布（共评分对象 {cal.get('scored_subjects', 0):,} 个）：" +
                  "，".join(f"{k} {mix[k]:,}" for k in ("高", "中", "低"))]
    return "\n".join(lines) + "\n"


def evaluate(settings, config: str | None = None, out_dir: Path | None = None) -> dict:
    """Read what ``yibao suspects score`` published, evaluate, write report.json and report.md; the report."""
    from yibao.catalog import Catalog
    from yibao.engine import spark_session
    from yibao.fraud.config import load_config
    from yibao.fraud.features import KEY_COLUMNS
    from yibao.fraud.pipeline import FEATURES_TABLE, PROFILE_SCORE_TABLE, _only

    cfg = load_config(config)
    cat = Catalog(spark_session(settings), settings)
    if not cat.exists(*FEATURES_TABLE) or not cat.exists("gold", "fraud_rule_hit"):
        raise ValueError("nothing scored yet: run `yibao suspects score` first")
    schema, table = cfg["common"]["audit_table"].split(".")
    audits = cat.read(schema, table).select("setl_id", "violation_code", "audit_date").toPandas()
    labels = model.cap_labels(model.labels_from(audits, None, cfg), cfg)
    latest = audits.sort_values("audit_date", kind="stable").drop_duplicates("setl_id", keep="last")
    labels = labels.merge(latest[["setl_id", "violation_code"]], on="setl_id")
    feats = cat.read(*FEATURES_TABLE).select(*KEY_COLUMNS, *FEATURE_COLUMNS)
    labelled = _only(cat, feats, "setl_id", labels.setl_id.unique(), "fraud_eval_ids").toPandas().sort_values(
        "setl_id", kind="stable").reset_index(drop=True)
    hits = cat.read("gold", "fraud_rule_hit").select("rule_code", "subject_type", "subject_id", "setl_ids").toPandas()
    inst = (cat.read(*PROFILE_SCORE_TABLE).where("kind = 'institution'")
            .selectExpr("subject_id as fixmedins_code", "anomaly_pct").toPandas())
    rep = evaluate_frames(labelled, labels, hits, inst, cfg)
    version = _latest_model(cat)
    rep["model_version"] = version.get("version", "")
    rep["calibration"] = json.loads(version.get("metrics") or "{}").get("calibration", {})
    out_dir = Path(out_dir) if out_dir else (Path(settings.data_root).resolve() / "reports" / "fraud_evaluation"
                                             / (rep["model_version"] or "latest"))
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_text(json.dumps(rep, ensure_ascii=False, indent=2, default=str))
    (out_dir / "report.md").write_text(markdown(rep))
    rep["path"] = str(out_dir)
    return rep


def _latest_model(cat) -> dict:
    if not cat.exists("meta", "fraud_model_version"):
        return {}
    r = cat.read("meta", "fraud_model_version").orderBy("created_at", ascending=False).limit(1).collect()
    return r[0].asDict() if r else {}
