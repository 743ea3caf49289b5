-- One cluster per natural person.
--   1. DETERMINISTIC: records with a trustworthy ID number (valid checksum and birth date, legacy
--      15-digit numbers converted) belong to the cluster 'C' || certno.
--   2. PROBABILISTIC: a record without one joins the cluster of its best-scoring anchored match
--      (score >= fs_match_threshold); records matching only each other are joined by connected
--      components (label propagation, fs_max_iterations rounds; anchored labels win).
--   3. SINGLETON: no match; the record is a person of its own.
-- person_id: 'P' + 16 hex of sha2(certno) for clusters with a canonical ID number (stable as long as the
-- number is); otherwise the person_id the registry (int_person_registry) already gave one of the
-- cluster's records, else 'Q' + 16 hex of sha2(the cluster's smallest record id).
{% set registry = adapter.get_relation(database=none, schema='silver', identifier='int_person_registry') %}
with rec as (
    select record_id, certno from {{ ref('int_person_records') }}
),
pairs as (
    select * from {{ ref('int_person_pairs') }} where is_match
),
best_anchor as (
    select record_id, other_certno as anchor_certno
    from (select record_id, other_certno,
                 row_number() over (partition by record_id order by score desc, other_certno) as rn
          from pairs where other_certno is not null) x
    where rn = 1
),
edges as (
    select distinct p.record_id as a, p.other_id as b
    from pairs p join rec o on o.record_id = p.other_id
    where p.other_certno is null
),
l0 as (
    select r.record_id,
           case when r.certno is not null then concat('C', r.certno)
                when ba.anchor_certno is not null then concat('C', ba.anchor_certno)
                else concat('U', r.record_id) end as label,
           (r.certno is not null or ba.anchor_certno is not null) as fixed
    from rec r left join best_anchor ba on ba.record_id = r.record_id
),
-- Propagation runs on the records that have an edge only (the few ID-less matches), not on every record:
-- a record without an edge keeps its l0 label whatever the number of rounds.
-- Each node is its own neighbour, so one round reads the previous labels once (the plan stays linear).
nbr as (
    select a, b from edges union select b, a from edges union select a, a from edges union select b, b from edges
),
p0 as (
    select l0.record_id, l0.label from l0 join (select distinct a as record_id from nbr) n on n.record_id = l0.record_id
),
{% for i in range(1, var('fs_max_iterations') | int + 1) %}
p{{ i }} as (
    select n.a as record_id, min(x.label) as label
    from nbr n join p{{ i - 1 }} x on x.record_id = n.b
    group by n.a
),
{% endfor %}
labelled as (
    -- anchored records and records attached to an anchor keep their own label
    select l0.record_id, case when l0.fixed or pf.label is null then l0.label else pf.label end as label
    from l0 left join p{{ var('fs_max_iterations') }} pf on pf.record_id = l0.record_id
),
final as (
    select f.record_id, f.label as cluster_key, r.certno,
           case when r.certno is not null then 'DETERMINISTIC_CERTNO'
                when f.label like 'C%' then 'PROBABILISTIC_ANCHORED'
                when count(*) over (partition by f.label) > 1 then 'PROBABILISTIC'
                else 'SINGLETON' end as match_rule
    from labelled f join rec r on r.record_id = f.record_id
),
{% if registry is not none %}
known as (
    select f.cluster_key, min(g.person_id) as known_person_id
    from final f join {{ registry }} g on g.record_id = f.record_id
    where f.cluster_key like 'U%'
    group by f.cluster_key
),
{% endif %}
ids as (
    select f.*,
           case when f.cluster_key like 'C%'
                then concat('P', substring(sha2(substring(f.cluster_key, 2), 256), 1, 16))
                {% if registry is not none %}
                when k.known_person_id is not null then k.known_person_id
                {% endif %}
                else concat('Q', substring(sha2(min(f.record_id) over (partition by f.cluster_key), 256), 1, 16))
           end as person_id
    from final f
    {% if registry is not none %}left join known k on k.cluster_key = f.cluster_key{% endif %}
)
select record_id, cluster_key, person_id, match_rule from ids
