/**
 * The route table: every endpoint of the REST API, once. The local server routes with it, the
 * group Lambdas dispatch with it, CDK builds API Gateway resources from it, and the OpenAPI
 * document is generated from it. Request bodies and queries are validated with the zod schemas
 * named here before any handler runs.
 */
import { z } from "zod";
import {
  batchSchema,
  createBatchSchema,
  getBatchQuerySchema,
  scheduleBatchSchema,
} from "../schemas/batches.ts";
import { cellListSchema, cellSchema } from "../schemas/cells.ts";
import { errorResponseSchema } from "../schemas/common.ts";
import {
  backupListSchema,
  DEFAULT_GRACE_PERIOD_HOURS,
  deprovisionRequestSchema,
  dryRunSchema,
  listSchedulesQuerySchema,
  listTenantsQuerySchema,
  restoreRequestSchema,
  scheduleDeprovisionSchema,
  scheduledOperationPageSchema,
  scheduledOperationSchema,
  tenantDetailSchema,
  tenantPageSchema,
} from "../schemas/deprovisioning.ts";
import {
  createWebhookSchema,
  deliveryDetailSchema,
  deliveryPageSchema,
  deliverySchema,
  listDeliveriesQuerySchema,
  rotateWebhookSecretSchema,
  webhookListSchema,
  webhookSchema,
  webhookWithSecretSchema,
} from "../schemas/events.ts";
import {
  apiKeyListSchema,
  apiKeySchema,
  createApiKeySchema,
  createdApiKeySchema,
  listApiKeysQuerySchema,
  whoamiSchema,
} from "../schemas/keys.ts";
import {
  alertPageSchema,
  alertSchema,
  listAlertsQuerySchema,
  provisioningStatsSchema,
  statsQuerySchema,
} from "../schemas/operations.ts";
import { listProgressQuerySchema, progressPageSchema, progressRecordSchema } from "../schemas/progress.ts";
import {
  acceptedInvitationSchema,
  acceptInvitationSchema,
  provisionCustomSchema,
  provisionFromTemplateSchema,
  scheduleProvisionSchema,
} from "../schemas/provisioning.ts";
import {
  listRolloutsQuerySchema,
  rolloutPageSchema,
  rolloutPlanSchema,
  rolloutRequestSchema,
  rolloutSchema,
} from "../schemas/rollouts.ts";
import {
  getTemplateQuerySchema,
  listTemplatesQuerySchema,
  templateCreateSchema,
  templatePageSchema,
  templateSchema,
  templateUpdateSchema,
  templateVersionsSchema,
} from "../schemas/templates.ts";

export type HttpMethod = "GET" | "POST" | "PUT" | "DELETE";

/**
 * Who may call: `public` needs no key; `admin` needs an admin key; `tenant` also admits a
 * `tenant_admin` key, and the handler then limits it to its own tenant.
 */
export type Access = "public" | "admin" | "tenant";

/** Handler groups: one Lambda per group in AWS, one module per group in `functions/api/`. */
export type ApiGroup =
  | "meta"
  | "templates"
  | "keys"
  | "provisioning"
  | "progress"
  | "operations"
  | "tenants"
  | "schedules"
  | "webhooks"
  | "rollouts";

export interface RouteSpec {
  readonly method: HttpMethod;
  /** API Gateway resource path, parameters in braces: `/api/provisioning/templates/{id}`. */
  readonly path: string;
  readonly group: ApiGroup;
  readonly access: Access;
  readonly summary: string;
  readonly body?: z.ZodType;
  readonly query?: z.ZodType;
  readonly response?: z.ZodType;
  readonly successStatus?: number;
}

export const routes = {
  getOpenApi: {
    method: "GET",
    path: "/api/openapi.json",
    group: "meta",
    access: "public",
    summary: "This API's OpenAPI 3 document",
  },
  getHealth: {
    method: "GET",
    path: "/api/health",
    group: "meta",
    access: "public",
    summary: "Liveness and database reachability",
  },
  getEventCatalogue: {
    method: "GET",
    path: "/api/events.json",
    group: "meta",
    access: "public",
    summary:
      "The lifecycle events: every type, its version and its JSON Schema, and how deliveries are signed",
  },
  listTemplates: {
    method: "GET",
    path: "/api/provisioning/templates",
    group: "templates",
    access: "admin",
    summary: "List templates (paginated, filter by category; state=deleted lists deleted ones, to restore)",
    query: listTemplatesQuerySchema,
    response: templatePageSchema,
  },
  createTemplate: {
    method: "POST",
    path: "/api/provisioning/templates",
    group: "templates",
    access: "admin",
    summary: "Create a template (version 1); cell pins its tenants to a configured cell",
    body: templateCreateSchema,
    response: templateSchema,
    successStatus: 201,
  },
  getTemplate: {
    method: "GET",
    path: "/api/provisioning/templates/{id}",
    group: "templates",
    access: "admin",
    summary: "Get a template, or one version of it with ?version=N",
    query: getTemplateQuerySchema,
    response: templateSchema,
  },
  updateTemplate: {
    method: "PUT",
    path: "/api/provisioning/templates/{id}",
    group: "templates",
    access: "admin",
    summary:
      "Update a template; makes a new immutable version (settings, limits and initialData merge key by key, null removes a key). " +
      "cell (the pinned cell, null unpins) is not versioned: changing only it makes no new version",
    body: templateUpdateSchema,
    response: templateSchema,
  },
  deleteTemplate: {
    method: "DELETE",
    path: "/api/provisioning/templates/{id}",
    group: "templates",
    access: "admin",
    summary: "Delete a template: hidden from listing and new provisioning, versions stay readable",
    response: templateSchema,
  },
  restoreTemplate: {
    method: "POST",
    path: "/api/provisioning/templates/{id}/restore",
    group: "templates",
    access: "admin",
    summary:
      "Restore a deleted template: listed and usable for provisioning again, its versions unchanged (deleted defaults too)",
    response: templateSchema,
  },
  listTemplateVersions: {
    method: "GET",
    path: "/api/provisioning/templates/{id}/versions",
    group: "templates",
    access: "admin",
    summary: "List a template's versions, newest first",
    response: templateVersionsSchema,
  },
  whoami: {
    method: "GET",
    path: "/api/provisioning/whoami",
    group: "meta",
    access: "tenant",
    summary: "The calling key: its id, name, role and (tenant_admin) tenant, never its secret",
    response: whoamiSchema,
  },
  getWorkflowDefinition: {
    method: "GET",
    path: "/api/provisioning/workflows/{kind}",
    group: "meta",
    access: "tenant",
    summary: "A workflow's state machine definition (ASL) and its steps, for drawing its graph",
  },
  provisionFromTemplate: {
    method: "POST",
    path: "/api/provisioning/templates/{id}/provision",
    group: "provisioning",
    access: "admin",
    summary: "Provision a tenant from a template; 202 with the progress record. Honours Idempotency-Key.",
    body: provisionFromTemplateSchema,
    response: progressRecordSchema,
    successStatus: 202,
  },
  scheduleProvision: {
    method: "POST",
    path: "/api/provisioning/templates/{id}/schedule-provision",
    group: "provisioning",
    access: "admin",
    summary:
      "Provision a tenant from a template at a future time (`at`, ISO 8601); checked now, the slug and subdomain " +
      "reserved now (refused to others until it runs or is cancelled) → 201 with the schedule (list and cancel under /schedules)",
    body: scheduleProvisionSchema,
    response: scheduledOperationSchema,
    successStatus: 201,
  },
  provisionCustom: {
    method: "POST",
    path: "/api/provisioning/provision/custom",
    group: "provisioning",
    access: "admin",
    summary: "Provision a tenant from an inline template spec; 202 with the progress record",
    body: provisionCustomSchema,
    response: progressRecordSchema,
    successStatus: 202,
  },
  createBatch: {
    method: "POST",
    path: "/api/provisioning/batches",
    group: "provisioning",
    access: "admin",
    summary:
      "Provision up to 1,000 tenants as one batch (each item a provisioning request with templateId or an inline " +
      "template; admins invited unless an item gives adminPassword), maxConcurrency at a time, stopping once more " +
      "than toleratedFailurePercent of them failed. Checked whole: 400 naming every invalid item (items[3].slug), " +
      "or 202 with the batch. Honours Idempotency-Key.",
    body: createBatchSchema,
    response: batchSchema,
    successStatus: 202,
  },
  scheduleBatch: {
    method: "POST",
    path: "/api/provisioning/schedule-batch",
    group: "provisioning",
    access: "admin",
    summary:
      "A batch (as POST /batches) started at a future time (`at`, ISO 8601): checked and written now, every " +
      "item's slug and subdomain reserved now (refused to others until it runs or is cancelled), its children " +
      "queued → 201 with the schedule (list and cancel under /schedules; cancelling cancels the batch and frees the names)",
    body: scheduleBatchSchema,
    response: scheduledOperationSchema,
    successStatus: 201,
  },
  getBatch: {
    method: "GET",
    path: "/api/provisioning/batches/{id}",
    group: "provisioning",
    access: "admin",
    summary:
      "A batch: its children's counts by status, the failure budget, and a page of its children (filter: status)",
    query: getBatchQuerySchema,
    response: batchSchema,
  },
  cancelBatch: {
    method: "POST",
    path: "/api/provisioning/batches/{id}/cancel",
    group: "provisioning",
    access: "admin",
    summary:
      "Cancel a batch: no further child starts, and its children that have not ended are cancelled too " +
      "(running ones stopped as by /progress/{id}/cancel); completed children stay",
    response: batchSchema,
  },
  retryBatch: {
    method: "POST",
    path: "/api/provisioning/batches/{id}/retry",
    group: "provisioning",
    access: "admin",
    summary:
      "Retry an ended batch's children that did not complete, in one call: failed and cancelled ones resume from " +
      "their first unfinished step, never-started ones start; a new attempt with a fresh failure budget",
    response: batchSchema,
    successStatus: 202,
  },
  acceptInvitation: {
    method: "POST",
    path: "/api/provisioning/invitations/accept",
    group: "provisioning",
    access: "public",
    summary:
      "Set an invited tenant admin's password with the token of the welcome notification's link; " +
      "works once, before the invitation expires (an unknown token is a 404, a used or expired one a 409)",
    body: acceptInvitationSchema,
    response: acceptedInvitationSchema,
  },
  listProgress: {
    method: "GET",
    path: "/api/provisioning/progress",
    group: "progress",
    access: "tenant",
    summary: "List runs, newest first (filters: status, tenantId, templateId, kind)",
    query: listProgressQuerySchema,
    response: progressPageSchema,
  },
  getProgress: {
    method: "GET",
    path: "/api/provisioning/progress/{id}",
    group: "progress",
    access: "tenant",
    summary: "One run with every step's status, attempts, timing and error",
    response: progressRecordSchema,
  },
  cancelRun: {
    method: "POST",
    path: "/api/provisioning/progress/{id}/cancel",
    group: "progress",
    access: "admin",
    summary: "Cancel a pending or running run; no later step runs",
    response: progressRecordSchema,
  },
  retryStep: {
    method: "POST",
    path: "/api/provisioning/progress/{id}/steps/{stepId}/retry",
    group: "progress",
    access: "admin",
    summary: "Resume a failed or cancelled run from this step; earlier steps are not redone",
    response: progressRecordSchema,
    successStatus: 202,
  },
  recoverRun: {
    method: "POST",
    path: "/api/provisioning/progress/{id}/recover",
    group: "progress",
    access: "admin",
    summary: "Resume a failed run from its first unfinished step",
    response: progressRecordSchema,
    successStatus: 202,
  },
  cleanupRun: {
    method: "POST",
    path: "/api/provisioning/progress/{id}/cleanup",
    group: "progress",
    access: "admin",
    summary: "Remove everything a failed or cancelled run created (schema, users, tenant data)",
    response: progressRecordSchema,
  },
  listApiKeys: {
    method: "GET",
    path: "/api/provisioning/keys",
    group: "keys",
    access: "admin",
    summary: "List API keys (without secrets)",
    query: listApiKeysQuerySchema,
    response: apiKeyListSchema,
  },
  createApiKey: {
    method: "POST",
    path: "/api/provisioning/keys",
    group: "keys",
    access: "admin",
    summary: "Create an API key; the key is in this answer only",
    body: createApiKeySchema,
    response: createdApiKeySchema,
    successStatus: 201,
  },
  revokeApiKey: {
    method: "DELETE",
    path: "/api/provisioning/keys/{id}",
    group: "keys",
    access: "admin",
    summary: "Revoke an API key",
    response: apiKeySchema,
  },
  getProvisioningStats: {
    method: "GET",
    path: "/api/provisioning/stats",
    group: "operations",
    access: "admin",
    summary:
      "Run statistics (optionally for runs created in [from, to)): totals, rates, completion times, templates, steps",
    query: statsQuerySchema,
    response: provisioningStatsSchema,
  },
  listAlerts: {
    method: "GET",
    path: "/api/provisioning/alerts",
    group: "operations",
    access: "admin",
    summary:
      "Alerts raised by the operations sweep, newest first (unresolved only unless state says otherwise)",
    query: listAlertsQuerySchema,
    response: alertPageSchema,
  },
  resolveAlert: {
    method: "POST",
    path: "/api/provisioning/alerts/{id}/resolve",
    group: "operations",
    access: "admin",
    summary: "Mark an alert resolved",
    response: alertSchema,
  },
  listTenants: {
    method: "GET",
    path: "/api/provisioning/tenants",
    group: "tenants",
    access: "tenant",
    summary: "List tenants, newest first (filter: status; paginated); a tenant_admin key sees its own",
    query: listTenantsQuerySchema,
    response: tenantPageSchema,
  },
  getTenant: {
    method: "GET",
    path: "/api/provisioning/tenants/{id}",
    group: "tenants",
    access: "tenant",
    summary: "One tenant: status, template and version, limits, users, last run",
    response: tenantDetailSchema,
  },
  deprovisionTenant: {
    method: "POST",
    path: "/api/provisioning/tenants/{id}/deprovision",
    group: "tenants",
    access: "admin",
    summary:
      "Deprovision a tenant (backup, notify, disable access, grace period, delete); 202 with the progress record. " +
      `Without options it keeps the backup and deletes the data after a ${DEFAULT_GRACE_PERIOD_HOURS} h grace period; ` +
      "dryRun: 200 with what would be removed",
    body: deprovisionRequestSchema,
    response: z.union([progressRecordSchema, dryRunSchema]),
    successStatus: 202,
  },
  scheduleDeprovision: {
    method: "POST",
    path: "/api/provisioning/tenants/{id}/schedule-deprovision",
    group: "tenants",
    access: "admin",
    summary:
      "Schedule a deprovisioning at a future time (`at`, ISO 8601) with the same options and defaults " +
      `(keeps the backup, ${DEFAULT_GRACE_PERIOD_HOURS} h grace period)`,
    body: scheduleDeprovisionSchema,
    response: scheduledOperationSchema,
    successStatus: 201,
  },
  listTenantBackups: {
    method: "GET",
    path: "/api/provisioning/tenants/{id}/backups",
    group: "tenants",
    access: "admin",
    summary: "A tenant's backups and audit-log archives, newest first (also after it was deprovisioned)",
    response: backupListSchema,
  },
  restoreTenant: {
    method: "POST",
    path: "/api/provisioning/tenants/{id}/restore",
    group: "tenants",
    access: "admin",
    summary: "Restore a deprovisioned tenant from one of its backups; 202 with the restore run",
    body: restoreRequestSchema,
    response: progressRecordSchema,
    successStatus: 202,
  },
  listSchedules: {
    method: "GET",
    path: "/api/provisioning/schedules",
    group: "schedules",
    access: "admin",
    summary:
      "List scheduled operations (deprovisionings, provisionings and batches), newest first (filters: status, tenantId, kind)",
    query: listSchedulesQuerySchema,
    response: scheduledOperationPageSchema,
  },
  cancelSchedule: {
    method: "DELETE",
    path: "/api/provisioning/schedules/{id}",
    group: "schedules",
    access: "admin",
    summary:
      "Cancel a scheduled operation that has not started; it never runs (a scheduled provisioning or batch frees the slugs and subdomains it reserved; a batch is cancelled)",
    response: scheduledOperationSchema,
  },
  startRollout: {
    method: "POST",
    path: "/api/provisioning/rollouts",
    group: "rollouts",
    access: "admin",
    summary:
      "Roll a template version out to the tenants on older versions, in waves (canary first, then waveSize at a time, " +
      "maxConcurrency upgrades in flight, halting beyond toleratedFailurePercent); 202 with the rollout. " +
      "dryRun: 200 with the plan (tenants, waves, each version's migrations and configuration changes), nothing changed. " +
      "Migrations that drop or rewrite data are a 409 unless confirmDestructive",
    body: rolloutRequestSchema,
    response: z.union([rolloutSchema, rolloutPlanSchema]),
    successStatus: 202,
  },
  listRollouts: {
    method: "GET",
    path: "/api/provisioning/rollouts",
    group: "rollouts",
    access: "admin",
    summary:
      "List rollouts, newest first (filters: status, templateId), with counts of their tenants by status",
    query: listRolloutsQuerySchema,
    response: rolloutPageSchema,
  },
  getRollout: {
    method: "GET",
    path: "/api/provisioning/rollouts/{id}",
    group: "rollouts",
    access: "admin",
    summary: "One rollout with every wave and each tenant's status and upgrade run",
    response: rolloutSchema,
  },
  pauseRollout: {
    method: "POST",
    path: "/api/provisioning/rollouts/{id}/pause",
    group: "rollouts",
    access: "admin",
    summary: "Pause a running rollout: no new upgrade starts, the ones in flight finish",
    response: rolloutSchema,
  },
  resumeRollout: {
    method: "POST",
    path: "/api/provisioning/rollouts/{id}/resume",
    group: "rollouts",
    access: "admin",
    summary:
      "Resume a paused rollout, or one halted by its failure budget (which is checked again: recover the failed upgrades first)",
    response: rolloutSchema,
    successStatus: 202,
  },
  abortRollout: {
    method: "POST",
    path: "/api/provisioning/rollouts/{id}/abort",
    group: "rollouts",
    access: "admin",
    summary:
      "Abort a rollout: tenants not started stay on their version, upgrades in flight are cancelled, upgraded tenants stay upgraded",
    response: rolloutSchema,
  },
  listWebhooks: {
    method: "GET",
    path: "/api/provisioning/webhooks",
    group: "webhooks",
    access: "admin",
    summary: "List webhook subscriptions (without their secrets)",
    response: webhookListSchema,
  },
  createWebhook: {
    method: "POST",
    path: "/api/provisioning/webhooks",
    group: "webhooks",
    access: "admin",
    summary:
      "Subscribe an HTTPS URL to event types; the signing secret is in this answer only. Private, link-local and metadata addresses are refused",
    body: createWebhookSchema,
    response: webhookWithSecretSchema,
    successStatus: 201,
  },
  getWebhook: {
    method: "GET",
    path: "/api/provisioning/webhooks/{id}",
    group: "webhooks",
    access: "admin",
    summary: "One webhook subscription: status, failure streak, secret overlap",
    response: webhookSchema,
  },
  deleteWebhook: {
    method: "DELETE",
    path: "/api/provisioning/webhooks/{id}",
    group: "webhooks",
    access: "admin",
    summary: "Remove a webhook subscription and its deliveries",
    response: webhookSchema,
  },
  rotateWebhookSecret: {
    method: "POST",
    path: "/api/provisioning/webhooks/{id}/rotate-secret",
    group: "webhooks",
    access: "admin",
    summary:
      "A new signing secret (in this answer only); the old one also signs for overlapHours (default 24)",
    body: rotateWebhookSecretSchema,
    response: webhookWithSecretSchema,
  },
  enableWebhook: {
    method: "POST",
    path: "/api/provisioning/webhooks/{id}/enable",
    group: "webhooks",
    access: "admin",
    summary: "Enable a disabled webhook subscription again; its pending deliveries resume",
    response: webhookSchema,
  },
  testWebhook: {
    method: "POST",
    path: "/api/provisioning/webhooks/{id}/test",
    group: "webhooks",
    access: "admin",
    summary: "Send a webhook.test event to this subscription; 202 with its delivery",
    response: deliverySchema,
    successStatus: 202,
  },
  listWebhookDeliveries: {
    method: "GET",
    path: "/api/provisioning/webhooks/{id}/deliveries",
    group: "webhooks",
    access: "admin",
    summary: "A subscription's deliveries, newest first (filter: status)",
    query: listDeliveriesQuerySchema,
    response: deliveryPageSchema,
  },
  getWebhookDelivery: {
    method: "GET",
    path: "/api/provisioning/webhooks/{id}/deliveries/{deliveryId}",
    group: "webhooks",
    access: "admin",
    summary: "One delivery: every attempt (outcome, response status, latency, error) and the event",
    response: deliveryDetailSchema,
  },
  redeliverWebhookDelivery: {
    method: "POST",
    path: "/api/provisioning/webhooks/{id}/deliveries/{deliveryId}/redeliver",
    group: "webhooks",
    access: "admin",
    summary: "Deliver this event again now (same webhook-id), with a new retry window; 202",
    response: deliverySchema,
    successStatus: 202,
  },
  listCells: {
    method: "GET",
    path: "/api/cells",
    // The operations group's Lambda (one Lambda per group; the stack is near CloudFormation's 500 resources).
    group: "operations",
    access: "admin",
    summary:
      "The cells (tenant databases): whether each takes new tenants, whether this deployment configures it, " +
      "and its tenants that are not deprovisioned; main first",
    response: cellListSchema,
  },
  closeCell: {
    method: "POST",
    path: "/api/cells/{name}/close",
    group: "operations",
    access: "admin",
    summary:
      "Close a cell: placement puts no new tenant on it (a template pinned to it is refused with a 409); its tenants stay and keep working",
    response: cellSchema,
  },
  openCell: {
    method: "POST",
    path: "/api/cells/{name}/open",
    group: "operations",
    access: "admin",
    summary: "Open a closed cell again: placement may put new tenants on it",
    response: cellSchema,
  },
} as const satisfies Record<string, RouteSpec>;

export type OperationId = keyof typeof routes;
export const ERROR_RESPONSE = errorResponseSchema;

/** Every route as a list, with its operation id. */
export function routeList(): (RouteSpec & { operationId: OperationId })[] {
  return (Object.entries(routes) as [OperationId, RouteSpec][]).map(([operationId, r]) => ({
    ...r,
    operationId,
  }));
}

/** `/api/provisioning/templates/{id}` → a matcher for concrete paths that yields the parameters. */
function compile(path: string): { regex: RegExp; names: string[] } {
  const names: string[] = [];
  const pattern = path
    .split("/")
    .map((seg) => {
      const m = /^\{(\w+)\}$/.exec(seg);
      if (m) {
        names.push(m[1]!);
        return "([^/]+)";
      }
      return seg.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    })
    .join("/");
  return { regex: new RegExp(`^${pattern}/?$`), names };
}

const compiled = routeList().map((r) => ({ route: r, ...compile(r.path) }));

export type RouteMatch =
  | { kind: "found"; route: RouteSpec & { operationId: OperationId }; params: Record<string, string> }
  /** A path parameter is not valid percent-encoded UTF-8 (`/tenants/%`, `/tenants/%ED%A0%80`). */
  | { kind: "bad-parameter"; route: RouteSpec & { operationId: OperationId }; param: string }
  | { kind: "method-not-allowed"; allowed: (HttpMethod | "HEAD")[] }
  | { kind: "not-found" };

/** HEAD is answered by the GET route of the same path, as HTTP defines it (RFC 9110 §9.3.2). */
const routeMethod = (method: string) => (method === "HEAD" ? "GET" : method);

/** Finds the route for a method and concrete path. */
export function matchRoute(method: string, path: string): RouteMatch {
  const allowed: (HttpMethod | "HEAD")[] = [];
  for (const c of compiled) {
    const m = c.regex.exec(path);
    if (!m) continue;
    if (c.route.method !== routeMethod(method)) {
      allowed.push(c.route.method);
      continue;
    }
    const params: Record<string, string> = {};
    for (const [i, name] of c.names.entries()) {
      try {
        params[name] = decodeURIComponent(m[i + 1]!);
      } catch {
        return { kind: "bad-parameter", route: c.route, param: name };
      }
    }
    return { kind: "found", route: c.route, params };
  }
  if (allowed.length === 0) return { kind: "not-found" };
  if (allowed.includes("GET")) allowed.push("HEAD");
  return { kind: "method-not-allowed", allowed };
}

/** Finds a route by API Gateway's `resource` template and method (what a group Lambda receives). */
export function routeByResource(
  method: string,
  resource: string,
): (RouteSpec & { operationId: OperationId }) | undefined {
  return compiled.find((c) => c.route.method === routeMethod(method) && c.route.path === resource)?.route;
}
