/**
 * The operations sweep Lambda, invoked by an EventBridge schedule: overdue scheduled
 * deprovisionings (started on the deprovisioning state machine), alerts (published to the SNS
 * topic `ALERT_TOPIC_ARN`) and retention. The work is in functions/domain/operations/sweep.ts.
 */
import { SFNClient } from "@aws-sdk/client-sfn";
import { SNSClient } from "@aws-sdk/client-sns";
import type { ScheduledEvent } from "aws-lambda";
import { type Database, openDatabase } from "./db/client.ts";
import { type CellDirectory, cellDirectoryFromConfig } from "./domain/cells/cell-directory.ts";
import type { AlertNotifier } from "./domain/operations/alerts.ts";
import { snsAlertNotifier } from "./domain/operations/sns-alert-notifier.ts";
import { runSweep } from "./domain/operations/sweep.ts";
import { loadConfig, type OperationsConfig, requireSetting } from "./shared/config.ts";
import { createLogger, type Logger } from "./shared/logger.ts";
import { SfnWorkflowRunner } from "./workflows/sfn-workflow-runner.ts";
import type { WorkflowRunner } from "./workflows/workflow-runner.ts";

export interface SweepDeps {
  readonly db: Database;
  readonly notifier: AlertNotifier;
  readonly logger: Logger;
  readonly operations: OperationsConfig;
  readonly clock: () => Date;
  /** Starts overdue scheduled deprovisionings. */
  readonly workflows: WorkflowRunner;
  /** The tenant databases (limit checks count each tenant's tables on its cell). */
  readonly cells?: CellDirectory;
}

export interface SweepSummary {
  readonly overdueStarted: number;
  readonly raised: number;
  readonly resolved: number;
  readonly deleted: number;
  readonly notified: number;
}

/** The handler for given dependencies. A failed check fails the invocation, so that it shows in metrics. */
export function createSweepHandler(deps: SweepDeps): (event?: ScheduledEvent) => Promise<SweepSummary> {
  return async () => {
    const result = await runSweep(deps.db, {
      now: deps.clock(),
      longRunningMinutes: deps.operations.longRunningMinutes,
      retentionDays: deps.operations.retentionDays,
      notifier: deps.notifier,
      logger: deps.logger,
      overdueSchedules: {
        overdueMinutes: deps.operations.scheduleOverdueMinutes,
        workflows: deps.workflows,
      },
      limitChecks: {
        periodSeconds: deps.operations.limitCheckPeriodSeconds,
        // The EventBridge rule sets the pace; the checks use the time they observe between sweeps
        // when that is longer.
        intervalSeconds: deps.operations.sweepIntervalSeconds,
        maxBatch: deps.operations.limitCheckMaxBatch,
        ...(deps.cells ? { cells: deps.cells } : {}),
      },
    });
    if (result.errors.length > 0) {
      throw new Error(
        `sweep checks failed: ${result.errors.map((e) => `${e.check}: ${e.message}`).join("; ")}`,
      );
    }
    return {
      overdueStarted: result.overdueStarted,
      raised: result.raised.length,
      resolved: result.resolved,
      deleted: result.deleted,
      notified: result.notified,
    };
  };
}

let handlerPromise: Promise<(event?: ScheduledEvent) => Promise<SweepSummary>> | undefined;

/** Production dependencies, built on the first invocation: Data API database, SNS topic. */
async function productionHandler(): Promise<(event?: ScheduledEvent) => Promise<SweepSummary>> {
  const config = loadConfig();
  const topicArn = requireSetting(config.operations.alertTopicArn, "ALERT_TOPIC_ARN", "the sweep");
  const deprovisioning = requireSetting(
    config.stateMachineArns.deprovisioning,
    "DEPROVISIONING_STATE_MACHINE_ARN",
    "the sweep (overdue schedules)",
  );
  const provisioning = requireSetting(
    config.stateMachineArns.provisioning,
    "PROVISIONING_STATE_MACHINE_ARN",
    "the sweep (overdue scheduled provisionings)",
  );
  const batch = requireSetting(
    config.stateMachineArns.batch,
    "BATCH_STATE_MACHINE_ARN",
    "the sweep (overdue scheduled batches)",
  );
  const { db } = await openDatabase(config.database);
  return createSweepHandler({
    db,
    cells: cellDirectoryFromConfig(db, config.cells),
    notifier: snsAlertNotifier({ client: new SNSClient({}), topicArn }),
    logger: createLogger(config.logLevel),
    operations: config.operations,
    clock: () => new Date(),
    workflows: new SfnWorkflowRunner(new SFNClient({}), { deprovisioning, provisioning, batch }),
  });
}

export const handler = async (event: ScheduledEvent): Promise<SweepSummary> => {
  handlerPromise ??= productionHandler().catch((error: unknown) => {
    handlerPromise = undefined;
    throw error;
  });
  return (await handlerPromise)(event);
};
