-- DIP 点值 (contract section 6): per pooling region x year, over its DIP cases (drg_case rows whose dip_codg has
-- a score in dip_group for the settlement year).
--   budget       the region's pooled-fund budget = sum of hifp_pay of those cases x dip_budget_factor
--   point_value  点值 = budget / total score
select admdvs, year,
       count(*) as cases,
       sum(dip_score) as total_score,
       cast(sum(hifp_pay) * {{ var('dip_budget_factor') }} as decimal(26, 2)) as budget,
       cast(sum(hifp_pay) * {{ var('dip_budget_factor') }} as double) / nullif(sum(dip_score), 0) as point_value
from {{ ref('drg_case') }}
where dip_score is not null
group by admdvs, year
