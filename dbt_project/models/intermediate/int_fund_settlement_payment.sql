-- Three-party reconciliation (三方对账), first side: what the counted settlements say the basic fund owes each
-- institution (int_settlement_funds.fund_owed = hifp_pay + acct_pay) against what fund_payment paid it, per
-- insured region (insu_admdvs = fund_payment.admdvs), insutype, institution and settlement month (fund_payment.ym).
-- One row per institution-month that owed or was paid anything.
-- Only the settlement months fund_payment covers (its first to its last ym) are reconciled: before the first
-- payments delivered there is nothing to compare, and the months after the last one are not due yet (a month is
-- paid in the following month).  No fund_payment delivered (contract section 6 is optional): no rows.
with span as (
    select min(ym) as first_ym, max(ym) as last_ym from {{ ref('stg_medins__fund_payment') }}
),
facts as (
    select s.insu_admdvs as admdvs, s.insutype, s.fixmedins_code, s.ym,
           s.fund_owed as settled, 1 as settlement, cast(0 as decimal(16, 2)) as paid, 0 as payment,
           cast(null as string) as pay_id
    from {{ ref('int_settlement_funds') }} s
    cross join span
    where s.ym between span.first_ym and span.last_ym
    union all
    select admdvs, insutype, fixmedins_code, ym, cast(0 as decimal(16, 2)), 0, amount, 1, pay_id
    from {{ ref('stg_medins__fund_payment') }}
)
select admdvs, insutype, fixmedins_code, ym,
       sum(settled) as settled_amount, sum(settlement) as settlements,
       sum(paid) as paid_amount, sum(payment) as payments,
       nullif(array_join(array_sort(collect_list(pay_id)), ','), '') as pay_ids
from facts
group by admdvs, insutype, fixmedins_code, ym
