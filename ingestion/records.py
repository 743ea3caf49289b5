"""Delivered files at the byte level: opening them safely, where their records end, and whether their
bytes are in the declared encoding.

Pure file-system and byte-level code, fed block by block: the manifest check runs it in its one pass over every file
(sha256, record count, split points), and the parser runs the record part again over a range whose
records span several lines, to give each record the line it starts on.

Records follow RFC 4180 exactly as the parser (pyarrow's CSV reader) reads them: a line break ends a
record unless it is inside a quoted field; a quote opens a quoted field only at the start of a field;
inside one, a doubled quote is a quote and a single quote closes the field; a quote anywhere else is an
ordinary character.  Only LF is a line break here (CR LF is an LF ending), as the row count has always
counted.

Speed: a block without quotes (the usual case) costs one ``memchr`` for the quote; a block with quotes
costs a few vectorised passes (numpy) and, only where the quoting is malformed, a loop over its quotes.
"""

from __future__ import annotations

import codecs
import errno
import os
import stat
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import pyarrow as pa

_QUOTE, _LF, _CR = 0x22, 0x0A, 0x0D


class UnsafeFile(OSError):
    """A delivered path that is not a regular file inside the landing zone (a link, a device, a pipe)."""


def open_regular(path) -> BinaryIO:
    """Open a delivered file for reading: never through a symbolic link (``O_NOFOLLOW``), and only if it is
    a regular file (a pipe or device is refused without blocking: ``O_NONBLOCK``)."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeFile("is a symbolic link: nothing outside the landing zone is read") from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UnsafeFile("is not a regular file")
    return os.fdopen(fd, "rb")


def file_identity(st: os.stat_result) -> tuple[int, int, int, int]:
    """What changes when a file is rewritten or appended to: size, modification time, inode, device."""
    return (st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)


def path_problem(path) -> str | None:
    """Why a delivered path cannot be read (without following it), or None for a regular file."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return "is missing"
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if stat.S_ISLNK(mode):
        return "is a symbolic link: nothing outside the landing zone is read"
    if not stat.S_ISREG(mode):
        return "is not a regular file"
    return None

# Lexer states at a block boundary.
FIELD_START, IN_FIELD, IN_QUOTED, AFTER_QUOTE = range(4)


@dataclass
class BlockRecords:
    """What one block holds.  ``lf``/``ends`` are None on the fast path (no quoting involved): then every
    LF of the block ends a record, and callers use ``bytes.count``/``bytes.find``."""
    n_lf: int                       # line breaks in the block
    lf: np.ndarray | None = None    # offsets of every LF in the block
    ends: np.ndarray | None = None  # offsets of the LFs that end a record

    @property
    def n_records(self) -> int:
        return self.n_lf if self.ends is None else len(self.ends)

    @property
    def multiline(self) -> bool:
        """Some line break of this block is inside a quoted field."""
        return self.ends is not None and len(self.ends) < self.n_lf

    def inside_lf(self) -> np.ndarray:
        """Offsets of the LFs inside quoted fields."""
        if not self.multiline:
            return np.empty(0, np.int64)
        return np.setdiff1d(self.lf, self.ends, assume_unique=True)

    def last_end(self, block: bytes) -> int:
        """Offset of the last record-ending LF of the block (-1 if none)."""
        if self.ends is None:
            return block.rfind(b"\n")
        return int(self.ends[-1]) if len(self.ends) else -1

    def lf_through(self, block: bytes, pos: int) -> int:
        """How many LFs the block has at or before offset ``pos``."""
        if self.lf is not None:
            return int(np.searchsorted(self.lf, pos, side="right"))
        return self.n_lf if pos >= len(block) - 1 or block.rfind(b"\n") == pos else block.count(b"\n", 0, pos + 1)

    def first_end_at_or_after(self, block: bytes, pos: int) -> int:
        """Offset of the first record-ending LF at or after ``pos`` (-1 if none)."""
        if self.ends is None:
            return block.find(b"\n", pos)
        i = int(np.searchsorted(self.ends, pos))
        return int(self.ends[i]) if i < len(self.ends) else -1


def _ends_field(byte: int, delimiter: int) -> bool:
    return byte == delimiter or byte == _LF or byte == _CR


class RecordScanner:
    """Feed a byte stream block by block; learn which line breaks end a record."""

    def __init__(self, delimiter: str):
        self._delim = ord(delimiter)
        # bytes after which a quote may open a field (or, a quote, reopen it: a doubled quote), and bytes that
        # may follow a closing quote: one lookup per quote
        self._may_open_after = np.zeros(256, bool)
        self._may_open_after[[self._delim, _LF, _CR, _QUOTE]] = True
        self.state = FIELD_START
        self.offset = 0          # bytes fed so far
        self.lines = 0           # LFs fed so far
        self.open_line = 0      # 1-based line on which the quoted field we are in opened (state IN_QUOTED)

    @property
    def inside_quotes(self) -> bool:
        return self.state == IN_QUOTED

    def feed(self, block: bytes) -> BlockRecords:
        n = len(block)
        if not n:
            return BlockRecords(0)
        if self.state != IN_QUOTED and b'"' not in block:
            out = BlockRecords(block.count(b"\n"))
            self.state = FIELD_START if _ends_field(block[-1], self._delim) else IN_FIELD
        else:
            out = self._feed_quoted(block)
        self.offset += n
        self.lines += out.n_lf
        return out

    def _feed_quoted(self, block: bytes) -> BlockRecords:
        a = np.frombuffer(block, np.uint8)
        quotes = np.flatnonzero(a == _QUOTE)
        lf = np.flatnonzero(a == _LF)
        start = self.state
        toggles = quotes if self._parity_holds(a, quotes, start) else self._toggles_by_lexer(a, quotes, start)
        inside0 = int(start == IN_QUOTED)
        inside = ((np.searchsorted(toggles, lf) + inside0) & 1).astype(bool)
        inside_end = bool((len(toggles) + inside0) & 1)
        if inside_end:
            self.state = IN_QUOTED
            if len(toggles):   # the quote that opened the field we end in
                self.open_line = self.lines + int(np.searchsorted(lf, toggles[-1])) + 1
        elif a[-1] == _QUOTE and len(toggles) and toggles[-1] == len(a) - 1:
            self.state = AFTER_QUOTE
        else:
            self.state = FIELD_START if _ends_field(int(a[-1]), self._delim) else IN_FIELD
        return BlockRecords(len(lf), lf, lf[~inside])

    def _parity_holds(self, a: np.ndarray, quotes: np.ndarray, start: int) -> bool:
        """Whether every quote toggles in and out of a quoted field (well-formed RFC 4180 quoting).

        Then quotes alternate opening and closing (a doubled quote inside a field counts as a close and
        a reopen, which leaves every other byte inside), and the lexer is not needed."""
        if not len(quotes):
            return True
        first_opens = start != IN_QUOTED
        openers = quotes[0 if first_opens else 1::2]
        closers = quotes[1 if first_opens else 0::2]
        if len(openers):
            if openers[0] == 0:
                if start not in (FIELD_START, AFTER_QUOTE):
                    return False
                openers = openers[1:]
            if len(openers) and not self._may_open_after[a[openers - 1]].all():
                return False    # a quote inside an unquoted field: an ordinary character
        closers = closers[closers < len(a) - 1]
        return not len(closers) or bool(self._may_open_after[a[closers + 1]].all())

    def _toggles_by_lexer(self, a: np.ndarray, quotes: np.ndarray, start: int) -> np.ndarray:
        """Offsets where a quoted field opens or closes, by the parser's rules, one quote at a time
        (only for blocks with malformed quoting)."""
        toggles: list[int] = []
        inside = start == IN_QUOTED
        qs, n, i = quotes.tolist(), len(a), 0
        while i < len(qs):
            p = qs[i]
            if inside:
                if p + 1 < n and a[p + 1] == _QUOTE and i + 1 < len(qs):
                    i += 2          # a doubled quote: a quote character inside the field
                    continue
                toggles.append(p)   # closes the field (what follows up to the delimiter is ordinary text)
                inside = False
            elif (start in (FIELD_START, AFTER_QUOTE)) if p == 0 else _ends_field(int(a[p - 1]), self._delim):
                toggles.append(p)   # at the start of a field (or, after a closing quote, a doubled quote)
                inside = True
            i += 1
        return np.asarray(toggles, np.int64)


def record_start_lines(stream, delimiter: str, first_line: int, block_size: int = 8 << 20) -> np.ndarray:
    """The physical line on which each record of ``stream`` starts (the stream starts a record on
    ``first_line``).  A final record without a line break is included; an empty stream has none."""
    scanner = RecordScanner(delimiter)
    starts = [np.array([first_line], np.int64)]
    last = b""
    while True:
        block = stream.read(block_size)
        if not block:
            break
        lines_before = scanner.lines
        br = scanner.feed(block)
        if br.ends is None:
            lf = np.flatnonzero(np.frombuffer(block, np.uint8) == _LF)
            ends_idx = np.arange(len(lf), dtype=np.int64)
        else:
            ends_idx = np.searchsorted(br.lf, br.ends)
        # the record after an end starts on the line after that LF
        starts.append(first_line + lines_before + ends_idx + 1)
        last = block[-1:]
    out = np.concatenate(starts)
    if last in (b"", b"\n"):    # no record after the final line break
        out = out[:-1]
    return out


# -- encoding ------------------------------------------------------------------------------------

_BOMS = ((codecs.BOM_UTF8, "UTF-8"), (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16"))
UTF8_FAMILY = "utf-8-sig"            # the codec contract.ENCODINGS maps utf-8 / utf8 to
DECIDE_LINES = 1000                  # lines with non-ASCII text looked at before judging a UTF-8 file
NOT_UTF8_SHARE = 0.9                 # above this share of invalid ones, the file is not UTF-8 at all
UTF8_EVIDENCE = 6                    # non-ASCII bytes, all valid UTF-8, that show a GBK-declared file is UTF-8
                                     # (two CJK characters; a lone GBK character can happen to be valid UTF-8)
_MAX_TAIL = 32 << 20                 # a line longer than this is judged in pieces


def valid_utf8(data: bytes) -> bool:
    """Whether ``data`` is valid UTF-8, checked by Arrow without building Python text (GB/s)."""
    offsets = pa.array([0, len(data)], pa.int32()).buffers()[1]
    try:
        pa.Array.from_buffers(pa.string(), 1, [None, offsets, pa.py_buffer(data)]).validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


class EncodingProbe:
    """Whether a file is in its declared encoding, judged from its blocks; stops looking once sure.

    * Declared GBK (GB2312, GB18030): a UTF-8 byte order mark, or non-ASCII text that is valid UTF-8
      throughout, means the file is UTF-8 (GBK text is practically never valid UTF-8).  A GBK file stops
      the check at its first non-ASCII block.
    * Declared UTF-8: a few lines with bytes that are not UTF-8 are those rows' problem (the parser
      quarantines them one by one); when nearly every line with non-ASCII text is invalid, the whole file
      is in another encoding.  Judged on the first lines with non-ASCII text (about one block).
    * A UTF-16 byte order mark is wrong for both.

    ``finish()`` returns the reason the file is refused, or None.
    """

    def __init__(self, declared: str, codec: str):
        self.declared, self._utf8 = declared, codec == UTF8_FAMILY
        self.problem: str | None = None
        self._done = False
        self._first = True
        self._tail = b""                 # bytes after the last line break seen: a line is judged whole
        self._nonascii_lines = 0         # lines with non-ASCII text looked at (UTF-8 declared)
        self._bad_lines = 0              # of those, lines that are not valid UTF-8
        self._reads_as_gbk = True        # every bad line decodes as GBK
        self._utf8_bytes = 0             # (GBK declared) non-ASCII bytes seen, all of them valid UTF-8

    def feed(self, block: bytes) -> None:
        if self._done or not block:
            return
        if self._first:
            self._first = False
            for bom, name in _BOMS:
                if block.startswith(bom) and not (self._utf8 and name == "UTF-8"):
                    self._refuse(f"declared {self.declared} but the file is {name} (BOM)")
                    return
        cut = block.rfind(b"\n") + 1
        if not cut and len(self._tail) + len(block) <= _MAX_TAIL:
            self._tail += block
            return
        cut = cut or len(block)
        if block.isascii() and self._tail.isascii():
            self._tail = block[cut:]
            return
        data = self._tail + block[:cut]
        self._tail = block[cut:]
        self._judge(data)

    def finish(self) -> str | None:
        if not self._done and self._tail:
            self._judge(self._tail)
        if not self._done:
            if self._utf8:
                self._decide_utf8()
            elif self._utf8_bytes >= UTF8_EVIDENCE:
                self._refuse(f"declared {self.declared} but the file is UTF-8 (valid UTF-8 multibyte text)")
        self._done = True
        return self.problem

    def _refuse(self, reason: str) -> None:
        self.problem, self._done = reason, True

    def _judge(self, data: bytes) -> None:
        if data.isascii():
            return
        if not self._utf8:               # declared GBK: keep checking until some text is not UTF-8
            if valid_utf8(data):
                if self._utf8_bytes < UTF8_EVIDENCE:
                    self._utf8_bytes += int(np.count_nonzero(np.frombuffer(data, np.uint8) >= 0x80))
            else:
                self._done = True
            return
        if valid_utf8(data):             # every line valid (counting ASCII-only lines errs towards UTF-8)
            self._nonascii_lines += data.count(b"\n") or 1
        else:
            self._count_bad_lines(data)
        if self._nonascii_lines >= DECIDE_LINES:
            self._decide_utf8()

    def _count_bad_lines(self, data: bytes) -> None:
        for line in data.split(b"\n"):
            if line.isascii():
                continue
            self._nonascii_lines += 1
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                self._bad_lines += 1
                if self._reads_as_gbk:
                    try:
                        line.decode("gbk")
                    except UnicodeDecodeError:
                        self._reads_as_gbk = False

    def _decide_utf8(self) -> None:
        self._done = True
        if self._nonascii_lines and self._bad_lines > NOT_UTF8_SHARE * self._nonascii_lines:
            hint = "; it reads as GBK: declare encoding gbk" if self._reads_as_gbk else ""
            self.problem = (f"declared {self.declared} but the file is not UTF-8: {self._bad_lines:,} of the "
                            f"{self._nonascii_lines:,} lines with non-ASCII text checked are not valid UTF-8{hint}")
