"""The yardstick: the same landing files into typed Parquet with DuckDB, as a peer would do it.

For every file of every batch: decode (DuckDB reads UTF-8 only offline, so GBK files are transcoded
to a temporary UTF-8 file first, and that time counts), read every column as text with bad rows
skipped into DuckDB's reject table, type the contract's date/amount columns with TRY_ functions,
and write one Parquet file per table.  No manifest checks, no merge, no log: this is the lower
bound of the work, not the same feature set.

    python benchmarks/duckdb_ingest.py LANDING OUT_DIR
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from yibao.ingestion.contract import DATE, MONEY, QUANTITY, TIMESTAMP, YEAR, table_spec

_SQL_TYPE = {
    DATE: "COALESCE(TRY_STRPTIME({c}, '%Y-%m-%d'), TRY_STRPTIME({c}, '%Y%m%d'))::DATE",
    TIMESTAMP: "TRY_STRPTIME({c}, '%Y-%m-%d %H:%M:%S')",
    MONEY: "TRY_CAST({c} AS DECIMAL(16,2))",
    QUANTITY: "TRY_CAST({c} AS DECIMAL(18,4))",
    YEAR: "TRY_CAST({c} AS INTEGER)",
}


def run(landing: Path, out: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute("SET threads = 2")
    rows = 0
    started = time.perf_counter()
    for manifest_path in sorted(landing.glob("*/*/_manifest.json")):
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            continue
        for entry in manifest.get("files", []):
            spec = table_spec(manifest["source"], entry["table"])
            src = manifest_path.parent / entry["name"]
            if spec is None or not src.is_file():
                continue
            path = src
            tmp = None
            if manifest.get("encoding", "utf-8").lower() != "utf-8":
                tmp = tempfile.NamedTemporaryFile(suffix=".csv", delete=False)
                with src.open("r", encoding=manifest["encoding"], errors="replace") as fin, \
                        open(tmp.name, "w", encoding="utf-8") as fout:
                    for chunk in iter(lambda: fin.read(1 << 22), ""):
                        fout.write(chunk)
                path = Path(tmp.name)
            header = con.execute(f"SELECT * FROM read_csv('{path}', all_varchar=true, header=true) LIMIT 0").description
            present = {d[0] for d in header}
            cols = []
            for c in spec.all_columns:
                if c not in present:
                    cols.append(f"NULL AS {c}")
                    continue
                expr = _SQL_TYPE.get(spec.type_of(c))
                cols.append(f"{expr.format(c=c)} AS {c}" if expr else c)
            target = out / f"{manifest['source']}__{spec.name}__{manifest['batch_id']}.parquet"
            con.execute(f"COPY (SELECT {', '.join(cols)} FROM read_csv('{path}', all_varchar=true, header=true, "
                        f"ignore_errors=true, parallel=true)) TO '{target}' (FORMAT parquet)")
            rows += con.execute(f"SELECT count(*) FROM '{target}'").fetchone()[0]
            if tmp is not None:
                Path(tmp.name).unlink()
    return {"rows": rows, "seconds": time.perf_counter() - started}


if __name__ == "__main__":
    print(json.dumps(run(Path(sys.argv[1]), Path(sys.argv[2]))))
