-- Scale (issue 18): background work bounded per sweep, not per fleet.

-- Where the sweep's round-robin over tenants stands. `tenant_limits`: the limit checks go through
-- tenants in id order, a batch per sweep, so that every tenant is checked once per round and a
-- round takes at most TENANT_LIMIT_CHECK_PERIOD_SECONDS (functions/domain/operations/alert-checks.ts).
-- `position` is the last tenant id checked in the round (NULL: the round has not checked any yet).
CREATE TABLE sweep_cursors (
  name VARCHAR(50) PRIMARY KEY,
  position UUID,
  round_started_at TIMESTAMPTZ NOT NULL,
  last_swept_at TIMESTAMPTZ NOT NULL
);

-- Plans that do not depend on statistics (this machine's PostgreSQL runs with autovacuum off, so
-- nothing is ever analyzed or vacuumed there; on Aurora a plan that is fast only with fresh
-- statistics is slow on the day they are stale).
--
-- A run's record is updated a dozen times or more (each step's attempt and outcome); its new version
-- goes on the same page when the page has room, and PostgreSQL prunes the dead versions of a page
-- when it next reads it, vacuum or not. Packed pages (fillfactor 100) send every update to the end
-- of the table instead, where without vacuum the space is never reused: 10,000 runs took 123 MB.
-- Half-full pages keep each run's versions on its own page. Measured on the local server: 10,000
-- records (≈1.4 kB each) updated ten times (status twice, steps eight times) grew from 1,431 to
-- 15,741 pages at fillfactor 100 (no update HOT), from 3,334 to 3,334 at 50 (80 % HOT), 4,979 at 70.
-- It applies to pages written from now on.
ALTER TABLE tenant_provisioning_progress SET (fillfactor = 50);

-- The progress list filtered by kind or template, newest first (status and tenant have theirs in
-- 0001); the filtered count reads these too. None of these columns changes after a run is created.
CREATE INDEX progress_kind_created_idx ON tenant_provisioning_progress (kind, created_at DESC, id DESC);
CREATE INDEX progress_template_created_idx ON tenant_provisioning_progress (template_id, created_at DESC, id DESC);

-- Runs still pending or running: the start-up resume scan (oldest first) and the sweep's
-- long-running check. Every run passes through these statuses, and without vacuum the status
-- indexes keep an entry for each version a run ever had: on 10,000 runs the resume scan read 9,723
-- entries of progress_status_completed_idx for 103 running runs (105 ms). This index holds the
-- active ones: 3,000 runs taken through pending, running and completed one batch at a time (autovacuum
-- off) left 278 entries in it, and the scan took 0.1-0.9 ms.
CREATE INDEX progress_active_idx ON tenant_provisioning_progress (created_at) WHERE status IN ('pending', 'running');
