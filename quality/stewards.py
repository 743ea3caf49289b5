"""Steward (数据责任人) per source, from the file of the setting ``stewards`` (``quality/stewards.toml``)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from yibao.config import load_settings


@dataclass(frozen=True)
class Steward:
    source: str
    department: str
    owner: str
    contact: str


def stewards_file() -> Path:
    """The setting ``stewards`` (``$YIBAO_STEWARDS``; default: ``stewards.toml`` beside this module)."""
    return load_settings().stewards_file


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
