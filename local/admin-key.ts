/**
 * The first local start generates an admin API key and writes it to `$DATA_DIR/admin-api-key`
 * (mode 0600). Later starts keep it while it is still valid.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Database } from "../functions/db/client.ts";
import { createApiKey, isActiveKey } from "../functions/domain/auth/api-keys.ts";

export function adminKeyPath(dataDir: string): string {
  return join(dataDir, "admin-api-key");
}

/** Returns the admin key file's path and whether a new key was written. */
export async function ensureAdminKey(
  db: Database,
  dataDir: string,
): Promise<{ path: string; created: boolean; key: string }> {
  const path = adminKeyPath(dataDir);
  if (existsSync(path)) {
    const key = readFileSync(path, "utf8").trim();
    if (key && (await isActiveKey(db, key))) return { path, created: false, key };
  }
  const created = await createApiKey(db, { name: "local admin (generated at first start)", role: "admin" });
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(path, `${created.key}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
  return { path, created: true, key: created.key };
}
