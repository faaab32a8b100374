/**
 * Deploy-time Lambda (a CDK trigger, lib/constructs/migrations-trigger.ts): applies the
 * control-plane migrations bundled with it and seeds the default templates, through the Data API.
 * Throwing fails the deployment, so a broken migration never leaves a half-updated stack behind.
 */
import { openDatabase } from "./db/client.ts";
import { loadMigrations, MIGRATIONS_DIR, migrate } from "./db/migrate.ts";
import { cellDirectoryFromConfig } from "./domain/cells/cell-directory.ts";
import { seedDefaultTemplates } from "./domain/templates/default-templates.ts";
import { bundledDirectoryFromEnv, loadConfig } from "./shared/config.ts";
import { createLogger } from "./shared/logger.ts";

export interface MigrateOnDeployResult {
  readonly applied: readonly string[];
  readonly seededTemplates: readonly string[];
  /** Cells of TENANT_CELLS the control plane did not know yet. */
  readonly addedCells: readonly string[];
}

/** The bundled `migrations/` (MIGRATIONS_DIR, set by CDK), else the repository's. */
export function migrationsDirectory(env: NodeJS.ProcessEnv = process.env): string {
  return bundledDirectoryFromEnv("MIGRATIONS_DIR", env) ?? MIGRATIONS_DIR;
}

export const handler = async (): Promise<MigrateOnDeployResult> => {
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  const { db, close } = await openDatabase(config.database);
  try {
    const applied = await migrate(db, await loadMigrations(migrationsDirectory()));
    const seededTemplates = await seedDefaultTemplates(db);
    // Each cell's row in the control plane, and its own bookkeeping table on the cell.
    const cells = cellDirectoryFromConfig(db, config.cells);
    try {
      const addedCells = await cells.register();
      logger.info("migrated on deploy", { applied, seededTemplates, addedCells });
      return { applied, seededTemplates, addedCells };
    } finally {
      await cells.close();
    }
  } finally {
    await close();
  }
};
