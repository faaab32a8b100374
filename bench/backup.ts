/**
 * Backup and restore at growing tenant sizes (issue 13): a Municipality tenant grown with the
 * realistic-scale fixture (test/support/scale-tenant.ts) to about 10 MB and 100 MB of row data
 * (`--gb` adds 1 GB), backed up by a deprovisioning run and restored, on a fresh database of the
 * local PostgreSQL server — directly (`postgres`) and through the strict Data API adapter
 * (`data-api`), the whole service in-process with its real state machines and steps. Prints per
 * size and driver: backup and restore time and MB/s, the loop's iterations and its longest
 * invocation, and (through the adapter) Data API calls per MB and the largest single call's
 * response bytes and duration. The restored schema's `pg_dump --data-only` is checked equal.
 *
 *   npm run bench:backup                       # 10 MB and 100 MB, both drivers
 *   npm run bench:backup -- --sizes 10 --drivers data-api
 *   npm run bench:backup -- --gb               # also 1 GB (long)
 *
 * Options: --sizes (MB, comma-separated), --drivers, --gb, --page-bytes, --pages-per-invocation,
 * --json.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import pg from "pg";
import { loadConfig } from "../functions/shared/config.ts";
import { createLogger } from "../functions/shared/logger.ts";
import { startLocalApp } from "../local/app.ts";
import { openTestDatabase, type TestDatabaseKind } from "../test/support/database.ts";
import { dataDump } from "../test/support/pg-dump.ts";
import { provisionBody } from "../test/support/provision-body.ts";
import { growTenantStatements, scaleOfMegabytes } from "../test/support/scale-tenant.ts";

const { values: args } = parseArgs({
  options: {
    sizes: { type: "string", default: "10,100" },
    drivers: { type: "string", default: "postgres,data-api" },
    gb: { type: "boolean", default: false },
    "page-bytes": { type: "string" },
    "pages-per-invocation": { type: "string" },
    json: { type: "boolean", default: false },
  },
});

const API = "/api/provisioning";
/** Step Functions keeps at most 25,000 events per execution; one loop pass is 7 (Task 5, Choice 2). */
const HISTORY_EVENTS = 25_000;
const EVENTS_PER_ITERATION = 7;
/** The deprovisioning's events outside the loop (other states, retries allowance). */
const OTHER_EVENTS = 200;

interface CallRecord {
  readonly at: number;
  readonly ms: number;
  readonly responseBytes: number;
}

interface PhaseFigures {
  seconds: number;
  mbPerSecond: number;
  iterations: number;
  pages: number;
  longestInvocationSeconds: number;
  dataApiCalls: number | null;
  dataApiCallsPerMb: number | null;
  largestResponseBytes: number | null;
  largestResponseCallMs: number | null;
  slowestCallMs: number | null;
}

interface SizeFigures {
  driver: TestDatabaseKind;
  targetMb: number;
  rowDataMb: number;
  onDiskMb: number;
  rows: number;
  backupStoredMb: number;
  backup: PhaseFigures;
  restore: PhaseFigures;
  identical: boolean;
}

const mb = (bytes: number) => bytes / (1024 * 1024);
const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;

async function benchOne(driver: TestDatabaseKind, targetMb: number): Promise<SizeFigures> {
  const database = await openTestDatabase({ kind: driver, migrate: false });
  const url = database.url;
  if (!url) throw new Error("the benchmark needs the local PostgreSQL server");
  const calls: CallRecord[] = [];
  const adapter = database.dataApi;
  if (adapter) {
    const { responseBytes } = await import("../test/support/data-api-adapter.ts");
    const send = adapter.client.send.bind(adapter.client) as (c: unknown) => Promise<object>;
    (adapter.client as unknown as { send: (c: unknown) => Promise<object> }).send = async (command) => {
      const t = performance.now();
      const output = await send(command);
      calls.push({ at: Date.now(), ms: performance.now() - t, responseBytes: responseBytes(output) });
      return output;
    };
  }
  // Task states entered and left, with their times (the loop's invocations).
  const events: { type: string; state: string | undefined; at: number }[] = [];
  const logger = createLogger("debug", (line) => {
    if (!line.includes('"workflow event"')) return;
    const e = JSON.parse(line) as { type: string; state?: string; time: string };
    events.push({ type: e.type, state: e.state, at: Date.parse(e.time) });
  });
  const dataDir = mkdtempSync(join(tmpdir(), "tp-bench-backup-"));
  const hour = String(3_600_000);
  const config = loadConfig({
    PORT: "0",
    DATA_DIR: dataDir,
    LOG_LEVEL: "debug",
    SCHEDULE_POLL_INTERVAL_MS: hour,
    OUTBOX_DRAIN_INTERVAL_MS: hour,
    WEBHOOK_POLL_INTERVAL_MS: hour,
    SWEEP_INTERVAL_SECONDS: "86400",
    ...(args["page-bytes"] ? { BACKUP_PAGE_BYTES: args["page-bytes"] } : {}),
    ...(args["pages-per-invocation"] ? { BACKUP_PAGES_PER_INVOCATION: args["pages-per-invocation"] } : {}),
  });
  const app = await startLocalApp({ config, logger, database });
  const direct = new pg.Client({ connectionString: url });
  await direct.connect();
  try {
    const request = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${app.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${app.adminKey}`, "content-type": "application/json" },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const json = (await res.json()) as any;
      if (res.status >= 300) throw new Error(`${method} ${path} → ${res.status} ${JSON.stringify(json)}`);
      return json;
    };
    const settle = async (id: string) => {
      await app.workflows.idle();
      const run = await request("GET", `${API}/progress/${id}`);
      if (run.status !== "completed") throw new Error(`run ${id} ${run.status}: ${run.error}`);
      return run;
    };

    // Prepare: a Municipality tenant grown to the size (set-based SQL on a direct connection)
    const templates = await request("GET", `${API}/templates?limit=100`);
    const template = templates.items.find((t: any) => t.name === "Municipality");
    const provisioned = await request(
      "POST",
      `${API}/templates/${template.id}/provision`,
      provisionBody(`bench-${targetMb}`, "Bench!Backup-0123456789"),
    );
    const tenantId: string = (await settle(provisioned.id)).tenantId;
    for (const statement of growTenantStatements(tenantId, scaleOfMegabytes(targetMb))) {
      await direct.query(statement);
    }
    const schema = `tenant_${tenantId.replace(/-/g, "")}`;
    const sizeQuery = await direct.query(
      `SELECT c.relname, pg_total_relation_size(c.oid) AS disk FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = $1 AND c.relkind = 'r'`,
      [schema],
    );
    let rowBytes = 0;
    let rows = 0;
    let disk = 0;
    for (const r of sizeQuery.rows) {
      const [s] = (
        await direct.query(
          `SELECT count(*)::bigint AS n, coalesce(sum(octet_length(t::text)), 0)::bigint AS b FROM "${schema}"."${r.relname}" t`,
        )
      ).rows;
      rows += Number(s.n);
      rowBytes += Number(s.b);
      disk += Number(r.disk);
    }
    for (const [table, where] of [
      ["users", "tenant_id"],
      ["audit_logs", "tenant_id"],
    ] as const) {
      const [s] = (
        await direct.query(
          `SELECT count(*)::bigint AS n, coalesce(sum(octet_length(t::text)), 0)::bigint AS b FROM ${table} t WHERE ${where} = $1`,
          [tenantId],
        )
      ).rows;
      rows += Number(s.n);
      rowBytes += Number(s.b);
    }
    // pg_dump's text of a 1 GB schema would not fit comfortably in this process: larger tenants
    // are compared by an order-independent checksum of every row's text per table instead.
    const fingerprint = async (): Promise<string> => {
      if (targetMb <= 200) return JSON.stringify(await dataDump(url, schema));
      const parts: string[] = [];
      for (const r of sizeQuery.rows) {
        const [c] = (
          await direct.query(
            `SELECT count(*)::text || ':' || coalesce(sum(hashtextextended(t::text, 0)::numeric), 0)::text AS f FROM "${schema}"."${r.relname}" t`,
          )
        ).rows;
        parts.push(`${r.relname}=${c.f}`);
      }
      return parts.sort().join("\n");
    };
    const dumpBefore = await fingerprint();
    const dataMb = mb(rowBytes);

    const phase = (
      step: string,
      run: any,
      from: number,
      to: number,
      pages: number,
      iterations: number,
      runEvents: typeof events,
    ): PhaseFigures => {
      const s = run.steps.find((x: any) => x.name === step);
      const seconds = (s.durationMs ?? 0) / 1000;
      const windowCalls = calls.filter((c) => c.at >= from && c.at <= to);
      const largest = windowCalls.reduce<CallRecord | null>(
        (a, c) => (a === null || c.responseBytes > a.responseBytes ? c : a),
        null,
      );
      // The longest invocation: from a Task state's entry to its exit, in this run's events.
      let longest = 0;
      let start: number | null = null;
      for (const e of runEvents.filter((x) => x.state === step)) {
        if (e.type === "StateEntered") start = e.at;
        else if (e.type === "StateExited" && start !== null) {
          longest = Math.max(longest, e.at - start);
          start = null;
        }
      }
      return {
        seconds: round(seconds),
        mbPerSecond: round(dataMb / Math.max(seconds, 0.001)),
        iterations,
        pages,
        longestInvocationSeconds: round(longest / 1000),
        dataApiCalls: adapter ? windowCalls.length : null,
        dataApiCallsPerMb: adapter ? round(windowCalls.length / dataMb, 1) : null,
        largestResponseBytes: largest?.responseBytes ?? null,
        largestResponseCallMs: largest ? round(largest.ms, 1) : null,
        slowestCallMs: adapter ? round(Math.max(0, ...windowCalls.map((c) => c.ms)), 1) : null,
      };
    };

    // Act: back up (deprovisioning, no grace period), then restore
    const t0 = Date.now();
    const e0 = events.length;
    const dep = await request("POST", `${API}/tenants/${tenantId}/deprovision`, {
      preserveBackups: true,
      gracePeriodHours: 0,
    });
    const deprovisioned = await settle(dep.id);
    const backupStep = deprovisioned.steps.find((s: any) => s.name === "BackupData");
    const backupFrom = Math.max(t0, Date.parse(backupStep.startedAt));
    const backupTo = Date.parse(backupStep.completedAt);
    const backups = await request("GET", `${API}/tenants/${tenantId}/backups`);
    const backup = backups.items.find((b: any) => b.kind === "full");
    const depEvents = events.slice(e0);
    const t1 = Date.now();
    const e1 = events.length;
    const res = await request("POST", `${API}/tenants/${tenantId}/restore`, { backupId: backup.id });
    const restored = await settle(res.id);
    const restoreStep = restored.steps.find((s: any) => s.name === "RestoreData");
    const restoreFrom = Math.max(t1, Date.parse(restoreStep.startedAt));
    const restoreTo = Date.parse(restoreStep.completedAt);
    const identical = (await fingerprint()) === dumpBefore;

    return {
      driver,
      targetMb,
      rowDataMb: round(dataMb),
      onDiskMb: round(mb(disk)),
      rows,
      backupStoredMb: round(mb(backup.sizeBytes)),
      backup: phase(
        "BackupData",
        deprovisioned,
        backupFrom,
        backupTo,
        deprovisioned.metadata.backup.pages,
        deprovisioned.metadata.backup.iterations,
        depEvents,
      ),
      restore: phase(
        "RestoreData",
        restored,
        restoreFrom,
        restoreTo,
        restored.metadata.pages,
        restored.metadata.iterations,
        events.slice(e1),
      ),
      identical,
    };
  } finally {
    await direct.end();
    await app.close();
    await database.destroy();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

function printTable(results: readonly SizeFigures[]): void {
  const header = [
    "driver",
    "size MB",
    "rows",
    "phase",
    "s",
    "MB/s",
    "iter",
    "pages",
    "longest inv s",
    "calls/MB",
    "max resp B",
    "its ms",
    "slowest call ms",
  ];
  const lines = [header];
  for (const r of results) {
    for (const [name, p] of [
      ["backup", r.backup],
      ["restore", r.restore],
    ] as const) {
      lines.push([
        r.driver,
        String(r.rowDataMb),
        String(r.rows),
        name,
        String(p.seconds),
        String(p.mbPerSecond),
        String(p.iterations),
        String(p.pages),
        String(p.longestInvocationSeconds),
        p.dataApiCallsPerMb === null ? "-" : String(p.dataApiCallsPerMb),
        p.largestResponseBytes === null ? "-" : String(p.largestResponseBytes),
        p.largestResponseCallMs === null ? "-" : String(p.largestResponseCallMs),
        p.slowestCallMs === null ? "-" : String(p.slowestCallMs),
      ]);
    }
  }
  const widths = header.map((_, i) => Math.max(...lines.map((l) => l[i]!.length)));
  for (const l of lines) console.log(l.map((c, i) => c.padStart(widths[i]!)).join("  "));
}

async function main() {
  const sizes = args
    .sizes!.split(",")
    .map(Number)
    .filter((n) => n > 0);
  if (args.gb) sizes.push(1024);
  const drivers = args.drivers!.split(",") as TestDatabaseKind[];
  const results: SizeFigures[] = [];
  for (const size of sizes) {
    for (const driver of drivers) {
      console.error(`backing up ~${size} MB on ${driver} ...`);
      const r = await benchOne(driver, size);
      results.push(r);
      if (!args.json) console.error(JSON.stringify(r));
    }
  }
  if (args.json) {
    console.log(JSON.stringify(results, null, 2));
    return;
  }
  printTable(results);
  for (const r of results) {
    if (!r.identical) console.log(`!! ${r.driver} ${r.targetMb} MB: restored data differs`);
  }
  // How far the design goes: each invocation is bounded (pages, seconds), so the limit is the
  // number of loop passes one execution can make (its event history) times what one pass backs up.
  const budgetPages = Number(args["pages-per-invocation"] ?? 64);
  for (const r of results) {
    const perIteration = r.rowDataMb / Math.max(1, r.backup.iterations);
    const maxIterations = Math.floor((HISTORY_EVENTS - OTHER_EVENTS) / EVENTS_PER_ITERATION);
    console.log(
      `${r.driver} ${r.rowDataMb} MB: backed up ${round(perIteration)} MB per invocation ` +
        `(≤ ${budgetPages} pages); ${maxIterations} passes fit an execution's history → ` +
        `~${round((perIteration * maxIterations) / 1024, 1)} GB at this rate; restored identical: ${r.identical}`,
    );
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
