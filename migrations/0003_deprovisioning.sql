-- Deprovisioning: tenant backups, scheduled operations, and one lifecycle run per tenant at a time.

-- One encrypted export of a tenant (kind 'full': its control-plane rows and every table of its
-- schema) or of its audit logs (kind 'audit_logs', archived by CleanupAuditLogs). The object lives
-- in the backup store (locally $DATA_DIR/backups/, AES-256-GCM; in AWS S3 with SSE-KMS); this row
-- says where, how big, its checksum and how it is encrypted — never its content.
-- tenant_id and progress_id are deliberately not foreign keys: backups outlive the tenant and the run.
CREATE TABLE tenant_backups (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id UUID NOT NULL,
  progress_id UUID,
  kind VARCHAR(20) NOT NULL DEFAULT 'full',
  -- 'local' or 's3'
  store VARCHAR(20) NOT NULL,
  -- the store's name for the object (a path under the backups directory, or s3://bucket/key?versionId=)
  location TEXT NOT NULL,
  -- bytes of the compressed export (before encryption)
  size_bytes BIGINT NOT NULL,
  -- SHA-256 (hex) of the compressed export: decrypt, hash, compare
  sha256 CHAR(64) NOT NULL,
  -- how the object is encrypted at rest: algorithm and key reference, never the key
  encryption JSONB NOT NULL,
  -- rows per table at backup time: {"controlPlane": {...}, "tenantSchema": {...}}
  row_counts JSONB NOT NULL DEFAULT '{}',
  format_version INTEGER NOT NULL DEFAULT 1,
  -- kept on purpose after the deprovisioning completed (preserveBackups / preserveAuditLogs)
  preserved BOOLEAN NOT NULL DEFAULT false,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  -- set when the object was deleted (the row stays as the record that it existed)
  deleted_at TIMESTAMPTZ,
  CONSTRAINT tenant_backups_kind CHECK (kind IN ('full', 'audit_logs')),
  CONSTRAINT tenant_backups_store CHECK (store IN ('local', 's3'))
);

CREATE INDEX tenant_backups_tenant_idx ON tenant_backups (tenant_id, created_at DESC);
-- One object of each kind per run: a retried step overwrites, never duplicates.
CREATE UNIQUE INDEX tenant_backups_run_kind_idx ON tenant_backups (progress_id, kind)
  WHERE progress_id IS NOT NULL;

-- Operations to start later: `schedule-deprovision`. In AWS each row has an EventBridge Scheduler
-- one-time schedule (external_ref = the schedule's name); locally a poller starts due rows. Either
-- way the run starts only by claiming the row (status 'scheduled' -> 'started'), so it runs once.
CREATE TABLE scheduled_operations (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  kind VARCHAR(20) NOT NULL DEFAULT 'deprovision',
  tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  run_at TIMESTAMPTZ NOT NULL,
  options JSONB NOT NULL DEFAULT '{}',
  status VARCHAR(20) NOT NULL DEFAULT 'scheduled',
  progress_id UUID REFERENCES tenant_provisioning_progress(id) ON DELETE SET NULL,
  external_ref TEXT,
  error TEXT,
  created_by UUID,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  started_at TIMESTAMPTZ,
  cancelled_at TIMESTAMPTZ,
  CONSTRAINT scheduled_operations_kind CHECK (kind IN ('deprovision')),
  CONSTRAINT scheduled_operations_status CHECK (status IN ('scheduled', 'started', 'cancelled', 'failed'))
);

-- The poller: due rows still waiting.
CREATE INDEX scheduled_operations_due_idx ON scheduled_operations (run_at) WHERE status = 'scheduled';
CREATE INDEX scheduled_operations_created_idx ON scheduled_operations (created_at DESC, id DESC);
CREATE INDEX scheduled_operations_tenant_idx ON scheduled_operations (tenant_id);
-- At most one pending schedule of a kind per tenant (two racing requests: one wins, one 409).
CREATE UNIQUE INDEX scheduled_operations_one_pending_idx ON scheduled_operations (tenant_id, kind)
  WHERE status = 'scheduled';

-- At most one deprovisioning or restore in flight per tenant, also when requests race.
CREATE UNIQUE INDEX progress_one_lifecycle_run_idx ON tenant_provisioning_progress (tenant_id)
  WHERE kind IN ('deprovision', 'restore') AND status IN ('pending', 'running');
