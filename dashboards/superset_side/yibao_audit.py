"""Runs inside Superset (``FLASK_APP_MUTATOR`` in ``superset_config.py``): an audit row for every read of personal
data through Superset.

Every response of the chart-data API (what dashboards, explore, the CSV / Excel download and drill-to-detail
call) over a dataset that holds personal data (``YIBAO_AUDITED_DATASETS``, derived by ``yibao serve`` from the
bundle's datasets with :func:`yibao.masking.is_personal_column`) appends one JSON line to
``<YIBAO_AUDIT_DIR>/access-<UTC date>.jsonl``: when, who (user and roles), from where, the dataset, the chart,
the format, how many rows went out, and the HTTP status.  A refused request (403) is recorded too.

The file is opened append-only (``O_APPEND``) and each row is one ``write``, so rows of concurrent gunicorn
workers never interleave; no Superset role has any path to change it (``yibao audit access`` reads it; the
administrator of the machine owns it).  An audit row that cannot be written fails the request (HTTP 500): a
read that cannot be audited is not served.
"""

import json
import os
import uuid
from datetime import datetime, timezone

AUDITED = {t for t in os.environ.get("YIBAO_AUDITED_DATASETS", "").split(",") if t}
_tables: dict[int, str] = {}


def audit_dir() -> str:
    d = os.environ.get("YIBAO_AUDIT_DIR") or os.path.join(os.environ.get("YIBAO_SUPERSET_HOME", "."), "audit")
    os.makedirs(d, mode=0o750, exist_ok=True)
    return d


def append(row: dict) -> None:
    path = os.path.join(audit_dir(), f"access-{row['at'][:10].replace('-', '')}.jsonl")
    line = (json.dumps(row, ensure_ascii=False, default=str) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o640)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def _table_of(datasource_id: int):
    if datasource_id not in _tables:
        from superset import db
        from superset.connectors.sqla.models import SqlaTable

        t = db.session.query(SqlaTable).filter_by(id=datasource_id).one_or_none()
        if t is None:
            return None
        _tables[datasource_id] = t.table_name
    return _tables[datasource_id]


def _rows(response, fmt: str) -> int | None:
    if response.status_code != 200:
        return 0
    if fmt in ("csv",):
        text = response.get_data().decode("utf-8-sig", errors="replace")
        return max(0, len([ln for ln in text.splitlines() if ln.strip()]) - 1)
    if fmt in ("xlsx",):
        return None   # a workbook: the row count is not read back from it
    try:
        return sum(int(q.get("rowcount") or 0) for q in (response.get_json() or {}).get("result") or [])
    except Exception:
        return None


def _request_of(request):
    """(datasource id, slice id, format, result type) of a chart-data request, POST body or saved chart."""
    if request.method == "POST":
        body = request.get_json(silent=True)
        if body is None and request.form.get("form_data"):   # the download form posts form_data
            body = json.loads(request.form["form_data"])
        body = body or {}
        ds = (body.get("datasource") or {}).get("id")
        form = body.get("form_data") or {}
        return ds, form.get("slice_id"), body.get("result_format", "json"), body.get("result_type", "full")
    parts = request.path.strip("/").split("/")        # GET /api/v1/chart/<pk>/data/
    try:
        pk = int(parts[3])
    except (IndexError, ValueError):
        return None, None, "json", "full"
    from superset import db
    from superset.models.slice import Slice

    s = db.session.query(Slice).filter_by(id=pk).one_or_none()
    return (s.datasource_id if s else None), pk, request.args.get("format", "json"), request.args.get("type", "full")


def install(app) -> None:
    from flask import g, request

    @app.after_request
    def audit_personal_reads(response):
        path = request.path.rstrip("/")
        if not (path == "/api/v1/chart/data" or (path.startswith("/api/v1/chart/") and path.endswith("/data"))):
            return response
        ds, slice_id, fmt, rtype = _request_of(request)
        table = _table_of(int(ds)) if ds is not None else None
        if table not in AUDITED or rtype in ("query", "samples_count"):
            return response
        user = getattr(g, "user", None)
        append({"event_id": uuid.uuid4().hex, "at": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                "username": getattr(user, "username", None),
                "roles": sorted(r.name for r in getattr(user, "roles", []) or []),
                "ip": request.headers.get("X-Forwarded-For", request.remote_addr), "method": request.method,
                "path": request.path, "dataset": table, "slice_id": slice_id, "format": fmt, "result_type": rtype,
                "rows": _rows(response, fmt), "status": response.status_code})
        return response
