"""Compare the gold tables of two warehouses row by row: the contract's eight (section 4) and the other marts.

    python -m yibao.benchmarks.compare_gold WAREHOUSE_A WAREHOUSE_B [--table T ...]

Used to show that a change of code leaves what the lakehouse publishes unchanged (issue 23: the same landing zone
through the code before and after), and by ``tests/test_daily_runs.py`` (a full load plus daily runs against one
rebuild).  Tables are read with ``deltalake`` straight from the Delta logs, not through the engine, so the check
does not share the code it checks.  Columns that say when a row was computed (not what it says) are left out;
floats compare at 6 decimals, lists and maps as text.  Exit status 1 when any table differs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

# contract section 4 (and the published marts): table -> its key
GOLD_KEYS: dict[str, list[str]] = {
    "person_master": ["person_id"], "person_xref": ["source", "source_table", "source_key"],
    "uninsured_person": ["person_id"], "enrolled_unpaid": ["person_id", "insutype"],
    "duplicate_enrollment": ["person_id", "kind"], "coverage_by_region": ["admdvs", "level"],
    "fund_operation": ["admdvs", "insutype", "ym"], "fraud_suspect": ["suspect_id"],
}
# when a row was computed, not what it says
VOLATILE: dict[str, list[str]] = {
    "fraud_suspect": ["scored_at", "status", "model_version"],
    "person_master": ["resolved_at", "updated_at"], "person_xref": ["resolved_at"],
}


def _text(v) -> object:
    if v is None or isinstance(v, (str, bytes)):
        return v
    if isinstance(v, dict):
        return ",".join(f"{k}={_text(x)}" for k, x in sorted(v.items()))
    if hasattr(v, "__len__"):
        return ",".join(str(_text(x)) for x in v)
    return v


def gold_frame(warehouse: Path, table: str) -> pd.DataFrame:
    """One gold table, comparable: volatile columns dropped, floats rounded, nested values as text, sorted by key."""
    from deltalake import DeltaTable

    df = DeltaTable(str(Path(warehouse) / "gold" / table)).to_pandas()
    df = df.drop(columns=[c for c in VOLATILE.get(table, []) if c in df.columns])
    for c in df.columns:
        if df[c].dtype == object:
            df[c] = df[c].map(_text)
        elif pd.api.types.is_float_dtype(df[c]):
            df[c] = df[c].round(6)
    return df.sort_values(GOLD_KEYS.get(table, list(df.columns))).reset_index(drop=True)


def compare_table(a: Path, b: Path, table: str) -> dict:
    """{rows_a, rows_b, same, only_a, only_b, columns_differing: {column: rows}} for one table."""
    da, db = gold_frame(a, table), gold_frame(b, table)
    out = {"rows_a": len(da), "rows_b": len(db), "same": False}
    if list(da.columns) != list(db.columns):
        out["columns"] = {"only_a": sorted(set(da.columns) - set(db.columns)),
                          "only_b": sorted(set(db.columns) - set(da.columns))}
        return out
    keys = GOLD_KEYS.get(table, list(da.columns))
    j = da.astype(str).merge(db.astype(str), on=keys, how="outer", suffixes=("_a", "_b"), indicator="_side")
    out["only_a"] = int((j._side == "left_only").sum())
    out["only_b"] = int((j._side == "right_only").sum())
    both = j[j._side == "both"]
    out["columns_differing"] = {c: n for c in da.columns if c not in keys
                                for n in [int((both[f"{c}_a"] != both[f"{c}_b"]).sum())] if n}
    out["same"] = not out["only_a"] and not out["only_b"] and not out["columns_differing"]
    return out


def compare(a: Path, b: Path, tables: list[str] | None = None) -> dict[str, dict]:
    return {t: compare_table(a, b, t) for t in (tables or sorted(GOLD_KEYS))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("warehouse_a", type=Path)
    ap.add_argument("warehouse_b", type=Path)
    ap.add_argument("--table", action="append", help="a gold table (default: the contract's eight)")
    args = ap.parse_args(argv)
    result = compare(args.warehouse_a, args.warehouse_b, args.table)
    for table, r in result.items():
        detail = "identical" if r["same"] else {k: v for k, v in r.items() if k not in ("same", "rows_a", "rows_b")}
        print(f"{table}: {r['rows_a']:,} vs {r['rows_b']:,} rows  {detail}")
    return 0 if all(r["same"] for r in result.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
