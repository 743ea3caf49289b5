"""The forecast's arithmetic, as small pure functions (no engine, no tables): method choice, the Holt-Winters fit
and its simulated paths, the ageing adjustment, MAPE, year-month arithmetic.

Everything here works on one monthly series (one pooling region x insutype x measure) held in numpy / pandas;
:mod:`yibao.forecast.pipeline` reads the tables and writes the results.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

# -- method choice (part of the method, not an assumption: models/forecast/README.md, "Method") -------------------
MIN_MONTHS = 6          # fewer contiguous months: no forecast, a reason instead
TREND_MONTHS = 12       # from one full year: damped additive trend; below it a trend would mostly be season
SEASONAL_MONTHS = 24    # from two full years: additive seasonality of period 12 (two cycles to separate it from trend)
SEASON = 12

METHOD_SEASONAL = "holt_winters_damped_additive_seasonal12"
METHOD_TREND = "holt_damped_additive_trend"
METHOD_LEVEL = "simple_exponential_smoothing"

# -- prediction intervals: paths simulated from the fitted model with its own one-step residuals ------------------
INTERVAL = 0.80         # central interval reported: P10 .. P90
PATHS = 1000            # simulated paths per series
SEED = 20261101         # fixed: the same history gives the same intervals


def ym_add(ym: str, k: int) -> str:
    """'YYYYMM' moved by ``k`` months (k may be negative)."""
    y, m = int(ym[:4]), int(ym[4:6])
    n = y * 12 + (m - 1) + k
    return f"{n // 12:04d}{n % 12 + 1:02d}"


def ym_diff(a: str, b: str) -> int:
    """Months from ``b`` to ``a`` (a - b)."""
    return (int(a[:4]) * 12 + int(a[4:6])) - (int(b[:4]) * 12 + int(b[4:6]))


def contiguous_tail(yms: list[str]) -> int:
    """How many of the sorted months ``yms``, counted back from the last, follow each other without a gap.

    A ledger month missing in the middle of the history cannot be filled without inventing it; the series
    used is the run of consecutive months that ends with the last one."""
    n = 1 if yms else 0
    for i in range(len(yms) - 1, 0, -1):
        if ym_diff(yms[i], yms[i - 1]) != 1:
            break
        n += 1
    return n


def choose_method(n_months: int) -> tuple[str | None, str | None]:
    """(method, reason): the model a history of ``n_months`` consecutive months supports, or (None, why not)."""
    if n_months < MIN_MONTHS:
        return None, f"only {n_months} consecutive ledger months (< {MIN_MONTHS}): no forecast"
    if n_months < TREND_MONTHS:
        return METHOD_LEVEL, None
    if n_months < SEASONAL_MONTHS:
        return METHOD_TREND, None
    return METHOD_SEASONAL, None


@dataclass
class Fit:
    """One measure's fit: the point forecast, simulated paths, the fitted parameters."""
    method: str
    point: np.ndarray                 # (horizon,) the model's forecast, clipped at 0
    paths: np.ndarray                 # (horizon, PATHS) simulated futures, clipped at 0
    params: dict = field(default_factory=dict)


def _model(y: np.ndarray, method: str):
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    if method == METHOD_SEASONAL:
        # initial level, trend and seasonals from a decomposition of the first two years (statsmodels' heuristic):
        # only the smoothing parameters are optimised, not 12 initial seasonals on 24 points
        return ExponentialSmoothing(y, trend="add", damped_trend=True, seasonal="add", seasonal_periods=SEASON,
                                    initialization_method="heuristic")
    if method == METHOD_TREND:
        return ExponentialSmoothing(y, trend="add", damped_trend=True, initialization_method="estimated")
    return ExponentialSmoothing(y, initialization_method="estimated")


def fit_forecast(y, horizon: int, method: str, draws: np.ndarray | None = None) -> Fit:
    """Fit ``method`` on the monthly values ``y`` and forecast ``horizon`` months.

    ``draws`` (horizon x PATHS integers) picks, for every simulated month, which in-sample one-step residual is
    replayed (a bootstrap); passing the same draws for income and expense keeps the two measures' surprises
    together, as they come together in the ledger.  Forecasts below zero are clipped to zero (a fund does not
    receive negative income or pay negative benefits)."""
    y = np.asarray(y, dtype=float)
    with warnings.catch_warnings():
        # statsmodels warns when the optimiser stops at a bound (e.g. damping 0.995): the fit is still usable
        warnings.simplefilter("ignore")
        res = _model(y, method).fit(optimized=True)
        point = np.asarray(res.forecast(horizon), dtype=float)
        resid = np.asarray(y - res.fittedvalues, dtype=float)
        if draws is None:
            draws = np.random.default_rng(SEED).integers(0, len(resid), size=(horizon, PATHS))
        paths = np.asarray(res.simulate(horizon, anchor="end", repetitions=draws.shape[1], error="add",
                                        random_errors=resid[draws]), dtype=float).reshape(horizon, -1)
    keys = ("smoothing_level", "smoothing_trend", "damping_trend", "smoothing_seasonal")
    params = {k: round(float(res.params[k]), 6) for k in keys
              if res.params.get(k) is not None and not np.isnan(res.params[k])}
    params["residual_sd"] = round(float(np.std(resid, ddof=1)), 2) if len(resid) > 1 else None
    return Fit(method, np.clip(point, 0, None), np.clip(paths, 0, None), params)


def ageing_factors(share_base: float | None, growth_per_year: float, cost_ratio: float,
                   months_ahead: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(60+ share s_t, expense factor) for each month ahead.

    The insured 60+ share grows linearly by ``growth_per_year`` share points a year (kept within 0..1); a person
    60+ costs ``cost_ratio`` times one under 60, so expense per insured person scales by
    (1 + (r-1)·s_t) / (1 + (r-1)·s_0).  No base share (the region has no insured on record): factor 1, no
    adjustment, and the share is NaN."""
    h = np.asarray(months_ahead, dtype=float)
    if share_base is None or not np.isfinite(share_base):
        return np.full(h.shape, np.nan), np.ones(h.shape)
    s = np.clip(share_base + growth_per_year * h / 12.0, 0.0, 1.0)
    r = cost_ratio
    return s, (1.0 + (r - 1.0) * s) / (1.0 + (r - 1.0) * share_base)


def mape(actual, forecast) -> tuple[float | None, int]:
    """(mean absolute percentage error in %, months counted): months whose actual value is 0 are left out
    (their percentage error is undefined)."""
    a, f = np.asarray(actual, dtype=float), np.asarray(forecast, dtype=float)
    keep = a != 0
    if not keep.any():
        return None, 0
    return float(np.mean(np.abs(a[keep] - f[keep]) / np.abs(a[keep])) * 100.0), int(keep.sum())


def quantiles(paths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The central :data:`INTERVAL` of simulated paths, per month: (low, high)."""
    lo = (1.0 - INTERVAL) / 2.0
    return np.quantile(paths, lo, axis=1), np.quantile(paths, 1.0 - lo, axis=1)


@dataclass
class PairForecast:
    """The forecast of one pooling region x insutype: rows per month ahead, or a reason for none."""
    method: str | None
    reason: str | None
    history_months: int
    trained_from_ym: str | None
    trained_through_ym: str | None
    rows: pd.DataFrame | None = None          # columns: see forecast_pair
    params: dict = field(default_factory=dict)


def forecast_pair(history: pd.DataFrame, horizon: int, share_base: float | None, growth: float,
                  cost_ratio: float) -> PairForecast:
    """Forecast one pair from its monthly ``history`` (columns ym 'YYYYMM', income, expense; one row per month).

    Returns rows ym, months_ahead, income (+ _p10, _p90), expense_trend (the statistical forecast), expense (after
    the ageing adjustment, + _p10, _p90), net_cum_p10 / net_cum_p90 (the central interval of cumulative income -
    expense from the month after the history), ageing_share, ageing_factor."""
    h = history.sort_values("ym").reset_index(drop=True)
    yms = [str(v) for v in h.ym]
    n = contiguous_tail(yms)
    h = h.iloc[len(h) - n:]
    method, reason = choose_method(n)
    first, last = (yms[-n], yms[-1]) if n else (None, None)
    if n and len(yms) > n:
        gap = f"gap before {yms[-n]}: the {len(yms) - n} earlier ledger months are not used"
        reason = f"{reason}; {gap}" if reason else gap
    if method is None:
        return PairForecast(None, reason, n, first, last)
    draws = np.random.default_rng(SEED).integers(0, n, size=(horizon, PATHS))
    inc = fit_forecast(h.income.to_numpy(float), horizon, method, draws)
    exp = fit_forecast(h.expense.to_numpy(float), horizon, method, draws)
    ahead = np.arange(1, horizon + 1)
    share, factor = ageing_factors(share_base, growth, cost_ratio, ahead)
    exp_paths = exp.paths * factor[:, None]
    inc_lo, inc_hi = quantiles(inc.paths)
    exp_lo, exp_hi = quantiles(exp_paths)
    net_lo, net_hi = quantiles(np.cumsum(inc.paths - exp_paths, axis=0))
    rows = pd.DataFrame({
        "ym": [ym_add(last, int(k)) for k in ahead], "months_ahead": ahead,
        "income": inc.point, "income_p10": inc_lo, "income_p90": inc_hi,
        "expense_trend": exp.point, "expense": exp.point * factor, "expense_p10": exp_lo, "expense_p90": exp_hi,
        "net_cum_p10": net_lo, "net_cum_p90": net_hi, "ageing_share": share, "ageing_factor": factor})
    return PairForecast(method, reason, n, first, last, rows, {"income": inc.params, "expense": exp.params})


def backtest_pair(history: pd.DataFrame, holdout: int, share_base: float | None, growth: float,
                  cost_ratio: float) -> list[dict]:
    """Hold out the last ``holdout`` months of ``history``, forecast them with :func:`forecast_pair` from the
    months before, and score: one dict per measure (income; expense, as published, after the ageing adjustment;
    expense_trend, before it) with MAPE and the MAPE of the naive forecast (the last training month repeated)."""
    h = history.sort_values("ym").reset_index(drop=True)
    base = {"months": 0, "mape": None, "mape_naive": None}
    if len(h) <= holdout:
        reason = f"{len(h)} ledger months: nothing left to train on after holding out {holdout}"
        return [{**base, "measure": m, "method": None, "reason": reason, "trained_from_ym": None,
                 "trained_through_ym": None, "holdout_from_ym": None, "holdout_through_ym": None}
                for m in ("income", "expense", "expense_trend")]
    train, test = h.iloc[:-holdout], h.iloc[-holdout:]
    pf = forecast_pair(train, holdout, share_base, growth, cost_ratio)
    test_yms = [str(v) for v in test.ym]
    out = []
    for measure, actual_col in (("income", "income"), ("expense", "expense"), ("expense_trend", "expense")):
        rec = {**base, "measure": measure, "method": pf.method, "reason": pf.reason,
               "trained_from_ym": pf.trained_from_ym, "trained_through_ym": pf.trained_through_ym,
               "holdout_from_ym": test_yms[0], "holdout_through_ym": test_yms[-1]}
        if pf.rows is not None:
            # the forecast month k is compared with the held-out month of the same ym (a gap in the held-out
            # months leaves that forecast month unscored)
            fc = pf.rows.set_index("ym")[measure]
            actual = test.set_index(test.ym.astype(str))[actual_col].astype(float)
            common = [ym for ym in actual.index if ym in fc.index]
            rec["mape"], rec["months"] = mape(actual[common], fc[common])
            naive = float(train.sort_values("ym")[actual_col].iloc[-1])
            rec["mape_naive"], _ = mape(actual[common], np.full(len(common), naive))
        out.append(rec)
    return out
