-- Tenant limit checks that count a tenant table only when it changed (issue 18): the exact row
-- count of each tenant's `schools` and `products` the last time the sweep counted them, with the
-- table's cumulative statistics counters read just before that count (rows inserted and deleted,
-- live rows: pg_stat_get_tuples_inserted / _deleted / pg_stat_get_live_tuples). Every insert or
-- delete moves them (aborted ones too: a needless count), and a truncate the live rows, so while a
-- table's counters and oid are as recorded (and the statistics have taken in what committed) the
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

-- What statistics and the sweep's template check read of each run, in a narrow table of its own
-- (issue 18): the run's id, kind, status, template and times (about 90 bytes a run, against ~1.4 kB
-- of a progress row with its steps). Counting runs by kind, status and template, or taking the
-- median completion time, reads every run of the window: from progress_stats_idx that was an
-- index-only scan only where vacuum keeps the visibility map (with autovacuum off, a heap fetch per
-- run: 22.8 ms at 10,000 runs); here it is a scan of ~200 pages. Kept by row triggers that fire only
-- when one of these columns changes (a step's update does not), so it holds exactly what the
-- progress table holds.
CREATE TABLE progress_run_facts (
  id UUID PRIMARY KEY,
  created_at TIMESTAMP,
  kind VARCHAR(20) NOT NULL,
  status VARCHAR(20),
  template_id UUID,
  started_at TIMESTAMP,
  completed_at TIMESTAMP
);
-- Windows on created_at; status changes leave it alone (HOT updates with room on the page).
CREATE INDEX progress_run_facts_created_idx ON progress_run_facts (created_at);
ALTER TABLE progress_run_facts SET (fillfactor = 70);
ALTER TABLE progress_run_facts SET (parallel_workers = 0);

CREATE FUNCTION progress_run_facts_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    DELETE FROM progress_run_facts;
  ELSIF TG_OP = 'DELETE' THEN
    DELETE FROM progress_run_facts WHERE id = OLD.id;
  ELSE
    INSERT INTO progress_run_facts (id, created_at, kind, status, template_id, started_at, completed_at)
    VALUES (NEW.id, NEW.created_at, NEW.kind, NEW.status, NEW.template_id,
            NEW.started_at, NEW.completed_at)
    ON CONFLICT (id) DO UPDATE SET created_at = EXCLUDED.created_at, kind = EXCLUDED.kind,
      status = EXCLUDED.status, template_id = EXCLUDED.template_id, started_at = EXCLUDED.started_at,
      completed_at = EXCLUDED.completed_at;
  END IF;
  RETURN NULL;
END;
$$;

CREATE TRIGGER progress_run_facts_insert AFTER INSERT ON tenant_provisioning_progress
  FOR EACH ROW EXECUTE FUNCTION progress_run_facts_apply();
CREATE TRIGGER progress_run_facts_update AFTER UPDATE ON tenant_provisioning_progress
  FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id OR OLD.created_at IS DISTINCT FROM NEW.created_at
    OR OLD.kind IS DISTINCT FROM NEW.kind OR OLD.status IS DISTINCT FROM NEW.status
    OR OLD.template_id IS DISTINCT FROM NEW.template_id OR OLD.started_at IS DISTINCT FROM NEW.started_at
    OR OLD.completed_at IS DISTINCT FROM NEW.completed_at)
  EXECUTE FUNCTION progress_run_facts_apply();
CREATE TRIGGER progress_run_facts_delete AFTER DELETE ON tenant_provisioning_progress
  FOR EACH ROW EXECUTE FUNCTION progress_run_facts_apply();
CREATE TRIGGER progress_run_facts_truncate AFTER TRUNCATE ON tenant_provisioning_progress
  FOR EACH STATEMENT EXECUTE FUNCTION progress_run_facts_apply();

INSERT INTO progress_run_facts (id, created_at, kind, status, template_id, started_at, completed_at)
SELECT id, created_at, kind, status, template_id, started_at, completed_at
FROM tenant_provisioning_progress;
