"""Features for the models, computed on the engine.

Settlement level (the unit the audits label), with the context of the insured person, the institution and
the practitioner, peer-normalised by med_type × hospital level × institution type, plus graph features and
the settlement's rule hits.  Person, institution and practitioner profiles are aggregates of the same,
also computed on the engine (:data:`PROFILES`).  Features that restate a rule (after death, sex-restricted item,
overlapping stay, duplicate charges) read that rule's own definition in :mod:`yibao.fraud.rules`, with its
configured parameters: a rule has one home.  Nothing here brings settlement rows to the client: the
pipeline materialises the features once (``silver.fraud_settlement_features``) and scores them in place.
"""

from __future__ import annotations

import shutil

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from yibao.catalog import Catalog
from yibao.fraud.config import exact_quantile, sql_list
from yibao.fraud.rules import after_death_settlements, duplicate_charges, item_sex, overlapping_stays

# feature -> Chinese label (explanations and exports)
FEATURES = {
    "medfee": "医疗费总额",
    "fund_ratio": "统筹+个账支付占比",
    "ownpay_ratio": "全自费占比",
    "los_days": "住院天数",
    "is_inpatient": "住院",
    "is_pharmacy": "药店购药",
    "cost_ratio_peer": "费用/同类机构同医疗类别中位数",
    "n_lines": "费用明细条数",
    "care_lines": "诊疗类明细条数",
    "bed_days": "床日数",
    "dup_lines": "同一时间重复收费条数",
    "drug_share": "药品费占比",
    "cross_region": "异地就医",
    "after_death": "死亡后结算",
    "gender_item": "限性别项目与性别不符",
    "n_setl_within_15d": "前后15天内结算次数",
    "readmit_gap": "距同机构上次出院天数(反向)",
    "overlap_stay": "与他院住院重叠",
    "age": "年龄",
    "p_n_setl": "个人年度结算次数",
    "p_fund": "个人年度基金支付",
    "p_n_inst": "个人就诊机构数",
    "p_cross_share": "个人异地就医占比",
    "inst_cost_ratio": "机构次均费用/同级同类中位数",
    "inst_volume": "机构结算量",
    "doc_patients": "医师接诊人数",
    "doc_cost_ratio": "医师次均费用/同类中位数",
    "g_degree": "共同就诊关系数",
    "g_strength": "共同就诊天数合计",
    "g_community_size": "所在社区人数",
    "n_rules": "命中规则数",
}
FEATURE_COLUMNS = list(FEATURES)


GRAPH_SCHEMA = T.StructType([T.StructField("person_id", T.StringType()), T.StructField("g_degree", T.DoubleType()),
                             T.StructField("g_strength", T.DoubleType()), T.StructField("g_community_size", T.DoubleType())])
NRULES_SCHEMA = T.StructType([T.StructField("setl_id", T.StringType()), T.StructField("n_rules", T.DoubleType())])
KEY_COLUMNS = ["setl_id", "person_id", "fixmedins_code", "atddr_no", "begndate", "med_type"]


def rules_per_settlement(hits: pd.DataFrame) -> pd.DataFrame:
    """setl_id, n_rules: distinct rules whose person hits name the settlement (bounded: the hit list)."""
    if not len(hits):
        return pd.DataFrame({"setl_id": pd.Series(dtype=str), "n_rules": pd.Series(dtype=float)})
    per = hits[hits.subject_type == "person"].explode("setl_ids").dropna(subset=["setl_ids"])
    n = per.groupby("setl_ids").rule_code.nunique()
    return pd.DataFrame({"setl_id": n.index.astype(str), "n_rules": n.to_numpy().astype(float)})


def _upload(cat: Catalog, df: pd.DataFrame, schema: T.StructType, name: str) -> DataFrame:
    rows = [tuple(None if pd.isna(v) else (str(v) if isinstance(f.dataType, T.StringType) else float(v))
                  for v, f in zip(r, schema.fields)) for r in df[schema.fieldNames()].itertuples(index=False)]
    return cat.upload(rows, schema, name)


# Settlements per slice of the features (persons by a hash of person_id): every join of the feature query then holds
# one slice, so the memory stays flat as the province grows (the unsliced query failed at 10M persons, 14.3M
# settlements: the engine builds a hash join on one side and cannot spill it).  Configurable as
# [common] feature_slice_settlements in the rules file.
FEATURE_SLICE_SETTLEMENTS = 3_000_000
_CONTEXT = ("dups", "after_death", "overlap", "peer", "inst", "doc")   # fr_feat_<name>: stored once per run
WORK_SCHEMA = "_fraud"     # the features' context while they are written (removed after)
# The counted settlements with cost_ratio_peer: the fee over the median of its peers (med_type x hospital level x
# institution type, fr_feat_peer).  Read by the institution and practitioner aggregates and by every slice.
_WITH_PEER = """(select s.*, s.medfee / nullif(pr.peer_fee, 0) as cost_ratio_peer
                 from fr_setl s left join fr_feat_peer pr on pr.med_type = s.med_type and pr.hosp_lv <=> s.hosp_lv
                                                        and pr.fixmedins_type <=> s.fixmedins_type)"""


def write_settlement_features(cat: Catalog, cfg: dict, hits: pd.DataFrame, graph_feats: pd.DataFrame,
                              schema: str, table: str) -> int:
    """Write one row per counted settlement to ``schema.table``: KEY_COLUMNS + FEATURE_COLUMNS (doubles, missing =
    0).  ``hits`` and ``graph_feats`` are the client's rule hits and per-person graph features (both bounded by
    the hit list / the reduced co-visit graph).  Returns the number of slices written.

    What needs every settlement (the rules' flags, the peer medians, the institution and practitioner
    aggregates: few rows) is stored first; then the persons are taken in slices by a hash of person_id (a
    person's settlements are in one slice: the windows and person aggregates are per person), each slice's
    features appended to the table."""
    spark = cat.spark
    per_slice = int(cfg["common"].get("feature_slice_settlements", FEATURE_SLICE_SETTLEMENTS))
    n_setl = spark.table("fr_setl").count()
    slices = max(1, -(-n_setl // max(per_slice, 1)))
    _store_context(cat, cfg)
    gf = graph_feats if len(graph_feats) else pd.DataFrame(columns=GRAPH_SCHEMA.fieldNames())
    graph = _upload(cat, gf, GRAPH_SCHEMA, "fraud_graph_features")
    n_rules = _upload(cat, rules_per_settlement(hits), NRULES_SCHEMA, "fraud_rules_per_settlement")
    try:
        for k in range(slices):
            part = _slice_features(spark, cfg, slices, k).join(graph, on="person_id", how="left") \
                .join(n_rules, on="setl_id", how="left")
            part = part.select(*KEY_COLUMNS, *[F.coalesce(F.col(c).cast("double"), F.lit(0.0)).alias(c)
                                               for c in FEATURE_COLUMNS])
            if k == 0:
                cat.overwrite_work(part, schema, table)
            else:
                cat.append(part, schema, table)
    finally:
        for name in _CONTEXT:
            spark.catalog.dropTempView(f"fr_feat_{name}")
            shutil.rmtree(cat.path(WORK_SCHEMA, f"feat_{name}"), ignore_errors=True)
    return slices


def _store_context(cat: Catalog, cfg: dict) -> None:
    """Store the settlement-independent context of the features as work tables, as temp views fr_feat_*:
    R06's duplicate lines, R01's and R03's settlements, the peer medians, the institution and practitioner
    aggregates."""
    spark = cat.spark
    peer_src = exact_quantile("fr_setl", ["med_type", "hosp_lv", "fixmedins_type"], "medfee", 0.5, "peer_fee")
    queries = {   # in order: inst and doc read the peer medians
        "dups": f"select setl_id, sum(copies - 1) as dup_lines from ({duplicate_charges(cfg)}) d group by setl_id",  # R06
        "after_death": f"select distinct setl_id from ({after_death_settlements(cfg)}) a",                           # R01
        "overlap": f"""select distinct setl_id from (select explode(array(a_setl, b_setl)) as setl_id
                                                    from ({overlapping_stays(cfg)}) o) x""",                          # R03
        "peer": f"select * from {peer_src} pq",
        "inst": f"""select fixmedins_code, avg(cost_ratio_peer) as inst_cost_ratio, count(*) as inst_volume
                    from {_WITH_PEER} s group by fixmedins_code""",
        "doc": f"""select atddr_no, count(distinct person_id) as doc_patients, avg(cost_ratio_peer) as doc_cost_ratio
                   from {_WITH_PEER} s where atddr_no is not null group by atddr_no""",
    }
    for name in _CONTEXT:
        cat.overwrite_work(spark.sql(queries[name]), WORK_SCHEMA, f"feat_{name}")
        cat.read(WORK_SCHEMA, f"feat_{name}").createOrReplaceTempView(f"fr_feat_{name}")


def _slice_features(spark, cfg: dict, slices: int, k: int) -> DataFrame:
    """The features of the settlements of the persons with pmod(hash(person_id), slices) = k (before the graph
    features and rule counts)."""
    r07 = cfg["rules"]["R07_IDLE_BED"]
    ip = sql_list(cfg["common"]["inpatient_med_types"])
    ph = sql_list(cfg["common"]["pharmacy_med_types"])
    return spark.sql(f"""
        with s as (
            select s.*, datediff(s.begndate, date'2000-01-01') as d,
                   case when substr(s.insu_admdvs, 1, 4) <> substr(s.mdtrt_admdvs, 1, 4) then 1 else 0 end as cross_region
            from {_WITH_PEER} s
            where pmod(hash(s.person_id), {int(slices)}) = {int(k)}
        ), lines as (   -- the slice's settlement ids on the left: the side the engine builds on
            select l.setl_id, count(*) as n_lines,
                   sum(case when l.med_chrgitm_type in ({sql_list(r07['care_charge_types'])}) then 1 else 0 end) as care_lines,
                   count(distinct case when l.med_chrgitm_type in ({sql_list(r07['bed_charge_types'])}) then cast(l.fee_ocur_time as date) end) as bed_days,
                   sum(case when l.med_chrgitm_type in ('09', '10', '11') then l.amt else 0 end) as drug_amt,
                   max(case when {item_sex(cfg)} = '1' then 1 else 0 end) as male_item,
                   max(case when {item_sex(cfg)} = '2' then 1 else 0 end) as female_item
            from (select setl_id from s) ids join fr_fee l on l.setl_id = ids.setl_id
            group by l.setl_id
        ), w as (
            select s.*,
                   count(*) over (partition by person_id order by d range between 15 preceding and 15 following)
                       as n_setl_within_15d,
                   case when med_type in ({ip}) then d - lag(datediff(enddate, date'2000-01-01'))
                        over (partition by person_id, fixmedins_code, med_type in ({ip}) order by begndate, setl_id) end as readmit_days
            from s
        ), person as (
            select person_id, count(*) as p_n_setl, round(sum(hifp + acct), 2) as p_fund, count(distinct fixmedins_code) as p_n_inst,
                   avg(cross_region) as p_cross_share
            from s group by person_id
        )
        select w.setl_id, w.person_id, w.fixmedins_code, w.atddr_no, w.begndate, w.med_type,
               w.medfee, (w.hifp + w.acct) / nullif(w.medfee, 0) as fund_ratio, w.ownpay / nullif(w.medfee, 0) as ownpay_ratio,
               case when w.med_type in ({ip}) then greatest(datediff(w.enddate, w.begndate), 1) else 0 end as los_days,
               case when w.med_type in ({ip}) then 1 else 0 end as is_inpatient,
               case when w.med_type in ({ph}) then 1 else 0 end as is_pharmacy,
               w.cost_ratio_peer, coalesce(l.n_lines, 0) as n_lines, coalesce(l.care_lines, 0) as care_lines,
               coalesce(l.bed_days, 0) as bed_days, coalesce(dp.dup_lines, 0) as dup_lines,
               coalesce(l.drug_amt, 0) / nullif(w.medfee, 0) as drug_share, w.cross_region,
               case when ad.setl_id is not null then 1 else 0 end as after_death,
               case when (pm.gend = '1' and l.female_item = 1) or (pm.gend = '2' and l.male_item = 1) then 1 else 0 end as gender_item,
               w.n_setl_within_15d, case when w.readmit_days is null then 0 else 1.0 / (1 + greatest(w.readmit_days, 0)) end as readmit_gap,
               case when ov.setl_id is not null then 1 else 0 end as overlap_stay,
               floor(datediff(w.begndate, pm.brdy) / 365.25) as age,
               p.p_n_setl, p.p_fund, p.p_n_inst, p.p_cross_share, i.inst_cost_ratio, i.inst_volume,
               coalesce(dc.doc_patients, 0) as doc_patients, coalesce(dc.doc_cost_ratio, 1) as doc_cost_ratio
        from w
        left join lines l on l.setl_id = w.setl_id
        left join fr_feat_dups dp on dp.setl_id = w.setl_id
        left join fr_feat_after_death ad on ad.setl_id = w.setl_id
        left join fr_feat_overlap ov on ov.setl_id = w.setl_id
        left join fr_person pm on pm.person_id = w.person_id
        left join person p on p.person_id = w.person_id
        left join fr_feat_inst i on i.fixmedins_code = w.fixmedins_code
        left join fr_feat_doc dc on dc.atddr_no = w.atddr_no""")


# Profiles (anomaly-model inputs): kind -> (key column, [(profile column, SQL aggregate over the settlement features)])
PROFILES = {
    "person": ("person_id", [
        ("n_setl", "count(*)"), ("medfee", "sum(medfee)"), ("max_fee", "max(medfee)"),
        ("cost_ratio", "avg(cost_ratio_peer)"), ("max_n_setl_within_15d", "max(n_setl_within_15d)"),
        ("cross", "avg(cross_region)"), ("n_inst", "max(p_n_inst)"), ("inpatient", "sum(is_inpatient)"), ("los", "sum(los_days)"),
        ("dup", "sum(dup_lines)"), ("drug_share", "avg(drug_share)"), ("g_strength", "max(g_strength)"),
        ("g_community_size", "max(g_community_size)"), ("age", "max(age)")]),
    "institution": ("fixmedins_code", [
        ("n_setl", "count(*)"), ("n_persons", "count(distinct person_id)"), ("cost_ratio", "avg(cost_ratio_peer)"),
        ("fund_ratio", "avg(fund_ratio)"), ("los", "avg(los_days)"), ("drug_share", "avg(drug_share)"),
        ("lines", "avg(n_lines)"), ("cross", "avg(cross_region)"), ("inpatient", "avg(is_inpatient)")]),
    "practitioner": ("atddr_no", [
        ("n_setl", "count(*)"), ("n_persons", "count(distinct person_id)"), ("cost_ratio", "avg(cost_ratio_peer)"),
        ("drug_share", "avg(drug_share)"), ("lines", "avg(n_lines)"), ("g_strength", "avg(g_strength)")]),
}


def profiles(features: DataFrame) -> dict[str, tuple[str, list[str], DataFrame]]:
    """kind -> (key, profile columns, engine DataFrame of one row per key) from the settlement features."""
    out = {}
    for kind, (key, aggs) in PROFILES.items():
        df = features.where(F.col(key).isNotNull()).groupBy(key).agg(
            *[F.expr(expr).cast("double").alias(name) for name, expr in aggs])
        out[kind] = (key, [name for name, _ in aggs], df)
    return out
