"""``yibao serve``: Superset in its own virtual environment, over the read path, with the dashboards of the bundle.

Steps (each idempotent; :func:`setup` runs them all):

1. :func:`ensure_venv`: ``<repo>/.venv-superset`` (or ``$YIBAO_SUPERSET_VENV``) with the pinned
   ``requirements-superset.txt``; re-created when that file changes.
2. :func:`yibao.dashboards.readpath.register`: the DuckDB file of views over the gold / meta Delta tables.
3. ``superset db upgrade`` and ``superset init`` against the metadata database: SQLite in
   ``<data_root>/superset`` by default, or ``$YIBAO_SUPERSET_DB_URI`` (PostgreSQL in production and tests).
4. ``superset_side/setup.py``: import ``dashboards/bundle`` (zipped now, with the read path's location filled
   in), then the roles, row-level security filters and demo users (passwords: :func:`passwords`).
   Steps 3 and 4 are skipped when nothing they install changed (:func:`setup_fingerprint`).
5. :func:`start`: gunicorn on ``host:port``.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from yibao.dashboards import readpath
from yibao.export import access_audit_dir
from yibao.masking import is_personal_column
from yibao.dashboards.authoring import DASHBOARDS, DB_NAME, POOL_DATASETS, REGION_DATASETS, URI_PLACEHOLDER, Chart, uid

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BUNDLE = HERE / "bundle"
REQUIREMENTS = HERE / "requirements-superset.txt"
CONFIG = HERE / "superset_config.py"

# Which dashboards each functional role reads (by the bundle's dashboard keys).
ROLE_DASHBOARDS = {
    "leadership": ["big_screen", "enrollment", "fund", "medical", "reform", "price", "assistance", "finance", "trends"],
    "analyst": ["enrollment", "fund", "medical", "reform", "price", "assistance", "finance", "trends"],
    "steward": ["quality"],
    # upcoding suspects (R10) and billing above the ceiling (R11) are supervision leads too
    "supervisor": ["suspects", "medical", "reform", "price"],
}
ADMIN = {"username": "admin", "first_name": "系统", "last_name": "管理员"}
# Demo users: username, roles, what they see.  Their passwords are generated on first setup (see passwords()).
DEMO_USERS = [
    {"username": "leader", "roles": ["leadership"], "first_name": "省局", "last_name": "领导"},
    {"username": "analyst", "roles": ["analyst"], "first_name": "省局", "last_name": "分析员"},
    {"username": "steward", "roles": ["steward"], "first_name": "数据", "last_name": "管理员"},
    {"username": "supervisor", "roles": ["supervisor"], "first_name": "稽核", "last_name": "人员"},
    {"username": "xian_analyst", "roles": ["analyst", "region_6101"], "first_name": "西安市", "last_name": "分析员"},
    {"username": "xincheng_analyst", "roles": ["analyst", "region_610102"], "first_name": "新城区",
     "last_name": "分析员"},
]
LOGINS = "logins.json"


@dataclass
class Service:
    url: str
    process: subprocess.Popen | None
    env: dict
    log: Path

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()


def venv_dir() -> Path:
    return Path(os.environ.get("YIBAO_SUPERSET_VENV") or REPO / ".venv-superset")


def _python_for_venv() -> str:
    for cand in ("python3.11",):
        p = shutil.which(cand)
        if p:
            return p
    return sys.executable


def ensure_venv(log=print) -> Path:
    """Create (or refresh) Superset's virtual environment; returns its directory."""
    venv = venv_dir()
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    stamp = venv / ".yibao-requirements"
    if stamp.is_file() and stamp.read_text().strip() == digest and (venv / "bin" / "superset").exists():
        return venv
    log(f"installing Superset into {venv} (a few minutes, once)")
    if not (venv / "bin" / "python").exists():
        subprocess.run([_python_for_venv(), "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    subprocess.run(pip + ["--upgrade", "pip"], check=True)
    subprocess.run(pip + ["-r", str(REQUIREMENTS)], check=True)
    stamp.write_text(digest)
    return venv


def home(data_root: Path) -> Path:
    return Path(data_root).resolve() / "superset"


def secret_key(data_root: Path) -> str:
    if os.environ.get("SUPERSET_SECRET_KEY"):
        return os.environ["SUPERSET_SECRET_KEY"]
    f = home(data_root) / "secret_key"
    if not f.is_file():
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(secrets.token_urlsafe(48))
        f.chmod(0o600)
    return f.read_text().strip()


def logins_file(data_root: Path) -> Path:
    """Where the generated passwords are: ``<data_root>/superset/logins.json``, readable by its owner only."""
    return home(data_root) / LOGINS


def passwords(data_root: Path, usernames: list[str]) -> dict[str, str]:
    """username -> password for ``usernames``: the ones already in :func:`logins_file`, and a new random one
    (``secrets``) for each user not there yet, written back.  The file is created mode 0600 (and put back to
    0600 if someone widened it); no password is in the repository."""
    f = logins_file(data_root)
    known: dict[str, str] = {}
    if f.is_file():
        if f.stat().st_mode & 0o077:
            f.chmod(0o600)
        known = json.loads(f.read_text(encoding="utf-8"))
    missing = [u for u in usernames if u not in known]
    if missing:
        known.update({u: secrets.token_urlsafe(12) for u in missing})
        f.parent.mkdir(parents=True, exist_ok=True)
        tmp = f.with_name(f".{LOGINS}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(known, fh, ensure_ascii=False, indent=1)
        os.replace(tmp, f)
    return {u: known[u] for u in usernames}


def _with_passwords(data_root: Path, users: list[dict]) -> list[dict]:
    """The users with their passwords: a password given in the dict (tests) wins, else :func:`passwords`."""
    generated = passwords(data_root, [u["username"] for u in users if not u.get("password")])
    return [{**u, "password": u.get("password") or generated[u["username"]]} for u in users]


def audited_datasets(source: Path = BUNDLE) -> list[str]:
    """The bundle's datasets that hold personal data (a column :func:`yibao.masking.is_personal_column`): every
    read of them through Superset writes an audit row."""
    out = []
    for p in sorted((source / "datasets").rglob("*.yaml")):
        d = yaml.safe_load(p.read_text(encoding="utf-8"))
        if any(is_personal_column(c["column_name"]) for c in d.get("columns") or []):
            out.append(d["table_name"])
    return out


def superset_env(data_root: Path, db_uri: str | None = None) -> dict:
    venv = venv_dir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIRTUAL_ENV")}
    env.update({
        "SUPERSET_CONFIG_PATH": str(CONFIG),
        "YIBAO_SUPERSET_HOME": str(home(data_root)),
        "YIBAO_SUPERSET_CACHE_DIR": str(readpath.result_cache_dir(data_root)),
        "YIBAO_AUDIT_DIR": str(access_audit_dir(data_root)),
        "YIBAO_AUDITED_DATASETS": ",".join(audited_datasets()),
        "SUPERSET_SECRET_KEY": secret_key(data_root),
        "FLASK_APP": "superset.app:create_app()",
        "PATH": f"{venv / 'bin'}:{env.get('PATH', '')}",
        "PYTHONNOUSERSITE": "1",
    })
    uri = db_uri if db_uri is not None else os.environ.get("YIBAO_SUPERSET_DB_URI", "")
    env["YIBAO_SUPERSET_DB_URI"] = uri
    return env


def _datasets_of(keys: list[str]) -> list[str]:
    out = []
    for d in DASHBOARDS:
        if d["key"] in keys:
            for row in d["rows"]:
                for c in row:
                    if isinstance(c, Chart) and uid("dataset", c.ds) not in out:
                        out.append(uid("dataset", c.ds))
            for _, ds, _, _ in d["filters"]:
                if uid("dataset", ds) not in out:
                    out.append(uid("dataset", ds))
    return out


def region_roles(include_all: bool = True) -> dict[str, list]:
    """``region_<code>`` -> [admdvs prefix, name, pooling region] for every city and county of the province
    (divisions seed); the pooling region is a county's (yibao.regions.pooling_region), None for a city."""
    import csv

    from yibao.regions import admdvs_prefix, pooling_region

    roles = {}
    with readpath.DIVISIONS_SEED.open(encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            if r["in_region"] != "1" or r["level"] not in ("2", "3"):
                continue
            prefix = admdvs_prefix(r["code"])
            roles[f"region_{prefix}"] = [prefix, r["name"], pooling_region(r["code"], readpath.DIVISIONS_SEED)]
    return roles


def zip_bundle(data_root: Path, target: Path, source: Path = BUNDLE) -> Path:
    """Zip the YAML bundle for import, pointing its database at this machine's read path."""
    uri = readpath.sqlalchemy_uri(data_root)
    with zipfile.ZipFile(target, "w") as z:
        for f in sorted(source.rglob("*.yaml")):
            rel = f.relative_to(source)
            text = f.read_text(encoding="utf-8")
            if rel.parts[0] == "databases":
                d = yaml.safe_load(text)
                d["sqlalchemy_uri"] = d["sqlalchemy_uri"].replace(URI_PLACEHOLDER, uri)
                extra = d.setdefault("extra", {})
                ca = extra.setdefault("engine_params", {}).setdefault("connect_args", {})
                ca["read_only"] = True
                ca["config"] = readpath.duckdb_config(data_root)
                text = yaml.safe_dump(d, allow_unicode=True, sort_keys=False)
            z.writestr(f"yibao_dashboards/{rel}", text)
    return target


def _run(cmd: list[str], env: dict, log=print) -> str:
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-5000:]}")
    return p.stdout


def setup(data_root: Path, warehouse: Path, db_uri: str | None = None, log=print, force: bool = False) -> dict:
    """Everything but starting the server: venv, read path, metadata database, bundle, security.

    The metadata steps (``db upgrade``, ``init``, the bundle, roles and users: about 80 s) run only when what they
    install changed since the last setup of this data root and metadata database (:func:`setup_fingerprint`), or
    with ``force``; the read path is registered every time (the warehouse may have new tables)."""
    timings: dict = {}
    t = time.time()
    venv = ensure_venv(log)
    timings["venv_s"] = round(time.time() - t, 1)
    t = time.time()
    reg = readpath.register(data_root, warehouse)
    timings["read_path_s"] = round(time.time() - t, 1)
    log(f"read path {reg.path}: {len(reg.found)} Delta tables copied ({sum(reg.rows.values()):,} rows, "
        f"{reg.seconds:.1f} s), {len(reg.stubbed)} not produced yet "
        f"({', '.join(reg.stubbed) or '-'})" + (f"; unreadable: {reg.unreadable}" if reg.unreadable else ""))
    env = superset_env(data_root, db_uri)
    stamp = home(data_root) / "setup.fingerprint"
    fingerprint = setup_fingerprint(data_root, env["YIBAO_SUPERSET_DB_URI"])
    if not force and stamp.is_file() and stamp.read_text() == fingerprint and _metadata_exists(data_root, env):
        log("Superset metadata, dashboards, roles and users unchanged since the last setup: skipped")
        timings["skipped"] = True
        return timings
    stamp.unlink(missing_ok=True)
    superset = str(venv / "bin" / "superset")
    t = time.time()
    _run([superset, "db", "upgrade"], env)
    timings["db_upgrade_s"] = round(time.time() - t, 1)
    t = time.time()
    _run([superset, "init"], env)
    timings["init_s"] = round(time.time() - t, 1)
    t = time.time()
    out = import_bundle(data_root, db_uri)
    timings["import_and_security_s"] = round(time.time() - t, 1)
    timings.update(out)
    stamp.write_text(fingerprint)
    return timings


def _metadata_exists(data_root: Path, env: dict) -> bool:
    """The default SQLite metadata database is a file that can be deleted; an external one is trusted to stay."""
    return bool(env["YIBAO_SUPERSET_DB_URI"]) or (home(data_root) / "superset.db").is_file()


def _spec(data_root: Path) -> dict:
    """What superset_side/setup.py installs besides the bundle: the admin, roles, region filters, users."""
    admin, *users = _with_passwords(data_root, [ADMIN, *DEMO_USERS])
    return {"admin": admin, "roles": {r: _datasets_of(keys) for r, keys in ROLE_DASHBOARDS.items()},
            "region_roles": region_roles(), "rls_dataset_uuids": [uid("dataset", d) for d in REGION_DATASETS],
            "rls_pool_dataset_uuids": [uid("dataset", d) for d in POOL_DATASETS],
            "users": users}


def setup_fingerprint(data_root: Path, db_uri: str) -> str:
    """A digest of everything the metadata steps install: the bundle, the read path's address and settings, the
    roles and users (passwords included), Superset's configuration, the setup script, the pinned requirements
    and the metadata database's address."""
    h = hashlib.sha256()
    for f in [*sorted(BUNDLE.rglob("*.yaml")), CONFIG, HERE / "superset_side" / "setup.py", REQUIREMENTS]:
        h.update(str(f.relative_to(HERE)).encode() + b"\0" + f.read_bytes() + b"\0")
    h.update(json.dumps({"spec": _spec(data_root), "db_uri": db_uri, "read_path": readpath.sqlalchemy_uri(data_root),
                         "duckdb": readpath.duckdb_config(data_root)}, sort_keys=True, ensure_ascii=False).encode())
    return h.hexdigest()


def import_bundle(data_root: Path, db_uri: str | None = None, source: Path = BUNDLE) -> dict:
    """Import the YAML bundle (overwriting what exists), then roles, row-level security and users."""
    env = superset_env(data_root, db_uri)
    with tempfile.TemporaryDirectory() as tmp:
        bundle = zip_bundle(data_root, Path(tmp) / "bundle.zip", source)
        spec = {"bundle": str(bundle), **_spec(data_root)}
        (Path(tmp) / "spec.json").write_text(json.dumps(spec, ensure_ascii=False))
        out = _run([str(venv_dir() / "bin" / "python"), str(HERE / "superset_side" / "setup.py"),
                    str(Path(tmp) / "spec.json")], env)
    return json.loads(out.strip().splitlines()[-1])


def start(data_root: Path, host: str = "127.0.0.1", port: int = 8088, db_uri: str | None = None,
          workers: int = 2, timeout: float = 180, log=print) -> Service:
    """Start gunicorn and wait until Superset answers its health check."""
    env = superset_env(data_root, db_uri)
    logf = home(data_root) / "superset.log"
    venv = venv_dir()
    cmd = [str(venv / "bin" / "gunicorn"), "-w", str(workers), "--threads", "4", "-k", "gthread", "--timeout", "120",
           "-b", f"{host}:{port}", "--limit-request-line", "0", "--limit-request-field_size", "0",
           "superset.app:create_app()"]
    fh = logf.open("ab")
    proc = subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://{host}:{port}"
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"Superset exited with {proc.returncode}; see {logf}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=5) as r:  # nosec B310 # http://127.0.0.1 it started itself
                if r.status == 200:
                    return Service(url, proc, env, logf)
        except OSError:
            time.sleep(1)
    proc.terminate()
    raise RuntimeError(f"Superset did not answer on {url} within {timeout}s; see {logf}")


def export(data_root: Path, target: Path | None = None, db_uri: str | None = None) -> Path:
    """Export every dashboard from the metadata database into a YAML directory (default
    ``<data_root>/superset/export``), to compare with ``dashboards/bundle`` and port a change made in the UI into
    ``authoring.py``: the bundle itself is only written by ``authoring.py``."""
    target = Path(target) if target else home(data_root) / "export"
    env = superset_env(data_root, db_uri)
    with tempfile.TemporaryDirectory() as tmp:
        z = Path(tmp) / "export.zip"
        _run([str(venv_dir() / "bin" / "superset"), "export-dashboards", "-f", str(z)], env)
        with zipfile.ZipFile(z) as zf:
            names = [n for n in zf.namelist() if n.endswith(".yaml")]
            if target.exists():
                shutil.rmtree(target)
            for n in names:
                rel = Path(*Path(n).parts[1:])
                text = zf.read(n).decode("utf-8")
                if rel.parts[0] == "databases":
                    d = yaml.safe_load(text)
                    d["sqlalchemy_uri"] = URI_PLACEHOLDER
                    d.get("extra", {}).get("engine_params", {}).get("connect_args", {}).pop("config", None)
                    text = yaml.safe_dump(d, allow_unicode=True, sort_keys=False)
                (target / rel).parent.mkdir(parents=True, exist_ok=True)
                (target / rel).write_text(text, encoding="utf-8")
    return target


def logins() -> list[tuple[str, str]]:
    """(user, roles) of the admin and the demo users; their passwords are in :func:`logins_file`."""
    return [(ADMIN["username"], "Admin")] + [(u["username"], ", ".join(u["roles"])) for u in DEMO_USERS]


if __name__ == "__main__":   # python -m yibao.dashboards.serve --export
    from yibao.config import load_settings

    s = load_settings()
    if "--export" in sys.argv:
        print(export(s.data_root))
