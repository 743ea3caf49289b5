"""Take every new batch of the landing zone, in order, into bronze.

State lives in two tables: ``meta.ingest_batch`` (one row per delivered batch: running, applied,
rejected) and ``meta.ingest_log`` (one row per batch x table: applied or rejected, with row counts).
A batch already applied or rejected with the same content is skipped, so re-delivering it changes
nothing.  A run that is killed part-way leaves the batch ``running``; the next run re-does only the
tables not yet logged, with the same ingest time, and so ends in the state of one clean run.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from pyspark.sql import Row

from yibao.catalog import Catalog
from yibao.config import Settings
from yibao.console import Progress, console
from yibao.engine import spark_session
from yibao.faults import checkpoint
from yibao.ingestion.bronze import land
from yibao.ingestion.contract import SOURCES
from yibao.ingestion.manifest import BatchRejected, header_problem, read_manifest, verify_batch

BATCH_DDL = ("source string, batch_id string, status string, reason string, mode string, encoding string, "
             "extract_time string, files int, rows bigint, fingerprint string, started_at timestamp, "
             "finished_at timestamp")
LOG_DDL = ("source string, batch_id string, source_table string, file string, mode string, status string, "
           "rows_read bigint, rows_landed bigint, rows_quarantined bigint, rows_deleted bigint, reason string, "
           "finished_at timestamp")
DONE = ("applied", "rejected")


@dataclass
class IngestSummary:
    batches_applied: list[str] = field(default_factory=list)
    batches_rejected: list[tuple[str, str]] = field(default_factory=list)
    batches_skipped: list[str] = field(default_factory=list)
    files_rejected: list[tuple[str, str]] = field(default_factory=list)
    rows_landed: int = 0
    rows_quarantined: int = 0


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def discover(landing: Path, sources: list[str] | None = None) -> list[Path]:
    """Batch folders of known sources (or only of ``sources``), each source's batches in delivery (name) order."""
    found = []
    for source in SOURCES:
        if sources is not None and source not in sources:
            continue
        sdir = landing / source
        if sdir.is_dir():
            found += sorted(p for p in sdir.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
    return found


def unknown_folders(landing: Path) -> list[str]:
    if not landing.is_dir():
        return []
    return sorted(p.name for p in landing.iterdir()
                  if p.is_dir() and p.name not in SOURCES and not p.name.startswith((".", "_")))


def fingerprint(batch_dir: Path) -> str:
    """What identifies a delivery: the manifest bytes and the names and sizes of the files beside it."""
    h = hashlib.sha256()
    for p in sorted(batch_dir.iterdir()):
        if p.is_file():
            h.update(f"{p.name}\0{p.stat().st_size}\0".encode())
    manifest = batch_dir / "_manifest.json"
    if manifest.is_file():
        h.update(manifest.read_bytes())
    return h.hexdigest()


class Ledger:
    """The ingestion state tables, read once per run and updated row by row (upserts by key)."""

    def __init__(self, cat: Catalog):
        self.cat = cat
        cat.ensure("meta", "ingest_batch", BATCH_DDL)
        cat.ensure("meta", "ingest_log", LOG_DDL)
        self.batches = {(r.source, r.batch_id): r for r in cat.read("meta", "ingest_batch").collect()}
        self.logs = {(r.source, r.batch_id, r.source_table): r for r in cat.read("meta", "ingest_log").collect()}

    def _put(self, table: str, ddl: str, keys: tuple[str, ...], cache: dict, row: dict) -> None:
        """Upsert one state row (columns not given are null) and keep the in-memory copy in step.

        The copy holds every row of the table, so a key it lacks is new and is appended (a plain
        commit, several times cheaper than a merge); a known key is merged.
        """
        full = Row(**({c.split(" ")[0]: None for c in ddl.split(", ")} | row))
        key = tuple(row[k] for k in keys)
        df = self.cat.spark.createDataFrame([full], ddl)
        if key in cache:
            self.cat.upsert(df, "meta", table, list(keys))
        else:
            self.cat.append(df, "meta", table)
        cache[key] = full

    def put_batch(self, **row) -> None:
        self._put("ingest_batch", BATCH_DDL, ("source", "batch_id"), self.batches, row)

    def put_log(self, **row) -> None:
        self._put("ingest_log", LOG_DDL, ("source", "batch_id", "source_table"), self.logs, row)

    def latest_applied(self, source: str) -> str | None:
        ids = [b for (s, b), r in self.batches.items() if s == source and r.status == "applied"]
        return max(ids) if ids else None


def ingest(settings: Settings, landing: Path | None = None, sources: list[str] | None = None) -> IngestSummary:
    """``sources``: take only these sources' batches (the orchestrator ingests one source per step)."""
    landing = Path(landing or settings.landing)
    if not landing.is_dir():
        raise FileNotFoundError(f"landing zone {landing} does not exist")
    spark = spark_session(settings)
    cat = Catalog(spark, settings)
    ledger = Ledger(cat)
    summary = IngestSummary()
    for name in unknown_folders(landing):
        console.print(f"[yellow]ignored folder {name!r}: not a source of the contract ({', '.join(SOURCES)})")
    batches = discover(landing, sources)
    with Progress(console=console, transient=False) as progress:
        task = progress.add_task("ingest", total=len(batches))
        for batch_dir in batches:
            label = f"{batch_dir.parent.name}/{batch_dir.name}"
            progress.update(task, description=f"ingest {label}")
            _ingest_batch(cat, ledger, batch_dir, summary, progress)
            progress.advance(task)
    return summary


def _ingest_batch(cat: Catalog, ledger: Ledger, batch_dir: Path, summary: IngestSummary, progress) -> None:
    source, batch_id = batch_dir.parent.name, batch_dir.name
    label = f"{source}/{batch_id}"
    fp = fingerprint(batch_dir)
    known = ledger.batches.get((source, batch_id))
    if known is not None and known.status in DONE:
        if known.fingerprint == fp:
            summary.batches_skipped.append(label)
            return
        if known.status == "applied":
            reason = ("re-delivered with different content after it was applied; "
                      "deliver the correction as a new batch id")
            ledger.put_log(source=source, batch_id=batch_id, source_table="(batch)", status="rejected",
                           reason=reason, finished_at=_now())
            summary.batches_rejected.append((label, reason))
            return
    started = known.started_at if known is not None and known.status == "running" and known.fingerprint == fp \
        else _now()
    latest = ledger.latest_applied(source)
    try:
        if latest is not None and batch_id < latest:
            raise BatchRejected(f"arrived after the later batch {latest} was applied (out of order)")
        manifest = read_manifest(batch_dir)
        files = verify_batch(batch_dir, manifest)
    except BatchRejected as exc:
        ledger.put_batch(source=source, batch_id=batch_id, status="rejected", reason=exc.reason, fingerprint=fp,
                         started_at=started, finished_at=_now())
        summary.batches_rejected.append((label, exc.reason))
        return
    common = dict(source=source, batch_id=batch_id, mode=manifest.mode, encoding=manifest.encoding,
                  extract_time=manifest.extract_time, files=len(files), rows=sum(f.rows for f in files),
                  fingerprint=fp, started_at=started)
    ledger.put_batch(status="running", **common)
    rejected_files = []
    task = progress.add_task(f"  {label}", total=len(files))
    for f in files:
        progress.update(task, description=f"  {label} {f.spec.name} ({f.rows:,} rows)")
        logged = ledger.logs.get((source, batch_id, f.spec.name))
        if logged is not None and logged.status in DONE:
            if logged.status == "rejected":
                rejected_files.append(f.entry.name)
            progress.advance(task)
            continue
        problem = header_problem(f)
        if problem:
            ledger.put_log(source=source, batch_id=batch_id, source_table=f.spec.name, file=f.entry.name,
                           mode=manifest.mode, status="rejected", rows_read=f.rows, rows_landed=0,
                           rows_quarantined=0, rows_deleted=0, reason=problem, finished_at=_now())
            summary.files_rejected.append((f"{label}/{f.entry.name}", problem))
            rejected_files.append(f.entry.name)
        else:
            r = land(cat, f, manifest, started)
            ledger.put_log(source=source, batch_id=batch_id, source_table=f.spec.name, file=f.entry.name,
                           mode=manifest.mode, status="applied", rows_read=r.rows_read, rows_landed=r.rows_landed,
                           rows_quarantined=r.rows_quarantined, rows_deleted=r.rows_deleted, finished_at=_now())
            summary.rows_landed += r.rows_landed
            summary.rows_quarantined += r.rows_quarantined
        checkpoint("file")
        progress.advance(task)
    progress.remove_task(task)
    reason = f"file(s) rejected: {', '.join(rejected_files)}" if rejected_files else None
    ledger.put_batch(status="applied", reason=reason, finished_at=_now(), **common)
    summary.batches_applied.append(label)
