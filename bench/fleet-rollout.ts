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
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import type { LocalApp } from "../local/app.ts";
import { provisionBody } from "../test/support/provision-body.ts";
import { benchApi, benchTargets, startBenchService, statementLog } from "./support/bench-service.ts";

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
const TARGETS = benchTargets(args.only);
type TargetName = (typeof TARGETS)[number];

/** The answer's body; anything but a 2xx ends the bench. */
async function api(app: LocalApp, method: string, path: string, body?: unknown): Promise<any> {
  const res = await benchApi(app, method, path, body);
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
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
  const service = await startBenchService(target);
  const { app } = service;
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

    statementLog.start();
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
    const statements = statementLog.stop();
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
    await service.close();
  }
}

async function main(): Promise<number> {
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
