"""``yibao``: the one command line of the lakehouse.  Every command has ``--help``."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from yibao.config import load_settings
from yibao.console import Progress, console

app = typer.Typer(help="医保数据湖仓 yibao: enrollment (全民参保) and fund supervision (基金监管) lakehouse.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_show_locals=False)

_state: dict = {"config": None}


@app.callback()
def main(config: Optional[Path] = typer.Option(None, "--config", help="TOML settings file (default: ./yibao.toml "
                                                                          "or $YIBAO_CONFIG).")) -> None:
    _state["config"] = config


def _settings(**overrides):
    return load_settings(_state["config"]).with_(**overrides)


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
    persons: int = typer.Option(10_000, "--persons", "-n", min=100, help="Natural persons to simulate."),
    seed: int = typer.Option(42, "--seed", "-s", help="Random seed; the same seed gives the same files."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Landing zone to write (default: the configured "
                                                                  "landing root). Ground truth goes to OUT/_truth."),
    batches: int = typer.Option(1, "--batches", min=1, max=2, help="1: the initial full batch; 2: also a "
                                                                   "second, incremental week."),
    chunk_size: int = typer.Option(100_000, "--chunk-size", min=1_000, help="Persons generated per chunk "
                                                                             "(bounds memory: ~2 GiB per worker "
                                                                             "at 100k)."),
    workers: int = typer.Option(2, "--workers", min=1, max=2, help="Processes generating chunks (output is "
                                                                  "identical for any count)."),
    reference_date: Optional[str] = typer.Option(None, "--reference-date", help="YYYY-MM-DD (default: "
                                                                                 "configured)."),
) -> None:
    """Write a synthetic landing zone for all seven departments, plus its ground truth."""
    from yibao.synthetic.generate import generate as run

    settings = _settings()
    ref = date.fromisoformat(reference_date) if reference_date else settings.reference_date
    target = Path(out) if out else settings.landing
    started = time.time()
    with Progress() as progress:
        tasks: dict[str, int] = {}

        def report(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=total)
            progress.update(tasks[stage], completed=done, total=total)

        summary = run(target, persons=persons, seed=seed, reference_date=ref, batches=batches,
                      chunk_size=chunk_size, progress=report, workers=workers)
    table = Table("source", "table", "rows")
    for (source, name), n in sorted(summary.rows.items()):
        table.add_row(source, name, f"{n:,}")
    console.print(table)
    console.print(f"[green]wrote {target} (batches {', '.join(summary.batch_ids)}; ground truth in "
                  f"{target / '_truth'}) in {time.time() - started:.1f}s")


@app.command()
def ingest(landing: Optional[Path] = typer.Option(None, "--landing", "-l", help="Landing zone (default: "
                                                                                 "configured).")) -> None:
    """Take every new batch of the landing zone, in order, into bronze Delta tables."""
    from yibao.ingestion.ingest import ingest as run

    settings = _settings()
    started = time.time()
    s = run(settings, landing)
    console.print(f"[green]ingested in {time.time() - started:.1f}s: {len(s.batches_applied)} batch(es) applied, "
                  f"{len(s.batches_skipped)} already taken, {len(s.batches_rejected)} rejected; "
                  f"{s.rows_landed:,} rows landed, {s.rows_quarantined:,} quarantined")
    for label, reason in s.batches_rejected:
        console.print(f"[red]rejected batch {label}: {reason}")
    for label, reason in s.files_rejected:
        console.print(f"[red]rejected file {label}: {reason}")


@app.command("log")
def show_log(limit: int = typer.Option(50, help="Most recent batches to show.")) -> None:
    """Show the ingestion log: each batch with its status and row counts."""
    from yibao.catalog import Catalog
    from yibao.engine import spark_session

    settings = _settings()
    cat = Catalog(spark_session(settings), settings)
    if not cat.exists("meta", "ingest_log"):
        console.print("nothing ingested yet")
        raise typer.Exit(0)
    rows = (cat.read("meta", "ingest_log").orderBy("batch_id", "source", "source_table", ascending=False)
            .limit(limit).collect())
    table = Table("source", "batch", "table", "status", "read", "landed", "quarantined", "reason")
    for r in rows:
        table.add_row(r.source, r.batch_id, r.source_table, r.status, *(f"{x or 0:,}" for x in
                      (r.rows_read, r.rows_landed, r.rows_quarantined)), r.reason or "")
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


if __name__ == "__main__":
    app()
