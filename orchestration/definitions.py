"""The lakehouse as a Dagster asset graph (``yibao orchestrate`` serves it in the Dagster UI).

Assets map one-to-one to warehouse tables:

- ``bronze/<source>__<table>``: one per contract table, grouped by source (``bronze_<source>``); one ingest
  multi-asset per source takes that source's new batches (``yibao.ingestion.ingest(..., sources=[source])``)
  and runs the bronze quality gate on them; the gate's verdict per table is the asset check
  ``quality_gate`` (released or held: a held table is not what dbt reads).
- ``silver/*``, ``gold/*``: the dbt seeds and models (``@dbt_assets`` over the manifest ``dbt parse`` writes
  at load time); dbt sources ``released.<source>__<table>`` are the bronze assets; dbt tests are asset checks.
  dbt runs in-process on the engine session, exactly as ``yibao transform`` does.
- silver / gold Great Expectations suites: asset checks ``ge_quality`` on the models that have a suite.
- ``silver/fund_forecast_series``, ``silver/fund_forecast_fit``, ``gold/fund_forecast``,
  ``gold/fund_forecast_warning``, ``gold/fund_forecast_backtest``: the fund forecast (``yibao.forecast.run_forecast``,
  which builds its two dbt models, tag ``forecast``, itself; they are left out of the dbt assets).
- ``gold/fraud_suspect``: rules, graph and models (``yibao.fraud.run_fraud``).
- ``serving/read_path``: the dashboards' DuckDB read path over the gold tables.
- ``reports/deliveries``: subscribed reports and alerts that are due (``yibao.reports.run_reports``).

Jobs: ``daily`` (everything), ``source_<source>`` (that source's bronze assets and everything downstream,
the partial re-run of one source).  Schedule: ``daily`` at 02:30 Asia/Shanghai.  Sensor
``landing_zone_sensor``: a batch folder with a manifest that ``meta.ingest_batch`` does not know yet
starts ``source_<source>`` with run key ``<source>/<batch_id>``.  Retries: the ingest and dbt steps retry.
Runs use the in-process executor: one engine session per run, steps in order.  Job ``maintain``
(:mod:`yibao.maintenance`): vacuum at 06:00 Monday to Saturday, compaction and vacuum on Sundays.
"""

# no `from __future__ import annotations`: Dagster inspects the context type hints at definition time

import contextlib
import json
import os
from pathlib import Path
from typing import Any, Mapping

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetSelection,
    AssetSpec,
    Backoff,
    Config,
    ConfigurableResource,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    Definitions,
    MaterializeResult,
    RetryPolicy,
    RunRequest,
    ScheduleDefinition,
    SensorEvaluationContext,
    SkipReason,
    asset,
    define_asset_job,
    in_process_executor,
    job,
    multi_asset,
    multi_asset_check,
    op,
    sensor,
)
from dagster import definitions as lazy_definitions
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, dbt_assets
from dagster_dbt.asset_utils import get_asset_check_key_for_test, get_subset_selection_for_context

from yibao.config import Settings, _coerce, load_settings
from yibao.contract import SOURCES, TABLES

INGEST_RETRY = RetryPolicy(max_retries=2, delay=15, backoff=Backoff.EXPONENTIAL)
DBT_RETRY = RetryPolicy(max_retries=1, delay=30)
DAILY_CRON, TIMEZONE = "30 2 * * *", "Asia/Shanghai"
FORECAST_DBT = "tag:forecast"   # dbt models the forecast stage builds (after writing their input), not the dbt assets
VACUUM_CRON, COMPACT_CRON = "0 6 * * 1-6", "0 6 * * 0"     # after the night's run; compaction on Sundays


# ---------------------------------------------------------------------------------------------- resource
class YibaoResource(ConfigurableResource):
    """The lakehouse settings (``yibao.config``) and the engine session every asset uses."""

    config_file: str | None = None
    overrides: dict[str, str] = {}

    def settings(self) -> Settings:
        s = load_settings(Path(self.config_file) if self.config_file else None)
        return s.with_(**{k: _coerce(k, v) for k, v in self.overrides.items()})

    def spark(self):
        from yibao.engine import spark_session

        return spark_session(self.settings())

    @contextlib.contextmanager
    def yield_for_execution(self, context):
        """A run holds the warehouse lock from its first step to its last (yibao.lock): a `yibao run` started
        meanwhile refuses, and this run fails at once if one is writing (the in-process executor initialises the
        resource once per run).  The run is watched (yibao.watchdog): a hung engine fails it instead of stalling it."""
        from yibao.lock import warehouse_lock
        from yibao.watchdog import watch

        settings, label = self.settings(), f"dagster run {context.run_id or ''}".strip()
        with warehouse_lock(settings, label), watch(settings, label):
            yield self.create_resource(context)


def _resource_for(settings: Settings | None) -> YibaoResource:
    if settings is None:
        return YibaoResource(config_file=os.environ.get("YIBAO_CONFIG"))
    overrides = {k: str(v) for k, v in vars(settings).items() if v not in (None, "")}
    return YibaoResource(overrides=overrides)


def bronze_key(source: str, table: str) -> AssetKey:
    return AssetKey(["bronze", f"{source}__{table}"])


# ---------------------------------------------------------------------------------------------- bronze
def _ingest_asset(source: str):
    specs = [AssetSpec(bronze_key(source, t.name), group_name=f"bronze_{source}",
                       description=f"{source} {t.name}: landed as delivered (keys {', '.join(t.keys)})",
                       metadata={"path": f"<warehouse>/bronze/{t.bronze_name}"},
                       tags={"layer": "bronze", "source": source})
             for t in TABLES if t.source == source]
    checks = [AssetCheckSpec("quality_gate", asset=s.key,
                             description="Bronze Great Expectations suite: releases the new Delta version to "
                                         "dbt, or holds it (blocking expectation failed).") for s in specs]

    @multi_asset(name=f"ingest_{source}", specs=specs, check_specs=checks, retry_policy=INGEST_RETRY,
                 description=f"Take every new batch of landing/{source}/ into bronze, then run the quality gate.")
    def _ingest(context: AssetExecutionContext, yibao: YibaoResource):
        from pyspark.sql import functions as F

        from yibao.catalog import Catalog
        from yibao.ingestion.ingest import ingest
        from yibao.quality import run_quality

        settings = yibao.settings()
        summary = ingest(settings, sources=[source])
        context.log.info(f"{source}: applied {summary.batches_applied}, skipped {summary.batches_skipped}, "
                         f"rejected {summary.batches_rejected}; {summary.rows_landed} rows landed, "
                         f"{summary.rows_quarantined} quarantined")
        if summary.batches_rejected:
            context.log.warning(f"rejected batches: {summary.batches_rejected}")
        names = [t.bronze_name for t in TABLES if t.source == source]
        q = run_quality(settings, layer="bronze", tables=names)
        outcomes = {t.table: t for t in q.tables}
        cat = Catalog(yibao.spark(), settings)
        logs = {}
        if cat.exists("meta", "ingest_log"):
            for r in cat.read("meta", "ingest_log").where(F.col("source") == source).collect():
                logs.setdefault(r.source_table, []).append(r)
        for t in TABLES:
            if t.source != source:
                continue
            mine = [r for r in logs.get(t.name, []) if f"{source}/{r.batch_id}" in summary.batches_applied]
            yield MaterializeResult(asset_key=bronze_key(source, t.name), metadata={
                "batches_applied": ", ".join(summary.batches_applied) or "-",
                "rows_landed": sum(r.rows_landed or 0 for r in mine),
                "rows_quarantined": sum(r.rows_quarantined or 0 for r in mine),
                "exists": cat.exists("bronze", t.bronze_name)})
            o = outcomes.get(t.bronze_name)
            if o is None:
                yield AssetCheckResult(asset_key=bronze_key(source, t.name), check_name="quality_gate",
                                       passed=True, metadata={"status": "unchanged (head already released)"
                                                              if cat.exists("bronze", t.bronze_name)
                                                              else "not delivered"})
            else:
                yield AssetCheckResult(
                    asset_key=bronze_key(source, t.name), check_name="quality_gate", passed=o.status == "released",
                    severity=AssetCheckSeverity.WARN,
                    metadata={"status": o.status, "batch_id": o.batch_id or "", "rows": o.rows,
                              "delta_version": -1 if o.delta_version is None else o.delta_version,
                              "blocking_failures": len(o.blocking), "warnings": len(o.warnings)})

    return _ingest


# ---------------------------------------------------------------------------------------------- dbt
class YibaoDbtTranslator(DagsterDbtTranslator):
    """dbt sources ``released.<source>__<table>`` are the bronze assets; models are ``<schema>/<name>``."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props["resource_type"] == "source" and dbt_resource_props.get("source_name") == "forecast":
            return AssetKey(["silver", dbt_resource_props["name"]])     # written by the forecast stage
        if dbt_resource_props["resource_type"] == "source":
            return AssetKey(["bronze", dbt_resource_props.get("identifier") or dbt_resource_props["name"]])
        return AssetKey([dbt_resource_props.get("schema") or "silver", dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "seed":
            return "dbt_seeds"
        fqn = dbt_resource_props.get("fqn") or []
        return f"dbt_{fqn[1]}" if len(fqn) > 2 else "dbt"


TRANSLATOR = YibaoDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


def dbt_manifest(settings: Settings) -> Path:
    """``dbt parse`` into the runner's work dir (``<warehouse>/_dbt/target``); returns the manifest path."""
    from yibao.transform import run_dbt

    run_dbt(settings, ["parse"])
    return settings.warehouse / "_dbt" / "target" / "manifest.json"


def _dbt_asset(manifest: dict):
    node_keys = {uid: TRANSLATOR.get_asset_key(props) for uid, props in manifest["nodes"].items()
                 if props["resource_type"] in ("model", "seed", "snapshot")
                 and "forecast" not in (props.get("tags") or [])}

    @dbt_assets(manifest=manifest, dagster_dbt_translator=TRANSLATOR, retry_policy=DBT_RETRY,
                name="dbt_silver_gold", exclude=FORECAST_DBT)
    def _dbt(context: AssetExecutionContext, yibao: YibaoResource):
        from yibao.transform import run_dbt

        settings = yibao.settings()
        yibao.spark()  # the engine first: dbt-spark's session method connects to it through SPARK_REMOTE
        selection, indirect = get_subset_selection_for_context(
            context, manifest, "fqn:*", FORECAST_DBT, None, TRANSLATOR, os.environ.get("DBT_INDIRECT_SELECTION"))
        old = os.environ.get("DBT_INDIRECT_SELECTION")
        if indirect:
            os.environ["DBT_INDIRECT_SELECTION"] = indirect
        try:
            context.log.info(f"dbt build {' '.join(selection)}")
            result = run_dbt(settings, ["build", *selection], raise_on_failure=False)
        finally:
            if indirect:
                if old is None:
                    os.environ.pop("DBT_INDIRECT_SELECTION", None)
                else:
                    os.environ["DBT_INDIRECT_SELECTION"] = old
        selected_assets = context.selected_asset_keys
        selected_checks = context.selected_asset_check_keys
        failed = []
        for r in getattr(result.result, "results", None) or []:
            uid, status = r.node.unique_id, str(r.status).lower().split(".")[-1]
            meta = {"status": status, "seconds": round(float(r.execution_time or 0), 2)}
            if uid in node_keys:
                if status == "success" and node_keys[uid] in selected_assets:
                    yield MaterializeResult(asset_key=node_keys[uid], metadata=meta)
                elif status not in ("success", "skipped"):
                    failed.append(f"{r.node.name}: {status} {r.message or ''}")
            elif uid.startswith("test."):
                ck = get_asset_check_key_for_test(manifest, TRANSLATOR, uid, None)
                if ck is not None and ck in selected_checks and status != "skipped":
                    yield AssetCheckResult(asset_key=ck.asset_key, check_name=ck.name, passed=status == "pass",
                                           severity=AssetCheckSeverity.ERROR if r.node.config.severity.lower()
                                           == "error" else AssetCheckSeverity.WARN,
                                           metadata={**meta, "failures": int(r.failures or 0)})
                if status in ("fail", "error"):
                    failed.append(f"{r.node.name}: {status}")
        if not result.success:
            raise RuntimeError("dbt build failed: " + ("; ".join(failed) or repr(result.exception)))

    return _dbt, node_keys


def _silver_gold_quality(model_keys: list[AssetKey]):
    from yibao.quality.suites import GOLD_RULES

    targets = [k for k in model_keys
               if (k.path[0] == "silver" and k.path[-1].startswith("stg_") and "__" in k.path[-1])
               or (k.path[0] == "gold" and k.path[-1] in GOLD_RULES)]

    @multi_asset_check(name="ge_silver_gold", can_subset=True,
                       specs=[AssetCheckSpec("ge_quality", asset=k, description="Great Expectations suite "
                                             "(yibao quality --layer silver|gold)") for k in targets])
    def _check(context, yibao: YibaoResource):
        from yibao.quality import run_quality

        settings = yibao.settings()
        wanted = {ck.asset_key for ck in context.selected_asset_check_keys}
        for layer in ("silver", "gold"):
            tables = [k.path[-1] for k in wanted if k.path[0] == layer]
            if not tables:
                continue
            q = run_quality(settings, layer=layer, tables=tables)
            seen = {t.table: t for t in q.tables}
            for name in tables:
                o = seen.get(name)
                yield AssetCheckResult(
                    asset_key=AssetKey([layer, name]), check_name="ge_quality",
                    passed=o is None or o.status == "passed", severity=AssetCheckSeverity.ERROR,
                    metadata={"status": "no suite / table absent" if o is None else o.status,
                              "rows": 0 if o is None else o.rows,
                              "blocking_failures": 0 if o is None else len(o.blocking),
                              "warnings": 0 if o is None else len(o.warnings)})

    return _check


# ---------------------------------------------------------------------------------------------- forecast, fraud, serving
FORECAST_KEYS = [AssetKey(["silver", "fund_forecast_series"]), AssetKey(["silver", "fund_forecast_fit"]),
                 AssetKey(["gold", "fund_forecast"]), AssetKey(["gold", "fund_forecast_warning"]),
                 AssetKey(["gold", "fund_forecast_backtest"])]


@multi_asset(name="fund_forecast", group_name="fund_forecast",
             specs=[AssetSpec(k, deps=[AssetKey(["gold", "fund_operation"]), AssetKey(["gold", "coverage_by_region"])],
                              description="基金运行预测 (yibao forecast run): statsmodels Holt-Winters per pooling region x "
                                          "insutype, the dbt models of tag forecast, the backtest.")
                    for k in FORECAST_KEYS])
def fund_forecast(context: AssetExecutionContext, yibao: YibaoResource):
    from yibao.forecast import run_forecast

    s = run_forecast(yibao.settings())
    context.log.info(f"{s.forecast} of {s.pairs} pairs forecast; {len(s.warnings)} reach a risk level")
    for k in FORECAST_KEYS:
        yield MaterializeResult(asset_key=k, metadata={"pairs": s.pairs, "forecast": s.forecast,
                                                       "warnings": len(s.warnings)})


def _fraud_asset(model_keys: list[AssetKey]):
    deps = [k for k in model_keys if k.path[0] == "gold"] + [AssetKey(["silver", "int_settlement"])]

    @asset(key=AssetKey(["gold", "fraud_suspect"]), deps=sorted(set(deps), key=str), group_name="fund_supervision",
           description="基金监管疑点清单: rules R01–R09, co-visit graph, models (yibao suspects score).")
    def fraud_suspect(context: AssetExecutionContext, yibao: YibaoResource) -> MaterializeResult:
        from yibao.fraud import run_fraud

        s = run_fraud(yibao.settings())
        context.log.info(f"{s.suspects} suspects {dict(s.by_level)}")
        return MaterializeResult(metadata={"suspects": int(s.suspects),
                                           "by_level": json.dumps(dict(s.by_level), ensure_ascii=False),
                                           "groups": int(s.groups)})

    return fraud_suspect


@asset(key=AssetKey(["serving", "read_path"]), group_name="serving",
       deps=[AssetKey(["gold", "fraud_suspect"]), AssetKey(["gold", "uninsured_person"]),
             AssetKey(["gold", "coverage_by_region"]), AssetKey(["gold", "fund_operation"]),
             AssetKey(["gold", "fund_forecast_warning"])],
       description="The dashboards' DuckDB read path over the gold Delta tables (yibao serve --refresh).")
def serving_read_path(yibao: YibaoResource) -> MaterializeResult:
    from yibao.dashboards import readpath

    settings = yibao.settings()
    reg = readpath.register(settings.data_root, settings.warehouse, map_boundaries=settings.map_boundaries)
    return MaterializeResult(metadata={"path": str(reg.path), "tables": len(reg.found),
                                       "stubbed": ", ".join(reg.stubbed) or "-"})


@asset(key=AssetKey(["reports", "deliveries"]), group_name="serving",
       deps=[AssetKey(["gold", "fraud_suspect"]), AssetKey(["gold", "coverage_history"]),
             AssetKey(["gold", "fund_operation"]), AssetKey(["gold", "enrollment_trend"]),
             AssetKey(["gold", "contribution_trend"]), AssetKey(["gold", "cross_region_care"]),
             AssetKey(["gold", "medical_reform_indicators"])],
       description="Subscribed reports and alerts that are due, to each recipient's folder and mailbox "
                   "(yibao reports run; meta.report_delivery).")
def report_deliveries(context: AssetExecutionContext, yibao: YibaoResource) -> MaterializeResult:
    from yibao.reports import run_reports

    s = run_reports(yibao.settings())
    for failure in s.mail_failures:
        context.log.warning(f"mail not sent (re-sent next run): {failure}")
    for failure in s.failures:
        context.log.error(f"not delivered: {failure}")
    return MaterializeResult(metadata={"delivered": len(s.delivered), "mailed": s.mailed,
                                       "mail_failures": len(s.mail_failures), "failures": len(s.failures)})


# ---------------------------------------------------------------------------------------------- maintenance
class MaintainConfig(Config):
    optimize: bool = False


@op(description="Vacuum every Delta table (yibao.maintenance; released and held bronze versions kept); "
                "with optimize, first compact small files.")
def maintain_warehouse(context, config: MaintainConfig, yibao: YibaoResource) -> None:
    from yibao.maintenance import maintain

    result = maintain(yibao.settings(), optimize=config.optimize)
    context.log.info(f"{len(result.tables)} tables, {result.files_deleted} files deleted, "
                     f"{result.bytes_freed / 2**20:.1f} MiB freed")
    for err in result.errors:
        context.log.warning(f"not maintained: {err}")


@job(name="maintain", description="Warehouse maintenance: vacuum (and compaction on Sundays).",
     executor_def=in_process_executor)
def maintain_job():
    maintain_warehouse()


# ---------------------------------------------------------------------------------------------- sensor
def _ledger(settings: Settings) -> dict[tuple[str, str], tuple[str, str]]:
    """(source, batch_id) -> (status, fingerprint) of meta.ingest_batch, read without the engine."""
    path = settings.warehouse / "meta" / "ingest_batch"
    cols = ["source", "batch_id", "status", "fingerprint"]
    if settings.table_format == "delta":
        from yibao.catalog import read_delta_arrow

        tbl = read_delta_arrow(path, cols)
        if tbl is None:
            return {}
    else:
        if not path.is_dir():
            return {}
        import pyarrow.parquet as pq

        tbl = pq.read_table(str(path), columns=cols)
    return {(r["source"], r["batch_id"]): (r["status"], r["fingerprint"]) for r in tbl.to_pylist()}


def _quiet(batch_dir: Path, now: float, settle: float) -> bool:
    """No file of the folder (nor the folder itself) changed in the last ``settle`` seconds."""
    try:
        newest = max([batch_dir.lstat().st_mtime] + [p.lstat().st_mtime for p in batch_dir.iterdir()])
    except OSError:      # the folder is changing under us: not quiet
        return False
    return now - newest >= settle


def new_batches(settings: Settings, now: float | None = None) -> list[tuple[str, str, str]]:
    """(source, batch_id, fingerprint) of the batch folders a run should take: with a manifest, quiet for
    ``settings.landing_settle_s`` seconds (it may still be copied), and either unknown to meta.ingest_batch or known with other content than what was
    taken (a rejected batch delivered again, a run killed part-way).  A batch that arrives while a run is in
    progress is therefore asked for on the next tick after that run recorded its own batches (runs are queued
    one at a time), and a batch re-delivered after a rejection gets a new run: nothing waits for the night."""
    import time

    from yibao.ingestion.ingest import discover, fingerprint

    landing = settings.landing
    if not landing.is_dir():
        return []
    now = time.time() if now is None else now
    ledger = _ledger(settings)
    out = []
    for d in discover(landing):
        if not (d / "_manifest.json").is_file() or not _quiet(d, now, settings.landing_settle_s):
            continue
        fp = fingerprint(d)
        status, taken = ledger.get((d.parent.name, d.name), (None, None))
        if status in ("applied", "rejected") and taken == fp:
            continue
        if status == "applied":
            continue     # a changed re-delivery of an applied batch is refused once by ingestion, not re-run
        out.append((d.parent.name, d.name, fp))
    return out


def source_job_name(source: str) -> str:
    return f"source_{source}"


# ---------------------------------------------------------------------------------------------- definitions
def build_definitions(settings: Settings | None = None) -> Definitions:
    """The asset graph for ``settings`` (default: the effective configuration, ``yibao config``)."""
    resource = _resource_for(settings)
    eff = resource.settings()
    manifest = json.loads(dbt_manifest(eff).read_text())
    dbt_def, node_keys = _dbt_asset(manifest)
    model_keys = sorted(set(node_keys.values()), key=str)
    ingest_defs = [_ingest_asset(s) for s in SOURCES]

    daily = define_asset_job("daily", selection=AssetSelection.all(),
                             description="The whole lakehouse: every source, dbt, quality, fraud, serving.")
    source_jobs = {s: define_asset_job(source_job_name(s),
                                       selection=AssetSelection.groups(f"bronze_{s}").downstream(),
                                       description=f"Partial re-run: {s}'s bronze tables and everything downstream.")
                   for s in SOURCES}

    @sensor(name="landing_zone_sensor", jobs=list(source_jobs.values()), minimum_interval_seconds=60,
            default_status=DefaultSensorStatus.RUNNING,
            description="A new batch folder (with _manifest.json, quiet for a minute) not yet taken by "
                        "meta.ingest_batch starts that source's job; run key <source>/<batch_id>/<content>. "
                        "Runs are queued one at a time: a batch arriving during a run waits for the next.")
    def landing_zone_sensor(context: SensorEvaluationContext):
        pending = new_batches(resource.settings())
        if not pending:
            yield SkipReason("no new batch in the landing zone (or still being copied)")
            return
        for source, batch_id, fp in pending:
            # the content is part of the key: a batch delivered again after a rejection is a new request
            yield RunRequest(run_key=f"{source}/{batch_id}/{fp[:16]}", job_name=source_job_name(source),
                             tags={"yibao/source": source, "yibao/batch_id": batch_id})

    schedule = ScheduleDefinition(name="daily_0230", job=daily, cron_schedule=DAILY_CRON,
                                  execution_timezone=TIMEZONE, default_status=DefaultScheduleStatus.RUNNING,
                                  description="Nightly full run at 02:30 Beijing time.")
    def maintenance(name: str, cron: str, optimize: bool, description: str) -> ScheduleDefinition:
        return ScheduleDefinition(name=name, job=maintain_job, cron_schedule=cron, execution_timezone=TIMEZONE,
                                  default_status=DefaultScheduleStatus.RUNNING, description=description,
                                  run_config={"ops": {"maintain_warehouse": {"config": {"optimize": optimize}}}})

    vacuum = maintenance("vacuum_0600", VACUUM_CRON, False, "Vacuum at 06:00 Beijing time, Monday to Saturday.")
    compact = maintenance("compact_sunday_0600", COMPACT_CRON, True,
                          "Compact small files, then vacuum, Sundays at 06:00 Beijing time.")
    return Definitions(
        assets=[*ingest_defs, dbt_def, fund_forecast, _fraud_asset(model_keys), serving_read_path, report_deliveries],
        asset_checks=[_silver_gold_quality(model_keys)],
        jobs=[daily, *source_jobs.values(), maintain_job],
        schedules=[schedule, vacuum, compact],
        sensors=[landing_zone_sensor],
        resources={"yibao": resource},
        executor=in_process_executor,
    )


@lazy_definitions
def defs() -> Definitions:
    """Code location entry point (``dagster dev -m yibao.orchestration.definitions``)."""
    return build_definitions()
