/**
 * A workflow's one Lambda handler: its dependencies (Data API database, notification channel,
 * backup store) are built once per container, on the first invocation, and each invocation runs
 * the Task its input names within that Task's own deadline.
 */
import { S3Client } from "@aws-sdk/client-s3";
import { SFNClient } from "@aws-sdk/client-sfn";
import { SQSClient } from "@aws-sdk/client-sqs";
import { openDatabase } from "../db/client.ts";
import { S3BackupStore } from "../domain/backups/s3-backup-store.ts";
import { cellDirectoryFromConfig } from "../domain/cells/cell-directory.ts";
import { outboxChannel } from "../domain/notifications/notification-channel.ts";
import { sqsNotificationChannel } from "../domain/notifications/sqs-notification-channel.ts";
import type { StepDeps, StepHandler } from "../domain/steps/step-deps.ts";
import { loadConfig } from "../shared/config.ts";
import { createLogger } from "../shared/logger.ts";
import { SfnWorkflowRunner } from "../workflows/sfn-workflow-runner.ts";
import type { WorkflowName } from "../workflows/step-catalog.ts";
import { taskDeadlines } from "../workflows/task-timeouts.ts";
import { taskOf, workflowTaskHandler } from "./index.ts";

let deps: Promise<StepDeps> | undefined;

export function productionStepDeps(): Promise<StepDeps> {
  deps ??= (async () => {
    const config = loadConfig();
    const { db } = await openDatabase(config.database);
    const queueUrl = config.deprovisioning.notificationsQueueUrl;
    const bucket = config.deprovisioning.backupBucket;
    // A batch's iteration starts child provisioning runs (CDK sets the ARN on the batch's Lambda only).
    const provisioningArn = config.stateMachineArns.provisioning;
    return {
      db,
      // Each tenant's schema work goes to its cell (TENANT_CELLS; none: this database).
      cells: cellDirectoryFromConfig(db, config.cells),
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

/**
 * Ends the container as a Lambda timeout does: nothing of the invocation runs on (an open Data
 * API transaction is never committed and rolls back), and the Task fails so that its Retry/Catch
 * take over before its state's TimeoutSeconds.
 */
function endInvocation(task: string, seconds: number): never {
  console.error(JSON.stringify({ level: "error", msg: "task deadline passed", task, seconds }));
  process.exit(1);
}

export interface WorkflowLambdaOptions {
  readonly deps?: () => Promise<StepDeps>;
  /** Each Task's deadline in seconds; by default from the bundled ASL file. */
  readonly deadlines?: ReadonlyMap<string, number>;
  /** What happens when a Task passes its deadline (default: the container ends). */
  readonly onDeadline?: (task: string, seconds: number) => void;
}

/**
 * The handler of workflow `kind`'s one Lambda. Its configured timeout is the largest its Tasks
 * need; a Task with a shorter `TimeoutSeconds` must still give up before its state does, so each
 * invocation is held to its own Task's deadline (functions/workflows/task-timeouts.ts).
 */
export function workflowLambda(kind: WorkflowName, options: WorkflowLambdaOptions = {}): StepHandler {
  let handler: StepHandler | undefined;
  let deadlines = options.deadlines;
  const onDeadline = options.onDeadline ?? endInvocation;
  return async (input) => {
    const task = taskOf(input);
    deadlines ??= taskDeadlines(kind);
    const seconds = deadlines.get(task);
    const timer =
      seconds === undefined ? undefined : setTimeout(() => onDeadline(task, seconds), seconds * 1000);
    try {
      handler ??= workflowTaskHandler(kind, await (options.deps ?? productionStepDeps)());
      return await handler(input);
    } finally {
      clearTimeout(timer);
    }
  };
}
