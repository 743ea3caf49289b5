"""Orchestration: the Dagster asset graph, the landing-zone sensor, `yibao run`, and the notebooks.

(a) the whole asset graph is materialised in-process on a generated landing zone (5k persons); a second weekly
    batch is dropped into the landing zone, the sensor asks for one run per new batch (run key source/batch),
    the runs execute and the tables have merged the batch (bronze rows of the new batch, the ledger, stable
    person ids).
(b) `yibao run` end to end through the CLI; its printed summary agrees with the tables.
(c) every notebook in notebooks/ executes headless against the warehouse (b) built.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections import Counter
from pathlib import Path

import pytest

from yibao.config import Settings

PERSONS, SEED = 5000, 3
NEW_BATCH = "20261108-001"
REPO = Path(__file__).resolve().parent.parent


def _read(settings: Settings, schema: str, table: str):
    from yibao.catalog import Catalog
    from yibao.engine import spark_session

    return Catalog(spark_session(settings), settings).read(schema, table)


@pytest.mark.slow
def test_asset_graph_and_sensor_merge_a_new_batch(tmp_path: Path):
    from dagster import AssetKey, DagsterInstance, build_sensor_context

    from yibao.orchestration.definitions import build_definitions, new_batches
    from yibao.synthetic.generate import generate

    t0 = time.time()
    settings = Settings(data_root=tmp_path / "root", spark_remote="", landing_settle_s=0)
    generate(settings.landing, persons=PERSONS, seed=SEED, batches=1, chunk_size=2500)
    defs = build_definitions(settings)
    instance = DagsterInstance.ephemeral()

    # 1. the whole graph, in-process
    result = defs.get_implicit_global_asset_job_def().execute_in_process(instance=instance)
    assert result.success
    done = {e.asset_key.path[0] for e in result.get_asset_materialization_events()
            for e in [e.event_specific_data.materialization]}
    assert {"bronze", "silver", "gold", "serving", "reports"} <= done
    forecast = {tuple(e.event_specific_data.materialization.asset_key.path)
                for e in result.get_asset_materialization_events()}
    assert {("silver", "fund_forecast_series"), ("gold", "fund_forecast_warning")} <= forecast
    checks = [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    assert any(c.check_name == "quality_gate" for c in checks)
    assert any(c.check_name == "ge_quality" for c in checks)
    # the generated province plants fraud of every rule: the graph's fraud asset must have published suspects
    assert _read(settings, "gold", "fraud_suspect").count() > 0
    assert _read(settings, "gold", "uninsured_person").count() > 0
    assert (settings.data_root / "serving").is_dir()
    before = {r.certno: r.person_id for r in _read(settings, "gold", "person_master")
              .select("certno", "person_id").collect() if r.certno}
    setl_before = _read(settings, "bronze", "medins__setl").count()
    assert new_batches(settings) == []
    t1 = time.time()

    # 2. a second weekly batch arrives
    gen = tmp_path / "gen2"
    generate(gen, persons=PERSONS, seed=SEED, batches=2, chunk_size=2500)
    dropped = []
    for d in sorted(gen.glob(f"*/{NEW_BATCH}")):
        shutil.copytree(d, settings.landing / d.parent.name / d.name)
        dropped.append(d.parent.name)
    assert "medins" in dropped

    sensor = defs.get_sensor_def("landing_zone_sensor")
    tick = sensor.evaluate_tick(build_sensor_context(instance=instance, definitions=defs))
    requests = tick.run_requests
    assert sorted(r.run_key.rsplit("/", 1)[0] for r in requests) == sorted(f"{s}/{NEW_BATCH}" for s in dropped)
    assert {r.job_name for r in requests} == {f"source_{s}" for s in dropped}

    # 3. the requested runs. Each asks for its source's assets and everything downstream (its job
    # source_<source>); executed one after another they would rebuild dbt once per source (minutes), so the
    # test executes the union of their selections as one run, tagged with their run keys.
    selection = {k for r in requests for k in defs.get_job_def(r.job_name).asset_layer.executable_asset_keys}
    assert AssetKey(["bronze", "medins__setl"]) in selection and AssetKey(["gold", "person_master"]) in selection
    run = defs.get_implicit_global_asset_job_def().execute_in_process(
        instance=instance, asset_selection=sorted(selection, key=str),
        tags={"yibao/run_keys": ",".join(sorted(r.run_key for r in requests))})
    assert run.success
    t2 = time.time()

    batches = {(r.source, r.batch_id): r.status for r in _read(settings, "meta", "ingest_batch").collect()}
    for s in dropped:
        assert batches[(s, NEW_BATCH)] == "applied"
    setl = _read(settings, "bronze", "medins__setl")
    assert setl.where(f"_batch_id = '{NEW_BATCH}'").count() > 0
    assert setl.count() > setl_before
    after = {r.certno: r.person_id for r in _read(settings, "gold", "person_master")
             .select("certno", "person_id").collect() if r.certno}
    common = set(before) & set(after)
    assert len(common) > 0.9 * len(before)
    assert all(before[c] == after[c] for c in common)
    # the sensor has nothing left to ask for
    assert new_batches(settings) == []
    print(f"\nfull graph {t1 - t0:.0f}s, second batch {t2 - t1:.0f}s")


def test_sensor_asks_for_quiet_new_content_only(tmp_path: Path):
    """A batch still being copied waits; a rejected batch delivered again with new content is asked for again
    (its run key carries the content); an applied batch is not asked for twice."""
    from landing import write_batch

    from yibao.ingestion.ingest import ingest
    from yibao.orchestration.definitions import new_batches

    settings = Settings(data_root=tmp_path, spark_remote="", landing_settle_s=0)
    header = "certno,psn_name,death_date,admdvs"
    write_batch(settings.landing, "civil_affairs", "20261101-001", {"death_cremation": [header, "1,甲,2026-01-01,610102"]},
                file_overrides={"death_cremation": {"rows": 5}})          # a manifest that lies: rejected
    (first,) = new_batches(settings)
    ingest(settings)
    assert new_batches(settings) == []                                # the same content is not asked for again
    write_batch(settings.landing, "civil_affairs", "20261101-001",
                {"death_cremation": [header, "1,甲,2026-01-01,610102", "2,乙,2026-02-01,610102"]})
    (again,) = new_batches(settings)
    assert again[:2] == first[:2] and again[2] != first[2]           # same batch, new content, new run key
    assert new_batches(settings.with_(landing_settle_s=3600)) == []   # just written: maybe still being copied
    later = max(p.stat().st_mtime for p in (settings.landing / "civil_affairs" / "20261101-001").iterdir()) + 61
    assert len(new_batches(settings.with_(landing_settle_s=60), now=later)) == 1
    ingest(settings)
    assert new_batches(settings) == []


@pytest.fixture(scope="module")
def pipeline_root(tmp_path_factory) -> Path:
    """A data root where `yibao run` ran on a generated 5k landing zone; returns (root, printed output)."""
    from typer.testing import CliRunner

    from yibao.cli import app
    from yibao.synthetic.generate import generate

    root = tmp_path_factory.mktemp("yibao_run")
    generate(root / "landing", persons=PERSONS, seed=SEED, batches=1, chunk_size=2500)
    env = {"YIBAO_DATA_ROOT": str(root), "YIBAO_LANDING_ROOT": "", "YIBAO_WAREHOUSE_ROOT": "",
           "COLUMNS": "200"}
    res = CliRunner().invoke(app, ["run"], env=env)
    return root, res


@pytest.mark.slow
def test_yibao_run_summary_matches_tables(pipeline_root):
    from pyspark.sql import functions as F

    root, res = pipeline_root
    out = res.output
    assert res.exit_code == 0, out
    settings = Settings(data_root=root, spark_remote="")
    landed = _read(settings, "meta", "ingest_log").agg(F.sum("rows_landed")).first()[0]
    quarantined = _read(settings, "meta", "ingest_log").agg(F.sum("rows_quarantined")).first()[0] or 0
    m = re.search(r"rows landed ([\d,]+), quarantined ([\d,]+)", out)
    assert m, out
    assert int(m.group(1).replace(",", "")) == landed
    assert int(m.group(2).replace(",", "")) == quarantined
    m = re.search(r"uninsured persons: ([\d,]+)", out)
    assert m and int(m.group(1).replace(",", "")) == _read(settings, "gold", "uninsured_person").count()
    levels = {r.risk_level: r["count"] for r in _read(settings, "gold", "fraud_suspect")
              .groupBy("risk_level").count().collect()}
    m = re.search(r"suspects: (.+)", out)
    assert m, out
    printed = {k: int(v.replace(",", "")) for k, v in (p.rsplit(" ", 1) for p in m.group(1).strip().split(", "))}
    assert printed == levels
    applied = _read(settings, "meta", "ingest_batch").where("status = 'applied'").count()
    assert re.search(rf"batches taken: {applied}\b", out), out
    for stage in ("ingest", "quality (bronze)", "transform (dbt)", "forecast", "fraud", "serving refresh", "reports"):
        assert stage in out


@pytest.mark.slow
@pytest.mark.parametrize("notebook", sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb")))
def test_notebook_executes(pipeline_root, notebook, monkeypatch):
    import nbformat
    from nbconvert.preprocessors import ExecutePreprocessor

    root, res = pipeline_root
    assert res.exit_code == 0, res.output
    monkeypatch.setenv("YIBAO_DATA_ROOT", str(root))
    for var in ("YIBAO_LANDING_ROOT", "YIBAO_WAREHOUSE_ROOT", "SPARK_REMOTE"):
        monkeypatch.delenv(var, raising=False)
    nb = nbformat.read(REPO / "notebooks" / notebook, as_version=4)
    started = time.time()
    ExecutePreprocessor(timeout=300, kernel_name="python3").preprocess(nb, {"metadata": {"path": str(root)}})
    assert time.time() - started < 120
