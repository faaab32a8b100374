/**
 * Operator actions on a run: cancel, retry a step, recover, clean up. Each decides under a lock
 * on the progress row, writes its audit entry in the same transaction, and only then talks to the
 * workflow engine.
 */
import { and, eq, inArray, sql } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { apiKeys, notificationsOutbox, provisioningSecrets, tenants, users } from "../../db/schema.ts";
import { queryRows, safeIdentifier } from "../../db/sql.ts";
import type { ProgressRecord, ProgressStep } from "../../schemas/progress.ts";
import { ConflictError, NotFoundError, sqlState } from "../../shared/errors.ts";
import type { WorkflowKind } from "../../workflows/step-catalog.ts";
import { type AuditAction, recordAudit } from "../audit.ts";
import { deprovisionExecutionInput, deprovisionMetadata } from "../deprovisioning/deprovision-run.ts";
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
import { RUN_OUTCOME_HOOKS } from "../steps/run-completion.ts";
import { type ProvisioningDeps, startWorkflow } from "./provision-service.ts";
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
    // Provisioning: tenant `cancelled`; deprovisioning in its grace period: access given back.
    await RUN_OUTCOME_HOOKS[run.kind]?.onCancelled?.(tx, run, now);
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
  const resumed = db.transaction(async (tx) => {
    const current = await lockProgressRow(tx, id);
    const plan = RUN_KIND_PLANS[current.kind];
    if (!plan) throw new ConflictError(`run ${id} is a ${current.kind} run; it cannot be resumed`);
    if (cleanedUp(current)) throw new ConflictError(`run ${id} was cleaned up; provision the tenant again`);
    const step = choose(current);
    const input = await plan.input(tx, current);
    const now = clock();
    await plan.onResume?.(tx, current, now);
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
    await audit(tx, actor, action, current, { step: step.name, attempt: current.attempt + 1 });
    return { run: updated, startAt: step.name, workflow: plan.workflow, input };
  });
  const { run, startAt, workflow, input } = await resumed.catch((error: unknown) => {
    if (sqlState(error) === "23505") {
      throw new ConflictError(`another run of this tenant is in flight; run ${id} cannot resume now`);
    }
    throw error;
  });
  await startWorkflow(deps, workflow, id, startAt, run.attempt, input);
  return toProgressRecord((await getProgressRow(db, id))!);
}

/** How each kind of run (re)starts its workflow. */
interface RunKindPlan {
  readonly workflow: WorkflowKind;
  /** Where a run whose steps all finished resumes (its completion follows). */
  readonly lastStep: string;
  /** Execution input besides `progressId` and `startAt`. */
  input(db: Database, run: ProgressRow): Promise<Record<string, unknown>>;
  /** An operator resumes the run: refuse (throw) or update the tenant, in the resume's transaction. */
  onResume?(tx: Database, run: ProgressRow, now: Date): Promise<void>;
}

const RUN_KIND_PLANS: Record<string, RunKindPlan> = {
  provision: {
    workflow: "provisioning",
    lastStep: "PostProvisioningSteps",
    input: async (db, run) => ({
      postProvisioningSteps: [...(await loadRunSpec(db, run)).template.postProvisioningSteps],
    }),
    onResume: async (tx, run, now) => {
      if (!run.tenantId) return;
      await tx
        .update(tenants)
        .set({ status: "provisioning", updatedAt: now })
        .where(eq(tenants.id, run.tenantId));
    },
  },
  deprovision: {
    workflow: "deprovisioning",
    lastStep: "CleanupAuditLogs",
    input: async (_db, run) => deprovisionExecutionInput(run),
    onResume: async (_tx, run) => {
      if (deprovisionMetadata(run).reenabled) {
        throw new ConflictError(
          `run ${run.id} was cancelled and the tenant's access given back; request a new deprovisioning`,
        );
      }
    },
  },
  restore: {
    workflow: "restore",
    lastStep: "RestoreData",
    input: async () => ({}),
    onResume: async (tx, run, now) => {
      if (!run.tenantId) return;
      const claimed = await tx
        .update(tenants)
        .set({ status: "restoring", updatedAt: now })
        .where(and(eq(tenants.id, run.tenantId), inArray(tenants.status, ["deprovisioned", "restoring"])))
        .returning({ id: tenants.id });
      if (claimed.length === 0) throw new ConflictError(`tenant ${run.tenantId} is no longer deprovisioned`);
    },
  },
};

/**
 * Marks the steps an earlier process left `failed` (it stopped between recording a step's
 * failure and the run's) pending again, so that the resumed execution starts each with a new
 * pass, as an operator's recover or retry does.
 */
async function resetFailedSteps(db: Database, id: string, now: Date): Promise<void> {
  await db.transaction(async (tx) => {
    const run = await lockProgressRow(tx, id);
    await saveProgress(
      tx,
      id,
      { steps: steps(run).map((s) => (s.status === "failed" ? { ...s, status: "pending" as const } : s)) },
      now,
    );
  });
}

/** Resumes runs an earlier process left pending or running (local runtime start-up). */
export async function resumeUnfinishedRuns(deps: ProvisioningDeps): Promise<string[]> {
  const { db } = deps;
  const ids = (
    await queryRows<{ id: string }>(
      db,
      sql`SELECT id FROM tenant_provisioning_progress WHERE status IN ('pending', 'running') ORDER BY created_at`,
    )
  ).map((r) => r.id);
  const resumed: string[] = [];
  for (const id of ids) {
    const run = await getProgressRow(db, id);
    const plan = run ? RUN_KIND_PLANS[run.kind] : undefined;
    if (!run || !plan) continue;
    const step = firstUnfinishedStep(steps(run));
    if (steps(run).some((s) => s.status === "failed")) await resetFailedSteps(db, id, deps.clock());
    await startWorkflow(
      deps,
      plan.workflow,
      id,
      step?.name ?? plan.lastStep,
      run.attempt,
      await plan.input(db, run),
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
