"""Global, person-independent entities: designated institutions (定点医药机构), practitioners, employers.

They are small (about one institution per 1,000 persons and one employer per 80 persons) and built once
from their own random stream, so every chunk of persons can refer to them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import ids, names, vocabulary
from .divisions import load as load_divisions

LEVEL_SHARE = {"1": 0.04, "2": 0.14, "3": 0.47, "9": 0.35}   # 三级 / 二级 / 一级 / 未定级
CN_ORD = ["第一", "第二", "第三", "第四", "第五", "第六", "第七", "第八", "第九"]


@dataclass
class World:
    fixmedins: pd.DataFrame      # + columns pool, cost_factor, r09 ('' / 'planted' / 'decoy')
    practitioner: pd.DataFrame   # + column inst_idx
    emp_info: pd.DataFrame       # + column pool
    prac_start: np.ndarray       # CSR offsets of practitioners per institution (doctors / pharmacists first)
    prac_count: np.ndarray       # number of prescribing practitioners (doctors or pharmacists) per institution


def _inst_names(rng, level, itype, county, county_name, city_name):
    cshort = city_name.replace("市", "")
    if itype == "2":
        brand = rng.choice(vocabulary.PHARMACY_BRANDS)
        return f"{brand}大药房{county_name}{rng.choice(names.TOWN_STEMS)}{rng.choice(names.TOWN_STEMS)}店"
    if level == "1":
        kind = rng.choice(["人民医院", "中心医院", "中医医院", "妇幼保健院", "人民医院"])
        if kind == "人民医院":
            return f"{cshort}市{rng.choice(CN_ORD)}人民医院"
        return f"{cshort}市{kind}"
    if level == "2":
        return f"{county_name}{rng.choice(['人民医院', '中医医院', '妇幼保健院', '第二人民医院'])}"
    if level == "3":
        stem = rng.choice(names.TOWN_STEMS) + rng.choice(names.TOWN_STEMS)
        return f"{county_name}{stem}{rng.choice(['镇卫生院', '街道社区卫生服务中心'])}"
    return f"{county_name}{rng.choice(names.VILLAGE_STEMS)}氏{rng.choice(['诊所', '中医诊所', '口腔诊所'])}"


def build_world(persons: int, seed: int) -> World:
    rng = np.random.default_rng([seed, 7_000_001])
    D = load_divisions()
    n_inst = max(30, persons // 1000)
    n_pharm = int(round(n_inst * 0.36))
    n_hosp = n_inst - n_pharm
    pools = D.pool_codes
    # counties: first one hospital and one pharmacy per pooling region, the rest by population weight
    def counties_for(k):
        first = [np.flatnonzero(D.pool_code == p)[0] for p in pools][:k]
        rest = rng.choice(len(D.county_code), size=max(0, k - len(first)), p=D.weight)
        return np.concatenate([np.asarray(first, dtype=int), rest])
    h_cty = counties_for(n_hosp)
    p_cty = counties_for(n_pharm)
    lv = rng.choice(list(LEVEL_SHARE), size=n_hosp, p=list(LEVEL_SHARE.values()))
    # at least two hospitals of each level
    for i, level in enumerate(["1", "1", "2", "2", "3", "3", "9", "9"]):
        lv[len(pools) + i if len(pools) + i < n_hosp else i] = level
    # 三级 hospitals sit mostly in the city districts of Xi'an
    xian = np.flatnonzero((D.pool_code == "610100"))
    move = (lv == "1") & (rng.random(n_hosp) < 0.6)
    h_cty[move] = rng.choice(xian, move.sum())
    rows = []
    seen = set()
    serial = {}
    for i in range(n_inst):
        is_ph = i >= n_hosp
        c = p_cty[i - n_hosp] if is_ph else h_cty[i]
        level = "9" if is_ph else lv[i]
        itype = "2" if is_ph else "1"
        name = _inst_names(rng, level, itype, D.county_code[c], D.county_name[c], D.city_name[c])
        k = 2
        base = name
        while name in seen:
            name = base.replace("店", f"{k}店") if is_ph else f"{base}{k}分院"
            k += 1
        seen.add(name)
        county = D.county_code[c]
        serial[county] = serial.get(county, 0) + 1
        code = f"{'P' if is_ph else 'H'}{county}{serial[county]:05d}"
        rows.append((code, name, itype, level, county, D.pool_code[c]))
    fm = pd.DataFrame(rows, columns=["fixmedins_code", "fixmedins_name", "fixmedins_type", "hosp_lv", "admdvs", "pool"])
    # R09: a few hospitals whose cost profile is far above peers; decoys mildly above
    fm["cost_factor"] = np.exp(rng.normal(0, 0.08, n_inst))
    fm["r09"] = ""
    hosp = np.flatnonzero((fm["fixmedins_type"] == "1").to_numpy() & (fm["hosp_lv"] != "1").to_numpy())
    k = max(2, int(round(len(hosp) * 0.03)))
    pick = rng.choice(hosp, size=min(len(hosp), 2 * k), replace=False)
    fm.loc[pick[:k], "r09"] = "planted"
    fm.loc[pick[:k], "cost_factor"] = rng.uniform(2.8, 4.0, k)
    fm.loc[pick[k:], "r09"] = "decoy"
    fm.loc[pick[k:], "cost_factor"] = rng.uniform(1.15, 1.3, len(pick) - k)
    prac, starts, counts = _practitioners(rng, fm)
    emp = _employers(rng, persons, D)
    return World(fixmedins=fm, practitioner=prac, emp_info=emp, prac_start=starts, prac_count=counts)


def _practitioners(rng, fm):
    n_doc = fm["hosp_lv"].map({"1": 40, "2": 15, "3": 5, "9": 2}).to_numpy()
    n_doc = np.where(fm["fixmedins_type"].to_numpy() == "2", rng.integers(1, 3, len(fm)), n_doc)
    n_other = np.where(fm["fixmedins_type"].to_numpy() == "2", 0, (n_doc * 1.2).astype(int) + 1)
    rows = []
    starts = np.zeros(len(fm), dtype=np.int64)
    serial = 0
    sexes = []
    for i, (code, itype, county) in enumerate(zip(fm["fixmedins_code"], fm["fixmedins_type"], fm["admdvs"])):
        starts[i] = len(rows)
        first = "3" if itype == "2" else "1"
        kinds = [first] * n_doc[i] + list(rng.choice(["2", "2", "2", "4"], n_other[i]))
        for kind in kinds:
            serial += 1
            prefix = {"1": "D", "2": "N", "3": "Y", "4": "J"}[kind]
            rows.append((f"{prefix}{county}{serial:06d}", kind, code, county))
    df = pd.DataFrame(rows, columns=["prac_code", "prac_type", "fixmedins_code", "county"])
    n = len(df)
    gend = np.where(df["prac_type"].to_numpy() == "2", np.where(rng.random(n) < 0.95, "2", "1"),
                    np.where(rng.random(n) < 0.55, "1", "2"))
    df["prac_name"] = names.sample_names(rng, gend)
    age_days = rng.integers(25 * 365, 60 * 365, n)
    brdy = (np.datetime64("2026-01-01") - age_days.astype("timedelta64[D]")).astype(str)
    seq = rng.integers(0, 500, n) * 2 + (gend == "1")
    df["certno"] = ids.make_certno(df["county"].to_numpy(), np.char.replace(brdy.astype("U10"), "-", ""), seq)
    return df[["prac_code", "prac_name", "certno", "prac_type", "fixmedins_code"]], starts, n_doc.astype(np.int64)


def _employers(rng, persons, D):
    n = max(20, persons // 80)
    c = rng.choice(len(D.county_code), size=n, p=D.weight)
    kind = rng.choice(["10", "30", "50", "70"], size=n, p=[0.78, 0.05, 0.1, 0.07])
    prefix = rng.choice(vocabulary.EMP_PREFIXES, n)
    industry = rng.choice(vocabulary.EMP_INDUSTRIES, n)
    gov = rng.choice(vocabulary.GOV_UNITS, n)
    names_ = []
    usccs = []
    for i in range(n):
        cn = D.county_name[c[i]]
        if kind[i] == "10":
            nm = f"陕西{prefix[i]}{industry[i]}有限公司"
            reg, k = "9", "1"
        elif kind[i] == "70":
            nm = f"{cn}{prefix[i]}{industry[i]}经营部"
            reg, k = "9", "2"
        elif kind[i] == "30":
            nm = f"{D.city_name[c[i]]}{cn}{gov[i]}"
            reg, k = "1", "1"
        else:
            nm = f"{cn}{gov[i]}" if rng.random() < 0.5 else f"{cn}第{rng.integers(1, 9)}中学"
            reg, k = "1", "2"
        names_.append(nm)
        body = "".join(rng.choice(list("0123456789ABCDEFGHJKLMNPQRTUWXY"), 8))
        usccs.append(vocabulary.uscc(reg, k, D.county_code[c[i]], body))
    # names must be unique per employer: suffix branches
    s = pd.Series(names_)
    dup = s.groupby(s).cumcount()
    s = s.where(dup == 0, s + dup.astype(str).radd("第").add("分公司"))
    pools = D.pool_code[c]
    return pd.DataFrame({
        "emp_no": [f"{p}{i + 1:010d}" for i, p in enumerate(pools)],
        "emp_name": s.to_numpy(),
        "uscc": usccs,
        "emp_type": kind,
        "admdvs": D.county_code[c],
        "pool": pools,
    })
