-- DIP 年终清算模拟 (contract section 6): per pooling region x year x institution, over its DIP cases.
--   clearing_amount  the institution's total score x the region's 点值 (dip_point_value)
--   paid_amount      sum of hifp_pay already paid for those cases
--   clearing_diff    clearing_amount - paid_amount (> 0: the fund owes the institution; < 0: it was overpaid)
with c as (
    select admdvs, year, fixmedins_code, count(*) as cases, sum(dip_score) as total_score,
           sum(hifp_pay) as paid_amount
    from {{ ref('drg_case') }}
    where dip_score is not null
    group by admdvs, year, fixmedins_code
),
k as (
    select c.admdvs, c.year, c.fixmedins_code, c.cases, c.total_score, p.point_value,
           cast(c.total_score * p.point_value as decimal(26, 2)) as clearing_amount,
           cast(c.paid_amount as decimal(26, 2)) as paid_amount
    from c
    join {{ ref('dip_point_value') }} p on p.admdvs <=> c.admdvs and p.year = c.year
)
select k.admdvs, k.year, k.fixmedins_code, f.fixmedins_name, k.cases, k.total_score, k.point_value,
       k.clearing_amount, k.paid_amount, k.clearing_amount - k.paid_amount as clearing_diff
from k
left join {{ ref('stg_medins__fixmedins') }} f on f.fixmedins_code = k.fixmedins_code
