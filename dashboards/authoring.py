"""The dashboards' source: the definitions below generate the bundle ``dashboards/bundle/`` (Superset's YAML import
format).

The bundle is generated, never edited by hand: it is committed because ``yibao serve`` imports it and a reviewer
reads its diff, and ``tests/test_dashboards_bundle.py`` fails when it is not exactly what this file writes.
UUIDs derive from names, so regenerating changes only what was edited.

    .venv/bin/python -m yibao.dashboards.authoring            # write dashboards/bundle/
    .venv/bin/python -m yibao.dashboards.authoring --check    # exit 1, listing the files, if the bundle differs

A dashboard changed in Superset's UI is exported (``python -m yibao.dashboards.serve --export``, into
``<data_root>/superset/export``) and ported here; see README.md.  :mod:`yibao.dashboards.serve` also reads the
definitions (``DASHBOARDS``, ``REGION_DATASETS``) for roles and row-level security.

Every dataset reads a ``serving.*`` view of the read path (``readpath.py``); the columns of each dataset are
taken from those views over an empty warehouse, so no data (and no Superset) is needed to write the bundle.
"""

from __future__ import annotations

import filecmp
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

import yaml

from yibao.dashboards import readpath

NS = uuid.UUID("6a3c1f0e-5b7d-4e1a-9c2f-0d1e2f3a4b5c")
BUNDLE = Path(__file__).resolve().parent / "bundle"
DB_NAME = "yibao_gold"
DB_UUID = str(uuid.uuid5(NS, "database/yibao_gold"))
URI_PLACEHOLDER = "duckdb:///__YIBAO_READ_PATH__"


def uid(kind: str, key: str) -> str:
    return str(uuid.uuid5(NS, f"{kind}/{key}"))


# ---------------------------------------------------------------------------------------------------------
# Datasets: serving view -> Chinese column names and saved metrics (name, SQL, 中文名, d3 format)
# ---------------------------------------------------------------------------------------------------------
LABELS = {
    "admdvs": "区划代码", "region_name": "地区", "city_name": "地市", "county_name": "区县", "level_name": "层级",
    "target_population": "目标人群", "insured": "参保人数", "uninsured": "未参保人数", "coverage_rate": "参保率",
    "new_enrollments_7d": "本周新增参保", "person_id": "人员ID", "certno_masked": "身份证号(脱敏)",
    "psn_name_masked": "姓名(脱敏)", "age": "年龄", "age_band": "年龄段", "gend_name": "性别",
    "reason_names": "未参保原因", "reason_name": "未参保原因", "list_origin": "来源", "insutype_name": "险种",
    "accrym_missing": "欠缴月份", "months_missing": "欠缴月数", "insutypes_name": "参保险种", "kind_name": "重复类型",
    "insu_admdvs_list": "参保地", "ym": "月份", "month_date": "月份", "income_wan": "收入(万元)",
    "expense_wan": "支出(万元)", "balance_wan": "累计结余(万元)", "months_payable": "可支付月数",
    "current_surplus_rate": "当期结余率", "risk_level": "风险等级", "hosp_lv_name": "医院等级",
    "cost_per_case": "次均住院费用", "cost_per_visit": "次均门诊费用", "avg_los": "平均住院日",
    "readmission_15d_rate": "15日再住院率", "oop_ratio": "个人自付比例", "fund_payment_ratio": "基金支付比例",
    "cost_per_case_yoy": "次均费用同比", "cost_per_case_mom": "次均费用环比", "avg_los_yoy": "住院日同比(天)",
    "avg_los_mom": "住院日环比(天)", "suspect_id": "疑点编号", "subject_type_name": "对象类型", "subject_id": "对象编号",
    "score": "疑点评分", "probability": "确认概率", "assignee": "承办人", "deadline": "办理期限",
    "days_overdue": "逾期天数", "rule_names": "触发规则", "rule_name": "规则", "model_score": "模型评分", "group_id": "团伙编号",
    "evidence": "证据", "status_name": "处理状态", "source_name": "部门", "batch_id": "批次", "run_date": "质检日期",
    "score_value": "质量评分", "source_table": "表", "title": "检查项", "severity": "级别", "unexpected_count": "不合格行数",
    "unexpected_percent": "不合格比例(%)", "rows_checked": "检查行数", "reason": "原因", "line_number": "行号",
    "raw_line_masked": "原始行(脱敏)", "ingest_date": "入湖日期", "rows_read": "读取行数", "rows_landed": "入湖行数",
    "rows_quarantined": "隔离行数", "status": "状态", "expectation": "规则", "column": "字段",
    "subject_name_masked": "对象名称(脱敏)", "amount": "涉及金额(元)", "risk_order": "风险序",
    # data quality (steward dashboard)
    "hold_kind_name": "暂停类型", "decide": "决定命令", "as_of_bj": "统计时间(北京时间)",
    "decided_at_bj": "决定时间(北京时间)", "decided_by": "决定人", "action_name": "决定", "in_force_name": "是否生效",
    "layer_name": "层", "dimension_name": "质量维度", "expectations": "检查项数", "failed": "未通过项数",
    "bad_rows": "不合格行数", "bad_share": "不合格行占比", "latest_batch": "最新批次", "rule_class_name": "隔离类型",
    "rule_columns": "关联字段", "stage_name": "环节", "severity_name": "级别", "unexpected_share": "不合格比例",
    # the rule library (supervisor dashboard)
    "rule_code": "规则编码", "category": "规则大类", "subcategory": "规则类型", "hits": "命中数",
    "subjects": "涉及对象数", "settlements": "涉及结算单数", "judged": "已有结论", "confirmed": "确认违规",
    "dismissed": "排除", "precision": "准确率", "template": "规则模板", "first_event": "最早发生",
    "last_event": "最近发生", "library_version": "规则库版本",
    # payment warnings, practitioner points, institution credit (supervisor dashboard)
    "warning_name": "预警类型", "prac_code": "医师编码", "prac_name": "医师姓名", "prac_type_name": "人员类别",
    "fixmedins_code": "机构编码", "points": "记分", "prac_status": "支付资格状态", "points_to_next": "距下一档分值",
    "reasons": "原因", "fixmedins_name": "机构名称", "credit_score": "信用分", "grade": "信用等级",
    "n_settlements": "结算次数", "deduct_amt": "稽核扣款(元)", "year": "年度", "n_violations": "违规次数",
    # contract section 6 (issue 18): delivery, payment reform, prices and 集采, medical assistance, fund finance
    "table_name": "表名", "table_zh": "数据表", "area": "专题", "rows": "行数", "delivered": "已交付",
    "delivered_order": "交付序", "cases": "病例数", "cases_with_weight": "有权重病例数", "total_weight": "总权重",
    "cmi": "病例组合指数(CMI)", "cost_index": "费用消耗指数", "time_index": "时间消耗指数", "high_outlier_cases": "高倍率病例",
    "low_outlier_cases": "低倍率病例", "upcoding_cases": "高套分组疑点", "medfee_sumamt": "医疗总费用(元)",
    "medfee_wan": "医疗总费用(万元)", "setl_id": "结算ID", "drg_codg": "DRG组", "drg_name": "DRG组名称",
    "weight": "权重(RW)", "dip_codg": "DIP病种", "dip_score": "DIP分值", "ipt_days": "住院天数",
    "hifp_pay": "统筹基金支付(元)", "group_avg_cost": "组均费用(元)", "group_avg_days": "组均住院日",
    "cost_ratio": "费用/组均", "outlier_name": "费用类型", "is_upcoding_suspect": "高套分组疑点",
    "upcoding_evidence": "疑点证据", "total_score": "总分值", "budget": "基金预算(元)", "budget_wan": "基金预算(万元)",
    "point_value": "点值(元/分)", "clearing_amount": "模拟清算(元)", "paid_amount": "已支付(元)",
    "clearing_diff": "清算差额(元)", "clearing_wan": "模拟清算(万元)", "paid_wan": "已支付(万元)",
    "clearing_diff_wan": "清算差额(万元)", "feedetl_sn": "费用明细流水号", "fee_date": "费用日期",
    "med_list_codg": "医保目录编码", "list_name": "项目名称", "cnt": "数量", "pric": "单价(元)",
    "pric_uplmt": "最高限价(元)", "excess_amount": "超限价金额(元)", "excess_wan": "超限价金额(万元)",
    "lines": "明细条数", "qty": "数量", "fee_amount": "费用金额(元)", "amount_wan": "金额(万元)",
    "avg_pric": "平均单价(元)", "min_pric": "最低单价(元)", "max_pric": "最高单价(元)",
    "over_ceiling_lines": "超限价条数", "amount_rank": "金额排名", "agreed_qty": "协议采购量", "purc_qty": "已采购量",
    "purc_amt": "采购金额(元)", "purc_wan": "采购金额(万元)", "completion_rate": "完成率", "months": "已采购月数",
    "expected_rate": "应完成进度", "progress": "进度比", "is_under": "进度不足", "under_name": "完成情况",
    "completion_band": "完成率区间", "aid_type": "救助类别代码", "aid_type_name": "救助类别", "latest_year": "最近年度",
    "beneficiaries": "救助对象人数", "basic_pay": "基本医保(元)", "serious_pay": "大病/大额/公务员补助(元)",
    "maf_one_stop": "医疗救助一站式(元)", "maf_manual": "医疗救助手工报销(元)", "other_pay": "其他基金(元)",
    "psn_cash_pay": "个人自付(元)", "one_stop_share": "一站式结算占比", "fund_order": "支付方序",
    "fund_name": "支付方", "pay_id": "支付ID", "pay_amount": "救助金额(元)", "pay_date": "支付日期",
    "one_stop_maf_pay": "一站式已救助(元)", "first_pay_id": "首笔支付ID", "insutype": "险种代码",
    "direction": "收支代码", "direction_name": "收支", "item_type": "项目代码", "item_name": "收支项目",
    "fund_amount": "金额(元)", "share_of_direction": "占当月收入/支出", "yoy_amount": "上年同月(元)",
    "yoy_wan": "上年同月(万元)", "settled_amount": "结算应付(元)", "bank_amount": "银行流水(元)",
    "diff_settlement_payment": "拨付−应付(元)", "diff_payment_bank": "银行−拨付(元)", "settled_wan": "结算应付(万元)",
    "bank_wan": "银行流水(万元)", "diff_sp_wan": "拨付−应付(万元)", "diff_pb_wan": "银行−拨付(万元)",
    "differences": "差异笔数", "side": "差异环节代码", "side_zh": "差异环节", "txn_id": "银行流水号",
    "expected_amount": "应为(元)", "actual_amount": "实为(元)", "diff_amount": "差额(元)",
    "abs_diff_wan": "差额绝对值(万元)", "yoy_rate": "同比",
    # trends and forecast (issue 22)
    "pooling_region": "统筹区代码", "accrym": "费款所属期", "region_label": "地区", "psn_type_name": "人员类别",
    "periods": "应缴期数", "paid_periods": "已缴期数", "payment_rate": "缴费率", "collected_amt": "到账金额(元)", "collected_wan": "到账金额(万元)",
    "collected_amt_mom": "到账金额环比", "collected_amt_yoy": "到账金额同比", "flow_name": "就医流向",
    "insu_region_label": "参保地", "mdtrt_region_label": "就医地", "dise_codg": "主要诊断编码",
    "issue_batch": "下发批次", "actual_risk_level": "当前风险等级", "first_warning_ym": "预警月份",
    "first_warning_level": "预警等级", "worst_risk_level": "预测期内最高风险", "exhaustion_ym": "基金穿底月份",
    "end_months_payable": "预测期末可支付月数", "backtest_mape": "回测误差MAPE(%)",
    "backtest_mape_naive": "朴素预测回测误差MAPE(%)", "method": "预测方法", "assumptions": "预测假设",
}

PCT, INT, NUM2, WAN, YI = ".1%", ",d", ",.2f", ",.0f", ",.2f"   # percentages with one decimal, counts with separators
WAN2 = ",.2f"   # 万元 with two decimals (to the hundred yuan): section 6 amounts, small in a county too
SCORE, SHARE = ".1f", ".1%"   # quality scores (0-100, one decimal); shares of rows
DIMENSIONS = readpath.CODES["dimension"]   # GB/T 36344, in the standard's order (quality/suites.py)
# score cells: below full marks (as shown, one decimal) pale yellow, below 90 amber, below 60 red (absolute values)
SCORE_HEAT = [(99.95, "#FFF4C2"), (90, "#FFD591"), (60, "#FF9C9C")]
SCORE_AXIS = (0, 100)
RATE_AXIS = (0, 1)     # a rate that cannot exceed 100% (coverage): its axis ends at 100%
# Risk levels look the same on every dashboard: fund risk (严重/中等/一般/正常, gold.fund_operation) and suspect
# risk (高/中/低, gold.fraud_suspect) on one four-colour scale, red to green.
RISK_COLOURS = {"严重": "#D93025", "高": "#D93025", "中等": "#F5820B", "中": "#F5820B",
                "一般": "#F2C200", "低": "#F2C200", "正常": "#2E9E44"}

# The maps (serving.region_map: one row per polygon of a county's outline, dashboards/boundaries.py): a map chart
# groups by the polygon, so each metric is the value of the polygon's county (its city's, its pooling region's).
MAP_METRICS = [
    ("coverage_pct", "MAX(coverage_pct)", "参保率(%)", ".1f"),
    ("city_coverage_pct", "MAX(city_coverage_pct)", "地市参保率(%)", ".1f"),
    ("map_uninsured", "MAX(uninsured)", "未参保人数", INT),
    ("map_suspects", "MAX(pool_suspects)", "统筹区疑点数", INT),
    ("map_risk", "MAX(risk_order)", "基金风险(4=严重)", INT)]


def _rgba(hex_colour: str) -> dict:
    h = hex_colour.lstrip("#")
    return {"r": int(h[0:2], 16), "g": int(h[2:4], 16), "b": int(h[4:6], 16), "a": 1}


# colour bands of the maps, on the risk levels' four colours (red is worst): coverage in % (95% is the national
# target for 参保率), the fund's risk order (1 正常 .. 4 严重); counts of uninsured persons and of suspects are
# coloured on a sequential palette instead (their scale depends on the province)
MAP_BANDS = {
    "coverage": [(0, 93, "严重"), (93, 95, "中等"), (95, 97, "一般"), (97, 100, "正常")],
    "risk": sorted((int(order), int(order), level) for level, order in readpath.CODES["risk_order"].items()),
}
# Without a tile server the maps draw on a plain background (dashboards/superset_config.py serves it)
MAP_BACKGROUND = {"dark": "tile:///yibao/tiles/dark/{z}/{x}/{y}.png", "light": "tile:///yibao/tiles/light/{z}/{x}/{y}.png"}


DATASETS: dict[str, dict] = {
    "coverage": {"desc": "参保覆盖 (gold.coverage_by_region)", "metrics": [
        ("target_sum", "SUM(target_population)", "目标人群", INT),
        ("insured_sum", "SUM(insured)", "参保人数", INT),
        ("uninsured_sum", "SUM(uninsured)", "未参保人数", INT),
        ("coverage", "SUM(insured) * 1.0 / NULLIF(SUM(target_population), 0)", "参保率", PCT),
        ("new_7d", "SUM(new_enrollments_7d)", "本周新增参保", INT),
        ("uninsured_male", "SUM(uninsured_male)", "未参保(男)", INT),
        ("uninsured_female", "SUM(uninsured_female)", "未参保(女)", INT),
        ("uninsured_0_17", "SUM(uninsured_age_0_17)", "0-17岁", INT),
        ("uninsured_18_59", "SUM(uninsured_age_18_59)", "18-59岁", INT),
        ("uninsured_60", "SUM(uninsured_age_60_plus)", "60岁及以上", INT)]},
    "uninsured_person": {"desc": "未参保人员库 (gold.uninsured_person)", "metrics": [
        ("persons", "COUNT(*)", "未参保人数", INT),
        ("national_list", "SUM(CASE WHEN in_national_list THEN 1 ELSE 0 END)", "国家下发名单人数", INT)]},
    "uninsured_reason": {"desc": "未参保原因 (一人多因)", "metrics": [
        ("persons", "COUNT(DISTINCT person_id)", "人数", INT)]},
    "enrolled_unpaid": {"desc": "已参保未缴费 (gold.enrolled_unpaid)", "metrics": [
        ("persons", "COUNT(DISTINCT person_id)", "已参保未缴费人数", INT),
        ("months", "SUM(months_missing)", "欠缴人月", INT)]},
    "duplicate_enrollment": {"desc": "重复参保 (gold.duplicate_enrollment)", "metrics": [
        ("persons", "COUNT(DISTINCT person_id)", "重复参保人数", INT)]},
    "fund_operation": {"desc": "基金运行 (gold.fund_operation)", "metrics": [
        ("income", "SUM(income_wan)", "收入(万元)", WAN), ("expense", "SUM(expense_wan)", "支出(万元)", WAN),
        ("balance", "SUM(balance_wan)", "累计结余(万元)", WAN),
        ("months_payable", "AVG(months_payable)", "可支付月数", ".1f"),
        ("surplus_rate", "AVG(current_surplus_rate)", "当期结余率", PCT),
        ("worst_risk", "MAX(risk_order)", "风险等级(4=严重)", INT)]},
    "fund_risk_latest": {"desc": "基金风险 (各统筹区最新月份)", "metrics": [
        ("months_payable", "AVG(months_payable)", "可支付月数", ".1f"),
        ("surplus_rate", "AVG(current_surplus_rate)", "当期结余率", PCT),
        ("balance", "SUM(balance_wan)", "累计结余(万元)", WAN),
        ("balance_yi", "SUM(cum_balance) / 100000000.0", "累计结余(亿元)", YI),
        ("regions_at_risk", "COUNT(DISTINCT CASE WHEN risk_level <> '正常' THEN admdvs END)", "风险统筹区数", INT)]},
    "medical_service": {"desc": "医疗服务指标 (gold.medical_service_indicators)", "metrics": [
        ("cost_per_case", "SUM(cost_per_case * inpatient_cases) / NULLIF(SUM(inpatient_cases), 0)", "次均住院费用(元)", NUM2),
        ("cost_per_visit", "SUM(cost_per_visit * outpatient_visits) / NULLIF(SUM(outpatient_visits), 0)", "次均门诊费用(元)", NUM2),
        ("avg_los", "SUM(avg_los * inpatient_cases) / NULLIF(SUM(inpatient_cases), 0)", "平均住院日", ".2f"),
        ("readmission", "SUM(readmission_15d_rate * inpatient_cases) / NULLIF(SUM(inpatient_cases), 0)", "15日再住院率", PCT),
        ("oop", "SUM(psn_cash_pay) / NULLIF(SUM(medfee_sumamt), 0)", "个人自付比例", PCT),
        ("fund_ratio", "SUM(hifp_pay) / NULLIF(SUM(medfee_sumamt), 0)", "基金支付比例", PCT),
        ("cases", "SUM(inpatient_cases)", "住院人次", INT),
        ("cpc_yoy", "AVG(cost_per_case_yoy)", "次均费用同比", PCT),
        ("cpc_mom", "AVG(cost_per_case_mom)", "次均费用环比", PCT)]},
    "fraud_suspect": {"desc": "疑点清单 (gold.fraud_suspect)", "metrics": [
        ("suspects", "COUNT(*)", "疑点数", INT),
        ("pending", "SUM(CASE WHEN status_name = '待核查' THEN 1 ELSE 0 END)", "待核查", INT),
        ("high", "SUM(CASE WHEN risk_level IN ('高', '严重') THEN 1 ELSE 0 END)", "高风险疑点", INT),
        ("avg_score", "AVG(score)", "平均评分", ".1f"),
        ("open_cases", "SUM(CASE WHEN status_name IN ('已分派', '核查中', '已提交') THEN 1 ELSE 0 END)", "在办案件", INT),
        ("overdue", "SUM(overdue)", "逾期案件", INT)]},
    "region_map": {"desc": "地图: 区县轮廓与参保、疑点、基金风险 (dashboards/boundaries.py)", "metrics": MAP_METRICS},
    "pool_map": {"desc": "地图: 区县轮廓, 按所属统筹区命名 (基金看板)", "metrics": MAP_METRICS},
    "fraud_suspect_rule": {"desc": "疑点 x 规则", "metrics": [("suspects", "COUNT(DISTINCT suspect_id)", "疑点数", INT)]},
    "payment_warning": {"desc": "基金支付预警 (gold.payment_warning)", "metrics": [
        ("warnings", "COUNT(*)", "预警数", INT), ("warn_amount", "SUM(amount)", "涉及金额(元)", NUM2)]},
    "practitioner_score": {"desc": "医保支付资格记分 (gold.practitioner_score)", "metrics": [
        ("practitioners", "COUNT(*)", "医师人数", INT)]},
    "institution_credit": {"desc": "定点机构信用评级 (gold.institution_credit)", "metrics": [
        ("institutions", "COUNT(*)", "机构数", INT)]},
    "fraud_rule_stats": {"desc": "规则库命中与准确率 (gold.fraud_rule_stats)", "metrics": [
        ("rule_hits", "SUM(hits)", "命中数", INT)]},
    "fraud_rule_trend": {"desc": "规则命中趋势 (gold.fraud_rule_trend)", "metrics": [
        ("trend_hits", "SUM(hits)", "命中数", INT)]},
    "quality_score": {"desc": "数据质量评分 (meta.quality_score)", "metrics": [
        ("score", "AVG(score_value)", "质量评分", SCORE), ("failed", "SUM(blocking_failed + warning_failed)", "未通过规则数", INT),
        ("blocking", "SUM(blocking_failed)", "阻断级未通过", INT)]},
    "quality_result": {"desc": "最近一次质检的规则结果 (meta.quality_result)", "metrics": [
        ("failing", "SUM(CASE WHEN NOT success THEN 1 ELSE 0 END)", "未通过规则数", INT),
        ("bad_rows", "SUM(CASE WHEN NOT success THEN unexpected_count ELSE 0 END)", "不合格行数", INT)]},
    "quality_dimension": {"desc": "质量维度评分 GB/T 36344 (meta.quality_dimension, 每批次最后一次质检)", "metrics": [
        ("score", "AVG(score_value)", "质量评分", SCORE),
        *[(f"dim_{k}", f"AVG(CASE WHEN dimension = '{k}' THEN score_value END)", zh, SCORE)
          for k, zh in DIMENSIONS.items()],
        ("bad_rows", "SUM(bad_rows)", "不合格行数", INT)]},
    "quality_hold_current": {"desc": "当前暂停 (meta.quality_hold_current, 最近一次贴源层质检后)", "metrics": [
        ("items", "COUNT(*)", "暂停项", INT),
        ("door", "COUNT(CASE WHEN kind = 'door' THEN 1 END)", "接收暂停批次", INT),
        ("gate", "COUNT(CASE WHEN kind = 'gate' THEN 1 END)", "发布暂停批次", INT),
        ("waiting", "COUNT(CASE WHEN kind = 'waiting' THEN 1 END)", "等待上级批次的表", INT)]},
    "steward_decision": {"desc": "数据管理员决定记录 (meta.steward_decision)", "metrics": [
        ("decisions", "COUNT(*)", "决定数", INT),
        ("releases", "COUNT(CASE WHEN action = 'release' THEN 1 END)", "放行", INT),
        ("holds", "COUNT(CASE WHEN action = 'hold' THEN 1 END)", "暂停", INT)]},
    "quarantine": {"desc": "隔离行 (meta.quarantine)", "metrics": [
        ("rows", "COUNT(*)", "隔离行数", INT),
        ("orphan_rows", "COUNT(CASE WHEN rule_class = 'orphan' THEN 1 END)", "孤儿记录行", INT),
        ("waiting_rows", "COUNT(CASE WHEN rule_class = 'waiting' THEN 1 END)", "等待上级批次的行", INT)]},
    "ingest_log": {"desc": "入湖日志 (meta.ingest_log)", "metrics": [
        ("landed", "SUM(rows_landed)", "入湖行数", INT), ("quarantined", "SUM(rows_quarantined)", "隔离行数", INT)]},
    # contract section 6 (issue 18)
    "section6_delivery": {"desc": "第6节数据交付情况 (gold.section6_delivery)", "metrics": [
        ("tables", "COUNT(*)", "数据表数", INT),
        ("undelivered", "SUM(CASE WHEN delivered THEN 0 ELSE 1 END)", "未交付的数据表", INT)]},
    "drg_institution": {"desc": "DRG 机构年度指标 (gold.drg_institution_year)", "metrics": [
        ("cases", "SUM(cases)", "DRG病例数", INT),
        ("cmi", "SUM(total_weight) / NULLIF(SUM(cases_with_weight), 0)", "病例组合指数(CMI)", ".2f"),
        ("cost_index", "SUM(cost_index * cases) / NULLIF(SUM(CASE WHEN cost_index IS NOT NULL THEN cases END), 0)",
         "费用消耗指数", ".2f"),
        ("time_index", "SUM(time_index * cases) / NULLIF(SUM(CASE WHEN time_index IS NOT NULL THEN cases END), 0)",
         "时间消耗指数", ".2f"),
        ("high_outliers", "SUM(high_outlier_cases)", "高倍率病例", INT),
        ("low_outliers", "SUM(low_outlier_cases)", "低倍率病例", INT),
        ("upcoding", "SUM(upcoding_cases)", "高套分组疑点", INT),
        ("medfee", "SUM(medfee_wan)", "医疗总费用(万元)", WAN2),
        ("institutions", "COUNT(DISTINCT fixmedins_code)", "机构数", INT)]},
    "drg_case": {"desc": "DRG/DIP 病例 (gold.drg_case)", "metrics": [
        ("cases", "COUNT(*)", "病例数", INT),
        ("suspects", "SUM(CASE WHEN is_upcoding_suspect THEN 1 ELSE 0 END)", "高套分组疑点", INT),
        ("suspect_fee", "SUM(CASE WHEN is_upcoding_suspect THEN medfee_sumamt ELSE 0 END) / 10000.0",
         "疑点病例费用(万元)", WAN2)]},
    "dip_point_value": {"desc": "DIP 点值 (gold.dip_point_value)", "metrics": [
        ("point_value", "SUM(budget) / NULLIF(SUM(total_score), 0)", "点值(元/分)", NUM2),
        ("budget", "SUM(budget_wan)", "基金预算(万元)", WAN2),
        ("score", "SUM(total_score)", "总分值", WAN),
        ("cases", "SUM(cases)", "DIP病例数", INT)]},
    "dip_clearing": {"desc": "DIP 年终清算模拟 (gold.dip_clearing)", "metrics": [
        ("clearing", "SUM(clearing_wan)", "模拟清算(万元)", WAN2),
        ("paid", "SUM(paid_wan)", "已支付(万元)", WAN2),
        ("diff", "SUM(clearing_diff_wan)", "清算差额(万元)", WAN2),
        ("institutions", "COUNT(DISTINCT fixmedins_code)", "机构数", INT)]},
    "price_violation": {"desc": "超限价收费 (gold.price_violation)", "metrics": [
        ("lines", "COUNT(*)", "超限价明细数", INT),
        ("excess", "SUM(excess_wan)", "超限价金额(万元)", WAN2),
        ("institutions", "COUNT(DISTINCT fixmedins_code)", "涉及机构数", INT),
        ("settlements", "COUNT(DISTINCT setl_id)", "涉及结算单数", INT)]},
    "price_trend": {"desc": "常用项目价格趋势 (gold.price_trend)", "metrics": [
        ("avg_pric", "SUM(fee_amount) / NULLIF(SUM(qty), 0)", "平均单价(元)", NUM2),
        ("min_pric", "MIN(min_pric)", "最低单价(元)", NUM2),
        ("max_pric", "MAX(max_pric)", "最高单价(元)", NUM2),
        ("ceiling", "MAX(pric_uplmt)", "最高限价(元)", NUM2),
        ("amount", "SUM(amount_wan)", "费用金额(万元)", WAN2),
        ("qty", "SUM(qty)", "数量", WAN),
        ("over_lines", "SUM(over_ceiling_lines)", "超限价条数", INT),
        ("rank", "MIN(amount_rank)", "金额排名", INT)]},
    "vbp_completion": {"desc": "集采约定采购量完成情况 (gold.vbp_completion)", "metrics": [
        ("items", "COUNT(*)", "机构×品种数", INT),
        ("under", "SUM(CASE WHEN is_under THEN 1 ELSE 0 END)", "进度不足(机构×品种)", INT),
        ("under_institutions", "COUNT(DISTINCT CASE WHEN is_under THEN fixmedins_code END)", "进度不足的机构", INT),
        ("completion", "SUM(purc_qty) / NULLIF(SUM(agreed_qty), 0)", "完成率", PCT),
        ("purc", "SUM(purc_wan)", "采购金额(万元)", WAN2)]},
    "assistance_beneficiary": {"desc": "医疗救助对象 (gold.assistance_beneficiary)", "metrics": [
        ("beneficiaries", "SUM(beneficiaries)", "救助对象人数", INT),
        ("uninsured", "SUM(uninsured)", "其中未参保", INT),
        ("settlements", "SUM(settlements)", "结算人次", INT),
        ("medfee", "SUM(medfee_wan)", "医疗总费用(万元)", WAN2),
        ("maf", "SUM(coalesce(maf_one_stop, 0) + coalesce(maf_manual, 0)) / 10000.0", "医疗救助支付(万元)", WAN2),
        ("one_stop", "SUM(maf_one_stop) / NULLIF(SUM(coalesce(maf_one_stop, 0) + coalesce(maf_manual, 0)), 0)",
         "一站式结算占比", PCT)]},
    "assistance_fund_share": {"desc": "救助对象医疗费用的各方支付", "metrics": [
        ("amount", "SUM(amount_wan)", "金额(万元)", WAN2)]},
    "assistance_duplicate": {"desc": "医疗救助重复支付 (gold.assistance_duplicate)", "metrics": [
        ("payments", "COUNT(*)", "重复支付笔数", INT),
        ("amount", "SUM(pay_amount) / 10000.0", "重复支付金额(万元)", WAN2),
        ("persons", "COUNT(DISTINCT person_id)", "涉及人数", INT)]},
    "fund_income_expense": {"desc": "基金收支 (gold.fund_income_expense)", "metrics": [
        ("income", "SUM(CASE WHEN direction = 'I' THEN amount_wan END)", "收入(万元)", WAN2),
        ("expense", "SUM(CASE WHEN direction = 'E' THEN amount_wan END)", "支出(万元)", WAN2),
        ("amount", "SUM(amount_wan)", "金额(万元)", WAN2),
        ("yoy", "SUM(CASE WHEN yoy_amount IS NOT NULL THEN fund_amount END) / NULLIF(SUM(yoy_amount), 0) - 1", "同比", PCT)]},
    "fund_reconciliation": {"desc": "三方对账 (gold.fund_reconciliation)", "metrics": [
        ("settled", "SUM(settled_wan)", "结算应付(万元)", WAN2),
        ("paid", "SUM(paid_wan)", "基金拨付(万元)", WAN2),
        ("bank", "SUM(bank_wan)", "银行流水(万元)", WAN2),
        ("mismatched", "SUM(CASE WHEN status = '不一致' THEN 1 ELSE 0 END)", "对账不一致(区划×险种×月)", INT),
        ("differences", "SUM(differences)", "差异笔数", INT)]},
    "fund_reconciliation_diff": {"desc": "三方对账差异明细 (gold.fund_reconciliation_diff)", "metrics": [
        ("diffs", "COUNT(*)", "差异笔数", INT),
        ("abs_diff", "SUM(abs_diff_wan)", "差额绝对值(万元)", WAN2)]},
    # trends and the tenders' demonstration analyses (issue 22, dbt_project/README.md D15); every metric sums the
    # region rows (region <> 'ALL' in the charts), so that a city user's numbers are the city's own
    "enrollment_trend": {"desc": "参保人数变化趋势 (gold.enrollment_trend)", "metrics": [
        ("insured", "SUM(insured)", "月末参保人数", INT),
        ("new_enrollments", "SUM(new_enrollments)", "新增参保", INT),
        ("suspensions", "SUM(suspensions)", "暂停参保", INT),
        ("terminations", "SUM(terminations)", "终止参保", INT),
        ("switches_in", "SUM(switches_in)", "险种转换", INT),
        ("insured_yoy", "SUM(insured_yoy)", "同比增减", INT),
        ("insured_yoy_rate", "SUM(insured_yoy) * 1.0 / NULLIF(SUM(CASE WHEN insured_yoy IS NOT NULL THEN insured END) "
         "- SUM(insured_yoy), 0)", "同比增长率", PCT)]},
    "dependency_ratio": {"desc": "在职退休比 (gold.dependency_ratio)", "metrics": [
        ("ratio", "SUM(working) * 1.0 / NULLIF(SUM(retirees), 0)", "在职退休比", ".2f"),
        ("working", "SUM(working)", "在职人数", INT), ("retirees", "SUM(retirees)", "退休人数", INT)]},
    "contribution_trend": {"desc": "缴费分析 (gold.contribution_trend)", "metrics": [
        ("collected", "SUM(collected_wan)", "到账金额(万元)", WAN2),
        ("assessed", "SUM(assessed_wan)", "核定金额(万元)", WAN2),
        ("payment_rate", "SUM(paid_periods) * 1.0 / NULLIF(SUM(periods), 0)", "缴费率", PCT),
        ("periods", "SUM(periods)", "应缴期数", INT), ("unpaid", "SUM(periods - paid_periods)", "未缴期数", INT)]},
    "cross_region_care": {"desc": "异地就医 (gold.cross_region_care)", "metrics": [
        ("settlements", "SUM(settlements)", "结算人次", INT),
        ("elsewhere", "SUM(CASE WHEN flow <> 'LOCAL' THEN settlements ELSE 0 END)", "异地就医人次", INT),
        ("elsewhere_share", "SUM(CASE WHEN flow <> 'LOCAL' THEN settlements ELSE 0 END) * 1.0 / NULLIF(SUM(settlements), 0)",
         "异地就医占比", PCT),
        ("medfee", "SUM(medfee_wan)", "医疗费用(万元)", WAN2),
        ("fund_ratio", "SUM(hifp_pay) * 1.0 / NULLIF(SUM(medfee_sumamt), 0)", "基金支付比例", PCT)]},
    "medical_reform": {"desc": "医疗服务与医改督查指标 (gold.medical_reform_indicators)", "metrics": [
        ("primary_share", "SUM(primary_visits) * 1.0 / NULLIF(SUM(outpatient_visits), 0)", "基层就诊率", PCT),
        ("in_county", "SUM(in_county_cases) * 1.0 / NULLIF(SUM(resident_inpatient_cases), 0)", "县域内住院率", PCT),
        ("op_ip_ratio", "SUM(outpatient_visits) * 1.0 / NULLIF(SUM(inpatient_cases), 0)", "门诊人次与出院人次比", ".2f"),
        ("policy_ratio", "SUM(inpatient_hifp_pay) * 1.0 / NULLIF(SUM(inpatient_policy_cost), 0)", "住院政策范围内报销比例", PCT),
        ("chronic_visits", "SUM(chronic_visits)", "门诊慢特病人次", INT),
        ("maternity_cases", "SUM(maternity_cases)", "生育人次", INT)]},
    "fund_forecast": {"desc": "基金运行预测 (gold.fund_forecast)", "metrics": [
        ("balance_fc", "SUM(balance_wan)", "预测累计结余(万元)", WAN),
        ("months_payable_fc", "AVG(months_payable)", "预测可支付月数", ".1f")]},
    "fund_forecast_warning": {"desc": "基金运行预测预警 (gold.fund_forecast_warning)", "metrics": [
        ("pairs", "COUNT(*)", "预测的统筹区×险种", INT),
        ("warned", "SUM(CASE WHEN first_warning_ym IS NOT NULL THEN 1 ELSE 0 END)", "预测期内出现风险", INT)]},
    "national_list_progress": {"desc": "国家下发名单核查进度 (gold.national_list_progress)", "metrics": [
        ("entries", "SUM(entries)", "下发条数", INT), ("labelled", "SUM(labelled)", "已核查", INT),
        ("labelled_share", "SUM(labelled) * 1.0 / NULLIF(SUM(entries), 0)", "核查完成率", PCT),
        ("uninsured", "SUM(uninsured)", "核实未参保", INT), ("enrolled", "SUM(enrolled)", "已参保", INT),
        ("dead", "SUM(dead)", "已死亡", INT), ("moved", "SUM(moved)", "户籍已迁出或注销", INT),
        ("unmatched", "SUM(unmatched)", "未匹配到人员", INT)]},
    "disease_cost": {"desc": "病种费用 (gold.disease_cost)", "metrics": [
        ("medfee", "SUM(medfee_wan)", "医疗费用(万元)", WAN2),
        ("settlements", "SUM(settlements)", "结算人次", INT),
        ("cost_per", "SUM(medfee_sumamt) * 1.0 / NULLIF(SUM(settlements), 0)", "次均费用(元)", NUM2)]},
}

# Datasets whose rows belong to a region: row-level security filters them on ``admdvs``.
REGION_DATASETS = ["region_map", "pool_map", "coverage", "uninsured_person", "uninsured_reason", "enrolled_unpaid", "duplicate_enrollment",
                   "fund_operation", "fund_risk_latest", "medical_service", "fraud_suspect", "fraud_suspect_rule",
                   "payment_warning", "practitioner_score", "institution_credit",
                   # section 6; not section6_delivery nor price_trend (province-wide: the same for every region)
                   "drg_institution", "drg_case", "dip_point_value", "dip_clearing", "price_violation", "vbp_completion",
                   "assistance_beneficiary", "assistance_fund_share", "assistance_duplicate", "fund_income_expense",
                   "fund_reconciliation", "fund_reconciliation_diff",
                   # issue 22: region rows carry the pooling region (the insured's, for cross-region care)
                   "enrollment_trend", "dependency_ratio", "contribution_trend", "cross_region_care", "medical_reform",
                   "disease_cost", "national_list_progress", "fund_forecast", "fund_forecast_warning"]


# Of those, the pooling region's own business (统筹区: its aggregates, and the differences of its fund's reconciliation,
# wherever the institution paid stands): a county user sees the pooling region its county belongs to there
# (yibao/regions.py), the county's own rows everywhere else (institution rows: the institution's county).
POOL_DATASETS = ["fund_operation", "fund_risk_latest", "medical_service", "dip_point_value", "fund_income_expense",
                 "fund_reconciliation", "fund_reconciliation_diff", "enrollment_trend", "dependency_ratio",
                 "contribution_trend", "cross_region_care", "medical_reform", "disease_cost", "national_list_progress",
                 "fund_forecast", "fund_forecast_warning"]


def f_sql(expr: str) -> dict:
    return {"clause": "WHERE", "expressionType": "SQL", "sqlExpression": expr}


COUNTY = f_sql("level = 'county'")
CITY = f_sql("level = 'city'")
ALL_ALL = [f_sql("hosp_lv = 'ALL'"), f_sql("region = 'ALL'")]


class Chart:
    def __init__(self, key: str, title: str, ds: str, viz: str, **params):
        self.key, self.title, self.ds, self.viz = key, title, ds, viz
        self.params = {"viz_type": viz, "adhoc_filters": params.pop("filters", []), "time_range": "No filter",
                       "row_limit": params.pop("row_limit", 1000), **params}

    @property
    def uuid(self) -> str:
        return uid("chart", self.key)


def big(key, title, ds, metric, filters=(), fmt=None, sub=""):
    return Chart(key, title, ds, "big_number_total", metric=metric, filters=list(filters), subheader=sub,
                 header_font_size=0.4, subheader_font_size=0.15, **({"y_axis_format": fmt} if fmt else {}))


def _bounds(bounds) -> dict:
    """A value axis held inside ``bounds`` (``(min, max)``, None = from the data): quality scores never show an
    axis running past 100."""
    return {"truncateYAxis": True, "y_axis_bounds": list(bounds)} if bounds else {}


def bar(key, title, ds, x, metrics, filters=(), horizontal=False, groupby=(), sort_by=None, asc=False, fmt=None,
        limit=None, stacked=False, bounds=None):
    p = dict(x_axis=x, metrics=metrics, groupby=list(groupby), filters=list(filters),
             orientation="horizontal" if horizontal else "vertical", show_legend=bool(groupby) or len(metrics) > 1,
             show_value=not groupby and len(metrics) == 1, rich_tooltip=True, stack="Stack" if stacked else None,
             x_axis_sort_asc=asc, x_axis_sort=sort_by or metrics[0], x_axis_title_margin=15,
             y_axis_title_margin=15, truncateXAxis=True, xAxisLabelRotation=0 if horizontal else 45,
             color_scheme="supersetColors", y_axis_format=fmt or "SMART_NUMBER", **_bounds(bounds))
    if limit:
        p["row_limit"] = limit
    return Chart(key, title, ds, "echarts_timeseries_bar", **p)


def line(key, title, ds, metrics, groupby=(), filters=(), fmt=None, x="month_date", grain="P1M", bounds=None,
         series=15, series_metric=None):
    """A line chart over a time column (``grain``: its time grain) or, with ``grain=None``, over the values of a
    column such as ``batch_id`` (a category axis, one point per value in their order).  ``series``: at most this
    many lines (``series_metric``: the top ones by that metric)."""
    p = dict(x_axis=x, time_grain_sqla=grain, metrics=metrics, groupby=list(groupby), filters=list(filters),
             show_legend=True, rich_tooltip=True, markerEnabled=True, markerSize=4, y_axis_format=fmt or "SMART_NUMBER",
             x_axis_time_format="%Y-%m", color_scheme="supersetColors", series_limit=series, **_bounds(bounds))
    if series_metric:
        p["series_limit_metric"] = series_metric
    if not grain:
        del p["time_grain_sqla"], p["x_axis_time_format"]
    return Chart(key, title, ds, "echarts_timeseries_line", **p)


def pie(key, title, ds, groupby, metric, filters=()):
    return Chart(key, title, ds, "pie", groupby=[groupby], metric=metric, filters=list(filters), donut=True,
                 show_labels=True, labels_outside=True, label_type="key_percent", show_legend=True,
                 legendOrientation="right", innerRadius=40, outerRadius=70, color_scheme="supersetColors",
                 sort_by_metric=True)


def table(key, title, ds, groupby=(), metrics=(), columns=(), filters=(), order=None, limit=100, page=20,
          formats=None, bars=True, heat=None):
    """A table: raw ``columns`` or ``groupby`` x ``metrics``.  ``formats``: column -> d3 number format (or, for a
    time column, time format); ``heat``: ([column, ...], [(below, colour), ...]) colours a cell whose value is
    below a threshold (the lowest threshold it is below wins: list them from the highest down)."""
    if columns:
        p = dict(query_mode="raw", all_columns=list(columns), order_by_cols=[f'["{order[0]}", {str(order[1]).lower()}]']
                 if order else [])
    else:
        p = dict(query_mode="aggregate", groupby=list(groupby), metrics=list(metrics),
                 timeseries_limit_metric=order[0] if order else None, order_desc=not order[1] if order else True)
    if formats:
        p["column_config"] = {c: ({"d3TimeFormat": f} if f.startswith("%") else {"d3NumberFormat": f})
                              for c, f in formats.items()}
    if heat:
        cols, steps = heat
        p["conditional_formatting"] = [{"column": c, "operator": "<", "targetValue": below, "colorScheme": colour,
                                        "useGradient": False} for below, colour in steps for c in cols]
    return Chart(key, title, ds, "table", filters=list(filters), row_limit=limit, server_page_length=page,
                 page_length=page, include_search=True, show_cell_bars=bars, table_timestamp_format="%Y-%m-%d", **p)


def region_map(key, title, metric, bands=None, ds="region_map", background="light", palette="schemeOrRd"):
    """A map of the province's counties (deck.gl polygons, no tile server), each coloured by ``metric``: on the
    four risk colours by ``bands`` (MAP_BANDS), else on the sequential ``palette``.  It zooms to what the
    dashboard's filters leave (a city, a county).  Its own clicks filter no other chart (see _dashboard_yaml)."""
    colours = ({"color_scheme_type": "color_breakpoints", "default_breakpoint_color": _rgba("#8c8c8c"),
                "color_breakpoints": [{"color": _rgba(RISK_COLOURS[level]), "minValue": lo, "maxValue": hi}
                                      for lo, hi, level in MAP_BANDS[bands]]}
               if bands else {"color_scheme_type": "linear_palette", "linear_color_scheme": palette, "num_buckets": 5})
    return Chart(key, title, ds, "deck_polygon", line_column="polygon", line_type="json", metric=metric,
                 point_radius_fixed={"type": "fix", "value": 0}, filter_nulls=True, row_limit=10000,
                 tooltip_contents=["region_name", "city_name"], mapbox_style=MAP_BACKGROUND[background],
                 viewport={"longitude": 108.6, "latitude": 35.6, "zoom": 5.2, "bearing": 0, "pitch": 0},
                 autozoom=True, filled=True, stroked=True, extruded=False, multiplier=1, line_width=1,
                 line_width_unit="pixels", stroke_color_picker=_rgba("#ffffff"), opacity=85,
                 legend_position="tr", legend_format=".0f", reverse_long_lat=False, **colours)


def md(text: str, height: int = 10, width: int = 12) -> dict:
    return {"markdown": text, "height": height, "width": width}


def delivery(prefix: str, area: str) -> list:
    """The top row of a section-6 dashboard: what the producers delivered for its area (``gold.section6_delivery``),
    so that a chart left empty by a table never delivered reads as 未交付, not as a fault."""
    where = [f_sql(f"area = '{area}'")]
    return [table(f"{prefix}_delivery", "本专题数据交付情况", "section6_delivery",
                  columns=["source_name", "table_zh", "table_name", "status"], filters=where,
                  order=("delivered_order", True), limit=50, page=10, bars=False),
            big(f"{prefix}_undelivered", "未交付的数据表", "section6_delivery", "undelivered", where, INT,
                "未交付的表相关图表为空")]



BIG_SCREEN_CSS = """
/* 全民参保监测大屏: dark theme for a 1920x1080 screen */
body, .dashboard, .dashboard-content, .grid-container, .dashboard-header-container, #app, .ant-layout,
[data-test="dashboard-content-wrapper"], .dashboard-component-tabs, .css-1, main { background-color: #071a33 !important; }
.header-with-actions, [data-test="dashboard-header-container"] { background-color: #0b2447 !important; }
.header-with-actions input, [data-test="editable-title-input"] { background: transparent !important; border: none !important; }
.header-with-actions .editable-title input, .header-with-actions span, .dashboard-header-container h1,
[data-test="editable-title-input"] { color: #e8f1ff !important; font-weight: 700; }
.dashboard-component-chart-holder, .chart-holder, .dashboard-markdown, .dashboard-component-header {
  background-color: #0d2a52 !important; border: 1px solid #1f4f8c !important; border-radius: 6px; }
.dashboard-component-chart-holder .header-title, .chart-header .header-title span, .header-title,
.dashboard-markdown, .dashboard-markdown * { color: #8fd3ff !important; }
.big_number .header-line, .superset-legacy-chart-big-number .header-line, [class*="header-line"] { color: #ffd34d !important; }
.big_number .subheader-line, [class*="subheader-line"] { color: #bcd7ff !important; }
table, th, td, .ant-table, .ant-table-thead > tr > th, .ant-table-tbody > tr > td {
  background-color: #0d2a52 !important; color: #e8f1ff !important; border-color: #1f4f8c !important; }
"""

DASHBOARDS: list[dict] = [
    {"key": "big_screen", "slug": "big-screen", "title": "全民参保监测大屏", "css": BIG_SCREEN_CSS, "filters": [],
     "rows": [
         [md("## 陕西省全民参保与基金监管监测大屏\n参保率、未参保原因、基金风险与监管疑点一屏总览（数据来源：湖仓 gold 层）", 8)],
         [big("bs_coverage", "全省参保率", "coverage", "coverage", [COUNTY], PCT, "基本医保参保率"),
          big("bs_insured", "参保人数", "coverage", "insured_sum", [COUNTY], INT, "人"),
          big("bs_uninsured", "未参保人数", "uninsured_person", "persons", [], INT, "人 (未参保人员库)"),
          big("bs_new7d", "本周新增参保", "coverage", "new_7d", [COUNTY], INT, "人 (近7日)"),
          big("bs_fund_balance", "基金累计结余", "fund_risk_latest", "balance_yi", [], YI, "亿元 (最新月, 各险种合计)")],
         [region_map("bs_map_city", "全省参保率地图 (按地市)", "city_coverage_pct", "coverage", background="dark"),
          region_map("bs_map_county", "区县参保率地图 (点击地市柱可下钻)", "coverage_pct", "coverage",
                     background="dark")],
         [bar("bs_city_coverage", "各地市参保率", "coverage", "city_name", ["coverage"], [CITY], fmt=PCT, asc=True,
              bounds=RATE_AXIS),
          pie("bs_reason", "未参保原因分布", "uninsured_reason", "reason_name", "persons")],
         [bar("bs_fund_risk", "各统筹区基金可支付月数 (最新月)", "fund_risk_latest", "region_name", ["months_payable"],
              [f_sql("insutype = '390'")], fmt=".1f", asc=True),
          table("bs_top_suspects", "监管预警 TOP10", "fraud_suspect",
                columns=["suspect_id", "subject_type_name", "rule_names", "score", "region_name", "status_name"],
                order=("score", False), limit=10, page=10)],
         # the tenders' headline analyses (issue 22): insured by scheme with YoY, cross-region flows, fund forecast
         [table("bs_insured_scheme", "参保人数及同比 (最新月, 按险种)", "enrollment_trend", groupby=["insutype_name"],
                metrics=["insured", "insured_yoy", "insured_yoy_rate"], filters=[f_sql("latest_month")],
                order=("insured", False), limit=10, page=10),
          bar("bs_flows", "异地就医人次 (按参保地、流向)", "cross_region_care", "insu_region_label", ["settlements"],
              groupby=["flow_name"], filters=[f_sql("flow <> 'LOCAL'")], stacked=True),
          table("bs_forecast", "基金运行预测预警", "fund_forecast_warning",
                columns=["region_name", "insutype_name", "actual_risk_level", "first_warning_ym", "first_warning_level",
                         "exhaustion_ym"], order=("first_warning_ym", True), limit=30, page=10)],
     ], "widths": [[12], [3, 2, 2, 2, 3], [6, 6], [7, 5], [6, 6], [4, 4, 4]], "heights": [8, 18, 60, 44, 44, 44]},
    {"key": "enrollment", "slug": "enrollment", "title": "参保分析",
     "filters": [("地市", "coverage", "city_name", None), ("区县", "coverage", "county_name", "地市")],
     "rows": [
         [md("### 参保分析\n**点击下钻**：点击地市的柱或表中的地市名，全页图表筛选到该地市（各区县图即为其区县），"
             "再点击区县即筛选到该区县；再次点击取消。也可用上方筛选器由 **省 → 地市 → 区县** 逐级选择，"
             "或在图表上右键 *下钻*。未参保人员身份证号、姓名已脱敏。", 8)],
         [big("en_coverage", "参保率", "coverage", "coverage", [COUNTY], PCT),
          big("en_target", "目标人群", "coverage", "target_sum", [COUNTY], INT),
          big("en_uninsured", "未参保人数", "uninsured_person", "persons", [], INT),
          big("en_unpaid", "已参保未缴费人数", "enrolled_unpaid", "persons", [], INT),
          big("en_dup", "重复参保人数", "duplicate_enrollment", "persons", [], INT)],
         [bar("en_city", "各地市参保率", "coverage", "city_name", ["coverage"], [CITY], fmt=PCT, asc=True,
              bounds=RATE_AXIS),
          bar("en_county", "各区县未参保人数 (前30)", "coverage", "county_name", ["uninsured_sum"], [COUNTY], limit=30)],
         [region_map("en_map_uninsured", "区县未参保人数地图", "map_uninsured", palette="schemeOrRd"),
          region_map("en_map_coverage", "区县参保率地图", "coverage_pct", "coverage")],
         [pie("en_reason", "未参保原因", "uninsured_reason", "reason_name", "persons"),
          bar("en_age", "未参保人员年龄段 × 性别", "uninsured_person", "age_band", ["persons"], groupby=["gend_name"],
              stacked=True, sort_by="age_band", asc=True),
          pie("en_origin", "未参保人员来源", "uninsured_person", "list_origin", "persons")],
         [table("en_region_table", "分区县参保情况", "coverage", groupby=["city_name", "region_name", "admdvs"],
                metrics=["target_sum", "insured_sum", "uninsured_sum", "coverage"], filters=[COUNTY],
                order=("coverage", True), limit=500, page=15),
          table("en_uninsured_list", "未参保人员清单 (脱敏)", "uninsured_person",
                columns=["certno_masked", "psn_name_masked", "gend_name", "age", "region_name", "reason_names",
                         "list_origin"], limit=1000, page=15)],
         [bar("en_unpaid_by_type", "已参保未缴费 (按险种、地市)", "enrolled_unpaid", "city_name", ["persons"],
              groupby=["insutype_name"], stacked=True),
          bar("en_dup_kind", "重复参保 (按类型、地市)", "duplicate_enrollment", "city_name", ["persons"],
              groupby=["kind_name"], stacked=True)],
     ], "widths": [[12], [3, 3, 2, 2, 2], [6, 6], [6, 6], [4, 4, 4], [5, 7], [6, 6]],
     "heights": [11, 16, 50, 55, 45, 60, 50]},
    {"key": "fund", "slug": "fund", "title": "基金运行",
     "filters": [("统筹区", "fund_operation", "region_name", None), ("险种", "fund_operation", "insutype_name", None),
                 ("风险等级", "fund_operation", "risk_level", None)],
     "rows": [
         [md("### 基金运行\n按统筹区、险种、月份看收入、支出、累计结余、可支付月数与当期结余率；"
             "可支付月数 ≤ 6 或当期结余率 < 15% 至少为 **一般** 风险。**预测**（页末）：按历史月度收支（Holt-Winters）"
             "与人口老龄化假设推算未来收支、结余与风险等级，假设与回测误差（MAPE %）列于预警表。", 8)],
         [big("fu_regions_at_risk", "风险统筹区数 (最新月)", "fund_risk_latest", "regions_at_risk", [], INT),
          big("fu_balance", "累计结余(亿元, 最新月)", "fund_risk_latest", "balance_yi", [], YI),
          big("fu_months", "平均可支付月数", "fund_risk_latest", "months_payable", [], ".1f"),
          big("fu_surplus", "平均当期结余率", "fund_risk_latest", "surplus_rate", [], PCT)],
         [region_map("fu_map_risk", "统筹区基金风险地图 (最新月, 各险种中最重)", "map_risk", "risk", ds="pool_map")],
         [line("fu_income_expense", "月度收入与支出 (万元)", "fund_operation", ["income", "expense"]),
          line("fu_balance_trend", "累计结余趋势 (万元)", "fund_operation", ["balance"], groupby=["insutype_name"])],
         [line("fu_months_trend", "可支付月数 (按统筹区)", "fund_operation", ["months_payable"], groupby=["region_name"],
               fmt=".1f"),
          bar("fu_surplus_region", "当期结余率 (最新月, 按统筹区)", "fund_risk_latest", "region_name", ["surplus_rate"],
              groupby=["insutype_name"], fmt=PCT)],
         [table("fu_risk_table", "基金风险预警 (最新月)", "fund_risk_latest",
                columns=["region_name", "insutype_name", "ym", "income_wan", "expense_wan", "balance_wan",
                         "months_payable", "current_surplus_rate", "risk_level"],
                order=("risk_order", False), limit=100, page=24)],
         [line("fu_fc_balance", "累计结余预测 (万元, 按险种)", "fund_forecast", ["balance_fc"], groupby=["insutype_name"],
               fmt=WAN),
          line("fu_fc_months", "可支付月数预测 (按统筹区)", "fund_forecast", ["months_payable_fc"], groupby=["region_name"],
               fmt=".1f")],
         [table("fu_fc_warning", "基金运行预测预警 (含预测假设与回测误差)", "fund_forecast_warning",
                columns=["region_name", "insutype_name", "actual_risk_level", "first_warning_ym", "first_warning_level",
                         "worst_risk_level", "exhaustion_ym", "end_months_payable", "backtest_mape",
                         "backtest_mape_naive", "method", "assumptions"],
                order=("first_warning_ym", True), limit=100, page=24,
                formats={"end_months_payable": ".1f", "backtest_mape": ".2f", "backtest_mape_naive": ".2f"})],
     ], "widths": [[12], [3, 3, 3, 3], [12], [6, 6], [6, 6], [12], [6, 6], [12]],
     "heights": [11, 16, 55, 50, 50, 70, 50, 70]},
    {"key": "medical", "slug": "medical", "title": "医疗服务",
     "filters": [("医院等级", "medical_service", "hosp_lv_name", None), ("统筹区", "medical_service", "region_name", None)],
     "rows": [
         [md("### 医疗服务\n次均费用、平均住院日、15日再住院率、个人自付比例，按医院等级、统筹区、月份，含同比 / 环比。"
             "未筛选时为全省全部等级合计。", 8)],
         [big("me_cpc", "次均住院费用(元)", "medical_service", "cost_per_case", ALL_ALL, NUM2),
          big("me_los", "平均住院日", "medical_service", "avg_los", ALL_ALL, ".2f"),
          big("me_readm", "15日再住院率", "medical_service", "readmission", ALL_ALL, PCT),
          big("me_oop", "个人自付比例", "medical_service", "oop", ALL_ALL, PCT)],
         [line("me_cpc_trend", "次均住院费用趋势 (按医院等级)", "medical_service", ["cost_per_case"],
               groupby=["hosp_lv_name"], filters=[f_sql("region = 'ALL'"), f_sql("hosp_lv <> 'ALL'")]),
          line("me_yoy", "次均费用同比 / 环比 (全省)", "medical_service", ["cpc_yoy", "cpc_mom"], filters=ALL_ALL, fmt=PCT)],
         [bar("me_los_level", "平均住院日 (按医院等级)", "medical_service", "hosp_lv_name", ["avg_los"],
              [f_sql("region = 'ALL'"), f_sql("hosp_lv <> 'ALL'")], fmt=".2f"),
          bar("me_oop_region", "个人自付比例 (按统筹区)", "medical_service", "region_name", ["oop"],
              [f_sql("hosp_lv = 'ALL'"), f_sql("region <> 'ALL'")], fmt=PCT),
          bar("me_readm_region", "15日再住院率 (按统筹区)", "medical_service", "region_name", ["readmission"],
              [f_sql("hosp_lv = 'ALL'"), f_sql("region <> 'ALL'")], fmt=PCT)],
         [table("me_table", "分统筹区、医院等级、月份指标", "medical_service",
                columns=["ym", "region_name", "hosp_lv_name", "cost_per_case", "cost_per_case_yoy", "cost_per_case_mom",
                         "avg_los", "readmission_15d_rate", "oop_ratio"],
                filters=[f_sql("region <> 'ALL'"), f_sql("hosp_lv <> 'ALL'")], order=("ym", False), limit=2000, page=15)],
     ], "widths": [[12], [3, 3, 3, 3], [6, 6], [4, 4, 4], [12]], "heights": [11, 16, 50, 45, 60]},
    {"key": "quality", "slug": "quality", "title": "数据质量",
     "filters": [("部门", "quality_score", "source_name", None)],
     "rows": [
         [md("### 数据质量\n"
             "**当前暂停**：*接收暂停* 是整表快照会删去大半数据，未入湖；*发布暂停* 是结构性问题（主键缺失或重复、"
             "表行数骤降、某列大面积不合格），新版本未进入标准层；*等待上级批次* 是上级表的批次暂停，这些行随之等待，"
             "上级放行后自动发布。数据管理员用表中的命令 **放行** 或 **暂停**（须写明原因，记入决定记录）。"
             "零星脏数据不暂停：标记（警告）或逐行隔离（孤儿记录）后，其余数据照常发布。\n"
             "**质量维度** 按 GB/T 36344（完整性、规范性、一致性、唯一性、时效性、准确性）评分，满分 100。"
             "原始行中的身份证号、电话已脱敏（质量门隔离的行另脱敏姓名、住址）。", 20)],
         [big("dq_held_door", "接收暂停批次", "quality_hold_current", "door", [], INT, "未入湖，待数据管理员决定"),
          big("dq_held_gate", "发布暂停批次", "quality_hold_current", "gate", [], INT, "未进入标准层，待数据管理员决定"),
          big("dq_waiting_rows", "等待上级批次的行", "quarantine", "waiting_rows", [], INT, "上级批次放行后自动发布"),
          big("dq_orphan_rows", "孤儿记录行", "quarantine", "orphan_rows", [], INT, "上级表中找不到，已逐行隔离")],
         [table("dq_holds", "当前暂停项：原因与决定命令", "quality_hold_current",
                columns=["hold_kind_name", "source_name", "source_table", "batch_id", "reason", "decide", "as_of_bj"],
                order=("kind_order", True), limit=500, page=10, bars=False,
                formats={"as_of_bj": "%Y-%m-%d %H:%M"})],
         [table("dq_decisions", "数据管理员决定记录 (最新在前)", "steward_decision",
                columns=["decided_at_bj", "decided_by", "action_name", "source_name", "source_table", "batch_id",
                         "reason", "in_force_name"],
                order=("decided_at", False), limit=1000, page=10, bars=False,
                formats={"decided_at_bj": "%Y-%m-%d %H:%M"})],
         [table("dq_dimension_latest", "各部门各表质量维度评分 (贴源层最新批次)", "quality_dimension",
                groupby=["source_name", "source_table", "batch_id"], metrics=[f"dim_{k}" for k in DIMENSIONS],
                filters=[f_sql("latest_batch"), f_sql("layer = 'bronze'")], order=("score", True), limit=500,
                page=25, bars=False, heat=([f"dim_{k}" for k in DIMENSIONS], SCORE_HEAT)),
          bar("dq_quarantine_by_rule", "隔离行数 (按部门、隔离类型)", "quarantine", "source_name", ["rows"],
              groupby=["rule_class_name"], stacked=True)],
         *[[line(f"dq_dim_{k}", f"{DIMENSIONS[k]}评分趋势 (按部门、批次)", "quality_dimension", ["score"],
                 groupby=["source_name"], filters=[f_sql(f"dimension = '{k}'"), f_sql("layer = 'bronze'")],
                 fmt=SCORE, x="batch_id", grain=None, bounds=SCORE_AXIS) for k in ks]
           for ks in (list(DIMENSIONS)[:3], list(DIMENSIONS)[3:])],
         [line("dq_score_trend", "质量评分趋势 (按部门)", "quality_score", ["score"], groupby=["source_name"], x="run_date",
               fmt=SCORE, bounds=SCORE_AXIS),
          bar("dq_score_batch", "各部门各批次质量评分 (贴源层)", "quality_score", "source_name", ["score"],
              groupby=["batch_id"], filters=[f_sql("layer = 'bronze'")], fmt=SCORE, bounds=SCORE_AXIS)],
         [table("dq_failing", "未通过的检查项 (最近一次质检)", "quality_result",
                columns=["source_name", "batch_id", "source_table", "column", "title", "dimension_name", "severity_name",
                         "unexpected_count", "unexpected_share", "rows_checked"], filters=[f_sql("NOT success")],
                order=("unexpected_count", False), limit=500, page=12, formats={"unexpected_share": SHARE}),
          bar("dq_quarantine_by_src", "隔离行数 (按部门、批次)", "quarantine", "source_name", ["rows"], groupby=["batch_id"],
              stacked=True)],
         [table("dq_quarantine", "隔离行明细", "quarantine",
                columns=["source_name", "batch_id", "source_table", "rule_class_name", "line_number", "reason",
                         "raw_line_masked"],
                order=("batch_id", False), limit=1000, page=12),
          table("dq_ingest", "入湖日志", "ingest_log", groupby=["source_name", "batch_id", "status"],
                metrics=["landed", "quarantined"], order=("landed", False), limit=200, page=12)],
     ], "widths": [[12], [3, 3, 3, 3], [12], [12], [7, 5], [4, 4, 4], [4, 4, 4], [6, 6], [7, 5], [7, 5]],
     "heights": [20, 16, 38, 38, 80, 60, 60, 60, 55, 55]},
    {"key": "suspects", "slug": "suspects", "title": "疑点核查",
     "filters": [("风险等级", "fraud_suspect", "risk_level", None), ("处理状态", "fraud_suspect", "status_name", None),
                 ("对象类型", "fraud_suspect", "subject_type_name", None)],
     "rows": [
         [md("### 疑点核查\n疑点清单（gold.fraud_suspect）：按风险等级、处理状态、对象类型筛选；表格可搜索、排序，"
             "右上角菜单可导出 CSV 供现场核查。", 8)],
         [big("su_total", "疑点总数", "fraud_suspect", "suspects", [], INT),
          big("su_pending", "待核查", "fraud_suspect", "pending", [], INT),
          big("su_high", "高风险疑点", "fraud_suspect", "high", [], INT),
          big("su_open", "在办案件", "fraud_suspect", "open_cases", [], INT),
          big("su_overdue", "逾期案件", "fraud_suspect", "overdue", [], INT)],
         [bar("su_rules", "各规则疑点数", "fraud_suspect_rule", "rule_name", ["suspects"], horizontal=True),
          pie("su_status", "处理状态", "fraud_suspect", "status_name", "suspects"),
          bar("su_region", "疑点数 (按地市)", "fraud_suspect", "city_name", ["suspects"], groupby=["risk_level"], stacked=True)],
         [region_map("su_map", "各统筹区疑点数地图 (全部疑点)", "map_suspects", palette="schemePuBu")],
         [table("su_county", "机构疑点 (按区县; 点击地市或区县下钻)", "fraud_suspect", groupby=["city_name", "county_name"],
                metrics=["suspects"], filters=[f_sql("subject_type = 'institution'")], order=("suspects", False),
                limit=500, page=10),
          table("su_inst", "定点机构信用与疑点 (随地市、区县筛选)", "institution_credit",
                columns=["fixmedins_name", "county_name", "grade", "credit_score", "n_violations", "deduct_amt"],
                order=("credit_score", True), limit=5000, page=10, formats={"credit_score": ".1f", "deduct_amt": NUM2})],
         [bar("su_load", "承办人工作量", "fraud_suspect", "assignee", ["open_cases", "overdue"],
              filters=[f_sql("assignee IS NOT NULL")], horizontal=True),
          table("su_overdue_list", "逾期案件清单", "fraud_suspect",
                columns=["suspect_id", "subject_type_name", "subject_name_masked", "risk_level", "assignee",
                         "deadline", "days_overdue", "status_name"],
                filters=[f_sql("overdue = 1")], order=("days_overdue", False), limit=1000, page=10)],
         [table("su_rule_stats", "规则库：命中与准确率", "fraud_rule_stats",
                columns=["rule_code", "rule_name", "category", "subcategory", "severity", "hits", "subjects", "amount",
                         "judged", "confirmed", "dismissed", "precision"],
                order=("hits", False), limit=500, page=12, formats={"amount": NUM2, "precision": PCT}),
          line("su_rule_trend", "规则命中趋势", "fraud_rule_trend", ["trend_hits"], groupby=["rule_name"], fmt=INT)],
         [bar("su_warn_types", "基金支付预警 (按类型)", "payment_warning", "warning_name", ["warnings"], horizontal=True),
          table("su_warnings", "基金支付预警清单", "payment_warning",
                columns=["warning_name", "subject_type_name", "subject_id", "region_name", "ym", "amount", "reason"],
                order=("amount", False), limit=2000, page=10, formats={"amount": NUM2})],
         [table("su_prac", "医保医师记分（预警及以上）", "practitioner_score",
                columns=["year", "prac_code", "prac_name", "prac_type_name", "fixmedins_code", "points", "prac_status",
                         "points_to_next", "reasons"],
                filters=[f_sql("prac_status <> '正常'")], order=("points", False), limit=2000, page=10),
          pie("su_credit", "机构信用等级", "institution_credit", "grade", "institutions")],
         [table("su_credit_list", "信用等级 C/D 的定点机构", "institution_credit",
                columns=["year", "fixmedins_code", "fixmedins_name", "credit_score", "grade", "n_settlements",
                         "deduct_amt", "reasons"],
                filters=[f_sql("grade IN ('C', 'D')")], order=("credit_score", True), limit=2000, page=10,
                formats={"credit_score": ".1f", "deduct_amt": NUM2})],
         [table("su_list", "疑点清单", "fraud_suspect",
                columns=["suspect_id", "subject_type_name", "subject_id", "subject_name_masked", "score",
                         "probability", "model_score", "risk_level", "rule_names", "amount", "group_id", "region_name",
                         "status_name", "assignee", "deadline", "evidence"],
                order=("score", False), limit=5000, page=20,
                formats={"score": ".1f", "probability": PCT, "model_score": ".3f", "amount": NUM2})],
     ], "widths": [[12], [2, 2, 2, 3, 3], [4, 4, 4], [12], [5, 7], [5, 7], [7, 5], [4, 8], [8, 4], [12], [12]],
     "heights": [11, 16, 50, 55, 50, 45, 50, 50, 50, 50, 80]},
    # ---- contract section 6 (issue 18): one dashboard per area, each opening with what was delivered for it ----
    {"key": "reform", "slug": "payment-reform", "title": "支付方式改革",
     "filters": [("地市", "drg_institution", "city_name", None), ("年度", "drg_institution", "year", None)],
     "rows": [
         [md("### 支付方式改革 (DRG/DIP)\n"
             "**CMI** = 总权重 ÷ 病例数；**费用消耗指数 / 时间消耗指数** = 本机构各 DRG 组次均费用 / 平均住院日 与本统筹区"
             "同组之比，按病例数加权（1 为统筹区平均，大于 1 偏高）。**高倍率 / 低倍率病例**：费用高于组均费用的 2 倍 / "
             "低于 0.5 倍。**高套分组疑点**：高权重组（RW ≥ 2）而费用低于组均 40%、住院日低于组均 50% 的病例。"
             "**DIP 点值** = 统筹区基金预算 ÷ 总分值；**模拟清算** = 机构总分值 × 点值，与已支付之差为清算差额。"
             "首行为本专题所需数据表的交付情况：**未交付** 的表相关图表为空。", 14)],
         delivery("rf", "支付方式改革"),
         [big("rf_cases", "DRG病例数", "drg_institution", "cases", [], INT),
          big("rf_cmi", "CMI (全部机构)", "drg_institution", "cmi", [], ".2f"),
          big("rf_high", "高倍率病例", "drg_institution", "high_outliers", [], INT),
          big("rf_low", "低倍率病例", "drg_institution", "low_outliers", [], INT),
          big("rf_upcoding", "高套分组疑点", "drg_case", "suspects", [], INT, "病例")],
         [bar("rf_cmi_inst", "各机构 CMI (前30)", "drg_institution", "fixmedins_name", ["cmi"], horizontal=True,
              fmt=".2f", limit=30),
          bar("rf_index_inst", "费用消耗指数与时间消耗指数 (按机构, 前30)", "drg_institution", "fixmedins_name",
              ["cost_index", "time_index"], fmt=".2f", limit=30)],
         [bar("rf_outlier_inst", "高倍率、低倍率与高套分组疑点病例 (按机构, 前30)", "drg_institution", "fixmedins_name",
              ["high_outliers", "low_outliers", "upcoding"], stacked=True, sort_by="high_outliers", limit=30)],
         [table("rf_inst_table", "机构 DRG 指标 (按年度)", "drg_institution",
                groupby=["fixmedins_name", "region_name", "year"],
                metrics=["cases", "cmi", "cost_index", "time_index", "high_outliers", "low_outliers", "upcoding",
                         "medfee"], order=("cases", False), limit=2000, page=15)],
         [table("rf_upcoding_list", "高套分组疑点病例及证据", "drg_case",
                columns=["setl_id", "fixmedins_name", "region_name", "year", "drg_codg", "drg_name", "weight",
                         "ipt_days", "group_avg_days", "medfee_sumamt", "group_avg_cost", "cost_ratio",
                         "upcoding_evidence"],
                filters=[f_sql("is_upcoding_suspect")], order=("weight", False), limit=5000, page=15,
                formats={"weight": ".4f", "group_avg_days": ".1f", "medfee_sumamt": NUM2, "group_avg_cost": NUM2,
                         "cost_ratio": PCT})],
         [bar("rf_dip_point", "DIP 点值 (按统筹区、年度)", "dip_point_value", "region_name", ["point_value"],
              groupby=["year"], fmt=NUM2),
          table("rf_dip_point_table", "DIP 点值测算", "dip_point_value",
                columns=["region_name", "year", "cases", "total_score", "budget_wan", "point_value"],
                order=("point_value", False), limit=500, page=12,
                formats={"total_score": ",.1f", "budget_wan": WAN2, "point_value": NUM2})],
         [bar("rf_clearing_inst", "DIP 年终清算差额 (按机构, 万元, 前30)", "dip_clearing", "fixmedins_name", ["diff"],
              horizontal=True, fmt=WAN2, limit=30),
          table("rf_clearing_table", "DIP 年终清算模拟 (按机构)", "dip_clearing",
                columns=["fixmedins_name", "region_name", "year", "cases", "total_score", "point_value",
                         "clearing_wan", "paid_wan", "clearing_diff_wan"],
                order=("clearing_diff_wan", True), limit=2000, page=12,
                formats={"total_score": ",.1f", "point_value": NUM2, "clearing_wan": WAN2, "paid_wan": WAN2,
                         "clearing_diff_wan": WAN2})],
     ], "widths": [[12], [9, 3], [2, 3, 2, 2, 3], [5, 7], [12], [12], [12], [5, 7], [5, 7]],
     "heights": [14, 30, 16, 60, 50, 60, 60, 50, 60]},
    {"key": "price", "slug": "price-vbp", "title": "价格与集采",
     "filters": [("地市", "vbp_completion", "city_name", None), ("年度", "vbp_completion", "year", None)],
     "rows": [
         [md("### 价格与集采\n"
             "**集采完成率** = 协议年度已采购量 ÷ 约定采购量；**进度比** = 完成率 ÷ (已采购月数 ÷ 12)，低于 0.8 为"
             "**进度不足**。**超限价收费**：结算费用明细单价高于医保目录最高限价，超限价金额 = (单价 − 限价) × 数量，"
             "同时作为疑点规则 R11 进入疑点清单。**价格趋势**：全省按金额排名前 50 的项目，图中为前 10。"
             "首行为本专题所需数据表的交付情况：**未交付** 的表相关图表为空。", 12)],
         delivery("pr", "价格与集采"),
         [big("pr_under", "集采进度不足 (机构×品种)", "vbp_completion", "under", [], INT),
          big("pr_under_inst", "进度不足的机构", "vbp_completion", "under_institutions", [], INT),
          big("pr_completion", "集采总体完成率", "vbp_completion", "completion", [], PCT),
          big("pr_violations", "超限价收费条数", "price_violation", "lines", [], INT, "条"),
          big("pr_excess", "超限价金额(万元)", "price_violation", "excess", [], WAN2)],
         [pie("pr_band", "集采完成率分布 (机构×品种)", "vbp_completion", "completion_band", "items"),
          bar("pr_item_completion", "各集采品种完成率", "vbp_completion", "list_name", ["completion"], horizontal=True,
              fmt=PCT, asc=True, limit=30),
          bar("pr_under_region", "进度不足 (按地市)", "vbp_completion", "city_name", ["under"])],
         [table("pr_under_list", "集采进度不足的机构与品种", "vbp_completion",
                columns=["fixmedins_name", "region_name", "year", "list_name", "agreed_qty", "purc_qty",
                         "completion_rate", "months", "expected_rate", "progress"],
                filters=[f_sql("is_under")], order=("progress", True), limit=5000, page=12,
                formats={"agreed_qty": ",.0f", "purc_qty": ",.0f", "completion_rate": PCT, "expected_rate": PCT,
                         "progress": ".2f"})],
         [bar("pr_excess_inst", "超限价金额 (按机构, 万元, 前20)", "price_violation", "fixmedins_name", ["excess"],
              horizontal=True, fmt=WAN2, limit=20),
          bar("pr_violation_item", "超限价收费明细数 (按项目, 前20)", "price_violation", "list_name", ["lines"],
              horizontal=True, limit=20)],
         [table("pr_violation_list", "超限价收费明细", "price_violation",
                columns=["fee_date", "fixmedins_name", "region_name", "med_list_codg", "list_name", "cnt", "pric",
                         "pric_uplmt", "excess_amount", "setl_id", "feedetl_sn"],
                order=("excess_amount", False), limit=5000, page=12,
                formats={"cnt": ",.2f", "pric": NUM2, "pric_uplmt": NUM2, "excess_amount": NUM2})],
         [line("pr_trend", "常用项目平均单价趋势 (金额前10)", "price_trend", ["avg_pric"], groupby=["list_name"],
               fmt=NUM2, series=10, series_metric="amount"),
          table("pr_trend_table", "常用项目价格 (金额前50)", "price_trend", groupby=["list_name", "med_list_codg"],
                metrics=["amount", "avg_pric", "min_pric", "max_pric", "ceiling", "over_lines"],
                order=("amount", False), limit=50, page=12)],
     ], "widths": [[12], [9, 3], [3, 2, 2, 2, 3], [4, 4, 4], [12], [6, 6], [12], [7, 5]],
     "heights": [12, 30, 16, 55, 60, 55, 60, 60]},
    {"key": "assistance", "slug": "medical-assistance", "title": "医疗救助",
     "filters": [("地市", "assistance_beneficiary", "city_name", None),
                 ("救助类别", "assistance_beneficiary", "aid_type_name", None)],
     "rows": [
         [md("### 医疗救助\n"
             "救助对象为民政救助对象库中当年在册的人员。**各方支付**：基本医保（统筹 + 个人账户）、大病保险 / 职工大额 / "
             "公务员补助、医疗救助（一站式结算 / 手工报销）、其他、个人自付；**一站式结算占比** = 一站式救助 ÷ 全部救助。"
             "**重复支付**：一站式已救助的结算又手工报销，或同一结算手工报销两次以上。**救助对象未参保** 来自未参保人员库"
             "（原因：救助对象未参保），身份证号、姓名已脱敏。首行为本专题所需数据表的交付情况：**未交付** 的表相关图表为空。",
             14)],
         delivery("as", "医疗救助"),
         [big("as_beneficiaries", "救助对象人数 (最近年度)", "assistance_beneficiary", "beneficiaries",
              [f_sql("latest_year")], INT),
          big("as_uninsured_b", "其中未参保 (最近年度)", "assistance_beneficiary", "uninsured", [f_sql("latest_year")], INT),
          big("as_maf", "医疗救助支付(万元)", "assistance_beneficiary", "maf", [], WAN2),
          big("as_one_stop", "一站式结算占比", "assistance_beneficiary", "one_stop", [], PCT),
          big("as_dup", "重复支付笔数", "assistance_duplicate", "payments", [], INT),
          big("as_subsidy_uninsured", "救助对象未参保人数", "uninsured_reason", "persons",
              [f_sql("reason_code = 'SUBSIDY_ELIGIBLE'")], INT, "未参保人员库")],
         [bar("as_by_region", "救助对象人数 (按地区、救助类别, 最近年度)", "assistance_beneficiary", "region_name",
              ["beneficiaries"], groupby=["aid_type_name"], filters=[f_sql("latest_year")], stacked=True),
          pie("as_fund_pie", "救助对象医疗费用的各方支付", "assistance_fund_share", "fund_name", "amount")],
         [bar("as_fund_by_type", "各方支付 (按救助类别, 万元)", "assistance_fund_share", "aid_type_name", ["amount"],
              groupby=["fund_name"], stacked=True, fmt=WAN2),
          bar("as_one_stop_region", "一站式结算占比 (按地区)", "assistance_beneficiary", "region_name", ["one_stop"],
              fmt=PCT, asc=True, bounds=RATE_AXIS)],
         [table("as_table", "救助对象与费用 (按地区、救助类别、年度)", "assistance_beneficiary",
                groupby=["region_name", "aid_type_name", "year"],
                metrics=["beneficiaries", "uninsured", "settlements", "medfee", "maf", "one_stop"],
                order=("beneficiaries", False), limit=1000, page=12)],
         [table("as_dup_list", "医疗救助重复支付清单", "assistance_duplicate",
                columns=["pay_id", "kind_name", "certno_masked", "setl_id", "region_name", "aid_type_name",
                         "pay_amount", "pay_date", "one_stop_maf_pay", "first_pay_id"],
                order=("pay_amount", False), limit=5000, page=12,
                formats={"pay_amount": NUM2, "one_stop_maf_pay": NUM2}),
          pie("as_dup_kind", "重复支付类型", "assistance_duplicate", "kind_name", "payments")],
         [table("as_subsidy_list", "救助对象未参保人员 (脱敏)", "uninsured_person",
                columns=["certno_masked", "psn_name_masked", "gend_name", "age", "region_name", "reason_names"],
                filters=[f_sql("reason_codes LIKE '%SUBSIDY_ELIGIBLE%'")], limit=5000, page=12),
          bar("as_subsidy_city", "救助对象未参保人数 (按地市)", "uninsured_reason", "city_name", ["persons"],
              filters=[f_sql("reason_code = 'SUBSIDY_ELIGIBLE'")])],
     ], "widths": [[12], [9, 3], [2, 2, 2, 2, 2, 2], [7, 5], [6, 6], [12], [8, 4], [8, 4]],
     "heights": [14, 30, 16, 55, 55, 55, 60, 60]},
    {"key": "finance", "slug": "fund-finance", "title": "基金财务",
     "filters": [("地市", "fund_income_expense", "city_name", None), ("险种", "fund_income_expense", "insutype_name", None)],
     "rows": [
         [md("### 基金财务\n"
             "**收支**：按统筹区、险种、月份和收支项目（与“基金运行”同一账）。**三方对账**：每统筹区、险种、月份，"
             "结算应付（统筹基金 + 个人账户）、基金拨付与基金专户银行流水支出三方核对；差异逐笔列出，注明环节"
             "（结算应付与基金拨付不符 / 基金拨付与银行流水不符）与金额。"
             "首行为本专题所需数据表的交付情况：**未交付** 的表相关图表为空。", 12)],
         delivery("fi", "基金财务"),
         [big("fi_income", "收入(万元)", "fund_income_expense", "income", [], WAN2),
          big("fi_expense", "支出(万元)", "fund_income_expense", "expense", [], WAN2),
          big("fi_mismatched", "对账不一致 (统筹区×险种×月)", "fund_reconciliation", "mismatched", [], INT),
          big("fi_diffs", "对账差异笔数", "fund_reconciliation_diff", "diffs", [], INT),
          big("fi_abs_diff", "差额绝对值(万元)", "fund_reconciliation_diff", "abs_diff", [], WAN2)],
         [line("fi_trend", "月度收入与支出 (万元)", "fund_income_expense", ["income", "expense"], fmt=WAN2),
          bar("fi_income_items", "收入 (按项目、月份, 万元)", "fund_income_expense", "ym", ["amount"],
              groupby=["item_name"], filters=[f_sql("direction = 'I'")], stacked=True, sort_by="ym", asc=True,
              fmt=WAN2)],
         [bar("fi_expense_items", "支出 (按项目、月份, 万元)", "fund_income_expense", "ym", ["amount"],
              groupby=["item_name"], filters=[f_sql("direction = 'E'")], stacked=True, sort_by="ym", asc=True,
              fmt=WAN2),
          table("fi_items", "收支项目 (合计与同比)", "fund_income_expense", groupby=["direction_name", "item_name"],
                metrics=["amount", "yoy"], order=("amount", False), limit=100, page=12)],
         [bar("fi_recon_month", "三方对账 (按月份, 万元)", "fund_reconciliation", "ym", ["settled", "paid", "bank"],
              sort_by="ym", asc=True, fmt=WAN2),
          bar("fi_diff_side", "对账差异笔数 (按统筹区、环节)", "fund_reconciliation_diff", "region_name", ["diffs"],
              groupby=["side_zh"], stacked=True)],
         [table("fi_recon_table", "三方对账 (按统筹区、险种、月份)", "fund_reconciliation",
                columns=["region_name", "insutype_name", "ym", "settled_wan", "paid_wan", "bank_wan", "diff_sp_wan",
                         "diff_pb_wan", "differences", "status"],
                order=("differences", False), limit=5000, page=12,
                formats={c: WAN2 for c in ("settled_wan", "paid_wan", "bank_wan", "diff_sp_wan", "diff_pb_wan")})],
         [table("fi_diff_list", "三方对账差异明细", "fund_reconciliation_diff",
                columns=["region_name", "insutype_name", "ym", "side_zh", "fixmedins_code", "pay_id", "txn_id",
                         "expected_amount", "actual_amount", "diff_amount", "reason"],
                order=("abs_diff_wan", False), limit=5000, page=12,
                formats={"expected_amount": NUM2, "actual_amount": NUM2, "diff_amount": NUM2})],
     ], "widths": [[12], [9, 3], [2, 2, 3, 2, 3], [6, 6], [6, 6], [7, 5], [12], [12]],
     "heights": [12, 30, 16, 55, 55, 55, 60, 60]},
    {"key": "trends", "slug": "trends", "title": "参保缴费与就医趋势",
     "filters": [("统筹区", "enrollment_trend", "region_label", None), ("险种", "enrollment_trend", "insutype_name", None)],
     "rows": [
         [md("### 参保缴费与就医趋势\n"
             "**参保**：各月末参保人数（按最新一次交付的参保登记起止日期还原）、新增 / 暂停 / 终止参保与职工、居民险种转换，"
             "在职退休比 = 职工医保在职（在职职工 + 灵活就业）÷ 退休。**缴费**：费款所属期的应缴期数、已缴期数（核心系统已到账或税务已征收）"
             "与到账金额。**异地就医**：按参保地与就医地（统筹区；省外按省）区分本地、省内异地、跨省外出、外省来本省。"
             "**医改指标**：基层就诊率、县域内住院率、门诊人次与出院人次比、住院政策范围内报销比例（无先行自付数据，按医疗费用扣除全自费计）。"
             "**国家下发名单**：逐条核查结果（核实未参保 / 已参保 / 已死亡 / 户籍已迁出或注销 / 未匹配到人员）与核查进度，"
             "回传文件由 yibao national export 按地市生成。统计口径见 dbt_project/README.md D15。", 14)],
         [big("tr_insured", "月末参保人数 (最新月)", "enrollment_trend", "insured", [f_sql("latest_month")], INT),
          big("tr_new", "新增参保 (近24个月)", "enrollment_trend", "new_enrollments", [], INT),
          big("tr_ratio", "在职退休比 (最新月)", "dependency_ratio", "ratio",
              [f_sql("region <> 'ALL'"), f_sql("latest_month")], ".2f"),
          big("tr_payment_rate", "缴费率", "contribution_trend", "payment_rate",
              [f_sql("region <> 'ALL'"), f_sql("psn_type = 'ALL'"), f_sql("emp_type = 'ALL'")], PCT),
          big("tr_elsewhere", "异地就医占比", "cross_region_care", "elsewhere_share", [], PCT),
          big("tr_primary", "基层就诊率", "medical_reform", "primary_share", [f_sql("region <> 'ALL'")], PCT)],
         [line("tr_insured_trend", "月末参保人数 (按险种)", "enrollment_trend", ["insured"], groupby=["insutype_name"],
               fmt=INT),
          line("tr_moves", "新增、暂停、终止与险种转换 (按月)", "enrollment_trend",
               ["new_enrollments", "suspensions", "terminations", "switches_in"], fmt=INT)],
         [line("tr_ratio_trend", "在职退休比 (按统筹区)", "dependency_ratio", ["ratio"], groupby=["region_name"],
               filters=[f_sql("region <> 'ALL'")], fmt=".2f"),
          bar("tr_rate_type", "缴费率 (按人员类别)", "contribution_trend", "psn_type_name", ["payment_rate"],
              filters=[f_sql("region <> 'ALL'"), f_sql("psn_type <> 'ALL'"), f_sql("emp_type = 'ALL'")], fmt=PCT, asc=True,
              bounds=RATE_AXIS)],
         [line("tr_collected", "到账金额 (按险种, 万元)", "contribution_trend", ["collected"], groupby=["insutype_name"],
               filters=[f_sql("region <> 'ALL'"), f_sql("psn_type = 'ALL'"), f_sql("emp_type = 'ALL'")], fmt=WAN2),
          table("tr_contrib_table", "缴费分析 (按费款所属期、险种、统筹区, 含同比 / 环比)", "contribution_trend",
                columns=["accrym", "insutype_name", "region_label", "periods", "paid_periods", "payment_rate",
                         "collected_wan", "collected_amt_mom", "collected_amt_yoy"],
                filters=[f_sql("region <> 'ALL'"), f_sql("psn_type = 'ALL'"), f_sql("emp_type = 'ALL'")], order=("accrym", False),
                limit=2000, page=12,
                formats={"payment_rate": PCT, "collected_wan": WAN2, "collected_amt_mom": PCT, "collected_amt_yoy": PCT})],
         [bar("tr_flow_region", "异地就医结算人次 (按参保地、类型)", "cross_region_care", "insu_region_label",
              ["settlements"], groupby=["flow_name"], filters=[f_sql("flow <> 'LOCAL'")], stacked=True),
          table("tr_flows", "就医流向 (参保地 → 就医地)", "cross_region_care",
                groupby=["insu_region_label", "mdtrt_region_label", "flow_name"],
                metrics=["settlements", "medfee", "fund_ratio"], filters=[f_sql("flow <> 'LOCAL'")],
                order=("settlements", False), limit=500, page=12)],
         [line("tr_reform_trend", "基层就诊率与县域内住院率 (按月)", "medical_reform", ["primary_share", "in_county"],
               filters=[f_sql("region <> 'ALL'")], fmt=PCT, bounds=RATE_AXIS),
          bar("tr_reform_region", "门诊人次与出院人次比 (按统筹区)", "medical_reform", "region_name", ["op_ip_ratio"],
              filters=[f_sql("region <> 'ALL'")], fmt=".2f"),
          bar("tr_policy_region", "住院政策范围内报销比例 (按统筹区)", "medical_reform", "region_name", ["policy_ratio"],
              filters=[f_sql("region <> 'ALL'")], fmt=PCT, asc=True, bounds=RATE_AXIS)],
         [table("tr_disease", "病种费用排名 (最近年度, 按主要诊断)", "disease_cost", groupby=["dise_codg"],
                metrics=["medfee", "settlements", "cost_per"], filters=[f_sql("region <> 'ALL'"), f_sql("latest_year")],
                order=("medfee", False), limit=50, page=12),
          bar("tr_chronic", "门诊慢特病与生育人次 (按统筹区)", "medical_reform", "region_name",
              ["chronic_visits", "maternity_cases"], filters=[f_sql("region <> 'ALL'")])],
         [bar("tr_national", "国家下发未参保名单核查结果 (按地市)", "national_list_progress", "region_label",
              ["uninsured", "enrolled", "dead", "moved", "unmatched"], filters=[f_sql("region <> 'ALL'")], stacked=True),
          table("tr_national_table", "国家下发名单核查进度 (按地市、批次)", "national_list_progress",
                groupby=["region_label", "issue_batch"], metrics=["entries", "labelled", "labelled_share", "unmatched"],
                filters=[f_sql("region <> 'ALL'")], order=("entries", False), limit=500, page=12)],
     ], "widths": [[12], [2, 2, 2, 2, 2, 2], [6, 6], [6, 6], [5, 7], [6, 6], [4, 4, 4], [7, 5], [6, 6]],
     "heights": [14, 16, 50, 50, 55, 55, 50, 60, 50]},
]


# ---------------------------------------------------------------------------------------------------------
def _columns_of_views() -> dict[str, list[tuple[str, str]]]:
    """Columns and types of every serving view, from a read path over an empty warehouse."""
    with tempfile.TemporaryDirectory() as tmp:
        reg = readpath.register(Path(tmp), Path(tmp) / "warehouse")
        con = readpath.connect(Path(tmp))
        out = {}
        for v in reg.serving:
            name = v.split(".", 1)[1]
            out[name] = [(r[0], r[1]) for r in con.execute(f"describe select * from {v}").fetchall()]  # nosec B608 # own view names
        con.close()
    return out


def _dataset_yaml(name: str, cols: list[tuple[str, str]]) -> dict:
    spec = DATASETS[name]
    temporal = [c for c, t in cols if t in ("DATE", "TIMESTAMP")]
    return {
        "table_name": name, "schema": "serving", "catalog": None, "sql": None,
        "main_dttm_col": "month_date" if "month_date" in temporal else (temporal[0] if temporal else None),
        "description": spec["desc"], "default_endpoint": None, "offset": 0, "cache_timeout": None, "params": None,
        "template_params": None, "filter_select_enabled": True, "fetch_values_predicate": None, "extra": None,
        "normalize_columns": False, "always_filter_main_dttm": False,
        "uuid": uid("dataset", name),
        "metrics": [{"metric_name": m, "verbose_name": label, "metric_type": None, "expression": expr,
                     "description": None, "d3format": fmt, "currency": None, "extra": None, "warning_text": None}
                    for m, expr, label, fmt in spec["metrics"]],
        "columns": [{"column_name": c, "verbose_name": LABELS.get(c), "is_dttm": t in ("DATE", "TIMESTAMP"),
                     "is_active": True, "type": t, "advanced_data_type": None, "groupby": True, "filterable": True,
                     "expression": None, "description": None, "python_date_format": None, "extra": None}
                    for c, t in cols],
        "version": "1.0.0", "database_uuid": DB_UUID,
    }


def _chart_yaml(c: Chart, dashboard_id: int) -> dict:
    params = {**c.params, "datasource": f"__{c.ds}__table"}
    params.pop("datasource")
    return {"slice_name": c.title, "description": None, "certified_by": None, "certification_details": None,
            "viz_type": c.viz, "params": params, "query_context": None, "cache_timeout": None, "uuid": c.uuid,
            "version": "1.0.0", "dataset_uuid": uid("dataset", c.ds)}


def _dashboard_yaml(d: dict, cols: dict[str, list[tuple[str, str]]]) -> dict:
    """``cols``: the columns of every serving view (a native filter leaves out the charts whose dataset lacks its
    column)."""
    position: dict = {"DASHBOARD_VERSION_KEY": "v2",
                      "ROOT_ID": {"type": "ROOT", "id": "ROOT_ID", "children": ["GRID_ID"]},
                      "GRID_ID": {"type": "GRID", "id": "GRID_ID", "children": [], "parents": ["ROOT_ID"]},
                      "HEADER_ID": {"id": "HEADER_ID", "type": "HEADER", "meta": {"text": d["title"]}}}
    chart_no = 0
    numbers: dict[str, tuple[int, Chart]] = {}
    for r, (row, widths) in enumerate(zip(d["rows"], d["widths"])):
        rid = f"ROW-{d['key']}-{r}"
        position["GRID_ID"]["children"].append(rid)
        position[rid] = {"type": "ROW", "id": rid, "children": [], "parents": ["ROOT_ID", "GRID_ID"],
                         "meta": {"background": "BACKGROUND_TRANSPARENT"}}
        for i, (item, w) in enumerate(zip(row, widths)):
            if isinstance(item, dict):
                cid = f"MARKDOWN-{d['key']}-{r}-{i}"
                position[cid] = {"type": "MARKDOWN", "id": cid, "children": [], "parents": ["ROOT_ID", "GRID_ID", rid],
                                 "meta": {"width": w, "height": d["heights"][r], "code": item["markdown"]}}
            else:
                chart_no += 1
                numbers[item.key] = (chart_no, item)
                cid = f"CHART-{item.key}"
                position[cid] = {"type": "CHART", "id": cid, "children": [], "parents": ["ROOT_ID", "GRID_ID", rid],
                                 "meta": {"width": w, "height": d["heights"][r], "chartId": chart_no,
                                          "sliceName": item.title, "uuid": item.uuid}}
            position[rid]["children"].append(cid)
    native = []
    ids = {}
    for name, ds, col, parent in d["filters"]:
        fid = "NATIVE_FILTER-" + uid("filter", f"{d['key']}/{name}")[:12]
        ids[name] = fid
        native.append({
            "id": fid, "name": name, "filterType": "filter_select", "type": "NATIVE_FILTER",
            "targets": [{"column": {"name": col}, "datasetUuid": uid("dataset", ds)}],
            "controlValues": {"multiSelect": True, "enableEmptyFilter": False, "defaultToFirstItem": False,
                              "inverseSelection": False, "searchAllOptions": False},
            "defaultDataMask": {"extraFormData": {}, "filterState": {}, "ownState": {}},
            "cascadeParentIds": [ids[parent]] if parent else [],
            "scope": {"rootPath": ["ROOT_ID"], "excluded": [n for n, c in numbers.values()
                                                             if col not in {name for name, _ in cols[c.ds]}]},
            "description": "",
        })
    # a map's click would filter on its polygon column, which no other chart has: its cross-filter reaches no chart
    # (the maps follow the clicks on the other charts and the native filters instead)
    chart_configuration = {str(n): {"id": n, "crossFilters": {"scope": {"rootPath": ["ROOT_ID"],
                                                                        "excluded": sorted(m for m, _ in numbers.values())},
                                                              "chartsInScope": []}}
                           for n, c in numbers.values() if c.viz == "deck_polygon"}
    return {"dashboard_title": d["title"], "description": None, "css": d.get("css", ""), "slug": d["slug"],
            "certified_by": None, "certification_details": None, "published": True, "uuid": uid("dashboard", d["key"]),
            "position": position,
            "metadata": {"native_filter_configuration": native, "chart_configuration": chart_configuration,
                         "color_scheme": "supersetColors",
                         "cross_filters_enabled": True, "refresh_frequency": 0, "expanded_slices": {},
                         "timed_refresh_immune_slices": [], "default_filters": "{}", "shared_label_colors": [],
                         "label_colors": dict(RISK_COLOURS), "color_scheme_domain": []},
            "version": "1.0.0"}


def database_yaml() -> dict:
    return {"database_name": DB_NAME, "sqlalchemy_uri": URI_PLACEHOLDER, "cache_timeout": None,
            "expose_in_sqllab": True, "allow_run_async": False, "allow_ctas": False, "allow_cvas": False,
            "allow_dml": False, "allow_file_upload": False,
            "extra": {"allows_virtual_table_explore": True, "engine_params": {"connect_args": {"read_only": True}}},
            "uuid": DB_UUID, "version": "1.0.0"}


def _dump(path: Path, obj: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(obj, allow_unicode=True, sort_keys=False, width=120), encoding="utf-8")


def write_bundle(target: Path = BUNDLE) -> Path:
    cols = _columns_of_views()
    if target.exists():
        shutil.rmtree(target)
    _dump(target / "metadata.yaml", {"version": "1.0.0", "type": "Dashboard", "timestamp": "2026-11-01T00:00:00+00:00"})
    _dump(target / "databases" / f"{DB_NAME}.yaml", database_yaml())
    used = sorted({c.ds for d in DASHBOARDS for row in d["rows"] for c in row if isinstance(c, Chart)})
    for name in used:
        _dump(target / "datasets" / DB_NAME / f"{name}.yaml", _dataset_yaml(name, cols[name]))
    for n, d in enumerate(DASHBOARDS, 1):
        for row in d["rows"]:
            for c in row:
                if isinstance(c, Chart):
                    _dump(target / "charts" / f"{c.key}.yaml", _chart_yaml(c, n))
        _dump(target / "dashboards" / f"{d['key']}.yaml", _dashboard_yaml(d, cols))
    return target


def check_bundle(committed: Path = BUNDLE) -> list[str]:
    """How ``committed`` differs from the bundle these definitions write (empty: identical, byte for byte)."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = write_bundle(Path(tmp) / "bundle")
        want = {p.relative_to(fresh).as_posix() for p in fresh.rglob("*") if p.is_file()}
        have = {p.relative_to(committed).as_posix() for p in committed.rglob("*") if p.is_file()} \
            if committed.is_dir() else set()
        out = [f"missing (authoring.py writes it): {f}" for f in sorted(want - have)]
        out += [f"not written by authoring.py: {f}" for f in sorted(have - want)]
        out += [f"differs from what authoring.py writes: {f}" for f in sorted(want & have)
                if not filecmp.cmp(fresh / f, committed / f, shallow=False)]
    return out


def main(argv: list[str]) -> int:
    target = Path(argv[argv.index("--bundle") + 1]) if "--bundle" in argv else BUNDLE
    if "--check" in argv:
        diffs = check_bundle(target)
        for d in diffs:
            print(d, file=sys.stderr)
        if diffs:
            print(f"{target} is not what dashboards/authoring.py writes: run "
                  f"python -m yibao.dashboards.authoring", file=sys.stderr)
        return 1 if diffs else 0
    print(write_bundle(target))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
