-- A canonical ID number in the person master is 18 characters with a correct MOD 11-2 check character.
select person_id, certno from {{ ref('person_master') }}
where certno is not null
  and (not certno rlike '^[0-9]{17}[0-9X]$' or {{ certno_check_char('certno') }} <> substring(certno, 18, 1))
