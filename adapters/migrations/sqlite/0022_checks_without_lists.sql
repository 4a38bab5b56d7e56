-- CHECK constraints whose value lists SQLite evaluates without a temporary table
-- (ADR 0040, docs/performance.md "A CHECK with a list of three").
--
-- SQLite codes `x IN ('a', 'b', 'c')` with three or more values as a lookup in an
-- ephemeral B-tree: every INSERT of a row, and every UPDATE that sets the column, opened a
-- temporary pager, filled it with the list, probed it and closed it again. The writer did
-- that about four times a message (the conversation's upsert, two jobs, the delivery and
-- its state changes). The same test written as `x = 'a' OR x = 'b' OR x = 'c'` is a few
-- comparisons. A CHECK constraint is not part of the stored rows, so the tables' text in
-- the schema is rewritten in place, as SQLite's documentation on ALTER TABLE describes
-- for changing constraints; the rows and indexes are untouched, every row already
-- satisfies the new checks (they accept exactly the same values), and
-- tests/store_contract.rs with the SQLite store's tests check that a wrong value is
-- still refused.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
   SET sql = replace(sql, 'CHECK (state IN (''queued'', ''leased'', ''dead''))',
                          'CHECK (state = ''queued'' OR state = ''leased'' OR state = ''dead'')')
 WHERE type = 'table' AND name = 'jobs';
UPDATE sqlite_schema
   SET sql = replace(sql, 'CHECK (state IN (''pending'', ''sent'', ''delivered'', ''read'', ''failed''))',
                          'CHECK (state = ''pending'' OR state = ''sent'' OR state = ''delivered'' OR state = ''read'' OR state = ''failed'')')
 WHERE type = 'table' AND name = 'deliveries';
UPDATE sqlite_schema
   SET sql = replace(sql, 'CHECK (handler IN (''bot'', ''people'', ''closed''))',
                          'CHECK (handler = ''bot'' OR handler = ''people'' OR handler = ''closed'')')
 WHERE type = 'table' AND name = 'conversations';
-- This connection parses the schema again; the table created and dropped changes the
-- schema's version, so every other open connection does too.
PRAGMA writable_schema = RESET;
CREATE TABLE schema_changed (x);
DROP TABLE schema_changed;
