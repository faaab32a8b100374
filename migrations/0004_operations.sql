-- Operations: alerts raised by the periodic sweep, the per-step daily rollup that statistics read,
-- and the indexes that statistics, the sweep and retention use.

-- One row per condition worth an operator's attention. `dedupe_key` names the condition (for
-- example `run_failed:<progress id>:<attempt>`): the same condition is raised once, not every sweep.
-- tenant_id is deliberately not a foreign key: an alert may outlive its tenant.
CREATE TABLE alerts (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  kind VARCHAR(50) NOT NULL,
  severity VARCHAR(20) NOT NULL,
  dedupe_key VARCHAR(255) NOT NULL UNIQUE,
  subject_type VARCHAR(50) NOT NULL,
  subject_id VARCHAR(255),
  tenant_id UUID,
  message TEXT NOT NULL,
  details JSONB NOT NULL DEFAULT '{}',
  raised_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  resolved_at TIMESTAMPTZ,
  notified_at TIMESTAMPTZ,
  CONSTRAINT alerts_severity CHECK (severity IN ('info', 'warning', 'critical'))
);

-- The alert list: newest first, unresolved only by default, optionally one kind.
CREATE INDEX alerts_raised_idx ON alerts (raised_at DESC, id DESC);
CREATE INDEX alerts_unresolved_idx ON alerts (raised_at DESC, id DESC) WHERE resolved_at IS NULL;
CREATE INDEX alerts_kind_idx ON alerts (kind, raised_at DESC);
-- Alerts the channel has not taken yet (a failed publish is retried by the next sweep).
CREATE INDEX alerts_unnotified_idx ON alerts (raised_at) WHERE notified_at IS NULL;

-- Statistics aggregate runs by kind, status and template, and completion times, optionally within
-- a created_at window. Progress rows are wide (steps jsonb inline, about 2 kB each), so reading the
-- heap alone costs more than the stats budget at 100k runs; with everything those aggregates need in
-- this one index they are index-only scans. None of these columns changes on a step update, so step
-- updates of a running record stay HOT.
CREATE INDEX progress_stats_idx ON tenant_provisioning_progress (created_at)
  INCLUDE (kind, status, template_id, started_at, completed_at);
-- Those scans read a few MB (about 8 MB of this index at 100k runs). Parallel workers cost more to
-- start than they save at that size: on the local 2-vCPU PostgreSQL server the planner's parallel
-- plan made the stats twice as slow (about 200 ms against 100 ms at 100k runs, measured with
-- bench/stats.ts). On a larger instance with millions of runs, RESET (parallel_workers) may pay.
ALTER TABLE tenant_provisioning_progress SET (parallel_workers = 0);
-- Retention (finished runs by completion time) and the sweep's failed-run check. updated_at is left
-- out on purpose: indexing it would make every step update of a running record a non-HOT update.
CREATE INDEX progress_status_completed_idx ON tenant_provisioning_progress (status, completed_at);

-- What one progress record contributes to the per-step figures, by step name: completed and failed
-- step entries (a step stopped by a cancel is marked failed with RunCancelledError: not a failure
-- of the step), and the durations of the completed ones. `sign` is 1 to add a record, -1 to remove
-- it. Malformed entries (no name, non-numeric duration) contribute nothing rather than failing the
-- write that carries them.
CREATE FUNCTION progress_step_facts(created_at TIMESTAMP, steps JSONB, sign INTEGER)
RETURNS TABLE (day DATE, name TEXT, step_position INTEGER, completed INTEGER, failed INTEGER,
               duration_sum_ms DOUBLE PRECISION, duration_count INTEGER)
LANGUAGE sql IMMUTABLE AS $$
  SELECT coalesce(created_at::date, DATE '1970-01-01'),
         e.name,
         e.ordinality::integer,
         sign * (e.status = 'completed')::integer,
         sign * (e.status = 'failed' AND e.error_name <> 'RunCancelledError')::integer,
         CASE WHEN e.status = 'completed' AND e.timed THEN sign * (e.value->>'durationMs')::double precision
              ELSE 0 END,
         sign * (e.status = 'completed' AND e.timed)::integer
  FROM (
    SELECT a.value, a.ordinality, a.value->>'name' AS name,
           coalesce(a.value->>'status', '') AS status,
           coalesce(a.value->'error'->>'name', '') AS error_name,
           coalesce(jsonb_typeof(a.value->'durationMs') = 'number', false) AS timed
    FROM jsonb_array_elements(CASE WHEN jsonb_typeof(steps) = 'array' THEN steps ELSE '[]'::jsonb END)
         WITH ORDINALITY AS a(value, ordinality)
    WHERE jsonb_typeof(a.value) = 'object' AND jsonb_typeof(a.value->'name') = 'string'
  ) e
$$;

-- Per-step figures by the day (UTC) the run was created. Averaging step durations over every
-- record means expanding every steps array (about 0.7 s at 100k runs); this rollup, kept exact by
-- the triggers below, makes it a sum over a few rows per day. Statistics windows that do not
-- start or end at midnight read their partial edge days from the records themselves.
CREATE TABLE progress_step_daily (
  day DATE NOT NULL,
  name VARCHAR(255) NOT NULL,
  step_position INTEGER NOT NULL,
  completed BIGINT NOT NULL DEFAULT 0,
  failed BIGINT NOT NULL DEFAULT 0,
  duration_sum_ms DOUBLE PRECISION NOT NULL DEFAULT 0,
  duration_count BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (day, name)
);

-- Statement-level with transition tables: a bulk insert or a retention delete is one upsert, and
-- an update that changes no step's outcome (a step starting, current_step moving) writes nothing.
-- Rows are upserted in key order so that concurrent statements cannot deadlock on the rollup.
-- (Transition tables are visible only in the trigger function itself, hence the three upserts.)
CREATE FUNCTION progress_step_daily_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    DELETE FROM progress_step_daily;
  ELSIF TG_OP = 'INSERT' THEN
    INSERT INTO progress_step_daily AS d
      (day, name, step_position, completed, failed, duration_sum_ms, duration_count)
    SELECT f.day, f.name, min(f.step_position), sum(f.completed), sum(f.failed),
           sum(f.duration_sum_ms), sum(f.duration_count)
    FROM (SELECT x.* FROM new_rows r, progress_step_facts(r.created_at, r.steps, 1) x) f
    GROUP BY f.day, f.name
    HAVING sum(f.completed) <> 0 OR sum(f.failed) <> 0 OR sum(f.duration_count) <> 0
      OR sum(f.duration_sum_ms) <> 0
    ORDER BY f.day, f.name
    ON CONFLICT (day, name) DO UPDATE SET
      step_position = least(d.step_position, EXCLUDED.step_position),
      completed = d.completed + EXCLUDED.completed,
      failed = d.failed + EXCLUDED.failed,
      duration_sum_ms = d.duration_sum_ms + EXCLUDED.duration_sum_ms,
      duration_count = d.duration_count + EXCLUDED.duration_count;
  ELSIF TG_OP = 'UPDATE' THEN
    INSERT INTO progress_step_daily AS d
      (day, name, step_position, completed, failed, duration_sum_ms, duration_count)
    SELECT f.day, f.name, min(f.step_position), sum(f.completed), sum(f.failed),
           sum(f.duration_sum_ms), sum(f.duration_count)
    FROM (SELECT x.* FROM new_rows r, progress_step_facts(r.created_at, r.steps, 1) x
          UNION ALL
          SELECT x.* FROM old_rows r, progress_step_facts(r.created_at, r.steps, -1) x) f
    GROUP BY f.day, f.name
    HAVING sum(f.completed) <> 0 OR sum(f.failed) <> 0 OR sum(f.duration_count) <> 0
      OR sum(f.duration_sum_ms) <> 0
    ORDER BY f.day, f.name
    ON CONFLICT (day, name) DO UPDATE SET
      step_position = least(d.step_position, EXCLUDED.step_position),
      completed = d.completed + EXCLUDED.completed,
      failed = d.failed + EXCLUDED.failed,
      duration_sum_ms = d.duration_sum_ms + EXCLUDED.duration_sum_ms,
      duration_count = d.duration_count + EXCLUDED.duration_count;
  ELSE
    INSERT INTO progress_step_daily AS d
      (day, name, step_position, completed, failed, duration_sum_ms, duration_count)
    SELECT f.day, f.name, min(f.step_position), sum(f.completed), sum(f.failed),
           sum(f.duration_sum_ms), sum(f.duration_count)
    FROM (SELECT x.* FROM old_rows r, progress_step_facts(r.created_at, r.steps, -1) x) f
    GROUP BY f.day, f.name
    HAVING sum(f.completed) <> 0 OR sum(f.failed) <> 0 OR sum(f.duration_count) <> 0
      OR sum(f.duration_sum_ms) <> 0
    ORDER BY f.day, f.name
    ON CONFLICT (day, name) DO UPDATE SET
      step_position = least(d.step_position, EXCLUDED.step_position),
      completed = d.completed + EXCLUDED.completed,
      failed = d.failed + EXCLUDED.failed,
      duration_sum_ms = d.duration_sum_ms + EXCLUDED.duration_sum_ms,
      duration_count = d.duration_count + EXCLUDED.duration_count;
  END IF;
  RETURN NULL;
END;
$$;

CREATE TRIGGER progress_step_daily_insert
  AFTER INSERT ON tenant_provisioning_progress REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION progress_step_daily_apply();
CREATE TRIGGER progress_step_daily_update
  AFTER UPDATE ON tenant_provisioning_progress REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION progress_step_daily_apply();
CREATE TRIGGER progress_step_daily_delete
  AFTER DELETE ON tenant_provisioning_progress REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION progress_step_daily_apply();
CREATE TRIGGER progress_step_daily_truncate
  AFTER TRUNCATE ON tenant_provisioning_progress
  FOR EACH STATEMENT EXECUTE FUNCTION progress_step_daily_apply();

-- Records that exist before this migration.
INSERT INTO progress_step_daily (day, name, step_position, completed, failed, duration_sum_ms, duration_count)
SELECT f.day, f.name, min(f.step_position), sum(f.completed), sum(f.failed), sum(f.duration_sum_ms),
       sum(f.duration_count)
FROM tenant_provisioning_progress r, progress_step_facts(r.created_at, r.steps, 1) f
GROUP BY f.day, f.name
HAVING sum(f.completed) <> 0 OR sum(f.failed) <> 0 OR sum(f.duration_count) <> 0
      OR sum(f.duration_sum_ms) <> 0;
