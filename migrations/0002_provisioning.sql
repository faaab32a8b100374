-- Provisioning workflow: secrets kept out of execution input, and the notifications outbox.

-- The admin password hash for a run, written by the API before the execution starts and deleted
-- by CreateAdminUser in the same transaction that creates the user. Never returned by the API.
CREATE TABLE provisioning_secrets (
  progress_id UUID PRIMARY KEY REFERENCES tenant_provisioning_progress(id) ON DELETE CASCADE,
  admin_password_hash TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Messages to tenant users (welcome, deprovisioning notices). Locally a worker drains it; in AWS
-- the same messages go to SQS.
CREATE TABLE notifications_outbox (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id UUID,
  progress_id UUID,
  recipient VARCHAR(320) NOT NULL,
  kind VARCHAR(50) NOT NULL,
  payload JSONB NOT NULL DEFAULT '{}',
  dedupe_key VARCHAR(255) NOT NULL UNIQUE,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  delivered_at TIMESTAMPTZ
);

CREATE INDEX notifications_outbox_pending_idx ON notifications_outbox (created_at) WHERE delivered_at IS NULL;
CREATE INDEX notifications_outbox_tenant_idx ON notifications_outbox (tenant_id);
CREATE INDEX users_tenant_idx ON users (tenant_id);
