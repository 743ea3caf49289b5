"""Department views of the latent state: one function per source, returning contract tables.

Every builder is a pure function of the latent frames (no random draws), so the same person looks the
same in every batch unless the latent state changed.  Dirt was drawn once into the latent frames.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import dirt
from .divisions import load as load_divisions
from .institutions import World
from .population import Context, DAY, _days

REMARKS = np.array(["", "", "", "", "", "", "户籍迁入", "信息变更", "合并待核", "补录"], dtype=object)


def source_dirt(rng, P: pd.DataFrame) -> None:
    """Per-source certno / name dirt of each person's copy (police and resd_permit stay clean)."""
    n = len(P)
    for src, rate in (("civil", 0.01), ("health", 0.01), ("tax", 0.015), ("hrss", 0.01), ("national", 0.005)):
        kinds = ("LOWER_X",) if src == "national" else ("LOWER_X", "FULLWIDTH", "SPACES")
        k = dirt.sample_cert_kinds(rng, n, rate, kinds)
        P[f"cert_{src}"], P[f"cd_{src}"] = dirt.certno_variant(P["certno"].to_numpy(), k, rng)
        nk = np.where(rng.random(n) < rate / 2, "NAME_SPACE", "").astype(object)
        P[f"name_{src}"] = dirt.name_variant(P["name"].to_numpy(), nk, rng)
        P[f"nd_{src}"] = nk
    P["u_fmt"] = rng.random(n)        # date format / phone format draws, fixed per person
    P["u_lag"] = rng.integers(1, 40, n)


def dress_records(rng, P: pd.DataFrame, R: pd.DataFrame) -> None:
    """Written certno / name / formats of each medins person record (latent, reused by every batch)."""
    i = R["i"].to_numpy()
    R["certno_out"], R["cert_dirt"] = dirt.certno_variant(P["certno"].to_numpy()[i], R["cert_dirt"].to_numpy(), rng)
    R["name_out"] = dirt.name_variant(P["name"].to_numpy()[i], R["name_dirt"].to_numpy(), rng)
    R["tel_out"] = dirt.phone_variant(P["tel"].to_numpy()[i], rng.random(len(R)))
    R["compact"] = rng.random(len(R)) < np.where(R["rec"].to_numpy() == 0, 0.05, 0.15)
    R["remark"] = REMARKS[rng.integers(0, len(REMARKS), len(R))]
    R["updt_sec"] = rng.integers(0, 86400 * 300, len(R))


def _dirt_label(*parts) -> np.ndarray:
    out = np.full(len(parts[0]), "", dtype=object)
    for p in parts:
        p = np.asarray(p, dtype=object)
        has = p != ""
        out = np.where(has & (out != ""), out + "|" + p, np.where(has, p, out))
    return out


def _rec(table, source, key, pid, dirt_kind, extra=None) -> pd.DataFrame:
    d = pd.DataFrame({"source": source, "source_table": table, "source_key": key, "person_id": pid, "dirt": dirt_kind})
    return d


def pid_str(pid: np.ndarray) -> np.ndarray:
    if len(pid) == 0:
        return np.array([], dtype=object)
    return np.char.add("P", np.char.zfill(np.asarray(pid).astype("U10"), 10)).astype(object)


def keycat(*cols) -> np.ndarray:
    if len(cols[0]) == 0:
        return np.array([], dtype=object)
    out = np.asarray(cols[0], dtype=object).astype(str)
    for c in cols[1:]:
        out = np.char.add(np.char.add(out.astype("U"), "|"), np.asarray(c).astype("U"))
    return out.astype(object)


# --------------------------------------------------------------------------------------------- medins
def medins_person_tables(ctx: Context, P: pd.DataFrame, R: pd.DataFrame, I: pd.DataFrame, C: pd.DataFrame,
                         world: World) -> tuple[dict, list]:
    i = R["i"].to_numpy()
    psn_info = pd.DataFrame({
        "psn_no": R["psn_no"].to_numpy(),
        "psn_name": R["name_out"].to_numpy(),
        "gend": P["gend"].to_numpy()[i],
        "brdy": dirt.fmt_dates(P["brdy"].to_numpy()[i], R["compact"].to_numpy()),
        "naty": P["naty"].to_numpy()[i],
        "psn_cert_type": np.where(R["cert_dirt"].to_numpy() == "MISSING", "99", "01"),
        "certno": R["certno_out"].to_numpy(),
        "tel": R["tel_out"].to_numpy(),
        "surv_stas": np.where(R["rec"].to_numpy() == 0, P["surv_stas"].to_numpy()[i], "1"),
        "hsreg_addr": P["hk_addr"].to_numpy()[i],
        "hsreg_admdvs": P["hk_county"].to_numpy()[i],
        "resd_addr": P["res_addr"].to_numpy()[i],
        "resd_admdvs": P["res_county"].to_numpy()[i],
        "hsreg_book_no": P["book_no"].to_numpy()[i],
        "updt_time": dirt.fmt_ts((ctx.ref - _days(300)) + np.zeros(len(R), dtype="timedelta64[D]"), R["updt_sec"].to_numpy()),
        "ext_remark": R["remark"].to_numpy(),
    })
    recs = [_rec("psn_info", "medins", R["psn_no"].to_numpy(), pid_str(R["pid"].to_numpy()),
                 _dirt_label(R["cert_dirt"].to_numpy(), R["name_dirt"].to_numpy(), np.where(R["compact"], "DATE_COMPACT", "")))]
    emp = world.emp_info
    e = I["emp_idx"].to_numpy()
    has_e = e >= 0
    compact = P["u_fmt"].to_numpy()[I["i"].to_numpy()] < 0.08
    psn_insu = pd.DataFrame({
        "psn_no": I["psn_no"].to_numpy(), "insutype": I["insutype"].to_numpy(), "psn_type": I["psn_type"].to_numpy(),
        "psn_insu_stas": I["psn_insu_stas"].to_numpy(),
        "crt_insu_date": dirt.fmt_dates(I["crt_insu_date"].to_numpy(), compact),
        "paus_insu_date": dirt.fmt_dates(I["paus_insu_date"].to_numpy(), compact),
        "insu_admdvs": I["insu_admdvs"].to_numpy(),
        "emp_no": np.where(has_e, emp["emp_no"].to_numpy()[np.maximum(e, 0)], None),
        "emp_name": np.where(has_e, emp["emp_name"].to_numpy()[np.maximum(e, 0)], None),
        "updt_time": dirt.fmt_ts(I["crt_insu_date"].to_numpy(), np.full(len(I), 10 * 3600)),
    })
    paid = C["paid"].to_numpy()
    contrib = pd.DataFrame({
        "psn_no": C["psn_no"].to_numpy(), "insutype": C["insutype"].to_numpy(), "accrym": C["accrym"].astype(str).to_numpy(),
        "psn_clct_amt": dirt.fmt_money(C["psn_amt"].to_numpy()), "emp_clct_amt": dirt.fmt_money(C["emp_amt"].to_numpy()),
        "clct_flag": np.where(paid, "1", "0"),
        "clct_time": np.where(paid, dirt.fmt_ts(C["pay_date"].to_numpy(), C["pay_sec"].to_numpy()), None),
    })
    return {"psn_info": psn_info, "psn_insu": psn_insu, "contrib": contrib}, recs


def setl_tables(S: pd.DataFrame, L: pd.DataFrame) -> dict:
    from . import catalog
    it = catalog.items()
    item = L["item"].to_numpy()
    setl = pd.DataFrame({
        "setl_id": S["setl_id"].to_numpy(), "mdtrt_id": S["mdtrt_id"].to_numpy(), "psn_no": S["psn_no"].to_numpy(),
        "certno": S["certno"].to_numpy(), "insutype": S["insutype"].to_numpy(), "med_type": S["med_type"].to_numpy(),
        "fixmedins_code": S["fixmedins_code"].to_numpy(), "atddr_no": S["atddr_no"].to_numpy(),
        "begndate": dirt.fmt_dates(S["begn"].to_numpy()), "enddate": dirt.fmt_dates(S["end"].to_numpy()),
        "setl_time": dirt.fmt_ts(S["end"].to_numpy(), S["setl_sec"].to_numpy()), "dise_codg": S["dise"].to_numpy(),
        "medfee_sumamt": dirt.fmt_money(S["medfee"].to_numpy()), "fulamt_ownpay_amt": dirt.fmt_money(S["ownpay"].to_numpy()),
        "hifp_pay": dirt.fmt_money(S["hifp"].to_numpy()), "acct_pay": dirt.fmt_money(S["acct"].to_numpy()),
        "psn_cash_pay": dirt.fmt_money(S["cash"].to_numpy()), "insu_admdvs": S["insu_pool"].to_numpy(),
        "mdtrt_admdvs": S["mdtrt_admdvs"].to_numpy(), "refd_setl_flag": S["refd"].to_numpy(),
    })
    fee = pd.DataFrame({
        "feedetl_sn": L["feedetl_sn"].to_numpy(), "setl_id": L["setl_id"].to_numpy(),
        "med_list_codg": it["code"].to_numpy()[item], "med_chrgitm_type": it["chrgitm"].to_numpy()[item],
        "list_name": it["name"].to_numpy()[item], "cnt": L["cnt"].astype(str).to_numpy(),
        "pric": dirt.fmt_money(L["pric"].to_numpy()), "det_item_fee_sumamt": dirt.fmt_money(L["amt"].to_numpy()),
        "bilg_dr_codg": L["bilg_dr_codg"].to_numpy(), "fee_ocur_time": dirt.fmt_ts(L["date"].to_numpy(), L["sec"].to_numpy()),
    })
    return {"setl": setl, "fee_list": fee}


# --------------------------------------------------------------------------------------------- others
def police_tables(ctx: Context, P: pd.DataFrame) -> tuple[dict, list]:
    loc = P[P["local"].to_numpy()]
    hs = pd.DataFrame({
        "certno": loc["certno"].to_numpy(), "psn_name": loc["name"].to_numpy(), "gend": loc["gend"].to_numpy(),
        "brdy": dirt.fmt_dates(loc["brdy"].to_numpy()), "naty": loc["naty"].to_numpy(),
        "hsreg_admdvs": loc["hk_county"].to_numpy(), "hsreg_addr": loc["hk_addr"].to_numpy(),
        "hsreg_book_no": loc["book_no"].to_numpy(), "hsreg_stas": loc["hsreg_stas"].to_numpy(),
        "cancel_date": dirt.fmt_dates(loc["cancel_date"].to_numpy()),
    })
    pm = P[P["permit"].to_numpy() != ""]
    rp = pd.DataFrame({
        "certno": pm["certno"].to_numpy(), "psn_name": pm["name"].to_numpy(), "gend": pm["gend"].to_numpy(),
        "brdy": dirt.fmt_dates(pm["brdy"].to_numpy()), "resd_admdvs": pm["res_county"].to_numpy(),
        "resd_addr": pm["res_addr"].to_numpy(), "issue_date": dirt.fmt_dates(pm["permit_issue"].to_numpy()),
        "expire_date": dirt.fmt_dates(pm["permit_expire"].to_numpy()),
    })
    recs = [_rec("hsreg_psn", "police", hs["certno"].to_numpy(), pid_str(loc["pid"].to_numpy()), ""),
            _rec("resd_permit", "police", rp["certno"].to_numpy(), pid_str(pm["pid"].to_numpy()), "")]
    return {"hsreg_psn": hs, "resd_permit": rp}, recs


def civil_tables(ctx: Context, P: pd.DataFrame) -> tuple[dict, list]:
    d = P[np.array(["C" in s for s in P["death_src"].to_numpy()], dtype=bool)]
    compact = d["u_fmt"].to_numpy() < 0.1
    dc = pd.DataFrame({"certno": d["cert_civil"].to_numpy(), "psn_name": d["name_civil"].to_numpy(),
                       "death_date": dirt.fmt_dates(d["death_date"].to_numpy(), compact), "admdvs": d["res_county"].to_numpy()})
    a = P[P["aid_type"].to_numpy() != ""]
    a2 = a[a["aid_second"].to_numpy()]
    aa = pd.concat([a.assign(_aid=a["aid_type"]), a2.assign(_aid="4")], ignore_index=True)
    ao = pd.DataFrame({"certno": aa["cert_civil"].to_numpy(), "aid_type": aa["_aid"].to_numpy(),
                       "psn_name": aa["name_civil"].to_numpy(), "admdvs": aa["hk_county"].to_numpy(),
                       "begn_date": dirt.fmt_dates(aa["aid_begin"].to_numpy()), "end_date": dirt.fmt_dates(aa["aid_end"].to_numpy())})
    recs = [_rec("death_cremation", "civil_affairs", dc["certno"].fillna("").to_numpy(), pid_str(d["pid"].to_numpy()),
                 _dirt_label(d["cd_civil"].to_numpy(), d["nd_civil"].to_numpy(), np.where(compact, "DATE_COMPACT", ""))),
            _rec("assistance_obj", "civil_affairs", keycat(ao["certno"].fillna("").to_numpy(), ao["aid_type"].to_numpy()),
                 pid_str(aa["pid"].to_numpy()), _dirt_label(aa["cd_civil"].to_numpy(), aa["nd_civil"].to_numpy()))]
    return {"death_cremation": dc, "assistance_obj": ao}, recs


def tax_tables(ctx: Context, P: pd.DataFrame, C: pd.DataFrame, world: World) -> tuple[dict, list]:
    emp = world.emp_info
    t = P[P["taxpayer"].to_numpy() != ""]
    e1 = np.where(t["emp_idx"].to_numpy() >= 0, t["emp_idx"].to_numpy(), t["pid"].to_numpy() % len(emp))
    t2 = t[t["tax_second_emp"].to_numpy() >= 0]
    tt = pd.concat([t.assign(_e=e1), t2.assign(_e=t2["tax_second_emp"].to_numpy())], ignore_index=True)
    tt = tt.drop_duplicates(["pid", "_e"])
    tp = pd.DataFrame({"certno": tt["cert_tax"].to_numpy(), "emp_uscc": emp["uscc"].to_numpy()[tt["_e"].to_numpy()],
                       "psn_name": tt["name_tax"].to_numpy(), "last_tax_ym": tt["tax_ym"].astype(str).to_numpy()})
    c = C[C["tax_amt"].to_numpy() >= 0]
    ci = c["i"].to_numpy()
    e = c["emp_idx"].to_numpy()
    mc = pd.DataFrame({"certno": P["cert_tax"].to_numpy()[ci], "insutype": c["insutype"].to_numpy(),
                       "accrym": c["accrym"].astype(str).to_numpy(), "clct_amt": dirt.fmt_money(c["tax_amt"].to_numpy()),
                       "pay_date": dirt.fmt_dates(c["pay_date"].to_numpy(), P["u_fmt"].to_numpy()[ci] < 0.1),
                       "emp_uscc": np.where(e >= 0, emp["uscc"].to_numpy()[np.maximum(e, 0)], None)})
    # a person may have two psn_no with the same insutype/month: tax keeps one row per certno×insutype×accrym
    keep = ~mc.duplicated(["certno", "insutype", "accrym"]).to_numpy()
    mc = mc[keep]
    recs = [_rec("taxpayer", "tax", keycat(tp["certno"].fillna("").to_numpy(), tp["emp_uscc"].to_numpy()),
                 pid_str(tt["pid"].to_numpy()), _dirt_label(tt["cd_tax"].to_numpy(), tt["nd_tax"].to_numpy()))]
    return {"taxpayer": tp, "medins_clct": mc}, recs


def health_tables(ctx: Context, P: pd.DataFrame) -> tuple[dict, list]:
    nb = P[P["newborn"].to_numpy()]
    hh = P["hh"].to_numpy()
    first = np.searchsorted(hh, nb["hh"].to_numpy())
    g = P["gend"].to_numpy()
    mother = np.where(g[first] == "2", first, first + 1)
    father = np.where(g[first] == "2", first + 1, first)
    cert = P["certno"].to_numpy()
    no_id = nb["u_fmt"].to_numpy() < 0.15
    bc = pd.DataFrame({
        "birth_cert_no": dirt.zcat("R", nb["pid"].to_numpy(), 9),
        "child_name": nb["name"].to_numpy(), "gend": nb["gend"].to_numpy(), "brdy": dirt.fmt_dates(nb["brdy"].to_numpy()),
        "mother_certno": cert[mother], "father_certno": np.where(nb["u_lag"].to_numpy() < 37, cert[father], None),
        "birth_admdvs": nb["res_county"].to_numpy(), "child_certno": np.where(no_id, None, nb["certno"].to_numpy()),
    })
    d = P[np.array(["H" in s for s in P["death_src"].to_numpy()], dtype=bool)]
    dc = pd.DataFrame({"certno": d["cert_health"].to_numpy(), "psn_name": d["name_health"].to_numpy(),
                       "death_date": dirt.fmt_dates(d["death_date"].to_numpy()), "death_cause_icd10": d["death_cause"].to_numpy(),
                       "admdvs": d["res_county"].to_numpy()})
    recs = [_rec("birth_cert", "health", bc["birth_cert_no"].to_numpy(), pid_str(nb["pid"].to_numpy()),
                 np.where(no_id, "NO_CHILD_CERTNO", "")),
            _rec("death_cert", "health", dc["certno"].fillna("").to_numpy(), pid_str(d["pid"].to_numpy()),
                 _dirt_label(d["cd_health"].to_numpy(), d["nd_health"].to_numpy()))]
    return {"birth_cert": bc, "death_cert": dc}, recs


def hrss_tables(ctx: Context, P: pd.DataFrame, world: World) -> tuple[dict, list]:
    p = P[P["pension_type"].to_numpy() != ""]
    e = p["emp_idx"].to_numpy()
    pi = pd.DataFrame({"certno": p["cert_hrss"].to_numpy(), "pension_type": p["pension_type"].to_numpy(),
                       "psn_name": p["name_hrss"].to_numpy(), "stas": p["pension_stas"].to_numpy(),
                       "admdvs": p["res_county"].to_numpy(),
                       "emp_uscc": np.where((e >= 0) & (p["pension_type"].to_numpy() != "3"),
                                            world.emp_info["uscc"].to_numpy()[np.maximum(e, 0)], None)})
    recs = [_rec("pension_insu", "hrss", keycat(pi["certno"].fillna("").to_numpy(), pi["pension_type"].to_numpy()),
                 pid_str(p["pid"].to_numpy()), _dirt_label(p["cd_hrss"].to_numpy(), p["nd_hrss"].to_numpy()))]
    return {"pension_insu": pi}, recs


def national_tables(ctx: Context, P: pd.DataFrame, T: pd.DataFrame) -> tuple[dict, list]:
    """T: person truth after batch 1 (uninsured flags); the list is sent down before the reference date."""
    on = T["in_national_list"].to_numpy()
    n = P[on]
    nu = pd.DataFrame({"certno": n["cert_national"].to_numpy(), "psn_name": n["name"].to_numpy(),
                       "hsreg_admdvs": n["hk_county"].to_numpy(), "issue_batch": "2026Q3"})
    el = P[P["elsewhere"].to_numpy()]
    ie = pd.DataFrame({"certno": el["cert_national"].to_numpy(), "insutype": np.where(el["u_lag"].to_numpy() % 3 != 0, "310", "390"),
                       "insu_admdvs": el["elsewhere_pool"].to_numpy(), "psn_insu_stas": "1"})
    recs = [_rec("national_uninsured", "national", nu["certno"].to_numpy(), pid_str(n["pid"].to_numpy()), n["cd_national"].to_numpy()),
            _rec("insured_elsewhere", "national", keycat(ie["certno"].to_numpy(), ie["insutype"].to_numpy()),
                 pid_str(el["pid"].to_numpy()), el["cd_national"].to_numpy())]
    return {"national_uninsured": nu, "insured_elsewhere": ie}, recs
