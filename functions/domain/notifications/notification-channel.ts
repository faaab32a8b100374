/**
 * Where messages to tenant users go. Locally: the `notifications_outbox` table, written in the
 * step's own transaction and drained by the local worker. In AWS: an SQS queue.
 */
import { sql } from "drizzle-orm";
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

export interface NotificationChannel {
  /** Sends (or enqueues) one message; `tx` is the step's transaction. */
  send(tx: Database, notification: Notification): Promise<void>;
}

/** The local channel: an outbox row in the same transaction as the step's work. */
export const outboxChannel: NotificationChannel = {
  async send(tx, n) {
    await tx.execute(sql`
      INSERT INTO notifications_outbox (tenant_id, progress_id, recipient, kind, payload, dedupe_key)
      VALUES (${n.tenantId}::uuid, ${n.progressId}::uuid, ${n.recipient}, ${n.kind}, ${JSON.stringify(n.payload)}::jsonb, ${n.dedupeKey})
      ON CONFLICT (dedupe_key) DO NOTHING`);
  },
};
