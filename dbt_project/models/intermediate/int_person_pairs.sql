-- Probabilistic matching (Fellegi-Sunter) of every record WITHOUT a trustworthy ID number against all
-- records in its blocks.  Blocks (a pair is compared when it shares any of them):
--   B1 birth date + sex + surname, B2 normalised name + division, B3 first 14 characters of the
--   normalised ID number (division + birth date: catches a mistyped sequence or check digit).
-- Every compared pair is kept with its field weights and total score (the audit trail of the matcher).
with rec as (
    select * from {{ ref('int_person_records') }}
),
u as (select * from rec where certno is null),
cand as (
    select u.record_id as record_id, r.record_id as other_id
    from u join rec r on u.brdy = r.brdy and u.gend = r.gend and u.surname = r.surname
    where u.record_id <> r.record_id
    union
    select u.record_id, r.record_id
    from u join rec r on u.psn_name = r.psn_name and u.admdvs = r.admdvs
    where u.record_id <> r.record_id
    union
    select u.record_id, r.record_id
    from u join rec r on substring(u.certno_norm, 1, 14) = substring(r.certno_norm, 1, 14)
    where u.record_id <> r.record_id
),
scored as (
    select c.record_id, c.other_id, o.certno as other_certno,
           {{ fs_name('a.psn_name', 'o.psn_name') }}              as w_name,
           {{ fs_field('a.brdy', 'o.brdy', 'brdy') }}             as w_brdy,
           {{ fs_field('a.gend', 'o.gend', 'gend') }}             as w_gend,
           {{ fs_field('a.admdvs', 'o.admdvs', 'admdvs') }}       as w_admdvs,
           {{ fs_field('a.hsreg_book_no', 'o.hsreg_book_no', 'book') }} as w_book,
           {{ fs_field('a.tel', 'o.tel', 'tel') }}                as w_tel,
           {{ fs_certno('a.certno_norm', 'o.certno_norm') }}      as w_certno
    from cand c
    join rec a on a.record_id = c.record_id
    join rec o on o.record_id = c.other_id
)
select record_id, other_id, other_certno,
       w_name, w_brdy, w_gend, w_admdvs, w_book, w_tel, w_certno,
       w_name + w_brdy + w_gend + w_admdvs + w_book + w_tel + w_certno as score,
       (w_name + w_brdy + w_gend + w_admdvs + w_book + w_tel + w_certno) >= {{ var('fs_match_threshold') }} as is_match
from scored
