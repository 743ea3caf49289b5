"""Steward (数据责任人) per source, from ``stewards.toml`` beside this module (or ``$YIBAO_STEWARDS``)."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Steward:
    source: str
    department: str
    owner: str
    contact: str


def stewards_file() -> Path:
    env = os.environ.get("YIBAO_STEWARDS")
    return Path(env) if env else Path(__file__).resolve().parent / "stewards.toml"


def load_stewards(path: Path | None = None) -> dict[str, Steward]:
    with (path or stewards_file()).open("rb") as fh:
        raw = tomllib.load(fh)
    default = raw.get("default", {})
    out = {"*": Steward("*", default.get("department", ""), default.get("owner", ""), default.get("contact", ""))}
    for source, v in raw.get("stewards", {}).items():
        merged = {**default, **v}
        out[source] = Steward(source, merged.get("department", source), merged.get("owner", ""),
                              merged.get("contact", ""))
    return out


def steward_of(source: str, stewards: dict[str, Steward] | None = None) -> Steward:
    stewards = stewards or load_stewards()
    s = stewards.get(source)
    if s is None:
        d = stewards["*"]
        return Steward(source, source, d.owner, d.contact)
    return s
