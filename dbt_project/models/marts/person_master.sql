-- 一人一档: one row per natural person, fields chosen by survivorship rules:
--   identity (name, sex, birth date, nationality, hukou division, household book): the police hukou
--   register wins, then the residence permit, birth certificate, medins, HRSS, civil affairs, tax,
--   national lists (int_person_records.identity_rank); within a source the latest updt_time.  Sex and
--   birth date fall back to what the canonical ID number says before lower-ranked sources.
--   contact (phone) and residence: the latest update wins (a valid residence permit first for residence).
--   death: any source (police 死亡注销, civil affairs, health, medins surv_stas) makes a person deceased
--   when the death is on or before the reference date; death_date is the earliest dated death.
with r as (
    select r.*, c.person_id, c.cluster_key,
           -- smaller is better: source rank first, then the most recent update
           r.identity_rank * 1e10 - coalesce(unix_timestamp(r.updt_time), unix_timestamp(r._ingest_time), 0) / 1.0 as ord_identity,
           - coalesce(unix_timestamp(r.updt_time), unix_timestamp(r._ingest_time), 0) / 1.0 as ord_latest
    from {{ ref('int_person_records') }} r
    join {{ ref('int_person_clusters') }} c on c.record_id = r.record_id
),
agg as (
    select person_id,
           max(case when cluster_key like 'C%' then substring(cluster_key, 2) end) as certno,
           min_by(psn_name, case when psn_name is not null then ord_identity end) as psn_name,
           min_by(gend, case when gend is not null and source = 'police' then ord_identity end) as gend_police,
           min_by(gend, case when gend is not null then ord_identity end) as gend_any,
           min_by(brdy, case when brdy is not null and source = 'police' then ord_identity end) as brdy_police,
           min_by(brdy, case when brdy is not null then ord_identity end) as brdy_any,
           min_by(naty, case when naty is not null then ord_identity end) as naty,
           min_by(admdvs, case when admdvs is not null and source_table in ('hsreg_psn', 'psn_info', 'national_uninsured')
                               then ord_identity end) as hsreg_admdvs,
           min_by(hsreg_book_no, case when hsreg_book_no is not null then ord_identity end) as hsreg_book_no,
           min_by(hsreg_stas, case when hsreg_stas is not null then ord_identity end) as hsreg_stas,
           min_by(resd_admdvs, case when resd_admdvs is not null and source_table = 'resd_permit' and resd_valid then ord_latest end) as resd_permit_admdvs,
           min_by(resd_admdvs, case when resd_admdvs is not null then ord_latest end) as resd_admdvs_latest,
           bool_or(source_table = 'resd_permit' and resd_valid) as has_valid_resd_permit,
           min_by(tel, case when tel is not null then ord_latest end) as tel,
           min(case when death_evidence <= {{ ref_date() }} then death_evidence end) as death_date,
           bool_or(death_evidence is not null and (death_evidence <= {{ ref_date() }} or death_evidence = date'9999-12-31')) as is_deceased,
           count(*) as n_records
    from r
    group by person_id
),
-- the distinct lists and counts come from their own small group-bys: distinct aggregates inside the wide
-- aggregate above made it ~60x slower on the engine (128 s vs 2 s at 300k persons)
src as (
    select person_id, array_join(array_sort(collect_list(src)), ',') as sources
    from (select distinct person_id, concat(source, '.', source_table) as src from r) x
    group by person_id
),
psn as (
    select person_id, count(*) as n_psn_no
    from (select distinct person_id, source_key from r where source_table = 'psn_info' and source_key is not null) x
    group by person_id
)
select agg.person_id,
       certno,
       psn_name,
       coalesce(gend_police, case when certno is not null then {{ certno_sex('certno') }} end, gend_any) as gend,
       coalesce(brdy_police, case when certno is not null then {{ certno_birth('certno') }} end, brdy_any) as brdy,
       naty,
       hsreg_admdvs,
       coalesce(resd_permit_admdvs, resd_admdvs_latest, hsreg_admdvs) as resd_admdvs,
       hsreg_book_no,
       tel,
       coalesce(is_deceased, false) as is_deceased,
       death_date,
       hsreg_stas,
       has_valid_resd_permit,
       src.sources,
       n_records,
       coalesce(psn.n_psn_no, 0) as n_psn_no
from agg
left join src on src.person_id = agg.person_id
left join psn on psn.person_id = agg.person_id
