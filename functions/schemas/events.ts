/**
 * The catalogue of lifecycle events: every event type the service emits, its version and the zod
 * schema of its `data`. The JSON Schemas published in the OpenAPI document (`webhooks`) and at
 * `GET /api/events.json` are generated from these, and every event is parsed with its schema when
 * it is written to the outbox — so what is published cannot drift from what is documented.
 *
 * Adding an event type (the fleet's batch and rollout events, for instance) is one entry in
 * `EVENT_CATALOGUE`; a new version of a type changes its `version` and its `data`.
 *
 * Payloads are thin (Standard Webhooks' recommendation): ids, statuses, step names and error
 * names — never secrets, error messages (they may quote data) or personal data such as users'
 * names and e-mail addresses. Whoever needs more reads it through the API.
 */
import { z } from "zod";
import { ALERT_KINDS, ALERT_SEVERITIES } from "./operations.ts";
import { RUN_KINDS } from "./progress.ts";

/** EventBridge `Source` of every event the service publishes. */
export const EVENT_SOURCE = "tenant-provisioning";

/** What every run event says about its run. */
const runFields = {
  kind: z.enum(RUN_KINDS),
  /** The run's attempt: 1, then + 1 on each retry or recover. */
  attempt: z.number().int().min(1),
  templateId: z.uuid().nullable(),
  templateVersion: z.number().int().nullable(),
};
const stepName = z.string().max(100);
const errorName = z.object({ name: z.string().max(100) });

const runStarted = z.object({ ...runFields });
const runCompleted = z.object({
  ...runFields,
  /** From the first step's start to completion (null when the run never started a step). */
  durationMs: z.number().int().nullable(),
});
const runFailed = z.object({
  ...runFields,
  /** The step that failed (null when the workflow could not even start). */
  step: stepName.nullable(),
  error: errorName,
});
const runCancelled = z.object({
  ...runFields,
  /** The run's current step when it was cancelled (the last one it started). */
  step: stepName.nullable(),
});

const scheduleFields = {
  scheduleId: z.uuid(),
  runAt: z.iso.datetime({ offset: true }),
};

/** One entry per event type: the version of its `data` schema, a summary, and the schema. */
interface CatalogueEntry {
  readonly version: number;
  readonly summary: string;
  readonly data: z.ZodObject;
}

export const EVENT_CATALOGUE = {
  "tenant.provisioning.started": {
    version: 1,
    summary: "A provisioning run was accepted; its tenant is reserved (status pending).",
    data: runStarted,
  },
  "tenant.provisioning.completed": {
    version: 1,
    summary: "A tenant was provisioned: it is active.",
    data: runCompleted,
  },
  "tenant.provisioning.failed": {
    version: 1,
    summary: "A provisioning run failed (after its retries); it can be retried, recovered or cleaned up.",
    data: runFailed,
  },
  "tenant.provisioning.cancelled": {
    version: 1,
    summary: "An operator cancelled a provisioning run.",
    data: runCancelled,
  },
  "tenant.deprovisioning.started": {
    version: 1,
    summary: "A deprovisioning run was accepted (now, or when its schedule fell due).",
    data: runStarted,
  },
  "tenant.deprovisioning.access_disabled": {
    version: 1,
    summary: "The tenant was suspended, its API keys revoked and its users disabled; the grace period runs.",
    data: z.object({
      /** When the data may be removed: access disabled + the grace period. */
      deleteAfter: z.iso.datetime({ offset: true }),
      apiKeysRevoked: z.number().int(),
      usersDisabled: z.number().int(),
    }),
  },
  "tenant.deprovisioning.completed": {
    version: 1,
    summary: "A deprovisioning run completed: the tenant's data is gone (its backup kept if asked for).",
    data: runCompleted,
  },
  "tenant.deprovisioning.failed": {
    version: 1,
    summary: "A deprovisioning run failed (after its retries); it can be recovered.",
    data: runFailed,
  },
  "tenant.deprovisioning.cancelled": {
    version: 1,
    summary: "An operator cancelled a deprovisioning run (access given back when the data was still there).",
    data: runCancelled,
  },
  "tenant.restore.started": {
    version: 1,
    summary: "A restore of a deprovisioned tenant from one of its backups was accepted.",
    data: runStarted,
  },
  "tenant.restored": {
    version: 1,
    summary: "A deprovisioned tenant was restored from its backup.",
    data: runCompleted,
  },
  "tenant.restore.failed": {
    version: 1,
    summary: "A restore failed (after its retries); the tenant stays deprovisioned.",
    data: runFailed,
  },
  "tenant.restore.cancelled": {
    version: 1,
    summary: "An operator cancelled a restore; the tenant stays deprovisioned.",
    data: runCancelled,
  },
  "batch.started": {
    version: 1,
    summary:
      "A batch of provisionings was accepted (its children send their own tenant.provisioning.* events).",
    data: runStarted,
  },
  "batch.completed": {
    version: 1,
    summary:
      "A batch ended with its failed children within its failure budget (it may list failed children).",
    data: runCompleted,
  },
  "batch.failed": {
    version: 1,
    summary: "A batch failed: more children failed than its budget tolerates, and it started no more.",
    data: runFailed,
  },
  "batch.cancelled": {
    version: 1,
    summary: "An operator cancelled a batch; its children that had not ended were cancelled with it.",
    data: runCancelled,
  },
  "tenant.upgrade.started": {
    version: 1,
    summary: "A rollout started upgrading a tenant to a newer version of its template.",
    data: runStarted,
  },
  "tenant.upgraded": {
    version: 1,
    summary:
      "A tenant is on the newer template version: its new tenant migrations, configuration and limits applied.",
    data: runCompleted,
  },
  "tenant.upgrade.failed": {
    version: 1,
    summary: "A tenant's upgrade failed (after its retries); the tenant stays entirely on its old version.",
    data: runFailed,
  },
  "tenant.upgrade.cancelled": {
    version: 1,
    summary:
      "A tenant's upgrade was cancelled (its rollout aborted, or an operator); it is on whichever version it committed.",
    data: runCancelled,
  },
  "template.rollout.started": {
    version: 1,
    summary:
      "A rollout of a template version to the tenants on older versions started (no tenant: it is the template's).",
    data: runStarted,
  },
  "template.rollout.completed": {
    version: 1,
    summary: "A rollout went through all its waves.",
    data: runCompleted,
  },
  "template.rollout.failed": {
    version: 1,
    summary: "A rollout halted: more upgrades failed than it tolerates; no further upgrade was started.",
    data: runFailed,
  },
  "template.rollout.cancelled": {
    version: 1,
    summary: "A rollout was aborted: upgraded tenants stay upgraded, the rest stay on their version.",
    data: runCancelled,
  },
  "tenant.step.failed": {
    version: 1,
    summary: "A step of a run failed for good: a permanent error, or a transient one after its last retry.",
    data: z.object({
      ...runFields,
      step: stepName,
      /** Attempts the step made. */
      attempts: z.number().int(),
      error: errorName,
    }),
  },
  "tenant.deleted": {
    version: 1,
    summary: "A tenant's data was removed: by its deprovisioning, or by cleaning up its failed provisioning.",
    data: z.object({
      reason: z.enum(["deprovisioned", "provisioning_cleanup"]),
      /** Whether a backup of the tenant was kept (deprovisioning with preserveBackups). */
      backupPreserved: z.boolean(),
    }),
  },
  "schedule.created": {
    version: 1,
    summary: "A deprovisioning was scheduled.",
    data: z.object({
      ...scheduleFields,
      options: z.object({
        preserveAuditLogs: z.boolean(),
        preserveBackups: z.boolean(),
        notifyUsers: z.boolean(),
        gracePeriodHours: z.number(),
      }),
    }),
  },
  "schedule.cancelled": {
    version: 1,
    summary:
      "A scheduled deprovisioning was cancelled, by an operator or by a deprovisioning that superseded it.",
    data: z.object({ ...scheduleFields, reason: z.enum(["operator", "superseded"]) }),
  },
  "schedule.fired": {
    version: 1,
    summary: "A scheduled deprovisioning fell due and started its run (runId).",
    data: z.object({ ...scheduleFields }),
  },
  "schedule.failed": {
    version: 1,
    summary:
      "A scheduled deprovisioning could not be created with the scheduler, or could not start when due.",
    data: z.object({ ...scheduleFields, reason: z.string().max(500) }),
  },
  "alert.raised": {
    version: 1,
    summary: "The operations sweep (or the webhook sender) raised an alert.",
    data: z.object({
      alertId: z.uuid(),
      kind: z.enum(ALERT_KINDS),
      severity: z.enum(ALERT_SEVERITIES),
      subjectType: z.string().max(50),
      subjectId: z.string().max(255).nullable(),
      // No message: an alert's message may quote a run's error, and errors may quote data.
    }),
  },
  "alert.resolved": {
    version: 1,
    summary: "An alert was resolved, by an operator or by the sweep (its condition is over).",
    data: z.object({
      alertId: z.uuid(),
      kind: z.enum(ALERT_KINDS),
      resolvedBy: z.enum(["operator", "sweep"]),
    }),
  },
  "webhook.test": {
    version: 1,
    summary: "A test delivery asked for with POST /webhooks/:id/test; sent to that subscription only.",
    data: z.object({ webhookId: z.uuid(), message: z.string().max(200) }),
  },
} as const satisfies Record<string, CatalogueEntry>;

export type EventType = keyof typeof EVENT_CATALOGUE;
export const EVENT_TYPES = Object.keys(EVENT_CATALOGUE) as [EventType, ...EventType[]];
export type EventData<T extends EventType> = z.output<(typeof EVENT_CATALOGUE)[T]["data"]>;

/** The largest event body the outbox takes (EventBridge allows 256 KB an entry; events stay thin). */
export const MAX_EVENT_BYTES = 16 * 1024;

/**
 * The envelope of every event (the webhook body, the EventBridge `detail`): Standard Webhooks'
 * `type`, `timestamp` and `data`, with the event's id (also the `webhook-id` header), the version
 * of its schema, its tenant and its run.
 */
export function eventEnvelopeSchema<T extends EventType>(type: T) {
  const entry = EVENT_CATALOGUE[type];
  return z.object({
    /** Unique per event; the same on every delivery of it (the `webhook-id` header). */
    id: z.uuid(),
    type: z.literal(type),
    /** The version of this type's `data` schema. */
    version: z.literal(entry.version),
    /** When the change happened (ISO 8601, UTC); not when it was delivered. */
    timestamp: z.iso.datetime(),
    source: z.literal(EVENT_SOURCE),
    tenantId: z.uuid().nullable(),
    runId: z.uuid().nullable(),
    data: entry.data as (typeof EVENT_CATALOGUE)[T]["data"],
  });
}

/** Any event, discriminated by `type`. */
export type LifecycleEvent = {
  [T in EventType]: z.output<ReturnType<typeof eventEnvelopeSchema<T>>>;
}[EventType];

/** An event to emit: its type, subject and data, and the key that makes emitting it twice a no-op. */
export type NewEvent = {
  [T in EventType]: {
    readonly type: T;
    readonly tenantId: string | null;
    readonly runId: string | null;
    readonly data: z.input<(typeof EVENT_CATALOGUE)[T]["data"]>;
    /** Names the change (`<type>:<run>:<attempt>`): the outbox's unique key. */
    readonly dedupeKey: string;
  };
}[EventType];

/** The catalogue served at `GET /api/events.json`: each type, its version and its JSON Schema. */
export function eventCatalogueDocument(): Record<string, unknown> {
  return {
    source: EVENT_SOURCE,
    signing: {
      convention: "Standard Webhooks 1.0 (https://www.standardwebhooks.com)",
      headers: ["webhook-id", "webhook-timestamp", "webhook-signature"],
      signedContent: "{webhook-id}.{webhook-timestamp}.{raw body}",
      signature: "v1,<base64 HMAC-SHA256 under the base64-decoded secret after its whsec_ prefix>",
    },
    events: EVENT_TYPES.map((type) => ({
      type,
      version: EVENT_CATALOGUE[type].version,
      summary: EVENT_CATALOGUE[type].summary,
      schema: eventJsonSchema(type),
    })),
  };
}

/** One event type's envelope as JSON Schema (draft 2020-12, the dialect of OpenAPI 3.1). */
export function eventJsonSchema(type: EventType): Record<string, unknown> {
  const { version } = EVENT_CATALOGUE[type];
  return {
    $id: `urn:${EVENT_SOURCE}:event:${type}:v${version}`,
    title: `${type} (version ${version})`,
    description: EVENT_CATALOGUE[type].summary,
    ...(z.toJSONSchema(eventEnvelopeSchema(type), { io: "output", target: "draft-2020-12" }) as Record<
      string,
      unknown
    >),
  };
}

// ---------------------------------------------------------------------------------------------
// Webhook subscriptions and deliveries (the API)
// ---------------------------------------------------------------------------------------------

/** `*`: every event type (including types added later). */
export const ALL_EVENTS = "*";
const subscribable = z.enum([ALL_EVENTS, ...EVENT_TYPES.filter((t) => t !== "webhook.test")]);

export const WEBHOOK_STATUSES = ["active", "disabled"] as const;
export type WebhookStatus = (typeof WEBHOOK_STATUSES)[number];

/** Longest overlap during which a rotated-out secret still signs deliveries. */
export const MAX_SECRET_OVERLAP_HOURS = 168;

export const createWebhookSchema = z.strictObject({
  url: z.string().trim().min(1, "is required").max(2048, "must be at most 2048 characters"),
  eventTypes: z
    .array(subscribable, { message: `must be a list of event types, or ["${ALL_EVENTS}"]` })
    .min(1, "must name at least one event type")
    .max(EVENT_TYPES.length + 1)
    .refine((types) => new Set(types).size === types.length, "must not repeat an event type"),
  description: z.string().trim().max(255).optional(),
});
export type CreateWebhook = z.output<typeof createWebhookSchema>;

export const rotateWebhookSecretSchema = z.strictObject({
  /** Hours the old secret keeps signing beside the new one (0: stop at once). */
  overlapHours: z
    .number({ message: "must be a number of hours" })
    .min(0, `must be between 0 and ${MAX_SECRET_OVERLAP_HOURS}`)
    .max(MAX_SECRET_OVERLAP_HOURS, `must be between 0 and ${MAX_SECRET_OVERLAP_HOURS}`)
    .default(24),
});

export const webhookSchema = z.object({
  id: z.uuid(),
  url: z.string(),
  eventTypes: z.array(z.string()),
  description: z.string().nullable(),
  status: z.enum(WEBHOOK_STATUSES),
  /** Why it was disabled (failing for too long, 410 Gone), when it was. */
  disabledReason: z.string().nullable(),
  disabledAt: z.string().nullable(),
  /** Failed attempts since the last successful delivery. */
  consecutiveFailures: z.number().int(),
  failingSince: z.string().nullable(),
  lastSuccessAt: z.string().nullable(),
  /** Until then the previous secret signs too (after a rotation). */
  previousSecretExpiresAt: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type Webhook = z.infer<typeof webhookSchema>;

/** The answers that carry the signing secret: creation and rotation, and never again. */
export const webhookWithSecretSchema = webhookSchema.extend({
  /** `whsec_` + base64 of 32 random bytes: the HMAC-SHA256 key is the decoded part. */
  secret: z.string(),
});
export const webhookListSchema = z.object({ items: z.array(webhookSchema) });

export const DELIVERY_STATUSES = ["pending", "succeeded", "failed"] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];
export const ATTEMPT_OUTCOMES = ["sending", "succeeded", "failed", "interrupted"] as const;
export type AttemptOutcome = (typeof ATTEMPT_OUTCOMES)[number];

export const deliveryAttemptSchema = z.object({
  attempt: z.number().int(),
  attemptedAt: z.string(),
  /** `sending`: in flight; `interrupted`: the sender stopped during it (the delivery was retried). */
  outcome: z.enum(ATTEMPT_OUTCOMES),
  responseStatus: z.number().int().nullable(),
  latencyMs: z.number().int().nullable(),
  error: z.string().nullable(),
});

export const deliverySchema = z.object({
  id: z.uuid(),
  webhookId: z.uuid(),
  /** The event's id: the `webhook-id` header of every attempt. */
  eventId: z.uuid(),
  eventType: z.string(),
  status: z.enum(DELIVERY_STATUSES),
  attempts: z.number().int(),
  nextAttemptAt: z.string().nullable(),
  lastAttemptAt: z.string().nullable(),
  lastResponseStatus: z.number().int().nullable(),
  lastError: z.string().nullable(),
  deliveredAt: z.string().nullable(),
  createdAt: z.string(),
});
export type Delivery = z.infer<typeof deliverySchema>;

export const deliveryDetailSchema = deliverySchema.extend({
  attemptLog: z.array(deliveryAttemptSchema),
  /** The body every attempt sends (the event). */
  event: z.record(z.string(), z.unknown()),
});
export type DeliveryDetail = z.infer<typeof deliveryDetailSchema>;

export const listDeliveriesQuerySchema = z.strictObject({
  status: z.enum(DELIVERY_STATUSES).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
});
export type ListDeliveriesQuery = z.output<typeof listDeliveriesQuerySchema>;

export const deliveryPageSchema = z.object({
  items: z.array(deliverySchema),
  total: z.number().int(),
  limit: z.number().int(),
  offset: z.number().int(),
});
