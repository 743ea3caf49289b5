"""The generator's latent state, persisted beside the landing zone so that daily batches can continue it.

``out/_state/`` (ingestion ignores folders starting with ``_``)::

    state.json                        run parameters, days delivered, the generation folder in force
    g0000/c00000/P.parquet ...        one folder per chunk: the latent frames after the last delivered batch

Frames per chunk: ``P`` (latent persons), ``R`` (medins person records), ``I`` (enrollments), ``C``
(contribution periods), ``keys`` (person-identity records delivered so far: source, source_table,
source_key, batch_id, deleted), ``stays`` (recent inpatient stays, for readmissions across batches),
``visits`` (settlements delivered by daily batches, for deaths registered after them), ``pending``
(events scheduled for a later day: a death another department registers late, a collection the core
system books later...) and ``rows`` (rows due on a later day: deletions of rows delivered in error,
reversals).  Each daily run writes a new generation folder and switches ``state.json`` to it only after
its batches and truth are in place, so a run that dies part-way leaves the previous state in force.

Every frame goes through the same Parquet round trip whether it is written to disk or kept in memory
between two days of one run (:func:`roundtrip`), so ``--days 3`` and ``--days 1`` three times give the
same bytes.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

STATE_DIR = "_state"
FRAMES = ("P", "R", "I", "C", "keys", "stays", "visits", "pending", "rows")
VERSION = 1


def _table(df: pd.DataFrame) -> pa.Table:
    t = pa.Table.from_pandas(df, preserve_index=False)
    fields = []
    for f in t.schema:
        typ = pa.string() if pa.types.is_null(f.type) else f.type
        fields.append(pa.field(f.name, typ))
    return t.cast(pa.schema(fields)).replace_schema_metadata(None)


def _frame(t: pa.Table) -> pd.DataFrame:
    return t.to_pandas()


def roundtrip(df: pd.DataFrame) -> pd.DataFrame:
    """The frame as it reads back from its Parquet file (types normalised exactly as on disk)."""
    buf = io.BytesIO()
    pq.write_table(_table(df), buf)
    buf.seek(0)
    return _frame(pq.read_table(buf))


def chunk_dir(root: Path, generation: int, chunk: int) -> Path:
    return Path(root) / f"g{generation:04d}" / f"c{chunk:05d}"


def save_chunk(root: Path, generation: int, chunk: int, frames: dict[str, pd.DataFrame]) -> None:
    d = chunk_dir(root, generation, chunk)
    d.mkdir(parents=True, exist_ok=True)
    for name in FRAMES:
        pq.write_table(_table(frames[name]), d / f"{name}.parquet", compression="lz4")


def load_chunk(root: Path, generation: int, chunk: int) -> dict[str, pd.DataFrame]:
    d = chunk_dir(root, generation, chunk)
    return {name: _frame(pq.read_table(d / f"{name}.parquet")) for name in FRAMES}


def read_meta(root: Path) -> dict | None:
    p = Path(root) / "state.json"
    return json.loads(p.read_text(encoding="utf-8")) if p.exists() else None


def write_meta(root: Path, meta: dict) -> None:
    """Atomically replace state.json (the switch to a new generation)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / "state.json.tmp"
    tmp.write_text(json.dumps(meta, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(tmp, root / "state.json")


def drop_other_generations(root: Path, keep: int) -> None:
    for p in Path(root).glob("g*"):
        if p.is_dir() and p.name != f"g{keep:04d}":
            shutil.rmtree(p, ignore_errors=True)
