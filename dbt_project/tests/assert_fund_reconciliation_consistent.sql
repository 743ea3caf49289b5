-- Three-party reconciliation (gold.fund_reconciliation against gold.fund_reconciliation_diff): every listed
-- difference is larger than recon_tolerance and is actual - expected; each month's differences count and status
-- are its listed rows; and (tolerance 0) the listed differences of each side add up to the month's totals.
with d as (
    select admdvs, insutype, ym, count(*) as n,
           sum(case when side = 'SETTLEMENT_PAYMENT' then diff_amount else 0 end) as sp,
           sum(case when side = 'PAYMENT_BANK' then diff_amount else 0 end) as pb
    from {{ ref('fund_reconciliation_diff') }}
    group by admdvs, insutype, ym
),
bad_rows as (
    select concat('diff row ', side, ' ', coalesce(pay_id, txn_id, fixmedins_code)) as problem
    from {{ ref('fund_reconciliation_diff') }}
    where diff_amount <> actual_amount - expected_amount or abs(diff_amount) <= {{ var('recon_tolerance') }}
),
bad_months as (
    select concat('month ', r.admdvs, ' ', r.insutype, ' ', r.ym) as problem
    from {{ ref('fund_reconciliation') }} r
    left join d on d.admdvs <=> r.admdvs and d.insutype <=> r.insutype and d.ym = r.ym
    where r.differences <> coalesce(d.n, 0)
       or r.status <> case when coalesce(d.n, 0) = 0 then '一致' else '不一致' end
       {%- if var('recon_tolerance') == 0 %}
       or r.diff_settlement_payment <> coalesce(d.sp, 0)
       or (r.bank_amount is not null and r.diff_payment_bank <> coalesce(d.pb, 0))
       {%- endif %}
)
select problem from bad_rows
union all
select problem from bad_months
