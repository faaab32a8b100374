/**
 * `tenant_backups`: the record of every backup object — where it is, its size and checksum, how
 * it is encrypted, the row counts it holds, whether it is kept and when it was deleted. The rows
 * outlive the tenant (and the objects they describe, as the record that they existed).
 */
import { and, desc, eq } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { tenantBackups, tenants } from "../../db/schema.ts";
import type { Backup } from "../../schemas/deprovisioning.ts";
import type { StoredObject } from "./backup-store.ts";
import type { BackupKind, TenantExport } from "./tenant-export.ts";

export type BackupRow = typeof tenantBackups.$inferSelect;

export function toBackup(row: BackupRow): Backup {
  return {
    id: row.id,
    tenantId: row.tenantId,
    progressId: row.progressId,
    kind: row.kind,
    store: row.store,
    location: row.location,
    sizeBytes: Number(row.sizeBytes),
    sha256: row.sha256.trim(),
    encryption: row.encryption,
    rowCounts: row.rowCounts,
    formatVersion: row.formatVersion,
    preserved: row.preserved,
    createdAt: row.createdAt.toISOString(),
    deletedAt: row.deletedAt?.toISOString() ?? null,
  };
}

/**
 * Records a written object; a retried step replaces the record of its own run and kind. A full
 * backup also records the tenant's slug and subdomain (read in the step's transaction, the tenant
 * row locked by the export), so a restore request can check them without opening the object.
 */
export async function saveBackupRecord(
  tx: Database,
  input: {
    readonly tenantId: string;
    readonly progressId: string;
    readonly kind: BackupKind;
    readonly exported: Pick<TenantExport, "header" | "sha256" | "rowCounts">;
    /** Bytes in the store (a paged backup: its manifest and every page). */
    readonly sizeBytes: number;
    readonly stored: StoredObject;
    readonly preserved: boolean;
    readonly now: Date;
  },
): Promise<BackupRow> {
  await tx
    .delete(tenantBackups)
    .where(and(eq(tenantBackups.progressId, input.progressId), eq(tenantBackups.kind, input.kind)));
  const [names] =
    input.kind === "full"
      ? await tx
          .select({ slug: tenants.slug, subdomain: tenants.subdomain })
          .from(tenants)
          .where(eq(tenants.id, input.tenantId))
      : [];
  const [row] = await tx
    .insert(tenantBackups)
    .values({
      tenantId: input.tenantId,
      progressId: input.progressId,
      kind: input.kind,
      store: input.stored.store,
      location: input.stored.location,
      sizeBytes: input.sizeBytes,
      sha256: input.exported.sha256,
      encryption: input.stored.encryption,
      rowCounts: input.exported.rowCounts as unknown as Record<string, unknown>,
      formatVersion: input.exported.header.version,
      preserved: input.preserved,
      createdAt: input.now,
      tenantSlug: names?.slug ?? null,
      tenantSubdomain: names?.subdomain ?? null,
    })
    .returning();
  return row!;
}

export async function listBackups(db: Database, tenantId: string): Promise<Backup[]> {
  const rows = await db
    .select()
    .from(tenantBackups)
    .where(eq(tenantBackups.tenantId, tenantId))
    .orderBy(desc(tenantBackups.createdAt), desc(tenantBackups.id));
  return rows.map(toBackup);
}

export async function getBackupRow(db: Database, id: string): Promise<BackupRow | undefined> {
  const [row] = await db.select().from(tenantBackups).where(eq(tenantBackups.id, id));
  return row;
}
