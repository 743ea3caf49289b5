"""Ground truth, computed from the generator's latent state (never by reading the CSV files back)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .population import Context, in_target
from .sources import pid_str

REASONS = ("TAXPAYER", "PENSION_INSURED", "SUBSIDY_ELIGIBLE", "NEWBORN", "SUSPENDED", "TERMINATED", "NEVER_ENROLLED")
SRC_NAME = {"P": "police", "C": "civil_affairs", "H": "health", "M": "medins"}


def persons(ctx: Context, P: pd.DataFrame, I: pd.DataFrame, C: pd.DataFrame, R: pd.DataFrame) -> pd.DataFrame:
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
    elsewhere = P["elsewhere"].to_numpy()
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
    # duplicate enrollment
    act = basic[st == "1"]
    kinds = np.full(n, "", dtype=object)
    if len(act):
        g = act.groupby("i")
        types = g["insutype"].nunique()
        regions = act.groupby(["i", "insutype"])["insu_admdvs"].nunique().groupby(level=0).max()
        sch = types[types > 1].index.to_numpy()
        reg = regions[regions > 1].index.to_numpy()
        kinds[sch] = "SCHEME"
        kinds[reg] = np.where(kinds[reg] == "SCHEME", "SCHEME|REGION", "REGION")
    unpaid = C[~C["paid"].to_numpy()] if len(C) else C
    active_keys = set(zip(act["psn_no"], act["insutype"]))
    if len(unpaid):
        unpaid = unpaid[[k in active_keys for k in zip(unpaid["psn_no"], unpaid["insutype"])]]
    enrolled_unpaid = np.zeros(n, bool)
    if len(unpaid):
        enrolled_unpaid[unpaid["i"].to_numpy()] = True
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
        "is_deceased": P["dead"].to_numpy(),
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


def enrolled_unpaid_rows(C: pd.DataFrame, I: pd.DataFrame) -> pd.DataFrame:
    act = I[(I["psn_insu_stas"] == "1") & I["insutype"].isin(["310", "390"])]
    u = C[~C["paid"].to_numpy()]
    u = u.merge(act[["psn_no", "insutype", "insu_admdvs"]], on=["psn_no", "insutype"])
    if len(u) == 0:
        return pd.DataFrame({"person_id": pd.Series(dtype=str), "psn_no": pd.Series(dtype=str), "insutype": pd.Series(dtype=str),
                             "insu_admdvs": pd.Series(dtype=str), "accrym_missing": pd.Series(dtype=object)})
    g = u.groupby(["pid", "psn_no", "insutype", "insu_admdvs"])["accrym"].apply(lambda s: sorted(int(x) for x in s)).reset_index()
    return pd.DataFrame({"person_id": pid_str(g["pid"].to_numpy()), "psn_no": g["psn_no"], "insutype": g["insutype"],
                         "insu_admdvs": g["insu_admdvs"], "accrym_missing": g["accrym"]})


def recon_rows(P: pd.DataFrame, C: pd.DataFrame) -> pd.DataFrame:
    x = C[C["recon"].to_numpy() != "MATCH"]
    return pd.DataFrame({
        "person_id": pid_str(x["pid"].to_numpy()), "certno": P["certno"].to_numpy()[x["i"].to_numpy()],
        "psn_no": x["psn_no"].to_numpy(), "insutype": x["insutype"].to_numpy(), "accrym": x["accrym"].astype(np.int64).to_numpy(),
        "assessed_amt": ((x["psn_amt"] + x["emp_amt"]) / 100.0).to_numpy(),
        "medins_clct_flag": np.where(x["paid"].to_numpy(), "1", "0"),
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
