"""Superset configuration of the yibao lakehouse (loaded through SUPERSET_CONFIG_PATH by `yibao serve`).

Everything deployment-specific comes from the environment that `yibao serve` sets:
YIBAO_SUPERSET_HOME (state directory), YIBAO_SUPERSET_DB_URI (metadata database; SQLite in the home
directory when empty), YIBAO_SUPERSET_CACHE_DIR (chart results), YIBAO_AUDIT_DIR and YIBAO_AUDITED_DATASETS
(the audit of personal-data reads), SUPERSET_SECRET_KEY.
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "superset_side"))

_home = Path(os.environ.get("YIBAO_SUPERSET_HOME", "var/superset")).resolve()
_home.mkdir(parents=True, exist_ok=True)

SECRET_KEY = os.environ["SUPERSET_SECRET_KEY"]
SQLALCHEMY_DATABASE_URI = os.environ.get("YIBAO_SUPERSET_DB_URI") or f"sqlite:///{_home / 'superset.db'}"
DATA_DIR = str(_home)

BABEL_DEFAULT_LOCALE = "zh"
LANGUAGES = {"zh": {"flag": "cn", "name": "简体中文"}, "en": {"flag": "us", "name": "English"}}
APP_NAME = "医保数据湖仓"

FEATURE_FLAGS = {
    "DASHBOARD_NATIVE_FILTERS": True,
    "DASHBOARD_CROSS_FILTERS": True,
    "DRILL_BY": True,
    "DRILL_TO_DETAIL": True,
    "ENABLE_TEMPLATE_PROCESSING": False,
    "ALERT_REPORTS": False,
    "THUMBNAILS": False,
    # defence in depth: region users have no SQL Lab permission (tests/test_dashboards.py), and were one granted
    # it, their row-level security filters would apply to SQL Lab too
    "RLS_IN_SQLLAB": True,
}

# Local, loopback-only service; a production install puts a TLS proxy in front and turns Talisman on.
TALISMAN_ENABLED = False
WTF_CSRF_ENABLED = True
SESSION_COOKIE_SAMESITE = "Lax"
ENABLE_PROXY_FIX = True

# No outbound calls: no outside map tiles (the maps' background is served by superset_side/yibao_tiles.py),
# no telemetry, no example data.
MAPBOX_API_KEY = ""
DECKGL_BASE_MAP = [["tile:///yibao/tiles/light/{z}/{x}/{y}.png", "无底图 (浅色)"],
                   ["tile:///yibao/tiles/dark/{z}/{x}/{y}.png", "无底图 (深色)"]]
SCARF_ANALYTICS = False

# Chart results are cached on the file system, shared by the gunicorn workers (a dashboard opened by many users
# queries DuckDB once per region filter, not once per user: benchmarks/load.py).  The key includes the query and
# the user's row-level-security filters.  The pipeline's serving refresh empties the directory when it replaces
# the read path (yibao.dashboards.readpath.register), so a day's cache never outlives the day's data.
DATA_CACHE_CONFIG = {
    "CACHE_TYPE": "FileSystemCache",
    "CACHE_DIR": os.environ.get("YIBAO_SUPERSET_CACHE_DIR") or str(_home / "result-cache"),
    "CACHE_DEFAULT_TIMEOUT": 24 * 3600,
    "CACHE_THRESHOLD": 100_000,
}

SQLLAB_CTAS_NO_LIMIT = True
ROW_LIMIT = 50000
SUPERSET_WEBSERVER_TIMEOUT = 120
PREVENT_UNSAFE_DB_CONNECTIONS = True


def FLASK_APP_MUTATOR(app):
    """Every read of a personal-data dataset through the chart-data API leaves an audit row
    (superset_side/yibao_audit.py; `yibao audit access` lists them); the maps' plain background is served locally
    (superset_side/yibao_tiles.py)."""
    import yibao_audit
    import yibao_tiles

    yibao_audit.install(app)
    yibao_tiles.install(app)
