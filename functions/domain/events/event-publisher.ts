/**
 * Draining the outbox onto the event bus (EventBridge in AWS, the log locally): unpublished events,
 * oldest first (written first; events written at the same instant by the time of their change), ten per PutEvents call, each chunk under `FOR UPDATE SKIP LOCKED` in its own short
 * transaction so two publishers never send one chunk twice at the same time. Accepted events are
 * marked published; refused ones keep their error and are tried again by the next drain (a drain
 * stops at the first refusal rather than hammering the bus). An event the bus refused
 * `maxAttempts` times goes to the dead-letter queue (an alarm watches it) and is tried no more.
 *
 * Delivery to the bus is at least once: a crash between PutEvents and the mark publishes the
 * chunk again; consumers deduplicate on the event's `id` (the `detail.id`).
 */
import { sql } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { dateValue, queryRows } from "../../db/sql.ts";
import { EVENT_SOURCE } from "../../schemas/events.ts";
import type { Logger } from "../../shared/logger.ts";
import { type EventBus, PUT_EVENTS_MAX_ENTRIES } from "./event-bus.ts";

/** Where events the bus keeps refusing go (an SQS queue in AWS). */
export interface EventDeadLetters {
  send(event: {
    readonly id: string;
    readonly type: string;
    readonly body: string;
    readonly error: string;
  }): Promise<void>;
}

export interface PublishDeps {
  readonly db: Database;
  readonly bus: EventBus;
  readonly logger: Logger;
  readonly clock: () => Date;
  readonly deadLetters?: EventDeadLetters;
  /** Refusals before an event is dead-lettered. */
  readonly maxAttempts?: number;
}

export interface PublishResult {
  readonly published: number;
  readonly refused: number;
  readonly deadLettered: number;
}

interface Pending extends Record<string, unknown> {
  id: string;
  type: string;
  body: string;
  occurred_at: unknown;
  publish_attempts: unknown;
}

export const DEFAULT_MAX_PUBLISH_ATTEMPTS = 8;

/** Publishes up to `limit` pending events. */
export async function publishPending(deps: PublishDeps, limit = 1000): Promise<PublishResult> {
  const maxAttempts = deps.maxAttempts ?? DEFAULT_MAX_PUBLISH_ATTEMPTS;
  let published = 0;
  let refused = 0;
  let deadLettered = 0;
  while (published + refused < limit) {
    const chunk = await deps.db.transaction(async (tx) => {
      const rows = await queryRows<Pending>(
        tx,
        sql`SELECT id::text AS id, type, body, occurred_at, publish_attempts FROM event_outbox
            WHERE published_at IS NULL AND webhook_id IS NULL AND publish_attempts < ${maxAttempts}::integer
            ORDER BY created_at, occurred_at, id
            LIMIT ${PUT_EVENTS_MAX_ENTRIES}::integer
            FOR UPDATE SKIP LOCKED`,
      );
      if (rows.length === 0) return { rows, failures: [] as { row: Pending; error: string }[] };
      const results = await deps.bus.put(
        rows.map((r) => ({
          source: EVENT_SOURCE,
          detailType: r.type,
          detail: r.body,
          time: dateValue(r.occurred_at) ?? deps.clock(),
        })),
      );
      const now = deps.clock().toISOString();
      const ok = rows.filter((_, i) => results[i]?.ok);
      const failures = rows.flatMap((row, i) => {
        const result = results[i];
        return result && !result.ok ? [{ row, error: result.error }] : [];
      });
      if (ok.length > 0) {
        await tx.execute(sql`
          UPDATE event_outbox SET published_at = ${now}::timestamptz, publish_attempts = publish_attempts + 1,
                 publish_error = NULL
          WHERE id IN (SELECT jsonb_array_elements_text(${JSON.stringify(ok.map((r) => r.id))}::jsonb)::uuid)`);
      }
      if (failures.length > 0) {
        await tx.execute(sql`
          UPDATE event_outbox e SET publish_attempts = e.publish_attempts + 1, publish_error = f.error
          FROM jsonb_to_recordset(${JSON.stringify(failures.map((f) => ({ id: f.row.id, error: f.error.slice(0, 1000) })))}::jsonb)
               AS f(id uuid, error text)
          WHERE e.id = f.id`);
      }
      return { rows, failures };
    });
    if (chunk.rows.length === 0) break;
    published += chunk.rows.length - chunk.failures.length;
    refused += chunk.failures.length;
    for (const { row, error } of chunk.failures) {
      const attempts = Number(row.publish_attempts) + 1;
      deps.logger.warn("the event bus refused an event", {
        eventId: row.id,
        type: row.type,
        attempts,
        error,
      });
      if (attempts >= maxAttempts) {
        deadLettered++;
        deps.logger.error("event dead-lettered after repeated refusals", { eventId: row.id, type: row.type });
        await deps.deadLetters?.send({ id: row.id, type: row.type, body: row.body, error });
      }
    }
    // Refusals are retried by the next drain, not in a tight loop.
    if (chunk.failures.length > 0) break;
  }
  return { published, refused, deadLettered };
}
