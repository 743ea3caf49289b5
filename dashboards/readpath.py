"""The read path: one DuckDB file holding a copy of the warehouse's gold and meta tables, and the serving views.

Superset (and anyone with a DuckDB client) opens ``<data_root>/serving/yibao.duckdb`` read-only.  Three schemas:

- ``gold`` and ``meta``: one native DuckDB table per Delta table of ``<warehouse>/gold`` and
  ``<warehouse>/meta``, copied at refresh time (``create table gold.coverage_by_region as select * from
  delta_scan('<warehouse>/gold/coverage_by_region')``: the Delta extension reads the table's current version
  once).  Chart queries then read DuckDB's own columnar storage instead of re-scanning Parquet through the Delta
  extension on every query.  A table the dashboards expect but the pipeline has not produced yet becomes an
  *empty* table with the expected columns, and columns the dashboards expect but a table lacks are added as
  NULL, so that Superset's datasets and charts never fail (they show "no data" instead).
- ``serving``: the views the dashboards read (over those tables): Chinese names of regions and codes joined
  in, ID numbers and names masked, comma lists unnested, and always an ``admdvs`` column where the rows belong
  to a region, which is what row-level security filters on.

:func:`register` rebuilds the file; the pipeline calls it as its last stage (``serving refresh``), so the
dashboards show the data of the last run, and ``yibao serve --refresh`` does it by hand (after a pipeline run
with ``--no-serve``, or when new tables appear).  It writes a new file next to the old one and renames it into
place, so readers that hold the old file open keep reading a consistent snapshot, and no writer lock is ever
needed on the file Superset reads.  ``materialise=False`` keeps the old behaviour (views over ``delta_scan``).
"""

from __future__ import annotations

import csv
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from yibao.faults import checkpoint
from yibao.masking import id_sql, name_sql, raw_line_sql, text_sql
from yibao.regions import divisions as divisions_of

REPO = Path(__file__).resolve().parents[1]
DIVISIONS_SEED = REPO / "dbt_project" / "seeds" / "gbt2260_divisions.csv"
CODE_LIST_SEED = REPO / "dbt_project" / "seeds" / "code_list.csv"
DB_FILE = "yibao.duckdb"

V, BIG, DBL, BOOL, DATE, TS, INT = "VARCHAR", "BIGINT", "DOUBLE", "BOOLEAN", "DATE", "TIMESTAMP", "INTEGER"

# Columns the dashboards rely on, per table (the contract's, section 4, plus what the marts add).
EXPECTED: dict[tuple[str, str], list[tuple[str, str]]] = {
    ("gold", "coverage_by_region"): [
        ("admdvs", V), ("admdvs_name", V), ("level", V), ("reference_date", DATE), ("target_population", BIG),
        ("insured", BIG), ("uninsured", BIG), ("coverage_rate", DBL), ("insured_elsewhere", BIG),
        ("target_male", BIG), ("target_female", BIG), ("insured_male", BIG), ("insured_female", BIG),
        ("uninsured_male", BIG), ("uninsured_female", BIG),
        ("target_age_0_17", BIG), ("target_age_18_59", BIG), ("target_age_60_plus", BIG),
        ("insured_age_0_17", BIG), ("insured_age_18_59", BIG), ("insured_age_60_plus", BIG),
        ("uninsured_age_0_17", BIG), ("uninsured_age_18_59", BIG), ("uninsured_age_60_plus", BIG),
        ("new_enrollments_7d", BIG)],
    ("gold", "uninsured_person"): [
        ("person_id", V), ("certno", V), ("psn_name", V), ("admdvs", V), ("age", INT), ("gend", V),
        ("reason_codes", V), ("in_national_list", BOOL)],
    ("gold", "enrolled_unpaid"): [("person_id", V), ("insutype", V), ("insu_admdvs", V), ("accrym_missing", V)],
    ("gold", "duplicate_enrollment"): [("person_id", V), ("insutypes", V), ("insu_admdvs_list", V), ("kind", V),
                                       ("local_admdvs_list", V)],
    ("gold", "fund_operation"): [
        ("admdvs", V), ("insutype", V), ("ym", V), ("income", DBL), ("expense", DBL), ("cum_balance", DBL),
        ("months_payable", DBL), ("current_surplus_rate", DBL), ("risk_level", V)],
    ("gold", "medical_service_indicators"): [
        ("hosp_lv", V), ("region", V), ("ym", V), ("settlements", BIG), ("inpatient_cases", BIG),
        ("outpatient_visits", BIG), ("medfee_sumamt", DBL), ("hifp_pay", DBL), ("psn_cash_pay", DBL),
        ("cost_per_case", DBL), ("cost_per_visit", DBL), ("fund_payment_ratio", DBL), ("oop_ratio", DBL),
        ("avg_los", DBL), ("readmission_15d_rate", DBL), ("cost_per_case_mom", DBL), ("cost_per_case_yoy", DBL),
        ("avg_los_mom", DBL), ("avg_los_yoy", DBL), ("inpatient_cases_mom", DBL), ("inpatient_cases_yoy", DBL)],
    ("gold", "payment_warning"): [   # dbt_project/models/marts/payment_warning.sql
        ("warning_id", V), ("warning_type", V), ("warning_name", V), ("subject_type", V), ("subject_id", V),
        ("fixmedins_code", V), ("region", V), ("ym", V), ("amount", DBL), ("base_amount", DBL),
        ("change_rate", DBL), ("reason", V), ("setl_ids", V)],
    ("gold", "practitioner_score"): [   # models/fraud/standing.py PRACTITIONER_DDL
        ("year", INT), ("prac_code", V), ("prac_name", V), ("prac_type", V), ("prac_type_name", V),
        ("fixmedins_code", V), ("n_settlements", BIG), ("points", INT), ("raw_points", INT), ("violations", INT),
        ("status", V), ("next_threshold", INT), ("points_to_next", INT), ("suspension_months", INT), ("reasons", V),
        ("updated_at", TS), ("admdvs", V)],
    ("gold", "institution_credit"): [   # models/fraud/standing.py CREDIT_DDL
        ("year", INT), ("fixmedins_code", V), ("fixmedins_name", V), ("score", DBL), ("grade", V),
        ("n_settlements", BIG), ("fund_income", DBL), ("n_violations", INT), ("violation_rate", DBL),
        ("deduct_amt", DBL), ("deduction_ratio", DBL), ("n_audited", INT), ("n_audit_violations", INT),
        ("audit_violation_share", DBL), ("n_warning_settlements", INT), ("warning_rate", DBL), ("r09_hit", BOOL),
        ("r09_confirmed", BOOL), ("d_violation", DBL), ("d_deduction", DBL), ("d_audit", DBL), ("d_warning", DBL),
        ("d_outlier", DBL), ("reasons", V), ("updated_at", TS), ("admdvs", V)],
    ("gold", "fraud_rule_stats"): [   # models/fraud/library.py STATS_DDL
        ("rule_code", V), ("name", V), ("category", V), ("subcategory", V), ("severity", V), ("template", V),
        ("hits", BIG), ("subjects", BIG), ("settlements", BIG), ("amount", DBL), ("judged", BIG), ("confirmed", BIG),
        ("dismissed", BIG), ("precision", DBL), ("first_event", DATE), ("last_event", DATE),
        ("library_version", V), ("scored_at", TS)],
    ("gold", "fraud_rule_trend"): [("rule_code", V), ("name", V), ("ym", V), ("hits", BIG), ("amount", DBL)],
    ("gold", "fraud_suspect"): [   # models/fraud/suspects.py SUSPECT_SCHEMA (status: models/fraud/cases.py)
        ("suspect_id", V), ("subject_type", V), ("subject_id", V), ("subject_name", V), ("region", V),
        ("score", DBL), ("risk_level", V), ("rank", INT), ("rule_codes", V), ("rule_names", V), ("model_score", DBL),
        ("anomaly_score", DBL), ("group_id", V), ("amount", DBL), ("evidence", V), ("explanation", V), ("status", V),
        ("model_version", V), ("scored_at", TS), ("evidence_text", V), ("probability", DBL), ("assignee", V),
        ("deadline", DATE)],
    # the tenders' demonstration analyses (issue 22; dbt marts, _marts_trends.yml)
    ("gold", "enrollment_trend"): [
        ("ym", V), ("region", V), ("region_name", V), ("insutype", V), ("psn_type", V), ("insured", BIG),
        ("new_enrollments", BIG), ("suspensions", BIG), ("terminations", BIG), ("switches_in", BIG),
        ("undated_stops", BIG), ("insured_mom", BIG), ("insured_yoy", BIG), ("insured_mom_rate", DBL),
        ("insured_yoy_rate", DBL)],
    ("gold", "dependency_ratio"): [
        ("ym", V), ("region", V), ("region_name", V), ("working", BIG), ("retirees", BIG), ("ratio", DBL),
        ("ratio_mom", DBL), ("ratio_yoy", DBL)],
    ("gold", "contribution_trend"): [
        ("accrym", V), ("insutype", V), ("region", V), ("region_name", V), ("psn_type", V), ("emp_type", V),
        ("periods", BIG), ("paid_periods", BIG), ("assessed_periods", BIG), ("assessed_amt", DBL),
        ("collected_amt", DBL), ("payment_rate", DBL), ("collected_amt_mom", DBL), ("collected_amt_yoy", DBL),
        ("payment_rate_mom", DBL), ("payment_rate_yoy", DBL)],
    ("gold", "cross_region_care"): [
        ("ym", V), ("insu_region", V), ("insu_region_name", V), ("mdtrt_region", V), ("mdtrt_region_name", V),
        ("flow", V), ("settlements", BIG), ("inpatient_cases", BIG), ("outpatient_visits", BIG),
        ("medfee_sumamt", DBL), ("hifp_pay", DBL), ("acct_pay", DBL), ("psn_cash_pay", DBL),
        ("fund_payment_ratio", DBL)],
    ("gold", "medical_reform_indicators"): [
        ("ym", V), ("region", V), ("region_name", V), ("outpatient_visits", BIG), ("primary_visits", BIG),
        ("primary_visit_share", DBL), ("inpatient_cases", BIG), ("outpatient_discharge_ratio", DBL),
        ("inpatient_hifp_pay", DBL), ("inpatient_policy_cost", DBL), ("inpatient_policy_ratio", DBL),
        ("resident_inpatient_cases", BIG), ("in_county_cases", BIG), ("in_county_admission_rate", DBL),
        ("chronic_visits", BIG), ("chronic_medfee", DBL), ("chronic_hifp_pay", DBL), ("maternity_cases", BIG),
        ("maternity_medfee", DBL), ("maternity_hifp_pay", DBL)],
    # the fund forecast (issue 22; models/forecast, dbt _marts_forecast.yml): absent until the forecast stage ran
    ("gold", "fund_forecast"): [
        ("admdvs", V), ("insutype", V), ("ym", V), ("months_ahead", INT), ("income", DBL), ("expense", DBL),
        ("expense_trend", DBL), ("cum_balance", DBL), ("months_payable", DBL), ("current_surplus_rate", DBL),
        ("risk_level", V), ("cum_balance_p10", DBL), ("cum_balance_p90", DBL), ("method", V), ("horizon_months", INT),
        ("ageing_share_growth", DBL), ("elderly_cost_ratio", DBL)],
    ("gold", "fund_forecast_warning"): [
        ("admdvs", V), ("insutype", V), ("method", V), ("reason", V), ("actual_ym", V), ("actual_risk_level", V),
        ("first_warning_ym", V), ("first_warning_level", V), ("months_to_warning", INT), ("warning_ahead", BOOL),
        ("worst_risk_level", V), ("exhaustion_ym", V), ("end_months_payable", DBL), ("horizon_months", INT),
        ("ageing_share_base", DBL), ("ageing_share_growth", DBL), ("elderly_cost_ratio", DBL), ("backtest_months", INT)],
    ("gold", "fund_forecast_backtest"): [
        ("admdvs", V), ("insutype", V), ("measure", V), ("months", INT), ("mape", DBL), ("mape_naive", DBL)],
    ("gold", "national_list_progress"): [
        ("region", V), ("region_name", V), ("issue_batch", V), ("entries", BIG), ("uninsured", BIG), ("enrolled", BIG),
        ("dead", BIG), ("moved", BIG), ("unmatched", BIG), ("labelled", BIG), ("stale", BIG), ("labelled_share", DBL)],
    ("gold", "disease_cost"): [
        ("year", INT), ("region", V), ("region_name", V), ("dise_codg", V), ("settlements", BIG),
        ("inpatient_cases", BIG), ("medfee_sumamt", DBL), ("hifp_pay", DBL), ("psn_cash_pay", DBL),
        ("cost_per_settlement", DBL), ("cost_share", DBL), ("rank_by_cost", INT), ("is_top_n", BOOL)],
    # contract section 6 (issue 18): payment reform, prices and 集采 (dbt marts, _marts_reform.yml)
    ("gold", "section6_delivery"): [
        ("source", V), ("table_name", V), ("table_zh", V), ("area", V), ("rows", BIG), ("delivered", BOOL),
        ("status", V)],
    ("gold", "drg_case"): [
        ("setl_id", V), ("person_id", V), ("fixmedins_code", V), ("admdvs", V), ("year", INT), ("drg_codg", V),
        ("drg_name", V), ("weight", DBL), ("dip_codg", V), ("dip_score", DBL), ("ipt_days", INT),
        ("medfee_sumamt", DBL), ("hifp_pay", DBL), ("group_avg_cost", DBL), ("group_avg_days", DBL),
        ("cost_ratio", DBL), ("outlier", V), ("is_upcoding_suspect", BOOL), ("upcoding_evidence", V)],
    ("gold", "drg_institution_year"): [
        ("fixmedins_code", V), ("fixmedins_name", V), ("admdvs", V), ("year", INT), ("cases", BIG),
        ("cases_with_weight", BIG), ("total_weight", DBL), ("cmi", DBL), ("cost_index", DBL), ("time_index", DBL), ("high_outlier_cases", BIG),
        ("low_outlier_cases", BIG), ("upcoding_cases", BIG), ("medfee_sumamt", DBL)],
    ("gold", "dip_point_value"): [
        ("admdvs", V), ("year", INT), ("cases", BIG), ("total_score", DBL), ("budget", DBL), ("point_value", DBL)],
    ("gold", "dip_clearing"): [
        ("admdvs", V), ("year", INT), ("fixmedins_code", V), ("fixmedins_name", V), ("cases", BIG),
        ("total_score", DBL), ("point_value", DBL), ("clearing_amount", DBL), ("paid_amount", DBL),
        ("clearing_diff", DBL)],
    ("gold", "price_violation"): [
        ("feedetl_sn", V), ("setl_id", V), ("person_id", V), ("fixmedins_code", V), ("fixmedins_name", V),
        ("admdvs", V), ("fee_date", DATE), ("med_list_codg", V), ("list_name", V), ("cnt", DBL), ("pric", DBL),
        ("pric_uplmt", DBL), ("excess_amount", DBL)],
    ("gold", "price_trend"): [
        ("med_list_codg", V), ("list_name", V), ("ym", V), ("lines", BIG), ("qty", DBL), ("amount", DBL),
        ("avg_pric", DBL), ("min_pric", DBL), ("max_pric", DBL), ("pric_uplmt", DBL), ("over_ceiling_lines", BIG),
        ("amount_rank", BIG)],
    ("gold", "institution"): [
        ("fixmedins_code", V), ("fixmedins_name", V), ("fixmedins_type", V), ("hosp_lv", V), ("admdvs", V),
        ("pooling_region", V)],
    ("gold", "vbp_completion"): [
        ("fixmedins_code", V), ("fixmedins_name", V), ("admdvs", V), ("year", INT), ("med_list_codg", V),
        ("list_name", V), ("agreed_qty", DBL), ("purc_qty", DBL), ("purc_amt", DBL), ("completion_rate", DBL),
        ("months", INT), ("expected_rate", DBL), ("progress", DBL), ("is_under", BOOL)],
    # medical assistance and fund finance (dbt marts, _marts_finance.yml)
    ("gold", "assistance_beneficiary"): [
        ("admdvs", V), ("aid_type", V), ("aid_type_name", V), ("year", INT), ("beneficiaries", BIG),
        ("insured", BIG), ("uninsured", BIG), ("settlements", BIG), ("medfee_sumamt", DBL), ("basic_pay", DBL),
        ("serious_pay", DBL), ("maf_one_stop", DBL), ("maf_manual", DBL), ("other_pay", DBL),
        ("psn_cash_pay", DBL), ("one_stop_share", DBL)],
    ("gold", "assistance_duplicate"): [
        ("pay_id", V), ("person_id", V), ("certno", V), ("setl_id", V), ("admdvs", V), ("aid_type", V),
        ("amount", DBL), ("pay_date", DATE), ("one_stop_maf_pay", DBL), ("kind", V), ("kind_zh", V),
        ("first_pay_id", V)],
    ("gold", "fund_income_expense"): [
        ("admdvs", V), ("insutype", V), ("ym", V), ("direction", V), ("direction_name", V), ("item_type", V),
        ("item_name", V), ("amount", DBL), ("share_of_direction", DBL), ("yoy_amount", DBL), ("yoy_rate", DBL)],
    ("gold", "fund_reconciliation"): [
        ("admdvs", V), ("insutype", V), ("ym", V), ("settled_amount", DBL), ("paid_amount", DBL),
        ("bank_amount", DBL), ("diff_settlement_payment", DBL), ("diff_payment_bank", DBL), ("differences", BIG),
        ("status", V)],
    ("gold", "fund_reconciliation_diff"): [
        ("admdvs", V), ("insutype", V), ("ym", V), ("side", V), ("side_zh", V), ("fixmedins_code", V),
        ("pay_id", V), ("txn_id", V), ("expected_amount", DBL), ("actual_amount", DBL), ("diff_amount", DBL),
        ("reason", V)],
    ("meta", "quality_score"): [
        ("run_id", V), ("run_time", TS), ("layer", V), ("source", V), ("batch_id", V), ("tables", INT),
        ("expectations", INT), ("passed", INT), ("blocking_failed", INT), ("warning_failed", INT),
        ("pass_rate", DBL), ("score", DBL), ("status", V)],
    ("meta", "quality_result"): [
        ("run_id", V), ("run_time", TS), ("layer", V), ("schema", V), ("table", V), ("source", V),
        ("source_table", V), ("batch_id", V), ("rule", V), ("expectation", V), ("column", V), ("severity", V),
        ("title", V), ("success", BOOL), ("unexpected_count", BIG), ("unexpected_percent", DBL),
        ("rows_checked", BIG), ("dimension", V)],
    # quality/run.py DIMENSION_DDL: GB/T 36344 dimension scores per layer x source x table x batch, per run
    ("meta", "quality_dimension"): [
        ("run_id", V), ("run_time", TS), ("layer", V), ("source", V), ("table", V), ("batch_id", V),
        ("dimension", V), ("dimension_zh", V), ("expectations", INT), ("failed", INT), ("rows_checked", BIG),
        ("bad_rows", BIG), ("score", DBL)],
    # quality/run.py HOLD_CURRENT_DDL: what is held after the last bronze run (kind door | gate | waiting)
    ("meta", "quality_hold_current"): [
        ("kind", V), ("source", V), ("source_table", V), ("batch_id", V), ("reason", V), ("decide", V),
        ("as_of", TS)],
    # yibao/decisions.py DDL: the stewards' decisions, appended (the latest per table and batch is in force)
    ("meta", "steward_decision"): [
        ("decision_id", V), ("decided_at", TS), ("decided_by", V), ("action", V), ("source", V),
        ("source_table", V), ("batch_id", V), ("reason", V)],
    # ingestion/bronze.py QUARANTINE_DDL; rule: ingest.parse | ingest.superseded | gate.reference.<cols> |
    # gate.waiting.<cols> (NULL on rows written before the column existed: ingestion's)
    ("meta", "quarantine"): [
        ("source", V), ("source_table", V), ("batch_id", V), ("file", V), ("line_number", BIG), ("reason", V),
        ("raw_line", V), ("ingest_time", TS), ("rule", V)],
    ("meta", "ingest_log"): [
        ("source", V), ("batch_id", V), ("source_table", V), ("file", V), ("mode", V), ("status", V),
        ("rows_read", BIG), ("rows_landed", BIG), ("rows_quarantined", BIG), ("rows_deleted", BIG),
        ("reason", V), ("finished_at", TS)],
}


def _seed_codes() -> dict[str, dict[str, str]]:
    """{code_type: {code: name}} of the code_list seed: the one home of the contract's code lists and names."""
    out: dict[str, dict[str, str]] = {}
    with CODE_LIST_SEED.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            out.setdefault(row["code_type"], {})[row["code"]] = row["name"]
    return out


_SEED = _seed_codes()

# Codes shown in Chinese.  The contract's code lists (section 3), the uninsured reasons, the kinds of duplicate
# enrollment and the rule codes (section 5) come from the code_list seed; the rest are the serving layer's own
# labels (pipeline stages, quality terms, review statuses).
CODES: dict[str, dict[str, str]] = {
    "gend": _SEED["gend"],
    "insutype": _SEED["insutype"],
    "reason": _SEED["uninsured_reason"],
    "dup_kind": _SEED["dup_kind"],
    "hosp_lv": {**_SEED["hosp_lv"], "ALL": "全部等级"},      # ALL: medical_service_indicators' roll-up rows
    "rule": {**_SEED["violation_code"], "MODEL": "模型评分"},  # MODEL: a suspect found by the model alone
    "subject_type": _SEED["subject_type"],    # subjects of suspects and payment warnings
    # gold.fraud_suspect writes the Chinese statuses (待核查 / 已分派 / 核查中 / 已提交 / 已确认 / 已排除), which
    # pass through unchanged
    "status": {"new": "待核查", "open": "待核查", "pending": "待核查", "assigned": "已分派", "in_review": "核查中",
               "reviewing": "核查中", "submitted": "已提交", "confirmed": "已确认", "dismissed": "已排除", "excluded": "已排除"},
    "source": {"medins": "医保核心业务系统", "national": "国家医保信息平台", "police": "公安",
               "civil_affairs": "民政", "tax": "税务", "health": "卫健", "hrss": "人社"},
    "risk_order": {"严重": "4", "中等": "3", "一般": "2", "正常": "1"},
    "level": {"province": "全省", "city": "地市", "county": "区县", "pool": "统筹区"},
    # the quality gate (quality/README.md, "Severities and the gate"; yibao/decisions.py)
    "hold_kind": {"door": "接收暂停 (未入湖)", "gate": "发布暂停 (未进入标准层)", "waiting": "等待上级批次"},
    "decision": {"release": "放行", "hold": "暂停"},
    "layer": {"bronze": "贴源层", "silver": "标准层", "gold": "发布层"},
    "severity": {"blocking": "阻断", "warning": "警告"},
    # GB/T 36344 dimensions, in the standard's order (quality/suites.py DIMENSIONS)
    "dimension": {"completeness": "完整性", "validity": "规范性", "consistency": "一致性", "uniqueness": "唯一性",
                  "timeliness": "时效性", "accuracy": "准确性"},
    # classes of meta.quarantine.rule (serving.quarantine rule_class)
    "rule_class": {"parse": "解析失败", "superseded": "同批重复键", "orphan": "孤儿记录", "waiting": "等待上级批次",
                   "other": "其他"},
    # contract section 6 (issue 18)
    "aid_type": _SEED["aid_type"],
    "fund_direction": _SEED["fund_direction"],
    # trends and the tenders' demonstration analyses (issue 22)
    "psn_type": {**_SEED["psn_type"], "ALL": "全部人员类别", "UNKNOWN": "未知"},
    "care_flow": _SEED["care_flow"],
}
CODES["risk_name"] = {order: level for level, order in CODES["risk_order"].items()}   # the map's risk_order back


def case(expr: str, code_type: str, default: str | None = None) -> str:
    """A SQL CASE mapping ``expr`` through ``CODES[code_type]`` (lower-cased keys match case-insensitively)."""
    items = CODES[code_type]
    whens = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in items.items())
    key = f"lower(CAST({expr} AS VARCHAR))" if any(k.islower() for k in items) else f"CAST({expr} AS VARCHAR)"
    return f"(CASE {key} {whens} ELSE {default if default else f'CAST({expr} AS VARCHAR)'} END)"


def names_list(expr: str, code_type: str) -> str:
    """Map every code of a comma list to its Chinese name, keeping the list (``'A,B'`` -> ``'甲、乙'``)."""
    return (f"array_to_string(list_transform(string_split(coalesce(CAST({expr} AS VARCHAR), ''), ','), "
            f"x -> {case('trim(x)', code_type, 'trim(x)')}), '、')")


def beijing(expr: str) -> str:
    """A warehouse timestamp (UTC: Delta's ``timestamp``, read as TIMESTAMPTZ) as Beijing wall-clock time."""
    return f"timezone('Asia/Shanghai', CAST({expr} AS TIMESTAMPTZ))"


# Joined onto any view with an ``admdvs``: the division's own name and its city and county.
GEO_JOIN = """
left join serving.division _d on _d.code = {a}
left join serving.division _dc on _dc.code = substr({a}, 1, 4) || '00'
"""
GEO_COLS = """
coalesce(_d.name, {a}) as region_name,
coalesce(_dc.name, substr({a}, 1, 4) || '00') as city_name,
case when coalesce(_d.level, 3) = 3 and right({a}, 2) <> '00' then coalesce(_d.name, {a}) end as county_name
"""


def _geo(alias_col: str) -> tuple[str, str]:
    return GEO_COLS.format(a=alias_col), GEO_JOIN.format(a=alias_col)


def _inst_geo(code_col: str, fallback_col: str) -> tuple[str, str, str]:
    """Region columns of an institution-level row, placed in the institution's own division (gold.institution:
    the county it stands in) instead of its pooling region; ``fallback_col`` when the registry does not know it.
    Returns (admdvs expression, region columns, joins)."""
    a = f"coalesce(_i.admdvs, {fallback_col})"
    joins = f"left join gold.institution _i on _i.fixmedins_code = {code_col}" + GEO_JOIN.format(a=a)
    return a, GEO_COLS.format(a=a), joins


def serving_views() -> dict[str, str]:
    """The SQL of every ``serving.*`` view, in creation order."""
    v: dict[str, str] = {}
    g, j = _geo("c.admdvs")
    v["coverage"] = f"""
        select c.*, coalesce(c.admdvs_name, _d.name, c.admdvs) as region_name, {case('c.level', 'level')} as level_name,
               case when c.level in ('city', 'county') then coalesce(_dc.name, substr(c.admdvs, 1, 4) || '00') end as city_name,
               case when c.level = 'county' then coalesce(c.admdvs_name, _d.name, c.admdvs) end as county_name,
               CAST(c.insured AS DOUBLE) / nullif(c.target_population, 0) as coverage_ratio
        from gold.coverage_by_region c {j}"""
    age_band = ("case when u.age < 18 then '0-17岁' when u.age < 60 then '18-59岁' when u.age is not null "
                "then '60岁及以上' else '未知' end")
    g, j = _geo("u.admdvs")
    v["uninsured_person"] = f"""
        select u.person_id, {id_sql('u.certno')} as certno_masked,
               {name_sql('u.psn_name')} as psn_name_masked, u.admdvs, {g},
               u.age, {age_band} as age_band, {case('u.gend', 'gend', "'未说明'")} as gend_name,
               u.reason_codes, {names_list('u.reason_codes', 'reason')} as reason_names,
               CAST(u.in_national_list AS BOOLEAN) as in_national_list,
               case when CAST(u.in_national_list AS BOOLEAN) then '国家下发名单' else '本省比对发现' end as list_origin
        from gold.uninsured_person u {j}"""
    v["uninsured_reason"] = f"""
        select u.person_id, u.admdvs, u.region_name, u.city_name, u.county_name, u.age_band, u.gend_name,
               r.reason_code, {case('r.reason_code', 'reason')} as reason_name
        from serving.uninsured_person u,
             (select unnest(string_split(coalesce(nullif(u2.reason_codes, ''), 'NEVER_ENROLLED'), ',')) as reason_code,
                     u2.person_id as pid from gold.uninsured_person u2) r
        where r.pid = u.person_id"""
    g, j = _geo("e.insu_admdvs")
    months = ("len(string_split(nullif(regexp_replace(CAST(e.accrym_missing AS VARCHAR), '[\\[\\]\\s'']', '', 'g'), ''), ','))")
    v["enrolled_unpaid"] = f"""
        select e.person_id, e.insutype, {case('e.insutype', 'insutype')} as insutype_name, e.insu_admdvs as admdvs, {g},
               CAST(e.accrym_missing AS VARCHAR) as accrym_missing, coalesce({months}, 0) as months_missing
        from gold.enrolled_unpaid e {j}"""
    g, j = _geo("x.admdvs")
    # a row belongs to the province's divisions it involves (local_admdvs_list): a cross-province duplicate also
    # lists the other province's division in insu_admdvs_list, which no region of this province filters on
    v["duplicate_enrollment"] = f"""
        with x as (
            select d.person_id, d.insutypes, d.kind, d.insu_admdvs_list,
                   unnest(string_split(coalesce(CAST(d.local_admdvs_list AS VARCHAR),
                                                CAST(d.insu_admdvs_list AS VARCHAR), ''), ',')) as admdvs
            from gold.duplicate_enrollment d)
        select x.person_id, x.insutypes, {names_list('x.insutypes', 'insutype')} as insutypes_name,
               x.kind, {case('x.kind', 'dup_kind')} as kind_name, x.insu_admdvs_list, trim(x.admdvs) as admdvs, {g}
        from x {j}"""
    g, j = _geo("f.admdvs")
    v["fund_operation"] = f"""
        select f.*, coalesce(_d.name, f.admdvs) as region_name, {case('f.insutype', 'insutype')} as insutype_name,
               strptime(CAST(f.ym AS VARCHAR) || '01', '%Y%m%d')::DATE as month_date,
               f.income / 10000.0 as income_wan, f.expense / 10000.0 as expense_wan,
               f.cum_balance / 10000.0 as balance_wan,
               CAST({case('f.risk_level', 'risk_order', "'0'")} AS INTEGER) as risk_order
        from gold.fund_operation f {j}"""
    v["fund_risk_latest"] = """
        select f.* from serving.fund_operation f
        where f.ym = (select max(f2.ym) from gold.fund_operation f2
                      where f2.admdvs = f.admdvs and f2.insutype = f.insutype)"""
    g, j = _geo("m.region")
    v["medical_service"] = f"""
        select m.*, m.region as admdvs,
               case when m.region = 'ALL' then '全省' else coalesce(_d.name, m.region) end as region_name,
               {case('m.hosp_lv', 'hosp_lv')} as hosp_lv_name,
               strptime(CAST(m.ym AS VARCHAR) || '01', '%Y%m%d')::DATE as month_date
        from gold.medical_service_indicators m {j}"""
    a, g, j = _inst_geo("case when s.subject_type = 'institution' then s.subject_id end", "s.region")
    v["fraud_suspect"] = f"""
        select s.suspect_id, s.subject_type, {case('s.subject_type', 'subject_type')} as subject_type_name,
               s.subject_id,
               case when s.subject_type = 'person' then {name_sql('s.subject_name')} else s.subject_name end
                   as subject_name_masked,
               s.score, s.probability, s.risk_level,
               case s.risk_level when '高' then 3 when '中' then 2 when '低' then 1 else 0 end as risk_order,
               s.rule_codes, coalesce(nullif(s.rule_names, ''), {names_list('s.rule_codes', 'rule')}) as rule_names,
               s.model_score, s.group_id, s.amount, CAST(s.evidence_text AS VARCHAR) as evidence, s.status,
               {case('s.status', 'status')} as status_name, s.assignee, s.deadline,
               -- a case past its deadline while still open (models/fraud/cases.py OPEN)
               case when s.deadline < current_date and s.status in ('已分派', '核查中', '已提交') then 1 else 0 end
                   as overdue,
               case when s.deadline < current_date and s.status in ('已分派', '核查中', '已提交')
                    then date_diff('day', s.deadline, current_date) else 0 end as days_overdue,
               {a} as admdvs, {g}
        from gold.fraud_suspect s {j}"""
    v["fraud_suspect_rule"] = f"""
        select s.suspect_id, s.subject_type_name, s.risk_level, s.status_name, s.score, s.admdvs, s.region_name,
               trim(r.rule_code) as rule_code,
               coalesce(lib.name, {case('trim(r.rule_code)', 'rule')}) as rule_name
        from serving.fraud_suspect s,
             (select suspect_id as sid, unnest(string_split(coalesce(CAST(rule_codes AS VARCHAR), ''), ',')) as rule_code
              from gold.fraud_suspect) r
        left join gold.fraud_rule_stats lib on lib.rule_code = trim(r.rule_code)
        where r.sid = s.suspect_id and trim(r.rule_code) <> ''"""
    # payment warnings (dbt mart payment_warning) and the standing of practitioners and institutions
    # (models/fraud/standing.py), each row in the region it belongs to
    a, g, j = _inst_geo("w.fixmedins_code", "w.region")
    v["payment_warning"] = f"""
        select w.warning_id, w.warning_type, w.warning_name, {case('w.subject_type', 'subject_type')} as subject_type_name,
               w.subject_id, w.fixmedins_code, w.ym, w.amount, w.base_amount, w.change_rate, w.reason, w.setl_ids,
               {a} as admdvs, {g}
        from gold.payment_warning w {j}"""
    a, g, j = _inst_geo("p.fixmedins_code", "p.admdvs")
    v["practitioner_score"] = f"""
        select p.year, p.prac_code, p.prac_name, p.prac_type_name, p.fixmedins_code, p.n_settlements, p.points,
               p.violations, p.status as prac_status, p.next_threshold, p.points_to_next, p.suspension_months,
               p.reasons, {a} as admdvs, p.admdvs as pooling_region, {g}
        from gold.practitioner_score p {j}"""
    a, g, j = _inst_geo("c.fixmedins_code", "c.admdvs")
    v["institution_credit"] = f"""
        select c.year, c.fixmedins_code, c.fixmedins_name, c.score as credit_score, c.grade, c.n_settlements,
               c.fund_income, c.n_violations, c.deduct_amt, c.audit_violation_share, c.warning_rate, c.r09_hit,
               c.reasons, {a} as admdvs, c.admdvs as pooling_region, {g}
        from gold.institution_credit c {j}"""
    # the rule library's record (models/fraud/library.py): every rule, its hits and precision, and its trend
    v["fraud_rule_stats"] = """
        select rule_code, name as rule_name, category, subcategory, severity, template, hits, subjects, settlements,
               amount, judged, confirmed, dismissed, precision, first_event, last_event, library_version
        from gold.fraud_rule_stats"""
    v["fraud_rule_trend"] = """
        select t.rule_code, t.name as rule_name, t.ym, t.hits, t.amount,
               strptime(CAST(t.ym AS VARCHAR) || '01', '%Y%m%d')::DATE as month_date
        from gold.fraud_rule_trend t"""
    # ---- trends and the tenders' demonstration analyses (issue 22; dbt_project/README.md D15) ----
    # region-level rows carry the pooling region as admdvs (row-level security); 'ALL' rows are the province
    month = "strptime(CAST({c} AS VARCHAR) || '01', '%Y%m%d')::DATE"
    v["enrollment_trend"] = f"""
        select t.*, t.region as admdvs, coalesce(t.region_name, t.region) as region_label,
               {case('t.insutype', 'insutype')} as insutype_name, {case('t.psn_type', 'psn_type', "'未知'")} as psn_type_name,
               {month.format(c='t.ym')} as month_date,
               max(t.ym) over () = t.ym as latest_month
        from gold.enrollment_trend t"""
    v["dependency_ratio"] = f"""
        select d.*, d.region as admdvs, {month.format(c='d.ym')} as month_date, max(d.ym) over () = d.ym as latest_month
        from gold.dependency_ratio d"""
    v["contribution_trend"] = f"""
        select c.*, c.region as admdvs, coalesce(c.region_name, c.region) as region_label,
               {case('c.insutype', 'insutype')} as insutype_name, {case('c.psn_type', 'psn_type', "'未知'")} as psn_type_name,
               CAST(c.collected_amt AS DOUBLE) / 10000.0 as collected_wan,
               CAST(c.assessed_amt AS DOUBLE) / 10000.0 as assessed_wan,
               {month.format(c='c.accrym')} as month_date
        from gold.contribution_trend c"""
    v["cross_region_care"] = f"""
        select c.*, c.insu_region as admdvs, coalesce(c.insu_region_name, c.insu_region) as insu_region_label,
               coalesce(c.mdtrt_region_name, c.mdtrt_region) as mdtrt_region_label,
               {case('c.flow', 'care_flow')} as flow_name,
               CAST(c.medfee_sumamt AS DOUBLE) / 10000.0 as medfee_wan, CAST(c.hifp_pay AS DOUBLE) / 10000.0 as hifp_wan,
               {month.format(c='c.ym')} as month_date
        from gold.cross_region_care c"""
    v["medical_reform"] = f"""
        select m.*, m.region as admdvs, {month.format(c='m.ym')} as month_date
        from gold.medical_reform_indicators m"""
    g, j = _geo("f.admdvs")
    v["fund_forecast"] = f"""
        select f.*, {g}, {case('f.insutype', 'insutype')} as insutype_name,
               CAST(f.cum_balance AS DOUBLE) / 10000.0 as balance_wan,
               {month.format(c='f.ym')} as month_date
        from gold.fund_forecast f {j}"""
    g, j = _geo("w.admdvs")
    # the assumptions and the backtest beside each pooling region's warning (models/forecast/README.md)
    v["fund_forecast_warning"] = f"""
        select w.*, {g}, {case('w.insutype', 'insutype')} as insutype_name,
               b.mape as backtest_mape, b.mape_naive as backtest_mape_naive,
               '预测' || CAST(w.horizon_months AS VARCHAR) || '个月；60岁及以上参保人占比每年增加'
                   || CAST(round(w.ageing_share_growth * 100, 2) AS VARCHAR) || '个百分点（基期 '
                   || CAST(round(w.ageing_share_base * 100, 1) AS VARCHAR) || '%）；60岁及以上人均支出为60岁以下的'
                   || CAST(w.elderly_cost_ratio AS VARCHAR) || '倍；回测留出最近'
                   || CAST(w.backtest_months AS VARCHAR) || '个月' as assumptions
        from gold.fund_forecast_warning w
        left join gold.fund_forecast_backtest b
          on b.admdvs = w.admdvs and b.insutype = w.insutype and b.measure = 'expense' {j}"""
    v["national_list_progress"] = """
        select p.*, p.region as admdvs, coalesce(p.region_name, p.region) as region_label
        from gold.national_list_progress p"""
    v["disease_cost"] = f"""
        select d.*, d.region as admdvs, CAST(d.medfee_sumamt AS DOUBLE) / 10000.0 as medfee_wan,
               max(d.year) over () = d.year as latest_year
        from gold.disease_cost d"""
    # ---- contract section 6 (issue 18): payment reform, prices and 集采, medical assistance, fund finance ----
    # what each producer delivered of section 6 (no admdvs: the same for every region)
    v["section6_delivery"] = f"""
        select d.source, {case('d.source', 'source')} as source_name, d.table_name, d.table_zh, d.area, d."rows",
               CAST(d.delivered AS BOOLEAN) as delivered, d.status,
               case when CAST(d.delivered AS BOOLEAN) then 1 else 0 end as delivered_order
        from gold.section6_delivery d"""
    # institution-level rows (section 6) sit in the institution's own division (_inst_geo); pooling_region keeps
    # the gold table's admdvs
    a, g, j = _inst_geo("i.fixmedins_code", "i.admdvs")
    v["drg_institution"] = f"""
        select i.fixmedins_code, coalesce(i.fixmedins_name, i.fixmedins_code) as fixmedins_name, {a} as admdvs,
               i.admdvs as pooling_region, {g},
               i.year, i.cases, i.cases_with_weight, i.total_weight, i.cmi, i.cost_index, i.time_index, i.high_outlier_cases,
               i.low_outlier_cases, i.upcoding_cases, i.medfee_sumamt, i.medfee_sumamt / 10000.0 as medfee_wan
        from gold.drg_institution_year i {j}"""
    a, g, j = _inst_geo("c.fixmedins_code", "c.admdvs")
    v["drg_case"] = f"""
        select c.setl_id, c.person_id, c.fixmedins_code, coalesce(n.fixmedins_name, c.fixmedins_code) as fixmedins_name,
               {a} as admdvs, c.admdvs as pooling_region, {g}, c.year, c.drg_codg, c.drg_name, c.weight, c.dip_codg,
               c.dip_score, c.ipt_days,
               c.medfee_sumamt, c.hifp_pay, c.group_avg_cost, c.group_avg_days, c.cost_ratio,
               coalesce(c.outlier, '正常') as outlier_name, CAST(c.is_upcoding_suspect AS BOOLEAN) as is_upcoding_suspect,
               c.upcoding_evidence
        from gold.drg_case c
        left join (select fixmedins_code, max(fixmedins_name) as fixmedins_name from gold.drg_institution_year
                   group by fixmedins_code) n on n.fixmedins_code = c.fixmedins_code {j}"""
    g, j = _geo("p.admdvs")
    v["dip_point_value"] = f"""
        select p.admdvs, {g}, p.year, p.cases, p.total_score, p.budget, p.budget / 10000.0 as budget_wan, p.point_value
        from gold.dip_point_value p {j}"""
    a, g, j = _inst_geo("c.fixmedins_code", "c.admdvs")
    v["dip_clearing"] = f"""
        select {a} as admdvs, c.admdvs as pooling_region, {g}, c.year, c.fixmedins_code,
               coalesce(c.fixmedins_name, c.fixmedins_code) as fixmedins_name,
               c.cases, c.total_score, c.point_value, c.clearing_amount, c.paid_amount, c.clearing_diff,
               c.clearing_amount / 10000.0 as clearing_wan, c.paid_amount / 10000.0 as paid_wan,
               c.clearing_diff / 10000.0 as clearing_diff_wan
        from gold.dip_clearing c {j}"""
    a, g, j = _inst_geo("p.fixmedins_code", "p.admdvs")
    v["price_violation"] = f"""
        select p.feedetl_sn, p.setl_id, p.person_id, p.fixmedins_code,
               coalesce(p.fixmedins_name, p.fixmedins_code) as fixmedins_name, {a} as admdvs,
               p.admdvs as pooling_region, {g},
               CAST(p.fee_date AS DATE) as fee_date, p.med_list_codg, coalesce(p.list_name, p.med_list_codg) as list_name,
               p.cnt, p.pric, p.pric_uplmt, p.excess_amount, p.excess_amount / 10000.0 as excess_wan
        from gold.price_violation p {j}"""
    # the most-used items of the province (no admdvs: province-wide prices, the same for every region)
    v["price_trend"] = """
        select t.med_list_codg, coalesce(t.list_name, t.med_list_codg) as list_name, t.ym,
               strptime(CAST(t.ym AS VARCHAR) || '01', '%Y%m%d')::DATE as month_date, t.lines, t.qty,
               t.amount as fee_amount,
               t.amount / 10000.0 as amount_wan, t.avg_pric, t.min_pric, t.max_pric, t.pric_uplmt,
               t.over_ceiling_lines, t.amount_rank
        from gold.price_trend t"""
    a, g, j = _inst_geo("c.fixmedins_code", "c.admdvs")
    v["vbp_completion"] = f"""
        select c.fixmedins_code, coalesce(c.fixmedins_name, c.fixmedins_code) as fixmedins_name, {a} as admdvs,
               c.admdvs as pooling_region, {g},
               c.year, c.med_list_codg, coalesce(c.list_name, c.med_list_codg) as list_name, c.agreed_qty,
               c.purc_qty, c.purc_amt, c.purc_amt / 10000.0 as purc_wan, c.completion_rate, c.months, c.expected_rate,
               c.progress,
               CAST(c.is_under AS BOOLEAN) as is_under,
               case when CAST(c.is_under AS BOOLEAN) then '进度不足' else '进度正常' end as under_name,
               case when c.completion_rate is null then '未知'
                    when c.completion_rate < 0.5 then '完成率低于50%'
                    when c.completion_rate < 0.8 then '完成率50%-80%'
                    when c.completion_rate < 1 then '完成率80%-100%'
                    else '完成率100%及以上' end as completion_band
        from gold.vbp_completion c {j}"""
    g, j = _geo("a.admdvs")
    v["assistance_beneficiary"] = f"""
        select a.admdvs, {g}, a.aid_type, coalesce(a.aid_type_name, {case('a.aid_type', 'aid_type')}) as aid_type_name,
               a.year, a.year = max(a.year) over () as latest_year, a.beneficiaries, a.insured, a.uninsured,
               a.settlements, a.medfee_sumamt, a.basic_pay, a.serious_pay, a.maf_one_stop, a.maf_manual, a.other_pay,
               a.psn_cash_pay, a.one_stop_share, a.medfee_sumamt / 10000.0 as medfee_wan
        from gold.assistance_beneficiary a {j}"""
    # the same costs, one row per fund (who paid how much of the beneficiaries' costs)
    funds = [("basic_pay", 1, "基本医保"), ("serious_pay", 2, "大病保险/大额补助/公务员补助"),
             ("maf_one_stop", 3, "医疗救助(一站式)"), ("maf_manual", 4, "医疗救助(手工报销)"),
             ("other_pay", 5, "其他"), ("psn_cash_pay", 6, "个人自付")]
    v["assistance_fund_share"] = "\n        union all\n".join(
        f"""
        select a.admdvs, a.region_name, a.city_name, a.county_name, a.aid_type, a.aid_type_name, a.year,
               {n} as fund_order, '{zh}' as fund_name, a.{col} as amount, a.{col} / 10000.0 as amount_wan
        from serving.assistance_beneficiary a""" for col, n, zh in funds)
    g, j = _geo("d.admdvs")
    v["assistance_duplicate"] = f"""
        select d.pay_id, d.person_id, {id_sql('d.certno')} as certno_masked, d.setl_id, d.admdvs, {g}, d.aid_type,
               {case('d.aid_type', 'aid_type')} as aid_type_name, d.amount as pay_amount, CAST(d.pay_date AS DATE) as pay_date,
               d.one_stop_maf_pay, d.kind, coalesce(d.kind_zh, d.kind) as kind_name, d.first_pay_id
        from gold.assistance_duplicate d {j}"""
    g, j = _geo("f.admdvs")
    v["fund_income_expense"] = f"""
        select f.admdvs, {g}, f.insutype, {case('f.insutype', 'insutype')} as insutype_name, f.ym,
               strptime(CAST(f.ym AS VARCHAR) || '01', '%Y%m%d')::DATE as month_date, f.direction,
               coalesce(f.direction_name, {case('f.direction', 'fund_direction')}) as direction_name, f.item_type,
               coalesce(f.item_name, f.item_type) as item_name, f.amount as fund_amount, f.amount / 10000.0 as amount_wan,
               f.share_of_direction, f.yoy_amount, f.yoy_amount / 10000.0 as yoy_wan, f.yoy_rate
        from gold.fund_income_expense f {j}"""
    g, j = _geo("r.admdvs")
    v["fund_reconciliation"] = f"""
        select r.admdvs, {g}, r.insutype, {case('r.insutype', 'insutype')} as insutype_name, r.ym,
               strptime(CAST(r.ym AS VARCHAR) || '01', '%Y%m%d')::DATE as month_date,
               r.settled_amount, r.paid_amount, r.bank_amount, r.diff_settlement_payment, r.diff_payment_bank,
               r.settled_amount / 10000.0 as settled_wan, r.paid_amount / 10000.0 as paid_wan,
               r.bank_amount / 10000.0 as bank_wan, r.diff_settlement_payment / 10000.0 as diff_sp_wan,
               r.diff_payment_bank / 10000.0 as diff_pb_wan, r.differences, r.status
        from gold.fund_reconciliation r {j}"""
    # the fund's pooling region (whose payments are reconciled), wherever the institution paid stands
    g, j = _geo("d.admdvs")
    v["fund_reconciliation_diff"] = f"""
        select d.admdvs, {g}, d.insutype, {case('d.insutype', 'insutype')} as insutype_name, d.ym, d.side,
               coalesce(d.side_zh, d.side) as side_zh, d.fixmedins_code, d.pay_id, d.txn_id,
               d.expected_amount, d.actual_amount, d.diff_amount, abs(d.diff_amount) / 10000.0 as abs_diff_wan,
               d.reason
        from gold.fund_reconciliation_diff d {j}"""
    v["quality_score"] = f"""
        select q.*, {case('q.source', 'source')} as source_name, CAST(q.run_time AS DATE) as run_date,
               q.score * 1.0 as score_value
        from meta.quality_score q"""
    v["quality_result"] = f"""
        select r.run_id, r.run_time, r.layer, r."schema", r."table", r.source, {case('r.source', 'source')} as source_name,
               r.source_table, r.batch_id, r.rule, r.expectation, r."column", r.severity,
               {case('r.severity', 'severity')} as severity_name, r.title, r.success,
               r.unexpected_count, r.unexpected_percent, r.unexpected_percent / 100.0 as unexpected_share,
               r.rows_checked, r.dimension, {case('r.dimension', 'dimension')} as dimension_name,
               case when r.success then '通过' else '未通过' end as result_name
        from meta.quality_result r
        where r.run_id = (select max(run_id) from meta.quality_result r2 where r2.layer = r.layer)"""
    # the last measurement of every layer x table x batch x dimension (a batch is measured again when a run is
    # forced or a held version is re-validated), and whether the batch is the latest one measured of its table
    v["quality_dimension"] = f"""
        with d as (
            select q.*, row_number() over (partition by q.layer, q."table", q.batch_id, q.dimension
                                           order by q.run_time desc, q.run_id desc) as _n
            from meta.quality_dimension q)
        select d.run_id, d.run_time, CAST(d.run_time AS DATE) as run_date, d.layer,
               {case('d.layer', 'layer')} as layer_name, d.source, {case('d.source', 'source')} as source_name,
               d."table", case when strpos(d."table", '__') > 0 then split_part(d."table", '__', 2) else d."table" end
                   as source_table,
               d.batch_id, d.dimension, coalesce(d.dimension_zh, {case('d.dimension', 'dimension')}) as dimension_name,
               d.expectations, d.failed, d.rows_checked, d.bad_rows, d.score * 1.0 as score_value,
               CAST(d.bad_rows AS DOUBLE) / nullif(d.rows_checked, 0) as bad_share,
               d.batch_id = max(d.batch_id) over (partition by d.layer, d."table") as latest_batch
        from d where d._n = 1"""
    # what is held now (replaced by every bronze run)
    v["quality_hold_current"] = f"""
        select h.kind, {case('h.kind', 'hold_kind')} as hold_kind_name,
               case h.kind when 'door' then 1 when 'gate' then 2 when 'waiting' then 3 else 4 end as kind_order,
               h.source, {case('h.source', 'source')} as source_name, h.source_table,
               coalesce(nullif(h.batch_id, ''), '—') as batch_id,
               {text_sql('h.reason')} as reason,
               case when h.kind = 'waiting' then '随上级表该批次的决定放行 (见原因)' else h.decide end as decide,
               h.as_of, {beijing('h.as_of')} as as_of_bj
        from meta.quality_hold_current h"""
    v["steward_decision"] = f"""
        select d.decision_id, d.decided_at, {beijing('d.decided_at')} as decided_at_bj, d.decided_by,
               d.action, {case('d.action', 'decision')} as action_name, d.source,
               {case('d.source', 'source')} as source_name, d.source_table,
               d.batch_id, {text_sql('d.reason')} as reason,
               case when row_number() over (partition by d.source, d.source_table, d.batch_id
                                            order by d.decided_at desc, d.decision_id desc) = 1
                    then '生效' else '已被后续决定取代' end as in_force_name
        from meta.steward_decision d"""
    # rows written before meta.quarantine had a rule were ingestion's: parse errors or superseded duplicates
    v["quarantine"] = f"""
        with q as (
            select q0.*, coalesce(nullif(q0.rule, ''), case when q0.reason like 'duplicate key%'
                                  then 'ingest.superseded' else 'ingest.parse' end) as rule_code
            from meta.quarantine q0),
        c as (
            select q.*, case when q.rule_code = 'ingest.parse' then 'parse'
                             when q.rule_code = 'ingest.superseded' then 'superseded'
                             when q.rule_code like 'gate.reference.%' then 'orphan'
                             when q.rule_code like 'gate.waiting.%' then 'waiting' else 'other' end as rule_class
            from q)
        select c.source, {case('c.source', 'source')} as source_name, c.source_table, c.batch_id, c.file,
               c.line_number, {text_sql('c.reason')} as reason, {raw_line_sql('c.raw_line')} as raw_line_masked,
               c.ingest_time, CAST(c.ingest_time AS DATE) as ingest_date, c.rule_code as rule, c.rule_class,
               {case('c.rule_class', 'rule_class')} as rule_class_name,
               case when c.rule_code like 'gate.%' then '质量门' else '入湖解析' end as stage_name,
               case when c.rule_code like 'gate.%' then regexp_replace(c.rule_code, '^gate[.][a-z]+[.]', '') end
                   as rule_columns
        from c"""
    v["ingest_log"] = f"""
        select l.*, {case('l.source', 'source')} as source_name from meta.ingest_log l"""
    # the maps: one row per polygon of a county's outline (serving.region_shape, dashboards/boundaries.py) with what
    # the maps colour it by: the county's coverage and uninsured, its city's coverage, and of its pooling region the
    # suspects (a person's suspect carries the pooling region, an institution's its own county: both counted in the
    # pooling region) and the worst fund risk
    g, j = _geo("s.admdvs")
    v["region_map"] = f"""
        with cov as (select admdvs, level, insured, uninsured, 100.0 * coverage_rate as pct
                     from gold.coverage_by_region where level in ('city', 'county')),
             susp as (select coalesce(_sd.pooling_region, f.admdvs) as pool, count(*) as n
                      from serving.fraud_suspect f left join serving.division _sd on _sd.code = f.admdvs group by 1),
             risk as (select admdvs, max(risk_order) as risk_order from serving.fund_risk_latest group by admdvs)
        select s.admdvs, s.part, s.polygon, {g}, _d.pooling_region,
               cc.pct as coverage_pct, ci.pct as city_coverage_pct, cc.insured, cc.uninsured,
               coalesce(susp.n, 0) as pool_suspects, coalesce(risk.risk_order, 0) as risk_order,
               {case('CAST(risk.risk_order AS VARCHAR)', 'risk_name', "'未知'")} as fund_risk_level
        from serving.region_shape s {j}
        left join cov cc on cc.admdvs = s.admdvs and cc.level = 'county'
        left join cov ci on ci.admdvs = substr(s.admdvs, 1, 4) || '00' and ci.level = 'city'
        left join susp on susp.pool = _d.pooling_region
        left join risk on risk.admdvs = _d.pooling_region"""
    # the same outlines as the fund dashboards name regions: region_name and risk_level of the pooling region
    v["pool_map"] = """
        select m.* replace (coalesce(_p.name, m.pooling_region) as region_name), m.fund_risk_level as risk_level
        from serving.region_map m left join serving.division _p on _p.code = m.pooling_region"""
    return v


@dataclass
class Registration:
    path: Path
    found: list[str] = field(default_factory=list)      # schema.table read from Delta
    stubbed: list[str] = field(default_factory=list)    # expected but absent (or unreadable): empty tables
    unreadable: list[str] = field(default_factory=list)  # present but DuckDB cannot read it (with the error)
    serving: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)   # schema.table -> rows copied
    seconds: float = 0.0
    map_source: str = ""                                 # where the maps' outlines came from
    map_unmatched: list[str] = field(default_factory=list)   # the province's counties without an outline


def extension_dir(data_root: Path) -> Path:
    return Path(data_root).resolve() / "serving" / "duckdb_extensions"


def duckdb_config(data_root: Path) -> dict:
    """The DuckDB settings every reader uses: the local extension directory, no downloads."""
    return {"extension_directory": str(extension_dir(data_root)), "autoinstall_known_extensions": False,
            "autoload_known_extensions": True}


def install_delta_extension(con, data_root: Path) -> None:
    """Install the Delta extension from the file the ``duckdb-extension-delta`` package ships."""
    import duckdb
    import duckdb_extension_delta

    ext = (Path(duckdb_extension_delta.__file__).parent / "extensions" / f"v{duckdb.__version__}"
           / "delta.duckdb_extension")
    if not ext.is_file():
        raise RuntimeError(f"{ext} is missing: duckdb and duckdb-extension-delta must have the same version")
    con.execute(f"INSTALL {sql_literal(ext)}")  # nosec B608 # a quoted literal of the package's own file
    con.execute("LOAD delta")


def sql_literal(value) -> str:
    """A DuckDB string literal of ``value`` (single quotes doubled): paths and names never end a literal early."""
    return "'" + str(value).replace("'", "''") + "'"


def sql_ident(name: str) -> str:
    """A DuckDB quoted identifier (double quotes doubled)."""
    return '"' + str(name).replace('"', '""') + '"'


def is_delta(path: Path) -> bool:
    from yibao.catalog import is_delta_table

    return is_delta_table(path)


def _stub(cols: list[tuple[str, str]]) -> str:
    return "select " + ", ".join(f'CAST(NULL AS {t}) as "{c}"' for c, t in cols) + " where false"


# SQL text in this module is built from the module's own view definitions, the contract's table names and the
# warehouse's paths, every path and name quoted (sql_literal, sql_ident); no value of a department's file is ever
# formatted into SQL.  Bandit's B608 is marked on those lines.
def _load_divisions(con, warehouse: Path) -> None:
    silver = warehouse / "silver" / "gbt2260_divisions"
    con.execute("create or replace table serving.division (code VARCHAR, name VARCHAR, level INTEGER, "
                "city_code VARCHAR, city_name VARCHAR, county_code VARCHAR, county_name VARCHAR, "
                "pooling_region VARCHAR, pooling_region_name VARCHAR, in_region INTEGER)")
    cols = "code, name, level, city_code, city_name, county_code, county_name, pooling_region, pooling_region_name, in_region"
    if is_delta(silver):
        con.execute(f"insert into serving.division select {cols} from delta_scan({sql_literal(silver)})")  # nosec B608
        return
    con.execute(f"insert into serving.division select {cols} from read_csv({sql_literal(DIVISIONS_SEED)}, "  # nosec B608
                "header = true, all_varchar = true)")


def _load_shapes(con, reg: "Registration", map_boundaries: Path | None) -> None:
    """serving.region_shape: the county outlines the maps draw (dashboards/boundaries.py).  Without them (the
    default source unreachable, the configured file unreadable) the table is empty, the maps show no data and the
    reason is recorded in ``reg.unreadable``; nothing else of the refresh depends on them."""
    from yibao.dashboards import boundaries

    con.execute("create or replace table serving.region_shape (admdvs VARCHAR, part INTEGER, polygon VARCHAR)")
    try:
        b = boundaries.load(map_boundaries, boundaries.cache_dir(), divisions_of(DIVISIONS_SEED))
    except (OSError, ValueError, KeyError) as e:
        reg.unreadable.append(f"map boundaries: {e}")
        return
    con.executemany("insert into serving.region_shape values (?, ?, ?)", b.rows())
    reg.map_source, reg.map_unmatched = b.source, list(b.unmatched)


def register(data_root: Path, warehouse: Path, db_path: Path | None = None, materialise: bool = True,
             map_boundaries: Path | None = None) -> Registration:
    """(Re)build the DuckDB file of the read path; returns what it found and what it stubbed.

    ``map_boundaries``: the setting of that name (a GeoJSON file of the province's divisions; None: the default
    source of dashboards/boundaries.py).

    ``materialise=False`` makes ``gold.*`` / ``meta.*`` views over ``delta_scan`` instead of copies (the file
    stays tiny, every query reads Parquet: only for comparisons and warehouses too big to copy).
    """
    import duckdb

    data_root = Path(data_root).resolve()
    warehouse = Path(warehouse).resolve()
    db_path = Path(db_path or data_root / "serving" / DB_FILE)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    extension_dir(data_root).mkdir(parents=True, exist_ok=True)
    tmp = db_path.with_name(db_path.name + f".building-{os.getpid()}")
    for p in (tmp, Path(str(tmp) + ".wal")):
        p.unlink(missing_ok=True)
    reg = Registration(db_path)
    started = time.perf_counter()
    con = duckdb.connect(str(tmp), config=duckdb_config(data_root))
    try:
        install_delta_extension(con, data_root)
        for schema in ("gold", "meta", "silver", "serving"):
            con.execute(f"create schema if not exists {schema}")
        _load_divisions(con, warehouse)
        _load_shapes(con, reg, map_boundaries)
        tables: dict[tuple[str, str], Path] = {}
        for schema in ("gold", "meta"):
            base = warehouse / schema
            for d in sorted(base.iterdir()) if base.is_dir() else []:
                if is_delta(d):
                    tables[(schema, d.name)] = d
        for key in sorted(set(tables) | set(EXPECTED)):
            schema, table = key
            name = f"{schema}.{sql_ident(table)}"
            have = None
            if key in tables:
                scan = f"delta_scan({sql_literal(tables[key])})"
                try:
                    have = {r[0] for r in con.execute(f"describe select * from {scan}").fetchall()}  # nosec B608
                except duckdb.Error as e:
                    reg.unreadable.append(f"{schema}.{table}: {str(e).splitlines()[0]}")
            if have is not None:
                extra = [f'CAST(NULL AS {t}) as "{c}"' for c, t in EXPECTED.get(key, []) if c not in have]
                # materialised: a native DuckDB copy of the Delta table's current version, so that chart
                # queries never re-scan Parquet through the Delta extension
                kind = "table" if materialise else "view"
                checkpoint("serving_table")
                try:
                    con.execute(f"create or replace {kind} {name} as select *{''.join(', ' + e for e in extra)} "  # nosec B608
                                f"from {scan}")
                except duckdb.Error as e:
                    reg.unreadable.append(f"{schema}.{table}: {str(e).splitlines()[0]}")
                    have = None
            if have is not None:
                reg.found.append(f"{schema}.{table}")
                if materialise:
                    reg.rows[f"{schema}.{table}"] = con.execute(f"select count(*) from {name}").fetchone()[0]  # nosec B608
            elif key in EXPECTED:
                con.execute(f"create or replace table {name} as {_stub(EXPECTED[key])}")
                reg.stubbed.append(f"{schema}.{table}")
        for view, sql in serving_views().items():
            con.execute(f"create or replace view serving.{view} as {sql}")
            con.execute(f"select * from serving.{view} limit 0")  # nosec B608 # bind now: fail here, not in a chart
            reg.serving.append(f"serving.{view}")
        con.execute("checkpoint")
    finally:
        con.close()
    os.replace(tmp, db_path)
    if db_path == data_root / "serving" / DB_FILE:
        clear_result_cache(data_root)
    reg.seconds = time.perf_counter() - started
    return reg


def result_cache_dir(data_root: Path) -> Path:
    """Where Superset caches chart results (``DATA_CACHE_CONFIG`` in ``superset_config.py``).  The results are
    the read path's: :func:`register` empties the cache when it replaces the file, so that no chart shows the
    data of a run before."""
    return Path(data_root).resolve() / "serving" / "result-cache"


def clear_result_cache(data_root: Path) -> None:
    d = result_cache_dir(data_root)
    if d.is_dir():
        for f in d.iterdir():
            if f.is_file():
                f.unlink(missing_ok=True)


def connect(data_root: Path, db_path: Path | None = None):
    """A read-only connection to the read path, as Superset opens it."""
    import duckdb

    data_root = Path(data_root).resolve()
    return duckdb.connect(str(db_path or data_root / "serving" / DB_FILE), read_only=True,
                          config=duckdb_config(data_root))


def sqlalchemy_uri(data_root: Path, db_path: Path | None = None) -> str:
    return f"duckdb:///{Path(db_path or Path(data_root).resolve() / 'serving' / DB_FILE)}"
