/**
 * Step Lambda timeouts, derived from the ASL in one place. A Task state's `TimeoutSeconds` bounds
 * how long Step Functions waits for its Lambda; the Lambda must give up first. If the state times
 * out first (`States.Timeout`), the Lambda keeps running and may commit after the execution has
 * moved on — a FAILED execution with a `completed` step. If the Lambda times out first, its
 * invocation fails (`Lambda.Unknown`, "Task timed out") and the state's Retry/Catch handle it while
 * the Data API rolls the abandoned transaction back.
 *
 * Each Lambda gets the smallest `TimeoutSeconds` of the Tasks that invoke it, minus a margin for
 * invocation latency and cold start, capped at Lambda's maximum of 900 seconds
 * (lambda/latest/dg/configuration-timeout.html). Per Lambda, not per Task, so that grouping several
 * steps into one Lambda per workflow keeps every Task safe.
 */
import { join } from "node:path";
import { readDefinitionText } from "../functions/workflows/definitions.ts";
import type { WorkflowName } from "../functions/workflows/step-catalog.ts";
import { REPO_ROOT } from "./bundling.ts";
import { lambdaForPlaceholder } from "./lambda-entries.ts";

/** Lambda's maximum timeout (lambda/latest/dg/configuration-timeout.html). */
export const LAMBDA_MAX_TIMEOUT_SECONDS = 900;

/** What the Lambda leaves of its state's timeout: 5 %, at least 10 seconds. */
export function timeoutMarginSeconds(stateTimeoutSeconds: number): number {
  return Math.max(10, Math.ceil(stateTimeoutSeconds * 0.05));
}

/** The Lambda timeout for Tasks that allow `stateTimeoutSeconds`. */
export function lambdaTimeoutSeconds(stateTimeoutSeconds: number): number {
  const seconds = Math.min(
    LAMBDA_MAX_TIMEOUT_SECONDS,
    stateTimeoutSeconds - timeoutMarginSeconds(stateTimeoutSeconds),
  );
  if (seconds < 1) {
    throw new Error(`a Task TimeoutSeconds of ${stateTimeoutSeconds} leaves its Lambda no time`);
  }
  return seconds;
}

export interface TaskState {
  readonly kind: WorkflowName;
  /** The state's name (inside a Map's ItemProcessor or a Parallel branch too). */
  readonly state: string;
  /** The step module the Task's `${XFunctionArn}` names. */
  readonly lambda: string;
  readonly timeoutSeconds: number;
}

interface AslState {
  readonly Type?: string;
  readonly Resource?: unknown;
  readonly TimeoutSeconds?: unknown;
  readonly TimeoutSecondsPath?: unknown;
  readonly ItemProcessor?: { readonly States?: Record<string, AslState> };
  readonly Iterator?: { readonly States?: Record<string, AslState> };
  readonly Branches?: readonly { readonly States?: Record<string, AslState> }[];
}

/**
 * Every Task state of a workflow with its Lambda and `TimeoutSeconds`. A Task without a fixed
 * `TimeoutSeconds` is an error: its Lambda's timeout could not be derived.
 */
export function taskStates(kind: WorkflowName, dir: string = join(REPO_ROOT, "statemachines")): TaskState[] {
  const definition = JSON.parse(readDefinitionText(kind, dir)) as { States: Record<string, AslState> };
  const tasks: TaskState[] = [];
  const visit = (states: Record<string, AslState>) => {
    for (const [name, state] of Object.entries(states)) {
      // A Step Functions service integration (a child execution) runs no Lambda of ours.
      if (state.Type === "Task" && !String(state.Resource).startsWith("arn:aws:states:::")) {
        const placeholder = /^\$\{(\w+)\}$/.exec(String(state.Resource))?.[1];
        const lambda = placeholder ? lambdaForPlaceholder(placeholder) : undefined;
        if (!lambda) throw new Error(`statemachines/${kind}.asl.json ${name}: Resource is not a step Lambda`);
        if (typeof state.TimeoutSeconds !== "number" || state.TimeoutSecondsPath !== undefined) {
          throw new Error(
            `statemachines/${kind}.asl.json ${name}: every Task needs a fixed TimeoutSeconds (its Lambda's timeout derives from it)`,
          );
        }
        tasks.push({ kind, state: name, lambda, timeoutSeconds: state.TimeoutSeconds });
      }
      const inner = state.ItemProcessor?.States ?? state.Iterator?.States;
      if (inner) visit(inner);
      for (const branch of state.Branches ?? []) if (branch.States) visit(branch.States);
    }
  };
  visit(definition.States);
  return tasks;
}

/** Each step Lambda's timeout in seconds: the smallest over the Tasks that invoke it, less the margin. */
export function stepLambdaTimeouts(
  kinds: readonly WorkflowName[],
  dir: string = join(REPO_ROOT, "statemachines"),
): Map<string, number> {
  const smallest = new Map<string, number>();
  for (const task of kinds.flatMap((kind) => taskStates(kind, dir))) {
    smallest.set(
      task.lambda,
      Math.min(smallest.get(task.lambda) ?? Number.POSITIVE_INFINITY, task.timeoutSeconds),
    );
  }
  return new Map([...smallest].map(([lambda, seconds]) => [lambda, lambdaTimeoutSeconds(seconds)]));
}
