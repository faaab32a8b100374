/** `npm run migrate`: applies the control-plane migrations to the configured database and exits. */
import { openDatabase } from "../functions/db/client.ts";
import { migrate } from "../functions/db/migrate.ts";
import { loadConfig } from "../functions/shared/config.ts";
import { acquireDataDirLock } from "./data-dir-lock.ts";
import { secureDataDir, tightenDataDir } from "./data-dir-permissions.ts";

const config = loadConfig();
secureDataDir(config.dataDir);
const lock = config.database.kind === "pglite" ? acquireDataDirLock(config.dataDir) : undefined;
try {
  const handle = await openDatabase(config.database);
  tightenDataDir(config.dataDir);
  const applied = await migrate(handle.db);
  await handle.close();
  process.stdout.write(applied.length > 0 ? `applied: ${applied.join(", ")}\n` : "database is up to date\n");
} catch (error) {
  process.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
} finally {
  lock?.release();
}
