-- Mirrors sqlite/0013_consent.sql. Consent (issue 17, docs/operators.md). A contact opted
-- out of business-initiated messages (STOP, an operator, the API): since when (unix ms)
-- and by whom.
ALTER TABLE contacts ADD COLUMN opted_out_at BIGINT;
ALTER TABLE contacts ADD COLUMN opted_out_source TEXT;
-- Opted out of marketing messages (Meta's error 131050): since when and by whom.
ALTER TABLE contacts ADD COLUMN marketing_opted_out_at BIGINT;
ALTER TABLE contacts ADD COLUMN marketing_opted_out_source TEXT;
