/**
 * Turns a step factory into a Lambda handler whose dependencies (Data API database, notification
 * channel) are built once per container, on the first invocation.
 */
import { S3Client } from "@aws-sdk/client-s3";
import { SFNClient } from "@aws-sdk/client-sfn";
import { SQSClient } from "@aws-sdk/client-sqs";
import { openDatabase } from "../db/client.ts";
import { S3BackupStore } from "../domain/backups/s3-backup-store.ts";
import { outboxChannel } from "../domain/notifications/notification-channel.ts";
import { sqsNotificationChannel } from "../domain/notifications/sqs-notification-channel.ts";
import type { StepDeps, StepFactory, StepHandler } from "../domain/steps/step-deps.ts";
import { loadConfig } from "../shared/config.ts";
import { createLogger } from "../shared/logger.ts";
import { SfnWorkflowRunner } from "../workflows/sfn-workflow-runner.ts";

let deps: Promise<StepDeps> | undefined;

export function productionStepDeps(): Promise<StepDeps> {
  deps ??= (async () => {
    const config = loadConfig();
    const { db } = await openDatabase(config.database);
    const queueUrl = config.deprovisioning.notificationsQueueUrl;
    const bucket = config.deprovisioning.backupBucket;
    // A batch's iteration starts child provisioning runs (CDK sets the ARN on that step only).
    const provisioningArn = config.stateMachineArns.provisioning;
    return {
      db,
      logger: createLogger(config.logLevel),
      clock: () => new Date(),
      // The SQS queue when the step has one (NOTIFICATIONS_QUEUE_URL), else the outbox table.
      notifications: queueUrl ? sqsNotificationChannel(new SQSClient({}), queueUrl) : outboxChannel,
      lockTimeoutMs: config.stepLockTimeoutMs,
      ...(provisioningArn
        ? { workflows: new SfnWorkflowRunner(new SFNClient({}), { provisioning: provisioningArn }) }
        : {}),
      backupBudget: config.backupBudget,
      ...(bucket
        ? {
            backups: new S3BackupStore(new S3Client({}), {
              bucket,
              kmsKeyId: config.deprovisioning.backupKmsKeyId,
            }),
          }
        : {}),
    };
  })();
  return deps;
}

export function lambdaStep(factory: StepFactory): StepHandler {
  let handler: StepHandler | undefined;
  return async (input) => {
    handler ??= factory(await productionStepDeps());
    return handler(input);
  };
}
