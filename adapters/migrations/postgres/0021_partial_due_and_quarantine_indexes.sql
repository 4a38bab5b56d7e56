-- Two indexes that every message wrote to and no read of it needed (docs/performance.md,
-- "Fewer index writes: the due and quarantine indexes").

-- The claim reads `jobs_due` for queued jobs only (`state = 'queued'`, as a literal in
-- every query that uses it); expired leases are found through `jobs_lease_expiry`
-- (migration 0020). Yet every job this process hands to its workers is inserted leased
-- (ADR 0021) and got an entry here at its insert, and lost it at its end: two index
-- writes a job, two jobs a message, for entries no claim read. `state` stays the first
-- column, so that SQLite's planner, without statistics, keeps choosing it.
DROP INDEX jobs_due;
CREATE INDEX jobs_due ON jobs (state, run_at) WHERE state = 'queued';

-- The only read by status is the count of quarantined events (the event list filters by
-- status through its time index). Accepted events, nearly every one, no longer write it.
DROP INDEX webhook_events_by_status;
CREATE INDEX webhook_events_by_status ON webhook_events (status, received_at) WHERE status = 'quarantined';
