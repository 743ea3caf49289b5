-- Every uninsured person is in the target population, not insured, and has at least one reason.
select u.person_id from {{ ref('uninsured_person') }} u
join {{ ref('int_person_status') }} s on s.person_id = u.person_id
where not s.in_target or s.insured or s.is_deceased or u.reason_codes = ''
