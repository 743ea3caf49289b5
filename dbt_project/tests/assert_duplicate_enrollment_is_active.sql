-- Duplicates are built from active basic enrollments only: each listed person has >= 2 of them.
select d.person_id from {{ ref('duplicate_enrollment') }} d
left join (select person_id, count(*) as n from {{ ref('int_person_enrollment') }}
           where is_basic and in_region and is_active group by person_id) e on e.person_id = d.person_id
where coalesce(e.n, 0) < 2
