"""Co-visit graph (R08 团伙就医) and doctor–pharmacy links.

1. The engine reduces the person × institution × doctor × day visits to the edges that matter: pairs of
   persons who visited the same institution (and the same doctor) on the same day on at least
   ``min_shared_days`` distinct days.  Family members (same household book) are dropped.  That is a tiny
   graph even for millions of settlements.
2. networkx finds communities on it (seeded Louvain, weight = shared days); a community of
   ``min_group_size``+ persons is a suspected gang.  Its members, institutions, doctors and shared visits
   are the evidence.
3. Doctor → pharmacy links: patients of a doctor who buy at one pharmacy within N days after the visit.
"""

from __future__ import annotations

import hashlib

import networkx as nx
import pandas as pd
from pyspark.sql import SparkSession

from yibao.fraud.config import sql_list


def covisit_edges(spark: SparkSession, cfg: dict) -> pd.DataFrame:
    p = cfg["rules"]["R08_GANG"]
    doc = "and a.atddr_no <=> b.atddr_no" if p["same_doctor"] else ""
    fam = ("left join fr_person pa on pa.person_id = e.p1 left join fr_person pb on pb.person_id = e.p2 "
           "where not coalesce(pa.hsreg_book_no = pb.hsreg_book_no, false)") if p["exclude_same_household"] else ""
    return spark.sql(f"""
        with v as (
            select distinct person_id, fixmedins_code, atddr_no, begndate, setl_id,
                   coalesce(fixmedins_name, fixmedins_code) as inst
            from fr_setl where med_type in ({sql_list(p['med_types'])})
        ), e as (
            select a.person_id as p1, b.person_id as p2, a.fixmedins_code, max(a.inst) as inst, max(a.atddr_no) as atddr_no,
                   count(distinct a.begndate) as days,
                   array_sort(collect_set(cast(a.begndate as string))) as dates,
                   array_sort(array_distinct(flatten(collect_list(array(a.setl_id, b.setl_id))))) as setl_ids
            from v a join v b on a.fixmedins_code = b.fixmedins_code and a.begndate = b.begndate {doc}
                             and a.person_id < b.person_id
            group by a.person_id, b.person_id, a.fixmedins_code
            having count(distinct a.begndate) >= {int(p['min_shared_days'])}
        )
        select e.* from e {fam}""").toPandas()


def _group_id(members: list[str]) -> str:
    return "G" + hashlib.sha256("|".join(sorted(members)).encode()).hexdigest()[:12].upper()


def communities(edges: pd.DataFrame, cfg: dict) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(hits for R08, group table, per-person graph features) from the reduced co-visit edges."""
    p = cfg["rules"]["R08_GANG"]
    g = nx.Graph()
    for r in edges.itertuples(index=False):
        w = g.get_edge_data(r.p1, r.p2, {}).get("weight", 0)
        g.add_edge(r.p1, r.p2, weight=w + int(r.days))
    feats = pd.DataFrame({"person_id": list(g.nodes)})
    if g.number_of_nodes():
        feats["g_degree"] = [g.degree(n) for n in feats.person_id]
        feats["g_strength"] = [g.degree(n, weight="weight") for n in feats.person_id]
    else:
        feats["g_degree"], feats["g_strength"] = [], []
    comms = (nx.community.louvain_communities(g, weight="weight", seed=int(p["seed"])) if g.number_of_nodes() else [])
    hits, groups = [], []
    size_of = {}
    for c in comms:
        members = sorted(c)
        for m in members:
            size_of[m] = len(members)
        if not (int(p["min_group_size"]) <= len(members) <= int(p["max_group_size"])):
            continue
        gid = _group_id(members)
        sub = edges[edges.p1.isin(c) & edges.p2.isin(c)]
        insts = sorted(set(sub.inst))
        docs = sorted(set(x for x in sub.atddr_no if x))
        dates = sorted(set(d for ds in sub.dates for d in ds))
        setls = sorted(set(s for ss in sub.setl_ids for s in ss))
        density = nx.density(g.subgraph(c))
        text = (f"团伙 {gid}：{len(members)} 名无亲属关系的参保人在 {'、'.join(insts)}"
                f"{('（医师 ' + '、'.join(docs) + '）') if docs else ''} 同日共同就诊 {len(dates)} 天"
                f"（{', '.join(dates)}），成员两两共同就诊最多 {int(sub.days.max())} 天，关系密度 {density:.2f}；"
                f"成员：{', '.join(members)}")
        groups.append({"group_id": gid, "members": members, "n_members": len(members), "institutions": insts,
                       "doctors": docs, "shared_dates": dates, "setl_ids": setls, "density": float(density),
                       "evidence": text})
        for m in members:
            own = sorted(set(s for r in sub.itertuples() if m in (r.p1, r.p2) for s in r.setl_ids))
            hits.append({"rule_code": "R08_GANG", "subject_type": "person", "subject_id": m, "person_id": m,
                         "fixmedins_code": sub.fixmedins_code.iloc[0], "group_id": gid, "setl_ids": own,
                         "amount": None, "event_date": None, "evidence": text})
        hits.append({"rule_code": "R08_GANG", "subject_type": "group", "subject_id": gid, "person_id": None,
                     "fixmedins_code": sub.fixmedins_code.iloc[0], "group_id": gid, "setl_ids": setls,
                     "amount": None, "event_date": None, "evidence": text})
    feats["g_community_size"] = [size_of.get(n, 0) for n in feats.person_id]
    return pd.DataFrame(hits), pd.DataFrame(groups), feats


def doctor_pharmacy_links(spark: SparkSession, cfg: dict) -> pd.DataFrame:
    """Doctors whose patients concentrate their pharmacy purchases in one pharmacy shortly after the visit."""
    p = cfg["rules"]["R08_GANG"]
    ph = sql_list(cfg["common"]["pharmacy_med_types"])
    return spark.sql(f"""
        with visit as (select person_id, atddr_no, fixmedins_code, begndate from fr_setl
                       where atddr_no is not null and med_type not in ({ph}) and fixmedins_type = '1'),
        buy as (select person_id, fixmedins_code as pharmacy, max(fixmedins_name) as pharmacy_name, begndate
                from fr_setl where med_type in ({ph}) or fixmedins_type = '2'
                group by person_id, fixmedins_code, begndate),
        pat as (select atddr_no, count(distinct person_id) as doctor_patients from visit group by atddr_no),
        link as (
            select v.atddr_no, b.pharmacy, max(b.pharmacy_name) as pharmacy_name, count(distinct v.person_id) as patients
            from visit v join buy b on b.person_id = v.person_id
                 and datediff(b.begndate, v.begndate) between 0 and {int(p['pharmacy_link_days'])}
            group by v.atddr_no, b.pharmacy
        )
        select l.*, p.doctor_patients, l.patients / p.doctor_patients as share
        from link l join pat p on p.atddr_no = l.atddr_no
        where l.patients >= {int(p['pharmacy_link_min_patients'])}""").toPandas()
