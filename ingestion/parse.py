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

from yibao.ingestion.contract import (DATE, ENCODINGS, FLAG, MONEY, QUANTITY, STRING, TIMESTAMP, YEAR,
                                      YEARMONTH, TableSpec)

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

class _Utf8Stream(io.RawIOBase):
    """Header + a byte range of the file, decoded from the declared encoding, re-encoded as UTF-8.

    Undecodable bytes become U+FFFD, which marks the row for quarantine instead of failing the file.
    """

    def __init__(self, raw: io.BufferedIOBase, header: bytes, length: int, encoding: str):
        self._raw, self._left = raw, length
        self._dec = codecs.getincrementaldecoder(ENCODINGS[encoding])(errors="replace")
        self._buf = self._dec.decode(header).encode("utf-8")
        self._eof = False

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        while not self._buf and not self._eof:
            want = 4 << 20 if self._left < 0 else min(4 << 20, self._left)
            chunk = self._raw.read(want) if want else b""
            if self._left >= 0:
                self._left -= len(chunk)
            if not chunk:
                self._eof = True
                self._buf = self._dec.decode(b"", final=True).encode("utf-8")
            else:
                self._buf = self._dec.decode(chunk).encode("utf-8")
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


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


def type_column(raw: pa.Array, kind: str) -> tuple[pa.Array, pa.Array]:
    """Type one column of raw strings.  Returns (typed values, mask of values that failed to type).

    Empty or blank cells are null, never failures.  Strings are kept exactly as delivered.
    """
    if kind == STRING:
        return raw, pa.nulls(len(raw), pa.bool_()).fill_null(False)
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


def _line_numbers(n_before: int, count: int, first_line: int, invalid_lines: list[int]) -> np.ndarray:
    """Physical line numbers of good rows ``n_before .. n_before+count-1`` of a range.

    Good rows fill the lines the parser did not refuse: with the refused lines at sorted offsets r_j
    from the range start, good row k sits at offset k + #{j : r_j - j <= k}.
    """
    k = np.arange(n_before, n_before + count, dtype=np.int64)
    if not invalid_lines:
        return k + first_line
    r = np.asarray(invalid_lines, dtype=np.int64) - first_line
    adjusted = r - np.arange(len(r), dtype=np.int64)
    return k + np.searchsorted(adjusted, k, side="right") + first_line


def parse_range(path: str, spec: TableSpec, header: list[str], header_bytes: bytes, start: int, end: int,
                first_line: int,
                encoding: str, delimiter: str, lineage: dict, batch_rows: int = 65536) -> Iterator[pa.RecordBatch]:
    """Yield typed Arrow batches (schema :func:`arrow_schema`) for one byte range of one file."""
    schema = arrow_schema(spec)
    invalid: list[tuple[int, str, int, int]] = []

    def on_invalid(row) -> str:
        invalid.append((row.number, row.text, row.expected_columns, row.actual_columns))
        return "skip"

    if path.endswith(".gz"):
        raw = gzip.open(path, "rb")
        raw.readline()  # the header is supplied separately
        length = -1
    else:
        raw = open(path, "rb")
        raw.seek(start)
        length = -1 if end < 0 else end - start
    try:
        stream = _Utf8Stream(raw, header_bytes, length, encoding)
        reader = pacsv.open_csv(
            stream,
            read_options=pacsv.ReadOptions(use_threads=False, block_size=8 << 20, column_names=header,
                                           skip_rows=1),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=on_invalid,
                                             ignore_empty_lines=False, newlines_in_values=False),
            convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in header},
                                                 strings_can_be_null=False,
                                                 quoted_strings_can_be_null=False, check_utf8=False,
                                                 auto_dict_encode=False))
        names = list(header)
        n_done = 0
        for batch in reader:
            yield from _type_batch(batch, names, spec, schema, n_done, first_line, invalid, delimiter, lineage,
                                   batch_rows)
            n_done += batch.num_rows
        yield from _invalid_rows(invalid, spec, schema, first_line, lineage)
    finally:
        raw.close()


def _type_batch(batch: pa.RecordBatch, names: list[str], spec: TableSpec, schema: pa.Schema, n_done: int,
                first_line: int, invalid: list, delimiter: str, lineage: dict, batch_rows: int):
    n = batch.num_rows
    if n == 0:
        return
    cols = {}
    for name, arr in zip(names, batch.columns):
        cols[name] = pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.string()), arr)
    bad_lines = sorted(x[0] - 2 + first_line for x in invalid if x[0] is not None)
    lines = pa.array(_line_numbers(n_done, n, first_line, bad_lines), pa.int64())
    out = {}
    problems: list[tuple[pa.Array, object]] = []   # (row mask, message, or (raw values, message template))
    for col in spec.all_columns:
        raw = cols.get(col, pa.nulls(n, pa.string()))
        kind = spec.type_of(col)
        typed, failed = type_column(raw, kind)
        out[col] = typed
        if kind != STRING and pc.any(failed).as_py():
            problems.append((failed, (raw, f"{col}: '{{}}' is not {_EXPECTED[kind]}")))
    blank = None
    for c in spec.all_columns:
        v = pc.is_null(cols.get(c, pa.nulls(n, pa.string())))
        blank = v if blank is None else pc.and_(blank, v)
    problems.append((blank, "empty row"))
    for key in spec.keys:
        problems.append((pc.is_null(cols.get(key, pa.nulls(n, pa.string()))), f"key column {key} is empty"))
    for name, arr in cols.items():  # undecodable bytes in the declared encoding
        problems.append((pc.fill_null(pc.match_substring(arr, "\ufffd"), False),
                         f"column {name}: bytes not valid in the declared encoding"))
    reason, raw_line = _reasons(problems, n, [batch.column(i) for i in range(len(names))], delimiter)
    extra_names = [c for c in names if c not in spec.all_columns]
    if extra_names:
        extra_vals = [cols[c].to_pylist() for c in extra_names]
        out["_extra"] = pa.array([json.dumps(dict(zip(extra_names, vals)), ensure_ascii=False)
                                  for vals in zip(*extra_vals)], pa.string())
    else:
        out["_extra"] = pa.nulls(n, pa.string())
    out.update(_lineage(n, lineage, lines, reason, raw_line))
    table = pa.Table.from_pydict({f.name: out[f.name] for f in schema}, schema=schema)
    yield from table.to_batches(max_chunksize=batch_rows)


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


def _invalid_rows(invalid: list, spec: TableSpec, schema: pa.Schema, first_line: int, lineage: dict):
    if not invalid:
        return
    n = len(invalid)
    out = {c: pa.nulls(n, _ARROW[spec.type_of(c)]) for c in spec.all_columns}
    out["_extra"] = pa.nulls(n, pa.string())
    lines = pa.array([None if num is None else num - 2 + first_line for num, *_ in invalid], pa.int64())
    reason = pa.array([f"wrong number of fields: expected {exp}, got {act}" for _, _, exp, act in invalid])
    raw_line = pa.array([text for _, text, _, _ in invalid], pa.string())
    out.update(_lineage(n, lineage, lines, reason, raw_line))
    yield from pa.Table.from_pydict({f.name: out[f.name] for f in schema}, schema=schema).to_batches()
