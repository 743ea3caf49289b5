"""Fund sustainability forecast (基金运行预测, models/forecast/README.md).

The method on hand-built series (no engine): a known trend and season continued, a backtest MAPE worked out by
hand, the ageing adjustment on hand numbers, short and gappy histories.  Then the stage end to end on a hand-made
landing zone (module fixture): ingestion -> quality gate -> ``dbt build`` of fund_operation and coverage_by_region
and everything under them -> ``run_forecast`` (silver series and fits, the dbt models gold.fund_forecast and
fund_forecast_warning built with ``--select tag:forecast``, the backtest) -> ``yibao forecast run`` on the CLI.

The hand-made ledger (reference date 2026-11-03; 24 ledger months 202411..202610, k = 0..23; m = calendar month):
  610100/390  runs out: income 1000 a month; expense 450 + 20k + 20·cos(2π(m-1)/12).  Opening balance 2024 = 2000,
              2025 = the 2024 closing balance, 2026 = 4000 (a year-end transfer out that is not in the ledger).  The
              last actual month is 正常 (surplus of 2026 to date ≈ 18 %, ≈ 7 months payable); projected, expense
              overtakes income, the surplus rate falls under the thresholds and the balance runs out.
  610100/310  healthy: income 2000 + 5k, expense 1200 + 3k + 30·cos(...), continuous balance from 20000: 正常 throughout.
  610300/390  too short: 4 months 202607..202610 (income 100, expense 90, 110, 130, 60, opening 500): no forecast,
              the reason; its surplus rates to date (10 %, 0, -10 %, 2.5 %) give fund_operation 一般, 中等, 严重, 中等.
Persons: four insured with their hukou in 610102 (pooling region 610100), one aged 60+: 60+ share 0.25.
"""

from __future__ import annotations

import math
import time
from datetime import date

import numpy as np
import pandas as pd
import pytest
import yaml
from landing import write_batch

from yibao.config import Settings
from yibao.forecast import method as fm

REF = date(2026, 11, 3)
BATCH = "20261103-001"
YMS = [fm.ym_add("202411", k) for k in range(24)]


# -- the method on hand-built series (fast, no engine) ----------------------------------------------------------

def _frame(values, start="202401", expense=None) -> pd.DataFrame:
    values = np.asarray(values, dtype=float)
    return pd.DataFrame({"ym": [fm.ym_add(start, i) for i in range(len(values))], "income": values,
                         "expense": values if expense is None else np.asarray(expense, dtype=float)})


def test_forecast_continues_a_known_trend_and_season():
    """y = 1000 + 10 t + 100 sin(2πt/12): fitted on 24 months, the next 12 months are forecast within 25 yuan.

    Why 25: it is a quarter of the seasonal amplitude (100) and about a fifth of the trend's rise over the 12 months
    (120), so a forecast that dropped the season or the trend fails it (the checks below show the damped trend
    without season and the last value repeated miss by more than 100); what it allows is the trend damping
    (statsmodels bounds the damping factor at 0.995: 12 months lose about 4 yuan of trend) and the heuristic
    initialisation's estimate of the slope from two cycles."""
    t = np.arange(36)
    y = 1000 + 10 * t + 100 * np.sin(2 * np.pi * t / 12)
    pf = fm.forecast_pair(_frame(y[:24]), 12, None, 0.005, 3.0)
    assert pf.method == fm.METHOD_SEASONAL and pf.trained_through_ym == "202512"
    assert list(pf.rows.ym) == [fm.ym_add("202512", h) for h in range(1, 13)]
    err = np.abs(pf.rows.income.to_numpy() - y[24:])
    assert err.max() < 25, err
    assert err[0] < 5, err                                    # the next month is nearly exact
    assert np.allclose(pf.rows.expense, pf.rows.expense_trend)   # no age structure: no adjustment
    # the tolerance discriminates: without the season, or without any model, the error is far larger
    no_season = fm.fit_forecast(y[:24], 12, fm.METHOD_TREND).point
    assert np.abs(no_season - y[24:]).max() > 100
    assert np.abs(y[23] - y[24:]).max() > 100


def test_backtest_mape_is_the_hand_computation():
    """Six months of 100 train a simple exponential smoothing (6..11 months: level only) whose forecast is 100; the
    held-out months are 110, 90, 0, 100, 125.  The month of 0 has no percentage error and is left out:
    MAPE = (10/110 + 10/90 + 0/100 + 25/125) / 4 = 10.0505 %; the naive forecast (the last month, 100) is the same."""
    hist = _frame([100] * 6 + [110, 90, 0, 100, 125])
    recs = {r["measure"]: r for r in fm.backtest_pair(hist, 5, None, 0.005, 3.0)}
    hand = (10 / 110 + 10 / 90 + 0 / 100 + 25 / 125) / 4 * 100
    assert hand == pytest.approx(10.050505, abs=1e-6)
    for measure in ("income", "expense", "expense_trend"):
        r = recs[measure]
        assert r["method"] == fm.METHOD_LEVEL and r["months"] == 4
        assert r["mape"] == pytest.approx(hand, abs=1e-6) and r["mape_naive"] == pytest.approx(hand, abs=1e-6)
        assert (r["trained_from_ym"], r["trained_through_ym"]) == ("202401", "202406")
        assert (r["holdout_from_ym"], r["holdout_through_ym"]) == ("202407", "202411")
    # with an age structure the published expense is adjusted, the trend is not: s0 = 0.2, r = 3, +0.005 a year
    recs = {r["measure"]: r for r in fm.backtest_pair(hist, 5, 0.2, 0.005, 3.0)}
    f = [(1 + 2 * (0.2 + 0.005 * h / 12)) / 1.4 for h in (1, 2, 4, 5)]      # month 3 (actual 0) is not scored
    hand_adj = np.mean([abs(110 - 100 * f[0]) / 110, abs(90 - 100 * f[1]) / 90, abs(100 - 100 * f[2]) / 100,
                        abs(125 - 100 * f[3]) / 125]) * 100
    assert recs["expense"]["mape"] == pytest.approx(hand_adj, abs=1e-6)
    assert recs["expense_trend"]["mape"] == pytest.approx(hand, abs=1e-6)
    assert recs["income"]["mape"] == pytest.approx(hand, abs=1e-6)


def test_ageing_adjustment_on_hand_numbers():
    """s0 = 0.2, +0.005 share points a year, a person 60+ costs 3 times one under 60:
    month 12: s = 0.205, factor = (1 + 2·0.205) / (1 + 2·0.2) = 1.41 / 1.4; month 36: 1.43 / 1.4."""
    share, factor = fm.ageing_factors(0.2, 0.005, 3.0, np.array([0, 12, 36]))
    assert share == pytest.approx([0.2, 0.205, 0.215])
    assert factor == pytest.approx([1.0, 1.41 / 1.4, 1.43 / 1.4])
    assert factor[1] == pytest.approx(1.0071428571)
    # no cost difference: no adjustment whatever the ageing; the share stays within 0..1
    assert fm.ageing_factors(0.2, 0.005, 1.0, np.array([36]))[1] == pytest.approx([1.0])
    s, f = fm.ageing_factors(0.99, 0.05, 3.0, np.array([12, 120]))
    assert s == pytest.approx([1.0, 1.0]) and f == pytest.approx([3 / 2.98, 3 / 2.98])
    # no age structure known: the share is unknown and the expense is not adjusted
    s, f = fm.ageing_factors(None, 0.005, 3.0, np.array([1, 2]))
    assert np.isnan(s).all() and f == pytest.approx([1.0, 1.0])


def test_short_gappy_and_degenerate_histories_do_not_crash():
    # fewer than 6 months: no forecast, the reason
    pf = fm.forecast_pair(_frame([100, 101, 102, 103, 104]), 12, 0.2, 0.005, 3.0)
    assert pf.rows is None and pf.method is None and "only 5 consecutive ledger months (< 6)" in pf.reason
    # a gap: only the months after it are used, and the note says so
    hist = _frame([100.0] * 12)
    hist = hist[hist.ym != "202403"]                       # 202401, 202402, then 202404..202412
    pf = fm.forecast_pair(hist, 3, None, 0.005, 3.0)
    assert pf.method == fm.METHOD_LEVEL and pf.history_months == 9 and pf.trained_from_ym == "202404"
    assert "gap before 202404" in pf.reason and "2 earlier ledger months" in pf.reason
    assert list(pf.rows.ym) == ["202501", "202502", "202503"]
    # every pair of a run gets a fit row, with or without a forecast; a series of zeros forecasts zeros
    from yibao.forecast.pipeline import forecast_all
    history = pd.concat([_frame([0.0] * 8).assign(admdvs="610100", insutype="390"),
                         _frame([5.0] * 3).assign(admdvs="610200", insutype="390")])
    v = {"forecast_horizon_months": 4, "forecast_ageing_share_growth": 0.005, "forecast_elderly_cost_ratio": 3.0,
         "forecast_backtest_months": 6}
    series, fits = forecast_all(history, {"610100": 0.3}, v, pd.Timestamp("2026-11-03").to_pydatetime())
    assert len(fits) == 2 and len(series) == 4 and (series.income == 0).all() and (series.expense == 0).all()
    short = fits.set_index("admdvs").loc["610200"]
    assert short.method is None and "only 3 consecutive" in short.reason
    # a producer without any fund ledger: empty tables, no error
    from yibao.forecast.pipeline import backtest_all
    series, fits = forecast_all(history.iloc[0:0], {}, v, pd.Timestamp("2026-11-03").to_pydatetime())
    assert series.empty and fits.empty and backtest_all(history.iloc[0:0], {}, v, None).empty


# -- the stage end to end on a hand-made warehouse --------------------------------------------------------------

def _check(body17: str) -> str:
    w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return "10X98765432"[sum(int(c) * x for c, x in zip(body17, w)) % 11]


def _certno(brdy: str, n: int) -> str:
    body = f"610102{brdy.replace('-', '')}{n:03d}"
    return body + _check(body)


PERSONS = [("P1", "1950-03-01", "甲一"), ("P2", "1980-01-01", "甲二"), ("P3", "1990-01-01", "甲三"),
           ("P4", "2000-01-01", "甲四")]    # P1 is 76 on the reference date: 60+ share 1/4


def _season(ym: str) -> float:
    return math.cos(2 * math.pi * (int(ym[4:]) - 1) / 12)


def _ledger() -> tuple[list[tuple], list[tuple]]:
    """(ledger rows (admdvs, insutype, ym, direction, amount), opening rows (admdvs, insutype, year, amount))."""
    flows = {("610100", "390"): [(1000.0, 450 + 20 * k + 20 * _season(ym)) for k, ym in enumerate(YMS)],
             ("610100", "310"): [(2000.0 + 5 * k, 1200 + 3 * k + 30 * _season(ym)) for k, ym in enumerate(YMS)]}
    ledger, opening = [], []
    for (adm, ins), rows in flows.items():
        balance = 2000.0 if ins == "390" else 20000.0
        for k, (ym, (inc, exp)) in enumerate(zip(YMS, rows)):
            if k == 0 or ym.endswith("01"):
                if adm == "610100" and ins == "390" and ym == "202601":
                    balance = 4000.0                        # year-end transfer out, not in the ledger
                opening.append((adm, ins, ym[:4], round(balance, 2)))
            inc, exp = round(inc, 2), round(exp, 2)
            ledger += [(adm, ins, ym, "I", inc), (adm, ins, ym, "E", exp)]
            balance += inc - exp
    for ym, exp in zip(YMS[-4:], (90.0, 110.0, 130.0, 60.0)):    # surplus to date 10 %, 0, -10 %, 2.5 %
        ledger += [("610300", "390", ym, "I", 100.0), ("610300", "390", ym, "E", exp)]
    opening.append(("610300", "390", "2026", 500.0))
    return ledger, opening


def _write_landing(landing) -> None:
    info = ["psn_no,psn_name,gend,brdy,naty,psn_cert_type,certno,tel,surv_stas,hsreg_addr,hsreg_admdvs,resd_addr,"
            "resd_admdvs,hsreg_book_no"]
    hsreg = ["certno,psn_name,gend,brdy,naty,hsreg_admdvs,hsreg_addr,hsreg_book_no,hsreg_stas,cancel_date"]
    insu = ["psn_no,insutype,psn_type,psn_insu_stas,crt_insu_date,paus_insu_date,insu_admdvs,emp_no,emp_name"]
    for i, (psn, brdy, name) in enumerate(PERSONS):
        cert = _certno(brdy, 11 + 2 * i)
        info.append(f"{psn},{name},1,{brdy},01,01,{cert},1390000{i:04d},1,某街道,610102,某街道,610102,BK{i:03d}")
        hsreg.append(f"{cert},{name},1,{brdy},01,610102,某街道,BK{i:03d},1,")
        insu.append(f"{psn},390,21,1,2019-01-01,,610102,,")
    ledger, opening = _ledger()
    write_batch(landing, "medins", BATCH, {
        "psn_info": info, "psn_insu": insu,
        "fund_ledger": ["admdvs,insutype,ym,direction,item_type,amount"] +
                       [f"{a},{i},{ym},{d},01,{amt:.2f}" for a, i, ym, d, amt in ledger],
        "fund_opening": ["admdvs,insutype,year,amount"] + [f"{a},{i},{y},{amt:.2f}" for a, i, y, amt in opening]})
    write_batch(landing, "police", BATCH, {"hsreg_psn": hsreg})


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    from yibao.forecast import run_forecast
    from yibao.ingestion.ingest import ingest
    from yibao.quality import run_quality
    from yibao.transform.runner import run_dbt

    settings = Settings(data_root=tmp_path_factory.mktemp("forecast"), spark_remote="", reference_date=REF)
    _write_landing(settings.landing)
    t0 = time.time()
    ingest(settings)
    run_quality(settings, reports=False)
    t1 = time.time()
    run_dbt(settings, ["--quiet", "build", "--select", "+fund_operation", "+coverage_by_region",
                       "--indirect-selection", "cautious"])
    t2 = time.time()
    summary = run_forecast(settings)
    t3 = time.time()
    print(f"\ningest + gate {t1 - t0:.0f}s, dbt build {t2 - t1:.0f}s, forecast {t3 - t2:.0f}s {summary.seconds}")
    return settings, summary


def _read(settings: Settings, schema: str, table: str) -> pd.DataFrame:
    from yibao.catalog import Catalog
    from yibao.engine import spark_session

    return Catalog(spark_session(settings), settings).read(schema, table).toPandas()


def _risk_vars() -> dict:
    from yibao.config import load_settings

    v = yaml.safe_load((load_settings().dbt_project / "dbt_project.yml").read_text(encoding="utf-8"))["vars"]
    return {k: float(v[k]) for k in v if k.startswith("risk_")}


def _oracle_level(mp, sr, v: dict) -> str:
    """Test oracle of the fund risk rule (README Definitions D9); the product's rule lives in SQL only."""
    def hit(months, rate):
        return (mp is not None and not pd.isna(mp) and mp <= v[months]) or \
               (sr is not None and not pd.isna(sr) and sr < v[rate])
    if hit("risk_months_severe", "risk_surplus_severe"):
        return "严重"
    if hit("risk_months_medium", "risk_surplus_medium"):
        return "中等"
    if hit("risk_months_general", "risk_surplus_general"):
        return "一般"
    return "正常"


def _projection_oracle(actual: pd.DataFrame, projected: pd.DataFrame) -> pd.DataFrame:
    """Balance, months payable, surplus rate of the projected months recomputed in pandas from the actual months
    (fund_operation) and the projected income / expense."""
    a = actual.sort_values("ym")
    p = projected.sort_values("ym")
    months = pd.concat([a[["ym", "income", "expense"]].assign(projected=False),
                        p[["ym", "income", "expense"]].assign(projected=True)], ignore_index=True)
    months[["income", "expense"]] = months[["income", "expense"]].astype(float)
    anchor = float(a.cum_balance.iloc[-1])
    months["balance"] = anchor + (months.income - months.expense).where(months.projected, 0.0).cumsum()
    months["avg12"] = months.expense.rolling(12, min_periods=1).mean()
    year = months.ym.str[:4]
    ytd_i, ytd_e = months.groupby(year).income.cumsum(), months.groupby(year).expense.cumsum()
    months["mp"] = months.balance / months.avg12
    months["sr"] = (ytd_i - ytd_e) / ytd_i
    return months[months.projected].reset_index(drop=True)


@pytest.mark.slow
def test_projected_balance_and_first_warning(warehouse):
    settings, summary = warehouse
    v = _risk_vars()
    fo = _read(settings, "gold", "fund_operation")
    fc = _read(settings, "gold", "fund_forecast")
    warn = _read(settings, "gold", "fund_forecast_warning").set_index(["admdvs", "insutype"])
    assert summary.pairs == 3 and summary.forecast == 2
    assert len(fc) == 2 * 36 and set(fc.method) == {fm.METHOD_SEASONAL} and (fc.history_months == 24).all()
    for pair in (("610100", "390"), ("610100", "310")):
        actual = fo[(fo.admdvs == pair[0]) & (fo.insutype == pair[1])]
        proj = fc[(fc.admdvs == pair[0]) & (fc.insutype == pair[1])].sort_values("ym").reset_index(drop=True)
        assert list(proj.ym) == [fm.ym_add("202610", h) for h in range(1, 37)]
        assert (proj.trained_from_ym == "202411").all() and (proj.trained_through_ym == "202610").all()
        # the first projected month continues the last actual balance
        last = float(actual.sort_values("ym").cum_balance.iloc[-1])
        assert proj.cum_balance[0] == pytest.approx(last + proj.income[0] - proj.expense[0], rel=1e-12)
        o = _projection_oracle(actual, proj)
        assert np.allclose(proj.cum_balance, o.balance, rtol=1e-9)
        assert np.allclose(proj.months_payable, o.mp, rtol=1e-9)
        assert np.allclose(proj.current_surplus_rate, o.sr, rtol=1e-9)
        levels = [_oracle_level(mp, sr, v) for mp, sr in zip(o.mp, o.sr)]
        assert list(proj.risk_level) == levels, pair
        w = warn.loc[pair]
        expected_first = next((ym for ym, lv in zip(o.ym, levels) if lv != "正常"), None)
        assert w.first_warning_ym == expected_first
        assert w.actual_risk_level == "正常" and w.actual_ym == "202610"
        # the intervals come from simulated paths around the forecast
        assert (proj.cum_balance_p10 <= proj.cum_balance_p90).all()
    # the actual months of fund_operation follow the same oracle: one rule for actual and projected months
    assert [_oracle_level(mp, sr, v) for mp, sr in zip(fo.months_payable, fo.current_surplus_rate)] == \
        list(fo.risk_level)

    runs_out, healthy = warn.loc[("610100", "390")], warn.loc[("610100", "310")]
    assert runs_out.warning_ahead and runs_out.first_warning_ym is not None
    assert runs_out.exhaustion_ym is not None and runs_out.first_warning_ym < runs_out.exhaustion_ym
    assert runs_out.worst_risk_level == "严重" and runs_out.end_cum_balance < 0
    proj = fc[(fc.admdvs == "610100") & (fc.insutype == "390")].sort_values("ym")
    assert proj[proj.cum_balance < 0].ym.min() == runs_out.exhaustion_ym
    assert proj.set_index("ym").risk_level[runs_out.first_warning_ym] == runs_out.first_warning_level
    assert healthy.first_warning_ym is None and not healthy.warning_ahead and healthy.worst_risk_level == "正常"
    assert [w["admdvs"] + "/" + w["insutype"] for w in summary.warnings] == ["610100/390"]


@pytest.mark.slow
def test_ageing_adjustment_reads_the_age_structure(warehouse):
    settings, _ = warehouse
    fc = _read(settings, "gold", "fund_forecast")
    s = _read(settings, "silver", "fund_forecast_series")
    assert len(s) == len(fc) == 72
    assert (fc.ageing_share_base == 0.25).all()               # one insured of four is 60+ (coverage_by_region)
    h = fc.months_ahead.astype(float)
    factor = (1 + 2 * (0.25 + 0.005 * h / 12)) / (1 + 2 * 0.25)
    assert np.allclose(fc.ageing_factor, factor) and np.allclose(fc.expense, fc.expense_trend * factor)
    assert list(fc[fc.months_ahead == 36].ageing_factor) == pytest.approx([1.53 / 1.5] * 2)
    # the assumptions travel with every row
    assert (fc.horizon_months == 36).all() and (fc.ageing_share_growth == 0.005).all()
    assert (fc.elderly_cost_ratio == 3.0).all() and (fc.interval_level == fm.INTERVAL).all()


@pytest.mark.slow
def test_short_history_no_forecast_with_the_reason(warehouse):
    settings, summary = warehouse
    assert summary.skipped == [("610300", "390", "only 4 consecutive ledger months (< 6): no forecast")]
    s = _read(settings, "silver", "fund_forecast_series")
    assert "610300" not in set(s.admdvs)
    fit = _read(settings, "silver", "fund_forecast_fit").set_index(["admdvs", "insutype"])
    assert fit.loc[("610300", "390")].method is None and fit.loc[("610300", "390")].history_months == 4
    w = _read(settings, "gold", "fund_forecast_warning").set_index(["admdvs", "insutype"]).loc[("610300", "390")]
    assert w.method is None and "only 4 consecutive" in w.reason and w.first_warning_ym is None
    assert w.actual_ym == "202610" and w.actual_risk_level is not None      # the last actual month is still shown
    bt = _read(settings, "gold", "fund_forecast_backtest")
    short = bt[bt.admdvs == "610300"]
    assert len(short) == 3 and short.mape.isna().all() and short.reason.str.contains("nothing left to train").all()


@pytest.mark.slow
def test_backtest_table(warehouse):
    """Six months held out of 24: 18 months train a damped trend without season (the same code path as the
    forecast); the income of 610100/390 is constant, so its MAPE is 0; each row equals backtest_pair on the
    history read back from fund_operation."""
    from yibao.forecast.pipeline import read_age_shares, read_history
    from yibao.catalog import Catalog
    from yibao.engine import spark_session

    settings, summary = warehouse
    bt = _read(settings, "gold", "fund_forecast_backtest")
    assert len(bt) == 3 * 3 and set(bt.measure) == {"income", "expense", "expense_trend"}
    full = bt[bt.admdvs == "610100"].set_index(["insutype", "measure"])
    assert (full.method == fm.METHOD_TREND).all() and (full.months == 6).all()
    assert (full.holdout_from_ym == "202605").all() and (full.trained_through_ym == "202604").all()
    assert full.loc[("390", "income")].mape == pytest.approx(0, abs=1e-6)
    cat = Catalog(spark_session(settings), settings)
    hist, shares = read_history(cat), read_age_shares(cat)
    for ins in ("390", "310"):
        h = hist[(hist.admdvs == "610100") & (hist.insutype == ins)]
        for r in fm.backtest_pair(h, 6, shares["610100"], 0.005, 3.0):
            assert full.loc[(ins, r["measure"])].mape == pytest.approx(r["mape"], rel=1e-9)
    assert len(summary.backtest) == 9


@pytest.mark.slow
def test_fund_operation_unchanged_by_the_macro(warehouse):
    """gold.fund_operation's risk_level, now from the macro fund_risk_level, equals the CASE expression the model
    had before the refactor (copied verbatim below) on every row; and the main build leaves the forecast marts out."""
    from yibao.transform.runner import run_dbt

    settings, _ = warehouse
    old_case = """case when months_payable <= {{ var('risk_months_severe') }} or current_surplus_rate < {{ var('risk_surplus_severe') }} then '严重'
            when months_payable <= {{ var('risk_months_medium') }} or current_surplus_rate < {{ var('risk_surplus_medium') }} then '中等'
            when months_payable <= {{ var('risk_months_general') }} or current_surplus_rate < {{ var('risk_surplus_general') }} then '一般'
            else '正常' end"""
    res = run_dbt(settings, ["--quiet", "show", "--limit", "-1", "--inline",
                             f"select admdvs, insutype, ym, risk_level, {old_case} as old_level "
                             f"from {{{{ ref('fund_operation') }}}}"])
    rows = res.result.results[0].agate_table.rows
    assert len(rows) == 2 * 24 + 4
    assert all(r[3] == r[4] for r in rows), [tuple(r) for r in rows if r[3] != r[4]]
    assert {r[3] for r in rows} == {"正常", "一般", "中等", "严重"}    # every level: the comparison is not vacuous
    # the default selection (selectors.yml) leaves the forecast marts out; the forecast stage selects them
    default = run_dbt(settings, ["--quiet", "ls", "--resource-type", "model", "--output", "name"]).result
    assert "fund_operation" in default and "fund_forecast" not in default
    assert "fund_forecast_warning" not in default
    tagged = run_dbt(settings, ["--quiet", "ls", "--select", "tag:forecast", "--output", "name"]).result
    assert {"fund_forecast", "fund_forecast_warning"} <= set(tagged)


@pytest.mark.slow
def test_cli_forecast_run_with_a_shorter_horizon(warehouse, monkeypatch):
    from typer.testing import CliRunner

    from yibao.cli import app

    settings, _ = warehouse
    monkeypatch.setenv("YIBAO_DATA_ROOT", str(settings.data_root))
    monkeypatch.setenv("YIBAO_REFERENCE_DATE", REF.isoformat())
    for var in ("YIBAO_LANDING_ROOT", "YIBAO_WAREHOUSE_ROOT"):
        monkeypatch.delenv(var, raising=False)
    res = CliRunner().invoke(app, ["forecast", "run", "--vars", "{forecast_horizon_months: 12}"])
    assert res.exit_code == 0, res.output
    assert "2 of 3 pairs forecast for 12 months" in res.output
    assert "no forecast for 610300/390" in res.output
    fc = _read(settings, "gold", "fund_forecast")
    assert len(fc) == 2 * 12 and (fc.horizon_months == 12).all()
    w = _read(settings, "gold", "fund_forecast_warning")
    assert (w.horizon_months == 12).all()
    bad = CliRunner().invoke(app, ["forecast", "run", "--vars", "{forecast_horizon_months: 0}"])
    assert bad.exit_code == 1 and "outside" in bad.output
