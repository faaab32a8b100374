/**
 * The contract every workflow step keeps:
 * 1. the run must still be wanted (not cancelled or finished) — checked before anything is done;
 * 2. an attempt is recorded (status running, attempts + 1) in its own small transaction;
 * 3. the step's work and its "completed" mark commit in ONE transaction, under a lock on the
 *    progress row, so a step either happened completely or not at all, and a completed step is
 *    never run again (idempotency);
 * 4. failures are classified: `TransientError` (retried by the state machine's Retry) or a named
 *    permanent error (caught by its Catch and recorded).
 */
import { sql } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import type { ProgressStep, StepAction } from "../../schemas/progress.ts";
import {
  ConfigurationError,
  DatabaseError,
  isTransientDatabaseError,
  MigrationError,
  NetworkError,
  RunCancelledError,
  rootMessage,
  TransientError,
  ValidationError,
} from "../../shared/errors.ts";
import {
  ACTIVE_STATUSES,
  lockProgressRow,
  type ProgressRow,
  saveProgress,
  stepError,
  updateStep,
} from "../progress/progress-store.ts";
import type { StepDeps } from "./step-deps.ts";

export interface StepContext {
  readonly tx: Database;
  readonly progress: ProgressRow;
  readonly now: Date;
  readonly deps: StepDeps;
}

export type PermanentErrorFactory = (message: string, cause: unknown) => Error;

const NAMED = [
  RunCancelledError,
  TransientError,
  ValidationError,
  DatabaseError,
  MigrationError,
  ConfigurationError,
  NetworkError,
];

/** Maps any error to a name the ASL matches: TransientError, or the step's permanent error. */
export function classifyStepError(error: unknown, permanent: PermanentErrorFactory): Error {
  if (NAMED.some((E) => error instanceof E)) return error as Error;
  if (isTransientDatabaseError(error)) return new TransientError(rootMessage(error), { cause: error });
  return permanent(rootMessage(error), error);
}

export const databaseError: PermanentErrorFactory = (m, cause) => new DatabaseError(m, { cause });

function isActive(row: ProgressRow): boolean {
  return ACTIVE_STATUSES.includes((row.status ?? "pending") as never);
}

function steps(row: ProgressRow): ProgressStep[] {
  return (row.steps ?? []) as ProgressStep[];
}

/** A step, or one named action inside a step (the iterations of a Map state). */
export interface StepTarget {
  readonly step: string;
  readonly action?: string;
}

function withAction(step: ProgressStep, action: string, change: (a: StepAction) => StepAction): ProgressStep {
  const actions = step.actions ?? [];
  const existing = actions.find((a) => a.name === action) ?? {
    name: action,
    status: "pending" as const,
    attempts: 0,
    completedAt: null,
    error: null,
  };
  const next = change(existing);
  return {
    ...step,
    actions: actions.some((a) => a.name === action)
      ? actions.map((a) => (a.name === action ? next : a))
      : [...actions, next],
  };
}

/**
 * Runs one step (or one action of a step) of a run. Returns `"already-completed"` without doing
 * anything when it completed before (a retried or resumed execution passing through).
 */
export async function runStep(
  deps: StepDeps,
  progressId: string,
  target: string | StepTarget,
  work: (ctx: StepContext) => Promise<void>,
  permanent: PermanentErrorFactory = databaseError,
): Promise<"completed" | "already-completed"> {
  const { db, clock, logger } = deps;
  const { step: stepName, action } =
    typeof target === "string" ? { step: target, action: undefined } : target;
  try {
    const started = await db.transaction(async (tx) => {
      const row = await lockProgressRow(tx, progressId);
      if (!isActive(row)) throw new RunCancelledError(progressId, row.status ?? "unknown");
      const step = steps(row).find((s) => s.name === stepName);
      if (!step) throw new ValidationError(`run ${progressId} has no step ${stepName}`);
      if (step.status === "completed" || step.status === "skipped") return false;
      if (action && step.actions?.some((a) => a.name === action && a.status === "completed")) return false;
      const now = clock();
      await saveProgress(
        tx,
        progressId,
        {
          status: "running",
          startedAt: row.startedAt ?? now,
          currentStep: stepName,
          steps: updateStep(steps(row), stepName, (s) => {
            const running = {
              ...s,
              status: "running" as const,
              // A Map step counts one attempt per pass over its actions, not one per action.
              attempts: action && s.status === "running" ? s.attempts : s.attempts + 1,
              startedAt: s.startedAt ?? now.toISOString(),
            };
            return action
              ? withAction(running, action, (a) => ({ ...a, status: "running", attempts: a.attempts + 1 }))
              : running;
          }),
        },
        now,
      );
      return true;
    });
    if (!started) return "already-completed";

    await db.transaction(async (tx) => {
      const row = await lockProgressRow(tx, progressId);
      if (!isActive(row)) throw new RunCancelledError(progressId, row.status ?? "unknown");
      await tx.execute(
        sql.raw(`SET LOCAL lock_timeout = '${Math.max(1, Math.floor(deps.lockTimeoutMs))}ms'`),
      );
      await work({ tx, progress: row, now: clock(), deps });
      const done = clock();
      await saveProgress(
        tx,
        progressId,
        {
          steps: updateStep(steps(row), stepName, (s) =>
            action
              ? withAction(s, action, (a) => ({
                  ...a,
                  status: "completed",
                  completedAt: done.toISOString(),
                  error: null,
                }))
              : {
                  ...s,
                  status: "completed",
                  completedAt: done.toISOString(),
                  durationMs: s.startedAt ? Math.max(0, done.getTime() - Date.parse(s.startedAt)) : null,
                  error: null,
                },
          ),
        },
        done,
      );
    });
    logger.info("step completed", { progressId, step: stepName, ...(action ? { action } : {}) });
    return "completed";
  } catch (error) {
    const classified = classifyStepError(error, permanent);
    if (!(classified instanceof RunCancelledError)) {
      await recordAttemptError(deps, progressId, stepName, action, classified);
    }
    logger.warn("step failed", {
      progressId,
      step: stepName,
      ...(action ? { action } : {}),
      error: classified.name,
      message: classified.message,
    });
    throw classified;
  }
}

/** Records the attempt's error on the step (running while it will be retried, failed if permanent). */
async function recordAttemptError(
  deps: StepDeps,
  progressId: string,
  stepName: string,
  action: string | undefined,
  error: Error,
): Promise<void> {
  try {
    await deps.db.transaction(async (tx) => {
      const row = await lockProgressRow(tx, progressId);
      if (!isActive(row)) return;
      await saveProgress(
        tx,
        progressId,
        {
          steps: updateStep(steps(row), stepName, (s) => {
            const status = error instanceof TransientError ? ("running" as const) : ("failed" as const);
            const err = stepError(error.name, error.message);
            const changed = { ...s, status, error: err };
            return action ? withAction(changed, action, (a) => ({ ...a, status, error: err })) : changed;
          }),
        },
        deps.clock(),
      );
    });
  } catch (recordError) {
    deps.logger.error("could not record a step error", { progressId, step: stepName, error: recordError });
  }
}

/** Reads `progressId` from a state's input. */
export function progressIdOf(input: Record<string, unknown>): string {
  const id = input.progressId;
  if (typeof id !== "string" || id.length === 0) throw new ValidationError("step input has no progressId");
  return id;
}
