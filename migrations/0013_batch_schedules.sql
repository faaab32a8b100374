-- Scheduled bulk provisioning (issue 15 item 3): a `batch` schedule starts a batch written when it
-- was scheduled — its run (`progress_id`, pending, no execution) and its children, whose tenant
-- rows are `scheduled` and hold their slugs and subdomains until it runs or is cancelled. The
-- schedule has no tenant of its own.
ALTER TABLE scheduled_operations ALTER COLUMN tenant_id DROP NOT NULL;
ALTER TABLE scheduled_operations DROP CONSTRAINT scheduled_operations_kind;
ALTER TABLE scheduled_operations ADD CONSTRAINT scheduled_operations_kind CHECK (kind IN ('deprovision', 'provision', 'batch'));
ALTER TABLE scheduled_operations ADD CONSTRAINT scheduled_operations_tenant CHECK ((kind = 'batch') = (tenant_id IS NULL));
CREATE INDEX scheduled_operations_progress_idx ON scheduled_operations (progress_id) WHERE progress_id IS NOT NULL;
