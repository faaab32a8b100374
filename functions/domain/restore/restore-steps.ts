/**
 * The restore workflow's steps. Both read the backup object afresh (decrypt, verify the checksum
 * against `tenant_backups`): VerifyBackup proves it can be restored before anything changes,
 * RestoreData recreates the tenant in one transaction — so a failure leaves it deprovisioned, not
 * half restored.
 */
import { and, eq, isNull, ne, or } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { apiKeys, tenants } from "../../db/schema.ts";
import { ValidationError } from "../../shared/errors.ts";
import { getBackupRow } from "../backups/backup-records.ts";
import { requireBackupStore } from "../backups/backup-store.ts";
import { type ParsedBackup, parseBackup, restoreTenant } from "../backups/tenant-export.ts";
import { saveProgress } from "../runs/progress-store.ts";
import { progressIdOf, runStep, type StepContext } from "../steps/run-step.ts";
import type { StepFactory } from "../steps/step-deps.ts";
import { restoreMetadata } from "./restore-service.ts";

async function readBackup(ctx: StepContext): Promise<ParsedBackup> {
  const { backupId } = restoreMetadata(ctx.progress);
  const backup = await getBackupRow(ctx.tx, backupId);
  if (!backup) throw new ValidationError(`backup ${backupId} not found`);
  if (backup.deletedAt) throw new ValidationError(`backup ${backupId} was deleted`);
  if (backup.tenantId !== ctx.progress.tenantId)
    throw new ValidationError(`backup ${backupId} is another tenant's`);
  const gzip = await requireBackupStore(ctx.deps.backups).get(backup.location);
  const parsed = parseBackup(gzip, backup.sha256);
  if (parsed.header.tenantId !== backup.tenantId)
    throw new ValidationError("backup content names another tenant");
  return parsed;
}

/** The backed-up tenant row's slug and subdomain must not have been taken by another tenant since. */
async function assertNamesFree(tx: Database, parsed: ParsedBackup): Promise<void> {
  const chunk = parsed.chunks.find((c) => c.section === "controlPlane" && c.table === "tenants");
  const [row] = chunk
    ? (JSON.parse(chunk.rowsJson) as { slug: string | null; subdomain: string | null }[])
    : [];
  if (!row) throw new ValidationError("backup holds no tenant row");
  const names = [
    ...(row.slug ? [eq(tenants.slug, row.slug)] : []),
    ...(row.subdomain ? [eq(tenants.subdomain, row.subdomain)] : []),
  ];
  if (names.length === 0) return;
  const [taken] = await tx
    .select({ id: tenants.id, slug: tenants.slug, subdomain: tenants.subdomain })
    .from(tenants)
    .where(and(ne(tenants.id, parsed.header.tenantId), or(...names)));
  if (taken) {
    const what = taken.slug === row.slug ? `slug "${row.slug}"` : `subdomain "${row.subdomain}"`;
    throw new ValidationError(`the ${what} now belongs to tenant ${taken.id}; the backup cannot be restored`);
  }
}

async function mergeMetadata(ctx: StepContext, changes: Record<string, unknown>): Promise<void> {
  await saveProgress(
    ctx.tx,
    ctx.progress.id,
    { metadata: { ...ctx.progress.metadata, ...changes } },
    ctx.now,
  );
}

export const verifyBackupStep: StepFactory = (deps) => async (input) => {
  const outcome = await runStep(deps, progressIdOf(input), "VerifyBackup", async (ctx) => {
    const parsed = await readBackup(ctx);
    await assertNamesFree(ctx.tx, parsed);
    await mergeMetadata(ctx, {
      verified: {
        createdAt: parsed.header.createdAt,
        tables: parsed.header.tables.length,
        rows: parsed.header.tables.reduce((n, t) => n + t.rows, 0),
      },
    });
  });
  return { step: "VerifyBackup", outcome };
};

/**
 * The backup was taken before DisableAccess revoked the tenant's API keys, so they come back
 * active with it. They are revoked again: a restore is an operator's decision about the data,
 * not about credentials that may have leaked while the tenant was gone. The run lists them
 * (`metadata.revokedApiKeys`); the operator issues new keys.
 */
async function revokeRestoredKeys(tx: Database, tenantId: string, now: Date): Promise<string[]> {
  const revoked = await tx
    .update(apiKeys)
    .set({ revokedAt: now })
    .where(and(eq(apiKeys.tenantId, tenantId), isNull(apiKeys.revokedAt)))
    .returning({ id: apiKeys.id });
  return revoked.map((k) => k.id);
}

export const restoreDataStep: StepFactory = (deps) => async (input) => {
  const outcome = await runStep(deps, progressIdOf(input), "RestoreData", async (ctx) => {
    const parsed = await readBackup(ctx);
    await assertNamesFree(ctx.tx, parsed);
    const restored = await restoreTenant(ctx.tx, parsed, ctx.now);
    const revokedApiKeys = await revokeRestoredKeys(ctx.tx, parsed.header.tenantId, ctx.now);
    await mergeMetadata(ctx, { restored, revokedApiKeys });
  });
  return { step: "RestoreData", outcome };
};
