-- 三方对账差异明细 (contract section 6, three-party reconciliation: "every difference is listed with its side").
-- One row per difference; amounts in yuan; diff_amount = actual_amount - expected_amount; a difference of at most
-- var recon_tolerance yuan is not listed.
--   SETTLEMENT_PAYMENT 结算应付与基金拨付不符, per institution x insured region x insutype x settlement month
--                      (int_fund_settlement_payment): expected = what the counted settlements owe (hifp_pay +
--                      acct_pay), actual = what fund_payment paid.  Paid less or more than owed, owed and not paid,
--                      paid with nothing owed.  pay_id: the month's payments (comma list), null when none.
--   PAYMENT_BANK       基金拨付与银行流水不符, per payment or institution bank E row (int_fund_bank_match):
--                      expected = the payment's amount, actual = its bank row's.  A payment without bank row, a
--                      bank row of another amount, a bank E row to an institution without payment (only those whose
--                      month, the month before txn_date, lies within the months fund_payment covers).
-- Only what was delivered is reconciled: no fund_payment, no rows; no bank_stmt, no PAYMENT_BANK rows.
{%- set tol = var('recon_tolerance') %}
{%- set sides = {'SETTLEMENT_PAYMENT': '结算应付与基金拨付不符', 'PAYMENT_BANK': '基金拨付与银行流水不符'} %}
{%- set rules = {'MEMO_PAY_ID': '备注含拨付单号', 'KEYS_AMOUNT': '机构、日期、金额一致', 'KEYS_DATE': '机构、日期一致'} %}
with delivered as (
    select p.payments, b.bank_rows
    from (select count(*) as payments from {{ ref('stg_medins__fund_payment') }}) p
    cross join (select count(*) as bank_rows from {{ ref('stg_medins__bank_stmt') }}) b
),
span as (
    select min(ym) as first_ym, max(ym) as last_ym from {{ ref('stg_medins__fund_payment') }}
),
settlement_payment as (
    select admdvs, insutype, ym, 'SETTLEMENT_PAYMENT' as side, fixmedins_code, pay_ids as pay_id,
           cast(null as string) as txn_id, cast(null as string) as match_rule,
           settled_amount as expected_amount, paid_amount as actual_amount,
           case when payments = 0 then
                    concat('结算应付未拨付：', settlements, ' 笔结算应付 ', format_number(settled_amount, 2),
                           '元，无基金拨付')
                when settlements = 0 or settled_amount = 0 then
                    concat('无结算应付却拨付：拨付单 ', pay_ids, ' 拨付 ', format_number(paid_amount, 2), '元')
                else concat(case when paid_amount < settled_amount then '拨付少于结算应付' else '拨付多于结算应付' end,
                            '：', settlements, ' 笔结算应付 ', format_number(settled_amount, 2), '元，拨付单 ',
                            pay_ids, ' 拨付 ', format_number(paid_amount, 2), '元')
           end as reason
    from {{ ref('int_fund_settlement_payment') }}
    where abs(paid_amount - settled_amount) > {{ tol }}
),
payment_bank as (
    select m.admdvs, m.insutype, m.ym, 'PAYMENT_BANK' as side, m.fixmedins_code, m.pay_id, m.txn_id, m.match_rule,
           coalesce(m.paid_amount, 0) as expected_amount, coalesce(m.bank_amount, 0) as actual_amount,
           case when m.pay_id is null then
                    concat('银行流水无对应基金拨付：流水 ', m.txn_id, ' 于 ', m.txn_date, ' 支付 ', m.counterparty, ' ',
                           format_number(m.bank_amount, 2), '元')
                when m.txn_id is null then
                    concat('基金拨付无对应银行流水：拨付单 ', m.pay_id, ' 于 ', coalesce(cast(m.pay_date as string), '（无日期）'),
                           ' 拨付 ', format_number(m.paid_amount, 2), '元')
                else concat('银行流水金额与拨付不符：拨付单 ', m.pay_id, ' 拨付 ', format_number(m.paid_amount, 2),
                            '元，银行流水 ', m.txn_id, ' ', format_number(m.bank_amount, 2), '元（匹配依据：',
                            case m.match_rule {% for code, name in rules.items() %}when '{{ code }}' then '{{ name }}' {% endfor %}end,
                            '）')
           end as reason
    from {{ ref('int_fund_bank_match') }} m
    cross join delivered d
    cross join span
    where d.bank_rows > 0
      and (m.pay_id is not null or m.ym between span.first_ym and span.last_ym)
      and (m.pay_id is null or m.txn_id is null or abs(m.bank_amount - m.paid_amount) > {{ tol }})
),
diff as (
    select * from settlement_payment
    union all
    select * from payment_bank
)
select d.admdvs, d.insutype, d.ym, d.side,
       case d.side {% for code, name in sides.items() %}when '{{ code }}' then '{{ name }}' {% endfor %}end as side_zh,
       d.fixmedins_code, d.pay_id, d.txn_id,
       cast(d.expected_amount as decimal(26, 2)) as expected_amount,
       cast(d.actual_amount as decimal(26, 2)) as actual_amount,
       cast(d.actual_amount - d.expected_amount as decimal(26, 2)) as diff_amount,
       d.reason, d.match_rule
from diff d
cross join delivered v
where v.payments > 0
