-- Tenant limit checks that count a tenant table only when it changed (issue 18): the exact row
-- count of each tenant's `schools` and `products` the last time the sweep counted them, with the
-- table's cumulative statistics counters read just before that count (rows inserted and deleted,
-- live rows: pg_stat_get_tuples_inserted / _deleted / pg_stat_get_live_tuples). Every committed
-- insert, delete or truncate moves them, so while a table's counters and oid are as recorded the
-- recorded count is still exact, and the sweep reads it instead of opening the table (opening a
-- tenant table and its indexes for count(*) costs ~2.7 ms on a connection that has not touched
-- it; reading its counters, 0.1 ms). See checkTenantLimits in
-- functions/domain/operations/alert-checks.ts.
CREATE TABLE tenant_table_counts (
  tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  table_name VARCHAR(63) NOT NULL,
  -- The table's oid when counted: a table dropped and created again is a new one.
  relid BIGINT NOT NULL,
  row_count BIGINT NOT NULL,
  inserted BIGINT NOT NULL,
  deleted BIGINT NOT NULL,
  live BIGINT NOT NULL,
  counted_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (tenant_id, table_name)
);
-- A row is rewritten each time its table is counted again (no indexed column changes: HOT updates
-- with room on their page).
ALTER TABLE tenant_table_counts SET (fillfactor = 70);

-- The statistics are reset by a crash, pg_stat_reset() or a new server: the database's commit
-- counter then falls back, or its reset time changes. The cursor records both as the sweep last
-- saw them; when they do not follow on, every recorded count is dropped and counted again.
ALTER TABLE sweep_cursors ADD COLUMN stats_commits BIGINT;
ALTER TABLE sweep_cursors ADD COLUMN stats_reset_at TEXT;
