-- 一人一档 cross-reference: every person-bearing source record -> its natural person.
-- Fact tables keyed by a person's number (contrib, setl, medins_clct...) reach the person through
-- psn_no (medins) or the canonical certno and are not listed here.
select r.source, r.source_table, r.source_key, c.person_id, c.match_rule,
       r.record_id, r.certno_status, c.cluster_key
from {{ ref('int_person_records') }} r
join {{ ref('int_person_clusters') }} c on c.record_id = r.record_id
