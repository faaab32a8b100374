/**
 * What the benches share: the real service (startLocalApp: HTTP API, the ASL run in-process, the
 * step handlers) on embedded PGlite in memory or on a fresh database of the local PostgreSQL
 * server (`TEST_PG_URL`), its API with the admin key, and a count of the database statements it
 * sends (node-postgres: every `Client#query`, the pool's included; PGlite: every extended-protocol
 * Parse and simple-protocol Query message).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { type DatabaseHandle, openDatabase } from "../../functions/db/client.ts";
import { migrate } from "../../functions/db/migrate.ts";
import { loadConfig } from "../../functions/shared/config.ts";
import { silentLogger } from "../../functions/shared/logger.ts";
import { type LocalApp, startLocalApp } from "../../local/app.ts";
import { createFreshPgDatabase } from "../../test/support/database.ts";

export type BenchTarget = "pglite" | "postgres";

/** The targets `--only` leaves (both when it is not given). */
export function benchTargets(only: string | undefined): BenchTarget[] {
  return (["pglite", "postgres"] as const).filter((t) => !only || only === t);
}

/** The statements sent while `counting` is on, with the time each was sent (ms since the epoch). */
export const statementLog = {
  counting: false,
  sent: [] as { at: number; text: string }[],
  /** Forgets what was counted and starts counting. */
  start(): void {
    this.sent.length = 0;
    this.counting = true;
  },
  /** Stops counting; returns how many statements were sent since `start`. */
  stop(): number {
    this.counting = false;
    return this.sent.length;
  },
};

let pgCounted = false;

/** node-postgres: every query a client sends (once per process). */
function countPgStatements(): void {
  if (pgCounted) return;
  pgCounted = true;
  const proto = pg.Client.prototype as unknown as { query: (...a: unknown[]) => unknown };
  const original = proto.query;
  proto.query = function (this: unknown, ...a: unknown[]) {
    if (statementLog.counting) {
      const q = a[0] as string | { text?: string };
      statementLog.sent.push({ at: Date.now(), text: typeof q === "string" ? q : (q?.text ?? "") });
    }
    return original.apply(this, a);
  };
}

/** PGlite: every statement it is sent (extended protocol Parse, simple protocol Query). */
function countPgliteStatements(client: object): void {
  let proto: Record<string, unknown> | null = client as Record<string, unknown>;
  while (proto && !Object.hasOwn(proto, "execProtocolStream")) proto = Object.getPrototypeOf(proto);
  if (!proto) throw new Error("PGlite has no execProtocolStream to count statements with");
  if ((proto as { __counted?: boolean }).__counted) return;
  (proto as { __counted?: boolean }).__counted = true;
  const original = proto.execProtocolStream as (m: Uint8Array, ...r: unknown[]) => unknown;
  const decoder = new TextDecoder();
  proto.execProtocolStream = function (this: unknown, message: Uint8Array, ...rest: unknown[]) {
    if (statementLog.counting && message.length > 5) {
      const type = String.fromCharCode(message[0]!);
      // Parse: type, int32 length, statement name (NUL-terminated), query; Query: type, length, query.
      if (type === "Q") {
        statementLog.sent.push({
          at: Date.now(),
          text: decoder.decode(message.subarray(5, message.length - 1)),
        });
      }
      if (type === "P") {
        const nameEnd = message.indexOf(0, 5);
        const queryEnd = message.indexOf(0, nameEnd + 1);
        statementLog.sent.push({
          at: Date.now(),
          text: decoder.decode(message.subarray(nameEnd + 1, queryEnd)),
        });
      }
    }
    return original.call(this, message, ...rest);
  };
}

/** A JSON request with the admin key: the status and the parsed body. */
export async function benchApi(
  app: LocalApp,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: any }> {
  const res = await fetch(`${app.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${app.adminKey}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as unknown };
}

export interface BenchService {
  readonly app: LocalApp;
  readonly handle: DatabaseHandle;
  /** The driver's own client (PGlite, or the node-postgres pool). */
  readonly client: unknown;
  /** The default templates' ids by name. */
  readonly templateIds: ReadonlyMap<string, string>;
  close(): Promise<void>;
}

/**
 * Starts the service on `target` (migrated, default templates seeded, statements counted while
 * `statementLog.counting`) with the extra configuration `env`; `close()` stops it and removes its
 * database and data directory.
 */
export async function startBenchService(
  target: BenchTarget,
  env: Record<string, string> = {},
): Promise<BenchService> {
  const dataDir = mkdtempSync(join(tmpdir(), "tp-bench-"));
  let handle: DatabaseHandle;
  let drop = async () => {};
  if (target === "pglite") {
    handle = await openDatabase({ kind: "pglite", dataDir: "memory://" });
  } else {
    countPgStatements();
    const fresh = await createFreshPgDatabase();
    drop = fresh.drop;
    handle = await openDatabase({ kind: "postgres", url: fresh.url });
  }
  await migrate(handle.db);
  const client = (handle.db as unknown as { $client: unknown }).$client;
  if (target === "pglite") countPgliteStatements(client as object);
  const app = await startLocalApp({
    config: loadConfig({ PORT: "0", DATA_DIR: dataDir, LOG_LEVEL: "silent", ...env }),
    logger: silentLogger,
    database: handle,
  });
  const list = await benchApi(app, "GET", "/api/provisioning/templates?limit=100");
  const templateIds = new Map((list.body.items as { id: string; name: string }[]).map((t) => [t.name, t.id]));
  return {
    app,
    handle,
    client,
    templateIds,
    close: async () => {
      await app.close();
      await handle.close();
      await drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
