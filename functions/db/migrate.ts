/**
 * Applies the control-plane SQL migrations in `migrations/` in file-name order, each file in its
 * own transaction together with its record in `schema_migrations`. Applying twice is a no-op, and
 * two processes migrating at once serialise on an advisory lock.
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { sql } from "drizzle-orm";
import type { Database } from "./client.ts";
import { executeScript, queryRows } from "./sql.ts";

export { splitStatements } from "./sql.ts";

export interface MigrationFile {
  readonly name: string;
  readonly sql: string;
}

/** The repository's `migrations/` directory. */
export const MIGRATIONS_DIR = fileURLToPath(new URL("../../migrations/", import.meta.url));

/** Reads `*.sql` files of a directory (not recursing), sorted by name. */
export async function loadMigrations(dir: string = MIGRATIONS_DIR): Promise<MigrationFile[]> {
  const names = (await readdir(dir)).filter((n) => n.endsWith(".sql")).sort();
  return Promise.all(names.map(async (name) => ({ name, sql: await readFile(join(dir, name), "utf8") })));
}

const MIGRATION_LOCK_KEY = 7_412_001;

/** Applies every pending migration; returns the names applied now. */
export async function migrate(db: Database, files?: readonly MigrationFile[]): Promise<string[]> {
  const migrations = files ?? (await loadMigrations());
  // Usually everything is applied already: two reads decide, and no transaction is opened.
  const [table] = await queryRows<{ found: unknown }>(
    db,
    sql`SELECT to_regclass('schema_migrations') IS NOT NULL AS found`,
  );
  const known = new Set(
    table?.found === true
      ? (await queryRows<{ name: string }>(db, sql`SELECT name FROM schema_migrations`)).map((r) => r.name)
      : [],
  );
  const pending = migrations.filter((m) => !known.has(m.name));
  if (pending.length === 0) return [];
  await db.execute(
    sql`CREATE TABLE IF NOT EXISTS schema_migrations (name VARCHAR(255) PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`,
  );
  const applied: string[] = [];
  for (const file of pending) {
    const done = await db.transaction(async (tx) => {
      await tx.execute(sql`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`);
      const existing = await queryRows(
        tx as unknown as Database,
        sql`SELECT name FROM schema_migrations WHERE name = ${file.name}`,
      );
      if (existing.length > 0) return false;
      await executeScript(tx as unknown as Database, file.sql);
      await tx.execute(sql`INSERT INTO schema_migrations (name) VALUES (${file.name})`);
      return true;
    });
    if (done) applied.push(file.name);
  }
  return applied;
}
