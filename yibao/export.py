"""Files written for people to open in a spreadsheet (CSV, xlsx): cells that cannot run as formulas.

A cell whose text starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is a formula to
Excel, LibreOffice and WPS (CSV injection: ``=HYPERLINK(...)``, ``=cmd|' /C calc'!A0``).  Values come
from departments' files (institution and person names), so every export escapes them the one way the
OWASP CSV-injection guidance gives: such a cell gets a leading single quote, which spreadsheets read as
"this is text".  In xlsx every string is also written as a string cell, never as a formula.

Numbers stay numbers: only text is escaped (a negative amount is a float, not the text "-12.5").
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def escape_cell(value):
    """The value as it is safe to put in a spreadsheet cell: text starting with a formula character gets a
    leading single quote; anything else is returned unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def escape_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` with every text cell (and column name) passed through :func:`escape_cell`."""
    out = df.rename(columns=escape_cell)
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(escape_cell)
    return out


def write_csv(df: pd.DataFrame, path: Path, encoding: str = "utf-8-sig") -> None:
    """Write ``df`` as RFC 4180 CSV for spreadsheets (UTF-8 with BOM by default, for Excel), cells escaped.

    CRLF record ends: the CSV writer then quotes every field holding a CR or LF (with LF ends it leaves a
    lone CR unquoted, which a spreadsheet reads as a new row)."""
    escape_frame(df).to_csv(path, index=False, encoding=encoding, lineterminator="\r\n")


def write_xlsx(df: pd.DataFrame | dict[str, pd.DataFrame], path: Path, sheet_name: str = "Sheet1",
               number_format=None) -> None:
    """Write ``df`` (or one sheet per item of a dict: sheet name -> frame) as xlsx, cells escaped and every text
    cell stored as a string (never a formula).

    ``number_format(header, row_values) -> str | None`` gives a numeric cell its Excel format (e.g. ``0.0%``), from
    its column's header and its row (a dict header -> value); columns are widened to their content."""
    sheets = df if isinstance(df, dict) else {sheet_name: df}
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        for name, frame in sheets.items():
            escape_frame(frame).to_excel(writer, index=False, sheet_name=name)
            ws = writer.sheets[name]
            headers = [c.value for c in ws[1]]
            widths = [len(str(h or "")) * 2 for h in headers]
            for r, row in enumerate(ws.iter_rows()):
                values = dict(zip(headers, (c.value for c in row)))
                for i, cell in enumerate(row):
                    if isinstance(cell.value, str):
                        cell.data_type = "s"    # openpyxl stores text starting with "=" as a formula
                    elif r and number_format and isinstance(cell.value, (int, float)):
                        fmt = number_format(headers[i], values)
                        if fmt:
                            cell.number_format = fmt
                    widths[i] = max(widths[i], sum(2 if ord(ch) > 255 else 1 for ch in str(cell.value or "")))
            if number_format:
                from openpyxl.utils import get_column_letter

                for i, w in enumerate(widths):
                    ws.column_dimensions[get_column_letter(i + 1)].width = min(max(w + 2, 8), 60)


def file_part(name: str) -> str:
    """A file-name part from a name (a division's): letters, digits, '-' and '_' only, no path separators."""
    return "".join(ch for ch in str(name) if ch.isalnum() or ch in "-_") or "未知"


# Every file of personal data written for people outside the warehouse leaves an audit row in meta.export_audit
# (who, when, what filter, how many rows, which identifiers unmasked): the suspect export, the national list's
# verification file.
EXPORT_AUDIT_DDL = ("export_id string, user string, os_user string, role string, exported_at timestamp, "
                    "filter string, row_count long, file string, format string, unmasked string")


def record_export(cat, *, user: str | None, role: str, filt: dict, row_count: int, file: Path, fmt: str,
                  unmasked: str) -> dict:
    """Append one row to ``meta.export_audit`` (created when absent) and return it as a dict."""
    import getpass
    import json
    import uuid
    from datetime import datetime, timezone

    os_user = getpass.getuser()
    rec = {"export_id": uuid.uuid4().hex, "user": user or os_user, "os_user": os_user, "role": role,
           "exported_at": datetime.now(timezone.utc).replace(tzinfo=None),
           "filter": json.dumps(filt, ensure_ascii=False), "row_count": int(row_count),
           "file": str(Path(file).resolve()), "format": fmt, "unmasked": unmasked}
    cat.ensure("meta", "export_audit", EXPORT_AUDIT_DDL)
    cat.append(cat.spark.createDataFrame([tuple(rec.values())], EXPORT_AUDIT_DDL), "meta", "export_audit")
    return rec


# Every read of personal data through the dashboards (chart data, downloads, drill to detail) appends one JSON line
# to <data_root>/audit/access-<UTC date>.jsonl (dashboards/superset_side/yibao_audit.py, inside Superset); the
# exports above are in meta.export_audit.  `yibao audit access` lists both.
def access_audit_dir(data_root: Path) -> Path:
    return Path(data_root).resolve() / "audit"


def read_access_audit(data_root: Path, since: str | None = None, user: str | None = None) -> list[dict]:
    """The audit rows of dashboard reads of personal data, oldest first (``since``: an ISO date or time, UTC)."""
    import json

    rows = []
    for f in sorted(access_audit_dir(data_root).glob("access-*.jsonl")):
        for line in f.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            r = json.loads(line)
            if (since is None or r["at"] >= since) and (user is None or r.get("username") == user):
                rows.append(r)
    return sorted(rows, key=lambda r: r["at"])
