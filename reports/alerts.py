"""Alerts (预警订阅): what changed since a subscriber was last told, for the subscriber's region.

Each alert compares the published tables with what the subscription was already sent (``meta.report_alert_state``:
one row per subscription and item, with the value sent), so that a rerun sends nothing twice and a new subscriber
is told the current state once:

- ``high_risk_suspects`` 新增高风险疑点: suspects of the region (``gold.fraud_suspect.region``) at risk level 高 not
  sent before (item = suspect_id).  The file lists the suspect's id, subject type and id, rules, score and amount;
  no name or ID number (the supervisor opens the suspect in the dashboard or ``yibao suspects list``).
- ``fund_risk_change`` 基金风险等级变化: per pooling region x insutype of the region, the risk level of the latest
  month of ``gold.fund_operation`` when it differs from the level last sent (item = admdvs/insutype; a new
  subscriber is told only the pairs at risk, 一般 and above).
- ``batch_held`` 数据批次被暂扣: a batch held at the door, a table version held at the quality gate, or a batch
  refused whole by ingestion (``meta.ingest_batch`` status rejected), not sent before (item = kind/source/table/batch).  A held batch concerns a department, not a region: every subscriber of
  this alert is told, whatever the region.
"""

from __future__ import annotations

import pandas as pd
from pyspark.sql import functions as F

from yibao.catalog import Catalog
from yibao.regions import admdvs_prefix

STATE_DDL = "subscription_id string, item string, value string, sent_at timestamp"
AT_RISK = ("严重", "中等", "一般")


def sent_state(cat: Catalog, subscription_id: str) -> dict[str, str]:
    """item -> value already sent to the subscription."""
    if not cat.exists("meta", "report_alert_state"):
        return {}
    rows = cat.read("meta", "report_alert_state").where(F.col("subscription_id") == subscription_id).collect()
    return {r.item: r.value for r in rows}


def evaluate(cat: Catalog, topic: str, region: str, sent: dict[str, str], names: dict) -> tuple[pd.DataFrame, dict]:
    """The alert's new items for ``region`` as a frame with Chinese headers, and the state to record
    ({item: value}).  An empty frame means nothing to send."""
    fn = {"high_risk_suspects": _high_risk_suspects, "fund_risk_change": _fund_risk_change,
          "batch_held": _batch_held}[topic]
    return fn(cat, admdvs_prefix(region), sent, names)


def _high_risk_suspects(cat, prefix, sent, names):
    if not cat.exists("gold", "fraud_suspect"):
        return pd.DataFrame(), {}
    s = (cat.read("gold", "fraud_suspect")
         .where(F.col("region").startswith(F.lit(prefix)) & (F.col("risk_level") == "高"))
         .select("suspect_id", "subject_type", "subject_id", "region", "score", "risk_level", "rule_names", "amount",
                 "status", "scored_at").toPandas())
    s = s[~s.suspect_id.isin(list(sent))].sort_values("score", ascending=False)
    frame = pd.DataFrame({
        "疑点编号": s.suspect_id, "对象类型": [names.get(("subject_type", v), v) for v in s.subject_type],
        "对象编号": s.subject_id, "区划代码": s.region, "风险评分": pd.to_numeric(s.score), "风险等级": s.risk_level,
        "触发规则": s.rule_names, "涉及金额(元)": pd.to_numeric(s.amount), "状态": s.status,
        "评分时间(UTC)": s.scored_at.astype(str)})
    return frame, {sid: "高" for sid in s.suspect_id}


def _fund_risk_change(cat, prefix, sent, names):
    if not cat.exists("gold", "fund_operation"):
        return pd.DataFrame(), {}
    f = cat.read("gold", "fund_operation").where(F.col("admdvs").startswith(F.lit(prefix)))
    latest = f.agg(F.max("ym")).first()[0]
    if latest is None:
        return pd.DataFrame(), {}
    f = f.where(F.col("ym") == latest).toPandas()
    rows, state = [], {}
    for r in f.sort_values(["admdvs", "insutype"]).itertuples(index=False):
        item = f"{r.admdvs}/{r.insutype}"
        before = sent.get(item)
        if before == r.risk_level or (before is None and r.risk_level not in AT_RISK):
            if before is None:
                state[item] = r.risk_level      # the baseline of a new subscriber: nothing to tell
            continue
        state[item] = r.risk_level
        rows.append((r.admdvs, names.get(("insutype", r.insutype), r.insutype), r.ym, before or "（首次通知）",
                     r.risk_level, float(r.months_payable) if r.months_payable is not None else None,
                     float(r.current_surplus_rate) if r.current_surplus_rate is not None else None))
    frame = pd.DataFrame(rows, columns=["统筹区代码", "险种", "月份", "原风险等级", "现风险等级", "可支付月数",
                                        "当期结余率"])
    return frame, state


def _batch_held(cat, prefix, sent, names):
    from yibao.quality.gate import pending

    kinds = {"door": "接收暂停（未入湖）", "gate": "发布暂停（未进入标准层）", "rejected": "整批拒收（未入湖）"}
    items = [h for h in pending(cat) if h["kind"] in kinds]
    if cat.exists("meta", "ingest_batch"):
        items += [dict(kind="rejected", source=r.source, source_table="", batch_id=r.batch_id, reason=r.reason or "",
                       decide="请来源部门修正后重新交付（同一批次号）")
                  for r in cat.read("meta", "ingest_batch").where(F.col("status") == "rejected")
                  .orderBy("source", "batch_id").collect()]
    rows, state = [], {}
    for h in items:
        item = f"{h['kind']}/{h['source']}/{h['source_table']}/{h['batch_id']}"
        if item in sent:
            continue
        state[item] = "held"
        rows.append((kinds[h["kind"]], h["source"], h["source_table"], h["batch_id"], h["reason"], h["decide"]))
    return pd.DataFrame(rows, columns=["类型", "来源部门", "表", "批次", "原因", "处理方式"]), state
