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
                     persist=lambda name, frame: frame) -> DataFrame:
    """``df`` with the suite's derived columns.  ``read_parent(schema, table)`` returns the parent table;
    ``persist(name, frame)`` stores an intermediate result and returns it read back (the duplicated keys
    are aggregated once, not once per query Great Expectations runs)."""
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
        aliases = [f"{ref.flag}__{i}" for i in range(len(ref.columns))]
        if parent is None:
            out = out.withColumn(ref.flag, F.when(_any_null(ref.columns), F.lit(None).cast("boolean"))
                                 .otherwise(F.lit(False)))
            continue
        keys = parent.select(*[F.col(p).alias(a) for p, a in zip(ref.parent_columns, aliases)]).distinct()
        cond = None
        for c, a in zip(ref.columns, aliases):
            e = out[c] == keys[a]
            cond = e if cond is None else cond & e
        out = (out.join(keys, cond, "left")
               .withColumn(ref.flag, F.when(_any_null(ref.columns), F.lit(None).cast("boolean"))
                           .otherwise(F.col(aliases[0]).isNotNull()))
               .drop(*aliases))
    for flag, columns in suite.unique_flags.items():
        aliases = [f"{flag}__{i}" for i in range(len(columns))]
        dup = persist(flag, df.groupBy(*[F.col(f"`{c}`").alias(a) for c, a in zip(columns, aliases)])
                      .count().where("count > 1").drop("count")).withColumn(f"{flag}__hit", F.lit(True))
        cond = None
        for c, a in zip(columns, aliases):
            e = out[c].eqNullSafe(dup[a])
            cond = e if cond is None else cond & e
        out = (out.join(F.broadcast(dup), cond, "left")
               .withColumn(flag, F.when(_any_null(columns, every=True), F.lit(None).cast("boolean"))
                           .otherwise(F.col(f"{flag}__hit").isNull()))
               .drop(*aliases, f"{flag}__hit"))
    return out


def _any_null(columns, every: bool = False):
    """Some (``every``: all) of ``columns`` is null."""
    cond = None
    for c in columns:
        e = F.col(f"`{c}`").isNull()
        cond = e if cond is None else (cond & e if every else cond | e)
    return cond
