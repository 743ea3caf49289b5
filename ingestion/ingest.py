"""Take every new batch of the landing zone, in order, into bronze.

State lives in two tables: ``meta.ingest_batch`` (one row per delivered batch: running, applied,
rejected) and ``meta.ingest_log`` (one row per batch x table: applied, rejected or held, with row
counts).  A batch already applied or rejected with the same content is skipped, so re-delivering it
changes nothing; a refused re-delivery is logged once per content (``fingerprint``).  A run that is
killed part-way leaves the batch ``running``; the next run re-does only the tables not yet logged, with
the same ingest time, and so ends in the state of one clean run.

Nothing of the landing zone is trusted: a batch folder whose name is not a batch id, a symbolic link
(file or folder), a damaged ``.gz`` or manifest is refused with its reason and recorded (the id as
data, never as SQL text), and every other batch still lands.

A ``full`` file that would remove most of its table is *held* (status ``held``, a copy kept under
``<warehouse>/_held/<source>/<batch_id>/``) until a steward decides (:mod:`yibao.decisions`); each run
applies the held files a steward released, unless a later batch of that table was applied since.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

from pyspark.sql import Row
from pyspark.sql import functions as F
from rich.markup import escape

from yibao.catalog import Catalog
from yibao.config import Settings
from yibao.console import Progress, console
from yibao.decisions import in_force
from yibao.engine import spark_session
from yibao.faults import checkpoint
from yibao.ingestion.bronze import QUARANTINE_DDL, FileChanged, land
from yibao.contract import SOURCES, is_batch_id
from yibao.ingestion.manifest import (MAX_MANIFEST_BYTES, BatchRejected, Manifest, ScannedFile, header_problem,
                                      read_manifest, verify_batch)
from yibao.ingestion.records import open_regular, path_problem

BATCH_DDL = ("source string, batch_id string, status string, reason string, mode string, encoding string, "
             "extract_time string, files int, rows bigint, fingerprint string, started_at timestamp, "
             "finished_at timestamp")
# rows_before: the bronze table's rows before a full file; fingerprint: the content a batch-level refusal
# was about (so that it is logged once).
LOG_DDL = ("source string, batch_id string, source_table string, file string, mode string, status string, "
           "rows_read bigint, rows_landed bigint, rows_quarantined bigint, rows_deleted bigint, reason string, "
           "finished_at timestamp, rows_before bigint, fingerprint string")
DONE = ("applied", "rejected")            # a batch taken: not taken again with the same content
FILE_DONE = ("applied", "rejected", "held")   # a file decided: not re-done when its batch is resumed
BATCH_ROW = "(batch)"                     # ingest_log's source_table for refusals of a whole batch
HELD_DIR = "_held"


@dataclass
class IngestSummary:
    batches_applied: list[str] = field(default_factory=list)
    batches_rejected: list[tuple[str, str]] = field(default_factory=list)
    batches_skipped: list[str] = field(default_factory=list)
    files_rejected: list[tuple[str, str]] = field(default_factory=list)
    files_held: list[tuple[str, str]] = field(default_factory=list)       # held in this run (steward decides)
    files_released: list[tuple[str, str]] = field(default_factory=list)   # held earlier, applied in this run
    folders_ignored: list[tuple[str, str]] = field(default_factory=list)
    # a file changed while it was read: the batch (and the source's later ones) wait for the next run
    batches_deferred: list[tuple[str, str]] = field(default_factory=list)
    rows_landed: int = 0
    rows_quarantined: int = 0

    @property
    def refused(self) -> bool:
        """Something of this run was rejected or held (``yibao ingest --strict`` exits 1)."""
        return bool(self.batches_rejected or self.files_rejected or self.files_held)


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def recorded_id(name: str) -> str:
    """A folder name as it is recorded: as delivered, with bytes that are not UTF-8 shown as escapes."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def discover(landing: Path, sources: list[str] | None = None) -> list[Path]:
    """Batch folders of known sources (or only of ``sources``), each source's batches in delivery (name)
    order.  Symbolic links in a source folder are listed too (never followed): they are refused as batches."""
    found = []
    for source in SOURCES:
        if sources is not None and source not in sources:
            continue
        sdir = landing / source
        if sdir.is_dir() and not sdir.is_symlink():
            found += sorted(p for p in sdir.iterdir()
                            if (p.is_symlink() or p.is_dir()) and not p.name.startswith((".", "_")))
    return found


def ignored_folders(landing: Path) -> list[tuple[str, str]]:
    """Top-level folders of the landing zone that are not read, with why."""
    if not landing.is_dir():
        return []
    out = []
    for p in sorted(landing.iterdir()):
        if p.name.startswith((".", "_")):
            continue
        if p.name in SOURCES and p.is_symlink():
            out.append((recorded_id(p.name), "a symbolic link: nothing outside the landing zone is read"))
        elif p.is_dir() and p.name not in SOURCES:
            out.append((recorded_id(p.name), f"not a source of the contract ({', '.join(SOURCES)})"))
    return out


def folder_problem(batch_dir: Path) -> str | None:
    """Why a batch folder is refused before anything in it is read, or None."""
    if batch_dir.is_symlink():
        return "batch folder is a symbolic link: nothing outside the landing zone is read"
    if not is_batch_id(batch_dir.name):
        return (f"folder name {recorded_id(batch_dir.name)!r} is not a valid batch id (letters, digits, '.', '_', "
                f"'-', starting with a letter or digit, at most 64)")
    return None


def fingerprint(batch_dir: Path) -> str:
    """What identifies a delivery: the manifest bytes and the names and sizes of the files beside it.

    Nothing is followed: a linked batch folder is identified by its link, a linked file by its name and
    link target."""
    h = hashlib.sha256()
    if batch_dir.is_symlink():
        h.update(b"symlink\0" + os.fsencode(os.readlink(batch_dir)))
        return h.hexdigest()
    for p in sorted(batch_dir.iterdir()):
        mode = p.lstat().st_mode
        if stat.S_ISREG(mode):
            h.update(os.fsencode(p.name) + f"\0{p.lstat().st_size}\0".encode())
        elif stat.S_ISLNK(mode):
            h.update(os.fsencode(p.name) + b"\0->" + os.fsencode(os.readlink(p)) + b"\0")
    manifest = batch_dir / "_manifest.json"
    if path_problem(manifest) is None:
        with open_regular(manifest) as fh:
            # one byte past the limit is enough: a larger manifest is refused, and its size is hashed above
            h.update(fh.read(MAX_MANIFEST_BYTES + 1))
    return h.hexdigest()


def _safe_fingerprint(batch_dir: Path) -> tuple[str, str | None]:
    """(fingerprint, why the folder cannot be read or None); an unreadable folder gets a stable stand-in."""
    try:
        return fingerprint(batch_dir), None
    except OSError as exc:
        reason = f"batch folder cannot be read ({exc.strerror or exc})"
        return hashlib.sha256(reason.encode()).hexdigest(), reason


class Ledger:
    """The ingestion state tables, read once per run and updated row by row (upserts by key)."""

    def __init__(self, cat: Catalog):
        self.cat = cat
        cat.ensure("meta", "ingest_batch", BATCH_DDL)
        cat.ensure_columns("meta", "ingest_log", LOG_DDL)
        cat.ensure_columns("meta", "quarantine", QUARANTINE_DDL)
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

    def later_applied(self, source: str, table: str, batch_id: str) -> str | None:
        """The latest batch after ``batch_id`` applied to this table, if any."""
        ids = [b for (s, b, t), r in self.logs.items()
               if (s, t) == (source, table) and b > batch_id and r.status == "applied"]
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
    for name, why in ignored_folders(landing):
        summary.folders_ignored.append((name, why))
        console.print(f"[yellow]ignored folder {escape(repr(name))}: {escape(why)}")
    _decide_held(cat, ledger, landing, summary, sources)
    batches = discover(landing, sources)
    with Progress(console=console, transient=False) as progress:
        task = progress.add_task("ingest", total=len(batches))
        waiting: dict[str, str] = {}    # source -> its batch deferred in this run: later ones must wait too
        for batch_dir in batches:
            label = f"{batch_dir.parent.name}/{recorded_id(batch_dir.name)}"
            progress.update(task, description=escape(f"ingest {label}"))
            source = batch_dir.parent.name
            if source in waiting:
                summary.batches_deferred.append((label, f"waits for {waiting[source]}, taken again next run"))
            else:
                try:
                    _ingest_batch(cat, ledger, batch_dir, summary, progress)
                except FileChanged as exc:
                    # left "running": the next run verifies the batch afresh and resumes it (or rejects it, if
                    # what it holds then does not match its manifest)
                    summary.batches_deferred.append((label, str(exc)))
                    waiting[source] = label
            progress.advance(task)
    return summary


def _ingest_batch(cat: Catalog, ledger: Ledger, batch_dir: Path, summary: IngestSummary, progress) -> None:
    source, batch_id = batch_dir.parent.name, recorded_id(batch_dir.name)
    label = f"{source}/{batch_id}"
    fp, unreadable = _safe_fingerprint(batch_dir)
    known = ledger.batches.get((source, batch_id))
    if known is not None and known.status in DONE:
        if known.fingerprint == fp:
            summary.batches_skipped.append(label)
            return
        if known.status == "applied":
            _refuse_redelivery(ledger, source, batch_id, fp, summary)
            return
    resumed = known is not None and known.status == "running" and known.fingerprint == fp
    started = known.started_at if resumed else _now()
    latest = ledger.latest_applied(source)
    try:
        problem = folder_problem(batch_dir) or unreadable
        if problem:
            raise BatchRejected(problem)
        if latest is not None and batch_id < latest:
            raise BatchRejected(f"arrived after the later batch {latest} was applied (out of order)")
        manifest, files = _checked_batch(batch_dir)
    except BatchRejected as exc:
        ledger.put_batch(source=source, batch_id=batch_id, status="rejected", reason=exc.reason, fingerprint=fp,
                         started_at=started, finished_at=_now())
        summary.batches_rejected.append((label, exc.reason))
        return
    common = dict(source=source, batch_id=batch_id, mode=manifest.mode, encoding=manifest.encoding,
                  extract_time=manifest.extract_time, files=len(files), rows=sum(f.rows for f in files),
                  fingerprint=fp, started_at=started)
    ledger.put_batch(status="running", **common)
    rejected_files, held_tables = [], []
    task = progress.add_task(escape(f"  {label}"), total=len(files))
    try:
        for f in files:
            progress.update(task, description=escape(f"  {label} {f.spec.name} ({f.rows:,} rows)"))
            logged = ledger.logs.get((source, batch_id, f.spec.name))
            if logged is None or logged.status not in FILE_DONE:
                logged = _take_file(cat, ledger, f, manifest, started, summary, label, resumed, logged)
                checkpoint("file")
            if logged.status == "rejected":
                rejected_files.append(f.entry.name)
            elif logged.status == "held":
                held_tables.append(f.spec.name)
            progress.advance(task)
    finally:
        progress.remove_task(task)
    reasons = ([f"file(s) rejected: {', '.join(rejected_files)}"] if rejected_files else []) \
        + ([f"table(s) held: {', '.join(held_tables)}"] if held_tables else [])
    ledger.put_batch(status="applied", reason="; ".join(reasons) or None, finished_at=_now(), **common)
    summary.batches_applied.append(label)


def _checked_batch(batch_dir: Path) -> tuple[Manifest, list[ScannedFile]]:
    """The batch's manifest and files, checked (pure file-system code).  Whatever a delivery makes this
    code raise rejects that batch with the error as its reason, so that one strange file cannot stop the
    landing zone: the other batches still land, and the next run does not stumble on it again."""
    try:
        manifest = read_manifest(batch_dir)
        return manifest, verify_batch(batch_dir, manifest)
    except (BatchRejected, MemoryError):
        raise
    except Exception as exc:   # noqa: BLE001 - recorded as the batch's reason, see the docstring
        console.print_exception(max_frames=4)
        raise BatchRejected(f"could not be checked ({type(exc).__name__}: {exc})") from None


def _refuse_redelivery(ledger: Ledger, source: str, batch_id: str, fp: str, summary: IngestSummary) -> None:
    """A batch id applied before, delivered again with other content: refused, and logged once per content."""
    label = f"{source}/{batch_id}"
    logged = ledger.logs.get((source, batch_id, BATCH_ROW))
    if logged is not None and logged.fingerprint == fp:
        summary.batches_skipped.append(label)
        return
    reason = "re-delivered with different content after it was applied; deliver the correction as a new batch id"
    ledger.put_log(source=source, batch_id=batch_id, source_table=BATCH_ROW, status="rejected", reason=reason,
                   fingerprint=fp, finished_at=_now())
    summary.batches_rejected.append((label, reason))


def _take_file(cat: Catalog, ledger: Ledger, f: ScannedFile, manifest: Manifest, started: datetime,
               summary: IngestSummary, label: str, resumed: bool, logged: Row | None) -> Row:
    """Land, hold or reject one checked file and log it; returns its log row."""
    source, batch_id = manifest.source, manifest.batch_id
    base = dict(source=source, batch_id=batch_id, source_table=f.spec.name, file=f.entry.name, mode=manifest.mode,
                rows_read=f.rows)
    problem = header_problem(f)
    if problem:
        ledger.put_log(status="rejected", rows_landed=0, rows_quarantined=0, rows_deleted=0, reason=problem,
                       finished_at=_now(), **base)
        summary.files_rejected.append((f"{label}/{f.entry.name}", problem))
        return ledger.logs[(source, batch_id, f.spec.name)]
    before = _rows_before(cat, f, batch_id, resumed, logged) if manifest.mode == "full" else None
    r = land(cat, f, manifest, started, shrink_hold=cat.settings.snapshot_shrink_hold, rows_before=before,
             on_apply=lambda n: ledger.put_log(status="running", rows_before=n, **base))
    counts = dict(rows_landed=r.rows_landed, rows_quarantined=r.rows_quarantined, rows_deleted=r.rows_deleted,
                  rows_before=r.rows_before)
    summary.rows_quarantined += r.rows_quarantined
    if r.held:
        keep_held_copy(cat, f, manifest)
        ledger.put_log(status="held", reason=r.held, finished_at=_now(), **counts, **base)
        summary.files_held.append((f"{label}/{f.entry.name}", r.held))
    else:
        ledger.put_log(status="applied", finished_at=_now(), **counts, **base)
        summary.rows_landed += r.rows_landed
    return ledger.logs[(source, batch_id, f.spec.name)]


def _rows_before(cat: Catalog, f: ScannedFile, batch_id: str, resumed: bool, logged: Row | None) -> int:
    """The bronze table's rows before this batch's full file, the same in a resumed run as in the first:
    logged before bronze was replaced from staging, or, when an interrupted attempt wrote the file
    straight into a new table (which then holds only this batch's rows), zero."""
    if logged is not None and logged.status == "running" and logged.rows_before is not None:
        return logged.rows_before
    name = f.spec.bronze_name
    if not cat.exists("bronze", name):
        return 0
    n = cat.read("bronze", name).count()
    if resumed and n and not cat.read("bronze", name).where(F.col("_batch_id") != F.lit(batch_id)).limit(1).collect():
        return 0
    return n


# -- held at the door --------------------------------------------------------------------------------

def held_dir(cat: Catalog, source: str, batch_id: str) -> Path:
    return cat.root / HELD_DIR / source / batch_id


def keep_held_copy(cat: Catalog, f: ScannedFile, manifest: Manifest) -> None:
    """Copy a held file and its batch's manifest to ``<warehouse>/_held/<source>/<batch_id>/`` (each
    written beside and renamed, so a copy is whole or absent), so that a purged landing zone loses nothing."""
    target = held_dir(cat, manifest.source, manifest.batch_id)
    target.mkdir(parents=True, exist_ok=True)
    for src, name in ((f.path, f.entry.name), (f.path.parent / "_manifest.json", "_manifest.json")):
        tmp = target / f".{name}.part"
        with open_regular(src) as fin, open(tmp, "wb") as fout:
            shutil.copyfileobj(fin, fout, 8 << 20)
            fout.flush()
            os.fsync(fout.fileno())
        os.replace(tmp, target / name)


def held_at_door(cat: Catalog) -> list[dict]:
    """Files held by ingestion (a full snapshot that would remove most of its table), for stewards."""
    if not cat.exists("meta", "ingest_log"):
        return []
    rows = (cat.read("meta", "ingest_log").where(F.col("status") == F.lit("held"))
            .orderBy("source", "batch_id", "source_table").collect())
    return [dict(source=r.source, source_table=r.source_table, batch_id=r.batch_id, file=r.file,
                 reason=r.reason or "", rows_before=r.asDict().get("rows_before"),
                 rows_delivered=(r.rows_read or 0) - (r.rows_quarantined or 0)) for r in rows]


def _decide_held(cat: Catalog, ledger: Ledger, landing: Path, summary: IngestSummary,
                 sources: list[str] | None) -> None:
    """Carry out the stewards' decisions on held files, oldest batch first."""
    held = sorted((r for r in ledger.logs.values() if r.status == "held" and (sources is None or r.source in sources)),
                  key=lambda r: (r.source, r.batch_id, r.source_table))
    if not held:
        return
    decisions = in_force(cat)
    for r in held:
        later = ledger.later_applied(r.source, r.source_table, r.batch_id)
        decision = decisions.get((r.source, r.source_table, r.batch_id))
        if later is not None:
            _update_held(ledger, r, f"can no longer be applied: the later batch {later} of this table was applied "
                                    f"since (rows_before and rows_read keep the counts it was held for)")
        elif decision is not None and decision.action == "hold":
            _update_held(ledger, r, f"held by steward {decision.decided_by}: {decision.reason}")
        elif decision is not None and decision.action == "release":
            _release(cat, ledger, landing, r, decision, summary)


def _update_held(ledger: Ledger, r: Row, reason: str) -> None:
    if r.reason != reason:    # only a change is a new log version
        ledger.put_log(**(r.asDict() | dict(reason=reason, finished_at=_now())))


def _release(cat: Catalog, ledger: Ledger, landing: Path, r: Row, decision: Row, summary: IngestSummary) -> None:
    """Apply a held full file a steward released (the shrink check does not apply), from the landing zone
    or, if it is gone or changed there, from the copy kept when it was held."""
    label = f"{r.source}/{r.batch_id}/{r.file}"
    try:
        manifest, f = _held_file(cat, landing, r)
    except BatchRejected as exc:
        _update_held(ledger, r, f"released by steward {decision.decided_by} (decision {decision.decision_id}), "
                                f"but cannot be applied: {exc.reason}")
        summary.files_rejected.append((label, exc.reason))
        return
    batch = ledger.batches.get((r.source, r.batch_id))
    started = batch.started_at if batch is not None and batch.started_at is not None else _now()
    result = land(cat, f, manifest, started, shrink_hold=None)
    reason = f"released by steward decision {decision.decision_id} ({decision.decided_by}: {decision.reason})"
    ledger.put_log(**(r.asDict() | dict(status="applied", rows_landed=result.rows_landed,
                                        rows_quarantined=result.rows_quarantined, rows_deleted=result.rows_deleted,
                                        reason=reason, finished_at=_now())))
    summary.rows_landed += result.rows_landed
    summary.files_released.append((label, reason))
    checkpoint("file")


def _held_file(cat: Catalog, landing: Path, r: Row) -> tuple[Manifest, ScannedFile]:
    """The held file, checked against the manifest it was delivered with (sha256, rows)."""
    kept = held_dir(cat, r.source, r.batch_id)
    delivered = landing / r.source / r.batch_id
    manifest = read_manifest(kept if (kept / "_manifest.json").is_file() else delivered)
    entry = next((e for e in manifest.files if e.table == r.source_table), None)
    if entry is None:
        raise BatchRejected(f"the manifest no longer lists table {r.source_table}")
    one = replace(manifest, files=(entry,))
    last = None
    for folder in (delivered, kept):
        if folder.is_symlink() or path_problem(folder / entry.name) is not None:
            continue
        try:
            return manifest, verify_batch(folder, one)[0]
        except BatchRejected as exc:
            last = exc
    raise last or BatchRejected(f"file {entry.name} is neither in the landing zone nor kept under {HELD_DIR}")

