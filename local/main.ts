/**
 * `npm start`: the tenant provisioning service on this machine, with no configuration needed
 * (embedded PostgreSQL in `.data/`). See README.md for the environment variables.
 */
import { ConfigError, loadConfig } from "../functions/shared/config.ts";
import { createLogger } from "../functions/shared/logger.ts";
import { startLocalApp } from "./app.ts";
import { DataDirLockedError } from "./data-dir-lock.ts";

async function main(): Promise<void> {
  // Everything before this line — Node, tsx, loading the modules — since the process started.
  const loaded = performance.now();
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  // Signals are handled from here on: one that arrives while the service is still starting (a
  // fresh data directory takes seconds) stops it once it has started, cleanly, instead of
  // killing it half-way through writing its database.
  let app: Awaited<ReturnType<typeof startLocalApp>> | undefined;
  let stopReason: string | undefined;
  const shutDown = (running: NonNullable<typeof app>) => {
    logger.info("shutting down", { signal: stopReason });
    running.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error("shutdown failed", { error });
        process.exit(1);
      },
    );
  };
  const stop = (reason: string) => {
    if (stopReason !== undefined) return;
    stopReason = reason;
    if (app) shutDown(app);
    else logger.info("stopping once started", { signal: reason });
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
  stopWhenNpmExits(stop);
  logger.debug("start-up phase", { phase: "process and modules", ms: Math.round(loaded) });
  app = await startLocalApp({ config, logger });
  if (stopReason !== undefined) {
    shutDown(app);
    return;
  }
  const where =
    config.database.kind === "pglite"
      ? `embedded PostgreSQL in ${config.database.dataDir}`
      : config.database.kind;
  process.stdout.write(
    `Tenant provisioning service listening on ${app.url} (database: ${where})\n` +
      `Admin API key: ${app.adminKeyPath}\n` +
      `Try: curl -H "Authorization: Bearer $(cat ${app.adminKeyPath})" ${app.url}/api/provisioning/templates\n`,
  );
}

/**
 * `npm start` exits on SIGTERM without passing it on, which would leave the service running
 * without it, holding the data directory. When npm started this process (npm sets
 * `npm_lifecycle_event`), npm going away stops the service as a signal does.
 */
function stopWhenNpmExits(stop: (reason: string) => void): void {
  if (!process.env.npm_lifecycle_event) return;
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) stop("npm exited");
  }, 250).unref();
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError || error instanceof DataDirLockedError) {
    process.stderr.write(`error: ${error.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
