"""Administrative divisions (GB/T 2260 行政区划代码): which rows a region's users may see.

One rule, used by the dashboards' row-level security (``yibao.dashboards.serve``) and by the reports delivered to
subscribers (``yibao.reports``): a region sees the rows whose ``admdvs`` starts with its prefix, the part of its
6-digit code that names it: a province ``610000`` -> ``61``, a prefecture (地市) ``610100`` -> ``6101``, a county
``610102`` -> ``610102``.

Tables that are aggregates by pooling region (统筹区: the fund, enrollment and contribution trends, cross-region care,
service indicators; no person or institution is a row) carry the pooling region's code, a prefecture's (610100) or,
for the counties pooled on their own, the county's (杨凌 610403, 韩城 610581).  A prefecture sees its pooling regions
by the prefix; a county sees the pooling region it belongs to (:func:`pooling_region`): the fund a county's insured
belong to is pooled there, and the aggregates name nobody.  Rows of persons and institutions stay behind the prefix.
"""

from __future__ import annotations

import csv
import functools
from pathlib import Path


def admdvs_prefix(code: str) -> str:
    """The prefix of the division ``code`` that every division inside it starts with."""
    code = str(code).strip()
    if not (len(code) == 6 and code.isdigit()):
        raise ValueError(f"not a 6-digit division code: {code!r}")
    if code.endswith("0000"):
        return code[:2]
    if code.endswith("00"):
        return code[:4]
    return code


def in_region(admdvs: str | None, code: str) -> bool:
    """Whether a row of division ``admdvs`` belongs to the region ``code``."""
    return bool(admdvs) and str(admdvs).startswith(admdvs_prefix(code))


@functools.lru_cache(maxsize=4)
def divisions(seed: Path) -> dict[str, dict]:
    """The divisions seed (``dbt_project/seeds/gbt2260_divisions.csv``): code -> its row."""
    with Path(seed).open(encoding="utf-8") as fh:
        return {r["code"]: r for r in csv.DictReader(fh)}


def province_regions(seed: Path) -> dict[str, str]:
    """Code -> name of the province's own divisions (``in_region = 1``): the province, its prefectures, counties."""
    return {c: r["name"] for c, r in divisions(seed).items() if r["in_region"] == "1"}


def pooling_region(code: str, seed: Path) -> str | None:
    """The pooling region a county belongs to (its prefecture's, or its own when pooled on its own); None for the
    province, a prefecture (its prefix already covers its pooling regions) and divisions outside the province."""
    r = divisions(seed).get(str(code).strip())
    if not r or r["in_region"] != "1" or r["level"] != "3":
        return None
    return r["pooling_region"] or None


def divisions_seed(settings) -> Path:
    """Where the divisions seed of the configured dbt project is."""
    return settings.dbt_project / "seeds" / "gbt2260_divisions.csv"
