"""Run the dbt project in-process, on this process's engine session.

dbt-spark's ``session`` method builds its SparkSession from ``SPARK_REMOTE``; :func:`yibao.engine.spark_session`
sets that variable to the embedded Sail session (or the configured endpoint) and rebuilds the catalog from
the Delta tables on disk, so dbt sees ``bronze.*`` and finds its own earlier ``silver.*`` / ``gold.*``
tables (which incremental models need).  The warehouse root and the reference date come from
:class:`yibao.config.Settings` and are passed to dbt as the vars ``warehouse_root``, ``reference_date`` and
``table_format`` (the models' ``file_format``: delta, or parquet on a JVM Spark without Delta);
every other var (matching weights, risk thresholds) has its one default in ``dbt_project.yml``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import yaml

from yibao.catalog import _IDENT, _location, allow_time_travel, is_delta_table
from yibao.config import Settings, load_settings
from yibao.faults import checkpoint
from yibao.watchdog import watch



def project_dir() -> Path:
    """The dbt project folder: the setting ``dbt_project_dir`` (``$YIBAO_DBT_PROJECT_DIR``; default
    ``dbt_project/`` in the repository)."""
    return load_settings().dbt_project


def dbt_vars(settings: Settings, extra: dict | None = None) -> dict:
    """The vars every dbt invocation gets; ``contract_keys`` ({source__table: [key columns]}) comes from the data
    contract's registry, so the staging models' dedup rule (macro latest_per_key) has no list of its own."""
    from yibao.contract import TABLES

    v = {"warehouse_root": str(settings.warehouse), "reference_date": settings.reference_date.isoformat(),
         "table_format": settings.table_format,
         "contract_keys": {spec.bronze_name: list(spec.keys) for spec in TABLES}}
    v.update(extra or {})
    return v


def sync_catalog(spark, settings: Settings, schemas: tuple[str, ...] = ("silver", "gold")) -> None:
    """Point the engine's catalog at THIS warehouse before dbt looks at it.

    The engine session lives as long as the process; when one process works on several warehouses (tests,
    notebooks), names registered for an earlier warehouse would make dbt merge an incremental model into
    the other warehouse's table.  Every table on disk is (re-)registered, and dbt-owned names with no table
    in this warehouse are dropped from the catalog (a catalog entry only: no data is touched).
    """
    from yibao.catalog import Catalog, _registered
    from yibao.engine import remote_url

    cat = Catalog(spark, settings)
    on_disk = set(cat.rebuild())
    for schema in schemas:
        try:
            names = [r[1] if len(r) > 1 else r[0] for r in spark.sql(f"SHOW TABLES IN {schema}").collect()]
        except Exception:  # the schema does not exist yet
            continue
        for name in names:
            if (schema, name) not in on_disk and _IDENT.fullmatch(name):   # a name is never formatted unchecked
                spark.sql(f"DROP TABLE IF EXISTS {schema}.`{name}`")
                _registered.pop((remote_url() or "", schema, name), None)


def ensure_sources(spark, settings: Settings) -> list[str]:
    """Create every contract table that no batch has delivered yet, empty, with its bronze schema, and add
    the columns a later contract version added to a table landed before it (null in its rows).

    dbt's sources must all resolve; a department that has not delivered yet (or a section-6 table a
    producer never delivers) is an empty table, not an error.  The schema comes from the contract registry (:mod:`yibao.contract`), the one
    definition of bronze.  Returns the names created.
    """
    from yibao.catalog import Catalog
    from yibao.contract import TABLES
    from yibao.ingestion.parse import ddl

    cat, created = Catalog(spark, settings), []
    for spec in TABLES:
        if not cat.exists("bronze", spec.bronze_name):
            cat.ensure("bronze", spec.bronze_name, ddl(spec, with_reject=False))
            created.append(spec.bronze_name)
        else:
            cat.ensure_columns("bronze", spec.bronze_name, ddl(spec, with_reject=False))
            cat.register("bronze", spec.bronze_name)
    return created


def release_sources(spark, settings: Settings) -> dict[str, str]:
    """Define ``released.<source>__<table>``, the views dbt's sources read: bronze as the quality gate released it.

    The gate (``yibao quality``) publishes ``meta.released_version``: per bronze table, the last Delta version
    that passed its blocking checks.  A table with a released version is read at that version, so a held
    batch never reaches silver or gold; a table held before anything was released reads as empty; a table the
    gate has never looked at (quality not run, e.g. ``yibao transform`` alone) reads at its head.
    Returns {table: "version N" | "held" | "head"}.
    """
    from yibao.catalog import Catalog
    from yibao.contract import TABLES

    cat = Catalog(spark, settings)
    released, held = {}, set()
    if cat.exists("meta", "released_version"):
        released = {r["table"]: r["delta_version"] for r in cat.read("meta", "released_version")
                    .where("`schema` = 'bronze'").collect()}
    if cat.exists("meta", "quality_hold"):
        held = {r["table"] for r in cat.read("meta", "quality_hold").where("`schema` = 'bronze'")
                .select("table").distinct().collect()}
    spark.sql("CREATE SCHEMA IF NOT EXISTS released")
    state = {}
    for spec in TABLES:
        name = spec.bronze_name
        if name in released:
            allow_time_travel(cat.path("bronze", name), int(released[name]))
            query, state[name] = f"SELECT * FROM bronze.{name} VERSION AS OF {int(released[name])}", \
                f"version {released[name]}"
            excluded = cat.path("_gate", name)
            if is_delta_table(excluded):
                # rows the quality gate keeps out one by one (orphans, rows waiting on a held parent batch),
                # published by yibao.quality.exclusions under <warehouse>/_gate/<table>
                cat.register("_gate", name)
                on = " AND ".join(f"b.`{k}` = e.`{k}`" for k in spec.keys)
                query = f"SELECT b.* FROM ({query}) b LEFT ANTI JOIN `_gate`.`{name}` e ON {on}"
                state[name] += " minus gate exclusions"
        elif name in held:
            query, state[name] = f"SELECT * FROM bronze.{name} WHERE false", "held"
        else:
            query, state[name] = f"SELECT * FROM bronze.{name}", "head"
        spark.sql(f"CREATE OR REPLACE VIEW released.{name} AS {query}")
    return state


def describe_tables(spark, settings: Settings, schemas: tuple[str, ...] = ("bronze", "silver", "gold")) -> int:
    """Re-register the warehouse tables with their column list, so that ``describe`` shows columns.

    Sail trap: a table registered as ``CREATE TABLE .. USING delta LOCATION ..`` (how the catalog is rebuilt
    at session start) is readable but ``DESCRIBE TABLE EXTENDED`` lists no columns, so ``dbt docs generate``
    would write an empty catalog.  Registering it again with its schema (read from the Delta log) fixes that.
    """
    from yibao.catalog import Catalog

    cat, n = Catalog(spark, settings), 0
    for schema, table in cat.tables():
        if schema not in schemas:
            continue
        cols = ", ".join(f"`{f.name}` {f.dataType.simpleString()}{'' if f.nullable else ' NOT NULL'}" for f in cat.read(schema, table).schema.fields)
        spark.sql(f"DROP TABLE IF EXISTS {schema}.{table}")
        spark.sql(f"CREATE TABLE {schema}.{table} ({cols}) USING delta LOCATION '{_location(cat.path(schema, table))}'")
        n += 1
    return n


def _work_dir(settings: Settings) -> Path:
    # '_'-prefixed folders under the warehouse are work files, never registered as tables
    d = settings.warehouse / "_dbt"
    d.mkdir(parents=True, exist_ok=True)
    return d


def run_dbt(settings: Settings, args: list[str], vars: dict | None = None, raise_on_failure: bool = True):
    """Run one dbt command (``args`` as on the dbt command line, e.g. ``["run", "-s", "staging"]``).

    Returns dbt's ``dbtRunnerResult``; raises ``RuntimeError`` when the command fails and
    ``raise_on_failure`` is set.
    """
    from dbt.cli.main import dbtRunner

    from yibao.engine import spark_session

    spark = spark_session(settings)  # starts the engine, exports SPARK_REMOTE, rebuilds the catalog
    sync_catalog(spark, settings)
    ensure_sources(spark, settings)
    state = release_sources(spark, settings)
    # sources the gate keeps rows of out one by one: their staging models are rebuilt whole
    # (macros/incremental_staging.sql), since such rows return with their old _ingest_time
    gated = sorted(t for t, st in state.items() if st.endswith("minus gate exclusions"))
    if args and args[0] == "docs":
        describe_tables(spark, settings)
    proj, work = project_dir(), _work_dir(settings)
    cli = list(args)
    given = {}
    if "--vars" in cli:  # the caller's vars win, merged over the settings' warehouse root and reference date
        i = cli.index("--vars")
        given = yaml.safe_load(cli[i + 1]) or {}
        del cli[i:i + 2]
    cli += ["--vars", json.dumps(dbt_vars(settings, {"gated_sources": gated, **(vars or {}), **given}))]
    command = next((a for a in cli if not a.startswith("-")), None)   # after global flags such as --quiet
    if command in ("build", "run", "test", "seed") and "--threads" not in cli:
        cli += ["--threads", str(settings.dbt_threads)]
    if command == "seed" or (command == "build" and not {"-s", "--select", "--selector"} & set(cli)
                             and not ("--exclude-resource-type" in cli and "seed" in cli)):
        # this command may load the seeds from files other than the recorded ones (another project, a failed
        # load): the next whole build loads them again (and build() records them after it)
        (work / SEEDS_RECORD).unlink(missing_ok=True)
    cli += ["--project-dir", str(proj), "--profiles-dir", str(proj),
            "--target-path", str(work / "target"), "--log-path", str(work / "logs")]
    with watch(settings, f"dbt {command}"):     # a node whose query hangs the engine fails the command
        result = dbtRunner(callbacks=[_fault_point]).invoke(cli)
        if raise_on_failure and not result.success:
            raise RuntimeError(f"dbt {' '.join(args)} failed: {_failures(result)}")
    return result


def _fault_point(event) -> None:
    """A crash-safety test may kill the run as dbt starts a node (yibao.faults): ``dbt_node`` counts every node,
    ``dbt_node:<name>`` one model."""
    if event.info.name == "NodeStart":
        checkpoint("dbt_node")
        checkpoint(f"dbt_node:{event.data.node_info.node_name}")


def _failures(result) -> str:
    if result.exception is not None:
        return repr(result.exception)
    bad = []
    for r in getattr(result.result, "results", None) or []:
        status = str(getattr(r, "status", ""))
        if status.lower() not in ("success", "pass", "skipped"):
            bad.append(f"{getattr(r.node, 'name', '?')}: {status} {getattr(r, 'message', '') or ''}".strip())
    return "; ".join(bad) or "see the dbt log"


SEEDS_RECORD = "seeds.sha256"   # under <warehouse>/_dbt: the fingerprint of the seeds the warehouse holds


def _seeds_fingerprint() -> str:
    """sha256 of everything a seed load depends on: the seed files and ``dbt_project.yml`` (their column types,
    schema and location)."""
    proj, h = project_dir(), hashlib.sha256()
    for p in sorted((proj / "seeds").rglob("*")) + [proj / "dbt_project.yml"]:
        if p.is_file():
            h.update(p.relative_to(proj).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def seeds_loaded(settings: Settings) -> bool:
    """True when the warehouse holds every seed table as the project's seed files define them now: the
    fingerprint recorded by :func:`record_seeds` after the build that loaded them matches, and each seed's
    table is on disk.  A daily ``yibao run`` then leaves the seeds out of its build (reloading the divisions
    seed cost ~10 s of every run at any scale)."""
    rec = _work_dir(settings) / SEEDS_RECORD
    if not rec.is_file() or rec.read_text().strip() != _seeds_fingerprint():
        return False
    for csv in (project_dir() / "seeds").glob("*.csv"):
        path = settings.warehouse / "silver" / csv.stem
        if not (is_delta_table(path) if settings.table_format == "delta" else any(path.glob("*.parquet"))):
            return False
    return True


def record_seeds(settings: Settings) -> None:
    """Record that the seeds as defined now are loaded (call after a build that loaded them succeeded)."""
    (_work_dir(settings) / SEEDS_RECORD).write_text(_seeds_fingerprint() + "\n")


def build(settings: Settings, select: list[str] | None = None, vars: dict | None = None,
          full_refresh: bool = False, quiet: bool = False):
    """seed + run + test, as one ``dbt build`` (DAG order: a model's tests run right after it, and a failing
    test skips what depends on the model).  A build of the whole project loads the seeds only when their files
    changed since they were last loaded (:func:`seeds_loaded`).  Raises ``RuntimeError`` when anything fails;
    returns dbt's result."""
    keep_seeds = not select and not full_refresh and seeds_loaded(settings)
    result = run_dbt(settings, (["--quiet"] if quiet else []) + ["build"] + selection(select, full_refresh, keep_seeds),
                     vars=vars)
    if not select and not keep_seeds:
        record_seeds(settings)
    return result


def selection(select: list[str] | None, full_refresh: bool, keep_seeds: bool) -> list[str]:
    """The flags of :func:`build` after ``build``.  ``--exclude-resource-type seed``, not ``--exclude``: an exclude
    would switch off the default selector (selectors.yml: the forecast marts are built by the forecast stage) and
    drop every test with a seed among its parents (the marts' in_code_list tests)."""
    return (["--select", *select] if select else []) + (["--full-refresh"] if full_refresh else []) + \
        (["--exclude-resource-type", "seed"] if keep_seeds else [])
