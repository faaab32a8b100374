/**
 * Starts the real local service (startLocalApp: migrations, seeds, admin key, HTTP server) on a
 * fresh test database and a random port, with a small HTTP client for the tests.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CellDirectory } from "../../functions/domain/cells/cell-directory.ts";
import { loadConfig } from "../../functions/shared/config.ts";
import { createLogger, type Logger } from "../../functions/shared/logger.ts";
import { type LocalApp, startLocalApp } from "../../local/app.ts";
import { openTestDatabase, type TestDatabase, type TestDatabaseKind } from "./database.ts";

export interface HttpResult<T = unknown> {
  readonly status: number;
  readonly body: T;
  readonly headers: Headers;
}

export interface RequestOptions {
  readonly body?: unknown;
  /** Raw body text, sent as is (for malformed JSON). */
  readonly rawBody?: string;
  /** API key to send; defaults to the admin key; `null` sends none. */
  readonly key?: string | null;
  readonly headers?: Record<string, string>;
}

export interface TestServer {
  readonly app: LocalApp;
  readonly url: string;
  readonly adminKey: string;
  readonly database: TestDatabase;
  /** The cells besides `main` (`StartTestServerOptions.cells`), each on its own test database. */
  readonly cells: ReadonlyMap<string, TestDatabase>;
  readonly dataDir: string;
  /** Log lines the service wrote (JSON strings). */
  readonly logs: string[];
  request<T = any>(method: string, path: string, options?: RequestOptions): Promise<HttpResult<T>>;
  /** Stops the service but keeps its database and data directory (for `restartOf`). */
  stop(): Promise<void>;
  close(): Promise<void>;
}

export interface StartTestServerOptions {
  readonly env?: Record<string, string>;
  readonly clock?: () => Date;
  /** Milliseconds for every Wait state of the workflows (grace periods). */
  readonly waitTimeOverrideMs?: number;
  /** How webhook hosts resolve (names made up by a test); the system resolver by default. */
  readonly resolveHost?: (hostname: string) => Promise<string[]>;
  /** The database to open (default: the one `TEST_DATABASE` chooses). */
  readonly databaseKind?: TestDatabaseKind;
  /**
   * Cells besides `main`, by name: each a fresh, unmigrated database of the same kind (the service
   * creates what a cell holds); the control plane knows them as `TENANT_CELLS` would make it.
   */
  readonly cells?: readonly string[];
  /** Start on the database and data directory of a server `stop()`ped before (a restart). */
  readonly restartOf?: { readonly database: TestDatabase; readonly dataDir: string };
}

export async function startTestServer(options: StartTestServerOptions = {}): Promise<TestServer> {
  const dataDir = options.restartOf?.dataDir ?? mkdtempSync(join(tmpdir(), "tp-test-"));
  const database =
    options.restartOf?.database ??
    (await openTestDatabase(options.databaseKind ? { kind: options.databaseKind } : {}));
  const config = loadConfig({ PORT: "0", DATA_DIR: dataDir, LOG_LEVEL: "debug", ...options.env });
  const logs: string[] = [];
  const logger: Logger = createLogger("debug", (line) => logs.push(line));
  const cellDatabases = new Map<string, TestDatabase>();
  for (const name of options.cells ?? []) {
    cellDatabases.set(
      name,
      await openTestDatabase({
        migrate: false,
        ...(options.databaseKind ? { kind: options.databaseKind } : {}),
      }),
    );
  }
  const cells =
    cellDatabases.size === 0
      ? undefined
      : new CellDirectory(
          database.db,
          new Map([...cellDatabases].map(([name, cell]) => [name, { open: async () => cell }])),
        );
  const app = await startLocalApp({
    config,
    logger,
    database,
    ...(cells ? { cells } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.waitTimeOverrideMs !== undefined ? { waitTimeOverrideMs: options.waitTimeOverrideMs } : {}),
    ...(options.resolveHost ? { resolveHost: options.resolveHost } : {}),
  });
  return {
    app,
    url: app.url,
    adminKey: app.adminKey,
    database,
    cells: cellDatabases,
    dataDir,
    logs,
    async request(method, path, opts = {}) {
      const headers: Record<string, string> = { ...opts.headers };
      const key = opts.key === undefined ? app.adminKey : opts.key;
      if (key !== null) headers.authorization = `Bearer ${key}`;
      let body: string | undefined;
      if (opts.rawBody !== undefined) body = opts.rawBody;
      else if (opts.body !== undefined) body = JSON.stringify(opts.body);
      if (body !== undefined) headers["content-type"] ??= "application/json";
      const res = await fetch(`${app.url}${path}`, {
        method,
        headers,
        ...(body !== undefined ? { body } : {}),
      });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        // not JSON: keep the text
      }
      return { status: res.status, body: parsed as never, headers: res.headers };
    },
    async stop() {
      await app.close();
    },
    async close() {
      await app.close();
      await database.destroy();
      for (const cell of cellDatabases.values()) await cell.destroy();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
