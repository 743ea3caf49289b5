"""The forecast's assumptions: the dbt vars ``forecast_*`` of ``dbt_project.yml`` (block "fund forecast"), their one
home.  Python reads them from the project the setting ``dbt_project_dir`` names, as :mod:`yibao.transform.seeds`
reads ``region_province``; ``yibao forecast run --vars '{...}'`` overrides them for one run (and passes the same
vars to the dbt models, so the risk_* thresholds can be overridden there too)."""

from __future__ import annotations

VARS = {  # var -> (type, lowest allowed, highest allowed)
    "forecast_horizon_months": (int, 1, 120),
    "forecast_ageing_share_growth": (float, -0.1, 0.1),
    "forecast_elderly_cost_ratio": (float, 0.01, 100.0),
    "forecast_backtest_months": (int, 1, 60),
}


def load_vars(settings=None, overrides: dict | None = None) -> dict:
    """{var: value} for the four forecast vars: dbt_project.yml, then ``overrides`` (only these vars are taken
    from it).  Raises ValueError when one is missing or out of range."""
    import yaml

    from yibao.config import load_settings

    settings = settings or load_settings()
    path = settings.dbt_project / "dbt_project.yml"
    project = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("vars") or {}
    values = {**project, **{k: v for k, v in (overrides or {}).items() if k in VARS}}
    out = {}
    for name, (kind, lo, hi) in VARS.items():
        if name not in values:
            raise ValueError(f"{path}: var {name} is missing (block 'fund forecast' of vars)")
        try:
            v = kind(values[name])
        except (TypeError, ValueError):
            raise ValueError(f"var {name}: {values[name]!r} is not a {kind.__name__}") from None
        if kind is int and float(values[name]) != v:
            raise ValueError(f"var {name}: {values[name]!r} is not a whole number")
        if not lo <= v <= hi:
            raise ValueError(f"var {name}: {v} is outside {lo}..{hi}")
        out[name] = v
    return out
