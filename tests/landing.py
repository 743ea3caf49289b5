"""Build small landing-zone batches by hand, with correct (or deliberately wrong) manifests."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path


def write_batch(landing: Path, source: str, batch_id: str, files: dict[str, list[str]], *, mode: str = "full",
                encoding: str = "utf-8", manifest_overrides: dict | None = None,
                file_overrides: dict[str, dict] | None = None) -> Path:
    """Write ``files`` ({table: [header line, data lines...]}) and a manifest that matches them.

    ``manifest_overrides`` replaces top-level manifest keys; ``file_overrides`` replaces keys of one file's
    entry (e.g. {"psn_info": {"rows": 99}}) to make a manifest that does not match its files.
    """
    batch = landing / source / batch_id
    batch.mkdir(parents=True, exist_ok=True)
    entries = []
    for table, lines in files.items():
        data = ("\n".join(lines) + "\n").encode(encoding)
        name = f"{table}.csv"
        (batch / name).write_bytes(data)
        entry = {"name": name, "table": table, "rows": len(lines) - 1, "sha256": hashlib.sha256(data).hexdigest()}
        entry.update((file_overrides or {}).get(table, {}))
        entries.append(entry)
    manifest = {"source": source, "batch_id": batch_id, "extract_time": "2026-11-01 02:00:00", "mode": mode,
                "encoding": encoding, "delimiter": ",", "files": entries}
    manifest.update(manifest_overrides or {})
    (batch / "_manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    return batch


def rewrite_file(batch: Path, table: str, data: bytes, *, name: str | None = None, rows: int | None = None) -> Path:
    """Replace the bytes of ``table``'s file in ``batch`` (optionally under another ``name``) and make the
    manifest match them (sha256, name; ``rows`` when given)."""
    manifest_path = batch / "_manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    entry = next(e for e in manifest["files"] if e["table"] == table)
    (batch / entry["name"]).unlink(missing_ok=True)
    entry["name"] = name or entry["name"]
    (batch / entry["name"]).write_bytes(data)
    entry["sha256"] = hashlib.sha256(data).hexdigest()
    if rows is not None:
        entry["rows"] = rows
    manifest_path.write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    return batch / entry["name"]


def delta_versions(settings) -> dict[str, int]:
    """The Delta version of every bronze and meta table."""
    from deltalake import DeltaTable
    out = {}
    for schema in ("bronze", "meta"):
        for p in sorted((settings.warehouse / schema).iterdir()):
            out[f"{schema}.{p.name}"] = DeltaTable(str(p)).version()
    return out


def table_state(settings, schemas: tuple[str, ...] = ("bronze", "meta")) -> dict:
    """Every table's rows, without the wall-clock columns, as comparable sets."""
    from yibao.catalog import read_delta_arrow
    clock = {"_ingest_time", "ingest_time", "started_at", "finished_at"}
    out = {}
    for schema in schemas:
        for p in sorted((settings.warehouse / schema).iterdir()):
            table = read_delta_arrow(p)
            cols = [c for c in table.column_names if c not in clock]
            out[f"{schema}.{p.name}"] = sorted(map(repr, table.select(cols).to_pylist()))
    return out
