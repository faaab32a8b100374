-- Backups and restores as a loop of the state machine (issue 13): BackupData and RestoreData each
-- do a bounded amount of work per invocation and return; a Choice sends the execution back until
-- done. Where the loop stands is committed with each page, so a crash or retry resumes from the
-- last committed page (functions/domain/backups/paged-backup.ts).

-- One row per backup or restore in progress (deleted when its step completes).
-- `source_index` / `after_key`: the table being read and the last key read of it (backup);
-- `next_page`: the next page number to write (backup; numbers are never reused, so a page object
-- is written again only by a retry of the same page) or to restore (restore);
-- `invocation`: the last invocation that started (`<execution>#<iteration>`), which tells a retry
-- (counted as an attempt) from the loop's next iteration (not counted);
-- `restart`: rows of the tenant's schema changed while no backup run was active to keep them
-- still (the run had failed): the pages read so far are discarded and the backup starts over.
CREATE TABLE backup_cursors (
  progress_id UUID PRIMARY KEY REFERENCES tenant_provisioning_progress(id) ON DELETE CASCADE,
  kind VARCHAR(10) NOT NULL CHECK (kind IN ('backup', 'restore')),
  schema_name VARCHAR(63) NOT NULL,
  source_index INTEGER NOT NULL DEFAULT 0,
  after_key TEXT,
  next_page INTEGER NOT NULL DEFAULT 0,
  iterations INTEGER NOT NULL DEFAULT 0,
  invocation TEXT,
  restart BOOLEAN NOT NULL DEFAULT FALSE,
  started_at TIMESTAMPTZ NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX backup_cursors_schema_idx ON backup_cursors (schema_name) WHERE kind = 'backup';

-- The pages a backup in progress has written (each committed with the cursor that moved past it).
-- The last invocation writes them into the backup's manifest and deletes them; `discarded` pages
-- (a restart) have their objects deleted before the backup completes.
CREATE TABLE backup_pages (
  progress_id UUID NOT NULL REFERENCES tenant_provisioning_progress(id) ON DELETE CASCADE,
  page_no INTEGER NOT NULL,
  section VARCHAR(20) NOT NULL,
  table_name VARCHAR(63) NOT NULL,
  row_count INTEGER NOT NULL,
  bytes BIGINT NOT NULL,
  sha256 CHAR(64) NOT NULL,
  location TEXT NOT NULL,
  discarded BOOLEAN NOT NULL DEFAULT FALSE,
  PRIMARY KEY (progress_id, page_no)
);

-- The tenant's schema stays still while it is backed up in several transactions: a statement
-- trigger on each of its tables (added by the first page, dropped by the last) refuses writes while
-- the backup's run is active. Pages are read in `ctid` order, which only writes change. Once the run
-- is no longer active (failed, cancelled) writes go through again, and mark the backup to start over.
CREATE FUNCTION tenant_backup_guard() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
  IF EXISTS (
    SELECT 1 FROM backup_cursors c JOIN tenant_provisioning_progress p ON p.id = c.progress_id
    WHERE c.kind = 'backup' AND c.schema_name = TG_TABLE_SCHEMA AND p.status IN ('pending', 'running')
  ) THEN
    RAISE EXCEPTION 'tenant schema % is read-only while it is backed up', TG_TABLE_SCHEMA
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  UPDATE backup_cursors SET restart = TRUE
  WHERE kind = 'backup' AND schema_name = TG_TABLE_SCHEMA AND NOT restart;
  RETURN NULL;
END
$$;

-- A backup reads a tenant's control-plane rows in id order, a page at a time (`id > cursor ORDER BY
-- id LIMIT n`): with years of audit logs, only an index on (tenant_id, id) keeps each page from
-- sorting all of the tenant's remaining rows.
CREATE INDEX audit_logs_tenant_id_idx ON audit_logs (tenant_id, id);
CREATE INDEX users_tenant_id_idx ON users (tenant_id, id);
