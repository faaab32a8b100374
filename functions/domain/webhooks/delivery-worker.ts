/**
 * Delivering webhooks: the local worker's timer and, in AWS, the sender Lambda (every minute) call
 * `deliverDue`, which
 * 1. takes the due deliveries of active subscriptions (`FOR UPDATE SKIP LOCKED`, so senders on
 *    one database never take the same one), and in the same statement counts the attempt, writes
 *    it as `sending` and pushes the delivery's due time to the end of a lease — a sender that dies
 *    mid-attempt leaves the delivery due again when the lease is over (at least once, same
 *    `webhook-id`), and its attempt is marked `interrupted` then;
 * 2. checks each subscription's URL again (DNS may have changed since it was registered), opens
 *    its secrets, signs and sends, a few at a time;
 * 3. records every outcome in one statement (the attempt, the delivery — succeeded, due again
 *    after a backoff, or failed once its retry window is over — and the subscription's failure
 *    streak);
 * 4. disables subscriptions that answered 410 Gone or have failed for too long, raising a
 *    `webhook_failing` alert (and its `alert.raised` event) in the same transaction.
 */
import { sql } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { dateValue, queryRows } from "../../db/sql.ts";
import type { EventsConfig } from "../../shared/config.ts";
import { rootMessage } from "../../shared/errors.ts";
import type { Logger } from "../../shared/logger.ts";
import { emitAlertsRaised, raiseAlerts } from "../operations/alerts.ts";
import { nextAttemptAt, type RetryPolicy } from "./retry-policy.ts";
import type { SecretSealer } from "./secret-sealer.ts";
import { checkWebhookTarget, type ResolveHost, type UrlPolicy, type WebhookTarget } from "./url-guard.ts";
import type { SendResult, SendWebhook } from "./webhook-sender.ts";
import { signedHeaders } from "./webhook-signature.ts";

export interface DeliverySettings {
  readonly timeoutMs: number;
  readonly retry: RetryPolicy;
  /** Deliveries taken per round (their bodies come back in one answer: keep it well under 1 MiB). */
  readonly batchSize: number;
  /** Attempts in flight at once. */
  readonly concurrency: number;
  /** Disable a subscription after this many failed attempts in a row … */
  readonly disableAfterFailures: number;
  /** … spanning at least this long (no success in between). */
  readonly disableAfterMs: number;
}

/** Deliveries taken per round: 25 event bodies of at most 16 KB stay far below 1 MiB per answer. */
export const DELIVERY_BATCH_SIZE = 25;

/** The settings of the configuration's `events` section. */
export function deliverySettingsFrom(events: EventsConfig): DeliverySettings {
  return {
    timeoutMs: events.timeoutMs,
    retry: { baseMs: events.retryBaseMs, maxDelayMs: events.retryMaxDelayMs, windowMs: events.retryWindowMs },
    batchSize: DELIVERY_BATCH_SIZE,
    concurrency: events.concurrency,
    disableAfterFailures: events.disableAfterFailures,
    disableAfterMs: events.disableAfterMs,
  };
}

export interface DeliveryDeps {
  readonly db: Database;
  readonly logger: Logger;
  readonly clock: () => Date;
  readonly sealer: SecretSealer;
  readonly policy: UrlPolicy;
  readonly resolve?: ResolveHost;
  readonly send: SendWebhook;
  readonly settings: DeliverySettings;
  readonly random?: () => number;
}

export interface DeliveryRound {
  readonly attempted: number;
  readonly succeeded: number;
  readonly failed: number;
  /** Deliveries whose retry window ended with this attempt (status failed). */
  readonly gaveUp: number;
  /** Subscriptions disabled by this round. */
  readonly disabled: readonly string[];
}

interface Claimed extends Record<string, unknown> {
  id: string;
  webhook_id: string;
  event_id: string;
  attempts: unknown;
  window_started_at: unknown;
  attempt_id: string;
  body: string;
}

interface WebhookRow extends Record<string, unknown> {
  id: string;
  url: string;
  secret_sealed: string;
  previous_secret_sealed: string | null;
  previous_secret_expires_at: unknown;
}

interface Outcome {
  readonly delivery_id: string;
  readonly attempt_id: string;
  readonly webhook_id: string;
  readonly attempt: number;
  readonly outcome: "succeeded" | "failed";
  readonly response_status: number | null;
  readonly latency_ms: number;
  readonly error: string | null;
  readonly status: "pending" | "succeeded" | "failed";
  readonly next_attempt_at: string | null;
  readonly gone: boolean;
}

/** How long a taken delivery stays away from other senders: every attempt of the round, plus one. */
export function leaseMs(settings: DeliverySettings): number {
  return (Math.ceil(settings.batchSize / settings.concurrency) + 1) * settings.timeoutMs;
}

async function claim(deps: DeliveryDeps, now: Date): Promise<Claimed[]> {
  const at = now.toISOString();
  const leaseEnd = new Date(now.getTime() + leaseMs(deps.settings)).toISOString();
  return queryRows<Claimed>(
    deps.db,
    sql`
    WITH due AS (
      SELECT d.id FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
      WHERE d.status = 'pending' AND d.next_attempt_at <= ${at}::timestamptz AND w.status = 'active'
      ORDER BY d.next_attempt_at, d.id
      LIMIT ${deps.settings.batchSize}::integer
      FOR UPDATE OF d SKIP LOCKED
    ),
    claimed AS (
      UPDATE webhook_deliveries d
      SET attempts = d.attempts + 1, next_attempt_at = ${leaseEnd}::timestamptz, last_attempt_at = ${at}::timestamptz
      FROM due WHERE d.id = due.id
      RETURNING d.id, d.webhook_id, d.event_id, d.attempts, d.window_started_at
    ),
    interrupted AS (
      UPDATE webhook_delivery_attempts a
      SET outcome = 'interrupted', error = 'the sender stopped during this attempt; the delivery was taken again'
      FROM claimed c WHERE a.delivery_id = c.id AND a.outcome = 'sending'
      RETURNING a.id
    ),
    started AS (
      INSERT INTO webhook_delivery_attempts (id, delivery_id, attempt, attempted_at)
      SELECT gen_random_uuid(), c.id, c.attempts, ${at}::timestamptz FROM claimed c
      RETURNING id, delivery_id
    )
    SELECT c.id::text AS id, c.webhook_id::text AS webhook_id, c.event_id::text AS event_id, c.attempts,
           c.window_started_at, s.id::text AS attempt_id, e.body
    FROM claimed c
    JOIN started s ON s.delivery_id = c.id
    JOIN event_outbox e ON e.id = c.event_id`,
  );
}

/** What one subscription needs for this round: its checked target and its secrets (or why not). */
interface Prepared {
  readonly target?: WebhookTarget;
  readonly secrets?: string[];
  readonly error?: string;
}

async function prepare(deps: DeliveryDeps, hook: WebhookRow, now: Date): Promise<Prepared> {
  let target: WebhookTarget;
  try {
    target = await checkWebhookTarget(hook.url, deps.policy, deps.resolve);
  } catch (error) {
    return { error: `refused: the URL ${rootMessage(error)}` };
  }
  try {
    const secrets = [await deps.sealer.open(hook.secret_sealed, hook.id)];
    const previousUntil = dateValue(hook.previous_secret_expires_at);
    if (hook.previous_secret_sealed && previousUntil && previousUntil.getTime() > now.getTime()) {
      secrets.push(await deps.sealer.open(hook.previous_secret_sealed, hook.id));
    }
    return { target, secrets };
  } catch (error) {
    deps.logger.error("could not open a webhook's signing secret", { webhookId: hook.id, error });
    return { error: "the signing secret could not be opened (see the sender's log)" };
  }
}

/** Runs `tasks` with at most `limit` in flight. */
async function pooled<T>(
  items: readonly T[],
  limit: number,
  task: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const item = items[next++]!;
      await task(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}

async function record(deps: DeliveryDeps, outcomes: readonly Outcome[], now: Date): Promise<void> {
  const at = now.toISOString();
  await deps.db.execute(sql`
    WITH r AS (
      SELECT * FROM jsonb_to_recordset(${JSON.stringify(outcomes)}::jsonb) AS r(
        delivery_id uuid, attempt_id uuid, webhook_id uuid, attempt integer, outcome text,
        response_status integer, latency_ms integer, error text, status text, next_attempt_at timestamptz,
        gone boolean)
    ),
    attempts AS (
      UPDATE webhook_delivery_attempts a
      SET outcome = r.outcome, response_status = r.response_status, latency_ms = r.latency_ms, error = r.error
      FROM r WHERE a.id = r.attempt_id
      RETURNING a.id
    ),
    deliveries AS (
      -- Only while the delivery is still at this attempt: a sender whose lease ran out and whose
      -- delivery was taken again does not overwrite the newer attempt's state.
      UPDATE webhook_deliveries d
      SET status = r.status, next_attempt_at = r.next_attempt_at, last_response_status = r.response_status,
          last_error = r.error,
          delivered_at = CASE WHEN r.outcome = 'succeeded' THEN ${at}::timestamptz ELSE d.delivered_at END
      FROM r WHERE d.id = r.delivery_id AND d.status = 'pending' AND d.attempts = r.attempt
      RETURNING d.id
    ),
    streak AS (
      SELECT webhook_id, bool_or(outcome = 'succeeded') AS any_ok,
             count(*) FILTER (WHERE outcome <> 'succeeded') AS failures
      FROM r GROUP BY webhook_id
    )
    UPDATE webhooks w
    SET consecutive_failures = CASE WHEN s.any_ok THEN 0 ELSE w.consecutive_failures + s.failures::integer END,
        failing_since = CASE WHEN s.any_ok THEN NULL ELSE coalesce(w.failing_since, ${at}::timestamptz) END,
        last_success_at = CASE WHEN s.any_ok THEN ${at}::timestamptz ELSE w.last_success_at END
    FROM streak s WHERE w.id = s.webhook_id`);
}

/**
 * Disables the round's subscriptions that answered 410 Gone or have failed `disableAfterFailures`
 * times in a row over at least `disableAfterMs`, with a `webhook_failing` alert each.
 */
async function disableFailing(
  deps: DeliveryDeps,
  outcomes: readonly Outcome[],
  now: Date,
): Promise<string[]> {
  const touched = [...new Set(outcomes.map((o) => o.webhook_id))];
  const gone = [...new Set(outcomes.filter((o) => o.gone).map((o) => o.webhook_id))];
  if (touched.length === 0) return [];
  const at = now.toISOString();
  const cutoff = new Date(now.getTime() - deps.settings.disableAfterMs).toISOString();
  return deps.db.transaction(async (tx) => {
    const disabled = await queryRows<{
      id: string;
      url: string;
      consecutive_failures: unknown;
      failing_since: unknown;
      gone: boolean;
    }>(
      tx,
      sql`
      WITH g AS (SELECT jsonb_array_elements_text(${JSON.stringify(gone)}::jsonb)::uuid AS id)
      UPDATE webhooks w
      SET status = 'disabled', disabled_at = ${at}::timestamptz, updated_at = ${at}::timestamptz,
          disabled_reason = CASE WHEN w.id IN (SELECT id FROM g)
            THEN 'the receiver answered 410 Gone'
            ELSE 'failing since ' || to_char(w.failing_since AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
                 || ': ' || w.consecutive_failures || ' failed attempts in a row' END
      WHERE w.status = 'active'
        AND w.id IN (SELECT jsonb_array_elements_text(${JSON.stringify(touched)}::jsonb)::uuid)
        AND (w.id IN (SELECT id FROM g)
             OR (w.consecutive_failures >= ${deps.settings.disableAfterFailures}::integer
                 AND w.failing_since <= ${cutoff}::timestamptz))
      RETURNING w.id::text AS id, w.url, w.consecutive_failures, w.failing_since, w.id IN (SELECT id FROM g) AS gone`,
    );
    if (disabled.length === 0) return [];
    const raised = await raiseAlerts(
      tx,
      disabled.map((w) => ({
        kind: "webhook_failing" as const,
        severity: "warning" as const,
        dedupeKey: `webhook_failing:${w.id}:${at}`,
        subjectType: "webhook" as const,
        subjectId: w.id,
        tenantId: null,
        message: w.gone
          ? `Webhook ${w.id} (${w.url}) was disabled: the receiver answered 410 Gone`
          : `Webhook ${w.id} (${w.url}) was disabled: ${String(w.consecutive_failures)} failed attempts in a row since ${dateValue(w.failing_since)?.toISOString() ?? "?"}`,
        details: { webhookId: w.id, url: w.url, consecutiveFailures: Number(w.consecutive_failures) },
      })),
      now,
    );
    await emitAlertsRaised(tx, raised, now);
    return disabled.map((w) => w.id);
  });
}

/** One round: takes the due deliveries, sends them, records the outcomes. */
export async function deliverDue(deps: DeliveryDeps): Promise<DeliveryRound> {
  const claimedAt = deps.clock();
  const claimed = await claim(deps, claimedAt);
  if (claimed.length === 0) return { attempted: 0, succeeded: 0, failed: 0, gaveUp: 0, disabled: [] };

  const ids = [...new Set(claimed.map((c) => c.webhook_id))];
  const hooks = await queryRows<WebhookRow>(
    deps.db,
    sql`SELECT id::text AS id, url, secret_sealed, previous_secret_sealed, previous_secret_expires_at
        FROM webhooks WHERE id IN (SELECT jsonb_array_elements_text(${JSON.stringify(ids)}::jsonb)::uuid)`,
  );
  const prepared = new Map<string, Promise<Prepared>>();
  for (const hook of hooks) prepared.set(hook.id, prepare(deps, hook, claimedAt));

  const outcomes: Outcome[] = [];
  await pooled(claimed, deps.settings.concurrency, async (delivery) => {
    const attempt = Number(delivery.attempts);
    const ready = (await prepared.get(delivery.webhook_id)) ?? { error: "the subscription was removed" };
    let result: SendResult;
    if (ready.target && ready.secrets) {
      const headers = signedHeaders(
        ready.secrets,
        delivery.event_id,
        Math.floor(deps.clock().getTime() / 1000),
        delivery.body,
      );
      result = await deps.send({
        target: ready.target,
        headers,
        body: delivery.body,
        timeoutMs: deps.settings.timeoutMs,
      });
    } else {
      result = {
        ok: false,
        status: null,
        latencyMs: 0,
        error: ready.error ?? "not sent",
        retryAfterMs: null,
      };
    }
    const now = deps.clock();
    const gone = result.status === 410;
    const retryAt =
      result.ok || gone
        ? null
        : nextAttemptAt(
            attempt,
            dateValue(delivery.window_started_at) ?? claimedAt,
            now,
            deps.settings.retry,
            deps.random,
            result.retryAfterMs,
          );
    outcomes.push({
      delivery_id: delivery.id,
      attempt_id: delivery.attempt_id,
      webhook_id: delivery.webhook_id,
      attempt,
      outcome: result.ok ? "succeeded" : "failed",
      response_status: result.status,
      latency_ms: result.latencyMs,
      error: result.error?.slice(0, 1000) ?? null,
      status: result.ok ? "succeeded" : retryAt ? "pending" : "failed",
      next_attempt_at: retryAt?.toISOString() ?? null,
      gone,
    });
  });

  const now = deps.clock();
  await record(deps, outcomes, now);
  const disabled = await disableFailing(deps, outcomes, now);
  for (const id of disabled) deps.logger.warn("webhook disabled", { webhookId: id });
  const round: DeliveryRound = {
    attempted: outcomes.length,
    succeeded: outcomes.filter((o) => o.outcome === "succeeded").length,
    failed: outcomes.filter((o) => o.outcome === "failed").length,
    gaveUp: outcomes.filter((o) => o.status === "failed").length,
    disabled,
  };
  deps.logger.debug("webhook deliveries attempted", { ...round });
  return round;
}

/** When the next pending delivery of an active subscription is due (to sleep until then). */
export async function nextDueAt(db: Database): Promise<Date | null> {
  const [row] = await queryRows<{ at: unknown }>(
    db,
    sql`SELECT min(d.next_attempt_at) AS at FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
        WHERE d.status = 'pending' AND w.status = 'active'`,
  );
  return dateValue(row?.at);
}
