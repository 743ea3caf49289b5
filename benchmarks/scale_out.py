"""Scale-out: the whole pipeline on a separately started Spark Connect server, gold compared to the embedded run.

    python -m yibao.benchmarks.scale_out --persons 3000 --work /tmp/scale-out
    python -m yibao.benchmarks.scale_out --work /tmp/scale-out --reuse --engines sail-cluster,jvm-parquet

One synthetic landing zone (``yibao generate``), then the pipeline (ingest, quality gate, dbt, silver and gold
quality, fraud: ``run_pipeline(serve=False)``, what ``yibao run --no-serve`` runs) once per engine, each into
its own data root:

- ``embedded``     the default: Sail started inside the pipeline process (Delta tables);
- ``sail-cluster`` a separate ``sail spark server`` process in Sail's cluster mode (``SAIL_MODE=local-cluster``:
                   a driver and N workers that exchange tasks and shuffle data over gRPC / Arrow Flight on
                   loopback ports; in Sail 0.7 the local cluster keeps them as threads of the server process,
                   Kubernetes mode puts each worker in its own pod), reached through ``SPARK_REMOTE`` with a
                   fixed session id (Delta tables);
- ``jvm-parquet``  Apache Spark 4's own Spark Connect server from the pyspark wheel (``local[2]``), with
                   ``YIBAO_TABLE_FORMAT=parquet`` (Delta Lake for JVM Spark is a jar from Maven Central, which
                   these machines cannot download).

Every gold table of the data contract (section 4) is then compared row by row with the embedded run's
(:func:`compare_gold`).  Per engine: wall seconds per stage, peak RSS of the pipeline process tree and of the
server process tree.  Results: ``benchmarks/results/scale-out-<label>.json`` and ``.md``.
``tests/test_scale_out.py`` uses the same server and comparison code on a smaller province.
"""

from __future__ import annotations

import argparse
import datetime
import decimal
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

from yibao.benchmarks.measure import tree_rss

BIN = Path(sys.executable).parent
RESULTS = Path(__file__).resolve().parent / "results"

# The gold tables of the data contract (section 4) and the key that identifies a row of each.
GOLD_KEYS: dict[str, tuple[str, ...]] = {
    "person_master": ("person_id",),
    "person_xref": ("source", "source_table", "source_key"),
    "uninsured_person": ("person_id",),
    "enrolled_unpaid": ("person_id", "insutype", "insu_admdvs"),
    "duplicate_enrollment": ("person_id", "kind"),
    "coverage_by_region": ("admdvs", "level", "reference_date"),   # a division can be a city and a pooling region
    "fund_operation": ("admdvs", "insutype", "ym"),
    "fraud_suspect": ("suspect_id",),
}

# Columns that differ between two runs of the same engine on the same data, so are not compared:
# the wall-clock time the suspect list was scored at.
EXCLUDED: dict[str, tuple[str, ...]] = {"fraud_suspect": ("scored_at",)}

# model_version is "<prefix><UTC time of training>-<fingerprint of data and parameters>": only the fingerprint
# is reproducible.
_MODEL_VERSION = re.compile(r"^(.*?)(\d{14})-(.+)$")

# Doubles are compared at this many decimals: sums and ratios of doubles may legitimately depend on the order
# in which partitions are combined, which differs between engines and cluster layouts.  The fraud score is a
# rounded model output, compared at 6 decimals.
FLOAT_DECIMALS = 9

ENGINES = ("embedded", "sail-cluster", "jvm-parquet")


# -- servers -------------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_listening(proc: subprocess.Popen, port: int, log: Path, what: str, timeout: float) -> None:
    deadline = time.time() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited ({proc.returncode}): {log.read_text()[-3000:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        if time.time() > deadline:
            raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout:.0f} s")
        time.sleep(0.3)


def _stop(proc: subprocess.Popen, grace: float = 30) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class Server:
    """A Spark Connect server this module started: its process, the URL a client uses, its log."""
    name: str
    proc: subprocess.Popen
    port: int
    log: Path
    startup_seconds: float
    session_id: str = ""

    @property
    def url(self) -> str:
        return f"sc://127.0.0.1:{self.port}" + (f"/;session_id={self.session_id}" if self.session_id else "")

    def listeners(self) -> list[tuple[str, int]]:
        """(address, port) of every TCP socket the server's process tree listens on."""
        found = []
        try:
            procs = [psutil.Process(self.proc.pid)] + psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return found
        for p in procs:
            try:
                conns = p.net_connections(kind="tcp")
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            found += [(c.laddr.ip, c.laddr.port) for c in conns if c.status == psutil.CONN_LISTEN]
        return sorted(set(found))

    def workers(self) -> list[tuple[int, str]]:
        """Sail cluster mode: (worker id, host:port) of every worker that registered with the driver."""
        text = self.log.read_text(errors="replace")
        return sorted({(int(m.group(1)), m.group(2))
                       for m in re.finditer(r"worker (\d+) is available at (\S+)", text)})


def sail_cluster_env(workers: int, task_slots: int, memory_gib: float, spill: Path,
                     session_timeout_s: int = 86400) -> dict[str, str]:
    """The environment of a ``sail spark server`` in cluster mode with ``workers`` workers, on loopback only.

    ``task_slots``: tasks one worker runs at once.  Sail 0.7 schedules the stages of a job that stream into each
    other as one region that must fit the cluster's slots at once (a MERGE needed 23 here), and fails the query
    when workers x slots is smaller ("task region requires N worker task slots")."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAIL_")}
    env.pop("SPARK_REMOTE", None)
    env.update({
        "SAIL_MODE": "local-cluster",
        "SAIL_CLUSTER__WORKER_INITIAL_COUNT": str(workers),
        "SAIL_CLUSTER__WORKER_MAX_COUNT": str(workers),
        "SAIL_CLUSTER__WORKER_TASK_SLOTS": str(task_slots),
        # every RPC endpoint (driver, workers, shuffle) on loopback
        "SAIL_CLUSTER__DRIVER_LISTEN_HOST": "127.0.0.1", "SAIL_CLUSTER__DRIVER_EXTERNAL_HOST": "127.0.0.1",
        "SAIL_CLUSTER__WORKER_LISTEN_HOST": "127.0.0.1", "SAIL_CLUSTER__WORKER_EXTERNAL_HOST": "127.0.0.1",
        # one session serves the whole pipeline; its catalog lives in memory until it is idle this long
        "SAIL_SPARK__SESSION_TIMEOUT_SECS": str(session_timeout_s),
        # the same bounded, spilling memory pool the embedded engine gets (yibao/engine.py)
        "SAIL_RUNTIME__MEMORY_POOL__TYPE": "fair",
        "SAIL_RUNTIME__MEMORY_POOL__FAIR__MAX_SIZE": str(int(memory_gib * 2**30)),
        "SAIL_RUNTIME__TEMPORARY_FILES__PATHS": json.dumps([str(spill)]),
        # info level: the driver logs each worker's registration (Server.workers reads it)
        "RUST_LOG": "info",
    })
    return env


@contextmanager
def sail_cluster(work: Path, workers: int = 2, task_slots: int = 32, memory_gib: float = 3.0,
                 timeout: float = 60):
    """Start ``sail spark server`` in cluster mode on a free loopback port; stop it on exit (also on failure)."""
    work.mkdir(parents=True, exist_ok=True)
    spill = work / "spill"
    spill.mkdir(exist_ok=True)
    port = free_port()
    log = work / "sail-server.log"
    env = sail_cluster_env(workers, task_slots, memory_gib, spill)
    started = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen([str(BIN / "sail"), "spark", "server", "--ip", "127.0.0.1", "--port", str(port)],
                                env=env, stdout=out, stderr=subprocess.STDOUT, cwd=work)
    try:
        _wait_listening(proc, port, log, "sail spark server", timeout)
        yield Server("sail-cluster", proc, port, log, time.perf_counter() - started, session_id=str(uuid.uuid4()))
    finally:
        _stop(proc)


@contextmanager
def jvm_connect(work: Path, driver_memory: str = "3g", cores: int = 2, timeout: float = 180):
    """Apache Spark 4's Spark Connect server from the pyspark wheel, ``local[cores]``, on a free loopback port
    (started by :func:`yibao.benchmarks.peer_jvm.spark_connect_server`)."""
    from yibao.benchmarks.peer_jvm import spark_connect_server

    with spark_connect_server(work, driver_memory, cores, timeout=timeout) as (url, startup, proc):
        yield Server("jvm-parquet", proc, int(url.rsplit(":", 1)[1]), work / "server.log", startup)


# -- the pipeline ---------------------------------------------------------------------------------------------
_RUN = """
import json
from yibao.config import load_settings
from yibao.orchestration.pipeline import run_pipeline
s = run_pipeline(load_settings(), serve=False)
print("SCALE_OUT_SUMMARY " + json.dumps(dict(
    stages=s.stages, ok=s.ok, errors=s.errors, dbt_ok=s.dbt_ok, quality_failures=s.quality_failures,
    batches_applied=len(s.batches_applied), batches_rejected=len(s.batches_rejected), rows_landed=s.rows_landed,
    rows_quarantined=s.rows_quarantined, tables_held=s.tables_held,
    rows_excluded={t: list(v) for t, v in s.rows_excluded.items()}, uninsured=s.uninsured,
    suspects_by_level=s.suspects_by_level)))
"""


@dataclass
class PipelineRun:
    engine: str
    data_root: str
    table_format: str
    seconds: float
    returncode: int
    summary: dict = field(default_factory=dict)
    client_peak_gib: float = 0.0     # the pipeline process tree (with the embedded engine: the engine too)
    server_peak_gib: float = 0.0     # the separate server's process tree
    server_startup_seconds: float = 0.0
    stderr_tail: str = ""


def run_pipeline_process(engine: str, data_root: Path, landing: Path, server: Server | None = None,
                         table_format: str = "delta", memory_gib: float = 3.0, timeout: float = 7200) -> PipelineRun:
    """``run_pipeline(serve=False)`` in its own process (the engine session is per process), measured."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("YIBAO_", "SAIL_"))}
    env.update(YIBAO_DATA_ROOT=str(data_root), YIBAO_LANDING_ROOT=str(landing), YIBAO_TABLE_FORMAT=table_format,
               YIBAO_ENGINE_MEMORY_GIB=str(memory_gib), SPARK_REMOTE=server.url if server else "")
    data_root.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", _RUN], env=env, cwd=data_root, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    import threading

    out: list[str] = []
    err: list[str] = []
    drains = [threading.Thread(target=lambda: out.extend(proc.stdout), daemon=True),
              threading.Thread(target=lambda: err.extend(proc.stderr), daemon=True)]
    for t in drains:
        t.start()
    client_peak = server_peak = 0
    deadline = time.time() + timeout
    while proc.poll() is None:
        client_peak = max(client_peak, tree_rss(proc.pid))
        if server is not None:
            server_peak = max(server_peak, tree_rss(server.proc.pid))
        if time.time() > deadline:
            proc.kill()
        time.sleep(0.2)
    seconds = time.perf_counter() - started
    for t in drains:
        t.join()
    summary = {}
    for line in out:
        if line.startswith("SCALE_OUT_SUMMARY "):
            summary = json.loads(line.split(" ", 1)[1])
    return PipelineRun(engine, str(data_root), table_format, seconds, proc.returncode, summary,
                       client_peak / 2**30, server_peak / 2**30, server.startup_seconds if server else 0.0,
                       "".join(err)[-4000:] if proc.returncode or not summary.get("ok") else "")


# -- gold comparison -----------------------------------------------------------------------------------------
def read_table(path: Path, table_format: str) -> list[dict] | None:
    """Every row of a warehouse table read from its files (no engine), or None when there is no table."""
    import pyarrow.dataset as ds

    if table_format == "delta":
        if not (path / "_delta_log").is_dir():
            return None
        from deltalake import DeltaTable

        files = DeltaTable(str(path)).file_uris()
        if not files:
            return []
        return ds.dataset(files, format="parquet").to_table().to_pylist()
    if not path.is_dir() or not any(path.rglob("*.parquet")):
        return None
    return ds.dataset(str(path), format="parquet", partitioning="hive").to_table().to_pylist()


def _plain(value, decimals: int = FLOAT_DECIMALS):
    """A value in a form that compares equal across engines and file formats."""
    if isinstance(value, float):
        return round(value, decimals)
    if isinstance(value, decimal.Decimal):
        return str(value.normalize())
    if isinstance(value, datetime.datetime):    # JVM Parquet: INT96 without zone; Delta: microseconds in UTC
        return value.replace(tzinfo=None).isoformat(sep=" ")
    if isinstance(value, (list, tuple)):
        return tuple(_plain(v, decimals) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _plain(v, decimals)) for k, v in value.items()))
    return value


def normalize(table: str, row: dict) -> dict:
    """The comparable content of one gold row (see EXCLUDED, FLOAT_DECIMALS, _MODEL_VERSION)."""
    out = {}
    for col, value in row.items():
        if col in EXCLUDED.get(table, ()):
            continue
        if table == "fraud_suspect" and col == "model_version" and isinstance(value, str):
            m = _MODEL_VERSION.match(value)
            value = f"{m.group(1)}*-{m.group(3)}" if m else value
        out[col] = _plain(value, 6 if (table, col) in {("fraud_suspect", "score"),
                                                       ("fraud_suspect", "model_score"),
                                                       ("fraud_suspect", "anomaly_score")} else FLOAT_DECIMALS)
    return out


@dataclass
class TableComparison:
    table: str
    rows_a: int | None
    rows_b: int | None
    only_a: int = 0
    only_b: int = 0
    duplicate_keys: int = 0
    differing_rows: int = 0
    differing_columns: dict[str, int] = field(default_factory=dict)
    missing_columns: list[str] = field(default_factory=list)    # in a, not in b
    extra_columns: list[str] = field(default_factory=list)      # in b, not in a
    examples: list[str] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return (self.rows_a is not None and self.rows_a == self.rows_b and not self.only_a and not self.only_b
                and not self.duplicate_keys and not self.differing_rows and not self.missing_columns
                and not self.extra_columns)

    def describe(self) -> str:
        if self.rows_a is None or self.rows_b is None:
            return f"{self.table}: missing ({'a' if self.rows_a is None else 'b'} has no table)"
        if self.identical:
            return f"{self.table}: identical ({self.rows_a:,} rows)"
        parts = [f"{self.rows_a:,} vs {self.rows_b:,} rows"]
        if self.only_a or self.only_b:
            parts.append(f"keys only in a: {self.only_a}, only in b: {self.only_b}")
        if self.duplicate_keys:
            parts.append(f"{self.duplicate_keys} duplicated keys")
        if self.differing_rows:
            parts.append(f"{self.differing_rows} rows differ in " +
                         ", ".join(f"{c} ({n})" for c, n in sorted(self.differing_columns.items())))
        if self.missing_columns or self.extra_columns:
            parts.append(f"columns only in a: {self.missing_columns}, only in b: {self.extra_columns}")
        return f"{self.table}: DIFFERENT: " + "; ".join(parts)


def compare_table(table: str, a: list[dict] | None, b: list[dict] | None, keys: tuple[str, ...]) -> TableComparison:
    cmp = TableComparison(table, None if a is None else len(a), None if b is None else len(b))
    if a is None or b is None:
        return cmp
    na = [normalize(table, r) for r in a]
    nb = [normalize(table, r) for r in b]
    cols_a = set(na[0]) if na else set()
    cols_b = set(nb[0]) if nb else set()
    if na and nb:
        cmp.missing_columns, cmp.extra_columns = sorted(cols_a - cols_b), sorted(cols_b - cols_a)
    by_a, by_b = {}, {}
    for rows, by in ((na, by_a), (nb, by_b)):
        for r in rows:
            k = tuple(r.get(c) for c in keys)
            if k in by:
                cmp.duplicate_keys += 1
            by[k] = r
    cmp.only_a = len(by_a.keys() - by_b.keys())
    cmp.only_b = len(by_b.keys() - by_a.keys())
    for k in sorted(by_a.keys() & by_b.keys(), key=repr):
        ra, rb = by_a[k], by_b[k]
        diff = [c for c in sorted(cols_a & cols_b) if ra.get(c) != rb.get(c)]
        if diff:
            cmp.differing_rows += 1
            for c in diff:
                cmp.differing_columns[c] = cmp.differing_columns.get(c, 0) + 1
            if len(cmp.examples) < 5:
                cmp.examples.append(f"{dict(zip(keys, k))}: " +
                                    "; ".join(f"{c}: {ra.get(c)!r} vs {rb.get(c)!r}" for c in diff[:4]))
    for k in sorted(by_a.keys() - by_b.keys(), key=repr)[:3]:
        cmp.examples.append(f"only in a: {dict(zip(keys, k))}")
    for k in sorted(by_b.keys() - by_a.keys(), key=repr)[:3]:
        cmp.examples.append(f"only in b: {dict(zip(keys, k))}")
    return cmp


def compare_gold(warehouse_a: Path, warehouse_b: Path, format_a: str = "delta",
                 format_b: str = "delta") -> dict[str, TableComparison]:
    """Every contract gold table of warehouse a against warehouse b, row by row by key."""
    return {t: compare_table(t, read_table(warehouse_a / "gold" / t, format_a),
                             read_table(warehouse_b / "gold" / t, format_b), keys)
            for t, keys in GOLD_KEYS.items()}


# -- the benchmark -------------------------------------------------------------------------------------------
def generate(landing: Path, persons: int, seed: int = 42, batches: int = 2) -> float:
    started = time.perf_counter()
    subprocess.run([str(BIN / "yibao"), "generate", "--persons", str(persons), "--seed", str(seed),
                    "--batches", str(batches), "--workers", "1", "--out", str(landing)],
                   check=True, capture_output=True, text=True)
    return time.perf_counter() - started


def run_engine(engine: str, work: Path, landing: Path, workers: int, task_slots: int, memory_gib: float,
               driver_memory: str) -> tuple[PipelineRun, dict]:
    root = work / engine
    shutil.rmtree(root, ignore_errors=True)
    info: dict = {}
    if engine == "embedded":
        return run_pipeline_process(engine, root, landing, memory_gib=memory_gib), info
    if engine == "sail-cluster":
        with sail_cluster(work / "_servers" / engine, workers, task_slots, memory_gib) as server:
            run = run_pipeline_process(engine, root, landing, server)
            info = {"workers": server.workers(), "listeners": server.listeners(),
                    "threads": psutil.Process(server.proc.pid).num_threads()}
        return run, info
    if engine == "jvm-parquet":
        with jvm_connect(work / "_servers" / engine, driver_memory) as server:
            run = run_pipeline_process(engine, root, landing, server, table_format="parquet")
            info = {"listeners": server.listeners()}
        return run, info
    raise ValueError(f"unknown engine {engine!r}; known: {ENGINES}")


def _markdown(result: dict) -> str:
    runs = result["runs"]
    stages = []
    for r in runs.values():
        for s in r["summary"].get("stages", {}):
            if s not in stages:
                stages.append(s)
    names = list(runs)
    lines = [f"# Scale-out, {result['persons']:,} persons ({result['date']}, commit {result['commit']})", "",
             "| stage | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for s in stages:
        lines.append(f"| {s} | " + " | ".join(
            f"{runs[n]['summary'].get('stages', {}).get(s, float('nan')):.1f}" if s in runs[n]['summary'].get('stages', {})
            else "—" for n in names) + " |")
    lines.append("| **pipeline process, wall s** | " + " | ".join(f"**{runs[n]['seconds']:.1f}**" for n in names) + " |")
    lines.append("| server start s | " + " | ".join(f"{runs[n]['server_startup_seconds']:.1f}" for n in names) + " |")
    lines.append("| peak RSS GiB, pipeline process tree | " +
                 " | ".join(f"{runs[n]['client_peak_gib']:.2f}" for n in names) + " |")
    lines.append("| peak RSS GiB, server process tree | " +
                 " | ".join(f"{runs[n]['server_peak_gib']:.2f}" if runs[n]['server_peak_gib'] else "—"
                            for n in names) + " |")
    lines.append("| pipeline ok | " + " | ".join(str(runs[n]["summary"].get("ok")) for n in names) + " |")
    lines.append("")
    for other, cmp in result["comparisons"].items():
        lines.append(f"Gold tables, embedded vs {other}:")
        lines += [f"- {c}" for c in cmp["lines"]]
        lines.append("")
    for n, info in result["servers"].items():
        lines.append(f"{n} server: " + json.dumps(info))
    for n in names:
        if runs[n]["summary"].get("errors"):
            lines.append(f"{n} errors: " + "; ".join(e[:400] for e in runs[n]["summary"]["errors"]))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--persons", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--work", type=Path, required=True, help="landing zone, one data root per engine, server logs")
    ap.add_argument("--reuse", action="store_true", help="keep the landing zone already in WORK")
    ap.add_argument("--engines", default=",".join(ENGINES), help=f"comma-separated, from {ENGINES}")
    ap.add_argument("--workers", type=int, default=2, help="Sail cluster workers")
    ap.add_argument("--task-slots", type=int, default=32, help="task slots per Sail worker")
    ap.add_argument("--memory-gib", type=float, default=3.0, help="Sail memory pool (embedded and cluster)")
    ap.add_argument("--driver-memory", default="3g", help="JVM Spark driver memory")
    ap.add_argument("--label", default="", help="results/scale-out-<label>.json (default: the person count)")
    args = ap.parse_args(argv)
    work = args.work.resolve()
    landing = work / "landing"
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if "embedded" not in engines and not (work / "embedded" / "warehouse").is_dir():
        engines.insert(0, "embedded")     # the reference every other engine is compared with
    result: dict = {"persons": args.persons, "date": datetime.date.today().isoformat(),
                    "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                             cwd=Path(__file__).parent).stdout.strip(),
                    "load_at_start": os.getloadavg(), "settings": vars(args) | {"work": str(work)},
                    "runs": {}, "servers": {}, "comparisons": {}}
    result["settings"]["work"] = str(work)
    if not args.reuse or not landing.is_dir():
        shutil.rmtree(landing, ignore_errors=True)
        result["generate_seconds"] = generate(landing, args.persons, args.seed)
    for engine in engines:
        print(f"running the pipeline on {engine} ...", flush=True)
        run, info = run_engine(engine, work, landing, args.workers, args.task_slots, args.memory_gib,
                               args.driver_memory)
        result["runs"][engine] = asdict(run)
        if info:
            result["servers"][engine] = info
        print(f"  {engine}: {run.seconds:.1f} s, ok={run.summary.get('ok')}, stages={run.summary.get('stages')}",
              flush=True)
        if run.stderr_tail:
            print(run.stderr_tail[-2000:], file=sys.stderr)
    reference = work / "embedded" / "warehouse"
    for engine in engines:
        if engine == "embedded":
            continue
        fmt = "parquet" if engine == "jvm-parquet" else "delta"
        cmp = compare_gold(reference, work / engine / "warehouse", "delta", fmt)
        result["comparisons"][engine] = {"identical": all(c.identical for c in cmp.values()),
                                         "lines": [c.describe() for c in cmp.values()],
                                         "tables": {t: asdict(c) for t, c in cmp.items()}}
        for c in cmp.values():
            print(f"  {engine} {c.describe()}")
            for e in c.examples:
                print(f"      {e}")
    label = args.label or str(args.persons)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"scale-out-{label}.json").write_text(json.dumps(result, indent=2, default=str))
    (RESULTS / f"scale-out-{label}.md").write_text(_markdown(result))
    print(_markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
