"""The engine session every stage uses.

Default: an embedded Sail Spark Connect server, started in this process on a loopback port, with one
fixed session id so that every client of this process (our jobs, dbt in session mode, Great
Expectations) shares one catalog.  The address is exported as ``SPARK_REMOTE`` for in-process clients.
With ``SPARK_REMOTE`` set (in the environment or the config file) that endpoint is used instead:
an Apache Spark 4 Connect server, or Sail running as a cluster.

Sail keeps its catalog in memory, so the catalog is rebuilt from the tables on disk at session start
(see :mod:`yibao.catalog`).
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import threading
import uuid

from pyspark.sql import SparkSession

from yibao.config import Settings, load_settings

log = logging.getLogger(__name__)

_lock = threading.Lock()
_state: dict = {"spark": None, "server": None, "remote": None}


def _start_embedded_sail(settings: Settings) -> str:
    """Start Sail in this process and return the Spark Connect URL of one fixed session."""
    os.environ.setdefault("SAIL_SPARK__SESSION_TIMEOUT_SECS", str(settings.session_timeout_s))
    # Bounded memory: with the default unbounded pool Sail holds every join and aggregate in RAM (19.8 GiB
    # for the dbt build at 1M persons); the fair pool makes sorts, aggregates and repartitions spill instead.
    settings.spill.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("SAIL_RUNTIME__MEMORY_POOL__TYPE", "fair")
    os.environ.setdefault("SAIL_RUNTIME__MEMORY_POOL__FAIR__MAX_SIZE", str(settings.engine_memory_bytes))
    os.environ.setdefault("SAIL_RUNTIME__TEMPORARY_FILES__PATHS", json.dumps([str(settings.spill)]))
    from pysail.spark import SparkConnectServer

    server = SparkConnectServer(ip="127.0.0.1", port=0)
    server.start(background=True)
    _state["server"] = server
    atexit.register(_stop_server)
    host, port = server.listening_address
    return f"sc://{host}:{port}/;session_id={uuid.uuid4()}"


def _stop_server() -> None:
    spark, server = _state.get("spark"), _state.get("server")
    if spark is not None:
        try:
            spark.stop()
        except Exception:  # the server may already be gone at interpreter exit
            pass
    if server is not None:
        try:
            server.stop()
        except Exception:
            pass
    _state.update(spark=None, server=None, remote=None)


def spark_session(settings: Settings | None = None) -> SparkSession:
    """Return this process's SparkSession, starting the embedded engine on first use."""
    with _lock:
        if _state["spark"] is not None:
            return _state["spark"]
        settings = settings or load_settings()
        remote = settings.spark_remote or _start_embedded_sail(settings)
        # In-process clients that build their own session (dbt-spark session mode) read SPARK_REMOTE.
        os.environ["SPARK_REMOTE"] = remote
        spark = SparkSession.builder.remote(remote).getOrCreate()
        # Exchange files carry local wall-clock times without a zone; keep them as they are.
        spark.conf.set("spark.sql.session.timeZone", "UTC")
        _state.update(spark=spark, remote=remote)
    from yibao.catalog import Catalog

    Catalog(spark, settings).rebuild()
    return spark


def remote_url() -> str | None:
    """The Spark Connect URL of the current session (None before :func:`spark_session`)."""
    return _state["remote"]


def embedded() -> bool:
    """Whether this process runs the engine (the embedded Sail server), not a client of a remote one."""
    return _state["server"] is not None


def interrupt_all() -> list[str]:
    """Interrupt every operation of this process's engine session (Spark Connect ``interruptAll``); returns the
    ids of the operations interrupted.  Their queries fail in the threads that wait on them (yibao.watchdog)."""
    spark = _state["spark"]
    return list(spark.interruptAll()) if spark is not None else []


def stop() -> None:
    """Stop the session and the embedded server (tests use this to start afresh)."""
    with _lock:
        _stop_server()
