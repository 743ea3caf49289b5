"""The pipeline stops downstream of a blocking silver/gold failure (quality/README.md, "Silver and gold"): when a
published table would be wrong, fraud scoring and the serving refresh do not run, and nothing is published on
top of it.  The real pipeline (``yibao.orchestration.pipeline.run_pipeline``) runs on a small generated landing
zone; a gold rule that every row breaks is added to the gold suite for the first run, and removed for a second
run on the same warehouse, which then does score fraud and refresh the read path (so the stop is the failure's
doing, not the data's).

The landing zone is contract version 1 (sections 1-2 only, as a producer that delivers no section 6 table): the
second run is also the proof that such a landing zone runs green end to end, with every section 6 analysis
published empty and ``gold.section6_delivery`` saying 未交付 for each of its nine tables, down to the read path.

Last, crash safety (issue 20; the whole matrix of kill points is ``benchmarks/faults.py``, its results in
benchmarks/RESULTS.md): a third run, killed with SIGKILL while dbt writes the person registry, then rerun,
publishes the same contract gold tables as the completed run before it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from yibao.config import Settings

PERSONS, SEED = 3000, 5
UPSTREAM = ["ingest", "quality (bronze)", "transform (dbt)", "quality (silver)", "quality (gold)"]

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def test_blocking_gold_failure_skips_fraud_and_serving(tmp_path, monkeypatch):
    from yibao.catalog import Catalog
    from yibao.dashboards.readpath import DB_FILE
    from yibao.engine import spark_session
    from yibao.orchestration.pipeline import run_pipeline
    from yibao.quality import suites
    from yibao.synthetic.generate import generate

    settings = Settings(data_root=tmp_path / "root", spark_remote="")
    generate(settings.landing, persons=PERSONS, seed=SEED, batches=1, chunk_size=1500, contract_version=1)
    serving_db = settings.data_root / "serving" / DB_FILE

    # 1. a blocking gold rule every row of person_master breaks: a published table "would be wrong"
    impossible = ("test.impossible", "ExpectColumnValuesToBeNull", {"column": "person_id"}, suites.BLOCKING,
                  "测试: person_id 为空 (每行都不符)", "person_id")
    stages: list[str] = []
    with monkeypatch.context() as m:
        m.setitem(suites.GOLD_RULES, "person_master", suites.GOLD_RULES["person_master"] + [impossible])
        summary = run_pipeline(settings, serve=True, on_stage=stages.append)

    assert summary.dbt_ok and summary.batches_applied, summary.errors
    assert [f.split(":")[0] for f in summary.quality_failures] == ["gold.person_master"], summary.quality_failures
    assert impossible[4] in summary.quality_failures[0]
    assert stages == UPSTREAM and list(summary.stages) == UPSTREAM   # no forecast, fraud nor serving refresh ran
    assert not summary.ok and not summary.suspects_by_level
    assert any("fraud scoring and the serving refresh were skipped" in e for e in summary.errors)
    cat = Catalog(spark_session(settings), settings)
    assert cat.exists("gold", "person_master") and cat.exists("gold", "uninsured_person")
    assert not cat.exists("gold", "fraud_suspect")                   # nothing scored on the wrong table
    assert not cat.exists("gold", "fund_forecast")                   # nor forecast
    assert not serving_db.exists()                                   # the dashboards were not pointed at it
    held = cat.read("meta", "quality_hold").where("layer = 'gold'").collect()
    assert [(h["table"], h["blocking_failures"]) for h in held] == [("person_master", 1)]

    # 2. the same warehouse without the broken rule: the run goes on to fraud and serving
    stages.clear()
    summary = run_pipeline(settings, serve=True, on_stage=stages.append)
    assert summary.ok, summary.errors + summary.quality_failures
    assert stages == UPSTREAM + ["forecast", "fraud", "serving refresh", "reports", "maintain (vacuum)"]
    pairs = cat.read("gold", "fund_operation").select("admdvs", "insutype").distinct().count()
    assert summary.forecast_pairs == (pairs, pairs) and cat.read("gold", "fund_forecast_warning").count() == pairs
    assert cat.exists("gold", "fraud_suspect") and cat.read("gold", "fraud_suspect").count() > 0
    assert sum(summary.suspects_by_level.values()) > 0
    assert serving_db.exists()

    # 3. no section 6 delivered: the analyses that need it are published empty and say so, to the dashboards
    from yibao.dashboards.readpath import connect
    delivery = cat.read("gold", "section6_delivery").toPandas()
    assert len(delivery) == 9 and not delivery["delivered"].any() and (delivery["status"] == "未交付").all()
    for table in ("drg_case", "dip_clearing", "price_violation", "vbp_completion", "assistance_duplicate",
                  "fund_reconciliation_diff"):
        assert cat.exists("gold", table) and cat.read("gold", table).count() == 0, table
    con = connect(settings.data_root)
    try:
        shown = con.execute("select count(*), count(*) filter (where status = '未交付') from serving.section6_delivery").fetchone()
    finally:
        con.close()
    assert shown == (9, 9)

    # 4. killed with SIGKILL half a second into the person registry's model (yibao.faults), then rerun: the same
    #    contract gold tables as the completed run before, row by row
    from yibao.benchmarks.scale_out import GOLD_KEYS, compare_table, read_table

    before = {t: read_table(settings.warehouse / "gold" / t, "delta") for t in GOLD_KEYS}
    yibao = str(Path(sys.executable).with_name("yibao"))
    env = {k: v for k, v in os.environ.items() if k not in ("YIBAO_FAULT_AT", "YIBAO_FAULT_TRACE")}
    env.update(YIBAO_DATA_ROOT=str(settings.data_root), SPARK_REMOTE="")
    killed = subprocess.run([yibao, "run"], env={**env, "YIBAO_FAULT_AT": "dbt_node:int_person_registry:1+0.5"},
                            capture_output=True, text=True, timeout=1800)
    assert killed.returncode == -9, (killed.stdout + killed.stderr)[-3000:]       # SIGKILL
    rerun = subprocess.run([yibao, "run"], env=env, capture_output=True, text=True, timeout=1800)
    assert rerun.returncode == 0, (rerun.stdout + rerun.stderr)[-3000:]
    for t, keys in GOLD_KEYS.items():
        cmp = compare_table(t, before[t], read_table(settings.warehouse / "gold" / t, "delta"), keys)
        assert cmp.identical, cmp.describe() + " " + "; ".join(cmp.examples)
