"""The DataFrame each suite validates: the table (pinned to one Delta version) plus the ``_q_*`` columns
its rules need, all computed in the engine: normalised ID numbers, whether each division code is in
GB/T 2260, whether each foreign key finds its parent, whether each key is unique, and the row rules of
:data:`suites.ROW_RULES`.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from yibao.quality.reference import division_codes
from yibao.quality.suites import Suite


def divisions_df(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame([(c,) for c in division_codes()], "_q_division_code string")


def validation_frame(df: DataFrame, suite: Suite, read_parent, divisions: DataFrame,
                     persist=lambda name, frame: frame, whole: DataFrame | None = None) -> DataFrame:
    """``df`` with the suite's derived columns.  ``read_parent(schema, table)`` returns the parent table as
    the gate sees it (its released version, plus its held head: a row whose parent waits in a held batch is
    not an orphan); ``persist(name, frame)`` stores an intermediate result and returns it read back (the
    duplicated keys are aggregated once, not once per query Great Expectations runs).  ``whole``: the table
    ``df`` is a part of (the gate validating only a day's rows); a key of ``df`` is unique when the whole table
    carries it once."""
    # derived columns that others depend on (normalised certno, birth date) come first
    order = sorted(suite.derived, key=lambda k: (0 if k.endswith("_norm") else 1 if "birth" in k else 2))
    out = df
    for name in order:
        out = out.withColumn(name, F.expr(suite.derived[name]))
    for flag, column in suite.division_flags.items():
        d = divisions.select(F.col("_q_division_code").alias(f"{flag}__code")).distinct()
        out = (out.join(F.broadcast(d), out[column] == d[f"{flag}__code"], "left")
               .withColumn(flag, F.when(F.col(f"`{column}`").isNull(), F.lit(None).cast("boolean"))
                           .otherwise(F.col(f"{flag}__code").isNotNull()))
               .drop(f"{flag}__code"))
    for ref in suite.references:
        parent = read_parent(*ref.parent)
        if parent is None:   # the parent table was never delivered: the reference is not checked
            out = out.withColumn(ref.flag, F.lit(None).cast("boolean"))
            continue
        # The missing key values are stored; the frame then joins that small table.  Joining the frame (every
        # column) to the parent's keys directly made the engine buffer the whole table: memory grew with the
        # table (2.1 GiB at 1M persons for medins.contrib, 17.6 GiB for the bronze gate at 10M).
        aliases = [f"{ref.flag}__{i}" for i in range(len(ref.columns))]
        missing = persist(ref.flag, missing_parent_keys(df, ref.columns, parent, ref.parent_columns, aliases))
        out = _flag_matches(out, missing, ref.columns, aliases, ref.flag, any_null=True)
    if suite.accuracy:
        out = _police_agreement(out, df, suite, read_parent, persist)
    for flag, columns in suite.unique_flags.items():
        aliases = [f"{flag}__{i}" for i in range(len(columns))]
        keyed = df.where(~_any_null(columns)) if suite.unique_skip_null_keys else df
        if whole is not None:
            keyed = _rows_sharing_keys(whole, keyed, columns)
        dup = persist(flag, keyed.groupBy(*[F.col(f"`{c}`").alias(a) for c, a in zip(columns, aliases)])
                      .count().where("count > 1").drop("count"))
        out = _flag_matches(out, dup, columns, aliases, flag, any_null=suite.unique_skip_null_keys, null_safe=True)
    return out


def _rows_sharing_keys(whole: DataFrame, part: DataFrame, columns) -> DataFrame:
    """The ``columns`` of the rows of ``whole`` whose key (null-safe) equals that of some row of ``part`` (a small
    part of it): the candidates for a duplicate of a key of ``part``.  The small side's distinct keys are the
    join's left (build) side: Sail ignores broadcast hints and builds on the left."""
    names = [f"_q_part__{i}" for i in range(len(columns))]
    keys = part.select(*[F.col(f"`{c}`").alias(n) for c, n in zip(columns, names)]).distinct()
    rows = whole.select(*[F.col(f"`{c}`") for c in columns])
    return (keys.join(rows, _equal(keys, rows, names, list(columns), null_safe=True), "inner")
            .select(*[rows[f"`{c}`"] for c in columns]))


def missing_parent_keys(child: DataFrame, columns, parent: DataFrame | None, parent_columns,
                        names: list[str]) -> DataFrame:
    """The rule of a foreign key, its one home: the distinct values of ``child``'s key ``columns`` (renamed
    ``names``) that no row of ``parent`` carries in ``parent_columns``.  A row with any key column null is not
    checked.  ``parent`` None: every key value is returned (no parent to find it in).

    Found on the key columns alone (few values, usually), so that callers can store them and then join that
    small table: Sail builds a join's hash table on one side and cannot spill it, so an anti join from the
    child's whole rows held the whole table (the gate failed at 10M persons)."""
    keyed = child.where(~_any_null(columns)).select(
        *[F.col(f"`{c}`").alias(n) for c, n in zip(columns, names)]).distinct()
    if parent is None:
        return keyed
    keys = parent.select(*[F.col(f"`{p}`").alias(f"{n}__p") for p, n in zip(parent_columns, names)])
    return keyed.join(keys, _equal(keyed, keys, names, [f"{n}__p" for n in names]), "left_anti")


def _equal(left: DataFrame, right: DataFrame, left_cols: list[str], right_cols: list[str], null_safe: bool = False):
    cond = None
    for a, b in zip(left_cols, right_cols):
        e = left[a].eqNullSafe(right[b]) if null_safe else left[a] == right[b]
        cond = e if cond is None else cond & e
    return cond


def _flag_matches(out: DataFrame, small: DataFrame, columns, aliases: list[str], flag: str, any_null: bool,
                  null_safe: bool = False) -> DataFrame:
    """``out`` with boolean ``flag``: false for rows whose ``columns`` match a row of the small stored table
    ``small`` (its columns ``aliases``: orphan keys, duplicated keys), true for the others, null when the key
    is not checked (``any_null``: some key column is null; otherwise: all of them are)."""
    hit = f"{flag}__hit"
    small = small.withColumn(hit, F.lit(True))
    return (out.join(F.broadcast(small), _equal(out, small, list(columns), aliases, null_safe), "left")
            .withColumn(flag, F.when(_any_null(columns, every=not any_null), F.lit(None).cast("boolean"))
                        .otherwise(F.col(hit).isNull()))
            .drop(*aliases, hit))


def _any_null(columns, every: bool = False):
    """Some (``every``: all) of ``columns`` is null."""
    cond = None
    for c in columns:
        e = F.col(f"`{c}`").isNull()
        cond = e if cond is None else (cond & e if every else cond | e)
    return cond


# Names compared without any kind of space (stray and full-width spaces are dirt, not a different name).
_NAME = "regexp_replace(coalesce({c}, ''), '[\\\\s\u3000]', '')"


def _police_agreement(out: DataFrame, df: DataFrame, suite: Suite, read_parent, persist) -> DataFrame:
    """``_q_agrees_police``: for rows whose normalised ID number is in the police register, whether the name
    (and sex, birth date where the table has them) agree with it; null when police has no such person or the
    row has no ID number.

    As for references, two small sets are computed on the compared columns alone and stored: the
    disagreeing (ID, values) combinations and the IDs police does not know.  The frame then joins those."""
    police = read_parent("bronze", "police__hsreg_psn")
    flag = "_q_agrees_police"
    if police is None:
        return out.withColumn(flag, F.lit(None).cast("boolean"))
    from yibao.quality.suites import certno_norm_sql

    cols = suite.accuracy
    names = ("id",) + cols

    def values(prefix: str) -> list:
        exprs = [F.expr(certno_norm_sql("`certno`")).alias(f"{prefix}id")]
        for c in cols:
            e = F.expr(_NAME.format(c=f"`{c}`")) if c == "psn_name" else F.col(f"`{c}`").cast("string")
            exprs.append(e.alias(f"{prefix}{c}"))
        return exprs

    mine = df.select(*values("_a_")).where(F.col("_a_id").isNotNull()).distinct()
    theirs = police.select(*values("_p_")).where(F.col("_p_id").isNotNull())
    joined = mine.join(theirs, mine["_a_id"] == theirs["_p_id"], "inner")
    agree = None
    for c in cols:
        # a value missing on either side is not a disagreement (completeness measures that)
        e = joined[f"_a_{c}"].isNull() | joined[f"_p_{c}"].isNull() | (joined[f"_a_{c}"] == joined[f"_p_{c}"])
        agree = e if agree is None else agree & e
    differ = persist(f"{flag}_differ", joined.where(~agree).select(*[f"_a_{n}" for n in names]).distinct())
    unknown = persist(f"{flag}_unknown", mine.select("_a_id").distinct()
                      .join(theirs.select("_p_id"), F.col("_a_id") == F.col("_p_id"), "left_anti"))
    probe = out.select("*", *values("_b_"))
    d = differ.withColumn("_hit_d", F.lit(True))
    cond = None
    for n in names:
        e = probe[f"_b_{n}"].eqNullSafe(d[f"_a_{n}"])
        cond = e if cond is None else cond & e
    probe = probe.join(F.broadcast(d), cond, "left").drop(*[f"_a_{n}" for n in names])
    u = unknown.withColumn("_hit_u", F.lit(True))
    probe = probe.join(F.broadcast(u), probe["_b_id"] == u["_a_id"], "left").drop("_a_id")
    return (probe.withColumn(flag, F.when(F.col("_b_id").isNull() | F.col("_hit_u").isNotNull(),
                                          F.lit(None).cast("boolean"))
                             .otherwise(F.col("_hit_d").isNull()))
            .drop("_hit_d", "_hit_u", *[f"_b_{n}" for n in names]))
