-- 第六部分数据交付情况 (contract section 6): one row per section-6 table (and one for setl's added fund-share
-- columns), with the rows silver holds (the staging model's rows) and whether it was delivered at all.  The
-- analyses that need an undelivered table are empty; this table says why.
--   rows       staging rows (setl: settlements carrying any of the added fund-share columns)
--   delivered  rows > 0; status '已交付 N 行' or '未交付'
{%- set tables = [
    ('medins', 'setl', '结算信息新增基金分项（大病/大额/公务员/医疗救助/其他）', '基金财务', 'stg_medins__setl',
     'hifmi_pay is not null or hifob_pay is not null or cvlserv_pay is not null or maf_pay is not null or oth_pay is not null'),
    ('medins', 'setl_list', '医保结算清单', '支付方式改革', 'stg_medins__setl_list', none),
    ('medins', 'drg_group', 'DRG分组（权重）', '支付方式改革', 'stg_medins__drg_group', none),
    ('medins', 'dip_group', 'DIP病种（分值）', '支付方式改革', 'stg_medins__dip_group', none),
    ('medins', 'med_list', '医保目录（限价）', '价格与集采', 'stg_medins__med_list', none),
    ('medins', 'vbp_purchase', '集采药品耗材采购', '价格与集采', 'stg_medins__vbp_purchase', none),
    ('civil_affairs', 'assistance_pay', '医疗救助手工报销', '医疗救助', 'stg_civil_affairs__assistance_pay', none),
    ('medins', 'fund_payment', '基金拨付', '基金财务', 'stg_medins__fund_payment', none),
    ('medins', 'bank_stmt', '基金专户银行流水', '基金财务', 'stg_medins__bank_stmt', none),
] %}
with counts as (
    {%- for source, table, zh, area, model, cond in tables %}
    select {{ loop.index }} as ord, '{{ source }}' as source, '{{ table }}' as table_name, '{{ zh }}' as table_zh,
           '{{ area }}' as area, count(*) as rows
    from {{ ref(model) }}{% if cond %} where {{ cond }}{% endif %}
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
)
select source, table_name, table_zh, area, rows, rows > 0 as delivered,
       case when rows > 0 then concat('已交付 ', rows, ' 行') else '未交付' end as status
from counts
order by ord
