-- 基金支付预警 (payment warnings): one row per warning, from the counted settlements of int_settlement and the
-- reversed ones of stg_medins__setl.  Thresholds are the warn_* vars (dbt_project.yml); definitions also in _marts.yml.
--   DUP_PAYMENT         重复结算: two or more counted settlements of one visit -- the same person (person_id, else
--                       psn_no), institution, begndate, enddate, med_type, medfee_sumamt and hifp_pay > 0 -- under
--                       different setl_ids.  One warning per visit; subject = its first settlement (setl_time,
--                       setl_id); amount = the fund paid beyond that one.
--   REVERSED_STILL_PAID 冲销后仍支付: a reversed settlement (refd_setl_flag = 1) whose payment is still counted: a
--                       counted settlement of the same visit (same psn_no, institution, dates, med_type,
--                       medfee_sumamt and hifp_pay > 0) settled at or before it.  The contract marks the reversed
--                       settlement itself (section 3: 1 reversed, the settlement does not count) and has no link
--                       from a reversal to an original, so this is the one case it can show: the reversal was
--                       booked on a copy while the payment stands.  A counted copy settled after the reversed one
--                       is a re-settlement (冲正后重新结算), not a warning.
--   FUND_SWING_MOM/_YOY 基金支出异常波动: per institution x month and per pooling region x month, fund paid
--                       (hifp_pay) rising or falling by more than warn_mom_rate / warn_yoy_rate against the
--                       previous month / the same month a year earlier, when that base month paid at least
--                       warn_min_base_amount yuan in at least warn_min_base_settlements settlements.  Only months
--                       that ended before the reference date (the open month is incomplete).
--   LARGE_SETTLEMENT    大额结算: a counted settlement whose fund paid (hifp_pay) exceeds warn_large_setl_amount.
-- reason: a Chinese sentence with the figures; amounts of settlements in 元, of months in 万元.
-- setl_ids: a comma list, as every list in gold (an array column breaks `dbt docs generate`: the runner re-registers
-- tables with declared columns, and Sail refuses array<string> against the element field Delta wrote).
{%- set kinds = {'DUP_PAYMENT': '重复结算', 'REVERSED_STILL_PAID': '冲销后仍支付',
                 'FUND_SWING_MOM': '基金支出异常波动（环比）', 'FUND_SWING_YOY': '基金支出异常波动（同比）',
                 'LARGE_SETTLEMENT': '大额结算'} %}
{%- set visit_key = 'person_key, fixmedins_code, begndate, enddate, med_type, medfee_sumamt, hifp_pay' %}
{%- set visit_text -%}
concat(s.begndate, case when s.enddate <> s.begndate then concat('至', s.enddate) else '' end, ' ',
       coalesce(mt.name, s.med_type))
{%- endset %}
with med_type as (
    select code, name from {{ ref('code_list') }} where code_type = 'med_type'
),
counted as (
    select s.*, coalesce(s.person_id, concat('psn:', s.psn_no)) as person_key, {{ visit_text }} as visit_text
    from {{ ref('int_settlement') }} s
    left join med_type mt on mt.code = s.med_type
),

-- 1. the same visit paid twice or more (hifp_pay is part of the visit key: every copy paid the same)
dup as (
    select c.*,
           row_number() over (partition by {{ visit_key }} order by setl_time, setl_id) as n_in_visit,
           count(*) over (partition by {{ visit_key }}) as visit_settlements,
           array_sort(collect_list(setl_id) over (partition by {{ visit_key }})) as visit_setl_ids
    from counted c
    where hifp_pay > 0
),
dup_warning as (
    select 'DUP_PAYMENT' as warning_type, 'settlement' as subject_type, setl_id as subject_id,
           fixmedins_code, region, ym,
           hifp_pay * (visit_settlements - 1) as amount,
           cast(null as decimal(26, 2)) as base_amount, cast(null as double) as change_rate,
           concat('同一人同一机构 ', visit_text, ' 结算 ', visit_settlements, ' 次（医疗总费用 ',
                  format_number(medfee_sumamt, 2), '元，每次统筹基金支付 ', format_number(hifp_pay, 2),
                  '元），多支付 ', format_number(hifp_pay * (visit_settlements - 1), 2), '元') as reason,
           array_join(visit_setl_ids, ',') as setl_ids
    from dup
    where n_in_visit = 1 and visit_settlements > 1
),

-- 2. a reversal booked while the same payment is still counted
reversed as (
    select s.setl_id, s.psn_no, s.fixmedins_code, s.begndate, s.enddate, s.med_type, s.medfee_sumamt, s.hifp_pay,
           coalesce(s.setl_time, cast(s.enddate as timestamp)) as setl_time,
           date_format(coalesce(s.setl_time, cast(s.enddate as timestamp)), 'yyyyMM') as ym,
           {{ visit_text }} as visit_text
    from {{ ref('stg_medins__setl') }} s
    left join med_type mt on mt.code = s.med_type
    where s.refd_setl_flag = '1' and s.hifp_pay > 0
),
reversed_paid as (
    select r.setl_id, r.hifp_pay, r.ym, r.visit_text,
           min(c.fixmedins_code) as fixmedins_code, min(c.region) as region,
           array_sort(collect_list(c.setl_id)) as counted_ids
    from reversed r
    join counted c
      on c.psn_no = r.psn_no and c.fixmedins_code = r.fixmedins_code and c.begndate = r.begndate
     and c.enddate <=> r.enddate and c.med_type = r.med_type and c.medfee_sumamt = r.medfee_sumamt
     and c.hifp_pay = r.hifp_pay and coalesce(c.setl_time, cast(c.enddate as timestamp)) <= r.setl_time
    group by r.setl_id, r.hifp_pay, r.ym, r.visit_text
),
reversed_warning as (
    select 'REVERSED_STILL_PAID' as warning_type, 'settlement' as subject_type, setl_id as subject_id,
           fixmedins_code, region, ym,
           hifp_pay as amount, cast(null as decimal(26, 2)) as base_amount, cast(null as double) as change_rate,
           concat('结算 ', setl_id, ' 已冲正，但同一就诊（', visit_text, '）此前的结算 ', array_join(counted_ids, '、'),
                  ' 仍计入支付，统筹基金 ', format_number(hifp_pay, 2), '元 未收回') as reason,
           concat_ws(',', setl_id, array_join(counted_ids, ',')) as setl_ids
    from reversed_paid
),

-- 3. fund paid per institution and per pooling region and month, against the previous month and last year
monthly as (
    select 'institution' as subject_type, fixmedins_code as subject_id, fixmedins_code, max(region) as region, ym,
           sum(hifp_pay) as fund, count(*) as settlements
    from counted
    where fixmedins_code is not null and ym < {{ ref_ym(0) }}
    group by fixmedins_code, ym
    union all
    select 'region', region, cast(null as string), region, ym, sum(hifp_pay), count(*)
    from counted
    where region is not null and ym < {{ ref_ym(0) }}
    group by region, ym
),
swing as (
    {%- for kind, months_back, base_name, rate in [('FUND_SWING_MOM', 1, '上月', 'warn_mom_rate'),
                                                   ('FUND_SWING_YOY', 12, '上年同月', 'warn_yoy_rate')] %}
    select '{{ kind }}' as warning_type, '{{ base_name }}' as base_name, {{ var(rate) }} as rate,
           m.subject_type, m.subject_id, m.fixmedins_code, m.region, m.ym, m.fund, b.fund as base_amount,
           cast(m.fund / b.fund - 1 as double) as change_rate
    from monthly m
    join monthly b
      on b.subject_type = m.subject_type and b.subject_id = m.subject_id
     and b.ym = date_format(add_months(to_date(concat(m.ym, '01'), 'yyyyMMdd'), -{{ months_back }}), 'yyyyMM')
    where b.fund >= {{ var('warn_min_base_amount') }} and b.settlements >= {{ var('warn_min_base_settlements') }}
      and abs(m.fund / b.fund - 1) > {{ var(rate) }}
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),
subject_name as (
    select 'institution' as subject_type, fixmedins_code as subject_id, fixmedins_name as name
    from {{ ref('stg_medins__fixmedins') }}
    union all
    select 'region', code, name from {{ ref('gbt2260_divisions') }}
),
swing_warning as (
    select s.warning_type, s.subject_type, s.subject_id, s.fixmedins_code, s.region, s.ym,
           s.fund as amount, s.base_amount, s.change_rate,
           concat(substring(s.ym, 1, 4), '年', substring(s.ym, 5, 2), '月 ',
                  case when s.subject_type = 'institution' then '定点机构 ' else '统筹区 ' end,
                  coalesce(concat(n.name, '（', s.subject_id, '）'), s.subject_id),
                  ' 统筹基金支付 ', format_number(s.fund / 10000, 1), '万元，较', s.base_name,
                  '（', format_number(s.base_amount / 10000, 1), '万元）',
                  case when s.change_rate > 0 then '增长 ' else '下降 ' end, format_number(abs(s.change_rate) * 100, 1),
                  '%（阈值 ', format_number(s.rate * 100, 1), '%）') as reason,
           cast(null as string) as setl_ids
    from swing s
    left join subject_name n on n.subject_type = s.subject_type and n.subject_id = s.subject_id
),

-- 4. one settlement paying more than the configured amount
large_warning as (
    select 'LARGE_SETTLEMENT' as warning_type, 'settlement' as subject_type, setl_id as subject_id,
           fixmedins_code, region, ym,
           hifp_pay as amount, cast(null as decimal(26, 2)) as base_amount, cast(null as double) as change_rate,
           concat('单次结算（', visit_text, '）统筹基金支付 ', format_number(hifp_pay, 2), '元，超过阈值 ',
                  format_number({{ var('warn_large_setl_amount') }}, 2), '元') as reason,
           setl_id as setl_ids
    from counted
    where hifp_pay > {{ var('warn_large_setl_amount') }}
),

w as (
    select * from dup_warning
    union all select * from reversed_warning
    union all select * from swing_warning
    union all select * from large_warning
)
select concat('W', substring(sha2(concat_ws('|', warning_type, subject_type, subject_id, coalesce(ym, '')), 256),
                             1, 16)) as warning_id,
       warning_type,
       case warning_type {% for code, name in kinds.items() %}when '{{ code }}' then '{{ name }}' {% endfor %}end
           as warning_name,
       subject_type, subject_id, fixmedins_code, region, ym,
       cast(amount as decimal(26, 2)) as amount,
       cast(base_amount as decimal(26, 2)) as base_amount,
       change_rate, reason, setl_ids
from w
