/**
 * Deprovisioning, schedules, backups, restore and the tenant directory: request and answer shapes.
 * Every request object is strict: an unknown option is a 400 naming it, never silently ignored.
 */
import { z } from "zod";
import { instantSchema, isoDateTime, pageSchema, paginationQuerySchema, uuidSchema } from "./common.ts";

/**
 * The longest grace period: 335 days. A deprovisioning is one Standard Workflows execution, and
 * those end after one year at most (step-functions/latest/dg/service-quotas.html): a timed-out
 * execution is not caught by the ASL, so a grace period of the full year (8,760 hours) would leave
 * no time to back up before it or to delete after it, and the data would never be removed. The 30
 * days kept back cover the backup, the deletion and their retries with room to spare.
 */
export const MAX_GRACE_PERIOD_HOURS = 8040;

export const TENANT_STATUSES = [
  /** Its provisioning is scheduled: the row reserves the slug and subdomain. */
  "scheduled",
  "pending",
  "provisioning",
  "active",
  "failed",
  "cancelled",
  "suspended",
  "deprovisioned",
  "restoring",
] as const;
export type TenantStatus = (typeof TENANT_STATUSES)[number];

/**
 * Hours between disabling access and deleting the data when the caller names none: a day in which
 * cancelling the run gives the tenant back as it was. Only an explicit 0 deletes at once.
 */
export const DEFAULT_GRACE_PERIOD_HOURS = 24;

/**
 * The product document's `DeprovisioningOptions`. The defaults are the safe ones — the backup is
 * kept and the data waits out a grace period — so that a request naming no option can be undone;
 * deleting at once, or without a backup, must be asked for. The descriptions reach the OpenAPI
 * document, the CLI's help and the console's form (through the contract module), in this order.
 */
const optionFields = {
  gracePeriodHours: z
    .number({ message: "must be a number of hours" })
    .min(0, `must be between 0 and ${MAX_GRACE_PERIOD_HOURS}`)
    .max(MAX_GRACE_PERIOD_HOURS, `must be between 0 and ${MAX_GRACE_PERIOD_HOURS}`)
    .default(DEFAULT_GRACE_PERIOD_HOURS)
    .describe(
      `Hours between disabling access and deleting the data (default ${DEFAULT_GRACE_PERIOD_HOURS}; ` +
        "0 deletes right after the backup); cancelling the run in between gives the tenant back",
    ),
  preserveBackups: z
    .boolean()
    .default(true)
    .describe("Keep the backup after the data is deleted: the only way to restore the tenant"),
  preserveAuditLogs: z
    .boolean()
    .default(false)
    .describe("Keep the tenant's audit logs (archived beside its backup) instead of deleting them"),
  notifyUsers: z
    .boolean()
    .default(false)
    .describe("Send every user of the tenant a notice before access is disabled"),
};

export const deprovisioningOptionsSchema = z.strictObject(optionFields);
export type DeprovisioningOptions = z.output<typeof deprovisioningOptionsSchema>;

export const deprovisionRequestSchema = z.strictObject({
  ...optionFields,
  /** Report what would be removed (row counts, backup size) and change nothing. */
  dryRun: z.boolean().default(false),
});
export type DeprovisionRequest = z.output<typeof deprovisionRequestSchema>;

export const scheduleDeprovisionSchema = z.strictObject({
  at: instantSchema("2030-01-31T09:00:00Z"),
  ...optionFields,
});
export type ScheduleDeprovisionRequest = z.output<typeof scheduleDeprovisionSchema>;

export const restoreRequestSchema = z.strictObject({ backupId: uuidSchema });

// --- answers ------------------------------------------------------------------------------------

export const rowCountsSchema = z.object({
  controlPlane: z.record(z.string(), z.number().int()),
  tenantSchema: z.record(z.string(), z.number().int()),
});

export const dryRunSchema = z.object({
  dryRun: z.literal(true),
  tenantId: z.string(),
  schema: z.string(),
  schemaExists: z.boolean(),
  options: deprovisioningOptionsSchema,
  /** Rows per table that deprovisioning would remove (audit logs only without preserveAuditLogs). */
  wouldRemove: rowCountsSchema,
  /** Rows kept by the options (audit logs with preserveAuditLogs). */
  wouldKeep: z.record(z.string(), z.number().int()),
  backupEstimate: z.object({
    /** The compressed export as BackupData would write it now. */
    compressedBytes: z.number().int(),
    uncompressedBytes: z.number().int(),
  }),
  /**
   * How the tenant's schema differs from what its tenant migrations make (null: no schema). A
   * restore rebuilds extra tables and columns from the backup; `restorable: false` lists in
   * `problems` what it could not, and deprovisioning is refused (409) until that is fixed.
   */
  schemaDrift: z
    .object({
      none: z.boolean(),
      extraTables: z.array(z.string()),
      extraColumns: z.array(z.object({ table: z.string(), column: z.string(), type: z.string() })),
      changedColumns: z.array(
        z.object({ table: z.string(), column: z.string(), migrations: z.string(), actual: z.string() }),
      ),
      missingTables: z.array(z.string()),
      missingColumns: z.array(z.object({ table: z.string(), column: z.string() })),
      restorable: z.boolean(),
      problems: z.array(z.string()),
    })
    .nullable(),
});

export const SCHEDULE_STATUSES = ["scheduled", "started", "cancelled", "failed"] as const;

export const SCHEDULE_KINDS = ["deprovision", "provision", "batch"] as const;

/** What a scheduled provisioning will create (its tenant row already reserves slug and subdomain). */
export const scheduledProvisioningOptionsSchema = z.object({
  slug: z.string(),
  name: z.string(),
  subdomain: z.string(),
  adminName: z.string(),
  adminEmail: z.string(),
  /** No password was given: the admin is invited by the welcome notification. */
  invited: z.boolean(),
  /** The template and the version pinned when it was scheduled; null for an inline template. */
  templateId: z.string().nullable(),
  templateVersion: z.number().int().nullable(),
});
export type ScheduledProvisioningOptions = z.output<typeof scheduledProvisioningOptionsSchema>;

/** What a scheduled batch will start (its run and children exist, their names reserved). */
export const scheduledBatchOptionsSchema = z.object({
  /** The batch's run (GET /batches/:id shows its children, queued until the schedule runs). */
  batchId: z.string(),
  items: z.number().int(),
  maxConcurrency: z.number().int(),
  toleratedFailurePercent: z.number(),
});
export type ScheduledBatchOptions = z.output<typeof scheduledBatchOptionsSchema>;

export const scheduledOperationSchema = z.object({
  id: z.uuid(),
  kind: z.enum(SCHEDULE_KINDS),
  /** Null for a batch (its children have their tenants). */
  tenantId: z.string().nullable(),
  runAt: isoDateTime,
  /** `deprovision`: the deprovisioning options; `provision`: what it will create; `batch`: the batch. */
  options: z.union([
    deprovisioningOptionsSchema,
    scheduledProvisioningOptionsSchema,
    scheduledBatchOptionsSchema,
  ]),
  status: z.enum(SCHEDULE_STATUSES),
  progressId: z.string().nullable(),
  externalRef: z.string().nullable(),
  error: z.string().nullable(),
  createdBy: z.string().nullable(),
  createdAt: isoDateTime,
  startedAt: isoDateTime.nullable(),
  cancelledAt: isoDateTime.nullable(),
});
export type ScheduledOperation = z.infer<typeof scheduledOperationSchema>;
export const scheduledOperationPageSchema = pageSchema(scheduledOperationSchema);

export const listSchedulesQuerySchema = paginationQuerySchema.extend({
  status: z.enum(SCHEDULE_STATUSES).optional(),
  kind: z.enum(SCHEDULE_KINDS).optional(),
  tenantId: uuidSchema.optional(),
});

export const backupSchema = z.object({
  id: z.uuid(),
  tenantId: z.string(),
  progressId: z.string().nullable(),
  kind: z.enum(["full", "audit_logs"]),
  store: z.enum(["local", "s3"]),
  location: z.string(),
  sizeBytes: z.number().int(),
  sha256: z.string(),
  encryption: z.record(z.string(), z.unknown()),
  rowCounts: z.record(z.string(), z.unknown()),
  formatVersion: z.number().int(),
  preserved: z.boolean(),
  createdAt: isoDateTime,
  deletedAt: isoDateTime.nullable(),
});
export type Backup = z.infer<typeof backupSchema>;
export const backupListSchema = z.object({ items: z.array(backupSchema) });

export const tenantSummarySchema = z.object({
  id: z.uuid(),
  slug: z.string().nullable(),
  subdomain: z.string().nullable(),
  name: z.string(),
  status: z.string(),
  templateId: z.string().nullable(),
  /** The template's current name (null for a custom spec or a template gone since). */
  templateName: z.string().nullable(),
  templateVersion: z.number().int().nullable(),
  /** The cell (tenant database) the tenant's schema is on; set at placement, never changed. */
  cell: z.string(),
  createdAt: isoDateTime,
  updatedAt: isoDateTime,
});
export type TenantSummary = z.infer<typeof tenantSummarySchema>;
export const tenantPageSchema = pageSchema(tenantSummarySchema);

export const tenantRunSummarySchema = z.object({
  id: z.uuid(),
  kind: z.string(),
  status: z.string(),
  currentStep: z.string().nullable(),
  createdAt: isoDateTime,
  completedAt: isoDateTime.nullable(),
  error: z.string().nullable(),
});

export const tenantDetailSchema = tenantSummarySchema.extend({
  template: z
    .object({ id: z.string(), name: z.string().nullable(), version: z.number().int().nullable() })
    .nullable(),
  settings: z.record(z.string(), z.unknown()),
  limits: z.record(z.string(), z.number()),
  users: z.number().int(),
  lastRun: tenantRunSummarySchema.nullable(),
});
export type TenantDetail = z.infer<typeof tenantDetailSchema>;

export const listTenantsQuerySchema = paginationQuerySchema.extend({
  status: z.enum(TENANT_STATUSES).optional(),
});
