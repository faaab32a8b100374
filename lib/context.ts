/**
 * Deploy-time settings from CDK context (`cdk.json` or `-c key=value`), parsed once and validated:
 * a malformed value fails the synth with a message naming it. Values given on the command line
 * arrive as strings, so numbers and booleans are coerced.
 */
import { z } from "zod";
import { loadConfig, type RetryPolicy } from "../functions/shared/config.ts";

const booleanFlag = z.union([z.boolean(), z.enum(["true", "false"]).transform((v) => v === "true")]);

const contextSchema = z.object({
  stackName: z
    .string()
    // At most 45 characters: the schedule group is named `<stackName>-tenant-operations` (64 max).
    .regex(/^[A-Za-z][A-Za-z0-9-]{0,44}$/, "must be a stack name of 1-45 letters, digits and hyphens")
    .default("TenantProvisioning"),
  deletionProtection: booleanFlag.default(true),
  dbMinCapacity: z.coerce.number().min(0).max(256).default(0.5),
  dbMaxCapacity: z.coerce.number().min(1).max(256).default(4),
  dbBackupRetentionDays: z.coerce.number().int().min(1).max(35).default(14),
  apiRateLimit: z.coerce.number().int().min(1).max(10_000).default(50),
  apiBurstLimit: z.coerce.number().int().min(1).max(5_000).default(100),
  alertEmail: z.email().optional(),
  stepRetryIntervalSeconds: z.string().optional(),
  stepRetryBackoffRate: z.string().optional(),
  stepRetryMaxAttempts: z.string().optional(),
  stepRetryMaxDelaySeconds: z.string().optional(),
});

export interface DeploySettings {
  readonly stackName: string;
  readonly deletionProtection: boolean;
  readonly database: {
    readonly minCapacity: number;
    readonly maxCapacity: number;
    readonly backupRetentionDays: number;
  };
  readonly apiThrottling: { readonly rateLimit: number; readonly burstLimit: number };
  readonly alertEmail?: string;
  /** Set when any `stepRetry*` key is given; the ASL's own values otherwise. */
  readonly retryPolicy?: RetryPolicy;
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
  if (c.dbMaxCapacity < c.dbMinCapacity)
    throw new Error("Invalid CDK context: dbMaxCapacity < dbMinCapacity");

  const retryGiven = [
    c.stepRetryIntervalSeconds,
    c.stepRetryBackoffRate,
    c.stepRetryMaxAttempts,
    c.stepRetryMaxDelaySeconds,
  ].some((v) => v !== undefined);
  // The same validation and defaults as the local runner's STEP_RETRY_* variables.
  const retryPolicy = retryGiven ? retryPolicyFromContext(c) : undefined;

  return {
    stackName: c.stackName,
    deletionProtection: c.deletionProtection,
    database: {
      minCapacity: c.dbMinCapacity,
      maxCapacity: c.dbMaxCapacity,
      backupRetentionDays: c.dbBackupRetentionDays,
    },
    apiThrottling: { rateLimit: c.apiRateLimit, burstLimit: c.apiBurstLimit },
    ...(c.alertEmail ? { alertEmail: c.alertEmail } : {}),
    ...(retryPolicy ? { retryPolicy } : {}),
  };
}
