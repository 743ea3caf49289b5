"""Steward decisions on held batches: ``meta.steward_decision``, an append-only audit table.

A batch can be held in two places, and a steward decides on both the same way
(``yibao quality release|hold <source>/<table> <batch_id> --reason ...``):

* **at the door** (ingestion): a ``full`` delivery that would remove most of a table is not applied; its
  ``meta.ingest_log`` row has status ``held``.  A ``release`` decision makes the next ingest run apply it
  (when no later batch of that table has been applied since); ``hold`` keeps it out for good.
* **at the gate** (bronze quality): a table version that breaks a structural rule is not released to silver.
  A ``release`` decision makes the next quality run release it anyway; a ``hold`` decision keeps a batch
  out even when it passes its checks.

Every decision is one appended row (who, when, what, why); the latest decision for a
(source, table, batch) is the one in force.  Nothing is ever updated in place, so the table is the audit
trail.
"""

from __future__ import annotations

import getpass
import os
import uuid
from datetime import datetime, timezone

from pyspark.sql import Row

from yibao.catalog import Catalog

DDL = ("decision_id string, decided_at timestamp, decided_by string, action string, source string, "
       "source_table string, batch_id string, reason string")
ACTIONS = ("release", "hold")


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def current_user() -> str:
    for var in ("YIBAO_USER", "SUDO_USER", "USER"):
        if os.environ.get(var):
            return os.environ[var]
    try:
        return getpass.getuser()
    except Exception:   # no passwd entry (containers)
        return f"uid:{os.getuid()}"


def record(cat: Catalog, action: str, source: str, source_table: str, batch_id: str, reason: str,
           user: str | None = None) -> dict:
    """Append one decision and return it.  ``reason`` is required: a decision nobody can explain later
    is not an audit record."""
    from yibao.contract import is_batch_id, table_spec

    if action not in ACTIONS:
        raise ValueError(f"action must be one of {ACTIONS}, got {action!r}")
    if table_spec(source, source_table) is None:
        raise ValueError(f"{source}/{source_table} is not a table of the data contract")
    if not is_batch_id(batch_id):
        raise ValueError(f"not a batch id: {batch_id!r}")
    if not (reason or "").strip():
        raise ValueError("a reason is required (--reason)")
    row = dict(decision_id=uuid.uuid4().hex[:12], decided_at=_now(), decided_by=user or current_user(),
               action=action, source=source, source_table=source_table, batch_id=batch_id,
               reason=reason.strip())
    cat.ensure("meta", "steward_decision", DDL)
    cat.append(cat.spark.createDataFrame([Row(**row)], DDL), "meta", "steward_decision")
    return row


def in_force(cat: Catalog) -> dict[tuple[str, str, str], Row]:
    """(source, source_table, batch_id) -> the latest decision on that batch of that table."""
    if not cat.exists("meta", "steward_decision"):
        return {}
    out: dict[tuple[str, str, str], Row] = {}
    for r in cat.read("meta", "steward_decision").orderBy("decided_at").collect():
        out[(r.source, r.source_table, r.batch_id)] = r
    return out
