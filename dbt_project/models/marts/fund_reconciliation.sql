-- 三方对账 (contract section 6, three-party reconciliation): per insured region x insutype x settlement month,
-- what the counted settlements say the basic fund owes institutions (settled_amount: hifp_pay + acct_pay, by
-- settlement month), what fund_payment paid for that month (paid_amount) and what bank_stmt shows leaving the
-- account to institutions for it (bank_amount: the bank rows matched to the month's payments, plus the unmatched
-- institution E rows of the month before their txn_date; int_fund_bank_match).
--   diff_settlement_payment = paid - settled; diff_payment_bank = bank - paid (null when no bank_stmt delivered)
--   differences = rows of fund_reconciliation_diff for the key; status 一致 when none, else 不一致 (differences
--   of opposite sign at two institutions are listed and make the month 不一致 even when the totals agree)
-- The months reconciled are the ones fund_payment covers (int_fund_settlement_payment); no fund_payment: no rows.
with bank_delivered as (
    select count(*) as bank_rows from {{ ref('stg_medins__bank_stmt') }}
),
span as (
    select min(ym) as first_ym, max(ym) as last_ym from {{ ref('stg_medins__fund_payment') }}
),
facts as (
    select admdvs, insutype, ym, settled_amount as settled, paid_amount as paid,
           cast(0 as decimal(16, 2)) as bank, 0 as difference
    from {{ ref('int_fund_settlement_payment') }}
    union all
    select m.admdvs, m.insutype, m.ym, 0, 0, coalesce(m.bank_amount, 0), 0
    from {{ ref('int_fund_bank_match') }} m
    cross join span
    where m.pay_id is not null or m.ym between span.first_ym and span.last_ym
    union all
    select admdvs, insutype, ym, 0, 0, 0, 1
    from {{ ref('fund_reconciliation_diff') }}
),
k as (
    select admdvs, insutype, ym,
           cast(sum(settled) as decimal(26, 2)) as settled_amount,
           cast(sum(paid) as decimal(26, 2)) as paid_amount,
           case when max(b.bank_rows) > 0 then cast(sum(bank) as decimal(26, 2)) end as bank_amount,
           sum(difference) as differences
    from facts
    cross join bank_delivered b
    group by admdvs, insutype, ym
)
select admdvs, insutype, ym, settled_amount, paid_amount, bank_amount,
       cast(paid_amount - settled_amount as decimal(26, 2)) as diff_settlement_payment,
       cast(bank_amount - paid_amount as decimal(26, 2)) as diff_payment_bank,
       differences,
       case when differences = 0 then '一致' else '不一致' end as status
from k
