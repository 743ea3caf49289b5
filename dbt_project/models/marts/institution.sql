-- 定点医药机构 (designated institutions): one row per fixmedins_code of the registry (medins.fixmedins).
--   admdvs          the institution's own division (the county it stands in, as delivered)
--   pooling_region  the pooling region (统筹区) its fund business belongs to (gbt2260 divisions)
-- The dashboards' read path places every institution-level row (DRG cases, clearing, price violations, 集采,
-- credit, practitioners, institution suspects) in the institution's own division with it, so that a county user
-- sees its county's institutions and a city user its city's (row-level security on admdvs).
select fixmedins_code, max(fixmedins_name) as fixmedins_name, max(fixmedins_type) as fixmedins_type,
       max(hosp_lv) as hosp_lv, max(admdvs) as admdvs, max(pooling_region) as pooling_region
from {{ ref('stg_medins__fixmedins') }}
where fixmedins_code is not null
group by fixmedins_code
