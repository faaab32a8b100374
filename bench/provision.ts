/**
 * `npm run bench:provision`: how long provisioning takes, against what it must cost at least.
 *
 * On embedded PGlite (in memory) and on a fresh database of the local PostgreSQL server
 * (`createFreshPgDatabase`: `TEST_PG_URL`, default postgres://postgres@127.0.0.1:5432/postgres), the
 * real service (startLocalApp: HTTP API, the ASL run in-process, the step handlers) measures:
 *
 * (a) end-to-end: from sending `POST .../templates/:id/provision` to the run `completed`, per
 *     default template, median of `--runs` runs (default 5);
 * (b) the floor: the admin password hashed (argon2id, as the API does) and the same tenant's
 *     schema, tables (the template's tenant migrations) and rows (tenant, admin and template users,
 *     schools, products, configurations) created by ONE plain SQL transaction sent as one script
 *     with multi-row inserts; median; and the ratio (a)/(b), both with the hash. The orchestration's
 *     own share is printed too: ((a) − hash)/((b) − hash), the median hash time taken from both;
 * (c) throughput: `--throughput` (default 100) Basic tenants requested at once, wall time until
 *     all are completed, tenants per second — and the floor's throughput for the same number of
 *     Basic tenants (each hashed and created by its one script, all at once);
 * (d) database statements per provisioning (node-postgres: every `Client#query`; PGlite: every
 *     statement sent, i.e. Parse and simple Query messages), by kind.
 * It then prints where the time of a Municipality run goes (the steps' durations on the progress
 * record, and the time between them).
 *
 * Options: `--runs N`, `--throughput N`, `--only pglite|postgres`, `--json`.
 * Exit codes: 0 done (whatever the figures), 1 a run did not complete or the setup failed.
 */
import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { hashPassword } from "../functions/domain/auth/password.ts";
import { configurationEntries } from "../functions/domain/provisioning/provisioning-steps.ts";
import { mergeInitialData } from "../functions/domain/provisioning/run-spec.ts";
import { DEFAULT_TEMPLATES } from "../functions/domain/templates/default-templates.ts";
import { readTenantMigration } from "../functions/domain/tenants/tenant-migrations.ts";
import type { ProgressRecord } from "../functions/schemas/progress.ts";
import type { TemplateSpec } from "../functions/schemas/templates.ts";
import { provisionBody } from "../test/support/provision-body.ts";
import {
  benchApi as api,
  type BenchService,
  benchTargets,
  startBenchService,
  statementLog,
} from "./support/bench-service.ts";

const { values: args } = parseArgs({
  options: {
    runs: { type: "string", default: "5" },
    throughput: { type: "string", default: "100" },
    only: { type: "string" },
    json: { type: "boolean", default: false },
  },
});
const RUNS = Math.max(1, Number.parseInt(args.runs, 10));
const THROUGHPUT = Math.max(1, Number.parseInt(args.throughput, 10));
const TARGETS = benchTargets(args.only);
const PASSWORD = "bench-password-0123456789";

type TargetName = (typeof TARGETS)[number];

// ---------------------------------------------------------------------------------------------
// Statement counting
// ---------------------------------------------------------------------------------------------

const statements = statementLog.sent;

function statementKinds(list: readonly { text: string }[]): Record<string, number> {
  const kinds: Record<string, number> = {};
  for (const { text } of list) {
    const word = /^\s*(\w+)/.exec(text)?.[1]?.toUpperCase() ?? "?";
    const kind = ["BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"].includes(word)
      ? "transaction control"
      : ["CREATE", "ALTER", "DROP"].includes(word)
        ? "DDL"
        : word;
    kinds[kind] = (kinds[kind] ?? 0) + 1;
  }
  return kinds;
}

// ---------------------------------------------------------------------------------------------
// The service
// ---------------------------------------------------------------------------------------------

interface Service extends BenchService {
  /** Runs a multi-statement SQL script in one round trip. */
  readonly runScript: (script: string) => Promise<void>;
}

async function startService(target: TargetName): Promise<Service> {
  const service = await startBenchService(target);
  const { client } = service;
  const runScript =
    target === "pglite"
      ? async (script: string) => {
          await (client as { exec: (s: string) => Promise<unknown> }).exec(script);
        }
      : async (script: string) => {
          await (client as { query: (s: string) => Promise<unknown> }).query(script);
        };
  return { ...service, runScript };
}

const slug = () => `b-${randomUUID().slice(0, 12)}`;

/** Requests a run and returns its id (the run goes on in the background). */
async function requestRun(service: Service, template: string): Promise<string> {
  const res = await api(
    service.app,
    "POST",
    `/api/provisioning/templates/${service.templateIds.get(template)}/provision`,
    provisionBody(slug(), PASSWORD),
  );
  if (res.status !== 202) throw new Error(`provision answered ${res.status}: ${JSON.stringify(res.body)}`);
  return (res.body as { id: string }).id;
}

async function progressOf(service: Service, id: string): Promise<ProgressRecord> {
  return (await api(service.app, "GET", `/api/provisioning/progress/${id}`)).body as ProgressRecord;
}

/** (a): POST → completed, in ms; returns the finished record too. */
async function endToEnd(service: Service, template: string): Promise<{ ms: number; run: ProgressRecord }> {
  const t0 = performance.now();
  const id = await requestRun(service, template);
  await service.app.workflows.idle();
  const ms = performance.now() - t0;
  const run = await progressOf(service, id);
  if (run.status !== "completed") throw new Error(`run ${id} ended ${run.status}: ${run.error}`);
  return { ms, run };
}

// ---------------------------------------------------------------------------------------------
// (b) The plain-SQL floor
// ---------------------------------------------------------------------------------------------

function lit(value: unknown): string {
  if (value === null || value === undefined) return "NULL";
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return `'${String(value).replace(/'/g, "''")}'`;
}

const jsonb = (value: unknown) => `${lit(JSON.stringify(value))}::jsonb`;

/** One transaction, one script: what provisioning `template` must write at the very least. */
function floorScript(template: TemplateSpec, adminHash: string): string {
  const tenantId = randomUUID();
  const schema = `"tenant_${tenantId.replace(/-/g, "")}"`;
  const s = slug();
  const data = mergeInitialData(template.initialData, undefined);
  const people = [
    `(${lit(tenantId)}, ${lit(`admin@${s}.example.org`)}, 'Bench Admin', 'tenant_admin', ${lit(adminHash)})`,
    ...(data.users ?? []).map(
      (u) => `(${lit(tenantId)}, ${lit(u.email.toLowerCase())}, ${lit(u.name)}, ${lit(u.role)}, NULL)`,
    ),
  ];
  const config = configurationEntries({
    tenantId,
    template,
    initialData: data,
    metadata: {
      tenant: { slug: s, name: s, subdomain: s },
      admin: { name: "Bench Admin", email: `admin@${s}.example.org` },
    },
  });
  const parts = [
    "BEGIN",
    `INSERT INTO tenants (id, slug, subdomain, name, status, settings, limits) VALUES (${lit(tenantId)}, ${lit(s)}, ${lit(s)}, ${lit(`Bench ${s}`)}, 'active', ${jsonb(template.settings)}, ${jsonb(template.limits)})`,
    `INSERT INTO users (tenant_id, email, name, role, password_hash) VALUES ${people.join(", ")}`,
    `CREATE SCHEMA ${schema}`,
    `SET LOCAL search_path TO ${schema}, public`,
    `CREATE TABLE schema_migrations (name VARCHAR(100) PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`,
    ...template.migrations.map((m) => readTenantMigration(m)),
    `INSERT INTO schema_migrations (name) VALUES ${template.migrations.map((m) => `(${lit(m)})`).join(", ")}`,
  ];
  if (data.schools?.length) {
    parts.push(
      `INSERT INTO schools (name, code, type, address) VALUES ${data.schools
        .map((x) => `(${lit(x.name)}, ${lit(x.code)}, ${lit(x.type ?? "other")}, ${lit(x.address)})`)
        .join(", ")}`,
    );
  }
  if (data.products?.length) {
    parts.push(
      `INSERT INTO products (sku, name, category, unit, unit_price) VALUES ${data.products
        .map(
          (p) =>
            `(${lit(p.sku)}, ${lit(p.name)}, ${lit(p.category)}, ${lit(p.unit ?? "pcs")}, ${p.unitPrice})`,
        )
        .join(", ")}`,
    );
  }
  if (config.length) {
    parts.push(
      `INSERT INTO configurations (key, value, source) VALUES ${config
        .map((c) => `(${lit(c.key)}, ${jsonb(c.value)}, ${lit(c.source)})`)
        .join(", ")}`,
    );
  }
  parts.push("COMMIT");
  return `${parts.map((p) => p.trim().replace(/;\s*$/, "")).join(";\n")};`;
}

/** Statements in a script (for the floor's count). */
function scriptStatements(script: string): number {
  return script.split(/;\s*\n/).filter((s) => s.replace(/--[^\n]*/g, "").trim().length > 0).length;
}

// ---------------------------------------------------------------------------------------------
// Measuring
// ---------------------------------------------------------------------------------------------

function median(xs: readonly number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

interface TemplateFigures {
  readonly template: string;
  readonly endToEndMs: number[];
  readonly floorMs: number[];
  readonly statements: number;
  readonly statementKinds: Record<string, number>;
  readonly floorStatements: number;
  /** Median duration of each step, and of everything between the request and completion. */
  readonly profile: Record<string, number>;
  /** Statements of the counted run in each part of the profile. */
  readonly profileStatements: Record<string, number>;
}

interface TargetFigures {
  readonly target: TargetName;
  readonly templates: TemplateFigures[];
  readonly throughput: { readonly tenants: number; readonly wallMs: number; readonly perSecond: number };
  readonly floorThroughput: { readonly wallMs: number; readonly perSecond: number };
  readonly hashMs: number;
}

const REQUEST = "request: auth, template, checks, password hash (until created_at)";
const QUEUED = "request's insert tx, execution start, executionRef (→ first step)";
const BETWEEN = "between steps (state machine, attempt marks)";
const AFTER = "after completion (until idle)";

/** Where a run's time went: request → first step, each step, the gaps between steps, completion. */
function profileOf(run: ProgressRecord, requestedAt: number, ms: number): Record<string, number> {
  const started = Date.parse(run.startedAt!);
  const completed = Date.parse(run.completedAt!);
  const created = Date.parse(run.createdAt);
  const profile: Record<string, number> = { [REQUEST]: created - requestedAt, [QUEUED]: started - created };
  let stepsTotal = 0;
  for (const s of run.steps) {
    profile[`step ${s.name}`] = s.durationMs ?? 0;
    stepsTotal += s.durationMs ?? 0;
  }
  profile[BETWEEN] = completed - started - stepsTotal;
  profile[AFTER] = requestedAt + ms - completed;
  return profile;
}

/** The counted statements by the part of the run they were sent in (by time; ms resolution). */
function statementsByPart(run: ProgressRecord, sent: readonly { at: number }[]): Record<string, number> {
  const started = Date.parse(run.startedAt!);
  const created = Date.parse(run.createdAt);
  const completed = Date.parse(run.completedAt!);
  const parts: Record<string, number> = { [REQUEST]: 0, [QUEUED]: 0 };
  for (const s of run.steps) parts[`step ${s.name}`] = 0;
  parts[BETWEEN] = 0;
  parts[AFTER] = 0;
  for (const { at } of sent) {
    const step = run.steps.find(
      (s) => s.startedAt && s.completedAt && at >= Date.parse(s.startedAt) && at <= Date.parse(s.completedAt),
    );
    const part = step
      ? `step ${step.name}`
      : at <= created
        ? REQUEST
        : at < started
          ? QUEUED
          : at <= completed
            ? BETWEEN
            : AFTER;
    parts[part] = (parts[part] ?? 0) + 1;
  }
  return parts;
}

async function measureTarget(target: TargetName): Promise<TargetFigures> {
  const service = await startService(target);
  try {
    const adminHash = await hashPassword(PASSWORD);
    const hashes: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const t0 = performance.now();
      await hashPassword(PASSWORD);
      hashes.push(performance.now() - t0);
    }
    // Warm-up: the first run pays for module loading and query planning caches.
    await endToEnd(service, "Basic School System");
    await service.runScript(floorScript(DEFAULT_TEMPLATES[0]!, adminHash));

    const templates: TemplateFigures[] = [];
    for (const spec of DEFAULT_TEMPLATES) {
      const e2e: number[] = [];
      const floor: number[] = [];
      const profiles: Record<string, number>[] = [];
      let counted: { at: number; text: string }[] = [];
      let countedParts: Record<string, number> = {};
      for (let i = 0; i < RUNS; i++) {
        if (i === 0) statementLog.start();
        const requestedAt = Date.now();
        const { ms, run } = await endToEnd(service, spec.name);
        statementLog.stop();
        if (i === 0) {
          counted = [...statements];
          countedParts = statementsByPart(run, counted);
        }
        e2e.push(ms);
        profiles.push(profileOf(run, requestedAt, ms));
        // The floor hashes the password too, as every provisioner must.
        const t0 = performance.now();
        await service.runScript(floorScript(spec, await hashPassword(PASSWORD)));
        floor.push(performance.now() - t0);
      }
      const profile: Record<string, number> = {};
      for (const key of Object.keys(profiles[0]!)) profile[key] = median(profiles.map((p) => p[key] ?? 0));
      templates.push({
        template: spec.name,
        endToEndMs: e2e,
        floorMs: floor,
        statements: counted.length,
        statementKinds: statementKinds(counted),
        floorStatements: scriptStatements(floorScript(spec, adminHash)),
        profile,
        profileStatements: countedParts,
      });
    }

    const t0 = performance.now();
    const ids = await Promise.all(
      Array.from({ length: THROUGHPUT }, () => requestRun(service, "Basic School System")),
    );
    await service.app.workflows.idle();
    const wallMs = performance.now() - t0;
    const runs = await Promise.all(ids.map((id) => progressOf(service, id)));
    const unfinished = runs.filter((r) => r.status !== "completed");
    if (unfinished.length > 0) {
      throw new Error(
        `${unfinished.length} of ${THROUGHPUT} throughput runs did not complete: ${unfinished[0]!.error}`,
      );
    }
    const f0 = performance.now();
    await Promise.all(
      Array.from({ length: THROUGHPUT }, async () =>
        service.runScript(floorScript(DEFAULT_TEMPLATES[0]!, await hashPassword(PASSWORD))),
      ),
    );
    const floorWallMs = performance.now() - f0;
    return {
      target,
      templates,
      throughput: { tenants: THROUGHPUT, wallMs, perSecond: THROUGHPUT / (wallMs / 1000) },
      floorThroughput: { wallMs: floorWallMs, perSecond: THROUGHPUT / (floorWallMs / 1000) },
      hashMs: median(hashes),
    };
  } finally {
    await service.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows
    .map((r, n) => {
      const line = r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
      return n === 0 ? `${line}\n${widths.map((w) => "-".repeat(w)).join("  ")}` : line;
    })
    .join("\n");
}

const ms = (n: number) => `${n.toFixed(n < 10 ? 1 : 0)} ms`;

function report(results: TargetFigures[]): string {
  const header = ["", ...results.map((r) => r.target)];
  const rows: string[][] = [header];
  for (const name of DEFAULT_TEMPLATES.map((t) => t.name)) {
    const per = results.map((r) => r.templates.find((t) => t.template === name)!);
    rows.push([`(a) end-to-end, ${name} (median of ${RUNS})`, ...per.map((t) => ms(median(t.endToEndMs)))]);
    rows.push([
      `    min … max`,
      ...per.map((t) => `${ms(Math.min(...t.endToEndMs))} … ${ms(Math.max(...t.endToEndMs))}`),
    ]);
    rows.push([`(b) plain-SQL floor, ${name}`, ...per.map((t) => ms(median(t.floorMs)))]);
    rows.push([
      `    ratio (a)/(b)`,
      ...per.map((t) => `${(median(t.endToEndMs) / median(t.floorMs)).toFixed(1)}×`),
    ]);
    rows.push([
      `    orchestration's share ((a) − hash)/((b) − hash)`,
      ...results.map((r) => {
        const t = r.templates.find((x) => x.template === name)!;
        return `${((median(t.endToEndMs) - r.hashMs) / (median(t.floorMs) - r.hashMs)).toFixed(1)}×`;
      }),
    ]);
    rows.push([
      `(d) statements per provisioning (floor: ${per[0]!.floorStatements})`,
      ...per.map((t) => String(t.statements)),
    ]);
  }
  rows.push([
    `(c) ${results[0]?.throughput.tenants ?? THROUGHPUT} Basic tenants at once: wall time`,
    ...results.map((r) => ms(r.throughput.wallMs)),
  ]);
  rows.push(["    tenants per second", ...results.map((r) => r.throughput.perSecond.toFixed(1))]);
  rows.push([
    "    floor: the same tenants by plain SQL, wall time",
    ...results.map((r) => ms(r.floorThroughput.wallMs)),
  ]);
  rows.push(["    floor: tenants per second", ...results.map((r) => r.floorThroughput.perSecond.toFixed(1))]);
  rows.push([
    "    service / floor throughput",
    ...results.map((r) => `${Math.round((100 * r.throughput.perSecond) / r.floorThroughput.perSecond)} %`),
  ]);
  rows.push(["argon2id hash of the admin password (in (a) and (b))", ...results.map((r) => ms(r.hashMs))]);

  const municipality = "Municipality";
  const profileRows: string[][] = [
    [
      `Where a ${municipality} run's time goes (median; statements of one run)`,
      ...results.flatMap((r) => [r.target, "stmts"]),
    ],
  ];
  const keys = Object.keys(results[0]!.templates.find((t) => t.template === municipality)!.profile);
  for (const key of keys) {
    profileRows.push([
      key,
      ...results.flatMap((r) => {
        const t = r.templates.find((x) => x.template === municipality)!;
        return [ms(t.profile[key] ?? 0), String(t.profileStatements[key] ?? 0)];
      }),
    ]);
  }
  const kindRows: string[][] = [
    [`Statements of one ${municipality} provisioning, by kind`, ...header.slice(1)],
  ];
  const kinds = new Set(
    results.flatMap((r) => Object.keys(r.templates.find((t) => t.template === municipality)!.statementKinds)),
  );
  for (const kind of [...kinds].sort()) {
    kindRows.push([
      kind,
      ...results.map((r) =>
        String(r.templates.find((t) => t.template === municipality)!.statementKinds[kind] ?? 0),
      ),
    ]);
  }
  const target = results.find((r) => r.target === "postgres");
  let verdict = "";
  if (target) {
    const m = target.templates.find((t) => t.template === municipality)!;
    const ratio = median(m.endToEndMs) / median(m.floorMs);
    const share = (median(m.endToEndMs) - target.hashMs) / (median(m.floorMs) - target.hashMs);
    const tput = target.throughput.perSecond / target.floorThroughput.perSecond;
    const verdict1 = (ok: boolean) => (ok ? "met" : "missed");
    verdict =
      `\nTargets on PostgreSQL: ${municipality} end-to-end ≤ 1.5× the floor (hash in both) — measured ${ratio.toFixed(2)}× (${verdict1(ratio <= 1.5)});` +
      `\norchestration's share ≤ 2× — measured ${share.toFixed(1)}× (${verdict1(share <= 2)});` +
      `\nthroughput ≥ 50 % of the floor's — measured ${Math.round(100 * tput)} % (${verdict1(tput >= 0.5)}).\n`;
  }
  return `\nProvisioning benchmark\n\n${table(rows)}\n\n${table(profileRows)}\n\n${table(kindRows)}\n${verdict}`;
}

async function main(): Promise<void> {
  const results: TargetFigures[] = [];
  for (const target of TARGETS) {
    process.stderr.write(`measuring on ${target}…\n`);
    results.push(await measureTarget(target));
  }
  process.stdout.write(args.json ? `${JSON.stringify(results, null, 2)}\n` : report(results));
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(
      `error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
