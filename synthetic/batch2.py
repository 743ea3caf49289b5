"""Second delivery (a week after the reference date): medins increments and changes in every department.

Every department re-delivers keys it delivered in batch 1; some with changed values:
- medins (incremental): new enrollments (and their person records), terminations, phone and address updates,
  deleted plain duplicates, contributions paid late (clct_flag 0 → 1 on existing keys); a second medins batch
  id of the same week carries person records whose enrollments came in the first one (parent after child)
  and contributions the core system booked late for periods it had never assessed (old accrym);
- police: hukou address corrections, renewed residence permits, late-registered deaths;
- civil_affairs: late deaths, assistance end dates set (after the reference date);
- tax: withholding months updated; collections of old periods delivered late (tax collected after the
  reference date what the core system has unpaid or unassessed);
- health: late death certificates, corrected causes of death, children's ID numbers filled in;
- hrss: pension holders who started drawing their pension (stas 1 → 2);
- national: other-province enrollments moved to another prefecture.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from . import dirt, names
from .divisions import load as load_divisions
from .population import Context, _days, in_target, ym_of

LATE_PAY = 0.20          # unpaid core rows paid and booked in the batch-2 week (core and tax)
LATE_TAX = 0.15          # unpaid / unassessed periods tax collected in the week, the core system not yet
LATE_BOOKED = 0.20       # unassessed periods the core system books (paid) in the late medins batch
PARENT_AFTER_CHILD = 0.3  # new persons whose psn_info comes one medins batch after their enrollment


def _renumber(addr: str) -> str:
    """The same address with another house number (a registry correction)."""
    return re.sub(r"(\d+)号", lambda m: f"{int(m.group(1)) % 398 + 2}号", addr, count=1)


def apply(rng, ctx: Context, P: pd.DataFrame, R: pd.DataFrame, I: pd.DataFrame, C: pd.DataFrame):
    """Returns (P2, R2, I2, C2, incr) where incr holds the medins incremental rows and events."""
    ref = ctx.ref
    n = len(P)
    P2, R2, I2, C2 = P.copy(), R.copy(), I.copy(), C.copy()
    target = in_target(P2, ref)
    age = P2["age_days"].to_numpy() / 365.25
    local = P2["local"].to_numpy()
    # deaths registered late (died before the reference date, first delivered in batch 2); never a person with a
    # planted duplicate enrollment (whose answer should not hinge on whether the dead are counted)
    ld = target & (age >= 55) & (rng.random(n) < 0.004) & ~P2["dup_planted"].to_numpy()
    dd = ref - _days(rng.integers(2, 18, n))
    P2.loc[ld, "dead"] = True
    P2.loc[ld, "death_date"] = dd[ld]
    P2.loc[ld, "death_src"] = np.where(local[ld], "PCH", "CH")
    P2.loc[ld & local, "hsreg_stas"] = "2"
    P2.loc[ld & local, "cancel_date"] = dd[ld & local] + _days(3)
    P2.loc[ld, "death_cause"] = "I63.900"
    # new enrollments of never-enrolled persons (newborns first)
    nb = P2["newborn"].to_numpy()
    never = target & ~ld & (P2["enroll_state"].to_numpy() == "NEVER")
    new = never & (rng.random(n) < np.where(nb, 0.4, 0.05))
    idx = np.flatnonzero(new)
    has_prim = set(R2.loc[R2["rec"] == 0, "i"].tolist())
    need_rec = np.array([j not in has_prim for j in idx], dtype=bool)
    ri = idx[need_rec]
    pool = P2["insu_pool"].to_numpy()
    new_rec = pd.DataFrame({
        "psn_no": dirt.zcat(pool[ri].astype("U6"), P2["pid"].to_numpy()[ri] * 4, 12),
        "i": ri, "pid": P2["pid"].to_numpy()[ri], "rec": 0, "rec_kind": "PRIMARY", "pool": pool[ri], "cert_dirt": "",
        "name_dirt": "", "certno_out": P2["certno"].to_numpy()[ri], "name_out": P2["name"].to_numpy()[ri],
        "tel_out": P2["tel"].to_numpy()[ri], "compact": False, "remark": "", "updt_sec": 0,
        "u_dirt": 1.0, "u_tel": 1.0, "u_book": 1.0})
    R2 = pd.concat([R2, new_rec], ignore_index=True)
    prim = R2[R2["rec"] == 0].set_index("i")["psn_no"]
    scheme = P2["scheme"].to_numpy()
    ins_type = np.where(nb[idx], "390", scheme[idx])
    ptype = np.where(ins_type == "310", np.where(P2["employed"].to_numpy()[idx], "11", "13"),
                     np.where(age[idx] < 1, "24", np.where(age[idx] < 18, "22", "21")))
    new_insu = pd.DataFrame({
        "psn_no": prim.reindex(idx).to_numpy(), "i": idx, "pid": P2["pid"].to_numpy()[idx], "insutype": ins_type,
        "psn_type": ptype, "psn_insu_stas": "1", "crt_insu_date": ref + _days(rng.integers(0, 7, len(idx))),
        "paus_insu_date": np.full(len(idx), np.datetime64("NaT", "D"), dtype="datetime64[D]"), "insu_admdvs": pool[idx],
        "emp_idx": np.where(ins_type == "310", P2["emp_idx"].to_numpy()[idx], -1), "insu_kind": "MAIN",
        "unpaid_months": 0, "missing_months": 0, "u_dirt": 1.0})
    I2 = pd.concat([I2, new_insu], ignore_index=True)
    P2.loc[new, "enroll_state"] = "ACTIVE"
    P2.loc[new, "has_medins"] = True
    y = int(str(ref)[:4])
    r390 = new_insu[new_insu["insutype"] == "390"]
    new_c = pd.DataFrame({"psn_no": r390["psn_no"].to_numpy(), "i": r390["i"].to_numpy(), "pid": r390["pid"].to_numpy(),
                          "insutype": "390", "accrym": y * 100 + 1, "psn_amt": np.int64(40000), "emp_amt": np.int64(0),
                          "paid": True, "in_core": True, "emp_idx": -1, "pay_date": r390["crt_insu_date"].to_numpy(),
                          "pay_sec": np.int64(36000), "recon": "MATCH", "tax_amt": np.int64(40000)})
    # terminations of active resident enrollments
    cand = (I2["insu_kind"].to_numpy() == "MAIN") & (I2["psn_insu_stas"].to_numpy() == "1") & (I2["insutype"].to_numpy() == "390")
    cand &= target[I2["i"].to_numpy()] & ~np.isin(I2["i"].to_numpy(), idx) & ~P2["dup_planted"].to_numpy()[I2["i"].to_numpy()]
    term = cand & (rng.random(len(I2)) < 0.003)
    I2.loc[term, "psn_insu_stas"] = "4"
    I2.loc[term, "paus_insu_date"] = ref + _days(rng.integers(0, 7, term.sum()))
    P2.loc[I2.loc[term, "i"].to_numpy(), "enroll_state"] = "TERMINATED"
    # phone and address updates on primary records, deletion of some plain duplicates
    fresh = R2["psn_no"].isin(new_rec["psn_no"]).to_numpy()
    u_upd = rng.random(len(R2))
    tel_upd = (R2["rec"].to_numpy() == 0) & (u_upd < 0.01) & ~fresh
    R2.loc[tel_upd, "tel_out"] = names.sample_mobiles(rng, int(tel_upd.sum()))
    R2["u_tel"] = np.where(tel_upd, 1.0, R2["u_tel"].to_numpy())      # an updated phone is a phone
    dele = (R2["rec_kind"].to_numpy() == "DUP_PLAIN") & (rng.random(len(R2)) < 0.25)
    deleted = R2[dele]
    R2 = R2[~dele]
    tel_upd = tel_upd[~dele]
    # contributions paid late: existing contrib keys re-delivered with clct_flag 1 (tax collected them too)
    C2 = pd.concat([C2, new_c], ignore_index=True)
    ref_ym = int(ym_of(np.array([ref]))[0])
    paid = C2["paid"].to_numpy().astype(bool)
    core = C2["in_core"].to_numpy().astype(bool)
    uc = rng.random(len(C2))
    assessed = (C2["psn_amt"] + C2["emp_amt"]).to_numpy()
    late_pay = core & ~paid & (uc < LATE_PAY)
    late_tax = ~paid & ~late_pay & (C2["tax_amt"].to_numpy() < 0) & (uc >= LATE_PAY) & (uc < LATE_PAY + LATE_TAX)
    late_booked = ~core & ~late_tax & (uc >= 0.5) & (uc < 0.5 + LATE_BOOKED)
    week = ref + _days(rng.integers(1, 7, len(C2)))
    sec = rng.integers(8 * 3600, 18 * 3600, len(C2))
    for m, recon in ((late_pay, "MATCH"), (late_booked, "MATCH")):
        C2.loc[m, "paid"] = True
        C2.loc[m, "in_core"] = True
        C2.loc[m, "pay_date"] = week[m]
        C2.loc[m, "pay_sec"] = sec[m]
        C2.loc[m, "recon"] = recon
        C2.loc[m, "tax_amt"] = assessed[m]
    C2.loc[late_tax, "pay_date"] = week[late_tax]
    C2.loc[late_tax, "tax_amt"] = assessed[late_tax]
    C2.loc[late_tax, "recon"] = np.where(core[late_tax], "COLLECTED_NOT_RECORDED", "COLLECTED_NOT_ASSESSED")
    # ---- other departments: the same keys with changed values
    ua = rng.random(n)
    alive = ~P2["dead"].to_numpy()
    addr = local & alive & (ua < 0.005) & P2["hk_addr"].notna().to_numpy()
    P2.loc[addr, "hk_addr"] = [_renumber(a) for a in P2.loc[addr, "hk_addr"]]
    renew = (P2["permit"].to_numpy() == "valid") & dirt.band(ua, 0.01, 0.03)
    P2.loc[renew, "permit_expire"] = P2["permit_expire"].to_numpy()[renew] + _days(rng.integers(365, 1100, renew.sum()))
    aid_end = P2["aid_end"].to_numpy().astype("datetime64[D]")
    aid_ending = (P2["aid_type"].to_numpy() != "") & np.isnat(aid_end) & dirt.band(ua, 0.03, 0.08)
    P2.loc[aid_ending, "aid_end"] = ref + _days(rng.integers(3, 30, aid_ending.sum()))   # still current on the reference date
    tax_upd = (P2["taxpayer"].to_numpy() == "recent") & dirt.band(ua, 0.1, 0.15)
    P2.loc[tax_upd, "tax_ym"] = ref_ym - 1 if ref_ym % 100 != 1 else ref_ym - 89
    cause = np.array(["H" in s_ for s_ in P2["death_src"].to_numpy()]) & dirt.band(ua, 0.2, 0.35)
    P2.loc[cause, "death_cause"] = np.where(P2.loc[cause, "death_cause"].to_numpy() == "I63.900", "I64.x00", "I63.900")
    draw = (P2["pension_stas"].to_numpy() == "1") & (age >= 50) & dirt.band(ua, 0.3, 0.33)
    P2.loc[draw, "pension_stas"] = "2"
    issued = P2["newborn"].to_numpy() & (P2["u_fmt"].to_numpy() < 0.15) & dirt.band(ua, 0.5, 0.8)
    P2.loc[issued, "child_id_issued"] = True        # the birth certificate now carries the child's ID number
    D = load_divisions()
    moved = P2["elsewhere"].to_numpy() & dirt.band(ua, 0.4, 0.5)
    P2.loc[moved, "elsewhere_pool"] = D.other_pool[rng.integers(0, len(D.other_pool), moved.sum())]
    # parent after child: some new persons' psn_info arrives in the next medins batch id
    late_parent = new_rec[rng.random(len(new_rec)) < PARENT_AFTER_CHILD]
    upsert = R2[(R2["psn_no"].isin(new_rec["psn_no"]).to_numpy() & ~R2["psn_no"].isin(late_parent["psn_no"]).to_numpy())
                | tel_upd]
    incr = {
        "rec_upsert": upsert,
        "rec_late": R2[R2["psn_no"].isin(late_parent["psn_no"]).to_numpy()],
        "rec_delete": deleted,
        "insu_upsert": pd.concat([new_insu, I2[term]], ignore_index=True),
        "contrib_upsert": pd.concat([new_c, C2[late_pay]], ignore_index=True),
        "contrib_late": C2[late_booked],
        "late_deaths": np.flatnonzero(ld),
    }
    return P2, R2, I2, C2, incr
