-- The indicator and the list agree: uninsured at province level = rows of uninsured_person.
select c.uninsured, n.n from {{ ref('coverage_by_region') }} c
cross join (select count(*) as n from {{ ref('uninsured_person') }}) n
where c.level = 'province' and c.admdvs = '{{ var("region_province") }}0000' and c.uninsured <> n.n
