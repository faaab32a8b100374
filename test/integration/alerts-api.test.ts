/**
 * The operations sweep and GET /api/provisioning/alerts through HTTP, on records inserted directly
 * with timestamps relative to a fixed clock: failed runs, a stuck run (exactly one alert across
 * sweeps, exactly one warning, resolved once the run moves on), tenants over their limits (users in
 * the control plane, schools and products in the tenant's schema), template failure-rate patterns,
 * retention (only old finished runs; audit logs stay), notification retries, the local timer,
 * listing filters, resolving, bad input and roles.
 */
import { randomUUID } from "node:crypto";
import { and, eq, inArray, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  alerts,
  auditLogs,
  provisioningProgress,
  tenants,
  tenantTemplates,
  users,
} from "../../functions/db/schema.ts";
import type { AlertNotifier } from "../../functions/domain/operations/alerts.ts";
import { runSweep, type SweepResult } from "../../functions/domain/operations/sweep.ts";
import type { Alert } from "../../functions/schemas/operations.ts";
import type { HttpResult } from "../support/server.ts";
import { startTestServer, type TestServer } from "../support/server.ts";

const ALERTS = "/api/provisioning/alerts";
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** The fixed "now" of the first sweep of each test; the app's clock reads `now`. */
const NOW = new Date("2026-03-01T12:00:00.000Z");

let server: TestServer;
let now = NOW;

const ago = (ms: number, from: Date = NOW) => new Date(from.getTime() - ms);

/** Runs the app's own sweep (log notifier, config thresholds: 30 minutes, 90 days) at `at`. */
async function sweepAt(at: Date): Promise<SweepResult> {
  now = at;
  const result = await server.app.sweeper.runOnce();
  expect(result.errors).toEqual([]);
  return result;
}

interface RunSpec {
  readonly status: "pending" | "running" | "completed" | "failed" | "cancelled";
  readonly createdAt: Date;
  readonly startedAt?: Date | null;
  readonly completedAt?: Date | null;
  readonly updatedAt?: Date;
  readonly tenantId?: string | null;
  readonly templateId?: string | null;
  readonly currentStep?: string | null;
  readonly error?: string | null;
  readonly attempt?: number;
}

async function insertRun(spec: RunSpec): Promise<string> {
  const [row] = await server.database.db
    .insert(provisioningProgress)
    .values({
      kind: "provision",
      status: spec.status,
      tenantId: spec.tenantId ?? null,
      templateId: spec.templateId ?? null,
      currentStep: spec.currentStep ?? null,
      error: spec.error ?? null,
      attempt: spec.attempt ?? 1,
      steps: [],
      createdAt: spec.createdAt,
      startedAt: spec.startedAt === undefined ? spec.createdAt : spec.startedAt,
      completedAt: spec.completedAt ?? null,
      updatedAt: spec.updatedAt ?? spec.completedAt ?? spec.createdAt,
    })
    .returning({ id: provisioningProgress.id });
  return row!.id;
}

async function insertTenant(limits: Record<string, number> = {}): Promise<{ id: string; slug: string }> {
  const slug = `a-${randomUUID().slice(0, 8)}`;
  const [tenant] = await server.database.db
    .insert(tenants)
    .values({ name: `Tenant ${slug}`, slug, subdomain: slug, status: "active", limits })
    .returning({ id: tenants.id });
  return { id: tenant!.id, slug };
}

async function insertTemplate(name: string): Promise<string> {
  const [row] = await server.database.db
    .insert(tenantTemplates)
    .values({ name: `${name} ${randomUUID().slice(0, 8)}` })
    .returning({ id: tenantTemplates.id });
  return row!.id;
}

async function alertsFor(subjectId: string): Promise<(typeof alerts.$inferSelect)[]> {
  return server.database.db.select().from(alerts).where(eq(alerts.subjectId, subjectId));
}

async function listAlerts(query = ""): Promise<HttpResult<any>> {
  const res = await server.request("GET", `${ALERTS}${query}`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res;
}

async function tenantAdminKey(): Promise<string> {
  const tenant = await insertTenant();
  const res = await server.request("POST", "/api/provisioning/keys", {
    body: { name: "tenant admin", role: "tenant_admin", tenantId: tenant.id },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.key;
}

beforeAll(async () => {
  // The timer must not sweep on its own here: the tests sweep when they choose.
  server = await startTestServer({ env: { SWEEP_INTERVAL_SECONDS: "86400" }, clock: () => now });
});

afterAll(async () => {
  await server?.close();
});

describe("failed runs", () => {
  it("raise one critical alert per run, once, sent to the channel", async () => {
    // Prepare
    const tenant = await insertTenant();
    const id = await insertRun({
      status: "failed",
      tenantId: tenant.id,
      createdAt: ago(2 * HOUR),
      completedAt: ago(HOUR),
      currentStep: "RunMigrations",
      error: 'MigrationError: relation "schools" already exists',
    });

    // Act
    const first = await sweepAt(NOW);
    const second = await sweepAt(new Date(NOW.getTime() + MINUTE));

    // Assess
    expect(first.raised.filter((a) => a.subjectId === id)).toHaveLength(1);
    expect(second.raised.filter((a) => a.subjectId === id)).toHaveLength(0);
    const [alert, ...others] = (await listAlerts("?kind=run_failed")).body.items.filter(
      (a: Alert) => a.subjectId === id,
    );
    expect(others).toHaveLength(0);
    expect(alert).toMatchObject({
      kind: "run_failed",
      severity: "critical",
      subjectType: "progress",
      tenantId: tenant.id,
      dedupeKey: `run_failed:${id}:1`,
      raisedAt: NOW.toISOString(),
      resolvedAt: null,
      notifiedAt: NOW.toISOString(),
      details: { progressId: id, step: "RunMigrations", attempt: 1, tenantSlug: tenant.slug },
    });
    expect(alert.message).toContain(tenant.slug);
    expect(alert.message).toContain("RunMigrations");
    expect(alert.message).toContain('relation "schools" already exists');
    // The local channel is the log: one line for this alert, across both sweeps.
    const lines = server.logs.map((l) => JSON.parse(l)).filter((l) => l.alertId === alert.id);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: "warn", message: "alert raised", kind: "run_failed" });
  });

  it("leaves out failures older than the lookback (history, not news)", async () => {
    // Prepare
    // FAILED_RUN_LOOKBACK_DAYS = 7: finished 8 days ago.
    const id = await insertRun({
      status: "failed",
      createdAt: ago(8 * DAY + HOUR),
      completedAt: ago(8 * DAY),
    });

    // Act
    const result = await sweepAt(NOW);

    // Assess
    expect(result.raised.map((a) => a.subjectId)).not.toContain(id);
    expect(await alertsFor(id)).toEqual([]);
  });

  it("raises again for a later attempt of the same run", async () => {
    // Prepare
    const id = await insertRun({ status: "failed", createdAt: ago(3 * HOUR), completedAt: ago(2 * HOUR) });
    await sweepAt(NOW);
    await server.database.db
      .update(provisioningProgress)
      .set({ attempt: 2, completedAt: ago(HOUR) })
      .where(eq(provisioningProgress.id, id));

    // Act
    const result = await sweepAt(NOW);

    // Assess
    expect(result.raised.map((a) => a.dedupeKey)).toContain(`run_failed:${id}:2`);
    expect((await alertsFor(id)).map((a) => a.dedupeKey).sort()).toEqual([
      `run_failed:${id}:1`,
      `run_failed:${id}:2`,
    ]);
  });
});

describe("long-running runs", () => {
  it("raise exactly one alert across two sweeps, and exactly one warning on the run", async () => {
    // Prepare
    // Threshold 30 minutes: started 45 minutes ago is stuck; started 10 minutes ago is not.
    const stuck = await insertRun({
      status: "running",
      createdAt: ago(45 * MINUTE),
      currentStep: "CreateInitialData",
    });
    const recent = await insertRun({ status: "running", createdAt: ago(10 * MINUTE) });

    // Act
    const first = await sweepAt(NOW);
    const second = await sweepAt(new Date(NOW.getTime() + 5 * MINUTE));

    // Assess
    expect(first.raised.filter((a) => a.subjectId === stuck)).toHaveLength(1);
    expect(second.raised.filter((a) => a.subjectId === stuck)).toHaveLength(0);
    const raised = await alertsFor(stuck);
    expect(raised).toHaveLength(1);
    expect(raised[0]).toMatchObject({
      kind: "run_long_running",
      severity: "warning",
      dedupeKey: `run_long_running:${stuck}:1`,
    });
    expect(raised[0]!.message).toContain("45 minutes (threshold 30)");
    expect(raised[0]!.message).toContain("CreateInitialData");
    expect(await alertsFor(recent)).toHaveLength(0);
    const [run] = await server.database.db
      .select({ warnings: provisioningProgress.warnings })
      .from(provisioningProgress)
      .where(eq(provisioningProgress.id, stuck));
    expect(run!.warnings).toEqual([
      { at: NOW.toISOString(), code: "long_running", message: raised[0]!.message },
    ]);
    const [other] = await server.database.db
      .select({ warnings: provisioningProgress.warnings })
      .from(provisioningProgress)
      .where(eq(provisioningProgress.id, recent));
    expect(other!.warnings).toEqual([]);
  });

  it("is resolved by the sweep once the run is no longer running", async () => {
    // Prepare
    const id = await insertRun({ status: "running", createdAt: ago(2 * HOUR) });
    await sweepAt(NOW);
    const [alert] = await alertsFor(id);
    expect(alert!.resolvedAt).toBeNull();
    await server.database.db
      .update(provisioningProgress)
      .set({ status: "completed", completedAt: NOW })
      .where(eq(provisioningProgress.id, id));

    // Act
    const result = await sweepAt(new Date(NOW.getTime() + MINUTE));

    // Assess
    expect(result.resolved).toBeGreaterThanOrEqual(1);
    const unresolved = (await listAlerts("?kind=run_long_running&limit=200")).body.items;
    expect(unresolved.map((a: Alert) => a.id)).not.toContain(alert!.id);
    const resolved = (await listAlerts("?kind=run_long_running&state=resolved&limit=200")).body.items;
    expect(resolved.find((a: Alert) => a.id === alert!.id)).toMatchObject({
      resolvedAt: new Date(NOW.getTime() + MINUTE).toISOString(),
      details: { resolvedBy: "sweep" },
    });
  });
});

describe("tenants over their limits", () => {
  it("are raised per limit, counting schools and products only where the tenant schema exists", async () => {
    // Prepare
    // over: 3 users > maxUsers 2; 2 schools > maxSchools 1; 5 products = maxProducts 5 (not over).
    const over = await insertTenant({ maxUsers: 2, maxSchools: 1, maxProducts: 5 });
    // within: 3 users ≤ 5. noSchema: limits but no tenant schema yet (nothing to count there).
    const within = await insertTenant({ maxUsers: 5, maxSchools: 1 });
    const noSchema = await insertTenant({ maxSchools: 1, maxProducts: 1 });
    const db = server.database.db;
    for (const t of [over, within]) {
      await db
        .insert(users)
        .values(
          [1, 2, 3].map((n) => ({ tenantId: t.id, email: `user${n}@${t.slug}.example`, name: `User ${n}` })),
        );
    }
    const schema = `tenant_${over.id.replace(/-/g, "")}`;
    for (const statement of [
      `CREATE SCHEMA ${schema}`,
      `CREATE TABLE ${schema}.schools (id serial PRIMARY KEY, name text)`,
      `CREATE TABLE ${schema}.products (id serial PRIMARY KEY, name text)`,
      `INSERT INTO ${schema}.schools (name) VALUES ('North'), ('South')`,
      `INSERT INTO ${schema}.products (name) SELECT 'p' || g FROM generate_series(1, 5) AS g`,
    ]) {
      await db.execute(sql.raw(statement));
    }

    // Act
    const first = await sweepAt(NOW);
    const second = await sweepAt(new Date(NOW.getTime() + MINUTE));

    // Assess
    const raised = first.raised.filter((a) => a.kind === "tenant_over_limit");
    expect(
      raised
        .filter((a) => a.tenantId === over.id)
        .map((a) => a.details.limit)
        .sort(),
    ).toEqual(["maxSchools", "maxUsers"]);
    expect(raised.filter((a) => a.tenantId === within.id || a.tenantId === noSchema.id)).toEqual([]);
    expect(second.raised.filter((a) => a.kind === "tenant_over_limit")).toEqual([]);
    const listed = (await listAlerts(`?kind=tenant_over_limit&tenantId=${over.id}`)).body;
    expect(listed.total).toBe(2);
    const byLimit = Object.fromEntries(listed.items.map((a: Alert) => [a.details.limit, a]));
    expect(byLimit.maxUsers).toMatchObject({
      subjectType: "tenant",
      subjectId: over.id,
      details: { max: 2, actual: 3 },
      dedupeKey: `tenant_over_limit:${over.id}:maxUsers:2`,
    });
    expect(byLimit.maxUsers.message).toBe(`Tenant ${over.slug} has 3 users, over its limit of 2 (maxUsers)`);
    expect(byLimit.maxSchools).toMatchObject({ details: { max: 1, actual: 2 } });
  });
});

describe("template usage patterns", () => {
  it("flag a high failure rate over the last 24 hours, or a jump against the previous 7 days", async () => {
    // Prepare
    // high:   last 24 h 4 finished, 2 failed = 50 % ≥ 50 %                      → alert (high)
    // jumped: last 24 h 5 finished, 2 failed = 40 %; previous 7 days 5, 0 = 0 %:
    //         +40 points ≥ 30                                                   → alert (jump)
    // few:    last 24 h 2 finished, 2 failed = 100 % but fewer than 3 runs      → none
    // steady: last 24 h 4 finished, 1 failed = 25 %; previous 4, 0 = 0 %: +25   → none
    const plan: Record<string, { recent: [number, number]; before: [number, number] }> = {
      high: { recent: [4, 2], before: [0, 0] },
      jumped: { recent: [5, 2], before: [5, 0] },
      few: { recent: [2, 2], before: [0, 0] },
      steady: { recent: [4, 1], before: [4, 0] },
    };
    const ids: Record<string, string> = {};
    for (const [name, { recent, before }] of Object.entries(plan)) {
      const templateId = await insertTemplate(`Pattern ${name}`);
      ids[name] = templateId;
      for (const [[finished, failed], age] of [
        [recent, 2 * HOUR],
        [before, 3 * DAY],
      ] as const) {
        for (let i = 0; i < finished; i++) {
          const createdAt = ago(age + i * MINUTE);
          await insertRun({
            status: i < failed ? "failed" : "completed",
            templateId,
            createdAt,
            completedAt: new Date(createdAt.getTime() + MINUTE),
          });
        }
      }
    }

    // Act
    const first = await sweepAt(NOW);
    const second = await sweepAt(new Date(NOW.getTime() + HOUR));

    // Assess
    const raised = first.raised.filter((a) => a.kind === "template_failure_rate");
    const bySubject = Object.fromEntries(raised.map((a) => [a.subjectId, a]));
    expect(Object.keys(bySubject).sort()).toEqual([ids.high, ids.jumped].sort());
    expect(bySubject[ids.high!]!.details).toMatchObject({
      reasons: ["high_failure_rate"],
      last24h: { finished: 4, failed: 2 },
      previous7d: { finished: 0, failed: 0 },
    });
    expect(bySubject[ids.high!]!.message).toMatch(
      /2 of 4 provisioning runs in the last 24 hours failed \(50%\)/,
    );
    expect(bySubject[ids.jumped!]!.details).toMatchObject({
      reasons: ["failure_rate_jump"],
      last24h: { finished: 5, failed: 2 },
      previous7d: { finished: 5, failed: 0 },
    });
    expect(bySubject[ids.jumped!]!.message).toContain("(40%; previous 7 days 0%)");
    expect(bySubject[ids.high!]!.dedupeKey).toBe(`template_failure_rate:${ids.high}:2026-03-01`);
    expect(second.raised.filter((a) => a.kind === "template_failure_rate")).toEqual([]);
  });
});

describe("retention", () => {
  it("removes only finished runs older than the retention age, and keeps their audit logs", async () => {
    // Prepare
    // Retention 90 days (default).
    const gone = [
      await insertRun({ status: "completed", createdAt: ago(101 * DAY), completedAt: ago(100 * DAY) }),
      await insertRun({ status: "failed", createdAt: ago(92 * DAY), completedAt: ago(91 * DAY) }),
      // cancelled without completed_at: its age counts from updated_at.
      await insertRun({
        status: "cancelled",
        createdAt: ago(121 * DAY),
        completedAt: null,
        updatedAt: ago(120 * DAY),
      }),
    ];
    const kept = [
      await insertRun({ status: "completed", createdAt: ago(90 * DAY), completedAt: ago(89 * DAY) }),
      await insertRun({ status: "completed", createdAt: ago(11 * DAY), completedAt: ago(10 * DAY) }),
      // not finished, however old
      await insertRun({ status: "running", createdAt: ago(200 * DAY) }),
      await insertRun({ status: "pending", createdAt: ago(150 * DAY), startedAt: null }),
    ];
    const db = server.database.db;
    await db.insert(auditLogs).values(
      gone.map((id) => ({
        action: "provision.start",
        targetType: "progress",
        targetId: id,
        requestId: "test",
      })),
    );

    // Act
    const result = await sweepAt(NOW);

    // Assess
    expect(result.deleted).toBe(3);
    const left = await db
      .select({ id: provisioningProgress.id })
      .from(provisioningProgress)
      .where(inArray(provisioningProgress.id, [...gone, ...kept]));
    expect(left.map((r) => r.id).sort()).toEqual([...kept].sort());
    const audit = await db
      .select({ targetId: auditLogs.targetId })
      .from(auditLogs)
      .where(and(eq(auditLogs.action, "provision.start"), inArray(auditLogs.targetId, gone)));
    expect(audit.map((a) => a.targetId).sort()).toEqual([...gone].sort());
  });
});

describe("notifications", () => {
  it("are retried by the next sweep when the channel fails", async () => {
    // Prepare
    const id = await insertRun({ status: "failed", createdAt: ago(HOUR), completedAt: ago(30 * MINUTE) });
    const sent: Alert[] = [];
    const failing: AlertNotifier = {
      notify: async (alert) => {
        if (alert.subjectId === id) throw new Error("SNS is down");
        sent.push(alert);
      },
    };
    const working: AlertNotifier = { notify: async (alert) => void sent.push(alert) };
    const options = { now: NOW, longRunningMinutes: 30, retentionDays: 90 };

    // Act
    const first = await runSweep(server.database.db, { ...options, notifier: failing });
    const [afterFailure] = await alertsFor(id);
    const second = await runSweep(server.database.db, { ...options, notifier: working });
    const [afterRetry] = await alertsFor(id);

    // Assess
    expect(first.raised.map((a) => a.subjectId)).toContain(id);
    expect(first.notifyFailures).toBe(1);
    expect(afterFailure!.notifiedAt).toBeNull();
    expect(second.raised.map((a) => a.subjectId)).not.toContain(id);
    expect(sent.filter((a) => a.subjectId === id)).toHaveLength(1);
    expect(afterRetry!.notifiedAt).toEqual(NOW);
  });
});

describe("GET /api/provisioning/alerts", () => {
  it("pages newest first with the total, and filters by kind and state", async () => {
    // Prepare
    for (let i = 0; i < 3; i++) {
      await insertRun({ status: "failed", createdAt: ago(HOUR), completedAt: ago(HOUR - i * MINUTE) });
    }
    await sweepAt(new Date(NOW.getTime() + 2 * HOUR));
    const all = (await listAlerts("?state=all&limit=200")).body;

    // Act
    const page1 = (await listAlerts("?state=all&limit=2&offset=0")).body;
    const page2 = (await listAlerts("?state=all&limit=2&offset=2")).body;
    const failedOnly = (await listAlerts("?kind=run_failed&limit=200")).body;

    // Assess
    expect(all.total).toBeGreaterThanOrEqual(3);
    expect(page1).toMatchObject({ total: all.total, limit: 2, offset: 0 });
    expect([...page1.items, ...page2.items].map((a: Alert) => a.id)).toEqual(
      all.items.slice(0, 4).map((a: Alert) => a.id),
    );
    const raisedAt = all.items.map((a: Alert) => a.raisedAt);
    expect(raisedAt).toEqual([...raisedAt].sort().reverse());
    expect(failedOnly.items.length).toBeGreaterThanOrEqual(3);
    expect(failedOnly.items.every((a: Alert) => a.kind === "run_failed" && a.resolvedAt === null)).toBe(true);
  });

  it.each([
    ["?kind=everything", "kind"],
    ["?state=open", "state"],
    ["?limit=0", "limit"],
    ["?tenantId=nope", "tenantId"],
  ])("answers %s with 400 naming %s", async (query, field) => {
    // Act
    const res = await server.request("GET", `${ALERTS}${query}`);

    // Assess
    expect(res.status, JSON.stringify(res.body)).toBe(400);
    expect(res.body.error.details.fields).toEqual(
      expect.arrayContaining([expect.objectContaining({ field })]),
    );
  });

  it("refuses a tenant_admin key", async () => {
    // Act
    const res = await server.request("GET", ALERTS, { key: await tenantAdminKey() });

    // Assess
    expect(res.status).toBe(403);
  });
});

describe("POST /api/provisioning/alerts/{id}/resolve", () => {
  it("resolves an alert once, audited; again is 409, unknown is 404, tenant_admin is 403", async () => {
    // Prepare
    const id = await insertRun({ status: "failed", createdAt: ago(HOUR), completedAt: ago(HOUR) });
    await sweepAt(NOW);
    const [alert] = await alertsFor(id);
    const key = await tenantAdminKey();

    // Act
    const asTenant = await server.request("POST", `${ALERTS}/${alert!.id}/resolve`, { key });
    const resolved = await server.request("POST", `${ALERTS}/${alert!.id}/resolve`);
    const again = await server.request("POST", `${ALERTS}/${alert!.id}/resolve`);
    const unknown = await server.request("POST", `${ALERTS}/${randomUUID()}/resolve`);

    // Assess
    expect(asTenant.status).toBe(403);
    expect(resolved.status, JSON.stringify(resolved.body)).toBe(200);
    expect(resolved.body).toMatchObject({ id: alert!.id, resolvedAt: NOW.toISOString() });
    expect(again.status).toBe(409);
    expect(unknown.status).toBe(404);
    const audit = await server.database.db
      .select()
      .from(auditLogs)
      .where(and(eq(auditLogs.action, "alert.resolve"), eq(auditLogs.targetId, alert!.id)));
    expect(audit).toHaveLength(1);
    expect(audit[0]!.details).toMatchObject({ kind: "run_failed" });
    const unresolved = (await listAlerts("?kind=run_failed&limit=200")).body.items;
    expect(unresolved.map((a: Alert) => a.id)).not.toContain(alert!.id);
  });
});

describe("the local server's timer", () => {
  it("sweeps by itself every SWEEP_INTERVAL_SECONDS", async () => {
    // Prepare
    const timed = await startTestServer({ env: { SWEEP_INTERVAL_SECONDS: "1" } });
    try {
      const [row] = await timed.database.db
        .insert(provisioningProgress)
        .values({ status: "failed", completedAt: new Date(), error: "boom" })
        .returning({ id: provisioningProgress.id });

      // Act
      let found: Alert | undefined;
      // Until the alert is raised and handed to the channel (the end of a sweep).
      for (let i = 0; i < 50 && !found?.notifiedAt; i++) {
        await new Promise((r) => setTimeout(r, 200));
        const res = await timed.request("GET", `${ALERTS}?kind=run_failed`);
        found = res.body.items.find((a: Alert) => a.subjectId === row!.id);
      }

      // Assess
      expect(found).toBeDefined();
      expect(found!.notifiedAt).not.toBeNull();
    } finally {
      await timed.close();
    }
  });
});
