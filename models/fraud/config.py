"""Configuration of yibao.fraud: ``rules.toml`` beside this module, or the file named by ``YIBAO_FRAUD_CONFIG``."""

from __future__ import annotations

import os
import tomllib
from functools import lru_cache
from pathlib import Path

DEFAULT_PATH = Path(__file__).resolve().parent / "rules.toml"
RULE_CODES = ("R01_AFTER_DEATH", "R02_SPLIT_ADMISSION", "R03_OVERLAP_STAY", "R04_GENDER_ITEM", "R05_HIGH_FREQUENCY",
              "R06_DUP_CHARGE", "R07_IDLE_BED", "R08_GANG", "R09_PROVIDER_OUTLIER")


def config_path(path: str | Path | None = None) -> Path:
    if path:
        return Path(path)
    env = os.environ.get("YIBAO_FRAUD_CONFIG")
    return Path(env) if env else DEFAULT_PATH


@lru_cache(maxsize=8)
def _load(path: str) -> dict:
    with open(path, "rb") as fh:
        cfg = tomllib.load(fh)
    missing = [c for c in RULE_CODES if c not in cfg.get("rules", {})]
    if missing:
        raise ValueError(f"{path}: rules without parameters: {missing}")
    return cfg


def load_config(path: str | Path | None = None) -> dict:
    """The parsed configuration (a fresh top-level copy; nested tables are shared, do not mutate)."""
    return dict(_load(str(config_path(path).resolve())))


def sql_list(values) -> str:
    """A SQL IN-list of string literals ('a', 'b'); values are configuration, quotes are escaped."""
    vals = [str(v).replace("'", "''") for v in values]
    return ", ".join(f"'{v}'" for v in vals) if vals else "NULL"
