-- Enrollments (psn_insu) with the natural person they belong to (through psn_no -> person_xref).
select c.person_id, i.psn_no, i.insutype, i.psn_type, i.psn_insu_stas, i.crt_insu_date, i.paus_insu_date,
       i.insu_admdvs, i.insu_pool, i.emp_no, i.emp_name, i.updt_time, i._ingest_time,
       i.insutype in {{ basic_insutypes() }} as is_basic,
       {{ in_region('i.insu_admdvs') }} as in_region,
       -- the contract defines coverage by status: an enrollment the latest delivery shows active insures,
       -- also when it was registered in the days after the reference date (late registrations)
       (i.psn_insu_stas = '1') as is_active
from {{ ref('stg_medins__psn_insu') }} i
left join {{ ref('int_person_clusters') }} c on c.record_id = concat('medins:psn_info:', i.psn_no)
