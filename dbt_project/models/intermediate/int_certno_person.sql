-- Lookup from a normalised ID number to the person: for fact tables keyed by certno (tax collections,
-- settlements).  A number that resolved to two persons (should not happen) keeps the smaller person_id.
select certno_norm, min(c.person_id) as person_id, count(distinct c.person_id) as n_persons
from {{ ref('int_person_records') }} r
join {{ ref('int_person_clusters') }} c on c.record_id = r.record_id
where r.certno_norm is not null
group by certno_norm
