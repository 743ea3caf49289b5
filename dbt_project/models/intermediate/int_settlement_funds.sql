-- Counted settlements (int_settlement: refd_setl_flag <> '1') with every fund share of the settlement, for the
-- medical-assistance and fund-finance marts (contract section 6).
--   ym / year   the settlement month of int_settlement (the one rule: setl_time's month, enddate's when null)
--   fund_owed   what the settlement says the basic fund owes the institution (三方对账): hifp_pay + acct_pay
--               (统筹基金 + 个人账户 of the settlement's insutype); the other shares (大病/大额/公务员/救助/其他) are
--               paid from other accounts and are not part of it
--   serious_pay 大病保险 + 大额医疗补助 + 公务员医疗补助 (hifmi_pay + hifob_pay + cvlserv_pay), null when the
--               producer delivers none of the three
-- The section-6 shares are null when the producer does not deliver them (setl's added columns).
select i.setl_id, i.person_id, s.psn_no, s.certno, s.certno_norm, s.insu_admdvs, s.insutype, s.med_type,
       s.fixmedins_code,
       i.ym, cast(substr(i.ym, 1, 4) as int) as year,
       s.medfee_sumamt, s.hifp_pay, s.acct_pay, s.psn_cash_pay,
       s.hifmi_pay, s.hifob_pay, s.cvlserv_pay, s.maf_pay, s.oth_pay,
       coalesce(s.hifp_pay, 0) + coalesce(s.acct_pay, 0) as fund_owed,
       case when coalesce(s.hifmi_pay, s.hifob_pay, s.cvlserv_pay) is not null
            then coalesce(s.hifmi_pay, 0) + coalesce(s.hifob_pay, 0) + coalesce(s.cvlserv_pay, 0) end as serious_pay
from {{ ref('int_settlement') }} i
join {{ ref('stg_medins__setl') }} s on s.setl_id = i.setl_id
