/**
 * What a tenant owns (functions/domain/tenants/tenant-removal.ts) is listed once; this checks the
 * list against the migrated control plane, so a table added with a `tenant_id` column must say
 * what removing a tenant does with its rows. (The removal itself, and that a dry run counts what it
 * removes, is tested through deprovisioning and cleanup.)
 */
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, expect, it } from "vitest";
import { queryRows } from "../../functions/db/sql.ts";
import { TENANT_ROWS } from "../../functions/domain/tenants/tenant-removal.ts";
import { openTestDatabase, type TestDatabase } from "../support/database.ts";

let t: TestDatabase;

beforeAll(async () => {
  t = await openTestDatabase();
});

afterAll(async () => {
  await t?.destroy();
});

it("lists every control-plane table that has a tenant_id column, and only existing tables", async () => {
  // Act
  const withTenantId = await queryRows<{ table_name: string }>(
    t.db,
    sql`SELECT table_name FROM information_schema.columns
        WHERE table_schema = current_schema() AND column_name = 'tenant_id' ORDER BY table_name`,
  );
  const tables = await queryRows<{ table_name: string }>(
    t.db,
    sql`SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()`,
  );

  // Assess
  const listed = Object.keys(TENANT_ROWS);
  expect(withTenantId.length).toBeGreaterThan(5);
  for (const { table_name } of withTenantId) expect(listed, table_name).toContain(table_name);
  const existing = tables.map((r) => r.table_name);
  for (const table of listed) expect(existing, table).toContain(table);
});
