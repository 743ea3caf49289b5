"""Runs inside Superset's virtual environment: import the bundle, then roles, row-level security and users.

Usage: ``<venv>/bin/python setup.py spec.json``, with ``spec.json`` written by ``yibao.dashboards.serve``:
``{"bundle": zip, "admin": {...}, "roles": {role: [dataset uuid, ...]}, "region_roles": {role: [prefix, name, pool]},
"rls_dataset_uuids": [...], "users": [{"username", "password", "roles", "first_name", "last_name"}]}``.
Everything is idempotent: running it again updates what exists.
"""

import json
import sys
import time
import zipfile


def main(spec_path: str) -> None:
    spec = json.load(open(spec_path, encoding="utf-8"))
    from superset.app import create_app

    app = create_app()
    with app.app_context():
        from flask import g
        from superset import db, security_manager as sm
        from superset.commands.chart.importers.v1 import ImportChartsCommand
        from superset.commands.dashboard.importers.dispatcher import ImportDashboardsCommand
        from superset.commands.database.importers.v1 import ImportDatabasesCommand
        from superset.commands.dataset.importers.v1 import ImportDatasetsCommand
        from superset.commands.importers.v1.utils import get_contents_from_bundle
        from superset.connectors.sqla.models import RowLevelSecurityFilter, SqlaTable

        t0 = time.time()
        admin = _user(sm, spec["admin"], [sm.find_role("Admin")])
        db.session.commit()
        g.user = admin
        with zipfile.ZipFile(spec["bundle"]) as z:
            contents = get_contents_from_bundle(z)
        # Superset's dashboard import overwrites the dashboards only: the databases, datasets and charts they use
        # are created when missing but never updated.  Import those first with their own commands, overwriting,
        # so that an edited chart or dataset of the bundle reaches a Superset that imported an older bundle.
        for command, model in ((ImportDatabasesCommand, "Database"), (ImportDatasetsCommand, "SqlaTable"),
                               (ImportChartsCommand, "Slice")):
            command(_as_type(contents, model), overwrite=True).run()
            db.session.commit()
        ImportDashboardsCommand(contents, overwrite=True).run()
        db.session.commit()
        t1 = time.time()

        datasets = {str(d.uuid): d for d in db.session.query(SqlaTable).all()}
        missing = [u for uuids in spec["roles"].values() for u in uuids if u not in datasets]
        if missing:
            raise SystemExit(f"datasets missing after import: {missing}")
        for ds in datasets.values():   # owner of what the bundle created
            if admin not in ds.owners:
                ds.owners.append(admin)
        roles = {}
        for name, uuids in spec["roles"].items():
            role = sm.find_role(name) or sm.add_role(name)
            role.permissions = [sm.add_permission_view_menu("datasource_access", datasets[u].perm) for u in uuids]
            roles[name] = role
        rls_tables = [datasets[u] for u in spec["rls_dataset_uuids"]]
        pool_uuids = set(spec.get("rls_pool_dataset_uuids", []))
        pool_tables = [datasets[u] for u in spec["rls_dataset_uuids"] if u in pool_uuids]
        own_tables = [datasets[u] for u in spec["rls_dataset_uuids"] if u not in pool_uuids]
        existing = {f.name: f for f in db.session.query(RowLevelSecurityFilter).all()}
        for name, (prefix, label, pool) in spec["region_roles"].items():
            role = sm.find_role(name) or sm.add_role(name)
            role.permissions = []
            roles[name] = role
            # one filter per table and role (filters of one group key are ORed): a county sees its pooling region's
            # rows in the pooling-region aggregates, its own rows everywhere else (yibao/regions.py)
            f = existing.get(name) or RowLevelSecurityFilter(name=name)
            f.description = f"{label}: 只看本区划 (admdvs 以 {prefix} 开头)"
            f.filter_type = "Regular"
            f.group_key = "region"
            f.clause = f"admdvs LIKE '{prefix}%'"
            f.tables = own_tables if pool else rls_tables
            f.roles = [role]
            db.session.add(f)
            pf = existing.get(f"{name}_pool")
            if pool:
                pf = pf or RowLevelSecurityFilter(name=f"{name}_pool")
                pf.description = f"{label}: 统筹区汇总表看所属统筹区 (admdvs = {pool})"
                pf.filter_type = "Regular"
                pf.group_key = "region"
                pf.clause = f"admdvs = '{pool}'"
                pf.tables = pool_tables
                pf.roles = [role]
                db.session.add(pf)
            elif pf is not None:
                db.session.delete(pf)
        gamma = sm.find_role("Gamma")
        for u in spec["users"]:
            _user(sm, u, [gamma] + [roles[r] for r in u["roles"]])
        db.session.commit()
        print(json.dumps({"import_s": round(t1 - t0, 1), "security_s": round(time.time() - t1, 1),
                          "datasets": len(datasets), "roles": len(roles), "users": len(spec["users"]) + 1}))


def _as_type(contents: dict, model: str) -> dict:
    """The bundle's files with ``metadata.yaml`` declaring ``model`` (each import command checks the type)."""
    import yaml

    meta = yaml.safe_load(contents["metadata.yaml"])
    meta["type"] = model
    return {**contents, "metadata.yaml": yaml.safe_dump(meta)}


def _user(sm, u: dict, roles: list):
    user = sm.find_user(username=u["username"])
    if user is None:
        user = sm.add_user(u["username"], u.get("first_name", u["username"]), u.get("last_name", "yibao"),
                           u.get("email", f"{u['username']}@yibao.local"), roles, password=u["password"])
        if not user:
            raise SystemExit(f"could not create user {u['username']}")
    else:
        user.roles = roles
        user.active = True
        sm.reset_password(user.id, u["password"])
    return user


if __name__ == "__main__":
    main(sys.argv[1])
