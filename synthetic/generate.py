"""Entry point: ``generate(out, persons, ...)`` writes the landing zone and the ground truth."""

from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from . import batch2 as b2
from . import claims, enrollment, fund, population, sources, truth
from .institutions import World, build_world
from .schema import EXTRA, SOURCES, encoding_of
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


def batch_id(d: date, k: int = 1) -> str:
    return f"{d:%Y%m%d}-{k:03d}"


def columns_of(source: str, table: str, incremental: bool = False) -> list[str]:
    cols = list(SOURCES[source][table]) + EXTRA.get((source, table), [])
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


def build_chunk(seed: int, chunk: int, start: int, n: int, n_chunks: int, persons: int, ref: date, batches: int) -> dict:
    """Everything one chunk contributes: encoded file pieces, truth frames and fund accumulators."""
    world = _world(persons, seed)
    rng = np.random.default_rng([seed, chunk])
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
    T1 = truth.persons(ctx, P, I, C, R)
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
    S, L = claims.finalize(rng, ctx, S, world, 1, 0, 0)
    fraud_truth = claims.fraud_rows(S)
    audit_df, audit_truth = audits(rng, ctx, S, world)

    b1 = batch_id(ref, 1)
    pieces: list[tuple[str, str, str, pd.DataFrame]] = []
    med, recs = sources.medins_person_tables(ctx, P, R, I, C, world)
    for t, df in med.items():
        pieces.append(("medins", b1, t, df))
    for t, df in sources.setl_tables(S, L).items():
        pieces.append(("medins", b1, t, df))
    pieces.append(("medins", b1, "audit_result", audit_df))
    snapshot_builders = [
        ("police", lambda PP, TT, CC: sources.police_tables(ctx, PP)),
        ("civil_affairs", lambda PP, TT, CC: sources.civil_tables(ctx, PP)),
        ("tax", lambda PP, TT, CC: sources.tax_tables(ctx, PP, CC, world)),
        ("health", lambda PP, TT, CC: sources.health_tables(ctx, PP)),
        ("hrss", lambda PP, TT, CC: sources.hrss_tables(ctx, PP, world)),
        ("national", lambda PP, TT, CC: sources.national_tables(ctx, PP, TT)),
    ]
    for src, fn in snapshot_builders:
        tabs, r = fn(P, T1, C)
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
    acc = _accumulate(S, I)
    unpaid = truth.enrolled_unpaid_rows(C, I)
    recon = truth.recon_rows(P, C)
    T = T1
    if batches >= 2:
        rng2 = np.random.default_rng([seed, chunk, 2])
        P2, R2, I2, C2, incr = b2.apply(rng2, ctx, P, R, I, C)
        bt = batch_id(ref + timedelta(days=7), 1)
        upd = (ctx.ref.astype("datetime64[s]") + rng2.integers(86400, 6 * 86400, 1)[0].astype("timedelta64[s]"))
        upd_s = str(upd).replace("T", " ")
        m2, _ = sources.medins_person_tables(ctx, P2, pd.concat([incr["rec_upsert"], incr["rec_delete"]], ignore_index=True),
                                             incr["insu_upsert"], incr["contrib_upsert"], world)
        ndel = len(incr["rec_delete"])
        m2["psn_info"]["del_flag"] = ["0"] * (len(m2["psn_info"]) - ndel) + ["1"] * ndel
        m2["psn_info"]["updt_time"] = upd_s
        m2["psn_insu"]["del_flag"] = "0"
        m2["psn_insu"]["updt_time"] = upd_s
        m2["contrib"]["del_flag"] = "0"
        for t, df in m2.items():
            pieces.append(("medins", bt, t, df))
        E2 = claims.eligible(P2, I2, R2)
        S2 = claims.natural_specs(rng2, E2, P2, picker, world, ctx.ref, ctx.ref + np.timedelta64(7, "D"))
        if len(S2):
            S2, L2 = claims.finalize(rng2, ctx, S2, world, 2, 0, 0, reverse=False)
            for t, df in sources.setl_tables(S2, L2).items():
                df["del_flag"] = "0"
                pieces.append(("medins", bt, t, df))
        T2 = truth.persons(ctx, P2, I2, C2, R2)
        for src, fn in snapshot_builders:
            tabs, r = fn(P2, T1, C2)
            for t, df in tabs.items():
                pieces.append((src, bt, t, df))
            # records of batch-2 snapshots (same keys as batch 1 plus late deaths)
        new_recs = sources.medins_person_tables(ctx, P2, incr["rec_upsert"], incr["insu_upsert"].iloc[:0], incr["contrib_upsert"].iloc[:0], world)[1][0]
        new_recs = new_recs[~new_recs["source_key"].isin(records.loc[records["source_table"] == "psn_info", "source_key"])]
        new_recs["batch_id"] = bt
        new_recs["deleted_in_batch"] = None
        records.loc[(records["source_table"] == "psn_info") & records["source_key"].isin(incr["rec_delete"]["psn_no"]), "deleted_in_batch"] = bt
        late = sources.pid_str(P2["pid"].to_numpy()[incr["late_deaths"]])
        late_recs = []
        for src, fn in snapshot_builders[:4]:
            _, rr = fn(P2, T1, C2)
            for x in rr:
                late_recs.append(x[x["person_id"].isin(late) & x["source_table"].isin(["hsreg_psn", "death_cremation", "death_cert"])])
        lr = pd.concat(late_recs, ignore_index=True)
        lr = lr[lr["source_table"] != "hsreg_psn"]
        lr["batch_id"] = bt
        lr["deleted_in_batch"] = None
        records = pd.concat([records, new_recs, lr], ignore_index=True)
        unpaid = truth.enrolled_unpaid_rows(C2, I2)
        T = T2
        T["in_national_list"] = on_list
    T["insured_after_batch1"] = T1["insured"].to_numpy()
    T["in_target_after_batch1"] = T1["in_target_population"].to_numpy()
    T["uninsured_after_batch1"] = T1["uninsured"].to_numpy()
    nat = T[on_list]
    national = pd.DataFrame({"certno": P["cert_national"].to_numpy()[on_list], "person_id": nat["person_id"].to_numpy(),
                             "stale_reason": truth.stale_reason(nat)})
    encoded = []
    for src, bid, t, df in pieces:
        incremental = bid != b1 and src == "medins"
        cols = columns_of(src, t, incremental)
        encoded.append((src, bid, t, cols, to_csv_bytes(df, cols, encoding_of(src)), len(df)))
    return {"files": encoded, "truth": {"persons": T, "records": records, "national_list": national,
                                        "fraud": fraud_truth, "audits": audit_truth, "enrolled_unpaid": unpaid,
                                        "contrib_recon": recon}, "acc": acc}


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
                       "deduct_amt": fmt_money(deduct[idx]), "audit_date": fmt_dates(adate[idx])})
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
def _plan_bad_rows(w: LandingWriter, b1: str) -> None:
    w.plan_bad_row("medins", b1, "setl", BadRowPlan("BAD_AMOUNT", "medfee_sumamt", "12.3.4", 2))
    w.plan_bad_row("medins", b1, "setl", BadRowPlan("BAD_DATE", "begndate", "2026-02-30", 7))
    w.plan_bad_row("medins", b1, "fee_list", BadRowPlan("FIELD_COUNT", None, None, 4))
    w.plan_bad_row("medins", b1, "fee_list", BadRowPlan("BAD_AMOUNT", "det_item_fee_sumamt", "abc", 9))
    w.plan_bad_row("civil_affairs", b1, "death_cremation", BadRowPlan("BAD_DATE", "death_date", "2026-02-30", 1))
    w.plan_bad_row("tax", b1, "medins_clct", BadRowPlan("BAD_AMOUNT", "clct_amt", "abc", 3))
    w.plan_bad_row("police", b1, "hsreg_psn", BadRowPlan("FIELD_COUNT", None, None, 5))


def generate(out: Path, persons: int, seed: int = 42, reference_date: date = date(2026, 11, 1), batches: int = 1,
             chunk_size: int = 200_000, progress: Callable[[str, int, int], None] | None = None,
             workers: int = 1, gzip: bool = False) -> GenerateSummary:
    """Write a contract-conform landing zone for ``persons`` natural persons to ``out`` plus ``out/_truth``
    (``gzip``: ``<table>.csv.gz`` files, about a fifth of the size)."""
    t0 = time.time()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report = progress or (lambda *_: None)
    b1 = batch_id(reference_date, 1)
    bt = batch_id(reference_date + timedelta(days=7), 1)
    ids_ = [b1] + ([bt] if batches >= 2 else [])
    w = LandingWriter(out, gzip=gzip)
    ext = lambda d: f"{d:%Y-%m-%d} 02:00:00"
    for src in SOURCES:
        w.open_batch(src, b1, ext(reference_date), "full")
        if batches >= 2:
            w.open_batch(src, bt, ext(reference_date + timedelta(days=7)), "incremental" if src == "medins" else "full")
    w.open_batch(CORRUPT_SOURCE, batch_id(reference_date, 2), f"{reference_date:%Y-%m-%d} 14:00:00", "full")
    _plan_bad_rows(w, b1)
    tw = truth.TruthWriter(out / "_truth")
    report("world", 0, 1)
    world = _world(persons, seed)
    for name, df in (("emp_info", world.emp_info), ("fixmedins", world.fixmedins), ("practitioner", world.practitioner)):
        w.write("medins", b1, name, df, columns_of("medins", name))
    report("world", 1, 1)
    n_chunks = max(1, -(-persons // chunk_size))
    jobs = [(seed, c, c * chunk_size, min(chunk_size, persons - c * chunk_size), n_chunks, persons, reference_date, batches)
            for c in range(n_chunks)]
    hifp: dict = {}
    insured: dict = {}
    done = 0

    def consume(res):
        nonlocal done
        for src, bid, t, cols, data, nrows in res["files"]:
            w.write_bytes(src, bid, t, cols, data, nrows)
        for name, df in res["truth"].items():
            tw.write(name, df)
        for k, v in res["acc"]["hifp"].items():
            hifp[k] = hifp.get(k, 0.0) + v
        for k, v in res["acc"]["insured"].items():
            insured[k] = insured.get(k, 0) + v
        done += 1
        report("persons", min(done * chunk_size, persons), persons)

    report("persons", 0, persons)
    if workers > 1 and n_chunks > 1:
        with ProcessPoolExecutor(max_workers=workers) as ex:
            pending = []
            it = iter(jobs)
            for job in it:
                pending.append(ex.submit(build_chunk, *job))
                if len(pending) > workers:
                    consume(pending.pop(0).result())
            for f in pending:
                consume(f.result())
    else:
        for job in jobs:
            consume(build_chunk(*job))
    # global tables after all chunks
    ref_ym = reference_date.year * 100 + reference_date.month
    led, op, fr = fund.build(seed, ref_ym, hifp, insured)
    w.write("medins", b1, "fund_ledger", led, columns_of("medins", "fund_ledger"))
    w.write("medins", b1, "fund_opening", op, columns_of("medins", "fund_opening"))
    tw.write("fund_risk", fr)
    fm = world.fixmedins
    r09 = fm[fm["r09"] != ""]
    tw.write("fraud", [{"rule_code": "R09_PROVIDER_OUTLIER", "subject_type": "institution", "subject_id": c, "setl_ids": [],
                        "group_id": None, "person_ids": [], "fixmedins_codes": [c], "is_decoy": r == "decoy"}
                       for c, r in zip(r09["fixmedins_code"], r09["r09"])])
    tw.write("institutions", fm.assign(cost_factor=fm["cost_factor"].round(3)))
    corrupt = {(CORRUPT_SOURCE, batch_id(reference_date, 2)): 1}
    files = w.close(corrupt)
    tw.write("bad_rows", pd.DataFrame(w.bad_rows))
    st = w.files[(CORRUPT_SOURCE, batch_id(reference_date, 2), "pension_insu")]
    tw.write("rejected_batches", pd.DataFrame([{"source": CORRUPT_SOURCE, "batch_id": batch_id(reference_date, 2),
                                                "file": st.path.name, "reason": "ROW_COUNT_MISMATCH",
                                                "manifest_rows": st.rows + 1, "actual_rows": st.rows}]))
    tw.write("meta", pd.DataFrame([{"persons": persons, "seed": seed, "reference_date": reference_date.isoformat(),
                                    "batches": ",".join(ids_), "truth_state_after_batch": ids_[-1], "chunk_size": chunk_size}]))
    tw.close()
    rows: dict = {}
    for (src, bid, t), s in w.files.items():
        if bid == batch_id(reference_date, 2):
            continue
        rows[(src, t)] = rows.get((src, t), 0) + s.rows
    from .readme_truth import TRUTH_README
    (out / "_truth" / "README.md").write_text(TRUTH_README, encoding="utf-8")
    return GenerateSummary(out=out, persons=persons, seed=seed, batch_ids=ids_, rows=rows, files=files,
                           truth_rows=dict(tw.rows), seconds=time.time() - t0)
