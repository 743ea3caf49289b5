"""Latent population of one chunk: households, identities, life events, social facts and enrollment.

Everything here is the generator's *truth*; the department files are views of it with their own dirt.
All draws come from the chunk's own random stream, so chunks are independent and deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import ids, names
from .divisions import PROVINCE_NAME, load as load_divisions
from .institutions import World

DAY = np.timedelta64(1, "D")


@dataclass
class Context:
    seed: int
    chunk: int
    start: int                  # global index of the chunk's first person
    n: int
    n_chunks: int
    ref: np.datetime64          # reference date (datetime64[D])
    batches: int


def _days(x) -> np.ndarray:
    return np.asarray(x, dtype=np.int64).astype("timedelta64[D]")


def ym_of(d: np.ndarray) -> np.ndarray:
    """datetime64[D] → int YYYYMM."""
    m = np.asarray(d, dtype="datetime64[M]").astype(np.int64)
    return (m // 12 + 1970) * 100 + m % 12 + 1


# ----------------------------------------------------------------------------------------------------
def households(rng: np.random.Generator, ctx: Context) -> pd.DataFrame:
    """Household structure: id, role (0 head, 1 spouse, 2+ children), gender and age in days."""
    n = ctx.n
    sizes = rng.choice([1, 2, 3, 4, 5], size=n, p=[0.18, 0.28, 0.27, 0.17, 0.10])
    cs = np.cumsum(sizes)
    k = int(np.searchsorted(cs, n)) + 1
    sizes = sizes[:k]
    sizes[-1] -= cs[k - 1] - n
    hh = np.repeat(np.arange(k), sizes)
    first = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    role = np.arange(n) - first[hh]
    hsize = sizes[hh]
    newborn_hh = (sizes >= 3) & (rng.random(k) < 0.05)
    head_age = np.where(sizes == 1, rng.integers(18, 90, k), np.clip(rng.normal(50, 14, k), 22, 88).astype(int))
    head_age = np.where(newborn_hh, rng.integers(23, 38, k), head_age)
    head_male = rng.random(k) < 0.6
    age = np.empty(n, dtype=np.int64)
    gend = np.empty(n, dtype=object)
    h = role == 0
    age[h] = head_age[hh[h]]
    gend[h] = np.where(head_male[hh[h]], "1", "2")
    s = role == 1
    age[s] = np.clip(head_age[hh[s]] + np.round(rng.normal(-1, 3, s.sum())).astype(int), 20, 95)
    gend[s] = np.where(head_male[hh[s]], "2", "1")
    mother_age = np.where(head_male, np.clip(head_age - 1, 20, 95), head_age)
    c = role >= 2
    gap = rng.integers(21, 38, c.sum())
    age[c] = np.clip(mother_age[hh[c]] - gap - 2 * (role[c] - 2), 1, 70)
    gend[c] = np.where(rng.random(c.sum()) < 0.52, "1", "2")
    age_days = age * 365 + rng.integers(15, 350, n)
    age_days = np.maximum(age_days, 400)                  # nobody near the 12-month NEWBORN boundary
    last_child = c & (role == hsize - 1) & newborn_hh[hh]
    age_days[last_child] = rng.integers(5, 345, last_child.sum())
    return pd.DataFrame({"hh": hh, "role": role, "hsize": hsize, "gend": gend, "age_days": age_days,
                         "newborn": last_child})


def _rank_within(keys: pd.DataFrame) -> np.ndarray:
    return keys.groupby(list(keys.columns), sort=False).cumcount().to_numpy()


def identities(rng, ctx: Context, P: pd.DataFrame) -> None:
    """Hukou / residence divisions, addresses, names, certno, phone."""
    D = load_divisions()
    n = len(P)
    hh = P["hh"].to_numpy()
    k = hh.max() + 1
    local_hh = rng.random(k) >= 0.03
    hk_c = rng.choice(len(D.county_code), k, p=D.weight)
    w_res = D.weight * np.where(D.pool_code == "610100", 2.5, 1.0)
    w_res /= w_res.sum()
    moved = rng.random(k) < 0.15
    res_c = np.where(moved | ~local_hh, rng.choice(len(D.county_code), k, p=w_res), hk_c)
    other = rng.integers(0, len(D.other_code), k)
    hk_code = np.where(local_hh, D.county_code[hk_c], D.other_code[other])
    P["local"] = local_hh[hh]
    P["hk_county"] = hk_code[hh]
    P["hk_pool"] = np.where(local_hh, D.pool_code[hk_c], D.other_pool[other])[hh]
    P["res_county"] = D.county_code[res_c][hh]
    P["res_pool"] = D.pool_code[res_c][hh]
    urban = np.array([x in ("市辖区",) for x in D.county_name], dtype=bool)
    urban = np.array([nm.endswith("区") for nm in D.county_name])
    prov = np.full(k, PROVINCE_NAME, dtype=object)
    hk_addr = names.sample_addresses(rng, prov, D.city_name[hk_c].astype(object), D.county_name[hk_c].astype(object), urban[hk_c])
    res_addr = names.sample_addresses(rng, prov, D.city_name[res_c].astype(object), D.county_name[res_c].astype(object), urban[res_c])
    res_addr = np.where(moved | ~local_hh, res_addr, hk_addr)
    hk_addr = np.where(local_hh, hk_addr, None)
    P["hk_addr"] = hk_addr[hh]
    P["res_addr"] = res_addr[hh]
    gh = ctx.start + hh  # unique enough household serial: chunk start + local household index
    P["book_no"] = np.where(local_hh[hh], np.char.add(hk_code[hh].astype("U6"), np.char.zfill(gh.astype("U9"), 9)), None)
    P["name"] = names.sample_names(rng, P["gend"].to_numpy())
    # surnames shared by children of the head
    heads = np.flatnonzero(P["role"].to_numpy() == 0)
    head_sur = np.array([s[0] for s in P["name"].to_numpy()[heads]], dtype=object)
    kid = P["role"].to_numpy() >= 2
    nm = P["name"].to_numpy().copy()
    nm[kid] = head_sur[hh[kid]] + np.array([s[1:] for s in nm[kid]], dtype=object)
    P["name"] = nm
    brdy = ctx.ref - _days(P["age_days"].to_numpy())
    P["brdy"] = brdy
    # division of first registration: usually the hukou county, sometimes another Shaanxi county
    birth_div = np.where(rng.random(n) < 0.9, P["hk_county"].to_numpy(),
                         D.county_code[rng.choice(len(D.county_code), n, p=D.weight)])
    ymd = np.char.replace(np.datetime_as_string(brdy, unit="D"), "-", "")
    # Sequence numbers are unique per (division, birth date, gender): each chunk owns a band of `width`
    # slots and numbers its persons of one cell 0, 1, 2... inside it.  Unique across the whole run while a
    # cell holds fewer than `width` persons of one chunk (width = 500 / chunks: 50 at 10 chunks; at
    # hundreds of chunks use bigger chunks, or some numbers repeat and ingestion quarantines the repeats).
    rank = _rank_within(pd.DataFrame({"d": birth_div, "b": ymd, "g": P["gend"].to_numpy()}))
    width = max(1, 500 // max(1, ctx.n_chunks))
    slot = (ctx.chunk * width + rank % width) % 500
    seq = slot * 2 + (P["gend"].to_numpy() == "1")
    P["certno"] = ids.make_certno(birth_div.astype("U6"), ymd, seq).astype(object)
    P["naty"] = rng.choice(np.array(["01", "03", "02", "08", "05"], dtype=object), n, p=[0.985, 0.008, 0.003, 0.002, 0.002])
    P["tel"] = names.sample_mobiles(rng, n)
    P["pid"] = ctx.start + np.arange(n, dtype=np.int64)


def life_events(rng, ctx: Context, P: pd.DataFrame) -> None:
    """Hukou status, residence permits, deaths and which sources recorded each death."""
    n = len(P)
    ref = ctx.ref
    age = P["age_days"].to_numpy() / 365.25
    local = P["local"].to_numpy()
    u = rng.random(n)
    stas = np.full(n, "1", dtype=object)
    stas[local & (u < 0.006)] = "3"
    stas[local & (u >= 0.006) & (u < 0.0075)] = "4"
    stas[local & (u >= 0.0075) & (u < 0.0085) & (age >= 18) & (age < 26) & (P["gend"].to_numpy() == "1")] = "5"
    stas[local & (u >= 0.0085) & (u < 0.009)] = "9"
    stas[~local] = None
    # deaths in the last ~3 years (not newborns, not the persons who left the hukou register)
    p_die = np.clip(0.004 + 0.0015 * np.maximum(age - 50, 0), 0, 0.12)
    dead = (rng.random(n) < p_die) & ~P["newborn"].to_numpy() & ((stas == "1") | ~local)
    death_date = np.full(n, np.datetime64("NaT", "D"), dtype="datetime64[D]")
    death_date[dead] = ref - _days(rng.integers(20, 1000, dead.sum()))
    # nobody dies before being born: young children die between birth and the reference date
    born = P["brdy"].to_numpy().astype("datetime64[D]")
    death_date[dead] = np.minimum(np.maximum(death_date[dead], born[dead] + DAY), ref - DAY)
    patterns = np.array(["PCHM", "PCH", "H", "C", "P", "M", "CH", "PM"], dtype=object)
    pat = np.full(n, "", dtype=object)
    pat[dead] = rng.choice(patterns, dead.sum(), p=[0.55, 0.12, 0.06, 0.06, 0.06, 0.05, 0.05, 0.05])
    # non-locals have no hukou here: police cannot record their death
    pat[dead & ~local] = [p.replace("P", "") or "C" for p in pat[dead & ~local]]
    police_dead = np.array(["P" in p for p in pat])
    stas[police_dead] = "2"
    cancel = np.full(n, np.datetime64("NaT", "D"), dtype="datetime64[D]")
    cancel[police_dead] = np.minimum(death_date[police_dead] + _days(rng.integers(3, 60, police_dead.sum())), ref - DAY)
    other = np.isin(stas, ["3", "4", "5", "9"])
    cancel[other] = ref - _days(rng.integers(30, 2000, other.sum()))
    # a hukou is cancelled after the person was born (emigrating infants: a few days after birth)
    brdy = P["brdy"].to_numpy().astype("datetime64[D]")
    cancel[other] = np.minimum(np.maximum(cancel[other], brdy[other] + _days(rng.integers(1, 30, other.sum()))),
                               np.maximum(ref - DAY, brdy[other]))
    P["hsreg_stas"] = stas
    P["cancel_date"] = cancel
    P["dead"] = dead
    P["death_date"] = death_date
    P["death_src"] = pat
    P["death_cause"] = np.where(dead, rng.choice(np.array(["I21.900", "I63.900", "C34.900", "J44.900", "C22.000",
                                                         "I64.x00", "C16.900", "V89.200", "N18.500"], dtype=object), n), None)
    # residence permits for non-locals: mostly valid, some expired, some none
    up = rng.random(n)
    permit = np.where(~local, np.where(up < 0.8, "valid", np.where(up < 0.9, "expired", "")), "")
    issue = np.full(n, np.datetime64("NaT", "D"), dtype="datetime64[D]")
    expire = issue.copy()
    has = permit != ""
    issue[has] = ref - _days(rng.integers(60, 2500, has.sum()))
    expire[has] = np.where(permit[has] == "valid", ref + _days(rng.integers(60, 1500, has.sum())),
                           ref - _days(rng.integers(30, 700, has.sum())))
    issue[has] = np.minimum(issue[has], expire[has] - _days(365))
    P["permit"] = permit
    P["permit_issue"] = issue
    P["permit_expire"] = expire


def social(rng, ctx: Context, P: pd.DataFrame, world: World) -> None:
    """Employment, tax withholding, pension insurance and social assistance."""
    n = len(P)
    age = P["age_days"].to_numpy() / 365.25
    male = P["gend"].to_numpy() == "1"
    retire_age = np.where(male, 60, 55)
    working = (age >= 18) & (age < retire_age)
    employed = working & (rng.random(n) < np.where(P["res_pool"].to_numpy() == "610100", 0.55, 0.42))
    retired_emp = (age >= retire_age) & (rng.random(n) < 0.35)
    flexible = working & ~employed & (rng.random(n) < 0.07)
    student = (age >= 18) & (age < 23) & ~employed & (rng.random(n) < 0.4)
    # employer: a random employer of the residence pool
    emp = world.emp_info
    emp_pool = emp["pool"].to_numpy()
    order = np.argsort(emp_pool, kind="stable")
    pools_sorted = emp_pool[order]
    res_pool = P["res_pool"].to_numpy()
    lo = np.searchsorted(pools_sorted, res_pool, "left")
    hi = np.searchsorted(pools_sorted, res_pool, "right")
    cnt = hi - lo
    r = rng.random(n)
    pick = np.where(cnt > 0, order[np.minimum(lo + (r * np.maximum(cnt, 1)).astype(int), len(order) - 1)],
                    rng.integers(0, len(emp), n))
    has_emp = employed | retired_emp
    P["emp_idx"] = np.where(has_emp, pick, -1)
    P["employed"] = employed
    P["retired_emp"] = retired_emp
    P["flexible"] = flexible
    P["student"] = student
    P["wage_base"] = np.where(employed, np.round(np.exp(rng.normal(8.5, 0.35, n)) / 100) * 100, 0).astype(np.int64)
    # tax: most employees withheld recently; a few people with only an old withholding record (decoy)
    ut = rng.random(n)
    ref_ym = int(ym_of(np.array([ctx.ref]))[0])
    y, m = divmod(ref_ym, 100)
    recent = [(y - (m - k <= 0)) * 100 + ((m - k - 1) % 12 + 1) for k in range(2, 11)]   # 2..10 months back
    old = [(y - 2) * 100 + mm for mm in range(1, 10)]                                     # ≥ 2 years back
    tax = np.where(employed & (ut < 0.8), "recent", np.where(working & ~employed & (ut < 0.03), "old", ""))
    P["taxpayer"] = tax
    P["tax_ym"] = np.where(tax == "recent", rng.choice(recent, n), np.where(tax == "old", rng.choice(old, n), 0))
    P["tax_second_emp"] = np.where((tax == "recent") & (rng.random(n) < 0.03), rng.integers(0, len(emp), n), -1)
    # pension (HRSS)
    emp_type = np.where(P["emp_idx"].to_numpy() >= 0, emp["emp_type"].to_numpy()[np.maximum(P["emp_idx"].to_numpy(), 0)], "")
    ptype = np.full(n, "", dtype=object)
    pstas = np.full(n, "", dtype=object)
    ptype[employed | retired_emp] = np.where(np.isin(emp_type[employed | retired_emp], ["30", "50"]), "2", "1")
    pstas[employed] = "1"
    pstas[retired_emp] = "2"
    resident = ~employed & ~retired_emp & (age >= 16) & ~student & (rng.random(n) < 0.65)
    ptype[resident] = "3"
    pstas[resident] = np.where(age[resident] >= 60, "2", "1")
    odd = (ptype != "") & (rng.random(n) < 0.03)
    pstas[odd] = rng.choice(np.array(["3", "4"], dtype=object), odd.sum())
    P["pension_type"] = ptype
    P["pension_stas"] = pstas
    # social assistance: household level, locals only
    hh = P["hh"].to_numpy()
    k = hh.max() + 1
    ua = rng.random(k)
    aid = np.select([ua < 0.002, ua < 0.013, ua < 0.02, ua < 0.026], ["1", "2", "3", "4"], "")
    aid = np.where(P["local"].to_numpy(), aid[hh], "")
    begin = ctx.ref - _days(rng.integers(60, 2000, k))[hh]
    ended = (rng.random(k) < 0.2)[hh]
    end = np.where(ended, ctx.ref - _days(rng.integers(20, 50, n)), np.datetime64("NaT", "D"))
    P["aid_type"] = aid
    P["aid_begin"] = np.where(aid != "", begin, np.datetime64("NaT", "D")).astype("datetime64[D]")
    P["aid_end"] = np.where(aid != "", end, np.datetime64("NaT", "D")).astype("datetime64[D]")
    P["aid_second"] = (aid == "2") & (rng.random(n) < 0.15)   # also 防止返贫监测对象 (aid_type 4)


def dead_on(P: pd.DataFrame, ref: np.datetime64) -> np.ndarray:
    """Dead on the reference date as the delivered records say it (contract section 4: a death in police, civil
    affairs, health or medins): a death civil affairs or health registered with a date on or before ``ref``,
    a police cancellation (死亡注销) dated on or before it, or medins' surv_stas 2, which carries no date.  Every
    death of the full load is one; a death of a daily batch (after the reference date) is one only once medins
    has registered it."""
    dead = P["dead"].to_numpy()
    if not dead.any():
        return dead
    src = P["death_src"].to_numpy()
    has = {c: np.array([c in s for s in src], dtype=bool) for c in "PCHM"}
    dd = P["death_date"].to_numpy().astype("datetime64[D]")
    cancel = P["cancel_date"].to_numpy().astype("datetime64[D]")
    return dead & (((has["C"] | has["H"]) & (dd <= ref)) | (has["P"] & (cancel <= ref)) | has["M"])


def in_target(P: pd.DataFrame, ref: np.datetime64) -> np.ndarray:
    """Contract section 4: alive and (active local hukou or valid residence permit)."""
    alive = ~dead_on(P, ref)
    hukou = P["local"].to_numpy() & (P["hsreg_stas"].to_numpy() == "1")
    permit = (P["permit"].to_numpy() == "valid") & ~P["local"].to_numpy()
    return alive & (hukou | permit)
