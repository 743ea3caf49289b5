"""The whole pipeline once, without an orchestrator server: ``yibao run``.

Stages, in the order the data travels (each reads what the previous one published):

1. ingest     landing zone -> bronze (+ meta.ingest_*, meta.quarantine)
2. quality    bronze suites; releases or holds each table's new version (meta.released_version)
3. transform  dbt seed + run + test on the released bronze versions -> silver, gold
4. quality    silver and gold suites (a blocking failure means a published table would be wrong: the run
              fails and the forecast, fraud scoring and the serving refresh are skipped)
5. forecast   基金运行预测: gold.fund_operation -> silver.fund_forecast_series -> gold.fund_forecast,
              fund_forecast_warning (dbt, tag forecast), gold.fund_forecast_backtest (yibao.forecast)
6. fraud      rules, models, graph -> gold.fraud_suspect
7. serving    the dashboards' read path is refreshed over the new gold tables
8. reports    subscribed reports and alerts that are due are delivered (:mod:`yibao.reports`: a folder per
              recipient, mail when a relay is configured; a failed mail is re-sent next run, not an error)
9. maintain   the files of Delta versions replaced more than ``vacuum_retain_hours`` ago are deleted
              (:mod:`yibao.maintenance`; the versions the quality gate released and held are kept)

Each stage is timed; the summary is what an operator reads at the end of a night's run.  A run that completed
is ``ok`` even when batches were rejected or held (``holds``): those are normal outcomes a steward acts on
(``yibao quality holds``); ``strict_ok`` also requires that nothing was held or rejected.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from yibao.config import Settings


@dataclass
class PipelineSummary:
    stages: dict[str, float] = field(default_factory=dict)   # stage -> seconds
    batches_applied: list[str] = field(default_factory=list)
    batches_rejected: list[tuple[str, str]] = field(default_factory=list)
    batches_deferred: list[tuple[str, str]] = field(default_factory=list)   # a file changed while read: next run
    rows_landed: int = 0
    rows_quarantined: int = 0
    quality_scores: list[dict] = field(default_factory=list)
    tables_held: list[str] = field(default_factory=list)
    files_rejected: list[tuple[str, str]] = field(default_factory=list)
    held_at_door: list[str] = field(default_factory=list)
    rows_excluded: dict[str, tuple[int, int]] = field(default_factory=dict)   # table -> (orphans, waiting)
    quality_failures: list[str] = field(default_factory=list)
    dbt_ok: bool = True
    uninsured: int | None = None
    suspects_by_level: dict[str, int] = field(default_factory=dict)
    forecast_pairs: tuple[int, int] | None = None     # (pooling region x insutype pairs forecast, of all)
    forecast_warnings: list[str] = field(default_factory=list)   # pairs whose projection reaches a risk level
    reports_delivered: list[str] = field(default_factory=list)   # recipient: topic period
    report_warnings: list[str] = field(default_factory=list)      # a mail not sent (re-sent next run)
    bytes_freed: int = 0
    maintenance_warnings: list[str] = field(default_factory=list)   # a table not vacuumed: disk only, not an error
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """The pipeline completed and published nothing wrong."""
        return not self.errors and self.dbt_ok and not self.quality_failures

    @property
    def holds(self) -> list[str]:
        """What a steward should look at: held tables and batches, rejections, rows kept out."""
        out = [f"held by the quality gate: {t}" for t in self.tables_held]
        out += [f"held at the door: {x}" for x in self.held_at_door]
        out += [f"rejected batch {label}: {reason}" for label, reason in self.batches_rejected]
        out += [f"deferred batch {label}: {reason}" for label, reason in self.batches_deferred]
        out += [f"rejected file {label}: {reason}" for label, reason in self.files_rejected]
        out += [f"{t}: {w:,} rows waiting on a held parent" for t, (_, w) in self.rows_excluded.items() if w]
        return out

    @property
    def strict_ok(self) -> bool:
        return self.ok and not self.holds


def _timed(summary: PipelineSummary, name: str, fn: Callable, on_stage: Callable[[str], None] | None,
           settings: Settings):
    from yibao.faults import checkpoint, set_stage
    from yibao.watchdog import watch

    if on_stage:
        on_stage(name)
    set_stage(name)
    checkpoint(f"stage:{name}")     # a crash-safety test may kill the run here (yibao.faults)
    started = time.perf_counter()
    try:
        with watch(settings, f"yibao run, stage {name}"):   # an engine idle with the stage's work outstanding
            return fn()
    finally:
        summary.stages[name] = time.perf_counter() - started


def run_pipeline(settings: Settings, landing: Path | None = None, serve: bool = True,
                 on_stage: Callable[[str], None] | None = None, full_refresh: bool = False) -> PipelineSummary:
    """One run.  By default the incremental models take only what arrived since the last run; ``full_refresh``
    rebuilds every dbt model from the released bronze versions (``dbt build --full-refresh``), except the
    person_id registry (``full_refresh=false`` on int_person_registry), so that person_ids and the suspects'
    review decisions keyed on them survive a rebuild.  Holds the warehouse lock (:mod:`yibao.lock`): raises
    ``WarehouseBusy`` when another command is writing the warehouse."""
    from yibao.lock import warehouse_lock

    with warehouse_lock(settings, "yibao run"):     # one writer at a time; raises WarehouseBusy (re-entrant)
        return _run(settings, landing, serve, on_stage, full_refresh)


def _run(settings: Settings, landing: Path | None, serve: bool, on_stage: Callable[[str], None] | None,
         full_refresh: bool) -> PipelineSummary:
    from yibao.catalog import Catalog
    from yibao.engine import spark_session
    from yibao.fraud import run_fraud
    from yibao.ingestion.ingest import ingest
    from yibao.quality import run_quality
    from yibao.transform import build

    summary = PipelineSummary()
    ing = _timed(summary, "ingest", lambda: ingest(settings, landing), on_stage, settings)
    summary.batches_applied = ing.batches_applied
    summary.batches_rejected = ing.batches_rejected
    summary.batches_deferred = ing.batches_deferred
    summary.files_rejected = ing.files_rejected
    summary.rows_landed, summary.rows_quarantined = ing.rows_landed, ing.rows_quarantined

    q = _timed(summary, "quality (bronze)", lambda: run_quality(settings, layer="bronze"), on_stage, settings)
    summary.quality_scores = q.scores
    summary.tables_held = [t.table for t in q.held]
    summary.rows_excluded = {e.table: (e.orphan_rows, e.waiting_rows) for e in q.exclusions
                             if e.orphan_rows or e.waiting_rows}
    cat = Catalog(spark_session(settings), settings)
    from yibao.quality.gate import pending
    summary.held_at_door = [f"{h['source']}/{h['source_table']} {h['batch_id']}: {h['reason']}"
                            for h in pending(cat) if h["kind"] == "door"]

    try:
        # one `dbt build` (seed + run + test; the seeds only when their files changed since they were loaded);
        # --quiet: only errors reach the console, the full log is in <warehouse>/_dbt/logs
        _timed(summary, "transform (dbt)", lambda: build(settings, full_refresh=full_refresh, quiet=True), on_stage,
               settings)
    except RuntimeError as exc:   # run_dbt raises when a model or a test fails
        summary.dbt_ok = False
        summary.errors.append(f"dbt build failed: {exc}")
        return summary

    for layer in ("silver", "gold"):
        ql = _timed(summary, f"quality ({layer})", lambda layer=layer: run_quality(settings, layer=layer), on_stage,
                    settings)
        summary.quality_failures += [f"{t.schema}.{t.table}: " + "; ".join(r["title"] for r in t.blocking)
                                     for t in ql.held]
    if summary.quality_failures:
        # a published table would be wrong: do not score fraud on it nor point the dashboards at it
        summary.errors.append("silver/gold checks failed; the forecast, fraud scoring and the serving refresh "
                              "were skipped")
        return summary

    from yibao.forecast import run_forecast
    try:
        fc = _timed(summary, "forecast", lambda: run_forecast(settings), on_stage, settings)
        summary.forecast_pairs = (fc.forecast, fc.pairs)
        summary.forecast_warnings = [f"{w['admdvs']}/{w['insutype']}: {w['first_warning_level']} from "
                                     f"{w['first_warning_ym']} (now {w['actual_risk_level']})" for w in fc.warnings]
    except (RuntimeError, ValueError) as exc:   # a forecast model or test failed: fraud and serving still run
        summary.errors.append(f"fund forecast failed: {exc}")

    fraud = _timed(summary, "fraud", lambda: run_fraud(settings), on_stage, settings)
    summary.suspects_by_level = dict(fraud.by_level)

    if serve:
        from yibao.dashboards import readpath
        _timed(summary, "serving refresh",
               lambda: readpath.register(settings.data_root, settings.warehouse, map_boundaries=settings.map_boundaries),
               on_stage, settings)

    from yibao.reports import run_reports
    rep = _timed(summary, "reports", lambda: run_reports(settings), on_stage, settings)
    summary.reports_delivered = [f"{d['recipient']}: {d['topic']} {d['period']} ({d['rows']:,} rows)"
                                 for d in rep.delivered]
    summary.report_warnings = rep.mail_failures + [f"not delivered: {f}" for f in rep.failures]

    if cat.exists("gold", "uninsured_person"):
        summary.uninsured = cat.read("gold", "uninsured_person").count()

    from yibao.maintenance import maintain
    m = _timed(summary, "maintain (vacuum)", lambda: maintain(settings), on_stage, settings)
    summary.bytes_freed, summary.maintenance_warnings = m.bytes_freed, m.errors
    return summary
