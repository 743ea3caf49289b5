"""ID numbers have one definition, the dbt project's macros/certno.sql: the bronze quality suites render its macros
(clean_certno, certno_format_regex, certno_body17, certno_birth) instead of keeping a copy, and the silver staging
models run them through certno_std.  These tests run both on the same edge cases, in the engine, and check they
agree: full-width digits, lower-case x, every kind of space, legacy 15-digit numbers, garbage, empty values.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from yibao.contract import table_spec

_W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
FULL = str.maketrans("0123456789Xx", "０１２３４５６７８９Ｘｘ")


def _check(body17: str, shift: int = 0) -> str:
    return "10X98765432"[(sum(int(d) * w for d, w in zip(body17, _W)) + shift) % 11]


V = "61010219850101123" + _check("61010219850101123")          # a valid number
L15 = V[:6] + V[8:17]                                           # the same person's legacy 15-digit number
X = next(b + "X" for b in (f"6101021990020300{i}" for i in range(10)) if _check(b) == "X")   # check char X
BAD_DAY = "61010219851301123" + _check("61010219851301123")     # month 13: a checksum right, no such date
BIRTH = dt.date(1985, 1, 1)

# (case, delivered value, bronze: normalised value, format ok (None: null, not checked), birth date in the number;
#  silver: certno_status, certno_norm (any 18-character value is kept, even a failing one))
CASES = [
    ("valid", V, V, True, BIRTH, "VALID", V),
    ("full-width digits", V.translate(FULL), V, True, BIRTH, "VALID", V),
    ("lower-case x", X.lower(), X, True, dt.date(1990, 2, 3), "VALID", X),
    ("full-width lower-case x", X[:-1].translate(FULL) + "ｘ", X, True, dt.date(1990, 2, 3), "VALID", X),
    ("spaces, tab, ideographic space", f" {V[:6]} {V[6:14]}\t{V[14:]}\u3000", V, True, BIRTH, "VALID", V),
    ("legacy 15 digits", L15, L15, True, BIRTH, "LEGACY15", V),
    ("legacy 15, full-width and spaced", L15[:6].translate(FULL) + " " + L15[6:], L15, True, BIRTH, "LEGACY15", V),
    ("wrong check character", V[:17] + _check(V[:17], 1), V[:17] + _check(V[:17], 1), True, BIRTH,
     "BAD_CHECKSUM", V[:17] + _check(V[:17], 1)),
    ("no such birth date", BAD_DAY, BAD_DAY, True, None, "BAD_BIRTHDATE", BAD_DAY),
    ("garbage", "abc-123", "ABC-123", False, None, "BAD_FORMAT", None),
    ("19 digits", V + "1", V + "1", False, None, "BAD_FORMAT", None),
    ("17 digits", V[:17], V[:17], False, None, "BAD_FORMAT", None),
    ("x inside", V[:10] + "x" + V[11:], V[:10] + "X" + V[11:], False, None, "BAD_FORMAT", V[:10] + "X" + V[11:]),
    ("16 digits, legacy-like", L15 + "0", L15 + "0", False, None, "BAD_FORMAT", None),
    ("empty", "", None, None, None, "MISSING", None),
    ("blank", " \u3000\t ", None, None, None, "MISSING", None),
    ("null", None, None, None, None, "MISSING", None),
]


def _bronze_suite():
    from yibao.quality.suites import bronze_suite

    spec = table_spec("health", "death_cert")   # has certno and the rule that uses its birth date
    return bronze_suite(spec, list(spec.columns) + ["_line_number", "_ingest_time"], "2026-11-01")


def _bronze(settings) -> dict[str, tuple]:
    """What the bronze gate computes for each case: (normalised value, format ok, birth date in the number)."""
    from pyspark.sql import functions as F

    from yibao.engine import spark_session

    suite = _bronze_suite()
    regex = next(c for c in suite.checks if c.rule == "certno_format.certno").kwargs["regex"]
    spark = spark_session(settings)
    df = spark.createDataFrame([(i, raw) for i, (_, raw, *_) in enumerate(CASES)], "id int, certno string")
    for name in ("_q_certno_norm", "_q_birth_from_certno"):
        df = df.withColumn(name, F.expr(suite.derived[name]))
    norm = F.col("_q_certno_norm")
    df = df.withColumn("fmt", F.when(norm.isNotNull(), norm.rlike(regex)))   # GE's match_regex on Spark: rlike
    return {CASES[r.id][0]: (r._q_certno_norm, r.fmt, r._q_birth_from_certno) for r in df.collect()}


def _sql_literal(v: str | None) -> str:
    assert v is None or ("'" not in v and '"' not in v and "\\" not in v)
    return "cast(null as string)" if v is None else f"'{v}'"


def test_bronze_suites_render_the_dbt_macros_and_keep_no_copy():
    """The bronze expressions are the macros' text, from the dbt project's file; suites.py holds no ID rule."""
    from yibao.config import load_settings
    from yibao.quality import suites

    macro_file = load_settings().dbt_project / "macros" / "certno.sql"
    text = macro_file.read_text(encoding="utf-8")
    s = _bronze_suite()
    assert s.derived["_q_certno_norm"] == suites.certno_norm_sql("`certno`")
    assert "translate(`certno`, '０１２３４５６７８９Ｘｘ', '0123456789XX')" in s.derived["_q_certno_norm"]
    regex = next(c for c in s.checks if c.rule == "certno_format.certno").kwargs["regex"]
    assert regex == "^([0-9]{17}[0-9X]|[0-9]{15})$" and regex in text
    assert "certno_body17" in text and "rlike '{{ certno_format_regex() }}'" in text
    source = (Path(suites.__file__)).read_text(encoding="utf-8")
    assert "０１２３" not in source and "[0-9]{15}" not in source   # no second copy of the cleaning or the format


def test_bronze_and_silver_agree_on_edge_cases(settings, capsys):
    """The bronze gate's normalisation, format check and birth date, and dbt's certno_std (the silver staging
    models' standardisation, run by dbt itself), on the same values."""
    from yibao.quality.suites import certno_format_regex, certno_norm_sql
    from yibao.transform.runner import run_dbt

    bronze = _bronze(settings)
    for case, _, norm, fmt, birth, _, _ in CASES:
        assert bronze[case] == (norm, fmt, birth), case

    relation = " union all ".join(f"select {i} as id, {_sql_literal(raw)} as raw"
                                  for i, (_, raw, *_) in enumerate(CASES))
    run_dbt(settings, ["--quiet", "seed", "-s", "gbt2260_divisions"])   # certno_std joins the division list
    res = run_dbt(settings, ["--quiet", "show", "--limit", "-1", "--inline",
                             f'select id, certno_norm, certno_status from {{{{ certno_std("({relation})", "raw") }}}} s'])
    capsys.readouterr()   # dbt show prints the table
    shown = res.result.results[0]
    silver = {CASES[i][0]: (status, norm) for i, norm, status in shown.agate_table.rows}
    assert len(silver) == len(CASES)
    for case, _, _, _, _, status, norm in CASES:
        assert silver[case] == (status, norm), case

    # the same text runs on both sides ...
    compiled = re.sub(r"\s+", " ", shown.node.compiled_code)
    assert re.sub(r"\s+", " ", certno_norm_sql("raw")) in compiled
    assert f"rlike '{certno_format_regex()}'" in compiled
    # ... and so the two agree case by case: bronze's format check passes exactly when silver found a number of
    # a valid format; bronze sees no value exactly when silver says MISSING; bronze's birth date is missing
    # exactly when silver rejects the number's birth date (or its format)
    for case, *_ in CASES:
        b_norm, b_fmt, b_birth = bronze[case]
        status, s_norm = silver[case]
        assert (b_norm is None) == (status == "MISSING"), case
        if b_norm is not None:
            assert b_fmt == (status not in ("BAD_FORMAT",)), case
            assert (b_birth is None) == (status in ("BAD_FORMAT", "BAD_BIRTHDATE")), case
        if b_fmt and len(b_norm) == 18:
            assert s_norm == b_norm, case                  # an 18-character number is kept as it is
