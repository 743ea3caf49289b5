"""Text of out/_truth/README.md (kept in code so that it ships with the package)."""

TRUTH_README = """# Ground truth of a synthetic landing zone

Written by `yibao.synthetic.generate` from the generator's own latent state (never by reading the CSV
files back). All files are Parquet. Person ids are `P` + 10 digits (the latent natural person).

**State described**: the state after the LAST batch delivered (see `meta.truth_state_after_batch`).
With `batches=2` this includes the batch-2 events (late-registered deaths, new enrollments, terminations,
deleted duplicate records). Columns `*_after_batch1` give the batch-1 state of the same flags.
Enrollment status is taken as delivered (`psn_insu_stas`), not re-derived from effective dates.

| file | one row per | columns |
|---|---|---|
| `persons.parquet` | natural person | person_id, certno (true 18-digit), psn_name, gend, brdy, household_id, hsreg_admdvs, resd_admdvs, local_hukou, hsreg_stas (null for non-locals), resd_permit (''/valid/expired), is_deceased, death_date, death_sources (comma list of police/civil_affairs/health/medins), in_target_population, insured, insured_elsewhere, uninsured, uninsured_reasons (list, contract section 4 codes), in_national_list, enrolled_unpaid, duplicate_enrollment_kind (''/SCHEME/REGION/SCHEME|REGION), n_psn_no, is_newborn, aid_type, pension_type, pension_stas, taxpayer_recent, enroll_state (latent: ACTIVE/SUSPENDED/TERMINATED/NEVER/ELSEWHERE), insured_after_batch1, in_target_after_batch1, uninsured_after_batch1 |
| `records.parquet` | person-identity record in a source file | source, source_table, source_key (contract key columns joined by '\\|', values exactly as written), person_id, dirt ('\\|'-joined kinds: LOWER_X, FULLWIDTH, SPACES, LEGACY15, TYPO, MISSING, HOMOPHONE, NAME_SPACE, NAME_FULLWIDTH, DATE_COMPACT, NO_CHILD_CERTNO; '' = clean), batch_id (first batch carrying it), deleted_in_batch (batch whose del_flag=1 row deleted it) |
| `national_list.parquet` | entry of national_uninsured | certno (as written), person_id, stale_reason ('' true uninsured / ENROLLED / DEAD / MOVED) |
| `fraud.parquet` | planted case or decoy | rule_code, subject_type (person/group/institution), subject_id (person_id, group id, or fixmedins_code), setl_ids (list; empty for R09), group_id (R08), person_ids (list), fixmedins_codes (list), is_decoy |
| `audits.parquet` | row of audit_result | setl_id, person_id, fixmedins_code, violation_code (as delivered; null = audited clean), deduct_amt, planted_rule, decoy_rule, institution_r09 (''/planted/decoy) |
| `enrolled_unpaid.parquet` | active enrollment with unpaid months | person_id, psn_no, insutype, insu_admdvs, accrym_missing (list of YYYYMM with clct_flag 0) |
| `contrib_recon.parquet` | contribution row that does not reconcile with tax | person_id, certno, psn_no, insutype, accrym, assessed_amt, medins_clct_flag, tax_clct_amt (NaN = not in tax), status (ASSESSED_NOT_COLLECTED / COLLECTED_NOT_RECORDED / RECORDED_NOT_COLLECTED / AMOUNT_MISMATCH) |
| `fund_risk.parquet` | pooling region x insutype x month | admdvs, insutype, ym, income, expense, cum_balance, months_payable (balance / mean expense of the last <=12 months), current_surplus_rate (year to date), planted_risk (严重/中等/一般/正常), expected_at_least_general (months_payable <= 6 or surplus < 15%) |
| `institutions.parquet` | designated institution | the fixmedins columns + pool, cost_factor, r09 |
| `bad_rows.parquet` | planted unparseable row | source, source_table, batch_id, file, row_number (1-based data row, header excluded), kind (FIELD_COUNT/BAD_AMOUNT/BAD_DATE), column, value |
| `rejected_batches.parquet` | batch whose manifest does not match | source, batch_id, file, reason, manifest_rows, actual_rows |
| `meta.parquet` | run | persons, seed, reference_date, batches, truth_state_after_batch, chunk_size |
"""
