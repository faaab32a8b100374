/**
 * One Lambda per step module the workflows run (the step catalog, `functions/steps/<lambda>.ts`).
 * Each may use the Data API on the cluster and read its secret, and only a step that needs more
 * (sending notifications, writing backups) gets that too.
 */
import { Duration } from "aws-cdk-lib";
import type * as lambda from "aws-cdk-lib/aws-lambda";
import type * as logs from "aws-cdk-lib/aws-logs";
import { Construct } from "constructs";
import { functionArnSubstitution } from "../../functions/workflows/step-catalog.ts";
import type { BackupAccess, Backups } from "./backups.ts";
import type { Database } from "./database.ts";
import type { Notifications } from "./notifications.ts";
import { ServiceFunction } from "./service-function.ts";

/** What a step may use beyond the database. */
export type StepResource = "notifications" | BackupAccess;

/**
 * The steps that need more than the database, by module name (what their domain code calls:
 * `deps.notifications` in AWS is the SQS queue, `deps.backups` the S3 bucket).
 */
export const STEP_RESOURCES: Readonly<Record<string, readonly StepResource[]>> = {
  // The welcome notification to the tenant admin.
  "post-provisioning-step": ["notifications"],
  "notify-users": ["notifications"],
  // Deprovisioning writes the backup and, with preserveAuditLogs, the audit-log archive; CleanupData
  // deletes the backup objects that are not preserved; restore reads a backup.
  "backup-data": ["backups:write"],
  "cleanup-audit-logs": ["backups:write"],
  "cleanup-data": ["backups:delete"],
  "verify-backup": ["backups:read"],
  "restore-data": ["backups:read"],
};

export interface StepFunctionsProps {
  /** The step module names (`functions/steps/<name>.ts`) and their entry paths. */
  readonly steps: readonly { readonly name: string; readonly entry: string }[];
  readonly database: Database;
  readonly notifications: Notifications;
  readonly backups: Backups;
  readonly logRetention: logs.RetentionDays;
  /** Must not exceed the Task states' `TimeoutSeconds` in the ASL. */
  readonly timeout?: Duration;
}

export class StepFunctions extends Construct {
  /** The step Lambdas by module name. */
  readonly functions: ReadonlyMap<string, lambda.Function>;

  constructor(scope: Construct, id: string, props: StepFunctionsProps) {
    super(scope, id);
    const functions = new Map<string, lambda.Function>();
    for (const step of props.steps) {
      const needs = STEP_RESOURCES[step.name] ?? [];
      const environment: Record<string, string> = { ...props.database.dataApiEnvironment };
      if (needs.includes("notifications"))
        environment.NOTIFICATIONS_QUEUE_URL = props.notifications.queue.queueUrl;
      const backupAccess = needs.filter((n): n is BackupAccess => n.startsWith("backups:"));
      if (backupAccess.length > 0) {
        environment.BACKUP_BUCKET_NAME = props.backups.bucket.bucketName;
        environment.BACKUP_KMS_KEY_ID = props.backups.key.keyArn;
      }

      // Construct ids from the ASL substitution name: `CreateTenantFunctionArn` → `CreateTenant`.
      const constructId = functionArnSubstitution(step.name).replace(/FunctionArn$/, "");
      const fn = new ServiceFunction(this, constructId, {
        entry: step.entry,
        description: `Tenant provisioning step ${step.name}`,
        environment,
        timeout: props.timeout ?? Duration.minutes(5),
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
