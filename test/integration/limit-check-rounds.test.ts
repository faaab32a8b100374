/**
 * The tenant limit checks are bounded per sweep, not per fleet (issue 18, item 1): each sweep
 * checks a batch of tenants, round-robin, and every tenant is checked within the configured period
 * however many tenants there are.
 */
import { randomUUID } from "node:crypto";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { tenants, users } from "../../functions/db/schema.ts";
import { checkTenantLimits, type LimitCheckOptions } from "../../functions/domain/operations/alert-checks.ts";
import { openTestDatabase, type TestDatabase } from "../support/database.ts";

let t: TestDatabase;
const START = new Date("2026-03-02T10:00:00Z");
const MINUTE = 60_000;

/** `count` tenants, each with one user over a maxUsers limit of 0: every check of one reports it. */
async function insertTenantsOverLimit(count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const slug = `r-${randomUUID().slice(0, 8)}`;
    const [row] = await t.db
      .insert(tenants)
      .values({ name: `Tenant ${slug}`, slug, subdomain: slug, status: "active", limits: { maxUsers: 0 } })
      .returning({ id: tenants.id });
    await t.db.insert(users).values({ tenantId: row!.id, email: `u@${slug}.example`, name: "U" });
    ids.push(row!.id);
  }
  return ids;
}

/** Runs the limit checks as sweeps `intervalMinutes` apart; returns the tenants each sweep checked. */
async function sweeps(count: number, options: Omit<LimitCheckOptions, "now">, from = START) {
  const checked: string[][] = [];
  for (let i = 0; i < count; i++) {
    const now = new Date(from.getTime() + i * options.intervalSeconds * 1000);
    const result = await t.db.transaction((tx) => checkTenantLimits(tx, { ...options, now }));
    checked.push(result.over.map((u) => u.tenantId));
  }
  return checked;
}

beforeAll(async () => {
  t = await openTestDatabase();
});

beforeEach(async () => {
  await t.db.execute(sql`DELETE FROM sweep_cursors`);
  await t.db.execute(sql`DELETE FROM users`);
  await t.db.execute(sql`DELETE FROM tenants`);
});

afterAll(async () => {
  await t?.destroy();
});

describe("tenant limit checks", () => {
  it("check a bounded batch per sweep and every tenant within the period", async () => {
    // Prepare: 23 tenants, a period of 5 sweeps: batches of at most ceil(23 / 5) = 5.
    const ids = await insertTenantsOverLimit(23);
    const options = { periodSeconds: 300, intervalSeconds: 60, minBatch: 1, maxBatch: 50 };

    // Act: the sweeps of one period (at 0, 1, 2, 3 and 4 minutes), then of the next.
    const round1 = await sweeps(5, options);
    const round2 = await sweeps(5, options, new Date(START.getTime() + 5 * MINUTE));

    // Assess
    for (const round of [round1, round2]) {
      for (const batch of round) expect(batch.length).toBeLessThanOrEqual(5);
      expect(round[0]!.length).toBeLessThan(ids.length);
      const seen = round.flat();
      expect(new Set(seen).size).toBe(seen.length);
      expect([...seen].sort()).toEqual([...ids].sort());
    }
  });

  it("check every tenant within the period when sweeps run further apart than configured", async () => {
    // Prepare: configured a minute apart, they run every two minutes (an EventBridge rule's pace).
    const ids = await insertTenantsOverLimit(10);
    const options = { periodSeconds: 600, intervalSeconds: 60, minBatch: 1, maxBatch: 50 };

    // Act: 5 sweeps two minutes apart: 0..8 minutes, within the 10-minute period.
    const checked: string[][] = [];
    for (let i = 0; i < 5; i++) {
      const now = new Date(START.getTime() + i * 2 * MINUTE);
      checked.push(
        (await t.db.transaction((tx) => checkTenantLimits(tx, { ...options, now }))).over.map(
          (u) => u.tenantId,
        ),
      );
    }

    // Assess
    expect([...checked.flat()].sort()).toEqual([...ids].sort());
    expect(checked.flat()).toHaveLength(ids.length);
  });

  it("check a fleet no larger than the minimum batch whole every sweep", async () => {
    // Prepare
    const ids = await insertTenantsOverLimit(4);

    // Act
    const checked = await sweeps(2, { periodSeconds: 3600, intervalSeconds: 60, minBatch: 100 });

    // Assess
    for (const batch of checked) expect([...batch].sort()).toEqual([...ids].sort());
  });

  it("never check more than the maximum batch, even when the round is behind its period", async () => {
    // Prepare: 9 tenants, a period of one sweep, at most 4 per sweep.
    const ids = await insertTenantsOverLimit(9);
    const options = { periodSeconds: 60, intervalSeconds: 60, minBatch: 1, maxBatch: 4 };

    // Act
    const checked = await sweeps(3, options);

    // Assess
    expect(checked.map((b) => b.length)).toEqual([4, 4, 1]);
    expect([...checked.flat()].sort()).toEqual([...ids].sort());
  });
});
