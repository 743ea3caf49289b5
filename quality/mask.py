"""Masking of personal data in everything quality writes (results table, GE Data Docs, steward reports).

The rule is :mod:`yibao.masking`, the one the dashboards and the suspect export use too: ID numbers keep the
6-digit division and the last 4 characters (``610102********1234``), phones the first 3 and last 4 digits, names
their first character (a one-character name none), addresses their first 6 characters; ID numbers and mobile
numbers anywhere in a string are masked, so raw lines and derived columns are covered too.  This module only
finds the values inside a GE result.
"""

from __future__ import annotations

from yibao.masking import mask_pairs, mask_text, mask_value

__all__ = ["mask_result", "mask_text", "mask_value"]


def _slots(result: dict, column: str | None):
    """Every masked place of a GE result as (container, key, column of the value)."""
    for key in ("partial_unexpected_list", "unexpected_list"):
        if isinstance(result.get(key), list):
            yield from ((result[key], i, column) for i in range(len(result[key])))
    if isinstance(result.get("partial_unexpected_counts"), list):
        yield from ((item, "value", column) for item in result["partial_unexpected_counts"]
                    if isinstance(item, dict) and "value" in item)
    for key in ("partial_unexpected_index_list", "unexpected_index_list"):
        if isinstance(result.get(key), list):
            yield from ((row, k, k) for row in result[key] if isinstance(row, dict) for k in row)
    if isinstance(result.get("unexpected_index_query"), str):
        yield result, "unexpected_index_query", None


def mask_result(result: dict, column: str | None) -> None:
    """Mask, in place, the value samples of one GE expectation result (its ``result`` dict)."""
    if not result:
        return
    slots = list(_slots(result, column))
    masked = mask_pairs((col, where[key]) for where, key, col in slots)
    for (where, key, _), value in zip(slots, masked):
        where[key] = value
