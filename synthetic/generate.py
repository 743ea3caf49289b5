"""Entry point: ``generate(out, persons, ...)`` writes the landing zone and the ground truth."""

from __future__ import annotations

import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from yibao.lock import holds_landing_lock

from . import batch2 as b2
from . import claims, dirt, enrollment, fund, names, population, reform, sources, truth
from .institutions import World, build_world
from .schema import EXTRA, KEYS, SOURCES, encoding_of
from .state import STATE_DIR, VERSION as STATE_VERSION, write_meta as write_state_meta
from .writer import BadRowPlan, LandingWriter, to_csv_bytes

CORRUPT_SOURCE = "hrss"


@dataclass
class GenerateSummary:
    out: Path
    persons: int
    seed: int
    batch_ids: list[str]
    rows: dict[tuple[str, str], int] = field(default_factory=dict)      # (source, table) → data rows, all batches
    files: list[Path] = field(default_factory=list)
    truth_rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def run_chunks(fn: Callable, jobs, workers: int, consume: Callable) -> None:
    """``consume(fn(*job))`` for every job, in job order; with ``workers`` > 1 the chunks are built in that many
    processes, at most ``workers + 1`` results in flight (memory stays bounded whatever the province)."""
    if workers <= 1:
        for job in jobs:
            consume(fn(*job))
        return
    with ProcessPoolExecutor(max_workers=workers) as ex:
        pending = []
        for job in jobs:
            pending.append(ex.submit(fn, *job))
            if len(pending) > workers:
                consume(pending.pop(0).result())
        for f in pending:
            consume(f.result())


def batch_id(d: date, k: int = 1) -> str:
    return f"{d:%Y%m%d}-{k:03d}"


def columns_of(source: str, table: str, incremental: bool = False, version: int = reform.CONTRACT_VERSION) -> list[str]:
    """A file's header: contract columns, with contract version 2 the columns it added (setl's fund shares),
    the generator's extra columns, and ``del_flag`` in incremental batches."""
    from yibao.contract import table_spec
    cols = list(SOURCES[source][table]) + (list(table_spec(source, table).added) if version >= 2 else [])
    cols += EXTRA.get((source, table), [])
    if incremental:
        cols = cols + ["del_flag"]
    return cols


# ------------------------------------------------------------------------------------------ one chunk
_WORLD: dict = {}


def _world(persons: int, seed: int) -> World:
    key = (persons, seed)
    if key not in _WORLD:
        _WORLD.clear()
        _WORLD[key] = build_world(persons, seed)
    return _WORLD[key]


def _ref64(d: date) -> np.datetime64:
    return np.datetime64(d.isoformat(), "D")


# In-file repeated keys: a few rows of these files are delivered twice, an older version of the row first
# (ingestion keeps the last line and quarantines the earlier one as superseded).  (source, table) → how the
# earlier line differs, and which rows may be repeated.
REPEAT_RATE = 0.0005          # share of a file's rows delivered twice (at least one per chunk and file)
REPEAT_MIN_POS = 10           # never among a chunk piece's first rows (where planted unparseable copies go)


def _stale_time(v: pd.Series) -> np.ndarray:
    return np.array([None if x is None else x[:11] + "07:59:59" for x in v], dtype=object)


REPEATS_B1 = {
    ("medins", "psn_info"): (lambda df, rng: df.assign(tel=names.sample_mobiles(rng, len(df))), None),
    ("medins", "contrib"): (lambda df, rng: df.assign(clct_flag="0", clct_time=None), lambda df: df["clct_flag"].to_numpy() == "1"),
    ("medins", "setl"): (lambda df, rng: df.assign(setl_time=_stale_time(df["setl_time"])), None),
    ("police", "hsreg_psn"): (lambda df, rng: df.assign(hsreg_addr=None), None),
    ("tax", "medins_clct"): (lambda df, rng: df.assign(clct_amt="0.00"), None),
    ("health", "birth_cert"): (lambda df, rng: df.assign(child_certno=None), None),
    ("civil_affairs", "assistance_obj"): (lambda df, rng: df.assign(end_date=None), None),
    ("national", "insured_elsewhere"): (lambda df, rng: df.assign(psn_insu_stas="2"), None),
    ("hrss", "pension_insu"): (lambda df, rng: df.assign(stas="3"), None),
}
REPEATS_B2 = {
    ("medins", "psn_insu"): (lambda df, rng: df.assign(psn_insu_stas="1", paus_insu_date=None), None),
    ("police", "hsreg_psn"): (lambda df, rng: df.assign(hsreg_addr=None), None),
    ("tax", "taxpayer"): (lambda df, rng: df.assign(last_tax_ym=[str(int(v) - 100) for v in df["last_tax_ym"]]), None),
}


def repeat_in_file(rng, df: pd.DataFrame, mutate, eligible=None) -> tuple[pd.DataFrame, int]:
    """Insert, just before a few rows, an earlier version of the same row (same key, other values)."""
    n = len(df)
    if n < REPEAT_MIN_POS + 2:
        return df, 0
    cand = np.arange(REPEAT_MIN_POS, n)
    if eligible is not None:
        cand = cand[np.asarray(eligible(df), dtype=bool)[REPEAT_MIN_POS:]]
    k = min(len(cand), max(1, int(round(n * REPEAT_RATE))))
    if k == 0:
        return df, 0
    pos = np.sort(rng.choice(cand, size=k, replace=False))
    early = mutate(df.iloc[pos].copy(), rng)
    order = np.insert(np.arange(n), pos, n + np.arange(k))      # each earlier version just before its row
    return pd.DataFrame({c: np.concatenate([df[c].to_numpy(), early[c].to_numpy()])[order] for c in df.columns}), k


def _joined(df: pd.DataFrame, cols: list[str]) -> pa.Array:
    """Each row's values in ``cols`` joined into one string (null and empty alike), for set comparisons."""
    arrs = []
    for c in cols:
        v = df[c].to_numpy(dtype=object) if c in df else np.full(len(df), None, dtype=object)
        try:
            a = pa.array(v, type=pa.string(), from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            a = pa.array([None if x is None else str(x) for x in v], type=pa.string())
        arrs.append(pc.fill_null(a, ""))
    if not arrs or len(df) == 0:
        return pa.array([], type=pa.string())
    return pc.binary_join_element_wise(*arrs, "\x1f") if len(arrs) > 1 else arrs[0]


def _isin(a: pa.Array, b: pa.Array) -> np.ndarray:
    if len(a) == 0:
        return np.zeros(0, dtype=bool)
    return pc.is_in(a, value_set=b).to_numpy(zero_copy_only=False).astype(bool)


def redelivery(src: str, table: str, bid: str, prev_bid: str, prev: pd.DataFrame, cur: pd.DataFrame, mode: str) -> dict:
    """Keys of a later batch compared with the earlier batch of the same source (per chunk, summed later).
    Both frames are as built, before in-file repeats are added: one row per key."""
    keys = KEYS[table]
    cols = list(SOURCES[src][table])
    dels = cur["del_flag"].to_numpy() == "1" if "del_flag" in cur else np.zeros(len(cur), dtype=bool)
    kp, kc = _joined(prev, keys), _joined(cur, keys)
    rep = _isin(kc, kp)
    back = _isin(kp, kc)
    changed = ~_isin(_joined(cur[rep], cols), _joined(prev[back], cols)) & ~dels[rep]
    return {"source": src, "source_table": table, "batch_id": bid, "compared_with": prev_bid, "mode": mode,
            "rows": int(len(cur)), "keys_repeated": int(rep.sum()), "keys_changed": int(changed.sum()),
            "keys_new": int((~rep).sum()), "keys_deleted": int(dels.sum()),
            "keys_absent": int((~back).sum()) if mode == "full" else 0}


def build_chunk(seed: int, chunk: int, start: int, n: int, n_chunks: int, persons: int, ref: date, batches: int,
                state_dir: str | None = None, contract_version: int = reform.CONTRACT_VERSION) -> dict:
    """Everything one chunk contributes: encoded file pieces, truth frames, counts and fund accumulators.
    ``state_dir``: also write the chunk's latent state after the last batch there (for daily batches);
    ``contract_version`` 2: also the section-6 columns, tables and answers (from streams of their own)."""
    world = _world(persons, seed)
    rng = np.random.default_rng([seed, chunk])
    sec6 = contract_version >= 2
    plan6 = reform.plan(world, seed) if sec6 else None
    rng6 = np.random.default_rng([seed, chunk, 6])
    ctx = population.Context(seed=seed, chunk=chunk, start=start, n=n, n_chunks=n_chunks, ref=_ref64(ref), batches=batches)
    P = population.households(rng, ctx)
    population.identities(rng, ctx, P)
    population.life_events(rng, ctx, P)
    population.social(rng, ctx, P, world)
    aid_boost = (P["aid_type"].to_numpy() != "") & (rng.random(len(P)) < 0.05)
    enrollment.enroll_state(rng, ctx, P)
    P.loc[aid_boost & (P["enroll_state"] == "ACTIVE").to_numpy(), "enroll_state"] = "NEVER"
    R, I = enrollment.records(rng, ctx, P, world)
    # a death "recorded by medins" needs a medins record
    no_rec = ~P["has_medins"].to_numpy()
    ds = P["death_src"].to_numpy()
    P["death_src"] = np.array([(s.replace("M", "") or "C") if (nr and "M" in s) else s for s, nr in zip(ds, no_rec)], dtype=object)
    C = enrollment.contributions(rng, ctx, P, I, world)
    sources.source_dirt(rng, P)
    sources.dress_records(rng, P, R)
    # duplicate enrollment and enrolled_unpaid truth describe the state after the last batch
    final_dup = truth.duplicate_rows(P, I) if batches < 2 else None
    final_eu = truth.enrolled_unpaid_rows(ctx.ref, P, I, C) if batches < 2 else None
    T1 = truth.persons(ctx, P, I, C, R, dup=final_dup, eu=final_eu, light=batches >= 2)
    on_list = truth.national_membership(rng, ctx, P, T1)
    T1["in_national_list"] = on_list
    # care in the 12 months before the reference date, with planted fraud
    picker = claims.InstPicker(world)
    start_d = ctx.ref - np.timedelta64(365, "D")
    E = claims.eligible(P, I, R)
    specs = [claims.natural_specs(rng, E, P, picker, world, start_d, ctx.ref),
             claims.maternity_specs(rng, E, P, picker, world, start_d, ctx.ref),
             claims.plant(rng, ctx, E, P, picker, world, start_d, ctx.ref)]
    S = pd.concat([s for s in specs if len(s)], ignore_index=True)
    S, L = claims.finalize(rng, ctx, S, world, 1, 0, 0, overcharge=plan6)
    if sec6:
        reform.fund_shares(rng6, S, P, world, plan6)
    fraud_truth = claims.fraud_rows(S)
    audit_df, audit_truth = audits(rng, ctx, S, world)

    b1 = batch_id(ref, 1)
    bt = batch_id(ref + timedelta(days=7), 1)
    bl = batch_id(ref + timedelta(days=7), 2)
    natural = (S["fraud"].to_numpy() == "") & (S["decoy"].to_numpy() == "")
    audited = S["setl_id"].isin(audit_df["setl_id"]).to_numpy()
    spare = natural & ~audited & (S["refd"].to_numpy() == "0")
    u_s = rng.random(len(S))
    # late-arriving settlements: cleared months ago, first delivered in the late medins batch of the next week
    held = (spare & (S["begn"].to_numpy().astype("datetime64[D]") < ctx.ref - np.timedelta64(30, "D")) & (u_s < 0.005)
            if batches >= 2 else np.zeros(len(S), dtype=bool))
    # reversals (冲正) of delivered settlements, re-delivered in batch 2 with refd_setl_flag 1
    rev = spare & ~held & (u_s >= 0.5) & (u_s < 0.502) if batches >= 2 else np.zeros(len(S), dtype=bool)
    s_batch = np.where(held, bl, b1).astype(object)
    if sec6:        # 结算清单 of the inpatient settlements, a few upcoded (and decoys)
        SL = reform.setl_list(rng6, S, L, P, world, ctx.ref - np.timedelta64(1, "D"))
        upcoding = reform.plant_upcoding(rng6, ctx, SL, ~held[SL["_row"].to_numpy()] & ~rev[SL["_row"].to_numpy()])
        sl_held = held[SL["_row"].to_numpy()]
    vd: list = []
    pieces: list[tuple[str, str, str, pd.DataFrame]] = []
    med, recs = sources.medins_person_tables(ctx, P, R, I, C, world, vd)
    # genuinely orphaned child rows: enrollments (with a contribution) and settlements of psn_no in no psn_info
    k_o = max(1, n // 25_000)
    o_pool = P["insu_pool"].to_numpy()[rng.integers(0, n, 2 * k_o)]
    o_psn = dirt.zcat(o_pool.astype("U6"), 900_000_000_000 + chunk * 1000 + np.arange(2 * k_o), 12)
    o_day = ctx.ref - np.timedelta64(1, "D") * rng.integers(60, 900, k_o)
    y = ref.year
    o_insu = pd.DataFrame({"psn_no": o_psn[:k_o], "insutype": "390", "psn_type": "21", "psn_insu_stas": "1",
                           "crt_insu_date": dirt.fmt_dates(o_day), "paus_insu_date": None, "insu_admdvs": o_pool[:k_o],
                           "emp_no": None, "emp_name": None, "updt_time": dirt.fmt_ts(o_day, np.full(k_o, 36000))})
    o_contrib = pd.DataFrame({"psn_no": o_psn[:k_o], "insutype": "390", "accrym": f"{y}01", "psn_clct_amt": "400.00",
                              "emp_clct_amt": "0.00", "clct_flag": "1", "clct_time": f"{y - 1}-12-15 10:00:00"})
    o_setl, o_fee = claims.orphan_settlements(rng, ctx, world, k_o, start_d, ctx.ref, o_psn[k_o:])
    med["psn_insu"] = pd.concat([med["psn_insu"], o_insu], ignore_index=True)
    med["contrib"] = pd.concat([med["contrib"], o_contrib], ignore_index=True)
    orphans = pd.concat([
        pd.DataFrame({"source": "medins", "source_table": "psn_insu", "batch_id": b1,
                      "source_key": sources.keycat(o_insu["psn_no"].to_numpy(), o_insu["insutype"].to_numpy())}),
        pd.DataFrame({"source": "medins", "source_table": "contrib", "batch_id": b1,
                      "source_key": sources.keycat(o_contrib["psn_no"].to_numpy(), o_contrib["insutype"].to_numpy(),
                                                   o_contrib["accrym"].to_numpy())}),
        pd.DataFrame({"source": "medins", "source_table": "setl", "batch_id": b1, "source_key": o_setl["setl_id"].to_numpy()}),
    ], ignore_index=True)
    orphans["column"] = "psn_no"
    orphans["value"] = np.r_[o_psn[:k_o], o_psn[:k_o], o_psn[k_o:]]
    orphans["parent"] = "medins/psn_info"
    orphans["expected_action"] = np.where(orphans["source_table"] == "setl", "flag", "quarantine")
    for t, df in med.items():
        pieces.append(("medins", b1, t, df))
    setl1 = sources.setl_tables(S[~held], L[~held[L["s"].to_numpy()]], vd)
    if sec6:
        reform.with_shares(setl1["setl"], S[~held])
        reform.with_shares(o_setl, None)
        setl1["setl_list"] = reform.written_setl_list(SL[~sl_held])
    setl1["setl"] = pd.concat([setl1["setl"], o_setl], ignore_index=True)
    setl1["fee_list"] = pd.concat([setl1["fee_list"], o_fee], ignore_index=True)
    for t, df in setl1.items():
        pieces.append(("medins", b1, t, df))
    pieces.append(("medins", b1, "audit_result", audit_df))
    snapshot_builders = [
        ("police", lambda PP, TT, CC, v=None: sources.police_tables(ctx, PP, v)),
        ("civil_affairs", lambda PP, TT, CC, v=None: sources.civil_tables(ctx, PP, v)),
        ("tax", lambda PP, TT, CC, v=None: sources.tax_tables(ctx, PP, CC, world, v)),
        ("health", lambda PP, TT, CC, v=None: sources.health_tables(ctx, PP, v)),
        ("hrss", lambda PP, TT, CC, v=None: sources.hrss_tables(ctx, PP, world, v)),
        ("national", lambda PP, TT, CC, v=None: sources.national_tables(ctx, PP, TT, v)),
    ]
    for src, fn in snapshot_builders:
        tabs, r = fn(P, T1, C, vd)
        recs += r
        for t, df in tabs.items():
            pieces.append((src, b1, t, df))
        if src == CORRUPT_SOURCE and chunk == 0:
            bad = tabs["pension_insu"].head(25).copy()
            bad["stas"] = "4"
            pieces.append((src, batch_id(ref, 2), "pension_insu", bad))
    records = pd.concat(recs, ignore_index=True)
    records["batch_id"] = b1
    records["deleted_in_batch"] = None
    value_dirt = pd.concat(vd, ignore_index=True) if vd else pd.DataFrame()
    if len(value_dirt):
        value_dirt.insert(2, "batch_id", b1)
    else:
        value_dirt = pd.DataFrame(columns=["source", "source_table", "batch_id", "source_key", "column", "written", "clean", "kind"])
    acc = _accumulate(S, I)
    late_rows = []
    redeliveries = []
    Pf, If, Cf, T = P, I, C, T1
    Rf, settled = R, [S]
    if batches >= 2:
        rng2 = np.random.default_rng([seed, chunk, 2])
        P2, R2, I2, C2, incr = b2.apply(rng2, ctx, P, R, I, C)
        upd = (ctx.ref.astype("datetime64[s]") + rng2.integers(86400, 6 * 86400, 1)[0].astype("timedelta64[s]"))
        upd_s = str(upd).replace("T", " ")
        upd_late = str(ctx.ref.astype("datetime64[s]") + np.timedelta64(7 * 86400 + 13 * 3600, "s")).replace("T", " ")
        m2, _ = sources.medins_person_tables(ctx, P2, pd.concat([incr["rec_upsert"], incr["rec_delete"]], ignore_index=True),
                                             incr["insu_upsert"], incr["contrib_upsert"], world)
        ndel = len(incr["rec_delete"])
        m2["psn_info"]["del_flag"] = ["0"] * (len(m2["psn_info"]) - ndel) + ["1"] * ndel
        m2["psn_info"]["updt_time"] = upd_s
        m2["psn_insu"]["del_flag"] = "0"
        m2["psn_insu"]["updt_time"] = upd_s
        m2["contrib"]["del_flag"] = "0"
        E2 = claims.eligible(P2, I2, R2)
        S2 = claims.natural_specs(rng2, E2, P2, picker, world, ctx.ref, ctx.ref + np.timedelta64(7, "D"))
        setl2 = {"setl": [], "fee_list": []}
        late_dirt = []          # value dirt of rows first delivered in batch 2
        if len(S2):
            S2, L2 = claims.finalize(rng2, ctx, S2, world, 2, 0, 0, reverse=False, overcharge=plan6)
            vd2: list = []
            if sec6:
                rng6b = np.random.default_rng([seed, chunk, 6, 2])
                reform.fund_shares(rng6b, S2, P2, world, plan6)
                SL2 = reform.setl_list(rng6b, S2, L2, P2, world, ctx.ref + np.timedelta64(6, "D"))
                pieces.append(("medins", bt, "setl_list", reform.written_setl_list(SL2).assign(del_flag="0")))
            for t, df in sources.setl_tables(S2, L2, vd2).items():
                setl2[t].append(reform.with_shares(df, S2) if sec6 and t == "setl" else df)
            late_dirt.append((bt, vd2))
        S.loc[rev, "refd"] = "1"
        setl2["setl"].append(sources.setl_tables(S[rev], L.iloc[:0])["setl"])
        if sec6:
            reform.with_shares(setl2["setl"][-1], S[rev])
        for t, dfs in setl2.items():
            df = pd.concat(dfs, ignore_index=True)
            df["del_flag"] = "0"
            m2[t] = df
        for t, df in m2.items():
            pieces.append(("medins", bt, t, df))
        # the late medins batch of the same week: person records whose enrollments came in bt (parent after
        # child), contributions booked late for periods never assessed, settlements cleared months ago
        ml, _ = sources.medins_person_tables(ctx, P2, incr["rec_late"], incr["insu_upsert"].iloc[:0], incr["contrib_late"], world)
        ml.pop("psn_insu")
        vdl: list = []
        ml.update(sources.setl_tables(S[held], L[held[L["s"].to_numpy()]], vdl))
        if sec6:
            reform.with_shares(ml["setl"], S[held])
            if sl_held.any():
                pieces.append(("medins", bl, "setl_list", reform.written_setl_list(SL[sl_held]).assign(del_flag="0")))
        late_dirt.append((bl, vdl))
        for t, df in ml.items():
            df["del_flag"] = "0"
            if "updt_time" in df:
                df["updt_time"] = upd_late
            pieces.append(("medins", bl, t, df))
        final_dup = truth.duplicate_rows(P2, I2)
        final_eu = truth.enrolled_unpaid_rows(ctx.ref, P2, I2, C2)
        T2 = truth.persons(ctx, P2, I2, C2, R2, dup=final_dup, eu=final_eu)
        b2_frames, b2_recs = {}, []
        for src, fn in snapshot_builders:
            tabs, r = fn(P2, T1, C2)
            b2_recs += r
            for t, df in tabs.items():
                pieces.append((src, bt, t, df))
                b2_frames[(src, t)] = df
        new_recs = sources.medins_person_tables(ctx, P2, pd.concat([incr["rec_upsert"], incr["rec_late"]], ignore_index=True),
                                                incr["insu_upsert"].iloc[:0], incr["contrib_upsert"].iloc[:0], world)[1][0]
        new_recs = new_recs[~new_recs["source_key"].isin(records.loc[records["source_table"] == "psn_info", "source_key"])]
        new_recs["batch_id"] = np.where(new_recs["source_key"].isin(incr["rec_late"]["psn_no"]), bl, bt)
        new_recs["deleted_in_batch"] = None
        records.loc[(records["source_table"] == "psn_info") & records["source_key"].isin(incr["rec_delete"]["psn_no"]), "deleted_in_batch"] = bt
        late = sources.pid_str(P2["pid"].to_numpy()[incr["late_deaths"]])
        lr = pd.concat([x[x["person_id"].isin(late) & x["source_table"].isin(["death_cremation", "death_cert"])]
                        for x in b2_recs], ignore_index=True)
        lr["batch_id"] = bt
        lr["deleted_in_batch"] = None
        records = pd.concat([records, new_recs, lr], ignore_index=True)
        T = T2
        T["in_national_list"] = on_list
        Pf, If, Cf, Rf = P2, I2, C2, R2
        if len(S2) and "setl_id" in S2:
            settled.append(S2)
        for bid, v in late_dirt:
            if v:
                value_dirt = pd.concat([value_dirt] + [x.assign(batch_id=bid) for x in v], ignore_index=True)
        # truth of late and out-of-order rows
        hs = S[held]
        late_rows += [
            pd.DataFrame({"source": "medins", "source_table": "setl", "batch_id": bl, "source_key": hs["setl_id"].to_numpy(),
                          "business_date": dirt.fmt_dates(hs["begn"].to_numpy()), "kind": "LATE_ROW",
                          "person_id": sources.pid_str(hs["pid"].to_numpy())}),
            pd.DataFrame({"source": "medins", "source_table": "contrib", "batch_id": bl,
                          "source_key": sources.keycat(incr["contrib_late"]["psn_no"].to_numpy(), incr["contrib_late"]["insutype"].to_numpy(),
                                                       incr["contrib_late"]["accrym"].astype(str).to_numpy()),
                          "business_date": incr["contrib_late"]["accrym"].astype(str).to_numpy(), "kind": "LATE_ROW",
                          "person_id": sources.pid_str(incr["contrib_late"]["pid"].to_numpy())}),
            pd.DataFrame({"source": "medins", "source_table": "psn_info", "batch_id": bl,
                          "source_key": incr["rec_late"]["psn_no"].to_numpy(), "business_date": None,
                          "kind": "PARENT_AFTER_CHILD", "person_id": sources.pid_str(incr["rec_late"]["pid"].to_numpy())}),
        ]
        kids = incr["insu_upsert"][incr["insu_upsert"]["psn_no"].isin(incr["rec_late"]["psn_no"])]
        late_rows.append(pd.DataFrame({"source": "medins", "source_table": "psn_insu", "batch_id": bt,
                                       "source_key": sources.keycat(kids["psn_no"].to_numpy(), kids["insutype"].to_numpy()),
                                       "business_date": dirt.fmt_dates(kids["crt_insu_date"].to_numpy()),
                                       "kind": "CHILD_BEFORE_PARENT", "person_id": sources.pid_str(kids["pid"].to_numpy())}))
        ck = incr["contrib_upsert"][incr["contrib_upsert"]["psn_no"].isin(incr["rec_late"]["psn_no"])]
        late_rows.append(pd.DataFrame({"source": "medins", "source_table": "contrib", "batch_id": bt,
                                       "source_key": sources.keycat(ck["psn_no"].to_numpy(), ck["insutype"].to_numpy(),
                                                                    ck["accrym"].astype(str).to_numpy()),
                                       "business_date": ck["accrym"].astype(str).to_numpy(),
                                       "kind": "CHILD_BEFORE_PARENT", "person_id": sources.pid_str(ck["pid"].to_numpy())}))
        was = np.r_[C["tax_amt"].to_numpy(), np.zeros(len(C2) - len(C), dtype=np.int64)]   # batch-2 new rows: not late
        lt = C2[(C2["tax_amt"].to_numpy() >= 0) & (was < 0)]
        late_rows.append(pd.DataFrame({"source": "tax", "source_table": "medins_clct", "batch_id": bt,
                                       "source_key": sources.keycat(P2["cert_tax"].to_numpy()[lt["i"].to_numpy()],
                                                                    lt["insutype"].to_numpy(), lt["accrym"].astype(str).to_numpy()),
                                       "business_date": lt["accrym"].astype(str).to_numpy(), "kind": "LATE_ROW",
                                       "person_id": sources.pid_str(lt["pid"].to_numpy())}))
        # keys re-delivered with changed values, per table (batch 2 against batch 1)
        b1_frames = {(s_, t_): df for s_, b_, t_, df in pieces if b_ == b1}
        for (src, t), df in b2_frames.items():
            redeliveries.append(redelivery(src, t, bt, b1, b1_frames[(src, t)], df, "full"))
        for bid in (bt, bl):
            for t, df in (m2 if bid == bt else ml).items():
                redeliveries.append(redelivery("medins", t, bid, b1, b1_frames[("medins", t)], df, "incremental"))
    sec6_acc = None
    if sec6:        # section-6 answers and accumulators, on the state after the last batch
        counted = S["refd"].to_numpy() == "0"
        frames = [(S, L, counted)] + ([(S2, L2, np.ones(len(S2), dtype=bool))] if batches >= 2 and len(S2) and "setl_id" in S2 else [])
        acc_sl = [reform.group_acc(SL, counted[SL["_row"].to_numpy()])]
        if len(frames) > 1:
            acc_sl.append(reform.group_acc(SL2, np.ones(len(SL2), dtype=bool)))
        ap, ap_truth = reform.assistance(rng6, ctx, S, P, counted & ~held)
        pieces.append(("civil_affairs", b1, "assistance_pay", ap))
        if batches >= 2:        # civil affairs delivers full snapshots: the same payments again next week
            pieces.append(("civil_affairs", bt, "assistance_pay", ap))
        sec6_acc = {"owed": pd.concat([reform.owed(a, c) for a, _, c in frames], ignore_index=True),
                    "vbp": pd.concat([reform.vbp_usage(a, b, c) for a, b, c in frames], ignore_index=True),
                    "drg": pd.concat([x["drg"] for x in acc_sl], ignore_index=True),
                    "dip": pd.concat([x["dip"] for x in acc_sl], ignore_index=True),
                    "upcoding": upcoding,
                    "price_violation": pd.concat([reform.price_violations(a, b, c) for a, b, c in frames], ignore_index=True),
                    "class_c_fund": pd.concat([reform.class_c_fund_paid(a, b, c) for a, b, c in frames], ignore_index=True),
                    "assistance_duplicate": ap_truth}
    # in-file repeated keys (superseded), silver-level key twins
    superseded: dict = {}
    twins: dict = {}
    out_pieces = []
    for src, bid, t, df in pieces:
        spec = REPEATS_B1.get((src, t)) if bid == b1 else REPEATS_B2.get((src, t)) if bid == bt else None
        if spec is not None and len(df):
            df, k = repeat_in_file(rng, df, spec[0], spec[1])
            superseded[(src, bid, t)] = superseded.get((src, bid, t), 0) + k
        if "_twin" in df and bid != batch_id(ref, 2):
            twins[(src, bid, t)] = twins.get((src, bid, t), 0) + int((df["_twin"].to_numpy() != "").sum())
        out_pieces.append((src, bid, t, df))
    T["insured_after_batch1"] = T1["insured"].to_numpy()
    T["in_target_after_batch1"] = T1["in_target_population"].to_numpy()
    T["uninsured_after_batch1"] = T1["uninsured"].to_numpy()
    nat = T[on_list]
    national = pd.DataFrame({"certno": P["cert_national"].to_numpy()[on_list], "person_id": nat["person_id"].to_numpy(),
                             "stale_reason": truth.stale_reason(nat)})
    idle = claims.idle_bed_days(S, L, b1)
    if len(idle):
        idle["batch_id"] = s_batch[np.searchsorted(S["setl_id"].to_numpy(), idle["setl_id"].to_numpy())]
    encoded = []
    for src, bid, t, df in out_pieces:
        incremental = bid != b1 and src == "medins"
        cols = columns_of(src, t, incremental, contract_version)
        encoded.append((src, bid, t, cols, to_csv_bytes(df, cols, encoding_of(src)), len(df)))
    dup = final_dup.copy()
    dup["in_target_population"] = T["in_target_population"].to_numpy()[dup["i"].to_numpy()]
    unpaid = final_eu
    counts = {"superseded": superseded, "twins": twins,
              "orphans": {k: int(v) for k, v in orphans.groupby(["source", "batch_id", "source_table", "expected_action"]).size().items()}}
    if state_dir is not None:
        from .daily import initial_state
        from .state import save_chunk
        save_chunk(Path(state_dir), 0, chunk, initial_state(ctx, Pf, Rf, If, Cf, T1, on_list, records, settled,
                                                            ids_=[b1] + ([bt, bl] if batches >= 2 else [])))
    return {"files": encoded, "counts": counts, "redelivery": redeliveries, "sec6": sec6_acc,
            "truth": {"persons": T, "records": records, "national_list": national, "fraud": fraud_truth,
                      "audits": audit_truth, "enrolled_unpaid": unpaid.drop(columns=["i"]),
                      "duplicate_enrollment": dup.drop(columns=["i"]), "contrib_recon": truth.recon_rows(Pf, Cf),
                      "r07_idle_days": idle, "orphans": orphans, "value_dirt": value_dirt,
                      "late_arrivals": pd.concat(late_rows, ignore_index=True) if late_rows else pd.DataFrame()},
            "acc": acc}


def audits(rng, ctx, S: pd.DataFrame, world: World) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Historic audit conclusions on a sample of settlements (both outcomes, for supervised learning)."""
    n = len(S)
    end = S["end"].to_numpy().astype("datetime64[D]")
    ok = (end < ctx.ref - np.timedelta64(30, "D")) & (S["refd"].to_numpy() == "0")
    fraud = S["fraud"].to_numpy()
    decoy = S["decoy"].to_numpy()
    r09 = world.fixmedins["r09"].to_numpy()[S["inst"].to_numpy()]
    u = rng.random(n)
    p = np.where(fraud != "", 0.4, np.where(decoy != "", 0.3, np.where(r09 == "planted", 0.1, 0.025)))
    sel = ok & (u < p)
    code = np.where(fraud != "", fraud, np.where((r09 == "planted") & (rng.random(n) < 0.5), "R09_PROVIDER_OUTLIER",
                                                 np.where((fraud == "") & (decoy == "") & (rng.random(n) < 0.07), "OTHER", "")))
    hifp = S["hifp"].to_numpy()
    deduct = np.where(code == "", 0, np.where(code == "OTHER", (hifp * rng.uniform(0.05, 0.3, n)).astype(np.int64), hifp))
    adate = np.minimum(end + (rng.integers(30, 150, n)).astype("timedelta64[D]"), ctx.ref - np.timedelta64(1, "D"))
    from .dirt import fmt_dates, fmt_money
    idx = np.flatnonzero(sel)
    df = pd.DataFrame({"setl_id": S["setl_id"].to_numpy()[idx], "violation_code": np.where(code[idx] == "", None, code[idx]),
                       "deduct_amt": fmt_money(deduct[idx]), "audit_date": fmt_dates(adate[idx], rng.random(len(idx)) < 0.05)})
    tr = pd.DataFrame({"setl_id": df["setl_id"], "person_id": sources.pid_str(S["pid"].to_numpy()[idx]),
                       "fixmedins_code": S["fixmedins_code"].to_numpy()[idx], "violation_code": df["violation_code"],
                       "deduct_amt": deduct[idx] / 100.0, "planted_rule": np.where(fraud[idx] == "", None, fraud[idx]),
                       "decoy_rule": np.where(decoy[idx] == "", None, decoy[idx]), "institution_r09": r09[idx]})
    return df, tr


def _accumulate(S: pd.DataFrame, I: pd.DataFrame) -> dict:
    valid = S["refd"].to_numpy() == "0"
    g = pd.DataFrame({"p": S["insu_pool"].to_numpy()[valid], "t": S["insutype"].to_numpy()[valid],
                      "v": S["hifp"].to_numpy()[valid] / 100.0}).groupby(["p", "t"])["v"].sum()
    a = I[(I["psn_insu_stas"] == "1") & (I["insu_kind"] == "MAIN")]
    c = a.groupby(["insu_admdvs", "insutype"]).size()
    return {"hifp": {k: float(v) for k, v in g.items()}, "insured": {k: int(v) for k, v in c.items()}}


# ------------------------------------------------------------------------------------------ driver
# Unparseable lines: each is an extra copy of a real row (placed just before it) with the defect, so the real
# row still lands and the truth is unaffected.  (source, which batch, table, plan)
BAD_ROWS = [
    ("medins", "b1", "setl", BadRowPlan("BAD_AMOUNT", "medfee_sumamt", "12.3.4", 2)),
    ("medins", "b1", "setl", BadRowPlan("BAD_DATE", "begndate", "2026-02-30", 7)),
    ("medins", "b1", "fee_list", BadRowPlan("FIELD_COUNT", None, None, 4)),
    ("medins", "b1", "fee_list", BadRowPlan("BAD_AMOUNT", "det_item_fee_sumamt", "abc", 9)),
    ("medins", "b1", "psn_info", BadRowPlan("EMPTY_KEY", "psn_no", "", 8)),
    ("civil_affairs", "b1", "death_cremation", BadRowPlan("BAD_DATE", "death_date", "2026-02-30", 1)),
    ("tax", "b1", "medins_clct", BadRowPlan("BAD_AMOUNT", "clct_amt", "abc", 3)),
    ("tax", "b1", "taxpayer", BadRowPlan("EMPTY_KEY", "certno", "", 6)),
    ("police", "b1", "hsreg_psn", BadRowPlan("FIELD_COUNT", None, None, 5)),
    ("health", "b1", "death_cert", BadRowPlan("EMPTY_KEY", "certno", "", 0)),
    ("medins", "bt", "psn_insu", BadRowPlan("BAD_DATE", "crt_insu_date", "2026-13-01", 0)),
    ("health", "bt", "birth_cert", BadRowPlan("BAD_DATE", "brdy", "20260230", 2)),
    ("hrss", "bt", "pension_insu", BadRowPlan("EMPTY_KEY", "certno", "", 3)),
    ("national", "bt", "insured_elsewhere", BadRowPlan("FIELD_COUNT", None, None, 1)),
    ("medins", "bl", "setl", BadRowPlan("BAD_AMOUNT", "psn_cash_pay", "1,234.50", 0)),
]
BAD_CLASS = {"FIELD_COUNT": "FIELD_COUNT", "BAD_AMOUNT": "UNTYPEABLE", "BAD_DATE": "UNTYPEABLE", "EMPTY_KEY": "EMPTY_KEY"}


def _plan_bad_rows(w: LandingWriter, ids: dict) -> None:
    for src, which, table, plan in BAD_ROWS:
        if which in ids:
            w.plan_bad_row(src, ids[which], table, plan)


@holds_landing_lock("yibao generate")
def generate(out: Path, persons: int, seed: int = 42, reference_date: date = date(2026, 11, 1), batches: int = 1,
             chunk_size: int = 200_000, progress: Callable[[str, int, int], None] | None = None,
             workers: int = 1, gzip: bool = False, keep_state: bool = True,
             contract_version: int = reform.CONTRACT_VERSION) -> GenerateSummary:
    """Write a contract-conform landing zone for ``persons`` natural persons to ``out`` plus ``out/_truth``
    (``gzip``: ``<table>.csv.gz`` files, about a fifth of the size; ``keep_state``: also the latent state under
    ``out/_state``, which :func:`yibao.synthetic.daily.generate_days` continues with daily batches;
    ``contract_version`` 1: sections 1-2 only, as before section 6 existed; 2: also section 6)."""
    if contract_version not in (1, 2):
        raise ValueError(f"contract_version must be 1 or 2, not {contract_version}")
    t0 = time.time()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report = progress or (lambda *_: None)
    # a new landing zone: earlier daily state and the truth of earlier daily batches no longer apply
    state_root = out / STATE_DIR
    shutil.rmtree(state_root, ignore_errors=True)
    shutil.rmtree(out / "_truth" / "days", ignore_errors=True)
    for stale in ("events", "corrections", "daily_batches") + SEC6_TRUTH:
        (out / "_truth" / f"{stale}.parquet").unlink(missing_ok=True)
    week2 = reference_date + timedelta(days=7)
    b1 = batch_id(reference_date, 1)
    bt = batch_id(week2, 1)
    bl = batch_id(week2, 2)
    ids_ = [b1] + ([bt, bl] if batches >= 2 else [])
    w = LandingWriter(out, gzip=gzip)
    ext = lambda d: f"{d:%Y-%m-%d} 02:00:00"
    for src in SOURCES:
        w.open_batch(src, b1, ext(reference_date), "full")
        if batches >= 2:
            w.open_batch(src, bt, ext(week2), "incremental" if src == "medins" else "full")
    if batches >= 2:
        w.open_batch("medins", bl, f"{week2:%Y-%m-%d} 14:00:00", "incremental")
    corrupt_id = batch_id(reference_date, 2)
    w.open_batch(CORRUPT_SOURCE, corrupt_id, f"{reference_date:%Y-%m-%d} 14:00:00", "full")
    _plan_bad_rows(w, {"b1": b1, **({"bt": bt, "bl": bl} if batches >= 2 else {})})
    if contract_version < 2:        # a version-1 run over an earlier version-2 landing zone leaves no section-6 file
        from yibao.contract import TABLES, file_names
        for src, bid in list(w.batches):
            for t in TABLES:
                if t.optional and t.source == src:
                    for f in file_names(t.name):
                        (out / src / bid / f).unlink(missing_ok=True)
    tw = truth.TruthWriter(out / "_truth")
    report("world", 0, 1)
    world = _world(persons, seed)
    for name, df in (("emp_info", world.emp_info), ("fixmedins", world.fixmedins), ("practitioner", world.practitioner)):
        w.write("medins", b1, name, df, columns_of("medins", name))
    report("world", 1, 1)
    n_chunks = max(1, -(-persons // chunk_size))
    state_dir = str(state_root) if keep_state else None
    jobs = [(seed, c, c * chunk_size, min(chunk_size, persons - c * chunk_size), n_chunks, persons, reference_date, batches,
             state_dir, contract_version) for c in range(n_chunks)]
    sec6 = Sec6Acc() if contract_version >= 2 else None
    hifp: dict = {}
    insured: dict = {}
    counts: dict = {"superseded": {}, "twins": {}, "orphans": {}}
    redeliveries: dict = {}
    done = 0

    def consume(res):
        nonlocal done
        for src, bid, t, cols, data, nrows in res["files"]:
            w.write_bytes(src, bid, t, cols, data, nrows)
        for name, df in res["truth"].items():
            tw.write(name, df)
        if sec6 is not None:
            sec6.add(res["sec6"], tw)
        for k, v in res["acc"]["hifp"].items():
            hifp[k] = hifp.get(k, 0.0) + v
        for k, v in res["acc"]["insured"].items():
            insured[k] = insured.get(k, 0) + v
        for kind, d in res["counts"].items():
            for k, v in d.items():
                counts[kind][k] = counts[kind].get(k, 0) + v
        for r in res["redelivery"]:
            k = (r["source"], r["source_table"], r["batch_id"], r["compared_with"], r["mode"])
            acc = redeliveries.setdefault(k, dict.fromkeys(("rows", "keys_repeated", "keys_changed", "keys_new",
                                                            "keys_deleted", "keys_absent"), 0))
            for c in acc:
                acc[c] += r[c]
        done += 1
        report("persons", min(done * chunk_size, persons), persons)

    report("persons", 0, persons)
    run_chunks(build_chunk, jobs, workers if n_chunks > 1 else 1, consume)
    # global tables after all chunks
    ref_ym = reference_date.year * 100 + reference_date.month
    led, op, fr = fund.build(seed, ref_ym, hifp, insured)
    w.write("medins", b1, "fund_ledger", led, columns_of("medins", "fund_ledger"))
    w.write("medins", b1, "fund_opening", op, columns_of("medins", "fund_opening"))
    tw.write("fund_risk", fr)
    if sec6 is not None:
        sec6.finish(w, tw, b1, seed, reference_date, led, world)
    fm = world.fixmedins
    r09 = fm[fm["r09"] != ""]
    tw.write("fraud", [{"rule_code": "R09_PROVIDER_OUTLIER", "subject_type": "institution", "subject_id": c, "setl_ids": [],
                        "group_id": None, "person_ids": [], "fixmedins_codes": [c], "is_decoy": r == "decoy"}
                       for c, r in zip(r09["fixmedins_code"], r09["r09"])])
    tw.write("institutions", fm.assign(cost_factor=fm["cost_factor"].round(3)))
    corrupt = {(CORRUPT_SOURCE, corrupt_id): 1}
    files = w.close(corrupt)
    bad = pd.DataFrame(w.bad_rows)
    tw.write("bad_rows", bad)
    st = w.files[(CORRUPT_SOURCE, corrupt_id, "pension_insu")]
    tw.write("rejected_batches", pd.DataFrame([{"source": CORRUPT_SOURCE, "batch_id": corrupt_id,
                                                "file": st.path.name, "reason": "ROW_COUNT_MISMATCH",
                                                "manifest_rows": st.rows + 1, "actual_rows": st.rows}]))
    tw.write("planted_quarantine", planted_quarantine(bad, counts))
    if redeliveries:
        tw.write("redelivery", pd.DataFrame([dict(zip(("source", "source_table", "batch_id", "compared_with", "mode"), k), **v)
                                             for k, v in sorted(redeliveries.items())]))
    r07 = claims.r07_config()
    tw.write("meta", pd.DataFrame([{"persons": persons, "seed": seed, "reference_date": reference_date.isoformat(),
                                    "batches": ",".join(ids_), "truth_state_after_batch": ids_[-1], "chunk_size": chunk_size,
                                    "r07_min_idle_days": r07["min_idle_days"], "r07_config": r07["source"],
                                    "r07_bed_charge_types": ",".join(r07["bed_charge_types"]),
                                    "r07_care_charge_types": ",".join(r07["care_charge_types"]),
                                    "contract_version": contract_version}]))
    tw.close()
    if sec6 is not None:
        sec6.ensure_truth(out / "_truth")
    rows: dict = {}
    for (src, bid, t), s in w.files.items():
        if bid == corrupt_id:
            continue
        rows[(src, t)] = rows.get((src, t), 0) + s.rows
    from .readme_truth import TRUTH_README
    (out / "_truth" / "README.md").write_text(TRUTH_README, encoding="utf-8")
    if keep_state:
        write_state_meta(state_root, {"version": STATE_VERSION, "persons": persons, "seed": seed,
                                      "reference_date": reference_date.isoformat(), "chunk_size": chunk_size,
                                      "batches": batches, "n_chunks": n_chunks, "generation": 0, "days_delivered": 0,
                                      "batch_ids": ids_, "gzip": bool(gzip), "change_rate": None,
                                      "contract_version": contract_version})
    return GenerateSummary(out=out, persons=persons, seed=seed, batch_ids=ids_, rows=rows, files=files,
                           truth_rows=dict(tw.rows), seconds=time.time() - t0)


SEC6_TRUTH = ("drg_upcoding", "price_violation", "class_c_fund", "vbp_under", "recon_diff", "assistance_duplicate")
SEC6_TRUTH_COLUMNS = {"drg_upcoding": ["setl_id"], "price_violation": ["feedetl_sn", "setl_id"], "class_c_fund": ["setl_id"],
                      "vbp_under": ["fixmedins_code", "med_list_codg", "year"],
                      "recon_diff": ["admdvs", "insutype", "ym", "side", "fixmedins_code", "pay_id", "txn_id", "diff_amount"],
                      "assistance_duplicate": ["pay_id", "kind"]}


class Sec6Acc:
    """Contract section 6 across chunks: small accumulators (per group, institution-month, institution-item)
    merged as chunks arrive, the province tables and their answers at the end."""

    def __init__(self):
        self.owed = pd.DataFrame(columns=["admdvs", "insutype", "fixmedins_code", "ym", "amount"])
        self.vbp = pd.DataFrame(columns=["fixmedins_code", "item", "qty"])
        self.drg: list = []
        self.dip: list = []
        self.upcoding: list = []

    def add(self, acc: dict, tw: truth.TruthWriter) -> None:
        self.owed = (pd.concat([self.owed, acc["owed"]], ignore_index=True)
                     .groupby(["admdvs", "insutype", "fixmedins_code", "ym"], as_index=False)["amount"].sum())
        self.vbp = pd.concat([self.vbp, acc["vbp"]], ignore_index=True).groupby(["fixmedins_code", "item"], as_index=False)["qty"].sum()
        self.drg.append(acc["drg"])
        self.dip.append(acc["dip"])
        self.upcoding.append(acc["upcoding"])
        tw.write("price_violation", acc["price_violation"])
        tw.write("class_c_fund", acc["class_c_fund"])
        tw.write("assistance_duplicate", acc["assistance_duplicate"])

    def finish(self, w: LandingWriter, tw: truth.TruthWriter, b1: str, seed: int, ref: date, ledger: pd.DataFrame,
               world: World) -> None:
        years = list(range((ref - timedelta(days=365)).year, (ref + timedelta(days=7)).year + 1))
        groups = reform.drg_group_table(pd.concat(self.drg, ignore_index=True), years)
        vbp, vbp_truth = reform.vbp_purchase(seed, self.vbp, ref)
        fp, bank, recon = reform.payments(seed, self.owed, ledger, world.fixmedins, ref)
        for name, df in (("drg_group", groups), ("dip_group", reform.dip_group_table(pd.concat(self.dip, ignore_index=True))),
                         ("med_list", reform.med_list_table()), ("vbp_purchase", vbp), ("fund_payment", fp),
                         ("bank_stmt", bank)):
            w.write("medins", b1, name, df, columns_of("medins", name))
        tw.write("drg_upcoding", reform.upcoding_truth(pd.concat(self.upcoding, ignore_index=True), groups))
        tw.write("vbp_under", vbp_truth)
        tw.write("recon_diff", recon)

    @staticmethod
    def ensure_truth(root: Path) -> None:
        """A truth table nothing was planted in still exists (empty, with its columns)."""
        for name, cols in SEC6_TRUTH_COLUMNS.items():
            p = root / f"{name}.parquet"
            if not p.exists():
                pd.DataFrame({c: pd.Series(dtype=object) for c in cols}).to_parquet(p, index=False)


def planted_quarantine(bad: pd.DataFrame, counts: dict) -> pd.DataFrame:
    """Rows per (source, table, batch, reason class) that ingestion or the gate must keep out, and the rows
    the silver layer must supersede."""
    acc: dict = {}

    def add(src, table, bid, cls, stage, action, n):
        if n:
            k = (src, table, bid, cls, stage, action)
            acc[k] = acc.get(k, 0) + int(n)

    for r in bad.itertuples() if len(bad) else ():
        add(r.source, r.source_table, r.batch_id, BAD_CLASS[r.kind], "ingest", "quarantine", 1)
    for (src, bid, t), n in counts["superseded"].items():
        add(src, t, bid, "SUPERSEDED", "ingest", "quarantine", n)
    for (src, bid, t, action), n in counts["orphans"].items():
        add(src, t, bid, "ORPHAN_REFERENCE", "gate", action, n)
    for (src, bid, t), n in counts["twins"].items():
        add(src, t, bid, "KEY_REPEAT_AFTER_CLEANING", "silver", "supersede", n)
    return pd.DataFrame([dict(zip(("source", "source_table", "batch_id", "reason_class", "stage", "action"), k), rows=v)
                         for k, v in sorted(acc.items())],
                        columns=["source", "source_table", "batch_id", "reason_class", "stage", "action", "rows"])
