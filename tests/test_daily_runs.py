"""Daily operation (issue 16, items 2-3): a full load followed by one run per daily batch publishes exactly the
gold tables (the eight of contract section 4, compared row by row) that one full rebuild over the same batches
publishes, and a suspect reviewed on day 1 keeps its decision through the later days' re-scoring.

The comparison is the scale-out benchmark's (``yibao.benchmarks.scale_out.compare_gold``): the same keys, the
same columns left out (when the list was scored), the same float precision.  The rebuild gets the same review,
so that the suspect's status is compared too."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from yibao.config import Settings

PERSONS, SEED, DAYS = 2000, 9, 2
REVIEW = ("核查中", "督查员王", "调取病历")
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def _copy_batches(src: Path, dst: Path, wanted) -> list[str]:
    copied = []
    for batch in sorted(src.glob("*/*/_manifest.json")):
        d = batch.parent
        if wanted(d.name) and not (dst / d.parent.name / d.name).exists():
            shutil.copytree(d, dst / d.parent.name / d.name)
            copied.append(f"{d.parent.name}/{d.name}")
    return copied


def _top_suspect(settings: Settings) -> str:
    from yibao.benchmarks.accuracy import _read

    return _read(settings, "select suspect_id from gold.fraud_suspect order by rank limit 1").suspect_id.iloc[0]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from yibao.fraud.suspects import review
    from yibao.orchestration.pipeline import run_pipeline
    from yibao.synthetic.daily import generate_days
    from yibao.synthetic.generate import generate

    gen = tmp_path_factory.mktemp("landing")
    generate(gen, PERSONS, seed=SEED, batches=2, chunk_size=1000)
    full_ids = {p.parent.name for p in gen.glob("*/*/_manifest.json")}
    generate_days(gen, DAYS)
    day_ids = sorted({p.parent.name for p in gen.glob("*/*/_manifest.json")} - full_ids)
    assert len(day_ids) == DAYS

    # A: the full load, a review, then one run per day
    a = Settings(data_root=tmp_path_factory.mktemp("daily_runs"), spark_remote="")
    _copy_batches(gen, a.landing, lambda b: b in full_ids)
    first = run_pipeline(a, serve=False)
    assert first.ok, first.errors
    top = _top_suspect(a)
    review(a, top, *REVIEW)
    daily = []
    for day in day_ids:
        assert _copy_batches(gen, a.landing, lambda b, day=day: b == day)
        daily.append(run_pipeline(a, serve=False))
        assert daily[-1].ok, daily[-1].errors

    # B: one full rebuild over the same batches, and the same review
    b = Settings(data_root=tmp_path_factory.mktemp("rebuild"), landing_root=gen, spark_remote="")
    once = run_pipeline(b, serve=False)
    assert once.ok, once.errors
    review(b, top, *REVIEW)
    return a, b, top, daily


def test_daily_runs_publish_what_a_full_rebuild_publishes(runs):
    from yibao.benchmarks.scale_out import compare_gold

    a, b, _, daily = runs
    # the days changed something: each delivered rows that landed
    assert all(d.rows_landed > 0 for d in daily), [d.rows_landed for d in daily]
    comparison = compare_gold(a.warehouse, b.warehouse)
    report = "\n".join(c.describe() + "".join(f"\n    {e}" for e in c.examples) for c in comparison.values())
    assert all(c.identical for c in comparison.values()), report
    # empty tables would prove nothing
    assert all(c.rows_a for c in comparison.values()), report
    # the daily runs left the unchanged seeds out of their build: each seed table was written as often (its Delta
    # commits) on the warehouse of a full load and N daily runs as on the warehouse of one rebuild
    for seed in ("code_list", "gbt2260_divisions"):
        commits = [len(list((w / "silver" / seed / "_delta_log").glob("*.json"))) for w in (a.warehouse, b.warehouse)]
        assert commits[0] == commits[1] >= 1, (seed, commits)


def test_a_reviewed_suspect_keeps_its_decision(runs):
    from yibao.benchmarks.accuracy import _read

    a, _, top, daily = runs
    got = _read(a, f"select status from gold.fraud_suspect where suspect_id = '{top}'")
    assert got.status.tolist() == [REVIEW[0]]
    # the generator's daily batches are clean except the hrss department's planted bad batch
    assert all(not d.batches_rejected or all("hrss" in x for x, _ in d.batches_rejected) for d in daily)
