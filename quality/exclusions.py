"""Rows the gate keeps out of silver, one by one, while the rest of their table is released.

Two kinds, both only for references whose orphans are unusable (``on_orphan = "quarantine"`` in
``quality/rules.toml``):

* **orphans**: the parent key is in neither the parent's released version nor a held batch of the parent
  (an enrollment of a person number nobody registered).  Reason: ``gate.reference.<cols>``.
* **waiting**: the parent key is missing from the parent's released version because the parent's batch that
  carries it is held (at the gate or at the door).  These rows are not orphans; the reason names the held
  parent batch (``held because parent medins/psn_info batch X is held``): ``gate.waiting.<cols>``.

For each such child table the excluded rows of its *released* version are stored under
``<warehouse>/_gate/<table>`` (key columns, lineage, rule, reason), which the ``released.*`` views dbt reads
anti-join (:func:`yibao.transform.runner.release_sources`), and copied to ``meta.quarantine`` for stewards.
They are recomputed whenever the child's released version or a parent's state changes, so that a child
batch arriving before its parent flows on as soon as the parent is released; otherwise the stored result
is reused (``meta.gate_exclusion``).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone

from pyspark.sql import DataFrame, Row
from pyspark.sql import functions as F

from yibao.catalog import Catalog, read_version
from yibao.contract import TABLES, TableSpec, table_spec
from yibao.quality.prepare import missing_parent_keys
from yibao.quality.suites import references_of

SCHEMA = "_gate"
WORK_SCHEMA = "_quality"       # the missing key values of one child table, while its exclusions are computed
STATE_DDL = ("`table` string, child_version bigint, inputs string, orphan_rows bigint, waiting_rows bigint, "
             "waiting_on string, computed_at timestamp")
RULE_PREFIXES = ("gate.reference.", "gate.waiting.")


@dataclass
class Exclusion:
    table: str                 # bronze name of the child
    source: str
    source_table: str
    child_version: int
    orphan_rows: int
    waiting_rows: int
    waiting_on: list[str]      # held parent batches, "medins/psn_info 20261108-001"


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def quarantine_refs(spec: TableSpec) -> list[dict]:
    return [r for r in references_of(spec.source, spec.name) if r["on_orphan"] == "quarantine"]


def parent_state(cat: Catalog, parent: TableSpec, released: dict, door_held: dict) -> dict:
    """What the gate knows of a parent table: its released version, whether its head is held (and which
    batch it carries), which of its batches are held at the door."""
    from yibao.quality.gate import current_version, latest_applied_batch

    name = parent.bronze_name
    rel = released.get(("bronze", name))
    rel_v = None if rel is None else int(rel.delta_version)
    head = current_version(cat, "bronze", name)
    delivered = latest_applied_batch(cat, parent.source, parent.name)
    held_head = head is not None and delivered is not None and rel_v != head
    return {"released": rel_v, "head": head if held_head else None,
            "head_batch": delivered if held_head else None,
            "door": sorted(door_held.get((parent.source, parent.name), [])),
            "delivered": delivered is not None or rel_v is not None}


def refresh(cat: Catalog, released: dict, door_held: dict) -> list[Exclusion]:
    """Recompute the exclusions of every child table whose inputs changed; returns all current ones."""
    cat.ensure("meta", "gate_exclusion", STATE_DDL)
    states = {r["table"]: r for r in cat.read("meta", "gate_exclusion").collect()}
    out = []
    for spec in TABLES:
        refs = quarantine_refs(spec)
        if not refs:
            continue
        rel = released.get(("bronze", spec.bronze_name))
        if rel is None:
            continue      # nothing of the child is released: nothing reaches silver to exclude
        child_v = int(rel.delta_version)
        parents = {r["parent"]: parent_state(cat, table_spec(*r["parent"].split("/")), released, door_held)
                   for r in refs}
        inputs = json.dumps(parents, sort_keys=True)
        prev = states.get(spec.bronze_name)
        if prev is not None and prev.child_version == child_v and prev.inputs == inputs \
                and cat.exists(SCHEMA, spec.bronze_name):
            out.append(Exclusion(spec.bronze_name, spec.source, spec.name, child_v, prev.orphan_rows,
                                 prev.waiting_rows, json.loads(prev.waiting_on or "[]")))
            continue
        out.append(_compute(cat, spec, child_v, refs, parents, inputs))
    return out


def _parent_keys(cat: Catalog, parent: TableSpec, version: int | None, cols: list[str]) -> DataFrame | None:
    if version is None:
        return None
    return read_version(cat.spark, cat.path("bronze", parent.bronze_name), version).select(*cols).distinct()


def _compute(cat: Catalog, spec: TableSpec, child_v: int, refs: list[dict], parents: dict, inputs: str) -> Exclusion:
    child = read_version(cat.spark, cat.path("bronze", spec.bronze_name), child_v)
    keys = list(spec.keys)
    lineage = ["_batch_id", "_file", "_line_number", "_source", "_ingest_time"]
    raw = F.to_json(F.struct(*[F.col(c) for c in spec.all_columns if c in child.columns]))
    parts, waiting_on, work = [], [], []
    for i, ref in enumerate(refs):
        cols = list(ref["columns"])
        pcols = list(ref.get("parent_columns") or cols)
        parent = table_spec(*ref["parent"].split("/"))
        st = parents[ref["parent"]]
        if not st["delivered"]:
            continue          # a parent never delivered is not checked (reported by the suite as not checked)
        present = child.where(" AND ".join(f"`{c}` IS NOT NULL" for c in cols))
        # The key values missing from the parent's released version are stored (few, usually); only then are
        # the child's rows carrying them fetched (see missing_parent_keys).
        names = [f"_c_{j}" for j in range(len(cols))]
        missing = missing_parent_keys(child, cols, _parent_keys(cat, parent, st["released"], pcols), pcols, names)
        work.append(f"{spec.bronze_name}__missing_{i}")
        cat.overwrite(missing, WORK_SCHEMA, work[-1])
        missing = cat.read(WORK_SCHEMA, work[-1])

        def rows_of(found: DataFrame) -> DataFrame:
            """The child's rows whose key values are in ``found`` (distinct key values, few)."""
            return found.join(present, [found[n] == present[f"`{c}`"] for n, c in zip(names, cols)],
                              "inner").drop(*names)

        label = "+".join(cols)
        if st["head"] is not None:
            head_keys = _parent_keys(cat, parent, st["head"], pcols).select(
                *[F.col(c).alias(f"_p_{c}") for c in pcols])
            cond = [missing[n] == head_keys[f"_p_{p}"] for n, p in zip(names, pcols)]
            held = f"{ref['parent']} {st['head_batch']}"
            waiting = rows_of(missing.join(head_keys, cond, "left_semi"))
            orphans = rows_of(missing.join(head_keys, cond, "left_anti"))
            parts.append(waiting.select(*keys, *lineage, F.lit(f"gate.waiting.{label}").alias("rule"),
                                        F.lit(f"held because parent {ref['parent']} batch {st['head_batch']} is held "
                                              f"(上级表 {ref['parent']} 批次 {st['head_batch']} 暂停发布, 本行等待)")
                                        .alias("reason"), raw.alias("raw_line")))
            waiting_on.append(held)
        elif st["door"]:
            # the held delivery is not in bronze: every row missing its parent may be waiting for it
            orphans = None
            batches = ", ".join(st["door"])
            parts.append(rows_of(missing).select(
                *keys, *lineage, F.lit(f"gate.waiting.{label}").alias("rule"),
                F.lit(f"held because parent {ref['parent']} batch {batches} is held "
                      f"(上级表 {ref['parent']} 批次 {batches} 暂停接收, 本行等待)").alias("reason"),
                raw.alias("raw_line")))
            waiting_on += [f"{ref['parent']} {b}" for b in st["door"]]
        else:
            orphans = rows_of(missing)
        if orphans is not None:
            parts.append(orphans.select(*keys, *lineage, F.lit(f"gate.reference.{label}").alias("rule"),
                                        F.concat(F.lit(f"orphan: {label} not found in {ref['parent']} "
                                                       f"(孤儿记录: 上级表 {ref['parent']} 中无 {label}="),
                                                 F.concat_ws("+", *[F.col(c) for c in cols]), F.lit(")"))
                                        .alias("reason"), raw.alias("raw_line")))
    if parts:
        excluded = parts[0]
        for p in parts[1:]:
            excluded = excluded.unionByName(p)
    else:
        excluded = child.limit(0).select(*keys, *lineage, F.lit("").alias("rule"), F.lit("").alias("reason"),
                                         raw.alias("raw_line"))
    # one row per excluded child row: the first reason wins (waiting before orphan: a row that waits is no orphan)
    from pyspark.sql import Window

    w = Window.partitionBy(*keys).orderBy(F.col("rule").desc())
    excluded = excluded.withColumn("_n", F.row_number().over(w)).where("_n = 1").drop("_n")
    cat.overwrite_work(excluded, SCHEMA, spec.bronze_name)
    for name in work:
        shutil.rmtree(cat.path(WORK_SCHEMA, name), ignore_errors=True)
    stored = cat.read(SCHEMA, spec.bronze_name)
    counts = {r["rule"].split(".")[1]: r["n"] for r in
              stored.groupBy(F.col("rule")).agg(F.count(F.lit(1)).alias("n")).collect()} if parts else {}
    # counts by kind
    n_orphan = sum(n for k, n in counts.items() if k == "reference")
    n_wait = sum(n for k, n in counts.items() if k == "waiting")
    _replace_quarantine(cat, spec, stored)
    state = Row(table=spec.bronze_name, child_version=child_v, inputs=inputs, orphan_rows=n_orphan,
                waiting_rows=n_wait, waiting_on=json.dumps(sorted(set(waiting_on)), ensure_ascii=False),
                computed_at=_now())
    cat.upsert(cat.spark.createDataFrame([state], STATE_DDL), "meta", "gate_exclusion", ["table"])
    return Exclusion(spec.bronze_name, spec.source, spec.name, child_v, n_orphan, n_wait, sorted(set(waiting_on)))


def _replace_quarantine(cat: Catalog, spec: TableSpec, stored: DataFrame) -> None:
    """The gate's rows of this table in meta.quarantine are replaced by the current exclusions."""
    from yibao.ingestion.bronze import QUARANTINE_DDL
    from yibao.quality.gate import delete_gate_quarantine

    cat.ensure_columns("meta", "quarantine", QUARANTINE_DDL)   # warehouses from before the rule column
    delete_gate_quarantine(cat, spec)
    rows = stored.select(F.col("_source").alias("source"), F.lit(spec.name).alias("source_table"),
                         F.col("_batch_id").alias("batch_id"), F.col("_file").alias("file"),
                         F.col("_line_number").alias("line_number"), F.col("reason"), F.col("raw_line"),
                         F.col("_ingest_time").alias("ingest_time"), F.col("rule"))
    cat.append(rows, "meta", "quarantine")
