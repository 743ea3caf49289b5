"""Reading a batch's manifest and checking it against the files delivered.

Pure file-system code, no engine: a batch that does not match its manifest is rejected whole before
anything is written.  The same pass that computes each file's sha256 counts its records and records
byte offsets at record boundaries, so that large files can be parsed in parallel ranges with exact
line numbers, and checks that the bytes are in the declared encoding.

Every value of a manifest is checked against the contract before it is used (source, batch id, mode,
encoding, delimiter, file names, whole-number row counts, sha256), and nothing is read through a
symbolic link or from anything but a regular file (:func:`records.open_regular`).

Row counting (RFC 4180): a row is a record after the header; a line break inside a quoted field is
part of its record, not a new row (:mod:`records`).  A final line break does not start a new row.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
import re
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from yibao.contract import ENCODINGS, MODES, SOURCES, TableSpec, file_names, is_batch_id, table_spec
from yibao.ingestion.records import EncodingProbe, RecordScanner, UnsafeFile, file_identity, open_regular, path_problem

BLOCK = 8 << 20
MAX_RECORD_BYTES = BLOCK   # a longer record could not be parsed (the parser reads blocks of two chunks)
SPLIT_BYTES = 64 << 20   # files larger than this are parsed in parallel ranges of about this size
MAX_MANIFEST_BYTES = 1 << 20
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_EXTRACT_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}( \d{2}:\d{2}:\d{2})?$")
# what a damaged .gz raises: truncated (EOFError), corrupt stream (zlib.error), not gzip or bad CRC (BadGzipFile)
_GZIP_ERRORS = (EOFError, zlib.error, gzip.BadGzipFile)


class BatchRejected(Exception):
    """The whole batch is refused; ``reason`` is written to the ingestion log."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class FileEntry:
    name: str
    table: str
    rows: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    source: str
    batch_id: str
    extract_time: str
    mode: str
    encoding: str
    delimiter: str
    files: tuple[FileEntry, ...]
    sha256: str            # of the manifest bytes


@dataclass
class ScannedFile:
    """A delivered file, checked, with what the parser needs to read it in parallel ranges."""
    entry: FileEntry
    spec: TableSpec
    path: Path
    header: list[str]
    header_bytes: bytes
    rows: int
    # (start byte, end byte or -1 for end of file, line number of the range's first record,
    #  whether some record of the range spans several lines)
    ranges: list[tuple[int, int, int, bool]] = field(default_factory=list)
    problem: str | None = None      # why the file is refused alone (e.g. not in the declared encoding)
    identity: tuple | None = None   # records.file_identity of the file whose sha256 was verified

    @property
    def compressed(self) -> bool:
        return self.path.name.endswith(".gz")


@dataclass
class Scan:
    """One pass over a delivered file."""
    sha256: str
    rows: int = 0
    header: bytes = b""
    ranges: list[tuple[int, int, int, bool]] = field(default_factory=list)
    problem: str | None = None      # the file is refused alone
    error: str | None = None        # the batch is refused (the file cannot be read as delivered)
    identity: tuple | None = None   # records.file_identity when the scan began: the parse checks it is unchanged


def _text(doc: dict, key: str, default: str | None = None) -> str:
    value = doc.get(key, default)
    if not isinstance(value, str):
        raise BatchRejected(f"manifest {key} must be a string, got {value!r}")
    return value


def read_manifest(batch_dir: Path) -> Manifest:
    if batch_dir.is_symlink():
        raise BatchRejected("batch folder is a symbolic link: nothing outside the landing zone is read")
    raw = _manifest_bytes(batch_dir / "_manifest.json")
    try:
        doc = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BatchRejected(f"manifest is not valid JSON: {exc}") from None
    except RecursionError:
        raise BatchRejected("manifest is not valid JSON: nested too deeply") from None
    if not isinstance(doc, dict):
        raise BatchRejected("manifest is not a JSON object")
    missing = [k for k in ("source", "batch_id", "mode", "encoding", "files") if k not in doc]
    if missing:
        raise BatchRejected(f"manifest lacks {', '.join(missing)}")
    source, batch_id = _text(doc, "source"), _text(doc, "batch_id")
    if source != batch_dir.parent.name:
        raise BatchRejected(f"manifest source {source!r} does not match folder {batch_dir.parent.name!r}")
    if batch_id != batch_dir.name:
        raise BatchRejected(f"manifest batch_id {batch_id!r} does not match folder {batch_dir.name!r}")
    if source not in SOURCES:
        raise BatchRejected(f"unknown source {source!r}")
    if not is_batch_id(batch_id):
        raise BatchRejected(f"batch_id {batch_id!r} is not a valid batch id (letters, digits, '.', '_', '-'; "
                            f"at most 64)")
    mode = _text(doc, "mode").lower()
    if mode not in MODES:
        raise BatchRejected(f"mode {doc['mode']!r} is not one of {', '.join(MODES)}")
    encoding = _text(doc, "encoding").lower()
    if encoding not in ENCODINGS:
        raise BatchRejected(f"encoding {doc['encoding']!r} is not supported ({', '.join(ENCODINGS)})")
    delimiter = _text(doc, "delimiter", ",") or ","
    if len(delimiter) != 1 or not delimiter.isascii() or delimiter in "\"\r\n" \
            or not (delimiter.isprintable() or delimiter == "\t"):
        raise BatchRejected(f"delimiter {delimiter!r} must be one ASCII character other than quote or line break")
    extract_time = _text(doc, "extract_time", "")
    if extract_time and not _EXTRACT_TIME.match(extract_time):
        raise BatchRejected(f"extract_time {extract_time!r} is not YYYY-MM-DD HH:MM:SS")
    if not isinstance(doc["files"], list) or not doc["files"]:
        raise BatchRejected("manifest lists no files")
    entries, seen = [], set()
    for i, f in enumerate(doc["files"]):
        entry = _file_entry(i, f, source)
        if entry.table in seen:
            raise BatchRejected(f"table {entry.table!r} is listed twice")
        seen.add(entry.table)
        entries.append(entry)
    return Manifest(source, batch_id, extract_time, mode, encoding, delimiter,
                    tuple(entries), hashlib.sha256(raw).hexdigest())


def _manifest_bytes(path: Path) -> bytes:
    try:
        with open_regular(path) as fh:
            raw = fh.read(MAX_MANIFEST_BYTES + 1)
    except FileNotFoundError:
        raise BatchRejected("manifest _manifest.json is missing") from None
    except UnsafeFile as exc:
        raise BatchRejected(f"manifest _manifest.json {exc}") from None
    except OSError as exc:
        raise BatchRejected(f"manifest _manifest.json cannot be read ({exc.strerror or exc})") from None
    if len(raw) > MAX_MANIFEST_BYTES:
        raise BatchRejected(f"manifest is larger than {MAX_MANIFEST_BYTES >> 20} MiB")
    return raw


def _file_entry(i: int, f, source: str) -> FileEntry:
    """One ``files`` entry, every value checked against the contract."""
    where = f"manifest file entry {i + 1}"
    if not isinstance(f, dict):
        raise BatchRejected(f"{where} is malformed: not a JSON object")
    missing = [k for k in ("name", "table", "rows", "sha256") if k not in f]
    if missing:
        raise BatchRejected(f"{where} is malformed: lacks {', '.join(missing)}")
    name, table, rows, sha = f["name"], f["table"], f["rows"], f["sha256"]
    if not isinstance(table, str) or table_spec(source, table) is None:
        raise BatchRejected(f"table {table!r} is not a table of source {source!r}")
    if not isinstance(name, str) or name not in file_names(table):
        raise BatchRejected(f"file name {name!r} must be {' or '.join(file_names(table))}")
    if type(rows) is not int or rows < 0:
        raise BatchRejected(f"{where} ({name}): rows must be a whole number of data rows, got {rows!r}")
    if not isinstance(sha, str) or not _SHA256.match(sha.lower()):
        raise BatchRejected(f"{where} ({name}): sha256 must be 64 hexadecimal digits, got {sha!r}")
    return FileEntry(name, table, rows, sha.lower())


def scan_file(path: Path, split_bytes: int = SPLIT_BYTES, delimiter: str = ",", encoding: str = "utf-8") -> Scan:
    """sha256 of the file as delivered; its records counted and split into parallel ranges at record
    boundaries; whether its bytes are in the declared ``encoding`` (a manifest encoding name).

    A ``.gz`` file is checksummed as delivered and counted on its content, in one range.  A damaged one
    (truncated, corrupt, not gzip at all) gives ``error``, as does a quoted field never closed.
    """
    digest = hashlib.sha256()
    with open_regular(path) as fh:
        identity = file_identity(os.fstat(fh.fileno()))
        if not path.name.endswith(".gz"):
            scan = _scan_stream(fh, digest, split_bytes, delimiter, encoding)
            scan.identity = identity
            return scan
        for chunk in iter(lambda: fh.read(BLOCK), b""):
            digest.update(chunk)
        fh.seek(0)
        try:
            with gzip.GzipFile(fileobj=fh, mode="rb") as stream:
                scan = _scan_stream(stream, None, 0, delimiter, encoding)
        except _GZIP_ERRORS as exc:
            return Scan(digest.hexdigest(), error=f"not a readable gzip file ({type(exc).__name__}: {exc})")
        scan.sha256, scan.identity = digest.hexdigest(), identity
        return scan


def _scan_stream(stream, digest, split_bytes: int, delimiter: str, encoding: str) -> Scan:
    """The body of :func:`scan_file` (``digest`` None: the checksum is taken elsewhere; ``split_bytes`` 0:
    one range)."""
    scanner = RecordScanner(delimiter)
    probe = EncodingProbe(encoding, ENCODINGS[encoding])
    records, offset, header, last_byte = 0, 0, None, b""
    open_bytes, open_line, long_line = 0, 1, 0   # bytes of the record not ended yet, its first line; a too long one
    splits: list[tuple[int, int]] = []     # (byte offset of a record start, its line number)
    inside: list[tuple[int, int]] = []     # (first, last) offset of line breaks inside quoted fields, per block
    next_split = split_bytes or -1
    for block in iter(lambda: stream.read(BLOCK), b""):
        if digest is not None:
            digest.update(block)
        probe.feed(block)
        lines_before = scanner.lines
        br = scanner.feed(block)
        if header is None:
            end = br.first_end_at_or_after(block, 0)
            header = block if end < 0 else block[: end + 1]
        while 0 <= next_split < offset + len(block):
            idx = br.first_end_at_or_after(block, max(0, next_split - offset))
            if idx < 0:
                break
            splits.append((offset + idx + 1, lines_before + block.count(b"\n", 0, idx + 1) + 1))
            next_split = offset + idx + 1 + split_bytes
        first_end = br.first_end_at_or_after(block, 0)
        if first_end < 0:
            open_bytes += len(block)
        else:
            if open_bytes + first_end + 1 > MAX_RECORD_BYTES and not long_line:
                long_line = open_line
            last_end = br.last_end(block)
            open_bytes, open_line = len(block) - last_end - 1, lines_before + br.lf_through(block, last_end) + 1
        if open_bytes > MAX_RECORD_BYTES and not long_line:
            long_line = open_line
        if br.multiline:
            lfs = br.inside_lf()
            inside.append((offset + int(lfs[0]), offset + int(lfs[-1])))
        records += br.n_records
        offset += len(block)
        last_byte = block[-1:]
    header = header or b""
    scan = Scan("" if digest is None else digest.hexdigest(), header=header, problem=probe.finish())
    if scanner.inside_quotes:
        scan.error = f"the quoted field opened on line {scanner.open_line:,} is never closed"
    elif long_line:
        scan.error = f"the record on line {long_line:,} is longer than {MAX_RECORD_BYTES >> 20} MiB"
    total = records + (1 if last_byte not in (b"", b"\n") else 0)
    scan.rows = max(0, total - 1)
    starts = [(len(header), header.count(b"\n") + 1)] + [s for s in splits if len(header) < s[0] < offset]
    for i, (start, line) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else -1
        multiline = any(last >= start and (end < 0 or first < end) for first, last in inside)
        scan.ranges.append((start, end, line, multiline))
    return scan


def parse_header(header_bytes: bytes, encoding: str, delimiter: str) -> list[str]:
    text = header_bytes.decode(ENCODINGS[encoding], errors="replace").rstrip("\r\n")
    cells = next(csv.reader(io.StringIO(text), delimiter=delimiter), [])
    return [c.strip().lstrip("\ufeff").lower() for c in cells]


def verify_batch(batch_dir: Path, manifest: Manifest, split_bytes: int | None = None) -> list[ScannedFile]:
    """Check every listed file against the manifest; raise BatchRejected on the first mismatch.

    Files are read in parallel threads (reading and hashing release the GIL); the checks are made in
    manifest order, so the reason given is the one a file-by-file pass would give.
    """
    split_bytes = split_bytes or SPLIT_BYTES
    specs = [table_spec(manifest.source, entry.table) for entry in manifest.files]
    paths = [batch_dir / entry.name for entry in manifest.files]
    problems = [path_problem(path) for path in paths]
    with ThreadPoolExecutor(max_workers=max(1, min(len(paths), os.cpu_count() or 1))) as pool:
        scans = [pool.submit(scan_file, path, split_bytes, manifest.delimiter, manifest.encoding)
                 if spec is not None and problem is None else None
                 for spec, path, problem in zip(specs, paths, problems)]
        try:
            return [_checked(entry, spec, path, problem, scan, manifest)
                    for entry, spec, path, problem, scan in zip(manifest.files, specs, paths, problems, scans)]
        except BatchRejected:
            for scan in scans:
                if scan is not None:
                    scan.cancel()
            raise


def _checked(entry: FileEntry, spec: TableSpec | None, path: Path, problem: str | None, scan: Future | None,
             manifest: Manifest) -> ScannedFile:
    if spec is None:
        raise BatchRejected(f"table {entry.table!r} is not a table of source {manifest.source!r}")
    if problem == "is missing":
        raise BatchRejected(f"file {entry.name} listed in the manifest is missing")
    if problem is not None:
        raise BatchRejected(f"file {entry.name} {problem}")
    try:
        s: Scan = scan.result()
    except UnsafeFile as exc:
        raise BatchRejected(f"file {entry.name} {exc}") from None
    except OSError as exc:
        raise BatchRejected(f"file {entry.name} cannot be read ({exc.strerror or exc})") from None
    if s.sha256 != entry.sha256:
        raise BatchRejected(f"file {entry.name}: sha256 {s.sha256} does not match the manifest's {entry.sha256}")
    if s.error:
        raise BatchRejected(f"file {entry.name}: {s.error}")
    if s.rows != entry.rows:
        raise BatchRejected(f"file {entry.name}: {s.rows} data rows, the manifest says {entry.rows}")
    problem = s.problem
    try:
        header = parse_header(s.header, manifest.encoding, manifest.delimiter)
    except csv.Error as exc:
        header, problem = [], problem or f"header row cannot be read ({exc})"
    return ScannedFile(entry, spec, path, header, s.header, s.rows, s.ranges, problem, s.identity)


def header_problem(f: ScannedFile) -> str | None:
    """Why a file cannot be loaded (the file is rejected, the rest of the batch lands): not in the declared
    encoding, or a header that does not give the contract's columns."""
    if f.problem:
        return f.problem
    if not f.header or f.header == [""]:
        return "file has no header row"
    dup = sorted({c for c in f.header if f.header.count(c) > 1})
    if dup:
        return f"header repeats column(s) {', '.join(dup)}"
    missing = [c for c in f.spec.columns if c not in f.header]
    if missing:
        return f"missing required column(s): {', '.join(missing)}"
    return None
