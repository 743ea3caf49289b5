-- 异地就医 (tender 004, a demonstration point): counted settlements per settlement month x the insured person's
-- pooling region x the treating pooling region, with the flow (D15):
--   LOCAL             insured and treated in the same pooling region (本地就医)
--   PROVINCE_INNER    both in the province, different pooling regions (省内异地就医)
--   OUT_OF_PROVINCE   insured here, treated in another province (跨省异地就医, 外出)
--   INBOUND           insured in another province, treated here (外省来本省就医)
-- The insured region is the pooling region of the settlement's insu_admdvs; the treating region is the
-- institution's pooling region, else that of mdtrt_admdvs.  A division outside the province is reported as its
-- province (xx0000).  Every settlement of the contract's setl table is a direct settlement (直接结算): the contract
-- has no table of manual reimbursements of care elsewhere, so a direct-settlement rate cannot be computed.
with s as (
    select i.ym, i.is_inpatient, i.medfee_sumamt, i.hifp_pay, i.acct_pay, i.psn_cash_pay,
           i.insu_admdvs, coalesce(i.fixmedins_admdvs, i.mdtrt_admdvs) as mdtrt_div, i.region as mdtrt_pool
    from {{ ref('int_settlement') }} i
    where i.ym is not null
),
r as (
    select s.*,
           case when {{ in_region('s.insu_admdvs') }} then coalesce(di.pooling_region, di.city_code, s.insu_admdvs)
                when s.insu_admdvs is null then 'UNKNOWN'
                else concat(substring(s.insu_admdvs, 1, 2), '0000') end as insu_region,
           case when {{ in_region('s.mdtrt_div') }} then coalesce(s.mdtrt_pool, s.mdtrt_div)
                when s.mdtrt_div is null then coalesce(s.mdtrt_pool, 'UNKNOWN')
                else concat(substring(s.mdtrt_div, 1, 2), '0000') end as mdtrt_region
    from s left join {{ ref('gbt2260_divisions') }} di on di.code = s.insu_admdvs
),
f as (
    select r.*,
           case when r.insu_region = 'UNKNOWN' or r.mdtrt_region = 'UNKNOWN' then 'UNKNOWN'
                when not {{ in_region('r.insu_region') }} then 'INBOUND'
                when not {{ in_region('r.mdtrt_region') }} then 'OUT_OF_PROVINCE'
                when r.insu_region = r.mdtrt_region then 'LOCAL'
                else 'PROVINCE_INNER' end as flow
    from r
)
select f.ym, f.insu_region, di.name as insu_region_name, f.mdtrt_region, dm.name as mdtrt_region_name, f.flow,
       count(*) as settlements,
       count_if(f.is_inpatient) as inpatient_cases,
       count_if(not f.is_inpatient) as outpatient_visits,
       sum(f.medfee_sumamt) as medfee_sumamt,
       sum(f.hifp_pay) as hifp_pay,
       sum(f.acct_pay) as acct_pay,
       sum(f.psn_cash_pay) as psn_cash_pay,
       cast(sum(f.hifp_pay) as double) / nullif(cast(sum(f.medfee_sumamt) as double), 0) as fund_payment_ratio
from f
left join {{ ref('gbt2260_divisions') }} di on di.code = f.insu_region
left join {{ ref('gbt2260_divisions') }} dm on dm.code = f.mdtrt_region
group by f.ym, f.insu_region, di.name, f.mdtrt_region, dm.name, f.flow
