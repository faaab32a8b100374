/**
 * The catalogue of tenant migrations: the `*.sql` files under `migrations/tenant/`. Templates may
 * only name migrations that exist here; `RunMigrations` applies them in the template's order.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { bundledDirectoryFromEnv } from "../../shared/config.ts";

/** `migrations/tenant/` of the repository, or `$MIGRATIONS_DIR/tenant` in a Lambda bundle. */
export function tenantMigrationsDir(): string {
  const base =
    bundledDirectoryFromEnv("MIGRATIONS_DIR") ??
    fileURLToPath(new URL("../../../migrations/", import.meta.url));
  return join(base, "tenant");
}

let cached: { dir: string; names: readonly string[] } | undefined;

/** Names of the available tenant migrations (file names without `.sql`), sorted. */
export function availableTenantMigrations(dir: string = tenantMigrationsDir()): readonly string[] {
  if (cached?.dir === dir) return cached.names;
  const names = readdirSync(dir)
    .filter((f) => f.endsWith(".sql"))
    .map((f) => f.slice(0, -4))
    .sort();
  cached = { dir, names };
  return names;
}

/** The SQL of one tenant migration. */
export function readTenantMigration(name: string, dir: string = tenantMigrationsDir()): string {
  if (!availableTenantMigrations(dir).includes(name)) throw new Error(`unknown tenant migration ${name}`);
  return readFileSync(join(dir, `${name}.sql`), "utf8");
}

/** The migration every tenant needs first: it creates schools, products and configurations. */
export const CORE_MIGRATION = "core";
