/**
 * A tenant's own PostgreSQL schema, `tenant_<id>`: its name, the tenant migrations that build it
 * (provisioning's RunMigrations and restoring a backup both apply them), and catalog lookups scoped
 * to that one schema (by name through `pg_namespace`/`pg_class`, never a scan across schemas).
 */
import { sql } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { executeScript, queryRows, safeIdentifier } from "../../db/sql.ts";
import { ValidationError } from "../../shared/errors.ts";
import { readTenantMigration } from "./tenant-migrations.ts";

/** The schema that holds one tenant's own tables: derived from its id, never from user input. */
export function tenantSchemaName(tenantId: string): string {
  const hex = tenantId.replace(/-/g, "").toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(hex)) throw new ValidationError(`not a tenant id: ${tenantId}`);
  return `tenant_${hex}`;
}

/** The base tables of the tenant's schema, by name; none when the schema does not exist. */
export async function tenantTableNames(db: Database, tenantId: string): Promise<string[]> {
  const rows = await queryRows<{ name: string }>(
    db,
    sql`SELECT c.relname AS name FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = ${tenantSchemaName(tenantId)} AND c.relkind IN ('r', 'p')
        ORDER BY c.relname`,
  );
  return rows.map((r) => r.name);
}

/**
 * Creates the tenant's schema (if needed) and applies the named tenant migrations that are not
 * applied yet, in order, recording each. Three round trips (the schema and its migration table;
 * which are applied; the pending scripts with their records as one script).
 */
export async function applyTenantMigrations(
  tx: Database,
  tenantId: string,
  migrations: readonly string[],
): Promise<void> {
  const schema = safeIdentifier(tenantSchemaName(tenantId));
  await executeScript(
    tx,
    `CREATE SCHEMA IF NOT EXISTS ${schema};
     CREATE TABLE IF NOT EXISTS ${schema}.schema_migrations (name VARCHAR(100) PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now());`,
  );
  const applied = new Set(
    (await queryRows<{ name: string }>(tx, sql.raw(`SELECT name FROM ${schema}.schema_migrations`))).map(
      (r) => r.name,
    ),
  );
  const pending = migrations.filter((name) => !applied.has(name));
  if (pending.length === 0) return;
  // Unqualified names in the tenant migrations resolve to the tenant's schema; the names are the
  // template's, checked against migrations/tenant/ when the template was validated.
  const records = pending.map((name) => `('${name.replace(/'/g, "''")}')`).join(", ");
  await executeScript(
    tx,
    [
      `SET LOCAL search_path TO ${schema}, public;`,
      // A script may end in a comment: its statements are closed on a line of their own.
      ...pending.map((name) => `${readTenantMigration(name)}\n;`),
      `INSERT INTO ${schema}.schema_migrations (name) VALUES ${records};`,
      "SET LOCAL search_path TO public;",
    ].join("\n"),
  );
}
