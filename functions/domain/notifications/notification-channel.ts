/**
 * Where messages to tenant users go. Locally: the `notifications_outbox` table, written in the
 * step's own transaction and drained by the local worker. In AWS: an SQS queue.
 */
import { type SQL, sql } from "drizzle-orm";
import type { Database } from "../../db/client.ts";

export type NotificationKind = "welcome" | "deprovisioning_notice";

export interface Notification {
  readonly tenantId: string;
  readonly progressId: string;
  readonly recipient: string;
  readonly kind: NotificationKind;
  readonly payload: Record<string, unknown>;
  /** Sending the same key twice delivers once (a retried step must not notify twice). */
  readonly dedupeKey: string;
}

/**
 * Records, in the database, the notifications of a batch that were sent (`tx`: the outbox's own
 * transaction locally, so sending and recording commit together; the database itself in AWS).
 */
export type RecordSent = (tx: Database, sent: readonly Notification[]) => Promise<void>;

/** At most this many notifications per batch (SQS SendMessageBatch takes 10 entries). */
export const MAX_BATCH_ENTRIES = 10;
/** At most this many bytes of messages per batch (SQS SendMessageBatch's 256 KiB payload). */
export const MAX_BATCH_BYTES = 256 * 1024;

export interface NotificationChannel {
  /** Sends (or enqueues) one message; `tx` is the step's transaction. */
  send(tx: Database, notification: Notification): Promise<void>;
  /**
   * `send` as a statement, for a channel that enqueues in the database (the local outbox): a step
   * can then send with its completion mark as ONE statement. A channel without it (SQS) is sent to
   * in the step's transaction.
   */
  sendStatement?(notification: Notification): SQL;
  /**
   * Sends up to `MAX_BATCH_ENTRIES` notifications outside any long transaction and records the
   * ones that went with `record`. Throws (after recording those that went) when some did not.
   */
  sendBatch(db: Database, notifications: readonly Notification[], record: RecordSent): Promise<void>;
}

function insertOutboxStatement(batch: readonly Notification[]): SQL {
  const values = sql.join(
    batch.map(
      (n) =>
        sql`(${n.tenantId}::uuid, ${n.progressId}::uuid, ${n.recipient}, ${n.kind}, ${JSON.stringify(n.payload)}::jsonb, ${n.dedupeKey})`,
    ),
    sql`, `,
  );
  return sql`
    INSERT INTO notifications_outbox (tenant_id, progress_id, recipient, kind, payload, dedupe_key)
    VALUES ${values}
    ON CONFLICT (dedupe_key) DO NOTHING`;
}

function insertOutbox(tx: Database, batch: readonly Notification[]) {
  return tx.execute(insertOutboxStatement(batch));
}

/** The local channel: outbox rows, in the step's transaction (or, for a batch, with its record). */
export const outboxChannel: NotificationChannel = {
  async send(tx, n) {
    await insertOutbox(tx, [n]);
  },
  sendStatement: (n) => insertOutboxStatement([n]),
  async sendBatch(db, batch, record) {
    if (batch.length === 0) return;
    await db.transaction(async (tx) => {
      await insertOutbox(tx, batch);
      await record(tx, batch);
    });
  },
};

/** Splits notifications into batches within `MAX_BATCH_ENTRIES` and `MAX_BATCH_BYTES`. */
export function intoBatches<T>(items: readonly T[], bytesOf: (item: T) => number): T[][] {
  const batches: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const b = bytesOf(item);
    if (b > MAX_BATCH_BYTES)
      throw new Error(`a notification of ${b} bytes exceeds a batch's ${MAX_BATCH_BYTES}`);
    if (current.length === MAX_BATCH_ENTRIES || (current.length > 0 && bytes + b > MAX_BATCH_BYTES)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += b;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}
