-- 参保覆盖: the target population, insured and uninsured on the reference date per division, at
-- province, city and county level (and per pooling region, level 'pool'), with sex and age-band
-- structure and the new enrollments of the last new_enrollment_days days.
-- A person counts in the division of the active local hukou, else of the valid residence permit.
with p as (
    select s.*,
           case when s.age < 18 then '0_17' when s.age < 60 then '18_59' else '60_plus' end as age_band,
           (s.first_active_since is not null
            and s.last_active_since > date_sub({{ ref_date() }}, {{ var('new_enrollment_days') }})) as new_enrollment
    from {{ ref('int_person_status') }} s
    where s.in_target
),
geo as (
    select p.*,
           coalesce(d.county_code, p.admdvs) as county,
           coalesce(d.city_code, concat(substring(p.admdvs, 1, 4), '00')) as city,
           coalesce(d.province_code, concat(substring(p.admdvs, 1, 2), '0000')) as province,
           d.pooling_region as pool
    from p left join {{ ref('gbt2260_divisions') }} d on d.code = p.admdvs
),
levels as (
    {% for lv in ['province', 'city', 'county', 'pool'] %}
    select '{{ lv }}' as level, {{ lv }} as div_code, insured, insured_local, insured_elsewhere, gend, age_band, new_enrollment
    from geo {% if lv == 'pool' %}where pool is not null{% endif %}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
)
select l.div_code as admdvs, max(d.name) as admdvs_name, l.level,
       {{ ref_date() }} as reference_date,
       count(*)                                               as target_population,
       count_if(l.insured)                                    as insured,
       count_if(not l.insured)                                as uninsured,
       round(count_if(l.insured) / count(*), 6)               as coverage_rate,
       count_if(l.insured_elsewhere and not l.insured_local)  as insured_elsewhere,
       count_if(l.gend = '1')                                 as target_male,
       count_if(l.gend = '2')                                 as target_female,
       count_if(l.insured and l.gend = '1')                   as insured_male,
       count_if(l.insured and l.gend = '2')                   as insured_female,
       count_if(not l.insured and l.gend = '1')               as uninsured_male,
       count_if(not l.insured and l.gend = '2')               as uninsured_female,
       count_if(l.age_band = '0_17')                          as target_age_0_17,
       count_if(l.age_band = '18_59')                         as target_age_18_59,
       count_if(l.age_band = '60_plus')                       as target_age_60_plus,
       count_if(l.insured and l.age_band = '0_17')            as insured_age_0_17,
       count_if(l.insured and l.age_band = '18_59')           as insured_age_18_59,
       count_if(l.insured and l.age_band = '60_plus')         as insured_age_60_plus,
       count_if(not l.insured and l.age_band = '0_17')        as uninsured_age_0_17,
       count_if(not l.insured and l.age_band = '18_59')       as uninsured_age_18_59,
       count_if(not l.insured and l.age_band = '60_plus')     as uninsured_age_60_plus,
       count_if(l.new_enrollment)                             as new_enrollments_7d
from levels l
left join {{ ref('gbt2260_divisions') }} d on d.code = l.div_code
group by l.div_code, l.level
