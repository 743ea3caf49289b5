"""基金支付预警 (gold.payment_warning) end to end, on a generated province with known answers planted in it.

The generator writes the landing zone; this test then delivers one more medins batch of its own
(``medins/20261102-001``, mode ``incremental``, a ``setl.csv`` and a manifest that matches it: contract
section 1), built from the generated settlements:

* DUP_PAYMENT: three counted settlements copied under new setl_ids a day later (one of them twice);
  decoys: a copy whose total differs by one yuan, a copy of a settlement the fund paid nothing for;
* REVERSED_STILL_PAID: two counted settlements copied with ``refd_setl_flag = 1`` two days later (the reversal
  was booked on a copy, the payment stands); decoys: a reversed copy settled *before* the counted one (a
  re-settlement after a reversal) and an ordinary reversal (an existing setl_id re-delivered with the flag);
* LARGE_SETTLEMENT: one settlement paying 350,000 yuan; decoy: one paying 199,999.99;
* FUND_SWING: one hospital's settlements of June and July 2026 re-delivered with amounts scaled to 80,000 and
  160,000 yuan of fund paid, and its July settlements copied into July 2025 scaled to 100,000 yuan.

Then the real ingestion and the real dbt build run, and the warnings must be exactly the planted ones.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from datetime import datetime, timedelta
from decimal import Decimal

import pandas as pd
import pytest
from landing import write_batch

from yibao.config import Settings

PERSONS = 2_000
SEED = 11
BATCH = "20261102-001"
# The province of 2,000 persons pays about 0.45M yuan a year in all: no institution or pooling region pays more
# than ~15,000 yuan in a month, with 5-30 settlements.  The swing base thresholds are lowered to fit that scale
# (the defaults, 100,000 yuan in 30 settlements, are for a real province); MIN_BASE stays above every natural
# month, which the test checks, so that every listed swing is a planted one.
MIN_BASE = 40_000
VARS = {"warn_min_base_amount": MIN_BASE, "warn_min_base_settlements": 5}
M0, M1, M2 = "202606", "202607", "202608"         # the swing: June scaled, July scaled more, August as delivered
M1_LAST_YEAR = "202507"                            # before the generated history (it starts 2025-11)
MONEY = ["medfee_sumamt", "fulamt_ownpay_amt", "hifp_pay", "acct_pay", "psn_cash_pay"]


def _date(v: str) -> datetime:
    return datetime.strptime(v.replace("-", ""), "%Y%m%d")


def _valid(s: pd.DataFrame) -> pd.Series:
    """Rows that parse (the generator plants a few that are quarantined)."""
    ok = pd.Series(True, index=s.index)
    for c in MONEY:
        ok &= s[c].str.fullmatch(r"\d+(\.\d{1,2})?")
    for c in ("begndate", "enddate"):
        ok &= s[c].str.fullmatch(r"\d{4}-?\d{2}-?\d{2}") & pd.to_datetime(
            s[c].str.replace("-", ""), format="%Y%m%d", errors="coerce").notna()
    return ok & s["setl_time"].str.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")


def _scaled(rows: pd.DataFrame, target: float) -> pd.DataFrame:
    """The rows with every amount multiplied so that their hifp_pay adds up to ``target`` yuan."""
    from yibao.contract import SETL_FUND_SHARES

    f = target / rows["hifp_pay"].astype(float).sum()
    out = rows.copy()
    for c in MONEY:
        out[c] = (out[c].astype(float) * f).map(lambda x: f"{x:.2f}")
    for c in [c for c in SETL_FUND_SHARES if c in out.columns]:   # contract section 6's fund shares, when delivered
        out[c] = out[c].map(lambda x: f"{float(x) * f:.2f}" if x != "" else "")
    return out


def _shift(rows: pd.DataFrame, **delta) -> pd.DataFrame:
    out = rows.copy()
    d = timedelta(**delta)
    out["setl_time"] = out["setl_time"].map(lambda v: (datetime.strptime(v, "%Y-%m-%d %H:%M:%S") + d)
                                            .strftime("%Y-%m-%d %H:%M:%S"))
    return out


def _last_year(rows: pd.DataFrame) -> pd.DataFrame:
    out = rows.copy()
    for c in ("begndate", "enddate"):
        out[c] = out[c].map(lambda v: _date(v).replace(year=_date(v).year - 1).strftime("%Y-%m-%d"))
    out["setl_time"] = out["setl_time"].map(lambda v: v.replace(v[:4], str(int(v[:4]) - 1), 1))
    return out


def plant(landing) -> dict:
    """Write the planted batch; return what the warnings must find."""
    setl = pd.read_csv(landing / "medins" / "20261101-001" / "setl.csv", dtype=str, keep_default_na=False)
    # what silver counts: the last row of a setl_id repeated in the file (the earlier one is superseded), parsed
    s = setl.drop_duplicates("setl_id", keep="last")
    s = s[_valid(s) & (s["refd_setl_flag"] == "0")].copy()
    s["ym"] = s["setl_time"].str[:7].str.replace("-", "")
    s["fund"] = s["hifp_pay"].astype(float)
    paid = s[s["fund"] > 0]
    seq = iter(range(1, 10_000))

    def copy(rows: pd.DataFrame) -> pd.DataFrame:
        out = rows.copy()
        n = [next(seq) for _ in range(len(out))]
        out["setl_id"] = [f"SPW{i:013d}" for i in n]
        out["mdtrt_id"] = [f"MPW{i:013d}" for i in n]
        return out

    # the swing hospital: the most settlements the fund paid for in June-August, at least 5 in each month
    months = paid[paid["ym"].isin([M0, M1, M2]) & paid["fixmedins_code"].str.startswith("H")]
    per = months.groupby(["fixmedins_code", "ym"]).size().unstack(fill_value=0)
    per = per[(per[[M0, M1, M2]] >= 5).all(axis=1)]
    x = per.sum(axis=1).idxmax()
    at_x = s[s["fixmedins_code"] == x]
    swing = [_scaled(at_x[at_x["ym"] == M0], 80_000), _scaled(at_x[at_x["ym"] == M1], 160_000),
             copy(_last_year(_scaled(at_x[at_x["ym"] == M1], 100_000)))]

    # settlement-level plants come from other institutions (their amounts stay natural)
    others = paid[paid["fixmedins_code"] != x].sample(frac=1, random_state=SEED)
    dup_src, rev_src, rev_decoy_src, dup_decoy_src, ordinary_rev = (others.iloc[i:i + n] for i, n in
                                                                    ((0, 3), (3, 2), (5, 1), (6, 1), (7, 1)))
    dup1, dup2 = copy(_shift(dup_src, days=1)), copy(_shift(dup_src.iloc[:1], days=2))
    rev = copy(_shift(rev_src, days=2)).assign(refd_setl_flag="1")
    rev_decoy = copy(_shift(rev_decoy_src, hours=-1)).assign(refd_setl_flag="1")
    dup_decoy = copy(_shift(dup_decoy_src, days=1))
    dup_decoy["medfee_sumamt"] = dup_decoy["medfee_sumamt"].map(lambda v: f"{float(v) + 1:.2f}")
    unpaid = s[(s["fund"] == 0) & (s["fixmedins_code"] != x)].iloc[:1]
    unpaid_copy = copy(_shift(unpaid, days=1))

    # one huge settlement and one just under the threshold, in October 2026, at two more institutions
    inpatient = s[(s["med_type"] == "21") & (s["fixmedins_code"] != x)]
    y_row = inpatient.iloc[:1]
    z_row = inpatient[inpatient["fixmedins_code"] != y_row["fixmedins_code"].iloc[0]].iloc[:1]
    big = []
    for row, fund in ((y_row, "350000.00"), (z_row, "199999.99")):
        r = copy(row)
        r["begndate"], r["enddate"], r["setl_time"] = "2026-10-05", "2026-10-20", "2026-10-20 10:00:00"
        total = Decimal(fund) * Decimal("1.2")
        r["medfee_sumamt"], r["hifp_pay"], r["fulamt_ownpay_amt"], r["acct_pay"] = f"{total:.2f}", fund, "0.00", "0.00"
        r["psn_cash_pay"] = f"{total - Decimal(fund):.2f}"
        big.append(r)

    planted = pd.concat([*swing, dup1, dup2, rev, rev_decoy, dup_decoy, unpaid_copy, *big,
                         ordinary_rev.assign(refd_setl_flag="1")], ignore_index=True)[setl.columns]
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([setl.columns.tolist(), *planted.to_numpy().tolist()])
    write_batch(landing, "medins", BATCH, {"setl": buf.getvalue().rstrip("\n").split("\n")}, mode="incremental",
                manifest_overrides={"extract_time": "2026-11-02 02:00:00"})

    dup = {}
    for _, o in dup_src.iterrows():
        ids = [o.setl_id, *dup1.loc[dup1.index == o.name, "setl_id"], *dup2.loc[dup2.index == o.name, "setl_id"]]
        dup[o.setl_id] = (sorted(ids), Decimal(o.hifp_pay) * (len(ids) - 1))
    return {
        "x": x,
        "dup": dup,
        "reversed": {r.setl_id: ([r.setl_id, o], Decimal(r.hifp_pay)) for r, o in
                     zip(rev.itertuples(), rev_src["setl_id"])},
        "large": big[0]["setl_id"].iloc[0],
        "not_large": big[1]["setl_id"].iloc[0],
        "decoys": [*rev_decoy["setl_id"], *dup_decoy["setl_id"], *unpaid_copy["setl_id"]],
        "dup_decoy_sources": [*dup_decoy_src["setl_id"], *unpaid["setl_id"], *rev_decoy_src["setl_id"]],
        "ordinary_reversal": ordinary_rev["setl_id"].iloc[0],
        "planted_ids": set(planted["setl_id"]),
    }


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from yibao.ingestion.ingest import ingest
    from yibao.synthetic.generate import generate
    from yibao.transform import build

    settings = Settings(data_root=tmp_path_factory.mktemp("payment_warning"), spark_remote="")
    generate(settings.landing, persons=PERSONS, seed=SEED)
    truth = plant(settings.landing)
    ingest(settings)
    build(settings, vars=VARS)
    return settings, truth


def _read(settings, schema, table) -> pd.DataFrame:
    from yibao.catalog import Catalog
    from yibao.engine import spark_session

    return Catalog(spark_session(settings), settings).read(schema, table).toPandas()


@pytest.fixture(scope="module")
def warnings(world) -> pd.DataFrame:
    return _read(world[0], "gold", "payment_warning")


@pytest.fixture(scope="module")
def counted(world) -> pd.DataFrame:
    return _read(world[0], "silver", "int_settlement")


def _kind(warnings, kind) -> pd.DataFrame:
    return warnings[warnings["warning_type"] == kind].set_index("subject_id")


def test_the_planted_batch_was_taken(world, counted):
    settings, truth = world
    stg = _read(settings, "silver", "stg_medins__setl").set_index("setl_id")
    assert truth["planted_ids"] <= set(stg.index)
    assert stg.loc[truth["ordinary_reversal"], "refd_setl_flag"] == "1"
    assert truth["ordinary_reversal"] not in set(counted["setl_id"])


def test_duplicates_are_exactly_the_planted_ones(world, warnings):
    # On the generated data alone there are none: its amounts are sums of priced fee lines, and no person has two
    # settlements of one institution, dates, med_type and amounts (measured with this model: 0 duplicate visits
    # among the 3,079 counted settlements of this province, 0 among the 27,863 of 20,000 persons, seed 7).  So the
    # bound on false duplicates is 0: the set must be exactly the planted one, and the decoys (a total one yuan
    # different, a copy the fund paid nothing for) stay out.
    _, truth = world
    dup = _kind(warnings, "DUP_PAYMENT")
    assert set(dup.index) == set(truth["dup"])
    for first, (ids, extra) in truth["dup"].items():
        w = dup.loc[first]
        assert w.setl_ids.split(",") == ids and w.amount == extra
        assert w.warning_name == "重复结算" and w.subject_type == "settlement"
        assert f"结算 {len(ids)} 次" in w.reason and f"多支付 {extra:,.2f}元" in w.reason
    listed = {i for ids in dup["setl_ids"] for i in ids.split(",")}
    assert not listed & set(truth["decoys"] + truth["dup_decoy_sources"])


def test_reversals_still_paid_are_exactly_the_planted_ones(world, warnings):
    # the generator's own reversals (the settlement re-delivered with the flag) have no counted copy: none listed
    _, truth = world
    rev = _kind(warnings, "REVERSED_STILL_PAID")
    assert set(rev.index) == set(truth["reversed"])
    for rid, (ids, amount) in truth["reversed"].items():
        w = rev.loc[rid]
        assert w.setl_ids.split(",") == ids and w.amount == amount and w.warning_name == "冲销后仍支付"
        assert ids[1] in w.reason and f"{amount:,.2f}元 未收回" in w.reason
    assert truth["ordinary_reversal"] not in {i for ids in rev["setl_ids"] for i in ids.split(",")}


def test_large_settlement_is_the_planted_one(world, warnings):
    _, truth = world
    large = _kind(warnings, "LARGE_SETTLEMENT")
    assert list(large.index) == [truth["large"]]
    w = large.loc[truth["large"]]
    assert w.amount == Decimal("350000.00") and w.ym == "202610" and w.setl_ids == truth["large"]
    assert "350,000.00元" in w.reason and "200,000.00元" in w.reason


def _prev_month(ym: str) -> str:
    y, m = int(ym[:4]), int(ym[4:])
    return f"{y - 1}12" if m == 1 else f"{y}{m - 1:02d}"


def _monthly(counted: pd.DataFrame) -> pd.DataFrame:
    c = counted.assign(fund=counted["hifp_pay"].astype(float))
    inst = c.groupby(["fixmedins_code", "ym"]).fund.sum().rename_axis(["subject_id", "ym"]).reset_index()
    reg = c.groupby(["region", "ym"]).fund.sum().rename_axis(["subject_id", "ym"]).reset_index()
    return pd.concat([inst.assign(subject_type="institution"), reg.assign(subject_type="region")])


def test_fund_swings_are_exactly_the_planted_ones(world, warnings, counted):
    _, truth = world
    x = truth["x"]
    region = counted.loc[counted["fixmedins_code"] == x, "region"].iloc[0]
    swings = warnings[warnings["warning_type"].str.startswith("FUND_SWING_")]
    got = set(zip(swings.warning_type, swings.subject_type, swings.subject_id, swings.ym))
    expected = {(kind, st, sid, ym) for st, sid in (("institution", x), ("region", region))
                for kind, ym in (("FUND_SWING_MOM", M1), ("FUND_SWING_MOM", M2), ("FUND_SWING_YOY", M1))}
    assert got == expected

    # the figures are the silver facts: month totals of counted settlements, the planted 80k / 160k / 100k
    m = _monthly(counted).set_index(["subject_type", "subject_id", "ym"]).fund
    assert m["institution", x, M0] == pytest.approx(80_000, abs=1)
    assert m["institution", x, M1] == pytest.approx(160_000, abs=1)
    assert m["institution", x, M1_LAST_YEAR] == pytest.approx(100_000, abs=1)
    base_of = {("FUND_SWING_MOM", M1): M0, ("FUND_SWING_MOM", M2): M1, ("FUND_SWING_YOY", M1): M1_LAST_YEAR}
    for w in swings.itertuples():
        cur = m[w.subject_type, w.subject_id, w.ym]
        base = m[w.subject_type, w.subject_id, base_of[w.warning_type, w.ym]]
        assert float(w.amount) == pytest.approx(cur) and float(w.base_amount) == pytest.approx(base)
        assert w.change_rate == pytest.approx(cur / base - 1, abs=1e-6) and w.setl_ids is None
        word = "增长" if cur > base else "下降"
        assert f"{word} {abs(cur / base - 1) * 100:.1f}%（阈值 50.0%）" in w.reason
        assert w.reason.startswith(f"{w.ym[:4]}年{w.ym[4:]}月") and f"{cur / 10000:,.1f}万元" in w.reason
        assert w.fixmedins_code == (x if w.subject_type == "institution" else None) and w.region == region
    assert swings.set_index(["subject_id", "ym", "warning_type"]).loc[(x, M1, "FUND_SWING_YOY"), "change_rate"] \
        == pytest.approx(0.6, abs=1e-4)

    # not vacuous: without the planted rows no month reaches the base threshold (so nothing but the planted swing
    # can be listed), while natural months rise or fall by more than 50 % all the time below it
    natural = _monthly(counted[~counted["setl_id"].isin(truth["planted_ids"])]) \
        .set_index(["subject_type", "subject_id", "ym"]).fund
    assert natural.max() < MIN_BASE
    small_swings = [k for k, v in natural.items()
                    if (b := natural.get((k[0], k[1], _prev_month(k[2])))) and abs(v / b - 1) > 0.5]
    assert len(small_swings) > 10


def test_ids_are_deterministic_and_every_warning_complete(warnings):
    assert warnings["warning_id"].is_unique
    for w in warnings.itertuples():
        key = "|".join([w.warning_type, w.subject_type, w.subject_id, w.ym])
        assert w.warning_id == "W" + hashlib.sha256(key.encode()).hexdigest()[:16]
        assert re.fullmatch(r"\d{6}", w.ym) and w.reason and w.region
    assert set(warnings["warning_type"]) == {"DUP_PAYMENT", "REVERSED_STILL_PAID", "FUND_SWING_MOM",
                                             "FUND_SWING_YOY", "LARGE_SETTLEMENT"}
