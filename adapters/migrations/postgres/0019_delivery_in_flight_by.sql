-- The job lease that marked a delivery in flight when its reply was recorded (ADR 0034):
-- the reply's delivery, leased to the worker that planned it, is sent under that lease
-- without a write of its own before the send.
ALTER TABLE deliveries ADD COLUMN in_flight_by TEXT;
