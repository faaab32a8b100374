/**
 * EventBridge target for "Step Functions Execution Status Change" events of the service's state
 * machines with status FAILED, TIMED_OUT or ABORTED (the rule is in lib/constructs/execution-events.ts):
 * records a run whose execution ended outside the ASL's Catch as failed, through the same code the
 * local runner uses (functions/domain/runs/execution-ended.ts), and counts the real failures in
 * the `RunExecutionsFailed` metric the alarms watch. Throwing makes EventBridge retry the event
 * (and, when its retries are spent, send it to the rule's dead-letter queue).
 */
import { DescribeExecutionCommand, SFNClient } from "@aws-sdk/client-sfn";
import { openDatabase } from "./db/client.ts";
import { outboxChannel } from "./domain/notifications/notification-channel.ts";
import { type ExecutionEndResult, recordExecutionEnded } from "./domain/runs/execution-ended.ts";
import {
  executionEndedFromEvent,
  executionStatusChangeSchema,
} from "./domain/runs/execution-status-change.ts";
import type { StepDeps } from "./domain/steps/step-deps.ts";
import { loadConfig } from "./shared/config.ts";
import { createLogger } from "./shared/logger.ts";
import { emitMetric, RUN_EXECUTIONS_FAILED } from "./shared/metrics.ts";

export interface ExecutionEndedDeps {
  readonly stepDeps: StepDeps;
  /** The execution's input when the event left it out (over EventBridge's size limit). */
  readonly readInput: (executionArn: string) => Promise<string | undefined>;
  readonly emit?: typeof emitMetric;
}

export type ExecutionEndedHandler = (event: unknown) => Promise<ExecutionEndResult | { outcome: "ignored" }>;

export function createExecutionEndedHandler(deps: ExecutionEndedDeps): ExecutionEndedHandler {
  const emit = deps.emit ?? emitMetric;
  return async (event) => {
    const parsed = executionStatusChangeSchema.safeParse(event);
    if (!parsed.success) {
      // Not an event the rule sends: retrying would not help.
      deps.stepDeps.logger.error("not a Step Functions Execution Status Change event", {
        issues: parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`),
      });
      return { outcome: "ignored" };
    }
    const ended = await executionEndedFromEvent(parsed.data, deps.readInput);
    if (!ended) return { outcome: "ignored" };
    const result = await recordExecutionEnded(deps.stepDeps, ended);
    emit({
      name: RUN_EXECUTIONS_FAILED,
      value: result.failure ? 1 : 0,
      unit: "Count",
      dimensions: { StateMachineArn: parsed.data.detail.stateMachineArn },
    });
    deps.stepDeps.logger.info("execution end handled", {
      progressId: ended.progressId,
      executionRef: ended.executionRef,
      status: ended.status,
      error: ended.error,
      outcome: result.outcome,
      failure: result.failure,
    });
    return result;
  };
}

/** The input of an execution, from Step Functions (for events that left it out). */
export function describeExecutionInput(
  sfn: SFNClient,
): (executionArn: string) => Promise<string | undefined> {
  return async (executionArn) =>
    (await sfn.send(new DescribeExecutionCommand({ executionArn }))).input ?? undefined;
}

let handlerPromise: Promise<ExecutionEndedHandler> | undefined;

/** Production dependencies, built on the first invocation: Data API database, Step Functions. */
async function productionHandler(): Promise<ExecutionEndedHandler> {
  const config = loadConfig();
  const { db } = await openDatabase(config.database);
  return createExecutionEndedHandler({
    stepDeps: {
      db,
      logger: createLogger(config.logLevel),
      clock: () => new Date(),
      // RecordFailure's outcome hooks queue nothing; the outbox is the channel that needs no client.
      notifications: outboxChannel,
      lockTimeoutMs: config.stepLockTimeoutMs,
    },
    readInput: describeExecutionInput(new SFNClient({})),
  });
}

export const handler = async (event: unknown) => {
  handlerPromise ??= productionHandler().catch((error: unknown) => {
    handlerPromise = undefined;
    throw error;
  });
  return (await handlerPromise)(event);
};
