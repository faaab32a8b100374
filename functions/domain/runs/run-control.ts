/**
 * Operator actions on a run of any kind: cancel, retry a step, recover, clean up; and resuming
 * the runs an earlier process left unfinished. Each decides under a lock on the progress row,
 * writes its audit entry in the same transaction, and only then talks to the workflow engine.
 * What a kind does on each is its registry entry's (registry.ts).
 */
import { eq, sql } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { provisioningSecrets } from "../../db/schema.ts";
import { queryRows } from "../../db/sql.ts";
import type { ProgressRecord, ProgressStep } from "../../schemas/progress.ts";
import { ConflictError, NotFoundError, sqlState } from "../../shared/errors.ts";
import type { Actor } from "../actor.ts";
import { type AuditAction, recordAudit } from "../audit.ts";
import { cellOfRun } from "../cells/tenant-cell-scope.ts";
import {
  appendWarning,
  getProgressRow,
  lockProgressRow,
  type ProgressRow,
  saveProgress,
  toProgressRecord,
} from "./progress-store.ts";
import { RUN_KIND_REGISTRY } from "./registry.ts";
import { emitRunCancelled } from "./run-events.ts";
import { lastStep } from "./run-kind.ts";
import { isActive } from "./run-status.ts";
import { type RunDeps, startRun } from "./start-run.ts";
import { cancelSteps, firstUnfinishedStep, resetFailed, resetFrom, stepError } from "./step-state.ts";

function audit(
  tx: Database,
  actor: Actor,
  action: AuditAction,
  row: ProgressRow,
  details: Record<string, unknown> = {},
) {
  return recordAudit(tx, {
    actorKeyId: actor.keyId,
    action,
    targetType: "progress",
    targetId: row.id,
    tenantId: row.tenantId,
    details,
    requestId: actor.requestId,
  });
}

function cleanedUp(row: ProgressRow): boolean {
  return Boolean(row.metadata.cleanup);
}

/** Cancels a pending or running run; the step in flight rolls back and no later step starts. */
/** The run kind's `afterEnded` for a run whose failure or cancellation committed; errors logged. */
export async function afterRunEnded(deps: RunDeps, run: ProgressRow): Promise<void> {
  try {
    await RUN_KIND_REGISTRY[run.kind].afterEnded?.(deps, run);
  } catch (error) {
    deps.logger.error("could not finish what the run's end leaves to do", { progressId: run.id, error });
  }
}

export async function cancelRun(deps: RunDeps, id: string, actor: Actor): Promise<ProgressRecord> {
  const { db, clock, workflows, logger } = deps;
  const row = await db.transaction(async (tx) => {
    const run = await lockProgressRow(tx, id);
    if (!isActive(run.status)) {
      throw new ConflictError(`run ${id} is ${run.status}; only pending or running runs can be cancelled`);
    }
    // A scheduled batch is cancelled with its schedule, which also frees the names it reserved.
    const [waiting] = await queryRows<{ id: string }>(
      tx,
      sql`SELECT id FROM scheduled_operations WHERE progress_id = ${id}::uuid AND status = 'scheduled'`,
    );
    if (waiting) {
      throw new ConflictError(
        `run ${id} waits for its schedule ${waiting.id}; cancel the schedule (DELETE /schedules/${waiting.id})`,
        { scheduleId: waiting.id },
      );
    }
    const now = clock();
    const updated = await saveProgress(
      tx,
      id,
      {
        status: "cancelled",
        completedAt: now,
        error: "cancelled by an operator",
        steps: cancelSteps(run.steps, stepError("RunCancelledError", "cancelled by an operator"), now),
      },
      now,
    );
    // Provisioning: tenant `cancelled`; deprovisioning in its grace period: access given back.
    await RUN_KIND_REGISTRY[run.kind].onCancelled(tx, updated, now);
    await emitRunCancelled(tx, run, now);
    await audit(tx, actor, "progress.cancel", run, { previousStatus: run.status });
    // The hook may have added to the record (a deprovisioning notes the access it gave back).
    return (await getProgressRow(tx, id)) ?? updated;
  });
  if (row.executionRef) {
    await workflows.stop(row.executionRef, "cancelled by an operator").catch((error: unknown) => {
      // The steps check the run's status, so a failed stop cannot make a cancelled run go on.
      logger.warn("could not stop the execution", { progressId: id, error });
    });
  }
  await afterRunEnded(deps, row);
  return toProgressRecord(row);
}

/** Resumes a failed or cancelled run at `stepId` (which must be its first unfinished step). */
export async function retryStep(
  deps: RunDeps,
  id: string,
  stepId: string,
  actor: Actor,
): Promise<ProgressRecord> {
  return resume(deps, id, actor, "progress.retry_step", (run) => {
    if (run.status !== "failed" && run.status !== "cancelled") {
      throw new ConflictError(`run ${id} is ${run.status}; only failed or cancelled runs can be retried`);
    }
    const step = run.steps.find((s) => s.id === stepId || s.name === stepId);
    if (!step) throw new NotFoundError(`step ${stepId} of run`, id);
    if (step.status === "completed" || step.status === "skipped") {
      throw new ConflictError(`step ${step.id} already completed; it is not run again`);
    }
    const first = firstUnfinishedStep(run.steps);
    if (first && first.name !== step.name) {
      throw new ConflictError(`step ${first.id} has not completed yet; retry that step first`);
    }
    return step;
  });
}

/** Resumes a failed run from its first unfinished step. */
export async function recoverRun(deps: RunDeps, id: string, actor: Actor): Promise<ProgressRecord> {
  return resume(deps, id, actor, "progress.recover", (run) => {
    if (run.status !== "failed") {
      throw new ConflictError(`run ${id} is ${run.status}; only failed runs can be recovered`);
    }
    const first = firstUnfinishedStep(run.steps);
    if (!first) throw new ConflictError(`run ${id} has no unfinished step`);
    return first;
  });
}

async function resume(
  deps: RunDeps,
  id: string,
  actor: Actor,
  action: AuditAction,
  choose: (run: ProgressRow) => ProgressStep,
): Promise<ProgressRecord> {
  const { db, clock } = deps;
  const resumed = db.transaction(async (tx) => {
    const current = await lockProgressRow(tx, id);
    const definition = RUN_KIND_REGISTRY[current.kind];
    if (cleanedUp(current)) throw new ConflictError(`run ${id} was cleaned up; provision the tenant again`);
    const step = choose(current);
    const input = await definition.input(tx, current);
    const now = clock();
    await definition.onResume?.(tx, current, now);
    const updated = await saveProgress(
      tx,
      id,
      {
        status: "pending",
        attempt: current.attempt + 1,
        error: null,
        completedAt: null,
        steps: resetFrom(current.steps, step.name),
      },
      now,
    );
    await audit(tx, actor, action, current, { step: step.name, attempt: current.attempt + 1 });
    return { run: updated, startAt: step.name, input };
  });
  const { run, startAt, input } = await resumed.catch((error: unknown) => {
    if (sqlState(error) === "23505") {
      throw new ConflictError(`another run of this tenant is in flight; run ${id} cannot resume now`);
    }
    throw error;
  });
  return toProgressRecord(await startRun(deps, run, { startAt, input }));
}

/** Resumes runs an earlier process left pending or running (local runtime start-up). */
export async function resumeUnfinishedRuns(deps: RunDeps): Promise<string[]> {
  const { db, clock } = deps;
  const ids = (
    await queryRows<{ id: string }>(
      db,
      // A batch's children that were never started are its to start (within its concurrency and
      // failure budget), when the batch itself resumes. Children resume before their parents: a
      // parent's iteration then finds the child's new execution and waits for it, instead of
      // seeing it `running` with no execution here and sleeping through its Wait state.
      // A scheduled batch waits for its schedule.
      sql`SELECT id FROM tenant_provisioning_progress p WHERE status IN ('pending', 'running')
          AND NOT (parent_id IS NOT NULL AND status = 'pending' AND execution_ref IS NULL)
          AND NOT EXISTS (SELECT 1 FROM scheduled_operations s WHERE s.progress_id = p.id AND s.status = 'scheduled')
          ORDER BY parent_id IS NULL, created_at`,
    )
  ).map((r) => r.id);
  const resumed: string[] = [];
  for (const id of ids) {
    let run = await getProgressRow(db, id);
    if (!run || !isActive(run.status)) continue;
    if (run.steps.some((s) => s.status === "failed")) {
      // It stopped between recording a step's failure and the run's: that step gets a new pass.
      run = await saveProgress(db, id, { steps: resetFailed(run.steps) }, clock());
    }
    const step = firstUnfinishedStep(run.steps);
    await startRun(deps, run, { startAt: step?.name ?? lastStep(RUN_KIND_REGISTRY[run.kind]) });
    resumed.push(id);
  }
  return resumed;
}

/**
 * Removes everything a failed or cancelled run created (its kind's `cleanup`; for provisioning:
 * the tenant schema, its users, API keys and queued notifications, and its personal data — the
 * tenant row stays as a `deprovisioned` tombstone so the run's record survives). Idempotent.
 */
export async function cleanupRun(deps: RunDeps, id: string, actor: Actor): Promise<ProgressRecord> {
  const { db, clock } = deps;
  // The tenant's cell, looked up before the transaction opens (cellOfRun says why).
  const cell = await cellOfRun(deps, id);
  const row = await db.transaction(async (tx) => {
    const run = await lockProgressRow(tx, id);
    const { cleanup } = RUN_KIND_REGISTRY[run.kind];
    if (!cleanup) {
      throw new ConflictError(`run ${id} is a ${run.kind} run; clean up applies to provisioning`);
    }
    if (isActive(run.status)) {
      throw new ConflictError(`run ${id} is ${run.status}; cancel it before cleaning up`);
    }
    if (run.status === "completed") {
      throw new ConflictError(`run ${id} completed; deprovision the tenant instead`);
    }
    if (cleanedUp(run)) return run;
    const now = clock();
    const removed = await cleanup(tx, run, now, cell);
    await tx.delete(provisioningSecrets).where(eq(provisioningSecrets.progressId, id));
    // The run's record stays, without the personal data it carried (removed by the cleanup).
    const current = await lockProgressRow(tx, id);
    const updated = await saveProgress(
      tx,
      id,
      {
        metadata: { ...current.metadata, cleanup: { at: now.toISOString(), by: actor.keyId, removed } },
        warnings: appendWarning(current, {
          at: now.toISOString(),
          code: "cleaned_up",
          message: "everything this run created was removed",
        }),
      },
      now,
    );
    await audit(tx, actor, "progress.cleanup", run, { removed });
    return updated;
  });
  return toProgressRecord(row);
}
