"""A throw-away PostgreSQL cluster on a loopback port, for Superset's metadata in tests and benchmarks.

Superset runs in production on PostgreSQL; its default SQLite locks under concurrent writers (the action log of
every request), so the dashboard tests and the load benchmark (``benchmarks/load.py``) use a real PostgreSQL:
``initdb`` / ``pg_ctl`` from Debian's ``postgresql`` package, run as the ``postgres`` user when we are root.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

PG_BIN = next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)), None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TempPostgres:
    """``start()`` returns the SQLAlchemy URI of a new database ``superset``; ``stop()`` removes the cluster."""

    def __init__(self, max_connections: int = 100) -> None:
        if PG_BIN is None:
            raise RuntimeError("PostgreSQL is not installed: make system-deps (apt-get install -y postgresql)")
        self.dir = Path(tempfile.mkdtemp(prefix="yibao-pg-"))
        self.port = free_port()
        self.max_connections = max_connections
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.data = self.dir / "data"

    def start(self) -> str:
        b = Path(PG_BIN)
        subprocess.run(self.as_user + [str(b / "initdb"), "-D", str(self.data), "-U", "superset", "-A", "trust",
                                       "-E", "UTF8", "--locale=C.UTF-8"], check=True, capture_output=True)
        subprocess.run(self.as_user + [str(b / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "pg.log"), "-w",
                                       "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
                                             f"-c max_connections={self.max_connections}", "start"],
                       check=True, capture_output=True)
        subprocess.run(self.as_user + [str(b / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "superset",
                                       "superset"], check=True, capture_output=True)
        return f"postgresql+psycopg2://superset@127.0.0.1:{self.port}/superset"

    def stop(self) -> None:
        subprocess.run(self.as_user + [str(Path(PG_BIN) / "pg_ctl"), "-D", str(self.data), "-m", "fast", "stop"],
                       capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)
