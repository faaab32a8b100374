/**
 * The local server killed with SIGKILL in the middle of provisioning runs, and started again on
 * the same data: it resumes the runs it finds unfinished, and they end with exactly the rows of an
 * uninterrupted run of the same template (provisioned afterwards on the same server).
 *
 * The service is driven through its API only. The row counts are read from the database once the
 * service has stopped (PGlite: the data directory itself; DATABASE_URL: the PostgreSQL server).
 *
 * A deprovisioning killed in the middle of its backup loop resumes from the last page it committed:
 * the finished backup lists every page once (those committed before the kill unchanged), holds
 * every row once, and restores to the same `pg_dump --data-only`.
 *
 * As in local-start.test.ts, the project's tsx binary runs `local/main.ts` in its own process
 * group; SIGKILL goes to the whole group (tsx cannot relay a SIGKILL to the service it runs).
 */
import { createDecipheriv, createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { createFreshPgDatabase } from "../support/database.ts";
import { dataDump } from "../support/pg-dump.ts";
import { provisionBody } from "../support/provision-body.ts";
import { growTenantStatements, TEST_SCALE } from "../support/scale-tenant.ts";
import {
  killService as kill,
  type ServiceApi,
  type ServiceProcess,
  serviceHarness,
  stopService as stop,
} from "../support/service-process.ts";
import { until as waitUntil } from "../support/wait.ts";

const API = "/api/provisioning";
const PASSWORD = "crash-resume-password-42";

const harness = serviceHarness("tp-crash-");
const { tempDataDir } = harness;

/** The service with fast retries and info logs (the resume is read from its log). */
function startService(env: Record<string, string>, dataDir: string) {
  return harness.startWithApi(
    { LOG_LEVEL: "info", STEP_RETRY_INTERVAL_SECONDS: "1", STEP_RETRY_MAX_DELAY_SECONDS: "1", ...env },
    dataDir,
  );
}

/** The log entries (JSON lines on stderr) with this message. */
function logEntries(service: ServiceProcess, message: string): Record<string, unknown>[] {
  return service.stderr
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        return {};
      }
    })
    .filter((e) => e.message === message);
}

type Api = ServiceApi;

/** Polls often (20 ms) with a long deadline: these tests run whole processes on a shared machine. */
const until = <T>(what: string, probe: () => Promise<T>, done: (v: T) => boolean) =>
  waitUntil(what, probe, done, 240_000, 20);

/** Municipality plus initial data close to its limits (500 users, 200 schools, 5000 products). */
function bigProvisionBody(slug: string): Record<string, unknown> {
  return provisionBody(slug, PASSWORD, {
    initialData: {
      schools: Array.from({ length: 180 }, (_, i) => ({ name: `Extra School ${i}`, code: `EXT-${i}` })),
      products: Array.from({ length: 4900 }, (_, i) => ({
        sku: `EXT-${i}`,
        name: `Extra product ${i}`,
        category: "Extra",
        unitPrice: (i % 100) + 0.5,
      })),
      users: Array.from({ length: 450 }, (_, i) => ({
        name: `Extra User ${i}`,
        email: `extra${i}@big.example.org`,
        role: i % 10 === 0 ? "approver" : "buyer",
      })),
    },
  });
}

/** Provisions `slug` (big) on a service nobody interrupts and waits for the run to end. */
async function uninterruptedRun(api: Api, template: string, slug: string): Promise<any> {
  const accepted = await api("POST", `${API}/templates/${template}/provision`, bigProvisionBody(slug));
  expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
  return until(
    "the reference run to finish",
    async () => (await api("GET", `${API}/progress/${accepted.body.id}`)).body,
    (r) => ["completed", "failed", "cancelled"].includes(r.status),
  );
}

/** The runs a service resumed at start, as it logged them. */
const resumedRuns = (service: ServiceProcess): string[] =>
  logEntries(service, "resumed runs left unfinished by an earlier process").flatMap(
    (e) => e.resumed as string[],
  );

async function municipalityId(api: Api): Promise<string> {
  const list = await api("GET", `${API}/templates?limit=100`);
  expect(list.status).toBe(200);
  const t = list.body.items.find((x: any) => x.name === "Municipality");
  expect(t).toBeDefined();
  return t.id;
}

const STEP_ORDER = [
  "CreateTenant",
  "CreateAdminUser",
  "RunMigrations",
  "SetupConfigurations",
  "CreateInitialData",
  "PostProvisioningSteps",
];

/** The run is running and has reached RunMigrations or a later step. */
function pastMigrationsStart(run: any): boolean {
  return (
    run.status === "running" && STEP_ORDER.indexOf(run.currentStep) >= STEP_ORDER.indexOf("RunMigrations")
  );
}

type Query = (text: string) => Promise<Record<string, unknown>[]>;

/** Row counts of everything a run writes for its tenant. */
async function footprint(query: Query, tenantId: string): Promise<Record<string, unknown>> {
  const schema = `tenant_${tenantId.replace(/-/g, "")}`;
  if (!/^tenant_[0-9a-f]{32}$/.test(schema)) throw new Error(`unexpected tenant id ${tenantId}`);
  const tables = (
    await query(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = '${schema}' ORDER BY table_name`,
    )
  ).map((r) => String(r.table_name));
  const counts: Record<string, number> = {};
  for (const t of tables) {
    counts[t] = Number((await query(`SELECT count(*)::int AS n FROM "${schema}"."${t}"`))[0]!.n);
  }
  const one = async (text: string) => Number((await query(text))[0]!.n);
  return {
    tables: counts,
    migrations: (await query(`SELECT name FROM "${schema}".schema_migrations ORDER BY name`)).map(
      (r) => r.name,
    ),
    configurationKeys: (await query(`SELECT key FROM "${schema}".configurations ORDER BY key`)).map(
      (r) => r.key,
    ),
    users: await one(`SELECT count(*)::int AS n FROM users WHERE tenant_id = '${tenantId}'`),
    admins: await one(
      `SELECT count(*)::int AS n FROM users WHERE tenant_id = '${tenantId}' AND role = 'tenant_admin'`,
    ),
    notifications: await one(
      `SELECT count(*)::int AS n FROM notifications_outbox WHERE tenant_id = '${tenantId}'`,
    ),
    tenantStatus: (await query(`SELECT status FROM tenants WHERE id = '${tenantId}'`))[0]!.status,
  };
}

/** Attempts of the welcome notification, the first action of the PostProvisioningSteps Map. */
function welcomeAttempts(run: any): number {
  const step = run.steps.find((s: any) => s.name === "PostProvisioningSteps");
  return step.actions?.find((a: any) => a.name === "send-welcome-notification")?.attempts ?? 0;
}

function expectCompleted(run: any): void {
  expect(run.status, JSON.stringify(run)).toBe("completed");
  expect(run.steps.map((s: any) => [s.name, s.status])).toEqual(STEP_ORDER.map((n) => [n, "completed"]));
  expect(run.completedSteps).toBe(STEP_ORDER.length);
}

afterEach(() => harness.cleanup());

describe("a local server killed mid-run", { timeout: 600_000 }, () => {
  it("on PGlite: resumes the unfinished runs after a restart, with the rows of an uninterrupted run", async () => {
    // Prepare: three big Municipality runs, queued on the one embedded connection
    const dataDir = tempDataDir();
    const { service: first, api: api1 } = await startService({}, dataDir);
    const template = await municipalityId(api1);
    const accepted = await Promise.all(
      ["crash-a", "crash-b", "crash-c"].map((slug) =>
        api1("POST", `${API}/templates/${template}/provision`, bigProvisionBody(slug)),
      ),
    );
    for (const a of accepted) expect(a.status, JSON.stringify(a.body)).toBe(202);
    const ids = accepted.map((a) => a.body.id as string);

    // Act: SIGKILL once a run is past the start of RunMigrations
    const atKill = await until(
      "a run to reach RunMigrations",
      async () => (await api1("GET", `${API}/progress?limit=100`)).body.items as any[],
      (runs) => runs.some(pastMigrationsStart),
    );
    const killed = await kill(first);
    const { service: second, api: api2 } = await startService({}, dataDir);
    const runs = await Promise.all(
      ids.map((id) =>
        until(
          `run ${id} to finish`,
          async () => (await api2("GET", `${API}/progress/${id}`)).body,
          (r) => ["completed", "failed", "cancelled"].includes(r.status),
        ),
      ),
    );
    const referenceRun = await uninterruptedRun(api2, template, "crash-ref");
    const resumed = resumedRuns(second);
    await stop(second);

    // Assess: the kill interrupted at least one run, which the second process resumed
    expect(killed).toBe("SIGKILL");
    expect(atKill.filter(pastMigrationsStart).length).toBeGreaterThanOrEqual(1);
    expect(resumed.length, second.stderr.slice(-3000)).toBeGreaterThanOrEqual(1);
    for (const id of resumed) expect(ids).toContain(id);
    for (const run of runs) expectCompleted(run);
    expectCompleted(referenceRun);

    // Assess: every run has exactly the rows of the uninterrupted one
    const { PGlite } = await import("@electric-sql/pglite");
    const database = new PGlite(join(dataDir, "pglite"));
    try {
      const query: Query = async (text) => (await database.query<Record<string, unknown>>(text)).rows;
      const expected = await footprint(query, referenceRun.tenantId);
      expect(expected).toMatchObject({
        admins: 1,
        tenantStatus: "active",
        tables: expect.objectContaining({ schools: 190, products: 4920 }),
      });
      expect(expected.users).toBeGreaterThan(451);
      for (const run of runs) expect(await footprint(query, run.tenantId), run.id).toEqual(expected);
    } finally {
      await database.close();
    }
  });

  it("with DATABASE_URL: a run held up by a lock is resumed after a SIGKILL and completes exactly once", async () => {
    // Prepare: another connection locks the notifications outbox, so PostProvisioningSteps (the
    // welcome notification) cannot commit and keeps retrying past its lock timeout
    const fresh = await createFreshPgDatabase();
    harness.onCleanup(() => fresh.drop());
    const env = { DATABASE_URL: fresh.url, STEP_LOCK_TIMEOUT_MS: "300", STEP_RETRY_MAX_ATTEMPTS: "20" };
    const dataDir = tempDataDir();
    const { service: first, api: api1 } = await startService(env, dataDir);
    const template = await municipalityId(api1);
    const locker = new pg.Client({ connectionString: fresh.url });
    await locker.connect();
    harness.onCleanup(async () => {
      await locker.end().catch(() => {});
    });
    await locker.query("BEGIN");
    await locker.query("LOCK TABLE notifications_outbox IN ACCESS EXCLUSIVE MODE");
    const accepted = await api1(
      "POST",
      `${API}/templates/${template}/provision`,
      bigProvisionBody("crash-pg"),
    );
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);

    // Act
    const blocked = await until(
      "the welcome notification to be attempted twice",
      async () => (await api1("GET", `${API}/progress/${accepted.body.id}`)).body,
      (r) => welcomeAttempts(r) >= 2 || ["completed", "failed", "cancelled"].includes(r.status),
    );
    const killed = await kill(first);
    await locker.query("COMMIT");
    const { service: second, api: api2 } = await startService(env, dataDir);
    const run = await until(
      "the run to finish",
      async () => (await api2("GET", `${API}/progress/${accepted.body.id}`)).body,
      (r) => ["completed", "failed", "cancelled"].includes(r.status),
    );
    const referenceRun = await uninterruptedRun(api2, template, "crash-pg-ref");
    const resumed = resumedRuns(second);
    await stop(second);

    // Assess
    expect(killed).toBe("SIGKILL");
    expect(blocked.status).toBe("running");
    expect(blocked.currentStep).toBe("PostProvisioningSteps");
    expect(welcomeAttempts(blocked)).toBeGreaterThanOrEqual(2);
    expect(resumed).toEqual([accepted.body.id]);
    expectCompleted(run);
    expectCompleted(referenceRun);
    expect(run.steps.find((s: any) => s.name === "CreateInitialData").attempts).toBe(1);
    const check = new pg.Client({ connectionString: fresh.url });
    await check.connect();
    try {
      const query: Query = async (text) => (await check.query(text)).rows;
      const expected = await footprint(query, referenceRun.tenantId);
      expect(expected).toMatchObject({
        admins: 1,
        notifications: 1,
        tables: expect.objectContaining({ products: 4920 }),
      });
      expect(expected.users).toBeGreaterThan(451);
      expect(await footprint(query, run.tenantId)).toEqual(expected);
    } finally {
      await check.end();
    }
  });

  it("with DATABASE_URL: a backup killed mid-loop resumes from its last committed page, losing and repeating none", async () => {
    // Prepare: a grown Municipality tenant; a small backup budget, so BackupData loops many times
    const fresh = await createFreshPgDatabase();
    harness.onCleanup(() => fresh.drop());
    const env = {
      DATABASE_URL: fresh.url,
      BACKUP_PAGE_BYTES: "8192",
      BACKUP_PAGES_PER_INVOCATION: "2",
    };
    const dataDir = tempDataDir();
    const { service: first, api: api1 } = await startService(env, dataDir);
    const template = await municipalityId(api1);
    const provisioned = await api1(
      "POST",
      `${API}/templates/${template}/provision`,
      provisionBody("crash-backup", PASSWORD),
    );
    expect(provisioned.status, JSON.stringify(provisioned.body)).toBe(202);
    const tenantRun = await until(
      "the provisioning to finish",
      async () => (await api1("GET", `${API}/progress/${provisioned.body.id}`)).body,
      (r) => ["completed", "failed", "cancelled"].includes(r.status),
    );
    expect(tenantRun.status).toBe("completed");
    const tenantId: string = tenantRun.tenantId;
    const db = new pg.Client({ connectionString: fresh.url });
    await db.connect();
    harness.onCleanup(async () => {
      await db.end().catch(() => {});
    });
    for (const statement of growTenantStatements(tenantId, TEST_SCALE)) await db.query(statement);
    const schema = `tenant_${tenantId.replace(/-/g, "")}`;
    const dumpBefore = await dataDump(fresh.url, schema);

    // Act: deprovision, SIGKILL once several pages are committed, start again
    const dep = await api1("POST", `${API}/tenants/${tenantId}/deprovision`, {
      preserveBackups: true,
      gracePeriodHours: 0,
    });
    expect(dep.status, JSON.stringify(dep.body)).toBe(202);
    const runId: string = dep.body.id;
    const committed = async () =>
      (
        await db.query(
          "SELECT page_no, sha256, row_count FROM backup_pages WHERE progress_id = $1 ORDER BY page_no",
          [runId],
        )
      ).rows as { page_no: number; sha256: string; row_count: number }[];
    await until("six backup pages to be committed", committed, (rows) => rows.length >= 6);
    const killed = await kill(first);
    const atKill = await committed();
    const writeRefused = await db
      .query(`INSERT INTO "${schema}".schools (name, code) VALUES ('late', 'LATE-1')`)
      .then(
        () => "written",
        (error: Error) => error.message,
      );
    const { service: second, api: api2 } = await startService(env, dataDir);
    const run = await until(
      "the deprovisioning to finish",
      async () => (await api2("GET", `${API}/progress/${runId}`)).body,
      (r) => ["completed", "failed", "cancelled"].includes(r.status),
    );
    const resumed = resumedRuns(second);
    const backups = await api2("GET", `${API}/tenants/${tenantId}/backups`);
    const backup = backups.body.items.find((b: any) => b.kind === "full");
    const restore = await api2("POST", `${API}/tenants/${tenantId}/restore`, { backupId: backup.id });
    expect(restore.status, JSON.stringify(restore.body)).toBe(202);
    const restored = await until(
      "the restore to finish",
      async () => (await api2("GET", `${API}/progress/${restore.body.id}`)).body,
      (r) => ["completed", "failed", "cancelled"].includes(r.status),
    );
    await stop(second);

    // Assess: the kill landed mid-loop, and the resumed run completed
    expect(killed).toBe("SIGKILL");
    expect(atKill.length).toBeGreaterThanOrEqual(6);
    // The schema stayed read-only while the killed run was still running.
    expect(writeRefused).toMatch(/read-only while it is backed up/);
    expect(resumed).toEqual([runId]);
    expect(run.status, JSON.stringify(run).slice(0, 2000)).toBe("completed");
    // One attempt before the kill, one by the resumed execution: iterations are not attempts.
    expect(run.steps.find((s: any) => s.name === "BackupData").attempts).toBe(2);

    // Assess: the manifest lists every page once, in order, the pages committed before the kill
    // unchanged, and the rows of each table exactly once
    const backupKey = Buffer.from(readFileSync(join(dataDir, "backup.key"), "utf8").trim(), "base64");
    const decrypt = (location: string) => {
      const file = readFileSync(join(dataDir, "backups", location));
      const decipher = createDecipheriv("aes-256-gcm", backupKey, file.subarray(4, 16));
      decipher.setAAD(Buffer.from(location, "utf8"));
      decipher.setAuthTag(file.subarray(16, 32));
      return Buffer.concat([decipher.update(file.subarray(32)), decipher.final()]);
    };
    const manifest = JSON.parse(gunzipSync(decrypt(backup.location)).toString("utf8"));
    const numbers = manifest.pages.map((p: any) => p.n);
    expect(numbers).toEqual(numbers.map((_: unknown, i: number) => i));
    expect(manifest.pages.length).toBeGreaterThan(atKill.length);
    for (const page of atKill) {
      expect(manifest.pages[page.page_no]).toMatchObject({
        sha256: page.sha256.trim(),
        rows: page.row_count,
      });
    }
    const rowsPerTable = new Map<string, number>();
    const keysSeen = new Set<string>();
    for (const page of manifest.pages) {
      const plain = decrypt(page.location);
      expect(createHash("sha256").update(plain).digest("hex")).toBe(page.sha256);
      const chunk = JSON.parse(gunzipSync(plain).toString("utf8"));
      const rows = JSON.parse(chunk.rowsJson) as Record<string, unknown>[];
      expect(rows.length).toBe(page.rows);
      for (const row of rows) {
        const identity = `${chunk.table}:${JSON.stringify(row)}`;
        expect(keysSeen.has(identity), identity).toBe(false);
        keysSeen.add(identity);
      }
      rowsPerTable.set(chunk.table, (rowsPerTable.get(chunk.table) ?? 0) + rows.length);
    }
    for (const table of manifest.tables) {
      expect(rowsPerTable.get(table.table) ?? 0, table.table).toBe(table.rows);
    }
    expect(rowsPerTable.get("stock_movements")).toBe(TEST_SCALE.stockMovements);

    // Assess: the restore gives back exactly the data backed up
    expect(restored.status, JSON.stringify(restored).slice(0, 2000)).toBe("completed");
    expect(await dataDump(fresh.url, schema)).toEqual(dumpBefore);
  });
});
