-- 参保覆盖月度历史 (issue 22: history kept per reference month): coverage_by_region as each run published it, one
-- row per reference month x division x level.  Incremental on Delta: a run merges its reference month's rows
-- (a later run in the same month replaces them), earlier months stay as they were published, so the history keeps
-- what the figures were at the time even after later deliveries correct the past.  full_refresh=false:
-- `yibao run --full-refresh` keeps it.  Parquet (a JVM Spark without Delta) has no MERGE: there it holds the
-- current month only.
{{ config(materialized=('incremental' if var('table_format') == 'delta' else 'table'),
          incremental_strategy='merge', unique_key=['reference_month', 'admdvs', 'level'],
          full_refresh=false) }}
select date_format(c.reference_date, 'yyyyMM') as reference_month, c.admdvs, c.admdvs_name, c.level,
       c.reference_date, c.target_population, c.insured, c.uninsured, c.coverage_rate, c.insured_elsewhere,
       c.new_enrollments_7d, current_timestamp() as published_at
from {{ ref('coverage_by_region') }} c
