/**
 * The local runtime's composition root: opens the database (embedded PGlite by default), applies
 * migrations, seeds the default templates, makes sure an admin key exists, wires the handlers and
 * starts the HTTP server. `npm start` and the integration tests both start the service through here.
 */
import type { AddressInfo } from "node:net";
import type { ApiDeps } from "../functions/api/deps.ts";
import { createAllGroupHandlers } from "../functions/api/groups.ts";
import { type DatabaseHandle, openDatabase } from "../functions/db/client.ts";
import { migrate } from "../functions/db/migrate.ts";
import { LocalBackupStore } from "../functions/domain/backups/local-backup-store.ts";
import { type CellDirectory, cellDirectoryFromConfig } from "../functions/domain/cells/cell-directory.ts";
import { logEventBus } from "../functions/domain/events/event-bus.ts";
import { outboxChannel } from "../functions/domain/notifications/notification-channel.ts";
import { logAlertNotifier } from "../functions/domain/operations/alerts.ts";
import { resumeUnfinishedRuns } from "../functions/domain/runs/run-control.ts";
import { localScheduler } from "../functions/domain/scheduling/scheduler.ts";
import type { StepDeps } from "../functions/domain/steps/step-deps.ts";
import { seedDefaultTemplates } from "../functions/domain/templates/default-templates.ts";
import { deliverySettingsFrom } from "../functions/domain/webhooks/delivery-worker.ts";
import { LocalSecretSealer } from "../functions/domain/webhooks/secret-sealer.ts";
import type { ResolveHost, UrlPolicy } from "../functions/domain/webhooks/url-guard.ts";
import { createSenderAgents, httpSender } from "../functions/domain/webhooks/webhook-sender.ts";
import { consoleContractModule } from "../functions/http/console-contract.ts";
import type { Config } from "../functions/shared/config.ts";
import type { Logger } from "../functions/shared/logger.ts";
import { ensureAdminKey } from "./admin-key.ts";
import { acquireDataDirLock } from "./data-dir-lock.ts";
import { secureDataDir, tightenDataDir } from "./data-dir-permissions.ts";
import { EventWorker } from "./event-worker.ts";
import { createLocalHttpServer } from "./http-server.ts";
import { LocalWorkflowRunner } from "./local-workflow-runner.ts";
import { OutboxWorker, smtpDelivery } from "./outbox-worker.ts";
import { isFreshPgliteDir, readStarterImage, saveStarterImage, starterImagePath } from "./pglite-starter.ts";
import { SchedulePoller } from "./schedule-poller.ts";
import { CONSOLE_ROOT, createStaticFiles } from "./static-files.ts";
import { createSweeper, type Sweeper } from "./sweeper.ts";

export interface LocalAppOptions {
  readonly config: Config;
  readonly logger: Logger;
  /** An already open database (tests); otherwise the one `config` describes is opened. */
  readonly database?: DatabaseHandle;
  readonly clock?: () => Date;
  /** Milliseconds for every Wait state of the workflows (tests shorten grace periods). */
  readonly waitTimeOverrideMs?: number;
  /** How webhook hosts resolve (tests hand in their own names); the system resolver by default. */
  readonly resolveHost?: ResolveHost;
  /**
   * The tenant databases (tests hand in cells on their own test databases); otherwise those
   * `config.cells` (TENANT_CELLS) describes, beside the control-plane database's own cell `main`.
   */
  readonly cells?: CellDirectory;
  /** How long `close()` waits for a graceful stop before releasing the data directory anyway (30 s). */
  readonly shutdownTimeoutMs?: number;
}

export interface LocalApp {
  readonly url: string;
  readonly port: number;
  readonly database: DatabaseHandle;
  readonly adminKey: string;
  readonly adminKeyPath: string;
  readonly workflows: LocalWorkflowRunner;
  /** The operations sweep (alerts, retention) on its timer; `runOnce()` runs it now. */
  readonly sweeper: Sweeper;
  /** Backups: `$DATA_DIR/backups/`, AES-256-GCM under `$DATA_DIR/backup.key` (made on first start). */
  readonly backups: LocalBackupStore;
  /** Starts due `scheduled_operations` (the local EventBridge Scheduler); `poll()` polls now. */
  readonly schedulePoller: SchedulePoller;
  /** Delivers queued notifications by logging them (the local SQS consumer); `drain()` drains now. */
  readonly outboxWorker: OutboxWorker;
  /** Publishes lifecycle events (to the log) and delivers webhooks; `drain()` does what is due now. */
  readonly eventWorker: EventWorker;
  /** Stops the server and background work; closes the database if the app opened it. */
  close(): Promise<void>;
}

export async function startLocalApp(options: LocalAppOptions): Promise<LocalApp> {
  const { config, logger } = options;
  // Where start-up time goes (bench/startup.ts reads these debug lines).
  let last = performance.now();
  const phase = (name: string) => {
    const now = performance.now();
    logger.debug("start-up phase", { phase: name, ms: Math.round(now - last) });
    last = now;
  };
  const ownsDatabase = options.database === undefined;
  const shutdownTimeoutMs = options.shutdownTimeoutMs ?? 30_000;
  secureDataDir(config.dataDir);
  const lock =
    ownsDatabase && config.database.kind === "pglite" ? acquireDataDirLock(config.dataDir) : undefined;
  let database: DatabaseHandle | undefined;
  try {
    // A fresh embedded database starts from the cached image of a migrated one (pglite-starter.ts).
    const fresh =
      ownsDatabase && config.database.kind === "pglite" && isFreshPgliteDir(config.database.dataDir);
    const starterPath = fresh ? starterImagePath() : undefined;
    const starter = starterPath ? readStarterImage(starterPath) : undefined;
    database =
      options.database ??
      (await openDatabase(config.database, starter ? { pglite: { loadDataDir: starter } } : {}));
    tightenDataDir(config.dataDir);
    phase(starter ? "open database (from the starter image)" : "open database");
    const applied = await migrate(database.db);
    if (applied.length > 0) logger.info("migrations applied", { applied });
    phase("migrations");
    if (starterPath && !starter && database.dumpDataDir) {
      const saved = await saveStarterImage(starterPath, await database.dumpDataDir());
      logger.debug("starter image for fresh data directories", { path: starterPath, saved });
      phase("starter image");
    }
    const seeded = await seedDefaultTemplates(database.db);
    if (seeded.length > 0) logger.info("default templates seeded", { seeded });
    phase("default templates");
    const adminKey = await ensureAdminKey(database.db, config.dataDir);
    if (adminKey.created) logger.info("admin API key generated", { path: adminKey.path });
    phase("admin key");

    const cells = options.cells ?? cellDirectoryFromConfig(database.db, config.cells);
    const addedCells = await cells.register();
    if (addedCells.length > 0) logger.info("cells added", { cells: addedCells });
    phase("cells");

    const clock = options.clock ?? (() => new Date());
    const backups = LocalBackupStore.forDataDir(config.dataDir);
    // The runner runs the steps, and a batch's step starts child runs on the runner.
    let workflows: LocalWorkflowRunner | undefined;
    const stepDeps: StepDeps = {
      db: database.db,
      cells,
      logger,
      clock,
      notifications: outboxChannel,
      lockTimeoutMs: config.stepLockTimeoutMs,
      backupBudget: config.backupBudget,
      backups,
      get workflows() {
        return workflows;
      },
    };
    workflows = new LocalWorkflowRunner({
      stepDeps,
      logger,
      retry: config.retry,
      unavailableRetry: config.unavailableRetry,
      ...(options.waitTimeOverrideMs !== undefined ? { waitTimeOverrideMs: options.waitTimeOverrideMs } : {}),
    });
    // Local mode: a receiver on this machine (loopback, http too) may subscribe; nothing else private.
    const webhookPolicy: UrlPolicy = { allowLoopback: true };
    const sealer = LocalSecretSealer.forDataDir(config.dataDir);
    const resolve = options.resolveHost ? { resolve: options.resolveHost } : {};
    const deps: ApiDeps = {
      db: database.db,
      cells,
      logger,
      clock,
      workflows,
      scheduler: localScheduler,
      webhooks: { sealer, policy: webhookPolicy, ...resolve },
      invitations: config.invitations,
    };
    const server = createLocalHttpServer({
      db: database.db,
      handlers: createAllGroupHandlers(deps),
      logger,
      clock,
      // The web console at `/`: static files that call the API above with the operator's key, and
      // the contract module they take the API's paths, enums and defaults from.
      staticFiles: createStaticFiles(CONSOLE_ROOT, { "/contract.js": consoleContractModule }),
    });
    phase("workflows and handlers");
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(config.port, "127.0.0.1", () => resolve());
    });
    const port = (server.address() as AddressInfo).port;
    phase("listen");
    const resumed = await resumeUnfinishedRuns(deps);
    if (resumed.length > 0) logger.info("resumed runs left unfinished by an earlier process", { resumed });
    phase("resume unfinished runs");
    const sweeper = createSweeper({
      db: database.db,
      cells,
      operations: config.operations,
      notifier: logAlertNotifier(logger),
      logger,
      clock,
      workflows,
    });
    sweeper.start();
    const schedulePoller = new SchedulePoller({
      db: database.db,
      workflows,
      logger,
      clock,
      intervalMs: config.deprovisioning.schedulePollIntervalMs,
    });
    schedulePoller.start();
    const { smtpUrl, senderAddress } = config.notifications;
    const outboxWorker = new OutboxWorker({
      db: database.db,
      logger,
      clock,
      intervalMs: config.deprovisioning.outboxDrainIntervalMs,
      // Logged unless SMTP_URL is set (loadConfig then requires NOTIFICATION_SENDER).
      ...(smtpUrl && senderAddress ? { deliver: smtpDelivery(smtpUrl, senderAddress, logger) } : {}),
    });
    outboxWorker.start();
    const events = config.events;
    const senderAgents = createSenderAgents(events.concurrency);
    const eventWorker = new EventWorker({
      db: database.db,
      logger,
      clock,
      bus: logEventBus(logger),
      pollIntervalMs: events.pollIntervalMs,
      delivery: {
        db: database.db,
        logger,
        clock,
        sealer,
        policy: webhookPolicy,
        ...resolve,
        send: httpSender(senderAgents),
        settings: deliverySettingsFrom(events),
      },
    });
    eventWorker.start();
    const db = database;
    let closed = false;
    return {
      url: `http://127.0.0.1:${port}`,
      port,
      database: db,
      adminKey: adminKey.key,
      adminKeyPath: adminKey.path,
      workflows,
      sweeper,
      backups,
      schedulePoller,
      outboxWorker,
      eventWorker,
      close: async () => {
        if (closed) return;
        closed = true;
        // Each stage is awaited in turn and logged; one that fails is logged and the rest still
        // run. If the whole shutdown outlasts SHUTDOWN_TIMEOUT_MS (a stage that hangs), the data
        // directory lock is released anyway: the caller (main.ts) exits next, which leaves the
        // database as a crash would, and the next start recovers it as from a crash.
        let stage = "start";
        const stages: [string, () => Promise<void> | void][] = [
          [
            "http server",
            async () => {
              server.closeAllConnections();
              await new Promise<void>((resolve) => server.close(() => resolve()));
            },
          ],
          ["sweeper", () => sweeper.stop()],
          ["schedule poller", () => schedulePoller.stop()],
          ["outbox worker", () => outboxWorker.stop()],
          ["event worker", () => eventWorker.stop()],
          [
            "webhook agents",
            () => {
              senderAgents.http.destroy();
              senderAgents.https.destroy();
            },
          ],
          // Runs in flight stay `running` in the database and resume at the next start.
          ["workflows", () => workflows.close()],
          // The cells' databases this process opened (a directory handed in is its owner's to close).
          ["cells", () => (options.cells ? undefined : cells.close())],
          [
            "database",
            async () => {
              if (ownsDatabase) await db.close();
            },
          ],
        ];
        const graceful = (async () => {
          for (const [name, run] of stages) {
            stage = name;
            const started = performance.now();
            try {
              await run();
            } catch (error) {
              logger.error("shutdown stage failed", { stage: name, error });
            }
            logger.debug("shutdown stage", { stage: name, ms: Math.round(performance.now() - started) });
          }
          stage = "done";
        })();
        let timer: NodeJS.Timeout | undefined;
        const timedOut = new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(true), shutdownTimeoutMs);
          timer.unref();
        });
        try {
          if (await Promise.race([graceful.then(() => false), timedOut]))
            logger.error("shutdown timed out", { stage, timeoutMs: shutdownTimeoutMs });
        } finally {
          clearTimeout(timer);
          lock?.release();
        }
      },
    };
  } catch (error) {
    if (ownsDatabase && database) await database.close().catch(() => {});
    lock?.release();
    throw error;
  }
}
