"""Ground truth, computed from the generator's latent state (never by reading the CSV files back)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .enrollment import window_months
from .population import Context, dead_on, in_target, ym_of
from .sources import pid_str

DUP_KINDS = ("EMP_RESIDENT", "MULTI_REGION", "CROSS_PROVINCE")
REASONS = ("TAXPAYER", "PENSION_INSURED", "SUBSIDY_ELIGIBLE", "NEWBORN", "SUSPENDED", "TERMINATED", "NEVER_ENROLLED")
SRC_NAME = {"P": "police", "C": "civil_affairs", "H": "health", "M": "medins"}


def persons(ctx: Context, P: pd.DataFrame, I: pd.DataFrame, C: pd.DataFrame, R: pd.DataFrame,
            dup: pd.DataFrame | None = None, eu: pd.DataFrame | None = None, light: bool = False) -> pd.DataFrame:
    """Person truth; ``dup`` / ``eu``: precomputed duplicate_rows / enrolled_unpaid_rows of the same state;
    ``light``: an intermediate state (no duplicate / unpaid answers)."""
    n = len(P)
    ref = ctx.ref
    basic = I[I["insutype"].isin(["310", "390"])]
    bi = basic["i"].to_numpy()
    st = basic["psn_insu_stas"].to_numpy()
    active_local = np.zeros(n, bool)
    np.logical_or.at(active_local, bi[st == "1"], True)
    any_rec = np.zeros(n, bool)
    np.logical_or.at(any_rec, bi, True)
    susp = np.zeros(n, bool)
    np.logical_or.at(susp, bi[st == "2"], True)
    term = np.zeros(n, bool)
    np.logical_or.at(term, bi[st == "4"], True)
    elsewhere = P["elsewhere"].to_numpy() | P["elsewhere_dup"].to_numpy()     # an ACTIVE enrollment elsewhere
    insured = active_local | elsewhere
    target = in_target(P, ref)
    unins = target & ~insured
    aid_ok = (P["aid_type"].to_numpy() != "") & (P["aid_begin"].to_numpy() <= ref) & (
        np.isnat(P["aid_end"].to_numpy()) | (P["aid_end"].to_numpy() >= ref))
    flags = {
        "TAXPAYER": P["taxpayer"].to_numpy() == "recent",
        "PENSION_INSURED": np.isin(P["pension_stas"].to_numpy(), ["1", "2"]),
        "SUBSIDY_ELIGIBLE": aid_ok,
        "NEWBORN": P["newborn"].to_numpy(),
        "SUSPENDED": susp,
        "TERMINATED": term,
        "NEVER_ENROLLED": ~any_rec,
    }
    reasons = [[] for _ in range(n)]
    for code in REASONS:
        for j in np.flatnonzero(unins & flags[code]):
            reasons[j].append(code)
    # duplicate enrollment (contract kinds, one per person and kind, '|'-joined here)
    kinds = np.full(n, "", dtype=object)
    enrolled_unpaid = np.zeros(n, bool)
    if not light:
        dup = duplicate_rows(P, I) if dup is None else dup
        for kind in DUP_KINDS:
            j = dup.loc[dup["kind"] == kind, "i"].to_numpy()
            kinds[j] = np.where(kinds[j] == "", kind, kinds[j] + "|" + kind)
        eu = enrolled_unpaid_rows(ref, P, I, C) if eu is None else eu
        enrolled_unpaid[eu["i"].to_numpy()] = True
    n_psn = np.bincount(R["i"].to_numpy(), minlength=n) if len(R) else np.zeros(n, int)
    death_src = [",".join(SRC_NAME[c] for c in s) for s in P["death_src"].to_numpy()]
    # deaths "recorded by medins" only count where a medins record exists
    return pd.DataFrame({
        "person_id": pid_str(P["pid"].to_numpy()),
        "certno": P["certno"].to_numpy(),
        "psn_name": P["name"].to_numpy(),
        "gend": P["gend"].to_numpy(),
        "brdy": P["brdy"].to_numpy().astype("datetime64[D]"),
        "household_id": (ctx.start + P["hh"].to_numpy()).astype(np.int64),
        "hsreg_admdvs": P["hk_county"].to_numpy(),
        "resd_admdvs": P["res_county"].to_numpy(),
        "local_hukou": P["local"].to_numpy(),
        "hsreg_stas": P["hsreg_stas"].to_numpy(),
        "resd_permit": P["permit"].to_numpy(),
        "is_deceased": dead_on(P, ref),
        "death_date": P["death_date"].to_numpy().astype("datetime64[D]"),
        "death_sources": np.array(death_src, dtype=object),
        "in_target_population": target,
        "insured": insured,
        "insured_elsewhere": elsewhere,
        "uninsured": unins,
        "uninsured_reasons": reasons,
        "in_national_list": np.zeros(n, bool),
        "enrolled_unpaid": enrolled_unpaid,
        "duplicate_enrollment_kind": kinds,
        "n_psn_no": n_psn.astype(np.int32),
        "is_newborn": P["newborn"].to_numpy(),
        "aid_type": P["aid_type"].to_numpy(),
        "pension_type": P["pension_type"].to_numpy(),
        "pension_stas": P["pension_stas"].to_numpy(),
        "taxpayer_recent": P["taxpayer"].to_numpy() == "recent",
        "enroll_state": P["enroll_state"].to_numpy(),
        "died_by_last_batch": P["dead"].to_numpy(),
    })


def national_membership(rng, ctx: Context, P: pd.DataFrame, T: pd.DataFrame) -> np.ndarray:
    """Who is on the national uninsured list (decided on the batch-1 state)."""
    n = len(P)
    local = P["local"].to_numpy()
    true_un = T["uninsured"].to_numpy() & local & (rng.random(n) < 0.85)
    stale_enrolled = P["recent_enroll"].to_numpy()
    stale_dead = P["dead"].to_numpy() & local & (rng.random(n) < 0.15)
    stale_moved = (P["hsreg_stas"].to_numpy() == "3") & (rng.random(n) < 0.3)
    return true_un | stale_enrolled | stale_dead | stale_moved


def stale_reason(T: pd.DataFrame) -> np.ndarray:
    dead = T["is_deceased"].to_numpy()
    moved = ~(T["local_hukou"].to_numpy() & (T["hsreg_stas"].to_numpy() == "1"))
    insured = T["insured"].to_numpy()
    return np.select([dead, moved, insured], ["DEAD", "MOVED", "ENROLLED"], "")


def _period_key(pid, insutype, accrym) -> np.ndarray:
    """(person, insutype, YYYYMM) packed in one int64."""
    code = np.where(np.asarray(insutype) == "310", 0, 1)
    return (np.asarray(pid, dtype=np.int64) * 2 + code) * 1_000_000 + np.asarray(accrym, dtype=np.int64)


def enrolled_unpaid_rows(ref: np.datetime64, P: pd.DataFrame, I: pd.DataFrame, C: pd.DataFrame) -> pd.DataFrame:
    """Contract section 4, enrolled_unpaid, one row per person x insutype with unpaid periods:

    a person of the target population with an active basic enrollment (310 or 390) owes the periods since the
    enrollment date within the 12 whole calendar months before the reference date: 310 every month for psn_type
    11 / 13, 390 the annual period (January of the reference year); retirees (12) owe nothing.  A period is paid
    when the core system has it with clct_flag 1 (on any of the person's psn_no) or tax collected it for the
    person's ID number; a period with no assessment row is owed too.
    """
    months = window_months(ref)
    lo, hi = int(months[0]), int(months[-1])
    jan = int(str(ref)[:4]) * 100 + 1
    target = in_target(P, ref)
    act = I[(I["psn_insu_stas"].to_numpy() == "1") & I["insutype"].isin(["310", "390"]).to_numpy()]
    act = act[target[act["i"].to_numpy()]]
    crt_ym = ym_of(act["crt_insu_date"].to_numpy().astype("datetime64[D]"))
    it = act["insutype"].to_numpy()
    a310 = np.flatnonzero((it == "310") & np.isin(act["psn_type"].to_numpy(), ["11", "13"]))
    ii = np.repeat(a310, len(months))
    mo = np.tile(months, len(a310))
    keep = mo >= crt_ym[ii]
    ii, mo = ii[keep], mo[keep]
    a390 = np.flatnonzero((it == "390") & (crt_ym <= jan)) if lo <= jan <= hi else np.array([], dtype=np.int64)
    ii = np.concatenate([ii, a390])
    mo = np.concatenate([mo, np.full(len(a390), jan)]).astype(np.int64)
    core = C["in_core"].to_numpy().astype(bool)
    paid_core = core & C["paid"].to_numpy().astype(bool)
    taxed = C["tax_amt"].to_numpy() >= 0
    cp, ct, ca = C["pid"].to_numpy(), C["insutype"].to_numpy(), C["accrym"].to_numpy()
    paid_keys = np.unique(_period_key(cp[paid_core | taxed], ct[paid_core | taxed], ca[paid_core | taxed]))
    k = _period_key(act["pid"].to_numpy()[ii], it[ii], mo)
    keep = ~np.isin(k, paid_keys)
    ii, mo, k = ii[keep], mo[keep], k[keep]
    u = pd.DataFrame({"i": act["i"].to_numpy()[ii], "pid": act["pid"].to_numpy()[ii], "insutype": it[ii], "accrym": mo,
                      "insu_admdvs": act["insu_admdvs"].to_numpy()[ii], "psn_no": act["psn_no"].to_numpy()[ii]})
    u["assessed"] = np.isin(k, _period_key(cp[core], ct[core], ca[core]))
    cols = {"person_id": pd.Series(dtype=str), "i": pd.Series(dtype=np.int64), "insutype": pd.Series(dtype=str),
            "insu_admdvs": pd.Series(dtype=str), "accrym_missing": pd.Series(dtype=object),
            "accrym_not_assessed": pd.Series(dtype=object), "n_missing": pd.Series(dtype=np.int32),
            "psn_nos": pd.Series(dtype=object)}
    if len(u) == 0:
        return pd.DataFrame(cols)
    u = u.sort_values(["pid", "insutype", "accrym", "psn_no"], kind="stable").reset_index(drop=True)
    out = u.groupby(["pid", "insutype"], sort=True).agg(i=("i", "first"), insu_admdvs=("insu_admdvs", "min")).reset_index()
    # per (person, insutype), in group order: the distinct periods, those never assessed, the psn_no owing them
    gk = u["pid"].to_numpy().astype(np.int64) * 2 + (u["insutype"].to_numpy() == "390")
    groups = np.unique(gk)

    def lists(key: np.ndarray, val: np.ndarray, cast) -> list:
        order = np.lexsort((val, key))
        key, val = key[order], val[order]
        first = np.r_[True, (key[1:] != key[:-1]) | (val[1:] != val[:-1])] if len(key) else np.zeros(0, dtype=bool)
        key, val = key[first], val[first]
        cut = np.searchsorted(key, groups, side="left"), np.searchsorted(key, groups, side="right")
        return [[cast(x) for x in val[a:b]] for a, b in zip(*cut)]

    out["accrym_missing"] = lists(gk, u["accrym"].to_numpy().astype(np.int64), int)
    out["psn_nos"] = lists(gk, u["psn_no"].to_numpy().astype(str), str)
    na = ~u["assessed"].to_numpy()
    out["accrym_not_assessed"] = lists(gk[na], u["accrym"].to_numpy().astype(np.int64)[na], int)
    out["n_missing"] = out["accrym_missing"].map(len).astype(np.int32)
    out["person_id"] = pid_str(out["pid"].to_numpy())
    return out[list(cols)]


def duplicate_rows(P: pd.DataFrame, I: pd.DataFrame) -> pd.DataFrame:
    """Contract section 4, duplicate_enrollment: one row per person and kind over active (psn_insu_stas 1) local
    basic enrollments.  EMP_RESIDENT: active 310 and active 390; MULTI_REGION: one basic insutype active in two
    pooling regions; CROSS_PROVINCE: an active local basic enrollment while insured_elsewhere shows an active
    enrollment in another province.  insutypes / insu_admdvs_list: of the enrollments involved (CROSS_PROVINCE:
    the local ones and the other province's)."""
    act = I[(I["psn_insu_stas"].to_numpy() == "1") & I["insutype"].isin(["310", "390"]).to_numpy()]
    rows = []
    if len(act):
        a = act[["i", "pid", "insutype", "insu_admdvs", "psn_no"]]
        both = a.groupby("i")["insutype"].nunique()
        reg = a.groupby(["i", "insutype"])["insu_admdvs"].nunique()
        el = P["elsewhere_dup"].to_numpy()
        local_active = np.unique(a["i"].to_numpy())
        cross = local_active[el[local_active]]
        cand = np.unique(np.concatenate([both[both > 1].index.to_numpy(), reg[reg > 1].index.get_level_values(0).to_numpy(),
                                         cross]).astype(np.int64))
        groups = {j: x for j, x in a[a["i"].isin(cand)].groupby("i")}
        for j in both[both > 1].index:
            x = groups[j]
            rows.append((j, "EMP_RESIDENT", sorted(set(x["insutype"])), sorted(set(x["insu_admdvs"])), sorted(set(x["psn_no"]))))
        for (j, t) in reg[reg > 1].index:
            x = groups[j]
            x = x[x["insutype"] == t]
            rows.append((j, "MULTI_REGION", [t], sorted(set(x["insu_admdvs"])), sorted(set(x["psn_no"]))))
        for j in cross:
            x = groups[j]
            other_t = "310" if P["u_lag"].to_numpy()[j] % 3 != 0 else "390"
            rows.append((j, "CROSS_PROVINCE", sorted(set(x["insutype"]) | {other_t}),
                         sorted(set(x["insu_admdvs"]) | {P["elsewhere_pool"].to_numpy()[j]}), sorted(set(x["psn_no"]))))
    d = pd.DataFrame(rows, columns=["i", "kind", "insutypes", "insu_admdvs_list", "psn_nos"])
    d["i"] = d["i"].astype(np.int64)
    d = d.sort_values(["i", "kind"], kind="stable").reset_index(drop=True)
    d.insert(0, "person_id", pid_str(P["pid"].to_numpy()[d["i"].to_numpy()]))
    return d


def recon_rows(P: pd.DataFrame, C: pd.DataFrame) -> pd.DataFrame:
    """Contribution periods where the core system and tax disagree (state after the last batch)."""
    x = C[C["recon"].to_numpy() != "MATCH"]
    core = x["in_core"].to_numpy().astype(bool)
    return pd.DataFrame({
        "person_id": pid_str(x["pid"].to_numpy()), "certno": P["certno"].to_numpy()[x["i"].to_numpy()],
        "psn_no": x["psn_no"].to_numpy(), "insutype": x["insutype"].to_numpy(), "accrym": x["accrym"].astype(np.int64).to_numpy(),
        "assessed_amt": ((x["psn_amt"] + x["emp_amt"]) / 100.0).to_numpy(),
        "medins_clct_flag": np.where(core, np.where(x["paid"].to_numpy().astype(bool), "1", "0"), None),
        "tax_clct_amt": np.where(x["tax_amt"].to_numpy() >= 0, x["tax_amt"].to_numpy() / 100.0, np.nan),
        "status": x["recon"].to_numpy(),
    })


class TruthWriter:
    """Appends truth tables chunk by chunk to Parquet files under out/_truth/."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.writers: dict[str, pq.ParquetWriter] = {}
        self.schemas: dict[str, pa.Schema] = {}
        self.rows: dict[str, int] = {}

    def write(self, name: str, df: pd.DataFrame | list) -> None:
        if isinstance(df, list):
            df = pd.DataFrame(df)
        if len(df) == 0 and name in self.writers:
            return
        if name not in self.writers:
            if len(df) == 0:
                return
            table = pa.Table.from_pandas(df, preserve_index=False)
            fields = []
            for f in table.schema:
                t = f.type
                if pa.types.is_null(t):
                    t = pa.string()
                elif pa.types.is_list(t) and pa.types.is_null(t.value_type):
                    t = pa.list_(pa.string())
                fields.append(pa.field(f.name, t))
            self.schemas[name] = pa.schema(fields)
            self.writers[name] = pq.ParquetWriter(self.root / f"{name}.parquet", self.schemas[name], compression="zstd")
            self.rows[name] = 0
        table = pa.Table.from_pandas(df, schema=self.schemas[name], preserve_index=False).replace_schema_metadata(None)
        table = table.cast(self.schemas[name])
        self.writers[name].write_table(table)
        self.rows[name] += len(df)

    def close(self) -> None:
        for w in self.writers.values():
            w.close()
