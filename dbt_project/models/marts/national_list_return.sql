-- 国家下发未参保名单核查结果 (tender 000 全民参保): the verification file returned to the national platform, one row
-- per entry of the list as it was sent down (ID number and name as delivered, hukou division, issue batch), with the
-- result of national_list_review as a code and its Chinese label (code_list national_review), a short note with the
-- fact behind it and the date it refers to (the reference date).  region = the prefecture (地市) of the entry's hukou
-- division: the return is split by it (yibao national export).
select n.certno_raw as certno, n.psn_name, n.hsreg_admdvs, n.issue_batch,
       n.review_status as result_code,
       coalesce(c.name, n.review_status) as result_name,
       case n.review_status
            when 'DEAD' then coalesce(concat('死亡日期 ', cast(n.death_date as string)), '有死亡记录，无死亡日期')
            when 'MOVED' then concat('本省无有效户籍', case when n.hsreg_stas is not null
                                                          then concat('（户籍状态 ', n.hsreg_stas, '）') else '' end)
            when 'ENROLLED' then case when coalesce(n.insured_local, false)
                                      then coalesce(concat('本省参保，参保起始 ', cast(n.first_active_since as string)), '本省参保')
                                      else '已在外省参保' end
            when 'UNINSURED' then '经核实未参保，已纳入未参保人员库'
            else '按身份证号未匹配到人员，需人工核查' end as result_note,
       n.is_stale,
       n.review_status <> 'UNMATCHED' as is_labelled,
       coalesce(d.city_code, concat(substring(n.hsreg_admdvs, 1, 4), '00'), 'UNKNOWN') as region,
       d.city_name as region_name,
       {{ ref_date() }} as verified_date
from {{ ref('national_list_review') }} n
left join (select code, name from {{ ref('code_list') }} where code_type = 'national_review') c on c.code = n.review_status
left join {{ ref('gbt2260_divisions') }} d on d.code = n.hsreg_admdvs
