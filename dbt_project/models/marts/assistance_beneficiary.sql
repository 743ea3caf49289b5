-- 医疗救助对象受益情况 (contract section 6, medical assistance): per assistance division x aid_type x year.
--   beneficiaries  persons (person master) with an assistance_obj record active in the year (begn_date on or
--                  before 31 December, end_date empty or on or after 1 January).  A person is counted once a
--                  year, under the aid_type with the smallest code active that year (1 特困 before 2 低保 ...)
--                  and that record's division, so that the rows add up over aid types and divisions
--   insured        of them, insured on the reference date (README Definitions D5: an active 310/390 enrollment
--                  in the region or one in another province); uninsured = beneficiaries - insured
--   settlements .. the beneficiaries' counted settlements of the year (month of setl_time, begndate when null):
--                  medfee_sumamt, basic_pay (hifp_pay + acct_pay), serious_pay (hifmi_pay + hifob_pay +
--                  cvlserv_pay), maf_one_stop (maf_pay, 一站式结算救助), other_pay (oth_pay), psn_cash_pay
--   maf_manual     their manual assistance payments (assistance_pay, 手工报销) dated in the year (pay_date, else
--                  the month of the settlement it assists)
--   one_stop_share maf_one_stop / (maf_one_stop + maf_manual) (一站式结算占比)
-- Years: those of the counted settlements and assistance payments, and the reference year.  The section-6 columns
-- are null when the producer delivered none of them (setl's fund shares, assistance_pay).
with obj as (
    select coalesce(c.person_id, cp.person_id) as person_id, a.aid_type, a.admdvs,
           coalesce(a.begn_date, date'1900-01-01') as begn_date, coalesce(a.end_date, date'9999-12-31') as end_date
    from {{ ref('stg_civil_affairs__assistance_obj') }} a
    left join {{ ref('int_person_clusters') }} c
      on c.record_id = concat_ws(':', 'civil_affairs', 'assistance_obj', concat_ws('|', a.certno_raw, a.aid_type))
    left join {{ ref('int_certno_person') }} cp on cp.certno_norm = a.certno_norm
),
manual as (
    select coalesce(cp.person_id, s.person_id) as person_id,
           coalesce(year(p.pay_date), s.year) as year, p.amount
    from {{ ref('stg_civil_affairs__assistance_pay') }} p
    left join {{ ref('int_certno_person') }} cp on cp.certno_norm = p.certno_norm
    left join {{ ref('int_settlement_funds') }} s on s.setl_id = p.setl_id
),
years as (
    select distinct year from {{ ref('int_settlement_funds') }} where year is not null
    union
    select distinct year from manual where year is not null
    union
    select year({{ ref_date() }})
),
person_year as (
    select person_id, year, aid_type, admdvs
    from (select o.person_id, y.year, o.aid_type, o.admdvs,
                 row_number() over (partition by o.person_id, y.year order by o.aid_type, o.admdvs) as n
          from obj o
          join years y on o.begn_date <= cast(concat(y.year, '-12-31') as date)
                      and o.end_date >= cast(concat(y.year, '-01-01') as date)
          where o.person_id is not null) r
    where n = 1
),
setl as (
    select person_id, year, count(*) as settlements, sum(medfee_sumamt) as medfee_sumamt,
           sum(fund_owed) as basic_pay, sum(serious_pay) as serious_pay, sum(maf_pay) as maf_one_stop,
           sum(oth_pay) as other_pay, sum(psn_cash_pay) as psn_cash_pay
    from {{ ref('int_settlement_funds') }}
    where person_id is not null
    group by person_id, year
),
manual_py as (
    select person_id, year, sum(amount) as maf_manual
    from manual where person_id is not null
    group by person_id, year
),
delivered as (
    select sh.shares, mp.manual_payments
    from (select count(maf_pay) + count(serious_pay) + count(oth_pay) as shares
          from {{ ref('int_settlement_funds') }}) sh
    cross join (select count(*) as manual_payments from {{ ref('stg_civil_affairs__assistance_pay') }}) mp
),
agg as (
    select py.admdvs, py.aid_type, py.year,
           count(*) as beneficiaries,
           sum(case when st.insured then 1 else 0 end) as insured,
           coalesce(sum(s.settlements), 0) as settlements,
           coalesce(sum(s.medfee_sumamt), 0) as medfee_sumamt,
           coalesce(sum(s.basic_pay), 0) as basic_pay,
           case when max(d.shares) > 0 then coalesce(sum(s.serious_pay), 0) end as serious_pay,
           case when max(d.shares) > 0 then coalesce(sum(s.maf_one_stop), 0) end as maf_one_stop,
           case when max(d.manual_payments) > 0 then coalesce(sum(m.maf_manual), 0) end as maf_manual,
           case when max(d.shares) > 0 then coalesce(sum(s.other_pay), 0) end as other_pay,
           coalesce(sum(s.psn_cash_pay), 0) as psn_cash_pay
    from person_year py
    cross join delivered d
    left join {{ ref('int_person_status') }} st on st.person_id = py.person_id
    left join setl s on s.person_id = py.person_id and s.year = py.year
    left join manual_py m on m.person_id = py.person_id and m.year = py.year
    group by py.admdvs, py.aid_type, py.year
)
select a.admdvs, a.aid_type, n.name as aid_type_name, a.year, a.beneficiaries, a.insured,
       a.beneficiaries - a.insured as uninsured, a.settlements,
       cast(a.medfee_sumamt as decimal(26, 2)) as medfee_sumamt,
       cast(a.basic_pay as decimal(26, 2)) as basic_pay,
       cast(a.serious_pay as decimal(26, 2)) as serious_pay,
       cast(a.maf_one_stop as decimal(26, 2)) as maf_one_stop,
       cast(a.maf_manual as decimal(26, 2)) as maf_manual,
       cast(a.other_pay as decimal(26, 2)) as other_pay,
       cast(a.psn_cash_pay as decimal(26, 2)) as psn_cash_pay,
       cast(a.maf_one_stop as double) / nullif(cast(a.maf_one_stop + a.maf_manual as double), 0) as one_stop_share
from agg a
{{ code_list_join('n', 'aid_type', 'a.aid_type') }}
