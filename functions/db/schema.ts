/**
 * Drizzle mirror of the control-plane tables in `migrations/*.sql` (the SQL files are the source of
 * truth; a test checks this file against the migrated database).
 */
import {
  bigint,
  boolean,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uuid,
  varchar,
} from "drizzle-orm/pg-core";
import type { ProgressStep, ProgressWarning, RunKind, RunStatus } from "../schemas/progress.ts";

const ts = (name: string) => timestamp(name, { mode: "date", withTimezone: false });
const tstz = (name: string) => timestamp(name, { mode: "date", withTimezone: true });

export const tenantTemplates = pgTable("tenant_templates", {
  id: uuid("id").primaryKey().defaultRandom(),
  name: varchar("name", { length: 255 }).notNull(),
  description: text("description"),
  category: varchar("category", { length: 50 }).default("basic"),
  settings: jsonb("settings").$type<Record<string, unknown>>().default({}),
  limits: jsonb("limits").$type<Record<string, number>>().default({}),
  initialData: jsonb("initial_data").$type<Record<string, unknown>>().default({}),
  migrations: jsonb("migrations").$type<string[]>().default([]),
  postProvisioningSteps: jsonb("post_provisioning_steps").$type<string[]>().default([]),
  createdAt: ts("created_at").defaultNow(),
  updatedAt: ts("updated_at").defaultNow(),
  version: integer("version").notNull().default(1),
  isDefault: boolean("is_default").notNull().default(false),
  deletedAt: ts("deleted_at"),
  /** The cell every tenant provisioned from this template is placed on (none: the placement policy). */
  cell: varchar("cell", { length: 63 }),
});

export const tenantTemplateVersions = pgTable(
  "tenant_template_versions",
  {
    templateId: uuid("template_id").notNull(),
    version: integer("version").notNull(),
    name: varchar("name", { length: 255 }).notNull(),
    description: text("description"),
    category: varchar("category", { length: 50 }).notNull(),
    settings: jsonb("settings").$type<Record<string, unknown>>().notNull(),
    limits: jsonb("limits").$type<Record<string, number>>().notNull(),
    initialData: jsonb("initial_data").$type<Record<string, unknown>>().notNull(),
    migrations: jsonb("migrations").$type<string[]>().notNull(),
    postProvisioningSteps: jsonb("post_provisioning_steps").$type<string[]>().notNull(),
    createdBy: uuid("created_by"),
    createdAt: ts("created_at").notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.templateId, t.version] })],
);

export const tenants = pgTable("tenants", {
  id: uuid("id").primaryKey().defaultRandom(),
  slug: varchar("slug", { length: 63 }),
  subdomain: varchar("subdomain", { length: 63 }),
  name: varchar("name", { length: 255 }).notNull(),
  status: varchar("status", { length: 20 }).notNull().default("provisioning"),
  settings: jsonb("settings").$type<Record<string, unknown>>().notNull().default({}),
  limits: jsonb("limits").$type<Record<string, number>>().notNull().default({}),
  templateId: uuid("template_id"),
  templateVersion: integer("template_version"),
  createdAt: tstz("created_at").notNull().defaultNow(),
  updatedAt: tstz("updated_at").notNull().defaultNow(),
  /** The cell (tenant database) the tenant's schema lives on; never changes (functions/domain/cells/). */
  cell: varchar("cell", { length: 63 }).notNull().default("main"),
});

/** The cells the control plane knows, and whether each takes new tenants (migrations/0016_cells.sql). */
export const cells = pgTable("cells", {
  name: varchar("name", { length: 63 }).primaryKey(),
  acceptsTenants: boolean("accepts_tenants").notNull().default(true),
  createdAt: tstz("created_at").notNull().defaultNow(),
  updatedAt: tstz("updated_at").notNull().defaultNow(),
});

export const provisioningProgress = pgTable("tenant_provisioning_progress", {
  id: uuid("id").primaryKey().defaultRandom(),
  tenantId: uuid("tenant_id"),
  templateId: uuid("template_id"),
  status: varchar("status", { length: 20 }).$type<RunStatus>().default("pending"),
  currentStep: varchar("current_step", { length: 255 }),
  totalSteps: integer("total_steps").default(0),
  completedSteps: integer("completed_steps").default(0),
  steps: jsonb("steps").$type<ProgressStep[]>().default([]),
  startedAt: ts("started_at"),
  completedAt: ts("completed_at"),
  error: text("error"),
  warnings: jsonb("warnings").$type<ProgressWarning[]>().default([]),
  metadata: jsonb("metadata").$type<Record<string, unknown>>().default({}),
  createdAt: ts("created_at").defaultNow(),
  updatedAt: ts("updated_at").defaultNow(),
  kind: varchar("kind", { length: 20 }).$type<RunKind>().notNull().default("provision"),
  templateVersion: integer("template_version"),
  attempt: integer("attempt").notNull().default(1),
  executionRef: text("execution_ref"),
  idempotencyKey: varchar("idempotency_key", { length: 255 }),
  requestHash: varchar("request_hash", { length: 64 }),
  /** The batch run this provisioning run belongs to (migration 0011). */
  parentId: uuid("parent_id"),
  batchIndex: integer("batch_index"),
  batchAttempt: integer("batch_attempt"),
});

/**
 * What statistics and counts read of each run, kept by triggers from the progress table
 * (migrations/0014_scale_counts.sql); never written by the service.
 */
export const progressRunFacts = pgTable("progress_run_facts", {
  id: uuid("id").primaryKey(),
  createdAt: ts("created_at"),
  kind: varchar("kind", { length: 20 }).$type<RunKind>().notNull(),
  status: varchar("status", { length: 20 }).$type<RunStatus>(),
  templateId: uuid("template_id"),
  startedAt: ts("started_at"),
  completedAt: ts("completed_at"),
});

export const users = pgTable("users", {
  id: uuid("id").primaryKey().defaultRandom(),
  tenantId: uuid("tenant_id").notNull(),
  email: varchar("email", { length: 320 }).notNull(),
  name: varchar("name", { length: 255 }).notNull(),
  role: varchar("role", { length: 50 }).notNull().default("user"),
  passwordHash: text("password_hash"),
  status: varchar("status", { length: 20 }).notNull().default("active"),
  createdAt: tstz("created_at").notNull().defaultNow(),
  updatedAt: tstz("updated_at").notNull().defaultNow(),
});

export const apiKeys = pgTable("api_keys", {
  id: uuid("id").primaryKey().defaultRandom(),
  name: varchar("name", { length: 255 }).notNull(),
  keyHash: varchar("key_hash", { length: 64 }).notNull(),
  keyPrefix: varchar("key_prefix", { length: 16 }).notNull(),
  role: varchar("role", { length: 20 }).notNull().$type<"admin" | "tenant_admin">(),
  tenantId: uuid("tenant_id"),
  createdBy: uuid("created_by"),
  createdAt: tstz("created_at").notNull().defaultNow(),
  lastUsedAt: tstz("last_used_at"),
  revokedAt: tstz("revoked_at"),
});

export const auditLogs = pgTable("audit_logs", {
  id: uuid("id").primaryKey().defaultRandom(),
  actorKeyId: uuid("actor_key_id"),
  action: varchar("action", { length: 100 }).notNull(),
  targetType: varchar("target_type", { length: 50 }).notNull(),
  targetId: varchar("target_id", { length: 255 }),
  tenantId: uuid("tenant_id"),
  details: jsonb("details").$type<Record<string, unknown>>().notNull().default({}),
  requestId: varchar("request_id", { length: 255 }),
  createdAt: tstz("created_at").notNull().defaultNow(),
});

export const provisioningSecrets = pgTable("provisioning_secrets", {
  progressId: uuid("progress_id").primaryKey(),
  adminPasswordHash: text("admin_password_hash").notNull(),
  createdAt: tstz("created_at").notNull().defaultNow(),
});

/** A provisioning run's large inputs, out of its progress row (migrations/0007_large_run_inputs.sql). */
export const runInputs = pgTable("run_inputs", {
  progressId: uuid("progress_id").primaryKey(),
  customTemplate: jsonb("custom_template").$type<Record<string, unknown>>(),
  initialDataOverrides: jsonb("initial_data_overrides").$type<Record<string, unknown>>(),
  createdAt: tstz("created_at").notNull().defaultNow(),
});

/** Users a deprovisioning run disabled and their previous status (migrations/0007_large_run_inputs.sql). */
export const deprovisionDisabledUsers = pgTable(
  "deprovision_disabled_users",
  {
    progressId: uuid("progress_id").notNull(),
    userId: uuid("user_id").notNull(),
    previousStatus: varchar("previous_status", { length: 20 }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.progressId, t.userId] })],
);

/** Users a deprovisioning run has notified (migrations/0007_large_run_inputs.sql). */
export const deprovisionNotifiedUsers = pgTable(
  "deprovision_notified_users",
  {
    progressId: uuid("progress_id").notNull(),
    userId: uuid("user_id").notNull(),
    notifiedAt: tstz("notified_at").notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.progressId, t.userId] })],
);

/** Invitations of password-less tenant admins (migrations/0008_fleet.sql); only the token's hash. */
export const adminInvitations = pgTable("admin_invitations", {
  id: uuid("id").primaryKey().defaultRandom(),
  tenantId: uuid("tenant_id").notNull(),
  userId: uuid("user_id").notNull(),
  progressId: uuid("progress_id"),
  tokenHash: varchar("token_hash", { length: 64 }),
  issuedAt: tstz("issued_at"),
  expiresAt: tstz("expires_at"),
  acceptedAt: tstz("accepted_at"),
  createdAt: tstz("created_at").notNull().defaultNow(),
});

export const notificationsOutbox = pgTable("notifications_outbox", {
  id: uuid("id").primaryKey().defaultRandom(),
  tenantId: uuid("tenant_id"),
  progressId: uuid("progress_id"),
  recipient: varchar("recipient", { length: 320 }).notNull(),
  kind: varchar("kind", { length: 50 }).notNull(),
  payload: jsonb("payload").$type<Record<string, unknown>>().notNull().default({}),
  dedupeKey: varchar("dedupe_key", { length: 255 }).notNull(),
  createdAt: tstz("created_at").notNull().defaultNow(),
  deliveredAt: tstz("delivered_at"),
});

/** Alerts raised by the operations sweep (migrations/0004_operations.sql). */
export const alerts = pgTable("alerts", {
  id: uuid("id").primaryKey().defaultRandom(),
  kind: varchar("kind", { length: 50 }).notNull(),
  severity: varchar("severity", { length: 20 }).notNull(),
  dedupeKey: varchar("dedupe_key", { length: 255 }).notNull(),
  subjectType: varchar("subject_type", { length: 50 }).notNull(),
  subjectId: varchar("subject_id", { length: 255 }),
  tenantId: uuid("tenant_id"),
  message: text("message").notNull(),
  details: jsonb("details").$type<Record<string, unknown>>().notNull().default({}),
  raisedAt: tstz("raised_at").notNull().defaultNow(),
  resolvedAt: tstz("resolved_at"),
  notifiedAt: tstz("notified_at"),
});

/** Tenant backups and audit-log archives (migrations/0003_deprovisioning.sql). */
export const tenantBackups = pgTable("tenant_backups", {
  id: uuid("id").primaryKey().defaultRandom(),
  tenantId: uuid("tenant_id").notNull(),
  progressId: uuid("progress_id"),
  kind: varchar("kind", { length: 20 }).notNull().default("full").$type<"full" | "audit_logs">(),
  store: varchar("store", { length: 20 }).notNull().$type<"local" | "s3">(),
  location: text("location").notNull(),
  sizeBytes: bigint("size_bytes", { mode: "number" }).notNull(),
  sha256: varchar("sha256", { length: 64 }).notNull(),
  encryption: jsonb("encryption").$type<Record<string, unknown>>().notNull(),
  rowCounts: jsonb("row_counts").$type<Record<string, unknown>>().notNull().default({}),
  formatVersion: integer("format_version").notNull().default(1),
  preserved: boolean("preserved").notNull().default(false),
  createdAt: tstz("created_at").notNull().defaultNow(),
  deletedAt: tstz("deleted_at"),
  /** The tenant's names when a full backup was taken (migrations/0005_backup_tenant_names.sql). */
  tenantSlug: varchar("tenant_slug", { length: 63 }),
  tenantSubdomain: varchar("tenant_subdomain", { length: 63 }),
});

/**
 * Operations to start later: scheduled deprovisionings (migrations/0003_deprovisioning.sql) and
 * provisionings (migrations/0008_fleet.sql).
 */
export const scheduledOperations = pgTable("scheduled_operations", {
  id: uuid("id").primaryKey().defaultRandom(),
  kind: varchar("kind", { length: 20 })
    .notNull()
    .default("deprovision")
    .$type<"deprovision" | "provision" | "batch">(),
  /** Null for a `batch` schedule (its children's tenants are the batch's). */
  tenantId: uuid("tenant_id"),
  runAt: tstz("run_at").notNull(),
  options: jsonb("options").$type<Record<string, unknown>>().notNull().default({}),
  status: varchar("status", { length: 20 })
    .notNull()
    .default("scheduled")
    .$type<"scheduled" | "started" | "cancelled" | "failed">(),
  progressId: uuid("progress_id"),
  externalRef: text("external_ref"),
  error: text("error"),
  createdBy: uuid("created_by"),
  createdAt: tstz("created_at").notNull().defaultNow(),
  startedAt: tstz("started_at"),
  cancelledAt: tstz("cancelled_at"),
  /** A scheduled provisioning's admin password hash, until its run takes it (never returned). */
  adminPasswordHash: text("admin_password_hash"),
});

/** Lifecycle events, written in the transaction of the change (migrations/0006_events.sql). */
export const eventOutbox = pgTable("event_outbox", {
  id: uuid("id").primaryKey(),
  type: varchar("type", { length: 100 }).notNull(),
  version: integer("version").notNull(),
  tenantId: uuid("tenant_id"),
  runId: uuid("run_id"),
  occurredAt: tstz("occurred_at").notNull(),
  body: text("body").notNull(),
  dedupeKey: varchar("dedupe_key", { length: 255 }).notNull(),
  webhookId: uuid("webhook_id"),
  createdAt: tstz("created_at").notNull().defaultNow(),
  publishedAt: tstz("published_at"),
  publishAttempts: integer("publish_attempts").notNull().default(0),
  publishError: text("publish_error"),
});

/** Webhook subscriptions; the signing secrets are sealed (migrations/0006_events.sql). */
export const webhooks = pgTable("webhooks", {
  id: uuid("id").primaryKey().defaultRandom(),
  url: text("url").notNull(),
  eventTypes: jsonb("event_types").$type<string[]>().notNull(),
  description: varchar("description", { length: 255 }),
  status: varchar("status", { length: 20 }).notNull().default("active").$type<"active" | "disabled">(),
  secretSealed: text("secret_sealed").notNull(),
  previousSecretSealed: text("previous_secret_sealed"),
  previousSecretExpiresAt: tstz("previous_secret_expires_at"),
  consecutiveFailures: integer("consecutive_failures").notNull().default(0),
  failingSince: tstz("failing_since"),
  lastSuccessAt: tstz("last_success_at"),
  disabledAt: tstz("disabled_at"),
  disabledReason: text("disabled_reason"),
  createdBy: uuid("created_by"),
  createdAt: tstz("created_at").notNull().defaultNow(),
  updatedAt: tstz("updated_at").notNull().defaultNow(),
});

/** One delivery per subscription and event (migrations/0006_events.sql). */
export const webhookDeliveries = pgTable("webhook_deliveries", {
  id: uuid("id").primaryKey().defaultRandom(),
  webhookId: uuid("webhook_id").notNull(),
  eventId: uuid("event_id").notNull(),
  eventType: varchar("event_type", { length: 100 }).notNull(),
  status: varchar("status", { length: 20 })
    .notNull()
    .default("pending")
    .$type<"pending" | "succeeded" | "failed">(),
  attempts: integer("attempts").notNull().default(0),
  nextAttemptAt: tstz("next_attempt_at"),
  windowStartedAt: tstz("window_started_at").notNull().defaultNow(),
  lastAttemptAt: tstz("last_attempt_at"),
  lastResponseStatus: integer("last_response_status"),
  lastError: text("last_error"),
  deliveredAt: tstz("delivered_at"),
  createdAt: tstz("created_at").notNull().defaultNow(),
});

/** Every delivery attempt (migrations/0006_events.sql). */
export const webhookDeliveryAttempts = pgTable("webhook_delivery_attempts", {
  id: uuid("id").primaryKey(),
  deliveryId: uuid("delivery_id").notNull(),
  attempt: integer("attempt").notNull(),
  attemptedAt: tstz("attempted_at").notNull(),
  outcome: varchar("outcome", { length: 20 })
    .notNull()
    .default("sending")
    .$type<"sending" | "succeeded" | "failed" | "interrupted">(),
  responseStatus: integer("response_status"),
  latencyMs: integer("latency_ms"),
  error: text("error"),
});

/** Template upgrade rollouts (migrations/0012_rollouts.sql); the id is the rollout run's. */
export const templateRollouts = pgTable("template_rollouts", {
  id: uuid("id").primaryKey(),
  templateId: uuid("template_id").notNull(),
  targetVersion: integer("target_version").notNull(),
  status: varchar("status", { length: 20 })
    .notNull()
    .default("running")
    .$type<"running" | "pausing" | "paused" | "completed" | "halted" | "aborted">(),
  plan: jsonb("plan").$type<Record<string, unknown>>().notNull(),
  totalWaves: integer("total_waves").notNull(),
  currentWave: integer("current_wave").notNull().default(1),
  tenantCount: integer("tenant_count").notNull(),
  createdBy: uuid("created_by"),
  createdAt: tstz("created_at").notNull().defaultNow(),
  updatedAt: tstz("updated_at").notNull().defaultNow(),
  completedAt: tstz("completed_at"),
});

/** One row per tenant of a rollout: its wave and upgrade (migrations/0012_rollouts.sql). */
export const templateRolloutTenants = pgTable(
  "template_rollout_tenants",
  {
    rolloutId: uuid("rollout_id").notNull(),
    tenantId: uuid("tenant_id").notNull(),
    wave: integer("wave").notNull(),
    position: integer("position").notNull(),
    fromVersion: integer("from_version").notNull(),
    status: varchar("status", { length: 20 })
      .notNull()
      .default("pending")
      .$type<"pending" | "running" | "upgraded" | "failed" | "skipped">(),
    upgradeProgressId: uuid("upgrade_progress_id"),
    error: text("error"),
    updatedAt: tstz("updated_at").notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.rolloutId, t.tenantId] })],
);

export const schema = {
  tenantTemplates,
  tenantTemplateVersions,
  tenants,
  cells,
  provisioningProgress,
  users,
  apiKeys,
  auditLogs,
  provisioningSecrets,
  notificationsOutbox,
  adminInvitations,
  alerts,
  tenantBackups,
  scheduledOperations,
  eventOutbox,
  webhooks,
  webhookDeliveries,
  webhookDeliveryAttempts,
  templateRollouts,
  templateRolloutTenants,
};
