/**
 * The provisioning workflow through HTTP against a real database (PGlite, PostgreSQL, and
 * PostgreSQL through the RDS Data API driver): the ASL run in-process by the local runner, its
 * steps against the database, progress records, retry / recover / cancel / cleanup, races for a
 * slug, idempotency keys, input checks and audit.
 *
 * Failures are real database conditions: triggers on `users` raising a SQLSTATE (counted with a
 * sequence, which a rollback does not undo), and on the PostgreSQL server a lock held by another
 * connection past the steps' lock_timeout.
 */
import { createHash, randomUUID } from "node:crypto";
import { count, eq, sql } from "drizzle-orm";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import type { Database } from "../../functions/db/client.ts";
import {
  apiKeys,
  auditLogs,
  provisioningProgress,
  provisioningSecrets,
  tenants,
  users,
} from "../../functions/db/schema.ts";
import { safeIdentifier } from "../../functions/db/sql.ts";
import { verifyPassword } from "../../functions/domain/auth/password.ts";
import { readTenantMigration } from "../../functions/domain/tenants/tenant-migrations.ts";
import { FEATURE_FLAGS } from "../../functions/schemas/templates.ts";
import { PROVISIONING_STEPS } from "../../functions/workflows/step-catalog.ts";
import { expectApiError } from "../support/api-errors.ts";
import { testDatabaseKind } from "../support/database.ts";
import { failInserts, tenantWithSlug } from "../support/fault-injection.ts";
import { provisionBody as newTenantBody } from "../support/provision-body.ts";
import { API, PROGRESS, runHelpers, schemaOf, stepOf, TERMINAL } from "../support/runs.ts";
import type { HttpResult } from "../support/server.ts";
import { startTestServer, type TestServer } from "../support/server.ts";
import { until } from "../support/wait.ts";

const DEFAULT_TEMPLATE_NAMES = ["Basic School System", "School District", "Municipality"] as const;
type DefaultTemplateName = (typeof DEFAULT_TEMPLATE_NAMES)[number];
/** Distinctive, so that finding it anywhere is a leak and not a coincidence. */
const PASSWORD = `Zebra!Quartz-${randomUUID().slice(0, 8)}-Lantern`;
/** PGlite is one embedded connection: nothing else can hold a lock while the service runs. */
const ONE_CONNECTION = testDatabaseKind === "pglite";

/** Fast retries (1 s, no backoff beyond 1 s) and room for many of them (cancel tests). */
const SERVER_ENV = {
  STEP_RETRY_INTERVAL_SECONDS: "1",
  STEP_RETRY_MAX_DELAY_SECONDS: "1",
  STEP_RETRY_MAX_ATTEMPTS: "20",
  STEP_DB_UNAVAILABLE_RETRY_INTERVAL_SECONDS: "1",
  STEP_DB_UNAVAILABLE_RETRY_MAX_DELAY_SECONDS: "1",
};

let server: TestServer;
let db: Database;
const runs = runHelpers(() => server);
const { progressOf, settle, provision, schemaExists, tablesOf, rows, countOf, templateId } = runs;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

function uniqueSlug(prefix = "t"): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

const provisionBody = (slug: string, extra: Record<string, unknown> = {}) =>
  newTenantBody(slug, PASSWORD, extra);

async function getTemplate(name: string): Promise<any> {
  const res = await server.request("GET", `${API}/templates/${await templateId(name)}`);
  expect(res.status).toBe(200);
  return res.body;
}

const expectError = (res: HttpResult<any>, status: number, field?: string) =>
  expectApiError(res, status, { field });

async function exec(statement: string): Promise<void> {
  await db.execute(sql.raw(statement));
}

/** The tables a tenant migration creates, read from its SQL file. */
function tablesCreatedBy(migration: string): string[] {
  return [...readTenantMigration(migration).matchAll(/CREATE TABLE\s+(?:IF NOT EXISTS\s+)?"?(\w+)"?/gi)].map(
    (m) => m[1]!.toLowerCase(),
  );
}

/** What a run left behind for its tenant: row counts of every tenant table, users, notifications. */
interface Footprint {
  readonly tables: Record<string, number>;
  readonly migrations: string[];
  readonly users: number;
  readonly admins: number;
  readonly notifications: number;
}

async function footprint(tenantId: string): Promise<Footprint> {
  const schema = schemaOf(tenantId);
  const tables: Record<string, number> = {};
  const names = await tablesOf(schema);
  for (const table of names) {
    tables[table] = await countOf(
      sql.raw(`SELECT count(*) AS n FROM ${safeIdentifier(schema)}.${safeIdentifier(table)}`),
    );
  }
  const migrations = names.includes("schema_migrations")
    ? (
        await rows<{ name: string }>(
          sql.raw(`SELECT name FROM ${safeIdentifier(schema)}.schema_migrations ORDER BY name`),
        )
      ).map((r) => r.name)
    : [];
  return {
    tables,
    migrations,
    users: await countOf(sql`SELECT count(*) AS n FROM users WHERE tenant_id = ${tenantId}::uuid`),
    admins: await countOf(
      sql`SELECT count(*) AS n FROM users WHERE tenant_id = ${tenantId}::uuid AND role = 'tenant_admin'`,
    ),
    notifications: await countOf(
      sql`SELECT count(*) AS n FROM notifications_outbox WHERE tenant_id = ${tenantId}::uuid`,
    ),
  };
}

/** The footprint of an uninterrupted run of a template (provisioned once, on first use). */
const baselines = new Map<string, Footprint>();
async function baselineFootprint(template: DefaultTemplateName): Promise<Footprint> {
  let baseline = baselines.get(template);
  if (!baseline) {
    const started = await provision(template, provisionBody(uniqueSlug("base")));
    const run = await settle(started.id);
    expect(run.status, JSON.stringify(run)).toBe("completed");
    baseline = await footprint(run.tenantId);
    baselines.set(template, baseline);
  }
  return baseline;
}

async function auditActions(progressId: string): Promise<string[]> {
  const entries = await db.select().from(auditLogs).where(eq(auditLogs.targetId, progressId));
  return entries.map((e) => e.action).sort();
}

async function tableCounts(): Promise<{ tenants: number; progress: number; users: number; audit: number }> {
  const [t] = await db.select({ n: count() }).from(tenants);
  const [p] = await db.select({ n: count() }).from(provisioningProgress);
  const [u] = await db.select({ n: count() }).from(users);
  const [a] = await db.select({ n: count() }).from(auditLogs);
  return { tenants: Number(t!.n), progress: Number(p!.n), users: Number(u!.n), audit: Number(a!.n) };
}

/**
 * A BEFORE INSERT trigger on `users` that raises `sqlstate` for the rows of one tenant (by slug,
 * known before the run starts): the admin (CreateAdminUser) or the other users (CreateInitialData).
 * It raises the first `times` times (a sequence counts: rollbacks do not undo it), then lets rows
 * through. Returns a function that removes it.
 */
async function failUserInserts(options: {
  slug: string;
  admin: boolean;
  sqlstate: string;
  times?: number;
}): Promise<() => Promise<void>> {
  const remove = await failInserts(exec, {
    name: `test_fail_${options.slug}_${options.admin ? "admin" : "users"}`,
    table: "users",
    when: `(NEW.role = 'tenant_admin') = ${options.admin} AND ${tenantWithSlug(options.slug)}`,
    sqlstate: options.sqlstate,
    message: "'injected failure for %', NEW.email",
    times: options.times ?? 1_000_000_000,
  });
  cleanups.push(remove);
  return remove;
}

/**
 * A BEFORE INSERT trigger on `notifications_outbox` that raises a check violation for one tenant's
 * rows (by slug): the welcome notification, the first post-provisioning action of every default
 * template, fails permanently. `run` executes a statement on the database to change. Returns a
 * function that removes it.
 */
async function failNotificationInserts(
  run: (statement: string) => Promise<void>,
  slug: string,
): Promise<() => Promise<void>> {
  const remove = await failInserts(run, {
    name: `test_fail_outbox_${slug}`,
    table: "notifications_outbox",
    when: tenantWithSlug(slug),
    sqlstate: "23514",
    message: "'injected outbox failure'",
  });
  cleanups.push(remove);
  return remove;
}

/**
 * A Municipality run whose welcome notification failed once, then finished: the Map step took two
 * passes, the failed action two attempts, and every later action exactly one.
 */
function expectMunicipalityActionsRunOnceAfterAFailure(run: any): void {
  const step = stepOf(run, "PostProvisioningSteps");
  expect(step).toMatchObject({ status: "completed", attempts: 2 });
  expect((step.actions ?? []).map((a: any) => [a.name, a.status, a.attempts])).toEqual([
    ["send-welcome-notification", "completed", 2],
    ["create-default-reports", "completed", 1],
    ["enable-integrations", "completed", 1],
    ["record-onboarding-checklist", "completed", 1],
  ]);
}

/** A second connection to the test database (PostgreSQL server only). */
async function otherConnection(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: server.database.url });
  await client.connect();
  cleanups.push(async () => {
    await client.end().catch(() => {});
  });
  return client;
}

const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  server = await startTestServer({ env: SERVER_ENV });
  db = server.database.db;
}, 180_000);

afterEach(async () => {
  vi.restoreAllMocks();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  // Nothing a test started may run into the next one.
  await server.app.workflows.idle();
}, 180_000);

afterAll(async () => {
  await server?.close();
}, 180_000);

// ---------------------------------------------------------------------------------------------
// Provisioning from the default templates
// ---------------------------------------------------------------------------------------------

describe("provisioning from a default template", { timeout: 180_000 }, () => {
  it.each(DEFAULT_TEMPLATE_NAMES)("provisions %s to completed with every step completed", async (name) => {
    // Prepare
    const template = await getTemplate(name);
    const slug = uniqueSlug();
    const body = provisionBody(slug);
    const start = vi.spyOn(server.app.workflows, "start");

    // Act
    const accepted = await server.request("POST", `${API}/templates/${template.id}/provision`, { body });
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
    const run = await settle(accepted.body.id);

    // Assess: the run
    expect(accepted.body).toMatchObject({
      id: expect.any(String),
      kind: "provision",
      templateId: template.id,
      templateVersion: template.version,
      totalSteps: PROVISIONING_STEPS.length,
    });
    expect(["pending", "running", "completed"]).toContain(accepted.body.status);
    expect(run).toMatchObject({
      status: "completed",
      error: null,
      currentStep: null,
      totalSteps: PROVISIONING_STEPS.length,
      completedSteps: PROVISIONING_STEPS.length,
      attempt: 1,
    });
    expect(Date.parse(run.completedAt)).toBeGreaterThanOrEqual(Date.parse(run.startedAt));
    expect(run.steps.map((s: any) => s.name)).toEqual(PROVISIONING_STEPS.map((s) => s.name));
    for (const step of run.steps) {
      expect(step, step.name).toMatchObject({ status: "completed", error: null });
      expect(step.attempts, step.name).toBeGreaterThanOrEqual(1);
      expect(step.durationMs, step.name).toBeGreaterThanOrEqual(0);
      expect(step.completedAt, step.name).not.toBeNull();
    }
    const actions = stepOf(run, "PostProvisioningSteps").actions ?? [];
    expect(actions.map((a: any) => a.name)).toEqual(template.postProvisioningSteps);
    for (const a of actions) expect(a.status, a.name).toBe("completed");

    // Assess: the tenant row
    const [tenant] = await db.select().from(tenants).where(eq(tenants.id, run.tenantId));
    expect(tenant).toMatchObject({
      slug,
      subdomain: slug,
      name: `Tenant ${slug}`,
      status: "active",
      templateId: template.id,
      templateVersion: template.version,
      settings: template.settings,
      limits: template.limits,
    });

    // Assess: the tenant's schema holds the template's tables, migrations recorded
    const schema = schemaOf(run.tenantId);
    const expectedTables = [
      "schema_migrations",
      ...template.migrations.flatMap((m: string) => tablesCreatedBy(m)),
    ].sort();
    expect(expectedTables.length).toBeGreaterThan(4);
    expect(await tablesOf(schema)).toEqual(expectedTables);
    const found = await footprint(run.tenantId);
    expect(found.migrations).toEqual([...template.migrations].sort());

    // Assess: initial data
    const data = template.initialData;
    expect(found.tables.schools).toBe(data.schools.length);
    expect(found.tables.products).toBe(data.products.length);
    expect(found.users).toBe(data.users.length + 1);
    expect(found.admins).toBe(1);
    const skus = await rows<{ sku: string }>(
      sql.raw(`SELECT sku FROM ${safeIdentifier(schema)}.products ORDER BY sku`),
    );
    expect(skus.map((r) => r.sku)).toEqual(data.products.map((p: any) => p.sku).sort());
    const emails = await db
      .select({ email: users.email })
      .from(users)
      .where(eq(users.tenantId, run.tenantId));
    expect(emails.map((u) => u.email).sort()).toEqual(
      [...data.users.map((u: any) => u.email), `admin@${slug}.example.org`].sort(),
    );

    // Assess: configuration (settings, every feature flag, the template's configurations)
    const config = new Map(
      (
        await rows<{ key: string; value: unknown }>(
          sql.raw(`SELECT key, value::text AS value FROM ${safeIdentifier(schema)}.configurations`),
        )
      ).map((r) => [r.key, JSON.parse(String(r.value))]),
    );
    for (const flag of FEATURE_FLAGS) {
      expect(config.get(`features.${flag}`), flag).toBe(template.settings.features.includes(flag));
    }
    for (const c of data.configurations) expect(config.get(c.key), c.key).toEqual(c.value);
    expect(config.get("settings.currency")).toBe(template.settings.currency);

    // Assess: the admin user, with an argon2id hash of the password (PHC string)
    const [admin] = await db
      .select()
      .from(users)
      .where(eq(users.email, `admin@${slug}.example.org`));
    expect(admin).toMatchObject({ tenantId: run.tenantId, role: "tenant_admin", name: "Ada Admin" });
    expect(admin!.passwordHash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(await verifyPassword(PASSWORD, admin!.passwordHash!)).toBe(true);
    const secrets = await db
      .select()
      .from(provisioningSecrets)
      .where(eq(provisioningSecrets.progressId, run.id));
    expect(secrets).toEqual([]);

    // Assess: the execution input names the run and the post-provisioning steps, nothing else
    const calls = start.mock.calls.filter(([, , input]) => input.progressId === run.id);
    expect(calls).toHaveLength(1);
    const [kind, executionName, input] = calls[0]!;
    expect(kind).toBe("provisioning");
    expect(executionName).toContain(run.id);
    expect(input).toEqual({
      progressId: run.id,
      startAt: "CreateTenant",
      postProvisioningSteps: template.postProvisioningSteps,
    });
    const ref = await start.mock.results[start.mock.calls.indexOf(calls[0]!)]!.value;
    expect(run.executionRef).toBe(ref);

    // Assess: audit
    expect(await auditActions(run.id)).toContain("provision.start");
    baselines.set(name, found);
  });

  it("never stores, logs or passes on the admin password", async () => {
    // Prepare
    const slug = uniqueSlug();
    const start = vi.spyOn(server.app.workflows, "start");

    // Act
    const accepted = await provision("Basic School System", provisionBody(slug));
    const run = await settle(accepted.id);

    // Assess: the run completed, so every table the workflow writes has data to search
    expect(run.status).toBe("completed");
    const leaks: string[] = [];
    const searched: Record<string, number> = {};
    for (const schema of ["public", schemaOf(run.tenantId)]) {
      for (const table of await tablesOf(schema)) {
        const qualified = `${safeIdentifier(schema)}.${safeIdentifier(table)}`;
        const total = await countOf(sql.raw(`SELECT count(*) AS n FROM ${qualified}`));
        const hits = await countOf(
          sql`SELECT count(*) AS n FROM ${sql.raw(qualified)} r WHERE strpos(r::text, ${PASSWORD}) > 0`,
        );
        searched[`${schema}.${table}`] = total;
        if (hits > 0) leaks.push(`${schema}.${table}`);
      }
    }
    expect(leaks).toEqual([]);
    // The search sees the run's data (rows cast to text contain what was written).
    expect(searched["public.users"]).toBeGreaterThan(0);
    expect(searched["public.tenant_provisioning_progress"]).toBeGreaterThan(0);
    expect(searched["public.audit_logs"]).toBeGreaterThan(0);
    expect(
      await countOf(
        sql`SELECT count(*) AS n FROM tenant_provisioning_progress r WHERE strpos(r::text, ${slug}) > 0`,
      ),
    ).toBeGreaterThan(0);
    expect(server.logs.length).toBeGreaterThan(0);
    expect(server.logs.join("\n")).toContain(run.id);
    expect(server.logs.join("\n")).not.toContain(PASSWORD);
    expect(JSON.stringify(accepted)).not.toContain(PASSWORD);
    expect(JSON.stringify(run)).not.toContain(PASSWORD);
    const listed = await server.request("GET", `${PROGRESS}?tenantId=${run.tenantId}`);
    expect(JSON.stringify(listed.body)).not.toContain(PASSWORD);
    expect(start).toHaveBeenCalledTimes(1);
    expect(JSON.stringify(start.mock.calls)).not.toContain(PASSWORD);
    expect(JSON.stringify(start.mock.calls)).not.toContain("$argon2id$");
  });
});

// ---------------------------------------------------------------------------------------------
// Custom provisioning
// ---------------------------------------------------------------------------------------------

describe("custom provisioning", { timeout: 180_000 }, () => {
  const inlineTemplate = {
    name: "Inline pilot",
    category: "custom",
    settings: { features: ["inventory"], locale: "fi-FI", currency: "EUR" },
    limits: { maxUsers: 5, maxSchools: 2, maxProducts: 10 },
    initialData: {
      schools: [{ name: "Pilot School", code: "PIL-1", type: "primary" }],
      products: [
        { sku: "PIL-A", name: "Pencil", unitPrice: 0.4 },
        { sku: "PIL-B", name: "Ruler", unitPrice: 1.1 },
      ],
      users: [{ name: "Pilot Buyer", email: "buyer@pilot.example.org", role: "buyer" }],
    },
    migrations: ["core", "inventory"],
    postProvisioningSteps: ["send-welcome-notification"],
  };

  it("provisions an inline template to completed", async () => {
    // Prepare
    const slug = uniqueSlug("c");

    // Act
    const res = await server.request("POST", `${API}/provision/custom`, {
      body: provisionBody(slug, { template: inlineTemplate }),
    });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const run = await settle(res.body.id);

    // Assess
    expect(run.status, JSON.stringify(run)).toBe("completed");
    expect(run.templateId).toBeNull();
    expect(run.steps.every((s: any) => s.status === "completed")).toBe(true);
    expect(await tablesOf(schemaOf(run.tenantId))).toEqual(
      ["schema_migrations", ...tablesCreatedBy("core"), ...tablesCreatedBy("inventory")].sort(),
    );
    const found = await footprint(run.tenantId);
    expect(found).toMatchObject({ users: 2, admins: 1, notifications: 1 });
    expect(found.tables).toMatchObject({ schools: 1, products: 2 });
    const [tenant] = await db.select().from(tenants).where(eq(tenants.id, run.tenantId));
    expect(tenant).toMatchObject({ status: "active", limits: inlineTemplate.limits, templateId: null });
    expect(await auditActions(run.id)).toContain("provision.start");
  });

  it.each([
    ["a limit that is not positive", { limits: { maxUsers: -1 } }, "template.limits.maxUsers"],
    [
      "an unknown post-provisioning step",
      { postProvisioningSteps: ["launch-rocket"] },
      "template.postProvisioningSteps",
    ],
    ["an unknown field", { colour: "blue" }, "template.colour"],
  ])(
    "rejects an inline template with %s (400 naming the field), writing nothing",
    async (_what, change, field) => {
      // Prepare
      const before = await tableCounts();

      // Act
      const res = await server.request("POST", `${API}/provision/custom`, {
        body: provisionBody(uniqueSlug("c"), { template: { ...inlineTemplate, ...change } }),
      });

      // Assess
      expectError(res, 400);
      const fields: string[] = res.body.error.details.fields.map((f: any) => f.field);
      expect(
        fields.some((f) => f === field || f.startsWith(`${field}.`) || f.startsWith(`${field}[`)),
        JSON.stringify(fields),
      ).toBe(true);
      expect(await tableCounts()).toEqual(before);
    },
  );

  it("rejects an inline template whose post-provisioning step lacks its tenant migration", async () => {
    // Prepare
    const before = await tableCounts();

    // Act
    const res = await server.request("POST", `${API}/provision/custom`, {
      body: provisionBody(uniqueSlug("c"), {
        template: { ...inlineTemplate, postProvisioningSteps: ["create-default-reports"] },
      }),
    });

    // Assess
    expectError(res, 400);
    expect(JSON.stringify(res.body.error)).toMatch(/template\.(postProvisioningSteps|migrations)/);
    expect(await tableCounts()).toEqual(before);
  });
});

// ---------------------------------------------------------------------------------------------
// Transient failures: the state machine's own Retry
// ---------------------------------------------------------------------------------------------

describe("a step that fails transiently", { timeout: 180_000 }, () => {
  it("is retried by the state machine and the run completes; the step shows 3 attempts", async () => {
    // Prepare: CreateAdminUser's insert hits a serialization failure twice, then goes through
    const slug = uniqueSlug("tr");
    await failUserInserts({ slug, admin: true, sqlstate: "40001", times: 2 });

    // Act
    const accepted = await provision("Basic School System", provisionBody(slug));
    const run = await settle(accepted.id);

    // Assess
    expect(run.status, JSON.stringify(run)).toBe("completed");
    expect(stepOf(run, "CreateAdminUser")).toMatchObject({ status: "completed", attempts: 3, error: null });
    // Each retried attempt's error stays on the step after it completed.
    expect(stepOf(run, "CreateAdminUser").attemptErrors).toEqual([
      expect.objectContaining({ attempt: 1, name: "TransientError", transient: true }),
      expect.objectContaining({ attempt: 2, name: "TransientError", transient: true }),
    ]);
    expect(stepOf(run, "CreateAdminUser").attemptErrors[0].message).toContain("injected failure");
    expect(stepOf(run, "CreateTenant")).toMatchObject({ attempts: 1, attemptErrors: [] });
    expect(stepOf(run, "RunMigrations").attempts).toBe(1);
    expect(run.attempt).toBe(1);
    expect(await footprint(run.tenantId)).toEqual(await baselineFootprint("Basic School System"));
  });

  // A second connection holding a lock needs the PostgreSQL server; PGlite is one connection.
  it.skipIf(ONE_CONNECTION)(
    "waits out a lock held by another connection: retried past the lock timeout, then completes",
    async () => {
      // Prepare: a server whose steps give up waiting for a lock after 300 ms. The lock is on the
      // template versions CreateTenant reads (the run's pinned version): a lock on `tenants` itself
      // would also hold up the request's own INSERT of the tenant row, so no run would start.
      const lockServer = await startTestServer({ env: { ...SERVER_ENV, STEP_LOCK_TIMEOUT_MS: "300" } });
      cleanups.push(() => lockServer.close());
      const ids = await lockServer.request("GET", `${API}/templates?limit=100`);
      const basic = ids.body.items.find((t: any) => t.name === "Basic School System");
      const locker = new pg.Client({ connectionString: lockServer.database.url });
      await locker.connect();
      cleanups.push(async () => {
        await locker.end().catch(() => {});
      });
      await locker.query("BEGIN");
      await locker.query("LOCK TABLE tenant_template_versions IN ACCESS EXCLUSIVE MODE");
      const get = async (id: string) => (await lockServer.request("GET", `${PROGRESS}/${id}`)).body;

      // Act
      const accepted = await lockServer.request("POST", `${API}/templates/${basic.id}/provision`, {
        body: provisionBody(uniqueSlug("lk")),
      });
      expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
      // Two attempts have failed once a third has started.
      const blocked = await until(
        "CreateTenant to be attempted three times",
        () => get(accepted.body.id),
        (p) => stepOf(p, "CreateTenant").attempts >= 3,
      );
      await locker.query("COMMIT");
      await until(
        "the run to finish",
        () => get(accepted.body.id),
        (p) => TERMINAL.includes(p.status),
      );
      await lockServer.app.workflows.idle();
      const run = await get(accepted.body.id);

      // Assess
      expect(blocked.status).toBe("running");
      expect(stepOf(blocked, "CreateTenant").error).toMatchObject({ name: "TransientError" });
      expect(stepOf(blocked, "CreateAdminUser")).toMatchObject({ status: "pending", attempts: 0 });
      expect(run.status, JSON.stringify(run)).toBe("completed");
      expect(stepOf(run, "CreateTenant").attempts).toBeGreaterThanOrEqual(3);
      expect(stepOf(run, "CreateTenant")).toMatchObject({ status: "completed", error: null });
      expect(run.steps.every((s: any) => s.status === "completed")).toBe(true);
      const [admins] = await lockServer.database.db
        .select({ n: count() })
        .from(users)
        .where(eq(users.tenantId, run.tenantId));
      expect(Number(admins!.n)).toBe(3);
    },
  );
});

// ---------------------------------------------------------------------------------------------
// The database unavailable for a while (Data API only: the adapter's fault hook)
// ---------------------------------------------------------------------------------------------

describe.runIf(testDatabaseKind === "data-api")(
  "a Data API resume or 5xx error in a step",
  { timeout: 180_000 },
  () => {
    /**
     * A server whose TransientError retrier never retries (MaxAttempts 0) and whose
     * DatabaseUnavailableError retrier retries 4 times 1 s apart: a run that completes through a
     * Data API fault was retried by the second one.
     */
    let unavailable: TestServer;
    let basicId: string;

    beforeAll(async () => {
      unavailable = await startTestServer({
        env: {
          ...SERVER_ENV,
          STEP_RETRY_MAX_ATTEMPTS: "0",
          STEP_DB_UNAVAILABLE_RETRY_INTERVAL_SECONDS: "1",
          STEP_DB_UNAVAILABLE_RETRY_MAX_DELAY_SECONDS: "1",
          STEP_DB_UNAVAILABLE_RETRY_MAX_ATTEMPTS: "4",
        },
      });
      const list = await unavailable.request("GET", `${API}/templates?limit=100`);
      basicId = list.body.items.find((t: any) => t.name === "Basic School System").id;
    }, 180_000);

    afterEach(() => {
      unavailable.database.dataApi?.faults.clear();
    });

    afterAll(async () => {
      await unavailable?.close();
    }, 180_000);

    async function provisionAndSettle(slug: string): Promise<any> {
      const accepted = await unavailable.request("POST", `${API}/templates/${basicId}/provision`, {
        body: provisionBody(slug),
      });
      expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
      const run = await until(
        `run ${accepted.body.id} to finish`,
        async () => (await unavailable.request("GET", `${PROGRESS}/${accepted.body.id}`)).body,
        (p) => TERMINAL.includes(p.status),
      );
      await unavailable.app.workflows.idle();
      return (await unavailable.request("GET", `${PROGRESS}/${run.id}`)).body;
    }

    /** The error names the step's failed attempts were classified as (from the service's log). */
    function failedAttempts(progressId: string, step: string): string[] {
      // runStep logs "step failed" with the error's name in `error` (and its message over `message`).
      return unavailable.logs
        .map((line) => JSON.parse(line))
        .filter((e) => e.level === "warn" && e.progressId === progressId && e.step === step && e.error)
        .map((e) => e.error);
    }

    it.each([
      {
        error: "DatabaseResumingException",
        step: "CreateAdminUser",
        // The step's one statement, which holds the admin's INSERT (CreateInitialData's names no password_hash).
        sql: /INSERT INTO users \(tenant_id, email, name, role, password_hash/,
        times: 2,
      },
      { error: "DatabaseUnavailableException", step: "RunMigrations", sql: /CREATE SCHEMA/, times: 1 },
      // CreateTenant's update of the tenant row the request inserted.
      { error: "ServiceUnavailableError", step: "CreateTenant", sql: /UPDATE tenants SET name/, times: 1 },
    ] as const)("$error at $step is retried by the state machine and the run completes", async (c) => {
      // Prepare
      const fault = unavailable.database.dataApi!.faults.inject({
        error: c.error,
        command: "ExecuteStatement",
        sql: c.sql,
        times: c.times,
      });

      // Act
      const run = await provisionAndSettle(uniqueSlug("du"));

      // Assess
      expect(fault.hits).toBe(c.times);
      expect(run.status, JSON.stringify(run)).toBe("completed");
      expect(stepOf(run, c.step)).toMatchObject({ status: "completed", attempts: c.times + 1, error: null });
      expect(failedAttempts(run.id, c.step)).toEqual(Array(c.times).fill("DatabaseUnavailableError"));
      expect(run.steps.every((s: any) => s.status === "completed")).toBe(true);
      // Nothing twice: the admin and Basic's two users.
      const [tenantUsers] = await unavailable.database.db
        .select({ n: count() })
        .from(users)
        .where(eq(users.tenantId, run.tenantId));
      expect(Number(tenantUsers!.n)).toBe(3);
    });

    it("fails the run naming DatabaseUnavailableError once the retries are spent", async () => {
      // Prepare: 1 attempt + 4 retries, all answered "resuming"
      unavailable.database.dataApi!.faults.inject({
        error: "DatabaseResumingException",
        command: "ExecuteStatement",
        sql: /INSERT INTO users \(tenant_id, email, name, role, password_hash/,
        times: 5,
      });

      // Act
      const run = await provisionAndSettle(uniqueSlug("dx"));

      // Assess
      expect(run.status, JSON.stringify(run)).toBe("failed");
      expect(stepOf(run, "CreateAdminUser")).toMatchObject({
        status: "failed",
        attempts: 5,
        error: {
          name: "DatabaseUnavailableError",
          message: expect.stringContaining("DatabaseResumingException"),
        },
      });
      expect(stepOf(run, "RunMigrations")).toMatchObject({ status: "pending", attempts: 0 });
    });
  },
);

// ---------------------------------------------------------------------------------------------
// Permanent failures, recover and retry
// ---------------------------------------------------------------------------------------------

describe("a step that fails permanently", { timeout: 180_000 }, () => {
  /** Longer than any step's own work here, so that a duration including it is plainly wrong. */
  const OPERATOR_PAUSE_MS = 1500;

  /** Provisions Basic with CreateAdminUser failing on a check violation; returns the failed run. */
  async function failedAtCreateAdminUser(slug: string): Promise<{ run: any; fix: () => Promise<void> }> {
    const fix = await failUserInserts({ slug, admin: true, sqlstate: "23514" });
    const accepted = await provision("Basic School System", provisionBody(slug));
    const run = await settle(accepted.id);
    return { run, fix };
  }

  it("leaves the run failed naming the step and error; recover then completes it with nothing twice", async () => {
    // Prepare
    const baseline = await baselineFootprint("Basic School System");
    const slug = uniqueSlug("pf");
    const { run: failed, fix } = await failedAtCreateAdminUser(slug);

    // Assess the failure
    expect(failed.status, JSON.stringify(failed)).toBe("failed");
    expect(failed.error).toContain("CreateAdminUser");
    expect(failed.error).toContain("DatabaseError");
    expect(failed.error).toContain("injected failure");
    expect(failed.completedAt).not.toBeNull();
    expect(stepOf(failed, "CreateTenant")).toMatchObject({ status: "completed", attempts: 1 });
    // A permanent error is not retried.
    expect(stepOf(failed, "CreateAdminUser")).toMatchObject({
      status: "failed",
      attempts: 1,
      error: { name: "DatabaseError", message: expect.stringContaining("injected failure") },
    });
    for (const name of [
      "RunMigrations",
      "SetupConfigurations",
      "CreateInitialData",
      "PostProvisioningSteps",
    ]) {
      expect(stepOf(failed, name), name).toMatchObject({ status: "pending", attempts: 0 });
    }
    const [tenant] = await db.select().from(tenants).where(eq(tenants.id, failed.tenantId));
    expect(tenant!.status).toBe("failed");
    expect((await footprint(failed.tenantId)).users).toBe(0);

    // Act: the operator takes a while (longer than the steps' own work) before recovering
    await fix();
    await new Promise((resolve) => setTimeout(resolve, OPERATOR_PAUSE_MS));
    const recovering = await server.request("POST", `${PROGRESS}/${failed.id}/recover`);
    const run = await settle(failed.id);

    // Assess
    expect(recovering.status, JSON.stringify(recovering.body)).toBe(202);
    expect(recovering.body.attempt).toBe(2);
    expect(run.status, JSON.stringify(run)).toBe("completed");
    expect(run.error).toBeNull();
    expect(run.steps.every((s: any) => s.status === "completed")).toBe(true);
    // Earlier steps are not redone.
    expect(stepOf(run, "CreateTenant").attempts).toBe(1);
    expect(stepOf(run, "CreateAdminUser")).toMatchObject({ status: "completed", attempts: 2, error: null });
    // Its duration is its two passes' own time, not the operator's pause between them.
    expect(stepOf(run, "CreateAdminUser").durationMs).toBeLessThan(OPERATOR_PAUSE_MS);
    expect(stepOf(run, "CreateAdminUser").attemptErrors).toEqual([
      expect.objectContaining({ attempt: 1, name: "DatabaseError", transient: false }),
    ]);
    const found = await footprint(run.tenantId);
    expect(found.admins).toBe(1);
    expect(found).toEqual(baseline);
    expect(await auditActions(run.id)).toEqual(["progress.recover", "provision.start"]);

    // A completed run cannot be recovered or retried.
    expectError(await server.request("POST", `${PROGRESS}/${run.id}/recover`), 409);
    expectError(await server.request("POST", `${PROGRESS}/${run.id}/steps/create-admin-user/retry`), 409);
    expect(await auditActions(run.id)).toEqual(["progress.recover", "provision.start"]);
  });

  it("retry of the failed step completes the run; retrying a completed or later step is a 409", async () => {
    // Prepare
    const baseline = await baselineFootprint("Basic School System");
    const slug = uniqueSlug("rt");
    const { run: failed, fix } = await failedAtCreateAdminUser(slug);
    expect(failed.status).toBe("failed");

    // Act + Assess: steps that cannot be retried
    const completedStep = await server.request("POST", `${PROGRESS}/${failed.id}/steps/create-tenant/retry`);
    expectError(completedStep, 409);
    const laterStep = await server.request("POST", `${PROGRESS}/${failed.id}/steps/run-migrations/retry`);
    expectError(laterStep, 409);
    const unknownStep = await server.request("POST", `${PROGRESS}/${failed.id}/steps/launch-rocket/retry`);
    expectError(unknownStep, 404);
    expect((await progressOf(failed.id)).status).toBe("failed");

    // Act: the cause removed, retry the failed step
    await fix();
    const retrying = await server.request("POST", `${PROGRESS}/${failed.id}/steps/create-admin-user/retry`);
    const run = await settle(failed.id);

    // Assess
    expect(retrying.status, JSON.stringify(retrying.body)).toBe(202);
    expect(run.status, JSON.stringify(run)).toBe("completed");
    expect(stepOf(run, "CreateTenant").attempts).toBe(1);
    expect(stepOf(run, "CreateAdminUser")).toMatchObject({ status: "completed", attempts: 2 });
    expect(await footprint(run.tenantId)).toEqual(baseline);
    expect(await auditActions(run.id)).toEqual(["progress.retry_step", "provision.start"]);
    expectError(await server.request("POST", `${PROGRESS}/${run.id}/steps/create-admin-user/retry`), 409);
  });

  it("recovers a run that failed after the admin, schema and configuration existed, creating nothing twice", async () => {
    // Prepare: CreateInitialData's users violate a check
    const baseline = await baselineFootprint("Basic School System");
    const slug = uniqueSlug("pi");
    const fix = await failUserInserts({ slug, admin: false, sqlstate: "23514" });
    const failed = await settle((await provision("Basic School System", provisionBody(slug))).id);
    expect(failed.status, JSON.stringify(failed)).toBe("failed");
    expect(failed.error).toContain("CreateInitialData");
    expect(stepOf(failed, "CreateInitialData").status).toBe("failed");
    expect(stepOf(failed, "PostProvisioningSteps")).toMatchObject({ status: "pending", attempts: 0 });
    const partial = await footprint(failed.tenantId);
    expect(partial).toMatchObject({ users: 1, admins: 1 });
    expect(partial.tables.schools).toBe(0);

    // Act
    await fix();
    expect((await server.request("POST", `${PROGRESS}/${failed.id}/recover`)).status).toBe(202);
    const run = await settle(failed.id);

    // Assess
    expect(run.status, JSON.stringify(run)).toBe("completed");
    for (const name of ["CreateTenant", "CreateAdminUser", "RunMigrations", "SetupConfigurations"]) {
      expect(stepOf(run, name).attempts, name).toBe(1);
    }
    expect(await footprint(run.tenantId)).toEqual(baseline);
  });
  it("a post-provisioning action failing stops the Map: later actions never run; recover runs them once", async () => {
    // Prepare: the welcome notification (Municipality's first action) violates a check
    const slug = uniqueSlug("pm");
    const fix = await failNotificationInserts(exec, slug);

    // Act
    const failed = await settle((await provision("Municipality", provisionBody(slug))).id);
    const schema = safeIdentifier(schemaOf(failed.tenantId));
    const reportsAfterFailure = await countOf(
      sql.raw(`SELECT count(*) AS n FROM ${schema}.report_definitions`),
    );
    const endpointsAfterFailure = await countOf(
      sql.raw(`SELECT count(*) AS n FROM ${schema}.integration_endpoints`),
    );
    const checklistAfterFailure = await countOf(
      sql.raw(`SELECT count(*) AS n FROM ${schema}.configurations WHERE key = 'onboarding.checklist'`),
    );
    await fix();
    expect((await server.request("POST", `${PROGRESS}/${failed.id}/recover`)).status).toBe(202);
    const run = await settle(failed.id);

    // Assess: the failure
    expect(failed.status, JSON.stringify(failed)).toBe("failed");
    expect(failed.error).toContain("PostProvisioningSteps");
    expect(failed.error).toContain("injected outbox failure");
    const failedStep = stepOf(failed, "PostProvisioningSteps");
    expect(failedStep).toMatchObject({ status: "failed", attempts: 1 });
    expect((failedStep.actions ?? []).map((a: any) => [a.name, a.status])).toEqual([
      ["send-welcome-notification", "failed"],
    ]);
    expect([reportsAfterFailure, endpointsAfterFailure, checklistAfterFailure]).toEqual([0, 0, 0]);
    // Assess: recovered, every action once
    expect(run.status, JSON.stringify(run)).toBe("completed");
    expectMunicipalityActionsRunOnceAfterAFailure(run);
    expect(await footprint(run.tenantId)).toEqual(await baselineFootprint("Municipality"));
  });

  it("a run a stopped process left running with a failed step resumes at the next start and completes", async () => {
    // Prepare: a server of its own; its run fails at the welcome notification, and the record is
    // put back as an interrupted process leaves it: step failed, run still running
    const first = await startTestServer({ env: SERVER_ENV });
    let second: TestServer | undefined;
    // The second server takes over the first's database: close whichever runs last.
    cleanups.push(() => (second ?? first).close());
    const run = (statement: string) => first.database.db.execute(sql.raw(statement)).then(() => undefined);
    const list = await first.request("GET", `${API}/templates?limit=100`);
    const municipality = list.body.items.find((t: any) => t.name === "Municipality");
    const slug = uniqueSlug("pr");
    const fix = await failNotificationInserts(run, slug);
    const accepted = await first.request("POST", `${API}/templates/${municipality.id}/provision`, {
      body: provisionBody(slug),
    });
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
    await first.app.workflows.idle();
    const failed = (await first.request("GET", `${PROGRESS}/${accepted.body.id}`)).body;
    expect(failed.status, JSON.stringify(failed)).toBe("failed");
    await run(
      `UPDATE tenant_provisioning_progress SET status = 'running', error = NULL, completed_at = NULL WHERE id = '${failed.id}'`,
    );
    await fix();
    await first.stop();

    // Act
    second = await startTestServer({ env: SERVER_ENV, restartOf: first });
    await second.app.workflows.idle();
    const resumed = (await second.request("GET", `${PROGRESS}/${failed.id}`)).body;

    // Assess
    expect(resumed.status, JSON.stringify(resumed)).toBe("completed");
    expectMunicipalityActionsRunOnceAfterAFailure(resumed);
    const schema = safeIdentifier(schemaOf(resumed.tenantId));
    const reports = await second.database.db.execute(
      sql.raw(`SELECT count(*) AS n FROM ${schema}.report_definitions`),
    );
    expect(Number(((reports as any).rows ?? reports)[0].n)).toBe(3);
  });
});

// ---------------------------------------------------------------------------------------------
// Cancel and cleanup
// ---------------------------------------------------------------------------------------------

describe("cancel and cleanup", { timeout: 180_000 }, () => {
  /**
   * Starts a Basic run whose CreateInitialData keeps failing transiently (a serialization failure
   * on its users), so the run stays `running` between retries; returns it once that step has been
   * attempted.
   */
  async function runStuckInCreateInitialData(
    slug: string,
  ): Promise<{ running: any; unstick: () => Promise<void> }> {
    const unstick = await failUserInserts({ slug, admin: false, sqlstate: "40001" });
    const accepted = await provision("Basic School System", provisionBody(slug));
    const running = await until(
      "CreateInitialData to be attempted",
      () => progressOf(accepted.id),
      (p) => stepOf(p, "CreateInitialData").attempts >= 1 || TERMINAL.includes(p.status),
    );
    return { running, unstick };
  }

  it("cancels a running run: later steps never start; cleanup then removes what it created", async () => {
    // Prepare
    const slug = uniqueSlug("cx");
    const { running, unstick } = await runStuckInCreateInitialData(slug);
    expect(running.status, JSON.stringify(running)).toBe("running");
    const tenantId = running.tenantId as string;
    const key = await server.request("POST", `${API}/keys`, {
      body: { name: "tenant key", role: "tenant_admin", tenantId },
    });
    expect(key.status, JSON.stringify(key.body)).toBe(201);

    // Act + Assess: a running run cannot be cleaned up
    expectError(await server.request("POST", `${PROGRESS}/${running.id}/cleanup`), 409);
    expect(await schemaExists(tenantId)).toBe(true);

    // Act: cancel
    const cancel = await server.request("POST", `${PROGRESS}/${running.id}/cancel`);
    await server.app.workflows.idle();
    const cancelled = await progressOf(running.id);

    // Assess
    expect(cancel.status, JSON.stringify(cancel.body)).toBe(200);
    expect(cancel.body.status).toBe("cancelled");
    expect(cancelled.status).toBe("cancelled");
    expect(cancelled.completedAt).not.toBeNull();
    expect(stepOf(cancelled, "CreateInitialData").status).toBe("failed");
    expect(stepOf(cancelled, "PostProvisioningSteps")).toMatchObject({ status: "pending", attempts: 0 });
    for (const step of cancel.body.steps.filter((s: any) => s.status === "pending")) {
      expect(stepOf(cancelled, step.name), step.name).toMatchObject({ status: "pending", attempts: 0 });
    }
    const [tenantAfterCancel] = await db.select().from(tenants).where(eq(tenants.id, tenantId));
    expect(tenantAfterCancel!.status).toBe("cancelled");
    // The step in flight never committed.
    expect((await footprint(tenantId)).tables.schools).toBe(0);
    // A finished run cannot be cancelled again.
    expectError(await server.request("POST", `${PROGRESS}/${running.id}/cancel`), 409);
    expectError(await server.request("POST", `${PROGRESS}/${running.id}/recover`), 409);

    // Act: cleanup
    const cleanup = await server.request("POST", `${PROGRESS}/${running.id}/cleanup`);

    // Assess
    expect(cleanup.status, JSON.stringify(cleanup.body)).toBe(200);
    expect(await schemaExists(tenantId)).toBe(false);
    expect(await db.select().from(users).where(eq(users.tenantId, tenantId))).toEqual([]);
    expect(await db.select().from(apiKeys).where(eq(apiKeys.tenantId, tenantId))).toEqual([]);
    const [tombstone] = await db.select().from(tenants).where(eq(tenants.id, tenantId));
    expect(tombstone).toMatchObject({ status: "deprovisioned", slug: null, subdomain: null });
    expect(JSON.stringify(tombstone)).not.toContain(slug);
    expect(JSON.stringify((await progressOf(running.id)).metadata)).not.toContain(`admin@${slug}`);
    expect(await auditActions(running.id)).toEqual([
      "progress.cancel",
      "progress.cleanup",
      "provision.start",
    ]);
    // The key of the removed tenant no longer works.
    expect((await server.request("GET", PROGRESS, { key: key.body.key })).status).toBe(401);
    // The slug is free again.
    await unstick();
    const again = await server.request(
      "POST",
      `${API}/templates/${await templateId("Basic School System")}/provision`,
      {
        body: provisionBody(slug, { adminEmail: `other@${slug}.example.org` }),
      },
    );
    expect(again.status, JSON.stringify(again.body)).toBe(202);
    await settle(again.body.id);
  });

  // Holding a lock from a second connection needs the PostgreSQL server; PGlite is one connection.
  it.skipIf(ONE_CONNECTION)(
    "cancels while a step is blocked mid-transaction: its work rolls back",
    async () => {
      // Prepare: another connection locks `users`, so CreateAdminUser waits inside its transaction
      const locker = await otherConnection();
      await locker.query("BEGIN");
      await locker.query("LOCK TABLE users IN ACCESS EXCLUSIVE MODE");
      const accepted = await provision("Basic School System", provisionBody(uniqueSlug("cl")));
      const inFlight = await until(
        "CreateAdminUser to start",
        () => progressOf(accepted.id),
        (p) => stepOf(p, "CreateAdminUser").attempts >= 1,
      );

      // Act
      const cancel = await server.request("POST", `${PROGRESS}/${accepted.id}/cancel`);
      await locker.query("COMMIT");
      await server.app.workflows.idle();
      const run = await progressOf(accepted.id);

      // Assess
      expect(inFlight.status).toBe("running");
      expect(cancel.status, JSON.stringify(cancel.body)).toBe(200);
      expect(run.status).toBe("cancelled");
      expect(stepOf(run, "CreateAdminUser").status).not.toBe("completed");
      for (const name of [
        "RunMigrations",
        "SetupConfigurations",
        "CreateInitialData",
        "PostProvisioningSteps",
      ]) {
        expect(stepOf(run, name), name).toMatchObject({ status: "pending", attempts: 0 });
      }
      expect((await footprint(run.tenantId)).users).toBe(0);
      expect(await schemaExists(run.tenantId)).toBe(false);
    },
  );

  it("refuses to cancel or clean up a completed run", async () => {
    // Prepare
    const run = await settle((await provision("Basic School System", provisionBody(uniqueSlug()))).id);
    expect(run.status).toBe("completed");

    // Act
    const cancel = await server.request("POST", `${PROGRESS}/${run.id}/cancel`);
    const cleanup = await server.request("POST", `${PROGRESS}/${run.id}/cleanup`);

    // Assess
    expectError(cancel, 409);
    expectError(cleanup, 409);
    expect((await progressOf(run.id)).status).toBe("completed");
    expect(await schemaExists(run.tenantId)).toBe(true);
    expect(await auditActions(run.id)).toEqual(["provision.start"]);
  });

  it("404s for a run that does not exist", async () => {
    // Act + Assess
    for (const action of ["cancel", "recover", "cleanup"]) {
      expectError(await server.request("POST", `${PROGRESS}/${randomUUID()}/${action}`), 404);
    }
    expectError(await server.request("GET", `${PROGRESS}/${randomUUID()}`), 404);
  });
});

// ---------------------------------------------------------------------------------------------
// Races and idempotency
// ---------------------------------------------------------------------------------------------

describe("concurrent and repeated requests", { timeout: 180_000 }, () => {
  it("20 simultaneous requests for one new slug start exactly one run; the others are 409 naming slug", async () => {
    // Prepare
    const slug = uniqueSlug("race");
    const path = `${API}/templates/${await templateId("Basic School System")}/provision`;

    // Act
    const responses = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        server.request("POST", path, {
          body: provisionBody(slug, { adminEmail: `admin${i}@${slug}.example.org` }),
        }),
      ),
    );
    await server.app.workflows.idle();

    // Assess
    const accepted = responses.filter((r) => r.status === 202);
    const conflicts = responses.filter((r) => r.status === 409);
    expect(accepted, JSON.stringify(responses.map((r) => [r.status, r.body]))).toHaveLength(1);
    expect(conflicts).toHaveLength(19);
    for (const c of conflicts) {
      expect(c.body.error.code).toBe("conflict");
      expect(JSON.stringify(c.body.error)).toContain("slug");
    }
    const withSlug = await db.select().from(tenants).where(eq(tenants.slug, slug));
    expect(withSlug).toHaveLength(1);
    const runs = await db
      .select()
      .from(provisioningProgress)
      .where(eq(provisioningProgress.tenantId, withSlug[0]!.id));
    expect(runs).toHaveLength(1);
    expect(runs[0]!.id).toBe(accepted[0]!.body.id);
    expect(
      await countOf(
        sql`SELECT count(*) AS n FROM tenant_provisioning_progress WHERE metadata->'tenant'->>'slug' = ${slug}`,
      ),
    ).toBe(1);
    expect((await settle(accepted[0]!.body.id)).status).toBe("completed");
  });

  it("an Idempotency-Key repeats the same run; the same key with another body is a 409", async () => {
    // Prepare
    const slug = uniqueSlug("idem");
    const key = `idem-${randomUUID()}`;
    const path = `${API}/templates/${await templateId("Basic School System")}/provision`;
    const start = vi.spyOn(server.app.workflows, "start");

    // Act
    const first = await server.request("POST", path, {
      body: provisionBody(slug),
      headers: { "idempotency-key": key },
    });
    const second = await server.request("POST", path, {
      body: provisionBody(slug),
      headers: { "idempotency-key": key },
    });
    const run = await settle(first.body.id);
    const afterCompletion = await server.request("POST", path, {
      body: provisionBody(slug),
      headers: { "idempotency-key": key },
    });
    const otherBody = await server.request("POST", path, {
      body: provisionBody(slug, { name: "Another name" }),
      headers: { "idempotency-key": key },
    });

    // Assess
    expect(first.status, JSON.stringify(first.body)).toBe(202);
    expect(second.status, JSON.stringify(second.body)).toBe(202);
    expect(second.body.id).toBe(first.body.id);
    expect(second.headers.get("idempotent-replay")).toBe("true");
    expect(afterCompletion.status).toBe(202);
    expect(afterCompletion.body.id).toBe(first.body.id);
    expect(afterCompletion.body.status).toBe("completed");
    expectError(otherBody, 409, "Idempotency-Key");
    expect(run.status).toBe("completed");
    expect(start).toHaveBeenCalledTimes(1);
    expect(await db.select().from(tenants).where(eq(tenants.slug, slug))).toHaveLength(1);
    expect(
      await db.select().from(provisioningProgress).where(eq(provisioningProgress.tenantId, run.tenantId)),
    ).toHaveLength(1);
  });

  it("the same Idempotency-Key with another admin password is a 409, before and after the admin user exists", async () => {
    // Prepare: one run stopped at CreateAdminUser (its password hash still waiting in
    // provisioning_secrets), one completed (the hash now on its admin user)
    const otherPassword = `Walrus!Cedar-${randomUUID().slice(0, 8)}-Beacon`;
    const path = `${API}/templates/${await templateId("Basic School System")}/provision`;
    const waitingSlug = uniqueSlug("idpw");
    const waitingKey = `idpw-${randomUUID()}`;
    const fix = await failUserInserts({ slug: waitingSlug, admin: true, sqlstate: "23514" });
    const waiting = await server.request("POST", path, {
      body: provisionBody(waitingSlug),
      headers: { "idempotency-key": waitingKey },
    });
    expect((await settle(waiting.body.id)).status).toBe("failed");
    await fix();
    const doneSlug = uniqueSlug("idpw");
    const doneKey = `idpw-${randomUUID()}`;
    const done = await server.request("POST", path, {
      body: provisionBody(doneSlug),
      headers: { "idempotency-key": doneKey },
    });
    expect((await settle(done.body.id)).status).toBe("completed");

    // Act
    const replayWaiting = await server.request("POST", path, {
      body: provisionBody(waitingSlug),
      headers: { "idempotency-key": waitingKey },
    });
    const otherWaiting = await server.request("POST", path, {
      body: provisionBody(waitingSlug, { adminPassword: otherPassword }),
      headers: { "idempotency-key": waitingKey },
    });
    const replayDone = await server.request("POST", path, {
      body: provisionBody(doneSlug),
      headers: { "idempotency-key": doneKey },
    });
    const otherDone = await server.request("POST", path, {
      body: provisionBody(doneSlug, { adminPassword: otherPassword }),
      headers: { "idempotency-key": doneKey },
    });

    // Assess
    expect(replayWaiting.status, JSON.stringify(replayWaiting.body)).toBe(202);
    expect(replayWaiting.body.id).toBe(waiting.body.id);
    expectError(otherWaiting, 409, "Idempotency-Key");
    expect(replayDone.status, JSON.stringify(replayDone.body)).toBe(202);
    expect(replayDone.body.id).toBe(done.body.id);
    expectError(otherDone, 409, "Idempotency-Key");
    // Neither password, nor a fast hash of either, is stored anywhere beside the request hash.
    const runs = await rows<{ request_hash: string; metadata: string }>(
      sql`SELECT request_hash, metadata::text AS metadata FROM tenant_provisioning_progress
          WHERE id IN (${waiting.body.id}::uuid, ${done.body.id}::uuid)`,
    );
    for (const run of runs) {
      for (const password of [PASSWORD, otherPassword]) {
        expect(run.metadata).not.toContain(password);
        expect(run.request_hash).not.toBe(createHash("sha256").update(password).digest("hex"));
      }
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Input checks
// ---------------------------------------------------------------------------------------------

describe("input checks (nothing written)", { timeout: 180_000 }, () => {
  const users = (n: number, domain: string) =>
    Array.from({ length: n }, (_, i) => ({ name: `User ${i}`, email: `u${i}@${domain}` }));
  const products = (n: number) =>
    Array.from({ length: n }, (_, i) => ({ sku: `EXTRA-${i}`, name: `Extra ${i}`, unitPrice: 1 }));

  it.each([
    ["an uppercase slug", { slug: "Acme-School" }, 400, "slug"],
    ["a too short slug", { slug: "ab" }, 400, "slug"],
    ["a 64-character slug", { slug: "a".repeat(64) }, 400, "slug"],
    ["a slug with an underscore", { slug: "acme_school" }, 400, "slug"],
    ["an uppercase subdomain", { subdomain: "Acme" }, 400, "subdomain"],
    ["a too short subdomain", { subdomain: "ab" }, 400, "subdomain"],
    ["a 64-character subdomain", { subdomain: "s".repeat(64) }, 400, "subdomain"],
    ["a bad admin email", { adminEmail: "not-an-email" }, 400, "adminEmail"],
    ["an 11-character password", { adminPassword: "short-pw-11" }, 400, "adminPassword"],
    ["an empty name", { name: "" }, 400, "name"],
    ["a 256-character admin name", { adminName: "n".repeat(256) }, 400, "adminName"],
    ["an unknown field", { plan: "gold" }, 400, "plan"],
    // Basic: maxUsers 50 with 2 template users and the admin; maxProducts 500 with 10 template products.
    [
      "more users than the limit",
      { initialData: { users: users(48, "over.example.org") } },
      400,
      "initialData.users",
    ],
    [
      "more products than the limit",
      { initialData: { products: products(491) } },
      400,
      "initialData.products",
    ],
  ])("rejects %s", async (_what, change, status, field) => {
    // Prepare
    await server.app.workflows.idle();
    const before = await tableCounts();
    const body = { ...provisionBody(uniqueSlug("in")), ...change };

    // Act
    const res = await server.request(
      "POST",
      `${API}/templates/${await templateId("Basic School System")}/provision`,
      {
        body,
      },
    );

    // Assess
    expectError(res, status, field);
    expect(JSON.stringify(res.body)).not.toContain(PASSWORD);
    expect(await tableCounts()).toEqual(before);
  });

  it("accepts overrides right at the limits", async () => {
    // Prepare
    const slug = uniqueSlug("lim");

    // Act
    const run = await settle(
      (
        await provision(
          "Basic School System",
          provisionBody(slug, {
            initialData: { users: users(47, `${slug}.example.org`), products: products(490) },
          }),
        )
      ).id,
    );

    // Assess
    expect(run.status, JSON.stringify(run)).toBe("completed");
    const found = await footprint(run.tenantId);
    expect(found.users).toBe(50);
    expect(found.tables.products).toBe(500);
  });

  it("404s for an unknown template and for a deleted one, writing nothing", async () => {
    // Prepare
    const created = await server.request("POST", `${API}/templates`, {
      body: { name: `Doomed ${randomUUID().slice(0, 8)}`, category: "custom" },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const deletion = await server.request("DELETE", `${API}/templates/${created.body.id}`);
    expect(deletion.status, JSON.stringify(deletion.body)).toBe(200);
    const before = await tableCounts();

    // Act
    const unknown = await server.request("POST", `${API}/templates/${randomUUID()}/provision`, {
      body: provisionBody(uniqueSlug("in")),
    });
    const deleted = await server.request("POST", `${API}/templates/${created.body.id}/provision`, {
      body: provisionBody(uniqueSlug("in")),
    });

    // Assess
    expectError(unknown, 404);
    expectError(deleted, 404);
    expect(await tableCounts()).toEqual(before);
  });

  it("409s for a slug or subdomain already taken, writing nothing", async () => {
    // Prepare
    const taken = uniqueSlug("tk");
    await settle((await provision("Basic School System", provisionBody(taken))).id);
    const before = await tableCounts();
    const path = `${API}/templates/${await templateId("Basic School System")}/provision`;

    // Act
    const sameSlug = await server.request("POST", path, {
      body: provisionBody(taken, { subdomain: uniqueSlug("free") }),
    });
    const sameSubdomain = await server.request("POST", path, {
      body: provisionBody(uniqueSlug("free"), { subdomain: taken }),
    });

    // Assess
    expectError(sameSlug, 409, "slug");
    expectError(sameSubdomain, 409, "subdomain");
    expect(await tableCounts()).toEqual(before);
  });
});

// ---------------------------------------------------------------------------------------------
// Progress API and roles
// ---------------------------------------------------------------------------------------------

describe("progress for a tenant_admin key", { timeout: 180_000 }, () => {
  it("shows only its own tenant's runs and allows no actions", async () => {
    // Prepare
    const mine = await settle((await provision("Basic School System", provisionBody(uniqueSlug("own")))).id);
    const theirs = await settle(
      (await provision("Basic School System", provisionBody(uniqueSlug("oth")))).id,
    );
    const created = await server.request("POST", `${API}/keys`, {
      body: { name: "tenant admin", role: "tenant_admin", tenantId: mine.tenantId },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const key = created.body.key as string;

    // Act
    const list = await server.request("GET", PROGRESS, { key });
    const listOther = await server.request("GET", `${PROGRESS}?tenantId=${theirs.tenantId}`, { key });
    const own = await server.request("GET", `${PROGRESS}/${mine.id}`, { key });
    const other = await server.request("GET", `${PROGRESS}/${theirs.id}`, { key });
    const provisionAttempt = await server.request(
      "POST",
      `${API}/templates/${await templateId("Basic School System")}/provision`,
      { key, body: provisionBody(uniqueSlug("no")) },
    );
    const cancelAttempt = await server.request("POST", `${PROGRESS}/${mine.id}/cancel`, { key });
    const cleanupAttempt = await server.request("POST", `${PROGRESS}/${mine.id}/cleanup`, { key });

    // Assess
    expect(list.status).toBe(200);
    expect(list.body.items.map((r: any) => r.id)).toEqual([mine.id]);
    expect(list.body.total).toBe(1);
    expect(listOther.status).toBe(200);
    expect(listOther.body.items).toEqual([]);
    expect(own.status).toBe(200);
    expect(own.body.id).toBe(mine.id);
    expectError(other, 404);
    expectError(provisionAttempt, 403);
    expectError(cancelAttempt, 403);
    expectError(cleanupAttempt, 403);
    const admin = await server.request("GET", `${PROGRESS}?tenantId=${theirs.tenantId}`);
    expect(admin.body.items.map((r: any) => r.id)).toEqual([theirs.id]);
  });

  it("lists runs newest first with filters and pagination", async () => {
    // Prepare
    const a = await settle((await provision("Basic School System", provisionBody(uniqueSlug("la")))).id);
    const b = await settle((await provision("School District", provisionBody(uniqueSlug("lb")))).id);

    // Act
    const page = await server.request("GET", `${PROGRESS}?limit=2&offset=0`);
    const byTemplate = await server.request(
      "GET",
      `${PROGRESS}?templateId=${await templateId("School District")}`,
    );
    const completed = await server.request("GET", `${PROGRESS}?status=completed&kind=provision&limit=100`);
    const badStatus = await server.request("GET", `${PROGRESS}?status=exploded`);

    // Assess
    expect(page.status).toBe(200);
    expect(page.body.items.map((r: any) => r.id)).toEqual([b.id, a.id]);
    expect(page.body.total).toBeGreaterThanOrEqual(2);
    const district = await templateId("School District");
    expect(byTemplate.body.items.every((r: any) => r.templateId === district)).toBe(true);
    expect(byTemplate.body.items.map((r: any) => r.id)).toContain(b.id);
    expect(completed.body.items.every((r: any) => r.status === "completed")).toBe(true);
    expectError(badStatus, 400, "status");
  });
});
