"""Second delivery (a week after the reference date): medins increments and small changes elsewhere."""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import dirt, names
from .population import Context, _days, in_target


def apply(rng, ctx: Context, P: pd.DataFrame, R: pd.DataFrame, I: pd.DataFrame, C: pd.DataFrame):
    """Returns (P2, R2, I2, C2, incr) where incr holds the medins incremental rows and events."""
    ref = ctx.ref
    n = len(P)
    P2, R2, I2, C2 = P.copy(), R.copy(), I.copy(), C.copy()
    target = in_target(P2, ref)
    age = P2["age_days"].to_numpy() / 365.25
    local = P2["local"].to_numpy()
    # deaths registered late (died before the reference date, first delivered in batch 2)
    ld = target & (age >= 55) & (rng.random(n) < 0.004)
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
        "tel_out": P2["tel"].to_numpy()[ri], "compact": False, "remark": "", "updt_sec": 0})
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
        "emp_idx": np.where(ins_type == "310", P2["emp_idx"].to_numpy()[idx], -1), "insu_kind": "MAIN", "unpaid_months": 0})
    I2 = pd.concat([I2, new_insu], ignore_index=True)
    P2.loc[new, "enroll_state"] = "ACTIVE"
    P2.loc[new, "has_medins"] = True
    y = int(str(ref)[:4])
    r390 = new_insu[new_insu["insutype"] == "390"]
    new_c = pd.DataFrame({"psn_no": r390["psn_no"].to_numpy(), "i": r390["i"].to_numpy(), "pid": r390["pid"].to_numpy(),
                          "insutype": "390", "accrym": y * 100 + 1, "psn_amt": np.int64(40000), "emp_amt": np.int64(0),
                          "paid": True, "emp_idx": -1, "pay_date": r390["crt_insu_date"].to_numpy(),
                          "pay_sec": np.int64(36000), "recon": "MATCH", "tax_amt": np.int64(40000)})
    C2 = pd.concat([C2, new_c], ignore_index=True)
    # terminations of active resident enrollments
    cand = (I2["insu_kind"].to_numpy() == "MAIN") & (I2["psn_insu_stas"].to_numpy() == "1") & (I2["insutype"].to_numpy() == "390")
    cand &= target[I2["i"].to_numpy()] & ~np.isin(I2["i"].to_numpy(), idx)
    term = cand & (rng.random(len(I2)) < 0.003)
    I2.loc[term, "psn_insu_stas"] = "4"
    I2.loc[term, "paus_insu_date"] = ref + _days(rng.integers(0, 7, term.sum()))
    P2.loc[I2.loc[term, "i"].to_numpy(), "enroll_state"] = "TERMINATED"
    # phone updates on primary records, deletion of some plain duplicates
    tel_upd = (R2["rec"].to_numpy() == 0) & (rng.random(len(R2)) < 0.01) & ~R2["psn_no"].isin(new_rec["psn_no"]).to_numpy()
    R2.loc[tel_upd, "tel_out"] = names.sample_mobiles(rng, int(tel_upd.sum()))
    dele = (R2["rec_kind"].to_numpy() == "DUP_PLAIN") & (rng.random(len(R2)) < 0.25)
    deleted = R2[dele]
    R2 = R2[~dele]
    incr = {
        "rec_upsert": R2[R2["psn_no"].isin(new_rec["psn_no"]).to_numpy() | tel_upd[~dele]],
        "rec_delete": deleted,
        "insu_upsert": pd.concat([new_insu, I2[term]], ignore_index=True),
        "contrib_upsert": new_c,
        "late_deaths": np.flatnonzero(ld),
    }
    return P2, R2, I2, C2, incr
