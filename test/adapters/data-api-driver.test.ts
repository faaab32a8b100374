/**
 * drizzle's aws-data-api/pg driver on the migrated control-plane schema, through the Data API adapter
 * (whatever TEST_DATABASE says): query-builder round trips map jsonb to objects and timestamps to
 * Dates, `db.transaction()` commits and rolls back, and the raw-SQL helpers of functions/db/sql.ts
 * normalise the Data API's strings; errors the Data API raises inside a transaction reach the
 * caller as themselves.
 */
import { eq, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tenants, tenantTemplates } from "../../functions/db/schema.ts";
import { dateValue, jsonValue, numberValue, queryRows } from "../../functions/db/sql.ts";
import { isTransientDatabaseError, sqlState } from "../../functions/shared/errors.ts";
import { openTestDatabase, type TestDatabase } from "../support/database.ts";

let t: TestDatabase;

beforeAll(async () => {
  t = await openTestDatabase({ kind: "data-api" });
});

afterAll(async () => {
  await t?.destroy();
});

async function templateCount(name: string): Promise<number> {
  const rows = await t.db
    .select({ id: tenantTemplates.id })
    .from(tenantTemplates)
    .where(eq(tenantTemplates.name, name));
  return rows.length;
}

describe("drizzle on the Data API", () => {
  it("opens a data-api handle on the migrated schema", async () => {
    // Act
    const rows = await queryRows<{ name: string }>(
      t.db,
      sql`SELECT name FROM schema_migrations ORDER BY name`,
    );

    // Assess
    expect(t.kind).toBe("data-api");
    expect(rows.map((r) => r.name)).toContain("0001_control_plane.sql");
  });

  it("round-trips a template: jsonb as objects and arrays, timestamps as Dates", async () => {
    // Prepare
    const deletedAt = new Date("2024-03-04T05:06:07.089Z");
    const settings = {
      theme: { color: "teal" },
      features: ["orders", "budgets"],
      nested: { deep: [1, { x: null }] },
    };

    // Act
    const [inserted] = await t.db
      .insert(tenantTemplates)
      .values({
        name: "round-trip",
        settings,
        limits: { users: 25 },
        migrations: ["001_init"],
        deletedAt,
      })
      .returning();
    const [read] = await t.db.select().from(tenantTemplates).where(eq(tenantTemplates.id, inserted!.id));

    // Assess
    expect(read).toBeDefined();
    expect(read!.settings).toEqual(settings);
    expect(typeof read!.settings).toBe("object");
    expect(read!.limits).toEqual({ users: 25 });
    expect(read!.migrations).toEqual(["001_init"]);
    expect(read!.postProvisioningSteps).toEqual([]);
    expect(read!.initialData).toEqual({});
    expect(read!.deletedAt).toBeInstanceOf(Date);
    expect(read!.deletedAt!.toISOString()).toBe(deletedAt.toISOString());
    expect(read!.createdAt).toBeInstanceOf(Date);
    expect(Math.abs(read!.createdAt!.getTime() - Date.now())).toBeLessThan(60_000);
    expect(read!.version).toBe(1);
    expect(read!.isDefault).toBe(false);
    expect(inserted!.settings).toEqual(settings);
  });

  it("round-trips a timestamptz column and updates through the builder", async () => {
    // Prepare
    const createdAt = new Date("2023-12-31T23:59:59.999Z");
    const [tenant] = await t.db
      .insert(tenants)
      .values({ name: "Tz School", slug: "tz-school", createdAt, settings: { locale: "nl" } })
      .returning();

    // Act
    const updated = await t.db
      .update(tenants)
      .set({ status: "active", settings: { locale: "en" } })
      .where(eq(tenants.id, tenant!.id))
      .returning({ status: tenants.status, settings: tenants.settings, createdAt: tenants.createdAt });

    // Assess
    expect(updated).toEqual([{ status: "active", settings: { locale: "en" }, createdAt }]);
  });

  it("commits what db.transaction() wrote", async () => {
    // Act
    const id = await t.db.transaction(async (tx) => {
      const [row] = await tx.insert(tenantTemplates).values({ name: "tx-commit" }).returning();
      await tx.update(tenantTemplates).set({ version: 2 }).where(eq(tenantTemplates.id, row!.id));
      return row!.id;
    });
    const [read] = await t.db.select().from(tenantTemplates).where(eq(tenantTemplates.id, id));

    // Assess
    expect(read?.version).toBe(2);
  });

  it("persists nothing when the transaction callback throws", async () => {
    // Prepare
    const boom = new Error("boom");

    // Act
    const outcome = await t.db
      .transaction(async (tx) => {
        await tx.insert(tenantTemplates).values({ name: "tx-rollback" });
        const inside = await tx
          .select({ id: tenantTemplates.id })
          .from(tenantTemplates)
          .where(eq(tenantTemplates.name, "tx-rollback"));
        expect(inside).toHaveLength(1);
        throw boom;
      })
      .catch((error: unknown) => error);

    // Assess
    expect(outcome).toBe(boom);
    expect(await templateCount("tx-rollback")).toBe(0);
  });

  it("rolls back a nested transaction (savepoint) but keeps the outer one", async () => {
    // Act
    await t.db.transaction(async (tx) => {
      await tx.insert(tenantTemplates).values({ name: "outer-kept" });
      await tx
        .transaction(async (inner) => {
          await inner.insert(tenantTemplates).values({ name: "inner-dropped" });
          throw new Error("inner");
        })
        .catch(() => {});
    });

    // Assess
    expect(await templateCount("outer-kept")).toBe(1);
    expect(await templateCount("inner-dropped")).toBe(0);
  });

  it("surfaces a constraint violation with a SQLSTATE that errors.ts can read", async () => {
    // Prepare
    await t.db.insert(tenantTemplates).values({ name: "unique-name" });

    // Act
    const error = await t.db
      .insert(tenantTemplates)
      .values({ name: "unique-name" })
      .then(() => undefined)
      .catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(Error);
    expect(sqlState(error)).toBe("23505");
  });
});

describe("Data API errors inside db.transaction()", () => {
  it("a fault the Data API ends the transaction for reaches the caller as itself, not as 'transaction not found'", async () => {
    // Prepare: the second statement of the transaction meets a failover. The Data API then has no
    // such transaction, so drizzle's rollback answers "not found" - which must not replace the fault.
    t.dataApi!.faults.inject({ error: "DatabaseUnavailableException", sql: /^select .* "tenant_templates"/ });

    // Act
    const error = await t.db
      .transaction(async (tx) => {
        await tx.insert(tenantTemplates).values({ name: "before-failover" });
        await tx.select().from(tenantTemplates).where(eq(tenantTemplates.name, "before-failover"));
      })
      .then(() => undefined)
      .catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).cause).toMatchObject({ name: "DatabaseUnavailableException" });
    expect(isTransientDatabaseError(error)).toBe(true);
    expect(await templateCount("before-failover")).toBe(0);
  });

  it("a transaction still open after a PostgreSQL error is rolled back as before", async () => {
    // Prepare
    await t.db.insert(tenantTemplates).values({ name: "taken-in-tx" });

    // Act
    const error = await t.db
      .transaction(async (tx) => {
        await tx.insert(tenantTemplates).values({ name: "written-before-conflict" });
        await tx.insert(tenantTemplates).values({ name: "taken-in-tx" });
      })
      .then(() => undefined)
      .catch((e: unknown) => e);

    // Assess
    expect(sqlState(error)).toBe("23505");
    expect(await templateCount("written-before-conflict")).toBe(0);
  });
});

describe("raw SQL helpers on the Data API", () => {
  it("queryRows, jsonValue, dateValue and numberValue normalise the Data API's strings", async () => {
    // Prepare
    const deletedAt = new Date("2024-05-06T07:08:09.123Z");
    await t.db
      .insert(tenantTemplates)
      .values({ name: "raw-read", settings: { a: { b: [1, 2] } }, deletedAt });
    await t.db.insert(tenants).values({ name: "Raw School", slug: "raw-school", createdAt: deletedAt });

    // Act
    const [row] = await queryRows<Record<string, unknown>>(
      t.db,
      sql`SELECT settings, deleted_at, created_at, version FROM tenant_templates WHERE name = ${"raw-read"}`,
    );
    const [tenant] = await queryRows<Record<string, unknown>>(
      t.db,
      sql`SELECT created_at FROM tenants WHERE slug = ${"raw-school"}`,
    );
    const [count] = await queryRows<{ n: unknown }>(t.db, sql`SELECT count(*) AS n FROM tenant_templates`);

    // Assess
    // The driver hands back what the Data API sent: jsonb and timestamps as strings.
    expect(typeof row!.settings).toBe("string");
    expect(row!.deleted_at).toBe("2024-05-06 07:08:09.123");
    expect(tenant!.created_at).toBe("2024-05-06 07:08:09.123");
    expect(jsonValue<Record<string, unknown>>(row!.settings)).toEqual({ a: { b: [1, 2] } });
    expect(dateValue(row!.deleted_at)?.toISOString()).toBe(deletedAt.toISOString());
    expect(dateValue(tenant!.created_at)?.toISOString()).toBe(deletedAt.toISOString());
    expect(dateValue(row!.created_at)).toBeInstanceOf(Date);
    expect(row!.version).toBe(1);
    expect(numberValue(count!.n)).toBeGreaterThanOrEqual(1);
    expect(typeof count!.n).toBe("number");
  });

  it("needs an explicit cast for a uuid compared with a raw-SQL parameter (sent as varchar)", async () => {
    // Prepare
    const [row] = await t.db.insert(tenantTemplates).values({ name: "raw-uuid" }).returning();

    // Act
    const uncast = await queryRows(t.db, sql`SELECT name FROM tenant_templates WHERE id = ${row!.id}`).catch(
      (e: unknown) => e,
    );
    const cast = await queryRows<{ name: string }>(
      t.db,
      sql`SELECT name FROM tenant_templates WHERE id = ${row!.id}::uuid`,
    );

    // Assess
    expect(sqlState(uncast)).toBe("42883");
    expect(cast).toEqual([{ name: "raw-uuid" }]);
  });

  it("returns no rows (not a crash) for a raw statement without a result set", async () => {
    // Act
    const rows = await queryRows(
      t.db,
      sql`UPDATE tenant_templates SET version = version WHERE name = ${"none"}`,
    );

    // Assess
    expect(rows).toEqual([]);
  });
});
