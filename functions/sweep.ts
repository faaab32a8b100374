/**
 * The operations sweep Lambda, invoked by an EventBridge schedule: alerts (published to the SNS
 * topic `ALERT_TOPIC_ARN`) and retention. The work is in functions/domain/operations/sweep.ts.
 */
import { SNSClient } from "@aws-sdk/client-sns";
import type { ScheduledEvent } from "aws-lambda";
import { type Database, openDatabase } from "./db/client.ts";
import type { AlertNotifier } from "./domain/operations/alerts.ts";
import { snsAlertNotifier } from "./domain/operations/sns-alert-notifier.ts";
import { runSweep } from "./domain/operations/sweep.ts";
import { ConfigError, loadConfig, type OperationsConfig } from "./shared/config.ts";
import { createLogger, type Logger } from "./shared/logger.ts";

export interface SweepDeps {
  readonly db: Database;
  readonly notifier: AlertNotifier;
  readonly logger: Logger;
  readonly operations: OperationsConfig;
  readonly clock: () => Date;
}

export interface SweepSummary {
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
    });
    if (result.errors.length > 0) {
      throw new Error(
        `sweep checks failed: ${result.errors.map((e) => `${e.check}: ${e.message}`).join("; ")}`,
      );
    }
    return {
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
  const topicArn = config.operations.alertTopicArn;
  if (!topicArn) throw new ConfigError("Invalid configuration:\n  ALERT_TOPIC_ARN: required by the sweep");
  const { db } = await openDatabase(config.database);
  return createSweepHandler({
    db,
    notifier: snsAlertNotifier({ client: new SNSClient({}), topicArn }),
    logger: createLogger(config.logLevel),
    operations: config.operations,
    clock: () => new Date(),
  });
}

export const handler = async (event: ScheduledEvent): Promise<SweepSummary> => {
  handlerPromise ??= productionHandler().catch((error: unknown) => {
    handlerPromise = undefined;
    throw error;
  });
  return (await handlerPromise)(event);
};
