import { z } from "zod";
import type { WorkflowName } from "../workflows/step-catalog.ts";

/**
 * Where the control-plane database lives. Exactly one of these is chosen from the environment:
 * an AWS Aurora cluster through the RDS Data API, any PostgreSQL server, or the embedded PGlite.
 */
export type DatabaseConfig =
  | { readonly kind: "pglite"; readonly dataDir: string }
  | {
      readonly kind: "postgres";
      readonly url: string;
      /**
       * Connections are closed and replaced after this long (`DATABASE_CONNECTION_MAX_LIFETIME_SECONDS`;
       * 0: never): PostgreSQL caches every relation a connection has touched for the connection's
       * life, so with thousands of tenant schemas a connection kept for days would grow to hundreds
       * of MB.
       */
      readonly connectionMaxLifetimeSeconds?: number;
    }
  | {
      readonly kind: "data-api";
      readonly clusterArn: string;
      readonly secretArn: string;
      readonly database: string;
      /**
       * How long one call waits for an auto-paused cluster to resume (`DATABASE_RESUME_WAIT_SECONDS`,
       * functions/db/resume-wait.ts); unset: no wait.
       */
      readonly resumeWaitSeconds?: number;
    };

/**
 * A cell: a tenant database besides the control plane's own (`main`), where the schemas of the
 * tenants placed on it live (functions/domain/cells/). Locally any PostgreSQL database; on AWS an
 * Aurora cluster reached through the Data API with its own ARNs.
 */
export interface CellConfig {
  readonly name: string;
  readonly database: Extract<DatabaseConfig, { kind: "postgres" | "data-api" }>;
}

/** The control-plane database's own cell: every tenant is on it unless TENANT_CELLS names others. */
export const CONTROL_PLANE_CELL = "main";

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
  /**
   * Every tenant's limits are checked at least once per this period; each sweep checks a batch of
   * tenants, round-robin (functions/domain/operations/alert-checks.ts `checkTenantLimits`).
   */
  readonly limitCheckPeriodSeconds: number;
  /** Tenants one sweep checks at most: the bound on one sweep's work whatever the fleet's size. */
  readonly limitCheckMaxBatch: number;
  /** The SNS topic alerts are published to (AWS only). */
  readonly alertTopicArn: string | null;
  /**
   * A schedule still `scheduled` this many minutes after it fell due was not started by its
   * scheduler (EventBridge Scheduler, or the local poller): the sweep starts it and raises an alert.
   */
  readonly scheduleOverdueMinutes: number;
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
  /** The SQS queue EventBridge Scheduler sends a schedule's event to when it cannot start it. */
  readonly scheduleDeadLetterQueueArn: string | null;
}

/** Delivering notifications: SES in AWS, SMTP or the log locally. */
export interface NotificationDeliveryConfig {
  /** The verified SES identity messages are sent from (AWS sender Lambda). */
  readonly senderAddress: string | null;
  /** The SES configuration set (event publishing, suppression) messages are sent with. */
  readonly sesConfigurationSet: string | null;
  /** Locally: deliver the outbox by SMTP (`smtp://` or `smtps://`, credentials in the URL). */
  readonly smtpUrl: string | null;
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

/** Invitations of tenant admins provisioned without a password. */
export interface InvitationsConfig {
  /**
   * The set-password page the welcome notification links to (`INVITATION_BASE_URL`); the token is
   * added as the `token` query parameter. Unset: provisioning without an admin password is refused.
   */
  readonly baseUrl: string | null;
  /** How long an invitation's link works after the welcome notification issued it. */
  readonly ttlHours: number;
}

export interface Config {
  readonly port: number;
  readonly dataDir: string;
  readonly database: DatabaseConfig;
  /** The cells besides `main` (`TENANT_CELLS`; none: the control-plane database is the only cell). */
  readonly cells: readonly CellConfig[];
  readonly logLevel: "debug" | "info" | "warn" | "error" | "silent";
  readonly retry: RetryPolicy;
  /**
   * Retry policy for `DatabaseUnavailableError` (an Aurora instance resuming, a failover, a Data
   * API 5xx): long enough for the database to come back.
   */
  readonly unavailableRetry: RetryPolicy;
  /** `lock_timeout` of a step's transaction; waiting longer is a transient error (retried). */
  readonly stepLockTimeoutMs: number;
  /** How much one BackupData or RestoreData invocation does (the loop's budget). */
  readonly backupBudget: {
    readonly pageBytes: number;
    readonly pagesPerInvocation: number;
    readonly invocationMs: number;
  };
  readonly operations: OperationsConfig;
  readonly deprovisioning: DeprovisioningConfig;
  readonly notifications: NotificationDeliveryConfig;
  /** The state machine of each workflow (AWS; locally the ASL runs in-process). */
  readonly stateMachineArns: Readonly<Partial<Record<WorkflowName, string>>>;
  readonly events: EventsConfig;
  readonly invitations: InvitationsConfig;
}

/**
 * The environment variable that holds each workflow's state machine ARN. CDK sets it from this
 * table and the API reads it through `loadConfig`, so neither side spells the name; a workflow
 * missing here is a compile error.
 */
export const STATE_MACHINE_ARN_VARIABLES = {
  provisioning: "PROVISIONING_STATE_MACHINE_ARN",
  deprovisioning: "DEPROVISIONING_STATE_MACHINE_ARN",
  restore: "RESTORE_STATE_MACHINE_ARN",
  batch: "BATCH_STATE_MACHINE_ARN",
  upgrade: "UPGRADE_STATE_MACHINE_ARN",
  rollout: "ROLLOUT_STATE_MACHINE_ARN",
} as const satisfies Record<WorkflowName, `${Uppercase<WorkflowName>}_STATE_MACHINE_ARN`>;

/** The environment variable holding a workflow's state machine ARN. */
export function stateMachineArnVariable(
  kind: WorkflowName,
): (typeof STATE_MACHINE_ARN_VARIABLES)[WorkflowName] {
  return STATE_MACHINE_ARN_VARIABLES[kind];
}

const optionalString = z
  .string()
  .trim()
  .transform((v) => (v === "" ? undefined : v))
  .optional();

const stateMachineArn = optionalString.pipe(
  z
    .string()
    .regex(/^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:stateMachine:[\w-]+$/, "must be a state machine ARN")
    .optional(),
);

/** A directory a Lambda bundle ships (CDK points these at `/var/task/<dir>`, lib/bundling.ts). */
const bundledDirectory = optionalString.pipe(
  z
    .string()
    .regex(/^\/\S*$/, "must be an absolute path")
    .optional(),
);

/** A cell name: what TENANT_CELLS accepts, and what the API takes as a cell. */
export const CELL_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
const cellEntry = z.union([
  z.object({
    name: z.string().regex(CELL_NAME, "a cell name is lower-case letters, digits and dashes"),
    url: z.string().regex(/^postgres(ql)?:\/\//, "must be a postgres:// or postgresql:// URL"),
  }),
  z.object({
    name: z.string().regex(CELL_NAME, "a cell name is lower-case letters, digits and dashes"),
    clusterArn: z
      .string()
      .regex(/^arn:aws[a-z-]*:rds:[a-z0-9-]+:\d{12}:cluster:[\w-]+$/, "must be an Aurora cluster ARN"),
    secretArn: z
      .string()
      .regex(/^arn:aws[a-z-]*:secretsmanager:\S+$/, "must be a Secrets Manager secret ARN"),
    database: z.string().min(1),
  }),
]);

/**
 * `TENANT_CELLS`: the cells besides `main`, either a JSON array (`[{"name","url"}]` for PostgreSQL,
 * `[{"name","clusterArn","secretArn","database"}]` for Aurora through the Data API: what CDK
 * writes), or a comma-separated list of `name=postgres://…` (the name may be left out: the URL's
 * database name is used).
 */
const tenantCells = optionalString.transform((value, ctx): CellConfig[] => {
  if (value === undefined) return [];
  let entries: unknown[];
  if (value.startsWith("[")) {
    try {
      entries = JSON.parse(value) as unknown[];
    } catch {
      ctx.addIssue({ code: "custom", message: "is not valid JSON" });
      return z.NEVER;
    }
  } else {
    entries = value.split(",").map((part) => {
      const item = part.trim();
      const eq = item.indexOf("=");
      const url = eq > 0 && !item.slice(0, eq).includes(":") ? item.slice(eq + 1) : item;
      const name = eq > 0 && !item.slice(0, eq).includes(":") ? item.slice(0, eq) : databaseNameOf(url);
      return { name, url };
    });
  }
  const parsed = z.array(cellEntry).safeParse(entries);
  if (!parsed.success) {
    for (const issue of parsed.error.issues)
      ctx.addIssue({ code: "custom", message: `${issue.path.join(".")}: ${issue.message}` });
    return z.NEVER;
  }
  const cells = parsed.data.map(
    (e): CellConfig =>
      "url" in e
        ? { name: e.name, database: { kind: "postgres", url: e.url } }
        : {
            name: e.name,
            database: {
              kind: "data-api",
              clusterArn: e.clusterArn,
              secretArn: e.secretArn,
              database: e.database,
            },
          },
  );
  const names = cells.map((c) => c.name);
  if (names.includes(CONTROL_PLANE_CELL)) {
    ctx.addIssue({
      code: "custom",
      message: `"${CONTROL_PLANE_CELL}" is the control-plane database's own cell`,
    });
  }
  const repeated = names.filter((n, i) => names.indexOf(n) !== i);
  if (repeated.length > 0) ctx.addIssue({ code: "custom", message: `cell ${repeated[0]} is named twice` });
  return cells;
});

/** The database name of a postgres:// URL, as a cell name ("" when it has none). */
function databaseNameOf(url: string): string {
  try {
    return decodeURIComponent(new URL(url).pathname.slice(1)).toLowerCase().replace(/_/g, "-");
  } catch {
    return "";
  }
}

/** Every variable the service reads, and how each is validated. */
const envShape = {
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  DATA_DIR: z.string().trim().min(1).default(".data"),
  DATABASE_URL: optionalString.pipe(
    z
      .string()
      .regex(/^postgres(ql)?:\/\//, "must be a postgres:// or postgresql:// URL")
      .optional(),
  ),
  TENANT_CELLS: tenantCells,
  DB_CLUSTER_ARN: optionalString,
  DB_SECRET_ARN: optionalString,
  DB_NAME: optionalString,
  LOG_LEVEL: z.enum(["debug", "info", "warn", "error", "silent"]).default("info"),
  STEP_RETRY_INTERVAL_SECONDS: z.coerce.number().int().min(1).max(3600).default(2),
  STEP_RETRY_BACKOFF_RATE: z.coerce.number().min(1).max(10).default(2),
  STEP_RETRY_MAX_ATTEMPTS: z.coerce.number().int().min(0).max(20).default(4),
  STEP_RETRY_MAX_DELAY_SECONDS: z.coerce.number().int().min(1).max(86400).default(60),
  STEP_DB_UNAVAILABLE_RETRY_INTERVAL_SECONDS: z.coerce.number().int().min(1).max(3600).default(15),
  STEP_DB_UNAVAILABLE_RETRY_BACKOFF_RATE: z.coerce.number().min(1).max(10).default(2),
  STEP_DB_UNAVAILABLE_RETRY_MAX_ATTEMPTS: z.coerce.number().int().min(0).max(20).default(4),
  STEP_DB_UNAVAILABLE_RETRY_MAX_DELAY_SECONDS: z.coerce.number().int().min(1).max(86400).default(60),
  STEP_LOCK_TIMEOUT_MS: z.coerce.number().int().min(1).max(600_000).default(5000),
  // A page is answered base64-encoded (4/3 of its bytes): 512 KiB stays under the 1 MiB response.
  BACKUP_PAGE_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(512 * 1024)
    .default(256 * 1024),
  BACKUP_PAGES_PER_INVOCATION: z.coerce.number().int().min(1).max(10_000).default(64),
  // Well under the BackupData / RestoreData Lambdas' 300 s timeout (the ASL's TimeoutSeconds).
  BACKUP_INVOCATION_SECONDS: z.coerce.number().int().min(1).max(200).default(60),
  ALERT_LONG_RUNNING_MINUTES: z.coerce.number().int().min(1).max(10080).default(30),
  PROGRESS_RETENTION_DAYS: z.coerce.number().int().min(1).max(3650).default(90),
  SWEEP_INTERVAL_SECONDS: z.coerce.number().int().min(1).max(86400).default(60),
  TENANT_LIMIT_CHECK_PERIOD_SECONDS: z.coerce
    .number()
    .int()
    .min(60)
    .max(7 * 86400)
    .default(3600),
  TENANT_LIMIT_CHECK_MAX_BATCH: z.coerce.number().int().min(1).max(100_000).default(1000),
  DATABASE_CONNECTION_MAX_LIFETIME_SECONDS: z.coerce.number().int().min(0).max(86400).default(300),
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
  SCHEDULE_DEAD_LETTER_QUEUE_ARN: optionalString.pipe(
    z
      .string()
      .regex(/^arn:aws[a-z-]*:sqs:[a-z0-9-]+:\d{12}:[\w-]+$/, "must be an SQS queue ARN")
      .optional(),
  ),
  SCHEDULE_OVERDUE_MINUTES: z.coerce.number().int().min(1).max(1440).default(15),
  NOTIFICATION_SENDER: optionalString.pipe(z.email("must be an e-mail address").optional()),
  SES_CONFIGURATION_SET: optionalString.pipe(
    z
      .string()
      .regex(/^[\w-]{1,64}$/, "must be an SES configuration set name")
      .optional(),
  ),
  SMTP_URL: optionalString.pipe(
    z
      .string()
      .regex(/^smtps?:\/\/\S+$/, "must be an smtp:// or smtps:// URL")
      .optional(),
  ),
  [STATE_MACHINE_ARN_VARIABLES.provisioning]: stateMachineArn,
  [STATE_MACHINE_ARN_VARIABLES.deprovisioning]: stateMachineArn,
  [STATE_MACHINE_ARN_VARIABLES.restore]: stateMachineArn,
  [STATE_MACHINE_ARN_VARIABLES.batch]: stateMachineArn,
  [STATE_MACHINE_ARN_VARIABLES.upgrade]: stateMachineArn,
  [STATE_MACHINE_ARN_VARIABLES.rollout]: stateMachineArn,
  // API Gateway gives up on an integration after 29 s; the API's Lambdas wait less (CDK sets it).
  DATABASE_RESUME_WAIT_SECONDS: z.coerce.number().int().min(0).max(600).default(20),
  MIGRATIONS_DIR: bundledDirectory,
  STATEMACHINES_DIR: bundledDirectory,
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
  INVITATION_BASE_URL: optionalString.pipe(
    z
      .url({ protocol: /^https?$/, message: "must be an http:// or https:// URL" })
      .refine((v) => !new URL(v).searchParams.has("token"), "must not carry a token parameter")
      .optional(),
  ),
  INVITATION_TTL_HOURS: z.coerce.number().int().min(1).max(720).default(72),
};

/** The name of an environment variable the service reads. */
export type EnvironmentVariable = keyof typeof envShape;

/** Every environment variable the service reads. */
export const ENVIRONMENT_VARIABLES = Object.keys(envShape) as EnvironmentVariable[];

export function isEnvironmentVariable(name: string): name is EnvironmentVariable {
  return (ENVIRONMENT_VARIABLES as string[]).includes(name);
}

/**
 * An environment for a Lambda, as CDK writes it: only names `loadConfig` reads, so a misspelt
 * variable is a compile error in `lib/`.
 */
export type LambdaEnvironment = Readonly<Partial<Record<EnvironmentVariable, string>>>;

const envSchema = z.object(envShape).superRefine((env, ctx) => {
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
  if (env.SMTP_URL !== undefined && env.NOTIFICATION_SENDER === undefined) {
    ctx.addIssue({
      code: "custom",
      path: ["NOTIFICATION_SENDER"],
      message: "the address messages are sent from is required with SMTP_URL",
    });
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
      resumeWaitSeconds: e.DATABASE_RESUME_WAIT_SECONDS,
    };
  } else if (e.DATABASE_URL) {
    database = {
      kind: "postgres",
      url: e.DATABASE_URL,
      connectionMaxLifetimeSeconds: e.DATABASE_CONNECTION_MAX_LIFETIME_SECONDS,
    };
  } else {
    database = { kind: "pglite", dataDir: `${e.DATA_DIR}/pglite` };
  }
  return {
    port: e.PORT,
    dataDir: e.DATA_DIR,
    database,
    cells: e.TENANT_CELLS.map((cell) =>
      cell.database.kind === "postgres"
        ? {
            ...cell,
            database: {
              ...cell.database,
              connectionMaxLifetimeSeconds: e.DATABASE_CONNECTION_MAX_LIFETIME_SECONDS,
            },
          }
        : { ...cell, database: { ...cell.database, resumeWaitSeconds: e.DATABASE_RESUME_WAIT_SECONDS } },
    ),
    logLevel: e.LOG_LEVEL,
    retry: {
      intervalSeconds: e.STEP_RETRY_INTERVAL_SECONDS,
      backoffRate: e.STEP_RETRY_BACKOFF_RATE,
      maxAttempts: e.STEP_RETRY_MAX_ATTEMPTS,
      maxDelaySeconds: e.STEP_RETRY_MAX_DELAY_SECONDS,
    },
    unavailableRetry: {
      intervalSeconds: e.STEP_DB_UNAVAILABLE_RETRY_INTERVAL_SECONDS,
      backoffRate: e.STEP_DB_UNAVAILABLE_RETRY_BACKOFF_RATE,
      maxAttempts: e.STEP_DB_UNAVAILABLE_RETRY_MAX_ATTEMPTS,
      maxDelaySeconds: e.STEP_DB_UNAVAILABLE_RETRY_MAX_DELAY_SECONDS,
    },
    stepLockTimeoutMs: e.STEP_LOCK_TIMEOUT_MS,
    backupBudget: {
      pageBytes: e.BACKUP_PAGE_BYTES,
      pagesPerInvocation: e.BACKUP_PAGES_PER_INVOCATION,
      invocationMs: e.BACKUP_INVOCATION_SECONDS * 1000,
    },
    operations: {
      longRunningMinutes: e.ALERT_LONG_RUNNING_MINUTES,
      retentionDays: e.PROGRESS_RETENTION_DAYS,
      sweepIntervalSeconds: e.SWEEP_INTERVAL_SECONDS,
      limitCheckPeriodSeconds: e.TENANT_LIMIT_CHECK_PERIOD_SECONDS,
      limitCheckMaxBatch: e.TENANT_LIMIT_CHECK_MAX_BATCH,
      alertTopicArn: e.ALERT_TOPIC_ARN ?? null,
      scheduleOverdueMinutes: e.SCHEDULE_OVERDUE_MINUTES,
    },
    deprovisioning: {
      backupBucket: e.BACKUP_BUCKET_NAME ?? null,
      backupKmsKeyId: e.BACKUP_KMS_KEY_ID ?? null,
      notificationsQueueUrl: e.NOTIFICATIONS_QUEUE_URL ?? null,
      scheduleGroupName: e.SCHEDULE_GROUP_NAME ?? null,
      schedulerRoleArn: e.SCHEDULER_ROLE_ARN ?? null,
      schedulePollIntervalMs: e.SCHEDULE_POLL_INTERVAL_MS,
      outboxDrainIntervalMs: e.OUTBOX_DRAIN_INTERVAL_MS,
      scheduleDeadLetterQueueArn: e.SCHEDULE_DEAD_LETTER_QUEUE_ARN ?? null,
    },
    notifications: {
      senderAddress: e.NOTIFICATION_SENDER ?? null,
      sesConfigurationSet: e.SES_CONFIGURATION_SET ?? null,
      smtpUrl: e.SMTP_URL ?? null,
    },
    stateMachineArns: Object.fromEntries(
      (Object.entries(STATE_MACHINE_ARN_VARIABLES) as [WorkflowName, EnvironmentVariable][]).flatMap(
        ([kind, variable]) => {
          const arn = e[variable];
          return typeof arn === "string" ? [[kind, arn]] : [];
        },
      ),
    ),
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
    invitations: { baseUrl: e.INVITATION_BASE_URL ?? null, ttlHours: e.INVITATION_TTL_HOURS },
  };
}

/**
 * A setting a Lambda cannot run without, or a ConfigError naming its variable (thrown at cold
 * start, when the Lambda builds its dependencies).
 */
export function requireSetting<T>(
  value: T | null | undefined,
  variable: EnvironmentVariable,
  usedBy: string,
): T {
  if (value === null || value === undefined) {
    throw new ConfigError(`Invalid configuration:\n  ${variable}: required by ${usedBy}`);
  }
  return value;
}

/** Every workflow's state machine ARN, or a ConfigError naming each missing variable. */
export function requireStateMachineArns(config: Config, usedBy: string): Record<WorkflowName, string> {
  const kinds = Object.keys(STATE_MACHINE_ARN_VARIABLES) as WorkflowName[];
  const missing = kinds.filter((kind) => config.stateMachineArns[kind] === undefined);
  if (missing.length > 0) {
    const lines = missing.map((kind) => `  ${STATE_MACHINE_ARN_VARIABLES[kind]}: required by ${usedBy}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join("\n")}`);
  }
  return Object.fromEntries(kinds.map((kind) => [kind, config.stateMachineArns[kind]])) as Record<
    WorkflowName,
    string
  >;
}

/**
 * A directory shipped inside a Lambda bundle (`MIGRATIONS_DIR`, `STATEMACHINES_DIR`), read where
 * the files are needed rather than through `loadConfig` (the readers are module-level helpers
 * shared with the local runtime, which never sets them). Validated like every other variable.
 */
export function bundledDirectoryFromEnv(
  variable: "MIGRATIONS_DIR" | "STATEMACHINES_DIR",
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  const parsed = envShape[variable].safeParse(env[variable]);
  if (!parsed.success) {
    throw new ConfigError(
      `Invalid configuration:\n  ${variable}: ${parsed.error.issues.map((i) => i.message).join("; ")}`,
    );
  }
  return parsed.data;
}
