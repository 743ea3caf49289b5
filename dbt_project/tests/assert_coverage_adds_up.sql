select * from {{ ref('coverage_by_region') }}
where insured + uninsured <> target_population
   or target_male + target_female > target_population
   or coverage_rate < 0 or coverage_rate > 1
