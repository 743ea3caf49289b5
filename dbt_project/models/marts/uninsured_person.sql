-- 未参保人员库: persons of the target population without basic coverage on the reference date.
-- reason_codes (comma list, several may apply), in the order of the contract:
--   TAXPAYER (income tax withheld in the last taxpayer_months months), PENSION_INSURED (HRSS pension
--   participating or drawing), SUBSIDY_ELIGIBLE (assistance object active on the reference date),
--   NEWBORN (born in the last newborn_months months), SUSPENDED / TERMINATED (a basic enrollment in the
--   region with that status), NEVER_ENROLLED (no basic enrollment record in the region at all).
select person_id, certno, psn_name, admdvs, age, gend,
       concat_ws(',',
         case when taxpayer_recent then 'TAXPAYER' end,
         case when pension_insured then 'PENSION_INSURED' end,
         case when subsidy_eligible then 'SUBSIDY_ELIGIBLE' end,
         case when is_newborn then 'NEWBORN' end,
         case when has_suspended then 'SUSPENDED' end,
         case when has_terminated then 'TERMINATED' end,
         case when not has_basic_record then 'NEVER_ENROLLED' end) as reason_codes,
       in_national_list,
       brdy, hsreg_admdvs, resd_admdvs, has_local_hukou, has_local_permit, aid_type,
       date'{{ var("reference_date") }}' as reference_date
from {{ ref('int_person_status') }}
where in_target and not insured
