-- 基金收支结构 (fund_ledger, contract sections 1-2): pooling region x insutype x month x direction x item.
--   item_name           the item's name in the code list (fund_item_I 收入项目 / fund_item_E 支出项目); null for a
--                       code the list does not have
--   share_of_direction  the item's share of the month's income (direction I) or expense (E) of the region and
--                       insutype
--   yoy_amount          the same item of the same month a year earlier (同比; null when the ledger has none)
--   yoy_rate            amount / yoy_amount - 1
with l as (
    select admdvs, insutype, ym, direction, item_type, sum(amount) as amount
    from {{ ref('stg_medins__fund_ledger') }}
    group by admdvs, insutype, ym, direction, item_type
),
s as (
    select l.*,
           sum(amount) over (partition by admdvs, insutype, ym, direction) as direction_amount,
           date_format(add_months(to_date(concat(ym, '01'), 'yyyyMMdd'), -12), 'yyyyMM') as ym_last_year
    from l
)
select s.admdvs, s.insutype, s.ym, s.direction, dn.name as direction_name, s.item_type, n.name as item_name,
       s.amount,
       cast(s.amount as double) / nullif(cast(s.direction_amount as double), 0) as share_of_direction,
       y.amount as yoy_amount,
       cast(s.amount as double) / nullif(cast(y.amount as double), 0) - 1 as yoy_rate
from s
left join l y on y.admdvs = s.admdvs and y.insutype = s.insutype and y.direction = s.direction
             and y.item_type = s.item_type and y.ym = s.ym_last_year
{{ code_list_join('dn', 'fund_direction', 's.direction') }}
left join {{ ref('code_list') }} n on n.code_type = concat('fund_item_', s.direction) and n.code = s.item_type
