"""Steward reports (数据质量报告), in Chinese, one page per department and batch, plus an index.

``<data_root>/reports/quality/<source>/<batch_id>.html``: status of each table of the batch (released or
held, and why), every failed expectation with its severity, rows affected, masked examples (with the key
and file line so the department can find the rows), and the steward who owns it (``stewards.toml``).
``<data_root>/reports/quality/index.html``: every department × batch checked so far, with score and status.
Pages are static HTML with no external resources, so they can be mailed or opened from a file share.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from yibao.catalog import Catalog
from yibao.config import Settings
from yibao.quality.stewards import load_stewards, steward_of
from yibao.quality.suites import BLOCKING, DIMENSIONS, SEVERITY_ZH
from yibao.quality.validate import docs_dir, reports_dir

STATUS_ZH = {"released": "已发布", "held": "暂停发布 (结构性问题，待数据管理员决定)", "partly_held": "部分暂停发布",
             "passed": "通过", "blocked": "阻断 (发布表将出错)"}
LAYER_ZH = {"bronze": "贴源层 bronze", "silver": "标准层 silver", "gold": "发布层 gold"}

CSS = """
body{font-family:"Noto Sans CJK SC","Noto Sans SC","Microsoft YaHei",sans-serif;margin:24px;color:#222}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:24px 0 8px;border-left:4px solid #2f6fb3;padding-left:8px}
.meta{color:#555;font-size:13px} table{border-collapse:collapse;width:100%;font-size:13px;margin-top:6px}
th,td{border:1px solid #ccd;padding:4px 6px;text-align:left;vertical-align:top} th{background:#eef2f8}
.blocking{color:#fff;background:#c0392b;padding:1px 6px;border-radius:3px}
.warning{color:#222;background:#f5c542;padding:1px 6px;border-radius:3px}
.held{color:#c0392b;font-weight:bold} .released,.passed{color:#1e8449;font-weight:bold}
.score{font-size:28px;font-weight:bold} code{font-size:12px;color:#444}
.box{display:inline-block;border:1px solid #ccd;border-radius:6px;padding:8px 16px;margin-right:12px}
"""


def _e(v) -> str:
    return html.escape("" if v is None else str(v))


def _page(title: str, body: str) -> str:
    return (f"<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>{_e(title)}</title>"
            f"<style>{CSS}</style></head><body>{body}</body></html>")


def _sample_html(sample: str | None) -> str:
    if not sample:
        return ""
    try:
        items = json.loads(sample)
    except ValueError:
        return _e(sample)
    parts = []
    for it in items:
        if isinstance(it, dict):
            parts.append(", ".join(f"{k}={'空' if v is None else v}" for k, v in it.items()))
        else:
            parts.append("空" if it is None else str(it))
    return "<br>".join(_e(p) for p in parts)


def batch_page(run, source: str, batch_id: str, score: dict, stewards) -> str:
    st = steward_of(source, stewards)
    tables = [t for t in run.tables if t.source == source and t.batch_id == batch_id]
    results = [r for r in run.results if r["source"] == source and r["batch_id"] == batch_id]
    failed = sorted((r for r in results if not r["success"]),
                    key=lambda r: (r["severity"] != BLOCKING, r["table"], -(r["unexpected_count"] or 0)))
    status = score["status"]
    cls = "held" if status in ("held", "partly_held", "blocked") else "released"
    out = [f"<h1>数据质量报告 · {_e(st.department)} · 批次 {_e(batch_id)}</h1>",
           f"<p class=\"meta\">来源 {_e(source)} · {_e(LAYER_ZH.get(run.layer, run.layer))} · 检查时间 "
           f"{run.run_time:%Y-%m-%d %H:%M:%S} UTC · 运行 {_e(run.run_id)}</p>",
           "<div>",
           f"<div class=\"box\">质量得分<div class=\"score\">{score['score']:.1f}</div></div>",
           f"<div class=\"box\">状态<div class=\"score {cls}\" id=\"status\">{_e(STATUS_ZH.get(status, status))}</div></div>",
           f"<div class=\"box\">阻断问题<div class=\"score\" id=\"blocking-count\">{score['blocking_failed']}</div></div>",
           f"<div class=\"box\">警告<div class=\"score\" id=\"warning-count\">{score['warning_failed']}</div></div>",
           "</div>",
           f"<p id=\"steward\">数据责任人: <b>{_e(st.owner)}</b> ({_e(st.department)}; 联系方式 {_e(st.contact)})"
           " — 请核对下列问题，修正后以新批次号重新报送。</p>"]
    out.append("<h2>各表状态</h2><table><tr><th>表</th><th>Delta 版本</th><th>行数</th><th>本次校验行数</th><th>状态</th>"
               "<th>阻断</th><th>警告</th><th>当前发布版本</th></tr>")
    for t in tables:
        published = t.delta_version if t.status == "released" else t.released_before
        out.append(f"<tr><td>{_e(t.source_table)}</td><td>{_e(t.delta_version)}</td><td>{t.rows:,}</td>"
                   f"<td>{t.rows_checked:,}</td>"
                   f"<td class=\"{'held' if t.status in ('held', 'blocked') else 'released'}\">"
                   f"{_e(STATUS_ZH.get(t.status, t.status))}</td><td>{len(t.blocking)}</td><td>{len(t.warnings)}</td>"
                   f"<td>{'尚无' if published is None else _e(published)}</td></tr>")
    out.append("</table>")
    for t in tables:
        if t.note:
            out.append(f"<p class=\"note\">{_e(t.source_table)}: {_e(t.note)}</p>")
    if any(t.status == "held" for t in tables):
        held = [t for t in tables if t.status == "held"]
        out.append("<p class=\"held\">暂停发布的表保持上一次发布的版本对外服务；本批次数据暂不进入 silver/gold。"
                   "数据管理员核实后可放行或继续暂停 (记入审计):</p><ul id=\"decide\">" + "".join(
                       f"<li><code>yibao quality release {_e(t.source)}/{_e(t.source_table)} {_e(t.batch_id)} "
                       f"--reason \"...\"</code> · <code>yibao quality hold {_e(t.source)}/{_e(t.source_table)} "
                       f"{_e(t.batch_id)} --reason \"...\"</code></li>" for t in held) + "</ul>")
    excl = [e for e in getattr(run, "exclusions", []) if e.source == source and (e.orphan_rows or e.waiting_rows)]
    if excl:
        out.append("<h2>逐行隔离</h2><table id=\"exclusions\"><tr><th>表</th><th>孤儿记录 (已隔离)</th>"
                   "<th>等待上级表的行</th><th>等待的上级批次</th></tr>")
        for e in excl:
            out.append(f"<tr><td>{_e(e.source_table)}</td><td>{e.orphan_rows:,}</td><td>{e.waiting_rows:,}</td>"
                       f"<td>{_e(', '.join(e.waiting_on))}</td></tr>")
        out.append("</table><p class=\"meta\">隔离的行见 meta.quarantine (含行号与原因)；等待的行在上级批次发布后自动放行。</p>")
    dims = [d for d in getattr(run, "dimensions", []) if d["source"] == source and d["batch_id"] == batch_id]
    if dims:
        names = [k for k in DIMENSIONS if any(d["dimension"] == k for d in dims)]
        out.append("<h2>质量维度得分 (GB/T 36344-2018)</h2><table id=\"dimensions\"><tr><th>表</th>" +
                   "".join(f"<th>{_e(DIMENSIONS[k])}</th>" for k in names) + "</tr>")
        by_table: dict[str, dict[str, float]] = {}
        for d in dims:
            by_table.setdefault(d["table"], {})[d["dimension"]] = d["score"]
        for table, row in sorted(by_table.items()):
            out.append(f"<tr><td>{_e(table.split('__', 1)[-1])}</td>" + "".join(
                f"<td>{'' if k not in row else f'{row[k]:.1f}'}</td>" for k in names) + "</tr>")
        out.append("</table>")
    out.append(f"<h2>未通过的规则 ({len(failed)})</h2>")
    if not failed:
        out.append("<p class=\"released\">全部规则通过。</p>")
    else:
        out.append("<table id=\"failures\"><tr><th>严重程度</th><th>表</th><th>字段</th><th>规则</th>"
                   "<th>不合格行数</th><th>比例</th><th>示例 (已脱敏)</th><th>GE 期望</th></tr>")
        for r in failed:
            sev = r["severity"]
            cnt = r["unexpected_count"]
            pct = r["unexpected_percent"]
            shown = f"{cnt:,}" if cnt is not None else f"实际 {_e(r['observed_value'])}"
            out.append(f"<tr class=\"failure\"><td><span class=\"{sev}\">{SEVERITY_ZH.get(sev, sev)}</span></td>"
                       f"<td>{_e(r['source_table'])}</td><td>{_e(r['column'])}</td><td>{_e(r['title'])}</td>"
                       f"<td>{shown}</td><td>{'' if pct is None else f'{pct:.2f}%'}</td>"
                       f"<td>{_sample_html(r['sample'])}</td><td><code>{_e(r['expectation'])}</code></td></tr>")
        out.append("</table>")
    out.append(f"<p class=\"meta\">共检查 {len(results)} 条期望，通过 {score['passed']} 条。"
               "得分 = 100 × Σ(权重 × 合格行占比) / Σ权重，阻断规则权重 3、警告规则权重 1。"
               f" GE 数据文档: <a href=\"{_e(_rel_docs())}\">Data Docs</a> · <a href=\"../index.html\">返回索引</a></p>")
    return _page(f"数据质量报告 {source} {batch_id}", "".join(out))


def _rel_docs() -> str:
    return "../../data_docs/index.html"


def index_page(scores: list, stewards) -> str:
    out = ["<h1>数据质量报告索引</h1>",
           "<p class=\"meta\">各部门每个批次的质量得分与状态 (最近的在前)。"
           "<a href=\"../data_docs/index.html\">Great Expectations 数据文档</a></p>",
           "<table id=\"index\"><tr><th>部门</th><th>责任人</th><th>批次</th><th>层</th><th>得分</th><th>通过率</th>"
           "<th>阻断</th><th>警告</th><th>状态</th><th>检查时间</th></tr>"]
    seen = set()
    for s in sorted(scores, key=lambda s: (s["run_time"], s["source"], s["batch_id"]), reverse=True):
        key = (s["layer"], s["source"], s["batch_id"])
        if key in seen:
            continue
        seen.add(key)
        st = steward_of(s["source"], stewards)
        link = f"{s['source']}/{s['batch_id']}.html" if s["layer"] == "bronze" else \
            f"{s['source']}/{s['layer']}-{s['batch_id']}.html"
        cls = "held" if s["status"] in ("held", "partly_held", "blocked") else "released"
        out.append(f"<tr><td>{_e(st.department)}</td><td>{_e(st.owner)}</td>"
                   f"<td><a href=\"{_e(link)}\">{_e(s['batch_id'])}</a></td><td>{_e(s['layer'])}</td>"
                   f"<td>{s['score']:.1f}</td><td>{s['pass_rate']:.1f}%</td><td>{s['blocking_failed']}</td>"
                   f"<td>{s['warning_failed']}</td><td class=\"{cls}\">{_e(STATUS_ZH.get(s['status'], s['status']))}</td>"
                   f"<td>{s['run_time']:%Y-%m-%d %H:%M}</td></tr>")
    out.append("</table>")
    return _page("数据质量报告索引", "".join(out))


def write_reports(settings: Settings, cat: Catalog, run) -> list[Path]:
    stewards = load_stewards()
    base = reports_dir(settings) / "quality"
    written = []
    for s in run.scores:
        d = base / s["source"]
        d.mkdir(parents=True, exist_ok=True)
        name = f"{s['batch_id']}.html" if run.layer == "bronze" else f"{run.layer}-{s['batch_id']}.html"
        p = d / name
        p.write_text(batch_page(run, s["source"], s["batch_id"], s, stewards), encoding="utf-8")
        written.append(p)
    history = [r.asDict() for r in cat.read("meta", "quality_score").collect()] \
        if cat.exists("meta", "quality_score") else list(run.scores)
    base.mkdir(parents=True, exist_ok=True)
    index = base / "index.html"
    index.write_text(index_page(history, stewards), encoding="utf-8")
    written.append(index)
    docs_dir(settings).mkdir(parents=True, exist_ok=True)
    return written
