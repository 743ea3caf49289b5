"""The dashboards have one source: ``dashboards/authoring.py``.  The committed bundle must be exactly what it writes.

No Superset is needed: the bundle is written from the definitions and the read path's views over an empty
warehouse (DuckDB), in about a second.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import yaml

from yibao.dashboards import authoring


def test_committed_bundle_is_what_authoring_writes():
    diffs = authoring.check_bundle()
    assert diffs == [], "dashboards/bundle/ differs from dashboards/authoring.py: run " \
                        "python -m yibao.dashboards.authoring\n" + "\n".join(diffs)


def test_check_catches_hand_edits_of_the_bundle(tmp_path):
    copy = tmp_path / "bundle"
    shutil.copytree(authoring.BUNDLE, copy)
    chart = copy / "charts" / "bs_coverage.yaml"
    doc = yaml.safe_load(chart.read_text(encoding="utf-8"))
    doc["slice_name"] = "edited in the UI"
    chart.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=120), encoding="utf-8")
    (copy / "datasets" / "yibao_gold" / "coverage.yaml").unlink()
    (copy / "charts" / "extra.yaml").write_text("slice_name: only in the bundle\n", encoding="utf-8")
    assert authoring.check_bundle(copy) == [
        "missing (authoring.py writes it): datasets/yibao_gold/coverage.yaml",
        "not written by authoring.py: charts/extra.yaml",
        "differs from what authoring.py writes: charts/bs_coverage.yaml",
    ]
    # one changed byte is enough
    shutil.rmtree(copy)
    shutil.copytree(authoring.BUNDLE, copy)
    dash = copy / "dashboards" / "fund.yaml"
    dash.write_text(dash.read_text(encoding="utf-8") + " ", encoding="utf-8")
    assert authoring.check_bundle(copy) == ["differs from what authoring.py writes: dashboards/fund.yaml"]


def test_check_catches_an_authoring_change_not_regenerated(monkeypatch):
    monkeypatch.setitem(authoring.DATASETS["coverage"], "desc", "changed in authoring.py")
    assert authoring.check_bundle() == ["differs from what authoring.py writes: datasets/yibao_gold/coverage.yaml"]


def test_check_command_exit_codes(tmp_path):
    copy = tmp_path / "bundle"
    shutil.copytree(authoring.BUNDLE, copy)
    cmd = [sys.executable, "-m", "yibao.dashboards.authoring", "--check", "--bundle", str(copy)]
    ok = subprocess.run(cmd, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    (copy / "metadata.yaml").unlink()
    bad = subprocess.run(cmd, capture_output=True, text=True)
    assert bad.returncode == 1 and "metadata.yaml" in bad.stderr
    # writing the bundle repairs it
    subprocess.run([sys.executable, "-m", "yibao.dashboards.authoring", "--bundle", str(copy)], check=True,
                   capture_output=True)
    assert subprocess.run(cmd, capture_output=True).returncode == 0


def test_percentages_have_one_decimal_and_rates_end_at_100_percent():
    """Numbers people read (issue 19, item 3): every percentage a chart or metric shows has one decimal; the
    coverage-rate bars' axes end at 100%."""
    import re

    charts = [c for d in authoring.DASHBOARDS for row in d["rows"] for c in row if isinstance(c, authoring.Chart)]
    formats = [c.params.get("y_axis_format") for c in charts] + [
        m[3] for ds in authoring.DATASETS.values() for m in ds.get("metrics", [])]
    percents = [f for f in formats if f and f.endswith("%")]
    assert percents and all(re.fullmatch(r",?\.1%", f) for f in percents), sorted(set(percents))
    coverage_bars = [c for c in charts if c.viz.startswith("echarts") and c.params.get("metrics") == ["coverage"]]
    assert len(coverage_bars) >= 2
    assert all(c.params.get("y_axis_bounds") == [0, 1] for c in coverage_bars), [c.key for c in coverage_bars]


def test_risk_levels_have_the_same_four_colours_on_every_dashboard():
    """Fund and suspect risk levels share one red-to-green scale of four colours, on every dashboard."""
    import json

    levels = {"严重", "中等", "一般", "正常", "高", "中", "低"}
    assert set(authoring.RISK_COLOURS) == levels and len(set(authoring.RISK_COLOURS.values())) == 4
    for path in sorted((authoring.BUNDLE / "dashboards").glob("*.yaml")):
        meta = yaml.safe_load(path.read_text(encoding="utf-8"))["metadata"]
        meta = json.loads(meta) if isinstance(meta, str) else meta
        assert meta["label_colors"] == authoring.RISK_COLOURS, path.name


def test_every_region_bound_dataset_is_filtered_by_region():
    """A dataset whose serving view has ``admdvs`` gets the region users' row-level-security filter: otherwise a
    city or county user would see the whole province's rows (the section-6 datasets included)."""
    cols = authoring._columns_of_views()
    used = {c.ds for d in authoring.DASHBOARDS for row in d["rows"] for c in row if isinstance(c, authoring.Chart)}
    with_region = {ds for ds in used if "admdvs" in {c for c, _ in cols[ds]}}
    assert with_region == set(authoring.REGION_DATASETS) & used, with_region ^ (set(authoring.REGION_DATASETS) & used)
    assert all("admdvs" in {c for c, _ in cols[ds]} for ds in authoring.REGION_DATASETS)
    # province-wide by design: what was delivered, and the province's price trends
    assert {"section6_delivery", "price_trend"} <= used - with_region


def test_section6_dashboards_open_with_the_delivery_of_their_area():
    """Each section-6 dashboard (issue 18) shows, right under its introduction, what the producers delivered for its
    area, so that a chart left empty by an undelivered table reads as 未交付."""
    areas = {"reform": "支付方式改革", "price": "价格与集采", "assistance": "医疗救助", "finance": "基金财务"}
    by_key = {d["key"]: d for d in authoring.DASHBOARDS}
    for key, area in areas.items():
        top = [c for c in by_key[key]["rows"][1] if isinstance(c, authoring.Chart)]
        assert {c.ds for c in top} == {"section6_delivery"}, key
        assert all(c.params["adhoc_filters"] == [authoring.f_sql(f"area = '{area}'")] for c in top), key
        status = next(c for c in top if c.viz == "table")
        assert status.params["all_columns"][-1] == "status", key


def test_every_label_a_user_reads_is_chinese():
    """Chart titles, the metrics a chart shows and the columns it groups by or lists carry Chinese names (a
    column's ``verbose_name``, a metric's ``verbose_name``): no English header, axis or legend reaches a user.
    Codes and identifiers may be shown (their header is still Chinese)."""
    import re

    cjk = re.compile(r"[\u4e00-\u9fff]")
    bundle = authoring.BUNDLE
    datasets = {}
    for f in (bundle / "datasets").rglob("*.yaml"):
        d = yaml.safe_load(f.read_text(encoding="utf-8"))
        datasets[d["uuid"]] = ({c["column_name"]: c.get("verbose_name") for c in d["columns"]},
                               {m["metric_name"]: m.get("verbose_name") for m in d["metrics"]}, d["table_name"])
    bad = []
    for f in sorted((bundle / "charts").glob("*.yaml")):
        c = yaml.safe_load(f.read_text(encoding="utf-8"))
        if not cjk.search(c["slice_name"] or ""):
            bad.append(f"{f.stem}: title {c['slice_name']!r}")
        cols, mets, table = datasets[c["dataset_uuid"]]
        p = c["params"]
        shown_cols = [x for k in ("groupby", "all_columns", "columns") for x in (p.get(k) or []) if isinstance(x, str)]
        shown_cols += [p[k] for k in ("x_axis", "series", "entity") if isinstance(p.get(k), str)]
        shown_mets = [m for m in (p.get("metrics") or []) if isinstance(m, str)]
        shown_mets += [p[k] for k in ("metric",) if isinstance(p.get(k), str)]
        bad += [f"{f.stem}: column {table}.{x} has no Chinese name ({cols.get(x)!r})"
                for x in shown_cols if not cjk.search(cols.get(x) or "")]
        bad += [f"{f.stem}: metric {table}.{m} has no Chinese name ({mets.get(m)!r})"
                for m in shown_mets if not cjk.search(mets.get(m) or "")]
    assert not bad, "\n".join(bad)
