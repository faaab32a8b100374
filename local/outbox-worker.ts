/**
 * The local stand-in for the notifications queue's consumer (in AWS: SQS → the SES sender Lambda,
 * functions/notification-sender.ts). Every few seconds it claims the undelivered
 * `notifications_outbox` rows (oldest first, `FOR UPDATE SKIP LOCKED` in the claiming statement,
 * so two servers on one database never take the same row), renders each with the renderer the
 * SES sender uses, and delivers it: by SMTP when `SMTP_URL` is set, else by logging it. A row
 * whose delivery fails is released and tried again by the next drain. A process killed between
 * claiming and delivering loses the claimed rows of that batch (they stay marked delivered).
 * A delivered welcome's set-password link is removed from its row: the outbox keeps no usable
 * invitation token.
 */
import { sql } from "drizzle-orm";
import { createTransport } from "nodemailer";
import type { Database } from "../functions/db/client.ts";
import { jsonValue, queryRows } from "../functions/db/sql.ts";
import {
  DEDUPE_HEADER,
  type RenderedMessage,
  renderNotification,
} from "../functions/domain/notifications/message-rendering.ts";
import type { NotificationKind } from "../functions/domain/notifications/notification-channel.ts";
import { notificationKindSchema } from "../functions/domain/notifications/notification-message.ts";
import type { Logger } from "../functions/shared/logger.ts";

/** A claimed outbox row, rendered. */
export interface OutboxMessage {
  readonly id: string;
  readonly kind: NotificationKind;
  readonly recipient: string;
  readonly tenantId: string | null;
  readonly progressId: string | null;
  readonly dedupeKey: string;
  readonly rendered: RenderedMessage;
}

/** Delivers one message; throwing leaves it for the next drain. */
export type OutboxDelivery = (message: OutboxMessage) => Promise<void>;

/** The default delivery: one log line per message (what would have been sent). */
export function logDelivery(logger: Logger): OutboxDelivery {
  return async (m) => {
    logger.info("notification delivered", {
      notificationId: m.id,
      kind: m.kind,
      recipient: m.recipient,
      tenantId: m.tenantId,
      progressId: m.progressId,
      subject: m.rendered.subject,
    });
  };
}

/** Delivery through an SMTP server (`smtp://user:pass@host:port`, or `smtps://` for TLS). */
export function smtpDelivery(smtpUrl: string, from: string, logger: Logger): OutboxDelivery {
  const transport = createTransport(smtpUrl);
  return async (m) => {
    await transport.sendMail({
      from,
      to: m.recipient,
      subject: m.rendered.subject,
      text: m.rendered.text,
      html: m.rendered.html,
      headers: { [DEDUPE_HEADER]: m.dedupeKey },
    });
    logger.info("notification sent by SMTP", { notificationId: m.id, kind: m.kind, tenantId: m.tenantId });
  };
}

export interface OutboxWorkerOptions {
  readonly db: Database;
  readonly logger: Logger;
  readonly clock: () => Date;
  readonly intervalMs: number;
  /** How messages leave: `logDelivery` unless SMTP is configured. */
  readonly deliver?: OutboxDelivery;
  /** Rows per claiming statement. */
  readonly batchSize?: number;
}

/** The payload key of an invited admin's set-password link (removed once delivered). */
const INVITATION_LINK = "setPasswordUrl";

interface Claimed extends Record<string, unknown> {
  id: string;
  kind: string;
  recipient: string;
  payload: unknown;
  dedupe_key: string;
  tenant_id: string | null;
  progress_id: string | null;
}

export class OutboxWorker {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> = Promise.resolve();
  private stopped = false;
  private readonly deliver: OutboxDelivery;

  constructor(private readonly options: OutboxWorkerOptions) {
    this.deliver = options.deliver ?? logDelivery(options.logger);
  }

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

  /** Delivers everything queued now (a failed delivery waits for the next drain); returns how many went out. */
  async drain(): Promise<number> {
    const { db, logger, clock } = this.options;
    const batch = this.options.batchSize ?? 100;
    let total = 0;
    for (;;) {
      const rows = await queryRows<Claimed>(
        db,
        sql`UPDATE notifications_outbox SET delivered_at = ${clock().toISOString()}::timestamptz
            WHERE id IN (SELECT id FROM notifications_outbox WHERE delivered_at IS NULL
                         ORDER BY created_at LIMIT ${batch} FOR UPDATE SKIP LOCKED)
            RETURNING id, kind, recipient, payload, dedupe_key, tenant_id, progress_id`,
      );
      const failed: string[] = [];
      const delivered: string[] = [];
      for (const r of rows) {
        try {
          const payload = jsonValue<Record<string, unknown>>(r.payload);
          const kind = notificationKindSchema.parse(r.kind);
          await this.deliver({
            id: r.id,
            kind,
            recipient: r.recipient,
            tenantId: r.tenant_id,
            progressId: r.progress_id,
            dedupeKey: r.dedupe_key,
            rendered: renderNotification({ kind, recipient: r.recipient, payload }),
          });
          total++;
          if (INVITATION_LINK in payload) delivered.push(r.id);
        } catch (error) {
          failed.push(r.id);
          logger.warn("notification not delivered; retried by the next drain", {
            notificationId: r.id,
            error,
          });
        }
      }
      if (delivered.length > 0) {
        // A set-password link is a bearer secret: once sent, the outbox keeps no copy of it.
        await db.execute(sql`
          UPDATE notifications_outbox SET payload = payload - ${INVITATION_LINK}::text
          WHERE id IN (SELECT jsonb_array_elements_text(${JSON.stringify(delivered)}::jsonb)::uuid)`);
      }
      if (failed.length > 0) {
        await db.execute(sql`
          UPDATE notifications_outbox SET delivered_at = NULL
          WHERE id IN (SELECT jsonb_array_elements_text(${JSON.stringify(failed)}::jsonb)::uuid)`);
        // The failed rows would be claimed again at once: leave them for the next drain.
        return total;
      }
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
