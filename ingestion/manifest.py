"""Reading a batch's manifest and checking it against the files delivered.

Pure file-system code, no engine: a batch that does not match its manifest is rejected whole before
anything is written.  The same pass that computes each file's sha256 counts its rows and records
byte offsets at line boundaries, so that large files can be parsed in parallel ranges with exact
line numbers.

Row counting: a row is every line after the header (a final line break does not start a new row).
Line breaks inside quoted fields are not part of the exchange format here; such a row would be split
and fail the row count, so the batch is rejected with that reason.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from yibao.ingestion.contract import ENCODINGS, MODES, SOURCES, TableSpec, table_spec

BLOCK = 8 << 20
SPLIT_BYTES = 64 << 20   # files larger than this are parsed in parallel ranges of about this size


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
    # (start byte, end byte or -1 for end of file, line number of the first line in the range)
    ranges: list[tuple[int, int, int]] = field(default_factory=list)

    @property
    def compressed(self) -> bool:
        return self.path.name.endswith(".gz")


def read_manifest(batch_dir: Path) -> Manifest:
    path = batch_dir / "_manifest.json"
    if not path.is_file():
        raise BatchRejected("manifest _manifest.json is missing")
    raw = path.read_bytes()
    try:
        doc = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BatchRejected(f"manifest is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise BatchRejected("manifest is not a JSON object")
    missing = [k for k in ("source", "batch_id", "mode", "encoding", "files") if k not in doc]
    if missing:
        raise BatchRejected(f"manifest lacks {', '.join(missing)}")
    source, batch_id = str(doc["source"]), str(doc["batch_id"])
    if source != batch_dir.parent.name:
        raise BatchRejected(f"manifest source {source!r} does not match folder {batch_dir.parent.name!r}")
    if batch_id != batch_dir.name:
        raise BatchRejected(f"manifest batch_id {batch_id!r} does not match folder {batch_dir.name!r}")
    if source not in SOURCES:
        raise BatchRejected(f"unknown source {source!r}")
    mode = str(doc["mode"]).lower()
    if mode not in MODES:
        raise BatchRejected(f"mode {doc['mode']!r} is not one of {', '.join(MODES)}")
    encoding = str(doc["encoding"]).lower()
    if encoding not in ENCODINGS:
        raise BatchRejected(f"encoding {doc['encoding']!r} is not supported ({', '.join(ENCODINGS)})")
    delimiter = str(doc.get("delimiter") or ",")
    if len(delimiter) != 1 or delimiter in "\"\r\n":
        raise BatchRejected(f"delimiter {delimiter!r} must be one character other than quote or line break")
    if not isinstance(doc["files"], list) or not doc["files"]:
        raise BatchRejected("manifest lists no files")
    entries, seen = [], set()
    for i, f in enumerate(doc["files"]):
        try:
            entry = FileEntry(str(f["name"]), str(f["table"]), int(f["rows"]), str(f["sha256"]).lower())
        except (KeyError, TypeError, ValueError) as exc:
            raise BatchRejected(f"manifest file entry {i + 1} is malformed: {exc!r}") from None
        if "/" in entry.name or "\\" in entry.name or entry.name.startswith("."):
            raise BatchRejected(f"file name {entry.name!r} must be a plain file name")
        if entry.table in seen:
            raise BatchRejected(f"table {entry.table!r} is listed twice")
        seen.add(entry.table)
        entries.append(entry)
    return Manifest(source, batch_id, str(doc.get("extract_time") or ""), mode, encoding, delimiter,
                    tuple(entries), hashlib.sha256(raw).hexdigest())


def _scan_bytes(path: Path, split_bytes: int) -> tuple[str, int, bytes, list[tuple[int, int, int]]]:
    """sha256 of the file as delivered; newline count; header line bytes; parallel ranges."""
    digest = hashlib.sha256()
    gz = path.name.endswith(".gz")
    with path.open("rb") as fh:
        if gz:  # checksum of the compressed bytes as delivered; rows counted on the content
            for chunk in iter(lambda: fh.read(BLOCK), b""):
                digest.update(chunk)
        stream = gzip.open(path, "rb") if gz else fh
        newlines, offset, header, last_byte = 0, 0, b"", b""
        splits: list[tuple[int, int]] = []          # (byte offset of a line start, its line number)
        next_split = split_bytes
        for block in iter(lambda: stream.read(BLOCK), b""):
            if not gz:
                digest.update(block)
            if not header:
                end = block.find(b"\n")
                header = block if end < 0 else block[: end + 1]
            while not gz and next_split < offset + len(block):
                idx = block.find(b"\n", max(0, next_split - offset))
                if idx < 0:
                    break
                splits.append((offset + idx + 1, newlines + block.count(b"\n", 0, idx + 1) + 1))
                next_split = offset + idx + 1 + split_bytes
            newlines += block.count(b"\n")
            offset += len(block)
            last_byte = block[-1:]
        if gz:
            stream.close()
    total_lines = newlines + (1 if last_byte not in (b"", b"\n") else 0)
    rows = max(0, total_lines - 1)
    starts = [(len(header), 2)] + [s for s in splits if s[0] < offset and s[0] > len(header)]
    ranges = [(start, starts[i + 1][0] if i + 1 < len(starts) else -1, line)
              for i, (start, line) in enumerate(starts)]
    return digest.hexdigest(), rows, header, ranges


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
    with ThreadPoolExecutor(max_workers=min(len(paths), os.cpu_count() or 1)) as pool:
        scans = [pool.submit(_scan_bytes, path, split_bytes) if spec is not None and path.is_file() else None
                 for spec, path in zip(specs, paths)]
        try:
            return [_checked(entry, spec, path, scan, manifest)
                    for entry, spec, path, scan in zip(manifest.files, specs, paths, scans)]
        except BatchRejected:
            for scan in scans:
                if scan is not None:
                    scan.cancel()
            raise


def _checked(entry: FileEntry, spec: TableSpec | None, path: Path, scan: Future | None,
             manifest: Manifest) -> ScannedFile:
    if spec is None:
        raise BatchRejected(f"table {entry.table!r} is not a table of source {manifest.source!r}")
    if scan is None:
        raise BatchRejected(f"file {entry.name} listed in the manifest is missing")
    sha, rows, header_bytes, ranges = scan.result()
    if sha != entry.sha256:
        raise BatchRejected(f"file {entry.name}: sha256 {sha} does not match the manifest's {entry.sha256}")
    if rows != entry.rows:
        raise BatchRejected(f"file {entry.name}: {rows} data rows, the manifest says {entry.rows}")
    header = parse_header(header_bytes, manifest.encoding, manifest.delimiter)
    return ScannedFile(entry, spec, path, header, header_bytes, rows, ranges)


def header_problem(f: ScannedFile) -> str | None:
    """Why a file's header cannot be loaded (the file is rejected, the rest of the batch lands)."""
    if not f.header or f.header == [""]:
        return "file has no header row"
    dup = sorted({c for c in f.header if f.header.count(c) > 1})
    if dup:
        return f"header repeats column(s) {', '.join(dup)}"
    missing = [c for c in f.spec.columns if c not in f.header]
    if missing:
        return f"missing required column(s): {', '.join(missing)}"
    return None
