"""``run_fraud(settings)``: rules → graph → features → models → ranked suspect list, all tables written."""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

import pandas as pd
from pyspark.sql import types as T
from threadpoolctl import threadpool_limits

from yibao.catalog import Catalog
from yibao.fraud import graph, model, rules, suspects
from yibao.fraud.config import load_config
from yibao.fraud.features import settlement_features

HIT_SCHEMA = T.StructType([
    T.StructField("hit_id", T.StringType()), T.StructField("suspect_id", T.StringType()),
    T.StructField("rule_code", T.StringType()), T.StructField("subject_type", T.StringType()),
    T.StructField("subject_id", T.StringType()), T.StructField("person_id", T.StringType()),
    T.StructField("fixmedins_code", T.StringType()), T.StructField("group_id", T.StringType()),
    T.StructField("setl_ids", T.ArrayType(T.StringType())), T.StructField("amount", T.DoubleType()),
    T.StructField("event_date", T.DateType()), T.StructField("evidence", T.StringType()),
])
MODEL_VERSION_DDL = ("version string, created_at timestamp, path string, n_labels long, test_n long, "
                     "test_positives long, roc_auc double, pr_auc double, brier double, metrics string")


@dataclass
class FraudSummary:
    hits_by_rule: dict = field(default_factory=dict)
    suspects: int = 0
    by_level: dict = field(default_factory=dict)
    groups: int = 0
    model_version: str = ""
    metrics: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def _clean(v):
    if isinstance(v, pd.Timestamp):
        return v.to_pydatetime()
    if hasattr(v, "item") and not isinstance(v, (list, tuple)):   # numpy scalar
        v = v.item()
    if isinstance(v, float) and pd.isna(v):
        return None
    return v


def run_fraud(settings, config: str | None = None) -> FraudSummary:
    from yibao.engine import spark_session

    cfg = load_config(config)
    t0 = time.time()
    secs = {}
    spark = spark_session(settings)
    cat = Catalog(spark, settings)
    rules.prepare_views(spark, cat, cfg)
    if not spark.table(cfg["common"]["settlement_table"]).limit(1).collect():
        # nothing to supervise (no settlements released yet): publish an empty list, keep reviews as they are
        cat.overwrite(spark.createDataFrame([], suspects.SUSPECT_SCHEMA), "gold", "fraud_suspect")
        return FraudSummary(seconds={"total": round(time.time() - t0, 2)})
    hits = rules.evaluate(spark, cfg).toPandas()
    secs["rules"] = round(time.time() - t0, 2)
    t = time.time()
    edges = graph.covisit_edges(spark, cfg)
    g_hits, groups, gfeats = graph.communities(edges, cfg)
    links = graph.doctor_pharmacy_links(spark, cfg)
    if len(g_hits):
        with warnings.catch_warnings():   # all-null amount / event_date columns of the graph hits
            warnings.simplefilter("ignore", FutureWarning)
            hits = pd.concat([hits, g_hits.astype(object)], ignore_index=True) if len(hits) else g_hits
    secs["graph"] = round(time.time() - t, 2)
    t = time.time()
    sf = settlement_features(spark, cfg, hits, gfeats)
    audit_schema, audit_table = cfg["common"]["audit_table"].split(".")
    audits = cat.read(audit_schema, audit_table).select("setl_id", "violation_code", "audit_date").toPandas()
    labels = model.labels_from(audits, suspects.review_labels(cat, cfg), cfg)
    secs["features"] = round(time.time() - t, 2)
    t = time.time()
    # one OpenMP thread: small models, and the engine shares the cores (oversubscription made it 10x slower)
    with threadpool_limits(limits=1):
        result = model.train(sf, labels, cfg, settings)
    secs["model"] = round(time.time() - t, 2)
    t = time.time()
    names, regions = _names_regions(spark)
    inst_region = regions.pop(("__inst__", ""))
    for r in hits[hits.subject_type == "group"].itertuples():   # a group takes its institution's region
        regions[("group", r.subject_id)] = inst_region.get(r.fixmedins_code)
        names[("group", r.subject_id)] = f"团伙 {r.subject_id}"
    with threadpool_limits(limits=1):
        s = suspects.assemble(hits, result, sf, names, regions, cat, cfg)
    # tables
    hits = hits.copy()
    hits["suspect_id"] = [suspects.suspect_id(a, b) for a, b in zip(hits.subject_type, hits.subject_id)]
    hits["hit_id"] = [suspects.suspect_id(r, f"{a}|{b}") for r, a, b in zip(hits.rule_code, hits.subject_type, hits.subject_id)]
    hits["amount"] = pd.to_numeric(hits.amount, errors="coerce")
    hits["event_date"] = pd.to_datetime(hits.event_date, errors="coerce").dt.date
    hit_rows = [tuple(_clean(r[f.name]) if f.name != "setl_ids" else [str(x) for x in (r["setl_ids"] if r["setl_ids"] is not None else [])]
                      for f in HIT_SCHEMA.fields) for r in hits.to_dict("records")]
    cat.overwrite(spark.createDataFrame(hit_rows, HIT_SCHEMA), "gold", "fraud_rule_hit")
    srows = [tuple(_clean(r[f.name]) if f.name != "setl_ids" else list(r["setl_ids"]) for f in suspects.SUSPECT_SCHEMA.fields)
             for r in s.to_dict("records")]
    cat.overwrite(spark.createDataFrame(srows, suspects.SUSPECT_SCHEMA), "gold", "fraud_suspect")
    gddl = ("group_id string, n_members int, members array<string>, institutions array<string>, doctors array<string>, "
            "shared_dates array<string>, setl_ids array<string>, density double, evidence string")
    grows = [(g.group_id, int(g.n_members), list(g.members), list(g.institutions), list(g.doctors), list(g.shared_dates),
              list(g.setl_ids), float(g.density), g.evidence) for g in groups.itertuples()] if len(groups) else []
    cat.overwrite(spark.createDataFrame(grows, gddl), "gold", "fraud_group")
    lddl = "atddr_no string, pharmacy string, pharmacy_name string, patients long, doctor_patients long, share double"
    lrows = [(r.atddr_no, r.pharmacy, r.pharmacy_name, int(r.patients), int(r.doctor_patients), float(r.share))
             for r in links.itertuples()] if len(links) else []
    cat.overwrite(spark.createDataFrame(lrows, lddl), "gold", "fraud_doctor_pharmacy_link")
    m = result.metrics.get("test", {})
    cat.ensure("meta", "fraud_model_version", MODEL_VERSION_DDL)
    cat.append(spark.createDataFrame([(result.version, datetime.now(timezone.utc).replace(tzinfo=None), str(result.path),
                                       int(result.metrics.get("n_labels", 0)), int(m.get("n", 0)), int(m.get("positives", 0)),
                                       m.get("roc_auc"), m.get("pr_auc"), m.get("brier"),
                                       json.dumps(result.metrics, ensure_ascii=False, default=str))], MODEL_VERSION_DDL),
               "meta", "fraud_model_version")
    secs["suspects"] = round(time.time() - t, 2)
    secs["total"] = round(time.time() - t0, 2)
    return FraudSummary(hits_by_rule=hits.groupby("rule_code").size().astype(int).to_dict(), suspects=len(s),
                        by_level=s.risk_level.value_counts().astype(int).to_dict(), groups=len(groups),
                        model_version=result.version,
                        metrics={k: v for k, v in m.items() if k in ("roc_auc", "pr_auc", "brier", "n", "positives")},
                        seconds=secs)


def _names_regions(spark) -> tuple[dict, dict]:
    """(subject_type, subject_id) -> display name, and -> region (统筹区/行政区划) for filters."""
    p = spark.sql("""select s.person_id, max(pm.psn_name) as name, max_by(s.insu_admdvs, s.begndate) as region
                     from fr_setl s left join fr_person pm on pm.person_id = s.person_id group by s.person_id""").toPandas()
    i = spark.sql("select fixmedins_code, fixmedins_name, coalesce(pooling_region, admdvs) as region from fr_inst").toPandas()
    g = spark.sql("""select s.fixmedins_code, max(s.region) as region from fr_setl s group by s.fixmedins_code""").toPandas()
    names = {("person", a): b for a, b in zip(p.person_id, p.name)}
    names.update({("institution", a): b for a, b in zip(i.fixmedins_code, i.fixmedins_name)})
    regions = {("person", a): b for a, b in zip(p.person_id, p.region)}
    regions.update({("institution", a): b for a, b in zip(i.fixmedins_code, i.region)})
    regions[("__inst__", "")] = dict(zip(g.fixmedins_code, g.region))
    return names, regions
