"""Department views of the latent state: one function per source, returning contract tables.

Every builder is a pure function of the latent frames (no random draws), so the same person looks the
same in every batch unless the latent state changed.  Dirt was drawn once into the latent frames.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import dirt, ids
from .institutions import World
from .population import Context, _days

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
    P["u_fmt2"] = rng.random(n)       # compact dates of the other departments, fixed per person
    P["u_dirt"] = rng.random(n)       # codes / names with trailing spaces, silver-level key twins (disjoint bands)
    P["child_id_issued"] = False      # batch 2: the child's ID number reaches the birth certificate


def dress_records(rng, P: pd.DataFrame, R: pd.DataFrame) -> None:
    """Written certno / name / formats of each medins person record (latent, reused by every batch)."""
    i = R["i"].to_numpy()
    R["certno_out"], R["cert_dirt"] = dirt.certno_variant(P["certno"].to_numpy()[i], R["cert_dirt"].to_numpy(), rng)
    R["name_out"] = dirt.name_variant(P["name"].to_numpy()[i], R["name_dirt"].to_numpy(), rng)
    R["tel_out"] = dirt.phone_variant(P["tel"].to_numpy()[i], rng.random(len(R)))
    R["compact"] = rng.random(len(R)) < np.where(R["rec"].to_numpy() == 0, 0.05, 0.15)
    R["remark"] = REMARKS[rng.integers(0, len(REMARKS), len(R))]
    R["updt_sec"] = rng.integers(0, 86400 * 300, len(R))
    R["u_dirt"] = rng.random(len(R))   # out-of-table gend, trailing spaces in codes and names
    R["u_tel"] = rng.random(len(R))    # phone missing (TEL_NULL_RATE)
    R["u_book"] = rng.random(len(R))   # hukou booklet number missing (BOOK_NULL_RATE, on top of non-locals)


TEL_NULL_RATE = 0.15        # psn_info.tel empty: phones are missing everywhere in the field
BOOK_NULL_RATE = 0.025      # psn_info.hsreg_book_no empty for locals (non-locals have none): ~5% of rows in all


def _vd(out: list | None, source: str, table: str, key, column: str, written, clean, mask, kind: str) -> None:
    """Collect value-dirt truth rows (a written value that differs from the clean one by planted dirt)."""
    if out is None:
        return
    m = np.asarray(mask, dtype=bool)
    if not m.any():
        return
    out.append(pd.DataFrame({"source": source, "source_table": table, "source_key": np.asarray(key, dtype=object)[m],
                             "column": column, "written": np.asarray(written, dtype=object)[m],
                             "clean": np.asarray(clean, dtype=object)[m], "kind": kind}))


def with_twins(df: pd.DataFrame, mask: np.ndarray, key_col: str, u: np.ndarray) -> pd.DataFrame:
    """Insert, just before each masked row, a twin whose key column differs only by dirt that cleaning removes
    (full-width digits, or a trailing space): two bronze keys, one silver key; silver keeps the later (clean) row.
    Adds ``_twin`` ('' / 'KEY_TWIN|FULLWIDTH' / 'KEY_TWIN|TRAILING_SPACE')."""
    df = df.reset_index(drop=True)
    df["_twin"] = ""
    idx = np.flatnonzero(np.asarray(mask, dtype=bool))
    if not len(idx):
        return df
    tw = df.iloc[idx].copy()
    v = tw[key_col].to_numpy().astype(object)
    full = np.asarray(u)[idx] < 0.5
    out = v.copy()
    if full.any():
        out[full] = ids.fullwidth(v[full])
    out[~full] = [x + " " for x in v[~full]]
    tw[key_col] = out
    tw["_twin"] = np.where(full, "KEY_TWIN|FULLWIDTH", "KEY_TWIN|TRAILING_SPACE")
    order = np.argsort(np.r_[np.arange(len(df)) * 2 + 1, idx * 2], kind="stable")
    return pd.concat([df, tw], ignore_index=True).iloc[order].reset_index(drop=True)


def _dirt_label(*parts) -> np.ndarray:
    out = np.full(len(parts[0]), "", dtype=object)
    for p in parts:
        p = np.asarray(p, dtype=object)
        has = p != ""
        out = np.where(has & (out != ""), out + "|" + p, np.where(has, p, out))
    return out


def _rec(table, source, key, pid, dirt_kind, superseded=False) -> pd.DataFrame:
    d = pd.DataFrame({"source": source, "source_table": table, "source_key": key, "person_id": pid, "dirt": dirt_kind,
                      "superseded_in_silver": superseded})
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
def _col(df: pd.DataFrame, name: str, default) -> np.ndarray:
    return df[name].to_numpy() if name in df else np.full(len(df), default)


def medins_person_tables(ctx: Context, P: pd.DataFrame, R: pd.DataFrame, I: pd.DataFrame, C: pd.DataFrame,
                         world: World, vd: list | None = None) -> tuple[dict, list]:
    i = R["i"].to_numpy()
    psn = R["psn_no"].to_numpy()
    ur = _col(R, "u_dirt", 1.0)
    gend = P["gend"].to_numpy()[i]
    gend_bad = (R["rec"].to_numpy() >= 1) & dirt.band(ur, 0.0, 0.02)      # a code outside the table, dup records only
    gend_trail = dirt.band(ur, 0.02, 0.024)
    gend_out = dirt.trailing_space(np.where(gend_bad, dirt.invalid_code(ur), gend), gend_trail)
    name_trail = dirt.band(ur, 0.03, 0.034)
    name_out = dirt.trailing_space(R["name_out"].to_numpy(), name_trail)
    tel_null = _col(R, "u_tel", 1.0) < TEL_NULL_RATE
    book_null = _col(R, "u_book", 1.0) < BOOK_NULL_RATE
    _vd(vd, "medins", "psn_info", psn, "gend", gend_out, gend, gend_bad, "CODE_INVALID")
    _vd(vd, "medins", "psn_info", psn, "gend", gend_out, gend, gend_trail & ~gend_bad, "CODE_TRAILING_SPACE")
    _vd(vd, "medins", "psn_info", psn, "psn_name", name_out, R["name_out"].to_numpy(), name_trail, "NAME_TRAILING_SPACE")
    psn_info = pd.DataFrame({
        "psn_no": psn,
        "psn_name": name_out,
        "gend": gend_out,
        "brdy": dirt.fmt_dates(P["brdy"].to_numpy()[i], R["compact"].to_numpy()),
        "naty": P["naty"].to_numpy()[i],
        "psn_cert_type": np.where(R["cert_dirt"].to_numpy() == "MISSING", "99", "01"),
        "certno": R["certno_out"].to_numpy(),
        "tel": dirt.null_where(R["tel_out"].to_numpy(), tel_null),
        "surv_stas": np.where(R["rec"].to_numpy() == 0, P["surv_stas"].to_numpy()[i], "1"),
        "hsreg_addr": P["hk_addr"].to_numpy()[i],
        "hsreg_admdvs": P["hk_county"].to_numpy()[i],
        "resd_addr": P["res_addr"].to_numpy()[i],
        "resd_admdvs": P["res_county"].to_numpy()[i],
        "hsreg_book_no": dirt.null_where(P["book_no"].to_numpy()[i], book_null),
        "updt_time": dirt.fmt_ts((ctx.ref - _days(300)) + np.zeros(len(R), dtype="timedelta64[D]"), R["updt_sec"].to_numpy()),
        "ext_remark": R["remark"].to_numpy(),
    })
    recs = [_rec("psn_info", "medins", R["psn_no"].to_numpy(), pid_str(R["pid"].to_numpy()),
                 _dirt_label(R["cert_dirt"].to_numpy(), R["name_dirt"].to_numpy(), np.where(R["compact"], "DATE_COMPACT", ""),
                             np.where(tel_null, "TEL_NULL", ""), np.where(book_null, "BOOK_NO_NULL", ""),
                             np.where(name_trail, "NAME_TRAILING_SPACE", ""),
                             np.where(gend_bad, "GEND_INVALID", np.where(gend_trail, "GEND_TRAILING_SPACE", ""))))]
    emp = world.emp_info
    e = I["emp_idx"].to_numpy()
    has_e = e >= 0
    compact = P["u_fmt"].to_numpy()[I["i"].to_numpy()] < 0.08
    ui = _col(I, "u_dirt", 1.0)
    ptype = I["psn_type"].to_numpy()
    # an out-of-table psn_type only where the enrollment owes nothing unpaid (so the answer does not depend on it)
    settled = (_col(I, "unpaid_months", 0) == 0) & (_col(I, "missing_months", 0) == 0)
    pt_bad = dirt.band(ui, 0.0, 0.001) & settled
    pt_trail = dirt.band(ui, 0.001, 0.004)
    pt_out = dirt.trailing_space(np.where(pt_bad, dirt.invalid_code(ui), ptype), pt_trail)
    emp_name = np.where(has_e, emp["emp_name"].to_numpy()[np.maximum(e, 0)], None)
    en_trail = dirt.band(ui, 0.004, 0.009) & has_e
    emp_name_out = dirt.trailing_space(emp_name, en_trail)
    ikey = keycat(I["psn_no"].to_numpy(), I["insutype"].to_numpy())
    _vd(vd, "medins", "psn_insu", ikey, "psn_type", pt_out, ptype, pt_bad, "CODE_INVALID")
    _vd(vd, "medins", "psn_insu", ikey, "psn_type", pt_out, ptype, pt_trail & ~pt_bad, "CODE_TRAILING_SPACE")
    _vd(vd, "medins", "psn_insu", ikey, "emp_name", emp_name_out, emp_name, en_trail, "NAME_TRAILING_SPACE")
    psn_insu = pd.DataFrame({
        "psn_no": I["psn_no"].to_numpy(), "insutype": I["insutype"].to_numpy(), "psn_type": pt_out,
        "psn_insu_stas": I["psn_insu_stas"].to_numpy(),
        "crt_insu_date": dirt.fmt_dates(I["crt_insu_date"].to_numpy(), compact),
        "paus_insu_date": dirt.fmt_dates(I["paus_insu_date"].to_numpy(), compact),
        "insu_admdvs": I["insu_admdvs"].to_numpy(),
        "emp_no": np.where(has_e, emp["emp_no"].to_numpy()[np.maximum(e, 0)], None),
        "emp_name": emp_name_out,
        "updt_time": dirt.fmt_ts(I["crt_insu_date"].to_numpy(), np.full(len(I), 10 * 3600)),
    })
    C = C[C["in_core"].to_numpy().astype(bool)] if "in_core" in C else C     # periods never assessed have no row
    paid = C["paid"].to_numpy()
    contrib = pd.DataFrame({
        "psn_no": C["psn_no"].to_numpy(), "insutype": C["insutype"].to_numpy(), "accrym": C["accrym"].astype(str).to_numpy(),
        "psn_clct_amt": dirt.fmt_money(C["psn_amt"].to_numpy()), "emp_clct_amt": dirt.fmt_money(C["emp_amt"].to_numpy()),
        "clct_flag": np.where(paid, "1", "0"),
        "clct_time": np.where(paid, dirt.fmt_ts(C["pay_date"].to_numpy(), C["pay_sec"].to_numpy()), None),
    })
    return {"psn_info": psn_info, "psn_insu": psn_insu, "contrib": contrib}, recs


def setl_tables(S: pd.DataFrame, L: pd.DataFrame, vd: list | None = None) -> dict:
    from . import vocabulary
    it = vocabulary.items()
    item = L["item"].to_numpy()
    us = _col(S, "u_dirt", 1.0)
    mt = S["med_type"].to_numpy()
    natural = (S["fraud"].to_numpy() == "") & (S["decoy"].to_numpy() == "") if "fraud" in S else np.zeros(len(S), bool)
    # out-of-table med_type on a few ordinary outpatient visits; trailing spaces on ordinary outpatient/pharmacy ones
    mt_bad = natural & (mt == "11") & dirt.band(us, 0.0, 0.0005)
    mt_trail = natural & np.isin(mt, ["11", "41"]) & dirt.band(us, 0.0005, 0.0025)
    mt_out = dirt.trailing_space(np.where(mt_bad, dirt.invalid_code(us), mt), mt_trail)
    _vd(vd, "medins", "setl", S["setl_id"].to_numpy(), "med_type", mt_out, mt, mt_bad, "CODE_INVALID")
    _vd(vd, "medins", "setl", S["setl_id"].to_numpy(), "med_type", mt_out, mt, mt_trail, "CODE_TRAILING_SPACE")
    compact = _col(S, "compact", False).astype(bool)
    setl = pd.DataFrame({
        "setl_id": S["setl_id"].to_numpy(), "mdtrt_id": S["mdtrt_id"].to_numpy(), "psn_no": S["psn_no"].to_numpy(),
        "certno": S["certno"].to_numpy(), "insutype": S["insutype"].to_numpy(), "med_type": mt_out,
        "fixmedins_code": S["fixmedins_code"].to_numpy(), "atddr_no": S["atddr_no"].to_numpy(),
        "begndate": dirt.fmt_dates(S["begn"].to_numpy(), compact), "enddate": dirt.fmt_dates(S["end"].to_numpy(), compact),
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
def police_tables(ctx: Context, P: pd.DataFrame, vd: list | None = None) -> tuple[dict, list]:
    loc = P[P["local"].to_numpy()]
    compact = loc["u_fmt2"].to_numpy() < 0.03
    ud = loc["u_dirt"].to_numpy()
    name_trail = dirt.band(ud, 0.05, 0.051)
    stas_trail = dirt.band(ud, 0.051, 0.052)
    name_out = dirt.trailing_space(loc["name"].to_numpy(), name_trail)
    stas_out = dirt.trailing_space(loc["hsreg_stas"].to_numpy(), stas_trail)
    _vd(vd, "police", "hsreg_psn", loc["certno"].to_numpy(), "psn_name", name_out, loc["name"].to_numpy(), name_trail,
        "NAME_TRAILING_SPACE")
    _vd(vd, "police", "hsreg_psn", loc["certno"].to_numpy(), "hsreg_stas", stas_out, loc["hsreg_stas"].to_numpy(), stas_trail,
        "CODE_TRAILING_SPACE")
    hs = pd.DataFrame({
        "certno": loc["certno"].to_numpy(), "psn_name": name_out, "gend": loc["gend"].to_numpy(),
        "brdy": dirt.fmt_dates(loc["brdy"].to_numpy(), compact), "naty": loc["naty"].to_numpy(),
        "hsreg_admdvs": loc["hk_county"].to_numpy(), "hsreg_addr": loc["hk_addr"].to_numpy(),
        "hsreg_book_no": loc["book_no"].to_numpy(), "hsreg_stas": stas_out,
        "cancel_date": dirt.fmt_dates(loc["cancel_date"].to_numpy(), compact),
    })
    pm = P[P["permit"].to_numpy() != ""]
    pc_ = dirt.band(pm["u_fmt2"].to_numpy(), 0.03, 0.06)
    rp = pd.DataFrame({
        "certno": pm["certno"].to_numpy(), "psn_name": pm["name"].to_numpy(), "gend": pm["gend"].to_numpy(),
        "brdy": dirt.fmt_dates(pm["brdy"].to_numpy(), pc_), "resd_admdvs": pm["res_county"].to_numpy(),
        "resd_addr": pm["res_addr"].to_numpy(), "issue_date": dirt.fmt_dates(pm["permit_issue"].to_numpy(), pc_),
        "expire_date": dirt.fmt_dates(pm["permit_expire"].to_numpy(), pc_),
    })
    recs = [_rec("hsreg_psn", "police", hs["certno"].to_numpy(), pid_str(loc["pid"].to_numpy()),
                 _dirt_label(np.where(compact, "DATE_COMPACT", ""), np.where(name_trail, "NAME_TRAILING_SPACE", ""))),
            _rec("resd_permit", "police", rp["certno"].to_numpy(), pid_str(pm["pid"].to_numpy()),
                 np.where(pc_, "DATE_COMPACT", ""))]
    return {"hsreg_psn": hs, "resd_permit": rp}, recs


def civil_tables(ctx: Context, P: pd.DataFrame, vd: list | None = None) -> tuple[dict, list]:
    d = P[np.array(["C" in s for s in P["death_src"].to_numpy()], dtype=bool)]
    compact = d["u_fmt"].to_numpy() < 0.1
    dc = pd.DataFrame({"certno": d["cert_civil"].to_numpy(), "psn_name": d["name_civil"].to_numpy(),
                       "death_date": dirt.fmt_dates(d["death_date"].to_numpy(), compact), "admdvs": d["res_county"].to_numpy()})
    a = P[P["aid_type"].to_numpy() != ""]
    a2 = a[a["aid_second"].to_numpy()]
    aa = pd.concat([a.assign(_aid=a["aid_type"]), a2.assign(_aid="4")], ignore_index=True)
    ac = dirt.band(aa["u_fmt2"].to_numpy(), 0.1, 0.15)
    ao = pd.DataFrame({"certno": aa["cert_civil"].to_numpy(), "aid_type": aa["_aid"].to_numpy(),
                       "psn_name": aa["name_civil"].to_numpy(), "admdvs": aa["hk_county"].to_numpy(),
                       "begn_date": dirt.fmt_dates(aa["aid_begin"].to_numpy(), ac),
                       "end_date": dirt.fmt_dates(aa["aid_end"].to_numpy(), ac),
                       "_pid": aa["pid"].to_numpy(),
                       "_dirt": _dirt_label(aa["cd_civil"].to_numpy(), aa["nd_civil"].to_numpy(), np.where(ac, "DATE_COMPACT", ""))})
    # silver-level repeats: the same person and aid_type again under a certno differing only by dirt
    ao = with_twins(ao, dirt.band(aa["u_dirt"].to_numpy(), 0.72, 0.74) & (aa["cd_civil"].to_numpy() == ""), "certno",
                    aa["u_fmt"].to_numpy())
    recs = [_rec("death_cremation", "civil_affairs", dc["certno"].fillna("").to_numpy(), pid_str(d["pid"].to_numpy()),
                 _dirt_label(d["cd_civil"].to_numpy(), d["nd_civil"].to_numpy(), np.where(compact, "DATE_COMPACT", ""))),
            _rec("assistance_obj", "civil_affairs", keycat(ao["certno"].fillna("").to_numpy(), ao["aid_type"].to_numpy()),
                 pid_str(ao["_pid"].to_numpy()), _dirt_label(ao["_twin"].to_numpy(), ao["_dirt"].to_numpy()),
                 ao["_twin"].to_numpy() != "")]
    return {"death_cremation": dc, "assistance_obj": ao}, recs


def tax_tables(ctx: Context, P: pd.DataFrame, C: pd.DataFrame, world: World, vd: list | None = None) -> tuple[dict, list]:
    tp, recs = taxpayer_rows(P, world)
    return {"taxpayer": tp, "medins_clct": clct_rows(P, C, world)}, recs


def taxpayer_rows(P: pd.DataFrame, world: World) -> tuple[pd.DataFrame, list]:
    """tax/taxpayer rows of the persons of ``P`` (any subset: rows depend only on each person's own columns)."""
    emp = world.emp_info
    t = P[P["taxpayer"].to_numpy() != ""]
    e1 = np.where(t["emp_idx"].to_numpy() >= 0, t["emp_idx"].to_numpy(), t["pid"].to_numpy() % len(emp))
    t2 = t[t["tax_second_emp"].to_numpy() >= 0]
    tt = pd.concat([t.assign(_e=e1), t2.assign(_e=t2["tax_second_emp"].to_numpy())], ignore_index=True)
    tt = tt.drop_duplicates(["pid", "_e"])
    tp = pd.DataFrame({"certno": tt["cert_tax"].to_numpy(), "emp_uscc": emp["uscc"].to_numpy()[tt["_e"].to_numpy()],
                       "psn_name": tt["name_tax"].to_numpy(), "last_tax_ym": tt["tax_ym"].astype(str).to_numpy(),
                       "_pid": tt["pid"].to_numpy(), "_dirt": _dirt_label(tt["cd_tax"].to_numpy(), tt["nd_tax"].to_numpy())})
    tp = with_twins(tp, dirt.band(tt["u_dirt"].to_numpy(), 0.71, 0.712) & (tt["cd_tax"].to_numpy() == ""), "certno",
                    tt["u_fmt"].to_numpy())
    recs = [_rec("taxpayer", "tax", keycat(tp["certno"].fillna("").to_numpy(), tp["emp_uscc"].to_numpy()),
                 pid_str(tp["_pid"].to_numpy()), _dirt_label(tp["_twin"].to_numpy(), tp["_dirt"].to_numpy()),
                 tp["_twin"].to_numpy() != "")]
    return tp, recs


def clct_rows(P: pd.DataFrame, C: pd.DataFrame, world: World) -> pd.DataFrame:
    """tax/medins_clct rows of the contribution periods of ``C`` that tax collected (``P``: the whole chunk,
    indexed by ``C["i"]``)."""
    emp = world.emp_info
    c = C[C["tax_amt"].to_numpy() >= 0]
    ci = c["i"].to_numpy()
    e = c["emp_idx"].to_numpy()
    mc = pd.DataFrame({"certno": P["cert_tax"].to_numpy()[ci], "insutype": c["insutype"].to_numpy(),
                       "accrym": c["accrym"].astype(str).to_numpy(), "clct_amt": dirt.fmt_money(c["tax_amt"].to_numpy()),
                       "pay_date": dirt.fmt_dates(c["pay_date"].to_numpy(), P["u_fmt"].to_numpy()[ci] < 0.1),
                       "emp_uscc": np.where(e >= 0, emp["uscc"].to_numpy()[np.maximum(e, 0)], None)})
    # a person may have two psn_no with the same insutype/month: tax keeps one row per certno×insutype×accrym
    keep = ~mc.duplicated(["certno", "insutype", "accrym"]).to_numpy()
    return mc[keep]


def health_tables(ctx: Context, P: pd.DataFrame, vd: list | None = None) -> tuple[dict, list]:
    nb_i = np.flatnonzero(P["newborn"].to_numpy())
    hh = P["hh"].to_numpy()
    first = np.searchsorted(hh, hh[nb_i])
    g = P["gend"].to_numpy()
    mother = np.where(g[first] == "2", first, first + 1)
    father = np.where(g[first] == "2", first + 1, first)
    bc, r1 = birth_cert_rows(P, nb_i, mother, father)
    dc, r2 = death_cert_rows(P)
    return {"birth_cert": bc, "death_cert": dc}, r1 + r2


def birth_cert_rows(P: pd.DataFrame, nb_i: np.ndarray, mother: np.ndarray, father: np.ndarray,
                    cert_no: np.ndarray | None = None) -> tuple[pd.DataFrame, list]:
    """health/birth_cert rows of the children at positions ``nb_i`` of ``P`` (parents at ``mother`` /
    ``father``); ``cert_no``: the certificate numbers (default: 'R' + the person's number)."""
    nb = P.iloc[nb_i]
    cert = P["certno"].to_numpy()
    # no ID number on the certificate: 15% of the children of the last year; children born in daily batches
    # until their hukou registration
    pending_id = (nb["born_day"].to_numpy() > 0) if "born_day" in nb else np.zeros(len(nb), dtype=bool)
    no_id = ((nb["u_fmt"].to_numpy() < 0.15) | pending_id) & ~nb["child_id_issued"].to_numpy()
    pid = nb["pid"].to_numpy()
    number = np.where(pid < 10**9, dirt.zcat("R", pid, 9), dirt.zcat("R", pid, 10)) if len(pid) else np.array([], dtype=object)
    bc = pd.DataFrame({
        "birth_cert_no": number.astype(object) if cert_no is None else np.asarray(cert_no, dtype=object),
        "child_name": nb["name"].to_numpy(), "gend": nb["gend"].to_numpy(),
        "brdy": dirt.fmt_dates(nb["brdy"].to_numpy(), nb["u_fmt2"].to_numpy() < 0.05),
        "mother_certno": cert[mother],
        "father_certno": np.where((nb["u_lag"].to_numpy() < 37) & (father >= 0), cert[np.maximum(father, 0)], None),
        "birth_admdvs": nb["res_county"].to_numpy(), "child_certno": np.where(no_id, None, nb["certno"].to_numpy()),
    })
    recs = [_rec("birth_cert", "health", bc["birth_cert_no"].to_numpy(), pid_str(nb["pid"].to_numpy()),
                 _dirt_label(np.where(no_id, "NO_CHILD_CERTNO", ""), np.where(nb["u_fmt2"].to_numpy() < 0.05, "DATE_COMPACT", "")))]
    return bc, recs


def death_cert_rows(P: pd.DataFrame) -> tuple[pd.DataFrame, list]:
    d = P[np.array(["H" in s for s in P["death_src"].to_numpy()], dtype=bool)]
    dc = pd.DataFrame({"certno": d["cert_health"].to_numpy(), "psn_name": d["name_health"].to_numpy(),
                       "death_date": dirt.fmt_dates(d["death_date"].to_numpy(), dirt.band(d["u_fmt2"].to_numpy(), 0.2, 0.25)),
                       "death_cause_icd10": d["death_cause"].to_numpy(),
                       "admdvs": d["res_county"].to_numpy()})
    recs = [_rec("death_cert", "health", dc["certno"].fillna("").to_numpy(), pid_str(d["pid"].to_numpy()),
                 _dirt_label(d["cd_health"].to_numpy(), d["nd_health"].to_numpy(),
                             np.where(dirt.band(d["u_fmt2"].to_numpy(), 0.2, 0.25), "DATE_COMPACT", "")))]
    return dc, recs


def hrss_tables(ctx: Context, P: pd.DataFrame, world: World, vd: list | None = None) -> tuple[dict, list]:
    p = P[P["pension_type"].to_numpy() != ""]
    e = p["emp_idx"].to_numpy()
    ud = p["u_dirt"].to_numpy()
    stas_trail = dirt.band(ud, 0.06, 0.063)
    stas_out = dirt.trailing_space(p["pension_stas"].to_numpy(), stas_trail)
    _vd(vd, "hrss", "pension_insu", keycat(p["cert_hrss"].fillna("").to_numpy(), p["pension_type"].to_numpy()), "stas",
        stas_out, p["pension_stas"].to_numpy(), stas_trail, "CODE_TRAILING_SPACE")
    pi = pd.DataFrame({"certno": p["cert_hrss"].to_numpy(), "pension_type": p["pension_type"].to_numpy(),
                       "psn_name": p["name_hrss"].to_numpy(), "stas": stas_out,
                       "admdvs": p["res_county"].to_numpy(),
                       "emp_uscc": np.where((e >= 0) & (p["pension_type"].to_numpy() != "3"),
                                            world.emp_info["uscc"].to_numpy()[np.maximum(e, 0)], None),
                       "_pid": p["pid"].to_numpy(), "_dirt": _dirt_label(p["cd_hrss"].to_numpy(), p["nd_hrss"].to_numpy())})
    # silver-level repeats: the same pension enrollment again under a certno with full-width digits or a trailing
    # space, just before the clean row (bronze: two keys; silver: one, the later clean row kept)
    pi = with_twins(pi, dirt.band(ud, 0.70, 0.703) & (p["cd_hrss"].to_numpy() == ""), "certno", p["u_fmt"].to_numpy())
    recs = [_rec("pension_insu", "hrss", keycat(pi["certno"].fillna("").to_numpy(), pi["pension_type"].to_numpy()),
                 pid_str(pi["_pid"].to_numpy()), _dirt_label(pi["_twin"].to_numpy(), pi["_dirt"].to_numpy()),
                 pi["_twin"].to_numpy() != "")]
    return {"pension_insu": pi}, recs


def national_tables(ctx: Context, P: pd.DataFrame, T: pd.DataFrame, vd: list | None = None) -> tuple[dict, list]:
    """T: person truth after batch 1 (uninsured flags); the list is sent down before the reference date."""
    on = T["in_national_list"].to_numpy()
    n = P[on]
    nu = pd.DataFrame({"certno": n["cert_national"].to_numpy(), "psn_name": n["name"].to_numpy(),
                       "hsreg_admdvs": n["hk_county"].to_numpy(), "issue_batch": "2026Q3"})
    # insured in another province: persons not enrolled here (ELSEWHERE), and cross-province duplicates of persons
    # actively enrolled here (CROSS_PROVINCE; decoys with the other province's enrollment terminated)
    el = P[P["elsewhere"].to_numpy() | P["elsewhere_dup"].to_numpy() | P["elsewhere_decoy"].to_numpy()]
    ie = pd.DataFrame({"certno": el["cert_national"].to_numpy(), "insutype": np.where(el["u_lag"].to_numpy() % 3 != 0, "310", "390"),
                       "insu_admdvs": el["elsewhere_pool"].to_numpy(),
                       "psn_insu_stas": np.where(el["elsewhere_decoy"].to_numpy(), "4", "1")})
    recs = [_rec("national_uninsured", "national", nu["certno"].to_numpy(), pid_str(n["pid"].to_numpy()), n["cd_national"].to_numpy()),
            _rec("insured_elsewhere", "national", keycat(ie["certno"].to_numpy(), ie["insutype"].to_numpy()),
                 pid_str(el["pid"].to_numpy()), el["cd_national"].to_numpy())]
    return {"national_uninsured": nu, "insured_elsewhere": ie}, recs
