/**
 * The local stand-in for the notifications queue's consumer: every few seconds it takes the
 * undelivered `notifications_outbox` rows (oldest first, `FOR UPDATE SKIP LOCKED`, so two servers
 * on one database never deliver a row twice), "delivers" each by logging it, and marks it
 * delivered. In AWS the same messages go to SQS instead.
 */
import { sql } from "drizzle-orm";
import type { Database } from "../functions/db/client.ts";
import { queryRows } from "../functions/db/sql.ts";
import type { Logger } from "../functions/shared/logger.ts";

export interface OutboxWorkerOptions {
  readonly db: Database;
  readonly logger: Logger;
  readonly clock: () => Date;
  readonly intervalMs: number;
  /** Rows per statement. */
  readonly batchSize?: number;
}

interface Delivered extends Record<string, unknown> {
  id: string;
  kind: string;
  recipient: string;
  tenant_id: string | null;
  progress_id: string | null;
}

export class OutboxWorker {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> = Promise.resolve();
  private stopped = false;

  constructor(private readonly options: OutboxWorkerOptions) {}

  start(): void {
    this.schedule(0);
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.drain()
        .catch((error: unknown) => this.options.logger.warn("outbox drain failed", { error }))
        .finally(() => this.schedule(this.options.intervalMs));
    }, delayMs);
  }

  /** Delivers everything queued now; returns how many. */
  async drain(): Promise<number> {
    const { db, logger, clock } = this.options;
    const batch = this.options.batchSize ?? 100;
    let total = 0;
    for (;;) {
      const rows = await queryRows<Delivered>(
        db,
        sql`UPDATE notifications_outbox SET delivered_at = ${clock().toISOString()}::timestamptz
            WHERE id IN (SELECT id FROM notifications_outbox WHERE delivered_at IS NULL
                         ORDER BY created_at LIMIT ${batch} FOR UPDATE SKIP LOCKED)
            RETURNING id, kind, recipient, tenant_id, progress_id`,
      );
      for (const r of rows) {
        logger.info("notification delivered", {
          notificationId: r.id,
          kind: r.kind,
          recipient: r.recipient,
          tenantId: r.tenant_id,
          progressId: r.progress_id,
        });
      }
      total += rows.length;
      if (rows.length < batch) return total;
    }
  }

  /** Stops the timer and waits for a drain in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }
}
