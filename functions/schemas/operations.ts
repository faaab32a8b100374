/** Operations: provisioning statistics and alerts. */
import { z } from "zod";
import { instantSchema, isoDateTime, pageSchema, paginationQuerySchema, uuidSchema } from "./common.ts";
import { RUN_KINDS } from "./progress.ts";

/** An instant with its zone (`2026-03-01T00:00:00Z`, `...+02:00`): a window bound must be unambiguous. */
const instant = instantSchema("2026-03-01T00:00:00Z");

/** `from` / `to` filter runs on their creation time: from ≤ created_at < to. */
export const statsQuerySchema = z
  .strictObject({ from: instant.optional(), to: instant.optional() })
  .superRefine((q, ctx) => {
    if (q.from !== undefined && q.to !== undefined && Date.parse(q.from) > Date.parse(q.to)) {
      ctx.addIssue({ code: "custom", path: ["from"], message: "must not be after to" });
    }
  });
export type StatsQuery = z.infer<typeof statsQuerySchema>;

const count = z.number().int();
/** Runs by status (every status present, zero when none). */
const statusCounts = z.object({
  pending: count,
  running: count,
  completed: count,
  failed: count,
  cancelled: count,
});
export type StatusCounts = z.infer<typeof statusCounts>;
const kindTotals = z.object({ runs: count, byStatus: statusCounts });

/** A share in [0, 1]; null when there is nothing to divide by. */
const rate = z.number().min(0).max(1).nullable();

export const provisioningStatsSchema = z.object({
  window: z.object({ from: isoDateTime.nullable(), to: isoDateTime.nullable() }),
  generatedAt: isoDateTime,
  totals: z.object({
    runs: count,
    byStatus: statusCounts,
    /** Every run kind, zero when none. */
    byKind: z.record(z.enum(RUN_KINDS), kindTotals),
  }),
  /** Finished = completed + failed + cancelled; the rates are shares of the finished runs. */
  rates: z.object({ finished: count, success: rate, failure: rate }),
  /** Completed runs only: completed_at − started_at; percentiles interpolate linearly. */
  completionTimeMs: z.object({
    runs: count,
    average: z.number().nullable(),
    median: z.number().nullable(),
    p95: z.number().nullable(),
  }),
  /** Provisioning runs by template, most used first; `templateId` null: custom (inline spec) runs. */
  templates: z.array(
    z.object({
      templateId: z.string().nullable(),
      templateName: z.string().nullable(),
      runs: count,
      completed: count,
      failed: count,
      successRate: rate,
    }),
  ),
  /** By step name across runs, in workflow order: failed entries, and the duration of completed ones. */
  steps: z.array(
    z.object({
      name: z.string(),
      completed: count,
      failures: count,
      averageDurationMs: z.number().nullable(),
    }),
  ),
  /** Runs in progress right now, whatever the window. */
  inProgress: z.object({ running: count, pending: count }),
});
export type ProvisioningStats = z.infer<typeof provisioningStatsSchema>;

export const ALERT_KINDS = [
  "run_failed",
  "run_long_running",
  "tenant_over_limit",
  "template_failure_rate",
  "schedule_overdue",
  /** A webhook subscription kept failing and was disabled (the webhook sender raises it). */
  "webhook_failing",
] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];

export const ALERT_SEVERITIES = ["info", "warning", "critical"] as const;
export type AlertSeverity = (typeof ALERT_SEVERITIES)[number];

export const alertSchema = z.object({
  id: z.uuid(),
  kind: z.enum(ALERT_KINDS),
  severity: z.enum(ALERT_SEVERITIES),
  /** Names the condition; a condition is raised once. */
  dedupeKey: z.string(),
  subjectType: z.enum(["progress", "tenant", "template", "schedule", "webhook"]),
  subjectId: z.string().nullable(),
  tenantId: z.string().nullable(),
  message: z.string(),
  details: z.record(z.string(), z.unknown()),
  raisedAt: isoDateTime,
  resolvedAt: isoDateTime.nullable(),
  notifiedAt: isoDateTime.nullable(),
});
export type Alert = z.infer<typeof alertSchema>;

export const ALERT_STATES = ["unresolved", "resolved", "all"] as const;

export const listAlertsQuerySchema = paginationQuerySchema.extend({
  kind: z.enum(ALERT_KINDS).optional(),
  state: z.enum(ALERT_STATES).default("unresolved"),
  tenantId: uuidSchema.optional(),
});
export type ListAlertsQuery = z.infer<typeof listAlertsQuerySchema>;

export const alertPageSchema = pageSchema(alertSchema);
