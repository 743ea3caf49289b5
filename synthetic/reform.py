"""Contract section 6 (version 2): payment reform, prices, medical assistance and fund finance.

What the generator adds to a province when it writes contract version 2:

- the fund shares of a settlement (``setl`` added columns): 居民大病保险 (hifmi_pay) on residents' large inpatient
  bills, 职工大额医疗补助 (hifob_pay) on employees' ones, 公务员医疗补助 (cvlserv_pay) for employees of government
  bodies, 医疗救助 (maf_pay) paid in one-stop settlement for assistance beneficiaries at networked institutions,
  and a few other payments (oth_pay).  hifp_pay and acct_pay are those of contract version 1; the shares are
  taken out of psn_cash_pay, never below the full self-paid amount;
- ``setl_list`` (one per inpatient settlement) with CHS-DRG and DIP groups, ``drg_group`` / ``dip_group`` with
  averages of the generated cases, ``med_list`` (the vocabulary's catalogue attributes), ``vbp_purchase``,
  ``fund_payment`` and ``bank_stmt`` (three-party reconciliation), civil affairs ``assistance_pay``;
- planted answers (``_truth``): DRG upcoding with decoys, prices above the ceiling, institutions behind their
  集采 volumes, reconciliation differences on both sides, duplicate assistance payments.

Every draw comes from streams of its own (``[seed, chunk, 6]`` per chunk, ``[seed, 7_000_0xx]`` for the
province), so contract version 1 writes exactly the bytes it wrote before this module existed.  Per-chunk work
returns small accumulators (per group, per institution-month); the province tables are built from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache

import numpy as np
import pandas as pd

from . import dirt, vocabulary
from .population import _days, ym_of

CONTRACT_VERSION = 2          # the default: sections 1-2 and 6
INPATIENT = vocabulary.INPATIENT
SHARE_COLS = ("hifmi", "hifob", "cvlserv", "maf", "oth")          # latent (cents) → setl hifmi_pay, ...

# ------------------------------------------------------------------------------------------- fund shares
HIFMI_LINE = 150_000          # cents: 大病保险 pays a resident's policy-range burden of an inpatient bill above it
HIFMI_RATIO = 0.6
HIFOB_LINE = 100_000          # cents: 大额医疗补助 pays an employee's burden of an inpatient bill above it
HIFOB_RATIO = 0.8
CVLSERV_RATIO = 0.5           # 公务员医疗补助: share of the remaining burden
CVLSERV_EMP_TYPES = ("30",)   # employers that are government bodies (机关)
CVLSERV_OUTPATIENT_P = 0.2    # civil servants' outpatient settlements with a supplement (inpatient: always)
MAF_RATIO = {"1": 0.9, "2": 0.7, "3": 0.6, "4": 0.5}     # 医疗救助 by aid type (特困 / 低保 / 低收入 / 防返贫)
MAF_ONE_STOP_AIDS = ("1", "2")                             # settled one-stop at networked institutions
MAF_MED_TYPES = ("21", "52", "14", "11")                  # inpatient, maternity, chronic disease, outpatient (门诊救助)
OTH_P = 0.01                  # inpatient settlements with another payment (医院减免, 慈善救助)
OTH_RATIO = 0.2
NETWORKED_LEVEL1_P = 0.7      # level-1 hospitals in the one-stop network (levels 2 and 3: all)
MANUAL_CLAIM_P = 0.8          # beneficiaries who claim manual assistance when the settlement had none

# ------------------------------------------------------------------------------------------- DRG / DIP
# ADRG (CHS-DRG 1.1 style): code, name, severity split (1 / 3 / 5) or not (9)
ADRG = {
    "ES2": ("呼吸系统感染/炎症", True), "ET2": ("慢性气道阻塞病", True), "ER1": ("呼吸系统肿瘤", True),
    "BR2": ("脑缺血性疾患", True), "FR3": ("冠状动脉粥样硬化性心脏病", True), "HS2": ("胆道疾患", True),
    "GZ1": ("其他消化系统诊断", True), "IR2": ("股骨、髋关节骨折", True), "HC3": ("胆囊切除手术", True),
    "GD2": ("阑尾切除术", True), "CB3": ("晶状体手术", False), "LB1": ("经尿道前列腺手术", False),
    "OB1": ("剖宫产术", False), "OF1": ("阴道分娩", False),
}
SEVERITY = {"1": "伴严重并发症或合并症", "3": "伴一般并发症或合并症", "5": "不伴并发症或合并症", "9": ""}
# relative weights (RW) of the groups: mean cost of the group's cases in a calibration year / 0.87 x the mean of all
# cases (the province costs a little less than the national base)
WEIGHTS = {
    "BR21": 1.33, "BR23": 0.79, "BR25": 0.43, "CB39": 2.43, "ER11": 1.27, "ER13": 0.77, "ER15": 0.45, "ES21": 1.45,
    "ES23": 0.86, "ES25": 0.47, "ET21": 1.38, "ET23": 0.80, "ET25": 0.43, "FR31": 1.32, "FR33": 0.82, "FR35": 0.46,
    "GD21": 2.01, "GD23": 1.49, "GD25": 1.13, "GZ11": 1.33, "GZ13": 0.81, "GZ15": 0.45, "HC31": 2.68, "HC33": 2.21,
    "HC35": 1.77, "HS21": 1.20, "HS23": 0.82, "HS25": 0.43, "IR21": 1.38, "IR23": 0.80, "IR25": 0.44, "LB19": 2.73,
    "OB19": 1.83, "OF19": 1.10,
}
# main diagnosis → (ADRG of a medical stay, Chinese name for DIP)
DIAGNOSIS = {
    "J18.900": ("ES2", "肺炎"), "J44.100": ("ET2", "慢性阻塞性肺病伴急性加重"), "C34.900": ("ER1", "肺恶性肿瘤"),
    "I63.900": ("BR2", "脑梗死"), "I25.100": ("FR3", "动脉硬化性心脏病"), "K80.200": ("HS2", "胆囊结石"),
    "K35.800": ("GZ1", "急性阑尾炎"), "S72.000": ("IR2", "股骨颈骨折"), "O80.000": ("OF1", "单胎顺产"),
    "O82.000": ("OB1", "剖宫产单胎分娩"),
}
# billed operation item → (ICD-9-CM-3 医保版 2.0 code, ADRG, operation name for DIP)
OPERATIONS = {
    "003310010010000": ("47.0900", "GD2", "阑尾切除术"),
    "003311040010000": ("51.2300", "HC3", "腹腔镜下胆囊切除术"),
    "003304020010000": ("13.4100", "CB3", "白内障超声乳化抽吸术"),
    "003313020080000": ("60.2900", "LB1", "经尿道前列腺切除术"),
    "003314010010000": ("74.1x00", "OB1", "子宫下段剖宫产术"),
    "003314000020000": ("73.5900", "OF1", "手法助产"),
}
# severity (complications and comorbidities, which the generator does not write) follows the stay's cost relative
# to the ADRG's median cost (cents, of a calibration year): medical >= 1.45 x median 1, >= 0.85 x median 3, else 5;
# surgical (narrower: the operation is most of the cost) >= 1.2 x and >= 0.95 x
ADRG_MEDIAN = {"ES2": 127_700, "ET2": 116_400, "ER1": 115_300, "BR2": 116_600, "FR3": 118_600, "HS2": 119_300,
               "GZ1": 120_800, "IR2": 115_000, "HC3": 345_000, "GD2": 230_500, "CB3": 378_000, "LB1": 420_000,
               "OB1": 280_300, "OF1": 168_100}
SEV_COST = {"medical": (1.45, 0.85), "surgical": (1.2, 0.95)}
SURGICAL = ("HC3", "GD2")
# high-weight groups planted upcoding cases are coded into: 2-day stays, 3-day stays (a group with longer stays);
# decoys (stays of a week and more)
UPCODING_TARGETS = {"hit2": ("CB39", "HC33"), "hit3": ("GD21", "HC31"), "decoy": ("HC33", "CB39", "HC31")}
GROUP_PRIOR_CASES = 3         # pseudo-cases of the group's standard in its yearly averages (stable in small provinces)
UPCODING_MIN_WEIGHT = 2.0     # the team's definition (SPEC): weight >= 2.0, cost < 0.4 x avg, days < 0.5 x avg
UPCODING_COST_RATIO = 0.4
UPCODING_DAYS_RATIO = 0.5
DSCG_WAY = (("2", 0.03), ("3", 0.02), ("4", 0.02), ("9", 0.005))     # others 1 (医嘱离院); death → 5

# ------------------------------------------------------------------------------------------- prices and 集采
CEILING_MARKUP = {"1": 1.10, "3": 1.15, "2": 1.0}   # by list_type: drugs, materials, items (level-1 price)
OVERCHARGE_ITEMS = ("001102000010000", "001204000010000", "002501010010000", "XB05XAL086B002010100234",
                    "001101000030000", "002503030010000")   # common lines an institution bills above the ceiling
OVERCHARGE_FACTOR = (1.2, 1.6)
CLASS_C_FUND_SHARE = 0.03     # hospitals that leave 丙类 (目录外) lines out of the full self-pay (the fund pays them)
VBP_PRICE_SHARE = 0.95        # purchase price / list price of a 集采 item
VBP_UNDER = (0.3, 0.5)        # planted progress of institutions behind their agreed volumes
VBP_NORMAL = (1.0, 1.1)


def _k(n: int, rate: float, chunk: int) -> int:
    """Planted cases per chunk: scaled with the chunk's persons, at least 3 in chunk 0 and 1 elsewhere."""
    return max(3 if chunk == 0 else 1, int(round(n * rate)))


# ------------------------------------------------------------------------------------------- catalogue
@lru_cache(maxsize=1)
def med_list() -> pd.DataFrame:
    """医保目录 rows of every vocabulary item (every med_list_codg fee_list can carry), with ceilings in cents."""
    it = vocabulary.items()
    chrg = it["chrgitm"].to_numpy()
    ltype = np.where(np.isin(chrg, ["09", "10", "11"]), "1", np.where(chrg == "08", "3", "2"))
    code = it["code"].to_numpy()
    lv = np.array([vocabulary.CHRGITM_LV.get(c, "1") for c in code], dtype=object)
    markup = np.vectorize(CEILING_MARKUP.get)(ltype)
    ceil = np.round(it["price_cents"].to_numpy() * markup).astype(np.int64)
    ceil = np.where(np.isin(code, list(vocabulary.NO_CEILING)), -1, ceil)
    return pd.DataFrame({"med_list_codg": code, "list_name": it["name"].to_numpy(), "list_type": ltype.astype(object),
                         "chrgitm_lv": lv, "ceiling": ceil,
                         "gend_lmt": np.where(it["gend_only"].to_numpy() == "", None, it["gend_only"].to_numpy()),
                         "vbp_flag": np.where(np.isin(code, list(vocabulary.VBP_CODES)), "1", "0").astype(object)})


def med_list_table() -> pd.DataFrame:
    m = med_list()
    ceil = m["ceiling"].to_numpy()
    up = dirt.fmt_money(np.maximum(ceil, 0))
    return m.drop(columns=["ceiling"]).assign(pric_uplmt=np.where(ceil < 0, None, up))


# ------------------------------------------------------------------------------------------- province plan
@dataclass
class Plan:
    networked: np.ndarray        # per institution: in the one-stop medical-assistance network
    over_key: np.ndarray         # sorted inst * 1000 + item of (institution, item) billed above the ceiling
    over_pric: np.ndarray        # the price billed there (cents)
    class_c_fund: np.ndarray     # per institution: bills 丙类 lines into the fund's range instead of 全自费


_PLAN: dict = {}


def plan(world, seed: int) -> Plan:
    """The province-level choices (same in every worker): networked institutions, overcharging institutions."""
    key = (id(world), seed)
    if key not in _PLAN:
        _PLAN.clear()
        rng = np.random.default_rng([seed, 7_000_010])
        fm = world.fixmedins
        lv = fm["hosp_lv"].to_numpy()
        hosp = fm["fixmedins_type"].to_numpy() == "1"
        networked = hosp & ((lv != "1") | (rng.random(len(fm)) < NETWORKED_LEVEL1_P))
        cand = np.flatnonzero(hosp & np.isin(lv, ["1", "2", "3"]))
        k = min(len(cand), max(3, int(round(len(cand) * 0.04))))
        insts = rng.choice(cand, size=k, replace=False)
        ml = med_list()
        keys, prices = [], []
        for j in insts:
            items = rng.choice(len(OVERCHARGE_ITEMS), size=int(rng.integers(1, 3)), replace=False)
            for c in np.asarray(OVERCHARGE_ITEMS)[items]:
                ii = vocabulary.item_index(c)
                keys.append(int(j) * 1000 + ii)
                prices.append(int(np.ceil(ml["ceiling"].to_numpy()[ii] * rng.uniform(*OVERCHARGE_FACTOR))))
        order = np.argsort(keys)
        # a stream of its own, so that adding this plan changed none of the choices above
        rng_c = np.random.default_rng([seed, 7_000_011])
        class_c_fund = np.zeros(len(fm), dtype=bool)
        class_c_fund[rng_c.choice(cand, size=min(len(cand), max(3, int(round(len(cand) * CLASS_C_FUND_SHARE)))),
                                  replace=False)] = True
        _PLAN[key] = Plan(networked, np.asarray(keys, dtype=np.int64)[order], np.asarray(prices, dtype=np.int64)[order],
                          class_c_fund)
    return _PLAN[key]


def overcharged(pric: np.ndarray, inst: np.ndarray, item: np.ndarray, p: Plan) -> np.ndarray:
    """Line prices with the planted overcharging applied (an institution's price of an item above its ceiling)."""
    if len(p.over_key) == 0 or len(pric) == 0:
        return pric
    key = inst.astype(np.int64) * 1000 + item.astype(np.int64)
    pos = np.minimum(np.searchsorted(p.over_key, key), len(p.over_key) - 1)
    hit = p.over_key[pos] == key
    return np.where(hit, p.over_pric[pos], pric)


def class_c_lines(item: np.ndarray) -> np.ndarray:
    """Fee lines of a 丙类 (目录外) item (chrgitm_lv 3): the insured person pays them in full (全自费)."""
    lv = med_list()["chrgitm_lv"].to_numpy()
    return lv[item] == "3" if len(item) else np.zeros(0, dtype=bool)


def class_c_self_paid(inst: np.ndarray, item: np.ndarray, p: Plan | None) -> np.ndarray:
    """Fee lines counted in the settlement's full self-pay because their item is 丙类, except at the institutions
    the plan has bill them into the fund's range (the planted 丙类纳入基金支付 cases)."""
    c = class_c_lines(item)
    return c if p is None else c & ~p.class_c_fund[inst.astype(np.int64)]


def class_c_fund_paid(S: pd.DataFrame, L: pd.DataFrame, counted: np.ndarray) -> pd.DataFrame:
    """Every counted settlement whose 丙类 lines add up to more than its full self-pay (truth class_c_fund)."""
    c = class_c_lines(L["item"].to_numpy())
    c_amt = np.bincount(L["s"].to_numpy(), weights=np.where(c, L["amt"].to_numpy(), 0), minlength=len(S))
    bad = counted & (c_amt > S["ownpay"].to_numpy())
    return pd.DataFrame({"setl_id": S["setl_id"].to_numpy()[bad]})


# ------------------------------------------------------------------------------------------- fund shares
def beneficiary_aid(S: pd.DataFrame, P: pd.DataFrame) -> np.ndarray:
    """Aid type of the person on the settlement's end date ('' when not an active beneficiary)."""
    i = S["i"].to_numpy().astype(np.int64)
    aid = P["aid_type"].to_numpy()[i]
    end = S["end"].to_numpy().astype("datetime64[D]")
    b = P["aid_begin"].to_numpy().astype("datetime64[D]")[i]
    e = P["aid_end"].to_numpy().astype("datetime64[D]")[i]
    ok = (aid != "") & ~np.isnat(b) & (b <= end) & (np.isnat(e) | (e >= end))
    return np.where(ok, aid, "").astype(object)


def fund_shares(rng, S: pd.DataFrame, P: pd.DataFrame, world, p: Plan) -> None:
    """Add the section-6 fund shares (cents) to the settlements of ``S`` and take them out of ``cash``; also
    ``maf_due``: the assistance a beneficiary may claim manually when the settlement carried none."""
    n = len(S)
    mt = S["med_type"].to_numpy()
    insutype = S["insutype"].to_numpy()
    inst = S["inst"].to_numpy().astype(np.int64)
    ip = np.isin(mt, INPATIENT)
    room = (S["cash"].to_numpy() - S["ownpay"].to_numpy()).astype(np.int64)      # policy-range personal burden
    u = rng.random((3, n)) if n else np.zeros((3, 0))
    hifmi = np.where(ip & (insutype == "390"), np.floor(np.maximum(room - HIFMI_LINE, 0) * HIFMI_RATIO), 0).astype(np.int64)
    hifob = np.where(ip & (insutype == "310"), np.floor(np.maximum(room - HIFOB_LINE, 0) * HIFOB_RATIO), 0).astype(np.int64)
    room = room - hifmi - hifob
    emp = P["emp_idx"].to_numpy()[S["i"].to_numpy().astype(np.int64)]
    etype = np.where(emp >= 0, world.emp_info["emp_type"].to_numpy()[np.maximum(emp, 0)], "")
    civil = (insutype == "310") & np.isin(etype, CVLSERV_EMP_TYPES) & (ip | (u[0] < CVLSERV_OUTPATIENT_P))
    cvl = np.where(civil, np.floor(room * CVLSERV_RATIO), 0).astype(np.int64)
    room = room - cvl
    aid = beneficiary_aid(S, P)
    ratio = np.array([MAF_RATIO.get(a, 0.0) for a in aid]) if n else np.zeros(0)
    local = S["mdtrt_admdvs"].to_numpy() == S["insu_pool"].to_numpy() if "mdtrt_admdvs" in S else np.ones(n, bool)
    eligible = (aid != "") & np.isin(mt, MAF_MED_TYPES) & (room > 0)
    one_stop = eligible & np.isin(aid, MAF_ONE_STOP_AIDS) & p.networked[inst] & local
    due = np.floor(room * ratio).astype(np.int64)
    maf = np.where(one_stop, due, 0)
    room = room - maf
    oth = np.where(ip & (u[1] < OTH_P), np.floor(room * OTH_RATIO), 0).astype(np.int64)
    S["hifmi"], S["hifob"], S["cvlserv"], S["maf"], S["oth"] = hifmi, hifob, cvl, maf, oth
    S["cash"] = S["cash"].to_numpy() - hifmi - hifob - cvl - maf - oth
    S["maf_due"] = np.where(eligible & ~one_stop & (u[2] < MANUAL_CLAIM_P), due, 0)
    S["aid"] = aid


def with_shares(setl: pd.DataFrame, S: pd.DataFrame | None) -> pd.DataFrame:
    """setl rows (built from ``S`` in the same order) with the added columns; ``S`` None: zero shares."""
    from yibao.contract import SETL_FUND_SHARES
    for col, lat in zip(SETL_FUND_SHARES, SHARE_COLS):
        v = S[lat].to_numpy() if S is not None and lat in S else np.zeros(len(setl), dtype=np.int64)
        setl[col] = dirt.fmt_money(v)
    return setl


# ------------------------------------------------------------------------------------------- setl_list
def _severity(cost: np.ndarray, adrg: np.ndarray) -> np.ndarray:
    med = np.array([ADRG_MEDIAN[a] for a in adrg], dtype=float) if len(adrg) else np.zeros(0)
    surg = np.isin(adrg, SURGICAL)
    s1 = np.where(surg, SEV_COST["surgical"][0], SEV_COST["medical"][0])
    s3 = np.where(surg, SEV_COST["surgical"][1], SEV_COST["medical"][1])
    r = cost / med
    return np.where(r >= s1, "1", np.where(r >= s3, "3", "5")).astype(object)


def drg_of(adrg: np.ndarray, sev: np.ndarray) -> np.ndarray:
    split = np.array([ADRG[a][1] for a in adrg], dtype=bool) if len(adrg) else np.zeros(0, bool)
    return np.char.add(adrg.astype("U3"), np.where(split, sev, "9").astype("U1")).astype(object)


def setl_list(rng, S: pd.DataFrame, L: pd.DataFrame, P: pd.DataFrame, world, cap: np.datetime64) -> pd.DataFrame:
    """One 结算清单 per inpatient settlement of ``S`` with refd 0, with latent columns (``_row`` = row of S,
    ``_year``, ``_cost``, ``_level``).  ``cap``: the latest submission date (the extract)."""
    rows = np.flatnonzero(np.isin(S["med_type"].to_numpy(), INPATIENT) & (S["refd"].to_numpy() == "0"))
    m = len(rows)
    it = vocabulary.items()
    codes = it["code"].to_numpy()
    # the stay's operation: its most expensive billed operation item
    op_item = np.flatnonzero(np.isin(codes, list(OPERATIONS)))
    lines = L[np.isin(L["item"].to_numpy(), op_item)]
    pos = pd.Series(np.arange(m), index=rows)
    oprn = np.full(m, None, dtype=object)
    adrg = np.array([DIAGNOSIS.get(d, ("GZ1", ""))[0] for d in S["dise"].to_numpy()[rows]], dtype=object)
    oname = np.full(m, "", dtype=object)
    if len(lines):
        lines = lines.assign(_p=it["price_cents"].to_numpy()[lines["item"].to_numpy()])
        lines = lines[lines["s"].isin(rows)].sort_values(["s", "_p"], ascending=[True, False]).drop_duplicates("s")
        j = pos.reindex(lines["s"].to_numpy()).to_numpy().astype(np.int64)
        ops = [OPERATIONS[c] for c in codes[lines["item"].to_numpy()]]
        oprn[j] = [o[0] for o in ops]
        adrg[j] = [o[1] for o in ops]
        oname[j] = [o[2] for o in ops]
    begn = S["begn"].to_numpy().astype("datetime64[D]")[rows]
    end = S["end"].to_numpy().astype("datetime64[D]")[rows]
    days = np.maximum((end - begn).astype(np.int64), 1)
    level = world.fixmedins["hosp_lv"].to_numpy()[S["inst"].to_numpy().astype(np.int64)[rows]]
    drg = drg_of(adrg, _severity(S["medfee"].to_numpy()[rows], adrg))
    dise = S["dise"].to_numpy()[rows]
    dip = np.array([f"{d[:5]}-{o[:5] if o else 'C'}" for d, o in zip(dise, oprn)], dtype=object)
    dip_name = np.array([f"{DIAGNOSIS.get(d, ('', d))[1]}({n or '保守治疗'})" for d, n in zip(dise, oname)], dtype=object)
    i = S["i"].to_numpy().astype(np.int64)[rows]
    dd = P["death_date"].to_numpy().astype("datetime64[D]")[i]
    u = rng.random(m)
    way = np.full(m, "1", dtype=object)
    lo = 0.0
    for code, share in DSCG_WAY:
        way[(u >= lo) & (u < lo + share)] = code
        lo += share
    way[~np.isnat(dd) & (dd == end)] = "5"
    sbmt = np.minimum(end + _days(rng.integers(1, 11, m)), np.maximum(cap, end))
    return pd.DataFrame({
        "setl_id": S["setl_id"].to_numpy()[rows], "main_dise_codg": dise, "main_oprn_codg": oprn, "ipt_days": days,
        "dscg_way": way, "drg_codg": drg, "dip_codg": dip, "list_sbmt_date": dirt.fmt_dates(sbmt),
        "_row": rows, "_year": end.astype("datetime64[Y]").astype(np.int64) + 1970, "_cost": S["medfee"].to_numpy()[rows],
        "_level": level, "_dip_name": dip_name, "_adrg": adrg,
        "_natural": ((S["fraud"].to_numpy() == "") & (S["decoy"].to_numpy() == ""))[rows], "_up": np.zeros(m, dtype=bool)})


def written_setl_list(SL: pd.DataFrame) -> pd.DataFrame:
    out = SL[[c for c in SL.columns if not c.startswith("_")]].copy()
    out["ipt_days"] = out["ipt_days"].astype(str)
    return out


def plant_upcoding(rng, ctx, SL: pd.DataFrame, eligible: np.ndarray) -> pd.DataFrame:
    """高套分组: a few short, cheap medical stays coded with an operation that was never billed, which puts them in a
    high-weight surgical group (weight >= 2); decoys: cheap medical stays of normal length coded the same way (low
    cost, but not a short stay: not upcoding by the team's definition).  Returns the candidates (setl_id, kind,
    year, drg_codg, cost, days), judged against the province's group averages at the end."""
    medical = SL["main_oprn_codg"].isna().to_numpy() & SL["_natural"].to_numpy() & eligible
    days = SL["ipt_days"].to_numpy()
    cost = SL["_cost"].to_numpy()
    k = _k(ctx.n, 0.0005, ctx.chunk)
    by_adrg = {v[1]: (v[0], c, v[2]) for c, v in OPERATIONS.items()}
    out = []
    for kind, mask in (("upcoding", medical & (days <= 3)), ("decoy", medical & (days >= 8))):
        cand = np.flatnonzero(mask)
        if len(cand) == 0:
            continue
        cand = cand[np.lexsort((cost[cand], days[cand]))][: 3 * k]         # the shortest, then cheapest stays
        sel = np.sort(rng.choice(cand, size=min(k, len(cand)), replace=False))
        if kind == "upcoding":
            t2, t3 = UPCODING_TARGETS["hit2"], UPCODING_TARGETS["hit3"]
            groups = np.array([t2[j % len(t2)] if d <= 2 else t3[j % len(t3)] for j, d in enumerate(days[sel])], dtype=object)
        else:
            td = UPCODING_TARGETS["decoy"]
            groups = np.array([td[j % len(td)] for j in range(len(sel))], dtype=object)
        oprn = np.array([by_adrg[g[:3]][0] for g in groups], dtype=object)
        names = np.array([by_adrg[g[:3]][2] for g in groups], dtype=object)
        ix = SL.index[sel]
        dise = SL["main_dise_codg"].to_numpy()[sel]
        SL.loc[ix, "drg_codg"] = groups
        SL.loc[ix, "_up"] = True
        SL.loc[ix, "main_oprn_codg"] = oprn
        SL.loc[ix, "dip_codg"] = [f"{d[:5]}-{o[:5]}" for d, o in zip(dise, oprn)]
        SL.loc[ix, "_dip_name"] = [f"{DIAGNOSIS.get(d, ('', d))[1]}({nm})" for d, nm in zip(dise, names)]
        out.append(pd.DataFrame({"setl_id": SL["setl_id"].to_numpy()[sel], "kind": kind, "year": SL["_year"].to_numpy()[sel],
                                 "drg_codg": groups, "cost": cost[sel], "days": days[sel]}))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=["setl_id", "kind", "year", "drg_codg", "cost", "days"])


def group_acc(SL: pd.DataFrame, counted: np.ndarray) -> dict:
    """Sums per (year, drg) and (year, dip) of the counted cases, for the group tables (DRG: the genuine cases,
    not the planted upcoding cases and decoys)."""
    c = SL[counted]
    drg = c[~c["_up"].to_numpy()].groupby(["_year", "drg_codg"]).agg(n=("_cost", "size"), cost=("_cost", "sum"), days=("ipt_days", "sum"))
    dip = c.groupby(["_year", "dip_codg", "_dip_name"]).agg(n=("_cost", "size"), cost=("_cost", "sum"))
    return {"drg": drg.reset_index(), "dip": dip.reset_index()}


def drg_group_table(acc: pd.DataFrame, years: list[int]) -> pd.DataFrame:
    """Every group for every year: weight (policy), avg_cost / avg_days = the mean of the year's genuine cases,
    shrunk towards the group's standard by GROUP_PRIOR_CASES pseudo-cases (standard cost: weight x the province's
    cost per unit of weight; standard stay: the mean stay of the groups of the same severity)."""
    a = acc.groupby(["_year", "drg_codg"])[["n", "cost", "days"]].sum()
    w_of = np.array([WEIGHTS.get(g, 1.0) for g in a.index.get_level_values(1)])
    per_w = a["cost"].sum() / float((w_of * a["n"]).sum()) if len(a) else 150_000.0
    sev = a.groupby(a.index.get_level_values(1).str[3])[["n", "days"]].sum()
    mean_days = a["days"].sum() / a["n"].sum() if len(a) else 7.0
    rows = []
    for y in years:
        for g, w in WEIGHTS.items():
            name = ADRG[g[:3]][0] + ("，" + SEVERITY[g[3]] if SEVERITY[g[3]] else "")
            n, cost, days = (a.loc[(y, g)].tolist() if (y, g) in a.index else (0, 0, 0))
            std_days = sev.loc[g[3], "days"] / sev.loc[g[3], "n"] if g[3] in sev.index else mean_days
            m0 = GROUP_PRIOR_CASES
            rows.append({"year": str(y), "drg_codg": g, "drg_name": name, "weight": f"{w:.4f}",
                         "avg_days": f"{(days + m0 * std_days) / (n + m0):.2f}",
                         "avg_cost": f"{(cost + m0 * w * per_w) / (n + m0) / 100:.2f}"})
    return pd.DataFrame(rows)


def dip_group_table(acc: pd.DataFrame) -> pd.DataFrame:
    """DIP groups of each year: score = the group's mean cost / the year's mean cost per case x 1000."""
    a = acc.groupby(["_year", "dip_codg", "_dip_name"])[["n", "cost"]].sum().reset_index()
    mean = a.groupby("_year")["cost"].transform("sum") / a.groupby("_year")["n"].transform("sum")
    score = a["cost"] / a["n"] / mean * 1000
    return pd.DataFrame({"year": a["_year"].astype(str), "dip_codg": a["dip_codg"], "dip_name": a["_dip_name"],
                         "score": score.map(lambda v: f"{v:.2f}")}).sort_values(["year", "dip_codg"], ignore_index=True)


def upcoding_truth(cands: pd.DataFrame, groups: pd.DataFrame) -> pd.DataFrame:
    """The planted cases (hits and decoys) that meet the team's definition against the delivered group table."""
    g = groups.assign(year=groups["year"].astype(int), weight=groups["weight"].astype(float),
                      avg_cost=groups["avg_cost"].astype(float), avg_days=groups["avg_days"].astype(float))
    c = cands.merge(g, on=["year", "drg_codg"], how="left")
    hit = ((c["weight"] >= UPCODING_MIN_WEIGHT) & (c["cost"] / 100 < UPCODING_COST_RATIO * c["avg_cost"])
           & (c["days"] < UPCODING_DAYS_RATIO * c["avg_days"]))
    return pd.DataFrame({"setl_id": c.loc[hit, "setl_id"].astype(str).to_numpy()}).sort_values("setl_id", ignore_index=True)


# ------------------------------------------------------------------------------------------- per-chunk accumulators
def owed(S: pd.DataFrame, counted: np.ndarray) -> pd.DataFrame:
    """What counted settlements say the fund owes each institution (hifp + acct, cents) per region, insutype and
    settlement month."""
    c = S[counted]
    return (pd.DataFrame({"admdvs": c["insu_pool"].to_numpy(), "insutype": c["insutype"].to_numpy(),
                          "fixmedins_code": c["fixmedins_code"].to_numpy(),
                          "ym": ym_of(c["end"].to_numpy().astype("datetime64[D]")),
                          "amount": (c["hifp"].to_numpy() + c["acct"].to_numpy()).astype(np.int64)})
            .groupby(["admdvs", "insutype", "fixmedins_code", "ym"], as_index=False)["amount"].sum())


def vbp_usage(S: pd.DataFrame, L: pd.DataFrame, counted: np.ndarray) -> pd.DataFrame:
    """Billed quantities of 集采 items per institution (the base of the agreed volumes)."""
    ml = med_list()
    vbp = np.flatnonzero(ml["vbp_flag"].to_numpy() == "1")
    ok = np.isin(L["item"].to_numpy(), vbp) & counted[L["s"].to_numpy()]
    x = L[ok]
    return (pd.DataFrame({"fixmedins_code": S["fixmedins_code"].to_numpy()[x["s"].to_numpy()], "item": x["item"].to_numpy(),
                          "qty": x["cnt"].to_numpy().astype(np.int64)})
            .groupby(["fixmedins_code", "item"], as_index=False)["qty"].sum())


def price_violations(S: pd.DataFrame, L: pd.DataFrame, counted: np.ndarray) -> pd.DataFrame:
    """Every fee line of a counted settlement billed above its item's ceiling (truth price_violation)."""
    ceil = med_list()["ceiling"].to_numpy()[L["item"].to_numpy()]
    bad = (ceil >= 0) & (L["pric"].to_numpy() > ceil) & counted[L["s"].to_numpy()]
    return pd.DataFrame({"feedetl_sn": L["feedetl_sn"].to_numpy()[bad], "setl_id": L["setl_id"].to_numpy()[bad]})


# ------------------------------------------------------------------------------------------- assistance_pay
def assistance(rng, ctx, S: pd.DataFrame, P: pd.DataFrame, candidates: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Manual medical-assistance payments (手工报销) of the chunk's beneficiaries whose settlement carried no
    maf_pay, plus planted duplicates: a manual payment of a settlement already paid one-stop, and a second
    manual payment of the same settlement.  ``candidates``: settlements that may be paid (counted, delivered).
    Returns (assistance_pay rows, truth assistance_duplicate)."""
    ref = ctx.ref
    end = S["end"].to_numpy().astype("datetime64[D]")
    n = len(S)
    manual = candidates & (S["maf_due"].to_numpy() > 0)
    pay = end + _days(rng.integers(15, 61, n))
    rows = [pd.DataFrame({"s": np.flatnonzero(manual & (pay < ref)), "kind": ""})]
    rows[0]["pay"] = pay[rows[0]["s"].to_numpy()]
    rows[0]["amt"] = S["maf_due"].to_numpy()[rows[0]["s"].to_numpy()]
    k = _k(ctx.n, 0.0003, ctx.chunk)
    # a settlement paid one-stop, paid again by hand
    old = candidates & (end < ref - _days(20))
    cand = np.flatnonzero(old & (S["maf"].to_numpy() > 0))
    sel = np.sort(rng.choice(cand, size=min(k, len(cand)), replace=False)) if len(cand) else cand
    room = (ref - end[sel]).astype(np.int64)            # >= 20 days: paid 10 days after the settlement or later
    rows.append(pd.DataFrame({"s": sel, "kind": "ONE_STOP_AND_MANUAL", "pay": end[sel] + _days(rng.integers(10, np.minimum(room, 61))),
                              "amt": S["maf"].to_numpy()[sel]}))
    # a manual payment made twice
    first = rows[0]
    cand = np.flatnonzero(first["pay"].to_numpy() < ref - _days(10))
    sel = np.sort(rng.choice(cand, size=min(k, len(cand)), replace=False)) if len(cand) else cand
    f = first.iloc[sel]
    gap = np.maximum((ref - f["pay"].to_numpy().astype("datetime64[D]")).astype(np.int64) - 1, 4)
    later = f["pay"].to_numpy().astype("datetime64[D]") + _days(rng.integers(3, np.minimum(gap, 41)))
    rows.append(pd.DataFrame({"s": f["s"].to_numpy(), "kind": "MANUAL_TWICE", "pay": later, "amt": f["amt"].to_numpy()}))
    A = pd.concat(rows, ignore_index=True)
    A["pay"] = A["pay"].to_numpy().astype("datetime64[D]")
    A = A.sort_values(["pay", "s"], kind="stable", ignore_index=True)
    s = A["s"].to_numpy().astype(np.int64)
    i = S["i"].to_numpy().astype(np.int64)[s]
    A["pay_id"] = dirt.zcat(f"AP{ctx.chunk:05d}", np.arange(len(A)), 7)
    df = pd.DataFrame({"pay_id": A["pay_id"].to_numpy(), "certno": P["cert_civil"].to_numpy()[i],
                       "aid_type": S["aid"].to_numpy()[s], "setl_id": S["setl_id"].to_numpy()[s],
                       "amount": dirt.fmt_money(A["amt"].to_numpy()), "pay_date": dirt.fmt_dates(A["pay"].to_numpy()),
                       "admdvs": P["hk_county"].to_numpy()[i], "psn_name": P["name_civil"].to_numpy()[i]})
    # the truth, by the team's definition on the rows as written
    maf_paid = S["maf"].to_numpy()[s] > 0
    rank = pd.Series(np.arange(len(A))).groupby(s).cumcount().to_numpy()   # rows are in (pay_date, pay_id) order
    kind = np.where(maf_paid, "ONE_STOP_AND_MANUAL", np.where(rank > 0, "MANUAL_TWICE", ""))
    truth = pd.DataFrame({"pay_id": df["pay_id"].to_numpy()[kind != ""], "kind": kind[kind != ""]})
    return df, truth


# ------------------------------------------------------------------------------------------- province tables
def months_of(ref: date, k: int) -> list[int]:
    from .fund import months_back
    return months_back(ref.year * 100 + ref.month, k)


def _prev_ym(day: str) -> int:
    """YYYYMM of the month before the date ``day`` (YYYY-MM-DD...)."""
    y, m = int(day[:4]), int(day[5:7])
    return (y - 1) * 100 + 12 if m == 1 else y * 100 + m - 1


def _next_month(ym: int) -> tuple[int, int]:
    y, m = divmod(int(ym), 100)
    return (y + 1, 1) if m == 12 else (y, m + 1)


def vbp_purchase(seed: int, usage: pd.DataFrame, ref: date) -> tuple[pd.DataFrame, pd.DataFrame]:
    """集采 purchases per institution, item and month of the last 12 months: agreed annual volume from the
    institution's billed quantity, monthly purchases near a twelfth of it (a few institutions far behind).
    Returns (vbp_purchase rows, truth vbp_under)."""
    rng = np.random.default_rng([seed, 7_000_012])
    ml = med_list()
    u = (usage.astype({"item": np.int64, "qty": np.int64}).groupby(["fixmedins_code", "item"], as_index=False)["qty"].sum()
         .sort_values(["fixmedins_code", "item"], ignore_index=True))
    yms = months_of(ref, 12)
    years = sorted({y // 100 for y in yms})
    insts = u["fixmedins_code"].unique()
    k = min(len(insts), max(3, int(round(len(insts) * 0.05))))
    under = set(rng.choice(insts, size=k, replace=False)) if len(insts) else set()
    target = np.where(u["fixmedins_code"].isin(under), rng.uniform(*VBP_UNDER, len(u)), rng.uniform(*VBP_NORMAL, len(u)))
    agreed = {y: np.maximum(240, np.round(u["qty"].to_numpy() * rng.uniform(0.9, 1.2, len(u)) / 10) * 10).astype(np.int64)
              for y in years}
    price = vocabulary.items()["price_cents"].to_numpy()[u["item"].to_numpy()] * VBP_PRICE_SHARE    # purchase price
    parts = []
    for ym in yms:
        a = agreed[ym // 100]
        q = np.round(a / 12 * target * rng.uniform(0.9, 1.1, len(u))).astype(np.int64)
        parts.append(pd.DataFrame({"fixmedins_code": u["fixmedins_code"].to_numpy(), "item": u["item"].to_numpy(),
                                   "ym": ym, "agreed_qty": a, "purc_qty": q, "purc_amt": np.round(q * price).astype(np.int64)}))
    V = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["fixmedins_code", "item", "ym", "agreed_qty", "purc_qty", "purc_amt"])
    V["med_list_codg"] = ml["med_list_codg"].to_numpy()[V["item"].to_numpy().astype(np.int64)]
    # the truth, by the team's definition on the rows as written
    V["year"] = V["ym"].to_numpy() // 100
    g = V.groupby(["fixmedins_code", "med_list_codg", "year"]).agg(agreed=("agreed_qty", "max"), purc=("purc_qty", "sum"),
                                                                      months=("ym", "nunique")).reset_index()
    progress = g["purc"] / g["agreed"] / (g["months"] / 12)
    truth = g.loc[progress < 0.8, ["fixmedins_code", "med_list_codg", "year"]].reset_index(drop=True)
    truth["year"] = truth["year"].astype(np.int32)
    out = pd.DataFrame({"fixmedins_code": V["fixmedins_code"], "med_list_codg": V["med_list_codg"], "ym": V["ym"].astype(str),
                        "agreed_qty": V["agreed_qty"].astype(str), "purc_qty": V["purc_qty"].astype(str),
                        "purc_amt": dirt.fmt_money(V["purc_amt"].to_numpy())})
    return out, truth


INCOME_PARTY = {"01": "国家税务总局陕西省税务局", "02": "财政局社会保障基金专户", "03": "开户银行", "04": "转出地医保经办机构",
                "05": "陕西省医疗保障基金财政专户", "99": "其他"}
EXPENSE_PARTY = {"02": "转入地医保经办机构", "03": "陕西省医疗保障基金财政专户", "99": "其他"}
ITEM_NAME_I = {"01": "征缴收入", "02": "财政补贴收入", "03": "利息收入", "04": "转移收入", "05": "上级补助收入", "99": "其他收入"}
ITEM_NAME_E = {"02": "转移支出", "03": "上解支出", "99": "其他支出"}


def payments(seed: int, owed_df: pd.DataFrame, ledger: pd.DataFrame, fixmedins: pd.DataFrame, ref: date,
             ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """fund_payment (one per region x insutype x institution x settlement month before the reference month, paid
    in the next month), bank_stmt (its E rows, the ledger's income and other expense rows) and the planted
    differences of the three-party reconciliation.  Returns (fund_payment, bank_stmt, truth recon_diff)."""
    rng = np.random.default_rng([seed, 7_000_013])
    ref_ym = ref.year * 100 + ref.month
    O = (owed_df.astype({"ym": np.int64, "amount": np.int64})
         .groupby(["admdvs", "insutype", "fixmedins_code", "ym"], as_index=False)["amount"].sum())
    O = O[(O["ym"] < ref_ym) & (O["amount"] > 0)].sort_values(["ym", "admdvs", "insutype", "fixmedins_code"], ignore_index=True)
    n = len(O)
    k = max(3, int(round(n * 0.002)))
    kinds = ["UNDER_OVER", "NOT_PAID", "PAID_NOT_OWED", "NO_BANK", "BANK_AMOUNT"]
    pick = rng.permutation(n)
    role = np.full(n, "", dtype=object)
    for j, kind in enumerate(kinds):
        role[pick[j * k:(j + 1) * k]] = kind
    amount = O["amount"].to_numpy().copy()
    uo = role == "UNDER_OVER"
    delta = np.maximum(np.round(amount * rng.uniform(0.02, 0.1, n)), 100).astype(np.int64) * np.where(rng.random(n) < 0.5, -1, 1)
    paid = np.where(uo, np.maximum(amount + delta, 100), amount)
    P = O.assign(paid=paid, role=role)
    # PAID_NOT_OWED: that institution paid for a month it had nothing owed (the owed row of the pick is kept)
    keys = set(zip(O["admdvs"], O["insutype"], O["fixmedins_code"], O["ym"]))
    months = sorted(O["ym"].unique())
    extra = []
    # the picks first, then other institution-months until k institutions had a month with nothing owed
    for j in np.r_[np.flatnonzero(role == "PAID_NOT_OWED"), pick[len(kinds) * k:]].astype(np.int64):
        if len(extra) >= k:
            break
        r = O.iloc[j]
        free = [m for m in months if (r.admdvs, r.insutype, r.fixmedins_code, m) not in keys]
        if free:
            m = int(rng.choice(free))
            keys.add((r.admdvs, r.insutype, r.fixmedins_code, m))
            extra.append({"admdvs": r.admdvs, "insutype": r.insutype, "fixmedins_code": r.fixmedins_code, "ym": m,
                          "amount": 0, "paid": int(rng.integers(100_000, 5_000_000)), "role": "PAID_NOT_OWED"})
    P.loc[P["role"] == "PAID_NOT_OWED", "role"] = ""
    P = pd.concat([P, pd.DataFrame(extra)], ignore_index=True) if extra else P
    P = P[P["role"] != "NOT_PAID"].sort_values(["ym", "admdvs", "insutype", "fixmedins_code"], ignore_index=True)
    y_m = [_next_month(v) for v in P["ym"].to_numpy()]
    pay_date = np.array([np.datetime64(f"{y}-{m:02d}-01") for y, m in y_m], dtype="datetime64[D]") + _days(rng.integers(9, 20, len(P)))
    P["pay_id"] = dirt.zcat("FP", np.arange(len(P)) + 1, 10)
    P["pay_date"] = pay_date
    fp = pd.DataFrame({"pay_id": P["pay_id"], "fixmedins_code": P["fixmedins_code"], "admdvs": P["admdvs"],
                       "insutype": P["insutype"], "ym": P["ym"].astype(str), "amount": dirt.fmt_money(P["paid"].to_numpy()),
                       "pay_date": dirt.fmt_dates(pay_date)})
    # bank: one E row per payment (none for NO_BANK, another amount for BANK_AMOUNT)
    B = P[P["role"] != "NO_BANK"]
    bdelta = np.maximum(np.round(B["paid"].to_numpy() * rng.uniform(0.01, 0.05, len(B))), 1).astype(np.int64)
    bamt = np.where(B["role"].to_numpy() == "BANK_AMOUNT",
                    np.maximum(B["paid"].to_numpy() + bdelta * np.where(rng.random(len(B)) < 0.5, -1, 1), 1), B["paid"].to_numpy())
    bank = [pd.DataFrame({"admdvs": B["admdvs"].to_numpy(), "insutype": B["insutype"].to_numpy(), "txn_date": B["pay_date"].to_numpy(),
                          "direction": "E", "amount": bamt, "counterparty": B["fixmedins_code"].to_numpy(),
                          "memo": [f"医保基金拨付 {p} {y}" for p, y in zip(B["pay_id"], B["ym"])], "pay_id": B["pay_id"].to_numpy(),
                          "role": B["role"].to_numpy()})]
    # bank E rows to institutions with no payment (from that region and insutype's account)
    codes = fixmedins["fixmedins_code"].to_numpy()
    paid_by = P.groupby(["admdvs", "insutype"])["fixmedins_code"].agg(set)
    stray = []
    accounts = paid_by.index.tolist()
    free_by: dict = {}
    for j in range(k if accounts else 0):
        a, t = accounts[int(rng.integers(0, len(accounts)))]
        if (a, t) not in free_by:
            free_by[(a, t)] = np.setdiff1d(codes, np.array(sorted(paid_by[(a, t)]), dtype=object))
        free = free_by[(a, t)]
        if len(free) == 0:
            continue
        y, m = _next_month(int(rng.choice(months)))
        stray.append({"admdvs": a, "insutype": t, "txn_date": np.datetime64(f"{y}-{m:02d}-01") + _days(int(rng.integers(20, 28))),
                      "direction": "E", "amount": int(rng.integers(50_000, 3_000_000)), "counterparty": str(rng.choice(free)),
                      "memo": "医保基金拨付", "pay_id": None, "role": "BANK_NO_PAYMENT"})
    if stray:
        bank.append(pd.DataFrame(stray))
    # income and other expense of the fund account, from the ledger's last 12 months
    led = ledger[ledger["ym"].astype(int).isin(months_of(ref, 12)) & ((ledger["direction"] == "I") | (ledger["item_type"] != "01"))]
    ly, lm = led["ym"].astype(int).to_numpy() // 100, led["ym"].astype(int).to_numpy() % 100
    ld = np.array([np.datetime64(f"{y}-{m:02d}-01") for y, m in zip(ly, lm)], dtype="datetime64[D]") + _days(rng.integers(3, 26, len(led)))
    names = [(ITEM_NAME_I if d == "I" else ITEM_NAME_E)[i] for d, i in zip(led["direction"], led["item_type"])]
    party = [(INCOME_PARTY if d == "I" else EXPENSE_PARTY)[i] for d, i in zip(led["direction"], led["item_type"])]
    bank.append(pd.DataFrame({"admdvs": led["admdvs"].to_numpy(), "insutype": led["insutype"].to_numpy(), "txn_date": ld,
                              "direction": led["direction"].to_numpy(),
                              "amount": np.round(led["amount"].astype(float).to_numpy() * 100).astype(np.int64),
                              "counterparty": party, "memo": [f"{x} {y}" for x, y in zip(names, led["ym"])], "pay_id": None, "role": ""}))
    BK = pd.concat(bank, ignore_index=True)
    BK["txn_date"] = BK["txn_date"].to_numpy().astype("datetime64[D]")
    BK = BK.sort_values(["txn_date", "admdvs", "insutype", "direction", "counterparty"], kind="stable", ignore_index=True)
    BK["txn_id"] = dirt.zcat("TX", np.arange(len(BK)) + 1, 10)
    bs = pd.DataFrame({"txn_id": BK["txn_id"], "admdvs": BK["admdvs"], "insutype": BK["insutype"],
                       "txn_date": dirt.fmt_dates(BK["txn_date"].to_numpy()), "direction": BK["direction"],
                       "amount": dirt.fmt_money(BK["amount"].to_numpy().astype(np.int64)), "counterparty": BK["counterparty"],
                       "memo": BK["memo"]})
    # the truth: every difference, by side
    tr = []
    for r in P[P["role"].isin(["UNDER_OVER", "PAID_NOT_OWED"])].itertuples():
        tr.append((r.admdvs, r.insutype, int(r.ym), "SETTLEMENT_PAYMENT", r.fixmedins_code, r.pay_id, None, (r.paid - r.amount) / 100))
    for r in O[role == "NOT_PAID"].itertuples():
        tr.append((r.admdvs, r.insutype, int(r.ym), "SETTLEMENT_PAYMENT", r.fixmedins_code, None, None, -r.amount / 100))
    for r in P[P["role"] == "NO_BANK"].itertuples():
        tr.append((r.admdvs, r.insutype, int(r.ym), "PAYMENT_BANK", r.fixmedins_code, r.pay_id, None, -r.paid / 100))
    bym = BK.merge(P[["pay_id", "ym", "paid"]], on="pay_id", how="left")
    for r in bym[bym["role"] == "BANK_AMOUNT"].itertuples():
        tr.append((r.admdvs, r.insutype, int(r.ym), "PAYMENT_BANK", r.counterparty, r.pay_id, r.txn_id, (r.amount - r.paid) / 100))
    # a bank payment with no fund_payment is dated to the settlement month a payment made then would cover: the month
    # before its transaction (payments are made in the month after the settlements they pay; dbt D14)
    for r in bym[bym["role"] == "BANK_NO_PAYMENT"].itertuples():
        tr.append((r.admdvs, r.insutype, _prev_ym(str(r.txn_date)), "PAYMENT_BANK", r.counterparty, None,
                   r.txn_id, r.amount / 100))
    truth = pd.DataFrame(tr, columns=["admdvs", "insutype", "ym", "side", "fixmedins_code", "pay_id", "txn_id", "diff_amount"])
    truth["ym"] = truth["ym"].astype(str)
    truth["diff_amount"] = truth["diff_amount"].round(2)
    return fp, bs, truth.sort_values(["side", "admdvs", "insutype", "ym", "fixmedins_code"], ignore_index=True)
