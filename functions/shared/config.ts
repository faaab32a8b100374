import { z } from "zod";

/**
 * Where the control-plane database lives. Exactly one of these is chosen from the environment:
 * an AWS Aurora cluster through the RDS Data API, any PostgreSQL server, or the embedded PGlite.
 */
export type DatabaseConfig =
  | { readonly kind: "pglite"; readonly dataDir: string }
  | { readonly kind: "postgres"; readonly url: string }
  | {
      readonly kind: "data-api";
      readonly clusterArn: string;
      readonly secretArn: string;
      readonly database: string;
    };

/** Native Step Functions retry policy for transient step errors (the ASL holds the defaults). */
export interface RetryPolicy {
  readonly intervalSeconds: number;
  readonly backoffRate: number;
  readonly maxAttempts: number;
  readonly maxDelaySeconds: number;
}

/** The periodic operations sweep: alerts and retention. */
export interface OperationsConfig {
  /** A run still `running` this many minutes after it started raises an alert. */
  readonly longRunningMinutes: number;
  /** Finished progress records older than this are deleted (their audit logs stay). */
  readonly retentionDays: number;
  /** How often the local server runs the sweep (in AWS an EventBridge rule sets the pace). */
  readonly sweepIntervalSeconds: number;
  /** The SNS topic alerts are published to (AWS only). */
  readonly alertTopicArn: string | null;
}

/**
 * Deprovisioning's AWS resources (all unset locally, where backups go to `$DATA_DIR/backups/`,
 * notifications to the outbox table and schedules to `scheduled_operations`) and the local
 * runtime's background timers.
 */
export interface DeprovisioningConfig {
  /** S3 bucket for tenant backups (SSE-KMS). */
  readonly backupBucket: string | null;
  /** KMS key for the backups; unset: the bucket's default key. */
  readonly backupKmsKeyId: string | null;
  /** SQS queue for notifications to tenant users. */
  readonly notificationsQueueUrl: string | null;
  /** EventBridge Scheduler group and the role its schedules run as. */
  readonly scheduleGroupName: string | null;
  readonly schedulerRoleArn: string | null;
  /** How often the local server looks for due scheduled operations. */
  readonly schedulePollIntervalMs: number;
  /** How often the local outbox worker delivers queued notifications. */
  readonly outboxDrainIntervalMs: number;
}

/**
 * Lifecycle events and webhooks: the bus and the key of the signing secrets in AWS (unset locally,
 * where events are logged and secrets sealed under `$DATA_DIR/webhook-secrets.key`), and how
 * webhooks are delivered (both runtimes).
 */
export interface EventsConfig {
  /** The EventBridge bus events are published to (AWS only). */
  readonly eventBusName: string | null;
  /** The KMS key that seals webhook signing secrets (AWS only). */
  readonly webhookSecretsKeyId: string | null;
  /** The SQS queue for events the bus keeps refusing (AWS only). */
  readonly eventDeadLetterQueueUrl: string | null;
  /** How often the local server publishes events and delivers due webhooks (at the latest). */
  readonly pollIntervalMs: number;
  /** One webhook attempt's time limit. */
  readonly timeoutMs: number;
  /** First retry delay; doubles per attempt (with jitter) up to `retryMaxDelayMs`. */
  readonly retryBaseMs: number;
  readonly retryMaxDelayMs: number;
  /** How long a delivery is retried before it fails (a redelivery starts a new window). */
  readonly retryWindowMs: number;
  /** A subscription is disabled (with an alert) after this many failed attempts in a row … */
  readonly disableAfterFailures: number;
  /** … spanning at least this long without a success. */
  readonly disableAfterMs: number;
  /** Attempts in flight at once. */
  readonly concurrency: number;
}

export interface Config {
  readonly port: number;
  readonly dataDir: string;
  readonly database: DatabaseConfig;
  readonly logLevel: "debug" | "info" | "warn" | "error" | "silent";
  readonly retry: RetryPolicy;
  /** `lock_timeout` of a step's transaction; waiting longer is a transient error (retried). */
  readonly stepLockTimeoutMs: number;
  readonly operations: OperationsConfig;
  readonly deprovisioning: DeprovisioningConfig;
  readonly events: EventsConfig;
}

const optionalString = z
  .string()
  .trim()
  .transform((v) => (v === "" ? undefined : v))
  .optional();

const envSchema = z
  .object({
    PORT: z.coerce.number().int().min(0).max(65535).default(3000),
    DATA_DIR: z.string().trim().min(1).default(".data"),
    DATABASE_URL: optionalString.pipe(
      z
        .string()
        .regex(/^postgres(ql)?:\/\//, "must be a postgres:// or postgresql:// URL")
        .optional(),
    ),
    DB_CLUSTER_ARN: optionalString,
    DB_SECRET_ARN: optionalString,
    DB_NAME: optionalString,
    LOG_LEVEL: z.enum(["debug", "info", "warn", "error", "silent"]).default("info"),
    STEP_RETRY_INTERVAL_SECONDS: z.coerce.number().int().min(1).max(3600).default(2),
    STEP_RETRY_BACKOFF_RATE: z.coerce.number().min(1).max(10).default(2),
    STEP_RETRY_MAX_ATTEMPTS: z.coerce.number().int().min(0).max(20).default(4),
    STEP_RETRY_MAX_DELAY_SECONDS: z.coerce.number().int().min(1).max(86400).default(60),
    STEP_LOCK_TIMEOUT_MS: z.coerce.number().int().min(1).max(600_000).default(5000),
    ALERT_LONG_RUNNING_MINUTES: z.coerce.number().int().min(1).max(10080).default(30),
    PROGRESS_RETENTION_DAYS: z.coerce.number().int().min(1).max(3650).default(90),
    SWEEP_INTERVAL_SECONDS: z.coerce.number().int().min(1).max(86400).default(60),
    ALERT_TOPIC_ARN: optionalString.pipe(
      z
        .string()
        .regex(/^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[\w.-]+$/, "must be an SNS topic ARN")
        .optional(),
    ),
    BACKUP_BUCKET_NAME: optionalString.pipe(
      z
        .string()
        .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, "must be an S3 bucket name")
        .optional(),
    ),
    BACKUP_KMS_KEY_ID: optionalString,
    NOTIFICATIONS_QUEUE_URL: optionalString.pipe(
      z
        .string()
        .regex(/^https:\/\/\S+$/, "must be an https:// SQS queue URL")
        .optional(),
    ),
    SCHEDULE_GROUP_NAME: optionalString.pipe(
      z
        .string()
        .regex(/^[0-9a-zA-Z-_.]{1,64}$/, "must be a schedule group name")
        .optional(),
    ),
    SCHEDULER_ROLE_ARN: optionalString.pipe(
      z
        .string()
        .regex(/^arn:aws[a-z-]*:iam::\d{12}:role\/\S+$/, "must be an IAM role ARN")
        .optional(),
    ),
    SCHEDULE_POLL_INTERVAL_MS: z.coerce.number().int().min(50).max(3_600_000).default(5000),
    OUTBOX_DRAIN_INTERVAL_MS: z.coerce.number().int().min(50).max(3_600_000).default(2000),
    EVENT_BUS_NAME: optionalString.pipe(
      z
        .string()
        .regex(/^[\w.\-/:]{1,1600}$/, "must be an EventBridge bus name or ARN")
        .optional(),
    ),
    WEBHOOK_SECRETS_KMS_KEY_ID: optionalString,
    EVENT_DLQ_URL: optionalString.pipe(
      z
        .string()
        .regex(/^https:\/\/\S+$/, "must be an https:// SQS queue URL")
        .optional(),
    ),
    WEBHOOK_POLL_INTERVAL_MS: z.coerce.number().int().min(10).max(3_600_000).default(1000),
    // The Standard Webhooks spec recommends a 15 to 30 s timeout.
    WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(30_000).default(15_000),
    WEBHOOK_RETRY_BASE_MS: z.coerce.number().int().min(10).max(3_600_000).default(5000),
    WEBHOOK_RETRY_MAX_DELAY_MS: z.coerce.number().int().min(10).max(86_400_000).default(21_600_000),
    WEBHOOK_RETRY_WINDOW_SECONDS: z.coerce.number().int().min(1).max(2_592_000).default(259_200),
    WEBHOOK_DISABLE_AFTER_FAILURES: z.coerce.number().int().min(1).max(10_000).default(20),
    WEBHOOK_DISABLE_AFTER_SECONDS: z.coerce.number().int().min(0).max(2_592_000).default(259_200),
    WEBHOOK_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(8),
  })
  .superRefine((env, ctx) => {
    const dataApi = [env.DB_CLUSTER_ARN, env.DB_SECRET_ARN, env.DB_NAME];
    const given = dataApi.filter((v) => v !== undefined).length;
    if (given > 0 && given < 3) {
      for (const key of ["DB_CLUSTER_ARN", "DB_SECRET_ARN", "DB_NAME"] as const) {
        if (env[key] === undefined) {
          ctx.addIssue({
            code: "custom",
            path: [key],
            message: "DB_CLUSTER_ARN, DB_SECRET_ARN and DB_NAME must be set together",
          });
        }
      }
    }
    if (given === 3 && env.DATABASE_URL !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["DATABASE_URL"],
        message: "set either DATABASE_URL or the DB_* Data API variables, not both",
      });
    }
  });

/** Thrown when the environment does not describe a valid configuration. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/**
 * Parses the environment once. A malformed variable fails fast with a message naming it.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join(".") || "(environment)"}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join("\n")}`);
  }
  const e = parsed.data;
  let database: DatabaseConfig;
  if (e.DB_CLUSTER_ARN && e.DB_SECRET_ARN && e.DB_NAME) {
    database = {
      kind: "data-api",
      clusterArn: e.DB_CLUSTER_ARN,
      secretArn: e.DB_SECRET_ARN,
      database: e.DB_NAME,
    };
  } else if (e.DATABASE_URL) {
    database = { kind: "postgres", url: e.DATABASE_URL };
  } else {
    database = { kind: "pglite", dataDir: `${e.DATA_DIR}/pglite` };
  }
  return {
    port: e.PORT,
    dataDir: e.DATA_DIR,
    database,
    logLevel: e.LOG_LEVEL,
    retry: {
      intervalSeconds: e.STEP_RETRY_INTERVAL_SECONDS,
      backoffRate: e.STEP_RETRY_BACKOFF_RATE,
      maxAttempts: e.STEP_RETRY_MAX_ATTEMPTS,
      maxDelaySeconds: e.STEP_RETRY_MAX_DELAY_SECONDS,
    },
    stepLockTimeoutMs: e.STEP_LOCK_TIMEOUT_MS,
    operations: {
      longRunningMinutes: e.ALERT_LONG_RUNNING_MINUTES,
      retentionDays: e.PROGRESS_RETENTION_DAYS,
      sweepIntervalSeconds: e.SWEEP_INTERVAL_SECONDS,
      alertTopicArn: e.ALERT_TOPIC_ARN ?? null,
    },
    deprovisioning: {
      backupBucket: e.BACKUP_BUCKET_NAME ?? null,
      backupKmsKeyId: e.BACKUP_KMS_KEY_ID ?? null,
      notificationsQueueUrl: e.NOTIFICATIONS_QUEUE_URL ?? null,
      scheduleGroupName: e.SCHEDULE_GROUP_NAME ?? null,
      schedulerRoleArn: e.SCHEDULER_ROLE_ARN ?? null,
      schedulePollIntervalMs: e.SCHEDULE_POLL_INTERVAL_MS,
      outboxDrainIntervalMs: e.OUTBOX_DRAIN_INTERVAL_MS,
    },
    events: {
      eventBusName: e.EVENT_BUS_NAME ?? null,
      webhookSecretsKeyId: e.WEBHOOK_SECRETS_KMS_KEY_ID ?? null,
      eventDeadLetterQueueUrl: e.EVENT_DLQ_URL ?? null,
      pollIntervalMs: e.WEBHOOK_POLL_INTERVAL_MS,
      timeoutMs: e.WEBHOOK_TIMEOUT_MS,
      retryBaseMs: e.WEBHOOK_RETRY_BASE_MS,
      retryMaxDelayMs: e.WEBHOOK_RETRY_MAX_DELAY_MS,
      retryWindowMs: e.WEBHOOK_RETRY_WINDOW_SECONDS * 1000,
      disableAfterFailures: e.WEBHOOK_DISABLE_AFTER_FAILURES,
      disableAfterMs: e.WEBHOOK_DISABLE_AFTER_SECONDS * 1000,
      concurrency: e.WEBHOOK_CONCURRENCY,
    },
  };
}
