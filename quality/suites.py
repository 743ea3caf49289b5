"""The expectation suites, as code: every quality rule, its severity and its dimension.

A suite is built per warehouse table from the declarative tables below and from ``quality/rules.toml`` (which
columns each table needs and why, the references, the tolerances).  Each rule becomes one or two Great
Expectations expectations, each carrying ``meta = {"severity", "rule", "title", "column", "dimension"}``:

* ``blocking``: a failure holds the table's new version out of silver and gold (see :mod:`yibao.quality.gate`).
  Only *structural* breakage blocks: a key missing or repeated, a table collapsing against its last released
  version, or a row-level rule broken by more rows than its configured tolerance (a shifted column, another
  code system).  The tolerances' defaults let the field's ordinary dirt through.
* ``warning``: reported and scored; the rows go through (flagged) or, for references whose orphans are
  unusable, are quarantined row by row while the rest is released (:mod:`yibao.quality.exclusions`).

Every expectation belongs to one GB/T 36344 dimension (completeness, validity, consistency, uniqueness,
timeliness, accuracy); stewards see a score per dimension, department, table and batch.

Some rules need values the raw table does not have (the normalised ID number, whether a parent row
exists, whether the payments add up, whether the police register agrees).  :mod:`yibao.quality.prepare`
adds them to the validated DataFrame as ``_q_*`` columns, computed in the engine; the expectations then
test those columns.

ID numbers: the GB 11643 rules exist in one place only, the dbt project's ``macros/certno.sql``.  Bronze checks
the *format* of the normalised value (full-width digits, lower-case x and spaces folded, 18 characters or a
legacy 15-digit number) with the SQL of that file's macros ``clean_certno``, ``certno_format_regex`` (and
``certno_body17``/``certno_birth`` for the birth date in the number), rendered here (:func:`id_rules`); the
checksum and the status are computed by ``certno_std`` in the silver staging models (``certno_status``), and
the silver suites validate that flag.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from yibao.contract import TABLES, TableSpec

BLOCKING, WARNING = "blocking", "warning"
SEVERITY_ZH = {BLOCKING: "阻断", WARNING: "警告"}

# Data-quality dimensions (GB/T 36344-2018 数据质量评价指标): every expectation belongs to one.
DIMENSIONS = {"completeness": "完整性", "validity": "规范性", "consistency": "一致性", "uniqueness": "唯一性",
              "timeliness": "时效性", "accuracy": "准确性"}
_DIMENSION_OF = {"key_not_null": "completeness", "required": "completeness", "expected": "completeness",
                 "key_unique": "uniqueness", "row_count": "completeness", "code": "validity",
                 "division": "validity", "certno_format": "validity", "certno_valid": "validity",
                 "non_negative": "validity", "amount": "consistency", "date": "validity",
                 "reference": "consistency", "accuracy": "accuracy", "range": "validity", "unique": "uniqueness"}


def dimension_of(rule: str, kind: str | None = None) -> str:
    """The quality dimension of a rule id (``required.psn_name`` -> completeness)."""
    head = kind or rule.split(".", 1)[0]
    return _DIMENSION_OF.get(head, "validity")


# -- the rules' settings: quality/rules.toml (or $YIBAO_QUALITY_RULES) ----------------------------------

def rules_file() -> Path:
    """The setting ``quality_rules`` (``$YIBAO_QUALITY_RULES``; default: ``rules.toml`` beside this module)."""
    from yibao.config import load_settings

    return load_settings().quality_rules_file


@lru_cache(maxsize=4)
def _load(path: str) -> dict:
    with open(path, "rb") as fh:
        doc = tomllib.load(fh)
    levels = {"required", "expected"}
    for source, tables in doc.get("columns", {}).items():
        for table, cols in tables.items():
            for col, rule in cols.items():
                if rule.get("level") not in levels or not rule.get("why"):
                    raise ValueError(f"{path}: columns.{source}.{table}.{col} needs level (one of {sorted(levels)}) "
                                     f"and why")
    for ref in doc.get("references", []):
        if ref.get("on_orphan") not in ("quarantine", "flag") or not ref.get("why"):
            raise ValueError(f"{path}: reference {ref.get('child')} -> {ref.get('parent')} needs on_orphan "
                             f"(quarantine or flag) and why")
    return doc


def rules_config() -> dict:
    return _load(str(rules_file()))


def hold_above_pct(kind: str) -> float:
    """Share of bad rows (percent) above which a row-level rule of this kind holds the table (100: never)."""
    return float(rules_config().get("hold_above_pct", {}).get(kind, 100.0))


@dataclass(frozen=True)
class ColumnRule:
    column: str
    level: str              # required | expected
    why: str
    when: str | None = None  # Spark SQL condition: the rule applies only to these rows


def column_rules(source: str, table: str) -> list[ColumnRule]:
    cols = rules_config().get("columns", {}).get(source, {}).get(table, {})
    return [ColumnRule(c, r["level"], r["why"], r.get("when")) for c, r in cols.items()]


def references_of(source: str, table: str) -> list[dict]:
    return [r for r in rules_config().get("references", []) if r["child"] == f"{source}/{table}"]


def increment_min_rows() -> int:
    """The fewest new rows a bronze version is judged on alone (fewer: the whole version is validated)."""
    return int(rules_config().get("increment_min_rows", 100))


def timeliness_hours() -> tuple[float, float]:
    t = rules_config().get("timeliness", {})
    return float(t.get("on_time_hours", 24)), float(t.get("late_hours", 168))


COLUMN_ZH = {
    "psn_no": "人员编号", "psn_name": "姓名", "gend": "性别", "brdy": "出生日期", "naty": "民族",
    "psn_cert_type": "证件类型", "certno": "身份证号", "tel": "联系电话", "surv_stas": "生存状态",
    "hsreg_addr": "户籍地址", "hsreg_admdvs": "户籍区划", "resd_addr": "居住地址", "resd_admdvs": "居住区划",
    "hsreg_book_no": "户口簿编号", "insutype": "险种类型", "psn_type": "人员类别", "psn_insu_stas": "参保状态",
    "crt_insu_date": "本次参保日期", "paus_insu_date": "暂停参保日期", "insu_admdvs": "参保区划",
    "emp_no": "单位编号", "emp_name": "单位名称", "setl_id": "结算ID", "fixmedins_code": "定点机构编码",
    "medfee_sumamt": "医疗费总额", "hifp_pay": "统筹基金支付", "acct_pay": "个人账户支付",
    "psn_cash_pay": "个人现金支付", "fulamt_ownpay_amt": "全自费金额", "mdtrt_admdvs": "就医区划",
    "admdvs": "行政区划", "death_date": "死亡日期", "cancel_date": "注销日期", "hsreg_stas": "户籍状态",
    "begndate": "开始日期", "enddate": "结束日期", "med_type": "医疗类别", "refd_setl_flag": "冲正标志",
    "med_chrgitm_type": "收费项目类别", "det_item_fee_sumamt": "明细金额", "pric": "单价", "cnt": "数量",
    "clct_flag": "到账标志", "psn_clct_amt": "个人缴费", "emp_clct_amt": "单位缴费", "clct_amt": "实收金额",
    "fixmedins_type": "机构类型", "hosp_lv": "医院等级", "prac_type": "人员类型", "violation_code": "违规代码",
    "deduct_amt": "扣款金额", "direction": "收支方向", "item_type": "收支项目", "amount": "金额",
    "aid_type": "救助类型", "pension_type": "养老险种", "stas": "状态", "birth_admdvs": "出生地区划",
    "mother_certno": "母亲身份证号", "father_certno": "父亲身份证号", "child_certno": "新生儿身份证号",
    "issue_date": "签发日期", "expire_date": "有效期至", "begn_date": "开始日期", "end_date": "结束日期",
}


def zh(column: str | None) -> str:
    if not column:
        return ""
    return f"{COLUMN_ZH[column]}({column})" if column in COLUMN_ZH else column


@dataclass(frozen=True)
class Check:
    rule: str               # stable id of the rule, e.g. "required.psn_name" (blocking twin: same rule)
    expectation: str        # GE expectation class name
    kwargs: dict            # GE kwargs
    severity: str
    title: str              # what it checks, in Chinese, for stewards
    column: str | None      # the business column concerned (the validated column may be a _q_ column)
    dimension: str = "validity"   # GB/T 36344 dimension (DIMENSIONS)

    @property
    def id(self) -> str:
        return f"{self.rule}#{self.severity}"


@dataclass(frozen=True)
class Reference:
    """A foreign key: ``columns`` of this table must exist as ``parent_columns`` of ``parent``."""
    columns: tuple[str, ...]
    parent: tuple[str, str]              # (schema, table)
    parent_columns: tuple[str, ...]
    flag: str                            # derived boolean column (null when the child key is null)
    on_orphan: str = "flag"              # quarantine: orphan rows are kept out of silver; flag: reported only
    why: str = ""


@dataclass
class Suite:
    schema: str
    table: str
    source: str
    source_table: str
    keys: tuple[str, ...] = ()
    derived: dict[str, str] = field(default_factory=dict)      # _q_ column -> SQL expression
    references: list[Reference] = field(default_factory=list)
    division_flags: dict[str, str] = field(default_factory=dict)  # _q_ flag -> division column
    unique_flags: dict[str, tuple[str, ...]] = field(default_factory=dict)  # _q_ flag -> key columns
    checks: list[Check] = field(default_factory=list)
    index_columns: tuple[str, ...] = ()   # columns shown with each bad value (keys, line number)
    accuracy: tuple[str, ...] = ()        # columns compared with the police register (_q_agrees_police)
    unique_skip_null_keys: bool = False   # uniqueness: a key with any null column is not checked (silver)

    @property
    def name(self) -> str:
        return f"{self.schema}.{self.table}"


# -- contract rules, per source table -------------------------------------------------------------------

# column -> code_type of the code_list seed
CODES = {
    "psn_info": {"gend": "gend", "psn_cert_type": "psn_cert_type", "surv_stas": "surv_stas"},
    "psn_insu": {"insutype": "insutype", "psn_type": "psn_type", "psn_insu_stas": "psn_insu_stas"},
    "contrib": {"insutype": "insutype", "clct_flag": "clct_flag"},
    "fixmedins": {"fixmedins_type": "fixmedins_type", "hosp_lv": "hosp_lv"},
    "practitioner": {"prac_type": "prac_type"},
    "setl": {"insutype": "insutype", "med_type": "med_type", "refd_setl_flag": "refd_setl_flag"},
    "fee_list": {"med_chrgitm_type": "med_chrgitm_type"},
    "audit_result": {"violation_code": "violation_code"},
    "fund_ledger": {"insutype": "insutype", "direction": "fund_direction"},
    "fund_opening": {"insutype": "insutype"},
    "insured_elsewhere": {"insutype": "insutype", "psn_insu_stas": "psn_insu_stas"},
    "hsreg_psn": {"gend": "gend", "hsreg_stas": "hsreg_stas"},
    "resd_permit": {"gend": "gend"},
    "assistance_obj": {"aid_type": "aid_type"},
    "medins_clct": {"insutype": "insutype"},
    "birth_cert": {"gend": "gend"},
    "pension_insu": {"pension_type": "pension_type", "stas": "pension_stas"},
    # section 6
    "setl_list": {"dscg_way": "dscg_way"},
    "med_list": {"list_type": "list_type", "chrgitm_lv": "chrgitm_lv", "gend_lmt": "gend_lmt", "vbp_flag": "vbp_flag"},
    "fund_payment": {"insutype": "insutype"},
    "bank_stmt": {"insutype": "insutype", "direction": "fund_direction"},
    "assistance_pay": {"aid_type": "aid_type"},
}

DIVISIONS = {
    "psn_info": ("hsreg_admdvs", "resd_admdvs"), "psn_insu": ("insu_admdvs",), "emp_info": ("admdvs",),
    "fixmedins": ("admdvs",), "setl": ("insu_admdvs", "mdtrt_admdvs"), "fund_ledger": ("admdvs",),
    "fund_opening": ("admdvs",), "national_uninsured": ("hsreg_admdvs",), "insured_elsewhere": ("insu_admdvs",),
    "hsreg_psn": ("hsreg_admdvs",), "resd_permit": ("resd_admdvs",), "death_cremation": ("admdvs",),
    "assistance_obj": ("admdvs",), "birth_cert": ("birth_admdvs",), "death_cert": ("admdvs",),
    "pension_insu": ("admdvs",), "fund_payment": ("admdvs",), "bank_stmt": ("admdvs",),
    "assistance_pay": ("admdvs",),
}

NON_NEGATIVE = {
    "contrib": ("psn_clct_amt", "emp_clct_amt"),
    "setl": ("medfee_sumamt", "fulamt_ownpay_amt", "hifp_pay", "acct_pay", "psn_cash_pay", "hifmi_pay",
             "hifob_pay", "cvlserv_pay", "maf_pay", "oth_pay"),
    "setl_list": ("ipt_days",),
    "drg_group": ("weight", "avg_days", "avg_cost"),
    "dip_group": ("score",),
    "med_list": ("pric_uplmt",),
    "vbp_purchase": ("agreed_qty", "purc_qty", "purc_amt"),
    "fund_payment": (),
    "bank_stmt": ("amount",),
    "assistance_pay": ("amount",),
    "fee_list": ("pric", "det_item_fee_sumamt"),
    "audit_result": ("deduct_amt",),
    "fund_opening": (),
    "medins_clct": ("clct_amt",),
}

# (flag name, SQL boolean over the row (null = not applicable), business column, Chinese title)
# Dates may not lie after the day the row was received (_ingest_time): a batch delivered after the
# reference date legitimately holds later visits, births and deaths.  _q_birth_from_certno (the birth date in the
# normalised ID number) is derived for the tables whose rules use it.
ROW_RULES = {
    "psn_info": (("brdy_not_future", "brdy <= CAST(_ingest_time AS DATE)", "brdy", "出生日期不晚于接收日期"),),
    "psn_insu": (("crt_insu_date_not_future", "crt_insu_date <= CAST(_ingest_time AS DATE)", "crt_insu_date", "参保日期不晚于接收日期"),
                 ("paus_after_crt", "paus_insu_date >= crt_insu_date", "paus_insu_date", "暂停参保日期不早于参保日期")),
    # the fund shares section 6 added (大病, 大额, 公务员补助, 医疗救助, 其他) are part of the balance when delivered
    "setl": (("balance", "abs(coalesce(hifp_pay, 0) + coalesce(acct_pay, 0) + coalesce(psn_cash_pay, 0) "
                         "+ coalesce(hifmi_pay, 0) + coalesce(hifob_pay, 0) + coalesce(cvlserv_pay, 0) "
                         "+ coalesce(maf_pay, 0) + coalesce(oth_pay, 0) - medfee_sumamt) <= 0.01", "medfee_sumamt",
              "各项基金支付+个人账户+个人现金 = 医疗费总额 (误差 ≤ 0.01 元)"),
             ("end_after_begin", "enddate >= begndate", "enddate", "结束日期不早于开始日期"),
             ("begndate_not_future", "begndate <= CAST(_ingest_time AS DATE)", "begndate", "就诊日期不晚于接收日期")),
    "fee_list": (("item_amount", "abs(cnt * pric - det_item_fee_sumamt) <= 0.01", "det_item_fee_sumamt",
                  "数量×单价 = 明细金额 (误差 ≤ 0.01 元)"),),
    "fund_ledger": (("item_type_of_direction",
                     "CASE WHEN direction = 'I' THEN item_type IN ({fund_item_I}) "
                     "WHEN direction = 'E' THEN item_type IN ({fund_item_E}) END", "item_type",
                     "收支项目代码与收支方向相符"),),
    "hsreg_psn": (("brdy_not_future", "brdy <= CAST(_ingest_time AS DATE)", "brdy", "出生日期不晚于接收日期"),
                  ("cancel_after_birth", "cancel_date >= brdy", "cancel_date", "注销日期不早于出生日期")),
    "resd_permit": (("expire_after_issue", "expire_date >= issue_date", "expire_date", "有效期不早于签发日期"),),
    "death_cremation": (("death_not_future", "death_date <= CAST(_ingest_time AS DATE)", "death_date", "死亡日期不晚于接收日期"),
                        ("death_after_birth", "death_date >= _q_birth_from_certno", "death_date",
                         "死亡日期不早于出生日期(身份证号内)")),
    "death_cert": (("death_not_future", "death_date <= CAST(_ingest_time AS DATE)", "death_date", "死亡日期不晚于接收日期"),
                   ("death_after_birth", "death_date >= _q_birth_from_certno", "death_date",
                    "死亡日期不早于出生日期(身份证号内)")),
    "birth_cert": (("brdy_not_future", "brdy <= CAST(_ingest_time AS DATE)", "brdy", "出生日期不晚于接收日期"),),
    "assistance_obj": (("end_after_begin", "end_date >= begn_date", "end_date", "结束日期不早于开始日期"),),
    "fund_payment": (("pay_not_future", "pay_date <= CAST(_ingest_time AS DATE)", "pay_date", "拨付日期不晚于接收日期"),),
    "bank_stmt": (("txn_not_future", "txn_date <= CAST(_ingest_time AS DATE)", "txn_date", "交易日期不晚于接收日期"),),
    "assistance_pay": (("pay_not_future", "pay_date <= CAST(_ingest_time AS DATE)", "pay_date", "支付日期不晚于接收日期"),),
}

# ID numbers: the cleaning (full-width digits/X and lower-case x folded, every kind of space removed), the format
# (18 characters or a legacy 15-digit number) and the embedded birth date are the dbt project's macros
# (macros/certno.sql), rendered here from the same file: one definition for bronze and silver.  (Format only:
# the checksum is validated on silver, through certno_status.)

@lru_cache(maxsize=4)
def _macros_of(path: str):
    import jinja2

    return jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(  # nosec B701 # renders SQL, not HTML
        Path(path).read_text(encoding="utf-8")).module


def id_rules():
    """The ID-number macros of the dbt project the setting ``dbt_project_dir`` names (``macros/certno.sql``), as
    a Jinja module: ``id_rules().clean_certno("`certno`")`` is the SQL the staging models run."""
    from yibao.config import load_settings

    return _macros_of(str(load_settings().dbt_project / "macros" / "certno.sql"))


def certno_norm_sql(column_sql: str) -> str:
    """Spark SQL: the cleaned ID number of ``column_sql`` (an expression, e.g. a quoted column)."""
    return str(id_rules().clean_certno(column_sql)).strip()


def certno_format_regex() -> str:
    """The format a cleaned ID number must have (18 characters or a legacy 15-digit number)."""
    return str(id_rules().certno_format_regex()).strip()


def certno_body17_sql(norm_sql: str) -> str:
    """Spark SQL: the 17-digit body of a cleaned ID number (a legacy 15-digit one with '19' inserted before the
    year); null when the number has neither format."""
    return str(id_rules().certno_body17(norm_sql)).strip()


def certno_birth_sql(body17_sql: str) -> str:
    """Spark SQL: the birth date embedded in a 17-digit body (null when the digits are not a date)."""
    return str(id_rules().certno_birth(body17_sql)).strip()


def _tiered(rule: str, kind: str, expectation: str, kwargs: dict, title: str, column: str | None) -> list[Check]:
    """A row-level rule: a warning as soon as one row breaks it, plus a blocking twin (GE ``mostly``) when the
    configured tolerance for its kind is below 100 % (quality/rules.toml ``hold_above_pct``)."""
    pct = hold_above_pct(kind)
    dim = dimension_of(rule, kind)
    checks = [Check(rule, expectation, dict(kwargs), WARNING, title, column, dim)]
    if pct < 100.0:
        checks.append(Check(rule, expectation, dict(kwargs, mostly=round(1 - pct / 100, 6)), BLOCKING,
                            f"{title} (超过 {pct:g}% 的行不符即暂停发布)", column, dim))
    return checks


UNIQUE_EXPECTATIONS = ("ExpectColumnValuesToBeUnique", "ExpectCompoundColumnsToBeUnique")


def _flag_uniqueness(s: Suite) -> Suite:
    """Uniqueness rules become a flag column (:mod:`yibao.quality.prepare` computes it from one
    aggregate of the duplicated keys) tested with ``ExpectColumnValuesToBeInSet [True]``.

    Great Expectations' own unique expectations compute a window ``count(*) over (partition by key)``
    for every metric they need (count, sample values, sample rows), i.e. three sorts of the whole table
    per rule: at a million persons that was a quarter of the quality run.  Semantics are the same: every
    row of a duplicated key is unexpected; a row whose key columns are all null is not checked."""
    checks = []
    for c in s.checks:
        if c.expectation in UNIQUE_EXPECTATIONS:
            cols = tuple(c.kwargs.get("column_list") or [c.kwargs["column"]])
            flag = "_q_unique_" + "_".join(cols)
            s.unique_flags[flag] = cols
            s.index_columns += tuple(k for k in cols if k not in s.index_columns)  # samples show the keys
            c = Check(c.rule, "ExpectColumnValuesToBeInSet", {"column": flag, "value_set": [True]}, c.severity,
                      c.title, c.column, c.dimension)
        checks.append(c)
    s.checks = checks
    return s


def bronze_suite(spec: TableSpec, columns: list[str], reference_date: str, shrink_hold: float = 0.5) -> Suite:
    """The suite of ``bronze.<source>__<table>`` (``columns``: what the table has; ``shrink_hold``: the share
    of the released rows a new version may lose before it is held, Settings.snapshot_shrink_hold)."""
    from yibao.quality.reference import codes

    t = spec.name
    s = Suite("bronze", spec.bronze_name, spec.source, t, keys=spec.keys,
              index_columns=tuple(spec.keys) + ("_line_number",))
    has = set(columns)
    add = s.checks.extend

    # structural: keys present and unique (ingestion guarantees both; a breach means a broken load)
    for k in spec.keys:
        add([Check(f"key_not_null.{k}", "ExpectColumnValuesToNotBeNull", {"column": k}, BLOCKING,
                   f"主键 {zh(k)} 不能为空", k, "completeness")])
    if len(spec.keys) == 1:
        add([Check(f"key_unique.{spec.keys[0]}", "ExpectColumnValuesToBeUnique", {"column": spec.keys[0]},
                   BLOCKING, f"主键 {zh(spec.keys[0])} 唯一", spec.keys[0], "uniqueness")])
    elif spec.keys:
        add([Check("key_unique." + "+".join(spec.keys), "ExpectCompoundColumnsToBeUnique",
                   {"column_list": list(spec.keys)}, BLOCKING, f"主键 ({', '.join(spec.keys)}) 唯一", None,
                   "uniqueness")])

    # structural: the table may not collapse against its last released version (parameter set at run time)
    add([Check("row_count.min", "ExpectTableRowCountToBeBetween", {"min_value": {"$PARAMETER": "min_rows"}},
               BLOCKING, f"行数未骤减 (不少于上次发布版本的 {1 - shrink_hold:.0%})", None, "completeness")])

    # fields a user needs (required) or the tender lists (expected): quality/rules.toml [columns]
    for rule in column_rules(spec.source, t):
        if rule.column not in has or rule.column in spec.keys:
            continue
        kwargs = {"column": rule.column}
        when = ""
        if rule.when:
            kwargs.update(row_condition=rule.when, condition_parser="spark")
            when = "(适用行) "
        label = "必填" if rule.level == "required" else "应填"
        add(_tiered(f"{rule.level}.{rule.column}", rule.level, "ExpectColumnValuesToNotBeNull", kwargs,
                    f"{when}{label}字段 {zh(rule.column)} 不为空", rule.column))

    for c, code_type in CODES.get(t, {}).items():
        if c in has:
            add(_tiered(f"code.{c}", "code", "ExpectColumnValuesToBeInSet",
                        {"column": c, "value_set": codes(code_type)},
                        f"{zh(c)} 取值在代码表 {code_type} 中", c))

    for c in DIVISIONS.get(t, ()):
        if c in has:
            flag = f"_q_{c}_in_gbt2260"
            s.division_flags[flag] = c
            add(_tiered(f"division.{c}", "division", "ExpectColumnValuesToBeInSet",
                        {"column": flag, "value_set": [True]}, f"{zh(c)} 是 GB/T 2260 行政区划代码", c))

    certnos = [c for c in columns if "certno" in c and not c.startswith("_")]
    for c in certnos:
        norm = f"_q_{c}_norm"
        s.derived[norm] = certno_norm_sql(f"`{c}`")
        add(_tiered(f"certno_format.{c}", "certno_format", "ExpectColumnValuesToMatchRegex",
                    {"column": norm, "regex": certno_format_regex()},
                    f"{zh(c)} 格式 (18 位或 15 位旧号; 全角、小写 x、空格允许)", c))
    if "certno" in certnos and any("_q_birth_from_certno" in sql for _, sql, _, _ in ROW_RULES.get(t, ())):
        s.derived["_q_birth_from_certno"] = certno_birth_sql(certno_body17_sql("_q_certno_norm"))

    # references: orphans are quarantined or flagged (never a reason to hold); quality/rules.toml [[references]]
    for ref in references_of(spec.source, t):
        cols = tuple(ref["columns"])
        psrc, ptbl = ref["parent"].split("/")
        pcols = tuple(ref.get("parent_columns") or cols)
        if all(c in has for c in cols):
            flag = f"_q_{'_'.join(cols)}_in_{ptbl}"
            s.references.append(Reference(cols, ("bronze", f"{psrc}__{ptbl}"), pcols, flag, ref["on_orphan"],
                                          ref["why"]))
            action = "隔离" if ref["on_orphan"] == "quarantine" else "标记"
            add([Check(f"reference.{'+'.join(cols)}", "ExpectColumnValuesToBeInSet",
                       {"column": flag, "value_set": [True]}, WARNING,
                       f"{'、'.join(zh(c) for c in cols)} 在 {psrc}.{ptbl} 中存在 (孤儿记录{action})", cols[0],
                       "consistency")])

    # accuracy against a reference: the police register is the identity authority
    if spec.source != "police" and "certno" in has and "psn_name" in has:
        s.accuracy = tuple(c for c in ("psn_name", "gend", "brdy") if c in has)
        add(_tiered("accuracy.police", "accuracy", "ExpectColumnValuesToBeInSet",
                    {"column": "_q_agrees_police", "value_set": [True]},
                    "姓名、性别、出生日期与公安户籍一致 (同一身份证号)", "psn_name"))

    for c in NON_NEGATIVE.get(t, ()):
        if c in has:
            add(_tiered(f"non_negative.{c}", "amount", "ExpectColumnValuesToBeBetween",
                        {"column": c, "min_value": 0}, f"{zh(c)} 不为负数", c))

    fmt = {"ref": reference_date, "fund_item_I": ", ".join(repr(c) for c in codes("fund_item_I")),
           "fund_item_E": ", ".join(repr(c) for c in codes("fund_item_E"))}
    for name, sql, col, title in ROW_RULES.get(t, ()):
        if col in has:
            flag = f"_q_{name}"
            s.derived[flag] = sql.format(**fmt)
            kind = "amount" if name in ("balance", "item_amount") else (
                "code" if name == "item_type_of_direction" else "date")
            add(_tiered(f"rule.{name}", kind, "ExpectColumnValuesToBeInSet", {"column": flag, "value_set": [True]},
                        title, col))
    shown = [c for c in s.division_flags.values()] + [c for r in s.references for c in r.columns
                                                        if c not in s.keys]
    shown += [col for name, _, col, _ in ROW_RULES.get(t, ()) if col in has]
    s.index_columns += tuple(dict.fromkeys(c for c in shown if c not in s.index_columns))
    return _flag_uniqueness(s)


def bronze_suites(columns_of: dict[str, list[str]], reference_date: str,
                  shrink_hold: float = 0.5) -> dict[str, Suite]:
    """Suites of every contract table present (``columns_of``: bronze table name -> columns)."""
    suites = {spec.bronze_name: bronze_suite(spec, columns_of[spec.bronze_name], reference_date, shrink_hold)
              for spec in TABLES if spec.bronze_name in columns_of}
    return {name: suites[name] for name in validation_order(suites)}


def validation_order(suites: dict[str, Suite]) -> list[str]:
    """Parents before children, so that a child's references are checked against what its parent
    publishes after this run (its newly released version, or the previous one when it is held)."""
    done: list[str] = []

    def visit(name: str, path: tuple = ()) -> None:
        if name in done or name in path or name not in suites:
            return
        for ref in suites[name].references:
            visit(ref.parent[1], path + (name,))
        done.append(name)

    for name in suites:
        visit(name)
    return done


# -- silver and gold ------------------------------------------------------------------------------------

TRUSTED_CERTNO = ["VALID", "LEGACY15"]

# Gold checks, each in one place.  dbt owns a mart's structure: its key (not_null, unique), its relationships and
# its code values (dbt_project/models/marts/_marts.yml) -- a failing test fails `dbt build` at that model and dbt
# builds nothing on top of it.  These suites own what is measured on the published content and shown with masked
# samples in meta.quality_result and the quality pages: one person per ID number and its canonical form (the
# outcome of identity resolution), each source record mapped once, coverage rates that are shares, and the
# suspect list (written by yibao.fraud, not by dbt).  A blocking failure here fails the run before fraud scoring
# and the serving refresh (orchestration/pipeline.py).
GOLD_RULES = {
    # table: [(rule, expectation, kwargs, severity, title, column)]
    "person_master": [
        ("unique.certno", "ExpectColumnValuesToBeUnique", {"column": "certno"}, BLOCKING,
         "一个身份证号只对应一个人 (certno 唯一)", "certno"),
        ("certno_format.certno", "ExpectColumnValuesToMatchRegex",
         {"column": "certno", "regex": r"^[0-9]{17}[0-9X]$"}, BLOCKING, "规范身份证号为 18 位", "certno"),
    ],
    "person_xref": [
        ("key_unique.source_key", "ExpectCompoundColumnsToBeUnique",
         {"column_list": ["source", "source_table", "source_key"]}, BLOCKING, "来源记录只出现一次", None),
    ],
    "coverage_by_region": [
        ("range.coverage_rate", "ExpectColumnValuesToBeBetween",
         {"column": "coverage_rate", "min_value": 0, "max_value": 1}, BLOCKING, "参保率在 0 与 1 之间",
         "coverage_rate"),
    ],
    "fraud_suspect": [
        ("key_unique.suspect_id", "ExpectColumnValuesToBeUnique", {"column": "suspect_id"}, BLOCKING,
         "疑点编号唯一", "suspect_id"),
    ],
}


def silver_suite(table: str, columns: list[str]) -> Suite | None:
    """Suite of a silver staging model ``stg_<source>__<table>`` (None for other silver tables)."""
    if not table.startswith("stg_") or "__" not in table:
        return None
    source, src_table = table[4:].split("__", 1)
    from yibao.contract import table_spec

    spec = table_spec(source, src_table)
    keys = tuple(k for k in (spec.keys if spec else ()) if k in columns)
    s = Suite("silver", table, source, src_table, keys=keys,
              index_columns=keys + tuple(c for c in ("_batch_id", "_line_number") if c in columns),
              unique_skip_null_keys=True)
    if len(keys) == 1:
        s.checks.append(Check(f"key_unique.{keys[0]}", "ExpectColumnValuesToBeUnique", {"column": keys[0]},
                              BLOCKING, f"主键 {zh(keys[0])} 唯一", keys[0], "uniqueness"))
    elif keys:
        s.checks.append(Check("key_unique." + "+".join(keys), "ExpectCompoundColumnsToBeUnique",
                              {"column_list": list(keys)}, BLOCKING, f"主键 ({', '.join(keys)}) 唯一", None,
                              "uniqueness"))
    if "_key_versions" in columns:
        # the dedup rule of the staging models (macro latest_per_key) resolved repeated keys: counted, not blocking
        s.checks.append(Check("superseded.key", "ExpectColumnValuesToBeInSet",
                              {"column": "_key_versions", "value_set": [1]}, WARNING,
                              "主键清洗后重复 (保留最新批次、最新行; 被替代的行见 silver.stg_superseded_row)",
                              keys[0] if keys else None, "uniqueness"))
    for c in columns:
        if c.endswith("certno_status"):
            base = c[: -len("_status")]
            s.checks.extend(_tiered(f"certno_valid.{base}", "certno_format", "ExpectColumnValuesToBeInSet",
                                    {"column": c, "value_set": TRUSTED_CERTNO,
                                     "row_condition": f"{c} <> 'MISSING'", "condition_parser": "spark"},
                                    f"{zh(base)} 校验 (GB 11643 校验码、出生日期; dbt certno_status)", base))
    return _flag_uniqueness(s)


def gold_suite(table: str, columns: list[str]) -> Suite | None:
    rules = GOLD_RULES.get(table)
    if not rules:
        return None
    s = Suite("gold", table, "gold", table)
    have = set(columns)
    for rule, exp, kw, sev, title, col in rules:
        needed = kw.get("column_list") or [kw["column"]]
        if all(c in have for c in needed):
            s.checks.append(Check(rule, exp, kw, sev, title, col, dimension_of(rule)))
    if "person_id" in have:
        s.index_columns = ("person_id",)
    return _flag_uniqueness(s)
