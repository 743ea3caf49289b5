"""Superset configuration of the yibao lakehouse (loaded through SUPERSET_CONFIG_PATH by `yibao serve`).

Everything deployment-specific comes from the environment that `yibao serve` sets:
YIBAO_SUPERSET_HOME (state directory), YIBAO_SUPERSET_DB_URI (metadata database; SQLite in the home
directory when empty), SUPERSET_SECRET_KEY.
"""

import os
from pathlib import Path

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
}

# Local, loopback-only service; a production install puts a TLS proxy in front and turns Talisman on.
TALISMAN_ENABLED = False
WTF_CSRF_ENABLED = True
SESSION_COOKIE_SAMESITE = "Lax"
ENABLE_PROXY_FIX = True

# No outbound calls: no map tiles, no telemetry, no example data.
MAPBOX_API_KEY = ""
SCARF_ANALYTICS = False

SQLLAB_CTAS_NO_LIMIT = True
ROW_LIMIT = 50000
SUPERSET_WEBSERVER_TIMEOUT = 120
PREVENT_UNSAFE_DB_CONNECTIONS = True
