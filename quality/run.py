"""One quality pass over a layer: validate, decide (release or hold), persist, report.

``run_quality(settings, layer="bronze")`` validates every bronze table whose head Delta version has not
been released yet, pinned to that version, with its suite; releases it (``meta.released_version``) when no
blocking expectation failed, otherwise records a hold (``meta.quality_hold``) and leaves the released
version where it was.  ``layer="silver"`` / ``"gold"`` validate the dbt models (their blocking failures are
reported as holds of that layer: the pipeline must not publish the next layer from them).

Every run appends its expectation results to ``meta.quality_result`` and one score per department and
batch to ``meta.quality_score``, renders the GE Data Docs and the Chinese steward reports.
"""

from __future__ import annotations

import json
import math
import shutil
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

from pyspark.sql import Row
from pyspark.sql import functions as F

from yibao.catalog import Catalog
from yibao.config import Settings
from yibao.quality import gate
from yibao.quality.suites import BLOCKING, ROW_COUNT_MIN_RATIO, Suite, bronze_suites, gold_suite, silver_suite

LAYERS = ("bronze", "silver", "gold")
WEIGHTS = {BLOCKING: 3.0, "warning": 1.0}

RESULT_DDL = ("run_id string, run_time timestamp, layer string, `schema` string, `table` string, source string, "
              "source_table string, batch_id string, delta_version bigint, rule string, expectation string, "
              "`column` string, validated_column string, severity string, title string, success boolean, "
              "unexpected_count bigint, unexpected_percent double, rows_checked bigint, observed_value string, "
              "sample string, table_status string")
SCORE_DDL = ("run_id string, run_time timestamp, layer string, source string, batch_id string, tables int, "
             "expectations int, passed int, blocking_failed int, warning_failed int, pass_rate double, "
             "score double, status string")


@dataclass
class TableOutcome:
    schema: str
    table: str
    source: str
    source_table: str
    batch_id: str | None
    delta_version: int | None
    released_before: int | None
    rows: int
    status: str                    # released | held | passed | blocked (silver/gold) | skipped
    blocking: list[dict] = field(default_factory=list)
    warnings: list[dict] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class QualityRun:
    run_id: str
    run_time: datetime
    layer: str
    tables: list[TableOutcome] = field(default_factory=list)
    results: list[dict] = field(default_factory=list)
    scores: list[dict] = field(default_factory=list)
    docs_url: str | None = None
    reports: list[Path] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def held(self) -> list[TableOutcome]:
        return [t for t in self.tables if t.status in ("held", "blocked")]

    @property
    def released(self) -> list[TableOutcome]:
        return [t for t in self.tables if t.status == "released"]

    @property
    def ok(self) -> bool:
        return not self.held

    def table(self, name: str) -> TableOutcome:
        return next(t for t in self.tables if t.table == name or f"{t.schema}.{t.table}" == name)

    def failures(self, table: str | None = None, severity: str | None = None) -> list[dict]:
        return [r for r in self.results if not r["success"]
                and (table is None or r["table"] == table or f"{r['schema']}.{r['table']}" == table)
                and (severity is None or r["severity"] == severity)]


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _latest_batches(cat: Catalog) -> dict[tuple[str, str], Row]:
    """(source, source_table) -> the ingest_log row of its latest applied batch."""
    if not cat.exists("meta", "ingest_log"):
        return {}
    out: dict[tuple[str, str], Row] = {}
    for r in cat.read("meta", "ingest_log").where("status = 'applied'").collect():
        k = (r.source, r.source_table)
        if k not in out or r.batch_id > out[k].batch_id:
            out[k] = r
    return out


def _jsonable(v):
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, (datetime,)):
        return v.isoformat(sep=" ")
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return v


def _sample(result: dict) -> str | None:
    rows = result.get("partial_unexpected_index_list")
    if rows:
        return json.dumps([{k: _jsonable(v) for k, v in r.items()} for r in rows], ensure_ascii=False)
    vals = result.get("partial_unexpected_list")
    if vals:
        return json.dumps([_jsonable(v) for v in vals], ensure_ascii=False)
    return None


def _observed(observed, exception_info) -> str | None:
    """The observed value, or the error when GE could not evaluate the expectation."""
    infos = exception_info.values() if isinstance(exception_info, dict) and "raised_exception" not in \
        exception_info else [exception_info]
    for info in infos:
        if isinstance(info, dict) and info.get("raised_exception"):
            return f"ERROR: {info.get('exception_message')}"
    return None if observed is None else str(observed)


def _quality_share(r: dict) -> float:
    """Share of checked rows that satisfy one expectation (table-level expectations: 1 or 0)."""
    if r["unexpected_percent"] is not None and r["rows_checked"]:
        return max(0.0, 1.0 - r["unexpected_percent"] / 100.0)
    return 1.0 if r["success"] else 0.0


def score_of(results: list[dict]) -> tuple[float, float]:
    """(score, pass_rate): score = 100 × Σ w·q / Σ w over expectations, w = 3 blocking / 1 warning,
    q = share of checked rows satisfying it (1/0 for table-level ones); pass_rate = 100 × passed / all."""
    if not results:
        return 100.0, 100.0
    w = [WEIGHTS.get(r["severity"], 1.0) for r in results]
    score = 100.0 * sum(wi * _quality_share(r) for wi, r in zip(w, results)) / sum(w)
    pass_rate = 100.0 * sum(1 for r in results if r["success"]) / len(results)
    return round(score, 2), round(pass_rate, 2)


def run_quality(settings: Settings, layer: str = "bronze", tables: list[str] | None = None,
                force: bool = False, reports: bool = True) -> QualityRun:
    """Run the quality pass of one layer.  ``tables``: only these (names within the layer);
    ``force``: re-validate bronze tables even when their head version is already released."""
    if layer not in LAYERS:
        raise ValueError(f"layer must be one of {LAYERS}")
    from yibao.engine import spark_session
    from yibao.quality import validate

    started = time.time()
    spark = spark_session(settings)
    cat = Catalog(spark, settings)
    run = QualityRun(run_id=f"{_now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}", run_time=_now(), layer=layer)
    ctx = validate.context(settings)
    from great_expectations.core.run_identifier import RunIdentifier

    gx_run_id = RunIdentifier(run_name=run.run_id, run_time=run.run_time.replace(tzinfo=timezone.utc))

    present = [t for s, t in cat.tables() if s == layer and (tables is None or t in tables)]
    released = gate.released_versions(cat)
    latest = _latest_batches(cat)
    suites: dict[str, Suite] = {}
    pinned = {}
    for t in present:
        version = gate.current_version(cat, layer, t) if settings.table_format == "delta" else None
        if layer == "bronze" and not force and version is not None:
            r = released.get(("bronze", t))
            if r is not None and int(r.delta_version) == version:
                continue
        reader = cat.spark.read.format(settings.table_format)
        if version is not None:
            reader = reader.option("versionAsOf", version)
        pinned[t] = (version, reader.load(str(cat.path(layer, t))))
    if layer == "bronze":
        suites = bronze_suites({t: df.columns for t, (_, df) in pinned.items()}, settings.reference_date.isoformat())
    else:
        for t, (_, df) in pinned.items():
            s = (silver_suite if layer == "silver" else gold_suite)(t, df.columns)
            if s is not None and s.checks:
                suites[t] = s

    from yibao.quality.prepare import divisions_df, validation_frame

    divisions = divisions_df(spark)

    def read_parent(schema: str, table: str):
        """What the parent publishes: its released version (decided earlier in this run for parents
        validated now, see suites.validation_order); nothing when it was never released."""
        if not cat.exists(schema, table):
            return None
        if settings.table_format != "delta":
            return cat.read(schema, table)
        r = gate.released_versions(cat).get((schema, table))
        if r is None:
            return None
        return spark.read.format("delta").option("versionAsOf", int(r.delta_version)).load(
            str(cat.path(schema, table)))

    keys = []
    holds = []
    for t, suite in suites.items():
        t0 = time.time()
        version, df = pinned[t]
        log = latest.get((suite.source, suite.source_table)) if layer == "bronze" else None
        if log is not None:
            batch_id = log.batch_id
        elif "_batch_id" in df.columns:
            batch_id = df.agg(F.max("_batch_id")).first()[0] or run.run_id
        else:
            batch_id = f"{run.run_time:%Y%m%d}"
        rel = released.get((layer, t))
        rel_v = None if rel is None else int(rel.delta_version)
        min_rows = 0
        if layer == "bronze" and rel_v is not None and rel_v != version:
            prev = spark.read.format("delta").option("versionAsOf", rel_v).load(str(cat.path(layer, t))).count()
            min_rows = math.ceil(prev * ROW_COUNT_MIN_RATIO)
        scratch: list[str] = []   # this table's work tables under _quality, removed after validation

        def persist(name: str, frame, _t=t):
            scratch.append(f"{_t}__{name}")
            cat.overwrite(frame, "_quality", scratch[-1])
            return cat.read("_quality", scratch[-1])

        frame = validation_frame(df, suite, read_parent, divisions, persist)
        if suite.derived or suite.references or suite.division_flags:
            # materialise once: GE runs several queries per expectation over this frame
            frame = persist("frame", frame)
        checkpoint = validate.checkpoint_for(ctx, suite)
        vr, key = validate.run_checkpoint(checkpoint, frame, {"min_rows": min_rows}, gx_run_id)
        keys.append(key)
        rows = None
        table_results = []
        for r in vr.results:
            meta = r.expectation_config.meta or {}
            res = r.result or {}
            kw = r.expectation_config.kwargs
            element_count = res.get("element_count")
            if r.expectation_config.type == "expect_table_row_count_to_be_between":
                rows = res.get("observed_value")
            observed = res.get("observed_value")
            table_results.append(dict(
                run_id=run.run_id, run_time=run.run_time, layer=layer, schema=layer, table=t, source=suite.source,
                source_table=suite.source_table, batch_id=batch_id, delta_version=version,
                rule=meta.get("rule"), expectation=r.expectation_config.type, column=meta.get("column"),
                validated_column=kw.get("column") or ",".join(kw.get("column_list") or []) or None,
                severity=meta.get("severity", "warning"), title=meta.get("title"), success=bool(r.success),
                unexpected_count=res.get("unexpected_count"),
                unexpected_percent=(float(res["unexpected_percent"]) if res.get("unexpected_percent") is not None
                                    else None),
                rows_checked=element_count, observed_value=_observed(observed, r.exception_info),
                sample=_sample(res)))
        if rows is None:
            rows = df.count()
        for r in table_results:
            if r["rows_checked"] is None and r["unexpected_count"] is not None:
                r["rows_checked"] = rows
        blocking = [r for r in table_results if not r["success"] and r["severity"] == BLOCKING]
        warnings = [r for r in table_results if not r["success"] and r["severity"] != BLOCKING]
        if layer == "bronze":
            status = "held" if blocking else "released"
            if not blocking and version is not None:
                gate.release(cat, layer, t, version, batch_id, run.run_id)
        else:
            status = "blocked" if blocking else "passed"
        if blocking:
            holds.append(dict(run_id=run.run_id, run_time=run.run_time, layer=layer, schema=layer, table=t,
                              source=suite.source, batch_id=batch_id, delta_version=version,
                              released_version=rel_v, blocking_failures=len(blocking),
                              reasons="; ".join(f"{r['title']}: {r['unexpected_count'] if r['unexpected_count'] is not None else r['observed_value']}"
                                                for r in blocking)))
        for r in table_results:
            r["table_status"] = status
        run.results += table_results
        run.tables.append(TableOutcome(layer, t, suite.source, suite.source_table, batch_id, version, rel_v,
                                       int(rows or 0), status, blocking, warnings, time.time() - t0))
        for name in scratch:
            shutil.rmtree(cat.path("_quality", name), ignore_errors=True)

    gate.record_holds(cat, holds)
    run.scores = _scores(run)
    _persist(cat, run)
    if keys:
        run.docs_url = validate.build_docs(ctx, keys)
    if reports:
        from yibao.quality.report import write_reports

        run.reports = write_reports(settings, cat, run)
    run.seconds = time.time() - started
    return run


def _scores(run: QualityRun) -> list[dict]:
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in run.results:
        groups.setdefault((r["source"], r["batch_id"]), []).append(r)
    out = []
    for (source, batch_id), rs in sorted(groups.items()):
        tables = {r["table"] for r in rs}
        statuses = {t.status for t in run.tables if t.table in tables and t.batch_id == batch_id}
        score, pass_rate = score_of(rs)
        held = statuses & {"held", "blocked"}
        status = ("held" if statuses <= {"held", "blocked"} else "partly_held") if held else \
            ("released" if run.layer == "bronze" else "passed")
        out.append(dict(run_id=run.run_id, run_time=run.run_time, layer=run.layer, source=source, batch_id=batch_id,
                        tables=len(tables), expectations=len(rs), passed=sum(1 for r in rs if r["success"]),
                        blocking_failed=sum(1 for r in rs if not r["success"] and r["severity"] == BLOCKING),
                        warning_failed=sum(1 for r in rs if not r["success"] and r["severity"] != BLOCKING),
                        pass_rate=pass_rate, score=score, status=status))
    return out


def _persist(cat: Catalog, run: QualityRun) -> None:
    cols = [c.split(" ")[0].strip("`") for c in RESULT_DDL.split(", ")]
    if run.results:
        cat.ensure("meta", "quality_result", RESULT_DDL)
        rows = [Row(**{c: r.get(c) for c in cols}) for r in run.results]
        cat.append(cat.spark.createDataFrame(rows, RESULT_DDL), "meta", "quality_result")
    if run.scores:
        cat.ensure("meta", "quality_score", SCORE_DDL)
        cat.append(cat.spark.createDataFrame([Row(**s) for s in run.scores], SCORE_DDL), "meta", "quality_score")
