-- 国家下发名单核查进度 per prefecture (地市, of the entries' hukou division) x issue batch, with the province ('ALL'):
-- entries, the count of each result, labelled = entries with a verified result (all but UNMATCHED, which needs a
-- person to check by hand), labelled_share and stale (entries the national platform should drop).
with r as (select * from {{ ref('national_list_return') }}),
g as (
    {% for rg in ['region', "'ALL'"] %}
    select {{ rg }} as region, issue_batch,
           count(*) as entries,
           count_if(result_code = 'UNINSURED') as uninsured,
           count_if(result_code = 'ENROLLED') as enrolled,
           count_if(result_code = 'DEAD') as dead,
           count_if(result_code = 'MOVED') as moved,
           count_if(result_code = 'UNMATCHED') as unmatched,
           count_if(is_labelled) as labelled,
           count_if(is_stale) as stale
    from r group by 1, 2
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
)
select g.region, {{ region_name('g.region', 'd.name') }} as region_name, g.issue_batch,
       g.entries, g.uninsured, g.enrolled, g.dead, g.moved, g.unmatched, g.labelled, g.stale,
       cast(g.labelled as double) / nullif(g.entries, 0) as labelled_share,
       {{ ref_date() }} as verified_date
from g left join {{ ref('gbt2260_divisions') }} d on d.code = g.region
