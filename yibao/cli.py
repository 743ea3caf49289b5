"""``yibao``: the one command line of the lakehouse.  Every command has ``--help``."""

from __future__ import annotations

import errno
import time
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from yibao.config import load_settings
from yibao.console import Progress, console

app = typer.Typer(help="医保数据湖仓 yibao: enrollment (全民参保) and fund supervision (基金监管) lakehouse.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_show_locals=False)

@app.callback()
def main(config: Optional[Path] = typer.Option(None, "--config", help="TOML settings file (default: ./yibao.toml "
                                                                          "or $YIBAO_CONFIG)."),
         verbose: bool = typer.Option(False, "--verbose", "-v", help="Show the engine's and the libraries' logs on "
                                      "the console (default: in <warehouse>/_logs/yibao-<date>.log, path printed "
                                      "at the end)."),
         ) -> None:
    from yibao.config import use_config_file
    from yibao.console import send_logs_to

    use_config_file(config)   # every reader of this command, the stages' own included, sees the same file
    if not verbose:
        send_logs_to(load_settings().warehouse / "_logs" / f"yibao-{date.today():%Y%m%d}.log")


def _settings(**overrides):
    return load_settings().with_(**overrides)


@app.command("config")
def show_config() -> None:
    """Print the effective settings and where each can be changed."""
    from yibao import config as cfg

    table = Table("setting", "value", "environment variable")
    for name, value in _settings().as_dict().items():
        table.add_row(name, value, cfg._ENV.get(name, ""))
    console.print(table)


@app.command()
def generate(
    persons: Optional[int] = typer.Option(None, "--persons", "-n", min=100, help="Natural persons to simulate "
                                                                                "(default 10,000)."),
    seed: Optional[int] = typer.Option(None, "--seed", "-s", help="Random seed; the same seed gives the same files "
                                                                  "(default 42)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Landing zone to write (default: the configured "
                                                                  "landing root). Ground truth goes to OUT/_truth."),
    batches: int = typer.Option(1, "--batches", min=1, max=2, help="1: the initial full batch; 2: also a "
                                                                   "second, incremental week."),
    days: int = typer.Option(0, "--days", min=0, help="Daily incremental batches to add, one per department and "
                                                      "day (births, deaths, moves, enrollments, contributions, "
                                                      "settlements, corrections, late rows), continuing after the "
                                                      "last day already in OUT (persons, seed, chunk size and gzip "
                                                      "come from OUT/_state); the truth then describes the state "
                                                      "after the last day. On an empty OUT the full load is "
                                                      "written first."),
    change_rate: float = typer.Option(0.003, "--change-rate", min=0.0, max=0.1,
                                      help="With --days: share of persons changed in the registers per day "
                                           "(settlements and contributions follow their own rates); fixed by "
                                           "the first daily run of a landing zone."),
    chunk_size: int = typer.Option(100_000, "--chunk-size", min=1_000, help="Persons generated per chunk "
                                                                             "(bounds memory: ~2 GiB per worker "
                                                                             "at 100k)."),
    workers: int = typer.Option(2, "--workers", min=1, max=2, help="Processes generating chunks (output is "
                                                                  "identical for any count)."),
    reference_date: Optional[str] = typer.Option(None, "--reference-date", help="YYYY-MM-DD (default: "
                                                                                 "configured)."),
    gzip: bool = typer.Option(False, "--gzip", help="Write <table>.csv.gz (about a fifth of the disk; the "
                                                    "province-scale landing zone does not fit otherwise)."),
    contract_version: int = typer.Option(2, "--contract-version", min=1, max=2,
                                         help="2: also the tables of contract section 6 (setl fund shares, "
                                              "setl_list, DRG/DIP groups, med_list, 集采, fund payments, bank "
                                              "statement, assistance payments) and their answers; 1: sections 1-2 "
                                              "only. --days continues with the version the landing zone has."),
) -> None:
    """Write a synthetic landing zone for all seven departments, plus its ground truth; with --days, add daily
    incremental batches on top of it."""
    from yibao.lock import LandingBusy
    from yibao.synthetic.daily import generate_days
    from yibao.synthetic.generate import generate as run
    from yibao.synthetic.state import STATE_DIR, read_meta

    settings = _settings()
    ref = date.fromisoformat(reference_date) if reference_date else settings.reference_date
    target = Path(out) if out else settings.landing
    started = time.time()
    state = read_meta(target / STATE_DIR)
    full = not (days and state)
    if days and not state and any(target.glob("*/*/_manifest.json")):
        console.print(f"[red]{target} holds batches but no generator state ({target / STATE_DIR}): write it again "
                      f"with `yibao generate` (this version), then add --days", soft_wrap=True)
        raise typer.Exit(1)
    if not full:
        clash = [f"{name} {given} (the landing zone has {state[key]})" for name, key, given in
                 (("--persons", "persons", persons), ("--seed", "seed", seed),
                  ("--reference-date", "reference_date", reference_date)) if given is not None and given != state[key]]
        if clash:
            console.print(f"[red]--days continues {target}: " + "; ".join(clash), soft_wrap=True)
            raise typer.Exit(1)
    with Progress() as progress, _exit_on(LandingBusy, code=BUSY_EXIT):
        tasks: dict[str, int] = {}

        def report(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=total)
            progress.update(tasks[stage], completed=done, total=total)

        summary = run(target, persons=persons or 10_000, seed=42 if seed is None else seed, reference_date=ref,
                      batches=batches, chunk_size=chunk_size, progress=report, workers=workers, gzip=gzip,
                      contract_version=contract_version) if full else None
        daily = generate_days(target, days, workers=workers, change_rate=change_rate, progress=report) if days else None
    if summary is not None:
        table = Table("source", "table", "rows")
        for (source, name), n in sorted(summary.rows.items()):
            table.add_row(source, name, f"{n:,}")
        console.print(table)
        console.print(f"[green]wrote {target} (batches {', '.join(summary.batch_ids)}; ground truth in "
                      f"{target / '_truth'}) in {summary.seconds:.1f}s")
    if daily is not None:
        table = Table("source", "table", *[f"{bid}\n{d}" for _, bid, d in daily.days], title="daily batches: rows "
                      "(of which del_flag = 1)")
        for source, name in sorted({(s, t) for _, s, t in daily.rows}):
            cells = []
            for _, bid, _d in daily.days:
                n, k = daily.rows.get((bid, source, name), 0), daily.deletes.get((bid, source, name), 0)
                cells.append(f"{n:,}" + (f" ({k:,})" if k else "") if n else "-")
            table.add_row(source, name, *cells)
        console.print(table)
        for _, bid, d in daily.days:
            ev = {k: v for (b, k), v in daily.events.items() if b == bid}
            console.print(f"{bid} ({d}): " + ", ".join(f"{k.lower()} {v:,}" for k, v in sorted(ev.items())))
        console.print(f"[green]added {len(daily.days)} daily batch day(s) to {target} "
                      f"({daily.days[0][1]} .. {daily.days[-1][1]}; truth now after {daily.days[-1][1]}) "
                      f"in {daily.seconds:.1f}s", soft_wrap=True)
    console.print(f"[green]done in {time.time() - started:.1f}s")


@app.command()
def ingest(landing: Optional[Path] = typer.Option(None, "--landing", "-l", help="Landing zone (default: "
                                                                                 "configured)."),
           strict: bool = typer.Option(False, "--strict", help="Exit 1 when this run rejected a batch or a file, "
                                                               "or held a snapshot for a steward (the summary is "
                                                               "printed either way).")) -> None:
    """Take every new batch of the landing zone, in order, into bronze Delta tables."""
    from rich.markup import escape

    from yibao.ingestion.ingest import ingest as run

    settings = _settings()
    started = time.time()
    with _writing(settings, "yibao ingest"):
        s = run(settings, landing)
    console.print(f"[green]ingested in {time.time() - started:.1f}s: {len(s.batches_applied)} batch(es) applied, "
                  f"{len(s.batches_skipped)} already taken, {len(s.batches_rejected)} rejected; "
                  f"{len(s.files_rejected)} file(s) rejected, {len(s.files_held)} held for a steward, "
                  f"{len(s.files_released)} released; "
                  f"{s.rows_landed:,} rows landed, {s.rows_quarantined:,} quarantined")
    for kind, colour, items in (("rejected batch", "red", s.batches_rejected), ("rejected file", "red",
                                s.files_rejected), ("held", "yellow", s.files_held),
                                ("released", "green", s.files_released),
                                ("deferred batch", "yellow", s.batches_deferred)):
        for label, reason in items:
            console.print(f"[{colour}]{kind} {escape(label)}: {escape(reason)}")
    if strict and s.refused:
        raise typer.Exit(1)


@app.command("log")
def show_log(limit: int = typer.Option(50, help="Most recent batches to show.")) -> None:
    """Show the ingestion log: each batch x table with its status and row counts, and batches rejected whole."""
    from pyspark.sql import functions as F
    from rich.markup import escape

    from yibao.catalog import Catalog
    from yibao.engine import spark_session

    settings = _settings()
    cat = Catalog(spark_session(settings), settings)
    rows = []
    if cat.exists("meta", "ingest_log"):
        rows += [(r.source, r.batch_id, r.source_table, r.status, r.rows_read, r.rows_landed, r.rows_quarantined,
                  r.reason) for r in cat.read("meta", "ingest_log").collect()]
    if cat.exists("meta", "ingest_batch"):   # a batch rejected whole has no table rows
        rows += [(r.source, r.batch_id, "(batch)", r.status, r.rows, None, None, r.reason)
                 for r in cat.read("meta", "ingest_batch").where(F.col("status") == F.lit("rejected")).collect()]
    if not rows:
        console.print("nothing ingested yet")
        raise typer.Exit(0)
    rows = sorted(rows, key=lambda r: (r[1] or "", r[0] or "", r[2] or ""), reverse=True)[:limit]
    table = Table("source", "batch", "table", "status", "read", "landed", "quarantined", "reason")
    for source, batch_id, source_table, status, *counts, reason in rows:
        table.add_row(*(escape(str(v or "")) for v in (source, batch_id, source_table, status)),
                      *("" if x is None else f"{x:,}" for x in counts), escape(reason or ""))
    console.print(table)


@app.command()
def tables() -> None:
    """List the tables of the warehouse with their row counts."""
    from yibao.catalog import Catalog
    from yibao.engine import spark_session

    settings = _settings()
    cat = Catalog(spark_session(settings), settings)
    table = Table("schema", "table", "rows", "location")
    for schema, name in cat.tables():
        table.add_row(schema, name, f"{cat.read(schema, name).count():,}", str(cat.path(schema, name)))
    console.print(table)




quality_app = typer.Typer(help="Data quality: check and gate a layer (default), list holds, record a steward's "
                                "release or hold.")
app.add_typer(quality_app, name="quality")


@quality_app.callback(invoke_without_command=True)
def quality(
    ctx: typer.Context,
    layer: str = typer.Option("bronze", "--layer", help="bronze (gate batches into silver), silver or gold."),
    table: Optional[list[str]] = typer.Option(None, "--table", "-t", help="Only this table of the layer "
                                                                          "(repeatable)."),
    force: bool = typer.Option(False, "--force", help="Re-check bronze tables already released."),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 when a table is held (default: exit 0; a hold is "
                                                        "a normal outcome, downstream keeps reading the last release)."),
) -> None:
    """Run the data-quality checks (Great Expectations), release or hold each batch, write the reports.
    Subcommands: holds, release, hold."""
    if ctx.invoked_subcommand is not None:
        return
    from yibao.quality import run_quality

    settings = _settings()
    with _writing(settings, f"yibao quality --layer {layer}"):
        run = run_quality(settings, layer=layer, tables=table or None, force=force)
    out = Table("table", "batch", "version", "rows", "checked", "status", "blocking", "warnings", "s")
    for t in run.tables:   # checked: the rows of the batches since the release (bronze), else the whole table
        out.add_row(t.table, t.batch_id or "", "" if t.delta_version is None else str(t.delta_version), f"{t.rows:,}",
                    f"{t.rows_checked:,}", t.status, str(len(t.blocking)),
                    str(len(t.warnings)), f"{t.seconds:.1f}")
    console.print(out)
    for t in run.held:
        for r in t.blocking:
            console.print(f"[red]held {t.table}: {r['title']} ({r['unexpected_count'] if r['unexpected_count'] is not None else r['observed_value']})")
    for t in run.tables:
        if t.note:
            console.print(f"[yellow]{t.table}: {t.note}")
    for ex in run.exclusions:
        if ex.orphan_rows or ex.waiting_rows:
            console.print(f"{ex.table}: {ex.orphan_rows:,} orphan rows quarantined, {ex.waiting_rows:,} rows waiting")
    for s in run.scores:
        console.print(f"{s['source']} {s['batch_id']}: score {s['score']:.1f}, {s['status']}")
    console.print(f"[green]quality run {run.run_id} in {run.seconds:.1f}s; reports: "
                  f"{Path(settings.data_root).resolve() / 'reports' / 'quality' / 'index.html'}; Data Docs: {run.docs_url}")
    if not run.ok and strict:
        raise typer.Exit(1)


@quality_app.command("holds")
def quality_holds() -> None:
    """List what is held now and why: batches held at the door, table versions held by the gate, rows
    waiting on a held parent; with the command that decides each."""
    from yibao.catalog import Catalog
    from yibao.engine import spark_session
    from yibao.quality.gate import pending

    settings = _settings()
    items = pending(Catalog(spark_session(settings), settings))
    if not items:
        console.print("[green]nothing is held")
        return
    kinds = {"door": "接收暂停 (held at the door: not applied)", "gate": "发布暂停 (held by the quality gate)",
             "waiting": "等待上级表 (rows waiting on a held parent)"}
    for i in items:
        console.print(f"[bold]{i['source']}/{i['source_table']} {i['batch_id']}[/bold]  {kinds[i['kind']]}",
                      soft_wrap=True)
        console.print(f"  {i['reason']}", soft_wrap=True, markup=False)
        console.print(f"  decide: {i['decide']}", soft_wrap=True, markup=False)


def _decide(action: str, table: str, batch_id: str, reason: str, user: Optional[str]) -> None:
    from yibao.catalog import Catalog
    from yibao.decisions import record
    from yibao.engine import spark_session

    if "/" not in table:
        console.print(f"[red]table must be <source>/<table>, e.g. medins/psn_info; got {table!r}")
        raise typer.Exit(2)
    source, source_table = table.split("/", 1)
    settings = _settings()
    try:
        d = record(Catalog(spark_session(settings), settings), action, source, source_table, batch_id, reason, user)
    except ValueError as e:
        console.print(f"[red]{e}")
        raise typer.Exit(2)
    console.print(f"[green]recorded {d['action']} of {source}/{source_table} batch {batch_id} by {d['decided_by']} "
                  f"(decision {d['decision_id']}); the next `yibao run` honours it")


@quality_app.command("release")
def quality_release(table: str = typer.Argument(..., help="<source>/<table>, e.g. police/hsreg_psn."),
                    batch_id: str = typer.Argument(..., help="The held batch, e.g. 20261102-001."),
                    reason: str = typer.Option(..., "--reason", help="Why it may go through (kept in the audit)."),
                    user: Optional[str] = typer.Option(None, "--user", help="Who decides (default: the OS user).")) -> None:
    """Release a held batch: the next run applies it (held at the door) or publishes it (held by the gate)."""
    _decide("release", table, batch_id, reason, user)


@quality_app.command("hold")
def quality_hold(table: str = typer.Argument(..., help="<source>/<table>, e.g. medins/psn_info."),
                 batch_id: str = typer.Argument(..., help="The batch to keep out, e.g. 20261108-001."),
                 reason: str = typer.Option(..., "--reason", help="Why it must not go through (kept in the audit)."),
                 user: Optional[str] = typer.Option(None, "--user", help="Who decides (default: the OS user).")) -> None:
    """Hold a batch: the next runs keep it out of silver and gold until a steward releases it."""
    _decide("hold", table, batch_id, reason, user)


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address Superset listens on."),
    port: int = typer.Option(8088, "--port", "-p", help="Port Superset listens on."),
    refresh: bool = typer.Option(False, "--refresh", help="Only (re)register the read path's views over the Delta "
                                                          "tables (after a pipeline run) and exit."),
    setup_only: bool = typer.Option(False, "--setup-only", help="Set up (venv, metadata, dashboards, roles, users) "
                                                                "but do not start the server."),
    workers: int = typer.Option(2, "--workers", min=1, help="gunicorn worker processes."),
    force_setup: bool = typer.Option(False, "--force-setup", help="Redo Superset's metadata setup (database, "
                                     "dashboards, roles, users) even when nothing it installs changed."),
) -> None:
    """Serve the dashboards: Superset in its own venv over the gold tables (metadata DB: $YIBAO_SUPERSET_DB_URI,
    default SQLite under <data_root>/superset)."""
    from yibao.dashboards import readpath, serve as srv

    settings = _settings()
    if refresh:
        reg = readpath.register(settings.data_root, settings.warehouse, map_boundaries=settings.map_boundaries)
        console.print(f"[green]read path {reg.path}: {len(reg.found)} Delta tables; not produced yet: "
                      f"{', '.join(reg.stubbed) or '-'}" + (f"; unreadable: {reg.unreadable}" if reg.unreadable else ""))
        if reg.map_source:
            console.print(f"maps: county outlines from {reg.map_source}"
                          + (f"; no outline for {', '.join(reg.map_unmatched)}" if reg.map_unmatched else ""))
        return
    started = time.time()
    timings = srv.setup(settings.data_root, settings.warehouse, log=console.print, force=force_setup)
    console.print(f"[green]set up in {time.time() - started:.0f}s: {timings}")
    if setup_only:
        return
    service = srv.start(settings.data_root, host=host, port=port, workers=workers, log=console.print)
    table = Table("user", "roles")
    for row in srv.logins():
        table.add_row(*row)
    console.print(f"[green]Superset at {service.url}  (log: {service.log})")
    console.print(table)
    console.print(f"passwords (generated on first setup, readable by you only): {srv.logins_file(settings.data_root)}")
    try:
        service.process.wait()
    except KeyboardInterrupt:
        service.stop()


# ---------------------------------------------------------------------------------------- 基金监管 suspects
suspects_app = typer.Typer(help="基金监管疑点清单: score (rules + graph + models), evaluate, list, the case workflow (assign, start, submit, close, reopen, comment, cases, review), export.",
                           no_args_is_help=True)
app.add_typer(suspects_app, name="suspects")


@contextmanager
def _exit_on(*errors: type[Exception], code: int = 1):
    """Print an expected error (bad input, nothing found) in red and exit ``code`` (1), instead of a traceback."""
    try:
        yield
    except errors as e:
        console.print(f"[red]{e}")
        raise typer.Exit(code)


BUSY_EXIT = 75    # EX_TEMPFAIL: another command is writing the warehouse; try again later


DISK_FULL_EXIT = 74   # EX_IOERR: the warehouse's (or the spill directory's) file system is full


def disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it wraps: the engine reports the OS error in its message) is a full disk."""
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            return True
        if "No space left on device" in str(exc) or "os error 28" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


@contextmanager
def _writing(settings, command: str, wait: float = 0.0):
    """Hold the warehouse lock (yibao.lock) while a command writes; another writer means exit 75 with who it is.
    The command runs under the watchdog (yibao.watchdog): an engine idle with work outstanding means exit 70.
    A full disk means exit 74 with what to do, not a stack trace: every write is one Delta commit, so what was
    committed stays whole, and the rerun after freeing space resumes (an interrupted batch is taken again)."""
    from yibao.lock import WarehouseBusy, warehouse_lock
    from yibao.watchdog import HUNG_EXIT, EngineHung, watch

    try:
        with warehouse_lock(settings, command, wait=wait), watch(settings, command):
            yield
    except WarehouseBusy as e:
        console.print(f"[red]{e}")
        raise typer.Exit(BUSY_EXIT)
    except EngineHung as e:
        console.print(f"[red]{e}")
        raise typer.Exit(HUNG_EXIT)
    except Exception as e:
        if not disk_full(e):
            raise
        first = str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__
        console.print(f"[red]{command}: the disk is full (No space left on device: {first}). Nothing committed is "
                      f"lost. Free space on the file systems of the warehouse ({settings.warehouse}) and the spill "
                      f"directory ({settings.spill}), then run the command again: it resumes where it stopped.")
        raise typer.Exit(DISK_FULL_EXIT)


def _stepped(progress: Progress, title: str, steps: list[str], names: dict[str, str]):
    """A progress bar over a stage's named steps; returns the ``on_step(step, seconds)`` callback that prints each
    finished step's time and names the next one."""
    task = progress.add_task(f"{title}: {names[steps[0]]}", total=len(steps))

    def on_step(step: str, seconds: float) -> None:
        progress.console.print(f"{names[step]}: {seconds:,.1f}s")
        nxt = steps.index(step) + 1
        progress.update(task, advance=1, description=f"{title}: {names[steps[nxt]]}" if nxt < len(steps) else title)

    return on_step


@suspects_app.command("score")
def suspects_score(fraud_config: Optional[Path] = typer.Option(None, "--fraud-config", help="rules.toml to use "
                                                                 "(default: models/fraud/rules.toml or $YIBAO_FRAUD_CONFIG).")) -> None:
    """Run rules R01–R09, the co-visit graph and the models; publish gold.fraud_suspect."""
    from yibao.fraud import run_fraud
    from yibao.fraud.pipeline import STEPS

    names = {"rules": "规则 R01–R07、R09", "graph": "共同就诊图 R08", "features": "结算特征", "model": "模型训练",
             "score": "全量评分", "suspects": "疑点清单", "standing": "医师记分与机构信用"}
    with Progress() as progress:
        on_step = _stepped(progress, "疑点评分", STEPS, names)
        settings = _settings()
        with _writing(settings, "yibao suspects score"):
            s = run_fraud(settings, str(fraud_config) if fraud_config else None, on_step)
    table = Table("rule", "hits")
    for code, n in sorted(s.hits_by_rule.items()):
        table.add_row(code, f"{n:,}")
    console.print(table)
    console.print(f"[green]{s.suspects:,} suspects {s.by_level}, {s.groups} groups; model {s.model_version} "
                  f"test {s.metrics}; {s.seconds.get('total')}s")
    if s.standing:
        console.print(f"医保支付资格记分: {s.standing.get('by_status')}; 机构信用等级: {s.standing.get('by_grade')}")


@suspects_app.command("evaluate")
def suspects_evaluate(out: Optional[Path] = typer.Option(None, "--out", "-o", help="Directory of report.json and "
                                                          "report.md (default: <data_root>/reports/fraud_evaluation/"
                                                          "<model version>)."),
                      fraud_config: Optional[Path] = typer.Option(None, "--fraud-config", help="rules.toml to use.")) -> None:
    """Evaluate model alone, rules alone and both on a time-split hold-out of the audits (after `score`)."""
    from yibao.fraud.evaluate import SUBJECTS, VARIANTS, evaluate

    with console.status("评估模型（按稽核日期留出检验）…"):
        try:
            rep = evaluate(_settings(), str(fraud_config) if fraud_config else None, out)
        except ValueError as e:
            console.print(f"[red]{e}")
            raise typer.Exit(1)
    if rep.get("note"):
        console.print(f"[yellow]{rep['note']}")
    for subject, per in rep.get("results", {}).items():
        if "note" in per:
            console.print(f"{SUBJECTS[subject]}: {per['note']}")
            continue
        table = Table(SUBJECTS[subject], "ROC AUC", "PR AUC", *(f"P@{k}" for k in rep["k"]))
        for v, m in per.items():
            table.add_row(VARIANTS[v], *(f"{m[x]:.3f}" if x in m else "—"
                                         for x in ("roc_auc", "pr_auc", *(f"precision@{k}" for k in rep["k"]))))
        console.print(table)
    console.print(f"[green]report: {rep['path']}/report.md")


@suspects_app.command("list")
def suspects_list(limit: int = typer.Option(20, "--limit", "-n"),
                  level: Optional[str] = typer.Option(None, "--level", help="高 / 中 / 低 (or high / medium / low).")) -> None:
    """Show the top of the ranked suspect list."""
    from yibao.fraud.suspects import list_suspects

    df = list_suspects(_settings(), limit=limit, level=level)
    table = Table(*df.columns)
    for row in df.itertuples(index=False):
        table.add_row(*("" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v)) for v in row))
    console.print(table)


@suspects_app.command("review")
def suspects_review(suspect_id: str = typer.Argument(..., help="疑点编号 (suspect_id)."),
                    status: str = typer.Option(..., "--status", help="待核查 / 核查中 / 已确认 / 已排除."),
                    reviewer: str = typer.Option(..., "--reviewer", help="Who decides."),
                    note: str = typer.Option("", "--note", help="Reason, findings.")) -> None:
    """Record a reviewer's decision (kept across re-scores; 已确认/已排除 become training labels)."""
    from yibao.fraud.suspects import review

    with _exit_on(ValueError):
        r = review(_settings(), suspect_id, status, reviewer, note)
    console.print(f"[green]{r['suspect_id']}: {r['prev_status']} → {r['status']} ({r['reviewer']})")


def _case_action(suspect_id: str, action: str, by: str, note: str = "", **kw) -> None:
    """One action of the case workflow (yibao.fraud.cases), printed or refused with the reason."""
    from yibao.fraud.cases import ACTION_CN, act

    try:
        r = act(_settings(), suspect_id, action, by, note, **kw)
    except ValueError as e:
        console.print(f"[red]{e}")
        raise typer.Exit(1)
    extra = f"，承办人 {r['assignee']}，期限 {r['deadline']}" if r["assignee"] else ""
    att = f"，附件 {r['attachment']}" if r["attachment"] else ""
    console.print(f"[green]{r['suspect_id']}: {ACTION_CN[r['action']]}，{r['prev_status']} → {r['status']}"
                  f"（{r['reviewer']}）{extra}{att}")


_BY = typer.Option(..., "--by", help="Who acts (recorded in the audit log).")
_NOTE = typer.Option("", "--note", help="Reason, findings.")
_ATTACH = typer.Option(None, "--attach", help="A file to attach (copied into the case folder).")


@suspects_app.command("assign")
def suspects_assign(suspect_id: str = typer.Argument(..., help="疑点编号."),
                    to: str = typer.Option(..., "--to", help="The investigator (承办人)."),
                    deadline: Optional[str] = typer.Option(None, "--deadline", help="YYYY-MM-DD (default: "
                                                           "[review] default_deadline_days from today)."),
                    by: str = _BY, note: str = _NOTE) -> None:
    """Assign a case to an investigator with a deadline (待核查/已分派/核查中 → 已分派)."""
    _case_action(suspect_id, "assign", by, note, assignee=to, deadline=deadline)


@suspects_app.command("start")
def suspects_start(suspect_id: str = typer.Argument(..., help="疑点编号."), by: str = _BY, note: str = _NOTE) -> None:
    """Start investigating (→ 核查中)."""
    _case_action(suspect_id, "start", by, note)


@suspects_app.command("submit")
def suspects_submit(suspect_id: str = typer.Argument(..., help="疑点编号."), by: str = _BY, note: str = _NOTE,
                    attach: Optional[Path] = _ATTACH) -> None:
    """Submit the findings for review (核查中 → 已提交)."""
    _case_action(suspect_id, "submit", by, note, attach=attach)


@suspects_app.command("close")
def suspects_close(suspect_id: str = typer.Argument(..., help="疑点编号."),
                   result: str = typer.Option(..., "--result", help="已确认 (confirmed) or 已排除 (dismissed)."),
                   by: str = _BY, note: str = _NOTE, attach: Optional[Path] = _ATTACH) -> None:
    """Conclude a case: confirmed or dismissed (both become labels of the next scoring)."""
    action = {"已确认": "confirm", "confirmed": "confirm", "已排除": "dismiss", "dismissed": "dismiss"}.get(result)
    if action is None:
        console.print("[red]--result must be 已确认 or 已排除")
        raise typer.Exit(1)
    _case_action(suspect_id, action, by, note, attach=attach)


@suspects_app.command("reopen")
def suspects_reopen(suspect_id: str = typer.Argument(..., help="疑点编号."), by: str = _BY, note: str = _NOTE) -> None:
    """Reopen a concluded case (已确认/已排除 → 核查中)."""
    _case_action(suspect_id, "reopen", by, note)


@suspects_app.command("comment")
def suspects_comment(suspect_id: str = typer.Argument(..., help="疑点编号."), by: str = _BY, note: str = _NOTE,
                     attach: Optional[Path] = _ATTACH) -> None:
    """Add a comment or an attachment to a case (its status stays)."""
    _case_action(suspect_id, "comment", by, note, attach=attach)


@suspects_app.command("cases")
def suspects_cases(assignee: Optional[str] = typer.Option(None, "--assignee", help="Only this investigator's cases."),
                   overdue: bool = typer.Option(False, "--overdue", help="Only cases past their deadline."),
                   limit: int = typer.Option(50, "--limit", "-n")) -> None:
    """The open cases (已分派/核查中/已提交), most overdue first, and each investigator's load."""
    from yibao.fraud.cases import queue

    q, load = queue(_settings(), assignee=assignee, overdue_only=overdue, limit=limit)
    table = Table("状态", "承办人", "期限", "逾期天数", "最后操作人")
    table.add_column("疑点编号", no_wrap=True, min_width=17)
    for r in q.itertuples():
        table.add_row(r.status, r.assignee or "", "" if pd_isna(r.deadline) else str(r.deadline.date()),
                      str(r.days_overdue), r.reviewer or "", r.suspect_id)
    console.print(table)
    lt = Table("承办人", "在办", "逾期", "已办结")
    for r in load.itertuples():
        lt.add_row(r.assignee, str(r.open), str(r.overdue), str(r.concluded))
    console.print(lt)


def pd_isna(v) -> bool:
    import pandas as pd

    return v is None or bool(pd.isna(v))


@suspects_app.command("export")
def suspects_export(out: Path = typer.Option(..., "--out", "-o", help="File to write."),
                    fmt: str = typer.Option("xlsx", "--format", help="xlsx or csv."),
                    region: Optional[str] = typer.Option(None, "--region", help="Division code prefix, e.g. 6101."),
                    level: Optional[list[str]] = typer.Option(None, "--level", help="高/中/低 (repeatable or comma list)."),
                    status: Optional[str] = typer.Option(None, "--status", help="Only this review status."),
                    role: Optional[str] = typer.Option(None, "--role", help="supervisor (masked) / auditor_full / ..."),
                    user: Optional[str] = typer.Option(None, "--user", help="Who exports (default: the OS user).")) -> None:
    """Export the suspect list for supervisors (Chinese headers, masked per role, audited in meta.export_audit)."""
    from yibao.fraud.suspects import export

    try:
        rec = export(_settings(), out, fmt=fmt, region=region, levels=level, role=role, user=user, status=status)
    except ValueError as e:
        console.print(f"[red]{e}")
        raise typer.Exit(1)
    console.print(f"[green]wrote {rec['row_count']:,} rows to {rec['file']} (role {rec['role']}, "
                  f"unmasked: {rec['unmasked'] or 'none'}); audit id {rec['export_id']}")


# ---------------------------------------------------------------------------------------- 基金运行预测 forecast
forecast_app = typer.Typer(help="基金运行预测 (fund sustainability forecast): projected income, expense, balance, months "
                                "payable and risk level per pooling region x insutype, the first warning month, and "
                                "the backtest (models/forecast/README.md).", no_args_is_help=True)
app.add_typer(forecast_app, name="forecast")


@forecast_app.command("run")
def forecast_run(vars_: Optional[str] = typer.Option(None, "--vars", help="dbt vars for this run, YAML or JSON, e.g. "
                                                     "'{forecast_horizon_months: 24}': the forecast_* assumptions "
                                                     "(default: dbt_project.yml, block 'fund forecast') and the risk_* "
                                                     "thresholds the models classify with.")) -> None:
    """Forecast every pooling region x insutype of gold.fund_operation (statsmodels Holt-Winters, population-ageing
    adjustment) into silver.fund_forecast_series, build gold.fund_forecast and gold.fund_forecast_warning (dbt, the
    risk rule of fund_operation), and backtest on the last months into gold.fund_forecast_backtest."""
    import yaml

    from yibao.forecast import run_forecast
    from yibao.forecast.pipeline import STEPS

    try:
        overrides = yaml.safe_load(vars_) if vars_ else None
    except yaml.YAMLError as e:
        console.print(f"[red]--vars is not YAML/JSON: {e}")
        raise typer.Exit(2)
    if overrides is not None and not isinstance(overrides, dict):
        console.print("[red]--vars must be a mapping, e.g. '{forecast_horizon_months: 24}'")
        raise typer.Exit(2)
    names = {"read": "读取基金运行 (gold.fund_operation)", "fit": "模型拟合 (Holt-Winters)",
             "write": "写入预测序列 (silver)", "models": "预测与预警模型 (dbt)", "backtest": "回测 (backtest)"}
    with Progress() as progress:
        on_step = _stepped(progress, "基金运行预测", STEPS, names)
        try:
            settings = _settings()
            with _writing(settings, "yibao forecast run"):
                s = run_forecast(settings, overrides, on_step)
        except (ValueError, RuntimeError) as e:
            console.print(f"[red]{e}")
            raise typer.Exit(1)
    table = Table("统筹区", "险种", "当前等级", "预警月份", "预警等级", "最差等级", "基金穿底")
    for w in s.warnings:
        table.add_row(w["admdvs"], w["insutype"], w["actual_risk_level"] or "", w["first_warning_ym"],
                      w["first_warning_level"], w["worst_risk_level"] or "", w["exhaustion_ym"] or "")
    console.print(table)
    bt = Table("measure", "pairs", "MAPE mean %", "MAPE max %", "naive MAPE mean %")
    for measure in ("income", "expense", "expense_trend"):
        rows = [r for r in s.backtest if r["measure"] == measure and r["mape"] is not None]
        if rows:
            bt.add_row(measure, str(len(rows)), f"{sum(r['mape'] for r in rows) / len(rows):.2f}",
                       f"{max(r['mape'] for r in rows):.2f}",
                       f"{sum(r['mape_naive'] for r in rows) / len(rows):.2f}")
    console.print(bt)
    for admdvs, insutype, reason in s.skipped:
        console.print(f"[yellow]no forecast for {admdvs}/{insutype}: {reason}")
    v = s.vars
    console.print(f"[green]{s.forecast} of {s.pairs} pairs forecast for {v['forecast_horizon_months']} months "
                  f"(60+ share +{v['forecast_ageing_share_growth']:.3f}/year, cost ratio "
                  f"{v['forecast_elderly_cost_ratio']:g}; backtest on the last {v['forecast_backtest_months']} months), "
                  f"{len(s.warnings)} reach a risk level; {s.seconds.get('total')}s")


# ------------------------------------------------------------------------ 国家下发名单核查结果 national return
national_app = typer.Typer(help="国家下发未参保名单: the verification file returned to the national platform, one file "
                                "per prefecture (gold.national_list_return; yibao/national.py).", no_args_is_help=True)
app.add_typer(national_app, name="national")


@national_app.command("export")
def national_export(out: Path = typer.Option(..., "--out", "-o", help="Folder for the files (one per prefecture)."),
                    fmt: str = typer.Option("xlsx", "--format", help="xlsx or csv (UTF-8 with BOM)."),
                    region: Optional[str] = typer.Option(None, "--region", help="Only this prefecture, e.g. 610100 or 6101."),
                    user: Optional[str] = typer.Option(None, "--user", help="Who exports (default: the OS user).")) -> None:
    """Write 核查结果_<地市代码>_<地市>.xlsx per prefecture: each entry of the national list as sent down (ID number,
    name, hukou division, batch) with its result (核实未参保 / 已参保 / 已死亡 / 户籍已迁出或注销 / 未匹配到人员), the fact
    behind it and the reference date.  ID numbers and names are unmasked (the file goes back to the national
    platform); the export is recorded in meta.export_audit."""
    from yibao.national import export_return

    try:
        rec = export_return(_settings(), out, fmt=fmt, region=region, user=user)
    except (ValueError, LookupError) as e:
        console.print(f"[red]{e}")
        raise typer.Exit(1)
    table = Table("地市", "条数", "文件")
    for f in rec["files"]:
        code = f.name.split("_")[1]
        table.add_row(code, f"{rec['regions'].get(code, 0):,}", str(f))
    console.print(table)
    console.print(f"[green]{rec['rows']:,} entries in {len(rec['files'])} files; audit id {rec['export_id']}")


# ------------------------------------------------------------------------ 审计 audit of personal data
audit_app = typer.Typer(help="审计: who read or exported personal data: dashboard reads of personal-data datasets "
                             "(<data_root>/audit, written by Superset) and exports (meta.export_audit).",
                        no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("access")
def audit_access(since: Optional[str] = typer.Option(None, "--since", help="UTC date or time, e.g. 2026-12-01."),
                 user: Optional[str] = typer.Option(None, "--user", help="Only this Superset user."),
                 limit: int = typer.Option(50, "--limit", "-n", help="The most recent rows to show.")) -> None:
    """Reads of personal data through the dashboards: when, who, which dataset and chart, format, rows, status."""
    from yibao.export import read_access_audit

    rows = read_access_audit(_settings().data_root, since=since, user=user)
    table = Table("时间 (UTC)", "用户", "角色", "数据集", "图表", "格式", "行数", "状态")
    for r in rows[-limit:]:
        table.add_row(r["at"][:19], str(r.get("username")), ",".join(r.get("roles") or []), r["dataset"],
                      str(r.get("slice_id") or ""), r.get("format") or "", "" if r.get("rows") is None else f"{r['rows']:,}",
                      str(r.get("status")))
    console.print(table)
    console.print(f"{len(rows):,} reads of personal data" + (f" since {since}" if since else ""))


@audit_app.command("exports")
def audit_exports(limit: int = typer.Option(50, "--limit", "-n", help="The most recent exports to show.")) -> None:
    """Exports of personal data (the suspect list, the national list's verification file) from meta.export_audit."""
    from yibao.catalog import Catalog
    from yibao.engine import spark_session

    settings = _settings()
    cat = Catalog(spark_session(settings), settings)
    if not cat.exists("meta", "export_audit"):
        console.print("no export yet")
        return
    rows = cat.read("meta", "export_audit").orderBy("exported_at", ascending=False).limit(limit).collect()
    table = Table("时间 (UTC)", "用户", "系统用户", "角色", "行数", "未脱敏", "文件")
    for r in rows:
        table.add_row(str(r["exported_at"])[:19], r["user"], r["os_user"], r["role"], f"{r['row_count']:,}",
                      r["unmasked"] or "", r["file"])
    console.print(table)


# ------------------------------------------------------------------------ 订阅报表与预警 reports and alerts
reports_app = typer.Typer(help="订阅报表与预警: periodic reports (月报/季报/年报, xlsx per region) and alerts (new "
                               "high-risk suspects, fund risk level changes, held batches) delivered to subscribers' "
                               "folders and, with smtp_host set, by mail (yibao.reports).", no_args_is_help=True)
app.add_typer(reports_app, name="reports")


_WHO = typer.Option(None, "--by", help="Who (recorded; default: the OS user).")


def _seed() -> Path:
    from yibao.regions import divisions_seed

    return divisions_seed(_settings())


@reports_app.command("subscribe")
def reports_subscribe(recipient: str = typer.Option(..., "--recipient", "-r", help="User name; also the name of "
                                                     "the recipient's folder in the outbox."),
                      region: str = typer.Option(..., "--region", help="6-digit division code: the province "
                                                 "(610000), a prefecture (610100) or a county (610102)."),
                      topic: str = typer.Option(..., "--topic", "-t", help="monthly | quarterly | annual (reports); "
                                                "high_risk_suspects | fund_risk_change | batch_held (alerts)."),
                      email: Optional[str] = typer.Option(None, "--email", help="Also mail it here (needs smtp_host)."),
                      by: Optional[str] = _WHO) -> None:
    """Subscribe a recipient to a report or an alert for a region (the same subscription twice is one)."""
    from yibao.catalog import Catalog
    from yibao.engine import spark_session
    from yibao.reports.subscriptions import TOPICS, subscribe

    settings = _settings()
    with _exit_on(ValueError):
        rec = subscribe(Catalog(spark_session(settings), settings), _seed(), recipient, region, topic, email=email,
                        by=by)
    console.print(f"[green]subscription {rec['subscription_id']}: {rec['recipient']} receives "
                  f"{TOPICS[rec['topic']]} of {rec['region_name']} ({rec['region']})"
                  + (f", mailed to {rec['email']}" if rec["email"] else "")
                  + f"; files in {settings.outbox / rec['recipient']}")


@reports_app.command("unsubscribe")
def reports_unsubscribe(subscription_id: str = typer.Argument(..., help="The subscription's id (yibao reports list)."),
                        by: Optional[str] = _WHO) -> None:
    """Cancel a subscription (the row is kept, inactive, with who cancelled it and when)."""
    from yibao.catalog import Catalog
    from yibao.engine import spark_session
    from yibao.reports.subscriptions import unsubscribe

    settings = _settings()
    with _exit_on(LookupError):
        unsubscribe(Catalog(spark_session(settings), settings), subscription_id, by=by)
    console.print(f"[green]subscription {subscription_id} cancelled")


@reports_app.command("list")
def reports_list(all_: bool = typer.Option(False, "--all", help="Include cancelled subscriptions.")) -> None:
    """The subscriptions: who receives what, for which region."""
    from yibao.catalog import Catalog
    from yibao.engine import spark_session
    from yibao.reports.subscriptions import TOPICS, subscriptions

    settings = _settings()
    table = Table("id", "recipient", "e-mail", "region", "topic", "since", "active")
    for s in subscriptions(Catalog(spark_session(settings), settings), active_only=not all_):
        table.add_row(s["subscription_id"], s["recipient"], s["email"] or "", f"{s['region']} {s['region_name']}",
                      TOPICS[s["topic"]], str(s["created_at"])[:19], "yes" if s["active"] else "no")
    console.print(table)


@reports_app.command("run")
def reports_run(force: bool = typer.Option(False, "--force", help="Rebuild and deliver the latest period's "
                                           "reports even if already delivered."),
                subscription: Optional[str] = typer.Option(None, "--subscription", help="Only this subscription.")
                ) -> None:
    """Deliver what is due: each report period ended since the last delivery, each alert's new items.  The
    pipeline does this after every run; reruns deliver nothing twice."""
    from yibao.reports import run_reports

    settings = _settings()
    with Progress() as progress:
        task = progress.add_task("reports", total=None)
        with _exit_on(LookupError), _writing(settings, "yibao reports run"):
            s = run_reports(settings, force=force, only=subscription,
                            on_item=lambda item: progress.update(task, description=f"reports: {item}"))
    table = Table("recipient", "topic", "period", "rows", "status", "file")
    for d in s.delivered:
        table.add_row(d["recipient"], d["topic"], d["period"], f"{d['rows']:,}", d["status"], d["file"])
    console.print(table)
    console.print(f"[green]{len(s.delivered)} delivered, {s.mailed} mailed, {s.skipped} with nothing due")
    for f in s.mail_failures:
        console.print(f"[yellow]mail failed (re-sent next run): {f}")
    for f in s.failures:
        console.print(f"[red]not delivered (meta.report_delivery status failed): {f}")
    if s.failures:
        raise typer.Exit(1)


@reports_app.command("deliveries")
def reports_deliveries(limit: int = typer.Option(30, "--limit", "-n")) -> None:
    """The latest deliveries (meta.report_delivery)."""
    from yibao.reports.delivery import deliveries

    table = Table("delivered (UTC)", "recipient", "topic", "region", "period", "rows", "channel", "status")
    for d in deliveries(_settings(), limit):
        table.add_row(str(d["delivered_at"])[:19], d["recipient"], d["topic"], d["region"], d["period"],
                      f"{d['row_count']:,}", d["channel"], d["status"])
    console.print(table)


@reports_app.command("build")
def reports_build(region: str = typer.Option(..., "--region", help="6-digit division code of the province."),
                  kind: str = typer.Option("monthly", "--kind", help="monthly | quarterly | annual."),
                  period: Optional[str] = typer.Option(None, "--period", help="2026-10 | 2026Q3 | 2025 (default: the "
                                                       "latest ended before the reference date)."),
                  out: Path = typer.Option(Path("."), "--out", "-o", help="File or folder to write.")) -> None:
    """Write one report now, outside any subscription (not recorded as a delivery)."""
    from yibao.reports.delivery import build_one

    with _exit_on(ValueError):
        path = build_one(_settings(), region, kind, period, out)
    console.print(f"[green]wrote {path}")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def transform(
    ctx: typer.Context,
    reference_date: Optional[str] = typer.Option(None, "--reference-date", help="YYYY-MM-DD (default: configured)."),
) -> None:
    """Build the silver and gold layers with dbt (seed + run + test; the seeds only when their files changed
    since they were loaded), or run one dbt command given after the options, e.g. `yibao transform run -s marts`, `yibao transform docs generate`, `yibao transform source
    freshness`."""
    from yibao.transform import build, run_dbt

    args = list(ctx.args)
    settings = _settings(reference_date=date.fromisoformat(reference_date) if reference_date else None)
    started = time.time()
    try:
        with _writing(settings, "yibao transform"):
            if args:
                run_dbt(settings, args)
            else:
                build(settings)
    except RuntimeError as e:
        console.print(f"[red]{e}")
        raise typer.Exit(1)
    console.print(f"[green]dbt {' '.join(args) if args else 'build'} done in {time.time() - started:.1f}s")


@app.command("run")
def run_all(landing: Optional[Path] = typer.Option(None, "--landing", "-l", help="Landing zone (default: configured)."),
            serve: bool = typer.Option(True, "--serve/--no-serve", help="Refresh the dashboards' read path at the end."),
            strict: bool = typer.Option(False, "--strict", help="Exit 1 on any hold or rejection too (for CI and "
                                                                "bureaus that want that); by default a run that "
                                                                "completed exits 0 and prints what was held."),
            full_refresh: bool = typer.Option(False, "--full-refresh", help="Rebuild every dbt model from the "
                                              "released bronze tables instead of taking only what changed (the "
                                              "person_id registry is kept, so ids and review decisions survive)."),
            wait: float = typer.Option(0.0, "--wait", min=0, help="Seconds to wait for another command writing the "
                                       "warehouse to finish (default: refuse at once, exit 75)."),
            ) -> None:
    """Run the whole pipeline once: ingest, quality gate, dbt, quality, fund forecast, fraud, serving refresh; print a
    summary.
    Exit status: 1 when a stage failed (or, with --strict, when anything was held or rejected), 75 when another
    command is writing the warehouse (yibao.lock), else 0."""
    from yibao.orchestration.pipeline import run_pipeline

    settings = _settings()
    started = time.time()
    with Progress() as progress:
        task = progress.add_task("pipeline", total=None)
        with _writing(settings, "yibao run", wait=wait):
            summary = run_pipeline(settings, landing, serve=serve, full_refresh=full_refresh,
                                   on_stage=lambda name: progress.update(task, description=f"pipeline: {name}"))
    table = Table("stage", "seconds")
    for name, seconds in summary.stages.items():
        table.add_row(name, f"{seconds:.1f}")
    console.print(table)
    console.print(f"batches taken: {len(summary.batches_applied)}, rejected: {len(summary.batches_rejected)}; "
                  f"rows landed {summary.rows_landed:,}, quarantined {summary.rows_quarantined:,}")
    if summary.rows_excluded:
        orphans = sum(o for o, _ in summary.rows_excluded.values())
        waiting = sum(w for _, w in summary.rows_excluded.values())
        console.print(f"kept out of silver by the quality gate: {orphans:,} orphan rows, {waiting:,} rows waiting "
                      f"on a held parent (meta.quarantine)")
    for s in summary.quality_scores:
        console.print(f"quality {s['source']} {s['batch_id']}: {s['score']:.1f} ({s['status']})")
    if summary.uninsured is not None:
        console.print(f"uninsured persons: {summary.uninsured:,}")
    if summary.forecast_pairs is not None:
        console.print(f"fund forecast: {summary.forecast_pairs[0]} of {summary.forecast_pairs[1]} region x insutype "
                      f"pairs forecast, {len(summary.forecast_warnings)} reach a risk level (gold.fund_forecast_warning)")
        for w in summary.forecast_warnings:
            console.print(f"  forecast warning {w}")
    if summary.suspects_by_level:
        console.print("suspects: " + ", ".join(f"{k} {v:,}" for k, v in sorted(summary.suspects_by_level.items())))
    if summary.reports_delivered:
        console.print(f"reports and alerts delivered to {settings.outbox}: " + "; ".join(summary.reports_delivered))
    for w in summary.report_warnings:
        console.print(f"[yellow]reports: {w}")
    if summary.bytes_freed:
        console.print(f"disk freed by vacuum: {summary.bytes_freed / 2**20:,.1f} MiB")
    for item in summary.holds + [f"not vacuumed: {w}" for w in summary.maintenance_warnings]:
        console.print(f"[yellow]{item}")
    if summary.holds:
        console.print("[yellow]a steward decides with `yibao quality holds`, `yibao quality release|hold ...`")
    for err in summary.errors + [f"quality failure in {t}" for t in summary.quality_failures]:
        console.print(f"[red]{err}")
    console.print(f"[green]pipeline finished in {time.time() - started:.1f}s" if summary.ok
                  else f"[red]pipeline finished with errors in {time.time() - started:.1f}s")
    if not summary.ok or (strict and not summary.strict_ok):
        raise typer.Exit(1)


@app.command()
def maintain(optimize: bool = typer.Option(False, "--optimize", help="First compact the small files that daily "
                                           "merges leave (a new version; readers are unaffected)."),
             retain_hours: Optional[int] = typer.Option(None, "--retain-hours", min=0, help="Keep the files of "
                                                        "versions replaced less than this long ago (default: the "
                                                        "setting vacuum_retain_hours)."),
             ) -> None:
    """Delete the files of Delta table versions nobody reads any more (and with --optimize compact small files).
    The bronze versions the quality gate released or holds are always kept.  Run it when no pipeline runs;
    every `yibao run` already vacuums at its end."""
    from yibao.maintenance import maintain as run_maintenance

    settings = _settings()
    with _writing(settings, "yibao maintain"), Progress() as progress:
        task = progress.add_task("maintain", total=None)
        result = run_maintenance(settings, optimize=optimize, retain_hours=retain_hours,
                                 on_table=lambda name, i, n: progress.update(task, total=n, completed=i,
                                                                             description=f"maintain: {name}"))
    table = Table("table", "files deleted", "compacted", "MiB before", "MiB after")
    for t in result.tables:
        if t.files_deleted or t.compacted or t.error:
            table.add_row(f"{t.schema}.{t.table}", f"{t.files_deleted:,}", f"{t.compacted:,}",
                          f"{t.bytes_before / 2**20:,.1f}", f"{t.bytes_after / 2**20:,.1f}")
    console.print(table)
    console.print(f"{len(result.tables)} tables; {result.files_deleted:,} files deleted, "
                  f"{result.bytes_freed / 2**20:,.1f} MiB freed")
    for err in result.errors:
        console.print(f"[red]not maintained: {err}")
    if result.errors:
        raise typer.Exit(1)


@app.command()
def orchestrate(
    host: str = typer.Option("127.0.0.1", "--host", help="Address the Dagster UI listens on."),
    port: int = typer.Option(3000, "--port", "-p", help="Port of the Dagster UI."),
    home: Optional[Path] = typer.Option(None, "--home", help="DAGSTER_HOME: run history, schedules, sensor cursors "
                                                              "(default: <data_root>/dagster)."),
) -> None:
    """Start the orchestrator's web UI (Dagster, with its daemon: daily schedule, landing-zone sensor, retries)
    over the lakehouse asset graph (yibao.orchestration.definitions)."""
    import os
    import shutil
    import subprocess
    import sys

    settings = _settings()
    dagster_home = (home or Path(settings.data_root) / "dagster").resolve()
    dagster_home.mkdir(parents=True, exist_ok=True)
    conf = dagster_home / "dagster.yaml"
    if not conf.exists():  # runs share one warehouse: one run at a time, queued in order
        conf.write_text("run_queue:\n  max_concurrent_runs: 1\ntelemetry:\n  enabled: false\n")
    env = dict(os.environ, DAGSTER_HOME=str(dagster_home))
    from yibao import config as cfg
    if cfg._cli_config_file:   # the orchestrator's processes read the same settings file
        env["YIBAO_CONFIG"] = str(Path(cfg._cli_config_file).resolve())
    exe = shutil.which("dagster") or str(Path(sys.executable).with_name("dagster"))
    cmd = [exe, "dev", "-m", "yibao.orchestration.definitions", "-h", host, "-p", str(port)]
    console.print(f"[green]Dagster UI on http://{host}:{port}  (DAGSTER_HOME={dagster_home}); Ctrl-C stops it")
    try:
        raise typer.Exit(subprocess.call(cmd, env=env))
    except KeyboardInterrupt:
        raise typer.Exit(130)


@app.command()
def bench(
    persons: int = typer.Option(..., "--persons", "-n", min=100, help="Natural persons of the synthetic province."),
    work: Optional[Path] = typer.Option(None, "--work", "-w", help="Scratch directory: landing, warehouse, serving "
                                                                    "(default: <data_root>/bench-<persons>)."),
    reuse: bool = typer.Option(False, "--reuse", help="Keep the landing zone already in --work (no generate)."),
    stages: Optional[str] = typer.Option(None, "--stages", help="Comma-separated subset of: generate, ingest, "
                                         "quality_bronze, dbt, quality_silver, quality_gold, fraud, serving, "
                                         "dashboard_queries (default: all)."),
    peers: bool = typer.Option(False, "--peers", help="Also run the same ingestion and person deduplication on JVM "
                                                      "Apache Spark (local mode, Parquet) and on DuckDB."),
    runs: int = typer.Option(10, "--runs", min=1, help="Repetitions of each dashboard query."),
    seed: int = typer.Option(42, "--seed", "-s", help="Random seed of the generator."),
    gzip: bool = typer.Option(False, "--gzip", help="Generate the landing zone as .csv.gz files."),
    label: Optional[str] = typer.Option(None, "--label", help="Name of the results files (default: the persons)."),
    results_dir: Optional[Path] = typer.Option(None, "--results-dir", help="Where the results files go "
                                                                           "(default: benchmarks/results)."),
    days: int = typer.Option(0, "--days", min=0, help="Then N daily rounds: the next day's incremental batches "
                             "generated, and each stage of the daily run measured on the warehouse built. With "
                             "--reuse and no --stages: only the daily rounds, on the warehouse already in --work."),
) -> None:
    """Benchmark the pipeline at N persons: every stage a separate measured process (wall time, peak memory,
    rows/s, bytes on disk); results in benchmarks/results/bench-<label>.json and .md."""
    from yibao.benchmarks.harness import RESULTS, markdown, run_bench

    work = (work or Path(_settings().data_root) / f"bench-{persons}").resolve()
    chosen = tuple(s.strip() for s in stages.split(",") if s.strip()) if stages else None
    with Progress() as progress:
        task = progress.add_task("bench", total=None)

        def on_progress(stage: str, seconds: float, rss: int) -> None:
            progress.update(task, description=f"bench {persons:,}: {stage} {seconds:,.0f}s, {rss / 2**30:.1f} GiB")

        def on_done(stage: str, rec: dict) -> None:
            colour = "red" if rec.get("returncode") else "green"
            progress.console.print(f"[{colour}]{rec['title']}: {rec['seconds']:.1f}s, peak {rec['peak_rss_gib']:.2f} GiB"
                                   + (f", {rec['rows_per_second']:,} rows/s" if rec.get("rows_per_second") else ""))

        try:
            results = run_bench(persons, work, reuse=reuse, stages=chosen, seed=seed, runs=runs, label=label,
                                peers=peers, results_dir=(results_dir or RESULTS).resolve(), gzip=gzip, days=days,
                                on_progress=on_progress, on_stage_done=on_done)
        except (ValueError, FileNotFoundError) as e:
            console.print(f"[red]{e}")
            raise typer.Exit(2)
    console.print(markdown(results))
    console.print(f"results: {results['results_file']}")
    if not results["ok"]:
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
