-- Admin invitations: a provisioning without an admin password creates the admin with no password
-- (CreateAdminUser) and one invitation row; the welcome notification issues its token and sends a
-- set-password link. Only the token's sha256 is stored (a 256-bit random token needs no salt or
-- slow hash); accepting it sets the password once, before `expires_at`.
CREATE TABLE admin_invitations (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  user_id UUID NOT NULL,
  progress_id UUID,
  -- NULL until the welcome notification issues the token.
  token_hash VARCHAR(64),
  issued_at TIMESTAMPTZ,
  expires_at TIMESTAMPTZ,
  accepted_at TIMESTAMPTZ,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX admin_invitations_token_idx ON admin_invitations (token_hash) WHERE token_hash IS NOT NULL;
CREATE UNIQUE INDEX admin_invitations_user_idx ON admin_invitations (user_id);
CREATE INDEX admin_invitations_progress_idx ON admin_invitations (progress_id);
CREATE INDEX admin_invitations_tenant_idx ON admin_invitations (tenant_id);

-- Scheduled provisioning: a `provision` schedule reserves its slug and subdomain with a tenant row
-- in status `scheduled` (the names' unique indexes refuse them to anyone else meanwhile); the run
-- is created on that row when the schedule falls due, and cancelling frees the names. A password,
-- when given, waits here as its argon2id hash until the run moves it to provisioning_secrets.
ALTER TABLE scheduled_operations DROP CONSTRAINT scheduled_operations_kind;
ALTER TABLE scheduled_operations ADD CONSTRAINT scheduled_operations_kind CHECK (kind IN ('deprovision', 'provision'));
ALTER TABLE scheduled_operations ADD COLUMN admin_password_hash TEXT;
