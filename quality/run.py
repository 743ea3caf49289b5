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

from yibao.catalog import Catalog, read_version
from yibao.config import Settings
from yibao.decisions import in_force
from yibao.contract import table_spec
from yibao.quality import gate
from yibao.quality.suites import (BLOCKING, DIMENSIONS, Suite, bronze_suites, dimension_of, gold_suite,
                                  increment_min_rows, silver_suite, timeliness_hours)

LAYERS = ("bronze", "silver", "gold")
WEIGHTS = {BLOCKING: 3.0, "warning": 1.0}

RESULT_DDL = ("run_id string, run_time timestamp, layer string, `schema` string, `table` string, source string, "
              "source_table string, batch_id string, delta_version bigint, rule string, expectation string, "
              "`column` string, validated_column string, severity string, title string, success boolean, "
              "unexpected_count bigint, unexpected_percent double, rows_checked bigint, observed_value string, "
              "sample string, table_status string, dimension string")
DIMENSION_DDL = ("run_id string, run_time timestamp, layer string, source string, `table` string, batch_id string, "
                 "dimension string, dimension_zh string, expectations int, failed int, rows_checked bigint, "
                 "bad_rows bigint, score double")
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
    note: str = ""                 # a steward's decision that changed the outcome, rows waiting on a parent
    blocking: list[dict] = field(default_factory=list)
    warnings: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    checked: int | None = None     # bronze: rows of the batches since the release, when only those were validated
    batches: list[str] = field(default_factory=list)    # those batches ([]: the whole table was validated)

    @property
    def rows_checked(self) -> int:
        """The rows the row-level rules judged: the new rows, or the whole table."""
        return self.rows if self.checked is None else self.checked


@dataclass
class QualityRun:
    run_id: str
    run_time: datetime
    layer: str
    tables: list[TableOutcome] = field(default_factory=list)
    results: list[dict] = field(default_factory=list)
    scores: list[dict] = field(default_factory=list)
    dimensions: list[dict] = field(default_factory=list)
    exclusions: list = field(default_factory=list)     # quality.exclusions.Exclusion (bronze)
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
    started = time.time()
    p = _Pass.start(settings, layer)
    door = gate.door_held(p.cat) if layer == "bronze" else {}
    pinned = _pinned_versions(p, tables, force)
    suites = _suites_of(p, pinned)
    holds = []
    for t, suite in suites.items():
        hold = _validate_table(p, t, suite, *pinned[t])
        if hold is not None:
            holds.append(hold)
    gate.record_holds(p.cat, holds)
    if layer == "bronze" and settings.table_format == "delta":
        _refresh_exclusions(p, door)
    _record_and_report(p, reports)
    p.run.seconds = time.time() - started
    return p.run


@dataclass
class _Pass:
    """What every table of one quality pass shares: the run, the warehouse, Great Expectations' context and what
    the gate knew when the pass started (released versions, latest applied batches, stewards' decisions)."""
    settings: Settings
    layer: str
    cat: Catalog
    run: QualityRun
    ctx: object                      # Great Expectations' context (yibao.quality.validate.context)
    gx_run_id: object
    released: dict
    latest: dict
    decisions: dict
    divisions: object                # the GB/T 2260 codes (division checks)
    validation_keys: list = field(default_factory=list)   # GE result identifiers, for the Data Docs

    @classmethod
    def start(cls, settings: Settings, layer: str) -> "_Pass":
        from great_expectations.core.run_identifier import RunIdentifier

        from yibao.engine import spark_session
        from yibao.quality import validate
        from yibao.quality.prepare import divisions_df

        cat = Catalog(spark_session(settings), settings)
        run = QualityRun(run_id=f"{_now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}", run_time=_now(), layer=layer)
        ctx = validate.context(settings)
        gx_run_id = RunIdentifier(run_name=run.run_id, run_time=run.run_time.replace(tzinfo=timezone.utc))
        return cls(settings, layer, cat, run, ctx, gx_run_id, released=gate.released_versions(cat),
                   latest=_latest_batches(cat), decisions=in_force(cat) if layer == "bronze" else {},
                   divisions=divisions_df(cat.spark))

    @property
    def spark(self):
        return self.cat.spark

    def delta_at(self, path: str, version: int):
        return read_version(self.spark, path, version)

    def read_parent(self, schema: str, table: str):
        """The parent as the gate sees it: its released version (decided earlier in this run for parents
        validated now, see suites.validation_order) plus, when its head is held, the held head, so that a row
        whose parent waits in a held batch is not reported as an orphan.  None when nothing of the parent
        was ever delivered (the reference is then not checked)."""
        cat = self.cat
        if not cat.exists(schema, table):
            return None
        if self.settings.table_format != "delta":
            return cat.read(schema, table)
        path = str(cat.path(schema, table))
        r = gate.released_versions(cat).get((schema, table))
        head = gate.current_version(cat, schema, table)
        rel = None if r is None else self.delta_at(path, int(r.delta_version))
        if r is not None and int(r.delta_version) == head:
            return rel
        spec = table_spec(*table.split("__", 1))
        if spec is None or gate.latest_applied_batch(cat, spec.source, spec.name) is None:
            return rel    # empty table created for dbt's sources: nothing delivered, nothing held
        held = self.delta_at(path, head)
        return held if rel is None else rel.unionByName(held)


def _pinned_versions(p: _Pass, tables: list[str] | None, force: bool) -> dict[str, tuple]:
    """{table: (delta version, DataFrame pinned to it)} of the layer's tables to validate (bronze: those whose
    head version is not released yet, unless ``force``)."""
    cat, layer = p.cat, p.layer
    present = [t for s, t in cat.tables() if s == layer and (tables is None or t in tables)]
    # A release counts only when the run that made it also recorded its measurements (``_persist`` writes the
    # scores last): a run killed between releasing a table and recording why leaves the version to validate again,
    # so that no released version lacks its results in the steward's reports.
    recorded = ({r["run_id"] for r in cat.read("meta", "quality_score").select("run_id").distinct().collect()}
                if layer == "bronze" and cat.exists("meta", "quality_score") else set())
    pinned = {}
    for t in present:
        version = gate.current_version(cat, layer, t) if p.settings.table_format == "delta" else None
        if layer == "bronze" and not force and version is not None:
            r = p.released.get(("bronze", t))
            if r is not None and int(r.delta_version) == version and r.run_id in recorded:
                continue
        path = cat.path(layer, t)
        pinned[t] = (version, read_version(cat.spark, path, version) if version is not None
                     else cat.spark.read.format(p.settings.table_format).load(str(path)))
    return pinned


def _suites_of(p: _Pass, pinned: dict[str, tuple]) -> dict[str, Suite]:
    """The suite of each pinned table that has checks (bronze: in validation order, parents first)."""
    if p.layer == "bronze":
        return bronze_suites({t: df.columns for t, (_, df) in pinned.items()},
                             p.settings.reference_date.isoformat(), p.settings.snapshot_shrink_hold)
    suites = {}
    for t, (_, df) in pinned.items():
        s = (silver_suite if p.layer == "silver" else gold_suite)(t, df.columns)
        if s is not None and s.checks:
            suites[t] = s
    return suites


def _batch_of(p: _Pass, suite: Suite, df) -> str:
    """The batch a validated state is attributed to: bronze, the table's latest applied batch; silver and gold,
    the latest ``_batch_id`` in the table, else the run's day."""
    log = p.latest.get((suite.source, suite.source_table)) if p.layer == "bronze" else None
    if log is not None:
        return log.batch_id
    if "_batch_id" in df.columns:
        return df.agg(F.max("_batch_id")).first()[0] or p.run.run_id
    return f"{p.run.run_time:%Y%m%d}"


def _min_rows(p: _Pass, t: str, version: int | None, released_version: int | None) -> int:
    """The suite parameter ``min_rows``: a new bronze version keeps at least 1 - snapshot_shrink_hold of the rows
    of the last released version (0 elsewhere)."""
    if p.layer != "bronze" or released_version is None or released_version == version:
        return 0
    prev = p.delta_at(str(p.cat.path(p.layer, t)), released_version).count()
    return math.ceil(prev * (1.0 - p.settings.snapshot_shrink_hold))


@dataclass
class _Increment:
    """The rows of a bronze table's new version that its released version did not have (the batches applied
    since), and the row counts the table-level rules need."""
    rows: object             # DataFrame: the new rows, every column
    batches: list[str]       # their batches
    new_rows: int
    table_rows: int          # rows of the whole new version


def _increment(p: _Pass, t: str, version: int | None, df, rel_v: int | None) -> _Increment | None:
    """The new rows of bronze table ``t`` at ``version`` against its released version ``rel_v``: the rows whose
    ``_batch_id`` the released version does not carry (an incremental batch appends or merges its rows, each
    stamped with its batch; a merged correction replaces its row with one of the new batch; a snapshot
    replaces every row).  None when the whole table is validated: nothing released yet, a table without batch
    lineage, a Parquet warehouse, a version not newer than the release, fewer new rows than
    ``increment_min_rows`` (quality/rules.toml: a tolerance needs rows to judge), or every row new."""
    if (p.layer != "bronze" or version is None or rel_v is None or rel_v >= version
            or "_batch_id" not in df.columns):
        return None
    released = p.delta_at(str(p.cat.path(p.layer, t)), rel_v)
    old = {r[0] for r in released.select("_batch_id").distinct().collect() if r[0] is not None}
    per_batch = df.groupBy("_batch_id").count().collect()     # one pass gives the new rows and the table's rows
    new = {b: int(c) for b, c in per_batch if b is None or b not in old}
    n, total = sum(new.values()), sum(int(c) for _, c in per_batch)
    if n < increment_min_rows():
        return None
    if n == total:           # a snapshot replaced every row: the whole table it is (no join of its keys to itself)
        return None
    # (a null in an IN list would make the test null for every row not in it: those rows would be lost)
    known = F.col("_batch_id").isin(sorted(old)) if old else F.lit(False)
    rows = df.where(F.col("_batch_id").isNull() | ~known)
    return _Increment(rows, sorted(str(b) for b in new), n, total)


def _run_suite(p: _Pass, t: str, suite: Suite, df, min_rows: int, inc: _Increment | None = None):
    """Validate ``df`` with its suite: the derived ``_q_`` columns are computed (and materialised once under
    ``<warehouse>/_quality``, removed afterwards), then Great Expectations runs.  Returns GE's result.

    With an increment (``inc``) only its rows are validated: every row-level rule and reference is judged on
    the batches applied since the release (the rows released before were judged then), the key's uniqueness
    against the whole version, and the row count of the whole version (``min_rows`` is moved onto the new
    rows: table rows >= min_rows exactly when new rows >= min_rows - old rows kept)."""
    from yibao.quality import validate
    from yibao.quality.prepare import validation_frame

    scratch: list[str] = []   # this table's work tables under _quality, removed after validation

    def persist(name: str, frame):
        scratch.append(f"{t}__{name}")
        p.cat.overwrite(frame, "_quality", scratch[-1])
        return p.cat.read("_quality", scratch[-1])

    whole = None
    if inc is not None:
        df, whole = inc.rows, df
        min_rows = max(0, min_rows - (inc.table_rows - inc.new_rows))
    frame = validation_frame(df, suite, p.read_parent, p.divisions, persist, whole=whole)
    if suite.derived or suite.references or suite.division_flags or suite.accuracy:
        # materialise once: GE runs several queries per expectation over this frame
        frame = persist("frame", frame)
    checkpoint = validate.checkpoint_for(p.ctx, suite)
    vr, key = validate.run_checkpoint(checkpoint, frame, {"min_rows": min_rows}, p.gx_run_id)
    p.validation_keys.append(key)
    return vr, scratch


def _results_of(p: _Pass, vr, t: str, suite: Suite, batch_id: str, version: int | None, df,
                inc: _Increment | None = None) -> tuple[list[dict], int]:
    """One ``meta.quality_result`` row per expectation of GE's result, and the table's row count (with an
    increment: the row-count rule reports the whole version's rows, the others the new rows they checked)."""
    run, layer = p.run, p.layer
    rows = None
    table_results = []
    for r in vr.results:
        meta = r.expectation_config.meta or {}
        res = r.result or {}
        kw = r.expectation_config.kwargs
        element_count = res.get("element_count")
        observed = res.get("observed_value")
        if r.expectation_config.type == "expect_table_row_count_to_be_between":
            if inc is not None:
                observed = element_count = inc.table_rows
            rows = observed
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
            sample=_sample(res), dimension=meta.get("dimension") or dimension_of(meta.get("rule") or "")))
    if rows is None:
        rows = df.count()
    for r in table_results:
        if r["rows_checked"] is None and r["unexpected_count"] is not None:
            r["rows_checked"] = rows
    return table_results, rows


def _validate_table(p: _Pass, t: str, suite: Suite, version: int | None, df) -> dict | None:
    """Validate one table, decide its status (bronze: release or hold; silver/gold: passed or blocked) and add
    its outcome and results to the run.  Returns its ``meta.quality_hold`` row when it is held or blocked.

    A bronze table with a released version is judged on the batches applied since (:func:`_increment`); its
    released version itself (``yibao quality --force``) as a whole."""
    t0 = time.time()
    run, layer = p.run, p.layer
    batch_id = _batch_of(p, suite, df)
    rel = p.released.get((layer, t))
    rel_v = None if rel is None else int(rel.delta_version)
    inc = _increment(p, t, version, df, rel_v)
    vr, scratch = _run_suite(p, t, suite, df, _min_rows(p, t, version, rel_v), inc)
    table_results, rows = _results_of(p, vr, t, suite, batch_id, version, df, inc)
    blocking = [r for r in table_results if not r["success"] and r["severity"] == BLOCKING]
    warnings = [r for r in table_results if not r["success"] and r["severity"] != BLOCKING]
    note, reasons = "", [_reason(r) for r in blocking]
    if layer == "bronze":
        status, note, reasons = _decide(p.decisions, suite, batch_id, rel, blocking, reasons)
        if status == "released" and version is not None:
            gate.release(p.cat, layer, t, version, batch_id, run.run_id)
    else:
        status = "blocked" if blocking else "passed"
    hold = None
    if status in ("held", "blocked"):
        hold = dict(run_id=run.run_id, run_time=run.run_time, layer=layer, schema=layer, table=t,
                    source=suite.source, batch_id=batch_id, delta_version=version,
                    released_version=rel_v, blocking_failures=len(blocking), reasons="; ".join(reasons))
    for r in table_results:
        r["table_status"] = status
    run.results += table_results
    run.tables.append(TableOutcome(layer, t, suite.source, suite.source_table, batch_id, version, rel_v,
                                   int(rows or 0), status, note, blocking, warnings, time.time() - t0,
                                   checked=None if inc is None else inc.new_rows,
                                   batches=[] if inc is None else inc.batches))
    for name in scratch:
        shutil.rmtree(p.cat.path("_quality", name), ignore_errors=True)
    return hold


def _refresh_exclusions(p: _Pass, door: dict) -> None:
    """Bronze: recompute the rows the gate keeps out one by one (orphans, rows waiting on a held parent) and note
    the waiting rows on their table's outcome."""
    from yibao.quality import exclusions

    run = p.run
    run.exclusions = exclusions.refresh(p.cat, gate.released_versions(p.cat), door)
    for ex in run.exclusions:
        if ex.waiting_rows:
            for t_out in run.tables:
                if t_out.table == ex.table:
                    t_out.note = (t_out.note + "; " if t_out.note else "") + \
                        f"{ex.waiting_rows:,} rows held because parent {', '.join(ex.waiting_on)} is held"


def _record_and_report(p: _Pass, reports: bool) -> None:
    """Scores and dimensions, appended to ``meta``; what is held now (bronze); the Data Docs and the steward
    pages."""
    from yibao.quality import validate

    run, cat = p.run, p.cat
    run.scores = _scores(run)
    run.dimensions = _dimensions(run, cat)
    _persist(cat, run)
    if p.layer == "bronze":
        _publish_holds(cat, run)
    if p.validation_keys:
        run.docs_url = validate.build_docs(p.ctx, p.validation_keys)
    if reports:
        from yibao.quality.report import write_reports

        run.reports = write_reports(p.settings, cat, run)


def _reason(r: dict) -> str:
    n = r["unexpected_count"] if r["unexpected_count"] is not None else r["observed_value"]
    return f"{r['title']}: {n}"


def _decide(decisions: dict, suite: Suite, batch_id: str, released_row, blocking: list[dict],
            reasons: list[str]) -> tuple[str, str, list[str]]:
    """Release or hold a bronze table's new version: (status, note, reasons).

    Structural failures hold it unless a steward released this batch; a steward's hold on a batch the
    released version does not contain yet holds it even when every check passed."""
    d = decisions.get((suite.source, suite.source_table, batch_id))
    if blocking and d is not None and d.action == "release":
        return "released", f"released by steward {d.decided_by} ({d.decided_at:%Y-%m-%d %H:%M}): {d.reason}", reasons
    held_by = gate.steward_hold(decisions, suite.source, suite.source_table,
                                None if released_row is None else released_row.batch_id, batch_id)
    if held_by is not None and not (d is not None and d.action == "release"):
        why = f"held by steward {held_by.decided_by} (batch {held_by.batch_id}): {held_by.reason}"
        return "held", why, reasons + [why]
    return ("held" if blocking else "released"), "", reasons


def _dimensions(run: QualityRun, cat: Catalog) -> list[dict]:
    """Score per layer × source × table × batch × GB/T 36344 dimension (the warning twin of each rule: the
    share of rows that satisfy it), plus timeliness of each bronze batch from meta.ingest_batch."""
    groups: dict[tuple, list[dict]] = {}
    for r in run.results:
        if r["severity"] == BLOCKING and r["rule"] and any(
                x["rule"] == r["rule"] and x["severity"] != BLOCKING and x["table"] == r["table"] for x in run.results):
            continue    # a tiered rule's blocking twin measures the same rows
        groups.setdefault((r["source"], r["table"], r["batch_id"], r["dimension"]), []).append(r)
    out = []
    for (source, table, batch_id, dim), rs in sorted(groups.items()):
        score, _ = score_of(rs)
        out.append(dict(run_id=run.run_id, run_time=run.run_time, layer=run.layer, source=source, table=table,
                        batch_id=batch_id, dimension=dim, dimension_zh=DIMENSIONS.get(dim, dim),
                        expectations=len(rs), failed=sum(1 for r in rs if not r["success"]),
                        rows_checked=max((r["rows_checked"] or 0) for r in rs),
                        bad_rows=sum((r["unexpected_count"] or 0) for r in rs), score=score))
    if run.layer == "bronze" and run.tables and cat.exists("meta", "ingest_batch"):
        on_time, late = timeliness_hours()
        wanted = {(t.source, t.batch_id): t for t in run.tables}
        for b in cat.read("meta", "ingest_batch").where(F.col("status") == "applied").collect():
            t = wanted.get((b.source, b.batch_id))
            if t is None or not b.extract_time or b.started_at is None:
                continue
            try:
                extracted = datetime.fromisoformat(str(b.extract_time).strip())
            except ValueError:
                continue
            hours = max(0.0, (b.started_at - extracted).total_seconds() / 3600.0)
            score = 100.0 if hours <= on_time else max(0.0, 100.0 * (late - hours) / max(late - on_time, 1e-9))
            for tt in run.tables:
                if (tt.source, tt.batch_id) == (b.source, b.batch_id):
                    out.append(dict(run_id=run.run_id, run_time=run.run_time, layer="bronze", source=b.source,
                                    table=tt.table, batch_id=b.batch_id, dimension="timeliness",
                                    dimension_zh=DIMENSIONS["timeliness"], expectations=1,
                                    failed=int(hours > on_time), rows_checked=tt.rows, bad_rows=0,
                                    score=round(score, 2)))
    return out


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


HOLD_CURRENT_DDL = ("kind string, source string, source_table string, batch_id string, reason string, "
                    "decide string, as_of timestamp")


def _publish_holds(cat: Catalog, run: QualityRun) -> None:
    """``meta.quality_hold_current``: what is held after this run (at the door, at the gate, rows waiting), for
    the steward dashboard; replaced on every bronze run."""
    rows = [(h["kind"], h["source"], h["source_table"], h["batch_id"], h["reason"], h["decide"], run.run_time)
            for h in gate.pending(cat)]
    cat.overwrite(cat.spark.createDataFrame(rows, HOLD_CURRENT_DDL) if rows else
                  cat.spark.createDataFrame([], HOLD_CURRENT_DDL), "meta", "quality_hold_current")


def _persist(cat: Catalog, run: QualityRun) -> None:
    cols = [c.split(" ")[0].strip("`") for c in RESULT_DDL.split(", ")]
    if run.results:
        cat.ensure("meta", "quality_result", RESULT_DDL)
        rows = [Row(**{c: r.get(c) for c in cols}) for r in run.results]
        cat.append(cat.spark.createDataFrame(rows, RESULT_DDL), "meta", "quality_result")
    if run.dimensions:
        cat.ensure("meta", "quality_dimension", DIMENSION_DDL)
        cat.append(cat.spark.createDataFrame([Row(**d) for d in run.dimensions], DIMENSION_DDL), "meta",
                   "quality_dimension")
    if run.scores:
        cat.ensure("meta", "quality_score", SCORE_DDL)
        cat.append(cat.spark.createDataFrame([Row(**s) for s in run.scores], SCORE_DDL), "meta", "quality_score")
