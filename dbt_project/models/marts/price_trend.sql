-- 价格监测 (contract section 6): monthly billed prices of the price_trend_top_n catalogue items (med_list) with
-- the largest billed amount over all months, from the fee lines of counted settlements (int_settlement).
--   ym                  month of the fee line (fee_ocur_time), else of its settlement (setl_time, else begndate)
--   avg_pric            amount / qty (quantity-weighted); min_pric / max_pric over the lines
--   over_ceiling_lines  lines with pric > pric_uplmt (the lines gold.price_violation lists)
--   amount_rank         the item's rank by billed amount over all months (1 = largest)
-- Empty without med_list.
with lines as (
    select fl.med_list_codg, coalesce(m.list_name, fl.list_name) as list_name, m.pric_uplmt,
           date_format(coalesce(fl.fee_ocur_time, s.setl_time, cast(s.begndate as timestamp)), 'yyyyMM') as ym,
           fl.cnt, fl.pric, fl.det_item_fee_sumamt
    from {{ ref('stg_medins__fee_list') }} fl
    join {{ ref('int_settlement') }} s on s.setl_id = fl.setl_id
    join {{ ref('stg_medins__med_list') }} m on m.med_list_codg = fl.med_list_codg
),
ranked as (
    select med_list_codg,
           row_number() over (order by sum(det_item_fee_sumamt) desc, med_list_codg) as amount_rank
    from lines
    group by med_list_codg
)
select l.med_list_codg, max(l.list_name) as list_name, l.ym,
       count(*) as lines,
       sum(l.cnt) as qty,
       cast(sum(l.det_item_fee_sumamt) as decimal(26, 2)) as amount,
       cast(sum(l.det_item_fee_sumamt) as double) / nullif(cast(sum(l.cnt) as double), 0) as avg_pric,
       min(l.pric) as min_pric, max(l.pric) as max_pric,
       max(l.pric_uplmt) as pric_uplmt,
       count_if(l.pric_uplmt is not null and l.pric > l.pric_uplmt) as over_ceiling_lines,
       r.amount_rank
from lines l
join ranked r on r.med_list_codg = l.med_list_codg
where r.amount_rank <= {{ var('price_trend_top_n') }}
group by l.med_list_codg, l.ym, r.amount_rank
