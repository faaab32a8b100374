/**
 * Writing lifecycle events. `emitEvent` is called inside the transaction of the change that causes
 * the event (a step's work transaction, a run hook, an API request's transaction), so the event
 * commits with the change or not at all. In the same statement it creates one delivery per active
 * webhook subscription that wants the type, so nothing has to fan events out later and a
 * subscription never misses an event committed while it existed.
 *
 * The dedupe key names the change: emitting the same change twice (a retried step, a re-run
 * execution passing through) is a no-op (`ON CONFLICT (dedupe_key) DO NOTHING`).
 */
import { randomUUID } from "node:crypto";
import { type SQL, sql } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { type ChainedWrite, numberValue, queryRows } from "../../db/sql.ts";
import {
  EVENT_CATALOGUE,
  EVENT_SOURCE,
  type EventType,
  type LifecycleEvent,
  MAX_EVENT_BYTES,
  type NewEvent,
} from "../../schemas/events.ts";

export interface EmitOptions {
  /** Deliver to this subscription only, whatever it subscribes to (a test delivery); never published. */
  readonly webhookId?: string;
}

export interface EmitResult {
  /** False: an event with this dedupe key exists already (nothing was written). */
  readonly emitted: boolean;
  readonly eventId: string;
  /** Deliveries created (subscriptions that want the type). */
  readonly deliveries: number;
}

/** The event's JSON: the body of every delivery and the EventBridge `detail`, serialised once. */
export function eventBody(event: NewEvent, id: string, now: Date): string {
  const entry = EVENT_CATALOGUE[event.type];
  // Parsing with the catalogue's schema: what is published is what the catalogue documents.
  const data = entry.data.parse(event.data);
  const envelope = {
    id,
    type: event.type,
    version: entry.version,
    timestamp: now.toISOString(),
    source: EVENT_SOURCE,
    tenantId: event.tenantId,
    runId: event.runId,
    data,
  } satisfies Record<keyof LifecycleEvent, unknown>;
  const body = JSON.stringify(envelope);
  const bytes = Buffer.byteLength(body, "utf8");
  if (bytes > MAX_EVENT_BYTES) {
    throw new Error(`event ${event.type} is ${bytes} bytes; events are at most ${MAX_EVENT_BYTES}`);
  }
  return body;
}

/**
 * The statement `emitEvent` runs: writes `event` to the outbox (unless its dedupe key exists) and
 * its deliveries, answering how many of each; `write` is the same as CTEs, to run with other
 * writes as one statement (`writesAsOne`).
 */
export function emitEventStatement(
  event: NewEvent,
  now: Date,
  options: EmitOptions = {},
): { id: string; statement: SQL; write: ChainedWrite } {
  const id = randomUUID();
  const body = eventBody(event, id, now);
  const { version } = EVENT_CATALOGUE[event.type];
  const at = now.toISOString();
  const target = options.webhookId ?? null;
  // The outbox row (`<prefix>ev`) and its deliveries (`<prefix>d`) as the CTEs of a top-level WITH.
  const ctes = (prefix: string) => {
    const ev = sql.raw(`${prefix}ev`);
    const d = sql.raw(`${prefix}d`);
    return sql`
    ${ev} AS (
      INSERT INTO event_outbox (id, type, version, tenant_id, run_id, occurred_at, body, dedupe_key, webhook_id)
      VALUES (${id}::uuid, ${event.type}, ${version}::integer, ${event.tenantId}::uuid, ${event.runId}::uuid,
              ${at}::timestamptz, ${body}, ${event.dedupeKey}, ${target}::uuid)
      ON CONFLICT (dedupe_key) DO NOTHING
      RETURNING id, type, occurred_at, webhook_id
    ),
    ${d} AS (
      INSERT INTO webhook_deliveries (webhook_id, event_id, event_type, next_attempt_at, window_started_at, created_at)
      SELECT w.id, ev.id, ev.type, ev.occurred_at, ev.occurred_at, ev.occurred_at
      FROM ${ev} AS ev JOIN webhooks w
        ON CASE WHEN ev.webhook_id IS NULL
                THEN w.status = 'active'
                     AND (w.event_types @> jsonb_build_array(ev.type) OR w.event_types @> '["*"]'::jsonb)
                ELSE w.id = ev.webhook_id END
      RETURNING 1
    )`;
  };
  const statement = sql`WITH ${ctes("")}
    SELECT (SELECT count(*) FROM ev) AS emitted, (SELECT count(*) FROM d) AS deliveries`;
  return { id, statement, write: { ctes } };
}

/**
 * Writes `event` to the outbox (unless its dedupe key exists) and its deliveries, in ONE
 * statement on `tx` — the caller's transaction.
 */
export async function emitEvent(
  tx: Database,
  event: NewEvent,
  now: Date,
  options: EmitOptions = {},
): Promise<EmitResult> {
  const { id, statement } = emitEventStatement(event, now, options);
  const [row] = await queryRows<{ emitted: unknown; deliveries: unknown }>(tx, statement);
  return {
    emitted: numberValue(row?.emitted) > 0,
    eventId: id,
    deliveries: numberValue(row?.deliveries),
  };
}

/** Several events in the caller's transaction (one statement each). */
export async function emitEvents(tx: Database, events: readonly NewEvent[], now: Date): Promise<void> {
  for (const event of events) await emitEvent(tx, event, now);
}

/** The dedupe key of a change: its type and what identifies it (`<type>:<id>[:<attempt>]`). */
export function dedupeKey(type: EventType, ...parts: readonly (string | number)[]): string {
  return [type, ...parts].join(":");
}
