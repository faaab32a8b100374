/**
 * The bookkeeping Task states every workflow ends with: `CompleteRun` (the run completed) and
 * `RecordFailure` (the Catch target: names the failed step and its error on the progress record).
 * What the outcome means for the tenant is the run kind's hook (registry.ts).
 */
import { sql } from "drizzle-orm";
import { RunCancelledError, rootMessage, sqlState, ValidationError } from "../../shared/errors.ts";
import {
  atomicStepStatement,
  classifyStepError,
  databaseError,
  forgetRun,
  knownRun,
  MAX_STATEMENT_CHARS,
  progressIdOf,
  RUN_CHANGED,
} from "../steps/run-step.ts";
import type { StepDeps, StepFactory } from "../steps/step-deps.ts";
import { lockProgressRow, type ProgressRow, saveProgress } from "./progress-store.ts";
import { RUN_KIND_REGISTRY } from "./registry.ts";
import { emitRunCompleted, emitRunFailed, runCompletedStatements } from "./run-events.ts";
import { isActive } from "./run-status.ts";
import { completeRemaining, firstUnfinishedStep, markFailed, stepError, updateStep } from "./step-state.ts";

/** `CompleteRun`: steps still running (a Map step) complete, steps never started are skipped. */
export const completeRunStep: StepFactory = (deps) => async (input) => {
  const progressId = progressIdOf(input);
  try {
    if ((await completeKnownRun(deps, progressId)) === "not-done") {
      await deps.db.transaction(async (tx) => {
        const row = await lockProgressRow(tx, progressId);
        if (!isActive(row.status)) throw new RunCancelledError(progressId, row.status);
        const now = deps.clock();
        const steps = completeRemaining(row.steps, now);
        const failed = steps.find((s) => s.status === "failed");
        if (failed) throw new ValidationError(`step ${failed.name} failed; the run cannot complete`);
        await saveProgress(
          tx,
          progressId,
          { steps, status: "completed", completedAt: now, currentStep: null, error: null },
          now,
        );
        await RUN_KIND_REGISTRY[row.kind].onCompleted(tx, row, now);
        await emitRunCompleted(tx, row, now);
      });
    }
  } catch (error) {
    throw classifyStepError(error, databaseError);
  }
  forgetRun(progressId);
  deps.logger.info("run completed", { progressId });
  return { completed: true };
};

/**
 * The completion in ONE statement (`atomicStepStatement`: one Data API call), for a run this
 * container wrote the last step of (`knownRun`) and a kind whose completion is statements only:
 * the row is checked unchanged since (no cancel, no other writer), then the kind's statements, the
 * `completed` event and the record's completion run together. `"not-done"`: the long way (the
 * transaction above) decides — the run is not known here, changed, or has a failed step.
 */
async function completeKnownRun(deps: StepDeps, progressId: string): Promise<"completed" | "not-done"> {
  const known = knownRun(progressId);
  const completedStatements = known && RUN_KIND_REGISTRY[known.kind].completedStatements;
  if (!known || !completedStatements || !isActive(known.status)) return "not-done";
  const now = deps.clock();
  const steps = completeRemaining(known.steps, now);
  if (steps.some((s) => s.status === "failed")) return "not-done";
  const statements = [...completedStatements(known, now), ...runCompletedStatements(known, now)];
  const statement = atomicStepStatement(
    progressId,
    { known },
    statements.map((run) => ({ run })),
    steps,
    now,
    deps.lockTimeoutMs,
    { status: "completed" },
  );
  if (statement.length > MAX_STATEMENT_CHARS) return "not-done";
  try {
    await deps.db.execute(sql.raw(statement));
    return "completed";
  } catch (error) {
    forgetRun(progressId);
    if (sqlState(error) === RUN_CHANGED) return "not-done";
    throw error;
  }
}

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

/** `RecordFailure`: the current step failed; so did the run. A run no longer active records nothing. */
export const recordFailureStep: StepFactory = (deps) => async (input) => {
  const progressId = progressIdOf(input);
  const failure = describeFailure(input.error);
  let failed = undefined as ProgressRow | undefined;
  try {
    await deps.db.transaction(async (tx) => {
      const row = await lockProgressRow(tx, progressId);
      if (!isActive(row.status)) return;
      failed = row;
      const now = deps.clock();
      const failedName = row.currentStep ?? firstUnfinishedStep(row.steps)?.name ?? "unknown";
      await saveProgress(
        tx,
        progressId,
        {
          steps: updateStep(row.steps, failedName, (s) =>
            markFailed(s, stepError(failure.name, failure.message), now),
          ),
          status: "failed",
          completedAt: now,
          error: `${failedName} failed: ${failure.name}: ${failure.message}`,
        },
        now,
      );
      await RUN_KIND_REGISTRY[row.kind].onFailed(tx, row, now);
      await emitRunFailed(tx, row, now, {
        step: failedName === "unknown" ? null : failedName,
        errorName: failure.name,
      });
    });
  } catch (error) {
    deps.logger.error("could not record a run failure", { progressId, error: rootMessage(error) });
    throw classifyStepError(error, databaseError);
  }
  deps.logger.warn("run failed", { progressId, error: failure.name, message: failure.message });
  if (failed) {
    try {
      await RUN_KIND_REGISTRY[failed.kind].afterEnded?.(deps, failed);
    } catch (error) {
      deps.logger.error("could not finish what the run's end leaves to do", { progressId, error });
    }
  }
  return { recorded: true };
};
