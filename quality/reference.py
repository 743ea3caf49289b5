"""Reference data the checks compare against: the code lists of contract section 3 and the GB/T 2260
division list.  Both are read from the dbt seeds (``dbt_project/seeds/code_list.csv`` and
``gbt2260_divisions.csv``), which are the project's one copy of them: a province that extends a code list
edits the seed, and the transformation and these checks change together.
"""

from __future__ import annotations

import csv
import functools
from pathlib import Path

from yibao.config import load_settings


def seeds_dir() -> Path:
    """The seeds of the dbt project the setting ``dbt_project_dir`` names (``$YIBAO_DBT_PROJECT_DIR``)."""
    return load_settings().dbt_project / "seeds"


@functools.lru_cache(maxsize=None)
def code_lists() -> dict[str, dict[str, str]]:
    """{code_type: {code: name}} from the code_list seed."""
    out: dict[str, dict[str, str]] = {}
    with (seeds_dir() / "code_list.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            out.setdefault(row["code_type"], {})[row["code"]] = row["name"]
    return out


def codes(code_type: str) -> list[str]:
    return sorted(code_lists()[code_type])


@functools.lru_cache(maxsize=None)
def division_codes() -> tuple[str, ...]:
    """Every GB/T 2260 code of the seed (all levels: province, prefecture, county)."""
    with (seeds_dir() / "gbt2260_divisions.csv").open(encoding="utf-8") as fh:
        return tuple(sorted(r["code"] for r in csv.DictReader(fh)))
