/** Template upgrade rollouts: the request, its dry-run plan and the rollout as the API shows it. */
import { z } from "zod";
import { INT4_MAX, isoDateTime, pageSchema, paginationQuerySchema, uuidSchema } from "./common.ts";

/** Tenants one rollout takes at most (the rest wait for the next rollout; see docs). */
export const MAX_ROLLOUT_TENANTS = 1000;
/** Upgrades in flight at once at most (an inline Map's practical limit in Step Functions). */
export const MAX_ROLLOUT_CONCURRENCY = 40;

export const ROLLOUT_STATUSES = ["running", "pausing", "paused", "completed", "halted", "aborted"] as const;
export type RolloutStatus = (typeof ROLLOUT_STATUSES)[number];
export const ROLLOUT_TENANT_STATUSES = ["pending", "running", "upgraded", "failed", "skipped"] as const;
export type RolloutTenantStatus = (typeof ROLLOUT_TENANT_STATUSES)[number];

const slugOrId = z.string().trim().min(1).max(63);

export const rolloutRequestSchema = z.strictObject({
  templateId: uuidSchema,
  /** The version to move to; the template's current version by default. */
  targetVersion: z.number().int().positive().max(INT4_MAX).optional(),
  /** The first wave: this many tenants, or these tenants (ids or slugs); 0 or [] for none. */
  canary: z
    .union([
      z.number().int().min(0).max(MAX_ROLLOUT_TENANTS),
      z
        .array(slugOrId)
        .max(100)
        .refine((a) => new Set(a).size === a.length, "canary tenants must not repeat"),
    ])
    .default(1),
  /** Tenants per wave after the canary. */
  waveSize: z.number().int().min(1).max(MAX_ROLLOUT_TENANTS).default(25),
  /** Upgrades of a wave in flight at once. */
  maxConcurrency: z.number().int().min(1).max(MAX_ROLLOUT_CONCURRENCY).default(5),
  /** The rollout halts when more than this share of its tenants failed (0: at the first failure). */
  toleratedFailurePercent: z.number().min(0).max(100).default(0),
  /** Pause after the canary wave, until resumed. */
  pauseAfterCanary: z.boolean().default(false),
  /** Answer with the plan; change nothing. */
  dryRun: z.boolean().default(false),
  /** Allow migrations that drop or rewrite data (refused otherwise). */
  confirmDestructive: z.boolean().default(false),
});
export type RolloutRequest = z.infer<typeof rolloutRequestSchema>;

const valueChangeSchema = z.object({ from: z.unknown(), to: z.unknown() });

export const upgradeChangesSchema = z.object({
  migrations: z.array(z.string()),
  configurations: z.record(z.string(), valueChangeSchema),
  limits: z.record(z.string(), valueChangeSchema),
});

export const destructiveStatementSchema = z.object({ migration: z.string(), statement: z.string() });

export const plannedTenantSchema = z.object({
  tenantId: z.string(),
  slug: z.string().nullable(),
  name: z.string(),
  fromVersion: z.number().int(),
});

export const rolloutPlanSchema = z.object({
  dryRun: z.literal(true),
  templateId: z.string(),
  targetVersion: z.number().int(),
  tenantCount: z.number().int(),
  /** Tenants on an older version left for a later rollout (over `MAX_ROLLOUT_TENANTS`). */
  deferredTenants: z.number().int(),
  /** The change each older version gets, by version number. */
  changes: z.record(z.string(), upgradeChangesSchema),
  destructive: z.array(destructiveStatementSchema),
  waves: z.array(
    z.object({ wave: z.number().int(), canary: z.boolean(), tenants: z.array(plannedTenantSchema) }),
  ),
});
export type RolloutPlan = z.infer<typeof rolloutPlanSchema>;

const countsSchema = z.object(
  Object.fromEntries(ROLLOUT_TENANT_STATUSES.map((s) => [s, z.number().int()])) as Record<
    RolloutTenantStatus,
    z.ZodNumber
  >,
);

export const rolloutTenantSchema = plannedTenantSchema.extend({
  status: z.enum(ROLLOUT_TENANT_STATUSES),
  upgradeProgressId: z.string().nullable(),
  error: z.string().nullable(),
});

export const rolloutSchema = z.object({
  id: z.string(),
  templateId: z.string(),
  targetVersion: z.number().int(),
  status: z.enum(ROLLOUT_STATUSES),
  plan: z.object({
    canary: z.union([z.number().int(), z.array(z.string())]),
    waveSize: z.number().int(),
    maxConcurrency: z.number().int(),
    toleratedFailurePercent: z.number(),
    pauseAfterCanary: z.boolean(),
    confirmDestructive: z.boolean(),
  }),
  tenantCount: z.number().int(),
  currentWave: z.number().int(),
  totalWaves: z.number().int(),
  counts: countsSchema,
  /** The rollout run's error (a halted rollout names the failure budget it exceeded). */
  error: z.string().nullable(),
  createdAt: isoDateTime,
  updatedAt: isoDateTime,
  completedAt: isoDateTime.nullable(),
  /** On `GET /rollouts/:id` only: every wave with its tenants. */
  waves: z
    .array(
      z.object({
        wave: z.number().int(),
        canary: z.boolean(),
        counts: countsSchema,
        tenants: z.array(rolloutTenantSchema),
      }),
    )
    .optional(),
});
export type Rollout = z.infer<typeof rolloutSchema>;

export const listRolloutsQuerySchema = paginationQuerySchema.extend({
  status: z.enum(ROLLOUT_STATUSES).optional(),
  templateId: uuidSchema.optional(),
});
export const rolloutPageSchema = pageSchema(rolloutSchema);
