-- Nothing to change on PostgreSQL. SQLite's migration 0022 rewrites its CHECK constraints
-- with lists of values (`state IN ('queued', 'leased', 'dead')`) as comparisons, because
-- SQLite evaluates such a list through a temporary B-tree for every row written (ADR
-- 0040). PostgreSQL evaluates the same constraint as `state = ANY (ARRAY[...])`, a few
-- comparisons; this file keeps the two engines' migrations numbered in step.
SELECT 1;
