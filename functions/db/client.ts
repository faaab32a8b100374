/**
 * Opens the control-plane database through one of three Drizzle drivers. Everything above this
 * module sees only `Database`; it never learns which driver it has.
 */
import type { RDSDataClient, RollbackTransactionCommand } from "@aws-sdk/client-rds-data";
import type { PGliteOptions } from "@electric-sql/pglite";
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import type { DatabaseConfig } from "../shared/config.ts";
import { waitingForResume } from "./resume-wait.ts";
import { schema } from "./schema.ts";

export type Schema = typeof schema;
export type Database = PgDatabase<PgQueryResultHKT, Schema>;
export type DatabaseKind = DatabaseConfig["kind"];

export interface DatabaseHandle {
  readonly db: Database;
  readonly kind: DatabaseKind;
  /** Releases connections (PGlite: closes the embedded instance). */
  close(): Promise<void>;
  /** PGlite only: an image of its whole data directory (what `loadDataDir` starts from). */
  readonly dumpDataDir?: () => Promise<Blob>;
}

export interface OpenDatabaseOptions {
  /** The Data API client to use (tests hand in an adapter; Lambdas get the SDK client). */
  readonly rdsDataClient?: RDSDataClient;
  /** Max pool size for node-postgres. */
  readonly poolSize?: number;
  /**
   * Data API: how long one call waits for an auto-paused cluster to resume before the
   * DatabaseResumingException reaches the caller (resume-wait.ts); overrides the config's
   * `resumeWaitSeconds` (no wait when neither is set).
   */
  readonly resumeWaitMs?: number;
  /**
   * PGlite: what to start from instead of PGlite's defaults — a data-directory image (what
   * `dumpDataDir()` returns) instead of running initdb on an empty database, and an already
   * compiled WebAssembly module with its file-system bundle. An in-memory PGlite otherwise
   * compiles its module and runs initdb on every open (seconds of CPU); the tests build one
   * migrated image and one module per worker and open each test database from them.
   */
  readonly pglite?: Pick<PGliteOptions, "loadDataDir" | "pgliteWasmModule" | "fsBundle">;
}

/** "Transaction <id> is not found": the Data API no longer has the transaction. */
function isTransactionGone(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  return (
    error.name === "TransactionNotFoundException" ||
    error.name === "NotFoundException" ||
    /^Transaction \S+ is not found/.test(error.message)
  );
}

/**
 * The RDS Data client as drizzle's aws-data-api driver gets it. drizzle rolls a transaction back
 * after any error inside it and throws what the rollback throws. But the Data API ends a
 * transaction itself after its own errors (a failover, a statement timeout, a result too large:
 * "Transaction has been aborted due to an error from a previous call"), so that rollback answers
 * "Transaction <id> is not found" and would hide the error that says what happened - and whether a
 * retry helps. A rollback of a transaction the Data API no longer has is done: it answers as one.
 * https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/data-api.troubleshooting.html
 */
export function withForgivingRollback(
  client: RDSDataClient,
  rollbackCommand: typeof RollbackTransactionCommand,
): RDSDataClient {
  return new Proxy(client, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (property !== "send" || typeof value !== "function") return value;
      return async (...args: unknown[]) => {
        try {
          return await value.apply(target, args);
        } catch (error) {
          if (args[0] instanceof rollbackCommand && isTransactionGone(error)) {
            return { $metadata: {}, transactionStatus: "Rollback Complete" };
          }
          throw error;
        }
      };
    },
  });
}

/** Opens the database described by `config`. */
export async function openDatabase(
  config: DatabaseConfig,
  options: OpenDatabaseOptions = {},
): Promise<DatabaseHandle> {
  switch (config.kind) {
    case "pglite": {
      const { PGlite } = await import("@electric-sql/pglite");
      const { drizzle } = await import("drizzle-orm/pglite");
      const client = new PGlite(config.dataDir, { ...options.pglite });
      await client.waitReady;
      await client.exec("SET TIME ZONE 'UTC'");
      const db = drizzle({ client, schema }) as unknown as Database;
      return {
        db,
        kind: "pglite",
        close: () => client.close(),
        dumpDataDir: () => client.dumpDataDir("none"),
      };
    }
    case "postgres": {
      const pg = await import("pg");
      const { drizzle } = await import("drizzle-orm/node-postgres");
      const pool = new pg.default.Pool({
        connectionString: config.url,
        max: options.poolSize ?? 10,
        maxLifetimeSeconds: config.connectionMaxLifetimeSeconds ?? 0,
        options: "-c TimeZone=UTC",
      });
      // An idle client that loses its connection must not crash the process; the next query reconnects.
      pool.on("error", () => {});
      const db = drizzle({ client: pool, schema }) as unknown as Database;
      return { db, kind: "postgres", close: () => pool.end() };
    }
    case "data-api": {
      const { drizzle } = await import("drizzle-orm/aws-data-api/pg");
      const sdk = await import("@aws-sdk/client-rds-data");
      const client = options.rdsDataClient ?? new sdk.RDSDataClient({});
      const maxWaitMs = options.resumeWaitMs ?? (config.resumeWaitSeconds ?? 0) * 1000;
      const sending = withForgivingRollback(
        waitingForResume(client, { maxWaitMs }),
        sdk.RollbackTransactionCommand,
      );
      const db = drizzle(sending, {
        database: config.database,
        resourceArn: config.clusterArn,
        secretArn: config.secretArn,
        schema,
      }) as unknown as Database;
      return { db, kind: "data-api", close: async () => client.destroy() };
    }
  }
}
