/**
 * Webhook subscriptions and their deliveries, as the API manages them: register (URL checked
 * against the SSRF rules, secret generated, sealed, returned once), list, remove, rotate the secret
 * with an overlap, enable again after being disabled, send a test event, and list, inspect and
 * redeliver deliveries. Every change is audited in its own transaction.
 */
import { randomUUID } from "node:crypto";
import { and, count, desc, eq, type SQL } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { eventOutbox, webhookDeliveries, webhookDeliveryAttempts, webhooks } from "../../db/schema.ts";
import type {
  CreateWebhook,
  Delivery,
  DeliveryDetail,
  ListDeliveriesQuery,
  Webhook,
} from "../../schemas/events.ts";
import { ConflictError, NotFoundError, RequestValidationError } from "../../shared/errors.ts";
import type { Actor } from "../actor.ts";
import { recordAudit } from "../audit.ts";
import { dedupeKey, emitEvent } from "../events/outbox.ts";
import type { SecretSealer } from "./secret-sealer.ts";
import { checkWebhookTarget, type ResolveHost, UnsafeWebhookUrlError, type UrlPolicy } from "./url-guard.ts";
import { generateSecret } from "./webhook-signature.ts";

/** What managing subscriptions needs: sealing secrets, and the URL rules of this runtime. */
export interface WebhookAdminDeps {
  readonly db: Database;
  readonly clock: () => Date;
  readonly sealer: SecretSealer;
  readonly policy: UrlPolicy;
  readonly resolve?: ResolveHost;
}

type WebhookRow = typeof webhooks.$inferSelect;
type DeliveryRow = typeof webhookDeliveries.$inferSelect;

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function toWebhook(row: WebhookRow): Webhook {
  return {
    id: row.id,
    url: row.url,
    eventTypes: row.eventTypes,
    description: row.description,
    status: row.status,
    disabledReason: row.disabledReason,
    disabledAt: iso(row.disabledAt),
    consecutiveFailures: row.consecutiveFailures,
    failingSince: iso(row.failingSince),
    lastSuccessAt: iso(row.lastSuccessAt),
    previousSecretExpiresAt: iso(row.previousSecretExpiresAt),
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

function toDelivery(row: DeliveryRow): Delivery {
  return {
    id: row.id,
    webhookId: row.webhookId,
    eventId: row.eventId,
    eventType: row.eventType,
    status: row.status,
    attempts: row.attempts,
    nextAttemptAt: row.status === "pending" ? iso(row.nextAttemptAt) : null,
    lastAttemptAt: iso(row.lastAttemptAt),
    lastResponseStatus: row.lastResponseStatus,
    lastError: row.lastError,
    deliveredAt: iso(row.deliveredAt),
    createdAt: row.createdAt.toISOString(),
  };
}

/** The URL, checked now (form, scheme, and where its host resolves); a 400 naming `url` if refused. */
async function checkedUrl(deps: WebhookAdminDeps, url: string): Promise<string> {
  try {
    return (await checkWebhookTarget(url, deps.policy, deps.resolve)).url.toString();
  } catch (error) {
    if (error instanceof UnsafeWebhookUrlError) throw RequestValidationError.field("url", error.message);
    throw error;
  }
}

async function lockWebhook(tx: Database, id: string): Promise<WebhookRow> {
  const [row] = await tx.select().from(webhooks).where(eq(webhooks.id, id)).for("update");
  if (!row) throw new NotFoundError("webhook", id);
  return row;
}

function audit(
  tx: Database,
  actor: Actor,
  action: Parameters<typeof recordAudit>[1]["action"],
  id: string,
  details: Record<string, unknown> = {},
) {
  return recordAudit(tx, {
    actorKeyId: actor.keyId,
    action,
    targetType: "webhook",
    targetId: id,
    details,
    requestId: actor.requestId,
  });
}

/** `POST /webhooks`: the subscription and its signing secret (shown in this answer only). */
export async function createWebhook(
  deps: WebhookAdminDeps,
  body: CreateWebhook,
  actor: Actor,
): Promise<Webhook & { secret: string }> {
  const url = await checkedUrl(deps, body.url);
  const id = randomUUID();
  const secret = generateSecret();
  const sealed = await deps.sealer.seal(secret, id);
  const now = deps.clock();
  const row = await deps.db.transaction(async (tx) => {
    const [created] = await tx
      .insert(webhooks)
      .values({
        id,
        url,
        eventTypes: [...body.eventTypes],
        description: body.description ?? null,
        status: "active",
        secretSealed: sealed,
        createdBy: actor.keyId,
        createdAt: now,
        updatedAt: now,
      })
      .returning();
    await audit(tx, actor, "webhook.create", id, { url, eventTypes: body.eventTypes });
    return created!;
  });
  return { ...toWebhook(row), secret };
}

export async function listWebhooks(db: Database): Promise<Webhook[]> {
  const rows = await db.select().from(webhooks).orderBy(desc(webhooks.createdAt), desc(webhooks.id));
  return rows.map(toWebhook);
}

export async function getWebhook(db: Database, id: string): Promise<Webhook> {
  const [row] = await db.select().from(webhooks).where(eq(webhooks.id, id));
  if (!row) throw new NotFoundError("webhook", id);
  return toWebhook(row);
}

/** `DELETE /webhooks/:id`: the subscription and its deliveries go; nothing more is sent to it. */
export async function deleteWebhook(db: Database, id: string, actor: Actor): Promise<Webhook> {
  return db.transaction(async (tx) => {
    const row = await lockWebhook(tx, id);
    await tx.delete(webhooks).where(eq(webhooks.id, id));
    await audit(tx, actor, "webhook.delete", id, { url: row.url });
    return toWebhook(row);
  });
}

/**
 * `POST /webhooks/:id/rotate-secret`: a new secret (returned once); the current one keeps signing
 * beside it for `overlapHours` (a receiver verifies with either meanwhile). A rotation during an
 * overlap ends the older overlap: at most two secrets sign.
 */
export async function rotateWebhookSecret(
  deps: WebhookAdminDeps,
  id: string,
  overlapHours: number,
  actor: Actor,
): Promise<Webhook & { secret: string }> {
  const secret = generateSecret();
  const sealed = await deps.sealer.seal(secret, id);
  const now = deps.clock();
  const row = await deps.db.transaction(async (tx) => {
    const current = await lockWebhook(tx, id);
    const [updated] = await tx
      .update(webhooks)
      .set({
        secretSealed: sealed,
        previousSecretSealed: overlapHours > 0 ? current.secretSealed : null,
        previousSecretExpiresAt: overlapHours > 0 ? new Date(now.getTime() + overlapHours * 3600_000) : null,
        updatedAt: now,
      })
      .where(eq(webhooks.id, id))
      .returning();
    await audit(tx, actor, "webhook.rotate_secret", id, { overlapHours });
    return updated!;
  });
  return { ...toWebhook(row), secret };
}

/** `POST /webhooks/:id/enable`: active again, failure streak reset; pending deliveries resume. */
export async function enableWebhook(deps: WebhookAdminDeps, id: string, actor: Actor): Promise<Webhook> {
  const now = deps.clock();
  return deps.db.transaction(async (tx) => {
    const current = await lockWebhook(tx, id);
    if (current.status === "active") return toWebhook(current);
    // Its URL is checked again: it may have been disabled because it stopped pointing somewhere safe.
    await checkedUrl(deps, current.url);
    const [updated] = await tx
      .update(webhooks)
      .set({
        status: "active",
        disabledAt: null,
        disabledReason: null,
        consecutiveFailures: 0,
        failingSince: null,
        updatedAt: now,
      })
      .where(eq(webhooks.id, id))
      .returning();
    await audit(tx, actor, "webhook.enable", id, { disabledReason: current.disabledReason });
    return toWebhook(updated!);
  });
}

/** `POST /webhooks/:id/test`: a `webhook.test` event for this subscription only (202 with its delivery). */
export async function testWebhook(deps: WebhookAdminDeps, id: string, actor: Actor): Promise<Delivery> {
  const now = deps.clock();
  return deps.db.transaction(async (tx) => {
    const hook = await lockWebhook(tx, id);
    if (hook.status !== "active") {
      throw new ConflictError(
        `webhook ${id} is disabled (${hook.disabledReason ?? "by an operator"}); enable it first`,
      );
    }
    const { eventId } = await emitEvent(
      tx,
      {
        type: "webhook.test",
        tenantId: null,
        runId: null,
        data: { webhookId: id, message: "A test delivery from the tenant provisioning service." },
        dedupeKey: dedupeKey("webhook.test", id, randomUUID()),
      },
      now,
      { webhookId: id },
    );
    await audit(tx, actor, "webhook.test", id, { eventId });
    const [delivery] = await tx
      .select()
      .from(webhookDeliveries)
      .where(and(eq(webhookDeliveries.webhookId, id), eq(webhookDeliveries.eventId, eventId)));
    return toDelivery(delivery!);
  });
}

/** `GET /webhooks/:id/deliveries`: newest first. */
export async function listDeliveries(
  db: Database,
  webhookId: string,
  query: ListDeliveriesQuery,
): Promise<{ items: Delivery[]; total: number; limit: number; offset: number }> {
  await getWebhook(db, webhookId);
  const conditions: SQL[] = [eq(webhookDeliveries.webhookId, webhookId)];
  if (query.status) conditions.push(eq(webhookDeliveries.status, query.status));
  const where = and(...conditions);
  const [rows, totals] = await Promise.all([
    db
      .select()
      .from(webhookDeliveries)
      .where(where)
      .orderBy(desc(webhookDeliveries.createdAt), desc(webhookDeliveries.id))
      .limit(query.limit)
      .offset(query.offset),
    db.select({ n: count() }).from(webhookDeliveries).where(where),
  ]);
  return {
    items: rows.map(toDelivery),
    total: Number(totals[0]?.n ?? 0),
    limit: query.limit,
    offset: query.offset,
  };
}

/** `GET /webhooks/:id/deliveries/:deliveryId`: the delivery, every attempt, and the event it sends. */
export async function getDelivery(
  db: Database,
  webhookId: string,
  deliveryId: string,
): Promise<DeliveryDetail> {
  const [row] = await db
    .select({ delivery: webhookDeliveries, body: eventOutbox.body })
    .from(webhookDeliveries)
    .innerJoin(eventOutbox, eq(eventOutbox.id, webhookDeliveries.eventId))
    .where(and(eq(webhookDeliveries.id, deliveryId), eq(webhookDeliveries.webhookId, webhookId)));
  if (!row) throw new NotFoundError(`delivery of webhook ${webhookId}`, deliveryId);
  const attempts = await db
    .select()
    .from(webhookDeliveryAttempts)
    .where(eq(webhookDeliveryAttempts.deliveryId, deliveryId))
    .orderBy(webhookDeliveryAttempts.attempt);
  return {
    ...toDelivery(row.delivery),
    attemptLog: attempts.map((a) => ({
      attempt: a.attempt,
      attemptedAt: a.attemptedAt.toISOString(),
      outcome: a.outcome,
      responseStatus: a.responseStatus,
      latencyMs: a.latencyMs,
      error: a.error,
    })),
    event: JSON.parse(row.body) as Record<string, unknown>,
  };
}

/**
 * `POST /webhooks/:id/deliveries/:deliveryId/redeliver`: due now again, with a new retry window,
 * whatever its status (a succeeded delivery is replayed: same event, same `webhook-id`).
 */
export async function redeliver(
  deps: WebhookAdminDeps,
  webhookId: string,
  deliveryId: string,
  actor: Actor,
): Promise<Delivery> {
  const now = deps.clock();
  return deps.db.transaction(async (tx) => {
    const hook = await lockWebhook(tx, webhookId);
    if (hook.status !== "active") {
      throw new ConflictError(`webhook ${webhookId} is disabled; enable it before redelivering`);
    }
    const [updated] = await tx
      .update(webhookDeliveries)
      .set({ status: "pending", nextAttemptAt: now, windowStartedAt: now })
      .where(and(eq(webhookDeliveries.id, deliveryId), eq(webhookDeliveries.webhookId, webhookId)))
      .returning();
    if (!updated) throw new NotFoundError(`delivery of webhook ${webhookId}`, deliveryId);
    await audit(tx, actor, "webhook.redeliver", webhookId, { deliveryId, eventId: updated.eventId });
    return toDelivery(updated);
  });
}
