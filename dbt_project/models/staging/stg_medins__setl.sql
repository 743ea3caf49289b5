-- 结算信息.  Settlements grow every day: incremental, merged by setl_id (a later delivery of the same
-- settlement, e.g. its reversal, replaces the earlier row); the rule for incremental staging models is
-- macros/incremental_staging.sql.
{% call latest_per_key() %}
{{ config(**incremental_staging()) }}
with src as (
    select setl_id, mdtrt_id, psn_no, certno as _certno_in, insutype, med_type, fixmedins_code, atddr_no,
           begndate, enddate, setl_time, dise_codg, medfee_sumamt, fulamt_ownpay_amt, hifp_pay, acct_pay,
           psn_cash_pay, hifmi_pay, hifob_pay, cvlserv_pay, maf_pay, oth_pay,
           insu_admdvs, mdtrt_admdvs, refd_setl_flag, updt_time, _batch_id, _file, _line_number, _ingest_time
    from {{ new_rows(source('medins', 'setl')) }}
)
select
    {{ clean_code('s.setl_id') }} as setl_id,
    {{ clean_code('s.mdtrt_id') }} as mdtrt_id,
    {{ clean_code('s.psn_no') }} as psn_no,
    s.certno_raw, s.certno_norm, s.certno_status, s.certno, s.certno_flags,
    {{ clean_code('s.insutype') }} as insutype,
    {{ clean_code('s.med_type') }} as med_type,
    {{ clean_code('s.fixmedins_code') }} as fixmedins_code,
    {{ clean_code('s.atddr_no') }} as atddr_no,
    s.begndate, s.enddate, s.setl_time,
    {{ clean_code('s.dise_codg') }} as dise_codg,
    s.medfee_sumamt, s.fulamt_ownpay_amt, s.hifp_pay, s.acct_pay, s.psn_cash_pay,
    -- section 6's fund shares (null when the producer does not deliver them)
    s.hifmi_pay, s.hifob_pay, s.cvlserv_pay, s.maf_pay, s.oth_pay,
    {{ clean_code('s.insu_admdvs') }} as insu_admdvs,
    {{ clean_code('s.mdtrt_admdvs') }} as mdtrt_admdvs,
    coalesce({{ clean_code('s.refd_setl_flag') }}, '0') as refd_setl_flag,
    s.updt_time, s._batch_id, s._file, s._line_number, s._ingest_time,
    concat_ws(',', nullif(s.certno_flags, ''),
        case when s.enddate < s.begndate then 'END_BEFORE_BEGIN' end,
        case when s.medfee_sumamt < 0 then 'NEGATIVE_AMOUNT' end) as quality_flags
from {{ certno_std('src', '_certno_in') }} s
{% endcall %}
