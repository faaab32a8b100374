/**
 * Operator actions on a run: cancel, retry a step, recover, clean up. Each decides under a lock
 * on the progress row, writes its audit entry in the same transaction, and only then talks to the
 * workflow engine.
 */
import { eq, sql } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { apiKeys, notificationsOutbox, provisioningSecrets, tenants, users } from "../../db/schema.ts";
import { queryRows, safeIdentifier } from "../../db/sql.ts";
import type { ProgressRecord, ProgressStep } from "../../schemas/progress.ts";
import { ConflictError, NotFoundError } from "../../shared/errors.ts";
import { type AuditAction, recordAudit } from "../audit.ts";
import {
  appendWarning,
  firstUnfinishedStep,
  getProgressRow,
  lockProgressRow,
  type ProgressRow,
  saveProgress,
  stepError,
  toProgressRecord,
} from "../progress/progress-store.ts";
import { type ProvisioningDeps, startExecution } from "./provision-service.ts";
import { loadRunSpec, tenantSchemaName } from "./run-spec.ts";

export interface Actor {
  readonly keyId: string;
  readonly requestId: string;
}

function steps(row: ProgressRow): ProgressStep[] {
  return (row.steps ?? []) as ProgressStep[];
}

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
  return Boolean((row.metadata as { cleanup?: unknown } | null)?.cleanup);
}

/** Cancels a pending or running run; the step in flight rolls back and no later step starts. */
export async function cancelRun(deps: ProvisioningDeps, id: string, actor: Actor): Promise<ProgressRecord> {
  const { db, clock, workflows, logger } = deps;
  const row = await db.transaction(async (tx) => {
    const run = await lockProgressRow(tx, id);
    if (run.status !== "pending" && run.status !== "running") {
      throw new ConflictError(`run ${id} is ${run.status}; only pending or running runs can be cancelled`);
    }
    const now = clock();
    const updated = await saveProgress(
      tx,
      id,
      {
        status: "cancelled",
        completedAt: now,
        error: "cancelled by an operator",
        steps: steps(run).map((s) =>
          s.status === "running"
            ? { ...s, status: "failed", error: stepError("RunCancelledError", "cancelled by an operator") }
            : s,
        ),
      },
      now,
    );
    if (run.kind === "provision" && run.tenantId) {
      await tx
        .update(tenants)
        .set({ status: "cancelled", updatedAt: now })
        .where(eq(tenants.id, run.tenantId));
    }
    await audit(tx, actor, "progress.cancel", run, { previousStatus: run.status });
    return updated;
  });
  if (row.executionRef) {
    await workflows.stop(row.executionRef, "cancelled by an operator").catch((error: unknown) => {
      // The steps check the run's status, so a failed stop cannot make a cancelled run go on.
      logger.warn("could not stop the execution", { progressId: id, error });
    });
  }
  return toProgressRecord(row);
}

/** Resumes a failed or cancelled run at `stepId` (which must be its first unfinished step). */
export async function retryStep(
  deps: ProvisioningDeps,
  id: string,
  stepId: string,
  actor: Actor,
): Promise<ProgressRecord> {
  return resume(deps, id, actor, "progress.retry_step", (run) => {
    if (run.status !== "failed" && run.status !== "cancelled") {
      throw new ConflictError(`run ${id} is ${run.status}; only failed or cancelled runs can be retried`);
    }
    const step = steps(run).find((s) => s.id === stepId || s.name === stepId);
    if (!step) throw new NotFoundError(`step ${stepId} of run`, id);
    if (step.status === "completed" || step.status === "skipped") {
      throw new ConflictError(`step ${step.id} already completed; it is not run again`);
    }
    const first = firstUnfinishedStep(steps(run));
    if (first && first.name !== step.name) {
      throw new ConflictError(`step ${first.id} has not completed yet; retry that step first`);
    }
    return step;
  });
}

/** Resumes a failed run from its first unfinished step. */
export async function recoverRun(deps: ProvisioningDeps, id: string, actor: Actor): Promise<ProgressRecord> {
  return resume(deps, id, actor, "progress.recover", (run) => {
    if (run.status !== "failed") {
      throw new ConflictError(`run ${id} is ${run.status}; only failed runs can be recovered`);
    }
    const first = firstUnfinishedStep(steps(run));
    if (!first) throw new ConflictError(`run ${id} has no unfinished step`);
    return first;
  });
}

async function resume(
  deps: ProvisioningDeps,
  id: string,
  actor: Actor,
  action: AuditAction,
  choose: (run: ProgressRow) => ProgressStep,
): Promise<ProgressRecord> {
  const { db, clock } = deps;
  const { run, startAt, postProvisioningSteps } = await db.transaction(async (tx) => {
    const current = await lockProgressRow(tx, id);
    if (current.kind !== "provision") throw new ConflictError(`run ${id} is a ${current.kind} run`);
    if (cleanedUp(current)) throw new ConflictError(`run ${id} was cleaned up; provision the tenant again`);
    const step = choose(current);
    const spec = await loadRunSpec(tx, current);
    const now = clock();
    const resetFrom = steps(current).findIndex((s) => s.name === step.name);
    const updated = await saveProgress(
      tx,
      id,
      {
        status: "pending",
        attempt: current.attempt + 1,
        error: null,
        completedAt: null,
        steps: steps(current).map((s, i) =>
          i >= resetFrom && s.status !== "completed"
            ? { ...s, status: "pending", completedAt: null, durationMs: null }
            : s,
        ),
      },
      now,
    );
    if (current.tenantId) {
      await tx
        .update(tenants)
        .set({ status: "provisioning", updatedAt: now })
        .where(eq(tenants.id, current.tenantId));
    }
    await audit(tx, actor, action, current, { step: step.name, attempt: current.attempt + 1 });
    return { run: updated, startAt: step.name, postProvisioningSteps: spec.template.postProvisioningSteps };
  });
  await startExecution(deps, id, startAt, run.attempt, postProvisioningSteps);
  return toProgressRecord((await getProgressRow(db, id))!);
}

/** Resumes runs an earlier process left pending or running (local runtime start-up). */
export async function resumeUnfinishedRuns(deps: ProvisioningDeps): Promise<string[]> {
  const { db } = deps;
  const ids = (
    await queryRows<{ id: string }>(
      db,
      sql`SELECT id FROM tenant_provisioning_progress WHERE kind = 'provision' AND status IN ('pending', 'running') ORDER BY created_at`,
    )
  ).map((r) => r.id);
  const resumed: string[] = [];
  for (const id of ids) {
    const run = await getProgressRow(db, id);
    if (!run) continue;
    const step = firstUnfinishedStep(steps(run));
    const spec = await loadRunSpec(db, run);
    await startExecution(
      deps,
      id,
      step?.name ?? "PostProvisioningSteps",
      run.attempt,
      spec.template.postProvisioningSteps,
    );
    resumed.push(id);
  }
  return resumed;
}

/**
 * Removes everything a failed or cancelled provisioning created: the tenant schema, its users,
 * API keys and queued notifications, and the tenant's personal data (the row stays as a
 * `deprovisioned` tombstone so the run's record survives). Idempotent.
 */
export async function cleanupRun(deps: ProvisioningDeps, id: string, actor: Actor): Promise<ProgressRecord> {
  const { db, clock } = deps;
  const row = await db.transaction(async (tx) => {
    const run = await lockProgressRow(tx, id);
    if (run.kind !== "provision")
      throw new ConflictError(`run ${id} is a ${run.kind} run; clean up applies to provisioning`);
    if (run.status === "pending" || run.status === "running") {
      throw new ConflictError(`run ${id} is ${run.status}; cancel it before cleaning up`);
    }
    if (run.status === "completed") {
      throw new ConflictError(`run ${id} completed; deprovision the tenant instead`);
    }
    if (cleanedUp(run)) return run;
    const now = clock();
    const removed: Record<string, unknown> = {};
    if (run.tenantId) {
      const schema = safeIdentifier(tenantSchemaName(run.tenantId));
      await tx.execute(sql.raw(`DROP SCHEMA IF EXISTS ${schema} CASCADE`));
      removed.schema = tenantSchemaName(run.tenantId);
      removed.users = (
        await tx.delete(users).where(eq(users.tenantId, run.tenantId)).returning({ id: users.id })
      ).length;
      removed.apiKeys = (
        await tx.delete(apiKeys).where(eq(apiKeys.tenantId, run.tenantId)).returning({ id: apiKeys.id })
      ).length;
      removed.notifications = (
        await tx
          .delete(notificationsOutbox)
          .where(eq(notificationsOutbox.tenantId, run.tenantId))
          .returning({ id: notificationsOutbox.id })
      ).length;
      await tx
        .update(tenants)
        .set({
          slug: null,
          subdomain: null,
          name: "(removed)",
          settings: {},
          limits: {},
          status: "deprovisioned",
          updatedAt: now,
        })
        .where(eq(tenants.id, run.tenantId));
    }
    await tx.delete(provisioningSecrets).where(eq(provisioningSecrets.progressId, id));
    const cleanup = { at: now.toISOString(), by: actor.keyId, removed };
    // The run's record stays, without the personal data it carried.
    const {
      admin: _admin,
      initialDataOverrides: _overrides,
      ...kept
    } = (run.metadata ?? {}) as Record<string, unknown>;
    const updated = await saveProgress(
      tx,
      id,
      {
        metadata: { ...kept, admin: { name: "(removed)", email: "(removed)" }, cleanup },
        warnings: appendWarning(run, {
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
