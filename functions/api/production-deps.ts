/**
 * Production dependencies of a Lambda, built once per container on first use: configuration from
 * the environment, the database through the RDS Data API, workflows on Step Functions, schedules
 * on EventBridge Scheduler. A variable CDK should have set but did not fails the cold start with
 * a ConfigError naming it.
 */

import { KMSClient } from "@aws-sdk/client-kms";
import { SchedulerClient } from "@aws-sdk/client-scheduler";
import { SFNClient } from "@aws-sdk/client-sfn";
import { type Database, openDatabase } from "../db/client.ts";
import { cellDirectoryFromConfig } from "../domain/cells/cell-directory.ts";
import { EventBridgeScheduler } from "../domain/scheduling/eventbridge-scheduler.ts";
import { KmsSecretSealer } from "../domain/webhooks/kms-secret-sealer.ts";
import { loadConfig, requireSetting, requireStateMachineArns } from "../shared/config.ts";
import { createLogger } from "../shared/logger.ts";
import { SfnWorkflowRunner } from "../workflows/sfn-workflow-runner.ts";
import type { ApiDeps } from "./deps.ts";

const USED_BY = "the API Lambdas";

let database: Promise<Database> | undefined;

/** The database alone (the authorizer needs nothing else), through the Data API. */
export function productionDatabase(): Promise<Database> {
  database ??= (async () => {
    const config = loadConfig();
    const { db } = await openDatabase(config.database);
    return db;
  })().catch((error: unknown) => {
    database = undefined;
    throw error;
  });
  return database;
}

let deps: Promise<ApiDeps> | undefined;

export function productionDeps(): Promise<ApiDeps> {
  deps ??= (async () => {
    const config = loadConfig();
    const stateMachineArns = requireStateMachineArns(config, USED_BY);
    const { scheduleGroupName, schedulerRoleArn, scheduleDeadLetterQueueArn } = config.deprovisioning;
    // schedule-deprovision / schedule-provision / schedule-batch: one-time EventBridge schedules
    // that start the deprovisioning, provisioning or batch machine.
    const scheduler = new EventBridgeScheduler(new SchedulerClient({}), {
      groupName: requireSetting(scheduleGroupName, "SCHEDULE_GROUP_NAME", USED_BY),
      roleArn: requireSetting(schedulerRoleArn, "SCHEDULER_ROLE_ARN", USED_BY),
      stateMachineArns: {
        deprovision: stateMachineArns.deprovisioning,
        provision: stateMachineArns.provisioning,
        batch: stateMachineArns.batch,
      },
      deadLetterQueueArn: requireSetting(
        scheduleDeadLetterQueueArn,
        "SCHEDULE_DEAD_LETTER_QUEUE_ARN",
        USED_BY,
      ),
    });
    // Webhook subscriptions: secrets sealed with KMS; in AWS no loopback target is allowed.
    const keyId = config.events.webhookSecretsKeyId;
    const webhooks = keyId
      ? { sealer: new KmsSecretSealer(new KMSClient({}), keyId), policy: { allowLoopback: false } }
      : undefined;
    const db = await productionDatabase();
    return {
      db,
      // The deprovisioning dry run and the cells' API read tenant schemas on their cells.
      cells: cellDirectoryFromConfig(db, config.cells),
      logger: createLogger(config.logLevel),
      clock: () => new Date(),
      workflows: new SfnWorkflowRunner(new SFNClient({}), stateMachineArns),
      scheduler,
      ...(webhooks ? { webhooks } : {}),
      invitations: config.invitations,
    };
  })().catch((error: unknown) => {
    // A failed start (bad configuration) is retried by the next invocation, not cached.
    deps = undefined;
    throw error;
  });
  return deps;
}
