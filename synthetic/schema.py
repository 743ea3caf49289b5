"""Contract table layout (data-contract.md section 2): source → table → columns in contract order, and keys."""

SOURCES = {
    "medins": {
        "psn_info": ["psn_no", "psn_name", "gend", "brdy", "naty", "psn_cert_type", "certno", "tel", "surv_stas",
                     "hsreg_addr", "hsreg_admdvs", "resd_addr", "resd_admdvs", "hsreg_book_no"],
        "psn_insu": ["psn_no", "insutype", "psn_type", "psn_insu_stas", "crt_insu_date", "paus_insu_date", "insu_admdvs",
                     "emp_no", "emp_name"],
        "contrib": ["psn_no", "insutype", "accrym", "psn_clct_amt", "emp_clct_amt", "clct_flag", "clct_time"],
        "emp_info": ["emp_no", "emp_name", "uscc", "emp_type", "admdvs"],
        "fixmedins": ["fixmedins_code", "fixmedins_name", "fixmedins_type", "hosp_lv", "admdvs"],
        "practitioner": ["prac_code", "prac_name", "certno", "prac_type", "fixmedins_code"],
        "setl": ["setl_id", "mdtrt_id", "psn_no", "certno", "insutype", "med_type", "fixmedins_code", "atddr_no", "begndate",
                 "enddate", "setl_time", "dise_codg", "medfee_sumamt", "fulamt_ownpay_amt", "hifp_pay", "acct_pay",
                 "psn_cash_pay", "insu_admdvs", "mdtrt_admdvs", "refd_setl_flag"],
        "fee_list": ["feedetl_sn", "setl_id", "med_list_codg", "med_chrgitm_type", "list_name", "cnt", "pric",
                     "det_item_fee_sumamt", "bilg_dr_codg", "fee_ocur_time"],
        "audit_result": ["setl_id", "violation_code", "deduct_amt", "audit_date"],
        "fund_ledger": ["admdvs", "insutype", "ym", "direction", "item_type", "amount"],
        "fund_opening": ["admdvs", "insutype", "year", "amount"],
    },
    "national": {
        "national_uninsured": ["certno", "psn_name", "hsreg_admdvs", "issue_batch"],
        "insured_elsewhere": ["certno", "insutype", "insu_admdvs", "psn_insu_stas"],
    },
    "police": {
        "hsreg_psn": ["certno", "psn_name", "gend", "brdy", "naty", "hsreg_admdvs", "hsreg_addr", "hsreg_book_no",
                      "hsreg_stas", "cancel_date"],
        "resd_permit": ["certno", "psn_name", "gend", "brdy", "resd_admdvs", "resd_addr", "issue_date", "expire_date"],
    },
    "civil_affairs": {
        "death_cremation": ["certno", "psn_name", "death_date", "admdvs"],
        "assistance_obj": ["certno", "aid_type", "psn_name", "admdvs", "begn_date", "end_date"],
    },
    "tax": {
        "taxpayer": ["certno", "emp_uscc", "psn_name", "last_tax_ym"],
        "medins_clct": ["certno", "insutype", "accrym", "clct_amt", "pay_date", "emp_uscc"],
    },
    "health": {
        "birth_cert": ["birth_cert_no", "child_name", "gend", "brdy", "mother_certno", "father_certno", "birth_admdvs",
                       "child_certno"],
        "death_cert": ["certno", "psn_name", "death_date", "death_cause_icd10", "admdvs"],
    },
    "hrss": {
        "pension_insu": ["certno", "pension_type", "psn_name", "stas", "admdvs", "emp_uscc"],
    },
}

KEYS = {
    "psn_info": ["psn_no"], "psn_insu": ["psn_no", "insutype"], "contrib": ["psn_no", "insutype", "accrym"],
    "emp_info": ["emp_no"], "fixmedins": ["fixmedins_code"], "practitioner": ["prac_code"], "setl": ["setl_id"],
    "fee_list": ["feedetl_sn"], "audit_result": ["setl_id"], "fund_ledger": ["admdvs", "insutype", "ym", "direction", "item_type"],
    "fund_opening": ["admdvs", "insutype", "year"], "national_uninsured": ["certno"], "insured_elsewhere": ["certno", "insutype"],
    "hsreg_psn": ["certno"], "resd_permit": ["certno"], "death_cremation": ["certno"], "assistance_obj": ["certno", "aid_type"],
    "taxpayer": ["certno", "emp_uscc"], "medins_clct": ["certno", "insutype", "accrym"], "birth_cert": ["birth_cert_no"],
    "death_cert": ["certno"], "pension_insu": ["certno", "pension_type"],
}

ENCODING = {"police": "gbk", "civil_affairs": "gbk"}
# Extra (non-contract) columns the generator adds, which ingestion must keep.
EXTRA = {("medins", "psn_info"): ["updt_time", "ext_remark"], ("medins", "psn_insu"): ["updt_time"]}


def encoding_of(source: str) -> str:
    return ENCODING.get(source, "utf-8")
