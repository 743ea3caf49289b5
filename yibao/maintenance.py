"""Warehouse maintenance: delete the files of Delta versions nobody reads any more, and compact small files.

Every run rewrites most silver and gold tables whole and merges new rows into bronze and the incremental models;
Delta keeps the files of every earlier version until a vacuum deletes them.  Without it a warehouse that takes
a batch every day grows by a whole silver and gold layer a day (measured in benchmarks/RESULTS.md, issue 16).

What is kept:
- every table's current version, and the files of versions replaced less than ``vacuum_retain_hours`` ago
  (a dashboard query or a run that started before the replacement may still be reading them);
- for a bronze table, every version from the one the quality gate released (``meta.released_version``) to the
  head: dbt reads the released version by time travel, and a held head waits for a steward.  A bronze table
  with nothing released keeps all its versions.
- ``_staging`` and the other schemas whose name starts with ``_`` are not touched (a held full snapshot waits
  there).

Compaction (``optimize``) rewrites the small files that daily merges leave into larger ones; it commits a new
version, so readers are unaffected.  It is part of ``yibao maintain --optimize``, not of every run.

Runs without the engine (``deltalake``), on a warehouse no run is writing to: the pipeline calls it at its end,
``yibao maintain`` on demand or on the orchestrator's schedule.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from yibao.config import Settings


@dataclass
class TableMaintenance:
    schema: str
    table: str
    files_deleted: int = 0
    bytes_before: int = 0
    bytes_after: int = 0
    compacted: int = 0           # files rewritten by optimize
    kept_versions: list[int] = field(default_factory=list)
    error: str | None = None


@dataclass
class Maintenance:
    tables: list[TableMaintenance] = field(default_factory=list)

    @property
    def bytes_freed(self) -> int:
        return sum(t.bytes_before - t.bytes_after for t in self.tables)

    @property
    def files_deleted(self) -> int:
        return sum(t.files_deleted for t in self.tables)

    @property
    def errors(self) -> list[str]:
        return [f"{t.schema}.{t.table}: {t.error}" for t in self.tables if t.error]


def disk_bytes(path: Path) -> int:
    """Bytes of every file below ``path`` (0 when it does not exist)."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def delta_tables(warehouse: Path) -> list[tuple[str, str]]:
    """(schema, table) of every Delta table in the warehouse, schemas starting with ``_`` left out."""
    return sorted((log.parent.parent.name, log.parent.name) for log in warehouse.glob("*/*/_delta_log")
                  if not log.parent.parent.name.startswith("_"))


def released_versions(warehouse: Path) -> dict[tuple[str, str], int]:
    """(schema, table) -> the Delta version the quality gate released, from meta.released_version."""
    from yibao.catalog import read_delta_arrow

    rows = read_delta_arrow(warehouse / "meta" / "released_version", ["schema", "table", "delta_version"])
    return {} if rows is None else {(r["schema"], r["table"]): int(r["delta_version"]) for r in rows.to_pylist()
                                    if r["delta_version"] is not None}


def keep_versions(schema: str, table: str, head: int, released: dict[tuple[str, str], int]) -> list[int] | None:
    """The versions whose files must survive beyond the retention, or None when the table must not be vacuumed."""
    if schema != "bronze":
        return []
    r = released.get((schema, table))
    if r is None:
        return None          # never released: every version may still be what a steward decides about
    return list(range(min(r, head), head + 1))


def maintain(settings: Settings, optimize: bool = False, retain_hours: int | None = None,
             on_table: Callable[[str, int, int], None] | None = None) -> Maintenance:
    """Vacuum (and with ``optimize`` first compact) every Delta table of the warehouse; see the module docstring.
    A table that fails is reported in the result and the others go on: maintenance only ever frees disk."""
    from deltalake import DeltaTable

    out = Maintenance()
    if settings.table_format != "delta":
        return out
    warehouse = settings.warehouse
    hours = settings.vacuum_retain_hours if retain_hours is None else retain_hours
    released = released_versions(warehouse)
    tables = delta_tables(warehouse)
    for i, (schema, table) in enumerate(tables, 1):
        path = warehouse / schema / table
        t = TableMaintenance(schema, table, bytes_before=disk_bytes(path))
        out.tables.append(t)
        try:
            dt = DeltaTable(str(path))
            keep = keep_versions(schema, table, dt.version(), released)
            if keep is not None:
                if optimize:
                    metrics = dt.optimize.compact()
                    t.compacted = int(metrics.get("numFilesRemoved", 0))
                    dt = DeltaTable(str(path))
                t.kept_versions = keep
                t.files_deleted = len(dt.vacuum(retention_hours=hours, dry_run=False,
                                                enforce_retention_duration=False, keep_versions=keep or None))
        except Exception as exc:    # disk space only: every table stays complete and readable
            t.error = f"{type(exc).__name__}: {exc}"
            warnings.warn(f"could not maintain {schema}.{table}: {t.error}")
        t.bytes_after = disk_bytes(path)
        if on_table:
            on_table(f"{schema}.{table}", i, len(tables))
    return out
