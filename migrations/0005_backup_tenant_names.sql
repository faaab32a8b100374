-- The slug and subdomain a full backup's tenant had when it was taken, so that a restore whose
-- names another tenant has taken since is refused when it is requested (409), not only later in
-- VerifyBackup, which must decrypt the whole object to read them. Cleared with the object when a
-- backup is deleted, as the tenant's tombstone clears them; NULL for backups taken before this
-- migration (VerifyBackup still checks those).
ALTER TABLE tenant_backups ADD COLUMN tenant_slug VARCHAR(63);
ALTER TABLE tenant_backups ADD COLUMN tenant_subdomain VARCHAR(63);
