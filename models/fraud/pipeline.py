"""``run_fraud(settings)``: rules → graph → features → models → ranked suspect list, all tables written.

Bounded client memory whatever the province's size: settlement features are computed and materialised once on
the engine (``silver.fraud_settlement_features``); the client fits the models on the labelled settlements
(capped, ``model.max_labels``) and on deterministic samples of the person / institution / practitioner
profiles (``model.max_profile_rows``); the engine scores every settlement and every profile row with
``mapInPandas`` (``silver.fraud_settlement_score``, ``silver.fraud_profile_score``) and selects the candidates
(persons with a hit or a gang membership, persons whose best score reaches ``model_only_threshold``); only
their scores, and the features of the settlements explained, come back to the client.  What stays on the
client is the size of the suspect list: rule hits, the co-visit graph, the candidates.
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Callable

import pandas as pd
from pyspark.sql import functions as F
from pyspark.sql import types as T
from threadpoolctl import threadpool_limits

from yibao.catalog import Catalog
from yibao.fraud import graph, library, model, rules, standing, suspects
from yibao.fraud.config import load_config
from yibao.fraud.features import profiles, write_settlement_features

FEATURES_TABLE = ("silver", "fraud_settlement_features")
SETTLEMENT_SCORE_TABLE = ("silver", "fraud_settlement_score")
PROFILE_SCORE_TABLE = ("silver", "fraud_profile_score")

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
    standing: dict = field(default_factory=dict)   # practitioners by status, institutions by grade (standing.py)

    def as_dict(self) -> dict:
        return asdict(self)


def _clean(v):
    if v is pd.NaT:            # a missing date (R08 / R09 hits have no event date): null, not 0001-01-01
        return None
    if isinstance(v, pd.Timestamp):
        return v.to_pydatetime()
    if hasattr(v, "item") and not isinstance(v, (list, tuple)):   # numpy scalar
        v = v.item()
    if isinstance(v, float) and pd.isna(v):
        return None
    return v


STEPS = ("rules", "graph", "features", "model", "score", "suspects", "standing")


class _StepClock:
    """Seconds per step of :data:`STEPS`, reported to ``on_step(step, seconds)`` as each one finishes."""

    def __init__(self, on_step: Callable[[str, float], None] | None):
        self.on_step = on_step
        self.start = self.last = time.time()
        self.seconds: dict = {}

    def done(self, step: str) -> None:
        self.seconds[step] = round(time.time() - self.last, 2)
        if self.on_step:
            self.on_step(step, self.seconds[step])
        self.last = time.time()

    def total(self) -> dict:
        self.seconds["total"] = round(time.time() - self.start, 2)
        return self.seconds


def run_fraud(settings, config: str | None = None,
              on_step: Callable[[str, float], None] | None = None) -> FraudSummary:
    """Run every step; ``on_step(step, seconds)`` is called as each of :data:`STEPS` finishes."""
    from yibao.engine import spark_session

    cfg = load_config(config)
    clock = _StepClock(on_step)
    spark = spark_session(settings)
    cat = Catalog(spark, settings)
    rules.prepare_views(spark, cat, cfg)
    if not spark.table(cfg["common"]["settlement_table"]).limit(1).collect():
        # nothing to supervise (no settlements released yet): publish an empty list, keep reviews as they are
        cat.overwrite(spark.createDataFrame([], suspects.SUSPECT_SCHEMA), "gold", "fraud_suspect")
        standing.compute_standing(spark, cat, cfg)
        return FraudSummary(seconds=clock.total())
    hits = rules.evaluate(spark, cfg)
    clock.done("rules")
    hits, groups, graph_feats, links = _graph_step(spark, cfg, hits)
    clock.done("graph")
    # settlement features: computed once on the engine and materialised (every later step reads the table)
    write_settlement_features(cat, cfg, hits, graph_feats, *FEATURES_TABLE)
    feats = cat.read(*FEATURES_TABLE)
    n_setl = feats.count()
    labels, labelled, audits = _training_labels(cat, cfg, feats)
    # the audits of the labelled settlements with their person and institution: the outcomes the suspects'
    # probabilities are calibrated on
    audited = labelled[["setl_id", "person_id", "fixmedins_code"]].merge(audits, on="setl_id")
    prof = profiles(feats)
    samples = _profile_samples(prof, cfg)
    clock.done("features")
    # one OpenMP thread: small models, and the engine shares the cores (oversubscription made it 10x slower)
    with threadpool_limits(limits=1):
        result = model.train(labelled, labels, samples, cfg, settings, n_setl)
    del labelled, samples
    clock.done("model")
    _score_on_engine(cat, feats, prof, result)
    clock.done("score")
    _fetch_candidate_scores(spark, cat, cfg, hits, result)
    result.audited_scores = _audited_person_scores(cat, audited)
    names, regions = _names_regions(spark, hits)

    def features_for(setl_ids: list[str]) -> pd.DataFrame:
        return _only(cat, feats, "setl_id", setl_ids, "fraud_explained_ids").toPandas()

    with threadpool_limits(limits=1):
        s = suspects.assemble(hits, result, features_for, names, regions, cat, cfg, audited, _scored_subjects(cat))
    _save_metrics(result)
    _write_hits(cat, hits)
    _write_rule_record(cat, cfg, hits, audited)
    _write_rows(cat, s, suspects.SUSPECT_SCHEMA, "fraud_suspect")
    _write_groups_and_links(cat, groups, links)
    _record_model_version(spark, cat, result)
    clock.done("suspects")
    # practitioners' payment-qualification points and institutions' credit, from the confirmed violations
    standing_counts = standing.compute_standing(spark, cat, cfg)
    clock.done("standing")
    m = result.metrics.get("test", {})
    return FraudSummary(hits_by_rule=hits.groupby("rule_code").size().astype(int).to_dict(), suspects=len(s),
                        by_level=s.risk_level.value_counts().astype(int).to_dict(), groups=len(groups),
                        model_version=result.version,
                        metrics={k: v for k, v in m.items() if k in ("roc_auc", "pr_auc", "brier", "n", "positives")},
                        seconds=clock.total(), standing=standing_counts)


def _graph_step(spark, cfg: dict, hits: pd.DataFrame):
    """R08 and the graph: (hits with the gang hits added, groups, per-person graph features, doctor-pharmacy
    links)."""
    edges = graph.covisit_edges(spark, cfg)
    gang_hits, groups, graph_feats = graph.communities(edges, cfg)
    links = graph.doctor_pharmacy_links(spark, cfg)
    if len(gang_hits):
        with warnings.catch_warnings():   # all-null amount / event_date columns of the graph hits
            warnings.simplefilter("ignore", FutureWarning)
            hits = pd.concat([hits, gang_hits.astype(object)], ignore_index=True) if len(hits) else gang_hits
    return hits, groups, graph_feats, links


def _training_labels(cat: Catalog, cfg: dict, feats) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(labels: audits and reviewers' decisions, capped; the labelled settlements' features, sorted by setl_id;
    the audits: setl_id, violation_code, audit_date)."""
    audit_schema, audit_table = cfg["common"]["audit_table"].split(".")
    audits = cat.read(audit_schema, audit_table).select("setl_id", "violation_code", "audit_date").toPandas()
    labels = model.cap_labels(model.labels_from(audits, suspects.review_labels(cat, cfg), cfg), cfg)
    labelled = _only(cat, feats, "setl_id", labels.setl_id.unique(), "fraud_label_ids").toPandas()
    return labels, labelled.sort_values("setl_id", kind="stable").reset_index(drop=True), audits


def _profile_samples(prof: dict, cfg: dict) -> dict:
    """kind -> (key, columns, at most ``model.max_profile_rows`` profile rows on the client): what the isolation
    forests fit on."""
    cap = int(cfg["model"].get("max_profile_rows", 0) or 0)
    return {kind: (key, cols, _sample(df, key, cap)) for kind, (key, cols, df) in prof.items()}


def _score_on_engine(cat: Catalog, feats, prof: dict, result) -> None:
    """Every settlement (:data:`SETTLEMENT_SCORE_TABLE`) and every profile row (:data:`PROFILE_SCORE_TABLE`),
    scored on the engine."""
    cat.overwrite_work(model.score_settlements(feats, result), *SETTLEMENT_SCORE_TABLE)
    pscores = None
    for kind, (key, cols, df) in prof.items():
        one = model.score_profiles(kind, key, cols, df, result)
        pscores = one if pscores is None else pscores.unionByName(one)
    cat.overwrite_work(pscores, *PROFILE_SCORE_TABLE)


def _fetch_candidate_scores(spark, cat: Catalog, cfg: dict, hits: pd.DataFrame, result) -> None:
    """The candidates (persons with a hit, gang members included, and persons whose best settlement reaches
    ``model_only_threshold``) as view fr_cand; their settlement scores and anomaly percentiles, and every
    institution's, into ``result`` (bounded by the suspect list)."""
    scores = cat.read(*SETTLEMENT_SCORE_TABLE)
    thr = float(cfg["model"]["model_only_threshold"])
    model_only = scores.groupBy("person_id").agg(F.max("p").alias("p")).where(F.col("p") >= thr).select("person_id")
    cand = sorted(set(model_only.toPandas().person_id) |
                  (set(hits[hits.subject_type == "person"].subject_id.dropna()) if len(hits) else set()))
    _ids(cat, cand, "person_id", "fraud_candidates").createOrReplaceTempView("fr_cand")
    result.setl_scores = (scores.join(spark.table("fr_cand"), "person_id", "left_semi").toPandas()
                          .sort_values("setl_id", kind="stable").reset_index(drop=True))
    ps = cat.read(*PROFILE_SCORE_TABLE)
    person_an = ps.where("kind = 'person'").join(spark.table("fr_cand").withColumnRenamed("person_id", "subject_id"),
                                                 "subject_id", "left_semi")
    inst_an = ps.where("kind = 'institution'")
    result.anomaly = {"person": person_an.select(F.col("subject_id").alias("person_id"), "anomaly_pct").toPandas(),
                      "institution": inst_an.select(F.col("subject_id").alias("fixmedins_code"), "anomaly_pct").toPandas()}


def _audited_person_scores(cat: Catalog, audited: pd.DataFrame) -> pd.DataFrame:
    """person_id, p (best settlement score), anomaly_pct of every audited person (bounded by the labels): with
    the suspects, the population the probability of confirmation is calibrated on."""
    ids = _ids(cat, sorted(set(audited.person_id.dropna())), "person_id", "fraud_audited_persons")
    best = cat.read(*SETTLEMENT_SCORE_TABLE).join(ids, "person_id", "left_semi").groupBy("person_id").agg(
        F.max("p").alias("p"))
    an = (cat.read(*PROFILE_SCORE_TABLE).where("kind = 'person'")
          .select(F.col("subject_id").alias("person_id"), "anomaly_pct"))
    return best.join(an, "person_id", "left").toPandas()


def _write_rows(cat: Catalog, df: pd.DataFrame, schema: T.StructType, table: str) -> None:
    """Overwrite gold.<table> with the client's rows of ``df`` (columns of ``schema``; ``setl_ids`` a list)."""
    rows = [tuple(_clean(r[f.name]) if f.name != "setl_ids"
                  else [str(x) for x in (r["setl_ids"] if r["setl_ids"] is not None else [])]
                  for f in schema.fields) for r in df.to_dict("records")]
    cat.overwrite(cat.upload(rows, schema, table), "gold", table)


def _write_hits(cat: Catalog, hits: pd.DataFrame) -> None:
    """gold.fraud_rule_hit: every hit with its suspect_id and a deterministic hit_id."""
    hits = hits.copy()
    hits["suspect_id"] = [suspects.suspect_id(a, b) for a, b in zip(hits.subject_type, hits.subject_id)]
    hits["hit_id"] = [suspects.suspect_id(r, f"{a}|{b}") for r, a, b in zip(hits.rule_code, hits.subject_type, hits.subject_id)]
    hits["amount"] = pd.to_numeric(hits.amount, errors="coerce")
    hits["event_date"] = pd.to_datetime(hits.event_date, errors="coerce").dt.date
    _write_rows(cat, hits, HIT_SCHEMA, "fraud_rule_hit")


def _write_rule_record(cat: Catalog, cfg: dict, hits: pd.DataFrame, audited: pd.DataFrame) -> None:
    """meta.rule_library (a new version when the library changed), gold.fraud_rule_stats and fraud_rule_trend."""
    v = library.record_version(cat, cfg)
    h = hits.reset_index(drop=True).copy()
    h["suspect_id"] = [suspects.suspect_id(a, b) for a, b in zip(h.subject_type, h.subject_id)]
    outcomes = library.hit_outcomes(h, audited, suspects.latest_reviews(cat), cfg)
    st, trend = library.stats(h, outcomes, cfg, v)
    spark = cat.spark
    cat.overwrite(spark.createDataFrame([tuple(_clean(x) for x in r) for r in st.itertuples(index=False)],
                                        library.STATS_DDL), "gold", "fraud_rule_stats")
    cat.overwrite(spark.createDataFrame([tuple(_clean(x) for x in r) for r in trend.itertuples(index=False)],
                                        library.TREND_DDL), "gold", "fraud_rule_trend")


GROUP_DDL = ("group_id string, n_members int, members array<string>, institutions array<string>, doctors array<string>, "
             "shared_dates array<string>, setl_ids array<string>, density double, evidence string")
LINK_DDL = "atddr_no string, pharmacy string, pharmacy_name string, patients long, doctor_patients long, share double"


def _write_groups_and_links(cat: Catalog, groups: pd.DataFrame, links: pd.DataFrame) -> None:
    """gold.fraud_group and gold.fraud_doctor_pharmacy_link."""
    grows = [(g.group_id, int(g.n_members), list(g.members), list(g.institutions), list(g.doctors), list(g.shared_dates),
              list(g.setl_ids), float(g.density), g.evidence) for g in groups.itertuples()] if len(groups) else []
    cat.overwrite(cat.upload(grows, GROUP_DDL, "fraud_group"), "gold", "fraud_group")
    lrows = [(r.atddr_no, r.pharmacy, r.pharmacy_name, int(r.patients), int(r.doctor_patients), float(r.share))
             for r in links.itertuples()] if len(links) else []
    cat.overwrite(cat.upload(lrows, LINK_DDL, "fraud_doctor_pharmacy_link"), "gold", "fraud_doctor_pharmacy_link")


def _record_model_version(spark, cat: Catalog, result) -> None:
    """One row of meta.fraud_model_version for the model just trained."""
    m = result.metrics.get("test", {})
    cat.ensure("meta", "fraud_model_version", MODEL_VERSION_DDL)
    cat.append(spark.createDataFrame([(result.version, datetime.now(timezone.utc).replace(tzinfo=None), str(result.path),
                                       int(result.metrics.get("n_labels", 0)), int(m.get("n", 0)), int(m.get("positives", 0)),
                                       m.get("roc_auc"), m.get("pr_auc"), m.get("brier"),
                                       json.dumps(result.metrics, ensure_ascii=False, default=str))], MODEL_VERSION_DDL),
               "meta", "fraud_model_version")


def _scored_subjects(cat: Catalog) -> int:
    """Persons and institutions the anomaly models scored: the base the risk levels' capacity shares apply to."""
    return int(cat.read(*PROFILE_SCORE_TABLE).where("kind in ('person', 'institution')").count())


def _save_metrics(result) -> None:
    """metrics.json of the model version again, now with the calibration report."""
    (result.path / "metrics.json").write_text(json.dumps(result.metrics, ensure_ascii=False, indent=2, default=str))


def _ids(cat: Catalog, ids, column: str, name: str):
    """A one-column engine DataFrame of the given ids (labels, candidates, explained settlements)."""
    return cat.upload([(str(x),) for x in ids], f"{column} string", name)


def _only(cat: Catalog, df, column: str, ids, name: str):
    """The rows of ``df`` whose ``column`` is one of ``ids``."""
    return df.join(_ids(cat, ids, column, name), column, "left_semi")


def _sample(df, key: str, cap: int) -> pd.DataFrame:
    """At most ``cap`` profile rows, sorted by key: the keys with the smallest xxhash64 (deterministic, uniform).

    The cut-off hash is found on the hash column alone, then the rows up to it are taken.  A top-k over the
    whole profile rows kept nearly every input batch alive (the smallest hashes are spread over all of
    them): 8.2 GiB and out of the engine's pool for the 10M-person profile."""
    if cap > 0:
        h = F.xxhash64(key)
        cut = df.select(h.alias("_h")).orderBy("_h").limit(cap).agg(F.max("_h")).first()[0]
        if cut is not None:
            df = df.where(h <= F.lit(cut)).orderBy(h, key).limit(cap)
    return df.toPandas().sort_values(key, kind="stable").reset_index(drop=True)


def _names_regions(spark, hits: pd.DataFrame) -> tuple[dict, dict]:
    """(subject_type, subject_id) -> display name, and -> region (统筹区/行政区划) for filters; persons: the
    candidates only (view fr_cand); a group takes its institution's region."""
    p = spark.sql("""select s.person_id, max(pm.psn_name) as name, max_by(s.insu_admdvs, s.begndate) as region
                     from fr_setl s left semi join fr_cand c on c.person_id = s.person_id
                     left join fr_person pm on pm.person_id = s.person_id group by s.person_id""").toPandas()
    i = spark.sql("select fixmedins_code, fixmedins_name, coalesce(pooling_region, admdvs) as region from fr_inst").toPandas()
    g = spark.sql("""select s.fixmedins_code, max(s.region) as region from fr_setl s group by s.fixmedins_code""").toPandas()
    names = {("person", a): b for a, b in zip(p.person_id, p.name)}
    names.update({("institution", a): b for a, b in zip(i.fixmedins_code, i.fixmedins_name)})
    regions = {("person", a): b for a, b in zip(p.person_id, p.region)}
    regions.update({("institution", a): b for a, b in zip(i.fixmedins_code, i.region)})
    setl_region_of_inst = dict(zip(g.fixmedins_code, g.region))
    for r in hits[hits.subject_type == "group"].itertuples():
        regions[("group", r.subject_id)] = setl_region_of_inst.get(r.fixmedins_code)
        names[("group", r.subject_id)] = f"团伙 {r.subject_id}"
    return names, regions
