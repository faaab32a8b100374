/**
 * The work of each deprovisioning step. Each runs inside `runStep`: the run must still be wanted,
 * the work and the step's completed mark commit in one transaction, a completed step never runs
 * again. Objects in the backup store are written before that transaction commits (a retry
 * overwrites the same name) and deleted only after it committed (a rollback never loses a backup
 * whose data still exists).
 */
import { and, eq, isNotNull, isNull, sql } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { tenantBackups, tenants } from "../../db/schema.ts";
import { numberValue, queryRows } from "../../db/sql.ts";
import { NetworkError, RunCancelledError, ValidationError } from "../../shared/errors.ts";
import { DEFAULT_BACKUP_BUDGET } from "../backups/backup-budget.ts";
import { saveBackupRecord } from "../backups/backup-records.ts";
import { requireBackupStore } from "../backups/backup-store.ts";
import {
  backupInvocation,
  completePagedBackup,
  deleteBackupObjects,
  loopInputOf,
  releaseCellGuard,
  startLoopInvocation,
} from "../backups/paged-backup.ts";
import { exportTenant } from "../backups/tenant-export.ts";
import { type Cell, cellsOf } from "../cells/cell-directory.ts";
import { cellOfRun } from "../cells/tenant-cell-scope.ts";
import { dedupeKey, emitEvent } from "../events/outbox.ts";
import { MAX_BATCH_ENTRIES, type Notification } from "../notifications/notification-channel.ts";
import { getProgressRow, type ProgressRow, saveProgress } from "../runs/progress-store.ts";
import { isActive } from "../runs/run-status.ts";
import {
  classifyStepError,
  databaseError,
  type PermanentErrorFactory,
  progressIdOf,
  runStep,
  type StepContext,
  type StepOptions,
} from "../steps/run-step.ts";
import type { StepDeps, StepFactory } from "../steps/step-deps.ts";
import { removeTenantData } from "../tenants/tenant-removal.ts";
import {
  type DeprovisionMetadata,
  deprovisionMetadata,
  graceState,
  waitTimestamp,
} from "./deprovision-run.ts";
import { disableAccess } from "./tenant-access.ts";

interface DeprovisionContext extends StepContext {
  readonly tenantId: string;
  readonly metadata: DeprovisionMetadata;
}

/** Merges changes into the run's metadata (inside the step's transaction). */
async function updateMetadata(ctx: StepContext, changes: Partial<DeprovisionMetadata>): Promise<void> {
  await saveProgress(
    ctx.tx,
    ctx.progress.id,
    { metadata: { ...ctx.progress.metadata, ...changes } },
    ctx.now,
  );
}

function deprovisioningStep(
  step: string,
  work: (ctx: DeprovisionContext) => Promise<void>,
  permanent?: PermanentErrorFactory,
  after?: (deps: StepDeps, run: ProgressRow) => Promise<Record<string, unknown>>,
  options?: StepOptions,
): StepFactory {
  return (deps) => async (input) => {
    const progressId = progressIdOf(input);
    const outcome = await runStep(
      deps,
      progressId,
      step,
      async (ctx) => {
        if (!ctx.progress.tenantId) throw new ValidationError(`run ${progressId} names no tenant`);
        await work({ ...ctx, tenantId: ctx.progress.tenantId, metadata: deprovisionMetadata(ctx.progress) });
      },
      permanent,
      options,
    );
    if (!after) return { step, outcome };
    const run = await getProgressRow(deps.db, progressId);
    try {
      return { step, outcome, ...(await after(deps, run!)) };
    } catch (error) {
      throw classifyStepError(error, databaseError);
    }
  };
}

const objectName = (tenantId: string, progressId: string, kind: "full" | "audit-logs") =>
  `${tenantId}/${progressId}-${kind}.tpb`;

// --- BackupData ---------------------------------------------------------------------------------

/**
 * A complete, consistent export of the tenant as a paged backup (paged-backup.ts): each invocation
 * writes a bounded number of pages and answers `done: false` while pages remain; the state machine
 * loops back (`BackupDataDone`). The last invocation writes the manifest, records the backup and
 * completes the step, in one transaction.
 */
export const backupDataStep: StepFactory = (deps) => async (input) => {
  const progressId = progressIdOf(input);
  const loop = loopInputOf(input);
  const budget = deps.backupBudget ?? DEFAULT_BACKUP_BUDGET;
  let countAttempt: boolean;
  try {
    countAttempt = await startLoopInvocation(deps.db, progressId, loop);
  } catch (error) {
    throw classifyStepError(error, databaseError);
  }
  const runOf = (progress: ProgressRow) => {
    if (!progress.tenantId) throw new ValidationError(`run ${progress.id} names no tenant`);
    return { id: progress.id, tenantId: progress.tenantId };
  };
  let completedFor: string | undefined;
  const outcome = await runStep(
    deps,
    progressId,
    "BackupData",
    async (ctx) => {
      const store = requireBackupStore(ctx.deps.backups);
      const run = runOf(ctx.progress);
      completedFor = run.tenantId;
      const cell = await cellsOf(ctx.deps).forTenant(run.tenantId);
      const backup = await completePagedBackup(ctx.tx, store, run, ctx.now, cell);
      const row = await saveBackupRecord(ctx.tx, {
        tenantId: run.tenantId,
        progressId: run.id,
        kind: "full",
        exported: backup,
        sizeBytes: backup.sizeBytes,
        stored: backup.stored,
        preserved: false,
        now: ctx.now,
      });
      await updateMetadata(ctx, {
        backup: {
          id: row.id,
          sizeBytes: backup.sizeBytes,
          sha256: backup.sha256,
          pages: backup.pages,
          iterations: backup.iterations,
        },
      });
    },
    databaseError,
    {
      countAttempt,
      beforeTransaction: (ctx) =>
        backupInvocation(deps, requireBackupStore(deps.backups), runOf(ctx.progress), loop, budget),
    },
  );
  if (outcome !== "continuing" && !cellsOf(deps).single) {
    // A tenant on another cell than `main`: its schema becomes writable only now the backup is
    // recorded (completePagedBackup), on every pass through the completed step. (Without cells
    // there is nothing to do and no call is made.)
    try {
      const tenantId = completedFor ?? (await getProgressRow(deps.db, progressId))?.tenantId;
      if (tenantId) await releaseCellGuard(deps, tenantId);
    } catch (error) {
      throw classifyStepError(error, databaseError);
    }
  }
  return { step: "BackupData", outcome, done: outcome !== "continuing", iteration: loop.iteration + 1 };
};

// --- NotifyUsers --------------------------------------------------------------------------------

/** Users read per call: a page's answer stays far below the Data API's 1 MiB. */
export const NOTIFY_PAGE_USERS = 500;

/**
 * One notice per user of the tenant, through the notification channel (outbox or SQS). The users
 * are read a page at a time and the notices sent in batches (SendMessageBatch in AWS) before the
 * step's transaction, each batch recorded in `deprovision_notified_users` once it went; a retried
 * attempt sends only to users not recorded yet, so each user is notified once.
 */
export const notifyUsersStep = deprovisioningStep(
  "NotifyUsers",
  async (ctx) => {
    const [row] = await queryRows<{ n: unknown }>(
      ctx.tx,
      sql`SELECT count(*) AS n FROM deprovision_notified_users WHERE progress_id = ${ctx.progress.id}::uuid`,
    );
    await updateMetadata(ctx, { notified: numberValue(row?.n) });
  },
  (message, cause) => new NetworkError(message, { cause }),
  undefined,
  { beforeTransaction: notifyAllUsers },
);

async function notifyAllUsers(ctx: Omit<StepContext, "tx">): Promise<void> {
  const { db, notifications } = ctx.deps;
  const progressId = ctx.progress.id;
  const tenantId = ctx.progress.tenantId;
  if (!tenantId) throw new ValidationError(`run ${progressId} names no tenant`);
  const hours = deprovisionMetadata(ctx.progress).options.gracePeriodHours;
  const [tenant] = await db
    .select({ name: tenants.name, subdomain: tenants.subdomain })
    .from(tenants)
    .where(eq(tenants.id, tenantId));
  const record = async (tx: Database, sent: readonly Notification[]) => {
    if (sent.length === 0) return;
    const ids = sent.map((n) => userIdOf(n.dedupeKey));
    await tx.execute(
      sql`INSERT INTO deprovision_notified_users (progress_id, user_id)
          SELECT ${progressId}::uuid, id::uuid FROM jsonb_array_elements_text(${JSON.stringify(ids)}::jsonb) AS id
          ON CONFLICT (progress_id, user_id) DO NOTHING`,
    );
  };
  let after = "00000000-0000-0000-0000-000000000000";
  for (;;) {
    const people = await queryRows<{ id: string; email: string; name: string }>(
      db,
      sql`SELECT u.id, u.email, u.name FROM users u
          WHERE u.tenant_id = ${tenantId}::uuid AND u.id > ${after}::uuid
            AND NOT EXISTS (SELECT 1 FROM deprovision_notified_users n
                            WHERE n.progress_id = ${progressId}::uuid AND n.user_id = u.id)
          ORDER BY u.id LIMIT ${NOTIFY_PAGE_USERS}`,
    );
    if (people.length === 0) return;
    const notices: Notification[] = people.map((person) => ({
      tenantId,
      progressId,
      recipient: person.email,
      kind: "deprovisioning_notice",
      payload: {
        userName: person.name,
        tenantName: tenant?.name ?? null,
        subdomain: tenant?.subdomain ?? null,
        gracePeriodHours: hours,
        // Access ends when DisableAccess runs, right after this step; the data goes after the grace period.
        dataDeletedAfter: waitTimestamp(ctx.now.getTime() + hours * 3600 * 1000),
      },
      dedupeKey: `deprovisioning_notice:${progressId}:${person.id}`,
    }));
    for (let i = 0; i < notices.length; i += MAX_BATCH_ENTRIES) {
      await notifications.sendBatch(db, notices.slice(i, i + MAX_BATCH_ENTRIES), record);
    }
    after = people[people.length - 1]!.id;
    // A cancel between pages stops the sending.
    const run = await getProgressRow(db, progressId);
    if (run && !isActive(run.status)) throw new RunCancelledError(progressId, run.status);
  }
}

/** The user a deprovisioning notice's dedupe key names (`deprovisioning_notice:<run>:<user>`). */
function userIdOf(dedupeKey: string): string {
  return dedupeKey.slice(dedupeKey.lastIndexOf(":") + 1);
}

// --- DisableAccess ------------------------------------------------------------------------------

/** Tenant suspended, keys revoked, users disabled; the grace period starts now. */
export const disableAccessStep = deprovisioningStep(
  "DisableAccess",
  async (ctx) => {
    const changed = await disableAccess(ctx.tx, ctx.tenantId, ctx.progress.id, ctx.now);
    const deleteAfter = waitTimestamp(
      ctx.now.getTime() + ctx.metadata.options.gracePeriodHours * 3600 * 1000,
    );
    await updateMetadata(ctx, { access: { ...changed, deleteAfter } });
    await emitEvent(
      ctx.tx,
      {
        type: "tenant.deprovisioning.access_disabled",
        tenantId: ctx.tenantId,
        runId: ctx.progress.id,
        data: {
          deleteAfter,
          apiKeysRevoked: changed.apiKeyIds.length,
          usersDisabled: changed.usersDisabled ?? 0,
        },
        dedupeKey: dedupeKey("tenant.deprovisioning.access_disabled", ctx.progress.id),
      },
      ctx.now,
    );
  },
  undefined,
  // The state machine's grace-period Wait reads this (a resumed execution passing through too).
  async (deps, run) => graceOf(deps, run),
);

function graceOf(deps: StepDeps, run: ProgressRow): Record<string, unknown> {
  const access = deprovisionMetadata(run).access;
  if (!access) throw new ValidationError(`run ${run.id}: access was not disabled yet`);
  return { ...graceState(access.deleteAfter, deps.clock()) };
}

/**
 * `CheckGracePeriod` (bookkeeping, between the grace period's Waits): is the run still wanted,
 * and is the grace period over? Long grace periods are several Waits of at most a day.
 */
export const checkGracePeriodStep: StepFactory = (deps) => async (input) => {
  const progressId = progressIdOf(input);
  try {
    const run = await getProgressRow(deps.db, progressId);
    if (!run) throw new ValidationError(`run ${progressId} not found`);
    if (!isActive(run.status)) throw new RunCancelledError(progressId, run.status);
    return graceOf(deps, run);
  } catch (error) {
    throw classifyStepError(error, databaseError);
  }
};

// --- CleanupData --------------------------------------------------------------------------------

/**
 * Removes the tenant's data (tenant-removal.ts: its schema, users, keys, queued notifications,
 * alerts; schedules still waiting cancelled; personal data out of its runs; the tenant row left as
 * a tombstone) — this run's notices to users stay, as the record that they were told. The backup
 * is marked for deletion unless `preserveBackups`; its object goes once this commits.
 */
export const cleanupDataStep: StepFactory = (deps) => async (input) => {
  // The tenant's cell is looked up before the step's transaction opens (cellOfRun says why).
  let cell: Cell | null;
  try {
    cell = await cellOfRun(deps, progressIdOf(input));
  } catch (error) {
    throw classifyStepError(error, databaseError);
  }
  return cleanupData(cell ?? undefined)(deps)(input);
};

const cleanupData = (cell: Cell | undefined) =>
  deprovisioningStep(
    "CleanupData",
    async (ctx) => {
      const { tx, tenantId, now } = ctx;
      const progressId = ctx.progress.id;
      // On another cell than `main` the schema is dropped there first, then the control-plane rows
      // and the completion mark commit here (removeTenantData).
      const removed = await removeTenantData(tx, tenantId, now, { keepNoticesOf: progressId, cell });
      const keep = ctx.metadata.options.preserveBackups;
      await tx
        .update(tenantBackups)
        .set(keep ? { preserved: true } : { deletedAt: now, tenantSlug: null, tenantSubdomain: null })
        .where(
          and(
            eq(tenantBackups.progressId, progressId),
            eq(tenantBackups.kind, "full"),
            isNull(tenantBackups.deletedAt),
          ),
        );
      await updateMetadata(ctx, {
        removed: {
          schema: removed.schema,
          controlPlane: removed.controlPlane,
          tenantSchema: removed.tenantSchema,
          backup: keep ? "preserved" : "deleted",
        },
      });
      await emitEvent(
        tx,
        {
          type: "tenant.deleted",
          tenantId,
          runId: progressId,
          data: { reason: "deprovisioned", backupPreserved: keep },
          dedupeKey: dedupeKey("tenant.deleted", tenantId, progressId),
        },
        now,
      );
    },
    undefined,
    async (deps, run) => ({ backupObjectsDeleted: await purgeDeletedBackups(deps, run) }),
  );

/** Deletes the objects of this run's backups marked deleted (idempotent: runs on every pass). */
async function purgeDeletedBackups(deps: StepDeps, run: ProgressRow): Promise<number> {
  const marked = await deps.db
    .select({ location: tenantBackups.location, formatVersion: tenantBackups.formatVersion })
    .from(tenantBackups)
    .where(and(eq(tenantBackups.progressId, run.id), isNotNull(tenantBackups.deletedAt)));
  if (marked.length === 0) return 0;
  const store = requireBackupStore(deps.backups);
  for (const m of marked) await deleteBackupObjects(store, m.location, m.formatVersion);
  return marked.length;
}

// --- CleanupAuditLogs ---------------------------------------------------------------------------

/**
 * `preserveAuditLogs`: the tenant's audit logs stay, and an encrypted archive of them is kept
 * beside the backup (recorded as a preserved `audit_logs` backup). Otherwise they are deleted.
 */
export const cleanupAuditLogsStep = deprovisioningStep("CleanupAuditLogs", async (ctx) => {
  const { tx, tenantId, now } = ctx;
  if (ctx.metadata.options.preserveAuditLogs) {
    const exported = await exportTenant(tx, tenantId, {
      kind: "audit_logs",
      progressId: ctx.progress.id,
      now,
      lock: false,
    });
    const stored = await requireBackupStore(ctx.deps.backups).put(
      objectName(tenantId, ctx.progress.id, "audit-logs"),
      exported.gzip,
    );
    const row = await saveBackupRecord(tx, {
      tenantId,
      progressId: ctx.progress.id,
      kind: "audit_logs",
      exported,
      sizeBytes: exported.gzip.length,
      stored,
      preserved: true,
      now,
    });
    await updateMetadata(ctx, {
      auditLogs: { kept: exported.header.tables[0]?.rows ?? 0, archiveBackupId: row.id },
    });
  } else {
    // Counted in the statement: years of audit logs' ids would not fit one Data API response.
    const [deleted] = await queryRows<{ n: unknown }>(
      tx,
      sql`WITH d AS (DELETE FROM audit_logs WHERE tenant_id = ${tenantId}::uuid RETURNING 1)
          SELECT count(*) AS n FROM d`,
    );
    await updateMetadata(ctx, { auditLogs: { deleted: numberValue(deleted?.n) } });
  }
});
