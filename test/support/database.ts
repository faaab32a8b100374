/**
 * Test databases. `TEST_DATABASE` chooses the driver the integration suite runs on:
 * - `pglite` (default): an in-memory embedded PGlite;
 * - `postgres`: a fresh database on the local PostgreSQL server (`TEST_PG_URL`, default
 *   postgres://postgres@127.0.0.1:5432/postgres), dropped afterwards;
 * - `data-api`: the same fresh database reached through drizzle's aws-data-api driver, with the
 *   RDS Data client answered by the adapter in `data-api-adapter.ts`, which enforces AWS's Data
 *   API limits (64 KB rows, 1 MiB responses, 4 MiB requests, one statement, timeouts, transaction
 *   expiry): a test that passes there passes because the code stays within them.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import pg from "pg";
import { type Database, type DatabaseHandle, openDatabase } from "../../functions/db/client.ts";
import { migrate } from "../../functions/db/migrate.ts";
import type { DatabaseConfig } from "../../functions/shared/config.ts";
import type { DataApiAdapter } from "./data-api-adapter.ts";

export type TestDatabaseKind = "pglite" | "postgres" | "data-api";

export const testDatabaseKind = (process.env.TEST_DATABASE ?? "pglite") as TestDatabaseKind;
export const adminPgUrl = process.env.TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";

export interface TestDatabase extends DatabaseHandle {
  /** The config a server process would use to reach the same database. */
  readonly config: DatabaseConfig;
  /** For `postgres` and `data-api`: a URL to the fresh database (for direct pg checks). */
  readonly url?: string;
  /** For `data-api`: the adapter answering the Data API (its `faults` inject 5xx errors). */
  readonly dataApi?: DataApiAdapter;
  /** Closes and drops the database. */
  destroy(): Promise<void>;
}

/** Creates a fresh, empty database on the local PostgreSQL server and returns its URL. */
export async function createFreshPgDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `tp_test_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: adminPgUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(adminPgUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: adminPgUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

interface PgliteStartingPoint {
  /** The compiled module and its file-system bundle. */
  readonly compiled: { readonly pgliteWasmModule: WebAssembly.Module; readonly fsBundle: Blob };
  /** A data-directory image of a migrated database. */
  readonly migrated: Blob;
  /** A data-directory image of a database before any migration (what initdb leaves). */
  readonly empty: Blob;
}

let pgliteStart: Promise<PgliteStartingPoint> | undefined;

/**
 * What each test's PGlite starts from, built once per worker: the compiled WebAssembly module
 * with its file-system bundle, and a data-directory image with every migration applied. An empty
 * in-memory PGlite compiles the module and runs initdb on every open (seconds of CPU), then the
 * migrations; opening from these skips all three, and each test still gets its own database.
 */
export function pgliteStartingPoint(): Promise<PgliteStartingPoint> {
  pgliteStart ??= (async () => {
    const { PGlite } = await import("@electric-sql/pglite");
    const { drizzle } = await import("drizzle-orm/pglite");
    const { schema } = await import("../../functions/db/schema.ts");
    const dist = dirname(createRequire(import.meta.url).resolve("@electric-sql/pglite"));
    const pgliteWasmModule = await WebAssembly.compile(readFileSync(join(dist, "pglite.wasm")));
    const fsBundle = new Blob([readFileSync(join(dist, "pglite.data"))]);
    const client = new PGlite("memory://", { pgliteWasmModule, fsBundle });
    try {
      await client.waitReady;
      const empty = await client.dumpDataDir("none");
      await migrate(drizzle({ client, schema }) as unknown as Database);
      return { compiled: { pgliteWasmModule, fsBundle }, migrated: await client.dumpDataDir("none"), empty };
    } finally {
      await client.close();
    }
  })();
  return pgliteStart;
}

/** Opens a fresh migrated database of the kind chosen by `TEST_DATABASE`. */
export async function openTestDatabase(
  options: { migrate?: boolean; kind?: TestDatabaseKind } = {},
): Promise<TestDatabase> {
  const kind = options.kind ?? testDatabaseKind;
  let handle: DatabaseHandle;
  let config: DatabaseConfig;
  let url: string | undefined;
  let dataApi: DataApiAdapter | undefined;
  let drop: () => Promise<void> = async () => {};
  if (kind === "pglite") {
    config = { kind: "pglite", dataDir: "memory://" };
    const { compiled, migrated, empty } = await pgliteStartingPoint();
    handle = await openDatabase(config, {
      pglite: { ...compiled, loadDataDir: options.migrate === false ? empty : migrated },
    });
  } else {
    const fresh = await createFreshPgDatabase();
    url = fresh.url;
    drop = fresh.drop;
    if (kind === "postgres") {
      config = { kind: "postgres", url };
      handle = await openDatabase(config, { poolSize: 5 });
    } else {
      const { AWS_DATA_API_LIMITS, createDataApiAdapter } = await import("./data-api-adapter.ts");
      // AWS's limits, never looser: the Data-API run is what tells whether the code fits in them.
      const adapter = createDataApiAdapter(url, { limits: AWS_DATA_API_LIMITS });
      dataApi = adapter;
      config = {
        kind: "data-api",
        clusterArn: "arn:aws:rds:eu-west-1:123456789012:cluster:local",
        secretArn: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:local",
        database: new URL(url).pathname.slice(1),
      };
      const inner = await openDatabase(config, { rdsDataClient: adapter.client });
      handle = {
        ...inner,
        close: async () => {
          await inner.close();
          await adapter.close();
        },
      };
    }
  }
  if (options.migrate !== false) await migrate(handle.db);
  return {
    ...handle,
    config,
    ...(url === undefined ? {} : { url }),
    ...(dataApi === undefined ? {} : { dataApi }),
    destroy: async () => {
      await handle.close();
      await drop();
    },
  };
}
