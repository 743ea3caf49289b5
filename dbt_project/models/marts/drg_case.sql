-- DRG/DIP 病例 (contract section 6; team definitions in _marts_reform.yml): one row per counted inpatient
-- settlement (int_settlement: refd_setl_flag <> 1, med_type in the seed's inpatient_med_type list) that has a
-- 医保结算清单 (setl_list) row, with its DRG group (CHS-DRG weight RW) and DIP group (score) of the settlement year.
--   admdvs         the institution's pooling region (int_settlement.region: fixmedins.admdvs -> gbt2260 pooling_region)
--   year           year of the settlement month (int_settlement.ym: setl_time, enddate when null)
--   group_avg_*    drg_group.avg_cost / avg_days when delivered, else the mean of the region's cases of the group
--                  and year (per column)
--   outlier        高倍率: cost > drg_high_outlier_ratio x group average cost; 低倍率: cost < drg_low_outlier_ratio x it
--   is_upcoding_suspect  高套分组: weight >= drg_upcoding_min_weight and cost < drg_upcoding_cost_ratio x group
--                  average cost and ipt_days < drg_upcoding_days_ratio x group average days
-- Without setl_list (a producer that does not deliver section 6) the table is empty.
{%- set min_w = var('drg_upcoding_min_weight') %}
{%- set cost_r = var('drg_upcoding_cost_ratio') %}
{%- set days_r = var('drg_upcoding_days_ratio') %}
with base as (
    select s.setl_id, s.person_id, s.fixmedins_code, s.region as admdvs,
           cast(substr(s.ym, 1, 4) as int) as year,
           l.drg_codg, l.dip_codg, l.ipt_days, s.medfee_sumamt, s.hifp_pay
    from {{ ref('int_settlement') }} s
    join {{ ref('stg_medins__setl_list') }} l on l.setl_id = s.setl_id
    where s.is_inpatient
),
region_group as (   -- the region's own averages per DRG group and year (fallback for drg_group's)
    select admdvs, year, drg_codg,
           cast(avg(medfee_sumamt) as double) as avg_cost, cast(avg(ipt_days) as double) as avg_days
    from base
    where drg_codg is not null
    group by admdvs, year, drg_codg
),
c as (
    select b.*, g.drg_name, cast(g.weight as double) as weight, cast(d.score as double) as dip_score,
           coalesce(cast(g.avg_cost as double), r.avg_cost) as group_avg_cost,
           coalesce(cast(g.avg_days as double), r.avg_days) as group_avg_days
    from base b
    left join {{ ref('stg_medins__drg_group') }} g on g.year = b.year and g.drg_codg = b.drg_codg
    left join {{ ref('stg_medins__dip_group') }} d on d.year = b.year and d.dip_codg = b.dip_codg
    left join region_group r on r.admdvs <=> b.admdvs and r.year = b.year and r.drg_codg = b.drg_codg
),
f as (
    select c.*,
           cast(medfee_sumamt as double) / nullif(group_avg_cost, 0) as cost_ratio,
           cast(ipt_days as double) / nullif(group_avg_days, 0) as days_ratio,
           coalesce(weight >= {{ min_w }}
                    and medfee_sumamt < {{ cost_r }} * group_avg_cost
                    and ipt_days < {{ days_r }} * group_avg_days, false) as is_upcoding_suspect
    from c
)
select setl_id, person_id, fixmedins_code, admdvs, year, drg_codg, drg_name, weight, dip_codg, dip_score, ipt_days,
       cast(medfee_sumamt as decimal(26, 2)) as medfee_sumamt, cast(hifp_pay as decimal(26, 2)) as hifp_pay,
       group_avg_cost, group_avg_days, cost_ratio,
       case when medfee_sumamt > {{ var('drg_high_outlier_ratio') }} * group_avg_cost then '高倍率'
            when medfee_sumamt < {{ var('drg_low_outlier_ratio') }} * group_avg_cost then '低倍率' end as outlier,
       is_upcoding_suspect,
       case when is_upcoding_suspect then
           concat('DRG组 ', drg_codg, coalesce(concat('（', drg_name, '）'), ''), ' 权重 ', format_number(weight, 4),
                  '（≥ ', format_number({{ min_w }}, 2), '），本例医疗费用 ', format_number(medfee_sumamt, 2),
                  '元，为组均费用 ', format_number(group_avg_cost, 2), '元 的 ', format_number(cost_ratio * 100, 1),
                  '%（< ', format_number({{ cost_r }} * 100, 1), '%）；住院 ', ipt_days, ' 天，为组均 ',
                  format_number(group_avg_days, 1), ' 天的 ', format_number(days_ratio * 100, 1), '%（< ',
                  format_number({{ days_r }} * 100, 1), '%）：疑似高套分组')
       end as upcoding_evidence
from f
