-- 征缴对账: each contribution medins assessed (contrib, per psn_no x insutype x accrym) against what tax
-- collected for the person (medins_clct, per certno x insutype x accrym; matched through the person
-- master, so a tax row under a dirty or legacy ID number still finds its person).  Status:
--   MATCH, AMOUNT_MISMATCH (both sides, amounts differ),
--   ASSESSED_NOT_COLLECTED (medins shows it unpaid, tax collected nothing),
--   COLLECTED_NOT_RECORDED (tax collected, medins has the assessment but shows it unpaid, clct_flag 0),
--   COLLECTED_NOT_ASSESSED (tax collected, medins has no assessment row for the person at all),
--   RECORDED_NOT_COLLECTED (medins shows it received, tax has no collection),
--   NOT_ASSESSED (a period the person owes, dbt_project/README.md Definitions D7, that neither side has: the
--                 enrolled_unpaid periods listed in accrym_not_assessed).
-- A person with duplicate enrollments has one assessment per psn_no; each is compared with the tax row.
with m as (
    select x.person_id, c.psn_no, c.insutype, c.accrym, c.clct_amt as assessed_amt, c.clct_flag as medins_clct_flag
    from {{ ref('stg_medins__contrib') }} c
    left join (select record_id, person_id from {{ ref('int_person_clusters') }}
               where record_id like 'medins:psn_info:%') x    -- a third of the records: a third of the hash table
      on x.record_id = concat('medins:psn_info:', c.psn_no)
),
t as (
    select cp.person_id, t.insutype, t.accrym, sum(t.clct_amt) as tax_clct_amt, max(t.certno_norm) as certno,
           max(t.pay_date) as pay_date
    from {{ ref('stg_tax__medins_clct') }} t
    left join {{ ref('int_certno_person') }} cp on cp.certno_norm = t.certno_norm
    group by cp.person_id, t.insutype, t.accrym
)
select coalesce(m.person_id, t.person_id) as person_id,
       m.psn_no,
       coalesce(m.insutype, t.insutype) as insutype,
       coalesce(m.accrym, t.accrym) as accrym,
       t.certno,
       m.assessed_amt, m.medins_clct_flag, t.tax_clct_amt, t.pay_date,
       case when t.insutype is null and m.medins_clct_flag = '1' then 'RECORDED_NOT_COLLECTED'
            when t.insutype is null then 'ASSESSED_NOT_COLLECTED'
            when m.insutype is null then 'COLLECTED_NOT_ASSESSED'
            when m.medins_clct_flag = '0' then 'COLLECTED_NOT_RECORDED'
            when m.assessed_amt <> t.tax_clct_amt then 'AMOUNT_MISMATCH'
            else 'MATCH' end as status
from m full outer join t
  on m.person_id = t.person_id and m.insutype = t.insutype and m.accrym = t.accrym
union all
-- owed periods nobody assessed nor collected (enrolled_unpaid is small: its periods are exploded here)
select person_id,
       case when psn_nos not like '%,%' then psn_nos end as psn_no,
       insutype, trim(accrym) as accrym,
       cast(null as string) as certno,
       cast(null as decimal(17, 2)) as assessed_amt, cast(null as string) as medins_clct_flag,
       cast(null as decimal(38, 2)) as tax_clct_amt, cast(null as date) as pay_date,
       'NOT_ASSESSED' as status
from (select person_id, psn_nos, insutype, explode(split(accrym_not_assessed, ',')) as accrym
      from {{ ref('enrolled_unpaid') }} where accrym_not_assessed is not null) n
