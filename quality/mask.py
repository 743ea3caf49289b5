"""Masking of personal data in everything quality writes (results table, GE Data Docs, steward reports).

ID numbers keep the 6-digit division and the last 4 characters (``610102********1234``), phones the first 3
and last 4 digits, names their first character, addresses their first 6 characters.  Any run of 15+ digits
anywhere in a string is treated as an ID number, so raw lines and derived columns are covered too.
"""

from __future__ import annotations

import re

_LONG_ID = re.compile(r"[0-9０-９][0-9０-９\s]{13,}[0-9０-９XxＸｘ]")
NAME_COLUMNS = {"psn_name", "child_name", "prac_name", "emp_name"}
ADDRESS_COLUMNS = {"hsreg_addr", "resd_addr"}
PHONE_COLUMNS = {"tel"}
BOOK_COLUMNS = {"hsreg_book_no"}


def mask_id(value: str) -> str:
    s = re.sub(r"\s", "", value)
    if len(s) <= 10:
        return "*" * max(len(s) - 2, 0) + s[-2:]
    return s[:6] + "*" * (len(s) - 10) + s[-4:]


def mask_text(value: str) -> str:
    """Mask every ID-number-like run of digits inside a free string."""
    return _LONG_ID.sub(lambda m: mask_id(m.group(0)), value)


def mask_value(column: str | None, value):
    if value is None or not isinstance(value, str):
        return value
    col = (column or "").lower()
    if "certno" in col and not col.endswith(("_status", "_flags")):
        return mask_id(value) if value.strip() else value
    if col in PHONE_COLUMNS:
        d = value.strip()
        return d[:3] + "*" * max(len(d) - 7, 0) + d[-4:] if len(d) > 7 else "*" * len(d)
    if col in NAME_COLUMNS:
        v = value.strip()
        return v[:1] + "*" * max(len(v) - 1, 1) if v else value
    if col in ADDRESS_COLUMNS:
        return value[:6] + "***" if len(value) > 6 else value
    if col in BOOK_COLUMNS:
        return value[:2] + "*" * max(len(value) - 4, 0) + value[-2:] if len(value) > 4 else "****"
    return mask_text(value)


def mask_result(result: dict, column: str | None) -> None:
    """Mask, in place, the value samples of one GE expectation result (its ``result`` dict)."""
    if not result:
        return
    for key in ("partial_unexpected_list", "unexpected_list"):
        if isinstance(result.get(key), list):
            result[key] = [mask_value(column, v) for v in result[key]]
    for key in ("partial_unexpected_counts",):
        if isinstance(result.get(key), list):
            for item in result[key]:
                if isinstance(item, dict) and "value" in item:
                    item["value"] = mask_value(column, item["value"])
    for key in ("partial_unexpected_index_list", "unexpected_index_list"):
        if isinstance(result.get(key), list):
            result[key] = [{k: mask_value(k, v) for k, v in row.items()} if isinstance(row, dict) else row
                           for row in result[key]]
    if isinstance(result.get("unexpected_index_query"), str):
        result["unexpected_index_query"] = mask_text(result["unexpected_index_query"])
