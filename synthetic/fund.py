"""Fund ledger (基金收支) and opening balances, scaled on the chunks' own contributions and settlements.

Monthly expense of each pooling region × insutype follows the fund payments (hifp_pay) the settlements
generated; income is set from a target current-surplus rate.  A few region × insutype pairs are planted
in fund risk (严重 / 中等 / 一般) through their surplus rate and opening balance.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .divisions import load as load_divisions

INCOME_SPLIT = {"310": {"01": 0.93, "03": 0.01, "04": 0.03, "99": 0.03},
                "390": {"01": 0.33, "02": 0.60, "03": 0.01, "05": 0.05, "99": 0.01}}
EXPENSE_SPLIT = {"01": 0.96, "02": 0.02, "03": 0.01, "99": 0.01}
# planted risk: (months of expense in the opening balance of the first year, current surplus rate)
PROFILES = {"严重": (2.0, -0.12), "中等": (5.0, 0.02), "一般": (14.0, 0.08), "正常": (16.0, 0.22)}


def months_back(ref_ym: int, k: int) -> list[int]:
    y, m = divmod(ref_ym, 100)
    out = []
    for j in range(k, 0, -1):
        mm = m - j
        out.append((y + (mm - 1) // 12) * 100 + (mm - 1) % 12 + 1)
    return out


def build(seed: int, ref_ym: int, hifp_by_pool: dict, insured_by_pool: dict) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Returns (fund_ledger, fund_opening, truth fund_risk)."""
    rng = np.random.default_rng([seed, 7_000_002])
    D = load_divisions()
    yms = months_back(ref_ym, 24)
    pairs = [(p, t) for p in D.pool_codes for t in ("310", "390")]
    risky = rng.choice(len(pairs), size=3, replace=False)
    plan = {pairs[j]: lvl for j, lvl in zip(risky, ["严重", "中等", "一般"])}
    ledger, opening, truth = [], [], []
    for pool, t in pairs:
        level = plan.get((pool, t), "正常")
        months_open, surplus = PROFILES[level]
        annual = hifp_by_pool.get((pool, t), 0.0)
        floor = 200.0 * insured_by_pool.get((pool, t), 0) + 100_000.0
        base_exp = max(annual, floor) / 12.0
        bal = base_exp * months_open * rng.uniform(0.95, 1.05)
        year_open = {}
        hist_exp = []
        ytd_i = ytd_e = 0.0
        for k, ym in enumerate(yms):
            y, m = divmod(ym, 100)
            if y not in year_open:
                year_open[y] = bal
                opening.append((pool, t, str(y), round(bal, 2)))
                ytd_i = ytd_e = 0.0
            season = 1.0 + 0.08 * np.cos((m - 1) / 12 * 2 * np.pi)
            growth = 1.0 + 0.06 * (k - 23) / 12
            exp = base_exp * season * growth * rng.uniform(0.96, 1.04)
            inc = exp / (1.0 - surplus) * rng.uniform(0.99, 1.01)
            for item, share in INCOME_SPLIT[t].items():
                ledger.append((pool, t, str(ym), "I", item, round(inc * share, 2)))
            for item, share in EXPENSE_SPLIT.items():
                ledger.append((pool, t, str(ym), "E", item, round(exp * share, 2)))
            bal += inc - exp
            ytd_i += inc
            ytd_e += exp
            hist_exp.append(exp)
            avg12 = float(np.mean(hist_exp[-12:]))
            mp = bal / avg12 if avg12 else np.inf
            sr = (ytd_i - ytd_e) / ytd_i if ytd_i else 0.0
            truth.append((pool, t, ym, round(inc, 2), round(exp, 2), round(bal, 2), mp, sr, level,
                          bool(mp <= 6 or sr < 0.15)))
    led = pd.DataFrame(ledger, columns=["admdvs", "insutype", "ym", "direction", "item_type", "amount"])
    led["amount"] = led["amount"].map(lambda v: f"{v:.2f}")
    op = pd.DataFrame(opening, columns=["admdvs", "insutype", "year", "amount"])
    op["amount"] = op["amount"].map(lambda v: f"{v:.2f}")
    tr = pd.DataFrame(truth, columns=["admdvs", "insutype", "ym", "income", "expense", "cum_balance", "months_payable",
                                      "current_surplus_rate", "planted_risk", "expected_at_least_general"])
    return led, op, tr
