/**
 * One Lambda per workflow (`functions/steps/<kind>-steps.ts`), running every Task of that workflow
 * so that a run has one cold start. Each may use the Data API on the cluster and read its secret,
 * and gets more (sending notifications, writing backups) only when a Task of its own workflow
 * needs it. Each one's timeout is the largest the `TimeoutSeconds` of its Tasks allow
 * (lib/step-timeouts.ts); each Task is held to its own deadline inside the function.
 */
import { Duration } from "aws-cdk-lib";
import type * as lambda from "aws-cdk-lib/aws-lambda";
import type * as logs from "aws-cdk-lib/aws-logs";
import { Construct } from "constructs";
import type { LambdaEnvironment } from "../../functions/shared/config.ts";
import {
  functionArnSubstitution,
  WORKFLOW_TASKS,
  type WorkflowName,
  workflowLambda,
} from "../../functions/workflows/step-catalog.ts";
import type { BackupAccess, Backups } from "./backups.ts";
import type { Database } from "./database.ts";
import type { Notifications } from "./notifications.ts";
import { ServiceFunction } from "./service-function.ts";

/** What a step may use beyond the database. */
export type StepResource = "notifications" | BackupAccess;

/**
 * The Tasks that need more than the database, by Task state name (what their domain code calls:
 * `deps.notifications` in AWS is the SQS queue, `deps.backups` the S3 bucket).
 */
export const TASK_RESOURCES: Readonly<Record<string, readonly StepResource[]>> = {
  // The welcome notification to the tenant admin.
  PostProvisioningStep: ["notifications"],
  NotifyUsers: ["notifications"],
  // Deprovisioning writes the backup and, with preserveAuditLogs, the audit-log archive; CleanupData
  // deletes the backup objects that are not preserved; restore reads a backup.
  BackupData: ["backups:write"],
  CleanupAuditLogs: ["backups:write"],
  CleanupData: ["backups:delete"],
  VerifyBackup: ["backups:read"],
  RestoreData: ["backups:read"],
};

/** What each workflow's Lambda may use beyond the database: what its own Tasks need, no more. */
export const STEP_RESOURCES: Readonly<Record<string, readonly StepResource[]>> = Object.fromEntries(
  (Object.keys(WORKFLOW_TASKS) as WorkflowName[]).map((kind) => [
    workflowLambda(kind),
    [...new Set(WORKFLOW_TASKS[kind].flatMap((task: string) => TASK_RESOURCES[task] ?? []))],
  ]),
);

export interface StepFunctionsProps {
  /** The step module names (`functions/steps/<name>.ts`) and their entry paths. */
  readonly steps: readonly { readonly name: string; readonly entry: string }[];
  readonly database: Database;
  readonly notifications: Notifications;
  readonly backups: Backups;
  readonly logRetention: logs.RetentionDays;
  /** Each step Lambda's timeout in seconds (`stepLambdaTimeouts`, derived from the ASL). */
  readonly timeoutSeconds: ReadonlyMap<string, number>;
  /** Each step Lambda's shortest Task deadline in seconds (`shortestTaskDeadlines`). */
  readonly shortestDeadlineSeconds: ReadonlyMap<string, number>;
}

export class StepFunctions extends Construct {
  /** The step Lambdas by module name. */
  readonly functions: ReadonlyMap<string, lambda.Function>;

  constructor(scope: Construct, id: string, props: StepFunctionsProps) {
    super(scope, id);
    const functions = new Map<string, lambda.Function>();
    for (const step of props.steps) {
      const needs = STEP_RESOURCES[step.name] ?? [];
      const backupAccess = needs.filter((n): n is BackupAccess => n.startsWith("backups:"));
      const timeoutSeconds = props.timeoutSeconds.get(step.name);
      const shortest = props.shortestDeadlineSeconds.get(step.name);
      if (timeoutSeconds === undefined || shortest === undefined)
        throw new Error(`no Task of the workflows invokes step Lambda ${step.name}`);
      const environment: LambdaEnvironment = {
        ...props.database.dataApiEnvironment,
        ...(needs.includes("notifications")
          ? { NOTIFICATIONS_QUEUE_URL: props.notifications.queue.queueUrl }
          : {}),
        ...(backupAccess.length > 0
          ? {
              BACKUP_BUCKET_NAME: props.backups.bucket.bucketName,
              BACKUP_KMS_KEY_ID: props.backups.key.keyArn,
            }
          : {}),
        // Wait for a resuming database at most a third of the shortest Task's time; the state's
        // Retry does the rest.
        DATABASE_RESUME_WAIT_SECONDS: String(Math.min(60, Math.floor(shortest / 3))),
      };

      // Construct ids from the ASL substitution name: `ProvisioningStepsFunctionArn` → `ProvisioningSteps`.
      const constructId = functionArnSubstitution(step.name).replace(/FunctionArn$/, "");
      const fn = new ServiceFunction(this, constructId, {
        entry: step.entry,
        description: `Tenant provisioning: every Task of a workflow (${step.name})`,
        environment,
        timeout: Duration.seconds(timeoutSeconds),
        logRetention: props.logRetention,
      }).function;
      props.database.grantDataApiAccess(fn);
      if (needs.includes("notifications")) props.notifications.grantSend(fn);
      if (backupAccess.length > 0) props.backups.grantBackups(fn, backupAccess);
      functions.set(step.name, fn);
    }
    this.functions = functions;
  }
}
