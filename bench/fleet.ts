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
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import {
  benchApi as api,
  type BenchService,
  benchTargets,
  startBenchService,
  statementLog,
} from "./support/bench-service.ts";

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
const TARGETS = benchTargets(args.only);

interface Service extends BenchService {
  readonly templateId: string;
}

async function startService(target: (typeof TARGETS)[number]): Promise<Service> {
  const service = await startBenchService(target, {
    INVITATION_BASE_URL: "https://app.example.org/set-password",
  });
  return { ...service, templateId: service.templateIds.get("Basic School System")! };
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
  statementLog.start();
  const start = performance.now();
  const res = await api(service.app, "POST", "/api/provisioning/batches", {
    items,
    maxConcurrency: CONCURRENCY,
  });
  const requestMs = performance.now() - start;
  if (res.status !== 202) throw new Error(`batch refused: ${JSON.stringify(res.body).slice(0, 500)}`);
  await service.app.workflows.idle();
  const seconds = (performance.now() - start) / 1000;
  const statements = statementLog.stop();
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
  statementLog.start();
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
  const statements = statementLog.stop();
  return { seconds, tenantsPerSecond: TENANTS / seconds, statementsPerTenant: statements / TENANTS };
}

async function main(): Promise<void> {
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
