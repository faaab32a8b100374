/**
 * Deploy-time settings from CDK context (`cdk.json` or `-c key=value`), parsed once and validated:
 * a malformed value fails the synth with a message naming it. Values given on the command line
 * arrive as strings, so numbers and booleans are coerced.
 */
import { z } from "zod";
import { loadConfig, type RetryPolicy } from "../functions/shared/config.ts";

const booleanFlag = z.union([z.boolean(), z.enum(["true", "false"]).transform((v) => v === "true")]);

/** Production stacks keep a warm database; others may pause it when idle (dbAutoPause). */
export const STAGES = ["production", "staging", "development"] as const;
export type Stage = (typeof STAGES)[number];

const contextSchema = z.object({
  stage: z.enum(STAGES).default("production"),
  stackName: z
    .string()
    // At most 45 characters: the schedule group is named `<stackName>-tenant-operations` (64 max).
    .regex(/^[A-Za-z][A-Za-z0-9-]{0,44}$/, "must be a stack name of 1-45 letters, digits and hyphens")
    .default("TenantProvisioning"),
  deletionProtection: booleanFlag.default(true),
  dbAutoPause: booleanFlag.optional(),
  dbAutoPauseAfterMinutes: z.coerce.number().int().min(5).max(1440).default(5),
  dbMinCapacity: z.coerce.number().min(0).max(256).optional(),
  dbMaxCapacity: z.coerce.number().min(1).max(256).default(4),
  dbBackupRetentionDays: z.coerce.number().int().min(1).max(35).default(14),
  apiRateLimit: z.coerce.number().int().min(1).max(10_000).default(50),
  apiBurstLimit: z.coerce.number().int().min(1).max(5_000).default(100),
  alertEmail: z.email().optional(),
  notificationSender: z.email().optional(),
  sesConfigurationSet: z
    .string()
    .regex(/^[\w-]{1,64}$/, "must be an SES configuration set name")
    .optional(),
  sweepIntervalMinutes: z.coerce.number().int().min(1).max(1440).optional(),
  /** The set-password page invitation links point to (the API's INVITATION_BASE_URL). */
  invitationBaseUrl: z.url({ protocol: /^https$/, message: "must be an https:// URL" }).optional(),
  stepRetryIntervalSeconds: z.string().optional(),
  stepRetryBackoffRate: z.string().optional(),
  stepRetryMaxAttempts: z.string().optional(),
  stepRetryMaxDelaySeconds: z.string().optional(),
  /** Cells besides `main`: an array in cdk.json, a JSON string with `-c` (checked by `tenantCellsFromContext`). */
  tenantCells: z.unknown().optional(),
});

/** A cell on AWS: an Aurora cluster reached through the Data API (what `TENANT_CELLS` holds in a Lambda). */
export interface TenantCell {
  readonly name: string;
  readonly clusterArn: string;
  readonly secretArn: string;
  readonly database: string;
}

export interface DeploySettings {
  readonly stage: Stage;
  readonly stackName: string;
  readonly deletionProtection: boolean;
  readonly database: {
    /** 0 with auto-pause (the instance pauses when idle), else at least 0.5. */
    readonly minCapacity: number;
    readonly maxCapacity: number;
    readonly backupRetentionDays: number;
    /** Idle time before an auto-paused instance pauses (with minCapacity 0). */
    readonly autoPauseAfterMinutes: number;
  };
  readonly apiThrottling: { readonly rateLimit: number; readonly burstLimit: number };
  readonly alertEmail?: string;
  /** Verified SES identity notifications are sent from; without it the sender is deployed paused. */
  readonly notificationSender?: string;
  readonly sesConfigurationSet?: string;
  /** The set-password page of admin invitations; without it, provisioning needs an admin password. */
  readonly invitationBaseUrl?: string;
  /** How often the sweep runs: every 5 minutes, hourly with auto-pause (so the database can pause). */
  readonly sweepIntervalMinutes: number;
  /** Set when any `stepRetry*` key is given; the ASL's own values otherwise. */
  readonly retryPolicy?: RetryPolicy;
  /** The cells besides `main` (`tenantCells`); empty: the control-plane database is the only cell. */
  readonly tenantCells: readonly TenantCell[];
}

const KEYS = Object.keys(contextSchema.shape) as (keyof typeof contextSchema.shape)[];

function retryPolicyFromContext(c: z.infer<typeof contextSchema>): RetryPolicy {
  try {
    return loadConfig({
      STEP_RETRY_INTERVAL_SECONDS: c.stepRetryIntervalSeconds,
      STEP_RETRY_BACKOFF_RATE: c.stepRetryBackoffRate,
      STEP_RETRY_MAX_ATTEMPTS: c.stepRetryMaxAttempts,
      STEP_RETRY_MAX_DELAY_SECONDS: c.stepRetryMaxDelaySeconds,
    }).retry;
  } catch (error) {
    // The message names STEP_RETRY_X; the context key is stepRetryX.
    throw new Error(`Invalid CDK context (stepRetry*): ${error instanceof Error ? error.message : error}`);
  }
}

/**
 * `tenantCells`, validated as the Lambdas will read it (`TENANT_CELLS` through `loadConfig`: names,
 * `main` reserved, no name twice, ARNs) so a bad value fails the synth rather than every cold start;
 * only Data API cells, since a Lambda outside a VPC cannot reach a postgres:// URL.
 */
function tenantCellsFromContext(value: unknown): TenantCell[] {
  if (value === undefined) return [];
  const text = typeof value === "string" ? value : JSON.stringify(value);
  const fail = (message: string): never => {
    throw new Error(`Invalid CDK context (tenantCells): ${message}`);
  };
  if (!text.trim().startsWith("["))
    fail('must be a JSON array of {"name","clusterArn","secretArn","database"}');
  let cells: ReturnType<typeof loadConfig>["cells"] = [];
  try {
    cells = loadConfig({ TENANT_CELLS: text }).cells;
  } catch (error) {
    fail(error instanceof Error ? error.message : String(error));
  }
  return cells.map((c) =>
    c.database.kind === "data-api"
      ? {
          name: c.name,
          clusterArn: c.database.clusterArn,
          secretArn: c.database.secretArn,
          database: c.database.database,
        }
      : fail(
          `cell ${c.name}: on AWS a cell is an Aurora cluster (clusterArn, secretArn, database), not a URL`,
        ),
  );
}

/** Reads the settings through `get` (e.g. `key => app.node.tryGetContext(key)`). */
export function deploySettings(get: (key: string) => unknown): DeploySettings {
  const raw = Object.fromEntries(
    KEYS.map((k) => {
      const v = get(k);
      return [k, typeof v === "number" && k.startsWith("stepRetry") ? String(v) : v];
    }).filter(([, v]) => v !== undefined),
  );
  const parsed = contextSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  -c ${i.path.join(".")}: ${i.message}`);
    throw new Error(`Invalid CDK context:\n${lines.join("\n")}`);
  }
  const c = parsed.data;
  // Auto-pause (minimum capacity 0) is on by default for stages other than production.
  const autoPause = c.dbAutoPause ?? c.stage !== "production";
  if (autoPause && c.dbMinCapacity !== undefined && c.dbMinCapacity !== 0) {
    throw new Error("Invalid CDK context: dbAutoPause needs dbMinCapacity 0 (or leave dbMinCapacity unset)");
  }
  if (!autoPause && c.dbMinCapacity !== undefined && c.dbMinCapacity < 0.5) {
    throw new Error("Invalid CDK context: dbMinCapacity below 0.5 needs dbAutoPause=true");
  }
  const minCapacity = autoPause ? 0 : (c.dbMinCapacity ?? 0.5);
  if (c.dbMaxCapacity < minCapacity) throw new Error("Invalid CDK context: dbMaxCapacity < dbMinCapacity");

  const retryGiven = [
    c.stepRetryIntervalSeconds,
    c.stepRetryBackoffRate,
    c.stepRetryMaxAttempts,
    c.stepRetryMaxDelaySeconds,
  ].some((v) => v !== undefined);
  // The same validation and defaults as the local runner's STEP_RETRY_* variables.
  const retryPolicy = retryGiven ? retryPolicyFromContext(c) : undefined;
  const tenantCells = tenantCellsFromContext(c.tenantCells);

  return {
    stage: c.stage,
    stackName: c.stackName,
    deletionProtection: c.deletionProtection,
    database: {
      minCapacity,
      maxCapacity: c.dbMaxCapacity,
      backupRetentionDays: c.dbBackupRetentionDays,
      autoPauseAfterMinutes: c.dbAutoPauseAfterMinutes,
    },
    apiThrottling: { rateLimit: c.apiRateLimit, burstLimit: c.apiBurstLimit },
    ...(c.alertEmail ? { alertEmail: c.alertEmail } : {}),
    ...(c.notificationSender ? { notificationSender: c.notificationSender } : {}),
    ...(c.sesConfigurationSet ? { sesConfigurationSet: c.sesConfigurationSet } : {}),
    ...(c.invitationBaseUrl ? { invitationBaseUrl: c.invitationBaseUrl } : {}),
    // The sweep reads the database: every 5 minutes it would keep an auto-paused cluster awake.
    sweepIntervalMinutes: c.sweepIntervalMinutes ?? (autoPause ? 60 : 5),
    ...(retryPolicy ? { retryPolicy } : {}),
    tenantCells,
  };
}
