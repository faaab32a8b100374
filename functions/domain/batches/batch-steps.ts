/**
 * The batch's Tasks. `AdvanceBatchChild` is one Map iteration's work on one child: start it (or
 * resume it, when an earlier attempt of the batch saw it fail or be cancelled) unless the attempt's
 * failure budget is spent, then report how it stands. `FinishBatch` ends the batch's one step:
 * completed when the failed children stay within the budget, BatchFailureBudgetExceededError
 * otherwise.
 *
 * A child is started at most once per batch attempt: the claim (`batch_attempt`) commits before
 * the execution starts, and the execution's name is fixed by the claim, so a retried iteration
 * (a Lambda timeout, a crash and restart) finds the claim and starts nothing new — in AWS, Step
 * Functions answers a second StartExecution of the same name and input with the first execution.
 */
import { and, eq, sql } from "drizzle-orm";
import { provisioningProgress } from "../../db/schema.ts";
import {
  BatchFailureBudgetExceededError,
  ConfigurationError,
  NotFoundError,
  RunCancelledError,
  ServiceUnavailableError,
  ValidationError,
} from "../../shared/errors.ts";
import { recordAudit } from "../audit.ts";
import { provisionRunKind } from "../provisioning/run-definition.ts";
import {
  appendWarning,
  getProgressRow,
  lockProgressRow,
  type ProgressRow,
  saveProgress,
} from "../runs/progress-store.ts";
import { emitRunStarted } from "../runs/run-events.ts";
import { isActive } from "../runs/run-status.ts";
import { startRun } from "../runs/start-run.ts";
import { firstUnfinishedStep, markRunning, resetFrom, updateStep } from "../runs/step-state.ts";
import { classifyStepError, databaseError, progressIdOf, runStep } from "../steps/run-step.ts";
import type { StepDeps, StepFactory } from "../steps/step-deps.ts";
import { batchMetadata, childCounts, failedInAttempt } from "./batch-store.ts";

/** How a child stands, as the Map's Choice reads it (`running` loops through the Wait). */
export type ChildStatus = "running" | "completed" | "failed" | "cancelled" | "not-started";

/** How long one iteration waits in-process for its child's execution to end (Task timeout: 60 s). */
const CHILD_WAIT_MS = 20_000;

function statusOf(child: ProgressRow): ChildStatus {
  return isActive(child.status) ? "running" : (child.status as ChildStatus);
}

function stringField(input: Record<string, unknown>, name: string): string {
  const value = input[name];
  if (typeof value !== "string" || value.length === 0) throw new ValidationError(`step input has no ${name}`);
  return value;
}

/** The batch's first iteration to run marks it (and its step) running. */
async function markBatchRunning(deps: StepDeps, batchId: string): Promise<void> {
  await deps.db.transaction(async (tx) => {
    const batch = await lockProgressRow(tx, batchId);
    if (batch.status !== "pending") return;
    const now = deps.clock();
    const step = batch.steps[0]!.name;
    await saveProgress(
      tx,
      batchId,
      {
        status: "running",
        currentStep: step,
        steps: updateStep(batch.steps, step, (s) => markRunning(s, now)),
      },
      now,
    );
    await tx
      .update(provisioningProgress)
      .set({ startedAt: sql`coalesce(${provisioningProgress.startedAt}, ${now.toISOString()}::timestamp)` })
      .where(eq(provisioningProgress.id, batchId));
  });
}

/** Records, once per attempt, that the budget stopped the batch from starting children. */
async function recordBudgetExceeded(deps: StepDeps, batch: ProgressRow, failed: number): Promise<void> {
  const mark = sql`jsonb_build_object('attempt', ${batch.attempt}::int, 'at', ${deps.clock().toISOString()}::text, 'failed', ${failed}::int)`;
  await deps.db
    .update(provisioningProgress)
    .set({ metadata: sql`${provisioningProgress.metadata} || jsonb_build_object('budgetExceeded', ${mark})` })
    .where(
      and(
        eq(provisioningProgress.id, batch.id),
        sql`coalesce((${provisioningProgress.metadata} -> 'budgetExceeded' ->> 'attempt')::int, 0) <> ${batch.attempt}::int`,
      ),
    );
}

type Decision =
  | { readonly status: ChildStatus; readonly waitFor?: string | null }
  | { readonly start: ProgressRow; readonly startAt: string };

async function decide(deps: StepDeps, batch: ProgressRow, childId: string): Promise<Decision> {
  const { db, clock } = deps;
  const budget = batchMetadata(batch).toleratedFailures;
  const over = async () => {
    const failed = await failedInAttempt(db, batch.id, batch.attempt);
    return failed > budget ? failed : null;
  };
  // Read first: most polls of a running child need no lock and no budget count.
  const seen = await getProgressRow(db, childId);
  if (!seen || seen.parentId !== batch.id) throw new NotFoundError(`child ${childId} of batch`, batch.id);
  const queued = (c: ProgressRow) => c.status === "pending" && c.executionRef === null;
  if (seen.batchAttempt === batch.attempt && !queued(seen)) {
    return { status: statusOf(seen), waitFor: seen.executionRef };
  }
  if (seen.status === "completed") return { status: "completed" };
  if (seen.metadata.cleanup) return { status: statusOf(seen) };

  const exceeded = isActive(seen.status) && !queued(seen) ? null : await over();
  if (exceeded !== null) {
    await recordBudgetExceeded(deps, batch, exceeded);
    return { status: "not-started" };
  }
  return db.transaction(async (tx): Promise<Decision> => {
    const child = await lockProgressRow(tx, childId);
    const now = clock();
    if (child.batchAttempt === batch.attempt) {
      // Claimed by an earlier pass of this iteration that did not get to start it: start it now,
      // under the name that pass would have used.
      return queued(child)
        ? { start: child, startAt: firstUnfinishedStep(child.steps)?.name ?? "CreateTenant" }
        : { status: statusOf(child), waitFor: child.executionRef };
    }
    if (child.status === "completed" || child.metadata.cleanup) return { status: statusOf(child) };
    if (isActive(child.status) && !queued(child)) {
      // Running outside the batch (an operator recovered it, or start-up resumed it): the batch
      // adopts it, and its outcome counts for this attempt.
      await tx
        .update(provisioningProgress)
        .set({ batchAttempt: batch.attempt })
        .where(eq(provisioningProgress.id, childId));
      return { status: "running", waitFor: child.executionRef };
    }
    if (queued(child)) {
      await tx
        .update(provisioningProgress)
        .set({ batchAttempt: batch.attempt, updatedAt: now })
        .where(eq(provisioningProgress.id, childId));
      await emitRunStarted(tx, child, now);
      const start = (await getProgressRow(tx, childId)) ?? child;
      return { start, startAt: firstUnfinishedStep(child.steps)?.name ?? "CreateTenant" };
    }
    // Failed or cancelled in an earlier attempt: resumed from its first unfinished step, as
    // `POST /progress/:id/recover` would.
    const step = firstUnfinishedStep(child.steps);
    if (!step) return { status: statusOf(child) };
    await provisionRunKind.onResume?.(tx, child, now);
    await saveProgress(
      tx,
      childId,
      {
        status: "pending",
        attempt: child.attempt + 1,
        error: null,
        completedAt: null,
        steps: resetFrom(child.steps, step.name),
      },
      now,
    );
    await tx
      .update(provisioningProgress)
      .set({ batchAttempt: batch.attempt })
      .where(eq(provisioningProgress.id, childId));
    await recordAudit(tx, {
      actorKeyId: null,
      action: "progress.recover",
      targetType: "progress",
      targetId: childId,
      tenantId: child.tenantId,
      details: {
        step: step.name,
        attempt: child.attempt + 1,
        batchId: batch.id,
        batchAttempt: batch.attempt,
      },
      requestId: null,
    });
    return { start: (await getProgressRow(tx, childId)) ?? child, startAt: step.name };
  });
}

/** `AdvanceBatchChild`: input `{batchId, childId}` → `{status}` (ChildStatus). */
export const advanceBatchChildStep: StepFactory = (deps) => async (input) => {
  const { db, workflows } = deps;
  try {
    if (!workflows)
      throw new ConfigurationError("AdvanceBatchChild needs a workflow runner to start child runs");
    const batchId = stringField(input, "batchId");
    const childId = stringField(input, "childId");
    let batch = await getProgressRow(db, batchId);
    if (!batch) throw new NotFoundError("batch", batchId);
    if (!isActive(batch.status)) throw new RunCancelledError(batchId, batch.status);
    if (batch.status === "pending") {
      await markBatchRunning(deps, batchId);
      batch = (await getProgressRow(db, batchId)) ?? batch;
    }
    const decision = await decide(deps, batch, childId);
    let ref: string | null | undefined;
    if ("start" in decision) {
      try {
        const started = await startRun({ ...deps, workflows }, decision.start, {
          startAt: decision.startAt,
          nameAt: decision.start.updatedAt ?? deps.clock(),
        });
        ref = started.executionRef;
      } catch (error) {
        // startRun recorded the child as failed (recoverable); the batch counts it so.
        if (error instanceof ServiceUnavailableError) return { status: "failed" };
        throw error;
      }
    } else {
      if (decision.status !== "running") return { status: decision.status };
      ref = decision.waitFor;
    }
    if (ref && workflows.waitForEnd) await workflows.waitForEnd(ref, CHILD_WAIT_MS);
    const child = await getProgressRow(db, childId);
    return { status: child ? statusOf(child) : "failed" };
  } catch (error) {
    throw classifyStepError(error, databaseError);
  }
};

/** `FinishBatch`: ProvisionChildren completes within the failure budget, or fails naming it. */
export const finishBatchStep: StepFactory = (deps) => async (input) => {
  const progressId = progressIdOf(input);
  await runStep(deps, progressId, "ProvisionChildren", async ({ tx, progress, now }) => {
    const meta = batchMetadata(progress);
    // One statement at a time: a Data API transaction takes one call at a time.
    const failed = await failedInAttempt(tx, progress.id, progress.attempt);
    const counts = await childCounts(tx, progress.id);
    if (failed > meta.toleratedFailures || counts.queued > 0) {
      throw new BatchFailureBudgetExceededError(
        `${failed} of ${meta.total} children failed, more than the ${meta.toleratedFailures} tolerated ` +
          `(${meta.toleratedFailurePercent} %); ${counts.queued} not started`,
      );
    }
    const notCompleted = counts.failed + counts.cancelled;
    if (notCompleted > 0) {
      await saveProgress(
        tx,
        progress.id,
        {
          warnings: appendWarning(progress, {
            at: now.toISOString(),
            code: "children_not_completed",
            message: `${counts.completed} of ${meta.total} children completed; ${counts.failed} failed (within the ${meta.toleratedFailures} tolerated), ${counts.cancelled} cancelled`,
          }),
        },
        now,
      );
    }
  });
  return { finished: true };
};
