/**
 * `npm run bench:fleet`: bulk provisioning. On embedded PGlite (in memory) and on a fresh database of
 * the local PostgreSQL server (`TEST_PG_URL`, default postgres://postgres@127.0.0.1:5432/postgres),
 * the real service (startLocalApp: HTTP API, the ASL run in-process, the step handlers) provisions
 * `--tenants` Basic School System tenants (default 100), admins invited (no password):
 *
 * (a) as ONE batch (`POST /batches`, `--concurrency` children at a time, default 10): time from the
 *     request until the batch has completed, tenants per second, and the request's own latency
 *     (checking and writing every item);
 * (b) sequentially: one `POST /templates/:id/provision` after another, each followed to its end
 *     (what a script looping over a CSV does) — time and tenants per second;
 * (c) database statements per tenant in (a) and (b), counted as bench/provision.ts counts them
 *     (node-postgres: every Client#query; PGlite: every Parse and simple Query message).
 *
 * Options: `--tenants N`, `--concurrency N`, `--only pglite|postgres`, `--json`.
 * Exit codes: 0 done (whatever the figures), 1 a run did not complete or the setup failed.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import pg from "pg";
import { type DatabaseHandle, openDatabase } from "../functions/db/client.ts";
import { migrate } from "../functions/db/migrate.ts";
import { loadConfig } from "../functions/shared/config.ts";
import { silentLogger } from "../functions/shared/logger.ts";
import { type LocalApp, startLocalApp } from "../local/app.ts";
import { createFreshPgDatabase } from "../test/support/database.ts";

const { values: args } = parseArgs({
  options: {
    tenants: { type: "string", default: "100" },
    concurrency: { type: "string", default: "10" },
    only: { type: "string" },
    json: { type: "boolean", default: false },
  },
});
const TENANTS = Math.max(1, Number.parseInt(args.tenants, 10));
const CONCURRENCY = Math.min(100, Math.max(1, Number.parseInt(args.concurrency, 10)));
const TARGETS = (["pglite", "postgres"] as const).filter((t) => !args.only || args.only === t);
type TargetName = (typeof TARGETS)[number];

// Statement counting (as in bench/provision.ts).
let statements = 0;
let counting = false;

function countPgStatements(): void {
  const proto = pg.Client.prototype as unknown as { query: (...a: unknown[]) => unknown };
  const original = proto.query;
  proto.query = function (this: unknown, ...a: unknown[]) {
    if (counting) statements++;
    return original.apply(this, a);
  };
}

function countPgliteStatements(client: object): void {
  let proto: Record<string, unknown> | null = client as Record<string, unknown>;
  while (proto && !Object.hasOwn(proto, "execProtocolStream")) proto = Object.getPrototypeOf(proto);
  if (!proto) throw new Error("PGlite has no execProtocolStream to count statements with");
  const original = proto.execProtocolStream as (m: Uint8Array, ...r: unknown[]) => unknown;
  proto.execProtocolStream = function (this: unknown, message: Uint8Array, ...rest: unknown[]) {
    if (counting && message.length > 5) {
      const type = String.fromCharCode(message[0]!);
      if (type === "Q" || type === "P") statements++;
    }
    return original.call(this, message, ...rest);
  };
}

interface Service {
  readonly app: LocalApp;
  readonly templateId: string;
  close(): Promise<void>;
}

async function api(app: LocalApp, method: string, path: string, body?: unknown) {
  const res = await fetch(`${app.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${app.adminKey}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as any };
}

async function startService(target: TargetName): Promise<Service> {
  const dataDir = mkdtempSync(join(tmpdir(), "tp-bench-fleet-"));
  let handle: DatabaseHandle;
  let drop = async () => {};
  if (target === "pglite") {
    handle = await openDatabase({ kind: "pglite", dataDir: "memory://" });
  } else {
    const fresh = await createFreshPgDatabase();
    drop = fresh.drop;
    handle = await openDatabase({ kind: "postgres", url: fresh.url });
  }
  await migrate(handle.db);
  if (target === "pglite") countPgliteStatements((handle.db as unknown as { $client: object }).$client);
  const app = await startLocalApp({
    config: loadConfig({
      PORT: "0",
      DATA_DIR: dataDir,
      LOG_LEVEL: "silent",
      INVITATION_BASE_URL: "https://app.example.org/set-password",
    }),
    logger: silentLogger,
    database: handle,
  });
  const list = await api(app, "GET", "/api/provisioning/templates?limit=100");
  const templateId = (list.body.items as { id: string; name: string }[]).find(
    (t) => t.name === "Basic School System",
  )!.id;
  return {
    app,
    templateId,
    close: async () => {
      await app.close();
      await handle.close();
      await drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

function item(n: number) {
  const slug = `f-${n}-${randomUUID().slice(0, 8)}`;
  return {
    slug,
    name: `School ${n}`,
    subdomain: slug,
    adminName: "Ada Admin",
    adminEmail: `admin@${slug}.example.org`,
  };
}

interface Figures {
  readonly seconds: number;
  readonly tenantsPerSecond: number;
  readonly statementsPerTenant: number;
  readonly requestMs?: number;
}

async function asBatch(service: Service): Promise<Figures> {
  const items = Array.from({ length: TENANTS }, (_, n) => ({ ...item(n), templateId: service.templateId }));
  statements = 0;
  counting = true;
  const start = performance.now();
  const res = await api(service.app, "POST", "/api/provisioning/batches", {
    items,
    maxConcurrency: CONCURRENCY,
  });
  const requestMs = performance.now() - start;
  if (res.status !== 202) throw new Error(`batch refused: ${JSON.stringify(res.body).slice(0, 500)}`);
  await service.app.workflows.idle();
  const seconds = (performance.now() - start) / 1000;
  counting = false;
  const batch = await api(service.app, "GET", `/api/provisioning/batches/${res.body.id}?limit=1`);
  if (batch.body.status !== "completed" || batch.body.counts.completed !== TENANTS) {
    throw new Error(`the batch did not complete: ${JSON.stringify(batch.body).slice(0, 500)}`);
  }
  return {
    seconds,
    tenantsPerSecond: TENANTS / seconds,
    statementsPerTenant: statements / TENANTS,
    requestMs,
  };
}

async function sequentially(service: Service): Promise<Figures> {
  statements = 0;
  counting = true;
  const start = performance.now();
  for (let n = 0; n < TENANTS; n++) {
    const res = await api(
      service.app,
      "POST",
      `/api/provisioning/templates/${service.templateId}/provision`,
      item(n + TENANTS),
    );
    if (res.status !== 202) throw new Error(`provision refused: ${JSON.stringify(res.body).slice(0, 500)}`);
    await service.app.workflows.idle();
    const run = await api(service.app, "GET", `/api/provisioning/progress/${res.body.id}`);
    if (run.body.status !== "completed") throw new Error(`run ${res.body.id} is ${run.body.status}`);
  }
  const seconds = (performance.now() - start) / 1000;
  counting = false;
  return { seconds, tenantsPerSecond: TENANTS / seconds, statementsPerTenant: statements / TENANTS };
}

async function main(): Promise<void> {
  if (TARGETS.includes("postgres")) countPgStatements();
  const results: Record<string, { batch: Figures; sequential: Figures }> = {};
  for (const target of TARGETS) {
    const service = await startService(target);
    try {
      const batch = await asBatch(service);
      const sequential = await sequentially(service);
      results[target] = { batch, sequential };
    } finally {
      await service.close();
    }
  }
  if (args.json) {
    process.stdout.write(
      `${JSON.stringify({ tenants: TENANTS, concurrency: CONCURRENCY, results }, null, 2)}\n`,
    );
    return;
  }
  const f = (n: number, d = 1) => n.toFixed(d);
  process.stdout.write(
    `${TENANTS} Basic School System tenants, admins invited; batch maxConcurrency ${CONCURRENCY}\n\n`,
  );
  for (const [target, r] of Object.entries(results)) {
    process.stdout.write(
      `${target}\n` +
        `  batch       ${f(r.batch.seconds)} s  ${f(r.batch.tenantsPerSecond, 2)} tenants/s  ` +
        `${f(r.batch.statementsPerTenant)} statements/tenant  (request accepted in ${f(r.batch.requestMs ?? 0, 0)} ms)\n` +
        `  sequential  ${f(r.sequential.seconds)} s  ${f(r.sequential.tenantsPerSecond, 2)} tenants/s  ` +
        `${f(r.sequential.statementsPerTenant)} statements/tenant\n` +
        `  speed-up    ×${f(r.sequential.seconds / r.batch.seconds, 2)}\n`,
    );
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`bench:fleet failed: ${(error as Error).stack ?? error}\n`);
    process.exit(1);
  },
);
