from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
# The console's width when it is not a terminal (pytest's capture, xdist workers): wide enough that the CLI tests
# read whole lines, the same under every runner.
os.environ["COLUMNS"] = "200"

from yibao.config import Settings  # noqa: E402


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings with a private landing zone and warehouse, on the embedded engine."""
    return Settings(data_root=tmp_path, spark_remote="")


@pytest.fixture
def read(settings):
    """Read a warehouse table into a list of dicts (through the engine)."""
    from yibao.catalog import Catalog
    from yibao.engine import spark_session

    def _read(schema: str, table: str, order_by: str | None = None) -> list[dict]:
        df = Catalog(spark_session(settings), settings).read(schema, table)
        if order_by:
            df = df.orderBy(*order_by.split(","))
        return [r.asDict() for r in df.collect()]

    return _read
