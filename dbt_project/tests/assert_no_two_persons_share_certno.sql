-- A normalised ID number never resolves to two persons.
select certno_norm from {{ ref('int_certno_person') }} where n_persons > 1
