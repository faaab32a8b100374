/**
 * Starting and stopping workflow executions. In AWS: Step Functions (`sfn-workflow-runner.ts`);
 * locally: the same ASL run in-process (`local/local-workflow-runner.ts`).
 */
import type { WorkflowName } from "./step-catalog.ts";

/** The execution input. Never holds secrets: steps read everything else from the database. */
export interface WorkflowInput {
  readonly progressId: string;
  /** The step to start at (the top `Choice` state). */
  readonly startAt: string;
  readonly [key: string]: unknown;
}

export interface WorkflowRunner {
  /** Starts an execution; `name` is unique per start. Returns the execution reference (an ARN in AWS). */
  start(kind: WorkflowName, name: string, input: WorkflowInput): Promise<string>;
  /** Stops an execution; stopping one that already ended is not an error. */
  stop(executionRef: string, cause: string): Promise<void>;
  /**
   * Resolves when the execution has ended or `timeoutMs` has passed, whichever is first. Only an
   * in-process runner can offer it (a batch's iteration then learns at once that its child ended);
   * without it the batch's state machine polls (its Wait state).
   */
  waitForEnd?(executionRef: string, timeoutMs: number): Promise<void>;
}
