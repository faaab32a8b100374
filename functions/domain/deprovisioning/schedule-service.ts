/**
 * Scheduled deprovisionings: creating one (a `scheduled_operations` row, then the scheduler's
 * schedule), listing, cancelling, and starting one when it falls due (`StartScheduledRun`, the
 * first state of a scheduled execution). Scheduled provisionings (created by
 * provisioning/schedule-provisioning.ts) are listed, cancelled — which frees the slug and
 * subdomain their tenant row reserved — and started here too. Starting claims the row with
 * `UPDATE ... SET status = 'started' WHERE id = ... AND status = 'scheduled'` in the transaction
 * that creates the run, so however often a schedule fires, one run starts — and a cancelled
 * schedule never starts one.
 */
import { and, count, desc, eq, type SQL } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { scheduledOperations, tenants } from "../../db/schema.ts";
import {
  type DeprovisioningOptions,
  deprovisioningOptionsSchema,
  type ScheduleDeprovisionRequest,
  type ScheduledOperation,
  scheduledBatchOptionsSchema,
} from "../../schemas/deprovisioning.ts";
import {
  ConflictError,
  HttpError,
  NotFoundError,
  rootMessage,
  ServiceUnavailableError,
  sqlState,
  ValidationError,
} from "../../shared/errors.ts";
import type { Logger } from "../../shared/logger.ts";
import type { Actor } from "../actor.ts";
import { recordAudit } from "../audit.ts";
import { releaseScheduledBatch, startScheduledBatch } from "../batches/scheduled-batch.ts";
import { dedupeKey, emitEvent } from "../events/outbox.ts";
import {
  createScheduledProvisioningRun,
  scheduledProvisioningOptions,
} from "../provisioning/scheduled-provisioning-run.ts";
import { getProgressRow, type ProgressRow } from "../runs/progress-store.ts";
import { RUN_KIND_REGISTRY } from "../runs/registry.ts";
import { type ScheduleKind, type Scheduler, scheduleSlot } from "../scheduling/scheduler.ts";
import { classifyStepError, databaseError } from "../steps/run-step.ts";
import type { StepDeps, StepFactory } from "../steps/step-deps.ts";
import {
  assertDeprovisionable,
  createDeprovisionRun,
  deprovisionExecutionInput,
  lockTenant,
} from "./deprovision-run.ts";
import { assertRestorableSchema, type DeprovisioningDeps } from "./deprovision-service.ts";

export type ScheduleRow = typeof scheduledOperations.$inferSelect;

/**
 * A scheduled provisioning that will not run gives back the names its tenant row reserved: the row
 * stays (the schedule refers to it) as a `cancelled` tenant without slug or subdomain.
 */
async function releaseReservedNames(tx: Database, op: ScheduleRow, now: Date): Promise<void> {
  if (op.kind === "batch") {
    if (op.progressId) await releaseScheduledBatch(tx, op.progressId, now);
    return;
  }
  if (op.kind !== "provision" || !op.tenantId) return;
  await tx
    .update(tenants)
    .set({ slug: null, subdomain: null, status: "cancelled", updatedAt: now })
    .where(and(eq(tenants.id, op.tenantId), eq(tenants.status, "scheduled")));
  await tx
    .update(scheduledOperations)
    .set({ adminPasswordHash: null })
    .where(eq(scheduledOperations.id, op.id));
}

export function toScheduledOperation(row: ScheduleRow): ScheduledOperation {
  return {
    id: row.id,
    kind: row.kind,
    tenantId: row.tenantId,
    runAt: row.runAt.toISOString(),
    options:
      row.kind === "batch"
        ? scheduledBatchOptionsSchema.parse(row.options)
        : row.kind === "provision"
          ? scheduledProvisioningOptions(row.options)
          : deprovisioningOptionsSchema.parse(row.options),
    status: row.status,
    progressId: row.progressId,
    externalRef: row.externalRef,
    error: row.error,
    createdBy: row.createdBy,
    createdAt: row.createdAt.toISOString(),
    startedAt: row.startedAt?.toISOString() ?? null,
    cancelledAt: row.cancelledAt?.toISOString() ?? null,
  };
}

/** `POST /tenants/:id/schedule-deprovision`: a row, then the scheduler's schedule (201). */
export async function scheduleDeprovisioning(
  deps: DeprovisioningDeps,
  tenantId: string,
  body: ScheduleDeprovisionRequest,
  actor: Actor,
): Promise<ScheduledOperation> {
  const { db, clock, logger } = deps;
  const now = clock();
  const { scheduler, runAt } = scheduleSlot(deps.scheduler, body.at, now);
  const { at: _at, ...options } = body;
  await assertRestorableSchema(deps, tenantId);
  let row: ScheduleRow;
  try {
    row = await db.transaction(async (tx) => {
      const tenant = await lockTenant(tx, tenantId);
      await assertDeprovisionable(tx, tenant);
      const [pending] = await tx
        .select({ id: scheduledOperations.id, runAt: scheduledOperations.runAt })
        .from(scheduledOperations)
        .where(and(eq(scheduledOperations.tenantId, tenantId), eq(scheduledOperations.status, "scheduled")));
      if (pending) {
        throw new ConflictError(
          `tenant ${tenantId} already has a deprovisioning scheduled for ${pending.runAt.toISOString()} (schedule ${pending.id}); cancel it first`,
          { scheduleId: pending.id },
        );
      }
      const [created] = await tx
        .insert(scheduledOperations)
        .values({
          kind: "deprovision",
          tenantId,
          runAt,
          options: options as unknown as Record<string, unknown>,
          status: "scheduled",
          createdBy: actor.keyId,
          createdAt: now,
        })
        .returning();
      await emitEvent(
        tx,
        {
          type: "schedule.created",
          tenantId,
          runId: null,
          data: { scheduleId: created!.id, runAt: runAt.toISOString(), options },
          dedupeKey: dedupeKey("schedule.created", created!.id),
        },
        now,
      );
      await recordAudit(tx, {
        actorKeyId: actor.keyId,
        action: "deprovision.schedule",
        targetType: "scheduled_operation",
        targetId: created!.id,
        tenantId,
        details: { runAt: runAt.toISOString(), options },
        requestId: actor.requestId,
      });
      return created!;
    });
  } catch (error) {
    if (sqlState(error) === "23505") {
      throw new ConflictError(`tenant ${tenantId} already has a deprovisioning scheduled; cancel it first`);
    }
    throw error;
  }
  return registerSchedule({ db, clock, logger, scheduler }, row);
}

/**
 * Hands a schedule row just written to the scheduler (EventBridge Scheduler on AWS, the poller
 * locally) and records its reference. A scheduler that refuses fails the schedule — which also
 * frees the names a scheduled provisioning reserved — and the request answers 503.
 */
export async function registerSchedule(
  deps: { db: Database; clock: () => Date; logger: Logger; scheduler: Scheduler },
  row: ScheduleRow,
): Promise<ScheduledOperation> {
  const { db, clock, logger, scheduler } = deps;
  let externalRef: string;
  try {
    externalRef = await scheduler.create({
      id: row.id,
      kind: row.kind as ScheduleKind,
      tenantId: row.tenantId,
      runAt: row.runAt,
    });
  } catch (error) {
    logger.error("could not create the schedule", { scheduleId: row.id, error });
    await markScheduleFailed(db, row, `the schedule could not be created: ${rootMessage(error)}`, clock());
    throw new ServiceUnavailableError("the schedule could not be created; try again later", { cause: error });
  }
  const [updated] = await db
    .update(scheduledOperations)
    .set({ externalRef })
    .where(eq(scheduledOperations.id, row.id))
    .returning();
  return toScheduledOperation(updated ?? row);
}

/**
 * A schedule still waiting that can never start: `failed` with the reason, and its event, in one
 * transaction (nothing happens if it is no longer waiting).
 */
export async function markScheduleFailed(
  db: Database,
  row: ScheduleRow,
  reason: string,
  now: Date,
  startedAt?: Date,
): Promise<void> {
  await db.transaction(async (tx) => {
    const [failed] = await tx
      .update(scheduledOperations)
      .set({ status: "failed", error: reason, ...(startedAt ? { startedAt } : {}) })
      .where(and(eq(scheduledOperations.id, row.id), eq(scheduledOperations.status, "scheduled")))
      .returning({ id: scheduledOperations.id });
    if (!failed) return;
    await releaseReservedNames(tx, row, now);
    await emitEvent(
      tx,
      {
        type: "schedule.failed",
        tenantId: row.tenantId,
        runId: null,
        data: { scheduleId: row.id, runAt: row.runAt.toISOString(), reason: reason.slice(0, 500) },
        dedupeKey: dedupeKey("schedule.failed", row.id),
      },
      now,
    );
  });
}

export interface ListSchedulesOptions {
  readonly limit: number;
  readonly offset: number;
  readonly status?: ScheduledOperation["status"] | undefined;
  readonly tenantId?: string | undefined;
  readonly kind?: ScheduledOperation["kind"] | undefined;
}

/** `GET /schedules`: newest first. */
export async function listSchedules(
  db: Database,
  options: ListSchedulesOptions,
): Promise<{ items: ScheduledOperation[]; total: number; limit: number; offset: number }> {
  const conditions: SQL[] = [];
  if (options.status) conditions.push(eq(scheduledOperations.status, options.status));
  if (options.tenantId) conditions.push(eq(scheduledOperations.tenantId, options.tenantId));
  if (options.kind) conditions.push(eq(scheduledOperations.kind, options.kind));
  const where = conditions.length > 0 ? and(...conditions) : undefined;
  const [rows, totals] = await Promise.all([
    db
      .select()
      .from(scheduledOperations)
      .where(where)
      .orderBy(desc(scheduledOperations.createdAt), desc(scheduledOperations.id))
      .limit(options.limit)
      .offset(options.offset),
    db.select({ n: count() }).from(scheduledOperations).where(where),
  ]);
  return {
    items: rows.map(toScheduledOperation),
    total: Number(totals[0]?.n ?? 0),
    limit: options.limit,
    offset: options.offset,
  };
}

/** `DELETE /schedules/:id`: a schedule still waiting becomes `cancelled` and never runs. */
export async function cancelSchedule(
  deps: DeprovisioningDeps,
  id: string,
  actor: Actor,
): Promise<ScheduledOperation> {
  const { db, clock, logger } = deps;
  const row = await db.transaction(async (tx) => {
    const [op] = await tx
      .select()
      .from(scheduledOperations)
      .where(eq(scheduledOperations.id, id))
      .for("update");
    if (!op) throw new NotFoundError("schedule", id);
    if (op.status !== "scheduled") {
      throw new ConflictError(
        `schedule ${id} is ${op.status}; only a schedule still waiting can be cancelled`,
        {
          status: op.status,
          progressId: op.progressId,
        },
      );
    }
    const now = clock();
    const [cancelled] = await tx
      .update(scheduledOperations)
      .set({ status: "cancelled", cancelledAt: now })
      .where(eq(scheduledOperations.id, id))
      .returning();
    await releaseReservedNames(tx, op, now);
    await emitEvent(
      tx,
      {
        type: "schedule.cancelled",
        tenantId: op.tenantId,
        runId: null,
        data: { scheduleId: id, runAt: op.runAt.toISOString(), reason: "operator" },
        dedupeKey: dedupeKey("schedule.cancelled", id),
      },
      now,
    );
    await recordAudit(tx, {
      actorKeyId: actor.keyId,
      action: "schedule.cancel",
      targetType: "scheduled_operation",
      targetId: id,
      tenantId: op.tenantId,
      details: { runAt: op.runAt.toISOString() },
      requestId: actor.requestId,
    });
    return cancelled!;
  });
  if (row.externalRef && deps.scheduler) {
    // Even if this fails and the schedule fires, the claim finds the row cancelled.
    await deps.scheduler.delete(row.externalRef).catch((error: unknown) => {
      logger.warn("could not delete the schedule", { scheduleId: id, externalRef: row.externalRef, error });
    });
  }
  return toScheduledOperation(row);
}

/**
 * Claims a due scheduled operation and creates its run (with the operation's id, and
 * `executionRef` when an execution claims it) in one transaction: the claim every start goes
 * through — StartScheduledRun and the sweep's start of an overdue schedule alike — so an
 * operation starts one run however often it is started. Returns the run, or null when the
 * operation is no longer waiting. A tenant that can no longer be deprovisioned marks the operation
 * `failed` with the reason and throws a ValidationError.
 */
export async function claimScheduledOperation(
  deps: Pick<StepDeps, "db" | "clock" | "logger">,
  id: string,
  executionRef: string | null,
): Promise<ProgressRow | null> {
  const { db, clock, logger } = deps;
  try {
    return await db.transaction(async (tx) => {
      const now = clock();
      const [op] = await tx
        .update(scheduledOperations)
        .set({ status: "started", startedAt: now })
        .where(and(eq(scheduledOperations.id, id), eq(scheduledOperations.status, "scheduled")))
        .returning();
      if (!op) return null;
      let run: ProgressRow;
      if (op.kind === "batch") {
        run = await startScheduledBatch(tx, op, now, executionRef);
      } else if (op.kind === "provision") {
        run = await createScheduledProvisioningRun(tx, op, now, executionRef);
      } else {
        if (!op.tenantId) throw new NotFoundError("tenant of schedule", op.id);
        const tenant = await lockTenant(tx, op.tenantId);
        await assertDeprovisionable(tx, tenant);
        ({ run } = await createDeprovisionRun(tx, {
          tenant,
          options: deprovisioningOptionsSchema.parse(op.options) as DeprovisioningOptions,
          actor: { keyId: op.createdBy, requestId: `schedule:${op.id}` },
          now,
          progressId: op.id,
          ...(executionRef ? { executionRef } : {}),
          scheduledOperationId: op.id,
        }));
      }
      // The password hash (a provisioning's) now waits with the run, in provisioning_secrets.
      await tx
        .update(scheduledOperations)
        .set({ progressId: run.id, adminPasswordHash: null })
        .where(eq(scheduledOperations.id, op.id));
      await emitEvent(
        tx,
        {
          type: "schedule.fired",
          tenantId: op.tenantId,
          runId: run.id,
          data: { scheduleId: op.id, runAt: op.runAt.toISOString() },
          dedupeKey: dedupeKey("schedule.fired", op.id),
        },
        now,
      );
      return run;
    });
  } catch (error) {
    if (!(error instanceof HttpError)) throw error;
    // The tenant cannot be deprovisioned (any more): record why (and its event), start nothing.
    const now = clock();
    const [op] = await db.select().from(scheduledOperations).where(eq(scheduledOperations.id, id));
    if (op) await markScheduleFailed(db, op, error.message, now, now);
    logger.warn("scheduled operation not started", { scheduleId: id, reason: error.message });
    throw new ValidationError(`schedule ${id} not started: ${error.message}`);
  }
}

/** The rest of a scheduled execution's input: its run's first step and the kind's own input. */
async function scheduledRunInput(db: Database, run: ProgressRow): Promise<Record<string, unknown>> {
  if (run.kind === "provision" || run.kind === "batch") {
    const definition = RUN_KIND_REGISTRY[run.kind];
    return { progressId: run.id, startAt: definition.steps[0]!.name, ...(await definition.input(db, run)) };
  }
  return { progressId: run.id, startAt: "BackupData", ...deprovisionExecutionInput(run) };
}

/**
 * `StartScheduledRun`: the first state of an execution a schedule started. Claims the operation
 * and creates its run (`claimScheduledOperation`), and hands the rest of the state machine its
 * input. An operation that is no longer waiting starts nothing; one whose tenant can no longer be
 * deprovisioned is marked `failed` with the reason.
 */
export const startScheduledRunStep: StepFactory = (deps) => async (input) => {
  const id = input.scheduledOperationId;
  if (typeof id !== "string" || id === "")
    throw new ValidationError("step input has no scheduledOperationId");
  const executionRef = typeof input.executionRef === "string" ? input.executionRef : null;
  const { db, logger } = deps;
  try {
    const started = await claimScheduledOperation(deps, id, executionRef);
    if (started) {
      logger.info("scheduled operation started", {
        scheduleId: id,
        progressId: started.id,
        kind: started.kind,
      });
      return scheduledRunInput(db, started);
    }
    // Not waiting any more. The same execution retried after its claim committed goes on.
    const [op] = await db.select().from(scheduledOperations).where(eq(scheduledOperations.id, id));
    const run = op?.progressId ? await getProgressRow(db, op.progressId) : undefined;
    if (run && executionRef && run.executionRef === executionRef) return scheduledRunInput(db, run);
    throw new ValidationError(`schedule ${id} is ${op?.status ?? "gone"}; nothing started`);
  } catch (error) {
    throw classifyStepError(error, databaseError);
  }
};
