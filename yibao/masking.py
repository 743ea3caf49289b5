"""Masking of personal data: the one rule, used by every stage that shows or writes personal values.

Who uses it: the quality reports and GE Data Docs (``yibao.quality.mask``), the supervisors' suspect export
(``yibao.fraud.suspects.export``) and the dashboards' serving views (``yibao.dashboards.readpath``).  The views
are SQL that Superset runs through its own DuckDB connection, where no Python function can be called; so the
rule is written once, as DuckDB SQL expressions (the ``*_sql`` builders below), and Python values are masked
by evaluating those same expressions in an in-memory DuckDB (:func:`mask_values`).  There is no second
implementation to drift.

The rule (what a masking regulation such as GB/T 35273-2020 "信息安全技术 个人信息安全规范" and the bureaus'
display practice expect: show what a reviewer needs to tell records apart, never enough to identify anyone):

- ID numbers (any column whose name contains ``certno``; inside free text, any run of 15+ digits or an ID
  number typed in groups, ``610102 19850101 1234``): spaces and dashes removed; 15 characters or more keep the
  6-digit division and the last 4 (``610102********1234``, ``610102*****1234`` for a 15-digit number); anything
  shorter is a fragment that could be most of a number, so every character is hidden (``*****``).
- Phone numbers (``tel``; inside free text, mobile numbers: 11 digits starting 1[3-9], also typed in groups or
  after 86): spaces and dashes removed; 11 characters or more keep the first 3 and last 4 (``138****5678``);
  shorter ones are hidden whole.
- Personal names: trimmed; the first character (the surname) is kept and every other character becomes one
  ``*`` (``张三`` -> ``张*``, ``欧阳娜娜`` -> ``欧***``).  A one-character name is the whole name, so it
  becomes ``*``.  The surname alone does not identify a person; keeping the last character too (``张*三``)
  would give away half of a two-character given name, so it is not kept.
- Addresses: the first 6 characters (province and city) and ``***``; an address of 6 characters or fewer
  names no more than a city and is shown as it is.
- Household booklet numbers (``hsreg_book_no``): ``****``.
- Every other text: ID numbers and mobile numbers inside it are masked as above, the rest is kept.
- NULL stays NULL; an empty or blank value is returned as it is (there is nothing to hide, and a reviewer
  sees that it was blank).  Only strings are masked: numbers, dates and booleans pass through.
- A quarantined row (:func:`raw_line_sql`): the gate's rows are JSON objects of their columns, masked field
  by field by the rule of the field's name; ingestion's rows are the delivered CSV line, masked as text.
"""

from __future__ import annotations

import threading
from typing import Iterable

NAME_COLUMNS = ("psn_name", "child_name", "prac_name", "emp_name")
ADDRESS_COLUMNS = ("hsreg_addr", "resd_addr")
PHONE_COLUMNS = ("tel",)
BOOK_COLUMNS = ("hsreg_book_no",)
# Columns that identify a person or hold a person's data (shown masked, or an identifier that leads to the
# person): a dataset with one of them is personal data, and every read of it through the dashboards is audited
# (dashboards/superset_side/yibao_audit.py).
PERSON_KEY_COLUMNS = ("person_id", "psn_no", "subject_name_masked", "raw_line_masked")


def is_personal_column(name: str) -> bool:
    """Whether a column holds personal data: an ID number, a name, address, phone or booklet number (masked or
    not), or a person's key."""
    n = name.lower()
    base = n[: -len("_masked")] if n.endswith("_masked") else n
    return ("certno" in n or base in NAME_COLUMNS + ADDRESS_COLUMNS + PHONE_COLUMNS + BOOK_COLUMNS
            or n in PERSON_KEY_COLUMNS)


ID_MIN = 15       # an ID number has 15 (legacy) or 18 characters
PHONE_MIN = 11    # a mobile number has 11 digits

# A number inside free text: a run of digits (full-width too) with an optional check character X, or an ID or
# mobile number typed in groups (``610102 19850101 1234``, ``138-1234-5678``).  Each is looked at whole, so a
# mobile number is never found inside a longer number.
_D, _S, _X = "[0-9０-９]", "[- ]", "[XxＸｘ]"
_TOKEN = "|".join([f"{_D}{{6}}{_S}{_D}{{8}}{_S}{_D}{{3}}(?:{_D}|{_X})",     # 18-digit ID in groups
                   f"{_D}{{6}}{_S}{_D}{{6}}{_S}{_D}{{3}}",                  # 15-digit ID in groups
                   f"{_D}{{3}}{_S}{_D}{{4}}{_S}{_D}{{4}}",                  # mobile in groups
                   f"{_D}+{_X}?"])
_MOBILE = r"(?:[0０]{2})?(?:[8８][6６])?[1１][3-9３-９][0-9０-９]{9}"   # with +86 / 0086 in front too
# a text holds something to mask only if it holds one of these (the fast path skips the rest)
_MAYBE = "|".join([f"{_D}{{11}}", f"{_D}{{6}}{_S}{_D}{{6}}", f"{_D}{{3}}{_S}{_D}{{4}}{_S}{_D}{{4}}"])
# white space (ASCII and the full-width space), and what an ID or phone number may carry between its digits
_WS = r"[\s　]"
_SEP = r"[\s　-]"


def _quoted(names: Iterable[str]) -> str:
    return ", ".join(f"'{n}'" for n in names)


def _stars(n: str) -> str:
    return f"repeat('*', CAST({n} AS BIGINT))"


def _let(value: str, name: str, body: str) -> str:
    """``body`` with ``name`` bound to ``value``, computed once per row (a one-element list_transform)."""
    return f"list_transform([{value}], lambda {name}: {body})[1]"


def _keep_ends(e: str, head: int, tail: int, minimum: int, name: str) -> str:
    """Separators removed; ``minimum`` characters or more keep ``head`` and ``tail``, shorter ones are all ``*``.
    NULL stays NULL, blank stays as it is."""
    s = f"_{name}"
    return _let(f"regexp_replace({e}, '{_SEP}', '', 'g')", s,
                f"CASE WHEN {s} IS NULL THEN NULL WHEN {s} = '' THEN {e} "
                f"WHEN length({s}) >= {minimum} THEN left({s}, {head}) || {_stars(f'length({s}) - {head + tail}')} "
                f"|| right({s}, {tail}) ELSE {_stars(f'length({s})')} END")


def id_sql(e: str) -> str:
    """An ID number: ``610102********1234``; shorter than 15 characters: all ``*``."""
    return _keep_ends(e, 6, 4, ID_MIN, "idno")


def tel_sql(e: str) -> str:
    """A phone number: ``138****5678``; shorter than 11 characters: all ``*``."""
    return _keep_ends(e, 3, 4, PHONE_MIN, "telno")


def name_sql(e: str) -> str:
    """A personal name: the first character and one ``*`` per other character; one character: ``*``."""
    return _let(f"regexp_replace({e}, '^{_WS}+|{_WS}+$', '', 'g')", "_nm",
                f"CASE WHEN _nm IS NULL THEN NULL WHEN _nm = '' THEN {e} WHEN length(_nm) = 1 THEN '*' "
                f"ELSE left(_nm, 1) || {_stars('length(_nm) - 1')} END")


def _blank_or(e: str, masked: str) -> str:
    """NULL stays NULL, blank stays as it is, anything else is ``masked``."""
    return f"(CASE WHEN {e} IS NULL THEN NULL WHEN regexp_full_match({e}, '{_WS}*') THEN {e} ELSE {masked} END)"


def address_sql(e: str) -> str:
    """An address: the first 6 characters and ``***``."""
    return _blank_or(e, f"(CASE WHEN length({e}) > 6 THEN left({e}, 6) || '***' ELSE {e} END)")


def book_sql(e: str) -> str:
    """A household booklet number: ``****``."""
    return _blank_or(e, "'****'")


def _token_sql(t: str) -> str:
    digits = f"regexp_replace({t}, '{_SEP}', '', 'g')"
    return (f"(CASE WHEN length({t}) < {PHONE_MIN} THEN {t} WHEN length({digits}) >= {ID_MIN} THEN {id_sql(t)} "
            f"WHEN regexp_full_match({digits}, '{_MOBILE}') THEN {tel_sql(t)} ELSE {t} END)")


def text_sql(e: str) -> str:
    """Free text with every ID number and mobile number in it masked."""
    parts = f"regexp_split_to_array({e}, '{_TOKEN}')"
    tokens = f"list_transform(regexp_extract_all({e}, '{_TOKEN}'), lambda _tok: {_token_sql('_tok')})"
    return (f"(CASE WHEN {e} IS NULL THEN NULL WHEN NOT regexp_matches({e}, '{_MAYBE}') THEN {e} "
            f"ELSE array_to_string(list_transform(list_zip({parts}, {tokens}), "
            f"lambda _pt: coalesce(_pt[1], '') || coalesce(_pt[2], '')), '') END)")


def field_sql(column: str, e: str) -> str:
    """The value ``e`` of the column named by the SQL expression ``column``, masked by the rule of that name."""
    c = f"lower(coalesce({column}, ''))"
    return (f"(CASE WHEN contains({c}, 'certno') AND NOT (suffix({c}, '_status') OR suffix({c}, '_flags')) "
            f"THEN {id_sql(e)} "
            f"WHEN {c} IN ({_quoted(PHONE_COLUMNS)}) THEN {tel_sql(e)} "
            f"WHEN {c} IN ({_quoted(NAME_COLUMNS)}) THEN {name_sql(e)} "
            f"WHEN {c} IN ({_quoted(ADDRESS_COLUMNS)}) THEN {address_sql(e)} "
            f"WHEN {c} IN ({_quoted(BOOK_COLUMNS)}) THEN {book_sql(e)} "
            f"ELSE {text_sql(e)} END)")


def raw_line_sql(e: str) -> str:
    """A quarantined row: a JSON object (the gate's rows) field by field, anything else (a CSV line) as text."""
    entries = f"map_entries(TRY_CAST(TRY_CAST({e} AS JSON) AS MAP(VARCHAR, JSON)))"
    string = field_sql("_fld.key", "json_extract_string(_fld.value, '$')")
    value = (f"(CASE WHEN _fld.value IS NULL THEN 'null' "
             f"WHEN json_type(_fld.value) = 'VARCHAR' THEN to_json({string}) "
             f"ELSE {text_sql('CAST(_fld.value AS VARCHAR)')} END)")
    obj = (f"'{{' || array_to_string(list_transform({entries}, "
           f"lambda _fld: to_json(_fld.key) || ':' || {value}), ',') || '}}'")
    return (f"(CASE WHEN json_valid({e}) AND starts_with(ltrim({e}), '{{') THEN coalesce({obj}, {text_sql(e)}) "
            f"ELSE {text_sql(e)} END)")


# ----------------------------------------------------------------------------------- Python values
_local = threading.local()
# one row per value (a whole list as one constant trips DuckDB's constant folding), in the order given
_PAIRS_SQL = (f"select {field_sql('_c', '_v')} from (select unnest(?::VARCHAR[]) as _c, unnest(?::VARCHAR[]) as _v, "
              f"unnest(range(?)) as _i) order by _i")


def _connection():
    con = getattr(_local, "con", None)
    if con is None:
        import duckdb

        con = _local.con = duckdb.connect(":memory:")
    return con


def mask_pairs(pairs: Iterable[tuple[str | None, object]]) -> list:
    """Each ``(column, value)`` masked by the rule of ``column`` (None: free text), evaluated with the SQL above.
    Values that are not strings are returned as they are."""
    pairs = list(pairs)
    todo = [i for i, (_, v) in enumerate(pairs) if isinstance(v, str)]
    out = [v for _, v in pairs]
    if todo:
        cols = [pairs[i][0] for i in todo]
        vals = [pairs[i][1] for i in todo]
        masked = _connection().execute(_PAIRS_SQL, [cols, vals, len(todo)]).fetchall()
        for i, (m,) in zip(todo, masked):
            out[i] = m
    return out


def mask_values(column: str | None, values: Iterable) -> list:
    """Every value of one column masked by that column's rule (``"certno"``, ``"tel"``, ``"psn_name"``, ...)."""
    return mask_pairs((column, v) for v in values)


def mask_value(column: str | None, value):
    return mask_pairs([(column, value)])[0]


def mask_text(value):
    """Free text with every ID number and mobile number in it masked."""
    return mask_value(None, value)
