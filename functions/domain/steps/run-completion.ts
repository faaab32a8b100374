/**
 * The bookkeeping Task states shared by the workflows: `CompleteRun` (the run completed) and
 * `RecordFailure` (the Catch target: names the failed step and its error on the progress record).
 */
import { eq } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { tenants } from "../../db/schema.ts";
import type { ProgressStep } from "../../schemas/progress.ts";
import { RunCancelledError, rootMessage, ValidationError } from "../../shared/errors.ts";
import { deprovisionOutcomeHooks } from "../deprovisioning/run-hooks.ts";
import {
  ACTIVE_STATUSES,
  firstUnfinishedStep,
  lockProgressRow,
  type ProgressRow,
  saveProgress,
  stepError,
} from "../progress/progress-store.ts";
import { restoreOutcomeHooks } from "../restore/run-hooks.ts";
import { classifyStepError, databaseError, progressIdOf } from "./run-step.ts";
import type { StepFactory } from "./step-deps.ts";

/** What finishing a run means for its tenant, per run kind. */
export interface RunOutcomeHooks {
  onCompleted(tx: Database, run: ProgressRow, now: Date): Promise<void>;
  onFailed(tx: Database, run: ProgressRow, now: Date): Promise<void>;
  /** An operator cancelled the run (in the cancel's transaction, after the run was marked). */
  onCancelled?(tx: Database, run: ProgressRow, now: Date): Promise<void>;
}

async function setTenantStatus(tx: Database, run: ProgressRow, status: string, now: Date): Promise<void> {
  if (!run.tenantId) return;
  await tx.update(tenants).set({ status, updatedAt: now }).where(eq(tenants.id, run.tenantId));
}

/** Hooks per progress `kind`; other workflows register theirs here. */
export const RUN_OUTCOME_HOOKS: Record<string, RunOutcomeHooks> = {
  provision: {
    onCompleted: (tx, run, now) => setTenantStatus(tx, run, "active", now),
    onFailed: (tx, run, now) => setTenantStatus(tx, run, "failed", now),
    onCancelled: (tx, run, now) => setTenantStatus(tx, run, "cancelled", now),
  },
  deprovision: deprovisionOutcomeHooks,
  restore: restoreOutcomeHooks,
};

function isActive(row: ProgressRow): boolean {
  return ACTIVE_STATUSES.includes((row.status ?? "pending") as never);
}

/** `CompleteRun`: steps still running (a Map step) complete, steps never started are skipped. */
export const completeRunStep: StepFactory = (deps) => async (input) => {
  const progressId = progressIdOf(input);
  try {
    await deps.db.transaction(async (tx) => {
      const row = await lockProgressRow(tx, progressId);
      if (!isActive(row)) throw new RunCancelledError(progressId, row.status ?? "unknown");
      const now = deps.clock();
      const steps = ((row.steps ?? []) as ProgressStep[]).map((s): ProgressStep => {
        if (s.status === "running") {
          return {
            ...s,
            status: "completed",
            completedAt: now.toISOString(),
            durationMs: s.startedAt ? now.getTime() - Date.parse(s.startedAt) : null,
            error: null,
          };
        }
        if (s.status === "pending") return { ...s, status: "skipped" };
        return s;
      });
      const unfinished = steps.find((s) => s.status === "failed");
      if (unfinished) throw new ValidationError(`step ${unfinished.name} failed; the run cannot complete`);
      await saveProgress(
        tx,
        progressId,
        { steps, status: "completed", completedAt: now, currentStep: null, error: null },
        now,
      );
      await RUN_OUTCOME_HOOKS[row.kind]?.onCompleted(tx, row, now);
    });
  } catch (error) {
    throw classifyStepError(error, databaseError);
  }
  deps.logger.info("run completed", { progressId });
  return { completed: true };
};

/** The error of a caught failure: `{Error, Cause}`; in AWS the Cause is Lambda's JSON error. */
export function describeFailure(failure: unknown): { name: string; message: string } {
  const f = (failure ?? {}) as { Error?: unknown; Cause?: unknown };
  const name = typeof f.Error === "string" ? f.Error : "Error";
  let message = typeof f.Cause === "string" ? f.Cause : "";
  try {
    const parsed = JSON.parse(message) as { errorMessage?: unknown };
    if (parsed && typeof parsed.errorMessage === "string") message = parsed.errorMessage;
  } catch {
    // a plain message
  }
  return { name, message: message || name };
}

/** `RecordFailure`: the current step failed; so did the run. A cancelled run records nothing. */
export const recordFailureStep: StepFactory = (deps) => async (input) => {
  const progressId = progressIdOf(input);
  const failure = describeFailure(input.error);
  try {
    await deps.db.transaction(async (tx) => {
      const row = await lockProgressRow(tx, progressId);
      if (!isActive(row)) return;
      const now = deps.clock();
      const steps = (row.steps ?? []) as ProgressStep[];
      const failedName = row.currentStep ?? firstUnfinishedStep(steps)?.name ?? "unknown";
      const updated = steps.map(
        (s): ProgressStep =>
          s.name === failedName
            ? { ...s, status: "failed", error: stepError(failure.name, failure.message) }
            : s,
      );
      await saveProgress(
        tx,
        progressId,
        {
          steps: updated,
          status: "failed",
          completedAt: now,
          error: `${failedName} failed: ${failure.name}: ${failure.message}`,
        },
        now,
      );
      await RUN_OUTCOME_HOOKS[row.kind]?.onFailed(tx, row, now);
    });
  } catch (error) {
    deps.logger.error("could not record a run failure", { progressId, error: rootMessage(error) });
    throw classifyStepError(error, databaseError);
  }
  deps.logger.warn("run failed", { progressId, error: failure.name, message: failure.message });
  return { recorded: true };
};
