"""Peer run on Apache Spark (JVM, local mode): one measured step with its own Spark Connect server.

    python -m yibao.benchmarks.peer_jvm --data-root D --landing L ingest
    python -m yibao.benchmarks.peer_jvm --data-root D seed dedup

Starts the Spark Connect server that ships in the pyspark wheel (``spark-submit --class
org.apache.spark.sql.connect.service.SparkConnectServer --master local[2]``) as a child of this process,
so that the measuring parent sees the JVM in its process tree, waits until it listens, then runs the
same commands as the embedded engine (``yibao ingest``, ``yibao transform seed``, ``yibao transform run
--select +person_master``) as child processes with ``SPARK_REMOTE`` pointing at it and
``YIBAO_TABLE_FORMAT=parquet`` (Delta needs a jar from Maven Central, which these machines cannot reach).
Prints one JSON line: the server's start-up seconds and each step's own seconds (start-up excluded).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

BIN = Path(sys.executable).parent

# the same commands as the embedded engine's peer run (see peers.py)
STEPS = {
    "seed": ["transform", "seed"],
    "dedup": ["transform", "run", "--select", "+person_master"],
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def spark_connect_server(work: Path, driver_memory: str = "", cores: int = 2, conf: dict | None = None,
                         timeout: float = 180):
    """Run the pyspark wheel's JVM Spark Connect server on a loopback port; yields (url, start-up seconds, process).
    The one way this project starts it: the peer benchmark, the scale-out benchmark and the JVM test use it.

    ``conf``: extra Spark settings (none by default: the benchmark measures Spark as it comes).
    """
    import shutil

    import pyspark

    if shutil.which("java") is None:
        raise RuntimeError("java is not installed (make system-deps installs openjdk-17-jre-headless)")
    home = Path(pyspark.__file__).parent
    port = _free_port()
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable, SPARK_HOME=str(home))
    env.pop("SPARK_REMOTE", None)
    env.pop("SPARK_CONNECT_MODE_ENABLED", None)
    cmd = [str(home / "bin" / "spark-submit"), "--class", "org.apache.spark.sql.connect.service.SparkConnectServer",
           "--master", f"local[{cores}]"]
    if driver_memory:
        cmd += ["--driver-memory", driver_memory]
    cmd += ["--conf", f"spark.connect.grpc.binding.port={port}",
            "--conf", "spark.connect.grpc.binding.address=127.0.0.1", "--conf", "spark.ui.enabled=false",
            "--conf", "spark.driver.bindAddress=127.0.0.1", "--conf", "spark.driver.host=127.0.0.1",  # all on loopback
            "--conf", f"spark.sql.warehouse.dir={work / 'spark-warehouse'}",
            "--conf", f"spark.local.dir={work / 'tmp'}",
            "--conf", f"spark.driver.extraJavaOptions=-Dderby.system.home={work}"]
    for k, v in (conf or {}).items():
        cmd += ["--conf", f"{k}={v}"]
    log_path = work / "server.log"
    started = time.perf_counter()
    with log_path.open("w") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=work)
    try:
        deadline = time.time() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"JVM Spark Connect server exited: {log_path.read_text()[-3000:]}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.time() > deadline:
                raise RuntimeError(f"JVM Spark Connect server did not listen within {timeout:.0f} s")
            time.sleep(0.5)
        yield f"sc://127.0.0.1:{port}", time.perf_counter() - started, proc
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-root", type=Path, required=True, help="YIBAO_DATA_ROOT of this engine's warehouse")
    ap.add_argument("--landing", type=Path, help="landing zone (for ingest)")
    ap.add_argument("--driver-memory", default="", help="spark-submit --driver-memory, e.g. 9g (default: Spark's 1g)")
    ap.add_argument("--cores", type=int, default=2, help="local[N]")
    ap.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE", help="extra Spark setting (repeatable)")
    ap.add_argument("steps", nargs="+", choices=["ingest", *STEPS])
    args = ap.parse_args(argv)
    root = args.data_root.resolve()
    out: dict = {"steps": {}}
    conf = dict(c.split("=", 1) for c in args.conf)
    with spark_connect_server(root / "_jvm", args.driver_memory, args.cores, conf) as (url, startup, _server):
        out["server_start_seconds"] = startup
        env = dict(os.environ, YIBAO_DATA_ROOT=str(root), SPARK_REMOTE=url, YIBAO_TABLE_FORMAT="parquet")
        for step in args.steps:
            cmd = [str(BIN / "yibao"), *(["ingest", "--landing", str(args.landing)] if step == "ingest"
                                         else STEPS[step])]
            t0 = time.perf_counter()
            run = subprocess.run(cmd, env=env, capture_output=True, text=True)
            seconds = time.perf_counter() - t0
            if run.returncode:
                sys.stderr.write(run.stdout[-5000:] + run.stderr[-5000:])
                sys.stderr.write(f"\nJVM step {step} failed (exit {run.returncode})\n")
                print(json.dumps(out))
                sys.exit(1)
            out["steps"][step] = {"seconds": seconds}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
