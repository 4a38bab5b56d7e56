-- The sandbox records a delivery's message once (ADR 0017): a worker killed between the
-- sandbox's record and the delivery's mark of being sent runs the delivery again, and
-- gets the wamid recorded the first time instead of making a second reply. Rows from
-- before have no delivery id (NULLs never conflict).
ALTER TABLE sandbox_outbox ADD COLUMN delivery_id TEXT;
CREATE UNIQUE INDEX sandbox_outbox_one_per_delivery ON sandbox_outbox (delivery_id, kind);
