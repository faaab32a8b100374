/**
 * How a run's steps change: every writer (the step contract, run completion, cancel, resume)
 * changes a step only through these pure functions, so a step's status, attempts, timing and
 * errors follow one set of rules. The one change also made in SQL — the attempt mark, done in a
 * single statement so that nothing is read before it — is checked against `markRunning` by
 * `test/integration/step-state-sql.test.ts`.
 */
import {
  MAX_ATTEMPT_ERRORS,
  type ProgressStep,
  type StepAction,
  type StepAttemptError,
  type StepError,
} from "../../schemas/progress.ts";
import type { StepDefinition } from "../../workflows/step-catalog.ts";

/** Longest error message kept on a step (the record must stay small). */
const MAX_ERROR_MESSAGE = 2000;
/** Longest message kept per attempt error. */
const MAX_ATTEMPT_MESSAGE = 300;

function truncate(message: string, max: number): string {
  return message.length > max ? `${message.slice(0, max)}…` : message;
}

export function stepError(name: string, message: string): StepError {
  return { name, message: truncate(message, MAX_ERROR_MESSAGE) };
}

/** Fresh steps for a new run: every step pending. */
export function initialSteps(definitions: readonly StepDefinition[]): ProgressStep[] {
  return definitions.map((d) => ({
    id: d.id,
    name: d.name,
    title: d.title,
    status: "pending",
    attempts: 0,
    startedAt: null,
    passStartedAt: null,
    completedAt: null,
    durationMs: null,
    error: null,
    attemptErrors: [],
  }));
}

/**
 * A step as stored by any version of the service: records written before a field existed get its
 * empty value (the API always answers every field).
 */
export function normaliseStep(step: ProgressStep): ProgressStep {
  return {
    ...step,
    passStartedAt: step.passStartedAt ?? null,
    attemptErrors: step.attemptErrors ?? [],
  };
}

export function isDone(step: ProgressStep): boolean {
  return step.status === "completed" || step.status === "skipped";
}

/** Whether a step, or the named action of it, has completed (or was skipped). */
export function isDoneFor(step: ProgressStep, action: string | undefined): boolean {
  if (isDone(step)) return true;
  return (
    action !== undefined && (step.actions ?? []).some((a) => a.name === action && a.status === "completed")
  );
}

/** The first step that has not completed (where recover and resume start). */
export function firstUnfinishedStep(steps: readonly ProgressStep[]): ProgressStep | undefined {
  return steps.find((s) => !isDone(s));
}

/** Completed and skipped steps (the progress record keeps the count for listing). */
export function completedCount(steps: readonly ProgressStep[]): number {
  return steps.filter(isDone).length;
}

/** Returns a copy of `steps` with the named step changed. */
export function updateStep(
  steps: readonly ProgressStep[],
  name: string,
  change: (step: ProgressStep) => ProgressStep,
): ProgressStep[] {
  return steps.map((s) => (s.name === name ? change(s) : s));
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

/** The working time of the pass that ends at `end`, added to the earlier passes'. */
function passDuration(step: ProgressStep, end: Date): number | null {
  const start = step.passStartedAt ?? step.startedAt;
  if (!start) return step.durationMs;
  return (step.durationMs ?? 0) + Math.max(0, end.getTime() - Date.parse(start));
}

/**
 * An attempt starts: the step is running, its attempts count one more (a Map step counts one per
 * pass over its actions, not one per action), its first start is kept, and a step that was not
 * running starts a new pass. With `action`, that action of the step is running too.
 */
export function markRunning(step: ProgressStep, now: Date, action?: string): ProgressStep {
  const iso = now.toISOString();
  const wasRunning = step.status === "running";
  const running: ProgressStep = {
    ...step,
    status: "running",
    attempts: step.attempts + (action !== undefined && wasRunning ? 0 : 1),
    startedAt: step.startedAt ?? iso,
    passStartedAt: wasRunning ? (step.passStartedAt ?? iso) : iso,
  };
  if (action === undefined) return running;
  return withAction(running, action, (a) => ({ ...a, status: "running", attempts: a.attempts + 1 }));
}

/** The step (or its action) completed at `now`. */
export function markCompleted(step: ProgressStep, now: Date, action?: string): ProgressStep {
  const iso = now.toISOString();
  if (action !== undefined) {
    return withAction(step, action, (a) => ({ ...a, status: "completed", completedAt: iso, error: null }));
  }
  return {
    ...step,
    status: "completed",
    completedAt: iso,
    durationMs: passDuration(step, now),
    passStartedAt: null,
    error: null,
  };
}

/**
 * An attempt failed. A transient failure leaves the step running — the state machine tries again
 * while its Retry allows, and `markFailed` ends the step when it gives up — and a permanent one
 * fails it, ending its pass. Either way the error is the step's
 * last error and joins its attempt errors.
 */
export function markAttemptFailed(
  step: ProgressStep,
  failure: { readonly name: string; readonly message: string; readonly transient: boolean },
  now: Date,
  action?: string,
): ProgressStep {
  const error = stepError(failure.name, failure.message);
  const attempt =
    action === undefined ? step.attempts : (step.actions?.find((a) => a.name === action)?.attempts ?? 0);
  const entry: StepAttemptError = {
    attempt,
    at: now.toISOString(),
    name: failure.name,
    message: truncate(failure.message, MAX_ATTEMPT_MESSAGE),
    ...(action === undefined ? {} : { action }),
    transient: failure.transient,
  };
  const status = failure.transient ? ("running" as const) : ("failed" as const);
  const changed: ProgressStep = {
    ...step,
    status,
    error,
    attemptErrors: [...(step.attemptErrors ?? []), entry].slice(-MAX_ATTEMPT_ERRORS),
    ...(failure.transient ? {} : { durationMs: passDuration(step, now), passStartedAt: null }),
  };
  return action === undefined ? changed : withAction(changed, action, (a) => ({ ...a, status, error }));
}

/**
 * The run failed at this step (`RecordFailure`, after the state machine gave up, or an
 * operator's cancel stopping it): failed with the run's error, its pass ended.
 */
export function markFailed(step: ProgressStep, error: StepError, now: Date): ProgressStep {
  const wasRunning = step.status === "running";
  return {
    ...step,
    status: "failed",
    error,
    ...(wasRunning ? { durationMs: passDuration(step, now), passStartedAt: null } : {}),
  };
}

/** A cancel stops the step in flight; the others stay as they are. */
export function cancelSteps(steps: readonly ProgressStep[], error: StepError, now: Date): ProgressStep[] {
  return steps.map((s) => (s.status === "running" ? markFailed(s, error, now) : s));
}

/**
 * The run completed (`CompleteRun`): a step still running (a Map step, whose actions completed)
 * completes now, and a step never started was skipped.
 */
export function completeRemaining(steps: readonly ProgressStep[], now: Date): ProgressStep[] {
  return steps.map((s): ProgressStep => {
    if (s.status === "running") return markCompleted(s, now);
    if (s.status === "pending") return { ...s, status: "skipped" };
    return s;
  });
}

/**
 * An operator resumes the run at `stepName` (retry, recover): that step and every later one not
 * completed are pending again. Their attempts, first start, working time and attempt errors stay:
 * they are the step's history.
 */
export function resetFrom(steps: readonly ProgressStep[], stepName: string): ProgressStep[] {
  const from = steps.findIndex((s) => s.name === stepName);
  return steps.map((s, i) =>
    i >= from && s.status !== "completed"
      ? { ...s, status: "pending", completedAt: null, passStartedAt: null }
      : s,
  );
}

/**
 * A process stopped between recording a step's failure and the run's: the failed steps are
 * pending again, so the resumed execution gives each a new pass, as recover does.
 */
export function resetFailed(steps: readonly ProgressStep[]): ProgressStep[] {
  return steps.map((s) => (s.status === "failed" ? { ...s, status: "pending", passStartedAt: null } : s));
}
