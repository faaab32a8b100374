/**
 * Step Lambda timeouts, derived from the ASL in one place (functions/workflows/task-timeouts.ts
 * says why the code must give up before its state does). One Lambda runs every Task of a
 * workflow, so its timeout is the largest its Tasks need: the largest `TimeoutSeconds` of the
 * Tasks that invoke it, less the margin, capped at Lambda's 900 seconds. Tasks with a shorter
 * `TimeoutSeconds` are held to their own deadline by the function itself (functions/steps/step-lambda.ts).
 */
import { join } from "node:path";
import { readDefinitionText } from "../functions/workflows/definitions.ts";
import type { WorkflowName } from "../functions/workflows/step-catalog.ts";
import { aslTasks, lambdaTimeoutSeconds } from "../functions/workflows/task-timeouts.ts";
import { REPO_ROOT } from "./bundling.ts";
import { lambdaForPlaceholder } from "./lambda-entries.ts";

export {
  LAMBDA_MAX_TIMEOUT_SECONDS,
  lambdaTimeoutSeconds,
  timeoutMarginSeconds,
} from "../functions/workflows/task-timeouts.ts";

export interface TaskState {
  readonly kind: WorkflowName;
  /** The state's name (inside a Map's ItemProcessor or a Parallel branch too). */
  readonly state: string;
  /** The step module the Task's `${XFunctionArn}` names. */
  readonly lambda: string;
  readonly timeoutSeconds: number;
}

/**
 * Every Task state of a workflow with its Lambda and `TimeoutSeconds`. A Task without a fixed
 * `TimeoutSeconds`, or whose Resource is not a step Lambda, is an error.
 */
export function taskStates(kind: WorkflowName, dir: string = join(REPO_ROOT, "statemachines")): TaskState[] {
  return aslTasks(kind, readDefinitionText(kind, dir)).map((task) => {
    const lambda = task.placeholder ? lambdaForPlaceholder(task.placeholder) : undefined;
    if (!lambda) {
      throw new Error(`statemachines/${kind}.asl.json ${task.state}: Resource is not a step Lambda`);
    }
    return { kind, state: task.state, lambda, timeoutSeconds: task.timeoutSeconds };
  });
}

/** Each step Lambda's timeout in seconds: the largest over the Tasks that invoke it, less the margin. */
export function stepLambdaTimeouts(
  kinds: readonly WorkflowName[],
  dir: string = join(REPO_ROOT, "statemachines"),
): Map<string, number> {
  const largest = new Map<string, number>();
  for (const task of kinds.flatMap((kind) => taskStates(kind, dir))) {
    largest.set(task.lambda, Math.max(largest.get(task.lambda) ?? 0, task.timeoutSeconds));
  }
  return new Map([...largest].map(([lambda, seconds]) => [lambda, lambdaTimeoutSeconds(seconds)]));
}

/** The shortest deadline of a step Lambda's Tasks (bounds what one call may wait, e.g. for a resume). */
export function shortestTaskDeadlines(
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
