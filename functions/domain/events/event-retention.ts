/**
 * Retention of lifecycle events: the outbox keeps an event (and its deliveries with every attempt)
 * for the retention age, then the sweep deletes it — once it is done with: published (or never to
 * be: a test event, or one the bus refused for good) and no delivery of it still pending.
 */
import { sql } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { numberValue, queryRows } from "../../db/sql.ts";
import { DEFAULT_MAX_PUBLISH_ATTEMPTS } from "./event-publisher.ts";

export interface EventRetentionOptions {
  readonly now: Date;
  readonly retentionDays: number;
  /** Events deleted per statement (their deliveries and attempts go with them). */
  readonly batchSize?: number;
  readonly maxBatches?: number;
}

/** Deletes expired events; returns how many. */
export async function deleteExpiredEvents(db: Database, options: EventRetentionOptions): Promise<number> {
  const { now, retentionDays, batchSize = 2000, maxBatches = 10 } = options;
  const cutoff = new Date(now.getTime() - retentionDays * 86_400_000).toISOString();
  let deleted = 0;
  for (let batch = 0; batch < maxBatches; batch++) {
    const rows = await queryRows<{ n: unknown }>(
      db,
      sql`
      WITH expired AS (
        SELECT e.id FROM event_outbox e
        WHERE e.created_at < ${cutoff}::timestamptz
          AND (e.published_at IS NOT NULL OR e.webhook_id IS NOT NULL
               OR e.publish_attempts >= ${DEFAULT_MAX_PUBLISH_ATTEMPTS}::integer)
          AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id AND d.status = 'pending')
        LIMIT ${batchSize}::integer
      ),
      gone AS (DELETE FROM event_outbox e USING expired x WHERE e.id = x.id RETURNING 1)
      SELECT count(*) AS n FROM gone`,
    );
    const n = numberValue(rows[0]?.n);
    deleted += n;
    if (n < batchSize) break;
  }
  return deleted;
}
