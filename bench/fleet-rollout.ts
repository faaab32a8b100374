/**
 * `npm run bench:rollout`: how long a template upgrade takes to reach a fleet.
 *
 * On embedded PGlite (in memory) and on a fresh database of the local PostgreSQL server, the real
 * service (startLocalApp: HTTP API, the rollout and upgrade ASL run in-process) provisions
 * `--tenants` tenants (default 100) of a small template (core tables, no initial data), makes a
 * version 2 that adds a tenant migration (analytics), a feature flag and a limit, and rolls it out
 * (canary 1, then waves of `--wave-size`, default 25, `--max-concurrency` upgrades at once,
 * default 10). It prints:
 *
 * - the rollout's wall time (from `POST /rollouts` to `completed`) and tenants per second;
 * - per tenant: the upgrade run's time (created → completed) and its UpgradeTenant step's own
 *   working time, median and p95;
 * - database statements per tenant during the rollout (node-postgres: every `Client#query`;
 *   PGlite: every Parse and simple Query message).
 *
 * Options: `--tenants N`, `--wave-size N`, `--max-concurrency N`, `--only pglite|postgres`, `--json`.
 * Exit codes: 0 done, 1 a provisioning or the rollout did not complete.
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
import { provisionBody } from "../test/support/provision-body.ts";

const { values: args } = parseArgs({
  options: {
    tenants: { type: "string", default: "100" },
    "wave-size": { type: "string", default: "25" },
    "max-concurrency": { type: "string", default: "10" },
    only: { type: "string" },
    json: { type: "boolean", default: false },
  },
});
const TENANTS = Math.max(1, Number.parseInt(args.tenants, 10));
const WAVE_SIZE = Math.max(1, Number.parseInt(args["wave-size"], 10));
const MAX_CONCURRENCY = Math.max(1, Number.parseInt(args["max-concurrency"], 10));
const TARGETS = (["pglite", "postgres"] as const).filter((t) => !args.only || args.only === t);
type TargetName = (typeof TARGETS)[number];

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

async function api(app: LocalApp, method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(`${app.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${app.adminKey}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const parsed = (await res.json()) as unknown;
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(parsed)}`);
  return parsed;
}

async function until<T>(probe: () => Promise<T>, done: (v: T) => boolean, what: string): Promise<T> {
  const deadline = Date.now() + 30 * 60_000;
  for (;;) {
    const value = await probe();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length - 1) * p))] ?? Number.NaN;
}

interface Figures {
  readonly target: TargetName;
  readonly tenants: number;
  readonly waves: number;
  readonly provisionSeconds: number;
  readonly rolloutSeconds: number;
  readonly tenantsPerSecond: number;
  readonly upgradeRunMs: { readonly median: number; readonly p95: number };
  readonly upgradeStepMs: { readonly median: number; readonly p95: number };
  readonly statementsPerTenant: number;
}

async function benchTarget(target: TargetName): Promise<Figures> {
  const dataDir = mkdtempSync(join(tmpdir(), "tp-bench-rollout-"));
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
    config: loadConfig({ PORT: "0", DATA_DIR: dataDir, LOG_LEVEL: "silent" }),
    logger: silentLogger,
    database: handle,
  });
  try {
    const template = await api(app, "POST", "/api/provisioning/templates", {
      name: `Bench rollout ${randomUUID().slice(0, 8)}`,
      category: "custom",
      settings: { features: ["inventory"] },
      limits: { maxUsers: 10 },
      initialData: {},
      migrations: ["core"],
      postProvisioningSteps: [],
    });

    // The fleet: provisioned through the API, 20 requests in flight at a time.
    const provisionStart = performance.now();
    const runIds: string[] = [];
    for (let i = 0; i < TENANTS; i += 20) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(20, TENANTS - i) }, () =>
          api(app, "POST", `/api/provisioning/templates/${template.id}/provision`, {
            ...provisionBody(`b-${randomUUID().slice(0, 12)}`, "bench-password-0123456789"),
          }),
        ),
      );
      runIds.push(...batch.map((r: { id: string }) => r.id));
      await app.workflows.idle();
    }
    for (const id of runIds) {
      const run = await api(app, "GET", `/api/provisioning/progress/${id}`);
      if (run.status !== "completed") throw new Error(`provisioning ${id} ${run.status}: ${run.error}`);
    }
    const provisionSeconds = (performance.now() - provisionStart) / 1000;

    await api(app, "PUT", `/api/provisioning/templates/${template.id}`, {
      migrations: ["core", "analytics"],
      settings: { features: ["inventory", "analytics"] },
      limits: { maxUsers: 20 },
    });

    statements = 0;
    counting = true;
    const started = performance.now();
    const rollout = await api(app, "POST", "/api/provisioning/rollouts", {
      templateId: template.id,
      canary: 1,
      waveSize: WAVE_SIZE,
      maxConcurrency: MAX_CONCURRENCY,
      toleratedFailurePercent: 0,
    });
    const done = await until(
      () => api(app, "GET", `/api/provisioning/rollouts/${rollout.id}`),
      (r: any) => !["running", "pausing"].includes(r.status),
      "the rollout",
    );
    const rolloutSeconds = (performance.now() - started) / 1000;
    await app.workflows.idle();
    counting = false;
    if (done.status !== "completed" || done.counts.upgraded !== TENANTS) {
      throw new Error(`rollout ${done.status}: ${JSON.stringify(done.counts)} ${done.error ?? ""}`);
    }

    const runMs: number[] = [];
    const stepMs: number[] = [];
    for (const wave of done.waves) {
      for (const t of wave.tenants) {
        const run = await api(app, "GET", `/api/provisioning/progress/${t.upgradeProgressId}`);
        runMs.push(Date.parse(run.completedAt) - Date.parse(run.createdAt));
        stepMs.push(run.steps[0].durationMs);
      }
    }
    return {
      target,
      tenants: TENANTS,
      waves: done.totalWaves,
      provisionSeconds: Number(provisionSeconds.toFixed(1)),
      rolloutSeconds: Number(rolloutSeconds.toFixed(2)),
      tenantsPerSecond: Number((TENANTS / rolloutSeconds).toFixed(1)),
      upgradeRunMs: { median: percentile(runMs, 0.5), p95: percentile(runMs, 0.95) },
      upgradeStepMs: { median: percentile(stepMs, 0.5), p95: percentile(stepMs, 0.95) },
      statementsPerTenant: Number((statements / TENANTS).toFixed(1)),
    };
  } finally {
    await app.close();
    await handle.close();
    await drop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function main(): Promise<number> {
  if (TARGETS.includes("postgres")) countPgStatements();
  const results: Figures[] = [];
  for (const target of TARGETS) results.push(await benchTarget(target));
  if (args.json) {
    process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
    return 0;
  }
  for (const r of results) {
    process.stdout.write(
      [
        `${r.target}: ${r.tenants} tenants (provisioned in ${r.provisionSeconds} s), ${r.waves} waves (canary 1, then ${WAVE_SIZE}), ${MAX_CONCURRENCY} upgrades at once`,
        `  rollout: ${r.rolloutSeconds} s, ${r.tenantsPerSecond} tenants/s`,
        `  per tenant: upgrade run ${r.upgradeRunMs.median} ms median, ${r.upgradeRunMs.p95} ms p95; UpgradeTenant step ${r.upgradeStepMs.median} ms median, ${r.upgradeStepMs.p95} ms p95`,
        `  database statements per tenant during the rollout: ${r.statementsPerTenant}`,
        "",
      ].join("\n"),
    );
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`bench:rollout failed: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
