-- Operations: alerts raised by the periodic sweep, and the indexes that statistics, the sweep and
-- retention read progress records through.

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

-- The alert list: newest first, unresolved by default, optionally one kind.
CREATE INDEX alerts_raised_idx ON alerts (raised_at DESC, id DESC);
CREATE INDEX alerts_kind_idx ON alerts (kind, raised_at DESC);
CREATE INDEX alerts_unresolved_idx ON alerts (raised_at DESC, id DESC) WHERE resolved_at IS NULL;

-- Statistics group runs by kind and status and by template and status; with these an aggregate
-- over the whole table can be an index-only scan instead of reading every row's steps jsonb.
CREATE INDEX progress_kind_status_idx ON tenant_provisioning_progress (kind, status);
CREATE INDEX progress_template_status_idx ON tenant_provisioning_progress (template_id, status);
-- Completion times (status = 'completed') and the sweep's long-running check (status = 'running'
-- AND started_at < cutoff).
CREATE INDEX progress_status_started_idx ON tenant_provisioning_progress (status, started_at)
  INCLUDE (completed_at);
-- Retention: finished runs by completion time. updated_at is left out on purpose: indexing it would
-- make every step update of a running record a non-HOT update.
CREATE INDEX progress_status_completed_idx ON tenant_provisioning_progress (status, completed_at);
