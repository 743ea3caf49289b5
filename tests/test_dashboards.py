"""Dashboards as code, end to end: the real Superset (PostgreSQL metadata) over the real pipeline's warehouse.

Data: a generated province (5,000 persons, two batches) goes through ``run_pipeline`` (ingest, quality gate,
dbt, quality, fraud, serving refresh), so the dashboards read the gold and meta tables the pipeline really
writes.  Superset runs in its own venv (created on first use), on a loopback port, with a throw-away
PostgreSQL cluster (initdb / pg_ctl from Debian's ``postgresql`` package, run as the ``postgres`` user when the
tests run as root).  Every role logs in and renders its dashboards in headless Chromium; the test checks that
no chart errors, that key numbers equal DuckDB counts over the gold Delta tables, and that county / city users
see only their region (the county with the most uninsured persons in the generated data).  Dashboard load
times are printed.  Screenshots (1920x1080): ``<data_root>/reports/screenshots`` under pytest's tmp dir; set
``YIBAO_SCREENSHOTS`` to keep them elsewhere.

Needs the Debian packages ``chromium fonts-noto-cjk postgresql`` (``make system-deps``); their absence fails
the test.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from yibao.benchmarks.pg import PG_BIN, TempPostgres
from yibao.benchmarks.pg import free_port as _free_port

pytestmark = pytest.mark.slow

CHROMIUM = os.environ.get("YIBAO_CHROMIUM", "/usr/bin/chromium")


def _need(ok: bool, what: str) -> None:
    if not ok:
        pytest.fail(f"{what} missing: make system-deps (apt-get install -y chromium fonts-noto-cjk postgresql)")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    _need(Path(CHROMIUM).exists(), "chromium")
    _need(PG_BIN is not None, "postgresql")
    _need(bool(glob.glob("/usr/share/fonts/opentype/noto/NotoSansCJK*")), "fonts-noto-cjk")
    from yibao.config import Settings
    from yibao.dashboards import serve
    from yibao.orchestration.pipeline import run_pipeline
    from yibao.synthetic.generate import generate

    root = tmp_path_factory.mktemp("dash")
    settings = Settings(data_root=root, spark_remote="")
    t = time.time()
    generate(settings.landing, persons=5000, seed=11, batches=2, chunk_size=2500)
    summary = run_pipeline(settings)
    assert summary.ok, (summary.errors, summary.quality_failures)
    pipeline_s = round(time.time() - t, 1)
    decided = _hold_at_the_door(settings)
    _steward_decisions(settings, *decided)
    # one case assigned with a deadline already past: the supervisor dashboard shows it open, overdue and in the
    # assignee's load (the read path is registered again by serve.setup below)
    from yibao.fraud.cases import act

    case = _gold_count(root, "select suspect_id from GOLD(fraud_suspect@) order by rank limit 1")
    act(settings, case, "assign", "张科长", "限期核查", assignee="王五", deadline="2020-01-31")

    # the county with the most uninsured persons (then the most populous) and its city get a region user each
    county = _gold_count(root, """select c.admdvs from GOLD(coverage_by_region@) c
        left join (select admdvs, count(*) n from GOLD(uninsured_person@) group by admdvs) u on u.admdvs = c.admdvs
        where c.level = 'county' order by coalesce(u.n, 0) desc, c.target_population desc, c.admdvs limit 1""")
    roles = serve.region_roles()
    assert f"region_{county}" in roles and f"region_{county[:4]}" in roles, county
    users = [*serve.DEMO_USERS,
             {"username": "county_test", "roles": ["analyst", f"region_{county}"],
              "first_name": roles[f"region_{county}"][1], "last_name": "测试"},
             {"username": "city_test", "roles": ["analyst", f"region_{county[:4]}"],
              "first_name": roles[f"region_{county[:4]}"][1], "last_name": "测试"}]
    pg = TempPostgres()
    uri = pg.start()
    service = None
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(serve, "DEMO_USERS", users)
        try:
            timings = serve.setup(root, settings.warehouse, db_uri=uri)
            service = serve.start(root, port=_free_port(), db_uri=uri)
            yield {"root": root, "uri": uri, "service": service, "timings": timings, "county": county,
                   "county_name": roles[f"region_{county}"][1], "city_name": roles[f"region_{county[:4]}"][1],
                   "pipeline_s": pipeline_s, "warehouse": settings.warehouse, "decided": decided, "case": case}
        finally:
            if service:
                service.stop()
            pg.stop()


def _hold_at_the_door(settings) -> tuple[str, str, str]:
    """A later ``full`` delivery of medins/fixmedins with its header only: it would empty the table, so
    ingestion holds it for a steward, and the next bronze quality run lists it among the holds."""
    from landing import write_batch

    from yibao.catalog import Catalog
    from yibao.engine import spark_session
    from yibao.contract import table_spec
    from yibao.ingestion.ingest import ingest
    from yibao.quality import run_quality

    cat = Catalog(spark_session(settings), settings)
    last = max(r.batch_id for r in cat.read("meta", "ingest_log").collect() if r.source == "medins")
    batch = f"{last[:8]}-900"
    assert batch > last
    write_batch(settings.landing, "medins", batch, {"fixmedins": [",".join(table_spec("medins", "fixmedins").columns)]})
    ingest(settings)
    run_quality(settings, reports=False)
    return "medins", "fixmedins", batch


def _steward_decisions(settings, source: str, table: str, batch: str) -> None:
    """Two decisions of data stewards on a held batch, as ``yibao quality hold|release`` records them (a hold,
    then a release that supersedes it): the steward dashboard shows them."""
    from yibao import decisions
    from yibao.catalog import Catalog
    from yibao.engine import spark_session
    from yibao.quality import gate

    cat = Catalog(spark_session(settings), settings)
    assert ("door", source, table, batch) in {(h["kind"], h["source"], h["source_table"], h["batch_id"])
                                              for h in gate.pending(cat)}
    decisions.record(cat, "hold", source, table, batch, "待部门核实后再定", user="steward-li")
    decisions.record(cat, "release", source, table, batch, "部门已确认数据无误, 放行", user="steward-zhang")


def _gold_count(root: Path, sql: str):
    """A value straight from the Delta tables with DuckDB (not through Superset or the read path)."""
    import duckdb

    from yibao.dashboards import readpath

    con = duckdb.connect(config=readpath.duckdb_config(root))
    readpath.install_delta_extension(con, root)
    wh = Path(root).resolve() / "warehouse"
    try:
        return con.execute(sql.replace("GOLD(", f"delta_scan('{wh}/gold/").replace("@)", "')")).fetchone()[0]
    finally:
        con.close()


def _render(stack, visits) -> list[dict]:
    """Visit dashboards in Chromium as the visits' users (their passwords: the generated logins file)."""
    from yibao.dashboards import serve

    visits = [{**v, "password": serve.passwords(stack["root"], [v["username"]])[v["username"]]} for v in visits]
    out = Path(os.environ.get("YIBAO_SCREENSHOTS") or stack["root"] / "reports" / "screenshots")
    job = stack["root"] / f"job-{time.time_ns()}.json"
    res = job.with_suffix(".result.json")
    job.write_text(json.dumps({"url": stack["service"].url, "out_dir": str(out), "visits": visits}))
    subprocess.run([str(serve.venv_dir() / "bin" / "python"), str(serve.HERE / "superset_side" / "render.py"),
                    str(job), str(res)], check=True, timeout=900)
    return json.loads(res.read_text())


def _by_name(result: dict) -> dict:
    return {c["slice_name"]: c for c in result["charts"].values() if c.get("slice_name")}


def _assert_clean(r: dict) -> None:
    assert r["http_status"] == 200, r
    assert r["n_charts"] > 0, f"{r['username']} sees no chart of {r['slug']}"
    assert not r["dom_errors"], f"{r['username']} {r['slug']}: {r['dom_errors']}"
    got = {c["slice_name"] for c in r["charts"].values() if c.get("slice_name")}
    assert len(got) == r["n_charts"], f"{r['username']} {r['slug']}: {r['n_charts']} charts, data for {len(got)}"
    for sid, c in r["charts"].items():
        assert c["status"] == 200 and not c["error"], f"{r['username']} {r['slug']} chart {c.get('slice_name')}: {c}"
    assert Path(r["screenshot"]).stat().st_size > 20_000


def test_every_role_renders_its_dashboards(stack):
    from yibao.dashboards.serve import DEMO_USERS, ROLE_DASHBOARDS
    from yibao.dashboards.authoring import DASHBOARDS

    slug = {d["key"]: d["slug"] for d in DASHBOARDS}
    visits = []
    for u in DEMO_USERS:
        dash = [slug[k] for r in u["roles"] if r in ROLE_DASHBOARDS for k in ROLE_DASHBOARDS[r]]
        visits.append({"username": u["username"], "dashboards": list(dict.fromkeys(dash))})
    results = _render(stack, visits)
    assert {r["slug"] for r in results} == set(slug.values())
    for r in results:
        _assert_clean(r)
    root = stack["root"]
    by = {(r["username"], r["slug"]): _by_name(r) for r in results}

    # key numbers of the big screen equal DuckDB counts of the gold tables
    big = by[("leader", "big-screen")]
    n_uninsured = _gold_count(root, "select count(*) from GOLD(uninsured_person@)")
    n_insured = _gold_count(root, "select sum(insured) from GOLD(coverage_by_region@) where level = 'county'")
    n_target = _gold_count(root, "select target_population from GOLD(coverage_by_region@) where level = 'province'")
    assert n_uninsured > 0 and n_insured > 0
    assert big["未参保人数"]["data"][0]["persons"] == n_uninsured
    assert big["参保人数"]["data"][0]["insured_sum"] == n_insured
    assert big["全省参保率"]["data"][0]["coverage"] == pytest.approx(n_insured / n_target)
    assert len(big["各地市参保率"]["data"]) == _gold_count(
        root, "select count(*) from GOLD(coverage_by_region@) where level = 'city'")
    # the headline analyses (issue 22): insured by scheme at the latest month, cross-region flows, fund forecast
    scheme = big["参保人数及同比 (最新月, 按险种)"]["data"]
    assert sum(r["insured"] for r in scheme) == _gold_count(
        root, "select sum(insured) from GOLD(enrollment_trend@) where ym = (select max(ym) from GOLD(enrollment_trend@))")
    assert {r["insutype_name"] for r in scheme} == {"职工基本医疗保险", "城乡居民基本医疗保险"}
    assert big["异地就医人次 (按参保地、流向)"]["data"]
    assert len(big["基金运行预测预警"]["data"]) == _gold_count(root, "select count(*) from GOLD(fund_forecast_warning@)")
    sus = by[("supervisor", "suspects")]
    n_suspects = _gold_count(root, "select count(*) from GOLD(fraud_suspect@)")
    assert n_suspects > 0
    assert sus["疑点总数"]["data"][0]["suspects"] == n_suspects
    assert sus["待核查"]["data"][0]["pending"] == _gold_count(
        root, "select count(*) from GOLD(fraud_suspect@) where status = '待核查'")
    assert sus["高风险疑点"]["data"][0]["high"] == _gold_count(
        root, "select count(*) from GOLD(fraud_suspect@) where risk_level = '高'")
    assert {row["status_name"] for row in sus["处理状态"]["data"]} <= {"待核查", "已分派", "核查中", "已提交", "已确认",
                                                                   "已排除"}
    # the case assigned with a past deadline: open, overdue, in 王五's load and on the overdue list
    assert sus["在办案件"]["data"][0]["open_cases"] == 1 and sus["逾期案件"]["data"][0]["overdue"] == 1
    assert [(r["assignee"], r["open_cases"], r["overdue"]) for r in sus["承办人工作量"]["data"]] == [("王五", 1, 1)]
    assert [(r["suspect_id"], r["assignee"], r["status_name"]) for r in sus["逾期案件清单"]["data"]] == [
        (stack["case"], "王五", "已分派")]
    assert sus["逾期案件清单"]["data"][0]["days_overdue"] > 300

    # a county user sees only the county; a city user only the city
    cc, city_code = stack["county"], stack["county"][:4]
    county = by[("county_test", "enrollment")]
    codes = {row["admdvs"] for row in county["分区县参保情况"]["data"]}
    assert codes == {cc}
    n_county = _gold_count(root, f"select count(*) from GOLD(uninsured_person@) where admdvs like '{cc}%'")
    assert n_county > 0
    assert {row["region_name"] for row in county["未参保人员清单 (脱敏)"]["data"]} == {stack["county_name"]}
    assert county["未参保人数"]["data"][0]["persons"] == n_county
    city = by[("city_test", "enrollment")]
    codes = {row["admdvs"] for row in city["分区县参保情况"]["data"]}
    assert codes and all(c.startswith(city_code) for c in codes) and len(codes) > 1
    assert {row["city_name"] for row in city["各地市参保率"]["data"]} == {stack["city_name"]}
    assert city["未参保人数"]["data"][0]["persons"] == _gold_count(
        root, f"select count(*) from GOLD(uninsured_person@) where admdvs like '{city_code}%'")
    province = by[("analyst", "enrollment")]
    assert len({row["admdvs"] for row in province["分区县参保情况"]["data"]}) > len(codes)

    # masked identity numbers on the analysts' list
    rows = province["未参保人员清单 (脱敏)"]["data"]
    assert rows and all("********" in row["certno_masked"] for row in rows if row["certno_masked"])
    loads = {f"{r['username']}/{r['slug']}": r["load_s"] for r in results}
    print("pipeline seconds:", stack["pipeline_s"])
    print("setup timings:", stack["timings"])
    print("dashboard load seconds:", json.dumps(loads, ensure_ascii=False))
    per_slug = {}
    for r in results:
        per_slug.setdefault(r["slug"], []).append(r["load_s"])
    print("dashboard load seconds, max per dashboard:", {k: max(v) for k, v in sorted(per_slug.items())},
          "overall max:", max(loads.values()))
    # where the time goes: the front end's bootstrap until the first chart request, and the slowest chart data
    # request (Superset + the DuckDB query)
    print("first chart request after (s) / slowest chart data request (s):", json.dumps(
        {f"{r['username']}/{r['slug']}": [r.get("first_chart_request_s"), r.get("max_chart_data_s")] for r in results},
        ensure_ascii=False))


def test_a_click_drills_down_from_province_to_city_and_county(stack):
    """Drill-down by clicking (cross-filters): on the enrollment dashboard a province analyst clicks the city of the
    region table's first row and every chart follows — the county chart shows that city's counties only, the big
    number of another dataset (uninsured persons) counts that city's — and a click on a county (the leader clicks the
    first row's county) narrows the page to the county."""
    from yibao.dashboards.serve import region_roles

    root, table = stack["root"], "分区县参保情况"
    res = _render(stack, [
        {"username": "analyst", "dashboards": ["enrollment"], "clicks": {"enrollment": {"chart": table, "row": 0, "col": 0}}},
        {"username": "leader", "dashboards": ["enrollment"], "clicks": {"enrollment": {"chart": table, "row": 0, "col": 1}}}])
    by_user = {r["username"]: r for r in res}
    code = {}
    for prefix, name, _ in region_roles().values():
        code.setdefault(name, []).append(prefix)
    for r in res:
        _assert_clean(r)
        assert Path(r["after_click"]["screenshot"]).stat().st_size > 20_000
    # the city: every chart on the page asked again with the city as a filter
    city = by_user["analyst"]["after_click"]["text"]
    assert len(code.get(city, [])) == 1, city
    cp = code[city][0]
    after = by_user["analyst"]["after_click"]["charts"]
    assert {"各区县未参保人数 (前30)", "未参保人数", "参保率", "未参保人员清单 (脱敏)"} <= set(after), sorted(after)
    for name, c in after.items():
        assert c["status"] == 200, (name, c)
    counties = {r["county_name"] for r in after["各区县未参保人数 (前30)"]["data"]}
    in_city = {r[0] for r in _meta(root, f"""select coalesce(admdvs_name, admdvs) from GOLD(coverage_by_region@)
                                             where level = 'county' and admdvs like '{cp}%'""")}
    assert counties and counties <= in_city, (counties, in_city)
    n_city = _gold_count(root, f"select count(*) from GOLD(uninsured_person@) where admdvs like '{cp}%'")
    assert after["未参保人数"]["data"][0]["persons"] == n_city
    assert n_city < _by_name(by_user["analyst"])["未参保人数"]["data"][0]["persons"]
    # the county
    county = by_user["leader"]["after_click"]["text"]
    assert len(code.get(county, [])) == 1, county
    after = by_user["leader"]["after_click"]["charts"]
    n_county = _gold_count(root, f"select count(*) from GOLD(uninsured_person@) where admdvs like '{code[county][0]}%'")
    assert after["未参保人数"]["data"][0]["persons"] == n_county
    assert {r["region_name"] for r in after["未参保人员清单 (脱敏)"]["data"]} == ({county} if n_county else set())


def _read_path(root: Path, sql: str, params=None) -> list[tuple]:
    """Rows of the read path the dashboards query (serving views, as the admin sees them)."""
    from yibao.dashboards import readpath

    con = readpath.connect(Path(root))
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


MAPS = {"big-screen": ["全省参保率地图 (按地市)", "区县参保率地图 (点击地市柱可下钻)"],
        "enrollment": ["区县未参保人数地图", "区县参保率地图"], "fund": ["统筹区基金风险地图 (最新月, 各险种中最重)"],
        "suspects": ["各统筹区疑点数地图 (全部疑点)"]}


INST_BY_COUNTY, INST_LIST = "机构疑点 (按区县; 点击地市或区县下钻)", "定点机构信用与疑点 (随地市、区县筛选)"


def test_maps_colour_the_counties_and_follow_the_drill_down(stack):
    """The maps (issue 19 item 1): every county outline of the province is drawn, coloured by its own figure (the
    coverage of the county or its city, uninsured persons, suspects, its pooling region's fund risk) as the gold
    tables have it; a click on a city in the region table zooms the county maps to that city's counties; a county
    user's map holds its county only.  On the supervisors' page a click on a county of the institution suspects by
    county leaves that county's institutions in the institution list (province -> city -> county -> institution)."""
    root = stack["root"]
    res = _render(stack, [
        {"username": "leader", "dashboards": ["big-screen"], "maps": True},
        {"username": "analyst", "dashboards": ["enrollment", "fund"], "maps": True,
         "clicks": {"enrollment": {"chart": "分区县参保情况", "row": 0, "col": 0}}},
        {"username": "supervisor", "dashboards": ["suspects"], "maps": True,
         "clicks": {"suspects": {"chart": INST_BY_COUNTY, "row": 0, "col": 1}}},
        {"username": "county_test", "dashboards": ["enrollment"], "maps": True}])
    parts = dict(_read_path(root, "select admdvs, count(*) from serving.region_shape group by admdvs"))
    assert len(parts) == _gold_count(root, "select count(*) from GOLD(coverage_by_region@) where level = 'county'")
    names = dict(_read_path(root, "select admdvs, region_name from serving.region_map"))
    gold_pct = {names[a]: 100.0 * r for a, r in _meta(
        root, "select admdvs, coverage_rate from GOLD(coverage_by_region@) where level = 'county'") if a in names}
    for r in res:
        _assert_clean(r)
        charts = _by_name(r)
        for title in MAPS[r["slug"]]:
            c = charts[title]
            county_user = r["username"] == "county_test"
            want = parts[stack["county"]] if county_user else sum(parts.values())
            assert c["rowcount"] == want, (r["username"], title, c["rowcount"], want)
            if county_user:
                assert {row["region_name"] for row in c["data"]} == {stack["county_name"]}
            painted = r["maps"][title]
            assert Path(painted["screenshot"]).stat().st_size > 5_000
            assert painted["coloured_share"] > 0.03, (r["username"], title, painted)
        if r["slug"] == "enrollment" and r["username"] == "analyst":
            rows = charts["区县参保率地图"]["data"]
            for row in rows:
                assert row["coverage_pct"] == pytest.approx(gold_pct[row["region_name"]], abs=1e-6), row
            # the bands of the data are the colours painted
            bands = {("red" if v < 93 else "orange" if v < 95 else "yellow" if v < 97 else "green")
                     for v in (row["coverage_pct"] for row in rows)}
            hues = r["maps"]["区县参保率地图"]["hues"]
            assert all(hues[b] > 0 for b in bands), (bands, hues)
            # the drill-down: the city clicked in the region table is all the county maps show
            city = r["after_click"]["text"]
            after = r["after_click"]["charts"]
            for title in MAPS["enrollment"]:
                got = after[title]
                assert got["status"] == 200 and got["rowcount"], (title, got)
                assert {row["city_name"] for row in got["data"]} == {city}, (title, got["data"][:3])
                assert got["rowcount"] == _read_path(
                    root, "select count(*) from serving.region_map where city_name = ?", [city])[0][0]
        if r["slug"] == "suspects":
            # each county painted with its pooling region's suspects (gold.fraud_suspect.region is the pooling region)
            want = dict(_meta(root, "select region, count(*) from GOLD(fraud_suspect@) group by region"))
            pool_of = dict(_read_path(root, "select region_name, pooling_region from serving.region_map"))
            rows = charts[MAPS["suspects"][0]]["data"]
            assert rows and all(row["map_suspects"] == want.get(pool_of[row["region_name"]], 0) for row in rows)
            assert any(row["map_suspects"] for row in rows)
            # down to the institutions: a click on the county of the first row leaves that county's institutions
            county = r["after_click"]["text"]
            (code,) = [a for a, n in names.items() if n == county]
            got = r["after_click"]["charts"][INST_LIST]
            assert got["status"] == 200 and got["rowcount"], got
            assert {row["county_name"] for row in got["data"]} == {county}
            assert got["rowcount"] == _meta(root, f"""select count(*) from GOLD(institution_credit@) c
                join GOLD(institution@) i on i.fixmedins_code = c.fixmedins_code where i.admdvs = '{code}'""")[0][0]
        if r["slug"] == "fund":
            risk = {row["region_name"]: row["map_risk"] for row in _by_name(r)[MAPS["fund"][0]]["data"]}
            want = dict(_read_path(root, "select region_name, max(risk_order) from serving.fund_risk_latest group by 1"))
            assert risk and all(risk[k] == want.get(k, 0) for k in risk), (risk, want)


def _meta(root: Path, sql: str) -> list[tuple]:
    """Rows straight from the meta and gold Delta tables with DuckDB (``META(table@)``, ``GOLD(table@)``), not
    through the read path."""
    import duckdb

    from yibao.dashboards import readpath

    con = duckdb.connect(config=readpath.duckdb_config(root))
    readpath.install_delta_extension(con, root)
    wh = Path(root).resolve() / "warehouse"
    try:
        return con.execute(sql.replace("META(", f"delta_scan('{wh}/meta/").replace("GOLD(", f"delta_scan('{wh}/gold/")
                           .replace("@)", "')")).fetchall()
    finally:
        con.close()


QUALITY_NEW = ["接收暂停批次", "发布暂停批次", "等待上级批次的行", "孤儿记录行", "当前暂停项：原因与决定命令",
               "数据管理员决定记录 (最新在前)", "各部门各表质量维度评分 (贴源层最新批次)", "隔离行数 (按部门、隔离类型)",
               *[f"{zh}评分趋势 (按部门、批次)" for zh in ("完整性", "规范性", "一致性", "唯一性", "时效性", "准确性")]]


def test_steward_sees_holds_decisions_dimensions_and_quarantine_classes(stack):
    """The steward's quality dashboard, scrolled to its end in Chromium: every chart drawn without an error, and
    what the new charts show equals the meta tables the pipeline and the stewards wrote."""
    (r,) = _render(stack, [{"username": "steward", "dashboards": ["quality"],
                            "full_page": True}])
    _assert_clean(r)
    print("quality dashboard (full page):", r["screenshot"])
    charts = _by_name(r)
    assert set(QUALITY_NEW) <= set(charts), set(QUALITY_NEW) - set(charts)
    drawn = {d["name"]: d for d in r["drawn"]}
    assert set(drawn) == set(charts), set(charts) ^ set(drawn)     # every chart drawn once scrolled to
    for name, d in drawn.items():      # drawn, not only queried: a canvas, table rows, the big number's value
        data = charts[name]["data"]
        if d["viz"].startswith("echarts"):
            assert d["canvas"], (name, d)
        elif d["viz"] == "table":
            assert d["rows"] >= min(len(data), 1), (name, d)
        elif d["viz"] == "big_number_total":
            assert str(next(iter(data[0].values()))) in d["text"], (name, d)
    root = stack["root"]

    # what is held now, and why, with the command that decides it
    holds = _meta(root, "select kind, source, source_table, batch_id from META(quality_hold_current@)")
    table = charts["当前暂停项：原因与决定命令"]["data"]
    assert len(table) == len(holds)
    kinds = {"door": "接收暂停 (未入湖)", "gate": "发布暂停 (未进入标准层)", "waiting": "等待上级批次"}
    assert sorted((row["hold_kind_name"], row["source_table"]) for row in table) == \
        sorted((kinds[k], t) for k, _, t, _ in holds)
    for row in table:
        if row["hold_kind_name"] != "等待上级批次":
            assert row["decide"].startswith("yibao quality release ") and row["batch_id"] in row["decide"]
    assert charts["发布暂停批次"]["data"][0]["gate"] == sum(1 for h in holds if h[0] == "gate")
    assert charts["接收暂停批次"]["data"][0]["door"] == sum(1 for h in holds if h[0] == "door")
    assert all(row["reason"] for row in table)
    _, tbl, batch = stack["decided"]     # held at the door by the fixture
    door = [row for row in table if row["hold_kind_name"] == "接收暂停 (未入湖)"]
    assert [(row["source_table"], row["batch_id"]) for row in door if row["source_table"] == tbl] == [(tbl, batch)]
    assert charts["接收暂停批次"]["data"][0]["door"] >= 1
    assert "接收暂停 (未入湖)" in drawn["当前暂停项：原因与决定命令"]["text"]

    # the stewards' decisions, newest first, in Chinese
    decided = charts["数据管理员决定记录 (最新在前)"]["data"]
    assert [(d["action_name"], d["decided_by"], d["source_table"], d["batch_id"], d["in_force_name"])
            for d in decided] == [("放行", "steward-zhang", tbl, batch, "生效"),
                                  ("暂停", "steward-li", tbl, batch, "已被后续决定取代")]
    assert decided[0]["decided_at_bj"] >= decided[1]["decided_at_bj"]

    # dimension scores of the latest batch of every bronze table: one row per table, each score in 0..100
    n_tables = _meta(root, "select count(distinct \"table\") from META(quality_dimension@) where layer = 'bronze'")
    dims = charts["各部门各表质量维度评分 (贴源层最新批次)"]["data"]
    assert len(dims) == n_tables[0][0] > 0
    names = [f"dim_{k}" for k in ("completeness", "validity", "consistency", "uniqueness", "timeliness", "accuracy")]
    assert all(0 <= row[m] <= 100 for row in dims for m in names if row[m] is not None)
    assert all(row["dim_completeness"] is not None for row in dims)
    trend = charts["完整性评分趋势 (按部门、批次)"]["data"]
    assert trend and {"batch_id"} <= set(trend[0])

    # quarantined rows by department and rule class, as the meta table counts them
    want = dict(_meta(root, """with q as (select coalesce(nullif(rule, ''), case when reason like 'duplicate key%'
            then 'ingest.superseded' else 'ingest.parse' end) as r from META(quarantine@))
        select case when r = 'ingest.parse' then '解析失败' when r = 'ingest.superseded' then '同批重复键'
                    when r like 'gate.reference.%' then '孤儿记录' when r like 'gate.waiting.%' then '等待上级批次'
                    else '其他' end as c, count(*) from q group by c"""))
    assert want and sum(want.values()) > 0
    bars = charts["隔离行数 (按部门、隔离类型)"]["data"]
    got = {}
    for row in bars:
        for k, v in row.items():
            if k not in ("source_name", "__timestamp") and v is not None:
                got[k.split(", ")[-1]] = got.get(k.split(", ")[-1], 0) + v
    assert got == want
    assert charts["孤儿记录行"]["data"][0]["orphan_rows"] == want.get("孤儿记录", 0)
    assert charts["等待上级批次的行"]["data"][0]["waiting_rows"] == want.get("等待上级批次", 0)
    # readable numbers, as drawn: scores with one decimal, shares as percent with one decimal
    text = drawn["各部门各表质量维度评分 (贴源层最新批次)"]["text"]
    assert re.search(r"\b\d{1,3}\.\d\b", text) and not re.search(r"\d\.\d{2,}", text), text
    failing = drawn["未通过的检查项 (最近一次质检)"]
    if charts["未通过的检查项 (最近一次质检)"]["data"]:
        assert re.search(r"\d\.\d%", failing["text"]) and not re.search(r"\d\.\d{2,}%", failing["text"])
    # and no score axis running past 100 (chart settings)
    from yibao.dashboards.authoring import DASHBOARDS

    quality = next(d for d in DASHBOARDS if d["key"] == "quality")
    for chart in (c for row in quality["rows"] for c in row if hasattr(c, "params")):
        if "score" in chart.params.get("metrics", []) and chart.viz.startswith("echarts"):
            assert chart.params["y_axis_format"] == ".1f" and chart.params["y_axis_bounds"][1] == 100, chart.key


# contract section 6 (issue 18): one dashboard per area -> (its area in gold.section6_delivery, the list charts
# whose row count must equal a gold count, and the big number that counts the same rows)
SECTION6 = {
    "payment-reform": ("支付方式改革", {
        "高套分组疑点病例及证据": "select count(*) from GOLD(drg_case@) where is_upcoding_suspect"},
        ("高套分组疑点", "suspects", "select count(*) from GOLD(drg_case@) where is_upcoding_suspect")),
    "price-vbp": ("价格与集采", {
        "集采进度不足的机构与品种": "select count(*) from GOLD(vbp_completion@) where is_under",
        "超限价收费明细": "select count(*) from GOLD(price_violation@)"},
        ("超限价收费条数", "lines", "select count(*) from GOLD(price_violation@)")),
    "medical-assistance": ("医疗救助", {
        "医疗救助重复支付清单": "select count(*) from GOLD(assistance_duplicate@)",
        "救助对象未参保人员 (脱敏)":
            "select count(*) from GOLD(uninsured_person@) where reason_codes like '%SUBSIDY_ELIGIBLE%'"},
        ("重复支付笔数", "payments", "select count(*) from GOLD(assistance_duplicate@)")),
    "fund-finance": ("基金财务", {
        "三方对账差异明细": "select count(*) from GOLD(fund_reconciliation_diff@)"},
        ("对账差异笔数", "diffs", "select count(*) from GOLD(fund_reconciliation_diff@)")),
}


# the county user's share of each section-6 dashboard's big number (cc: the county's code)
COUNTY_SQL = {
    "payment-reform": "select count(*) from GOLD(drg_case@) c join GOLD(institution@) i using (fixmedins_code) "
                      "where c.is_upcoding_suspect and i.admdvs like '{cc}%'",
    "price-vbp": "select count(*) from GOLD(price_violation@) p join GOLD(institution@) i using (fixmedins_code) "
                 "where i.admdvs like '{cc}%'",
    "medical-assistance": "select count(*) from GOLD(assistance_duplicate@) where admdvs like '{cc}%'",
    # the reconciliation is the fund's: a county sees its pooling region's differences
    "fund-finance": "select count(*) from GOLD(fund_reconciliation_diff@) where admdvs = '{pool}'",
}


def test_section6_dashboards_render_with_data(stack):
    """The four section-6 dashboards (payment reform, prices and 集采, medical assistance, fund finance), scrolled
    to their end in Chromium as the province analyst: every chart drawn without an error and none empty, the
    delivery status of the area on top (all delivered by the generator), lists and big numbers equal to the gold
    Delta tables; a city user sees only the city's rows (row-level security on ``admdvs``), a county user the rows
    of the institutions in its county (institution-level rows sit in the institution's own division)."""
    root = stack["root"]
    slugs = list(SECTION6)
    results = _render(stack, [{"username": "analyst", "dashboards": slugs, "full_page": True},
                              {"username": "city_test", "dashboards": slugs},
                              {"username": "county_test", "dashboards": slugs}])
    for r in results:
        _assert_clean(r)
    by = {(r["username"], r["slug"]): r for r in results}
    from yibao.dashboards import readpath
    from yibao.regions import pooling_region

    pool = pooling_region(stack["county"], readpath.DIVISIONS_SEED)
    county_seen = {}
    for slug, (area, lists, (big_name, metric, big_sql)) in SECTION6.items():
        r = by[("analyst", slug)]
        print(f"{slug} (full page):", r["screenshot"])
        charts = _by_name(r)
        empty = sorted(n for n, c in charts.items() if not c["rowcount"])
        assert not empty, f"{slug}: charts without data {empty}"
        drawn = {d["name"]: d for d in r["drawn"]}
        assert set(drawn) == set(charts), set(charts) ^ set(drawn)
        for name, d in drawn.items():
            data = charts[name]["data"]
            if d["viz"].startswith("echarts"):
                assert d["canvas"], (slug, name, d)
            elif d["viz"] == "table":
                assert d["rows"] >= 1, (slug, name, d)
            elif d["viz"] == "big_number_total":
                value = next(iter(data[0].values()))
                assert value is not None, (slug, name)
        # what the producers delivered for the area, on top: every table of the area, delivered
        status = charts["本专题数据交付情况"]["data"]
        want = _gold_count(root, f"select count(*) from GOLD(section6_delivery@) where area = '{area}'")
        assert want > 0 and len(status) == want, (slug, status)
        assert all(row["status"].startswith("已交付") for row in status), status
        assert charts["未交付的数据表"]["data"][0]["undelivered"] == 0
        for name, sql in lists.items():
            n = _gold_count(root, sql)
            assert n > 0 and charts[name]["rowcount"] == n, (slug, name, charts[name]["rowcount"], n)
        assert charts[big_name]["data"][0][metric] == _gold_count(root, big_sql)
        # row-level security: the city user's big number counts the city's rows only
        city = stack["county"][:4]
        city_charts = _by_name(by[("city_test", slug)])
        mine = _gold_count(root, big_sql.replace(" where ", f" where admdvs like '{city}%' and ", 1) if " where "
                           in big_sql else big_sql + f" where admdvs like '{city}%'")
        assert city_charts[big_name]["data"][0][metric] == mine < _gold_count(root, big_sql), (slug, mine)
        # a county user: the rows of the institutions standing in its county (gold.institution), not of its pooling
        # region, and of the persons living there
        county_n = _gold_count(root, COUNTY_SQL[slug].format(cc=stack["county"], pool=pool))
        county_seen[slug] = county_n
        got = _by_name(by[("county_test", slug)])[big_name]["data"][0][metric]
        assert (got or 0) == county_n, (slug, got, county_n)        # a sum over no rows is shown as empty
    assert any(county_seen.values()), f"the county has no section-6 rows at all: the county check proves nothing {county_seen}"
    # money in 万元 and percentages with one decimal, as drawn
    fin = {d["name"]: d for d in by[("analyst", "fund-finance")]["drawn"]}
    assert re.search(r"\d\.\d{2}", fin["收入(万元)"]["text"]), fin["收入(万元)"]["text"]
    ast = {d["name"]: d for d in by[("analyst", "medical-assistance")]["drawn"]}
    assert re.search(r"\d\.\d%", ast["一站式结算占比"]["text"]), ast["一站式结算占比"]["text"]
    assert all("********" in row["certno_masked"] for row in _by_name(by[("analyst", "medical-assistance")])[
        "医疗救助重复支付清单"]["data"] if row["certno_masked"])


def test_trends_dashboard_renders_with_data(stack):
    """The fund forecast's charts on 基金运行, and 参保缴费与就医趋势 (issue 22), scrolled to its end as the province analyst: every chart drawn without an error
    and none empty; the latest month's insured persons, the new enrollments and the payment rate equal the gold
    Delta tables; a city user's numbers are the city's own (row-level security on the pooling region), a county
    user's those of its pooling region, with no chart empty."""
    root = stack["root"]
    results = _render(stack, [{"username": "analyst", "dashboards": ["trends", "fund"], "full_page": True},
                              {"username": "city_test", "dashboards": ["trends"]},
                              {"username": "county_test", "dashboards": ["trends"]}])
    for r in results:
        _assert_clean(r)
    # the fund forecast on 基金运行: projections drawn, one warning row per pooling region x insutype forecast, with
    # its assumptions and backtest error
    fund = _by_name(next(r for r in results if r["slug"] == "fund"))
    for name in ("累计结余预测 (万元, 按险种)", "可支付月数预测 (按统筹区)"):
        assert fund[name]["rowcount"] > 0, name
    warn = fund["基金运行预测预警 (含预测假设与回测误差)"]["data"]
    assert len(warn) == _gold_count(root, "select count(*) from GOLD(fund_forecast_warning@)") > 0
    assert all("60岁及以上" in row["assumptions"] and row["backtest_mape"] is not None for row in warn)
    results = [r for r in results if r["slug"] == "trends"]
    by = {r["username"]: r for r in results}
    print("trends (full page):", by["analyst"]["screenshot"])
    charts = _by_name(by["analyst"])
    empty = sorted(n for n, c in charts.items() if not c["rowcount"])
    assert not empty, f"charts without data {empty}"
    drawn = {d["name"]: d for d in by["analyst"]["drawn"]}
    assert set(drawn) == set(charts), set(charts) ^ set(drawn)
    for name, d in drawn.items():
        if d["viz"].startswith("echarts"):
            assert d["canvas"], (name, d)
        elif d["viz"] == "table":
            assert d["rows"] >= 1, (name, d)
    latest = "(select max(ym) from GOLD(enrollment_trend@))"
    insured = _gold_count(root, f"select sum(insured) from GOLD(enrollment_trend@) where ym = {latest}")
    assert insured > 0 and charts["月末参保人数 (最新月)"]["data"][0]["insured"] == insured
    assert charts["新增参保 (近24个月)"]["data"][0]["new_enrollments"] == _gold_count(
        root, "select sum(new_enrollments) from GOLD(enrollment_trend@)")
    paid, periods = (_gold_count(root, f"select sum({c}) from GOLD(contribution_trend@) where region <> 'ALL' and "
                                       "psn_type = 'ALL' and emp_type = 'ALL'") for c in ("paid_periods", "periods"))
    assert 0 < paid < periods
    assert charts["缴费率"]["data"][0]["payment_rate"] == pytest.approx(paid / periods)
    entries = _gold_count(root, "select sum(entries) from GOLD(national_list_progress@) where region <> 'ALL'")
    assert entries > 0 and sum(r["entries"] for r in charts["国家下发名单核查进度 (按地市、批次)"]["data"]) == entries
    flows = {row["flow_name"] for row in charts["就医流向 (参保地 → 就医地)"]["data"]}
    assert "省内异地就医" in flows and "本地就医" not in flows
    # row-level security: the city user's insured are its pooling region's
    city = stack["county"][:4]
    mine = _gold_count(root, f"select sum(insured) from GOLD(enrollment_trend@) where ym = {latest} "
                             f"and region like '{city}%'")
    assert _by_name(by["city_test"])["月末参保人数 (最新月)"]["data"][0]["insured"] == mine < insured
    # a county user sees the pooling region its county belongs to in these pooling-region aggregates, never an
    # empty chart (yibao/regions.py): the same figures as the gold rows of that pooling region
    from yibao.dashboards import readpath
    from yibao.regions import pooling_region

    pool = pooling_region(stack["county"], readpath.DIVISIONS_SEED)
    county = _by_name(by["county_test"])
    empty = sorted(n for n, c in county.items() if not c["rowcount"])
    assert not empty, f"county user: charts without data {empty}"
    assert county["月末参保人数 (最新月)"]["data"][0]["insured"] == _gold_count(
        root, f"select sum(insured) from GOLD(enrollment_trend@) where ym = {latest} and region = '{pool}'") > 0
    assert {row["insu_region_label"] for row in county["就医流向 (参保地 → 就医地)"]["data"]} <= {
        _gold_count(root, f"select max(region_name) from GOLD(enrollment_trend@) where region = '{pool}'")}


def _api(url: str, path: str, token: str | None = None, body: dict | None = None):
    req = urllib.request.Request(url + path, data=json.dumps(body).encode() if body else None,
                                 headers={"Content-Type": "application/json",
                                          **({"Authorization": f"Bearer {token}"} if token else {})})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def _all(url: str, kind: str, token: str) -> list[dict]:
    """Every object of a kind, page by page (the API returns at most 100 per page; there are more charts)."""
    out, page = [], 0
    while True:
        res = _api(url, f"/api/v1/{kind}/?q=(page:{page},page_size:100)", token)
        out += res["result"]
        if not res["result"] or len(out) >= res["count"]:
            return out
        page += 1


def _login(url: str, root: Path, username: str) -> str:
    from yibao.dashboards import serve

    return _api(url, "/api/v1/security/login", body={"username": username, "provider": "db", "refresh": False,
                                                     "password": serve.passwords(root, [username])[username]})[
        "access_token"]


def _chart_data(url: str, token: str, ds_id: int, columns: list[str], fmt: str = "json"):
    """The chart data API (what explore, dashboards and the CSV download call), unfiltered: the rows the user may
    read of a dataset."""
    body = {"datasource": {"id": ds_id, "type": "table"}, "result_format": fmt, "result_type": "full",
            "queries": [{"columns": columns, "metrics": [], "row_limit": 1_000_000, "orderby": []}]}
    req = urllib.request.Request(url + "/api/v1/chart/data", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=120) as r:
        raw = r.read()
    return raw.decode("utf-8-sig") if fmt == "csv" else json.loads(raw)["result"][0]["data"]


def _sqllab(url: str, token: str, body: dict) -> dict:
    """Run SQL through SQL Lab's API as the token's user (a POST there needs the session's CSRF token too)."""
    import http.cookiejar

    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    auth = {"Authorization": f"Bearer {token}"}
    with opener.open(urllib.request.Request(url + "/api/v1/security/csrf_token/", headers=auth), timeout=60) as r:
        csrf = json.loads(r.read())["result"]
    req = urllib.request.Request(url + "/api/v1/sqllab/execute/", data=json.dumps(body).encode(),
                                 headers={**auth, "Content-Type": "application/json", "X-CSRFToken": csrf,
                                          "Referer": url})
    with opener.open(req, timeout=120) as r:
        return json.loads(r.read())


def test_region_users_read_only_their_region_through_the_api(stack):
    """Issue 20 item 4, through Superset's HTTP API rather than the pages: a county user's chart data (JSON and
    CSV, the paths explore and the download use) holds only the county's rows, or its pooling region's in the
    pooling-region aggregates; ID numbers and names exist only masked; a dataset outside the user's roles (the
    suspect list, for an analyst) is refused; SQL Lab, where row-level security does not apply, is closed to region
    users; every request is in Superset's action log with the user, and every read of a personal-data dataset
    (refused ones too) has its audit row: who, when, which dataset, format, how many rows."""
    import stat
    import urllib.error
    from datetime import datetime, timezone

    from yibao.dashboards import readpath
    from yibao.export import access_audit_dir, read_access_audit
    from yibao.regions import pooling_region

    url, root, cc = stack["service"].url, stack["root"], stack["county"]
    since = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
    pool = pooling_region(cc, readpath.DIVISIONS_SEED)
    admin = _login(url, root, "admin")
    ids = {d["table_name"]: d["id"] for d in _all(url, "dataset", admin)}
    token = _login(url, root, "county_test")

    # (a query without metrics groups by its columns: person_id keeps one row per person)
    rows = _chart_data(url, token, ids["uninsured_person"], ["person_id", "admdvs", "certno_masked", "psn_name_masked"])
    n_county = _gold_count(root, f"select count(*) from GOLD(uninsured_person@) where admdvs like '{cc}%'")
    assert len(rows) == n_county > 0 and {r["admdvs"] for r in rows} <= {cc}
    assert all("*" in r["certno_masked"] and "*" in (r["psn_name_masked"] or "*") for r in rows)
    everyone = _chart_data(url, admin, ids["uninsured_person"], ["person_id", "admdvs"])
    assert len(everyone) == _gold_count(root, "select count(*) from GOLD(uninsured_person@)") > len(rows)
    csv_text = _chart_data(url, token, ids["uninsured_person"], ["person_id", "admdvs"], fmt="csv")
    assert sorted(line.split(",")[1] for line in csv_text.split()[1:]) == sorted(r["admdvs"] for r in rows)
    # the unmasked columns are not in the dataset at all
    with pytest.raises(urllib.error.HTTPError):
        _chart_data(url, token, ids["uninsured_person"], ["certno"])
    # a pooling-region aggregate: the county's pooling region only
    fund = _chart_data(url, token, ids["fund_operation"], ["admdvs"])
    assert fund and {r["admdvs"] for r in fund} == {pool}
    # the suspect list is the supervisors': an analyst, county or not, may not read it at all
    with pytest.raises(urllib.error.HTTPError) as e:
        _chart_data(url, token, ids["fraud_suspect"], ["suspect_id", "admdvs"])
    assert e.value.code == 403
    # SQL Lab would bypass row-level security: region users may not run SQL
    dbs = _all(url, "database", admin)
    sql = {"database_id": dbs[0]["id"], "runAsync": False, "sql": "select count(*) as n from serving.uninsured_person"}
    with pytest.raises(urllib.error.HTTPError) as e:
        _sqllab(url, token, sql)
    assert e.value.code in (401, 403), e.value.read().decode("utf-8", "replace")
    assert _sqllab(url, admin, sql)["data"][0]["n"] == len(everyone)      # the request itself is sound
    # Superset's action log names the user behind every chart data request
    log = _api(url, "/api/v1/log/?q=(order_column:dttm,order_direction:desc,page_size:100)", admin)["result"]
    assert any((entry.get("user") or {}).get("username") == "county_test" for entry in log)
    # the audit of personal-data reads (yibao_audit.py inside Superset; `yibao audit access`)
    audit = [(r["username"], r["dataset"], r["format"], r["rows"], r["status"])
             for r in read_access_audit(root, since=since) if r["username"] in ("county_test", "admin")]
    assert ("county_test", "uninsured_person", "json", n_county, 200) in audit
    assert ("county_test", "uninsured_person", "csv", n_county, 200) in audit
    assert ("admin", "uninsured_person", "json", len(everyone), 200) in audit
    assert ("county_test", "fraud_suspect", "json", 0, 403) in audit          # refused, and recorded
    assert not [a for a in audit if a[1] == "fund_operation"]                   # aggregates hold no personal data
    files = list(access_audit_dir(root).glob("access-*.jsonl"))
    assert files and all(stat.S_IMODE(f.stat().st_mode) == 0o640 for f in files)


def test_reimport_is_idempotent_and_export_round_trips(stack, tmp_path):
    import yaml

    from yibao.dashboards import serve

    url = stack["service"].url
    token = _api(url, "/api/v1/security/login",
                 body={"username": "admin", "password": serve.passwords(stack["root"], ["admin"])["admin"],
                       "provider": "db", "refresh": False})[
        "access_token"]

    def counts():
        return tuple(_api(url, f"/api/v1/{kind}/?q=(page_size:100)", token)["count"]
                     for kind in ("dashboard", "chart", "dataset", "database"))

    before = counts()
    # a second setup with nothing changed skips the metadata steps (`yibao serve` starts in seconds)
    again = serve.setup(stack["root"], stack["warehouse"], db_uri=stack["uri"])
    assert again.get("skipped") and "db_upgrade_s" not in again and "skipped" not in stack["timings"]
    assert counts() == before
    bundle_dash = {yaml.safe_load(p.read_text())["uuid"] for p in (serve.BUNDLE / "dashboards").glob("*.yaml")}
    bundle_charts = len(list((serve.BUNDLE / "charts").glob("*.yaml")))
    assert before[0] == len(bundle_dash) and before[1] == bundle_charts and before[3] == 1
    serve.import_bundle(stack["root"], stack["uri"])
    assert counts() == before
    exported = serve.export(stack["root"], tmp_path / "bundle", db_uri=stack["uri"])
    assert {yaml.safe_load(p.read_text())["uuid"] for p in (exported / "dashboards").glob("*.yaml")} == bundle_dash
    # Superset kept the one risk-colour scale on every dashboard
    from yibao.dashboards.authoring import RISK_COLOURS

    for p in (exported / "dashboards").glob("*.yaml"):
        meta = yaml.safe_load(p.read_text())["metadata"]
        assert {k: v for k, v in meta["label_colors"].items() if k in RISK_COLOURS} == RISK_COLOURS, p.name
    assert len(list((exported / "charts").glob("*.yaml"))) == bundle_charts
    db = yaml.safe_load(next((exported / "databases").glob("*.yaml")).read_text())
    assert db["sqlalchemy_uri"].startswith("duckdb:///__YIBAO")   # no machine path in the committed bundle
    serve.import_bundle(stack["root"], stack["uri"], source=exported)   # the exported bundle imports again
    assert counts() == before


def test_reimport_updates_edited_charts_and_datasets(stack, tmp_path):
    """A bundle whose charts and datasets changed reaches a Superset that imported the older one (Superset's
    dashboard import alone only creates the charts and datasets it lacks)."""
    import yaml

    from yibao.dashboards import serve

    url = stack["service"].url
    token = _api(url, "/api/v1/security/login",
                 body={"username": "admin", "password": serve.passwords(stack["root"], ["admin"])["admin"],
                       "provider": "db", "refresh": False})[
        "access_token"]

    def state():
        charts = {c["slice_name"] for c in _all(url, "chart", token)}
        (ds,) = [d for d in _api(url, "/api/v1/dataset/?q=(page_size:100)", token)["result"]
                 if d["table_name"] == "quarantine"]
        metrics = {m["metric_name"]: m["verbose_name"] for m in _api(url, f"/api/v1/dataset/{ds['id']}", token)[
            "result"]["metrics"]}
        return charts, metrics

    edited = tmp_path / "bundle"
    shutil.copytree(serve.BUNDLE, edited)
    chart = edited / "charts" / "dq_holds.yaml"
    c = yaml.safe_load(chart.read_text(encoding="utf-8"))
    c["slice_name"] = "当前暂停项 (改)"
    chart.write_text(yaml.safe_dump(c, allow_unicode=True, sort_keys=False), encoding="utf-8")
    dataset = edited / "datasets" / "yibao_gold" / "quarantine.yaml"
    d = yaml.safe_load(dataset.read_text(encoding="utf-8"))
    next(m for m in d["metrics"] if m["metric_name"] == "orphan_rows")["verbose_name"] = "孤儿行 (改)"
    dataset.write_text(yaml.safe_dump(d, allow_unicode=True, sort_keys=False), encoding="utf-8")
    try:
        serve.import_bundle(stack["root"], stack["uri"], source=edited)
        charts, metrics = state()
        assert "当前暂停项 (改)" in charts and "当前暂停项：原因与决定命令" not in charts
        assert metrics["orphan_rows"] == "孤儿行 (改)"
    finally:
        serve.import_bundle(stack["root"], stack["uri"])
    charts, metrics = state()
    assert "当前暂停项：原因与决定命令" in charts and metrics["orphan_rows"] == "孤儿记录行"


def test_refresh_registers_new_tables(stack, tmp_path):
    from yibao.dashboards import readpath

    reg = readpath.register(tmp_path, tmp_path / "warehouse")
    assert "gold.fraud_suspect" in reg.stubbed and not reg.found
    con = readpath.connect(tmp_path)
    assert con.execute("select count(*) from serving.fraud_suspect").fetchone()[0] == 0
    con.close()
    # the same data root pointed at the pipeline's warehouse: the tables are found and copied into the file
    reg = readpath.register(tmp_path, stack["warehouse"])
    assert "gold.fraud_suspect" in reg.found and not reg.stubbed and not reg.unreadable
    assert reg.rows["gold.fraud_suspect"] > 0
    con = readpath.connect(tmp_path)
    assert con.execute("select count(*) from serving.fraud_suspect").fetchone()[0] == reg.rows["gold.fraud_suspect"]
    kinds = dict(con.execute("select table_schema || '.' || table_name, table_type from information_schema.tables "
                             "where table_schema in ('gold', 'meta')").fetchall())
    assert all(kinds[t] == "BASE TABLE" for t in reg.found), kinds   # materialised, not views over Delta
    con.close()


def test_load_replays_each_roles_dashboards_without_errors(stack, tmp_path):
    """Issue 20 item 1, the short version of ``benchmarks/load.py`` (whose 100/200/400-user figures are in
    benchmarks/RESULTS.md): the requests the dashboard pages send are recorded in headless Chromium, then Locust
    users of every role log in and replay them.  No request fails, every step is measured, both chart classes
    are among the requests, and the chart results land in the shared result cache, which the next serving
    refresh empties."""
    from yibao.benchmarks import load
    from yibao.dashboards import readpath

    root, url = stack["root"], stack["service"].url
    recorded = load.record(url, root, tmp_path, ["enrollment", "fund", "quality", "suspects"])
    assert set(recorded) == {"enrollment", "fund", "quality", "suspects"}
    for slug, d in recorded.items():
        charts = [r for r in d["requests"] if r["slice_id"] is not None]
        assert charts and len(charts) <= d["charts"], slug     # filter-value requests come on top of the charts
        assert all(r["body"]["queries"] and r["body"]["datasource"]["id"] for r in d["requests"]), slug
    assert {r["class"] for d in recorded.values() for r in d["requests"]} == {"simple", "complex"}
    users = load.role_plan(root, recorded)
    assert {u["username"] for u in users} >= {"analyst", "steward", "supervisor", "xian_analyst"}
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"users": users, "dashboards": recorded, "think_s": [0.2, 0.5]}, ensure_ascii=False))
    cpu = load.CpuSampler()
    cpu.start()
    run = load.run_locust(url, plan, users=6, spawn_rate=6, duration_s=15, work=tmp_path, cpu=cpu)
    cpu.stop()
    assert run["errors"] == 0, run["failure_lines"]
    for step in load.STEPS:
        s = run["steps"][step]
        assert s["requests"] > 0 and s["p50_s"] <= s["p95_s"] <= s["p99_s"], (step, s)
    assert run["cpu_pct"] is not None and load.verdict(run)["no errors"]
    cache = readpath.result_cache_dir(root)
    assert len([f for f in cache.iterdir() if f.is_file()]) > 0    # the workers share one result cache
    readpath.register(root, stack["warehouse"])
    assert not [f for f in cache.iterdir() if f.is_file()]         # a refreshed read path starts it empty
