"""Daily incremental batches on top of a generated landing zone (``yibao generate --days N``).

A full load (:func:`yibao.synthetic.generate.generate`) leaves the latent state of every chunk under
``out/_state/`` (:mod:`yibao.synthetic.state`).  Each day continues it: the province lives one more day and
every department delivers what it registered, as an ``incremental`` batch (upserts by the contract key,
``del_flag = 1`` deletes):

- births (health birth certificate; police registers the child 10-40 days later and health re-delivers the
  certificate with the child's ID number; medins enrolls the newborn 3-30 days after registration), deaths
  (one department registers first, the others later: health 0-2 days, civil affairs 1-7, police 3-30,
  medins 5-45, so most deaths reach the sources on different days), moves (households moving to another
  county: police at once, the medins record weeks later; moves out of the province: police cancels the
  hukou, medins terminates the enrollment later), address and phone corrections, residence-permit renewals;
- enrollments of the never-enrolled (newborns of the last year first), suspensions, resumptions,
  terminations, duplicate enrollments cleaned up;
- contributions: tax collects each employee's 310 contribution of the running month on the employer's pay
  day and the core system books it 1-4 days later; some unpaid periods of the last 12 months are collected
  late (tax at once, the core system later) — late-arriving rows for old periods;
- care: the settlements of the day (about 1.5 per person-year: outpatient, emergency, chronic, pharmacy,
  inpatient stays discharged that day, deliveries of the day's births) with fee lines, 1% of them late
  (visits of 8-60 days ago); planted fraud across day boundaries: R01 (a dead person's card used; and a
  death registered only after the person's later visits were delivered), R02 (readmission to the same
  hospital within 15 days of a stay delivered in an earlier batch, decoys at 18-30 days or another
  hospital), R07 (idle bed days), decoys R01 (death in hospital on the discharge day);
- tax withholding months, new withholding employers; pension holders starting to draw; new assistance
  recipients and assistance end dates; other-province enrollments moving or ending (cross-province duplicates
  resolved);
- corrections (``del_flag = 1``): merged duplicate person records (medins), settlements entered in error
  (deleted 1-2 days after delivery, with their fee lines), reversals (冲正, ``refd_setl_flag`` 0 -> 1) of
  settlements delivered days earlier, key twins removed by tax / hrss / civil affairs, stale entries of the
  national uninsured list, long-expired residence permits purged by police, duplicate birth certificates
  voided by health.

About ``change_rate`` (default 0.3%) of the persons change in the registers per day, spread over every
department; settlements and contributions follow their own natural rates.  Every day is a pure function of
the state and ``(seed, chunk, day)``: ``--days 3`` then ``--days 2`` gives the bytes of ``--days 5``, and
``workers=2`` the bytes of ``workers=1``.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from yibao.lock import holds_landing_lock

from . import claims, dirt, ids, names, sources, truth
from . import state as stt
from .batch2 import _renumber
from .divisions import PROVINCE_NAME, load as load_divisions
from .population import Context, _days, in_target, ym_of
from .schema import KEYS, SOURCES, encoding_of
from .writer import BadRowPlan, LandingWriter, to_csv_bytes

CHANGE_RATE = 0.003            # share of persons changed in the registers per day
# Share of the daily change rate per kind of register event (expected events = share x rate x persons).
SHARES = {
    "phone": 0.20, "address": 0.10, "move_county": 0.05, "move_out": 0.02, "permit_renew": 0.04,
    "death": 0.015, "birth": 0.012, "enroll": 0.08, "suspend": 0.03, "resume": 0.015, "terminate": 0.03,
    "dup_cleanup": 0.005, "tax_update": 0.15, "tax_employer": 0.02, "tax_resumed": 0.005,
    "pension_retire": 0.05, "pension_new": 0.03, "aid_new": 0.02, "aid_end": 0.02, "elsewhere_move": 0.01,
    "cross_resolved": 0.003, "child_id": 0.003,
}
# Corrections: daily probability per candidate row (at least one per chunk and day where there is one).
P_DUP_MERGED = 0.01            # medins plain duplicate person records deleted (merged)
P_TWIN_REMOVED = 0.02          # tax / hrss / civil rows whose key differs only by dirt, deleted
P_STALE_LIST = 0.03            # national uninsured-list entries of persons enrolled, dead or moved, deleted
P_PERMIT_PURGE = 0.01          # long-expired residence permits purged by police
P_ERRONEOUS = 0.002            # settlements entered in error (deleted 1-2 days later)
P_REVERSAL = 0.002             # settlements reversed 1-3 days later
P_DUP_CERT = 0.0005            # children of the last year given a second birth certificate (voided 1-3 days later)
P_WRONG_ROW = 0.0002           # persons given a row with a wrong key by tax / hrss / civil (deleted 1-3 days later)
P_LATE_PAY = 0.01              # unpaid periods of the last 12 months collected late (per day)
P_LATE_ASSESS = 0.005          # never-assessed periods collected late
P_BOOK = 0.01                  # periods tax collected that the core system books now
PLANT_RATE = 2e-5              # planted fraud cases per person and day (per rule, at least one per chunk)
LATE_SHARE = 0.01              # late outpatient / pharmacy visits, as a share of the day's
DEATH_LAG = {"H": (0, 3), "C": (1, 8), "P": (3, 31), "M": (5, 46)}   # registration lag after death, days
DEATH_PATTERNS = (("PCHM", 0.55), ("PCH", 0.12), ("H", 0.06), ("C", 0.06), ("P", 0.06), ("M", 0.05), ("CH", 0.05),
                  ("PM", 0.05))
CAUSES = np.array(["I21.900", "I63.900", "C34.900", "J44.900", "C22.000", "I64.x00", "C16.900", "N18.500"], dtype=object)
NEW_PID_BASE = 6_000_000_000   # person numbers of persons born in daily batches: base + chunk x stride + serial
NEW_PID_STRIDE = 2_000_000
IDENTITY = {("medins", "psn_info"), ("police", "hsreg_psn"), ("police", "resd_permit"), ("civil_affairs", "death_cremation"),
            ("civil_affairs", "assistance_obj"), ("tax", "taxpayer"), ("health", "birth_cert"), ("health", "death_cert"),
            ("hrss", "pension_insu"), ("national", "national_uninsured"), ("national", "insured_elsewhere")}
# one unparseable line a day, in turn in these files (a copy of a real row with the defect, before it)
DAILY_BAD_ROWS = [
    ("medins", "setl", BadRowPlan("BAD_AMOUNT", "psn_cash_pay", "1,234.50", 0)),
    ("tax", "medins_clct", BadRowPlan("BAD_AMOUNT", "clct_amt", "abc", 0)),
    ("police", "hsreg_psn", BadRowPlan("FIELD_COUNT", None, None, 0)),
    ("medins", "fee_list", BadRowPlan("BAD_DATE", "fee_ocur_time", "2026-11-31 10:00:00", 1)),
    ("health", "birth_cert", BadRowPlan("BAD_DATE", "brdy", "20261131", 0)),
    ("hrss", "pension_insu", BadRowPlan("EMPTY_KEY", "certno", "", 0)),
    ("civil_affairs", "death_cremation", BadRowPlan("BAD_DATE", "death_date", "2026-02-30", 0)),
]
# a key repeated in one file: an earlier version of the row just before it (ingestion keeps the last)
REPEATS_DAILY = {
    ("medins", "psn_info"): lambda df, rng: df.assign(tel=names.sample_mobiles(rng, len(df))),
    ("police", "hsreg_psn"): lambda df, rng: df.assign(hsreg_addr=None),
    ("tax", "medins_clct"): lambda df, rng: df.assign(clct_amt="0.00"),
}
PENDING_COLS = {"due": np.int64, "kind": object, "i": np.int64, "a": object}
ROWS_COLS = ["due", "source", "source_table", "source_key", "row", "del_flag", "first_batch", "reason", "person_id"]


def day_date(ref: date, day: int) -> date:
    """Business date of daily batch ``day`` (1, 2, ...): the days after the batch-2 week."""
    return ref + timedelta(days=6 + day)


def day_batch(ref: date, day: int) -> str:
    """Batch id of day ``day``: delivered the morning after its business date, after every full-load batch."""
    from .generate import batch_id
    return batch_id(ref + timedelta(days=7 + day), 1)


def _d64(d: date) -> np.datetime64:
    return np.datetime64(d.isoformat(), "D")


def _cat(*frames: pd.DataFrame) -> pd.DataFrame:
    """Row-wise concatenation that leaves out empty frames (their column types decide nothing)."""
    full = [f for f in frames if len(f)]
    if not full:
        return frames[0].reset_index(drop=True)
    return full[0].reset_index(drop=True) if len(full) == 1 else pd.concat(full, ignore_index=True)


def _empty(cols: dict) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in cols.items()})


# ------------------------------------------------------------------------------------------ initial state
def initial_state(ctx: Context, P: pd.DataFrame, R: pd.DataFrame, I: pd.DataFrame, C: pd.DataFrame, T1: pd.DataFrame,
                  on_list: np.ndarray, records: pd.DataFrame, settled: list[pd.DataFrame], ids_: list[str]) -> dict:
    """The frames :mod:`yibao.synthetic.state` keeps for a chunk after its full-load batches."""
    P = P.copy()
    n = len(P)
    P["on_list"] = np.asarray(on_list, dtype=bool)
    P["ab1_insured"] = T1["insured"].to_numpy()
    P["ab1_target"] = T1["in_target_population"].to_numpy()
    P["ab1_uninsured"] = T1["uninsured"].to_numpy()
    cols = ["setl_id", "i", "inst", "doc", "begn", "end", "med_type", "fraud", "decoy", "refd"]
    S = pd.concat([s[cols] for s in settled], ignore_index=True)
    i = S["i"].to_numpy().astype(np.int64)
    end = S["end"].to_numpy().astype("datetime64[D]").astype(np.int64)
    nat = np.iinfo(np.int64).min
    last = np.full(n, nat, dtype=np.int64)
    np.maximum.at(last, i, end)
    ip = S["med_type"].isin(["21", "52"]).to_numpy()
    last_ip = np.full(n, nat, dtype=np.int64)
    np.maximum.at(last_ip, i[ip], end[ip])
    planted = np.zeros(n, dtype=bool)
    planted[i[(S["fraud"].to_numpy() != "") | (S["decoy"].to_numpy() != "")]] = True
    as_date = lambda a: np.where(a == nat, np.datetime64("NaT", "D"), a.astype("datetime64[D]"))
    P["last_care"] = as_date(last)
    P["last_care_full"] = as_date(last)
    P["last_ip_end"] = as_date(last_ip)
    P["planted"] = planted
    P["no_backdate"] = False
    P["born_day"] = np.int64(0)
    P["mother_i"] = np.int64(-1)
    P["father_i"] = np.int64(-1)
    recent = ip & (S["refd"].to_numpy() == "0") & (S["end"].to_numpy().astype("datetime64[D]") >= ctx.ref - np.timedelta64(45, "D"))
    st = S[recent]
    stays = pd.DataFrame({"setl_id": st["setl_id"].to_numpy(), "i": st["i"].to_numpy().astype(np.int64),
                          "inst": st["inst"].to_numpy().astype(np.int64), "begn": st["begn"].to_numpy().astype("datetime64[D]"),
                          "end": st["end"].to_numpy().astype("datetime64[D]"),
                          "natural": (st["fraud"].to_numpy() == "") & (st["decoy"].to_numpy() == "")})
    visits = pd.DataFrame({"setl_id": pd.Series(dtype=object), "i": pd.Series(dtype=np.int64),
                           "begn": pd.Series(dtype="datetime64[s]"), "end": pd.Series(dtype="datetime64[s]"),
                           "fixmedins_code": pd.Series(dtype=object)})
    # person-identity keys delivered so far; last_batch: the last batch that carried the key (full snapshots
    # re-deliver every key they still hold)
    full_last = {src: ids_[1] if len(ids_) > 1 and src != "medins" else ids_[0] for src in SOURCES}
    keys = pd.DataFrame({"source": records["source"].to_numpy(), "source_table": records["source_table"].to_numpy(),
                         "source_key": records["source_key"].to_numpy(), "person_id": records["person_id"].to_numpy(),
                         "batch_id": records["batch_id"].to_numpy(),
                         "last_batch": np.where(records["batch_id"].to_numpy().astype(str)
                                                > records["source"].map(full_last).to_numpy().astype(str),
                                                records["batch_id"].to_numpy(), records["source"].map(full_last).to_numpy()),
                         "deleted": records["deleted_in_batch"].notna().to_numpy(),
                         "twin": records["superseded_in_silver"].to_numpy().astype(bool)})
    # written to disk as they are (state.save_chunk); every later day reads them back through the same Parquet types
    return {"P": P, "R": R.reset_index(drop=True), "I": I.reset_index(drop=True), "C": C.reset_index(drop=True),
            "keys": keys, "stays": stays, "visits": visits, "pending": _empty(PENDING_COLS),
            "rows": pd.DataFrame({c: pd.Series(dtype=np.int64 if c == "due" else object) for c in ROWS_COLS})}


# ------------------------------------------------------------------------------------------ one day of one chunk
def _joined_keys(df: pd.DataFrame, table: str) -> np.ndarray:
    ks = KEYS[table]
    if len(df) == 0:
        return np.array([], dtype=object)
    return sources.keycat(*[df[k].fillna("").astype(str).to_numpy() for k in ks])


class Day:
    """One business day of one chunk: events applied to the latent frames, the rows every department
    delivers, and the truth of what was planted."""

    def __init__(self, rng, ctx: Context, st: dict, day: int, ref: date, world, picker, rate: float, version: int = 1):
        self.rng, self.ctx, self.day, self.world, self.picker, self.rate = rng, ctx, day, world, picker, rate
        self.version = version      # contract version of the landing zone (2: setl fund shares and setl_list)
        self.P, self.R, self.I, self.C = st["P"], st["R"], st["I"], st["C"]
        self.keys, self.stays, self.visits, self.pending, self.rows = st["keys"], st["stays"], st["visits"], st["pending"], st["rows"]
        self.ref = ctx.ref
        self.bd = _d64(day_date(ref, day))
        self.bid = day_batch(ref, day)
        self.ref_ym = int(ym_of(np.array([self.ref]))[0])
        self.n0 = ctx.n
        self.busy = np.zeros(len(self.P), dtype=bool)
        self.touch: dict[str, list] = {}
        self.extra: dict[tuple[str, str], list[pd.DataFrame]] = {}     # rows to deliver as they are (del_flag set)
        self.extra_recs: list[pd.DataFrame] = []
        self.events: list[pd.DataFrame] = []
        self.corrections: list[pd.DataFrame] = []
        self.late: list[pd.DataFrame] = []
        self.fraud: list[dict] = []
        self.new_pending: list[pd.DataFrame] = []
        self.new_rows: list[pd.DataFrame] = []
        self.mothers: np.ndarray = np.array([], dtype=np.int64)
        self.dead_today: list = []

    # -------------------------------------------------------------------------------- helpers
    def _t(self, name: str, idx) -> None:
        idx = np.asarray(idx)
        if idx.size:
            self.touch.setdefault(name, []).append(idx)

    def _touched(self, name: str, dtype=np.int64) -> np.ndarray:
        parts = self.touch.get(name, [])
        if not parts:
            return np.array([], dtype=dtype)
        return np.unique(np.concatenate([np.asarray(p, dtype=dtype) for p in parts]))

    def _pick(self, mask: np.ndarray, share: float | None = None, p: float | None = None, k_min: float = 1,
              weight: np.ndarray | None = None) -> np.ndarray:
        """Candidates of ``mask``, each with probability ``p`` (or ``share`` x rate x persons in expectation,
        optionally weighted), at least ``k_min`` when there are candidates (a fraction: at least one with that
        probability), so that a small province sees every kind of event."""
        floor = int(k_min) + int(self.rng.random() < k_min - int(k_min))
        cand = np.flatnonzero(mask)
        if len(cand) == 0:
            return cand
        if p is None:
            expected = share * self.rate * self.n0
            if weight is not None:
                w = np.asarray(weight, dtype=float)[cand]
                pp = np.minimum(1.0, expected * w / max(w.sum(), 1e-12))
            else:
                pp = np.full(len(cand), min(1.0, expected / len(cand)))
        else:
            pp = np.full(len(cand), p)
        sel = cand[self.rng.random(len(cand)) < pp]
        if len(sel) < floor:
            sel = np.sort(self.rng.choice(cand, size=min(floor, len(cand)), replace=False))
        return sel

    def _event(self, kind: str, idx, detail=None) -> None:
        idx = np.asarray(idx, dtype=np.int64)
        if idx.size == 0:
            return
        det = np.full(len(idx), detail, dtype=object) if detail is None or isinstance(detail, str) else np.asarray(detail, dtype=object)
        self.events.append(pd.DataFrame({"batch_id": self.bid, "business_date": str(self.bd), "kind": kind,
                                         "person_id": sources.pid_str(self.P["pid"].to_numpy()[idx]), "detail": det}))

    def _schedule(self, kind: str, i, due, a=None) -> None:
        i = np.asarray(i, dtype=np.int64)
        if i.size == 0:
            return
        a = np.full(len(i), "" if a is None else a, dtype=object) if a is None or isinstance(a, str) else np.asarray(a, dtype=object)
        self.new_pending.append(pd.DataFrame({"due": np.asarray(due, dtype=np.int64) * np.ones(len(i), dtype=np.int64),
                                              "kind": kind, "i": i, "a": a}))

    def _schedule_rows(self, source: str, table: str, df: pd.DataFrame, due, del_flag: str, reason: str,
                       person_id) -> None:
        if len(df) == 0:
            return
        cols = _columns(source, table, self.version)
        recs = [json.dumps({c: (None if (v is None or (isinstance(v, float) and np.isnan(v))) else str(v))
                            for c, v in zip(cols, row)}, ensure_ascii=False)
                for row in df.reindex(columns=cols).itertuples(index=False, name=None)]
        self.new_rows.append(pd.DataFrame({"due": np.asarray(due, dtype=np.int64) * np.ones(len(df), dtype=np.int64),
                                           "source": source, "source_table": table, "source_key": _joined_keys(df, table),
                                           "row": recs, "del_flag": del_flag, "first_batch": self.bid, "reason": reason,
                                           "person_id": np.asarray(person_id, dtype=object)}))

    def _add_rows(self, source: str, table: str, df: pd.DataFrame, del_flag: str) -> None:
        if len(df):
            self.extra.setdefault((source, table), []).append(df.assign(del_flag=del_flag))

    def _correct(self, source: str, table: str, keys, first, reason: str, person_id) -> None:
        keys = np.asarray(keys, dtype=object)
        if keys.size == 0:
            return
        self.corrections.append(pd.DataFrame({"source": source, "source_table": table, "batch_id": self.bid,
                                              "source_key": keys, "first_batch_id": np.asarray(first, dtype=object),
                                              "reason": reason, "person_id": np.asarray(person_id, dtype=object)}))

    def _late(self, source: str, table: str, keys, business_date, pid) -> None:
        keys = np.asarray(keys, dtype=object)
        if keys.size == 0:
            return
        self.late.append(pd.DataFrame({"source": source, "source_table": table, "batch_id": self.bid, "source_key": keys,
                                       "business_date": np.asarray(business_date, dtype=object), "kind": "LATE_ROW",
                                       "person_id": sources.pid_str(np.asarray(pid))}))

    @property
    def alive(self) -> np.ndarray:
        return ~self.P["dead"].to_numpy()

    @property
    def age(self) -> np.ndarray:
        return self.P["age_days"].to_numpy() / 365.25

    def _free(self) -> np.ndarray:
        """Persons free for a new register event today: alive, not busy, no planted duplicate enrollment."""
        return self.alive & ~self.busy & ~self.P["dup_planted"].to_numpy()

    def _primary(self, idx) -> np.ndarray:
        """psn_no of the primary medins record of persons ``idx`` (None where they have none)."""
        prim = self.R[self.R["rec"].to_numpy() == 0].set_index("i")["psn_no"]
        return prim.reindex(np.asarray(idx)).to_numpy()

    def _active_basic(self) -> np.ndarray:
        I = self.I
        m = (I["psn_insu_stas"].to_numpy() == "1") & I["insutype"].isin(["310", "390"]).to_numpy()
        out = np.zeros(len(self.P), dtype=bool)
        out[I["i"].to_numpy()[m]] = True
        return out

    # -------------------------------------------------------------------------------- pending events
    def run_pending(self) -> None:
        pend = self.pending
        due = pend["due"].to_numpy() <= self.day
        todo, self.pending = pend[due], pend[~due].reset_index(drop=True)
        for kind, g in todo.groupby("kind", sort=True):
            i, a = g["i"].to_numpy(), g["a"].to_numpy()
            if kind == "death_src":
                for letter in "PCHM":
                    self._register_death(i[a == letter], letter)
            elif kind == "book":
                self._book(i)
            elif kind == "register":
                self._register_newborn(i)
            elif kind == "enroll_nb":
                ok = self.alive[i] & (self.P["enroll_state"].to_numpy()[i] == "NEVER")
                self._enroll(i[ok], newborn=True)
            elif kind == "medins_info":
                psn = self._primary(i)
                self._t("psn_info_psn", psn[pd.notna(psn)].astype(object))
            elif kind == "medins_term":
                self._terminate_persons(i, "MOVE_OUT_TERMINATION")
        rows = self.rows
        due = rows["due"].to_numpy() <= self.day
        todo, self.rows = rows[due], rows[~due].reset_index(drop=True)
        for (src, table, flag), g in todo.groupby(["source", "source_table", "del_flag"], sort=True):
            df = pd.DataFrame([json.loads(r) for r in g["row"]])
            self._add_rows(src, table, df, flag)
            if flag == "1":
                for reason, gg in g.groupby("reason", sort=True):
                    self._correct(src, table, gg["source_key"].to_numpy(), gg["first_batch"].to_numpy(), reason,
                                  gg["person_id"].to_numpy())
                if (src, table) in IDENTITY:
                    self._mark_deleted(src, table, g["source_key"].to_numpy())
        done = set(todo.loc[(todo["source_table"] == "setl"), "source_key"])
        if done:
            self.stays = self.stays[~self.stays["setl_id"].isin(done)].reset_index(drop=True)
            self.visits = self.visits[~self.visits["setl_id"].isin(done)].reset_index(drop=True)

    # -------------------------------------------------------------------------------- deaths
    def _register_death(self, idx: np.ndarray, letter: str) -> None:
        """Department ``letter`` (P/C/H/M) registers the deaths of ``idx`` today."""
        idx = np.asarray(idx, dtype=np.int64)
        if idx.size == 0:
            return
        P = self.P
        src = P["death_src"].to_numpy()
        keep = np.array([letter not in s for s in src[idx]], dtype=bool)
        idx = idx[keep]
        if idx.size == 0:
            return
        P.loc[idx, "death_src"] = ["".join(c for c in "PCHM" if c in s + letter) for s in src[idx]]
        dd = P["death_date"].to_numpy().astype("datetime64[D]")[idx]
        if letter == "P":
            P.loc[idx, "hsreg_stas"] = "2"
            P.loc[idx, "cancel_date"] = np.full(len(idx), self.bd)
            self._t("hsreg", idx)
        elif letter == "C":
            self._t("death_cremation", idx)
        elif letter == "H":
            self._t("death_cert", idx)
        elif letter == "M":
            P.loc[idx, "surv_stas"] = "2"
            psn = self._primary(idx)
            self._t("psn_info_psn", psn[pd.notna(psn)].astype(object))
            I = self.I
            act = np.flatnonzero(np.isin(I["i"].to_numpy(), idx) & (I["psn_insu_stas"].to_numpy() == "1"))
            if act.size:
                when = pd.Series(dd, index=idx).reindex(I["i"].to_numpy()[act]).to_numpy()
                I.loc[act, "psn_insu_stas"] = "4"
                I.loc[act, "paus_insu_date"] = when
                self._t("psn_insu", act)
        self._event("DEATH_REGISTERED", idx, letter)
        lag = (self.bd - dd).astype(np.int64)
        late = lag >= 3
        if late.any() and letter in "CH":
            col = {"C": "cert_civil", "H": "cert_health"}[letter]
            self._late({"C": "civil_affairs", "H": "health"}[letter], {"C": "death_cremation", "H": "death_cert"}[letter],
                       P[col].to_numpy()[idx[late]], dirt.fmt_dates(dd[late]), P["pid"].to_numpy()[idx[late]])

    def _die(self, idx: np.ndarray, death_date: np.ndarray, kind: str, first_letters: np.ndarray | None = None) -> None:
        """Persons ``idx`` died on ``death_date``; the first department registers it today, the others when
        their lag after the death date has passed (later days)."""
        idx = np.asarray(idx, dtype=np.int64)
        if idx.size == 0:
            return
        P, rng = self.P, self.rng
        pats = np.array([p for p, _ in DEATH_PATTERNS], dtype=object)
        pat = rng.choice(pats, len(idx), p=[w for _, w in DEATH_PATTERNS])
        local = P["local"].to_numpy()[idx]
        has_m = P["has_medins"].to_numpy()[idx]
        pat = np.array([(s if lo else s.replace("P", "")) for s, lo in zip(pat, local)], dtype=object)
        pat = np.array([(s if m else s.replace("M", "")) or "C" for s, m in zip(pat, has_m)], dtype=object)
        if first_letters is not None:
            pat = np.array([f + s.replace(f, "") for f, s in zip(first_letters, pat)], dtype=object)
        P.loc[idx, "dead"] = True
        P.loc[idx, "death_date"] = death_date
        cause = P["death_cause"].to_numpy()[idx]
        P.loc[idx, "death_cause"] = np.where(pd.isna(cause), rng.choice(CAUSES, len(idx)), cause)
        self.busy[idx] = True
        self._event(kind, idx, [str(d) for d in death_date])
        since = (self.bd - np.asarray(death_date, dtype="datetime64[D]")).astype(np.int64)
        lags = {c: rng.integers(lo, hi, len(idx)) for c, (lo, hi) in DEATH_LAG.items()}
        firsts = np.array([min(s, key=lambda c: lags[c][k]) if first_letters is None else s[0]
                           for k, s in enumerate(pat)], dtype=object)
        for letter in "PCHM":
            m = firsts == letter
            self._register_death(idx[m], letter)
            later = np.array([letter in s for s in pat], dtype=bool) & ~m
            if later.any():
                due = self.day + np.maximum(1, lags[letter][later] - since[later])
                self._schedule("death_src", idx[later], due, letter)

    def deaths(self) -> None:
        P = self.P
        age = self.age
        cand = self._free() & (P["born_day"].to_numpy() == 0) & ~P["newborn"].to_numpy() & ~P["planted"].to_numpy()
        w = np.clip(0.004 + 0.0015 * np.maximum(age - 50, 0), 0, 0.12)
        idx = self._pick(cand, SHARES["death"], weight=w)
        last = P["last_care"].to_numpy().astype("datetime64[D]")[idx]
        dd = self.bd - _days(self.rng.integers(0, 3, len(idx)))
        dd = np.where(np.isnat(last), dd, np.maximum(dd, last + _days(1)))
        dd = np.minimum(dd, self.bd)
        self._die(idx, dd, "DEATH")

    def backdated_deaths(self) -> None:
        """R01 across batches: a death on or before the reference date that health or civil affairs registers only
        now (late), after visits the person's card was used for had been delivered by earlier daily batches."""
        P, V = self.P, self.visits
        if len(V) == 0:
            return
        g = V.groupby("i")["begn"].min()
        i = g.index.to_numpy().astype(np.int64)
        first_visit = g.to_numpy().astype("datetime64[D]")
        ok = (self._free()[i] & ~P["planted"].to_numpy()[i] & ~P["no_backdate"].to_numpy()[i]
              & (P["born_day"].to_numpy()[i] == 0) & (first_visit < self.bd))
        # every settlement of the full load and the batch-2 week ended before the death
        full = P["last_care_full"].to_numpy().astype("datetime64[D]")[i]
        lo = np.where(np.isnat(full), self.ref - _days(20), np.maximum(full + _days(1), self.ref - _days(20)))
        hi = np.minimum(self.ref, first_visit - _days(1))
        ok &= lo <= hi
        span = np.where(ok, (hi - lo).astype(np.int64), 0)
        dd = lo + _days((self.rng.random(len(i)) * (span + 1)).astype(np.int64))
        k = max(1, int(round(self.n0 * PLANT_RATE / 2)))
        sel = self._pick(ok, p=0.0, k_min=k)
        if sel.size == 0:
            return
        who, dd = i[sel], dd[sel]
        self._die(who, dd, "DEATH_BACKDATED", first_letters=self.rng.choice(np.array(["H", "C"], dtype=object), len(who)))
        P.loc[who, "planted"] = True
        for j, d in zip(who, dd):
            v = V[(V["i"].to_numpy() == j) & (V["begn"].to_numpy().astype("datetime64[D]") > d)]
            pid = int(P["pid"].iat[j])
            self.fraud.append({"rule_code": "R01_AFTER_DEATH", "subject_type": "person", "subject_id": f"P{pid:010d}",
                               "setl_ids": sorted(v["setl_id"].tolist()), "group_id": None, "person_ids": [f"P{pid:010d}"],
                               "fixmedins_codes": sorted(set(v["fixmedins_code"].tolist())), "is_decoy": False,
                               "_grp": f"R01B-D{self.day:03d}-{self.ctx.chunk}-{pid}"})

    # -------------------------------------------------------------------------------- births
    def births(self) -> None:
        P, rng, ctx = self.P, self.rng, self.ctx
        age = self.age
        role = P["role"].to_numpy()
        cand = (self._free() & (P["gend"].to_numpy() == "2") & (age >= 22) & (age < 40) & (role <= 1)
                & (P["born_day"].to_numpy() == 0))
        mothers = self._pick(cand, SHARES["birth"])
        m = len(mothers)
        if m == 0:
            return
        n0 = self.n0
        hh0 = P["hh"].to_numpy()[:n0]
        hh = P["hh"].to_numpy()[mothers]
        first = np.searchsorted(hh0, hh)
        g = P["gend"].to_numpy()
        other = np.where(first == mothers, first + 1, first)
        other = np.minimum(other, n0 - 1)
        father = np.where((hh0[other] == hh) & (g[other] == "1") & (role[other] <= 1), other, -1)
        M = P.iloc[mothers]
        new = M.copy().reset_index(drop=True)
        brdy = np.full(m, self.bd - _days(2))
        gend = np.where(rng.random(m) < 0.52, "1", "2").astype(object)
        serial = int((P["born_day"].to_numpy() > 0).sum())
        pid = NEW_PID_BASE + ctx.chunk * NEW_PID_STRIDE + serial + np.arange(m, dtype=np.int64)
        div = M["hk_county"].to_numpy().astype("U6")
        ymd = np.char.replace(np.datetime_as_string(brdy, unit="D"), "-", "")
        rank = pd.DataFrame({"d": div, "g": gend}).groupby(["d", "g"], sort=False).cumcount().to_numpy()
        width = max(1, 500 // max(1, ctx.n_chunks))
        seq = ((ctx.chunk * width + rank % width) % 500) * 2 + (gend == "1")
        certno = ids.make_certno(div, ymd, seq).astype(object)
        head_sur = np.array([s[0] for s in P["name"].to_numpy()[first]], dtype=object)
        given = np.array([s[1:] for s in names.sample_names(rng, gend)], dtype=object)
        name = head_sur + given
        local = M["local"].to_numpy()
        new["role"] = M["hsize"].to_numpy()
        new["hsize"] = M["hsize"].to_numpy() + 1
        new["gend"] = gend
        new["age_days"] = (self.ref - brdy).astype(np.int64)
        new["newborn"] = False
        new["hk_addr"] = np.where(local, M["hk_addr"].to_numpy(), None)
        new["book_no"] = np.where(local, M["book_no"].to_numpy(), None)
        new["name"] = name
        new["brdy"] = brdy
        new["certno"] = certno
        new["pid"] = pid
        nat = np.full(m, np.datetime64("NaT", "D"))
        for c, v in (("hsreg_stas", None), ("cancel_date", nat), ("dead", False), ("death_date", nat), ("death_src", ""),
                     ("death_cause", None), ("permit", ""), ("permit_issue", nat), ("permit_expire", nat), ("emp_idx", -1),
                     ("employed", False), ("retired_emp", False), ("flexible", False), ("student", False), ("wage_base", 0),
                     ("taxpayer", ""), ("tax_ym", 0), ("tax_second_emp", -1), ("pension_type", ""), ("pension_stas", ""),
                     ("aid_type", ""), ("aid_begin", nat), ("aid_end", nat), ("aid_second", False), ("enroll_state", "NEVER"),
                     ("scheme", "390"), ("elsewhere", False), ("elsewhere_pool", None), ("has_medins", False),
                     ("surv_stas", "1"), ("recent_enroll", False), ("elsewhere_dup", False), ("elsewhere_decoy", False),
                     ("dup_planted", False), ("child_id_issued", False), ("on_list", False), ("ab1_insured", False),
                     ("ab1_target", False), ("ab1_uninsured", False), ("last_care", nat), ("last_care_full", nat),
                     ("last_ip_end", nat), ("planted", False), ("no_backdate", False)):
            new[c] = v if not isinstance(v, np.ndarray) else v
        new["insu_pool"] = np.where(local, M["hk_pool"].to_numpy(), M["res_pool"].to_numpy())
        for src in ("civil", "health", "tax", "hrss", "national"):
            new[f"cert_{src}"] = certno
            new[f"cd_{src}"] = ""
            new[f"name_{src}"] = name
            new[f"nd_{src}"] = ""
        new["u_fmt"] = rng.random(m)
        new["u_lag"] = rng.integers(1, 40, m)
        new["u_fmt2"] = rng.random(m)
        new["u_dirt"] = rng.random(m)
        new["born_day"] = np.int64(self.day)
        new["mother_i"] = mothers.astype(np.int64)
        new["father_i"] = father.astype(np.int64)
        start = len(P)
        self.P = P = _cat(P, new[P.columns])
        self.busy = np.r_[self.busy, np.ones(m, dtype=bool)]
        self.busy[mothers] = True
        kids = start + np.arange(m)
        self._t("birth_cert", kids)
        self._event("BIRTH", kids, sources.pid_str(P["pid"].to_numpy()[mothers]))
        self._schedule("register", kids, self.day + rng.integers(10, 41, m))
        self.mothers = mothers

    def _register_newborn(self, idx: np.ndarray) -> None:
        P = self.P
        idx = idx[self.alive[idx]]
        if idx.size == 0:
            return
        P.loc[idx, "child_id_issued"] = True
        self._t("birth_cert", idx)
        local = idx[P["local"].to_numpy()[idx]]
        P.loc[local, "hsreg_stas"] = "1"
        self._t("hsreg", local)
        self._event("HUKOU_REGISTERED", local)
        self._schedule("enroll_nb", local, self.day + self.rng.integers(3, 31, len(local)))

    def child_ids(self) -> None:
        """Health fills in the ID number of children of the last year whose certificate lacked it."""
        P = self.P
        cand = P["newborn"].to_numpy() & (P["u_fmt"].to_numpy() < 0.15) & ~P["child_id_issued"].to_numpy() & self.alive
        idx = self._pick(cand, SHARES["child_id"])
        P.loc[idx, "child_id_issued"] = True
        self._t("birth_cert", idx)
        self._event("CHILD_ID_ISSUED", idx)

    def _parents(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        P = self.P
        hh0 = P["hh"].to_numpy()[: self.n0]
        g = P["gend"].to_numpy()
        first = np.searchsorted(hh0, P["hh"].to_numpy()[idx])
        first = np.minimum(first, self.n0 - 1)
        sec = np.minimum(first + 1, self.n0 - 1)
        mother = np.where(g[first] == "2", first, sec)
        father = np.where(g[first] == "2", sec, first)
        daily = P["born_day"].to_numpy()[idx] > 0
        mother = np.where(daily, P["mother_i"].to_numpy()[idx], mother)
        father = np.where(daily, P["father_i"].to_numpy()[idx], father)
        return mother, father

    def duplicate_certs(self) -> None:
        """Health issues a second birth certificate for a child by mistake, and voids it 1-3 days later."""
        P = self.P
        cand = (P["newborn"].to_numpy() | (P["born_day"].to_numpy() > 0)) & self.alive
        idx = self._pick(cand, p=P_DUP_CERT)
        if idx.size == 0:
            return
        mother, father = self._parents(idx)
        no = dirt.zcat(f"R8{self.day:03d}{self.ctx.chunk:05d}", np.arange(len(idx)), 4)
        bc, recs = sources.birth_cert_rows(P, idx, mother, father, cert_no=no)
        self._add_rows("health", "birth_cert", bc, "0")
        r = recs[0].copy()
        r["dirt"] = np.where(r["dirt"] == "", "DUPLICATE_CERT", "DUPLICATE_CERT|" + r["dirt"].astype(str))
        self.extra_recs.append(r)
        self._schedule_rows("health", "birth_cert", bc, self.day + self.rng.integers(1, 4, len(bc)), "1",
                            "DUPLICATE_CERT_VOIDED", sources.pid_str(P["pid"].to_numpy()[idx]))
        self._event("DUPLICATE_CERT", idx)

    # -------------------------------------------------------------------------------- moves and registers
    def moves(self) -> None:
        P, rng = self.P, self.rng
        D = load_divisions()
        local_ok = self._free() & P["local"].to_numpy() & (P["hsreg_stas"].to_numpy() == "1")
        # out of the province: police cancels the hukou (hsreg_stas 3), medins terminates the enrollment later
        out = self._pick(local_ok & (self.age >= 18) & ~P["planted"].to_numpy(), SHARES["move_out"])
        P.loc[out, "hsreg_stas"] = "3"
        P.loc[out, "cancel_date"] = np.full(len(out), self.bd)
        self.busy[out] = True
        self._t("hsreg", out)
        self._event("MOVE_OUT", out)
        self._schedule("medins_term", out, self.day + rng.integers(5, 31, len(out)))
        # households moving to another county of the province: police at once, the medins record later
        local_ok &= ~self.busy
        hh = P["hh"].to_numpy()
        heads = np.flatnonzero(local_ok & (P["role"].to_numpy() == 0) & (np.arange(len(P)) < self.n0))
        mask = np.zeros(len(P), dtype=bool)
        mask[heads] = True
        fam = self._pick(mask, SHARES["move_county"] / 2.4)
        if fam.size:
            members = np.flatnonzero(np.isin(hh, hh[fam]) & local_ok)
            fam_of = pd.Series(np.arange(len(fam)), index=hh[fam]).reindex(hh[members]).to_numpy()
            c = rng.choice(len(D.county_code), len(fam), p=D.weight)
            same = D.county_code[c] == P["hk_county"].to_numpy()[fam]
            c[same] = (c[same] + 1) % len(D.county_code)
            urban = np.array([nm.endswith("区") for nm in D.county_name])
            addr = names.sample_addresses(rng, np.full(len(fam), PROVINCE_NAME, dtype=object), D.city_name[c].astype(object),
                                          D.county_name[c].astype(object), urban[c])
            cm = c[fam_of]
            book = P["book_no"].to_numpy()[members]
            P.loc[members, "hk_county"] = D.county_code[cm].astype(object)
            P.loc[members, "hk_pool"] = D.pool_code[cm].astype(object)
            P.loc[members, "res_county"] = D.county_code[cm].astype(object)
            P.loc[members, "res_pool"] = D.pool_code[cm].astype(object)
            P.loc[members, "hk_addr"] = addr[fam_of]
            P.loc[members, "res_addr"] = addr[fam_of]
            P.loc[members, "book_no"] = [None if b is None else cc + b[6:] for b, cc in zip(book, D.county_code[cm])]
            self.busy[members] = True
            self._t("hsreg", members)
            self._event("MOVE_COUNTY", members, D.county_code[cm].astype(object))
            self._schedule("medins_info", members, self.day + rng.integers(1, 21, len(members)))
        # hukou address corrections (police)
        cand = self._free() & P["local"].to_numpy() & (P["hsreg_stas"].to_numpy() == "1") & P["hk_addr"].notna().to_numpy()
        idx = self._pick(cand, SHARES["address"])
        old = P["hk_addr"].to_numpy()[idx]
        new = np.array([_renumber(a) for a in old], dtype=object)
        same_res = P["res_addr"].to_numpy()[idx] == old
        P.loc[idx, "hk_addr"] = new
        P.loc[idx[same_res], "res_addr"] = new[same_res]
        self.busy[idx] = True
        self._t("hsreg", idx)
        self._event("ADDRESS", idx)
        # residence permits: valid ones renewed (police); permits expired long ago purged (deleted)
        permit = P["permit"].to_numpy()
        idx = self._pick(self._free() & (permit == "valid"), SHARES["permit_renew"])
        exp = P["permit_expire"].to_numpy().astype("datetime64[D]")[idx]
        P.loc[idx, "permit_expire"] = exp + _days(rng.integers(365, 1100, len(idx)))
        self._t("permit", idx)
        self._event("PERMIT_RENEWED", idx)
        exp = P["permit_expire"].to_numpy().astype("datetime64[D]")
        idx = self._pick((permit == "expired") & (exp < self.ref - _days(180)) & ~self.busy, p=P_PERMIT_PURGE)
        if idx.size:
            rows, _ = sources.police_tables(self.ctx, P.iloc[idx])
            rp = rows["resd_permit"]
            first = self._first_batch("police", "resd_permit", rp["certno"].to_numpy())
            self._add_rows("police", "resd_permit", rp, "1")
            self._correct("police", "resd_permit", rp["certno"].to_numpy(), first, "EXPIRED_PERMIT_PURGED",
                          sources.pid_str(P["pid"].to_numpy()[idx]))
            self._mark_deleted("police", "resd_permit", rp["certno"].to_numpy())
            P.loc[idx, "permit"] = ""
            P.loc[idx, "permit_issue"] = np.full(len(idx), np.datetime64("NaT", "D"))
            P.loc[idx, "permit_expire"] = np.full(len(idx), np.datetime64("NaT", "D"))

    # -------------------------------------------------------------------------------- enrollment
    def _enroll(self, idx: np.ndarray, newborn: bool = False) -> None:
        """New MAIN enrollments (and a primary person record where there is none) of persons ``idx``."""
        idx = np.asarray(idx, dtype=np.int64)
        if idx.size == 0:
            return
        P, R, rng = self.P, self.R, self.rng
        prim = self._primary(idx)
        ri = idx[pd.isna(prim)]
        pool = P["insu_pool"].to_numpy()
        if ri.size:
            new_rec = pd.DataFrame({
                "psn_no": dirt.zcat(pool[ri].astype("U6"), P["pid"].to_numpy()[ri] * 4, 12), "i": ri,
                "pid": P["pid"].to_numpy()[ri], "rec": np.int64(0), "rec_kind": "PRIMARY", "pool": pool[ri], "cert_dirt": "",
                "name_dirt": "", "certno_out": P["certno"].to_numpy()[ri], "name_out": P["name"].to_numpy()[ri],
                "tel_out": P["tel"].to_numpy()[ri], "compact": False, "remark": "", "updt_sec": np.int64(0),
                "u_dirt": 1.0, "u_tel": 1.0, "u_book": 1.0})
            self.R = R = _cat(R, new_rec[R.columns])
            self._t("psn_info_psn", new_rec["psn_no"].to_numpy())
            prim = self._primary(idx)
        age = self.age[idx]
        ins_type = np.where(np.full(len(idx), newborn) | P["newborn"].to_numpy()[idx], "390", P["scheme"].to_numpy()[idx]).astype(object)
        ptype = np.where(ins_type == "310", np.where(P["employed"].to_numpy()[idx], "11", "13"),
                         np.where(age < 1, "24", np.where(age < 18, "22", "21"))).astype(object)
        crt = np.full(len(idx), self.bd)
        new_insu = pd.DataFrame({
            "psn_no": prim.astype(object), "i": idx, "pid": P["pid"].to_numpy()[idx], "insutype": ins_type, "psn_type": ptype,
            "psn_insu_stas": "1", "crt_insu_date": crt, "paus_insu_date": np.full(len(idx), np.datetime64("NaT", "D")),
            "insu_admdvs": pool[idx], "emp_idx": np.where(ins_type == "310", P["emp_idx"].to_numpy()[idx], -1).astype(np.int64),
            "insu_kind": "MAIN", "u_dirt": 1.0, "unpaid_months": np.int64(0), "missing_months": np.int64(0)})
        # an enrollment key delivered before (a terminated one) is re-activated in place
        I = self.I
        near = np.flatnonzero(np.isin(I["psn_no"].to_numpy(), new_insu["psn_no"].to_numpy()))
        k_old = sources.keycat(I["psn_no"].to_numpy()[near], I["insutype"].to_numpy()[near])
        k_new = sources.keycat(new_insu["psn_no"].to_numpy(), new_insu["insutype"].to_numpy())
        pos = pd.Series(near, index=k_old)
        pos = pos[~pos.index.duplicated()]
        hit = pos.reindex(k_new).to_numpy()
        re = ~np.isnan(hit)
        if re.any():
            rp = hit[re].astype(np.int64)
            for c in ("psn_type", "psn_insu_stas", "crt_insu_date", "paus_insu_date", "insu_admdvs", "emp_idx"):
                I.loc[rp, c] = new_insu[c].to_numpy()[re]
            I.loc[rp, "insu_kind"] = "MAIN"
            self._t("psn_insu", rp)
        start = len(I)
        add = new_insu[~re]
        self.I = I = _cat(I, add[I.columns])
        self._t("psn_insu", start + np.arange(len(add)))
        self._t("new_insu_key", sources.keycat(add["psn_no"].to_numpy(), add["insutype"].to_numpy()))
        P.loc[idx, "enroll_state"] = "ACTIVE"
        P.loc[idx, "has_medins"] = True
        # the annual resident contribution, collected by tax at enrollment and booked by the core system
        r390 = new_insu[new_insu["insutype"] == "390"]
        y = int(str(self.ref)[:4])
        C = self.C
        near = C[C["psn_no"].isin(r390["psn_no"]).to_numpy()]
        ck = sources.keycat(near["psn_no"].to_numpy(), near["insutype"].to_numpy(), near["accrym"].astype(str).to_numpy())
        nk = sources.keycat(r390["psn_no"].to_numpy(), r390["insutype"].to_numpy(), np.full(len(r390), str(y * 100 + 1)))
        r390 = r390[~np.isin(nk, ck)]
        if len(r390):
            new_c = pd.DataFrame({"psn_no": r390["psn_no"].to_numpy(), "i": r390["i"].to_numpy(), "pid": r390["pid"].to_numpy(),
                                  "insutype": "390", "accrym": np.int64(y * 100 + 1), "psn_amt": np.int64(40000),
                                  "emp_amt": np.int64(0), "paid": True, "in_core": True, "emp_idx": np.int64(-1),
                                  "pay_date": np.full(len(r390), self.bd), "pay_sec": rng.integers(8 * 3600, 18 * 3600, len(r390)),
                                  "recon": "MATCH", "tax_amt": np.int64(40000)})
            start = len(C)
            self.C = _cat(C, new_c[C.columns])
            self._t("contrib", start + np.arange(len(new_c)))
            self._t("clct", start + np.arange(len(new_c)))
        self._event("NEWBORN_ENROLLED" if newborn else "ENROLL", idx, ins_type)

    def _terminate_persons(self, idx: np.ndarray, kind: str) -> None:
        I = self.I
        act = np.flatnonzero(np.isin(I["i"].to_numpy(), idx) & (I["psn_insu_stas"].to_numpy() == "1"))
        if act.size == 0:
            return
        I.loc[act, "psn_insu_stas"] = "4"
        when = self.P["cancel_date"].to_numpy().astype("datetime64[D]")[I["i"].to_numpy()[act]]
        I.loc[act, "paus_insu_date"] = np.where(np.isnat(when), self.bd, when)
        main = act[I["insu_kind"].to_numpy()[act] == "MAIN"]
        self.P.loc[I["i"].to_numpy()[main], "enroll_state"] = "TERMINATED"
        self._t("psn_insu", act)
        self._event(kind, np.unique(I["i"].to_numpy()[act]))

    def enrollment(self) -> None:
        P, I = self.P, self.I
        target = in_target(P, self.ref)
        free = self._free()
        nb = P["newborn"].to_numpy()
        never = target & free & (P["enroll_state"].to_numpy() == "NEVER") & (P["born_day"].to_numpy() == 0)
        w = np.where(nb, 8.0, 1.0)
        idx = self._pick(never, SHARES["enroll"], weight=w)
        self.busy[idx] = True
        self._enroll(idx)
        I = self.I
        ii = I["i"].to_numpy()
        ok = target[ii] & self._free()[ii]
        main = I["insu_kind"].to_numpy() == "MAIN"
        stas = I["psn_insu_stas"].to_numpy()
        it = I["insutype"].to_numpy()
        for kind, mask, share, new_stas in (
                ("SUSPEND", ok & main & (it == "310") & (I["psn_type"].to_numpy() == "11") & (stas == "1"), SHARES["suspend"], "2"),
                ("RESUME", ok & main & (stas == "2"), SHARES["resume"], "1"),
                ("TERMINATE", ok & main & (it == "390") & (stas == "1"), SHARES["terminate"], "4")):
            # one enrollment per person and day
            mask = mask & ~pd.Series(ii).duplicated().to_numpy()
            rows = self._pick(mask & ~self.busy[ii], share)
            I.loc[rows, "psn_insu_stas"] = new_stas
            I.loc[rows, "paus_insu_date"] = np.full(len(rows), np.datetime64("NaT", "D") if new_stas == "1" else self.bd)
            P.loc[ii[rows], "enroll_state"] = {"2": "SUSPENDED", "1": "ACTIVE", "4": "TERMINATED"}[new_stas]
            self.busy[ii[rows]] = True
            self._t("psn_insu", rows)
            self._event(kind, ii[rows], it[rows])
        # duplicate enrollments cleaned up: the duplicate (not the main) enrollment terminated
        dup = np.isin(I["insu_kind"].to_numpy(), ["DUP_REGION", "DUP_SCHEME"]) & (I["psn_insu_stas"].to_numpy() == "1")
        dup &= self.alive[ii] & ~self.busy[ii]
        rows = self._pick(dup, SHARES["dup_cleanup"], k_min=0.25)
        I.loc[rows, "psn_insu_stas"] = "4"
        I.loc[rows, "paus_insu_date"] = np.full(len(rows), self.bd)
        self.busy[ii[rows]] = True
        self._t("psn_insu", rows)
        self._event("DUP_ENROLLMENT_ENDED", ii[rows], I["insu_kind"].to_numpy()[rows])

    # -------------------------------------------------------------------------------- medins person records
    def records(self) -> None:
        R, P = self.R, self.P
        ri = R["i"].to_numpy()
        prim = (R["rec"].to_numpy() == 0) & self.alive[ri] & ~self.busy[ri]
        rows = self._pick(prim, SHARES["phone"])
        tel = names.sample_mobiles(self.rng, len(rows))
        R.loc[rows, "tel_out"] = tel
        R.loc[rows, "u_tel"] = 1.0
        P.loc[ri[rows], "tel"] = tel
        self.busy[ri[rows]] = True
        self._t("psn_info_psn", R["psn_no"].to_numpy()[rows])
        self._event("PHONE", ri[rows])
        # plain duplicate records merged: deleted (del_flag 1)
        rows = self._pick((R["rec_kind"].to_numpy() == "DUP_PLAIN") & ~self.busy[ri], p=P_DUP_MERGED)
        if rows.size:
            gone = R.iloc[rows]
            tabs, _ = sources.medins_person_tables(self.ctx, P, gone, self.I.iloc[:0], self.C.iloc[:0], self.world)
            info = tabs["psn_info"]
            info["updt_time"] = dirt.fmt_ts(np.full(len(info), self.bd), self.rng.integers(8 * 3600, 18 * 3600, len(info)))
            first = self._first_batch("medins", "psn_info", info["psn_no"].to_numpy())
            self._add_rows("medins", "psn_info", info, "1")
            self._correct("medins", "psn_info", info["psn_no"].to_numpy(), first, "DUP_RECORD_MERGED",
                          sources.pid_str(gone["pid"].to_numpy()))
            self._mark_deleted("medins", "psn_info", info["psn_no"].to_numpy())
            self.R = R.drop(index=R.index[rows]).reset_index(drop=True)

    # -------------------------------------------------------------------------------- tax, hrss, civil, national
    def tax(self) -> None:
        P = self.P
        free = self._free()
        tp = P["taxpayer"].to_numpy()
        ym = P["tax_ym"].to_numpy()
        cur = self.ref_ym - 1 if self.ref_ym % 100 != 1 else self.ref_ym - 89
        idx = self._pick(free & (tp == "recent") & (ym < cur), SHARES["tax_update"])
        P.loc[idx, "tax_ym"] = cur
        self._t("taxpayer", idx)
        self._event("TAX_WITHHELD", idx)
        idx = self._pick(free & (tp == "recent") & (P["tax_second_emp"].to_numpy() < 0) & ~self.busy, SHARES["tax_employer"])
        ne = len(self.world.emp_info)
        second = self.rng.integers(0, ne, len(idx))
        second = np.where(second == P["emp_idx"].to_numpy()[idx], (second + 1) % ne, second)
        P.loc[idx, "tax_second_emp"] = second
        self._t("taxpayer", idx)
        self._event("TAX_NEW_EMPLOYER", idx)
        idx = self._pick(free & (tp == "old") & ~self.busy, SHARES["tax_resumed"])
        P.loc[idx, "taxpayer"] = "recent"
        P.loc[idx, "tax_ym"] = cur
        self._t("taxpayer", idx)
        self._event("TAX_RESUMED", idx)
        self._remove_twins("tax", "taxpayer", lambda Ps: sources.taxpayer_rows(Ps, self.world)[0])
        emp = self.world.emp_info["uscc"].to_numpy()

        def wrong_employer(rows):
            other = emp[self.rng.integers(0, len(emp), len(rows))]
            return rows.assign(emp_uscc=np.where(other == rows["emp_uscc"].to_numpy(), emp[0] if emp[0] != other[0] else emp[-1],
                                                 other))
        self._wrong_rows("tax", "taxpayer", self._free() & (tp == "recent"),
                         lambda Ps: sources.taxpayer_rows(Ps, self.world)[0], wrong_employer)

    def hrss(self) -> None:
        P = self.P
        free = self._free()
        pt, ps = P["pension_type"].to_numpy(), P["pension_stas"].to_numpy()
        idx = self._pick(free & (ps == "1") & (self.age >= 55), SHARES["pension_retire"])
        P.loc[idx, "pension_stas"] = "2"
        self._t("pension", idx)
        self._event("PENSION_DRAWN", idx)
        cand = free & (pt == "") & (self.age >= 16) & ~P["employed"].to_numpy() & ~P["student"].to_numpy() & P["local"].to_numpy()
        idx = self._pick(cand & ~self.busy, SHARES["pension_new"])
        P.loc[idx, "pension_type"] = "3"
        P.loc[idx, "pension_stas"] = np.where(self.age[idx] >= 60, "2", "1")
        self._t("pension", idx)
        self._event("PENSION_ENROLLED", idx)
        build = lambda Ps: sources.hrss_tables(self.ctx, Ps, self.world)[0]["pension_insu"]
        self._remove_twins("hrss", "pension_insu", build)
        self._wrong_rows("hrss", "pension_insu", self._free() & np.isin(P["pension_type"].to_numpy(), ["1", "2", "3"]), build,
                         lambda rows: rows.assign(pension_type=np.where(rows["pension_type"].to_numpy() == "3", "1", "3")))

    def civil(self) -> None:
        P, rng = self.P, self.rng
        free = self._free()
        aid = P["aid_type"].to_numpy()
        # new assistance recipients: whole local households, from today (not yet current on the reference date)
        hh = P["hh"].to_numpy()
        heads = free & (aid == "") & P["local"].to_numpy() & (P["role"].to_numpy() == 0) & (np.arange(len(P)) < self.n0)
        fam = self._pick(heads, SHARES["aid_new"] / 2.4)
        if fam.size:
            members = np.flatnonzero(np.isin(hh, hh[fam]) & self.alive & P["local"].to_numpy() & (aid == ""))
            t = rng.choice(np.array(["1", "2", "3", "4"], dtype=object), len(fam), p=[0.1, 0.5, 0.25, 0.15])
            of = pd.Series(t, index=hh[fam]).reindex(hh[members]).to_numpy()
            P.loc[members, "aid_type"] = of
            P.loc[members, "aid_begin"] = np.full(len(members), self.bd)
            P.loc[members, "aid_end"] = np.full(len(members), np.datetime64("NaT", "D"))
            P.loc[members, "aid_second"] = False
            self._t("aid", members)
            self._event("AID_GRANTED", members, of)
        aid = P["aid_type"].to_numpy()
        end = P["aid_end"].to_numpy().astype("datetime64[D]")
        idx = self._pick(self._free() & (aid != "") & np.isnat(end) & (P["aid_begin"].to_numpy().astype("datetime64[D]") < self.bd),
                         SHARES["aid_end"])
        P.loc[idx, "aid_end"] = self.bd + _days(rng.integers(0, 31, len(idx)))
        self._t("aid", idx)
        self._event("AID_ENDS", idx)
        build = lambda Ps: sources.civil_tables(self.ctx, Ps)[0]["assistance_obj"]
        self._remove_twins("civil_affairs", "assistance_obj", build)
        aid = P["aid_type"].to_numpy()
        self._wrong_rows("civil_affairs", "assistance_obj", self._free() & np.isin(aid, ["1", "2", "3"]) & ~P["aid_second"].to_numpy(),
                         build, lambda rows: rows.assign(aid_type=np.where(rows["aid_type"].to_numpy() == "3", "2", "3"),
                                                         begn_date=str(self.bd), end_date=None))

    def national(self) -> None:
        P, rng = self.P, self.rng
        D = load_divisions()
        idx = self._pick(P["elsewhere"].to_numpy() & self.alive, SHARES["elsewhere_move"])
        P.loc[idx, "elsewhere_pool"] = D.other_pool[rng.integers(0, len(D.other_pool), len(idx))].astype(object)
        self._t("elsewhere", idx)
        self._event("ELSEWHERE_MOVED", idx)
        # cross-province duplicates resolved: the other province ends its enrollment (psn_insu_stas 4)
        idx = self._pick(P["elsewhere_dup"].to_numpy() & self.alive & ~self.busy, SHARES["cross_resolved"], k_min=0.25)
        P.loc[idx, "elsewhere_dup"] = False
        P.loc[idx, "elsewhere_decoy"] = True
        self._t("elsewhere", idx)
        self._event("CROSS_PROVINCE_RESOLVED", idx)
        # stale entries of the uninsured list withdrawn (the person has since enrolled, died or moved)
        on = P["on_list"].to_numpy()
        stale = on & (P["dead"].to_numpy() | ~(P["local"].to_numpy() & (P["hsreg_stas"].to_numpy() == "1")) | self._active_basic())
        idx = self._pick(stale & ~self.busy, p=P_STALE_LIST)
        if idx.size:
            Ps = P.iloc[idx]
            tabs, _ = sources.national_tables(self.ctx, Ps, pd.DataFrame({"in_national_list": np.ones(len(idx), dtype=bool)}))
            nu = tabs["national_uninsured"]
            first = self._first_batch("national", "national_uninsured", nu["certno"].to_numpy())
            self._add_rows("national", "national_uninsured", nu, "1")
            self._correct("national", "national_uninsured", nu["certno"].to_numpy(), first, "STALE_LIST_ENTRY",
                          sources.pid_str(Ps["pid"].to_numpy()))
            self._mark_deleted("national", "national_uninsured", nu["certno"].to_numpy())
            P.loc[idx, "on_list"] = False

    # -------------------------------------------------------------------------------- keys delivered
    def _first_batch(self, source: str, table: str, keys) -> np.ndarray:
        k = self.keys
        m = (k["source"].to_numpy() == source) & (k["source_table"].to_numpy() == table)
        s = pd.Series(k["batch_id"].to_numpy()[m], index=k["source_key"].to_numpy()[m])
        s = s[~s.index.duplicated()]
        return s.reindex(np.asarray(keys, dtype=object)).to_numpy()

    def _mark_deleted(self, source: str, table: str, keys) -> None:
        k = self.keys
        m = np.flatnonzero((k["source"].to_numpy() == source) & (k["source_table"].to_numpy() == table))
        m = m[pd.Index(k["source_key"].to_numpy()[m]).isin(np.asarray(keys, dtype=object))]
        k.loc[m, "deleted"] = True

    def _remove_twins(self, source: str, table: str, build) -> None:
        """Rows a department delivered twice under keys equal after cleaning: the dirty twin deleted."""
        k = self.keys
        m = ((k["source"].to_numpy() == source) & (k["source_table"].to_numpy() == table) & k["twin"].to_numpy()
             & ~k["deleted"].to_numpy())
        sel = self._pick(m, p=P_TWIN_REMOVED, k_min=0.3)
        if sel.size == 0:
            return
        pid_of = pd.Series(np.arange(len(self.P)), index=self.P["pid"].to_numpy())
        pids = np.array([int(p[1:]) for p in k["person_id"].to_numpy()[sel]], dtype=np.int64)
        who = np.unique(pid_of.reindex(pids).dropna().to_numpy().astype(np.int64))
        rows = build(self.P.iloc[who])
        want = set(k["source_key"].to_numpy()[sel])
        rows = rows[np.isin(_joined_keys(rows, table), list(want))]
        if len(rows) == 0:
            return
        keys = _joined_keys(rows, table)
        self._add_rows(source, table, rows, "1")
        self._correct(source, table, keys, self._first_batch(source, table, keys), "KEY_TWIN_REMOVED",
                      sources.pid_str(rows["_pid"].to_numpy()))
        self._mark_deleted(source, table, keys)

    def _wrong_rows(self, source: str, table: str, mask: np.ndarray, build, mutate) -> None:
        """A department delivers a row under a wrong key (another employer, pension type or assistance type) for a
        few persons, and deletes it 1-3 days later; the person's right rows stay as they are."""
        idx = self._pick(mask, p=P_WRONG_ROW)
        if idx.size == 0:
            return
        rows = build(self.P.iloc[idx])
        if "_twin" in rows:
            rows = rows[rows["_twin"].to_numpy() == ""]
        rows = rows.drop_duplicates("_pid")
        rows = mutate(rows.reset_index(drop=True))
        k = self.keys
        known = pd.Index(k["source_key"].to_numpy()[(k["source"].to_numpy() == source) & (k["source_table"].to_numpy() == table)])
        jk = _joined_keys(rows, table)
        rows = rows[~pd.Index(jk).isin(known)]
        if len(rows) == 0:
            return
        jk = _joined_keys(rows, table)
        pid = sources.pid_str(rows["_pid"].to_numpy())
        self._add_rows(source, table, rows, "0")
        self.extra_recs.append(pd.DataFrame({"source": source, "source_table": table, "source_key": jk, "person_id": pid,
                                             "dirt": "WRONG_ROW", "superseded_in_silver": False}))
        self._schedule_rows(source, table, rows, self.day + self.rng.integers(1, 4, len(rows)), "1", "WRONG_ROW", pid)
        pid_of = pd.Series(np.arange(len(self.P)), index=self.P["pid"].to_numpy())
        self._event("WRONG_ROW", pid_of.reindex(rows["_pid"].to_numpy()).to_numpy().astype(np.int64), f"{source}/{table}")

    # -------------------------------------------------------------------------------- contributions
    def contributions(self) -> None:
        P, I, C, rng = self.P, self.I, self.C, self.rng
        bd = self.bd
        ym = int(ym_of(np.array([bd]))[0])
        dom = int(str(bd)[8:10])
        # the running month's employee contributions, collected by tax on the employer's pay day
        a = I[(I["insu_kind"].to_numpy() == "MAIN") & (I["insutype"].to_numpy() == "310")
              & np.isin(I["psn_type"].to_numpy(), ["11", "13"]) & (I["psn_insu_stas"].to_numpy() == "1")]
        a = a[self.alive[a["i"].to_numpy()]]
        payday = 5 + (a["pid"].to_numpy() * 13 + 5) % 21
        a = a[payday == dom]
        done = C["psn_no"].to_numpy()[(C["accrym"].to_numpy() == ym) & (C["insutype"].to_numpy() == "310")]
        a = a[~np.isin(a["psn_no"].to_numpy(), done)]
        if len(a):
            w = np.maximum(P["wage_base"].to_numpy()[a["i"].to_numpy()], 4000)
            flex = a["psn_type"].to_numpy() == "13"
            psn_amt = np.where(flex, np.round(w * 0.08 * 100), np.round(w * 0.02 * 100)).astype(np.int64)
            emp_amt = np.where(flex, 0, np.round(w * 0.07 * 100)).astype(np.int64)
            new_c = pd.DataFrame({"psn_no": a["psn_no"].to_numpy(), "i": a["i"].to_numpy(), "pid": a["pid"].to_numpy(),
                                  "insutype": "310", "accrym": np.int64(ym), "psn_amt": psn_amt, "emp_amt": emp_amt,
                                  "paid": False, "in_core": False, "emp_idx": a["emp_idx"].to_numpy().astype(np.int64),
                                  "pay_date": np.full(len(a), bd), "pay_sec": rng.integers(8 * 3600, 18 * 3600, len(a)),
                                  "recon": "COLLECTED_NOT_ASSESSED", "tax_amt": psn_amt + emp_amt})
            start = len(C)
            self.C = C = _cat(C, new_c[C.columns])
            pos = start + np.arange(len(new_c))
            self._t("clct", pos)
            self._schedule("book", pos, self.day + rng.integers(1, 5, len(pos)))
        # periods of the last 12 months: unpaid ones collected late by tax, collected ones booked by the core system
        paid = C["paid"].to_numpy().astype(bool)
        core = C["in_core"].to_numpy().astype(bool)
        taxed = C["tax_amt"].to_numpy() >= 0
        old = C["accrym"].to_numpy() < ym
        alive = self.alive[C["i"].to_numpy()]
        u = rng.random(len(C))
        collect = old & alive & ~paid & ~taxed & np.where(core, u < P_LATE_PAY, u < P_LATE_ASSESS)
        book = old & alive & ~paid & taxed & (u >= 0.5) & (u < 0.5 + P_BOOK)
        rows = np.flatnonzero(collect)
        if rows.size:
            assessed = (C["psn_amt"] + C["emp_amt"]).to_numpy()[rows]
            C.loc[rows, "tax_amt"] = assessed
            C.loc[rows, "pay_date"] = np.full(len(rows), bd)
            C.loc[rows, "pay_sec"] = rng.integers(8 * 3600, 18 * 3600, len(rows))
            C.loc[rows, "recon"] = np.where(core[rows], "COLLECTED_NOT_RECORDED", "COLLECTED_NOT_ASSESSED")
            self._t("clct", rows)
            self._schedule("book", rows, self.day + rng.integers(1, 6, len(rows)))
            acc = C["accrym"].to_numpy()[rows].astype(str)
            self._late("tax", "medins_clct", sources.keycat(P["cert_tax"].to_numpy()[C["i"].to_numpy()[rows]],
                                                            C["insutype"].to_numpy()[rows], acc), acc, C["pid"].to_numpy()[rows])
            self._event("CONTRIB_COLLECTED_LATE", C["i"].to_numpy()[rows], acc)
        self._book(np.flatnonzero(book))

    def _book(self, rows: np.ndarray) -> None:
        """The core system books periods tax collected (clct_flag 1 on the contrib row)."""
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size == 0:
            return
        C = self.C
        C.loc[rows, "in_core"] = True
        C.loc[rows, "paid"] = True
        C.loc[rows, "recon"] = "MATCH"
        self._t("contrib", rows)
        ym = int(ym_of(np.array([self.bd]))[0])
        old = rows[C["accrym"].to_numpy()[rows] < ym]
        acc = C["accrym"].to_numpy()[old].astype(str)
        self._late("medins", "contrib", sources.keycat(C["psn_no"].to_numpy()[old], C["insutype"].to_numpy()[old], acc),
                   acc, C["pid"].to_numpy()[old])

    # -------------------------------------------------------------------------------- care
    def care(self) -> dict:
        P, rng, world, picker = self.P, self.rng, self.world, self.picker
        bd = self.bd
        E = claims.eligible(P, self.I, self.R)
        ei = E["i"].to_numpy()
        last_ip = P["last_ip_end"].to_numpy().astype("datetime64[D]")[ei]
        S = claims.daily_specs(rng, E, picker, world, bd, last_ip, LATE_SHARE)
        pos = pd.Series(np.arange(len(E)), index=ei)
        alive = ~E["dead"].to_numpy()
        planted = P["planted"].to_numpy()[ei]
        used = self.busy[ei] | planted | P["dup_planted"].to_numpy()[ei]
        natural_ip = set(S.loc[S["med_type"].isin(["21", "52"]), "e"].tolist())
        used[list(natural_ip)] = True
        specs = []
        k = max(1, int(round(self.n0 * PLANT_RATE)))

        def take(mask, m):
            cand = np.flatnonzero(mask & ~used)
            sel = rng.choice(cand, size=min(m, len(cand)), replace=False) if len(cand) else np.array([], dtype=np.int64)
            used[sel] = True
            return np.sort(sel)

        free_ip = np.isnat(last_ip) | (last_ip < bd - _days(35))
        # deliveries of the day's births (the mothers' maternity stays)
        mo = pos.reindex(self.mothers).dropna().to_numpy().astype(np.int64) if len(self.mothers) else np.array([], dtype=np.int64)
        mo = mo[free_ip[mo]]
        if mo.size:
            specs.append(claims._rows(E, mo, med_type="52", begn=np.full(len(mo), bd - _days(3)), end=np.full(len(mo), bd)))
            used[mo] = True
        # R01: the card of a person who died by the reference date (a dated death record) used today
        src = P["death_src"].to_numpy()[ei]
        dd = E["death_date"].to_numpy().astype("datetime64[D]")
        cancel = P["cancel_date"].to_numpy().astype("datetime64[D]")[ei]
        dated = (np.array([("C" in x) or ("H" in x) for x in src], dtype=bool) & (dd <= self.ref)) | (
            np.array(["P" in x for x in src], dtype=bool) & (cancel <= self.ref))
        sel = take(~alive & dated, k)
        for j in sel:
            specs.append(claims._rows(E, [j], med_type=rng.choice(["41", "11"]), begn=[bd], end=[bd], fraud="R01_AFTER_DEATH",
                                      grp=f"R01-D{self.day:03d}-{self.ctx.chunk}-{E['pid'].iat[j]}"))
        # R02 across batches: readmission today to the hospital of a stay delivered in an earlier batch
        st = self.stays
        prior = {}
        if len(st):
            sp = pos.reindex(st["i"].to_numpy()).to_numpy()
            okp = ~np.isnan(sp) & st["natural"].to_numpy()
            sp = np.where(okp, sp, 0).astype(np.int64)
            end = st["end"].to_numpy().astype("datetime64[D]")
            okp &= alive[sp] & (last_ip[sp] == end)
            for kind, lo, hi, n_k in (("hit", 1, 14, k), ("late", 18, 31, max(1, k // 2)), ("other", 1, 14, max(1, k // 2))):
                gap = rng.integers(lo, hi, len(st))
                los = ((bd - end).astype(np.int64) - gap)
                cand_rows = okp & (los >= 2) & (los <= 12) & ~used[sp]
                rows = np.flatnonzero(cand_rows)
                rows = rows[np.unique(sp[rows], return_index=True)[1]] if rows.size else rows
                rows = np.sort(rng.choice(rows, size=min(n_k, len(rows)), replace=False)) if rows.size else rows
                for r in rows:
                    j = sp[r]
                    if used[j]:
                        continue
                    used[j] = True
                    inst = int(st["inst"].iat[r])
                    if kind == "other":
                        inst = claims._other_hospital(rng, picker, inst)
                    tag = {"fraud": "R02_SPLIT_ADMISSION"} if kind == "hit" else {"decoy": "R02_SPLIT_ADMISSION"}
                    g = f"R02{'' if kind == 'hit' else 'D'}-D{self.day:03d}-{self.ctx.chunk}-{E['pid'].iat[j]}"
                    prior[g] = st["setl_id"].iat[r]
                    specs.append(claims._rows(E, [j], med_type="21", inst=[inst],
                                              doc=claims.pick_doctor(rng, world, np.array([inst])),
                                              begn=[bd - _days(int(los[r]))], end=[bd], grp=g, **tag))
        # R07: idle bed days in a stay discharged today; decoys one idle day fewer than a hit needs
        thr = claims.r07_config()["min_idle_days"]
        for decoy in (False, True):
            sel = take(alive & (E["age"].to_numpy() >= 40) & free_ip, k)
            m = len(sel)
            kk, los, mode = claims.r07_stay_shape(rng, m, thr, decoy)
            tag = {"decoy": "R07_IDLE_BED"} if decoy else {"fraud": "R07_IDLE_BED"}
            specs.append(claims._rows(E, sel, med_type="21", begn=bd - _days(los), end=np.full(m, bd), mode=mode,
                                      idle_k=kk.astype(np.int64), grp=[f"R07-D{self.day:03d}-{self.ctx.chunk}-{E['pid'].iat[j]}"
                                                                      for j in sel], **tag))
        extra = claims._frame(specs)
        if len(extra):
            for c, v in (("inst", -1), ("doc", -1), ("fraud", ""), ("decoy", ""), ("mode", ""), ("extra_item", -1), ("idle_k", 0)):
                extra[c] = extra[c].fillna(v) if c in extra else v
            for c in ("inst", "doc", "extra_item", "idle_k"):
                extra[c] = extra[c].astype(np.int64)
            extra = claims._attach(extra, E)
            extra = claims._place(rng, extra, picker, world)
        S["idle_k"] = np.int64(0)
        S = pd.concat([S, extra], ignore_index=True) if len(extra) else S
        S["idle_k"] = S["idle_k"].fillna(0).astype(np.int64)
        S["begn"] = S["begn"].to_numpy().astype("datetime64[D]")
        S["end"] = S["end"].to_numpy().astype("datetime64[D]")
        # decoys R01: a death in hospital on the discharge day (the stay ends on the death date)
        ip_nat = np.flatnonzero(S["med_type"].isin(["21"]).to_numpy() & (S["fraud"].to_numpy() == "") & (S["decoy"].to_numpy() == "")
                                & (S["age"].to_numpy() >= 60) & (S["end"].to_numpy() == bd))
        ip_nat = ip_nat[~self.busy[S["i"].to_numpy()[ip_nat]] & ~P["planted"].to_numpy()[S["i"].to_numpy()[ip_nat]]
                        & ~P["dup_planted"].to_numpy()[S["i"].to_numpy()[ip_nat]]]
        ip_nat = ip_nat[np.unique(S["i"].to_numpy()[ip_nat], return_index=True)[1]] if ip_nat.size else ip_nat
        die = np.sort(rng.choice(ip_nat, size=min(max(1, k // 2), len(ip_nat)), replace=False)) if ip_nat.size else ip_nat
        S.loc[die, "decoy"] = "R01_AFTER_DEATH"
        S.loc[die, "grp"] = [f"R01D-D{self.day:03d}-{self.ctx.chunk}-{p}" for p in S["pid"].to_numpy()[die]]
        if len(S) == 0:
            return {}
        S, L = claims.finalize(rng, self.ctx, S, world, f"D{self.day:03d}", 0, 0)
        who = S["i"].to_numpy()
        died = S[S["decoy"].to_numpy() == "R01_AFTER_DEATH"]
        self._die(died["i"].to_numpy(), died["end"].to_numpy().astype("datetime64[D]"), "DEATH_IN_HOSPITAL")
        planted_rows = (S["fraud"].to_numpy() != "") | (S["decoy"].to_numpy() != "")
        P.loc[np.unique(who[planted_rows]), "planted"] = True
        # fraud truth (R02 cases carry the earlier stay too)
        for row in claims.fraud_rows(S):
            g = row["subject_id"] if row["rule_code"] == "R08_GANG" else None
            grp = S.loc[S["setl_id"].isin(row["setl_ids"]), "grp"].iloc[0]
            if grp in prior:
                row["setl_ids"] = sorted(row["setl_ids"] + [prior[grp]])
            row["_grp"] = grp
            self.fraud.append(row)
        # settlements entered in error (deleted later with their fee lines) and reversals of earlier ones
        natural = ~planted_rows & (S["refd"].to_numpy() == "0")
        outp = natural & S["med_type"].isin(["11", "13", "41", "14"]).to_numpy() & (S["begn"].to_numpy() == bd)
        err = self._pick(outp, p=P_ERRONEOUS)
        rev = self._pick(natural & ~np.isin(np.arange(len(S)), err), p=P_REVERSAL)
        vd: list = []
        sl = None
        if self.version >= 2:       # fund shares and 结算清单 (no planted section-6 answers in daily batches)
            from . import reform
            rng6 = np.random.default_rng([self.ctx.seed, self.ctx.chunk, 1_000_000 + self.day, 6])
            reform.fund_shares(rng6, S, P, world, reform.plan(world, self.ctx.seed))
            sl = reform.written_setl_list(reform.setl_list(rng6, S, L, P, world, bd))
        tabs = sources.setl_tables(S, L, vd)
        setl, fee = tabs["setl"], tabs["fee_list"]
        if self.version >= 2:
            reform.with_shares(setl, S)
        if err.size:
            due = self.day + rng.integers(1, 3, len(err))
            ids_ = S["setl_id"].to_numpy()[err]
            self._schedule_rows("medins", "setl", setl.iloc[err], due, "1", "ERRONEOUS_ENTRY", sources.pid_str(S["pid"].to_numpy()[err]))
            fsel = np.isin(fee["setl_id"].to_numpy(), ids_)
            fdue = pd.Series(due, index=ids_).reindex(fee["setl_id"].to_numpy()[fsel]).to_numpy()
            fpid = pd.Series(S["pid"].to_numpy()[err], index=ids_).reindex(fee["setl_id"].to_numpy()[fsel]).to_numpy()
            self._schedule_rows("medins", "fee_list", fee[fsel], fdue, "1", "ERRONEOUS_ENTRY", sources.pid_str(fpid))
        if rev.size:
            rr = setl.iloc[rev].assign(refd_setl_flag="1")
            self._schedule_rows("medins", "setl", rr, self.day + rng.integers(1, 4, len(rev)), "0", "REVERSAL",
                                sources.pid_str(S["pid"].to_numpy()[rev]))
        P.loc[np.unique(who[np.r_[err, rev]]), "no_backdate"] = True
        # what later days need: the last care and stay of each person, recent stays and visits
        end = S["end"].to_numpy().astype("datetime64[D]")
        lc = pd.Series(end).groupby(who).max()
        cur = P["last_care"].to_numpy().astype("datetime64[D]")[lc.index.to_numpy()]
        P.loc[lc.index.to_numpy(), "last_care"] = np.where(np.isnat(cur), lc.to_numpy().astype("datetime64[D]"),
                                                           np.maximum(cur, lc.to_numpy().astype("datetime64[D]")))
        ip = S["med_type"].isin(["21", "52"]).to_numpy()
        counted_ip = ip & (S["refd"].to_numpy() == "0")
        li = pd.Series(end[ip]).groupby(who[ip]).max()
        if len(li):
            cur = P["last_ip_end"].to_numpy().astype("datetime64[D]")[li.index.to_numpy()]
            P.loc[li.index.to_numpy(), "last_ip_end"] = np.where(np.isnat(cur), li.to_numpy().astype("datetime64[D]"),
                                                                 np.maximum(cur, li.to_numpy().astype("datetime64[D]")))
        keep_stay = counted_ip & ~np.isin(np.arange(len(S)), rev)
        new_stays = pd.DataFrame({"setl_id": S["setl_id"].to_numpy()[keep_stay], "i": who[keep_stay].astype(np.int64),
                                  "inst": S["inst"].to_numpy()[keep_stay].astype(np.int64),
                                  "begn": S["begn"].to_numpy()[keep_stay], "end": end[keep_stay],
                                  "natural": ~planted_rows[keep_stay]})
        stays = _cat(self.stays, new_stays)
        self.stays = stays[stays["end"].to_numpy().astype("datetime64[D]") >= bd - _days(45)].reset_index(drop=True)
        new_visits = pd.DataFrame({"setl_id": S["setl_id"].to_numpy(), "i": who.astype(np.int64), "begn": S["begn"].to_numpy(),
                                   "end": end, "fixmedins_code": S["fixmedins_code"].to_numpy()})
        visits = _cat(self.visits, new_visits)
        self.visits = visits[visits["begn"].to_numpy().astype("datetime64[D]") >= bd - _days(30)].reset_index(drop=True)
        late = S["begn"].to_numpy() < bd - _days(7)
        self._late("medins", "setl", S["setl_id"].to_numpy()[late], dirt.fmt_dates(S["begn"].to_numpy()[late]),
                   S["pid"].to_numpy()[late])
        r07 = claims.idle_bed_days(S, L, self.bid)
        return {"setl": setl, "fee_list": fee, "vd": vd, "r07": r07, "new_setl": set(S["setl_id"]), "setl_list": sl}

    # -------------------------------------------------------------------------------- the day
    def run(self) -> dict:
        self.run_pending()
        self.births()
        self.deaths()
        self.backdated_deaths()
        self.moves()
        self.enrollment()
        self.records()
        self.tax()
        self.hrss()
        self.civil()
        self.national()
        self.child_ids()
        self.duplicate_certs()
        self.contributions()
        care = self.care()
        out = self.deliveries(care)
        if self.new_pending:
            self.pending = _cat(self.pending, *self.new_pending)[list(PENDING_COLS)]
        if self.new_rows:
            self.rows = _cat(self.rows, *self.new_rows)[ROWS_COLS]
        return out

    def state(self) -> dict:
        return {"P": self.P, "R": self.R, "I": self.I, "C": self.C, "keys": self.keys, "stays": self.stays,
                "visits": self.visits, "pending": self.pending, "rows": self.rows}

    # -------------------------------------------------------------------------------- what departments deliver
    def deliveries(self, care: dict) -> dict:
        P, ctx, world, rng = self.P, self.ctx, self.world, self.rng
        bd = self.bd
        vd: list = []
        up: dict[tuple[str, str], list[pd.DataFrame]] = {}
        recs: list[pd.DataFrame] = list(self.extra_recs)

        def add(src, table, df, r=None):
            if len(df):
                up.setdefault((src, table), []).append(df)
            if r:
                recs.extend(r)

        # police
        h = self._touched("hsreg")
        h = h[pd.notna(P["hsreg_stas"].to_numpy()[h])]
        if h.size:
            tabs, r = sources.police_tables(ctx, P.iloc[h], vd)
            add("police", "hsreg_psn", tabs["hsreg_psn"], r[:1])
        pm = self._touched("permit")
        if pm.size:
            tabs, r = sources.police_tables(ctx, P.iloc[pm])
            add("police", "resd_permit", tabs["resd_permit"], r[1:])
        # civil affairs
        d = self._touched("death_cremation")
        if d.size:
            tabs, r = sources.civil_tables(ctx, P.iloc[d])
            add("civil_affairs", "death_cremation", tabs["death_cremation"], r[:1])
        a = self._touched("aid")
        if a.size:
            tabs, r = sources.civil_tables(ctx, P.iloc[a])
            add("civil_affairs", "assistance_obj", tabs["assistance_obj"], r[1:])
        # tax
        t = self._touched("taxpayer")
        if t.size:
            tp, r = sources.taxpayer_rows(P.iloc[t], world)
            add("tax", "taxpayer", tp, r)
        c = self._touched("clct")
        if c.size:
            add("tax", "medins_clct", sources.clct_rows(P, self.C.iloc[c], world))
        # health
        b = self._touched("birth_cert")
        if b.size:
            mother, father = self._parents(b)
            bc, r = sources.birth_cert_rows(P, b, mother, father)
            add("health", "birth_cert", bc, r)
        d = self._touched("death_cert")
        if d.size:
            dc, r = sources.death_cert_rows(P.iloc[d])
            add("health", "death_cert", dc, r)
        # hrss
        p = self._touched("pension")
        if p.size:
            tabs, r = sources.hrss_tables(ctx, P.iloc[p], world, vd)
            add("hrss", "pension_insu", tabs["pension_insu"], r)
        # national
        e = self._touched("elsewhere")
        if e.size:
            Ps = P.iloc[e]
            tabs, r = sources.national_tables(ctx, Ps, pd.DataFrame({"in_national_list": np.zeros(len(Ps), dtype=bool)}))
            add("national", "insured_elsewhere", tabs["insured_elsewhere"], r[1:])
        # medins
        psn = self._touched("psn_info_psn", dtype=object)
        ins = self._touched("psn_insu")
        con = self._touched("contrib")
        if psn.size or ins.size or con.size:
            R_sub = self.R[self.R["psn_no"].isin(psn)]
            tabs, r = sources.medins_person_tables(ctx, P, R_sub, self.I.iloc[ins], self.C.iloc[con], world, vd)
            for tname in ("psn_info", "psn_insu"):
                df = tabs[tname]
                df["updt_time"] = dirt.fmt_ts(np.full(len(df), bd), rng.integers(8 * 3600, 20 * 3600, len(df)))
            add("medins", "psn_info", tabs["psn_info"], r)
            add("medins", "psn_insu", tabs["psn_insu"])
            add("medins", "contrib", tabs["contrib"])
        if care:
            add("medins", "setl", care["setl"])
            add("medins", "fee_list", care["fee_list"])
            if care.get("setl_list") is not None:
                add("medins", "setl_list", care["setl_list"])
            vd += care["vd"]
        # person-identity keys: new ones become records; a key deleted earlier is never delivered again
        k = self.keys
        known = pd.Series(np.arange(len(k)), index=k["source"].to_numpy() + "\x1f" + k["source_table"].to_numpy() + "\x1f"
                          + k["source_key"].to_numpy().astype(str))
        known = known[~known.index.duplicated()]
        deleted = k["deleted"].to_numpy()
        pieces: dict[tuple[str, str], pd.DataFrame] = {}
        new_keys: set = set()
        touched_rows = []
        for (src, table), dfs in up.items():
            df = pd.concat(dfs, ignore_index=True)
            if (src, table) in IDENTITY:
                jk = _joined_keys(df, table)
                full = src + "\x1f" + table + "\x1f" + jk
                pos_ = known.reindex(full).to_numpy()
                gone = ~np.isnan(pos_) & deleted[np.where(np.isnan(pos_), 0, pos_).astype(np.int64)]
                df = df[~gone]
                df = df.assign(_k=jk[~gone]).drop_duplicates("_k", keep="last")
                new_keys |= {(src, table, x) for x, p_ in zip(df["_k"], known.reindex(src + "\x1f" + table + "\x1f" + df["_k"]).to_numpy())
                             if np.isnan(p_)}
                touched_rows.append(pd.DataFrame({"source": src, "source_table": table, "source_key": df["_k"].to_numpy()}))
                df = df.drop(columns=["_k"])
            else:
                df = df.drop_duplicates(KEYS[table], keep="last")
            pieces[(src, table)] = df.assign(del_flag="0")
        # rows delivered as they are: deletions, reversals, duplicate certificates
        for (src, table), dfs in self.extra.items():
            df = pd.concat(dfs, ignore_index=True)
            if (src, table) in pieces:
                jk_up = _joined_keys(pieces[(src, table)], table)
                jk_x = _joined_keys(df, table)
                keep_up = ~np.isin(jk_up, jk_x)
                pieces[(src, table)] = pd.concat([pieces[(src, table)][keep_up], df], ignore_index=True)
            else:
                pieces[(src, table)] = df
            if (src, table) in IDENTITY:
                ins_ = df[df["del_flag"] == "0"]
                jk = _joined_keys(ins_, table)
                pos_ = known.reindex(src + "\x1f" + table + "\x1f" + jk).to_numpy()
                new_keys |= {(src, table, x) for x, p_ in zip(jk, pos_) if np.isnan(p_)}
                touched_rows.append(pd.DataFrame({"source": src, "source_table": table, "source_key": jk}))
        # records of the new keys, and the keys' state
        rec = pd.concat(recs, ignore_index=True) if recs else pd.DataFrame(columns=["source", "source_table", "source_key",
                                                                                       "person_id", "dirt", "superseded_in_silver"])
        rec = rec.drop_duplicates(["source", "source_table", "source_key"], keep="last")
        is_new = np.array([(s, t, x) in new_keys for s, t, x in zip(rec["source"], rec["source_table"], rec["source_key"])], dtype=bool)
        rec = rec[is_new].copy()
        rec["batch_id"] = self.bid
        rec["deleted_in_batch"] = None
        delivered = pd.concat(touched_rows, ignore_index=True) if touched_rows else pd.DataFrame(columns=["source", "source_table", "source_key"])
        full = delivered["source"] + "\x1f" + delivered["source_table"] + "\x1f" + delivered["source_key"].astype(str)
        hit = known.reindex(full.to_numpy()).dropna().to_numpy().astype(np.int64)
        k.loc[hit, "last_batch"] = self.bid
        if len(rec):
            self.keys = k = _cat(k, pd.DataFrame({
                "source": rec["source"].to_numpy(), "source_table": rec["source_table"].to_numpy(),
                "source_key": rec["source_key"].to_numpy(), "person_id": rec["person_id"].to_numpy(), "batch_id": self.bid,
                "last_batch": self.bid, "deleted": False, "twin": rec["superseded_in_silver"].to_numpy().astype(bool)}))
        # value dirt of rows first delivered today
        new_psn_insu = set(self._touched("new_insu_key", dtype=object).tolist())
        new_setl = care.get("new_setl", set()) if care else set()
        vdf = pd.concat(vd, ignore_index=True) if vd else pd.DataFrame(columns=["source", "source_table", "source_key", "column",
                                                                                   "written", "clean", "kind"])
        keep = [((s, t, x) in new_keys) or (t == "psn_insu" and x in new_psn_insu) or (t == "setl" and x in new_setl)
                for s, t, x in zip(vdf["source"], vdf["source_table"], vdf["source_key"])]
        vdf = vdf[np.asarray(keep, dtype=bool)].drop_duplicates(["source", "source_table", "source_key", "column"])
        vdf.insert(2, "batch_id", self.bid)
        return {"pieces": pieces, "records": rec, "value_dirt": vdf, "r07": care.get("r07") if care else None}


def _columns(source: str, table: str, version: int) -> list[str]:
    from .generate import columns_of
    return columns_of(source, table, version=version)


# ------------------------------------------------------------------------------------------ truth of a chunk
def chunk_truth(ctx: Context, P: pd.DataFrame, R: pd.DataFrame, I: pd.DataFrame, C: pd.DataFrame, full: bool) -> dict:
    """The contract answers of the chunk's current state (``full``: every truth table, else the per-day ones)."""
    dup = truth.duplicate_rows(P, I)
    eu = truth.enrolled_unpaid_rows(ctx.ref, P, I, C)
    T = truth.persons(ctx, P, I, C, R, dup=dup, eu=eu)
    T["in_national_list"] = P["on_list"].to_numpy()
    T["insured_after_batch1"] = P["ab1_insured"].to_numpy()
    T["in_target_after_batch1"] = P["ab1_target"].to_numpy()
    T["uninsured_after_batch1"] = P["ab1_uninsured"].to_numpy()
    dup["in_target_population"] = T["in_target_population"].to_numpy()[dup["i"].to_numpy()]
    out = {"enrolled_unpaid": eu.drop(columns=["i"]), "duplicate_enrollment": dup.drop(columns=["i"]),
           "uninsured": T.loc[T["uninsured"].to_numpy(), ["person_id", "certno", "hsreg_admdvs", "resd_admdvs",
                                                           "uninsured_reasons", "in_national_list"]].reset_index(drop=True)}
    if full:
        on = P["on_list"].to_numpy()
        nat = T[on]
        out.update({"persons": T, "national_list": pd.DataFrame({"certno": P["cert_national"].to_numpy()[on],
                                                                  "person_id": nat["person_id"].to_numpy(),
                                                                  "stale_reason": truth.stale_reason(nat)}),
                    "contrib_recon": truth.recon_rows(P, C)})
    return out


def _fraud_frame(rows: list[dict]) -> pd.DataFrame:
    cols = ["rule_code", "subject_type", "subject_id", "setl_ids", "group_id", "person_ids", "fixmedins_codes", "is_decoy"]
    return pd.DataFrame([{c: r[c] for c in cols} for r in rows], columns=cols)


# ------------------------------------------------------------------------------------------ one chunk, all days
def run_chunk(state_root: str, gen_from: int, gen_to: int, chunk: int, meta: dict, days: list[int], rate: float) -> dict:
    """Load a chunk's state, live ``days`` days, save the new state; returns the encoded file pieces and the
    truth pieces of every day."""
    from .generate import _world, columns_of, repeat_in_file
    ref = date.fromisoformat(meta["reference_date"])
    n_chunks = meta["n_chunks"]
    cs = meta["chunk_size"]
    n = min(cs, meta["persons"] - chunk * cs)
    ctx = Context(seed=meta["seed"], chunk=chunk, start=chunk * cs, n=n, n_chunks=n_chunks, ref=_d64(ref), batches=meta["batches"])
    world = _world(meta["persons"], meta["seed"])
    picker = claims.InstPicker(world)
    st = stt.load_chunk(Path(state_root), gen_from, chunk)
    files, per_day = [], {}
    superseded: dict = {}
    for k, day in enumerate(days):
        rng = np.random.default_rng([meta["seed"], chunk, 1_000_000 + day])
        d = Day(rng, ctx, st, day, ref, world, picker, rate, meta.get("contract_version", 1))
        out = d.run()
        st = d.state()
        last = k == len(days) - 1
        if not last:
            st = {name: stt.roundtrip(df) for name, df in st.items()}
        bid = d.bid
        for (src, table), df in sorted(out["pieces"].items()):
            spec = REPEATS_DAILY.get((src, table))
            if spec is not None and len(df):
                df, kk = repeat_in_file(rng, df, spec, lambda x: x["del_flag"].to_numpy() == "0")
                if kk:
                    superseded[(src, bid, table)] = superseded.get((src, bid, table), 0) + kk
            cols = columns_of(src, table, incremental=True, version=meta.get("contract_version", 1))
            files.append((src, bid, table, cols, to_csv_bytes(df, cols, encoding_of(src)), len(df),
                          int((df["del_flag"].to_numpy() == "1").sum())))
        tr = chunk_truth(ctx, d.P, d.R, d.I, d.C, full=last)
        per_day[day] = {"truth": tr, "records": out["records"], "value_dirt": out["value_dirt"], "r07": out["r07"],
                        "fraud": _fraud_frame(d.fraud), "events": pd.concat(d.events, ignore_index=True) if d.events else None,
                        "corrections": pd.concat(d.corrections, ignore_index=True) if d.corrections else None,
                        "late": pd.concat(d.late, ignore_index=True) if d.late else None}
    stt.save_chunk(Path(state_root), gen_to, chunk, st)
    k = st["keys"]
    twins = k[k["twin"].to_numpy() & ~k["deleted"].to_numpy()].groupby(["source", "source_table", "last_batch"]).size()
    return {"files": files, "days": per_day, "superseded": superseded, "twins": {kk: int(v) for kk, v in twins.items()}}


# ------------------------------------------------------------------------------------------ driver
class _Writer(truth.TruthWriter):
    """A truth writer that leaves an empty file (with the columns) for a table no chunk had rows of."""

    def __init__(self, root: Path):
        super().__init__(root)
        self.templates: dict[str, pd.DataFrame] = {}

    def write(self, name: str, df) -> None:
        if isinstance(df, pd.DataFrame) and name not in self.templates:
            self.templates[name] = df.iloc[:0]
        super().write(name, df)

    def close(self) -> None:
        super().close()
        for name, df in self.templates.items():
            if name not in self.writers:
                df.to_parquet(self.root / f"{name}.parquet", index=False)
                self.rows[name] = 0


@dataclass
class DaysSummary:
    out: Path
    days: list[tuple[int, str, str]]                 # (day, batch id, business date)
    rows: dict = field(default_factory=dict)         # (batch id, source, table) -> data rows
    deletes: dict = field(default_factory=dict)      # (batch id, source, table) -> rows with del_flag 1
    events: dict = field(default_factory=dict)       # (batch id, kind) -> count
    seconds: float = 0.0


def _append_parquet(old: Path, new: pd.DataFrame | None, dest: Path, update=None) -> int:
    """Write ``dest`` = the rows of ``old`` (streamed, each batch passed through ``update``) + ``new``,
    cast to the old file's schema."""
    schema = pq.read_schema(old) if old.exists() else None
    writer = None
    rows = 0
    try:
        if old.exists():
            writer = pq.ParquetWriter(dest, schema, compression="zstd")
            pf = pq.ParquetFile(old)
            for rb in pf.iter_batches(batch_size=200_000):
                t = pa.Table.from_batches([rb])
                if update is not None:
                    t = update(t)
                writer.write_table(t.cast(schema))
                rows += t.num_rows
        if new is not None and len(new):
            t = pa.Table.from_pandas(new, preserve_index=False).replace_schema_metadata(None)
            if schema is None:
                fields = [pa.field(f.name, pa.string() if pa.types.is_null(f.type) else f.type) for f in t.schema]
                schema = pa.schema(fields)
                writer = pq.ParquetWriter(dest, schema, compression="zstd")
            t = t.select(schema.names) if set(schema.names) <= set(t.column_names) else t
            writer.write_table(t.cast(schema))
            rows += t.num_rows
    finally:
        if writer is not None:
            writer.close()
    return rows


@holds_landing_lock("yibao generate --days")
def generate_days(out: Path, days: int, workers: int = 1, change_rate: float = CHANGE_RATE,
                  progress: Callable[[str, int, int], None] | None = None) -> DaysSummary:
    """Deliver ``days`` more daily incremental batches per department on top of the landing zone ``out``
    (written by ``generate``), continuing after the last day delivered; ``_truth/`` then describes the state
    after the last day (``_truth/days/<date>/`` keeps each day's small answers)."""
    from .generate import BAD_CLASS
    from .readme_truth import TRUTH_README
    t0 = time.time()
    out = Path(out)
    report = progress or (lambda *_: None)
    root = out / stt.STATE_DIR
    meta = stt.read_meta(root)
    if meta is None:
        raise FileNotFoundError(f"{root}/state.json not found: write the landing zone with this version of "
                                f"`yibao generate` first (it keeps the latent state the daily batches continue)")
    if meta.get("version") != stt.VERSION:
        raise ValueError(f"state version {meta.get('version')} != {stt.VERSION}: regenerate the landing zone")
    _recover_truth(out, root, meta)
    rate = float(meta["change_rate"]) if meta.get("days_delivered") else float(change_rate)
    if meta.get("days_delivered") and abs(rate - change_rate) > 1e-12 and change_rate != CHANGE_RATE:
        raise ValueError(f"this landing zone's daily batches use change_rate {rate}; it cannot change mid-way")
    ref = date.fromisoformat(meta["reference_date"])
    if days < 1:
        raise ValueError("days must be at least 1")
    first = int(meta.get("days_delivered", 0)) + 1
    todo = list(range(first, first + days))
    gen_from = int(meta["generation"])
    gen_to = gen_from + 1
    shutil.rmtree(root / f"g{gen_to:04d}", ignore_errors=True)
    staging = root / "staging"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    w = LandingWriter(staging / "landing", gzip=bool(meta.get("gzip")))
    bids = {d: day_batch(ref, d) for d in todo}
    for d in todo:
        for src in SOURCES:
            w.open_batch(src, bids[d], f"{day_batch_date(ref, d)} 02:00:00", "incremental")
        src, table, plan = DAILY_BAD_ROWS[(d - 1) % len(DAILY_BAD_ROWS)]
        w.plan_bad_row(src, bids[d], table, plan)
    n_chunks = int(meta["n_chunks"])
    jobs = [(str(root), gen_from, gen_to, c, meta, todo, rate) for c in range(n_chunks)]
    day_tw = {d: _Writer(staging / "truth" / "days" / bids[d]) for d in todo}
    top = _Writer(staging / "truth" / "top")
    acc: dict = {name: {} for name in ("records", "value_dirt", "r07_idle_days", "fraud", "events", "corrections",
                                       "late_arrivals")}
    superseded: dict = {}
    twins: dict = {}
    summary = DaysSummary(out=out, days=[(d, bids[d], str(day_date(ref, d))) for d in todo])
    done = 0

    def consume(res):
        nonlocal done
        for src, bid, t, cols, data, nrows, ndel in res["files"]:
            if nrows:
                w.write_bytes(src, bid, t, cols, data, nrows)
                summary.deletes[(bid, src, t)] = summary.deletes.get((bid, src, t), 0) + ndel
        for d, pd_ in res["days"].items():
            for name in ("enrolled_unpaid", "duplicate_enrollment", "uninsured"):
                day_tw[d].write(name, pd_["truth"][name])
            for name, key in (("fraud", "fraud"), ("events", "events"), ("corrections", "corrections")):
                if pd_[key] is not None and len(pd_[key]):
                    day_tw[d].write(name, pd_[key])
            if d == todo[-1]:
                for name in ("persons", "enrolled_unpaid", "duplicate_enrollment", "national_list", "contrib_recon"):
                    top.write(name, pd_["truth"][name])
            for name, key in (("records", "records"), ("value_dirt", "value_dirt"), ("r07_idle_days", "r07"),
                              ("fraud", "fraud"), ("events", "events"), ("corrections", "corrections"),
                              ("late_arrivals", "late")):
                if pd_[key] is not None and len(pd_[key]):
                    acc[name].setdefault(d, []).append(pd_[key])
            if pd_["events"] is not None:
                for kind, cnt in pd_["events"].groupby("kind").size().items():
                    summary.events[(bids[d], kind)] = summary.events.get((bids[d], kind), 0) + int(cnt)
        for k, v in res["superseded"].items():
            superseded[k] = superseded.get(k, 0) + v
        for k, v in res["twins"].items():
            twins[k] = twins.get(k, 0) + v
        done += 1
        report("chunks", done, n_chunks)

    report("chunks", 0, n_chunks)
    from .generate import run_chunks

    run_chunks(run_chunk, jobs, workers if n_chunks > 1 else 1, consume)
    files = w.close(skip_empty=True)
    for (src, bid, t), s in w.files.items():
        summary.rows[(bid, src, t)] = s.rows
    for tw in list(day_tw.values()) + [top]:
        tw.close()
    # ---- truth: the state after the last day, accumulated tables extended
    tdir = out / "_truth"
    nt = staging / "truth" / "top"
    # accumulated tables in delivery order: day by day, chunk by chunk (the same for any split into runs)
    acc = {name: [df for d in todo for df in per.get(d, [])] for name, per in acc.items()}
    for name in ("fraud", "r07_idle_days", "value_dirt", "late_arrivals"):
        new = pd.concat(acc[name], ignore_index=True) if acc[name] else None
        _append_parquet(tdir / f"{name}.parquet", new, nt / f"{name}.parquet")
    for name in ("events", "corrections"):
        new = pd.concat(acc[name], ignore_index=True) if acc[name] else None
        _append_parquet(tdir / f"{name}.parquet", new, nt / f"{name}.parquet")
    # records: new keys appended, deletions marked
    corr = pd.concat(acc["corrections"], ignore_index=True) if acc["corrections"] else pd.DataFrame(
        columns=["source", "source_table", "source_key", "batch_id"])
    when = dict(zip(corr["source"] + "\x1f" + corr["source_table"] + "\x1f" + corr["source_key"].astype(str), corr["batch_id"]))

    def mark(t: pa.Table) -> pa.Table:
        if not when:
            return t
        df = t.to_pandas()
        k = df["source"] + "\x1f" + df["source_table"] + "\x1f" + df["source_key"].astype(str)
        hit = k.map(when)
        df["deleted_in_batch"] = np.where(hit.notna() & df["deleted_in_batch"].isna(), hit, df["deleted_in_batch"])
        return pa.Table.from_pandas(df, preserve_index=False)

    new_rec = pd.concat(acc["records"], ignore_index=True) if acc["records"] else None
    if new_rec is not None:
        k = new_rec["source"] + "\x1f" + new_rec["source_table"] + "\x1f" + new_rec["source_key"].astype(str)
        hit = k.map(when)
        new_rec["deleted_in_batch"] = np.where(hit.notna(), hit, None)
    _append_parquet(tdir / "records.parquet", new_rec, nt / "records.parquet", update=mark)
    # planted quarantine: the daily batches' unreadable and superseded lines; silver supersedes each live key twin
    # in the batch that delivered it last
    bad = pd.DataFrame(w.bad_rows)
    pq_old = pd.read_parquet(tdir / "planted_quarantine.parquet")
    last_full = meta["batch_ids"][1] if len(meta["batch_ids"]) > 1 else meta["batch_ids"][0]
    keep = ~((pq_old["stage"] == "silver") & (pq_old["batch_id"] >= last_full))
    rows = [pq_old[keep]]
    add = {}
    for r in bad.itertuples() if len(bad) else ():
        kk = (r.source, r.source_table, r.batch_id, BAD_CLASS[r.kind], "ingest", "quarantine")
        add[kk] = add.get(kk, 0) + 1
    for (src, bid, t), v in superseded.items():
        kk = (src, t, bid, "SUPERSEDED", "ingest", "quarantine")
        add[kk] = add.get(kk, 0) + v
    for (src, t, bid), v in twins.items():
        if bid >= last_full:
            kk = (src, t, bid, "KEY_REPEAT_AFTER_CLEANING", "silver", "supersede")
            add[kk] = add.get(kk, 0) + v
    cols = ["source", "source_table", "batch_id", "reason_class", "stage", "action"]
    rows.append(pd.DataFrame([dict(zip(cols, k), rows=v) for k, v in sorted(add.items())], columns=cols + ["rows"]))
    pqn = pd.concat(rows, ignore_index=True).sort_values(cols, kind="stable").reset_index(drop=True)
    pqn["rows"] = pqn["rows"].astype(np.int64)
    pqn.to_parquet(nt / "planted_quarantine.parquet", index=False)
    if len(bad):
        _append_parquet(tdir / "bad_rows.parquet", bad, nt / "bad_rows.parquet")
    # per (batch, source, table): rows and deletions of the daily batches
    db = pd.DataFrame([{"source": s, "source_table": t, "batch_id": b, "business_date": str(day_date(ref, _day_of(bids, b))),
                        "mode": "incremental", "rows": n_, "deletes": summary.deletes.get((b, s, t), 0)}
                       for (b, s, t), n_ in sorted(summary.rows.items())])
    _append_parquet(tdir / "daily_batches.parquet", db, nt / "daily_batches.parquet")
    m = pd.read_parquet(tdir / "meta.parquet")
    all_ids = meta["batch_ids"] + [day_batch(ref, d) for d in range(1, todo[-1] + 1)]
    m["batches"] = ",".join(all_ids)
    m["truth_state_after_batch"] = bids[todo[-1]]
    m["days_delivered"] = todo[-1]
    m["change_rate"] = rate
    m.to_parquet(nt / "meta.parquet", index=False)
    # ---- move into place: batches (never rewriting one delivered before), truth, then the state switch
    for (src, bid), b in sorted(w.batches.items()):
        sdir = staging / "landing" / src / bid
        if not b["tables"]:
            continue
        dest = out / src / bid
        if dest.exists():
            if not _same_folder(sdir, dest):
                raise RuntimeError(f"{dest} exists with other content: a delivered batch is never rewritten")
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(sdir, dest)
    # the new truth folder: unchanged files linked, changed ones replaced, the days added; swapped in whole
    full = staging / "truth_full"
    shutil.copytree(tdir, full, copy_function=_link_or_copy)
    for p in sorted(nt.glob("*.parquet")):
        os.replace(p, full / p.name)
    for d in todo:
        src_dir = staging / "truth" / "days" / bids[d]
        dest = full / "days" / src_dir.name
        shutil.rmtree(dest, ignore_errors=True)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if src_dir.exists():
            os.replace(src_dir, dest)
        else:
            dest.mkdir(parents=True)
        (dest / "meta.json").write_text(json.dumps({"day": d, "batch_id": bids[d], "business_date": str(day_date(ref, d)),
                                                    "truth_state_after_batch": bids[d]}, indent=2), encoding="utf-8")
    (full / "README.md").write_text(TRUTH_README, encoding="utf-8")
    prev = root / PREV_TRUTH
    shutil.rmtree(prev, ignore_errors=True)
    os.rename(tdir, prev)
    (prev / ".generation").write_text(str(gen_to), encoding="utf-8")
    os.rename(full, tdir)
    meta.update({"generation": gen_to, "days_delivered": todo[-1], "change_rate": rate,
                 "day_batch_ids": meta.get("day_batch_ids", []) + [bids[d] for d in todo]})
    stt.write_meta(root, meta)          # the switch: from here on the new days are delivered
    shutil.rmtree(prev, ignore_errors=True)
    stt.drop_other_generations(root, gen_to)
    shutil.rmtree(staging, ignore_errors=True)
    summary.seconds = time.time() - t0
    return summary


PREV_TRUTH = "truth_prev"


def _link_or_copy(src, dst):
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
    return dst


def _recover_truth(out: Path, root: Path, meta: dict) -> None:
    """A run that died between swapping the truth folder and switching the state: put the truth of the state in
    force back (the days it was writing are written again, to the same bytes)."""
    prev = root / PREV_TRUTH
    if not prev.exists():
        return
    gen = prev / ".generation"
    committed = gen.exists() and int(gen.read_text(encoding="utf-8")) <= int(meta["generation"])
    if not committed:
        shutil.rmtree(out / "_truth", ignore_errors=True)
        (prev / ".generation").unlink(missing_ok=True)
        os.rename(prev, out / "_truth")
    else:
        shutil.rmtree(prev, ignore_errors=True)


def day_batch_date(ref: date, day: int) -> str:
    return str(ref + timedelta(days=7 + day))


def _day_of(bids: dict, bid: str) -> int:
    return next(d for d, b in bids.items() if b == bid)


def _same_folder(a: Path, b: Path) -> bool:
    fa = sorted(p.name for p in a.iterdir())
    fb = sorted(p.name for p in b.iterdir())
    return fa == fb and all((a / f).read_bytes() == (b / f).read_bytes() for f in fa)
