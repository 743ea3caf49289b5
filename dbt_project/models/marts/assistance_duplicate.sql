-- 医疗救助重复支付 (contract section 6, civil_affairs.assistance_pay: 医疗救助 paid by hand outside one-stop
-- settlement).  One row per duplicate payment and kind:
--   ONE_STOP_AND_MANUAL 一站式已救助又手工报销: a manual payment whose setl_id is a counted settlement that already
--                       carried maf_pay > 0 (one_stop_maf_pay); first_pay_id null (the first payment was the
--                       settlement's own)
--   MANUAL_TWICE        同一结算重复手工报销: every manual payment of a setl_id after the first, by pay_date (an
--                       undated payment last), then pay_id; first_pay_id = that first payment
-- A payment can be both (a second manual payment of a one-stop settlement): one row each.
-- person_id: the payment's ID number through the person master, else the settlement's person.
-- No assistance_pay delivered (contract section 6 is optional): no rows.
{%- set kinds = {'ONE_STOP_AND_MANUAL': '一站式已救助又手工报销', 'MANUAL_TWICE': '同一结算重复手工报销'} %}
with pay as (
    select p.pay_id, coalesce(cp.person_id, s.person_id) as person_id, p.certno, p.setl_id,
           p.admdvs, p.aid_type, p.amount, p.pay_date, s.maf_pay as one_stop_maf_pay,
           row_number() over (partition by p.setl_id
                              order by coalesce(p.pay_date, date'9999-12-31'), p.pay_id) as n_for_setl,
           first_value(p.pay_id) over (partition by p.setl_id
                                       order by coalesce(p.pay_date, date'9999-12-31'), p.pay_id) as first_for_setl
    from {{ ref('stg_civil_affairs__assistance_pay') }} p
    left join {{ ref('int_certno_person') }} cp on cp.certno_norm = p.certno_norm
    left join {{ ref('int_settlement_funds') }} s on s.setl_id = p.setl_id
    where p.setl_id is not null and p.pay_id is not null
),
dup as (
    select pay.*, 'ONE_STOP_AND_MANUAL' as kind, cast(null as string) as first_pay_id
    from pay where one_stop_maf_pay > 0
    union all
    select pay.*, 'MANUAL_TWICE', first_for_setl
    from pay where n_for_setl > 1
)
select pay_id, person_id, certno, setl_id, admdvs, aid_type, amount, pay_date, one_stop_maf_pay, kind,
       case kind {% for code, name in kinds.items() %}when '{{ code }}' then '{{ name }}' {% endfor %}end as kind_zh,
       first_pay_id
from dup
