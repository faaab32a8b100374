/**
 * Restoring a deprovisioned tenant from one of its backups, as a tracked run (kind `restore`,
 * workflow `statemachines/restore.asl.json`): VerifyBackup (the object decrypts, its checksum
 * matches, its slug and subdomain are still free) then RestoreData (schema, rows, users and keys
 * back in one transaction). The request claims the tenant (`deprovisioned` → `restoring`) under a
 * lock on its row, so one restore runs at a time; a failed or cancelled restore hands it back.
 */
import { and, eq, ne, or, sql } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { tenantBackups, tenants } from "../../db/schema.ts";
import type { ProgressRecord } from "../../schemas/progress.ts";
import { ConflictError, NotFoundError, sqlState } from "../../shared/errors.ts";
import { RESTORE_STEPS } from "../../workflows/step-catalog.ts";
import type { Actor } from "../actor.ts";
import { recordAudit } from "../audit.ts";
import { type CellDirectory, cellsOf } from "../cells/cell-directory.ts";
import { isNoCell, noCellError, placementSql } from "../cells/placement.ts";
import { insertRun, type ProgressRow, toProgressRecord } from "../runs/progress-store.ts";
import { emitRunStarted } from "../runs/run-events.ts";
import { type RunDeps, startRun } from "../runs/start-run.ts";
import { initialSteps } from "../runs/step-state.ts";

/** The progress record's `metadata` of a restore run. */
export interface RestoreMetadata {
  readonly backupId: string;
  readonly requestedBy: string | null;
  readonly verified?: { readonly sha256: string; readonly rowCounts: unknown };
  readonly restored?: unknown;
  /** The tenant's API keys the restore brought back and revoked again (restore-steps.ts). */
  readonly revokedApiKeys?: readonly string[];
}

export function restoreMetadata(run: ProgressRow): RestoreMetadata {
  return run.metadata as unknown as RestoreMetadata;
}

/** `POST /tenants/:id/restore`: 202 with the restore run. */
export async function requestRestore(
  deps: RunDeps,
  tenantId: string,
  backupId: string,
  actor: Actor,
): Promise<ProgressRecord> {
  const { db, clock } = deps;
  // A tenant whose row was gone altogether gets a tombstone placed anew, maybe on another cell than
  // its old row's: what this process read of its cell is forgotten. (Another process that read the
  // old row's cell keeps it; the service never deletes a tenant row, so that takes a removal by hand.)
  cellsOf(deps).forget(tenantId);
  let run: ProgressRow;
  try {
    run = await db.transaction(async (tx) => {
      const [backup] = await tx
        .select()
        .from(tenantBackups)
        .where(and(eq(tenantBackups.id, backupId), eq(tenantBackups.tenantId, tenantId)));
      if (!backup) throw new NotFoundError(`backup of tenant ${tenantId}`, backupId);
      if (backup.kind !== "full") {
        throw new ConflictError(`backup ${backupId} is an audit-log archive; restore needs a full backup`);
      }
      if (backup.deletedAt) {
        throw new ConflictError(`backup ${backupId} was deleted at ${backup.deletedAt.toISOString()}`);
      }
      const now = clock();
      const tenant = await lockOrCreateTombstone(tx, cellsOf(deps), tenantId, now);
      if (tenant.status !== "deprovisioned") {
        throw new ConflictError(
          `tenant ${tenantId} is ${tenant.status}; only a deprovisioned tenant can be restored`,
          { status: tenant.status },
        );
      }
      await assertBackupNamesFree(tx, tenantId, backup);
      await tx.update(tenants).set({ status: "restoring", updatedAt: now }).where(eq(tenants.id, tenantId));
      const metadata: RestoreMetadata = { backupId, requestedBy: actor.keyId };
      const created = await insertRun(tx, {
        kind: "restore",
        tenantId,
        templateId: tenant.templateId,
        templateVersion: tenant.templateVersion,
        steps: initialSteps(RESTORE_STEPS),
        metadata: { ...metadata },
        now,
      });
      await emitRunStarted(tx, created, now);
      await recordAudit(tx, {
        actorKeyId: actor.keyId,
        action: "tenant.restore",
        targetType: "tenant",
        targetId: tenantId,
        tenantId,
        details: { backupId, progressId: created.id, backupCreatedAt: backup.createdAt.toISOString() },
        requestId: actor.requestId,
      });
      return created;
    });
  } catch (error) {
    // Only a tombstone recreated for a tenant whose row was gone is placed (its template unknown).
    if (isNoCell(error)) throw await noCellError(db, cellsOf(deps), null);
    if (sqlState(error) === "23505") throw new ConflictError(`tenant ${tenantId} is already being restored`);
    throw error;
  }
  return toProgressRecord(await startRun(deps, run));
}

/**
 * 409 when another tenant has taken the slug or subdomain the backup's tenant had (recorded with
 * the backup); VerifyBackup checks the same again from the object itself, for older backups and
 * for names taken after this request.
 */
async function assertBackupNamesFree(
  tx: Database,
  tenantId: string,
  backup: { readonly tenantSlug: string | null; readonly tenantSubdomain: string | null },
): Promise<void> {
  const names = [
    ...(backup.tenantSlug ? [eq(tenants.slug, backup.tenantSlug)] : []),
    ...(backup.tenantSubdomain ? [eq(tenants.subdomain, backup.tenantSubdomain)] : []),
  ];
  if (names.length === 0) return;
  const taken = await tx
    .select({ id: tenants.id, slug: tenants.slug, subdomain: tenants.subdomain })
    .from(tenants)
    .where(and(ne(tenants.id, tenantId), or(...names)));
  const fields: { field: string; message: string }[] = [];
  for (const t of taken) {
    if (backup.tenantSlug && t.slug === backup.tenantSlug) {
      fields.push({ field: "slug", message: `"${t.slug}" now belongs to tenant ${t.id}` });
    }
    if (backup.tenantSubdomain && t.subdomain === backup.tenantSubdomain) {
      fields.push({ field: "subdomain", message: `"${t.subdomain}" now belongs to tenant ${t.id}` });
    }
  }
  if (fields.length > 0) {
    throw new ConflictError(
      `the backup's ${fields.map((f) => `${f.field} ${f.message}`).join(" and ")}; it cannot be restored`,
      { fields },
    );
  }
}

/**
 * The tenant row, locked; a tenant whose row is gone altogether gets its tombstone back first,
 * placed on a cell as a new tenant would be (its template is not known any more): the restore puts
 * its schema on the cell its row records.
 */
async function lockOrCreateTombstone(tx: Database, cells: CellDirectory, tenantId: string, now: Date) {
  await tx
    .insert(tenants)
    .values({
      id: tenantId,
      name: "(removed)",
      status: "deprovisioned",
      // NOT NULL is checked before ON CONFLICT: an existing row's own cell keeps a closed
      // deployment's NULL placement from refusing a tombstone that is already there.
      cell: sql`coalesce(${placementSql(cells, null)}, (SELECT t.cell FROM tenants t WHERE t.id = ${tenantId}::uuid))`,
      createdAt: now,
      updatedAt: now,
    })
    .onConflictDoNothing({ target: tenants.id });
  const [tenant] = await tx.select().from(tenants).where(eq(tenants.id, tenantId)).for("update");
  return tenant!;
}
