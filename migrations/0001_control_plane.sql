-- Control plane: templates (+ immutable versions), tenants, progress, users, API keys, audit log.
-- The tenant_templates and tenant_provisioning_progress columns and defaults are the product
-- document's, plus the columns named in the comments below.

CREATE TABLE tenant_templates (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  name VARCHAR(255) NOT NULL UNIQUE,
  description TEXT,
  category VARCHAR(50) DEFAULT 'basic',
  settings JSONB DEFAULT '{}',
  limits JSONB DEFAULT '{}',
  initial_data JSONB DEFAULT '{}',
  migrations JSONB DEFAULT '[]',
  post_provisioning_steps JSONB DEFAULT '[]',
  created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
  updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
  -- added: the current version number, whether it is a built-in default, soft delete
  version INTEGER NOT NULL DEFAULT 1,
  is_default BOOLEAN NOT NULL DEFAULT false,
  deleted_at TIMESTAMP
);

CREATE INDEX tenant_templates_category_idx ON tenant_templates (category) WHERE deleted_at IS NULL;

-- Every version of a template, written once and never changed.
CREATE TABLE tenant_template_versions (
  template_id UUID NOT NULL REFERENCES tenant_templates(id) ON DELETE CASCADE,
  version INTEGER NOT NULL,
  name VARCHAR(255) NOT NULL,
  description TEXT,
  category VARCHAR(50) NOT NULL,
  settings JSONB NOT NULL DEFAULT '{}',
  limits JSONB NOT NULL DEFAULT '{}',
  initial_data JSONB NOT NULL DEFAULT '{}',
  migrations JSONB NOT NULL DEFAULT '[]',
  post_provisioning_steps JSONB NOT NULL DEFAULT '[]',
  created_by UUID,
  created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (template_id, version)
);

CREATE FUNCTION tenant_template_versions_immutable() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'template versions are immutable' USING ERRCODE = '55000';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER tenant_template_versions_no_update
  BEFORE UPDATE ON tenant_template_versions
  FOR EACH ROW EXECUTE FUNCTION tenant_template_versions_immutable();

CREATE TABLE tenants (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  -- NULL once deprovisioned: a tombstone keeps no personal data and frees its slug
  slug VARCHAR(63) UNIQUE,
  subdomain VARCHAR(63) UNIQUE,
  name VARCHAR(255) NOT NULL,
  status VARCHAR(20) NOT NULL DEFAULT 'provisioning',
  settings JSONB NOT NULL DEFAULT '{}',
  limits JSONB NOT NULL DEFAULT '{}',
  template_id UUID REFERENCES tenant_templates(id) ON DELETE SET NULL,
  template_version INTEGER,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX tenants_status_idx ON tenants (status);

CREATE TABLE tenant_provisioning_progress (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id UUID REFERENCES tenants(id) ON DELETE CASCADE,
  template_id UUID REFERENCES tenant_templates(id) ON DELETE SET NULL,
  status VARCHAR(20) DEFAULT 'pending',
  current_step VARCHAR(255),
  total_steps INTEGER DEFAULT 0,
  completed_steps INTEGER DEFAULT 0,
  steps JSONB DEFAULT '[]',
  started_at TIMESTAMP,
  completed_at TIMESTAMP,
  error TEXT,
  warnings JSONB DEFAULT '[]',
  metadata JSONB DEFAULT '{}',
  created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
  updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
  -- added: run kind, template version, attempt number, execution reference, idempotency
  kind VARCHAR(20) NOT NULL DEFAULT 'provision',
  template_version INTEGER,
  attempt INTEGER NOT NULL DEFAULT 1,
  execution_ref TEXT,
  idempotency_key VARCHAR(255),
  request_hash VARCHAR(64)
);

CREATE INDEX progress_created_idx ON tenant_provisioning_progress (created_at DESC, id DESC);
CREATE INDEX progress_tenant_idx ON tenant_provisioning_progress (tenant_id, created_at DESC);
CREATE INDEX progress_status_idx ON tenant_provisioning_progress (status, created_at DESC);
CREATE UNIQUE INDEX progress_idempotency_idx ON tenant_provisioning_progress (idempotency_key)
  WHERE idempotency_key IS NOT NULL;

CREATE TABLE users (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  email VARCHAR(320) NOT NULL,
  name VARCHAR(255) NOT NULL,
  role VARCHAR(50) NOT NULL DEFAULT 'user',
  password_hash TEXT,
  status VARCHAR(20) NOT NULL DEFAULT 'active',
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, email)
);

CREATE TABLE api_keys (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  name VARCHAR(255) NOT NULL,
  -- SHA-256 of the key: keys are 256-bit random, so a fast hash is enough and lookups stay O(1)
  key_hash CHAR(64) NOT NULL UNIQUE,
  key_prefix VARCHAR(16) NOT NULL,
  role VARCHAR(20) NOT NULL,
  tenant_id UUID REFERENCES tenants(id) ON DELETE CASCADE,
  created_by UUID,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  last_used_at TIMESTAMPTZ,
  revoked_at TIMESTAMPTZ,
  CONSTRAINT api_keys_role CHECK (role IN ('admin', 'tenant_admin')),
  CONSTRAINT api_keys_scope CHECK ((role = 'admin') = (tenant_id IS NULL))
);

-- tenant_id is deliberately not a foreign key: audit logs may outlive the tenant.
CREATE TABLE audit_logs (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  actor_key_id UUID,
  action VARCHAR(100) NOT NULL,
  target_type VARCHAR(50) NOT NULL,
  target_id VARCHAR(255),
  tenant_id UUID,
  details JSONB NOT NULL DEFAULT '{}',
  request_id VARCHAR(255),
  created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX audit_logs_tenant_idx ON audit_logs (tenant_id, created_at DESC);
CREATE INDEX audit_logs_created_idx ON audit_logs (created_at DESC);
