/**
 * A deprovisioning run: who may be deprovisioned, the run's record (created the same way whether
 * an operator asked now or a schedule fell due), and what its steps remember in the progress
 * record's metadata — the options, the backup, and exactly what DisableAccess changed, so that a
 * cancel during the grace period can put it back.
 */
import { and, eq, inArray, ne } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { provisioningProgress, scheduledOperations, tenants } from "../../db/schema.ts";
import type { DeprovisioningOptions } from "../../schemas/deprovisioning.ts";
import type { ProgressStep } from "../../schemas/progress.ts";
import { ConflictError, NotFoundError, sqlState } from "../../shared/errors.ts";
import { DEPROVISIONING_STEPS } from "../../workflows/step-catalog.ts";
import type { Actor } from "../actor.ts";
import { recordAudit } from "../audit.ts";
import { dedupeKey, emitEvent } from "../events/outbox.ts";
import { insertRun, type ProgressRow } from "../runs/progress-store.ts";
import { emitRunStarted } from "../runs/run-events.ts";
import { ACTIVE_STATUSES } from "../runs/run-status.ts";
import { initialSteps } from "../runs/step-state.ts";

/** What DisableAccess changed (and cancelling puts back). */
export interface DisabledAccess {
  readonly disabledAt: string;
  /** When CleanupData may run: `disabledAt` + the grace period. */
  readonly deleteAfter: string;
  readonly tenantStatus: string;
  readonly apiKeyIds: readonly string[];
  /** How many users it disabled; who they were and their status are in `deprovision_disabled_users`. */
  readonly usersDisabled?: number;
  /** Runs from before `deprovision_disabled_users` kept each user's previous status here. */
  readonly users?: readonly { readonly id: string; readonly status: string }[];
}

/** The progress record's `metadata` of a deprovisioning run. */
export interface DeprovisionMetadata {
  readonly options: DeprovisioningOptions;
  readonly requestedBy: string | null;
  readonly tenantStatusBefore: string;
  readonly scheduledOperationId?: string;
  readonly backup?: {
    readonly id: string;
    readonly sizeBytes: number;
    readonly sha256: string;
    /** A paged backup: its pages, and the invocations of BackupData that wrote them. */
    readonly pages?: number;
    readonly iterations?: number;
  };
  readonly notified?: number;
  readonly access?: DisabledAccess;
  readonly reenabled?: { readonly at: string; readonly apiKeys: number; readonly users: number };
  readonly removed?: Record<string, unknown>;
  readonly auditLogs?: Record<string, unknown>;
}

export function deprovisionMetadata(run: ProgressRow): DeprovisionMetadata {
  return run.metadata as unknown as DeprovisionMetadata;
}

/** Tenant statuses a deprovisioning may start from. */
const DEPROVISIONABLE = new Set(["active", "suspended"]);

export type TenantRow = typeof tenants.$inferSelect;

/** Locks a tenant row for the rest of the transaction; 404 when there is none. */
export async function lockTenant(tx: Database, tenantId: string): Promise<TenantRow> {
  const [tenant] = await tx.select().from(tenants).where(eq(tenants.id, tenantId)).for("update");
  if (!tenant) throw new NotFoundError("tenant", tenantId);
  return tenant;
}

/** 409 unless the tenant is provisioned and no deprovisioning or restore of it is in flight. */
export async function assertDeprovisionable(tx: Database, tenant: TenantRow): Promise<void> {
  const [active] = await tx
    .select({ id: provisioningProgress.id, kind: provisioningProgress.kind })
    .from(provisioningProgress)
    .where(
      and(
        eq(provisioningProgress.tenantId, tenant.id),
        inArray(provisioningProgress.status, [...ACTIVE_STATUSES]),
      ),
    )
    .limit(1);
  if (active) {
    const doing = active.kind === "deprovision" ? "already being deprovisioned" : `in a ${active.kind} run`;
    throw new ConflictError(`tenant ${tenant.id} is ${doing} (run ${active.id})`, {
      progressId: active.id,
    });
  }
  if (DEPROVISIONABLE.has(tenant.status)) return;
  const why: Record<string, string> = {
    pending: "is being provisioned",
    provisioning: "is being provisioned",
    failed: "did not finish provisioning; clean up its provisioning run instead",
    cancelled: "did not finish provisioning; clean up its provisioning run instead",
    deprovisioned: "is already deprovisioned",
    restoring: "is being restored",
    scheduled: "is only scheduled to be provisioned; cancel its schedule instead (DELETE /schedules/:id)",
  };
  throw new ConflictError(`tenant ${tenant.id} ${why[tenant.status] ?? `is ${tenant.status}`}`, {
    status: tenant.status,
  });
}

export interface NewDeprovisionRun {
  readonly tenant: TenantRow;
  readonly options: DeprovisioningOptions;
  readonly actor: Actor;
  readonly now: Date;
  /** A scheduled run takes its operation's id (the execution input names it before it exists). */
  readonly progressId?: string;
  readonly executionRef?: string;
  readonly scheduledOperationId?: string;
}

/**
 * Writes a deprovisioning run's progress record (NotifyUsers already `skipped` unless asked for)
 * and its audit entry, and cancels any other schedule pending for the tenant. The tenant row must
 * be locked and checked by `assertDeprovisionable`. Returns the run and the superseded schedules'
 * external references (to remove once committed).
 */
export async function createDeprovisionRun(
  tx: Database,
  input: NewDeprovisionRun,
): Promise<{ run: ProgressRow; supersededRefs: string[] }> {
  const { tenant, options, now } = input;
  const steps = initialSteps(DEPROVISIONING_STEPS).map(
    (s): ProgressStep => (s.name === "NotifyUsers" && !options.notifyUsers ? { ...s, status: "skipped" } : s),
  );
  const metadata: DeprovisionMetadata = {
    options,
    requestedBy: input.actor.keyId,
    tenantStatusBefore: tenant.status,
    ...(input.scheduledOperationId ? { scheduledOperationId: input.scheduledOperationId } : {}),
  };
  let run: ProgressRow;
  try {
    run = await insertRun(tx, {
      ...(input.progressId ? { id: input.progressId } : {}),
      kind: "deprovision",
      tenantId: tenant.id,
      templateId: tenant.templateId,
      templateVersion: tenant.templateVersion,
      steps,
      metadata: { ...metadata },
      executionRef: input.executionRef ?? null,
      now,
    });
  } catch (error) {
    if (sqlState(error) === "23505") {
      throw new ConflictError(`tenant ${tenant.id} is already being deprovisioned or restored`);
    }
    throw error;
  }
  await emitRunStarted(tx, run, now);
  const superseded = await tx
    .update(scheduledOperations)
    .set({ status: "cancelled", cancelledAt: now, error: `superseded by deprovisioning run ${run.id}` })
    .where(
      and(
        eq(scheduledOperations.tenantId, tenant.id),
        eq(scheduledOperations.status, "scheduled"),
        ...(input.scheduledOperationId ? [ne(scheduledOperations.id, input.scheduledOperationId)] : []),
      ),
    )
    .returning({
      id: scheduledOperations.id,
      runAt: scheduledOperations.runAt,
      externalRef: scheduledOperations.externalRef,
    });
  for (const schedule of superseded) {
    await emitEvent(
      tx,
      {
        type: "schedule.cancelled",
        tenantId: tenant.id,
        runId: null,
        data: { scheduleId: schedule.id, runAt: schedule.runAt.toISOString(), reason: "superseded" },
        dedupeKey: dedupeKey("schedule.cancelled", schedule.id),
      },
      now,
    );
  }
  await recordAudit(tx, {
    actorKeyId: input.actor.keyId,
    action: "deprovision.start",
    targetType: "tenant",
    targetId: tenant.id,
    tenantId: tenant.id,
    details: {
      progressId: run.id,
      options,
      ...(input.scheduledOperationId ? { scheduledOperationId: input.scheduledOperationId } : {}),
    },
    requestId: input.actor.requestId,
  });
  return {
    run,
    supersededRefs: superseded.map((s) => s.externalRef).filter((r): r is string => Boolean(r)),
  };
}

/** The deprovisioning workflow's input besides `progressId` and `startAt`. */
export function deprovisionExecutionInput(run: ProgressRow): Record<string, unknown> {
  return { notifyUsers: Boolean(deprovisionMetadata(run).options?.notifyUsers) };
}

/** No single Wait lasts longer than this: the grace period is a loop of Waits and checks. */
export const MAX_WAIT_MS = 24 * 3600 * 1000;

/** Whole seconds, `Z`: the RFC 3339 form Step Functions' `TimestampPath` accepts. */
export function waitTimestamp(ms: number): string {
  return new Date(Math.ceil(ms / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
}

export interface GraceState {
  readonly deleteAfter: string;
  /** Where the next Wait ends: the end of the grace period, or at most a day from now. */
  readonly waitUntil: string;
  readonly over: boolean;
}

export function graceState(deleteAfter: string, now: Date): GraceState {
  const end = Date.parse(deleteAfter);
  return {
    deleteAfter,
    waitUntil: waitTimestamp(Math.min(end, now.getTime() + MAX_WAIT_MS)),
    over: now.getTime() >= end,
  };
}
