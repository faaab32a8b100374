/**
 * Production dependencies of a Lambda, built once per container on first use: configuration from
 * the environment, the database through the RDS Data API.
 */
import { openDatabase } from "../db/client.ts";
import { loadConfig } from "../shared/config.ts";
import { createLogger } from "../shared/logger.ts";
import type { ApiDeps } from "./deps.ts";

let deps: Promise<ApiDeps> | undefined;

export function productionDeps(): Promise<ApiDeps> {
  deps ??= (async () => {
    const config = loadConfig();
    const { db } = await openDatabase(config.database);
    return { db, logger: createLogger(config.logLevel), clock: () => new Date() };
  })();
  return deps;
}
