"""``run_forecast(settings)``: gold.fund_operation (+ the age structure of gold.coverage_by_region) -> one forecast
per pooling region x insutype -> silver.fund_forecast_series and silver.fund_forecast_fit -> the dbt models
gold.fund_forecast and gold.fund_forecast_warning (balance, months payable, surplus rate, risk level: the SQL rule of
fund_operation) -> the backtest, gold.fund_forecast_backtest.

The series are tiny (pooling regions x 2 insutypes x a few dozen months), so they are fitted on the client in
pandas / statsmodels; the engine reads the gold tables and writes the results, each table in one overwrite commit.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Callable

import pandas as pd

from yibao.catalog import Catalog
from yibao.forecast import method as fm
from yibao.forecast.config import load_vars

SERIES_TABLE = ("silver", "fund_forecast_series")
FIT_TABLE = ("silver", "fund_forecast_fit")
BACKTEST_TABLE = ("gold", "fund_forecast_backtest")
FORECAST_TABLE = ("gold", "fund_forecast")
WARNING_TABLE = ("gold", "fund_forecast_warning")

SERIES_DDL = ("admdvs string, insutype string, ym string, months_ahead int, income double, income_p10 double, "
              "income_p90 double, expense_trend double, expense double, expense_p10 double, expense_p90 double, "
              "net_cum_p10 double, net_cum_p90 double, ageing_share_base double, ageing_share double, "
              "ageing_factor double, method string, history_months int, trained_from_ym string, "
              "trained_through_ym string, horizon_months int, ageing_share_growth double, elderly_cost_ratio double, "
              "interval_level double, forecast_at timestamp")
FIT_DDL = ("admdvs string, insutype string, history_months int, trained_from_ym string, trained_through_ym string, "
           "method string, reason string, income_params string, expense_params string, ageing_share_base double, "
           "horizon_months int, ageing_share_growth double, elderly_cost_ratio double, backtest_months int, "
           "forecast_at timestamp")
BACKTEST_DDL = ("admdvs string, insutype string, measure string, months int, mape double, mape_naive double, "
                "method string, reason string, trained_from_ym string, trained_through_ym string, "
                "holdout_from_ym string, holdout_through_ym string, ageing_share_base double, "
                "ageing_share_growth double, elderly_cost_ratio double, forecast_at timestamp")

STEPS = ("read", "fit", "write", "models", "backtest")


@dataclass
class ForecastSummary:
    vars: dict = field(default_factory=dict)
    pairs: int = 0                                    # pooling region x insutype pairs in gold.fund_operation
    forecast: int = 0                                 # ... with a forecast
    skipped: list = field(default_factory=list)       # (admdvs, insutype, reason) without one
    warnings: list = field(default_factory=list)      # rows of gold.fund_forecast_warning with a first_warning_ym
    backtest: list = field(default_factory=list)      # rows of gold.fund_forecast_backtest
    seconds: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


# -- reading ----------------------------------------------------------------------------------------------------
def read_history(cat: Catalog) -> pd.DataFrame:
    """admdvs, insutype, ym, income, expense of gold.fund_operation (one row per pair x ledger month)."""
    if not cat.exists("gold", "fund_operation"):
        raise ValueError("gold.fund_operation does not exist yet: build the gold layer first (yibao transform)")
    df = (cat.read("gold", "fund_operation")
          .selectExpr("admdvs", "insutype", "cast(ym as string) as ym", "cast(income as double) as income",
                      "cast(expense as double) as expense").toPandas())
    return df.sort_values(["admdvs", "insutype", "ym"], kind="stable").reset_index(drop=True)


def read_age_shares(cat: Catalog) -> dict[str, float]:
    """Pooling region -> the share of its insured persons aged 60 or more on the reference date
    (gold.coverage_by_region, level 'pool': insured_age_60_plus / insured); regions without insured are absent."""
    if not cat.exists("gold", "coverage_by_region"):
        return {}
    rows = (cat.read("gold", "coverage_by_region").where("level = 'pool' and insured > 0")
            .selectExpr("admdvs", "cast(insured_age_60_plus as double) / insured as share").collect())
    return {r["admdvs"]: float(r["share"]) for r in rows}


# -- the forecast of every pair (pure: pandas in, pandas out) ---------------------------------------------------
def forecast_all(history: pd.DataFrame, shares: dict[str, float], v: dict,
                 now: datetime) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(series rows, fit rows) for every admdvs x insutype of ``history``; a fit that fails is a fit row with the
    reason and no series rows, never an exception."""
    horizon, growth, ratio = (v["forecast_horizon_months"], v["forecast_ageing_share_growth"],
                              v["forecast_elderly_cost_ratio"])
    series, fits = [], []
    for (admdvs, insutype), h in history.groupby(["admdvs", "insutype"], sort=True):
        share = shares.get(admdvs)
        try:
            pf = fm.forecast_pair(h, horizon, share, growth, ratio)
        except Exception as exc:   # a degenerate series statsmodels cannot fit: recorded, the others go on
            yms = sorted(str(x) for x in h.ym)
            pf = fm.PairForecast(None, f"fit failed: {type(exc).__name__}: {exc}", len(yms), yms[0], yms[-1])
        reason = pf.reason
        if pf.method and share is None:
            note = "no insured age structure in gold.coverage_by_region: expense not adjusted for ageing"
            reason = f"{reason}; {note}" if reason else note
        fits.append({"admdvs": admdvs, "insutype": insutype, "history_months": pf.history_months,
                     "trained_from_ym": pf.trained_from_ym, "trained_through_ym": pf.trained_through_ym,
                     "method": pf.method, "reason": reason,
                     "income_params": json.dumps(pf.params.get("income")) if pf.params else None,
                     "expense_params": json.dumps(pf.params.get("expense")) if pf.params else None,
                     "ageing_share_base": share, "horizon_months": horizon, "ageing_share_growth": growth,
                     "elderly_cost_ratio": ratio, "backtest_months": v["forecast_backtest_months"],
                     "forecast_at": now})
        if pf.rows is not None:
            r = pf.rows.assign(admdvs=admdvs, insutype=insutype, ageing_share_base=share, method=pf.method,
                               history_months=pf.history_months, trained_from_ym=pf.trained_from_ym,
                               trained_through_ym=pf.trained_through_ym, horizon_months=horizon,
                               ageing_share_growth=growth, elderly_cost_ratio=ratio, interval_level=fm.INTERVAL,
                               forecast_at=now)
            series.append(r)
    cols = [c.split()[0] for c in SERIES_DDL.split(", ")]
    s = pd.concat(series, ignore_index=True)[cols] if series else pd.DataFrame(columns=cols)
    return s, pd.DataFrame(fits, columns=[c.split()[0] for c in FIT_DDL.split(", ")])


def backtest_all(history: pd.DataFrame, shares: dict[str, float], v: dict, now: datetime) -> pd.DataFrame:
    """gold.fund_forecast_backtest rows: every pair's last ``forecast_backtest_months`` held out and forecast from
    the months before (:func:`yibao.forecast.method.backtest_pair`, the same code path as the forecast)."""
    out = []
    for (admdvs, insutype), h in history.groupby(["admdvs", "insutype"], sort=True):
        share = shares.get(admdvs)
        try:
            recs = fm.backtest_pair(h, v["forecast_backtest_months"], share, v["forecast_ageing_share_growth"],
                                    v["forecast_elderly_cost_ratio"])
        except Exception as exc:
            recs = [{"measure": m, "months": 0, "mape": None, "mape_naive": None, "method": None,
                     "reason": f"fit failed: {type(exc).__name__}: {exc}"} for m in ("income", "expense",
                                                                                      "expense_trend")]
        for r in recs:
            out.append({**r, "admdvs": admdvs, "insutype": insutype, "ageing_share_base": share,
                        "ageing_share_growth": v["forecast_ageing_share_growth"],
                        "elderly_cost_ratio": v["forecast_elderly_cost_ratio"], "forecast_at": now})
    return pd.DataFrame(out, columns=[c.split()[0] for c in BACKTEST_DDL.split(", ")])


# -- writing ----------------------------------------------------------------------------------------------------
def _value(v):
    """A pandas / numpy cell as a plain Python value for the engine (NaN -> null)."""
    if v is None:
        return None
    if isinstance(v, pd.Timestamp):
        return v.to_pydatetime()
    if hasattr(v, "item") and not isinstance(v, (list, tuple, str)):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def write_rows(cat: Catalog, df: pd.DataFrame, ddl: str, schema: str, table: str) -> None:
    """Overwrite ``schema.table`` with ``df`` (columns in the order of ``ddl``): one Delta commit."""
    cols = [c.split()[0] for c in ddl.split(", ")]
    kinds = {c.split()[0]: c.split()[1] for c in ddl.split(", ")}
    rows = []
    for rec in df[cols].itertuples(index=False, name=None):
        row = []
        for c, val in zip(cols, rec):
            val = _value(val)
            if val is not None and kinds[c] == "int":
                val = int(val)
            elif val is not None and kinds[c] == "double":
                val = float(val)
            row.append(val)
        rows.append(tuple(row))
    cat.overwrite(cat.upload(rows, ddl, table), schema, table)


class _Clock:
    def __init__(self, on_step: Callable[[str, float], None] | None):
        self.on_step, self.last, self.seconds = on_step, time.time(), {}
        self.start = self.last

    def done(self, step: str) -> None:
        self.seconds[step] = round(time.time() - self.last, 2)
        if self.on_step:
            self.on_step(step, self.seconds[step])
        self.last = time.time()


def run_forecast(settings, overrides: dict | None = None, on_step: Callable[[str, float], None] | None = None,
                 build_models: bool = True) -> ForecastSummary:
    """The stage: read, fit, write the silver tables, build the dbt models (``build_models``), backtest.
    ``overrides``: dbt vars for this run (the forecast_* assumptions, and risk_* thresholds for the models);
    ``on_step(step, seconds)`` is called as each of :data:`STEPS` finishes."""
    from yibao.engine import spark_session

    v = load_vars(settings, overrides)
    clock = _Clock(on_step)
    cat = Catalog(spark_session(settings), settings)
    history = read_history(cat)
    shares = read_age_shares(cat)
    now = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
    clock.done("read")
    series, fits = forecast_all(history, shares, v, now)
    clock.done("fit")
    write_rows(cat, series, SERIES_DDL, *SERIES_TABLE)
    write_rows(cat, fits, FIT_DDL, *FIT_TABLE)
    clock.done("write")
    summary = ForecastSummary(vars=v, pairs=len(fits), forecast=int(fits.method.notna().sum()),
                              skipped=[(r.admdvs, r.insutype, r.reason) for r in fits.itertuples() if not r.method])
    if build_models:
        from yibao.transform import run_dbt

        run_dbt(settings, ["--quiet", "build", "--select", "tag:forecast"], vars=dict(overrides or {}))
        w = cat.read(*WARNING_TABLE).where("first_warning_ym is not null").orderBy("admdvs", "insutype")
        summary.warnings = [r.asDict() for r in w.select(
            "admdvs", "insutype", "actual_risk_level", "first_warning_ym", "first_warning_level", "months_to_warning",
            "warning_ahead", "worst_risk_level", "exhaustion_ym").collect()]
    clock.done("models")
    bt = backtest_all(history, shares, v, now)
    write_rows(cat, bt, BACKTEST_DDL, *BACKTEST_TABLE)
    summary.backtest = [{k: _value(x) for k, x in r.items()} for r in
                        bt[["admdvs", "insutype", "measure", "months", "mape", "mape_naive", "method"]]
                        .to_dict("records")]
    clock.done("backtest")
    summary.seconds = {**clock.seconds, "total": round(time.time() - clock.start, 2)}
    return summary
