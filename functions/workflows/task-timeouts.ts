/**
 * How long each Task's code may run, derived from the ASL's `TimeoutSeconds`. A Task state's
 * `TimeoutSeconds` bounds how long Step Functions waits for its Lambda; the code must give up
 * first. If the state times out first (`States.Timeout`), the code keeps running and may commit
 * after the execution has moved on — a FAILED execution with a `completed` step. If the code
 * gives up first, its invocation fails and the state's Retry/Catch handle it while the Data API
 * rolls the abandoned transaction back.
 *
 * One Lambda runs every Task of a workflow, so its configured timeout is the largest any of its
 * Tasks needs (lib/step-timeouts.ts), and each invocation enforces its own Task's deadline
 * (functions/steps/step-lambda.ts). The CDK stack and the Lambda read the same ASL file.
 */
import { readDefinitionText } from "./definitions.ts";
import type { WorkflowName } from "./step-catalog.ts";

/** Lambda's maximum timeout (lambda/latest/dg/configuration-timeout.html). */
export const LAMBDA_MAX_TIMEOUT_SECONDS = 900;

/** What the code leaves of its state's timeout: 5 %, at least 10 seconds. */
export function timeoutMarginSeconds(stateTimeoutSeconds: number): number {
  return Math.max(10, Math.ceil(stateTimeoutSeconds * 0.05));
}

/** How long the code of a Task that allows `stateTimeoutSeconds` may run. */
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

export interface AslTask {
  /** The state's name (inside a Map's ItemProcessor or a Parallel branch too). */
  readonly state: string;
  /** The `${XFunctionArn}` placeholder of its Resource, if it is one. */
  readonly placeholder: string | undefined;
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
 * Every Lambda Task state of a workflow's ASL text with its `TimeoutSeconds`. A Task without a fixed
 * `TimeoutSeconds` is an error: its deadline could not be derived.
 */
export function aslTasks(kind: WorkflowName, text: string): AslTask[] {
  const definition = JSON.parse(text) as { States: Record<string, AslState> };
  const tasks: AslTask[] = [];
  const visit = (states: Record<string, AslState>) => {
    for (const [name, state] of Object.entries(states)) {
      // A Step Functions service integration (a child execution) runs no Lambda of ours.
      if (state.Type === "Task" && !String(state.Resource).startsWith("arn:aws:states:::")) {
        if (typeof state.TimeoutSeconds !== "number" || state.TimeoutSecondsPath !== undefined) {
          throw new Error(
            `statemachines/${kind}.asl.json ${name}: every Task needs a fixed TimeoutSeconds (its Lambda's timeout derives from it)`,
          );
        }
        const placeholder = /^\$\{(\w+)\}$/.exec(String(state.Resource))?.[1];
        tasks.push({ state: name, placeholder, timeoutSeconds: state.TimeoutSeconds });
      }
      const inner = state.ItemProcessor?.States ?? state.Iterator?.States;
      if (inner) visit(inner);
      for (const branch of state.Branches ?? []) if (branch.States) visit(branch.States);
    }
  };
  visit(definition.States);
  return tasks;
}

/** Each Task's deadline in seconds (its state's timeout less the margin), by Task state name. */
export function taskDeadlines(
  kind: WorkflowName,
  text: string = readDefinitionText(kind),
): Map<string, number> {
  return new Map(aslTasks(kind, text).map((t) => [t.state, lambdaTimeoutSeconds(t.timeoutSeconds)]));
}
