"""Periodic reports (月报 / 季报 / 年报) of one region: the gold tables' figures of a completed period, as sheets.

A period is a calendar month, quarter or year that has ended before the reference date (for 2026-11-01 the latest
month is 2026-10, the latest quarter 2026Q3, the latest year 2025).  The report of region R for period P holds
only R's rows (``yibao.regions``: rows whose division starts with R's prefix; the province's roll-up rows 'ALL' are
never read, totals are sums of the region rows), and only aggregates: no person appears in a report.

Sheets (Chinese headers; the sources are the gold tables named, their definitions in dbt_project/README.md):

- 概览     the headline figures: insured at the period's end with the change on a year before, new / suspended /
           terminated enrollments, contributions collected and the payment rate, fund income, expense and balance,
           cross-region care, primary-care share, coverage, suspects by risk level;
- 参保     ``gold.enrollment_trend`` per month x pooling region x insutype (person types summed);
- 缴费     ``gold.contribution_trend`` per contribution month x pooling region x insutype (all person types);
- 基金运行 ``gold.fund_operation`` per month x pooling region x insutype, with the risk level;
- 异地就医 ``gold.cross_region_care``: settlements of the region's insured treated elsewhere, by destination;
- 医疗服务 ``gold.medical_reform_indicators`` per month x pooling region;
- 参保率   ``gold.coverage_history``: the first snapshot taken after the period's end (its reference date is shown),
           every division of the region;
- 疑点     ``gold.fraud_suspect`` of the region by subject type, risk level and status (counts and amounts).

Pooling-region tables (参保, 缴费, 基金运行, 异地就医, 医疗服务) carry a pooling region's code: a county's report shows
the pooling region the county belongs to (``yibao.regions.pooling_region``, the dashboards' rule), and says so in
the overview; 参保率 and 疑点 are the county's own rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd
from pyspark.sql import functions as F

from yibao.catalog import Catalog
from yibao.regions import admdvs_prefix

KINDS = {"monthly": "月报", "quarterly": "季报", "annual": "年报"}
NO_ROWS = "本期无数据（本区划本期无记录）"


@dataclass(frozen=True)
class Period:
    kind: str            # monthly | quarterly | annual
    label: str           # 2026-10 | 2026Q3 | 2025
    months: tuple[int, ...]   # yyyymm, ascending

    @property
    def first(self) -> int:
        return self.months[0]

    @property
    def last(self) -> int:
        return self.months[-1]

    @property
    def title(self) -> str:
        y = self.label[:4]
        if self.kind == "monthly":
            return f"{y}年{int(self.label[5:])}月"
        if self.kind == "quarterly":
            return f"{y}年第{self.label[-1]}季度"
        return f"{y}年"


def _ym(y: int, m: int) -> int:
    return y * 100 + m


def period_of(kind: str, label: str) -> Period:
    """The period named ``label`` (``2026-10``, ``2026Q3``, ``2025``); ``ValueError`` when malformed."""
    try:
        if kind == "monthly":
            y, m = int(label[:4]), int(label[5:])
            if len(label) != 7 or label[4] != "-" or not 1 <= m <= 12:
                raise ValueError
            return Period(kind, f"{y:04d}-{m:02d}", (_ym(y, m),))
        if kind == "quarterly":
            y, q = int(label[:4]), int(label[5:])
            if len(label) != 6 or label[4] != "Q" or not 1 <= q <= 4:
                raise ValueError
            return Period(kind, f"{y:04d}Q{q}", tuple(_ym(y, m) for m in range(3 * q - 2, 3 * q + 1)))
        if kind == "annual":
            if len(label) != 4:
                raise ValueError
            y = int(label)
            return Period(kind, f"{y:04d}", tuple(_ym(y, m) for m in range(1, 13)))
    except ValueError:
        pass
    raise ValueError(f"not a {kind} period: {label!r} (monthly 2026-10, quarterly 2026Q3, annual 2025)")


def latest_period(kind: str, reference_date: date) -> Period:
    """The latest period of ``kind`` that ended before ``reference_date``."""
    y, m = reference_date.year, reference_date.month - 1
    if m == 0:
        y, m = y - 1, 12
    if kind == "monthly":
        return period_of(kind, f"{y:04d}-{m:02d}")
    if kind == "quarterly":
        q = m // 3
        return period_of(kind, f"{y:04d}Q{q}") if q else period_of(kind, f"{y - 1:04d}Q4")
    if kind == "annual":
        return period_of(kind, f"{y:04d}") if m == 12 else period_of(kind, f"{y - 1:04d}")
    raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")


def periods_due(kind: str, reference_date: date, last_delivered: str | None) -> list[Period]:
    """Periods to deliver: those after ``last_delivered`` up to the latest ended one; only the latest one for a
    subscription that never received a report."""
    latest = latest_period(kind, reference_date)
    if last_delivered is None:
        return [latest]
    done = period_of(kind, last_delivered)
    out, p = [], latest
    while p.last > done.last:
        out.append(p)
        p = _previous(p)
    return out[::-1]


def _previous(p: Period) -> Period:
    """The period just before ``p``: the latest one that ended before ``p``'s first day."""
    return latest_period(p.kind, date(p.first // 100, p.first % 100, 1))


# -- reading ------------------------------------------------------------------------------------------------
def _region_rows(cat: Catalog, table: str, region_col: str, prefix: str, month_col: str | None = None,
                 months: tuple[int, ...] = (), schema: str = "gold", pool: str | None = None) -> pd.DataFrame | None:
    """The region's rows of a table (None when the table was never built), optionally of some months; with
    ``pool``, the rows of that pooling region instead (a county's view of a pooling-region table)."""
    if not cat.exists(schema, table):
        return None
    mine = F.col(region_col) == F.lit(pool) if pool else F.col(region_col).startswith(F.lit(prefix))
    df = cat.read(schema, table).where(mine & (F.col(region_col) != "ALL"))
    if month_col:
        df = df.where(F.col(month_col).cast("int").isin(list(months)))
    return df.toPandas()


def code_names(cat: Catalog) -> dict[tuple[str, str], str]:
    """(code_type, code) -> Chinese name, from the published code list (``silver.code_list``)."""
    if not cat.exists("silver", "code_list"):
        return {}
    return {(r.code_type, r.code): r.name for r in cat.read("silver", "code_list").collect()}


def _num(s) -> pd.Series:
    return pd.to_numeric(s, errors="coerce").astype(float)


def _ratio(num: float, den: float) -> float | None:
    return None if not den else num / den


# -- the report ---------------------------------------------------------------------------------------------
def build_report(cat: Catalog, region: str, region_name: str, period: Period,
                 pool: str | None = None) -> dict[str, pd.DataFrame]:
    """Sheet name -> frame of the report of ``region`` for ``period`` (see the module's docstring); ``pool``: the
    pooling region of a county (``yibao.regions.pooling_region``), whose rows the pooling-region sheets show."""
    prefix = admdvs_prefix(region)
    names = code_names(cat)
    ins = lambda c: names.get(("insutype", str(c)), str(c))     # noqa: E731
    months = period.months
    sheets: dict[str, pd.DataFrame] = {}
    overview: list[tuple[str, object, str, str]] = []

    def add(label, value, unit, note):
        overview.append((label, None if value is None or pd.isna(value) else value, unit, note))

    # 参保
    e = _region_rows(cat, "enrollment_trend", "region", prefix, "ym", months, pool=pool)
    if e is not None and not e.empty:
        for c in ("insured", "new_enrollments", "suspensions", "terminations", "switches_in", "insured_yoy",
                  "insured_mom"):
            e[c] = _num(e[c])
        g = (e.groupby(["ym", "region", "region_name", "insutype"], dropna=False)
             .agg(insured=("insured", "sum"), new=("new_enrollments", "sum"), susp=("suspensions", "sum"),
                  term=("terminations", "sum"), switch=("switches_in", "sum"),
                  yoy=("insured_yoy", lambda s: s.sum(min_count=1))).reset_index())
        g["yoy_rate"] = [_ratio(y, i - y) if pd.notna(y) else None for y, i in zip(g.yoy, g.insured)]
        sheets["参保"] = pd.DataFrame({
            "月份": g.ym, "统筹区代码": g.region, "统筹区": g.region_name, "险种": g.insutype.map(ins),
            "月末参保人数": g.insured, "新增参保": g.new, "暂停参保": g.susp, "终止参保": g.term, "险种转换转入": g.switch,
            "同比增减": g.yoy, "同比增长率": g.yoy_rate}).sort_values(["月份", "统筹区代码", "险种"])
        end = e[e.ym.astype(int) == period.last]
        insured, yoy = end.insured.sum(), end.insured_yoy.sum(min_count=1)
        add("期末参保人数", insured, "人", f"{period.last} 月末，gold.enrollment_trend")
        add("参保人数同比增减", yoy, "人", "与上年同月相比")
        add("参保人数同比增长率", _ratio(yoy, insured - yoy) if pd.notna(yoy) else None, "比率", "")
        for label, col in (("新增参保", "new_enrollments"), ("暂停参保", "suspensions"), ("终止参保", "terminations"),
                           ("险种转换转入", "switches_in")):
            add(label, e[col].sum(), "人", "本期合计")
    else:
        sheets["参保"] = _empty()

    # 缴费 (each region's total row: all person types and enterprise types)
    c = _region_rows(cat, "contribution_trend", "region", prefix, "accrym", months, pool=pool)
    if c is not None and not c.empty:
        c = c[(c.psn_type == "ALL") & (c.emp_type == "ALL")].copy()
        for col in ("periods", "paid_periods", "assessed_amt", "collected_amt", "collected_amt_mom",
                    "collected_amt_yoy"):
            c[col] = _num(c[col])
        sheets["缴费"] = pd.DataFrame({
            "费款所属期": c.accrym, "统筹区代码": c.region, "统筹区": c.region_name, "险种": c.insutype.map(ins),
            "应缴期数": c.periods, "已缴期数": c.paid_periods,
            "缴费率": [_ratio(p, n) for p, n in zip(c.paid_periods, c.periods)],
            "核定金额(元)": c.assessed_amt, "到账金额(元)": c.collected_amt,
            "到账金额环比": c.collected_amt_mom, "到账金额同比": c.collected_amt_yoy}
        ).sort_values(["费款所属期", "统筹区代码", "险种"])
        add("到账缴费金额", c.collected_amt.sum() / 10000.0, "万元", "本期费款所属期合计，gold.contribution_trend")
        add("缴费率", _ratio(c.paid_periods.sum(), c.periods.sum()), "比率", "已缴期数 ÷ 应缴期数")
    else:
        sheets["缴费"] = _empty()

    # 基金运行
    f = _region_rows(cat, "fund_operation", "admdvs", prefix, "ym", months, pool=pool)
    if f is not None and not f.empty:
        for col in ("income", "expense", "cum_balance", "months_payable", "current_surplus_rate"):
            f[col] = _num(f[col])
        sheets["基金运行"] = pd.DataFrame({
            "月份": f.ym, "统筹区代码": f.admdvs, "险种": f.insutype.map(ins), "收入(元)": f.income,
            "支出(元)": f.expense, "累计结余(元)": f.cum_balance, "可支付月数": f.months_payable,
            "当期结余率": f.current_surplus_rate, "风险等级": f.risk_level}).sort_values(["月份", "统筹区代码", "险种"])
        end = f[f.ym.astype(int) == period.last]
        add("基金收入", f.income.sum() / 10000.0, "万元", "本期合计，gold.fund_operation")
        add("基金支出", f.expense.sum() / 10000.0, "万元", "本期合计")
        add("期末累计结余", end.cum_balance.sum() / 10000.0, "万元", f"{period.last} 月末")
        at_risk = end[end.risk_level.isin(["严重", "中等", "一般"])]
        add("有风险的统筹区×险种", len(at_risk), "个", "期末风险等级为一般及以上："
            + ("、".join(f"{a}/{ins(i)} {r}" for a, i, r in zip(at_risk.admdvs, at_risk.insutype, at_risk.risk_level))
               or "无"))
    else:
        sheets["基金运行"] = _empty()

    # 异地就医 (the region's insured)
    x = _region_rows(cat, "cross_region_care", "insu_region", prefix, "ym", months, pool=pool)
    if x is not None and not x.empty:
        for col in ("settlements", "medfee_sumamt", "hifp_pay"):
            x[col] = _num(x[col])
        away = (x[x.flow != "LOCAL"].groupby(["insu_region", "insu_region_name", "mdtrt_region", "mdtrt_region_name",
                                               "flow"], dropna=False)
                [["settlements", "medfee_sumamt", "hifp_pay"]].sum().reset_index()
                .sort_values("settlements", ascending=False))
        sheets["异地就医"] = pd.DataFrame({
            "参保地代码": away.insu_region, "参保地": away.insu_region_name, "就医地代码": away.mdtrt_region,
            "就医地": away.mdtrt_region_name, "类型": [names.get(("care_flow", v), v) for v in away.flow],
            "结算人次": away.settlements, "医疗费用(元)": away.medfee_sumamt, "基金支付(元)": away.hifp_pay})
        if away.empty:
            sheets["异地就医"] = _empty("本期无异地就医结算")
        add("异地就医结算人次", away.settlements.sum(), "人次", "本区划参保人在外地就医，gold.cross_region_care")
        add("异地就医占比", _ratio(away.settlements.sum(), x.settlements.sum()), "比率", "占本区划参保人全部结算人次")
    else:
        sheets["异地就医"] = _empty()

    # 医疗服务
    m = _region_rows(cat, "medical_reform_indicators", "region", prefix, "ym", months, pool=pool)
    if m is not None and not m.empty:
        for col in ("outpatient_visits", "primary_visits", "inpatient_cases", "resident_inpatient_cases",
                    "in_county_cases", "inpatient_hifp_pay", "inpatient_policy_cost", "chronic_visits",
                    "maternity_cases"):
            m[col] = _num(m[col])
        sheets["医疗服务"] = pd.DataFrame({
            "月份": m.ym, "统筹区代码": m.region, "统筹区": m.region_name, "门诊人次": m.outpatient_visits,
            "基层就诊人次": m.primary_visits, "基层就诊率": [_ratio(a, b) for a, b in zip(m.primary_visits, m.outpatient_visits)],
            "出院人次": m.inpatient_cases,
            "县域内住院率": [_ratio(a, b) for a, b in zip(m.in_county_cases, m.resident_inpatient_cases)],
            "住院政策范围内报销比例": [_ratio(a, b) for a, b in zip(m.inpatient_hifp_pay, m.inpatient_policy_cost)],
            "门诊慢特病人次": m.chronic_visits, "生育人次": m.maternity_cases}).sort_values(["月份", "统筹区代码"])
        add("基层就诊率", _ratio(m.primary_visits.sum(), m.outpatient_visits.sum()), "比率",
            "gold.medical_reform_indicators")
        add("县域内住院率", _ratio(m.in_county_cases.sum(), m.resident_inpatient_cases.sum()), "比率", "")
    else:
        sheets["医疗服务"] = _empty()

    # 参保率: the first snapshot after the period's end
    h = _region_rows(cat, "coverage_history", "admdvs", prefix)
    if h is not None and not h.empty:
        h = h[h.reference_month.astype(int) > period.last]
    if h is not None and not h.empty:
        h = h[h.reference_month.astype(int) == h.reference_month.astype(int).min()]
        level_names = {"province": "省", "city": "地市", "pool": "统筹区", "county": "区县"}
        sheets["参保率"] = pd.DataFrame({
            "区划代码": h.admdvs, "区划": h.admdvs_name, "层级": h.level.map(lambda v: level_names.get(v, v)),
            "基准日期": h.reference_date.astype(str), "目标人群": _num(h.target_population), "参保人数": _num(h.insured),
            "未参保人数": _num(h.uninsured), "参保率": _num(h.coverage_rate)}).sort_values(["层级", "区划代码"])
        own = h[h.admdvs == region]
        if not own.empty:
            add("参保率", float(own.coverage_rate.iloc[0]), "比率", f"基准日 {own.reference_date.iloc[0]}，gold.coverage_history")
            add("未参保人数", float(own.uninsured.iloc[0]), "人", "")
    else:
        sheets["参保率"] = _empty("本期结束后尚无参保率快照 (gold.coverage_history)")

    # 疑点 (aggregates: no subject is named)
    s = _region_rows(cat, "fraud_suspect", "region", prefix)
    if s is not None and not s.empty:
        s["amount"] = _num(s["amount"])
        g = (s.groupby(["subject_type", "risk_level", "status"], dropna=False)
             .agg(n=("suspect_id", "count"), amount=("amount", "sum")).reset_index())
        sheets["疑点"] = pd.DataFrame({
            "对象类型": [names.get(("subject_type", v), v) for v in g.subject_type], "风险等级": g.risk_level,
            "状态": g.status, "疑点数": g.n, "涉及金额(元)": g.amount})
        for level in ("高", "中", "低"):
            add(f"疑点数（{level}风险）", int((s.risk_level == level).sum()), "条", "当前疑点清单，gold.fraud_suspect")
    else:
        sheets["疑点"] = _empty("本区划当前无疑点")

    head = pd.DataFrame(overview, columns=["指标", "数值", "单位", "说明"])
    lines = [("报告", f"{region_name}（{region}）{period.title}{KINDS[period.kind]}", "", ""),
             ("统计月份", f"{period.first}–{period.last}", "", "")]
    if pool:
        lines.append(("统筹区口径", pool, "", "参保、缴费、基金运行、异地就医、医疗服务按本区县所属统筹区统计"))
    title = pd.DataFrame(lines, columns=head.columns)
    return {"概览": pd.concat([title, head], ignore_index=True), **sheets}


def _empty(note: str = NO_ROWS) -> pd.DataFrame:
    return pd.DataFrame({"说明": [note]})


def summary_lines(sheets: dict[str, pd.DataFrame]) -> list[str]:
    """The overview as text lines (the body of a report's e-mail)."""
    out = []
    for label, value, unit, _ in sheets["概览"].itertuples(index=False):
        if value is None or (isinstance(value, float) and pd.isna(value)):
            continue
        if unit == "比率" and isinstance(value, (int, float)):
            text = f"{value * 100:.1f}%"
        elif isinstance(value, float):
            text = f"{value:,.2f} {unit}" if unit == "万元" else f"{value:,.0f} {unit}"
        elif isinstance(value, int):
            text = f"{value:,} {unit}"
        else:
            text = str(value)
        out.append(f"{label}：{text}")
    return out
