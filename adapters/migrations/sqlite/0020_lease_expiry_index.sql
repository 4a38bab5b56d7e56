-- Expired leases found by a seek, not a scan (docs/performance.md, 2026-12-07).

-- Each claim asks whether any lease expired (`state = 'leased' AND lease_until <= now`),
-- and the claim's SQL leases them. Through `jobs_due (state, run_at)` that read walked
-- every leased job and looked up its row: every job this process hands to its workers
-- after commit is leased from its insert (ADR 0021), so under a backlog of 30,000 jobs
-- one check took about 8 ms, and the claim's SQL about 9 ms inside the single writer.
-- Through this index both are a seek (about 0.01 and 0.2 ms). It holds leased jobs only;
-- `state` stays its first column so that SQLite's planner, without statistics, prefers
-- it to `jobs_due` for these reads.
CREATE INDEX jobs_lease_expiry ON jobs (state, lease_until) WHERE state = 'leased';
