/**
 * `npm run bench:scale` (`npx tsx bench/scale.ts`): how the service behaves as one database grows to
 * N Basic tenants (issue 18). On a fresh database of the local PostgreSQL server (`TEST_PG_URL`,
 * default postgres://postgres@127.0.0.1:5432/postgres; this machine runs it with autovacuum off and
 * the bench never vacuums or analyzes), the real service (startLocalApp: HTTP API, the ASL run
 * in-process, the step handlers) is grown to `--tenants` (default 200) Basic tenants.
 *
 * Growing: most tenants are written set-based, a script per `--chunk` tenants (one round trip, one
 * transaction): what a Basic provisioning leaves behind, namely the tenant row, its admin and
 * template users, its schema with the template's five tenant migrations, its schools, products and
 * configurations, and a completed progress record whose steps are copied from a real run. At each
 * milestone (`--milestones`, default a quarter, half and all of N) the last `--sample` (default 10)
 * tenants are provisioned through the service instead, and it prints:
 *   - provisioning: the median time of three runs one at a time (POST → completed), and the
 *     throughput of the rest requested at once (tenants/s);
 *   - GET /api/provisioning/progress?limit=50 and GET /api/provisioning/stats: median of 15 (ms),
 *     after 10 unmeasured (the pool's connections catch up on the filler's catalog changes);
 *   - one sweep (`runSweep`, the tenant limit checks a batch) on a fresh single connection: its time
 *     and that connection's memory afterwards (pg_backend_memory_contexts, MB); then the sweeps
 *     that finish the limit checks' round (a simulated minute apart, each on a fresh connection),
 *     and one more sweep measured the same way. A tenant table is counted by the first round that
 *     sees it and afterwards only when it changed (alert-checks.ts), so the first figure is what a
 *     round costs after the tenants were created (or the statistics reset), the second what
 *     every round after it costs;
 *   - a deprovisioning dry run (POST .../deprovision {dryRun: true}) of a service-provisioned
 *     tenant: median of 5 after 10 unmeasured (ms);
 *   - the database's relations (pg_class rows) and size;
 *   - the sample's progress-row updates per run and the share of them that were HOT (heap-only:
 *     no new index entries), from pg_stat_user_tables.
 * At the last milestone it also deprovisions one tenant for real (grace period 0) and prints the
 * run's time.
 *
 * Options: `--tenants N`, `--milestones a,b,c`, `--sample N`, `--chunk N`, `--keep` (keep the
 * database and print its URL), `--database NAME` (use that database on the server, created if
 * missing and never dropped: a rerun grows it from the tenants it already holds, and milestones at
 * or below that count are measured once at the count it holds, so a grown database is measured
 * again in a minute rather than regrown), `--json`. Exit codes: 0 done, 1 a run failed or the setup
 * failed.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { sql } from "drizzle-orm";
import pg from "pg";
import { openDatabase } from "../functions/db/client.ts";
import { migrate } from "../functions/db/migrate.ts";
import { numberValue, queryRows } from "../functions/db/sql.ts";
import { hashPassword } from "../functions/domain/auth/password.ts";
import { runSweep } from "../functions/domain/operations/sweep.ts";
import { configurationEntries } from "../functions/domain/provisioning/provisioning-steps.ts";
import { mergeInitialData } from "../functions/domain/provisioning/run-spec.ts";
import { DEFAULT_TEMPLATES } from "../functions/domain/templates/default-templates.ts";
import { readTenantMigration } from "../functions/domain/tenants/tenant-migrations.ts";
import type { ProgressRecord } from "../functions/schemas/progress.ts";
import { loadConfig } from "../functions/shared/config.ts";
import { silentLogger } from "../functions/shared/logger.ts";
import { type LocalApp, startLocalApp } from "../local/app.ts";
import { adminPgUrl, createFreshPgDatabase } from "../test/support/database.ts";
import { provisionBody } from "../test/support/provision-body.ts";

const { values: args } = parseArgs({
  options: {
    tenants: { type: "string", default: "200" },
    milestones: { type: "string" },
    sample: { type: "string", default: "10" },
    chunk: { type: "string", default: "10" },
    keep: { type: "boolean", default: false },
    database: { type: "string" },
    json: { type: "boolean", default: false },
  },
});
const N = Math.max(10, Number.parseInt(args.tenants, 10));
const SAMPLE = Math.max(4, Number.parseInt(args.sample, 10));
const CHUNK = Math.max(1, Number.parseInt(args.chunk, 10));
const MILESTONES = (
  args.milestones ? args.milestones.split(",").map((s) => Number.parseInt(s, 10)) : [N / 4, N / 2, N]
)
  .map((m) => Math.max(SAMPLE, Math.round(m)))
  .filter((m, i, all) => m <= N && all.indexOf(m) === i)
  .sort((a, b) => a - b);
const PASSWORD = "bench-password-0123456789";
/** Unmeasured requests before each measured series: one per connection of the service's pool (10). */
const WARM = 10;
const BASIC = DEFAULT_TEMPLATES.find((t) => t.name.startsWith("Basic"))!;

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const lit = (v: unknown) =>
  v === null || v === undefined
    ? "NULL"
    : typeof v === "number" || typeof v === "boolean"
      ? String(v)
      : `'${String(v).replace(/'/g, "''")}'`;
const jsonb = (v: unknown) => `${lit(JSON.stringify(v))}::jsonb`;
const slug = () => `s-${randomUUID().slice(0, 12)}`;

async function api(app: LocalApp, method: string, path: string, body?: unknown) {
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

async function timed<T>(f: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = performance.now();
  const value = await f();
  return { ms: performance.now() - t0, value };
}

interface Template {
  readonly id: string;
  readonly version: number;
}

/** What a Basic provisioning leaves behind, for one tenant, as SQL statements. */
function fillerTenant(template: Template, adminHash: string, steps: unknown, stamp: string): string[] {
  const tenantId = randomUUID();
  const schema = `"tenant_${tenantId.replace(/-/g, "")}"`;
  const s = slug();
  const data = mergeInitialData(BASIC.initialData, undefined);
  const meta = {
    tenant: { slug: s, name: `Tenant ${s}`, subdomain: s },
    admin: { name: "Bench Admin", email: `admin@${s}.example.org` },
  };
  const people = [
    `(${lit(tenantId)}, ${lit(meta.admin.email)}, 'Bench Admin', 'tenant_admin', ${lit(adminHash)})`,
    ...(data.users ?? []).map(
      (u) => `(${lit(tenantId)}, ${lit(u.email.toLowerCase())}, ${lit(u.name)}, ${lit(u.role)}, NULL)`,
    ),
  ];
  const config = configurationEntries({ tenantId, template: BASIC, initialData: data, metadata: meta });
  return [
    `INSERT INTO tenants (id, slug, subdomain, name, status, settings, limits, template_id, template_version)
     VALUES (${lit(tenantId)}, ${lit(s)}, ${lit(s)}, ${lit(meta.tenant.name)}, 'active', ${jsonb(BASIC.settings)},
             ${jsonb(BASIC.limits)}, ${lit(template.id)}, ${template.version})`,
    `INSERT INTO users (tenant_id, email, name, role, password_hash) VALUES ${people.join(", ")}`,
    `INSERT INTO tenant_provisioning_progress (tenant_id, template_id, template_version, kind, status, current_step,
       total_steps, completed_steps, steps, started_at, completed_at, created_at, updated_at, metadata)
     VALUES (${lit(tenantId)}, ${lit(template.id)}, ${template.version}, 'provision', 'completed', NULL,
       ${(steps as unknown[]).length}, ${(steps as unknown[]).length}, ${jsonb(steps)}, ${lit(stamp)}, ${lit(stamp)},
       ${lit(stamp)}, ${lit(stamp)}, ${jsonb({ tenant: meta.tenant })})`,
    `CREATE SCHEMA ${schema}`,
    `SET LOCAL search_path TO ${schema}, public`,
    "CREATE TABLE schema_migrations (name VARCHAR(100) PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
    ...BASIC.migrations.map((m) => readTenantMigration(m)),
    `INSERT INTO schema_migrations (name) VALUES ${BASIC.migrations.map((m) => `(${lit(m)})`).join(", ")}`,
    `INSERT INTO schools (name, code, type, address) VALUES ${(data.schools ?? [])
      .map((x) => `(${lit(x.name)}, ${lit(`${x.code}`)}, ${lit(x.type ?? "other")}, ${lit(x.address)})`)
      .join(", ")}`,
    `INSERT INTO products (sku, name, category, unit, unit_price) VALUES ${(data.products ?? [])
      .map(
        (p) => `(${lit(p.sku)}, ${lit(p.name)}, ${lit(p.category)}, ${lit(p.unit ?? "pcs")}, ${p.unitPrice})`,
      )
      .join(", ")}`,
    `INSERT INTO configurations (key, value, source) VALUES ${config
      .map((c) => `(${lit(c.key)}, ${jsonb(c.value)}, ${lit(c.source)})`)
      .join(", ")}`,
    "SET LOCAL search_path TO public",
  ].map((p) => p.trim().replace(/;\s*$/, ""));
}

interface Milestone {
  readonly tenants: number;
  readonly relations: number;
  readonly databaseMb: number;
  readonly fillTenantsPerSecond: number;
  readonly provisionMedianMs: number;
  readonly throughputPerSecond: number;
  readonly progressListMs: number;
  readonly statsMs: number;
  readonly sweepMs: number;
  readonly sweepTenantsChecked: number;
  readonly sweepConnectionMb: number;
  /** Sweeps the first round took, and a sweep of the round after it (tables counted only if changed). */
  readonly roundSweeps: number;
  readonly steadySweepMs: number;
  readonly steadySweepTenantsChecked: number;
  readonly steadySweepConnectionMb: number;
  readonly dryRunMs: number;
  readonly deprovisionMs?: number;
  /** The sample's runs: updates of their progress rows per run, and the share of them that were HOT. */
  readonly progressUpdatesPerRun: number;
  readonly progressHotPercent: number;
}

/** The progress table's cumulative update counters (the statistics of every backend so far). */
async function progressUpdates(admin: pg.Client): Promise<{ updates: number; hot: number }> {
  const row = (
    await admin.query<{ upd: string; hot: string }>(
      `SELECT n_tup_upd AS upd, n_tup_hot_upd AS hot FROM pg_stat_user_tables
       WHERE relname = 'tenant_provisioning_progress' AND schemaname = current_schema()`,
    )
  ).rows[0];
  return { updates: Number(row?.upd ?? 0), hot: Number(row?.hot ?? 0) };
}

/** `--database NAME`: that database on the server, created when missing; never dropped. */
async function namedDatabase(name: string): Promise<{ url: string; drop: () => Promise<void> }> {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`--database: not a plain name: ${name}`);
  const server = new pg.Client({ connectionString: adminPgUrl });
  await server.connect();
  const { rowCount } = await server.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
  if (rowCount === 0) await server.query(`CREATE DATABASE ${name}`);
  await server.end();
  const url = new URL(adminPgUrl);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: async () => {} };
}

async function main(): Promise<void> {
  const fresh = args.database ? await namedDatabase(args.database) : await createFreshPgDatabase();
  const dataDir = mkdtempSync(join(tmpdir(), "tp-scale-"));
  const handle = await openDatabase({ kind: "postgres", url: fresh.url });
  await migrate(handle.db);
  const admin = new pg.Client({ connectionString: fresh.url });
  await admin.connect();
  const app = await startLocalApp({
    // The bench runs the sweep itself (below); its timer stays out of the way.
    config: loadConfig({
      PORT: "0",
      DATA_DIR: dataDir,
      LOG_LEVEL: "silent",
      SWEEP_INTERVAL_SECONDS: "86400",
    }),
    logger: silentLogger,
    database: handle,
  });
  const results: Milestone[] = [];
  try {
    const templates = (await api(app, "GET", "/api/provisioning/templates?limit=100")).body as {
      items: { id: string; name: string; version: number }[];
    };
    const basic = templates.items.find((t) => t.name === BASIC.name)!;
    const template = { id: basic.id, version: basic.version ?? 1 };
    const adminHash = await hashPassword(PASSWORD);

    const provisionOne = async (): Promise<string> => {
      const res = await api(
        app,
        "POST",
        `/api/provisioning/templates/${basic.id}/provision`,
        provisionBody(slug(), PASSWORD),
      );
      if (res.status !== 202)
        throw new Error(`provision answered ${res.status}: ${JSON.stringify(res.body)}`);
      return (res.body as { id: string }).id;
    };
    const finished = async (id: string): Promise<ProgressRecord> => {
      const run = (await api(app, "GET", `/api/provisioning/progress/${id}`)).body as ProgressRecord;
      if (run.status !== "completed") throw new Error(`run ${id} ended ${run.status}: ${run.error}`);
      return run;
    };

    // One real run first: its steps are what the filler's progress records carry.
    const first = await provisionOne();
    await app.workflows.idle();
    let steps = (await finished(first)).steps;
    let count = Number(
      (await admin.query<{ n: string }>("SELECT count(*) AS n FROM tenants WHERE status = 'active'")).rows[0]!
        .n,
    );
    let lastServiceTenant = (await finished(first)).tenantId!;
    // Sweeps run a (simulated) minute after the one before, as the service's timer runs them: the
    // limit checks size their batch by the time since the last sweep.
    const [lastSweep] = (
      await admin.query<{ at: Date | null }>(
        "SELECT max(last_swept_at) AS at FROM sweep_cursors WHERE name = 'tenant_limits'",
      )
    ).rows;
    let sweepClock = lastSweep?.at ? lastSweep.at.getTime() : Date.now() - 60_000;
    // A reused database: the milestones it already passed are measured once, at what it holds.
    const milestones = MILESTONES.filter((m) => m > count);
    if (milestones.length < MILESTONES.length) milestones.unshift(count + SAMPLE);

    for (const milestone of milestones) {
      // Grow set-based to the milestone less the sample.
      const fillTo = milestone - SAMPLE;
      const fillStart = performance.now();
      const filled = Math.max(0, fillTo - count);
      while (count < fillTo) {
        const n = Math.min(CHUNK, fillTo - count);
        const stamp = new Date().toISOString();
        const parts = ["BEGIN"];
        for (let i = 0; i < n; i++) parts.push(...fillerTenant(template, adminHash, steps, stamp));
        parts.push("COMMIT");
        await admin.query(`${parts.join(";\n")};`);
        count += n;
      }
      const fillSeconds = (performance.now() - fillStart) / 1000;

      // The sample through the service: three one at a time, the rest at once.
      // (The service's backends report their statistics within a second or so of going idle.)
      await new Promise((resolve) => setTimeout(resolve, 1500));
      const updatesBefore = await progressUpdates(admin);
      const sequential: number[] = [];
      for (let i = 0; i < 3; i++) {
        const { ms, value: id } = await timed(async () => {
          const id = await provisionOne();
          await app.workflows.idle();
          return id;
        });
        const run = await finished(id);
        steps = run.steps;
        lastServiceTenant = run.tenantId!;
        sequential.push(ms);
      }
      const burst = await timed(async () => {
        const ids = await Promise.all(Array.from({ length: SAMPLE - 3 }, provisionOne));
        await app.workflows.idle();
        return ids;
      });
      for (const id of burst.value) await finished(id);
      count += SAMPLE;
      await new Promise((resolve) => setTimeout(resolve, 1500));
      const updatesAfter = await progressUpdates(admin);
      const sampleUpdates = updatesAfter.updates - updatesBefore.updates;
      const sampleHot = updatesAfter.hot - updatesBefore.hot;

      // The first request on each of the pool's connections after the filler's DDL pays for a
      // reset of that connection's catalog caches (it fell behind on invalidations): WARM requests
      // go unmeasured first.
      const endpoint = async (path: string) => {
        const ms: number[] = [];
        for (let i = 0; i < WARM + 15; i++) {
          const t = await timed(() => api(app, "GET", path));
          if (t.value.status !== 200) throw new Error(`${path} answered ${t.value.status}`);
          if (i >= WARM) ms.push(t.ms);
        }
        return median(ms);
      };
      const progressListMs = await endpoint("/api/provisioning/progress?limit=50");
      const statsMs = await endpoint("/api/provisioning/stats");

      // One sweep on a fresh connection of its own, then that connection's memory; then the rest of
      // the limit checks' round, sweeps a (simulated) minute apart, and one more sweep measured the
      // same way: in the first round every tenant table is counted (none was counted before), in
      // the next only the tables that changed.
      const oneSweep = async () => {
        sweepClock += 60_000;
        const sweepDb = await openDatabase({ kind: "postgres", url: fresh.url }, { poolSize: 1 });
        try {
          const sweep = await timed(() =>
            runSweep(sweepDb.db, {
              now: new Date(sweepClock),
              longRunningMinutes: 30,
              retentionDays: 90,
              notifier: { notify: async () => {} },
              limitChecks: { periodSeconds: 3600, intervalSeconds: 60 },
            }),
          );
          if (sweep.value.errors.length > 0) throw new Error(`sweep: ${JSON.stringify(sweep.value.errors)}`);
          const [memory] = await queryRows<{ bytes: unknown }>(
            sweepDb.db,
            sql`SELECT sum(total_bytes) AS bytes FROM pg_backend_memory_contexts`,
          );
          return { ms: sweep.ms, checked: sweep.value.tenantsChecked, bytes: numberValue(memory?.bytes) };
        } finally {
          await sweepDb.close();
        }
      };
      const sweep = await oneSweep();
      let roundChecked = sweep.checked;
      let roundSweeps = 1;
      while (roundChecked < count) {
        roundChecked += (await oneSweep()).checked;
        roundSweeps++;
      }
      const steady = await oneSweep();

      const dryRuns: number[] = [];
      for (let i = 0; i < WARM + 5; i++) {
        const t = await timed(() =>
          api(app, "POST", `/api/provisioning/tenants/${lastServiceTenant}/deprovision`, { dryRun: true }),
        );
        if (t.value.status !== 200) throw new Error(`dry run answered ${t.value.status}`);
        if (i >= WARM) dryRuns.push(t.ms);
      }

      let deprovisionMs: number | undefined;
      if (milestone === milestones.at(-1)) {
        const t = await timed(async () => {
          const res = await api(app, "POST", `/api/provisioning/tenants/${lastServiceTenant}/deprovision`, {
            gracePeriodHours: 0,
          });
          if (res.status !== 202)
            throw new Error(`deprovision answered ${res.status}: ${JSON.stringify(res.body)}`);
          await app.workflows.idle();
          return (res.body as { id: string }).id;
        });
        await finished(t.value);
        deprovisionMs = t.ms;
      }

      const sizes = (
        await admin.query<{ relations: string; bytes: string }>(
          "SELECT (SELECT count(*) FROM pg_class) AS relations, pg_database_size(current_database()) AS bytes",
        )
      ).rows[0]!;
      const row: Milestone = {
        tenants: count,
        relations: Number(sizes.relations),
        databaseMb: Math.round(Number(sizes.bytes) / 1e6),
        fillTenantsPerSecond: filled > 0 ? Math.round((filled / fillSeconds) * 10) / 10 : 0,
        provisionMedianMs: Math.round(median(sequential)),
        throughputPerSecond: Math.round(((SAMPLE - 3) / (burst.ms / 1000)) * 10) / 10,
        progressListMs: Math.round(progressListMs * 10) / 10,
        statsMs: Math.round(statsMs * 10) / 10,
        sweepMs: Math.round(sweep.ms),
        sweepTenantsChecked: sweep.checked,
        sweepConnectionMb: Math.round((sweep.bytes / 1e6) * 10) / 10,
        roundSweeps,
        steadySweepMs: Math.round(steady.ms),
        steadySweepTenantsChecked: steady.checked,
        steadySweepConnectionMb: Math.round((steady.bytes / 1e6) * 10) / 10,
        dryRunMs: Math.round(median(dryRuns)),
        ...(deprovisionMs === undefined ? {} : { deprovisionMs: Math.round(deprovisionMs) }),
        progressUpdatesPerRun: Math.round((sampleUpdates / SAMPLE) * 10) / 10,
        progressHotPercent: sampleUpdates > 0 ? Math.round((100 * sampleHot) / sampleUpdates) : 0,
      };
      results.push(row);
      if (!args.json) {
        console.log(
          `${String(row.tenants).padStart(6)} tenants  ${String(row.relations).padStart(7)} relations  ${String(row.databaseMb).padStart(5)} MB | ` +
            `provision ${row.provisionMedianMs} ms, ${row.throughputPerSecond}/s (filled ${row.fillTenantsPerSecond}/s), ` +
            `${row.progressUpdatesPerRun} progress updates a run, ${row.progressHotPercent}% HOT | ` +
            `progress list ${row.progressListMs} ms, stats ${row.statsMs} ms | ` +
            `sweep ${row.sweepMs} ms (${row.sweepTenantsChecked} tenants checked), connection ${row.sweepConnectionMb} MB; ` +
            `a round (${row.roundSweeps} sweeps) later ${row.steadySweepMs} ms (${row.steadySweepTenantsChecked} checked), ${row.steadySweepConnectionMb} MB | ` +
            `dry run ${row.dryRunMs} ms${row.deprovisionMs === undefined ? "" : `, deprovisioning ${row.deprovisionMs} ms`}`,
        );
      }
    }
  } finally {
    await app.close();
    await handle.close();
    await admin.end();
    rmSync(dataDir, { recursive: true, force: true });
    if (args.keep || args.database) console.error(`kept: ${fresh.url}`);
    else await fresh.drop();
  }
  if (args.json) console.log(JSON.stringify({ loadavg: loadavg(), milestones: results }, null, 2));
  else
    console.log(
      `load average ${loadavg()
        .map((l) => l.toFixed(1))
        .join(" ")}`,
    );
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exit(1);
});
