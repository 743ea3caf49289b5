"""The configuration entry point: every setting, every environment variable, every configuration file.

:func:`load_settings` builds the effective :class:`Settings`: the defaults, then a TOML file (``yibao.toml`` in
the working directory, or the file named by ``YIBAO_CONFIG``), then environment variables (environment > TOML
file > default).  ``yibao config`` prints the effective values.

The settings include where each of the project's other configuration files lives (the quality gate's rules,
the stewards, the fraud parameters, the dbt project with its vars and seeds).  Those files keep their stage's
content and are located through these settings only.

:data:`SETTINGS`, :data:`FILES` and :data:`ENVIRONMENT` below are the documentation: what each setting, file
and environment variable governs.  README.md's section "Configuration" is rendered from them
(``python -m yibao.config --write-readme``; ``--check-readme`` exits 1 when the README is stale), and
``tests/test_config_docs.py`` fails when the code reads an environment variable that is not documented there.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import sys
import tomllib
from dataclasses import asdict, dataclass, fields, replace
from datetime import date
from pathlib import Path

TABLE_FORMATS = ("delta", "parquet")
REPO = Path(__file__).resolve().parent.parent


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
    engine_idle_timeout_s: float = 600.0
    spill_dir: Path | None = None
    snapshot_shrink_hold: float = 0.5
    landing_settle_s: float = 60.0
    vacuum_retain_hours: int = 24
    reports_outbox: Path | None = None
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_from: str = "yibao@localhost"
    # where the other configuration files live (None: the copy in the repository)
    quality_rules: Path | None = None
    stewards: Path | None = None
    fraud_config: Path | None = None
    dbt_project_dir: Path | None = None
    map_boundaries: Path | None = None
    dbt_threads: int = 2

    def __post_init__(self) -> None:
        if self.dbt_threads < 1:
            raise ValueError(f"dbt_threads must be >= 1, got {self.dbt_threads!r}")
        if self.table_format not in TABLE_FORMATS:
            raise ValueError(f"table_format must be one of {TABLE_FORMATS}, got {self.table_format!r}")
        if not 0.0 < self.snapshot_shrink_hold <= 1.0:
            raise ValueError(f"snapshot_shrink_hold must be in (0, 1], got {self.snapshot_shrink_hold!r}")
        if self.engine_idle_timeout_s < 0:
            raise ValueError(f"engine_idle_timeout_s must be >= 0, got {self.engine_idle_timeout_s!r}")
        if self.vacuum_retain_hours < 0:
            raise ValueError(f"vacuum_retain_hours must be >= 0, got {self.vacuum_retain_hours!r}")

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

    @property
    def outbox(self) -> Path:
        """Where subscribed reports and alerts are delivered, one folder per recipient."""
        return Path(self.reports_outbox or Path(self.data_root) / "reports" / "outbox").resolve()

    @property
    def quality_rules_file(self) -> Path:
        return Path(self.quality_rules or _package_dir("yibao.quality") / "rules.toml").resolve()

    @property
    def stewards_file(self) -> Path:
        return Path(self.stewards or _package_dir("yibao.quality") / "stewards.toml").resolve()

    @property
    def fraud_config_file(self) -> Path:
        return Path(self.fraud_config or _package_dir("yibao.fraud") / "rules.toml").resolve()

    @property
    def dbt_project(self) -> Path:
        return Path(self.dbt_project_dir or REPO / "dbt_project").resolve()

    def with_(self, **changes) -> "Settings":
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def as_dict(self) -> dict[str, str]:
        d = {k: ("" if v is None else str(v)) for k, v in asdict(self).items()}
        d["landing (effective)"] = str(self.landing)
        d["warehouse (effective)"] = str(self.warehouse)
        d["spill_dir (effective)"] = str(self.spill)
        d["engine_memory (effective, GiB)"] = f"{self.engine_memory_bytes / 2**30:.1f}"
        d["quality_rules (effective)"] = str(self.quality_rules_file)
        d["stewards (effective)"] = str(self.stewards_file)
        d["fraud_config (effective)"] = str(self.fraud_config_file)
        d["dbt_project_dir (effective)"] = str(self.dbt_project)
        d["reports_outbox (effective)"] = str(self.outbox)
        return d


@functools.lru_cache(maxsize=None)
def _package_dir(package: str) -> Path:
    """The folder of a stage package (``yibao.quality`` is ``quality/``), found without importing it."""
    return Path(importlib.util.find_spec(package).submodule_search_locations[0])


# -- documentation: README.md "Configuration" is rendered from these three tables ---------------------------

# setting -> (environment variable, default as shown, what it governs)
SETTINGS: dict[str, tuple[str, str, str]] = {
    "data_root": ("YIBAO_DATA_ROOT", "`./var`", "parent of the default landing zone, warehouse, spill folder, "
                  "serving file and Superset home"),
    "landing_root": ("YIBAO_LANDING_ROOT", "`<data_root>/landing`", "where departments drop their batches"),
    "warehouse_root": ("YIBAO_WAREHOUSE_ROOT", "`<data_root>/warehouse`", "Delta tables: `<root>/<schema>/<table>/`"),
    "spark_remote": ("SPARK_REMOTE", "empty: embedded Sail", "a Spark Connect endpoint (`sc://host:15002`) to run "
                     "on instead of the embedded engine; the engine sets it for dbt-spark (`dbt_project/profiles.yml`)"),
    "table_format": ("YIBAO_TABLE_FORMAT", "`delta`", "`delta`, or `parquet` for a JVM Spark without Delta"),
    "reference_date": ("YIBAO_REFERENCE_DATE", "`2026-11-01`", "the date indicators, ages and populations refer to "
                       "(passed to dbt as the var `reference_date`)"),
    "session_timeout_s": ("YIBAO_SESSION_TIMEOUT_S", "`86400`", "idle timeout of the embedded engine session"),
    "engine_memory_gib": ("YIBAO_ENGINE_MEMORY_GIB", "`0` = 40% of RAM", "the embedded engine's query memory pool; "
                          "sorts, aggregates and repartitions above it spill"),
    "engine_idle_timeout_s": ("YIBAO_ENGINE_IDLE_TIMEOUT_S", "`600`", "a command (or a stage of `yibao run`) "
                              "whose embedded engine used almost no CPU this long with work outstanding is hung: "
                              "its queries are interrupted and it fails (`yibao.watchdog`); `0` = off"),
    "spill_dir": ("YIBAO_SPILL_DIR", "`<data_root>/spill`", "where the embedded engine spills"),
    "snapshot_shrink_hold": ("YIBAO_SNAPSHOT_SHRINK_HOLD", "`0.5`", "a `full` delivery that would remove more than "
                             "this share of a table's rows is held for a steward, not applied"),
    "landing_settle_s": ("YIBAO_LANDING_SETTLE_S", "`60`", "the orchestrator's landing-zone sensor asks for a run "
                         "once a batch folder has been quiet this long (it may still be copied)"),
    "vacuum_retain_hours": ("YIBAO_VACUUM_RETAIN_HOURS", "`24`", "after every run (and `yibao maintain`), files "
                            "of Delta table versions replaced longer ago than this are deleted; the version of a "
                            "bronze table the quality gate released is always kept"),
    "reports_outbox": ("YIBAO_REPORTS_OUTBOX", "`<data_root>/reports/outbox`", "subscribed reports and alerts "
                       "(`yibao reports`) are written here, one folder per recipient"),
    "smtp_host": ("YIBAO_SMTP_HOST", "empty: no mail", "an SMTP relay (plain SMTP, no credentials) that mails each "
                  "delivered report or alert to subscribers with an e-mail address"),
    "smtp_port": ("YIBAO_SMTP_PORT", "`25`", "the relay's port"),
    "smtp_from": ("YIBAO_SMTP_FROM", "`yibao@localhost`", "the sender of the mails"),
    "quality_rules": ("YIBAO_QUALITY_RULES", "`quality/rules.toml`", "the quality gate's rules file (below)"),
    "stewards": ("YIBAO_STEWARDS", "`quality/stewards.toml`", "the stewards file (below)"),
    "fraud_config": ("YIBAO_FRAUD_CONFIG", "`models/fraud/rules.toml`", "the fund-supervision parameters file "
                     "(below)"),
    "dbt_project_dir": ("YIBAO_DBT_PROJECT_DIR", "`dbt_project/`", "the dbt project: its vars, seeds and profile "
                        "(below)"),
    "dbt_threads": ("YIBAO_DBT_THREADS", "`2`", "how many dbt models (and tests) are built at once on the engine "
                    "session (dbt's `--threads`); at 1M persons on 2 cores 2 threads took the build from 270 to 205 s "
                    "(benchmarks/RESULTS.md)"),
    "map_boundaries": ("YIBAO_MAP_BOUNDARIES", "empty: `echarts-china-cities-pypkg` from PyPI", "a GeoJSON file of "
                       "the province's county outlines (the bureau's 标准地图; code in `properties.adcode`) that the "
                       "dashboards' maps draw; by default the outlines of that package, fetched once into "
                       "`~/.cache/yibao` (`dashboards/boundaries.py`: source and licence)"),
}

# file -> (located by, what it governs, read by)
FILES: dict[str, tuple[str, str, str]] = {
    "`yibao.toml`": ("`YIBAO_CONFIG`, or the working directory", "the settings above (keys as in the first column)",
                     "`yibao.config`"),
    "`quality/rules.toml`": ("setting `quality_rules`", "the bronze gate: tolerances that hold a table, required "
                             "and expected columns, references and what an orphan does", "`yibao.quality.suites`"),
    "`quality/stewards.toml`": ("setting `stewards`", "the steward (department, owner, contact) named for each "
                                "source in quality reports", "`yibao.quality.stewards`"),
    "`models/fraud/rules.toml`": ("setting `fraud_config`", "fund supervision: the rule library (built-in and "
                                  "template rules), model, score weights, calibration and risk levels, case "
                                  "workflow, practitioner points, institution credit, export permissions",
                                  "`yibao.fraud.config`"),
    "`dbt_project/dbt_project.yml` (`vars`)": ("setting `dbt_project_dir`", "the transformation's tunables "
                                               "(province, matching weights, windows, fund risk and payment-warning thresholds, "
                                               "the fund forecast's assumptions `forecast_*`); "
                                               "`warehouse_root`, `reference_date`, `table_format` and "
                                               "`contract_keys` are set from the settings on every run; override "
                                               "others with `yibao transform --vars` (`yibao forecast run --vars`)",
                                               "`yibao.transform.runner`, `yibao.forecast.config`"),
    "`dbt_project/selectors.yml`": ("setting `dbt_project_dir`", "dbt's default selection: every model but the "
                                    "forecast marts (tag `forecast`), which the forecast stage builds after writing "
                                    "their input", "dbt"),
    "`dbt_project/seeds/*.csv`": ("setting `dbt_project_dir`", "reference data: code lists and GB/T 2260 "
                                  "divisions, for dbt and the quality checks", "dbt, `yibao.quality.reference`"),
    "`dbt_project/profiles.yml`": ("setting `dbt_project_dir`", "dbt's connection: this process's engine session",
                                   "dbt"),
    "`dashboards/superset_config.py`": ("fixed", "Superset's own configuration (language, features, metadata "
                                        "database from `YIBAO_SUPERSET_DB_URI`)", "Superset"),
}

# environment variables that are not settings: (variables, read by, what they govern)
ENVIRONMENT: list[tuple[tuple[str, ...], str, str]] = [
    (("YIBAO_CONFIG",), "`yibao.config`; `yibao orchestrate --config` sets it for Dagster",
     "the settings file (default `./yibao.toml`)"),
    (("YIBAO_USER", "SUDO_USER", "USER"), "`yibao.decisions`",
     "who a steward's release or hold is recorded as (`decided_by`), the first one set"),
    (("SAIL_SPARK__SESSION_TIMEOUT_SECS", "SAIL_RUNTIME__MEMORY_POOL__TYPE",
      "SAIL_RUNTIME__MEMORY_POOL__FAIR__MAX_SIZE", "SAIL_RUNTIME__TEMPORARY_FILES__PATHS"), "`yibao.engine`",
     "Sail's own variables, derived from `session_timeout_s`, `engine_memory_gib` and `spill_dir` unless already "
     "set (then they win)"),
    (("DBT_INDIRECT_SELECTION",), "`yibao.orchestration`", "dbt's own variable; set per dbt asset run, then restored"),
    (("GX_ANALYTICS_ENABLED",), "`yibao.quality.validate`", "Great Expectations' usage statistics: `False` unless set"),
    (("YIBAO_SUPERSET_VENV",), "`yibao.dashboards.serve`", "Superset's virtual environment (default "
     "`<repo>/.venv-superset`)"),
    (("YIBAO_SUPERSET_DB_URI",), "`yibao.dashboards.serve`, `superset_config.py`", "Superset's metadata database "
     "(default SQLite in `<data_root>/superset`; PostgreSQL in production)"),
    (("SUPERSET_SECRET_KEY",), "`yibao.dashboards.serve`, `superset_config.py`", "Superset's secret key (default: "
     "one generated into `<data_root>/superset/secret_key`)"),
    (("YIBAO_SUPERSET_HOME",), "`superset_config.py`", "set by `yibao serve` to `<data_root>/superset`; not set by hand"),
    (("YIBAO_SUPERSET_CACHE_DIR",), "`superset_config.py`", "set by `yibao serve` to `<data_root>/serving/result-cache` "
     "(Superset's chart results, emptied by every serving refresh); not set by hand"),
    (("XDG_CACHE_HOME",), "`yibao.dashboards.boundaries`", "the default map outlines are cached in "
     "`$XDG_CACHE_HOME/yibao/boundaries` (default `~/.cache/yibao/boundaries`)"),
    (("YIBAO_CHROMIUM",), "`dashboards/superset_side/render.py`, tests", "the Chromium that renders dashboards "
     "(default `/usr/bin/chromium`)"),
    (("YIBAO_FRAUD_MODEL_VERSION",), "`notebooks/fraud_model_evaluation.ipynb`", "the model version to evaluate "
     "(default: the latest)"),
    (("YIBAO_FAULT_AT",), "`yibao.faults` (tests, `benchmarks/faults.py`)", "`<point>:<n>[+<seconds>]` kills the "
     "process with SIGKILL the n-th time it passes a checkpoint (or that many seconds later), to test crash safety"),
    (("YIBAO_FAULT_TRACE",), "`yibao.faults` (`benchmarks/faults.py`)", "a file that records every checkpoint a run "
     "passes: where faults can be injected"),
    (("YIBAO_AUDIT_DIR", "YIBAO_AUDITED_DATASETS"), "`dashboards/superset_side/yibao_audit.py`", "set by `yibao serve`: "
     "where Superset appends an audit row for every read of personal data (`<data_root>/audit`), and the datasets "
     "that hold it; not set by hand"),
    (("YIBAO_LOAD_PLAN", "YIBAO_LOAD_SAMPLES"), "`benchmarks/locustfile.py`", "set by `benchmarks/load.py` for its "
     "Locust process (the users and recorded requests to replay; where the latencies go); not set by hand"),
    (("YIBAO_SCREENSHOTS",), "`tests/test_dashboards.py`", "where the dashboard screenshots are written"),
    (("YIBAO_KEEP_SCREENSHOT",), "`tests/test_quality.py`", "a path to keep the steward page's screenshot at"),
]

_ENV = {name: doc[0] for name, doc in SETTINGS.items()}
_PATHS = ("data_root", "landing_root", "warehouse_root", "spill_dir", "reports_outbox", "quality_rules", "stewards", "fraud_config",
          "dbt_project_dir", "map_boundaries")


def _coerce(name: str, value):
    if value in (None, ""):
        return "" if name in ("spark_remote", "smtp_host") else None
    if name in _PATHS:
        return Path(value)
    if name == "reference_date":
        return value if isinstance(value, date) else date.fromisoformat(str(value))
    if name in ("session_timeout_s", "vacuum_retain_hours", "smtp_port", "dbt_threads"):
        return int(value)
    if name in ("engine_memory_gib", "engine_idle_timeout_s", "snapshot_shrink_hold", "landing_settle_s"):
        return float(value)
    return str(value)


_cli_config_file: Path | None = None   # `yibao --config FILE`, set per command by the CLI (use_config_file)


def use_config_file(path: Path | None) -> None:
    """Make ``path`` the settings file of this command for every reader that calls :func:`load_settings` without
    one (the stages' own readers included), ahead of ``$YIBAO_CONFIG`` and ``./yibao.toml``."""
    global _cli_config_file
    _cli_config_file = path


def load_settings(config_file: Path | None = None, env: dict[str, str] | None = None) -> Settings:
    """Build the effective settings: defaults, then the TOML file, then the environment."""
    env = os.environ if env is None else env
    values: dict = {}
    path = (config_file or _cli_config_file
            or (Path(env["YIBAO_CONFIG"]) if env.get("YIBAO_CONFIG") else Path("yibao.toml")))
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


# -- README.md "Configuration", rendered from the tables above -----------------------------------------------

README = REPO / "README.md"
BEGIN = "<!-- generated from yibao/config.py: python -m yibao.config --write-readme -->"
END = "<!-- end of generated configuration -->"


def _row(*cells: str) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def render_docs() -> str:
    """The Markdown of README.md's "Configuration" section (between its markers)."""
    undocumented = sorted({f.name for f in fields(Settings)} - set(SETTINGS))
    if undocumented:
        raise ValueError(f"settings without documentation in yibao.config.SETTINGS: {undocumented}")
    lines = [
        "One entry point: `yibao/config.py`. Settings come from the defaults, then `yibao.toml` in the working",
        "directory (or the file named by `YIBAO_CONFIG`), then environment variables; `yibao config` prints the",
        "effective values. The settings also say where every other configuration file lives: those files hold a",
        "stage's rules and parameters and are found through these settings (a relative path is taken from the",
        "working directory).",
        "",
        _row("setting", "environment", "default", "governs"),
        _row("---", "---", "---", "---"),
        *(_row(name, f"`{var}`", default, what) for name, (var, default, what) in SETTINGS.items()),
        "",
        "Configuration files:",
        "",
        _row("file", "located by", "governs", "read by"),
        _row("---", "---", "---", "---"),
        *(_row(name, where, what, reader) for name, (where, what, reader) in FILES.items()),
        "",
        "Other environment variables (of a process, a tool or a test rather than of a deployment):",
        "",
        _row("environment", "read by", "governs"),
        _row("---", "---", "---"),
        *(_row(", ".join(f"`{v}`" for v in names), reader, what) for names, reader, what in ENVIRONMENT),
    ]
    return "\n".join([BEGIN, *lines, END])


def readme_section(text: str) -> str:
    """The generated part of a README's text (markers included)."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"README has no generated configuration section ({BEGIN} ... {END})")
    return text[start:end + len(END)]


def documented_names(section: str) -> set[str]:
    """Every upper-case name written in backticks in the first two columns of the section's tables."""
    names: set[str] = set()
    for line in section.splitlines():
        if line.startswith("| "):
            cells = line.split(" | ")
            names.update(re.findall(r"`([A-Z][A-Z0-9_]*)`", cells[0] + " | " + cells[1]))
    return names


def main(argv: list[str]) -> int:
    text = README.read_text(encoding="utf-8")
    current, wanted = readme_section(text), render_docs()
    if "--write-readme" in argv:
        README.write_text(text.replace(current, wanted), encoding="utf-8")
        print(f"{README}: configuration section {'unchanged' if current == wanted else 'rewritten'}")
        return 0
    if "--check-readme" in argv:
        if current != wanted:
            print(f"{README}: the configuration section is stale; run python -m yibao.config --write-readme",
                  file=sys.stderr)
            return 1
        return 0
    print(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
