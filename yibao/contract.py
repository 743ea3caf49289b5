"""The data contract (shared/spec/data-contract.md, sections 1-2 and 6) as data: the one registry of sources, tables,
columns, keys and landing types.

Every stage reads it from here: ingestion (what a batch may hold and how each column is typed), the quality
suites (keys, tables), the transformation (dbt sources and the staging models' dedup keys), the orchestration
(one asset per table), the steward decisions and the generator of the synthetic province.  It lives in the
shared package so that no stage imports another stage for it.

Every source table is listed with its columns in contract order, its key, and the type each column
is landed with in bronze.  Bronze keeps identifiers, names and codes exactly as delivered (strings);
only dates, timestamps, year-months, years, amounts and quantities are typed, because a value there
that cannot be typed is unusable downstream and must be quarantined at the door.

Section 6 (contract version 2: payment reform, prices, medical assistance, fund finance) is optional for a
producer: its tables are marked ``optional`` (a landing zone without them runs as before; their bronze tables
exist empty and the analyses reading them say no data was delivered), and the columns it adds to an existing
table (``setl``'s fund shares) are ``added`` columns: kept and typed when a file has them, null when it does
not, never a reason to reject the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SOURCES = ("medins", "national", "police", "civil_affairs", "tax", "health", "hrss")
# A batch id sorts in delivery order (e.g. 20261101-001).  Folder names that do not match are refused:
# the id is recorded as data, never trusted further.
BATCH_ID = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,63}$")
FILE_SUFFIXES = (".csv", ".csv.gz")   # a table's file is <table>.csv or <table>.csv.gz
MODES = ("full", "incremental")
ENCODINGS = {"utf-8": "utf-8-sig", "utf8": "utf-8-sig", "gbk": "gbk", "gb2312": "gbk", "gb18030": "gb18030"}

# Column types in bronze.  'string' = as delivered.
DATE, TIMESTAMP, MONEY, QUANTITY, YEARMONTH, YEAR, FLAG, STRING = (
    "date", "timestamp", "money", "quantity", "yearmonth", "year", "flag", "string")

OPTIONAL_COLUMNS = ("updt_time", "del_flag")

_TYPES: dict[str, str] = {
    # dates
    **{c: DATE for c in ("brdy", "crt_insu_date", "paus_insu_date", "begndate", "enddate", "audit_date",
                         "cancel_date", "issue_date", "expire_date", "death_date", "begn_date", "end_date",
                         "pay_date", "list_sbmt_date", "txn_date")},
    # timestamps
    **{c: TIMESTAMP for c in ("setl_time", "fee_ocur_time", "clct_time", "updt_time")},
    # money in yuan
    **{c: MONEY for c in ("psn_clct_amt", "emp_clct_amt", "medfee_sumamt", "fulamt_ownpay_amt", "hifp_pay",
                          "acct_pay", "psn_cash_pay", "pric", "det_item_fee_sumamt", "deduct_amt", "amount",
                          "clct_amt", "hifmi_pay", "hifob_pay", "cvlserv_pay", "maf_pay", "oth_pay", "avg_cost",
                          "pric_uplmt", "purc_amt")},
    **{c: QUANTITY for c in ("cnt", "ipt_days", "weight", "avg_days", "score", "agreed_qty", "purc_qty")},
    **{c: YEARMONTH for c in ("accrym", "ym", "last_tax_ym")},
    "year": YEAR,
    "del_flag": FLAG,
}


# The longest value a field may hold, in characters.  The contract sets no lengths; a value beyond these is damage
# or an attack (an "address" of megabytes, a "name" of a hundred thousand characters), not data, and would reach
# every screen and file that shows it.  Ingestion quarantines such a row with its reason (README, "Ingestion rules").
# Names: a person's name (the masking rule's name columns); everything else: generous for addresses and item names.
MAX_NAME_CHARS = 100
MAX_FIELD_CHARS = 2000


def max_chars(column: str) -> int:
    """The longest value ``column`` may hold (characters)."""
    from yibao.masking import NAME_COLUMNS

    return MAX_NAME_CHARS if column in NAME_COLUMNS else MAX_FIELD_CHARS


@dataclass(frozen=True)
class TableSpec:
    source: str
    name: str
    columns: tuple[str, ...]   # contract columns, in contract order (required in every delivered file)
    keys: tuple[str, ...]
    added: tuple[str, ...] = ()     # columns a later contract version added: kept when present, never required
    optional: bool = False          # a section-6 table: a producer may never deliver it

    @property
    def bronze_name(self) -> str:
        return f"{self.source}__{self.name}"

    @property
    def all_columns(self) -> tuple[str, ...]:
        """Contract columns, the added (version 2) columns, then the optional change-tracking columns every
        table may carry."""
        return self.columns + self.added + tuple(c for c in OPTIONAL_COLUMNS if c not in self.columns)

    def type_of(self, column: str) -> str:
        return _TYPES.get(column, STRING)


def _t(source: str, name: str, spec: str, added: str = "", optional: bool = False) -> TableSpec:
    cols = [c.strip() for c in spec.split(",")]
    keys = tuple(c.rstrip("*") for c in cols if c.endswith("*"))
    return TableSpec(source, name, tuple(c.rstrip("*") for c in cols), keys,
                     tuple(c.strip() for c in added.split(",") if c.strip()), optional)


TABLES: tuple[TableSpec, ...] = (
    _t("medins", "psn_info", "psn_no*, psn_name, gend, brdy, naty, psn_cert_type, certno, tel, surv_stas, "
       "hsreg_addr, hsreg_admdvs, resd_addr, resd_admdvs, hsreg_book_no"),
    _t("medins", "psn_insu", "psn_no*, insutype*, psn_type, psn_insu_stas, crt_insu_date, paus_insu_date, "
       "insu_admdvs, emp_no, emp_name"),
    _t("medins", "contrib", "psn_no*, insutype*, accrym*, psn_clct_amt, emp_clct_amt, clct_flag, clct_time"),
    _t("medins", "emp_info", "emp_no*, emp_name, uscc, emp_type, admdvs"),
    _t("medins", "fixmedins", "fixmedins_code*, fixmedins_name, fixmedins_type, hosp_lv, admdvs"),
    _t("medins", "practitioner", "prac_code*, prac_name, certno, prac_type, fixmedins_code"),
    _t("medins", "setl", "setl_id*, mdtrt_id, psn_no, certno, insutype, med_type, fixmedins_code, atddr_no, "
       "begndate, enddate, setl_time, dise_codg, medfee_sumamt, fulamt_ownpay_amt, hifp_pay, acct_pay, "
       "psn_cash_pay, insu_admdvs, mdtrt_admdvs, refd_setl_flag",
       added="hifmi_pay, hifob_pay, cvlserv_pay, maf_pay, oth_pay"),
    _t("medins", "fee_list", "feedetl_sn*, setl_id, med_list_codg, med_chrgitm_type, list_name, cnt, pric, "
       "det_item_fee_sumamt, bilg_dr_codg, fee_ocur_time"),
    _t("medins", "audit_result", "setl_id*, violation_code, deduct_amt, audit_date"),
    _t("medins", "fund_ledger", "admdvs*, insutype*, ym*, direction*, item_type*, amount"),
    _t("medins", "fund_opening", "admdvs*, insutype*, year*, amount"),
    _t("national", "national_uninsured", "certno*, psn_name, hsreg_admdvs, issue_batch"),
    _t("national", "insured_elsewhere", "certno*, insutype*, insu_admdvs, psn_insu_stas"),
    _t("police", "hsreg_psn", "certno*, psn_name, gend, brdy, naty, hsreg_admdvs, hsreg_addr, hsreg_book_no, "
       "hsreg_stas, cancel_date"),
    _t("police", "resd_permit", "certno*, psn_name, gend, brdy, resd_admdvs, resd_addr, issue_date, expire_date"),
    _t("civil_affairs", "death_cremation", "certno*, psn_name, death_date, admdvs"),
    _t("civil_affairs", "assistance_obj", "certno*, aid_type*, psn_name, admdvs, begn_date, end_date"),
    _t("tax", "taxpayer", "certno*, emp_uscc*, psn_name, last_tax_ym"),
    _t("tax", "medins_clct", "certno*, insutype*, accrym*, clct_amt, pay_date, emp_uscc"),
    _t("health", "birth_cert", "birth_cert_no*, child_name, gend, brdy, mother_certno, father_certno, "
       "birth_admdvs, child_certno"),
    _t("health", "death_cert", "certno*, psn_name, death_date, death_cause_icd10, admdvs"),
    _t("hrss", "pension_insu", "certno*, pension_type*, psn_name, stas, admdvs, emp_uscc"),
    # section 6 (version 2): optional tables
    _t("medins", "setl_list", "setl_id*, main_dise_codg, main_oprn_codg, ipt_days, dscg_way, drg_codg, dip_codg, "
       "list_sbmt_date", optional=True),
    _t("medins", "drg_group", "year*, drg_codg*, drg_name, weight, avg_days, avg_cost", optional=True),
    _t("medins", "dip_group", "year*, dip_codg*, dip_name, score", optional=True),
    _t("medins", "med_list", "med_list_codg*, list_name, list_type, chrgitm_lv, pric_uplmt, gend_lmt, vbp_flag",
       optional=True),
    _t("medins", "vbp_purchase", "fixmedins_code*, med_list_codg*, ym*, agreed_qty, purc_qty, purc_amt",
       optional=True),
    _t("medins", "fund_payment", "pay_id*, fixmedins_code, admdvs, insutype, ym, amount, pay_date", optional=True),
    _t("medins", "bank_stmt", "txn_id*, admdvs, insutype, txn_date, direction, amount, counterparty, memo",
       optional=True),
    _t("civil_affairs", "assistance_pay", "pay_id*, certno, aid_type, setl_id, amount, pay_date, admdvs",
       optional=True),
)

# The columns section 6 added to setl: the shares of a settlement paid by the other funds.
SETL_FUND_SHARES = ("hifmi_pay", "hifob_pay", "cvlserv_pay", "maf_pay", "oth_pay")

_BY_KEY = {(t.source, t.name): t for t in TABLES}


def table_spec(source: str, name: str) -> TableSpec | None:
    return _BY_KEY.get((source, name))


def is_batch_id(value) -> bool:
    return isinstance(value, str) and BATCH_ID.fullmatch(value) is not None


def file_names(table: str) -> tuple[str, ...]:
    """The names the contract allows for a table's file."""
    return tuple(table + suffix for suffix in FILE_SUFFIXES)
