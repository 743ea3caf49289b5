"""The one place where configuration lives.

Every setting has an embedded default, can be set in a TOML file (``yibao.toml`` in the working
directory, or the file named by ``YIBAO_CONFIG``) and can be overridden by an environment variable.
Precedence: environment > TOML file > default.  ``yibao config`` prints the effective values.

| setting            | env variable            | default                    | meaning                                        |
|--------------------|-------------------------|----------------------------|------------------------------------------------|
| data_root          | YIBAO_DATA_ROOT         | ./var                      | parent of the default landing and warehouse    |
| landing_root       | YIBAO_LANDING_ROOT      | <data_root>/landing        | where departments drop their batches           |
| warehouse_root     | YIBAO_WAREHOUSE_ROOT    | <data_root>/warehouse      | Delta tables: <root>/<schema>/<table>/         |
| spark_remote       | SPARK_REMOTE            | (empty: embedded Sail)     | Spark Connect endpoint, e.g. sc://host:15002   |
| table_format       | YIBAO_TABLE_FORMAT      | delta                      | delta, or parquet for a JVM Spark without Delta|
| reference_date     | YIBAO_REFERENCE_DATE    | 2026-11-01                 | the date indicators and populations refer to   |
| session_timeout_s  | YIBAO_SESSION_TIMEOUT_S | 86400                      | idle timeout of the embedded engine session    |
| engine_memory_gib  | YIBAO_ENGINE_MEMORY_GIB | 0 (auto: 40% of RAM)       | embedded engine's query memory; above it joins,|
|                    |                         |                            | sorts and aggregates spill to spill_dir        |
| spill_dir          | YIBAO_SPILL_DIR         | <data_root>/spill          | where the embedded engine spills               |
| snapshot_shrink_hold | YIBAO_SNAPSHOT_SHRINK_HOLD | 0.5                   | a `full` delivery that would remove more than  |
|                    |                         |                            | this share of a table's rows is held for a     |
|                    |                         |                            | steward (`yibao quality holds`), not applied   |
| landing_settle_s   | YIBAO_LANDING_SETTLE_S  | 60                         | the orchestrator's sensor asks for a run only  |
|                    |                         |                            | once a batch folder was quiet this many seconds|
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import asdict, dataclass, fields, replace
from datetime import date
from pathlib import Path

TABLE_FORMATS = ("delta", "parquet")


@dataclass(frozen=True)
class Settings:
    data_root: Path = Path("var")
    landing_root: Path | None = None
    warehouse_root: Path | None = None
    spark_remote: str = ""
    table_format: str = "delta"
    reference_date: date = date(2026, 11, 1)
    session_timeout_s: int = 86400
    engine_memory_gib: float = 0.0
    spill_dir: Path | None = None
    snapshot_shrink_hold: float = 0.5
    landing_settle_s: float = 60.0

    def __post_init__(self) -> None:
        if self.table_format not in TABLE_FORMATS:
            raise ValueError(f"table_format must be one of {TABLE_FORMATS}, got {self.table_format!r}")
        if not 0.0 < self.snapshot_shrink_hold <= 1.0:
            raise ValueError(f"snapshot_shrink_hold must be in (0, 1], got {self.snapshot_shrink_hold!r}")

    @property
    def landing(self) -> Path:
        return Path(self.landing_root or Path(self.data_root) / "landing").resolve()

    @property
    def spill(self) -> Path:
        return Path(self.spill_dir or Path(self.data_root) / "spill").resolve()

    @property
    def engine_memory_bytes(self) -> int:
        """The embedded engine's memory pool: the setting, or 40% of this machine's RAM."""
        if self.engine_memory_gib > 0:
            return int(self.engine_memory_gib * 2**30)
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * 0.4)

    @property
    def warehouse(self) -> Path:
        return Path(self.warehouse_root or Path(self.data_root) / "warehouse").resolve()

    def with_(self, **changes) -> "Settings":
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def as_dict(self) -> dict[str, str]:
        d = {k: ("" if v is None else str(v)) for k, v in asdict(self).items()}
        d["landing (effective)"] = str(self.landing)
        d["warehouse (effective)"] = str(self.warehouse)
        d["spill_dir (effective)"] = str(self.spill)
        d["engine_memory (effective, GiB)"] = f"{self.engine_memory_bytes / 2**30:.1f}"
        return d


_ENV = {
    "data_root": "YIBAO_DATA_ROOT",
    "landing_root": "YIBAO_LANDING_ROOT",
    "warehouse_root": "YIBAO_WAREHOUSE_ROOT",
    "spark_remote": "SPARK_REMOTE",
    "table_format": "YIBAO_TABLE_FORMAT",
    "reference_date": "YIBAO_REFERENCE_DATE",
    "session_timeout_s": "YIBAO_SESSION_TIMEOUT_S",
    "engine_memory_gib": "YIBAO_ENGINE_MEMORY_GIB",
    "spill_dir": "YIBAO_SPILL_DIR",
    "snapshot_shrink_hold": "YIBAO_SNAPSHOT_SHRINK_HOLD",
    "landing_settle_s": "YIBAO_LANDING_SETTLE_S",
}


def _coerce(name: str, value):
    if value in (None, ""):
        return None if name != "spark_remote" else ""
    if name in ("data_root", "landing_root", "warehouse_root", "spill_dir"):
        return Path(value)
    if name == "reference_date":
        return value if isinstance(value, date) else date.fromisoformat(str(value))
    if name == "session_timeout_s":
        return int(value)
    if name in ("engine_memory_gib", "snapshot_shrink_hold", "landing_settle_s"):
        return float(value)
    return str(value)


def load_settings(config_file: Path | None = None, env: dict[str, str] | None = None) -> Settings:
    """Build the effective settings: defaults, then the TOML file, then the environment."""
    env = os.environ if env is None else env
    values: dict = {}
    path = config_file or (Path(env["YIBAO_CONFIG"]) if env.get("YIBAO_CONFIG") else Path("yibao.toml"))
    if path.is_file():
        with path.open("rb") as fh:
            raw = tomllib.load(fh)
        known = {f.name for f in fields(Settings)}
        unknown = set(raw) - known
        if unknown:
            raise ValueError(f"{path}: unknown settings {sorted(unknown)}; known: {sorted(known)}")
        values.update({k: _coerce(k, v) for k, v in raw.items()})
    for name, var in _ENV.items():
        if var in env and env[var] != "":
            values[name] = _coerce(name, env[var])
    values = {k: v for k, v in values.items() if v is not None}
    return Settings(**values)
