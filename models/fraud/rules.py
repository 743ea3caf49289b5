"""Fund-supervision rules R01–R09 (contract section 5) and R10–R12 (contract section 6 data), evaluated on the
engine (Spark SQL over Spark Connect).

Every rule returns hits with one schema (:data:`HIT_COLUMNS`): the rule, the subject (person / institution /
group), the settlements involved, the fund amount involved and a Chinese evidence text naming the
settlements, dates, amounts, the other institution or the death record's source.  Parameters come from
``rules.toml`` (see :mod:`yibao.fraud.config`); the one date they are judged at is the configured reference date
(``Settings.reference_date``, view ``fr_reference``), never the day scoring runs.  Reversed settlements
(``refd_setl_flag = 1``) never count: the base view keeps only rows of ``silver.int_settlement`` (which excludes
them) and re-checks the flag.

R08 (gangs) needs community detection and lives in :mod:`yibao.fraud.graph`.

R10 (高套分组) and R11 (超限价收费) judge section-6 data (DRG settlement lists, the 医保目录's price ceilings).  What
makes a case an upcoding case or a fee line a price violation is defined once, in the dbt marts ``gold.drg_case``
(``is_upcoding_suspect``) and ``gold.price_violation``; these rules only turn those published rows into hits per
institution.  When a producer delivers no section-6 tables, the marts are empty and the rules have no hits.
R04 reads the 医保目录's gender limits (``med_list.gend_lmt``) when it is delivered, besides its configured lists;
R12 (丙类纳入基金支付) reads its 甲乙丙 classes (``med_list.chrgitm_lv``) and has no hits without it.

One home per rule: what a rule detects at the level of a settlement or a fee line (:func:`after_death_settlements`,
:func:`item_sex`, :func:`overlapping_stays`, :func:`duplicate_charges`) is defined once here, with the rule's
parameters; the rule aggregates it into hits and the model features (:mod:`yibao.fraud.features`) read the same
definition, so a configured parameter changes both.
"""

from __future__ import annotations

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from yibao.catalog import Catalog
from yibao.fraud.config import exact_quantile, sql_list

HIT_COLUMNS = ["rule_code", "subject_type", "subject_id", "person_id", "fixmedins_code", "group_id", "setl_ids",
               "amount", "event_date", "evidence"]


SETTLEMENT_WORK_TABLE = ("silver", "fraud_settlement")   # fr_setl, materialised
# the columns the section-6 rules read, for an empty view when the table does not exist
DRG_CASE_DDL = ("setl_id string, person_id string, fixmedins_code string, admdvs string, year int, drg_codg string, "
                "drg_name string, weight decimal(18,4), ipt_days int, medfee_sumamt decimal(16,2), "
                "hifp_pay decimal(16,2), is_upcoding_suspect boolean, upcoding_evidence string")
PRICE_VIOLATION_DDL = ("feedetl_sn string, setl_id string, person_id string, fixmedins_code string, "
                       "fixmedins_name string, fee_date date, med_list_codg string, list_name string, "
                       "cnt decimal(18,4), pric decimal(16,2), pric_uplmt decimal(16,2), excess_amount decimal(18,2)")
MED_LIST_DDL = "med_list_codg string, chrgitm_lv string, gend_lmt string"


def _table(cat: Catalog, name: str) -> DataFrame:
    schema, table = name.split(".", 1)
    return cat.read(schema, table)


def prepare_views(spark: SparkSession, cat: Catalog, cfg: dict) -> None:
    """Temp views every rule reads: fr_setl (counted settlements, stored as :data:`SETTLEMENT_WORK_TABLE`),
    fr_fee, fr_person, fr_inst, fr_death_src, and fr_reference (one row: ``reference_date``, the configured
    ``Settings.reference_date`` that every date computation of the rules uses, never the day the engine runs)."""
    c = cfg["common"]
    spark.sql(f"create or replace temp view fr_reference as "
              f"select date'{cat.settings.reference_date.isoformat()}' as reference_date")
    _table(cat, c["settlement_table"]).createOrReplaceTempView("fr_int_setl")
    _table(cat, c["settlement_detail_table"]).createOrReplaceTempView("fr_stg_setl")
    _table(cat, c["fee_table"]).createOrReplaceTempView("fr_stg_fee")
    _table(cat, c["institution_table"]).createOrReplaceTempView("fr_inst_raw")
    _table(cat, c["person_table"]).createOrReplaceTempView("fr_person")
    spark.sql("""
        create or replace temp view fr_inst as
        select fixmedins_code, max(fixmedins_name) as fixmedins_name, max(fixmedins_type) as fixmedins_type,
               max(hosp_lv) as hosp_lv, max(admdvs) as admdvs, max(pooling_region) as pooling_region
        from fr_inst_raw group by fixmedins_code""")
    # fr_setl is read by every rule, the co-visit graph, the features and the names (a dozen scans): the join
    # of the two settlement tables is made once and stored as a work table instead of re-run by each reader
    cat.overwrite_work(spark.sql("""
        select i.setl_id, i.person_id, i.psn_no, i.med_type, i.is_inpatient, i.fixmedins_code,
               coalesce(i.fixmedins_type, f.fixmedins_type) as fixmedins_type, i.hosp_lv, i.region,
               cast(i.begndate as date) as begndate, cast(coalesce(i.enddate, i.begndate) as date) as enddate,
               cast(i.medfee_sumamt as double) as medfee, cast(i.hifp_pay as double) as hifp,
               cast(i.acct_pay as double) as acct, cast(i.fulamt_ownpay_amt as double) as ownpay,
               d.atddr_no, d.dise_codg, d.insu_admdvs, d.mdtrt_admdvs, f.fixmedins_name
        from fr_int_setl i
        join fr_stg_setl d on d.setl_id = i.setl_id
        left join fr_inst f on f.fixmedins_code = i.fixmedins_code
        where coalesce(d.refd_setl_flag, '0') <> '1' and i.person_id is not null"""), *SETTLEMENT_WORK_TABLE)
    cat.read(*SETTLEMENT_WORK_TABLE).createOrReplaceTempView("fr_setl")
    # section 6: the published marts R10 and R11 read, and the catalogue's gender limits R04 reads (empty views when
    # this warehouse has none)
    for view, name, ddl in (("fr_drg_case", c["drg_case_table"], DRG_CASE_DDL),
                            ("fr_price_violation", c["price_violation_table"], PRICE_VIOLATION_DDL),
                            ("fr_med_list", c["med_list_table"], MED_LIST_DDL)):
        if cat.exists(*name.split(".")):
            _table(cat, name).createOrReplaceTempView(view)
        else:
            spark.createDataFrame([], ddl).createOrReplaceTempView(view)
    # fee lines: every reader joins them to fr_setl by setl_id, which keeps the counted settlements' lines.  A
    # semi-join here as well was redundant, and with the stored fr_setl the engine built its hash table on the
    # 56M fee lines (R06 peaked at 21 GiB at 10M persons)
    # (the catalogue's gender limit and 甲乙丙 class are joined in: R04 and the features read l.catalogue_gend_lmt,
    # R12 l.chrgitm_lv)
    spark.sql("""
        create or replace temp view fr_fee as
        select l.feedetl_sn, l.setl_id, l.med_list_codg, l.med_chrgitm_type, l.list_name,
               cast(l.cnt as double) as cnt, cast(l.pric as double) as pric,
               cast(l.det_item_fee_sumamt as double) as amt, l.bilg_dr_codg, l.fee_ocur_time,
               m.gend_lmt as catalogue_gend_lmt, m.chrgitm_lv
        from fr_stg_fee l
        left join (select med_list_codg, max(case when gend_lmt in ('1', '2') then gend_lmt end) as gend_lmt,
                          max(chrgitm_lv) as chrgitm_lv
                   from fr_med_list group by med_list_codg) m on m.med_list_codg = l.med_list_codg""")
    # which department recorded each death (R01 evidence)
    xref, recs = c["person_xref_table"], c["person_records_table"]
    if cat.exists(*xref.split(".")) and cat.exists(*recs.split(".")):
        _table(cat, xref).createOrReplaceTempView("fr_xref")
        _table(cat, recs).createOrReplaceTempView("fr_records")
        spark.sql("""
            create or replace temp view fr_death_src as
            select x.person_id,
                   array_join(array_sort(collect_set(concat(r.source, '.', r.source_table, ':',
                        case when r.death_evidence >= date'9999-01-01' then '日期未知'
                             else cast(r.death_evidence as string) end))), ', ') as death_sources
            from fr_records r join fr_xref x on x.record_id = r.record_id
            where r.death_evidence is not null
            group by x.person_id""")
    else:
        spark.sql("create or replace temp view fr_death_src as "
                  "select person_id, sources as death_sources from fr_person where is_deceased")


def _ip(cfg) -> str:
    return sql_list(cfg["common"]["inpatient_med_types"])


def after_death_settlements(cfg: dict) -> str:
    """R01's detection (SQL query): the counted settlements (every fr_setl column, plus the person's
    ``death_date`` and ``sources``) that began more than ``grace_days`` after the person's death."""
    grace = int(cfg["rules"]["R01_AFTER_DEATH"]["grace_days"])
    return f"""
        select s.*, p.death_date, p.sources
        from fr_setl s join fr_person p on p.person_id = s.person_id
        where p.is_deceased and p.death_date is not null
          and s.begndate > date_add(cast(p.death_date as date), {grace})"""


def r01_after_death(spark: SparkSession, cfg: dict) -> DataFrame:
    return spark.sql(f"""
        with s as ({after_death_settlements(cfg)})
        select 'R01_AFTER_DEATH' as rule_code, 'person' as subject_type, s.person_id as subject_id, s.person_id,
               min(s.fixmedins_code) as fixmedins_code, cast(null as string) as group_id,
               array_sort(collect_list(s.setl_id)) as setl_ids, sum(s.hifp + s.acct) as amount,
               min(s.begndate) as event_date,
               concat('死亡日期 ', cast(s.death_date as string), '（死亡记录来源：', coalesce(max(ds.death_sources), s.sources),
                      '）之后发生 ', cast(count(*) as string), ' 笔结算：',
                      array_join(array_sort(collect_list(concat(cast(s.begndate as string), ' ', s.setl_id, ' ',
                                 coalesce(s.fixmedins_name, s.fixmedins_code), ' 医疗费 ',
                                 format_number(s.medfee, 2), ' 元'))), '；')) as evidence
        from s left join fr_death_src ds on ds.person_id = s.person_id
        group by s.person_id, s.death_date, s.sources""")


def r02_split_admission(spark: SparkSession, cfg: dict) -> DataFrame:
    p = cfg["rules"]["R02_SPLIT_ADMISSION"]
    return spark.sql(f"""
        with ip as (
            select s.*,
                   lag(s.enddate) over w as prev_end, lag(s.setl_id) over w as prev_setl,
                   lag(s.begndate) over w as prev_begn
            from fr_setl s where s.med_type in ({_ip(cfg)})
            window w as (partition by s.person_id, s.fixmedins_code order by s.begndate, s.enddate, s.setl_id)
        ), pairs as (
            select *, datediff(begndate, prev_end) as gap from ip
            where prev_end is not null
              and datediff(begndate, prev_end) between {int(p['min_gap_days'])} and {int(p['window_days'])}
        )
        select 'R02_SPLIT_ADMISSION' as rule_code, 'person' as subject_type, person_id as subject_id, person_id,
               min(fixmedins_code) as fixmedins_code, cast(null as string) as group_id,
               array_sort(array_distinct(flatten(collect_list(array(prev_setl, setl_id))))) as setl_ids,
               sum(hifp + acct) as amount, min(prev_begn) as event_date,
               concat('同一机构出院后 {int(p['window_days'])} 天内再次入院 ', cast(count(*) as string), ' 次：',
                      array_join(array_sort(collect_list(concat(coalesce(fixmedins_name, fixmedins_code), ' ',
                          prev_setl, '（', cast(prev_begn as string), '至', cast(prev_end as string), '）出院后第 ',
                          cast(gap as string), ' 天再入院 ', setl_id, '（', cast(begndate as string), '至',
                          cast(enddate as string), '，医疗费 ', format_number(medfee, 2), ' 元）'))), '；')) as evidence
        from pairs group by person_id""")


def overlapping_stays(cfg: dict) -> str:
    """R03's detection (SQL query): pairs of inpatient stays of one person at two institutions overlapping by at
    least ``min_overlap_days`` days (strict: a transfer the next day is not an overlap), one row per pair
    (``a_setl < b_setl``)."""
    ip, n = _ip(cfg), int(cfg["rules"]["R03_OVERLAP_STAY"]["min_overlap_days"])
    return f"""
        select a.person_id, a.setl_id as a_setl, b.setl_id as b_setl,
               coalesce(a.fixmedins_name, a.fixmedins_code) as a_inst, coalesce(b.fixmedins_name, b.fixmedins_code) as b_inst,
               a.fixmedins_code as a_code, a.begndate as a_b, a.enddate as a_e, b.begndate as b_b, b.enddate as b_e,
               a.hifp + a.acct + b.hifp + b.acct as amount,
               datediff(least(a.enddate, b.enddate), greatest(a.begndate, b.begndate)) as overlap
        from fr_setl a join fr_setl b on a.person_id = b.person_id and a.setl_id < b.setl_id
                                     and a.fixmedins_code <> b.fixmedins_code
        where a.med_type in ({ip}) and b.med_type in ({ip})
          and datediff(least(a.enddate, b.enddate), greatest(a.begndate, b.begndate)) >= {n}"""


def r03_overlap_stay(spark: SparkSession, cfg: dict) -> DataFrame:
    return spark.sql(f"""
        with pairs as ({overlapping_stays(cfg)})
        select 'R03_OVERLAP_STAY' as rule_code, 'person' as subject_type, person_id as subject_id, person_id,
               min(a_code) as fixmedins_code, cast(null as string) as group_id,
               array_sort(array_distinct(flatten(collect_list(array(a_setl, b_setl))))) as setl_ids,
               sum(amount) as amount, min(least(a_b, b_b)) as event_date,
               concat('两家机构住院时间重叠：', array_join(array_sort(collect_list(concat(
                   a_inst, ' ', a_setl, '（', cast(a_b as string), '至', cast(a_e as string), '）与 ',
                   b_inst, ' ', b_setl, '（', cast(b_b as string), '至', cast(b_e as string), '）重叠 ',
                   cast(overlap as string), ' 天'))), '；')) as evidence
        from pairs group by person_id""")


def item_sex(cfg: dict) -> str:
    """R04's classification of a fee line ``l`` (SQL expression): '1' for a male-only item, '2' for a
    female-only one, else null.  The 医保目录's gender limit (``med_list.gend_lmt``, joined into ``fr_fee``) decides
    when the catalogue lists the item with one; then the configured code lists, then name keywords (items the
    catalogue does not restrict, or a producer that delivers no catalogue)."""
    p = cfg["rules"]["R04_GENDER_ITEM"]
    male_kw = "|".join(p["male_only_keywords"]) or "^$"
    female_kw = "|".join(p["female_only_keywords"]) or "^$"
    return (f"coalesce(l.catalogue_gend_lmt, "
            f"case when l.med_list_codg in ({sql_list(p['male_only_items'])}) or l.list_name rlike '{male_kw}' then '1' "
            f"when l.med_list_codg in ({sql_list(p['female_only_items'])}) or l.list_name rlike '{female_kw}' then '2' end)")


def r04_gender_item(spark: SparkSession, cfg: dict) -> DataFrame:
    return spark.sql(f"""
        with lines as (
            select s.person_id, s.setl_id, s.begndate, s.fixmedins_code, coalesce(s.fixmedins_name, s.fixmedins_code) as inst,
                   l.med_list_codg, l.list_name, l.amt, pm.gend, {item_sex(cfg)} as item_gend
            from fr_fee l join fr_setl s on s.setl_id = l.setl_id
            join fr_person pm on pm.person_id = s.person_id
            where pm.gend in ('1', '2')
        )
        select 'R04_GENDER_ITEM' as rule_code, 'person' as subject_type, person_id as subject_id, person_id,
               min(fixmedins_code) as fixmedins_code, cast(null as string) as group_id,
               array_sort(collect_set(setl_id)) as setl_ids, sum(amt) as amount, min(begndate) as event_date,
               concat('参保人性别为', case when max(gend) = '1' then '男' else '女' end, '，却结算了限',
                      case when max(item_gend) = '1' then '男性' else '女性' end, '项目：',
                      array_join(array_sort(collect_list(concat(cast(begndate as string), ' ', inst, ' ', setl_id, ' ',
                          list_name, '(', med_list_codg, ') ', format_number(amt, 2), ' 元'))), '；')) as evidence
        from lines where item_gend is not null and item_gend <> gend
        group by person_id""")


def r05_high_frequency(spark: SparkSession, cfg: dict) -> DataFrame:
    p = cfg["rules"]["R05_HIGH_FREQUENCY"]
    w = int(p["window_days"])
    band = int(p["age_band_years"])
    return spark.sql(f"""
        with v as (
            select s.person_id, s.setl_id, s.begndate, s.med_type, s.medfee, s.hifp + s.acct as paid,
                   coalesce(s.fixmedins_name, s.fixmedins_code) as inst, s.fixmedins_code,
                   datediff(s.begndate, date'2000-01-01') as d
            from fr_setl s where s.med_type in ({sql_list(p['med_types'])})
        ), c as (
            select *, count(*) over (partition by person_id order by d range between current row and {w - 1} following) as n_win
            from v
        ), per as (
            select c.person_id, max(n_win) as n_max, max_by(d, n_win) as d_start,
                   max(pm.gend) as gend,
                   max(cast(floor(datediff(ref.reference_date, pm.brdy) / 365.25 / {band}) as int)) as age_band
            from c join fr_person pm on pm.person_id = c.person_id cross join fr_reference ref
            group by c.person_id
        ), peer as (
            select gend, age_band, peer_q, n as peers
            from {exact_quantile("per", ["gend", "age_band"], "n_max", float(p['peer_quantile']), "peer_q")} pq
        ), flagged as (
            select per.*, peer.peer_q,
                   greatest({int(p['min_count'])}, {float(p['peer_multiple'])} * peer.peer_q) as threshold
            from per join peer on peer.gend <=> per.gend and peer.age_band <=> per.age_band
            where per.n_max >= greatest({int(p['min_count'])}, {float(p['peer_multiple'])} * peer.peer_q)
        )
        select 'R05_HIGH_FREQUENCY' as rule_code, 'person' as subject_type, f.person_id as subject_id, f.person_id,
               min(v.fixmedins_code) as fixmedins_code, cast(null as string) as group_id,
               array_sort(collect_list(v.setl_id)) as setl_ids, sum(v.paid) as amount, min(v.begndate) as event_date,
               concat('{w} 天内就诊/购药 ', cast(max(f.n_max) as string), ' 次（同性别同年龄段参保人 P',
                      cast(cast({float(p['peer_quantile'])} * 100 as int) as string), ' 为 ', cast(max(f.peer_q) as string),
                      ' 次，阈值 ', format_number(max(f.threshold), 1), ' 次），涉及 ', cast(count(distinct v.fixmedins_code) as string),
                      ' 家机构，医疗费合计 ', format_number(sum(v.medfee), 2), ' 元：',
                      array_join(array_sort(collect_list(concat(cast(v.begndate as string), ' ', v.inst, ' ', v.setl_id))), '；')) as evidence
        from flagged f join v on v.person_id = f.person_id and v.d between f.d_start and f.d_start + {w - 1}
        group by f.person_id""")


def duplicate_charges(cfg: dict) -> str:
    """R06's detection (SQL query): per settlement, item and ``fee_ocur_time``, the ``copies`` (≥ ``min_copies``)
    billed at once, their ``amt`` and ``one_amt`` (one copy); ``excluded_charge_types`` are not judged."""
    p = cfg["rules"]["R06_DUP_CHARGE"]
    excl = f"and l.med_chrgitm_type not in ({sql_list(p['excluded_charge_types'])})" if p["excluded_charge_types"] else ""
    return f"""
        select l.setl_id, l.med_list_codg, max(l.list_name) as list_name, l.fee_ocur_time,
               count(*) as copies, sum(l.amt) as amt, max(l.amt) as one_amt
        from fr_fee l where l.med_list_codg is not null and l.fee_ocur_time is not null {excl}
        group by l.setl_id, l.med_list_codg, l.fee_ocur_time
        having count(*) >= {int(p['min_copies'])}"""


def r06_dup_charge(spark: SparkSession, cfg: dict) -> DataFrame:
    return spark.sql(f"""
        with d as ({duplicate_charges(cfg)})
        select 'R06_DUP_CHARGE' as rule_code, 'person' as subject_type, s.person_id as subject_id, s.person_id,
               min(s.fixmedins_code) as fixmedins_code, cast(null as string) as group_id,
               array_sort(collect_set(s.setl_id)) as setl_ids, sum(d.amt - d.one_amt) as amount, min(s.begndate) as event_date,
               concat('同一结算同一时间重复收费：', array_join(array_sort(collect_list(concat(
                   coalesce(s.fixmedins_name, s.fixmedins_code), ' ', d.setl_id, ' ', d.list_name, '(', d.med_list_codg, ') 于 ',
                   cast(d.fee_ocur_time as string), ' 收费 ', cast(d.copies as string), ' 次，多收 ',
                   format_number(d.amt - d.one_amt, 2), ' 元'))), '；')) as evidence
        from d join fr_setl s on s.setl_id = d.setl_id
        group by s.person_id""")


def r07_idle_bed(spark: SparkSession, cfg: dict) -> DataFrame:
    """挂床住院 (contract section 5), judged day by day: an *idle day* is a calendar day of an inpatient stay
    (``begndate <= day <= enddate``, both inclusive; the day is ``fee_ocur_time``'s date) whose fee lines include a
    bed charge (``bed_charge_types``) and no care charge (``care_charge_types``: exam, lab, treatment, surgery,
    drugs).  A stay with at least ``min_idle_days`` idle days is a hit even when its other days carry care.
    Lines dated outside the stay, or without a time, are not judged.  Amount: every charge billed on the idle days."""
    p = cfg["rules"]["R07_IDLE_BED"]
    bed, care = sql_list(p["bed_charge_types"]), sql_list(p["care_charge_types"])
    return spark.sql(f"""
        with ip as (
            select setl_id, person_id, fixmedins_code, coalesce(fixmedins_name, fixmedins_code) as inst,
                   begndate, enddate, medfee
            from fr_setl where med_type in ({_ip(cfg)})
        ), days as (
            select l.setl_id, cast(l.fee_ocur_time as date) as d,
                   max(case when l.med_chrgitm_type in ({bed}) then 1 else 0 end) as has_bed,
                   max(case when l.med_chrgitm_type in ({care}) then 1 else 0 end) as has_care,
                   sum(case when l.med_chrgitm_type in ({bed}) then l.amt else 0 end) as bed_amt,
                   sum(l.amt) as day_amt
            from fr_fee l join ip on ip.setl_id = l.setl_id
            where cast(l.fee_ocur_time as date) between ip.begndate and ip.enddate
            group by l.setl_id, cast(l.fee_ocur_time as date)
        ), idle as (
            select setl_id, count(*) as idle_days, array_sort(collect_list(d)) as idle_dates,
                   sum(bed_amt) as bed_amt, sum(day_amt) as idle_amt
            from days where has_bed = 1 and has_care = 0
            group by setl_id
            having count(*) >= {int(p['min_idle_days'])}
        ), stays as (
            select ip.*, i.idle_days, i.idle_dates, i.bed_amt, i.idle_amt,
                   datediff(ip.enddate, ip.begndate) + 1 as stay_days
            from idle i join ip on ip.setl_id = i.setl_id
        )
        select 'R07_IDLE_BED' as rule_code, 'person' as subject_type, person_id as subject_id, person_id,
               min(fixmedins_code) as fixmedins_code, cast(null as string) as group_id,
               array_sort(collect_list(setl_id)) as setl_ids, sum(idle_amt) as amount,
               min(array_min(idle_dates)) as event_date,
               concat('住院期间有床位费、无检查/化验/治疗/手术/药品收费的空床日（挂床）：', array_join(array_sort(collect_list(concat(
                   inst, ' ', setl_id, '（', cast(begndate as string), '至', cast(enddate as string), '，住院 ',
                   cast(stay_days as string), ' 天）空床日 ', cast(idle_days as string), ' 天：',
                   array_join(transform(idle_dates, x -> cast(x as string)), '、'),
                   '，空床日床位费 ', format_number(bed_amt, 2), ' 元、空床日费用合计 ', format_number(idle_amt, 2),
                   ' 元，医疗费 ', format_number(medfee, 2), ' 元'))), '；')) as evidence
        from stays group by person_id""")


def _leave_one_out_median(m: str, groups: list[str]) -> str:
    """SQL subquery over ``m`` (one row per fixmedins_code × med_type, with ``cost``): for each row, the median
    cost of the *other* rows of its group (``peer_cost``; the mean of the two middle values for an even count)
    and their number (``n_peers``).

    Without the row at rank r (0-based, by cost) of a group of n sorted values v, the median of the other n - 1
    is v[lo] or v[lo + 1] (n even), or the mean of two of v[lo], v[lo + 1], v[lo + 2] (n odd), with
    lo = floor((n - 2) / 2) and the choice decided by whether r lies above them.  So three values per group
    suffice: linear, where joining each institution to all its peers grew with the square of a group."""
    g = ", ".join(groups)
    return f"""(
        select fixmedins_code, med_type, n - 1 as n_peers,
               case when n < 2 then null
                    when n % 2 = 0 then case when r > lo then v_lo else v_mid end
                    else ((case when r > lo then v_lo else v_mid end)
                          + (case when r > lo + 1 then v_mid else v_hi end)) / 2 end as peer_cost
        from (
            select k.*, v.lo, v.v_lo, v.v_mid, v.v_hi
            from (select fixmedins_code, {g}, cost, count(*) over (partition by {g}) as n,
                         row_number() over (partition by {g} order by cost, fixmedins_code) - 1 as r
                  from {m} where fixmedins_code is not null) k
            join (select {g}, max(lo) as lo, max(case when r = lo then cost end) as v_lo,
                         max(case when r = lo + 1 then cost end) as v_mid,
                         max(case when r = lo + 2 then cost end) as v_hi
                  from (select {g}, cost, cast(floor((count(*) over (partition by {g}) - 2) / 2) as bigint) as lo,
                               row_number() over (partition by {g} order by cost, fixmedins_code) - 1 as r
                        from {m} where fixmedins_code is not null) x
                  group by {g}) v
              on {" and ".join(f"v.{c} <=> k.{c}" for c in groups)}) y)"""


def r09_provider_outlier(spark: SparkSession, cfg: dict) -> DataFrame:
    p = cfg["rules"]["R09_PROVIDER_OUTLIER"]
    return spark.sql(f"""
        with m as (
            select s.fixmedins_code, max(s.fixmedins_name) as fixmedins_name, max(s.fixmedins_type) as ftype,
                   max(s.hosp_lv) as lv, s.med_type, count(*) as n,
                   -- averaged in decimal (exact, whatever order the rows arrive in): a double average differed in
                   -- its last bits between a rebuild and daily runs, and a peer median of 153.415 printed as .41 or .42
                   cast(avg(cast(s.medfee as decimal(18, 2))) as double) as cost, sum(s.hifp + s.acct) as paid
            from fr_setl s where s.med_type in ({sql_list(p['med_types'])})
            group by s.fixmedins_code, s.med_type
            having count(*) >= {int(p['min_settlements'])}
        ), peer_lv as {_leave_one_out_median("m", ["med_type", "ftype", "lv"])},
        peer_type as {_leave_one_out_median("m", ["med_type", "ftype"])},
        r as (
            select m.*, case when coalesce(pl.n_peers, 0) >= {int(p['min_peers'])} then pl.peer_cost else pt.peer_cost end as peer_cost,
                   case when coalesce(pl.n_peers, 0) >= {int(p['min_peers'])} then '同类型同级别' else '同类型' end as peer_kind,
                   case when coalesce(pl.n_peers, 0) >= {int(p['min_peers'])} then pl.n_peers else pt.n_peers end as n_peers
            from m left join peer_lv pl on pl.fixmedins_code = m.fixmedins_code and pl.med_type = m.med_type
                   left join peer_type pt on pt.fixmedins_code = m.fixmedins_code and pt.med_type = m.med_type
        ), inst as (
            select fixmedins_code, max(fixmedins_name) as fixmedins_name, max(ftype) as ftype, max(lv) as lv,
                   exp(sum(n * ln(cost / peer_cost)) / sum(n)) as ratio, sum(n) as n, sum(paid) as paid,
                   array_join(array_sort(collect_list(concat('医疗类别', med_type, ' 次均费用 ', format_number(cost, 2), ' 元，',
                        peer_kind, '机构中位数 ', format_number(peer_cost, 2), ' 元（', cast(n_peers as string), ' 家），',
                        format_number(cost / peer_cost, 2), ' 倍，', cast(n as string), ' 笔'))), '；') as detail
            from r where peer_cost > 0 group by fixmedins_code
        ), z as (
            select i.*, (ln(i.ratio) - t.med) / greatest(t.mad * 1.4826, 0.05) as z
            from inst i join (
                select ftype, percentile(ln(ratio), 0.5) as med,
                       percentile(abs(ln(ratio) - med0), 0.5) as mad
                from (select ftype, ratio, percentile(ln(ratio), 0.5) over (partition by ftype) as med0 from inst) x
                group by ftype
            ) t on t.ftype <=> i.ftype
        )
        select 'R09_PROVIDER_OUTLIER' as rule_code, 'institution' as subject_type, fixmedins_code as subject_id,
               cast(null as string) as person_id, fixmedins_code, cast(null as string) as group_id,
               cast(array() as array<string>) as setl_ids, paid as amount, cast(null as date) as event_date,
               concat(coalesce(fixmedins_name, fixmedins_code), '（', case lv when '1' then '三级' when '2' then '二级'
                      when '3' then '一级' else '未定级' end, '）费用结构显著偏离同类机构：综合次均费用为同类中位数的 ',
                      format_number(ratio, 2), ' 倍（稳健 z 值 ', format_number(z, 1), '）；', detail) as evidence
        from z where ratio >= {float(p['ratio_threshold'])} and z >= {float(p['z_threshold'])}""")


def r10_drg_upcoding(spark: SparkSession, cfg: dict) -> DataFrame:
    """高套分组: per institution, its DRG cases the mart ``gold.drg_case`` marks as upcoding suspects (a high-weight
    group with a stay and a cost far below the group's), when there are at least ``min_cases``."""
    p = cfg["rules"]["R10_DRG_UPCODING"]
    return spark.sql(f"""
        with c as (select d.*, coalesce(i.fixmedins_name, d.fixmedins_code) as inst
                   from fr_drg_case d left join fr_inst i on i.fixmedins_code = d.fixmedins_code
                   where d.is_upcoding_suspect)
        select 'R10_DRG_UPCODING' as rule_code, 'institution' as subject_type, fixmedins_code as subject_id,
               cast(null as string) as person_id, fixmedins_code, cast(null as string) as group_id,
               array_sort(collect_set(setl_id)) as setl_ids, sum(cast(hifp_pay as double)) as amount,
               cast(null as date) as event_date,
               concat(max(inst), ' ', cast(count(*) as string), ' 例住院病例疑似高套病组（高权重病组而住院天数和费用远低于该组平均）：',
                      array_join(array_sort(collect_list(concat(setl_id, ' ', coalesce(upcoding_evidence, drg_codg)))), '；'))
                   as evidence
        from c group by fixmedins_code having count(*) >= {int(p['min_cases'])}""")


def r11_over_ceiling(spark: SparkSession, cfg: dict) -> DataFrame:
    """超限价收费: per institution, its fee lines above the 医保目录's price ceiling (``gold.price_violation``), when
    they are at least ``min_lines`` lines and ``min_excess`` yuan billed above the ceilings."""
    p = cfg["rules"]["R11_OVER_CEILING"]
    return spark.sql(f"""
        with v as (select v.*, coalesce(v.fixmedins_name, v.fixmedins_code) as inst from fr_price_violation v),
        per_item as (
            select fixmedins_code, med_list_codg, max(list_name) as list_name, count(*) as n,
                   max(cast(pric as double)) as max_pric, max(cast(pric_uplmt as double)) as uplmt,
                   sum(cast(excess_amount as double)) as excess
            from v group by fixmedins_code, med_list_codg
        ), per_inst as (
            select v.fixmedins_code, max(v.inst) as inst, count(*) as n, sum(cast(v.excess_amount as double)) as excess,
                   array_sort(collect_set(v.setl_id)) as setl_ids, min(v.fee_date) as first_date
            from v group by v.fixmedins_code
        )
        select 'R11_OVER_CEILING' as rule_code, 'institution' as subject_type, i.fixmedins_code as subject_id,
               cast(null as string) as person_id, i.fixmedins_code, cast(null as string) as group_id,
               i.setl_ids, i.excess as amount, i.first_date as event_date,
               concat(i.inst, ' 超最高限价收费 ', cast(i.n as string), ' 条，超收 ', format_number(i.excess, 2), ' 元：',
                      array_join(array_sort(collect_list(concat(t.list_name, '(', t.med_list_codg, ') 最高单价 ',
                          format_number(t.max_pric, 2), ' 元（限价 ', format_number(t.uplmt, 2), ' 元）', cast(t.n as string),
                          ' 条，超收 ', format_number(t.excess, 2), ' 元'))), '；')) as evidence
        from per_inst i join per_item t on t.fixmedins_code = i.fixmedins_code
        where i.n >= {int(p['min_lines'])} and i.excess >= {float(p['min_excess'])}
        group by i.fixmedins_code, i.inst, i.n, i.excess, i.setl_ids, i.first_date""")


def class_c_fund_settlements(cfg: dict) -> str:
    """SQL: the counted settlements that bill 丙类 items to the fund.  A 丙类 item of the 医保目录 (``med_list.chrgitm_lv``
    3) is paid by the insured person in full, so a settlement's 丙类 lines belong in its full self-pay
    (``fulamt_ownpay_amt``); when they add up to more than it (by more than ``tolerance`` yuan), the rest entered the
    fund's reimbursable range.  One row per settlement: the 丙类 amount, the full self-pay, the excess, the items."""
    p = cfg["rules"]["R12_CLASS_C_FUND"]
    return f"""
        select s.setl_id, s.fixmedins_code, coalesce(s.fixmedins_name, s.fixmedins_code) as inst, s.begndate,
               c.c_amt, coalesce(s.ownpay, 0) as ownpay, c.c_amt - coalesce(s.ownpay, 0) as excess, c.items
        from fr_setl s
        join (select l.setl_id, sum(l.amt) as c_amt,
                     array_join(array_sort(collect_set(concat(l.list_name, '(', l.med_list_codg, ')'))), '、') as items
              from fr_fee l where l.chrgitm_lv = '3' group by l.setl_id) c on c.setl_id = s.setl_id
        where c.c_amt - coalesce(s.ownpay, 0) > {float(p['tolerance'])}"""


def r12_class_c_fund(spark: SparkSession, cfg: dict) -> DataFrame:
    """丙类纳入基金支付: per institution, its settlements that bill 丙类 items to the fund
    (:func:`class_c_fund_settlements`), when they are at least ``min_settlements`` and ``min_amount`` yuan; the
    evidence spells out the first ``max_listed`` settlements."""
    p = cfg["rules"]["R12_CLASS_C_FUND"]
    k = int(p["max_listed"])
    return spark.sql(f"""
        with v as ({class_c_fund_settlements(cfg)})
        select 'R12_CLASS_C_FUND' as rule_code, 'institution' as subject_type, fixmedins_code as subject_id,
               cast(null as string) as person_id, fixmedins_code, cast(null as string) as group_id,
               array_sort(collect_set(setl_id)) as setl_ids, sum(excess) as amount, min(begndate) as event_date,
               concat(max(inst), ' ', cast(count(*) as string), ' 笔结算的丙类（目录外）项目共 ', format_number(sum(c_amt), 2),
                      ' 元，其中 ', format_number(sum(excess), 2), ' 元未计入全自费、纳入了基金支付范围：',
                      array_join(slice(array_sort(collect_list(concat(cast(begndate as string), ' ', setl_id, ' ', items,
                          ' 共 ', format_number(c_amt, 2), ' 元，全自费仅 ', format_number(ownpay, 2), ' 元'))), 1, {k}), '；'),
                      case when count(*) > {k} then concat('；等 ', cast(count(*) as string), ' 笔') else '' end) as evidence
        from v group by fixmedins_code
        having count(*) >= {int(p['min_settlements'])} and sum(excess) >= {float(p['min_amount'])}""")


RULES = {
    "R01_AFTER_DEATH": r01_after_death,
    "R02_SPLIT_ADMISSION": r02_split_admission,
    "R03_OVERLAP_STAY": r03_overlap_stay,
    "R04_GENDER_ITEM": r04_gender_item,
    "R05_HIGH_FREQUENCY": r05_high_frequency,
    "R06_DUP_CHARGE": r06_dup_charge,
    "R07_IDLE_BED": r07_idle_bed,
    "R09_PROVIDER_OUTLIER": r09_provider_outlier,
    "R10_DRG_UPCODING": r10_drg_upcoding,
    "R11_OVER_CEILING": r11_over_ceiling,
    "R12_CLASS_C_FUND": r12_class_c_fund,
}


def evaluate(spark: SparkSession, cfg: dict) -> pd.DataFrame:
    """The hits of every engine rule (R08 is added by the graph step) and of every rule the library adds as data
    (library.py), one rule at a time: as one union the
    engine ran all eight rules' joins and aggregates at once, and at 10M persons they filled its memory pool.
    Amounts are rounded to the fen: a sum of doubles depends on the order the engine adds them in, and a rerun
    must give the same list."""
    from yibao.fraud.library import template_hits   # rules the library adds as data (templates)

    frames = [fn(spark, cfg) for fn in RULES.values()] + template_hits(spark, cfg)
    parts = [df.withColumn("amount", F.round("amount", 2)).select(*HIT_COLUMNS).toPandas() for df in frames]
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=HIT_COLUMNS)
