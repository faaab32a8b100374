/**
 * The outbox on each database driver: emitting in a transaction (kept on commit, gone on rollback,
 * once per dedupe key) and draining it onto a bus — ten entries a call, oldest first, refusals
 * kept and retried, an event refused too often dead-lettered, test events never published.
 */
import { randomUUID } from "node:crypto";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { numberValue, queryRows } from "../../functions/db/sql.ts";
import type { BusEntry, EventBus, PutResult } from "../../functions/domain/events/event-bus.ts";
import { publishPending } from "../../functions/domain/events/event-publisher.ts";
import { deleteExpiredEvents } from "../../functions/domain/events/event-retention.ts";
import { emitEvent } from "../../functions/domain/events/outbox.ts";
import type { NewEvent } from "../../functions/schemas/events.ts";
import { createLogger } from "../../functions/shared/logger.ts";
import { openTestDatabase, type TestDatabase } from "../support/database.ts";

let database: TestDatabase;
const logger = createLogger("silent");
const clock = () => new Date();

beforeAll(async () => {
  database = await openTestDatabase();
});

afterAll(async () => {
  await database?.destroy();
});

const scheduleEvent = (scheduleId = randomUUID()): NewEvent => ({
  type: "schedule.fired",
  tenantId: randomUUID(),
  runId: randomUUID(),
  data: { scheduleId, runAt: "2026-03-01T12:00:00.000Z" },
  dedupeKey: `schedule.fired:${scheduleId}`,
});

async function unpublished(): Promise<number> {
  const [row] = await queryRows<{ n: unknown }>(
    database.db,
    sql`SELECT count(*) AS n FROM event_outbox WHERE published_at IS NULL AND webhook_id IS NULL AND publish_attempts < 8`,
  );
  return numberValue(row?.n);
}

/** A bus that records every call and answers with `answer`. */
function recordingBus(answer: (entry: BusEntry, index: number) => PutResult = () => ({ ok: true })) {
  const calls: BusEntry[][] = [];
  const bus: EventBus = {
    put: async (entries) => {
      calls.push([...entries]);
      return entries.map(answer);
    },
  };
  return { bus, calls };
}

describe("emitting", () => {
  it("keeps an event with its transaction, loses it with a rollback, and writes a dedupe key once", async () => {
    // Prepare
    const kept = scheduleEvent();
    const rolledBack = scheduleEvent();

    // Act
    await database.db.transaction(async (tx) => {
      await emitEvent(tx, kept, new Date());
    });
    await expect(
      database.db.transaction(async (tx) => {
        await emitEvent(tx, rolledBack, new Date());
        throw new Error("the change failed");
      }),
    ).rejects.toThrow("the change failed");
    const again = await database.db.transaction((tx) => emitEvent(tx, kept, new Date()));

    // Assess
    const rows = await queryRows<{ dedupe_key: string }>(
      database.db,
      sql`SELECT dedupe_key FROM event_outbox WHERE dedupe_key IN (${kept.dedupeKey}, ${rolledBack.dedupeKey})`,
    );
    expect(rows.map((r) => r.dedupe_key)).toEqual([kept.dedupeKey]);
    expect(again.emitted).toBe(false);
  });
});

describe("publishing", () => {
  it("puts every pending event on the bus, ten per call, oldest first, and marks them published", async () => {
    // Prepare: 23 events
    await publishPending({ db: database.db, bus: recordingBus().bus, logger, clock });
    const events = Array.from({ length: 23 }, () => scheduleEvent());
    for (const [i, e] of events.entries()) {
      await database.db.transaction((tx) => emitEvent(tx, e, new Date(Date.UTC(2026, 2, 1, 12, 0, i))));
    }
    const { bus, calls } = recordingBus();

    // Act
    const result = await publishPending({ db: database.db, bus, logger, clock });

    // Assess
    expect(result).toEqual({ published: 23, refused: 0, deadLettered: 0 });
    expect(calls.map((c) => c.length)).toEqual([10, 10, 3]);
    const ids = calls.flat().map((e) => JSON.parse(e.detail).data.scheduleId);
    expect(ids).toEqual(events.map((e) => (e.data as { scheduleId: string }).scheduleId));
    expect(
      calls.flat().every((e) => e.source === "tenant-provisioning" && e.detailType === "schedule.fired"),
    ).toBe(true);
    expect(calls[0]![0]!.time).toEqual(new Date(Date.UTC(2026, 2, 1, 12, 0, 0)));
    expect(await unpublished()).toBe(0);
  });

  it("keeps refused events with their error, retries them, and dead-letters one refused too often", async () => {
    // Prepare
    const refusedEvent = scheduleEvent();
    const okEvent = scheduleEvent();
    await database.db.transaction(async (tx) => {
      await emitEvent(tx, refusedEvent, new Date());
      await emitEvent(tx, okEvent, new Date());
    });
    const refusedId = (refusedEvent.data as { scheduleId: string }).scheduleId;
    const { bus } = recordingBus((entry) =>
      entry.detail.includes(refusedId) ? { ok: false, error: "InternalFailure: no" } : { ok: true },
    );
    const dead: string[] = [];
    const deadLetters = { send: async (e: { id: string }) => void dead.push(e.id) };

    // Act
    const first = await publishPending({ db: database.db, bus, logger, clock, deadLetters, maxAttempts: 3 });
    const second = await publishPending({ db: database.db, bus, logger, clock, deadLetters, maxAttempts: 3 });
    const third = await publishPending({ db: database.db, bus, logger, clock, deadLetters, maxAttempts: 3 });
    const fourth = await publishPending({ db: database.db, bus, logger, clock, deadLetters, maxAttempts: 3 });

    // Assess
    expect(first).toEqual({ published: 1, refused: 1, deadLettered: 0 });
    expect(second).toEqual({ published: 0, refused: 1, deadLettered: 0 });
    expect(third).toEqual({ published: 0, refused: 1, deadLettered: 1 });
    expect(fourth).toEqual({ published: 0, refused: 0, deadLettered: 0 });
    const [row] = await queryRows<{ id: string; publish_attempts: unknown; publish_error: string }>(
      database.db,
      sql`SELECT id::text AS id, publish_attempts, publish_error FROM event_outbox WHERE dedupe_key = ${refusedEvent.dedupeKey}`,
    );
    expect(numberValue(row!.publish_attempts)).toBe(3);
    expect(row!.publish_error).toBe("InternalFailure: no");
    expect(dead).toEqual([row!.id]);
  });

  it("never publishes a test event meant for one subscription", async () => {
    // Prepare
    const [hook] = await queryRows<{ id: string }>(
      database.db,
      sql`INSERT INTO webhooks (url, event_types, secret_sealed) VALUES ('https://x.example', '["*"]'::jsonb, 'sealed')
          RETURNING id::text AS id`,
    );
    await database.db.transaction((tx) =>
      emitEvent(
        tx,
        {
          type: "webhook.test",
          tenantId: null,
          runId: null,
          data: { webhookId: hook!.id, message: "test" },
          dedupeKey: `webhook.test:${hook!.id}:1`,
        },
        new Date(),
        { webhookId: hook!.id },
      ),
    );
    const { bus, calls } = recordingBus();

    // Act
    await publishPending({ db: database.db, bus, logger, clock });

    // Assess
    expect(calls.flat().map((e) => e.detailType)).not.toContain("webhook.test");
    const [n] = await queryRows<{ n: unknown }>(
      database.db,
      sql`SELECT count(*) AS n FROM webhook_deliveries WHERE webhook_id = ${hook!.id}::uuid AND event_type = 'webhook.test'`,
    );
    expect(numberValue(n!.n)).toBe(1);
  });
});

describe("retention", () => {
  it("deletes old events once published and delivered, keeps the rest", async () => {
    // Prepare: three events 100 days old — published; unpublished; published with a pending delivery
    const [hook] = await queryRows<{ id: string }>(
      database.db,
      sql`INSERT INTO webhooks (url, event_types, secret_sealed) VALUES ('https://r.example', '["schedule.fired"]'::jsonb, 's')
          RETURNING id::text AS id`,
    );
    const published = scheduleEvent();
    const unpublished = scheduleEvent();
    const pending = scheduleEvent();
    await database.db.execute(sql`UPDATE webhooks SET status = 'disabled' WHERE id <> ${hook!.id}::uuid`);
    await database.db.transaction(async (tx) => {
      await emitEvent(tx, published, new Date());
      await emitEvent(tx, unpublished, new Date());
      await emitEvent(tx, pending, new Date());
    });
    const keys = [published.dedupeKey, unpublished.dedupeKey, pending.dedupeKey];
    const old = new Date(Date.now() - 100 * 86_400_000).toISOString();
    await database.db.execute(sql`
      UPDATE event_outbox SET created_at = ${old}::timestamptz,
             published_at = CASE WHEN dedupe_key = ${unpublished.dedupeKey} THEN NULL ELSE ${old}::timestamptz END
      WHERE dedupe_key IN (${keys[0]}, ${keys[1]}, ${keys[2]})`);
    await database.db.execute(sql`
      UPDATE webhook_deliveries SET status = 'succeeded'
      WHERE event_id = (SELECT id FROM event_outbox WHERE dedupe_key = ${published.dedupeKey})`);

    // Act
    const deleted = await deleteExpiredEvents(database.db, { now: new Date(), retentionDays: 90 });

    // Assess
    const left = await queryRows<{ dedupe_key: string }>(
      database.db,
      sql`SELECT dedupe_key FROM event_outbox WHERE dedupe_key IN (${keys[0]}, ${keys[1]}, ${keys[2]}) ORDER BY dedupe_key`,
    );
    expect(deleted).toBeGreaterThanOrEqual(1);
    expect(left.map((r) => r.dedupe_key).sort()).toEqual([unpublished.dedupeKey, pending.dedupeKey].sort());
    const [deliveries] = await queryRows<{ n: unknown }>(
      database.db,
      sql`SELECT count(*) AS n FROM webhook_deliveries WHERE webhook_id = ${hook!.id}::uuid`,
    );
    expect(numberValue(deliveries!.n)).toBe(2);
  });
});
