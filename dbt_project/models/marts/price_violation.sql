-- 超限价收费 (contract section 6): one row per fee line of a counted settlement (int_settlement) billed above the
-- price ceiling of its catalogue item (med_list.pric_uplmt, when the item has one): pric > pric_uplmt.
--   excess_amount  (pric - pric_uplmt) x cnt: what was billed above the ceiling
-- The one home of the rule: the fraud rule R11_OVER_CEILING reads this table.  Empty without med_list.
select fl.feedetl_sn, fl.setl_id, s.person_id, s.fixmedins_code, f.fixmedins_name, s.region as admdvs,
       coalesce(to_date(fl.fee_ocur_time), s.begndate) as fee_date,
       fl.med_list_codg, coalesce(m.list_name, fl.list_name) as list_name,
       fl.cnt, fl.pric, m.pric_uplmt,
       cast((fl.pric - m.pric_uplmt) * fl.cnt as decimal(26, 2)) as excess_amount
from {{ ref('stg_medins__fee_list') }} fl
join {{ ref('int_settlement') }} s on s.setl_id = fl.setl_id
join {{ ref('stg_medins__med_list') }} m on m.med_list_codg = fl.med_list_codg
left join {{ ref('stg_medins__fixmedins') }} f on f.fixmedins_code = s.fixmedins_code
where m.pric_uplmt is not null and fl.pric > m.pric_uplmt
