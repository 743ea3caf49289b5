-- Three-party reconciliation (三方对账), second side: each fund_payment matched to the bank E row (基金专户银行流水)
-- that paid it.  One row per payment (matched or not) and one per institution bank E row no payment matched.
--
-- A payment to an institution leaves the account as an E row with counterparty = fixmedins_code, txn_date =
-- pay_date, the same admdvs, insutype and amount, and normally the pay_id in memo.  Producers differ, so the
-- match is a cascade; each level only sees the payments and bank rows no earlier level used, and pairs them one to
-- one (a payment or a bank row is used by at most one match):
--   MEMO_PAY_ID  the memo names the pay_id (as a whole token: the memo is cut at every character that is not a
--                letter or digit, and again keeping '-' and '_', so 'P12' never matches 'P123'); among several
--                candidates the one with the same amount, then the same date, then the smallest txn_id / pay_id
--   KEYS_AMOUNT  same admdvs, insutype, counterparty = fixmedins_code, txn_date = pay_date and amount; n-th
--                payment with the n-th bank row of the same keys (by pay_id / txn_id)
--   KEYS_DATE    same admdvs, insutype, counterparty and date, any amount; n-th with n-th by amount
-- "Institution" bank rows: E rows whose counterparty is a fixmedins_code (the register or a payment's); other E
-- rows (上解, transfers) and I rows are not part of the reconciliation, unless a memo names a pay_id.
-- ym: the payment's settlement month; for a bank row without payment the month before txn_date (a month's
-- settlements are paid in the following month).
with pay as (
    select pay_id, fixmedins_code, admdvs, insutype, ym, amount, pay_date
    from {{ ref('stg_medins__fund_payment') }}
    where pay_id is not null
),
institution as (
    select fixmedins_code from {{ ref('stg_medins__fixmedins') }} where fixmedins_code is not null
    union
    select fixmedins_code from pay where fixmedins_code is not null
),
bank_e as (
    select b.txn_id, b.admdvs, b.insutype, b.txn_date, b.amount, b.counterparty, b.memo,
           i.fixmedins_code is not null as to_institution
    from {{ ref('stg_medins__bank_stmt') }} b
    left join institution i on i.fixmedins_code = b.counterparty
    where b.direction = 'E' and b.txn_id is not null
),

-- level 1: the memo names the pay_id
memo_token as (
    select distinct txn_id, token
    from (
        select txn_id, explode(split(regexp_replace(memo, '[^0-9A-Za-z]+', ' '), ' ')) as token
        from bank_e where memo is not null
        union all
        select txn_id, explode(split(regexp_replace(memo, '[^0-9A-Za-z_-]+', ' '), ' ')) as token
        from bank_e where memo is not null
    ) t
    where token <> ''
),
memo_cand as (
    select p.pay_id, b.txn_id,
           row_number() over (partition by p.pay_id
                              order by case when b.amount = p.amount then 0 else 1 end,
                                       case when b.txn_date = p.pay_date then 0 else 1 end, b.txn_id) as rank_for_pay
    from memo_token t
    join pay p on p.pay_id = t.token
    join bank_e b on b.txn_id = t.txn_id
),
memo_match as (
    select pay_id, txn_id, 'MEMO_PAY_ID' as match_rule
    from (select c.pay_id, c.txn_id,
                 row_number() over (partition by c.txn_id
                                    order by case when b.amount = p.amount then 0 else 1 end, c.pay_id) as rank_for_txn
          from memo_cand c
          join pay p on p.pay_id = c.pay_id
          join bank_e b on b.txn_id = c.txn_id
          where c.rank_for_pay = 1) m
    where rank_for_txn = 1
),
pay1 as (
    select p.* from pay p left anti join memo_match m on m.pay_id = p.pay_id
),
bank1 as (
    select b.* from bank_e b left anti join memo_match m on m.txn_id = b.txn_id where b.to_institution
),

-- level 2: admdvs, insutype, institution, date and amount
pay1_n as (
    select p.*, row_number() over (partition by admdvs, insutype, fixmedins_code, pay_date, amount order by pay_id) as n
    from pay1 p where admdvs is not null and insutype is not null and pay_date is not null and amount is not null
),
bank1_n as (
    select b.*, row_number() over (partition by admdvs, insutype, counterparty, txn_date, amount order by txn_id) as n
    from bank1 b where admdvs is not null and insutype is not null and txn_date is not null and amount is not null
),
amount_match as (
    select p.pay_id, b.txn_id, 'KEYS_AMOUNT' as match_rule
    from pay1_n p
    join bank1_n b on b.admdvs = p.admdvs and b.insutype = p.insutype and b.counterparty = p.fixmedins_code
                  and b.txn_date = p.pay_date and b.amount = p.amount and b.n = p.n
),
pay2 as (
    select p.* from pay1 p left anti join amount_match m on m.pay_id = p.pay_id
),
bank2 as (
    select b.* from bank1 b left anti join amount_match m on m.txn_id = b.txn_id
),

-- level 3: admdvs, insutype, institution and date (the amounts differ)
pay2_n as (
    select p.*, row_number() over (partition by admdvs, insutype, fixmedins_code, pay_date order by amount, pay_id) as n
    from pay2 p where admdvs is not null and insutype is not null and pay_date is not null
),
bank2_n as (
    select b.*, row_number() over (partition by admdvs, insutype, counterparty, txn_date order by amount, txn_id) as n
    from bank2 b where admdvs is not null and insutype is not null and txn_date is not null
),
date_match as (
    select p.pay_id, b.txn_id, 'KEYS_DATE' as match_rule
    from pay2_n p
    join bank2_n b on b.admdvs = p.admdvs and b.insutype = p.insutype and b.counterparty = p.fixmedins_code
                  and b.txn_date = p.pay_date and b.n = p.n
),

matched as (
    select * from memo_match
    union all select * from amount_match
    union all select * from date_match
),
bank_unmatched as (
    select b.* from bank2 b left anti join date_match m on m.txn_id = b.txn_id
)
select p.pay_id, m.txn_id, p.admdvs, p.insutype, p.ym, p.fixmedins_code,
       p.amount as paid_amount, b.amount as bank_amount, p.pay_date, b.txn_date, b.counterparty, b.memo,
       m.match_rule
from pay p
left join matched m on m.pay_id = p.pay_id
left join bank_e b on b.txn_id = m.txn_id
union all
select cast(null as string), b.txn_id, b.admdvs, b.insutype,
       date_format(add_months(b.txn_date, -1), 'yyyyMM'), b.counterparty,
       cast(null as decimal(16, 2)), b.amount, cast(null as date), b.txn_date, b.counterparty, b.memo,
       cast(null as string)
from bank_unmatched b
