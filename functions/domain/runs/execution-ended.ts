/**
 * An execution that ended without its run being finished. The ASL routes step failures through
 * `RecordFailure`, but a state or execution timeout, a `States.Runtime` error, a failure of
 * RecordFailure itself, or a StopExecution from the console ends the execution with the run still
 * `running`. Locally the runner sees the execution end (local/local-workflow-runner.ts); in AWS an
 * EventBridge rule on "Step Functions Execution Status Change" (FAILED, TIMED_OUT, ABORTED) invokes
 * functions/execution-ended.ts. Both call `recordExecutionEnded`, which records the failure with
 * the same `RecordFailure` handler the state machines use.
 *
 * Idempotent: a run that is no longer active (failed through RecordFailure, cancelled by an
 * operator — whose StopExecution is what aborted it — or completed) is left alone, and so is a run
 * that has moved on to a later attempt, whose current execution is another one.
 */
import { z } from "zod";
import { executionAttempt } from "../../workflows/execution-name.ts";
import type { StepDeps } from "../steps/step-deps.ts";
import { getProgressRow, type ProgressRow } from "./progress-store.ts";
import { recordFailureStep } from "./run-completion.ts";
import { isActive } from "./run-status.ts";

/** The end states EventBridge reports for a Standard Workflows execution besides SUCCEEDED. */
export const EXECUTION_END_STATUSES = ["FAILED", "TIMED_OUT", "ABORTED"] as const;
export type ExecutionEndStatus = (typeof EXECUTION_END_STATUSES)[number];

/**
 * Fail states the workflows end in on purpose (statemachines/*.asl.json): the run was cancelled,
 * or a schedule fired that was no longer waiting. Neither is a failure to alarm on.
 */
export const EXPECTED_FAIL_ERRORS: readonly string[] = ["RunCancelled", "ScheduleNotStarted"];

export interface ExecutionEnded {
  /** The run the execution was for: its input's `progressId`. */
  readonly progressId: string;
  /** The execution ARN in AWS (the run's `executionRef` once startWorkflow stored it); locally the runner's ref. */
  readonly executionRef: string;
  readonly executionName: string;
  readonly status: ExecutionEndStatus;
  /** The execution's error name (`States.Timeout`, `RunCancelled`, ...), when it has one. */
  readonly error: string | null;
  readonly cause: string | null;
}

export type ExecutionEndOutcome =
  /** The run was still active: it is now failed, at its current step. */
  | "recorded"
  /** The run had already finished (failed, cancelled or completed): nothing changed. */
  | "already_finished"
  /** The execution belongs to an earlier attempt, or to a schedule that did not claim the run. */
  | "other_execution"
  /** No run has this id (a schedule that never started one). */
  | "no_run";

export interface ExecutionEndResult {
  readonly outcome: ExecutionEndOutcome;
  /**
   * Whether the end is a real failure, what the "executions failed" alarms count: not a cancelled
   * run, not a schedule that did not start, not an old attempt.
   */
  readonly failure: boolean;
}

/** The error recorded on the run: the execution's, or one named after how it ended. */
function failureOf(ended: ExecutionEnded): { Error: string; Cause: string } {
  const fallback = {
    FAILED: "States.Runtime",
    TIMED_OUT: "States.Timeout",
    ABORTED: "ExecutionAborted",
  } as const satisfies Record<ExecutionEndStatus, string>;
  const name = ended.error ?? fallback[ended.status];
  return {
    Error: name,
    Cause:
      ended.cause ??
      `the execution ${ended.executionName} ended ${ended.status} outside the workflow's error handling`,
  };
}

/** Whether `ended` is the run's current execution (not an earlier attempt, not another schedule's). */
function isCurrentExecution(row: ProgressRow, ended: ExecutionEnded): boolean {
  if (row.executionRef === ended.executionRef) return true;
  // startWorkflow stores the ref after StartExecution returns: an execution that ended before that
  // is still the current one if its name carries the run's current attempt.
  return executionAttempt(ended.executionName, row.id) === row.attempt;
}

/** Records the end of an execution on its run (see the module comment). */
export async function recordExecutionEnded(
  deps: StepDeps,
  ended: ExecutionEnded,
): Promise<ExecutionEndResult> {
  const expected = ended.error !== null && EXPECTED_FAIL_ERRORS.includes(ended.error);
  const row = z.uuid().safeParse(ended.progressId).success
    ? await getProgressRow(deps.db, ended.progressId)
    : undefined;
  if (!row) return { outcome: "no_run", failure: !expected };
  if (!isCurrentExecution(row, ended)) return { outcome: "other_execution", failure: false };
  if (!isActive(row.status)) {
    return { outcome: "already_finished", failure: row.status !== "cancelled" && !expected };
  }
  // RecordFailure locks the row and records nothing if the run stopped being active meanwhile.
  await recordFailureStep(deps)({ progressId: row.id, error: failureOf(ended) });
  deps.logger.warn("execution ended outside the workflow's error handling; run recorded as failed", {
    progressId: row.id,
    executionRef: ended.executionRef,
    status: ended.status,
    error: ended.error,
  });
  return { outcome: "recorded", failure: true };
}
