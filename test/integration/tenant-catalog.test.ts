/**
 * Catalog lookups on a tenant's schema are scoped to that one schema (issue 18, item 2): two
 * tenants whose schemas differ in one table each see only their own, and the catalog rows a
 * lookup reads do not grow with the number of other tenant schemas in the database (no scan of
 * all of pg_class, pg_constraint, pg_attribute or pg_depend; no information_schema join).
 */
import { randomUUID } from "node:crypto";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Database } from "../../functions/db/client.ts";
import { tenants } from "../../functions/db/schema.ts";
import { executeScript, numberValue, queryRows } from "../../functions/db/sql.ts";
import {
  exportTenant,
  schemaExists,
  tenantTablesInOrder,
} from "../../functions/domain/backups/tenant-export.ts";
import { CORE_MIGRATION } from "../../functions/domain/tenants/tenant-migrations.ts";
import { countTenantData } from "../../functions/domain/tenants/tenant-removal.ts";
import {
  applyTenantMigrations,
  tenantSchemaName,
  tenantTableNames,
} from "../../functions/domain/tenants/tenant-schema.ts";
import { openTestDatabase, type TestDatabase } from "../support/database.ts";

let t: TestDatabase;
let a: string;
let b: string;

async function insertTenant(db: Database): Promise<string> {
  const slug = `c-${randomUUID().slice(0, 8)}`;
  const [row] = await db
    .insert(tenants)
    .values({ name: `Tenant ${slug}`, slug, subdomain: slug, status: "active" })
    .returning({ id: tenants.id });
  return row!.id;
}

async function tenantWithSchema(db: Database, extra: string): Promise<string> {
  const id = await insertTenant(db);
  await db.transaction((tx) => applyTenantMigrations(tx, id, [CORE_MIGRATION]));
  if (extra) await executeScript(db, extra.replaceAll("$S", tenantSchemaName(id)));
  return id;
}

/** Every catalog lookup the service makes on one tenant's schema (dry run, BackupData, ordering). */
async function catalogOperations(tx: Database, tenantId: string): Promise<void> {
  await schemaExists(tx, tenantSchemaName(tenantId));
  await tenantTableNames(tx, tenantId);
  await tenantTablesInOrder(tx, tenantSchemaName(tenantId));
  await countTenantData(tx, tenantId);
  await exportTenant(tx, tenantId, { kind: "full", progressId: null, now: new Date(), lock: false });
}

const CATALOGS = ["pg_class", "pg_attribute", "pg_constraint", "pg_depend"] as const;

/** Catalog rows read (by sequential and index scans) while the operations run, in one transaction. */
async function catalogRowsRead(db: Database, tenantId: string): Promise<Record<string, number>> {
  return db.transaction(async (tx) => {
    // Once to fill this connection's caches, once measured (pg_stat_xact_* counts the transaction).
    await catalogOperations(tx, tenantId);
    const before = await readCounters(tx);
    await catalogOperations(tx, tenantId);
    const after = await readCounters(tx);
    return Object.fromEntries(CATALOGS.map((c) => [c, (after[c] ?? 0) - (before[c] ?? 0)]));
  });
}

async function readCounters(tx: Database): Promise<Record<string, number>> {
  const rows = await queryRows<{ relname: string; n: unknown }>(
    tx,
    sql`SELECT relname::text AS relname,
               coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) AS n
        FROM pg_stat_xact_sys_tables
        WHERE relname IN ('pg_class', 'pg_attribute', 'pg_constraint', 'pg_depend')`,
  );
  return Object.fromEntries(rows.map((r) => [r.relname, numberValue(r.n)]));
}

beforeAll(async () => {
  t = await openTestDatabase();
  // Both have the core tables and a `notes` table; A's has a text column, B's a foreign key to
  // schools, another column, and two rows.
  a = await tenantWithSchema(t.db, "CREATE TABLE $S.notes (id SERIAL PRIMARY KEY, a_text TEXT);");
  b = await tenantWithSchema(
    t.db,
    `CREATE TABLE $S.notes (id SERIAL PRIMARY KEY, school_id UUID REFERENCES $S.schools(id), pinned BOOLEAN);
     INSERT INTO $S.schools (id, name) VALUES ('00000000-0000-4000-8000-000000000001', 'One');
     INSERT INTO $S.notes (school_id, pinned) VALUES ('00000000-0000-4000-8000-000000000001', true), (NULL, false);`,
  );
}, 60_000);

afterAll(async () => {
  await t?.destroy();
});

describe("two tenants whose schemas differ in one table", () => {
  it("each lists only its own tables", async () => {
    // Act
    const namesA = await tenantTableNames(t.db, a);
    const namesB = await tenantTableNames(t.db, b);

    // Assess
    const expected = ["configurations", "notes", "orders", "products", "schema_migrations", "schools"];
    expect(namesA).toEqual(expected);
    expect(namesB).toEqual(expected);
    expect(await tenantTableNames(t.db, randomUUID())).toEqual([]);
    expect(await schemaExists(t.db, tenantSchemaName(a))).toBe(true);
    expect(await schemaExists(t.db, tenantSchemaName(randomUUID()))).toBe(false);
  });

  it("orders each schema by its own foreign keys only", async () => {
    // Act
    const orderA = await tenantTablesInOrder(t.db, tenantSchemaName(a));
    const orderB = await tenantTablesInOrder(t.db, tenantSchemaName(b));

    // Assess: B's notes come after schools (its foreign key); A's, with none, in alphabetical order.
    expect(orderA.indexOf("notes")).toBeLessThan(orderA.indexOf("schools"));
    expect(orderB.indexOf("notes")).toBeGreaterThan(orderB.indexOf("schools"));
    for (const order of [orderA, orderB]) {
      expect(order.indexOf("orders")).toBeGreaterThan(order.indexOf("schools"));
    }
  });

  it("exports and counts each with its own columns and rows", async () => {
    // Act
    const options = { kind: "full" as const, progressId: null, now: new Date(), lock: false };
    const exportA = await exportTenant(t.db, a, options);
    const exportB = await exportTenant(t.db, b, options);
    const dryRunA = await countTenantData(t.db, a);
    const dryRunB = await countTenantData(t.db, b);

    // Assess
    const notes = (e: typeof exportA) => e.header.tables.find((x) => x.table === "notes");
    // (The header also records each column's definition and the table's constraints: schema drift.)
    expect(notes(exportA)).toMatchObject({
      section: "tenantSchema",
      table: "notes",
      columns: ["id", "a_text"],
      rows: 0,
    });
    expect(notes(exportA)?.definitions?.map((d) => d.name)).toEqual(["id", "a_text"]);
    expect(notes(exportB)).toMatchObject({
      section: "tenantSchema",
      table: "notes",
      columns: ["id", "school_id", "pinned"],
      rows: 2,
    });
    expect(notes(exportB)?.definitions?.map((d) => d.name)).toEqual(["id", "school_id", "pinned"]);
    const tenantRow = exportA.header.tables.find(
      (x) => x.section === "controlPlane" && x.table === "tenants",
    );
    expect(tenantRow?.columns).toContain("slug");
    expect(dryRunA.tenantSchema).toMatchObject({ notes: 0, schools: 0 });
    expect(dryRunB.tenantSchema).toMatchObject({ notes: 2, schools: 1 });
  });

  it("reads as many catalog rows with 20 more tenant schemas in the database as before", async () => {
    // Arrange
    const before = await catalogRowsRead(t.db, b);
    for (let i = 0; i < 20; i++) await tenantWithSchema(t.db, "");

    // Act
    const after = await catalogRowsRead(t.db, b);

    // Assess: 20 more schemas add ~20 × 30 rows to pg_class, ~20 × 200 to pg_attribute, 20 × 10
    // to pg_constraint and pg_depend; a scan of any of them would read those too.
    for (const catalog of CATALOGS) expect(after[catalog], catalog).toBeLessThanOrEqual(before[catalog]! + 5);
    expect(before.pg_class).toBeGreaterThan(0);
  }, 120_000);
});
