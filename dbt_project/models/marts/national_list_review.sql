-- The national platform's uninsured list, checked entry by entry against the person master:
--   ENROLLED (insured here or elsewhere by now), DEAD, MOVED (no active hukou in the region),
--   UNINSURED (a correct entry: the person is in uninsured_person), UNMATCHED (no such person known).
-- Stale entries (ENROLLED / DEAD / MOVED) are reported back to the national platform.
select n.certno_raw, n.certno_norm, n.psn_name, n.hsreg_admdvs, n.issue_batch, cp.person_id,
       case when cp.person_id is null then 'UNMATCHED'
            when s.is_deceased then 'DEAD'
            when not coalesce(s.has_local_hukou, false) then 'MOVED'
            when s.insured then 'ENROLLED'
            else 'UNINSURED' end as review_status,
       case when cp.person_id is not null and (s.is_deceased or not coalesce(s.has_local_hukou, false) or s.insured)
            then true else false end as is_stale,
       s.hsreg_stas, s.death_date, s.first_active_since
from {{ ref('stg_national__national_uninsured') }} n
left join {{ ref('int_certno_person') }} cp on cp.certno_norm = n.certno_norm
left join {{ ref('int_person_status') }} s on s.person_id = cp.person_id
