-- Nothing is dropped silently: every person-bearing source record is mapped to exactly one person.
select r.record_id from {{ ref('int_person_records') }} r
left join {{ ref('person_xref') }} x on x.record_id = r.record_id
where x.person_id is null
