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
