-- The national platform's uninsured list, checked entry by entry against the person master:
--   ENROLLED (insured here or elsewhere by now), DEAD, MOVED (no active hukou in the region),
--   UNINSURED (a correct entry: the person is in uninsured_person), UNMATCHED (no such person known: no record
--   of any source but the list itself, which makes a person of every entry).
-- Stale entries (ENROLLED / DEAD / MOVED) are reported back to the national platform.
with known as (   -- persons of the list's entries with a record outside the list (the list is small)
    select c.person_id, count_if(c.record_id not like 'national:national_uninsured:%') > 0 as known_elsewhere
    from {{ ref('int_person_clusters') }} c
    join (select distinct cp.person_id
          from {{ ref('stg_national__national_uninsured') }} n
          join {{ ref('int_certno_person') }} cp on cp.certno_norm = n.certno_norm) l on l.person_id = c.person_id
    group by c.person_id
)
select n.certno_raw, n.certno_norm, n.psn_name, n.hsreg_admdvs, n.issue_batch, cp.person_id,
       case when cp.person_id is null or not coalesce(k.known_elsewhere, false) then 'UNMATCHED'
            when s.is_deceased then 'DEAD'
            when not coalesce(s.has_local_hukou, false) then 'MOVED'
            when s.insured then 'ENROLLED'
            else 'UNINSURED' end as review_status,
       case when coalesce(k.known_elsewhere, false) and (s.is_deceased or not coalesce(s.has_local_hukou, false) or s.insured)
            then true else false end as is_stale,
       s.hsreg_stas, s.death_date, s.first_active_since, s.insured_local, s.insured_elsewhere
from {{ ref('stg_national__national_uninsured') }} n
left join {{ ref('int_certno_person') }} cp on cp.certno_norm = n.certno_norm
left join {{ ref('int_person_status') }} s on s.person_id = cp.person_id
left join known k on k.person_id = cp.person_id
