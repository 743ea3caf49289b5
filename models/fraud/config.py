"""Configuration of yibao.fraud: the file of the setting ``fraud_config`` (yibao.config: ``rules.toml`` beside this
module unless ``yibao.toml`` or ``YIBAO_FRAUD_CONFIG`` names another)."""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path

RULE_CODES = ("R01_AFTER_DEATH", "R02_SPLIT_ADMISSION", "R03_OVERLAP_STAY", "R04_GENDER_ITEM", "R05_HIGH_FREQUENCY",
              "R06_DUP_CHARGE", "R07_IDLE_BED", "R08_GANG", "R09_PROVIDER_OUTLIER", "R10_DRG_UPCODING",
              "R11_OVER_CEILING", "R12_CLASS_C_FUND")


def config_path(path: str | Path | None = None) -> Path:
    if path:
        return Path(path)
    from yibao.config import load_settings

    return load_settings().fraud_config_file


@lru_cache(maxsize=8)
def _load(path: str) -> dict:
    with open(path, "rb") as fh:
        cfg = tomllib.load(fh)
    missing = [c for c in RULE_CODES if c not in cfg.get("rules", {})]
    if missing:
        raise ValueError(f"{path}: rules without parameters: {missing}")
    from yibao.fraud.library import validate   # the rule library's entries (rules added as data)

    try:
        validate(cfg)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
    return cfg


def load_config(path: str | Path | None = None) -> dict:
    """The parsed configuration (a fresh top-level copy; nested tables are shared, do not mutate)."""
    return dict(_load(str(config_path(path).resolve())))


def sql_list(values) -> str:
    """A SQL IN-list of string literals ('a', 'b'); values are configuration, quotes are escaped."""
    vals = [str(v).replace("'", "''") for v in values]
    return ", ".join(f"'{v}'" for v in vals) if vals else "NULL"


def exact_quantile(source: str, groups: list[str], value: str, q: float, alias: str) -> str:
    """SQL subquery: one row per group of ``source`` with ``alias`` = the exact ``q``-quantile of ``value`` (Spark's
    ``percentile``: linear interpolation between the two closest ranks) and ``n`` = the non-null values.

    Computed from a sort (which spills) instead of the ``percentile`` aggregate, which holds every value of a
    group in memory (a 10M-person group outgrew the pool), and instead of ``percentile_approx``, whose answer
    depends on the order the engine reads rows in (a rerun must give the same suspect list)."""
    g = ", ".join(groups)
    q = float(q)
    return f"""(
        select {g}, max(n) as n,
               max(case when rn = lo then v end) + (max(pos) - max(lo))
                   * (max(case when rn = hi then v end) - max(case when rn = lo then v end)) as {alias}
        from (
            select *, cast(floor(pos) as bigint) as lo, cast(ceil(pos) as bigint) as hi from (
                select {g}, cast({value} as double) as v,
                       row_number() over (partition by {g} order by {value}) - 1 as rn,
                       count(*) over (partition by {g}) as n,
                       cast({q!r} as double) * (count(*) over (partition by {g}) - 1) as pos
                from {source} where {value} is not null) x) y
        where rn = lo or rn = hi
        group by {g})"""
