/**
 * The restore workflow's steps. Both read the backup afresh (decrypt, verify the checksum against
 * `tenant_backups`): VerifyBackup proves it is whole and its names are free before anything
 * changes; RestoreData recreates the tenant. A one-piece backup is restored in one transaction; a
 * paged one page by page in a loop of the state machine (each page's checksum checked as it is
 * read), the tenant row and its API keys last — so until the last transaction commits, the tenant
 * stays deprovisioned, and a failed or interrupted restore resumes from its last committed page.
 */
import { and, eq, isNull, ne, or } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { apiKeys, tenants } from "../../db/schema.ts";
import { ValidationError } from "../../shared/errors.ts";
import { DEFAULT_BACKUP_BUDGET } from "../backups/backup-budget.ts";
import { getBackupRow } from "../backups/backup-records.ts";
import { requireBackupStore } from "../backups/backup-store.ts";
import {
  type BackupManifest,
  completePagedRestore,
  isPagedBackup,
  loopInputOf,
  parseManifest,
  readBackupPage,
  restoreInvocation,
  restoreScope,
  startLoopInvocation,
} from "../backups/paged-backup.ts";
import {
  type ParsedBackup,
  parseBackup,
  type RowCounts,
  restoreTenant,
  sha256Hex,
} from "../backups/tenant-export.ts";
import type { Cell } from "../cells/cell-directory.ts";
import { cellOfRun } from "../cells/tenant-cell-scope.ts";
import { type ProgressRow, saveProgress } from "../runs/progress-store.ts";
import {
  classifyStepError,
  databaseError,
  progressIdOf,
  runStep,
  type StepContext,
} from "../steps/run-step.ts";
import type { StepDeps, StepFactory } from "../steps/step-deps.ts";
import { restoreMetadata } from "./restore-service.ts";

type ReadBackup =
  | { readonly paged: false; readonly parsed: ParsedBackup; readonly tenantRow: TenantNames | undefined }
  | { readonly paged: true; readonly manifest: BackupManifest; readonly tenantRow: TenantNames | undefined };

interface TenantNames {
  readonly slug: string | null;
  readonly subdomain: string | null;
}

/**
 * The run's backup, decrypted and checked against the checksum in `tenant_backups`: a one-piece
 * backup (format 1, 2) whole; a paged one (3) its manifest, and the page holding the tenant row.
 */
async function readBackup(db: Database, deps: StepDeps, progress: ProgressRow): Promise<ReadBackup> {
  const { backupId } = restoreMetadata(progress);
  const backup = await getBackupRow(db, backupId);
  if (!backup) throw new ValidationError(`backup ${backupId} not found`);
  if (backup.deletedAt) throw new ValidationError(`backup ${backupId} was deleted`);
  if (backup.tenantId !== progress.tenantId)
    throw new ValidationError(`backup ${backupId} is another tenant's`);
  const store = requireBackupStore(deps.backups);
  const gzip = await store.get(backup.location);
  if (isPagedBackup(backup.formatVersion)) {
    const actual = sha256Hex(gzip);
    if (actual !== backup.sha256.trim()) {
      throw new ValidationError(`backup checksum mismatch: expected ${backup.sha256.trim()}, got ${actual}`);
    }
    const manifest = parseManifest(gzip);
    if (manifest.tenantId !== backup.tenantId)
      throw new ValidationError("backup content names another tenant");
    const page = manifest.pages.find((p) => p.section === "controlPlane" && p.table === "tenants");
    const chunk = page ? await readBackupPage(store, page) : undefined;
    return { paged: true, manifest, tenantRow: chunk ? tenantRowOf(chunk.rowsJson) : undefined };
  }
  const parsed = parseBackup(gzip, backup.sha256);
  if (parsed.header.tenantId !== backup.tenantId)
    throw new ValidationError("backup content names another tenant");
  const chunk = parsed.chunks.find((c) => c.section === "controlPlane" && c.table === "tenants");
  return { paged: false, parsed, tenantRow: chunk ? tenantRowOf(chunk.rowsJson) : undefined };
}

function tenantRowOf(rowsJson: string): TenantNames | undefined {
  return (JSON.parse(rowsJson) as TenantNames[])[0];
}

/** The backed-up tenant row's slug and subdomain must not have been taken by another tenant since. */
async function assertNamesFree(tx: Database, tenantId: string, row: TenantNames | undefined): Promise<void> {
  if (!row) throw new ValidationError("backup holds no tenant row");
  const names = [
    ...(row.slug ? [eq(tenants.slug, row.slug)] : []),
    ...(row.subdomain ? [eq(tenants.subdomain, row.subdomain)] : []),
  ];
  if (names.length === 0) return;
  const [taken] = await tx
    .select({ id: tenants.id, slug: tenants.slug, subdomain: tenants.subdomain })
    .from(tenants)
    .where(and(ne(tenants.id, tenantId), or(...names)));
  if (taken) {
    const what = taken.slug === row.slug ? `slug "${row.slug}"` : `subdomain "${row.subdomain}"`;
    throw new ValidationError(`the ${what} now belongs to tenant ${taken.id}; the backup cannot be restored`);
  }
}

const headerOfBackup = (read: ReadBackup) => (read.paged ? read.manifest : read.parsed.header);

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
    const read = await readBackup(ctx.tx, ctx.deps, ctx.progress);
    const header = headerOfBackup(read);
    await assertNamesFree(ctx.tx, header.tenantId, read.tenantRow);
    await mergeMetadata(ctx, {
      verified: {
        createdAt: header.createdAt,
        tables: header.tables.length,
        rows: header.tables.reduce((n, t) => n + t.rows, 0),
        ...(read.paged ? { pages: read.manifest.pages.length } : {}),
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

/**
 * A paged backup (format 3) is restored as a loop of the state machine (paged-backup.ts): the
 * first invocation recreates the empty schema, each one restores a bounded number of pages, each
 * page committed with the cursor; the last restores the tenant row and API keys, checks every
 * table and completes the step in one transaction. A one-piece backup (format 1, 2) is restored
 * in that last transaction alone.
 */
export const restoreDataStep: StepFactory = (deps) => async (input) => {
  const progressId = progressIdOf(input);
  const loop = loopInputOf(input);
  const budget = deps.backupBudget ?? DEFAULT_BACKUP_BUDGET;
  let countAttempt: boolean;
  try {
    countAttempt = await startLoopInvocation(deps.db, progressId, loop);
  } catch (error) {
    throw classifyStepError(error, databaseError);
  }
  let read: ReadBackup | undefined;
  // The tenant's cell, where its schema is restored: looked up before the step's transaction
  // opens (cellOfRun says why). The tenant row records it (its tombstone kept it).
  let cell: Cell | null;
  try {
    cell = await cellOfRun(deps, progressId);
  } catch (error) {
    throw classifyStepError(error, databaseError);
  }
  const outcome = await runStep(
    deps,
    progressId,
    "RestoreData",
    async (ctx) => {
      read ??= await readBackup(ctx.tx, ctx.deps, ctx.progress);
      const tenantId = headerOfBackup(read).tenantId;
      if (!cell) throw new ValidationError(`run ${progressId} names no tenant`);
      let restored: RowCounts;
      let paging: Record<string, number> = {};
      if (read.paged) {
        const done = await completePagedRestore(
          ctx.tx,
          requireBackupStore(ctx.deps.backups),
          progressId,
          read.manifest,
          ctx.now,
          cell,
        );
        restored = done.restored;
        paging = { pages: done.pages, iterations: done.iterations };
      } else {
        await assertNamesFree(ctx.tx, tenantId, read.tenantRow);
        // On another cell than `main` the schema and its rows go there first, once each
        // (restoreScope); the control-plane rows and the completion mark commit here.
        restored = await restoreTenant(
          ctx.tx,
          read.parsed,
          ctx.now,
          restoreScope(ctx.tx, ctx.deps, progressId, tenantId, cell),
        );
      }
      const revokedApiKeys = await revokeRestoredKeys(ctx.tx, tenantId, ctx.now);
      await mergeMetadata(ctx, { restored, revokedApiKeys, ...paging });
    },
    databaseError,
    {
      countAttempt,
      beforeTransaction: async (ctx) => {
        read = await readBackup(ctx.deps.db, ctx.deps, ctx.progress);
        if (!read.paged) return undefined;
        const { manifest, tenantRow } = read;
        return restoreInvocation(
          deps,
          requireBackupStore(deps.backups),
          progressId,
          manifest,
          loop,
          budget,
          (tx) => assertNamesFree(tx, manifest.tenantId, tenantRow),
        );
      },
    },
  );
  return { step: "RestoreData", outcome, done: outcome !== "continuing", iteration: loop.iteration + 1 };
};
