/**
 * One Lambda per step module the workflows run (the step catalog, `functions/steps/<lambda>.ts`).
 * Each may use the Data API on the cluster and read its secret, and only a step that needs more
 * (sending notifications, writing backups) gets that too. Each one's timeout comes from the
 * `TimeoutSeconds` of the Tasks that invoke it (lib/step-timeouts.ts).
 */
import { Duration } from "aws-cdk-lib";
import type * as lambda from "aws-cdk-lib/aws-lambda";
import type * as logs from "aws-cdk-lib/aws-logs";
import { Construct } from "constructs";
import type { LambdaEnvironment } from "../../functions/shared/config.ts";
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
  /** Each step Lambda's timeout in seconds (`stepLambdaTimeouts`, derived from the ASL). */
  readonly timeoutSeconds: ReadonlyMap<string, number>;
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
      if (timeoutSeconds === undefined)
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
        // Wait for a resuming database at most a third of the invocation; the state's Retry does the rest.
        DATABASE_RESUME_WAIT_SECONDS: String(Math.min(60, Math.floor(timeoutSeconds / 3))),
      };

      // Construct ids from the ASL substitution name: `CreateTenantFunctionArn` → `CreateTenant`.
      const constructId = functionArnSubstitution(step.name).replace(/FunctionArn$/, "");
      const fn = new ServiceFunction(this, constructId, {
        entry: step.entry,
        description: `Tenant provisioning step ${step.name}`,
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
