"""Medical-insurance person records (人员多号), enrollments (参保) and contributions (缴费), latent."""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import dirt
from .divisions import load as load_divisions
from .institutions import World
from .population import Context, DAY, _days, in_target, ym_of

# share of eligible active enrollments with periods assessed but unpaid (clct_flag 0), and with periods the core
# system never assessed (no contrib row at all)
UNPAID_RATE = 0.035
MISSING_RATE = 0.015

DUP_CERT_KINDS = ("", "LEGACY15", "TYPO", "MISSING", "LOWER_X", "FULLWIDTH", "SPACES")
DUP_CERT_P = (0.30, 0.20, 0.15, 0.10, 0.09, 0.08, 0.08)


def enroll_state(rng, ctx: Context, P: pd.DataFrame) -> None:
    n = len(P)
    age = P["age_days"].to_numpy() / 365.25
    local = P["local"].to_numpy()
    employed = P["employed"].to_numpy()
    u = rng.random(n)
    never_p = np.where(employed, 0.03, np.where(local, 0.016, 0.07))
    state = np.select([u < never_p, u < never_p + 0.007, u < never_p + 0.017], ["NEVER", "SUSPENDED", "TERMINATED"], "ACTIVE").astype(object)
    elsewhere = local & (age >= 18) & (age < 55) & ~employed & (rng.random(n) < 0.04)
    state[elsewhere] = "ELSEWHERE"
    nb = P["newborn"].to_numpy()
    state[nb] = np.where(rng.random(nb.sum()) < 0.3, "NEVER", "ACTIVE")
    P["enroll_state"] = state
    P["scheme"] = np.where(employed | P["retired_emp"].to_numpy() | P["flexible"].to_numpy(), "310", "390")
    P["elsewhere"] = elsewhere
    P["elsewhere_pool"] = np.where(elsewhere, load_divisions().other_pool[rng.integers(0, len(load_divisions().other_pool), n)], None)


def records(rng, ctx: Context, P: pd.DataFrame, world: World) -> tuple[pd.DataFrame, pd.DataFrame]:
    """psn_info-level records (several psn_no per person for some) and psn_insu enrollment rows."""
    n = len(P)
    D = load_divisions()
    state = P["enroll_state"].to_numpy()
    scheme = P["scheme"].to_numpy()
    dead = P["dead"].to_numpy()
    age = P["age_days"].to_numpy() / 365.25
    pid = P["pid"].to_numpy()
    local = P["local"].to_numpy()
    emp_idx = P["emp_idx"].to_numpy()
    emp_pool = world.emp_info["pool"].to_numpy()
    insu_pool = np.where(scheme == "310", np.where(emp_idx >= 0, emp_pool[np.maximum(emp_idx, 0)], P["res_pool"].to_numpy()),
                         np.where(local, P["hk_pool"].to_numpy(), P["res_pool"].to_numpy()))
    P["insu_pool"] = insu_pool
    has_rec = np.isin(state, ["ACTIVE", "SUSPENDED", "TERMINATED"]) | ((state == "NEVER") & (age >= 18) & (rng.random(n) < 0.2))
    has_rec |= np.array(["M" in s for s in P["death_src"].to_numpy()]) & ~np.isin(state, ["ELSEWHERE"])
    P["has_medins"] = has_rec
    # deaths recorded by medins terminate the enrollment
    med_dead = np.array(["M" in s for s in P["death_src"].to_numpy()]) & has_rec
    P["surv_stas"] = np.where(med_dead, "2", "1")
    # dates
    ref = ctx.ref
    brdy = P["brdy"].to_numpy().astype("datetime64[D]")
    earliest = np.where(scheme == "310", brdy + _days(18 * 365), brdy + _days(3))
    crt = ref - _days(rng.integers(30, 15 * 365, n))
    crt = np.maximum(crt, earliest)
    nb = P["newborn"].to_numpy()
    crt[nb] = np.minimum(brdy[nb] + _days(rng.integers(5, 40, nb.sum())), ref - DAY)
    paus = np.full(n, np.datetime64("NaT", "D"), dtype="datetime64[D]")
    sp = np.isin(state, ["SUSPENDED", "TERMINATED"])
    paus[sp] = ref - _days(rng.integers(30, 700, sp.sum()))
    crt[sp] = np.minimum(crt[sp], paus[sp] - _days(60))
    stas = np.select([state == "ACTIVE", state == "SUSPENDED", state == "TERMINATED"], ["1", "2", "4"], "").astype(object)
    md = med_dead & (stas == "1")
    stas[md] = "4"
    paus[md] = P["death_date"].to_numpy()[md]
    crt[md] = np.minimum(crt[md], paus[md] - _days(30))
    psn_type = np.where(scheme == "310",
                        np.where(P["employed"].to_numpy(), "11", np.where(P["retired_emp"].to_numpy(), "12", "13")),
                        np.where(age < 1, "24", np.where(age < 18, "22", np.where(P["student"].to_numpy(), "23", "21"))))
    # stale national-list entries: recently enrolled persons
    recent = (stas == "1") & ~nb & (scheme == "390") & (rng.random(n) < 0.004)
    crt[recent] = ref - _days(rng.integers(5, 40, recent.sum()))
    P["recent_enroll"] = recent
    rec_rows = []
    insu_rows = []

    def add_rec(mask, k, pool, kind, cert_kinds, name_kinds):
        idx = np.flatnonzero(mask)
        if len(idx) == 0:
            return idx, np.array([], dtype=object)
        psn_no = dirt.zcat(pool[idx].astype("U6"), pid[idx] * 4 + k, 12)
        rec_rows.append(pd.DataFrame({"psn_no": psn_no, "i": idx, "pid": pid[idx], "rec": k, "rec_kind": kind,
                                      "pool": pool[idx], "cert_dirt": cert_kinds[idx], "name_dirt": name_kinds[idx]}))
        return idx, psn_no

    def add_insu(idx, psn_no, insutype, ptype, st, c, p, pool, kind):
        if len(idx) == 0:
            return
        e = emp_idx[idx] if insutype == "310" else np.full(len(idx), -1)
        insu_rows.append(pd.DataFrame({"psn_no": psn_no, "i": idx, "pid": pid[idx], "insutype": insutype,
                                       "psn_type": ptype, "psn_insu_stas": st, "crt_insu_date": c, "paus_insu_date": p,
                                       "insu_admdvs": pool, "emp_idx": e, "insu_kind": kind}))

    prim_cert = dirt.sample_cert_kinds(rng, n, 0.02)
    prim_name = np.where(rng.random(n) < 0.01, rng.choice(np.array(["NAME_SPACE", "NAME_FULLWIDTH"], dtype=object), n), "")
    idx, psn = add_rec(has_rec, 0, insu_pool, "PRIMARY", prim_cert, prim_name)
    ins = stas[idx] != ""
    for sch in ("310", "390"):
        m = ins & (scheme[idx] == sch)
        j = idx[m]
        add_insu(j, psn[m], sch, psn_type[j], stas[j], crt[j], paus[j], insu_pool[j], "MAIN")
    # SCHEME duplicate: an employee also enrolled as a resident (same or another psn_no).  Duplicates are planted
    # on persons of the target population only, so that whether an analysis restricts to it changes nothing.
    target = in_target(P, ref)
    active = has_rec & (stas == "1") & ~dead & target
    dup_scheme = active & (scheme == "310") & (P["employed"].to_numpy()) & (rng.random(n) < 0.004)
    same = dup_scheme & (rng.random(n) < 0.5)
    res_type = np.where(age < 18, "22", "21")
    crt2 = ref - _days(rng.integers(30, 3 * 365, n))
    hk_pool = np.where(local, P["hk_pool"].to_numpy(), P["res_pool"].to_numpy())
    j = np.flatnonzero(same)
    add_insu(j, psn[np.searchsorted(idx, j)], "390", res_type[j], np.full(len(j), "1"), crt2[j],
             np.full(len(j), np.datetime64("NaT", "D")), hk_pool[j], "DUP_SCHEME")
    dup_cert = np.asarray(rng.choice(np.array(DUP_CERT_KINDS, dtype=object), n, p=DUP_CERT_P), dtype=object)
    dup_name = np.select([rng.random(n) < 0.2, rng.random(n) < 0.06, rng.random(n) < 0.06],
                         ["HOMOPHONE", "NAME_SPACE", "NAME_FULLWIDTH"], "").astype(object)
    dup_name[(dup_cert == "MISSING") | (dup_cert == "TYPO")] = ""     # keep them matchable by name + birth date
    other_scheme = dup_scheme & ~same
    j, p2 = add_rec(other_scheme, 1, hk_pool, "DUP_SCHEME", dup_cert, dup_name)
    add_insu(j, p2, "390", res_type[j], np.full(len(j), "1"), crt2[j], np.full(len(j), np.datetime64("NaT", "D")), hk_pool[j], "DUP_SCHEME")
    # REGION duplicate: resident insurance active in two pooling regions
    dup_region = active & (scheme == "390") & (age >= 1) & (rng.random(n) < 0.003)
    other_pool = D.pool_codes[rng.integers(0, len(D.pool_codes), n)]
    other_pool = np.where(other_pool == insu_pool, np.where(insu_pool == "610100", "610300", "610100"), other_pool)
    j, p2 = add_rec(dup_region, 1, other_pool, "DUP_REGION", dup_cert, dup_name)
    add_insu(j, p2, "390", psn_type[j], np.full(len(j), "1"), crt2[j], np.full(len(j), np.datetime64("NaT", "D")), other_pool[j], "DUP_REGION")
    # OLD duplicate: a stale record with a terminated resident enrollment, and plain duplicates without enrollment
    free = has_rec & ~dup_scheme & ~dup_region
    u = rng.random(n)
    dup_old = free & (u < 0.025)
    j, p2 = add_rec(dup_old, 1, hk_pool, "DUP_OLD", dup_cert, dup_name)
    old_paus = np.minimum(crt - _days(1), ref - _days(400))
    old_crt = old_paus - _days(rng.integers(365, 3000, n))
    ok = old_crt[j] > brdy[j]
    add_insu(j[ok], p2[ok], "390", np.where(age[j[ok]] < 18, "22", "21"), np.full(ok.sum(), "4"), old_crt[j[ok]], old_paus[j[ok]],
             hk_pool[j[ok]], "DUP_OLD")
    dup_plain = free & (u >= 0.025) & (u < 0.037)
    add_rec(dup_plain, 2, insu_pool, "DUP_PLAIN", dup_cert, dup_name)
    third = dup_old & (rng.random(n) < 0.08)
    cert3 = np.asarray(rng.choice(np.array(DUP_CERT_KINDS, dtype=object), n, p=DUP_CERT_P), dtype=object)
    add_rec(third, 3, insu_pool, "DUP_PLAIN", cert3, np.full(n, "", dtype=object))
    R = pd.concat(rec_rows, ignore_index=True)
    I = pd.concat(insu_rows, ignore_index=True) if insu_rows else pd.DataFrame()
    # CROSS_PROVINCE: a person actively enrolled here whom the national platform also reports actively enrolled
    # in another province; decoy: the other province's enrollment is terminated (psn_insu_stas 4)
    ux = rng.random(n)
    xdup = active & (ux < 0.003)
    xdecoy = active & (ux >= 0.003) & (ux < 0.004)
    other_prov = D.other_pool[rng.integers(0, len(D.other_pool), n)]
    P["elsewhere_dup"] = xdup
    P["elsewhere_decoy"] = xdecoy
    P["elsewhere_pool"] = np.where(P["elsewhere"].to_numpy(), P["elsewhere_pool"].to_numpy(),
                                   np.where(xdup | xdecoy, other_prov, None))
    P["dup_planted"] = dup_scheme | dup_region | xdup | xdecoy
    I["u_dirt"] = rng.random(len(I))          # per-row draw for written dirt (psn_type codes, trailing spaces)
    # contribution periods left unpaid (assessed, clct_flag 0: the last 1-4 months, or the 390 annual period) or
    # never assessed (no contrib row: 1-3 random months, or the 390 annual period).  Only on MAIN enrollments of
    # persons without a second enrollment of the same insutype (so a period is unambiguously the person's), and
    # for 390 only when the enrollment began by January of the reference year: a 390 enrollment begun later in
    # the year always has its annual period paid, so "owed since the enrollment date" reads the same whether
    # the annual period is owed by enrollments of the whole year or only by those begun by January.
    I["unpaid_months"] = 0
    I["missing_months"] = 0
    it = I["insutype"].to_numpy()
    y = int(str(ref)[:4])
    jan_end = np.datetime64(f"{y}-02-01", "D")
    two_390 = np.zeros(n, dtype=bool)
    np.logical_or.at(two_390, I["i"].to_numpy()[(it == "390") & (I["insu_kind"].to_numpy() == "DUP_REGION")], True)
    elig = ((I["psn_insu_stas"].to_numpy() == "1") & (I["insu_kind"].to_numpy() == "MAIN")
            & (I["psn_type"].to_numpy() != "12")
            & ((it == "310") | ((I["crt_insu_date"].to_numpy() < jan_end) & ~two_390[I["i"].to_numpy()])))
    u = rng.random(len(I))
    un = elig & (u < UNPAID_RATE)
    miss = elig & (u >= UNPAID_RATE) & (u < UNPAID_RATE + MISSING_RATE)
    I.loc[un, "unpaid_months"] = np.where(it[un] == "310", rng.integers(1, 5, un.sum()), 1)
    I.loc[miss, "missing_months"] = np.where(it[miss] == "310", rng.integers(1, 4, miss.sum()), 1)
    return R, I


def window_months(ref: np.datetime64) -> np.ndarray:
    """The 12 whole calendar months that ended before the reference date (contract section 4), as YYYYMM."""
    ref_ym = int(ym_of(np.array([ref]))[0])
    y, m = divmod(ref_ym, 100)
    out = []
    for k in range(12, 0, -1):
        mm = m - k
        yy = y + (mm - 1) // 12
        out.append(yy * 100 + (mm - 1) % 12 + 1)
    return np.array(out)


C_COLUMNS = ["psn_no", "i", "pid", "insutype", "accrym", "psn_amt", "emp_amt", "paid", "in_core", "emp_idx"]


def contributions(rng, ctx: Context, P: pd.DataFrame, I: pd.DataFrame, world: World) -> pd.DataFrame:
    """Contribution periods of every enrollment: what the core system assessed (``in_core``: a contrib row, paid
    when clct_flag 1) and what tax collected (``tax_amt`` >= 0: a medins_clct row)."""
    months = window_months(ctx.ref)
    ref_ym = int(ym_of(np.array([ctx.ref]))[0])
    y = ref_ym // 100
    wage = P["wage_base"].to_numpy()
    rows = []
    # 310: monthly, employees and flexible workers (retirees do not pay)
    e = I[(I["insutype"] == "310") & (I["psn_type"] != "12")]
    if len(e):
        crt_ym = ym_of(e["crt_insu_date"].to_numpy())
        paus = e["paus_insu_date"].to_numpy().astype("datetime64[D]")
        end_ym = np.where(np.isnat(paus), ref_ym - 1, ym_of(np.where(np.isnat(paus), ctx.ref, paus)))
        ii = np.repeat(np.arange(len(e)), len(months))
        mo = np.tile(months, len(e))
        keep = (mo >= crt_ym[ii]) & (mo <= end_ym[ii])
        ii, mo = ii[keep], mo[keep]
        w = np.maximum(wage[e["i"].to_numpy()[ii]], 4000)
        flex = e["psn_type"].to_numpy()[ii] == "13"
        psn_amt = np.where(flex, np.round(w * 0.08 * 100), np.round(w * 0.02 * 100)).astype(np.int64)
        emp_amt = np.where(flex, 0, np.round(w * 0.07 * 100)).astype(np.int64)
        unpaid_n = e["unpaid_months"].to_numpy()[ii]
        # the last `unpaid_n` months of the window are unpaid
        pos = np.searchsorted(months, mo)
        unpaid = pos >= len(months) - unpaid_n
        # `missing_n` random months of the enrollment's window were never assessed
        missing_n = e["missing_months"].to_numpy()[ii]
        missing = np.zeros(len(ii), dtype=bool)
        cand = np.flatnonzero(missing_n > 0)
        if len(cand):
            order = cand[np.lexsort((rng.random(len(cand)), ii[cand]))]
            grp = ii[order]
            first = np.r_[True, grp[1:] != grp[:-1]]
            starts = np.flatnonzero(first)
            rank = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
            missing[order[rank < missing_n[order]]] = True
        rows.append(pd.DataFrame({"psn_no": e["psn_no"].to_numpy()[ii], "i": e["i"].to_numpy()[ii], "pid": e["pid"].to_numpy()[ii],
                                  "insutype": "310", "accrym": mo, "psn_amt": psn_amt, "emp_amt": emp_amt,
                                  "paid": ~unpaid & ~missing, "in_core": ~missing, "emp_idx": e["emp_idx"].to_numpy()[ii]}))
    # 390: yearly contribution for the current year (accrym = January)
    r = I[(I["insutype"] == "390")]
    r = r[(r["psn_insu_stas"] == "1") | (ym_of(r["paus_insu_date"].to_numpy().astype("datetime64[D]")) >= y * 100 + 1)]
    if len(r):
        rows.append(pd.DataFrame({"psn_no": r["psn_no"].to_numpy(), "i": r["i"].to_numpy(), "pid": r["pid"].to_numpy(),
                                  "insutype": "390", "accrym": y * 100 + 1, "psn_amt": np.int64(40000), "emp_amt": np.int64(0),
                                  "paid": (r["unpaid_months"].to_numpy() == 0) & (r["missing_months"].to_numpy() == 0),
                                  "in_core": r["missing_months"].to_numpy() == 0, "emp_idx": -1}))
    C = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=C_COLUMNS)
    n = len(C)
    acc = C["accrym"].to_numpy()
    acc_month = (np.asarray(acc // 100 - 1970) * 12 + acc % 100 - 1).astype("datetime64[M]").astype("datetime64[D]")
    pay_day = np.where(C["insutype"].to_numpy() == "390", acc_month - _days(rng.integers(1, 110, n)),
                       acc_month + _days(rng.integers(4, 25, n)))
    pay_day = np.minimum(pay_day, ctx.ref - DAY)
    C["pay_date"] = pay_day
    C["pay_sec"] = rng.integers(8 * 3600, 18 * 3600, n)
    # reconciliation with tax: most paid rows are in tax; some differ; tax collected some periods the core system
    # has not booked (clct_flag 0) or never assessed (no contrib row)
    u = rng.random(n)
    paid = C["paid"].to_numpy().astype(bool)
    core = C["in_core"].to_numpy().astype(bool)
    status = np.where(paid, np.where(u < 0.004, "RECORDED_NOT_COLLECTED", np.where(u < 0.008, "AMOUNT_MISMATCH", "MATCH")),
                      np.where(core, np.where(u < 0.25, "COLLECTED_NOT_RECORDED", "ASSESSED_NOT_COLLECTED"),
                               np.where(u < 0.3, "COLLECTED_NOT_ASSESSED", "NOT_ASSESSED")))
    C["recon"] = status
    tax_amt = (C["psn_amt"] + C["emp_amt"]).to_numpy()
    mism = status == "AMOUNT_MISMATCH"
    tax_amt = np.where(mism, tax_amt - np.maximum(100, (tax_amt * rng.uniform(0.05, 0.5, n)).astype(np.int64)), tax_amt)
    C["tax_amt"] = np.where(np.isin(status, TAX_COLLECTED), tax_amt, -1)
    return C


TAX_COLLECTED = ["MATCH", "AMOUNT_MISMATCH", "COLLECTED_NOT_RECORDED", "COLLECTED_NOT_ASSESSED"]
