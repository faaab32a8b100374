/**
 * The tenant limit checks are bounded per sweep, not per fleet (issue 18, item 1): each sweep
 * checks a batch of tenants, round-robin, and every tenant is checked within the configured period
 * however many tenants there are; a tenant's table is counted again only when its statistics
 * counters show a change since its recorded count.
 */
import { randomUUID } from "node:crypto";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { tenants, users } from "../../functions/db/schema.ts";
import { executeScript, numberValue, queryRows } from "../../functions/db/sql.ts";
import { checkTenantLimits, type LimitCheckOptions } from "../../functions/domain/operations/alert-checks.ts";
import { CORE_MIGRATION } from "../../functions/domain/tenants/tenant-migrations.ts";
import { applyTenantMigrations, tenantSchemaName } from "../../functions/domain/tenants/tenant-schema.ts";
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
  await t.db.execute(sql`DELETE FROM tenant_table_counts`);
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

  describe("a tenant table's count", () => {
    /** A tenant with its core tables, `schools` schools and a maxSchools limit of 1. */
    async function tenantWithSchools(schools: number): Promise<string> {
      const slug = `c-${randomUUID().slice(0, 8)}`;
      const [row] = await t.db
        .insert(tenants)
        .values({
          name: `Tenant ${slug}`,
          slug,
          subdomain: slug,
          status: "active",
          limits: { maxSchools: 1 },
        })
        .returning({ id: tenants.id });
      await t.db.transaction((tx) => applyTenantMigrations(tx, row!.id, [CORE_MIGRATION]));
      await addSchools(row!.id, schools);
      return row!.id;
    }

    /** Inserts schools and has the statistics take the insert in before the next statement. */
    async function addSchools(tenantId: string, n: number): Promise<void> {
      if (n === 0) return;
      const values = Array.from({ length: n }, (_, i) => `('School ${i}')`).join(", ");
      await executeScript(
        t.db,
        `INSERT INTO ${tenantSchemaName(tenantId)}.schools (name) VALUES ${values};
         SELECT pg_stat_force_next_flush();`,
      );
      await t.db.execute(sql`SELECT 1`);
    }

    const check = async (now: Date) =>
      (
        await t.db.transaction((tx) =>
          checkTenantLimits(tx, { now, periodSeconds: 3600, intervalSeconds: 60, minBatch: 100 }),
        )
      ).over.map((u) => ({ what: u.what, actual: u.actual }));

    const setRecorded = (tenantId: string, rows: number) =>
      t.db.execute(
        sql`UPDATE tenant_table_counts SET row_count = ${rows}::bigint
            WHERE tenant_id = ${tenantId}::uuid AND table_name = 'schools'`,
      );

    it("is taken again only when the table's statistics show a change", async () => {
      // Prepare: one school (within the limit), counted by a first check.
      const id = await tenantWithSchools(1);
      expect(await check(START)).toEqual([]);
      const [recorded] = await queryRows<{ n: unknown }>(
        t.db,
        sql`SELECT row_count AS n FROM tenant_table_counts WHERE tenant_id = ${id}::uuid AND table_name = 'schools'`,
      );
      expect(numberValue(recorded?.n)).toBe(1);

      // Act: the recorded count is altered behind the check's back; then a school is added.
      await setRecorded(id, 7);
      const unchanged = await check(new Date(START.getTime() + MINUTE));
      await addSchools(id, 1);
      const changed = await check(new Date(START.getTime() + 2 * MINUTE));

      // Assess: while the table did not change, the recorded count stood (the table was not
      // counted); after the insert it was counted again.
      expect(unchanged).toEqual([{ what: "schools", actual: 7 }]);
      expect(changed).toEqual([{ what: "schools", actual: 2 }]);
    });

    it("is taken again for every table after the statistics were reset", async () => {
      // Prepare: counted once, then the recorded count altered.
      const id = await tenantWithSchools(0);
      expect(await check(START)).toEqual([]);
      await setRecorded(id, 7);

      // Act: the database's commit counter as last seen is far above today's, as after a reset.
      await t.db.execute(sql`UPDATE sweep_cursors SET stats_commits = 9000000000000`);
      const result = await check(new Date(START.getTime() + MINUTE));

      // Assess: the recorded counts were dropped and the table counted again.
      expect(result).toEqual([]);
    });
  });
});
