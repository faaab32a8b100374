/**
 * The work of each deprovisioning step. Each runs inside `runStep`: the run must still be wanted,
 * the work and the step's completed mark commit in one transaction, a completed step never runs
 * again. Objects in the backup store are written before that transaction commits (a retry
 * overwrites the same name) and deleted only after it committed (a rollback never loses a backup
 * whose data still exists).
 */
import { and, eq, isNotNull, isNull } from "drizzle-orm";
import { auditLogs, tenantBackups, tenants, users } from "../../db/schema.ts";
import { NetworkError, RunCancelledError, ValidationError } from "../../shared/errors.ts";
import { saveBackupRecord } from "../backups/backup-records.ts";
import { requireBackupStore } from "../backups/backup-store.ts";
import { exportTenant } from "../backups/tenant-export.ts";
import { dedupeKey, emitEvent } from "../events/outbox.ts";
import { getProgressRow, type ProgressRow, saveProgress } from "../runs/progress-store.ts";
import { isActive } from "../runs/run-status.ts";
import {
  classifyStepError,
  databaseError,
  type PermanentErrorFactory,
  progressIdOf,
  runStep,
  type StepContext,
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

/** A complete, consistent export of the tenant, compressed, checksummed, encrypted, recorded. */
export const backupDataStep = deprovisioningStep("BackupData", async (ctx) => {
  const store = requireBackupStore(ctx.deps.backups);
  const exported = await exportTenant(ctx.tx, ctx.tenantId, {
    kind: "full",
    progressId: ctx.progress.id,
    now: ctx.now,
    lock: true,
  });
  const stored = await store.put(objectName(ctx.tenantId, ctx.progress.id, "full"), exported.gzip);
  const row = await saveBackupRecord(ctx.tx, {
    tenantId: ctx.tenantId,
    progressId: ctx.progress.id,
    kind: "full",
    exported,
    stored,
    preserved: false,
    now: ctx.now,
  });
  await updateMetadata(ctx, {
    backup: { id: row.id, sizeBytes: exported.gzip.length, sha256: exported.sha256 },
  });
});

// --- NotifyUsers --------------------------------------------------------------------------------

/** One notice per user of the tenant, through the notification channel (outbox or SQS). */
export const notifyUsersStep = deprovisioningStep(
  "NotifyUsers",
  async (ctx) => {
    const [tenant] = await ctx.tx
      .select({ name: tenants.name, subdomain: tenants.subdomain })
      .from(tenants)
      .where(eq(tenants.id, ctx.tenantId));
    const people = await ctx.tx
      .select({ id: users.id, email: users.email, name: users.name })
      .from(users)
      .where(eq(users.tenantId, ctx.tenantId));
    const hours = ctx.metadata.options.gracePeriodHours;
    for (const person of people) {
      await ctx.deps.notifications.send(ctx.tx, {
        tenantId: ctx.tenantId,
        progressId: ctx.progress.id,
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
        dedupeKey: `deprovisioning_notice:${ctx.progress.id}:${person.id}`,
      });
    }
    await updateMetadata(ctx, { notified: people.length });
  },
  (message, cause) => new NetworkError(message, { cause }),
);

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
export const cleanupDataStep = deprovisioningStep(
  "CleanupData",
  async (ctx) => {
    const { tx, tenantId, now } = ctx;
    const progressId = ctx.progress.id;
    const removed = await removeTenantData(tx, tenantId, now, { keepNoticesOf: progressId });
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
    .select({ location: tenantBackups.location })
    .from(tenantBackups)
    .where(and(eq(tenantBackups.progressId, run.id), isNotNull(tenantBackups.deletedAt)));
  if (marked.length === 0) return 0;
  const store = requireBackupStore(deps.backups);
  for (const m of marked) await store.delete(m.location);
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
      stored,
      preserved: true,
      now,
    });
    await updateMetadata(ctx, {
      auditLogs: { kept: exported.header.tables[0]?.rows ?? 0, archiveBackupId: row.id },
    });
  } else {
    const deleted = await tx
      .delete(auditLogs)
      .where(eq(auditLogs.tenantId, tenantId))
      .returning({ id: auditLogs.id });
    await updateMetadata(ctx, { auditLogs: { deleted: deleted.length } });
  }
});
