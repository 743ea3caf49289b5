"""Parse and type one range of one delivered file, in Arrow.  Runs inside the engine (mapInArrow).

Why here and not in the engine's CSV reader: the engine must decode GBK, keep going past rows with a
wrong field count, and say for each refused row why, with its line.  pyarrow's CSV reader does all
three; typing is done with Arrow compute so that a bad value refuses only its own row.

Output rows carry every contract column (typed as :mod:`contract` says), ``updt_time``, ``del_flag``,
``_extra`` (unknown columns as a JSON object, kept as delivered), the lineage columns and
``_reject_reason`` / ``_raw_line``, which are null for good rows.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from yibao.contract import (DATE, ENCODINGS, FLAG, MONEY, QUANTITY, STRING, TIMESTAMP, YEAR,
                                      YEARMONTH, TableSpec, max_chars)
from yibao.ingestion.records import open_regular, record_start_lines

LINEAGE = (("_extra", pa.string(), "string"), ("_source", pa.string(), "string"),
           ("_batch_id", pa.string(), "string"), ("_file", pa.string(), "string"),
           ("_line_number", pa.int64(), "bigint"), ("_ingest_time", pa.timestamp("us", tz="UTC"), "timestamp"),
           ("_reject_reason", pa.string(), "string"), ("_raw_line", pa.string(), "string"))

_ARROW = {STRING: pa.string(), DATE: pa.date32(), TIMESTAMP: pa.timestamp("us", tz="UTC"),
          MONEY: pa.decimal128(16, 2), QUANTITY: pa.decimal128(18, 4), YEARMONTH: pa.string(),
          YEAR: pa.int32(), FLAG: pa.string()}
_SQL = {STRING: "string", DATE: "date", TIMESTAMP: "timestamp", MONEY: "decimal(16,2)",
        QUANTITY: "decimal(18,4)", YEARMONTH: "string", YEAR: "int", FLAG: "string"}


def arrow_schema(spec: TableSpec) -> pa.Schema:
    cols = [pa.field(c, _ARROW[spec.type_of(c)]) for c in spec.all_columns]
    return pa.schema(cols + [pa.field(n, t) for n, t, _ in LINEAGE])


def ddl(spec: TableSpec, with_reject: bool = True) -> str:
    """The bronze schema as a Spark DDL string (``with_reject=False``: the bronze table itself)."""
    cols = [f"`{c}` {_SQL[spec.type_of(c)]}" for c in spec.all_columns]
    cols += [f"`{n}` {s}" for n, _, s in LINEAGE if with_reject or n not in ("_reject_reason", "_raw_line")]
    return ", ".join(cols)


# -- decoding ------------------------------------------------------------------------------------

_CHUNK = 8 << 20   # bytes read at a time (then up to the next line break)
_BLOCK = 2 * _CHUNK  # the CSV reader's block: a chunk and the rest of its last line fit in one


class _Utf8Stream(io.RawIOBase):
    """Header + a byte range of the file, as UTF-8, for the CSV reader.

    Bytes are read in chunks that end at a line break.  In a UTF-8 file a chunk that is already valid
    UTF-8 (the usual case) is passed on as it is: decoding it to Python text and back would give the
    same bytes.  Any other chunk is decoded from the declared encoding and re-encoded as UTF-8;
    undecodable bytes become U+FFFD, which marks the row for quarantine instead of failing the file.
    One incremental decoder sees every chunk it decodes, so the result is that of decoding the whole
    stream.

    ``saw_replacement`` turns true once a U+FFFD (decoded, or delivered as such) has been passed on;
    until then no row can hold one, and the parser skips looking for it.
    """

    def __init__(self, raw: io.BufferedIOBase, header: bytes, length: int, encoding: str):
        self._raw, self._left = raw, length
        self._utf8 = ENCODINGS[encoding] == ENCODINGS["utf-8"]
        self._dec = codecs.getincrementaldecoder(ENCODINGS[encoding])(errors="replace")
        text = self._dec.decode(header)
        self.saw_replacement = "\ufffd" in text
        self._buf, self._pos = text.encode("utf-8"), 0
        self._eof = False

    def readable(self) -> bool:
        return True

    def _next_chunk(self) -> bytes:
        """Raw bytes up to and including a line break (or to the end of the range, or at most two
        chunks' worth: a longer line is simply split, and goes through the decoder)."""
        want = _CHUNK if self._left < 0 else min(_CHUNK, self._left)
        chunk = self._raw.read(want) if want else b""
        if chunk and not chunk.endswith(b"\n") and self._left != len(chunk):
            chunk += self._raw.readline(_CHUNK if self._left < 0 else min(_CHUNK, self._left - len(chunk)))
        if self._left >= 0:
            self._left -= len(chunk)
        return chunk

    def _as_utf8(self, chunk: bytes) -> bytes:
        if self._utf8 and not self._dec.getstate()[0]:   # nothing pending in the decoder
            if chunk.isascii():
                return chunk
            try:
                text = chunk.decode("utf-8")
            except UnicodeDecodeError:
                pass
            else:
                self.saw_replacement = self.saw_replacement or "\ufffd" in text
                return chunk
        text = self._dec.decode(chunk, final=not chunk)
        self.saw_replacement = self.saw_replacement or "\ufffd" in text
        return text.encode("utf-8")

    def read(self, size: int = -1) -> bytes:
        while self._pos >= len(self._buf) and not self._eof:
            chunk = self._next_chunk()
            self._eof = not chunk
            self._buf, self._pos = self._as_utf8(chunk), 0
        if self._pos == 0 and (size < 0 or size >= len(self._buf)):
            out = self._buf                         # the whole chunk, without copying it
        else:
            stop = len(self._buf) if size < 0 else self._pos + size
            out = self._buf[self._pos:stop]
        self._pos += len(out)
        return out

    def readinto(self, b) -> int:
        data = self.read(len(b))
        b[:len(data)] = data
        return len(data)


# -- typing --------------------------------------------------------------------------------------

# Accepted spellings, each rewritten to the canonical form before parsing; a value is valid only if
# formatting the parsed value gives the canonical text back (so 2026-02-30 is refused, not rolled over).
_DATE_REWRITES = ((r"^(\d{4})(\d{2})(\d{2})$", r"\1-\2-\3"), (r"^(\d{4})/(\d{2})/(\d{2})$", r"\1-\2-\3"),
                  (r"^(\d{4}-\d{2}-\d{2})[ T]\d{2}:\d{2}:\d{2}$", r"\1"))
_TS_REWRITES = ((r"^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$", r"\1-\2-\3 \4:\5:\6"),
                (r"^(\d{4})(\d{2})(\d{2})([ T]\d{2}:\d{2}:\d{2})$", r"\1-\2-\3\4"),
                (r"^(\d{4})/(\d{2})/(\d{2})", r"\1-\2-\3"), (r"^(\d{4}-\d{2}-\d{2})T", r"\1 "),
                (r"^(\d{4})(\d{2})(\d{2})$", r"\1-\2-\3 00:00:00"), (r"^(\d{4}-\d{2}-\d{2})$", r"\1 00:00:00"))
_CANONICAL = {"date": "%Y-%m-%d", "timestamp": "%Y-%m-%d %H:%M:%S"}
_CANONICAL_RE = {"%Y-%m-%d": r"^\d{4}-\d{2}-\d{2}$", "%Y-%m-%d %H:%M:%S": r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$"}
_PATTERNS = {MONEY: r"^[+-]?\d{1,14}(\.\d{1,2})?$", QUANTITY: r"^[+-]?\d{1,14}(\.\d{1,4})?$",
             YEAR: r"^\d{4}$", FLAG: r"^[01]$"}
_EXPECTED = {DATE: "a date (YYYY-MM-DD or YYYYMMDD)", TIMESTAMP: "a timestamp (YYYY-MM-DD HH:MM:SS)",
             MONEY: "an amount in yuan with at most 2 decimals", QUANTITY: "a number",
             YEARMONTH: "a year-month (YYYYMM)", YEAR: "a year (YYYY)", FLAG: "0 or 1"}


_FIELDS = (("year", 0, 4), ("month", 5, 7), ("day", 8, 10), ("hour", 11, 13), ("minute", 14, 16),
           ("second", 17, 19))


def _parse_canonical(text: pa.Array, rewrites: tuple, fmt: str) -> pa.Array:
    """Parse text in the canonical format; values strptime would roll over (2026-02-30) become null."""
    if not pc.all(pc.match_substring_regex(text, _CANONICAL_RE[fmt])).as_py():   # fast path: all canonical
        for pattern, repl in rewrites:
            text = pc.replace_substring_regex(text, pattern, repl)
    text = pc.if_else(pc.match_substring_regex(text, _CANONICAL_RE[fmt]), text, pa.scalar(None, pa.string()))
    parsed = pc.strptime(text, format=fmt, unit="s", error_is_null=True)
    valid = pc.is_valid(parsed)
    for name, start, stop in _FIELDS[: 3 if fmt == _CANONICAL[DATE] else 6]:
        written = pc.cast(pc.utf8_slice_codeunits(text, start, stop), pa.int64())
        valid = pc.and_(valid, pc.equal(getattr(pc, name)(parsed), written))
    return pc.cast(pc.if_else(pc.fill_null(valid, False), parsed, pa.scalar(None, pa.timestamp("s"))),
                   pa.timestamp("us"))


# The form most values arrive in: a value in it is typed by one cast (which refuses impossible dates
# and times), and only the others go through the rewrites above.
_CANONICAL_FORM = {DATE: _CANONICAL_RE[_CANONICAL[DATE]], TIMESTAMP: _CANONICAL_RE[_CANONICAL[TIMESTAMP]],
                   YEARMONTH: r"^\d{4}(0[1-9]|1[0-2])$", **_PATTERNS}


# Canonical forms of a fixed width ('9' an ASCII digit, any other character itself): a whole column
# in such a form is recognised from its bytes with numpy, much faster than a regex per value.
_FIXED_FORM = {DATE: "9999-99-99", TIMESTAMP: "9999-99-99 99:99:99", YEARMONTH: "999999", YEAR: "9999"}
_FORM_BOUNDS = {kind: (np.array([ord("0") if ch == "9" else ord(ch) for ch in form], np.uint8),
                       np.array([9 if ch == "9" else 0 for ch in form], np.uint8))
                for kind, form in _FIXED_FORM.items()}


def _all_in_fixed_form(raw: pa.Array, kind: str) -> bool:
    """Whether every non-null value is in the canonical form of ``kind`` (exactly what its regex in
    :data:`_CANONICAL_FORM` accepts); False also when that cannot be told cheaply."""
    if kind not in _FIXED_FORM or raw.type != pa.string():
        return False
    width, n = len(_FIXED_FORM[kind]), len(raw) - raw.null_count
    if n == 0:
        return True
    lengths = pc.min_max(pc.binary_length(raw))
    if lengths["min"].as_py() != width or lengths["max"].as_py() != width:
        return False
    offsets = np.frombuffer(raw.buffers()[1], np.int32, len(raw) + 1, raw.offset * 4)
    if offsets[-1] - offsets[0] != n * width:    # null slots hold bytes: the values are not contiguous
        return False
    values = np.frombuffer(raw.buffers()[2], np.uint8, n * width, offsets[0]).reshape(n, width)
    low, span = _FORM_BOUNDS[kind]
    if ((values - low) > span).any():            # unsigned: below the low bound wraps round, too
        return False
    if kind == YEARMONTH:
        month = (values[:, 4] - ord("0")) * 10 + (values[:, 5] - ord("0"))
        return bool(((month >= 1) & (month <= 12)).all())
    return True


def _cast_canonical(text: pa.Array, kind: str) -> pa.Array:
    """Type values in the canonical form (nulls elsewhere); raises ArrowInvalid on e.g. 2026-02-30."""
    if kind == DATE:
        return pc.cast(text, pa.date32())
    if kind == TIMESTAMP:   # wall-clock times kept as they are, labelled UTC
        return pc.cast(pc.cast(text, pa.timestamp("us")), _ARROW[TIMESTAMP])
    return pc.cast(text, _ARROW[kind])


def _no_failures(n: int) -> pa.Array:
    return pa.nulls(n, pa.bool_()).fill_null(False)


def type_column(raw: pa.Array, kind: str) -> tuple[pa.Array, pa.Array]:
    """Type one column of raw strings.  Returns (typed values, mask of values that failed to type).

    Empty or blank cells are null, never failures.  Strings are kept exactly as delivered.
    Values in the canonical form take one cast; only the rest (and every value, in the rare column
    where a canonical-looking value is impossible) go through :func:`_type_any_spelling`.
    """
    if kind == STRING:
        return raw, _no_failures(len(raw))
    if _all_in_fixed_form(raw, kind):
        other, n_other = None, 0
    else:
        other = pc.invert(pc.fill_null(pc.match_substring_regex(raw, _CANONICAL_FORM[kind]), True))
        n_other = other.true_count
    try:
        typed = _cast_canonical(pc.if_else(other, pa.scalar(None, pa.string()), raw) if n_other else raw, kind)
    except pa.ArrowInvalid:
        return _type_any_spelling(raw, kind)
    if not n_other:
        return typed, _no_failures(len(raw))
    typed_other, failed_other = _type_any_spelling(raw.filter(other), kind)
    return (pc.replace_with_mask(typed, other, typed_other),
            pc.replace_with_mask(_no_failures(len(raw)), other, failed_other))


def _type_any_spelling(raw: pa.Array, kind: str) -> tuple[pa.Array, pa.Array]:
    """:func:`type_column` for values in any accepted spelling (trimmed, rewritten, checked)."""
    text = pc.utf8_trim_whitespace(raw)
    text = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
    if kind == DATE:
        typed = pc.cast(_parse_canonical(text, _DATE_REWRITES, _CANONICAL[DATE]), pa.date32())
    elif kind == TIMESTAMP:
        typed = pc.assume_timezone(_parse_canonical(text, _TS_REWRITES, _CANONICAL[TIMESTAMP]), "UTC")
    elif kind == YEARMONTH:
        compact = pc.replace_substring_regex(text, r"^(\d{4})-(\d{2})$", r"\1\2")
        ok = pc.match_substring_regex(compact, r"^\d{4}(0[1-9]|1[0-2])$")
        typed = pc.if_else(ok, compact, pa.scalar(None, pa.string()))
    else:
        ok = pc.match_substring_regex(text, _PATTERNS[kind])
        clean = pc.if_else(ok, text, pa.scalar(None, pa.string()))
        typed = pc.cast(clean, _ARROW[kind])
    failed = pc.and_(pc.is_valid(text), pc.is_null(typed))
    return typed, failed


def _csv_line(values: list, delimiter: str) -> str:
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator="").writerow(["" if v is None else v for v in values])
    return buf.getvalue()


def _record_indices(n_before: int, count: int, invalid_records: list[int]) -> np.ndarray:
    """Record indices (from the range start) of good rows ``n_before .. n_before+count-1`` of a range.

    Good rows fill the records the parser did not refuse: with the refused records at sorted indices
    r_j, good row k is record k + #{j : r_j - j <= k}.
    """
    k = np.arange(n_before, n_before + count, dtype=np.int64)
    if not invalid_records:
        return k
    r = np.asarray(invalid_records, dtype=np.int64)
    adjusted = r - np.arange(len(r), dtype=np.int64)
    return k + np.searchsorted(adjusted, k, side="right")


class LineMap:
    """The physical line on which each record of a range starts: the range's first line plus the
    record index, unless records span several lines (then ``starts`` lists each record's line)."""

    def __init__(self, first_line: int, starts: np.ndarray | None = None):
        self.first_line, self.starts = first_line, starts

    def lines(self, records: np.ndarray) -> np.ndarray:
        if self.starts is None or not len(self.starts):
            return records + self.first_line
        # the scan and the parser read records by the same rules (tests/test_ingestion_hostile.py checks it);
        # clamped so that a disagreement could misplace a line number, never fail the file
        return self.starts[np.minimum(records, len(self.starts) - 1)]

    def line(self, record: int | None) -> int | None:
        return None if record is None else int(self.lines(np.array([record], np.int64))[0])


def _open_range(path: str, header_bytes: bytes, start: int, end: int):
    """The bytes of one range: (file object positioned at the range, its length or -1 for to the end).

    A ``.gz`` file is one range: its content after the header."""
    raw = open_regular(path)
    if path.endswith(".gz"):
        raw = gzip.GzipFile(fileobj=raw, mode="rb")
        raw.read(len(header_bytes))  # the header is supplied separately
        return raw, -1
    raw.seek(start)
    return raw, (-1 if end < 0 else end - start)


class _Limited(io.RawIOBase):
    """At most ``length`` bytes of ``raw`` (all of it for -1)."""

    def __init__(self, raw, length: int):
        self._raw, self._left = raw, length

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._left == 0:
            return b""
        want = size if self._left < 0 else (self._left if size < 0 else min(size, self._left))
        data = self._raw.read(want)
        if self._left > 0:
            self._left -= len(data)
        return data


def _line_map(path: str, header_bytes: bytes, start: int, end: int, first_line: int, delimiter: str,
              multiline: bool) -> LineMap:
    if not multiline:
        return LineMap(first_line)
    raw, length = _open_range(path, header_bytes, start, end)
    try:
        return LineMap(first_line, record_start_lines(_Limited(raw, length), delimiter, first_line))
    finally:
        raw.close()


def parse_range(path: str, spec: TableSpec, header: list[str], header_bytes: bytes, start: int, end: int,
                first_line: int,
                encoding: str, delimiter: str, lineage: dict, batch_rows: int = 65536,
                multiline: bool = False) -> Iterator[pa.RecordBatch]:
    """Yield typed Arrow batches (schema :func:`arrow_schema`) for one byte range of one file.

    ``multiline``: some quoted field of the range holds a line break (RFC 4180); the parser then allows
    it, and each record is given the line it starts on.  Otherwise records are lines (the faster parse)."""
    schema = arrow_schema(spec)
    invalid: list[tuple[int, str, int, int]] = []

    def on_invalid(row) -> str:
        invalid.append((row.number, row.text, row.expected_columns, row.actual_columns))
        return "skip"

    line_map = _line_map(path, header_bytes, start, end, first_line, delimiter, multiline)
    raw, length = _open_range(path, header_bytes, start, end)
    try:
        stream = _Utf8Stream(raw, header_bytes, length, encoding)
        reader = pacsv.open_csv(
            stream,
            read_options=pacsv.ReadOptions(use_threads=False, block_size=_BLOCK, column_names=header,
                                           skip_rows=1),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=on_invalid,
                                             ignore_empty_lines=False, newlines_in_values=multiline),
            # empty fields (quoted or not) are null; nothing else is
            convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in header},
                                                 null_values=[""], strings_can_be_null=True,
                                                 quoted_strings_can_be_null=True, check_utf8=False,
                                                 auto_dict_encode=False))
        names = list(header)
        n_done = 0
        for batch in reader:
            yield from _type_batch(batch, names, spec, schema, n_done, line_map, invalid, delimiter, lineage,
                                   batch_rows, stream.saw_replacement)
            n_done += batch.num_rows
        yield from _invalid_rows(invalid, spec, schema, line_map, lineage)
    finally:
        raw.close()


def _type_batch(batch: pa.RecordBatch, names: list[str], spec: TableSpec, schema: pa.Schema, n_done: int,
                line_map: LineMap, invalid: list, delimiter: str, lineage: dict, batch_rows: int,
                may_hold_replacement: bool = True):
    """Type one parsed batch and say for each row why it is refused (``may_hold_replacement``: a U+FFFD
    has been read, so look for undecodable bytes)."""
    n = batch.num_rows
    if n == 0:
        return
    cols = dict(zip(names, batch.columns))
    missing = pa.nulls(n, pa.string())
    refused = sorted(x[0] - 2 for x in invalid if x[0] is not None)   # row.number counts the header as 1
    lines = pa.array(line_map.lines(_record_indices(n_done, n, refused)), pa.int64())
    out = {}
    problems: list[tuple[pa.Array, object]] = []   # (row mask, message, or (raw values, message template))
    for col in spec.all_columns:
        raw = cols.get(col, missing)
        kind = spec.type_of(col)
        typed, failed = type_column(raw, kind)
        out[col] = typed
        if kind != STRING and failed.true_count:
            problems.append((failed, (raw, f"{col}: '{{}}' is not {_EXPECTED[kind]}")))
    contract = [cols.get(c, missing) for c in spec.all_columns]
    if all(a.null_count for a in contract):    # a column without nulls rules out empty rows
        blank = pc.is_null(contract[0])
        for a in contract[1:]:
            blank = pc.and_(blank, pc.is_null(a))
        problems.append((blank, "empty row"))
    for key in spec.keys:
        if cols.get(key, missing).null_count:
            problems.append((pc.is_null(cols.get(key, missing)), f"key column {key} is empty"))
    for name, arr in cols.items():     # absurd lengths (contract.max_chars)
        limit = max_chars(name)
        too_long = pc.fill_null(pc.greater(pc.utf8_length(arr), limit), False)
        if pc.any(too_long).as_py():
            problems.append((too_long, f"column {name}: longer than {limit} characters"))
    if may_hold_replacement:
        for name, arr in cols.items():  # undecodable bytes in the declared encoding
            problems.append((pc.fill_null(pc.match_substring(arr, "\ufffd"), False),
                             f"column {name}: bytes not valid in the declared encoding"))
    reason, raw_line = _reasons(problems, n, [batch.column(i) for i in range(len(names))], delimiter)
    extra_names = [c for c in names if c not in spec.all_columns]
    out["_extra"] = _extra_json(extra_names, [cols[c] for c in extra_names]) if extra_names else missing
    out.update(_lineage(n, lineage, lines, reason, raw_line))
    table = pa.Table.from_pydict({f.name: out[f.name] for f in schema}, schema=schema)
    yield from table.to_batches(max_chunksize=batch_rows)


_JSON_ESCAPED = r'[\x00-\x1f"\\]'   # what json.dumps(..., ensure_ascii=False) escapes in a string


def _extra_json(names: list[str], values: list[pa.Array]) -> pa.Array:
    """Unknown columns as one JSON object per row, exactly as ``json.dumps(..., ensure_ascii=False)``.

    Built with Arrow string joins; only a batch with a value that JSON must escape goes through Python.
    """
    if any(pc.any(pc.match_substring_regex(v, _JSON_ESCAPED)).as_py() for v in values):
        return pa.array([json.dumps(dict(zip(names, row)), ensure_ascii=False)
                         for row in zip(*(v.to_pylist() for v in values))], pa.string())
    members = [pc.binary_join_element_wise(json.dumps(name, ensure_ascii=False) + ": ",
                                           pc.fill_null(pc.binary_join_element_wise('"', v, '"', ""), "null"), "")
               for name, v in zip(names, values)]
    return pc.binary_join_element_wise("{", pc.binary_join_element_wise(*members, ", "), "}", "")


def _reasons(problems: list, n: int, raw_cols: list[pa.Array], delimiter: str) -> tuple[pa.Array, pa.Array]:
    """Reject reason and re-serialised line for each row with a problem (null elsewhere).

    Refused rows are rare, so the messages are assembled in Python for those rows only.
    """
    masks = [(pc.fill_null(m, False), msg) for m, msg in problems]
    masks = [(m, msg) for m, msg in masks if pc.any(m).as_py()]
    if not masks:
        return pa.nulls(n, pa.string()), pa.nulls(n, pa.string())
    any_bad = masks[0][0]
    for m, _ in masks[1:]:
        any_bad = pc.or_(any_bad, m)
    idx = pc.indices_nonzero(any_bad).to_pylist()
    reason, line = [None] * n, [None] * n
    flags = [m.to_numpy(zero_copy_only=False) for m, _ in masks]
    for i in idx:
        parts = []
        for flag, (_, msg) in zip(flags, masks):
            if flag[i]:
                parts.append(msg[1].format(msg[0][i].as_py()) if isinstance(msg, tuple) else msg)
        reason[i] = "; ".join(parts)
        line[i] = _csv_line([c[i].as_py() for c in raw_cols], delimiter)
    return pa.array(reason, pa.string()), pa.array(line, pa.string())


def _lineage(n: int, lineage: dict, lines: pa.Array, reason: pa.Array, raw_line: pa.Array) -> dict:
    return {
        "_source": pa.repeat(pa.scalar(lineage["source"], pa.string()), n),
        "_batch_id": pa.repeat(pa.scalar(lineage["batch_id"], pa.string()), n),
        "_file": pa.repeat(pa.scalar(lineage["file"], pa.string()), n),
        "_line_number": lines,
        "_ingest_time": pa.repeat(pa.scalar(lineage["ingest_time"], pa.timestamp("us", tz="UTC")), n),
        "_reject_reason": reason,
        "_raw_line": raw_line,
    }


def _invalid_rows(invalid: list, spec: TableSpec, schema: pa.Schema, line_map: LineMap, lineage: dict):
    if not invalid:
        return
    n = len(invalid)
    out = {c: pa.nulls(n, _ARROW[spec.type_of(c)]) for c in spec.all_columns}
    out["_extra"] = pa.nulls(n, pa.string())
    lines = pa.array([line_map.line(None if num is None else num - 2) for num, *_ in invalid], pa.int64())
    reason = pa.array([f"wrong number of fields: expected {exp}, got {act}" for _, _, exp, act in invalid])
    raw_line = pa.array([text for _, text, _, _ in invalid], pa.string())
    out.update(_lineage(n, lineage, lines, reason, raw_line))
    yield from pa.Table.from_pydict({f.name: out[f.name] for f in schema}, schema=schema).to_batches()
