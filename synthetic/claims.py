"""Settlements (结算) and fee lines (费用明细), with planted fraud (R01–R08) and realistic decoys.

R09 (provider outlier) is planted globally through the institutions' ``cost_factor``.
"""

from __future__ import annotations


import numpy as np
import pandas as pd

from . import dirt, vocabulary
from .institutions import World
from .population import Context, DAY, _days

LEVEL_PRICE = {"1": 1.0, "2": 0.92, "3": 0.85, "9": 0.8}
DEDUCT = {"1": 80000, "2": 50000, "3": 20000, "9": 20000}          # cents, inpatient threshold (起付线)
IP_RATIO = {"310": {"1": 0.85, "2": 0.88, "3": 0.9, "9": 0.9}, "390": {"1": 0.6, "2": 0.7, "3": 0.8, "9": 0.8}}
# (med_type) → list of (fixmedins_type, hosp_lv, probability)
INST_MIX = {
    "11": [("1", "9", 0.35), ("1", "3", 0.35), ("1", "2", 0.2), ("1", "1", 0.1)],
    "13": [("1", "2", 0.6), ("1", "1", 0.4)],
    "14": [("1", "2", 0.5), ("1", "1", 0.3), ("1", "3", 0.2)],
    "41": [("2", "9", 1.0)],
    "21": [("1", "1", 0.35), ("1", "2", 0.45), ("1", "3", 0.2)],
    "51": [("1", "3", 0.5), ("1", "2", 0.5)],
    "52": [("1", "2", 0.6), ("1", "1", 0.4)],
}
# R07 (挂床住院, contract section 5): an inpatient day is idle when it carries a bed charge and no treatment,
# drug, exam or lab charge.  The charge types and the number of idle days a hit needs are the fraud module's
# configuration (models/fraud/rules.toml, or $YIBAO_FRAUD_CONFIG); these are the defaults when it cannot be read.
R07_DEFAULTS = {"min_idle_days": 2, "bed_charge_types": ["01"], "care_charge_types": ["03", "04", "05", "06", "09", "10", "11"]}
DAY_KEY = 4096      # (settlement row, day of stay) packed as s * DAY_KEY + day


def r07_stay_shape(rng: np.random.Generator, m: int, thr: int, decoy: bool):
    """(idle days, length of stay, fee mode) of ``m`` planted R07 stays.  Hits: ``thr`` to ``thr + 2`` idle days
    among treated days (60 %) or a stay idle from end to end (40 %); decoys: one idle day fewer than a hit needs."""
    if decoy:
        kk = np.full(m, thr - 1)
        los = kk + rng.integers(3, 8, m)
        return kk, los, np.where(kk > 0, "idle_days", "")
    all_idle = rng.random(m) < 0.4
    kk = np.where(all_idle, 0, rng.integers(thr, thr + 3, m))
    los = np.where(all_idle, thr + rng.integers(0, 4, m), kk + rng.integers(3, 8, m))
    return kk, los, np.where(all_idle, "idle", "idle_days")


def r07_config() -> dict:
    """The R07 settings the generator plants against: ``min_idle_days`` (read as ``min_idle_days``, else the
    older ``min_bed_days``), bed and care charge types, and ``source`` (where they came from)."""
    out = dict(R07_DEFAULTS, source="defaults")
    try:
        from yibao.fraud.config import config_path, load_config
        p = load_config()["rules"]["R07_IDLE_BED"]
        out["min_idle_days"] = int(p.get("min_idle_days", p.get("min_bed_days", out["min_idle_days"])))
        out["bed_charge_types"] = [str(x) for x in p.get("bed_charge_types", out["bed_charge_types"])]
        out["care_charge_types"] = [str(x) for x in p.get("care_charge_types", out["care_charge_types"])]
        out["source"] = str(config_path())
    except Exception:       # the generator also runs without the fraud module
        pass
    out["min_idle_days"] = max(1, out["min_idle_days"])
    return out


SPEC_COLS = ["i", "pid", "psn_no", "certno", "insutype", "insu_pool", "gend", "age", "med_type", "inst", "doc",
             "begn", "end", "fraud", "decoy", "grp", "mode", "extra_item"]


class InstPicker:
    """Vectorised choice of an institution of a (type, level) in a pooling region, with fallbacks."""

    def __init__(self, world: World):
        fm = world.fixmedins
        self.fm = fm
        self.pool = fm["pool"].to_numpy()
        self.cat = (fm["fixmedins_type"] + fm["hosp_lv"]).to_numpy()
        self.by = {}
        for k, g in fm.groupby([fm["pool"], self.cat]).groups.items():
            self.by[k] = np.asarray(g)
        self.by_cat = {c: np.flatnonzero(self.cat == c) for c in np.unique(self.cat)}
        self.hosp_by_pool = {p: np.flatnonzero((self.pool == p) & (fm["fixmedins_type"].to_numpy() == "1")) for p in np.unique(self.pool)}
        self.any_hosp = np.flatnonzero(fm["fixmedins_type"].to_numpy() == "1")

    def pick(self, rng, pools: np.ndarray, cats: np.ndarray) -> np.ndarray:
        out = np.empty(len(pools), dtype=np.int64)
        key = pd.DataFrame({"p": pools, "c": cats})
        for (p, c), idx in key.groupby(["p", "c"]).indices.items():
            cand = self.by.get((p, c))
            if cand is None or len(cand) == 0:
                cand = self.hosp_by_pool.get(p) if c[0] == "1" else None
            if cand is None or len(cand) == 0:
                cand = self.by_cat.get(c, self.any_hosp)
            out[idx] = cand[rng.integers(0, len(cand), len(idx))]
        return out


def pick_doctor(rng, world: World, inst: np.ndarray) -> np.ndarray:
    start = world.prac_start[inst]
    cnt = np.maximum(world.prac_count[inst], 1)
    return start + (rng.random(len(inst)) * cnt).astype(np.int64)


def _mix_cats(rng, med_type: np.ndarray) -> np.ndarray:
    out = np.empty(len(med_type), dtype=object)
    for mt, mix in INST_MIX.items():
        m = med_type == mt
        if m.any():
            cats = np.array([a + b for a, b, _ in mix], dtype=object)
            out[m] = rng.choice(cats, m.sum(), p=[p for *_, p in mix])
    return out


def _los(rng, level: np.ndarray) -> np.ndarray:
    mean = np.select([level == "1", level == "2"], [8.0, 6.0], 4.5)
    return (2 + rng.poisson(mean - 2)).astype(np.int64)


def eligible(P: pd.DataFrame, I: pd.DataFrame, R: pd.DataFrame) -> pd.DataFrame:
    """Persons with an active MAIN enrollment: one row each, with the written certno of the record."""
    a = I[(I["insu_kind"] == "MAIN") & (I["psn_insu_stas"] == "1")].drop_duplicates("i")
    cert = R.set_index("psn_no")["certno_out"]
    e = pd.DataFrame({"i": a["i"].to_numpy(), "pid": a["pid"].to_numpy(), "psn_no": a["psn_no"].to_numpy(),
                      "insutype": a["insutype"].to_numpy(), "insu_pool": a["insu_admdvs"].to_numpy()})
    e["certno"] = cert.reindex(e["psn_no"]).to_numpy()
    e["gend"] = P["gend"].to_numpy()[e["i"]]
    e["age"] = P["age_days"].to_numpy()[e["i"]] / 365.25
    e["dead"] = P["dead"].to_numpy()[e["i"]]
    e["death_date"] = P["death_date"].to_numpy()[e["i"]]
    e["hh"] = P["hh"].to_numpy()[e["i"]]
    return e


def natural_specs(rng, E: pd.DataFrame, P: pd.DataFrame, picker: InstPicker, world: World,
                  start: np.datetime64, end: np.datetime64) -> pd.DataFrame:
    """Ordinary care over [start, end): outpatient, emergency, chronic, pharmacy, inpatient, maternity."""
    span = int((end - start) / DAY)
    frac = span / 365.0
    n = len(E)
    age = E["age"].to_numpy()
    lam = {"11": (0.30 + 0.004 * age) * frac, "13": np.full(n, 0.03 * frac), "41": np.full(n, 0.25 * frac),
           "21": np.clip(0.02 + 0.0012 * np.maximum(age - 30, 0), 0, 0.2) * frac}
    parts = []
    for mt, l in lam.items():
        k = rng.poisson(l)
        idx = np.repeat(np.arange(n), k)
        parts.append(pd.DataFrame({"e": idx, "med_type": mt, "begn": start + _days(rng.integers(0, span, len(idx)))}))
    # chronic disease outpatients: regular monthly visits at one hospital with one doctor
    chronic = rng.random(n) < np.clip(0.02 + 0.004 * np.maximum(age - 40, 0), 0, 0.25)
    ci = np.flatnonzero(chronic)
    nv = max(1, int(np.ceil(span / 30)))
    first = rng.integers(0, 30, len(ci))
    ch_inst = picker.pick(rng, E["insu_pool"].to_numpy()[ci], _mix_cats(rng, np.full(len(ci), "14", dtype=object)))
    ch_doc = pick_doctor(rng, world, ch_inst)
    k = np.arange(nv)
    off = first[:, None] + k[None, :] * 30 + rng.integers(-2, 3, (len(ci), nv))
    ok = (off >= 0) & (off < span)
    rows = np.repeat(np.arange(len(ci)), nv)[ok.ravel()]
    chron = pd.DataFrame({"e": ci[rows], "med_type": "14", "begn": start + _days(off.ravel()[ok.ravel()]),
                          "inst": ch_inst[rows], "doc": ch_doc[rows]})
    # maternity: mothers of this chunk's newborns
    S = pd.concat(parts, ignore_index=True)
    S["inst"] = -1
    S["doc"] = -1
    S = pd.concat([S, chron], ignore_index=True)
    S = _attach(S, E)
    S = _place(rng, S, picker, world)
    S = _inpatient_dates(rng, S, picker, end)
    S = S[S["begn"] >= start]
    # natural inpatient stays never overlap and are never readmissions within 20 days (keeps R02/R03 clean)
    ip = S["med_type"].isin(["21", "52"]).to_numpy()
    A = S[ip].sort_values(["pid", "begn"])
    for _ in range(3):
        prev_end = A.groupby("pid")["end"].shift(1)
        bad = (A["pid"] == A["pid"].shift(1)) & (A["begn"] <= prev_end + _days(20))
        if not bad.any():
            break
        A = A[~bad.to_numpy()]
    S = pd.concat([S[~ip], A], ignore_index=True)
    # the dead get no ordinary care on or after their death date
    dd = S["death_date"].to_numpy().astype("datetime64[D]")
    S = S[np.isnat(dd) | (S["end"].to_numpy() < dd)]
    return S


def daily_specs(rng, E: pd.DataFrame, picker: InstPicker, world: World, day: np.datetime64,
                last_ip_end: np.ndarray, late_share: float = 0.01) -> pd.DataFrame:
    """Ordinary care settled on one business day ``day`` (the rates of :func:`natural_specs` per day):
    outpatient, emergency, chronic and pharmacy visits of that day, inpatient stays discharged that day, and
    ``late_share`` as many outpatient / pharmacy visits of 8-60 days ago delivered late.  ``last_ip_end``
    (per row of ``E``): the end of the person's last inpatient stay already settled; a new stay begins more
    than 20 days after it (natural stays never overlap and are never readmissions: R02/R03 stay clean)."""
    n = len(E)
    age = E["age"].to_numpy()
    yr = 1 / 365.0
    chronic_p = np.clip(0.02 + 0.004 * np.maximum(age - 40, 0), 0, 0.25)
    lam = {"11": (0.30 + 0.004 * age) * yr, "13": np.full(n, 0.03 * yr), "41": np.full(n, 0.25 * yr),
           "14": chronic_p / 30.0, "21": np.clip(0.02 + 0.0012 * np.maximum(age - 30, 0), 0, 0.2) * yr}
    parts = []
    for mt, l in lam.items():
        k = rng.poisson(l)
        idx = np.repeat(np.arange(n), k)
        parts.append(pd.DataFrame({"e": idx, "med_type": mt, "begn": np.full(len(idx), day, dtype="datetime64[D]")}))
    for mt in ("11", "41"):
        k = rng.poisson(lam[mt] * late_share)
        idx = np.repeat(np.arange(n), k)
        parts.append(pd.DataFrame({"e": idx, "med_type": mt, "begn": day - _days(rng.integers(8, 61, len(idx)))}))
    S = pd.concat(parts, ignore_index=True)
    S["inst"] = -1
    S["doc"] = -1
    S = _attach(S, E)
    S = _place(rng, S, picker, world)
    level = picker.fm["hosp_lv"].to_numpy()[S["inst"].to_numpy()]
    ip = S["med_type"].isin(["21", "52"]).to_numpy()
    los = np.where(ip, _los(rng, level), 0)
    begn = S["begn"].to_numpy().astype("datetime64[D]") - _days(los)
    S["begn"] = begn
    S["end"] = begn + _days(los)
    # inpatient: one stay per person and day, beginning more than 20 days after the person's last stay
    last = np.asarray(last_ip_end, dtype="datetime64[D]")[S["e"].to_numpy()]
    ipi = np.flatnonzero(ip)
    first = np.zeros(len(S), dtype=bool)
    first[ipi[np.unique(S["e"].to_numpy()[ipi], return_index=True)[1]]] = True
    ok = ~ip | (first & (np.isnat(last) | (begn > last + _days(20))))
    S = S[ok]
    # the dead get no ordinary care on or after their death date
    dd = S["death_date"].to_numpy().astype("datetime64[D]")
    return S[np.isnat(dd) | (S["end"].to_numpy() < dd)].reset_index(drop=True)


def maternity_specs(rng, E: pd.DataFrame, P: pd.DataFrame, picker, world, start, end) -> pd.DataFrame:
    role = P["role"].to_numpy()
    nb = np.flatnonzero(P["newborn"].to_numpy())
    if len(nb) == 0:
        return pd.DataFrame()
    hh = P["hh"].to_numpy()
    # mother = female head or spouse of the newborn's household
    first_of_hh = np.searchsorted(hh, hh[nb])
    cand = np.stack([first_of_hh, first_of_hh + 1], axis=1)
    g = P["gend"].to_numpy()
    mother = np.where(g[cand[:, 0]] == "2", cand[:, 0], cand[:, 1])
    birth = P["brdy"].to_numpy().astype("datetime64[D]")[nb]
    pos = pd.Series(np.arange(len(E)), index=E["i"].to_numpy())
    ei = pos.reindex(mother).to_numpy()
    ok = ~np.isnan(ei) & (birth >= start) & (birth < end)
    ei = ei[ok].astype(np.int64)
    birth = birth[ok]
    s52 = pd.DataFrame({"e": ei, "med_type": "52", "begn": birth - _days(1)})
    s51 = pd.DataFrame({"e": np.repeat(ei, 2), "med_type": "51",
                        "begn": np.repeat(birth, 2) - _days(rng.integers(20, 200, 2 * len(ei)))})
    S = pd.concat([s52, s51], ignore_index=True)
    S = S[S["begn"] >= start]
    S["inst"] = -1
    S["doc"] = -1
    S = _attach(S, E)
    S = _place(rng, S, picker, world)
    return _inpatient_dates(rng, S, picker, end)


def _attach(S: pd.DataFrame, E: pd.DataFrame) -> pd.DataFrame:
    e = S["e"].to_numpy()
    for c in ("i", "pid", "psn_no", "certno", "insutype", "insu_pool", "gend", "age", "death_date", "hh"):
        S[c] = E[c].to_numpy()[e]
    for c, v in (("fraud", ""), ("decoy", ""), ("grp", ""), ("mode", ""), ("extra_item", -1)):
        S[c] = S[c].fillna(v) if c in S else v
    S["extra_item"] = S["extra_item"].astype(np.int64)
    return S


def _place(rng, S, picker: InstPicker, world: World) -> pd.DataFrame:
    need = S["inst"].to_numpy() < 0
    if need.any():
        mt = S["med_type"].to_numpy()[need]
        pools = S["insu_pool"].to_numpy()[need].copy()
        cross = rng.random(need.sum()) < 0.05
        pools[cross] = np.where(rng.random(cross.sum()) < 0.7, "610100", world.fixmedins["pool"].to_numpy()[rng.integers(0, len(world.fixmedins), cross.sum())])
        inst = picker.pick(rng, pools, _mix_cats(rng, mt))
        S.loc[need, "inst"] = inst
        S.loc[need, "doc"] = pick_doctor(rng, world, inst)
    # planted cases arrive with their institution but without a doctor (-1 would index the last practitioner of
    # the registry, a pharmacist attending inpatient stays everywhere): one of the institution's own, drawn from a
    # stream of their own so the rest of the province stays as it was
    orphan = (S["doc"].to_numpy() < 0) & (S["inst"].to_numpy() >= 0)
    if orphan.any():
        own = np.random.default_rng([len(S), int(orphan.sum())])
        S.loc[orphan, "doc"] = pick_doctor(own, world, S["inst"].to_numpy()[orphan].astype(np.int64))
    S["inst"] = S["inst"].astype(np.int64)
    S["doc"] = S["doc"].astype(np.int64)
    return S


def _inpatient_dates(rng, S, picker: InstPicker, end) -> pd.DataFrame:
    level = picker.fm["hosp_lv"].to_numpy()[S["inst"].to_numpy()]
    ip = S["med_type"].isin(["21", "52"]).to_numpy()
    los = np.where(ip, _los(rng, level), 0)
    begn = S["begn"].to_numpy().astype("datetime64[D]")
    begn = np.where(ip, np.minimum(begn, end - _days(los + 1)), begn)
    if "end" in S and S["end"].notna().all():
        return S
    S["begn"] = begn
    S["end"] = begn + _days(los)
    return S


# --------------------------------------------------------------------------- planted fraud and decoys
def _rows(E, ei, **cols) -> dict:
    """One planted case's settlement specs as column arrays (framed together by :func:`_frame`)."""
    e = np.asarray(ei, dtype=np.int64).ravel()
    d = {"e": e}
    for k, v in cols.items():
        a = np.asarray(v)
        if a.ndim == 0:
            a = np.full(len(e), v, dtype=a.dtype if a.dtype.kind in "iuMf" else object)
        elif a.dtype.kind == "U":
            a = a.astype(object)
        d[k] = a
    return d


_SPEC_DEFAULTS = {"inst": -1, "doc": -1, "fraud": "", "decoy": "", "mode": "", "extra_item": -1, "idle_k": 0, "grp": ""}


def _frame(specs: list[dict]) -> pd.DataFrame:
    """One DataFrame of many cases' specs (columns a case lacks take their defaults; ``end`` NaT)."""
    specs = [d for d in specs if len(d["e"])]
    if not specs:
        return pd.DataFrame(columns=["e"])
    cols = list(dict.fromkeys(k for d in specs for k in d))
    out = {}
    for c in cols:
        parts = []
        for d in specs:
            if c in d:
                parts.append(d[c])
            elif c in ("end", "begn"):
                parts.append(np.full(len(d["e"]), np.datetime64("NaT", "D")))
            else:
                dv = _SPEC_DEFAULTS.get(c, None)
                parts.append(np.full(len(d["e"]), dv, dtype=object if isinstance(dv, str) or dv is None else np.int64))
        kinds = {x.dtype.kind for x in parts}
        if kinds <= {"M"}:
            parts = [x.astype("datetime64[D]") for x in parts]
        elif len(kinds) > 1:
            parts = [x.astype(object) for x in parts]
        out[c] = np.concatenate(parts)
    return pd.DataFrame(out)


def plant(rng, ctx: Context, E: pd.DataFrame, P: pd.DataFrame, picker: InstPicker, world: World,
          start: np.datetime64, end: np.datetime64) -> tuple[pd.DataFrame, list]:
    """Planted cases for R01–R08 plus decoys; returns (specs, fraud truth rows without setl ids)."""
    n = len(E)
    span = int((end - start) / DAY)
    rate = 0.0025
    k = max(2, int(np.ceil(rate * ctx.n)))
    used = np.zeros(n, dtype=bool)
    alive = ~E["dead"].to_numpy()
    specs = []

    def take(mask, m):
        cand = np.flatnonzero(mask & ~used)
        sel = rng.choice(cand, size=min(m, len(cand)), replace=False) if len(cand) else np.array([], dtype=int)
        used[sel] = True
        return sel

    hosp_cat = lambda m: _mix_cats(rng, np.full(m, "21", dtype=object))
    # R01: care after death (someone uses the card); decoy: an inpatient stay ending on the death date
    dead = E["dead"].to_numpy()
    dd = E["death_date"].to_numpy().astype("datetime64[D]")
    # half of the deaths of the last 11 months are kept for decoys (persons who died in hospital)
    recent = dead & (dd > start + _days(30))
    reserved = recent & (rng.random(n) < 0.5)
    sel = take(dead & (dd < end - _days(10)) & ~reserved, max(k, int(dead.sum() * 0.5)))
    for j in sel:
        m = int(rng.integers(1, 4))
        lo = max(dd[j] + _days(3), start)
        days = lo + _days(rng.integers(0, max(1, int((end - lo) / DAY) - 1), m))
        specs.append(_rows(E, [j] * m, med_type=rng.choice(["41", "11"], m), begn=days, fraud="R01_AFTER_DEATH", grp=f"R01-{ctx.chunk}-{j}"))
    sel = take(recent, max(2, len(sel) // 2))
    for j in sel:
        specs.append(_rows(E, [j], med_type="21", begn=dd[j] - _days(int(rng.integers(3, 12))), end=dd[j], decoy="R01_AFTER_DEATH",
                           grp=f"R01D-{ctx.chunk}-{j}"))
    # R02: readmission to the same hospital within 15 days; decoys: 18–30 days, or another hospital
    for decoy_kind in ("plant", "late", "other"):
        sel = take(alive & (E["age"].to_numpy() >= 30), k if decoy_kind == "plant" else max(1, k // 2))
        inst = picker.pick(rng, E["insu_pool"].to_numpy()[sel], hosp_cat(len(sel)))
        inst2 = picker.pick(rng, E["insu_pool"].to_numpy()[sel], hosp_cat(len(sel))) if decoy_kind == "other" else inst
        for j, a, b in zip(sel, inst, inst2):
            if decoy_kind == "other" and a == b:
                b = _other_hospital(rng, picker, a)
            l1, l2 = int(rng.integers(3, 10)), int(rng.integers(3, 10))
            gap = int(rng.integers(1, 14)) if decoy_kind != "late" else int(rng.integers(18, 31))
            b1 = start + _days(int(rng.integers(10, span - l1 - gap - l2 - 3)))
            e1 = b1 + _days(l1)
            b2 = e1 + _days(gap)
            tag = dict(fraud="R02_SPLIT_ADMISSION") if decoy_kind == "plant" else dict(decoy="R02_SPLIT_ADMISSION")
            specs.append(_rows(E, [j, j], med_type="21", inst=[a, b], begn=[b1, b2], end=[e1, b2 + _days(l2)],
                               grp=f"R02-{ctx.chunk}-{j}", **tag))
    # R03: overlapping stays at two hospitals; decoy: transfer the next day
    for decoy in (False, True):
        sel = take(alive & (E["age"].to_numpy() >= 30), k if not decoy else max(1, k // 2))
        a = picker.pick(rng, E["insu_pool"].to_numpy()[sel], hosp_cat(len(sel)))
        b = picker.pick(rng, np.where(rng.random(len(sel)) < 0.5, "610100", E["insu_pool"].to_numpy()[sel]), hosp_cat(len(sel)))
        for j, x, y in zip(sel, a, b):
            if x == y:
                y = _other_hospital(rng, picker, x)
            l1, l2 = int(rng.integers(5, 12)), int(rng.integers(3, 9))
            b1 = start + _days(int(rng.integers(10, span - l1 - l2 - 5)))
            b2 = b1 + _days(l1 + 1) if decoy else b1 + _days(int(rng.integers(1, l1 - 1)))
            tag = dict(decoy="R03_OVERLAP_STAY") if decoy else dict(fraud="R03_OVERLAP_STAY")
            specs.append(_rows(E, [j, j], med_type="21", inst=[x, y], begn=[b1, b2], end=[b1 + _days(l1), b2 + _days(l2)],
                               grp=f"R03-{ctx.chunk}-{j}", **tag))
    # R04: a gender-specific item billed to the other gender; decoy: the same items for the right gender
    male_items = vocabulary.group_index("MALE")
    female_items = np.concatenate([vocabulary.group_index("FEMALE"), vocabulary.group_index("OBST_OP")])
    for decoy in (False, True):
        sel = take(alive & (E["age"].to_numpy() >= 20), k)
        g = E["gend"].to_numpy()[sel]
        wrong = np.where(g == "1", rng.choice(female_items, len(sel)), rng.choice(male_items, len(sel)))
        right = np.where(g == "1", rng.choice(male_items, len(sel)), rng.choice(female_items, len(sel)))
        tag = dict(decoy="R04_GENDER_ITEM") if decoy else dict(fraud="R04_GENDER_ITEM")
        specs.append(_rows(E, sel, med_type="11", begn=start + _days(rng.integers(0, span, len(sel))),
                           extra_item=right if decoy else wrong, grp=[f"R04-{ctx.chunk}-{j}" for j in sel], **tag))
    # R05: many visits / purchases within 30 days; decoy: an acute episode of 4–5 visits
    for decoy in (False, True):
        sel = take(alive & (E["age"].to_numpy() >= 18), k)
        for j in sel:
            m = int(rng.integers(4, 6)) if decoy else int(rng.integers(10, 17))
            b0 = int(rng.integers(0, span - 31))
            days = start + _days(b0 + np.sort(rng.integers(0, 30, m)))
            mt = "11" if decoy or rng.random() < 0.3 else "41"
            tag = dict(decoy="R05_HIGH_FREQUENCY") if decoy else dict(fraud="R05_HIGH_FREQUENCY")
            specs.append(_rows(E, [j] * m, med_type=mt, begn=days, grp=f"R05-{ctx.chunk}-{j}", **tag))
    # R06: the same item twice in one settlement at the same time; decoy: same item at two different times
    for decoy in (False, True):
        sel = take(alive, k)
        mt = rng.choice(["11", "13", "21"], len(sel), p=[0.5, 0.2, 0.3])
        tag = dict(decoy="R06_DUP_CHARGE") if decoy else dict(fraud="R06_DUP_CHARGE")
        specs.append(_rows(E, sel, med_type=mt, begn=start + _days(rng.integers(0, span - 20, len(sel))),
                           mode="dup_diff" if decoy else "dup_same", grp=[f"R06-{ctx.chunk}-{j}" for j in sel], **tag))
    # R07: idle bed days (bed charge, no treatment/drug/exam/lab that day).  Hits: stays with min_idle_days to
    # min_idle_days + 2 idle days among treated days (60%), or stays with bed and nursing charges only (40%).
    # Decoys: stays with one idle day fewer than a hit needs (a fully treated stay when one idle day is a hit).
    thr = r07_config()["min_idle_days"]
    for decoy in (False, True):
        sel = take(alive & (E["age"].to_numpy() >= 40), k)
        m = len(sel)
        b = start + _days(rng.integers(0, span - 30, m))
        kk, los, mode = r07_stay_shape(rng, m, thr, decoy)
        tag = dict(decoy="R07_IDLE_BED") if decoy else dict(fraud="R07_IDLE_BED")
        specs.append(_rows(E, sel, med_type="21", begn=b, end=b + _days(los), mode=mode, idle_k=kk.astype(np.int64),
                           grp=[f"R07-{ctx.chunk}-{j}" for j in sel], **tag))
    S = _frame(specs)
    for c, v in (("inst", -1), ("doc", -1), ("fraud", ""), ("decoy", ""), ("mode", ""), ("extra_item", -1), ("idle_k", 0)):
        if c not in S:
            S[c] = v
        S[c] = S[c].fillna(v)
    S["idle_k"] = S["idle_k"].astype(np.int64)
    S["inst"] = S["inst"].astype(np.int64)
    S["extra_item"] = S["extra_item"].astype(np.int64)
    S = _attach(S, E)
    S = _place(rng, S, picker, world)
    has_end = S["end"].notna().to_numpy() if "end" in S else np.zeros(len(S), dtype=bool)
    T = _inpatient_dates(rng, S.drop(columns=["end"], errors="ignore").copy(), picker, end)
    if "end" in S:
        T.loc[has_end, "end"] = S.loc[has_end, "end"].to_numpy()
        T.loc[has_end, "begn"] = S.loc[has_end, "begn"].to_numpy()
    S = T
    # R08: gangs of 4–10 unrelated persons visiting one clinic and doctor together on several days
    gangs = _gangs(rng, ctx, E, used, picker, world, start, span)
    return pd.concat([S, gangs], ignore_index=True) if len(gangs) else S


def _other_hospital(rng, picker: InstPicker, inst: int) -> int:
    cand = picker.any_hosp[picker.any_hosp != inst]
    return int(cand[rng.integers(0, len(cand))])


def _gangs(rng, ctx, E, used, picker: InstPicker, world: World, start, span) -> pd.DataFrame:
    alive = ~E["dead"].to_numpy() & (E["age"].to_numpy() >= 18)
    n_g = max(1, int(round(ctx.n / 2000)))
    out = []
    pools = E["insu_pool"].to_numpy()
    for g in range(n_g):
        pool = rng.choice(pools[alive & ~used]) if (alive & ~used).any() else None
        if pool is None:
            break
        cand = np.flatnonzero(alive & ~used & (pools == pool))
        hh = E["hh"].to_numpy()[cand]
        _, first = np.unique(hh, return_index=True)       # one member per household: unrelated persons
        cand = cand[first]
        m = int(rng.integers(4, 11))
        if len(cand) < 4:
            continue
        members = rng.choice(cand, size=min(m, len(cand)), replace=False)
        used[members] = True
        inst = picker.pick(rng, np.array([pool]), np.array([rng.choice(["19", "13"])], dtype=object))[0]
        doc = pick_doctor(rng, world, np.array([inst]))[0]
        days = start + _days(np.sort(rng.choice(span, size=int(rng.integers(4, 9)), replace=False)))
        gid = f"G{ctx.chunk:05d}{g:04d}"
        for d in days:
            att = members[rng.random(len(members)) < 0.9]
            out.append(_rows(E, att, med_type=rng.choice(["11", "41"]) if world.fixmedins["fixmedins_type"].to_numpy()[inst] == "2" else "11",
                             begn=d, inst=inst, doc=doc, fraud="R08_GANG", grp=gid))
    # decoy: households visiting the same clinic together once or twice
    hh = E["hh"].to_numpy()
    ok = alive & ~used
    s = pd.Series(hh[ok])
    big = s.value_counts()
    fam = big[big >= 3].index.to_numpy()
    fam = rng.choice(fam, size=min(len(fam), n_g * 2), replace=False) if len(fam) else fam
    for f in fam:
        members = np.flatnonzero(ok & (hh == f))
        inst = picker.pick(rng, np.array([pools[members[0]]]), np.array(["13"], dtype=object))[0]
        doc = pick_doctor(rng, world, np.array([inst]))[0]
        for d in start + _days(rng.choice(span, size=int(rng.integers(1, 3)), replace=False)):
            out.append(_rows(E, members, med_type="11", begn=d, inst=inst, doc=doc, decoy="R08_GANG", grp=f"F{ctx.chunk:05d}{f:07d}"))
    if not out:
        return pd.DataFrame()
    S = _frame(out)
    S["mode"] = ""
    S["extra_item"] = -1
    S = _attach(S, E)
    S["end"] = S["begn"]
    return S


# --------------------------------------------------------------------------- fee lines and amounts
def _lines_for(rng, S: pd.DataFrame, world: World) -> pd.DataFrame:
    """Fee lines (s = settlement row, item, cnt, day offset, seconds) from the med_type templates."""
    it = vocabulary.items()
    mt = S["med_type"].to_numpy()
    mode = S["mode"].to_numpy()
    n = len(S)
    days = np.maximum((S["end"].to_numpy().astype("datetime64[D]") - S["begn"].to_numpy().astype("datetime64[D]")).astype(np.int64), 1)
    cf = world.fixmedins["cost_factor"].to_numpy()[S["inst"].to_numpy()]
    parts = []
    idle = mode == "idle"                 # planted R07: bed and nursing charges only
    for med, tpl in vocabulary.TEMPLATES.items():
        sm = (mt == med) & ~idle
        if not sm.any():
            continue
        sidx = np.flatnonzero(sm)
        for grp, lo, hi, p in tpl:
            use = rng.random(len(sidx)) < p
            cnt_lines = np.where(use, rng.integers(lo, hi + 1, len(sidx)), 0)
            # R09 outliers also order more examinations and drugs
            if grp in ("EXAM", "WDRUG", "LAB", "MAT"):
                cnt_lines = cnt_lines + (rng.random(len(sidx)) < (cf[sidx] - 1) / 2.0).astype(int) * (1 + (cf[sidx] > 2))
            s_rep = np.repeat(sidx, cnt_lines)
            pool = vocabulary.group_index(grp)
            parts.append(pd.DataFrame({"s": s_rep, "item": pool[rng.integers(0, len(pool), len(s_rep))]}))
    # ordinary use of gender-specific items by the right gender
    g = S["gend"].to_numpy()
    age = S["age"].to_numpy()
    op = (mt == "11") & (mode == "")
    m1 = np.flatnonzero(op & (g == "1") & (age >= 45) & (rng.random(n) < 0.05))
    m2 = np.flatnonzero(op & (g == "2") & (age >= 20) & (rng.random(n) < 0.08))
    for sel, grp in ((m1, "MALE"), (m2, "FEMALE")):
        pool = vocabulary.group_index(grp)
        parts.append(pd.DataFrame({"s": sel, "item": pool[rng.integers(0, len(pool), len(sel))]}))
    ex = np.flatnonzero(S["extra_item"].to_numpy() >= 0)
    parts.append(pd.DataFrame({"s": ex, "item": S["extra_item"].to_numpy()[ex]}))
    L = pd.concat(parts, ignore_index=True)
    # every settlement has at least one billed line (a drug at a pharmacy, a consultation elsewhere)
    empty = np.setdiff1d(np.flatnonzero(~idle & ~np.isin(mt, vocabulary.INPATIENT)), L["s"].to_numpy())
    if len(empty):
        fallback = np.where(world.fixmedins["fixmedins_type"].to_numpy()[S["inst"].to_numpy()[empty]] == "2",
                            vocabulary.group_index("WDRUG")[0], vocabulary.group_index("REG")[1])
        L = pd.concat([L, pd.DataFrame({"s": empty, "item": fallback})], ignore_index=True)
    L = L.drop_duplicates(["s", "item"])
    ip = np.isin(mt, vocabulary.INPATIENT) | idle
    d_s = days[L["s"].to_numpy()]
    is_ip = ip[L["s"].to_numpy()]
    L["day"] = np.where(is_ip, (rng.random(len(L)) * d_s).astype(np.int64), 0)
    L["sec"] = rng.integers(8 * 3600, 20 * 3600, len(L))
    chrg = it["chrgitm"].to_numpy()[L["item"].to_numpy()]
    base_cnt = np.where(np.isin(chrg, ["09", "10", "11"]), rng.integers(1, 4, len(L)), 1)
    base_cnt = np.where(is_ip & np.isin(chrg, ["09", "05"]), base_cnt * np.maximum(d_s // 2, 1), base_cnt)
    base_cnt = np.where(chrg == "10", base_cnt * 7, base_cnt)
    L["cnt"] = base_cnt
    L = _treat_every_day(rng, S, L, ip & ~idle, days)
    # per-day bed fees and per-stay nursing / ward-round lines for inpatients
    ip_s = np.flatnonzero(ip)
    bed = vocabulary.group_index("BED")[0]
    nd = days[ip_s]
    bed_rows = pd.DataFrame({"s": np.repeat(ip_s, nd), "item": bed})
    bed_rows["day"] = np.concatenate([np.arange(k) for k in nd]) if len(nd) else np.array([], dtype=np.int64)
    bed_rows["sec"] = 8 * 3600
    bed_rows["cnt"] = 1
    per_stay = [pd.DataFrame({"s": ip_s, "item": vocabulary.group_index("NURSE")[0], "day": 0, "sec": 9 * 3600, "cnt": nd})]
    non_idle = ip_s[~idle[ip_s]]
    per_stay.append(pd.DataFrame({"s": non_idle, "item": vocabulary.group_index("IPEXAM")[0], "day": 0, "sec": 9 * 3600 + 60,
                                  "cnt": days[non_idle]}))
    L = pd.concat([L, bed_rows] + per_stay, ignore_index=True)
    # R06: duplicate one line at the same time; decoy: the same item again at another time
    for md, same in (("dup_same", True), ("dup_diff", False)):
        ss = np.flatnonzero(mode == md)
        if len(ss) == 0:
            continue
        cand = L[L["s"].isin(ss) & (L["item"] != bed)].drop_duplicates("s", keep="first")
        dup = cand.copy()
        if not same:
            dup["sec"] = dup["sec"] + rng.integers(3600, 3 * 3600, len(dup))
            dup["day"] = dup["day"] + np.where(ip[dup["s"].to_numpy()], 1, 0)
        L = pd.concat([L, dup], ignore_index=True)
    # dup_diff on an outpatient visit: keep the day, move the time only; inpatient day capped by stay
    L["day"] = np.minimum(L["day"].to_numpy(), np.maximum(days[L["s"].to_numpy()] - 1, 0))
    return L


def _treat_every_day(rng, S: pd.DataFrame, L: pd.DataFrame, treated: np.ndarray, days: np.ndarray) -> pd.DataFrame:
    """Inpatient stays are treated every day (a stay's days are judged one by one for R07): a day of a stay
    without a treatment, drug, exam or lab line gets a daily infusion line, except the planted idle days of
    ``idle_days`` stays, whose care lines are moved to the admission day."""
    care = np.array(r07_config()["care_charge_types"], dtype=object)
    chrg = vocabulary.items()["chrgitm"].to_numpy()
    mode = S["mode"].to_numpy()
    idle_k = S["idle_k"].to_numpy() if "idle_k" in S else np.zeros(len(S), dtype=np.int64)
    planted = np.flatnonzero((mode == "idle_days") & (idle_k > 0))
    idle_keys = [np.array([], dtype=np.int64)]
    for j in planted:        # a few per chunk: idle days strictly inside the stay, among treated days
        nd = int(days[j])
        kk = min(int(idle_k[j]), max(nd - 2, 0))
        idle_keys.append(j * DAY_KEY + 1 + rng.choice(max(nd - 2, 0), size=kk, replace=False))
    idle_keys = np.concatenate(idle_keys).astype(np.int64)
    key = L["s"].to_numpy() * DAY_KEY + L["day"].to_numpy()
    is_care = np.isin(chrg[L["item"].to_numpy()], care)
    move = is_care & np.isin(key, idle_keys)
    if move.any():
        L.loc[move, "day"] = 0
        key = L["s"].to_numpy() * DAY_KEY + L["day"].to_numpy()
    ts = np.flatnonzero(treated)
    nd = days[ts]
    all_keys = np.repeat(ts, nd) * DAY_KEY + (np.arange(nd.sum()) - np.repeat(np.cumsum(nd) - nd, nd))
    need = all_keys[~np.isin(all_keys, key[is_care]) & ~np.isin(all_keys, idle_keys)]
    if len(need) == 0:
        return L
    fill = pd.DataFrame({"s": need // DAY_KEY, "item": vocabulary.item_index("001204000010000"),   # 静脉输液
                         "day": need % DAY_KEY, "sec": 10 * 3600 + 7 * 60, "cnt": 1})
    return pd.concat([L, fill], ignore_index=True)


def idle_bed_days(S: pd.DataFrame, L: pd.DataFrame, batch_id: str, inpatient=vocabulary.INPATIENT) -> pd.DataFrame:
    """Truth of R07 per stay, judged day by day on the fee lines as written (fee_ocur_time's date): bed days,
    idle days (bed charge and no care charge that day) and their dates, for every inpatient stay with an idle
    day and every planted R07 case or decoy."""
    cfg = r07_config()
    chrg = vocabulary.items()["chrgitm"].to_numpy()[L["item"].to_numpy()]
    s = L["s"].to_numpy()
    ip = np.isin(S["med_type"].to_numpy(), list(inpatient))
    keep = ip[s]
    key = s * DAY_KEY + L["day"].to_numpy()
    bed_k = np.unique(key[keep & np.isin(chrg, cfg["bed_charge_types"])])
    care_k = np.unique(key[keep & np.isin(chrg, cfg["care_charge_types"])])
    idle_k = bed_k[~np.isin(bed_k, care_k)]
    n = len(S)
    idle_n = np.bincount(idle_k // DAY_KEY, minlength=n)
    bed_n = np.bincount(bed_k // DAY_KEY, minlength=n)
    r07 = (S["fraud"].to_numpy() == "R07_IDLE_BED") | (S["decoy"].to_numpy() == "R07_IDLE_BED")
    rows = np.flatnonzero((idle_n > 0) | r07)
    begn = S["begn"].to_numpy().astype("datetime64[D]")
    by_stay = pd.Series(idle_k % DAY_KEY).groupby(idle_k // DAY_KEY).apply(list) if len(idle_k) else pd.Series(dtype=object)
    dates = [sorted(str(begn[j] + np.timedelta64(int(d), "D")) for d in by_stay.get(j, [])) for j in rows]
    return pd.DataFrame({
        "setl_id": S["setl_id"].to_numpy()[rows], "person_id": [f"P{int(x):010d}" for x in S["pid"].to_numpy()[rows]],
        "fixmedins_code": S["fixmedins_code"].to_numpy()[rows], "med_type": S["med_type"].to_numpy()[rows],
        "begndate": begn[rows], "enddate": S["end"].to_numpy().astype("datetime64[D]")[rows],
        "bed_days": bed_n[rows].astype(np.int32), "idle_days": idle_n[rows].astype(np.int32), "idle_dates": dates,
        "refd_setl_flag": S["refd"].to_numpy()[rows],
        "planted": np.where(S["fraud"].to_numpy()[rows] == "R07_IDLE_BED", "hit",
                            np.where(S["decoy"].to_numpy()[rows] == "R07_IDLE_BED", "decoy", "")),
        "batch_id": batch_id,
    })


def orphan_settlements(rng, ctx: Context, world: World, k: int, start: np.datetime64, end: np.datetime64,
                       psn_no: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``k`` outpatient settlements (one registration fee line each) of psn_no values that exist in no psn_info:
    genuinely orphaned child rows, as written."""
    fm = world.fixmedins
    hosp = np.flatnonzero(fm["fixmedins_type"].to_numpy() == "1")
    inst = hosp[rng.integers(0, len(hosp), k)]
    doc = pick_doctor(rng, world, inst)
    span = int((end - start) / DAY)
    d = start + _days(rng.integers(0, span - 1, k))
    sid = dirt.zcat(f"S9{ctx.chunk:05d}", np.arange(k), 9)
    pric = np.round(vocabulary.items()["price_cents"].to_numpy()[vocabulary.item_index("001101000010000")]).astype(np.int64)
    amt = np.full(k, pric, dtype=np.int64)
    doc_code = world.practitioner["prac_code"].to_numpy()[doc]
    setl = pd.DataFrame({
        "setl_id": sid, "mdtrt_id": dirt.zcat(f"M9{ctx.chunk:05d}", np.arange(k), 9), "psn_no": psn_no, "certno": None,
        "insutype": "390", "med_type": "11", "fixmedins_code": fm["fixmedins_code"].to_numpy()[inst], "atddr_no": doc_code,
        "begndate": dirt.fmt_dates(d), "enddate": dirt.fmt_dates(d), "setl_time": dirt.fmt_ts(d, np.full(k, 10 * 3600)),
        "dise_codg": "J06.900", "medfee_sumamt": dirt.fmt_money(amt), "fulamt_ownpay_amt": dirt.fmt_money(np.zeros(k, np.int64)),
        "hifp_pay": dirt.fmt_money(np.zeros(k, np.int64)), "acct_pay": dirt.fmt_money(np.zeros(k, np.int64)),
        "psn_cash_pay": dirt.fmt_money(amt), "insu_admdvs": psn_no.astype("U6") if len(psn_no) else psn_no,
        "mdtrt_admdvs": fm["pool"].to_numpy()[inst], "refd_setl_flag": "0"})
    it = vocabulary.items()
    r = vocabulary.item_index("001101000010000")
    fee = pd.DataFrame({
        "feedetl_sn": dirt.zcat(f"F9{ctx.chunk:05d}", np.arange(k), 10), "setl_id": sid, "med_list_codg": it["code"].to_numpy()[r],
        "med_chrgitm_type": it["chrgitm"].to_numpy()[r], "list_name": it["name"].to_numpy()[r], "cnt": "1",
        "pric": dirt.fmt_money(amt), "det_item_fee_sumamt": dirt.fmt_money(amt), "bilg_dr_codg": doc_code,
        "fee_ocur_time": dirt.fmt_ts(d, np.full(k, 9 * 3600))})
    return setl, fee


def finalize(rng, ctx: Context, S: pd.DataFrame, world: World, batch_no: int, setl_start: int, fee_start: int,
             reverse: bool = True, overcharge=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Assign ids, fee lines, amounts and payment split; returns (setl, fee_list) with latent columns.
    ``overcharge`` (a :class:`yibao.synthetic.reform.Plan`, contract version 2): the prices some institutions
    bill above an item's ceiling and the institutions that bill 丙类 lines to the fund (no draw of ``rng``:
    everything else stays as it was)."""
    S = S.sort_values(["begn", "pid"], kind="stable").reset_index(drop=True)
    n = len(S)
    it = vocabulary.items()
    fm = world.fixmedins
    inst = S["inst"].to_numpy()
    level = fm["hosp_lv"].to_numpy()[inst]
    ptype = fm["fixmedins_type"].to_numpy()[inst]
    seq = setl_start + np.arange(n)
    S["setl_id"] = dirt.zcat(f"S{batch_no}{ctx.chunk:05d}", seq, 9)
    S["mdtrt_id"] = dirt.zcat(f"M{batch_no}{ctx.chunk:05d}", seq, 9)
    L = _lines_for(rng, S, world)
    L = L.sort_values(["s", "day", "sec", "item"], kind="stable").reset_index(drop=True)
    s = L["s"].to_numpy()
    item = L["item"].to_numpy()
    chrg = it["chrgitm"].to_numpy()[item]
    drug = np.isin(chrg, ["09", "10", "11"])
    lvmul = np.vectorize(LEVEL_PRICE.get)(level[s]) if len(s) else np.array([])
    price = it["price_cents"].to_numpy()[item]
    pric = np.where(drug, price, np.round(price * lvmul)).astype(np.int64)
    pric = np.maximum(pric, 1)
    if overcharge is not None:
        from .reform import overcharged
        pric = overcharged(pric, inst[s], item, overcharge)
    cf = fm["cost_factor"].to_numpy()[inst][s]
    cnt = L["cnt"].to_numpy()
    cnt = np.floor(cnt * np.where(drug | (chrg == "08") | (chrg == "05"), cf, 1.0) + rng.random(len(L))).astype(np.int64)
    cnt = np.maximum(cnt, 1)
    amt = cnt * pric
    L["pric"] = pric
    L["cnt"] = cnt
    L["amt"] = amt
    begn = S["begn"].to_numpy().astype("datetime64[D]")
    L["date"] = begn[s] + _days(L["day"].to_numpy())
    fseq = fee_start + np.arange(len(L))
    L["feedetl_sn"] = dirt.zcat(f"F{batch_no}{ctx.chunk:05d}", fseq, 10)
    L["setl_id"] = S["setl_id"].to_numpy()[s]
    L["doc"] = S["doc"].to_numpy()[s]
    # some drug lines are fully self-paid (全自费), and every 丙类 line (but at the institutions the plan has bill
    # them to the fund); the second part draws nothing from rng
    from .reform import class_c_self_paid
    own_line = (drug & (rng.random(len(L)) < 0.06)) | class_c_self_paid(inst[s], item, overcharge)
    medfee = np.bincount(s, weights=amt, minlength=n).astype(np.int64)
    ownpay = np.bincount(s, weights=np.where(own_line, amt, 0), minlength=n).astype(np.int64)
    mt = S["med_type"].to_numpy()
    insutype = S["insutype"].to_numpy()
    base = medfee - ownpay
    ip = np.isin(mt, vocabulary.INPATIENT)
    ded = np.where(ip, np.vectorize(DEDUCT.get)(level) if n else 0, 0)
    ratio = np.where(ip, np.where(insutype == "310", np.vectorize(IP_RATIO["310"].get)(level) if n else 0,
                                  np.vectorize(IP_RATIO["390"].get)(level) if n else 0),
                     np.select([mt == "14", mt == "41", insutype == "310"], [0.65, 0.0, 0.6], 0.5))
    hifp = np.floor(np.maximum(base - ded, 0) * ratio).astype(np.int64)
    room = medfee - hifp - ownpay
    acct = np.where((insutype == "310") & ~ip, np.floor(room * rng.uniform(0.3, 1.0, n)), 0).astype(np.int64)
    cash = medfee - hifp - acct
    S["medfee"] = medfee
    S["ownpay"] = ownpay
    S["hifp"] = hifp
    S["acct"] = acct
    S["cash"] = cash
    S["setl_sec"] = rng.integers(8 * 3600, 21 * 3600, n)
    S["dise"] = [vocabulary.DISEASES[m][k % len(vocabulary.DISEASES[m])] for m, k in zip(mt, rng.integers(0, 100, n))]
    planted = (S["fraud"].to_numpy() != "") | (S["decoy"].to_numpy() != "")
    S["refd"] = np.where(reverse & ~planted & (rng.random(n) < 0.01), "1", "0")
    S["fixmedins_code"] = fm["fixmedins_code"].to_numpy()[inst]
    S["mdtrt_admdvs"] = fm["pool"].to_numpy()[inst]
    S["atddr_no"] = world.practitioner["prac_code"].to_numpy()[S["doc"].to_numpy()]
    L["bilg_dr_codg"] = world.practitioner["prac_code"].to_numpy()[L["doc"].to_numpy()]
    S["compact"] = rng.random(n) < 0.05     # begndate / enddate written YYYYMMDD
    S["u_dirt"] = rng.random(n)             # med_type dirt (sources.setl_tables)
    return S, L


def fraud_rows(S: pd.DataFrame) -> list[dict]:
    """Truth rows for planted cases and decoys (one row per case / group)."""
    out = []
    F = S[(S["fraud"] != "") | (S["decoy"] != "")]
    for (grp, rule, decoy), g in F.groupby(["grp", "fraud", "decoy"]):
        code = rule or decoy
        is_group = code == "R08_GANG"
        pids = sorted(set(int(p) for p in g["pid"]))
        out.append({
            "rule_code": code,
            "subject_type": "group" if is_group else "person",
            "subject_id": grp if is_group else f"P{pids[0]:010d}",
            "setl_ids": sorted(g["setl_id"].tolist()),
            "group_id": grp if is_group else None,
            "person_ids": [f"P{p:010d}" for p in pids],
            "fixmedins_codes": sorted(set(g["fixmedins_code"].tolist())),
            "is_decoy": bool(decoy),
        })
    return out
