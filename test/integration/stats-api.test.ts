/**
 * GET /api/provisioning/stats through HTTP on known progress records inserted directly (fixed
 * timestamps), every figure checked against a hand computation written beside it: totals by kind
 * and status, rates, completion-time average / median / p95, per template, per step (from the
 * daily rollup, from the records at a window's partial edge days, and both), runs in progress;
 * the per-step rollup following updates and deletes; bad windows and roles.
 */
import { randomUUID } from "node:crypto";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { provisioningProgress, tenants, tenantTemplates } from "../../functions/db/schema.ts";
import type { HttpResult } from "../support/server.ts";
import { startTestServer, type TestServer } from "../support/server.ts";

const STATS = "/api/provisioning/stats";

let server: TestServer;
let alpha: string;
let beta: string;

type StepStatus = "pending" | "running" | "completed" | "failed" | "skipped";
type RunStatus = "pending" | "running" | "completed" | "failed" | "cancelled";

/** A step entry as the workflow writes it; `durationMs` only for completed or failed steps. A step
 * stopped by a cancel is `failed` with RunCancelledError (not counted as a failure of the step). */
function step(
  name: string,
  status: StepStatus,
  durationMs: number | null = null,
  errorName = "DatabaseError",
) {
  const at = "2026-01-01T00:00:00.000Z";
  return {
    id: name.replace(/([a-z])([A-Z])/g, "$1-$2").toLowerCase(),
    name,
    title: name,
    status,
    attempts: status === "pending" ? 0 : 1,
    startedAt: status === "pending" ? null : at,
    passStartedAt: null,
    completedAt: status === "completed" || status === "failed" ? at : null,
    durationMs,
    error: status === "failed" ? { name: errorName, message: "relation already exists" } : null,
    attemptErrors: [],
  };
}

interface RunSpec {
  readonly kind?: "provision" | "deprovision";
  readonly templateId: string | null;
  readonly status: RunStatus;
  /** ISO; the run starts when it is created. */
  readonly createdAt: string;
  /** Seconds from start to completed_at (finished runs). */
  readonly seconds?: number;
  readonly steps: ReturnType<typeof step>[];
}

async function insertRun(spec: RunSpec): Promise<string> {
  const created = new Date(spec.createdAt);
  const finished = spec.status === "completed" || spec.status === "failed" || spec.status === "cancelled";
  const completedAt = finished ? new Date(created.getTime() + (spec.seconds ?? 1) * 1000) : null;
  const [row] = await server.database.db
    .insert(provisioningProgress)
    .values({
      kind: spec.kind ?? "provision",
      templateId: spec.templateId,
      status: spec.status,
      totalSteps: spec.steps.length,
      completedSteps: spec.steps.filter((s) => s.status === "completed").length,
      steps: spec.steps,
      startedAt: spec.status === "pending" ? null : created,
      completedAt,
      error: spec.status === "failed" ? "DatabaseError: relation already exists" : null,
      createdAt: created,
      updatedAt: completedAt ?? created,
    })
    .returning({ id: provisioningProgress.id });
  return row!.id;
}

async function stats(query = ""): Promise<HttpResult<any>> {
  const res = await server.request("GET", `${STATS}${query}`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res;
}

function expectFieldError(res: HttpResult<any>, field: string): void {
  expect(res.status, JSON.stringify(res.body)).toBe(400);
  expect(res.body.error.code).toBe("validation_error");
  expect(res.body.error.details.fields).toEqual(expect.arrayContaining([expect.objectContaining({ field })]));
}

const T = ["CreateTenant", "CreateAdminUser", "RunMigrations"] as const;
const [CT, CA, RM] = T;

beforeAll(async () => {
  server = await startTestServer({ env: { SWEEP_INTERVAL_SECONDS: "86400" } });
  const db = server.database.db;
  const inserted = await db
    .insert(tenantTemplates)
    .values([{ name: "Stats Alpha" }, { name: "Stats Beta" }])
    .returning({ id: tenantTemplates.id, name: tenantTemplates.name });
  alpha = inserted.find((t) => t.name === "Stats Alpha")!.id;
  beta = inserted.find((t) => t.name === "Stats Beta")!.id;

  // The known data set (all times UTC):
  //  #  template  kind         status     created           seconds  steps (CT, CA, RM) durations ms
  //  1  Alpha     provision    completed  01-10 10:00       10      1000, 2000, 7000
  //  2  Alpha     provision    completed  01-10 11:00       20      2000, 4000, 14000
  //  3  Alpha     provision    completed  01-11 09:00       30      3000, 6000, 21000
  //  4  Beta      provision    completed  01-11 12:00       40      4000, 8000, 28000
  //  5  Beta      provision    completed  01-12 08:00      100      10000, 20000, 70000
  //  6  Beta      provision    failed     01-12 09:00        5      1500, 2500, RM failed (500)
  //  7  Alpha     provision    failed     01-12 10:00        1      CT failed (300), -, -
  //  8  Alpha     provision    cancelled  01-13 10:00        2      1200, CA stopped by the cancel, -
  //  9  Alpha     provision    running    01-13 11:00        -      800, CA running, -
  // 10  (custom)  provision    pending    01-13 12:00        -      -, -, -
  // 11  (none)    deprovision  failed     01-13 13:00        1      DisableTenant failed (100)
  const runs: RunSpec[] = [
    {
      templateId: alpha,
      status: "completed",
      createdAt: "2026-01-10T10:00:00Z",
      seconds: 10,
      steps: [step(CT, "completed", 1000), step(CA, "completed", 2000), step(RM, "completed", 7000)],
    },
    {
      templateId: alpha,
      status: "completed",
      createdAt: "2026-01-10T11:00:00Z",
      seconds: 20,
      steps: [step(CT, "completed", 2000), step(CA, "completed", 4000), step(RM, "completed", 14000)],
    },
    {
      templateId: alpha,
      status: "completed",
      createdAt: "2026-01-11T09:00:00Z",
      seconds: 30,
      steps: [step(CT, "completed", 3000), step(CA, "completed", 6000), step(RM, "completed", 21000)],
    },
    {
      templateId: beta,
      status: "completed",
      createdAt: "2026-01-11T12:00:00Z",
      seconds: 40,
      steps: [step(CT, "completed", 4000), step(CA, "completed", 8000), step(RM, "completed", 28000)],
    },
    {
      templateId: beta,
      status: "completed",
      createdAt: "2026-01-12T08:00:00Z",
      seconds: 100,
      steps: [step(CT, "completed", 10000), step(CA, "completed", 20000), step(RM, "completed", 70000)],
    },
    {
      templateId: beta,
      status: "failed",
      createdAt: "2026-01-12T09:00:00Z",
      seconds: 5,
      steps: [step(CT, "completed", 1500), step(CA, "completed", 2500), step(RM, "failed", 500)],
    },
    {
      templateId: alpha,
      status: "failed",
      createdAt: "2026-01-12T10:00:00Z",
      seconds: 1,
      steps: [step(CT, "failed", 300), step(CA, "pending"), step(RM, "pending")],
    },
    {
      templateId: alpha,
      status: "cancelled",
      createdAt: "2026-01-13T10:00:00Z",
      seconds: 2,
      steps: [
        step(CT, "completed", 1200),
        step(CA, "failed", null, "RunCancelledError"),
        step(RM, "pending"),
      ],
    },
    {
      templateId: alpha,
      status: "running",
      createdAt: "2026-01-13T11:00:00Z",
      steps: [step(CT, "completed", 800), step(CA, "running"), step(RM, "pending")],
    },
    {
      templateId: null,
      status: "pending",
      createdAt: "2026-01-13T12:00:00Z",
      steps: [step(CT, "pending"), step(CA, "pending"), step(RM, "pending")],
    },
    {
      kind: "deprovision",
      templateId: null,
      status: "failed",
      createdAt: "2026-01-13T13:00:00Z",
      seconds: 1,
      steps: [step("DisableTenant", "failed", 100)],
    },
  ];
  for (const run of runs) await insertRun(run);
});

afterAll(async () => {
  await server?.close();
});

describe("GET /api/provisioning/stats without a window", () => {
  it("counts runs by status and by kind", async () => {
    // Act
    const { body } = await stats();

    // Assess
    // 11 runs: completed #1-#5, failed #6 #7 #11, cancelled #8, running #9, pending #10; #11 is the deprovision run.
    expect(body.totals.runs).toBe(11);
    expect(body.totals.byStatus).toEqual({ pending: 1, running: 1, completed: 5, failed: 3, cancelled: 1 });
    expect(body.totals.byKind.provision).toEqual({
      runs: 10,
      byStatus: { pending: 1, running: 1, completed: 5, failed: 2, cancelled: 1 },
    });
    expect(body.totals.byKind.deprovision).toEqual({
      runs: 1,
      byStatus: { pending: 0, running: 0, completed: 0, failed: 1, cancelled: 0 },
    });
    // Every other run kind is there, with zeros.
    for (const [kind, totals] of Object.entries(body.totals.byKind as Record<string, any>)) {
      if (kind !== "provision" && kind !== "deprovision") expect(totals.runs, kind).toBe(0);
    }
    expect(body.window).toEqual({ from: null, to: null });
  });

  it("gives success and failure rates over finished runs", async () => {
    // Act
    const { body } = await stats();

    // Assess
    // finished = 5 completed + 3 failed + 1 cancelled = 9; success 5/9, failure 3/9.
    expect(body.rates.finished).toBe(9);
    expect(body.rates.success).toBeCloseTo(5 / 9, 10);
    expect(body.rates.failure).toBeCloseTo(3 / 9, 10);
  });

  it("gives average, median and p95 completion time of completed runs", async () => {
    // Act
    const { body } = await stats();

    // Assess
    // Completed runs took 10 s, 20 s, 30 s, 40 s, 100 s: average 200/5 = 40 s; median 30 s;
    // p95 with linear interpolation: position 0.95 × (5 − 1) = 3.8 → 40 + 0.8 × (100 − 40) = 88 s.
    expect(body.completionTimeMs.runs).toBe(5);
    expect(body.completionTimeMs.average).toBeCloseTo(40_000, 6);
    expect(body.completionTimeMs.median).toBeCloseTo(30_000, 6);
    expect(body.completionTimeMs.p95).toBeCloseTo(88_000, 6);
  });

  it("gives usage and success rate per template, most used first", async () => {
    // Act
    const { body } = await stats();

    // Assess
    // Provisioning runs only. Alpha: #1 #2 #3 #7 #8 #9 = 6 runs, 3 completed, 1 failed, finished 5
    // (3 + 1 + cancelled #8) → 3/5. Beta: #4 #5 #6 = 3 runs, 2 completed, 1 failed → 2/3.
    // Custom (no template): #10, pending → no finished run, no rate.
    expect(body.templates).toHaveLength(3);
    expect(body.templates[0]).toEqual({
      templateId: alpha,
      templateName: "Stats Alpha",
      runs: 6,
      completed: 3,
      failed: 1,
      successRate: expect.closeTo(0.6, 10),
    });
    expect(body.templates[1]).toEqual({
      templateId: beta,
      templateName: "Stats Beta",
      runs: 3,
      completed: 2,
      failed: 1,
      successRate: expect.closeTo(2 / 3, 10),
    });
    expect(body.templates[2]).toEqual({
      templateId: null,
      templateName: null,
      runs: 1,
      completed: 0,
      failed: 0,
      successRate: null,
    });
  });

  it("gives failures and average duration per step, in workflow order", async () => {
    // Act
    const { body } = await stats();

    // Assess
    // CreateTenant completed in #1-#6, #8, #9: 1000+2000+3000+4000+10000+1500+1200+800 = 23500 / 8
    //   = 2937.5 ms; failed in #7.
    // CreateAdminUser completed in #1-#6: 2000+4000+6000+8000+20000+2500 = 42500 / 6 ms; no failure
    //   (#8's was stopped by the cancel).
    // RunMigrations completed in #1-#5: 7000+14000+21000+28000+70000 = 140000 / 5 = 28000 ms; failed in #6.
    // DisableTenant (deprovision, first step like CreateTenant): failed once, never completed.
    expect(body.steps.map((s: any) => s.name)).toEqual([CT, "DisableTenant", CA, RM]);
    const byName = Object.fromEntries(body.steps.map((s: any) => [s.name, s]));
    expect(byName[CT]).toEqual({ name: CT, completed: 8, failures: 1, averageDurationMs: 2937.5 });
    expect(byName[CA]).toEqual({
      name: CA,
      completed: 6,
      failures: 0,
      averageDurationMs: expect.closeTo(42_500 / 6, 6),
    });
    expect(byName[RM]).toEqual({ name: RM, completed: 5, failures: 1, averageDurationMs: 28_000 });
    expect(byName.DisableTenant).toEqual({
      name: "DisableTenant",
      completed: 0,
      failures: 1,
      averageDurationMs: null,
    });
  });

  it("counts the runs in progress now", async () => {
    // Act
    const { body } = await stats();

    // Assess
    expect(body.inProgress).toEqual({ running: 1, pending: 1 });
  });
});

describe("GET /api/provisioning/stats with a window", () => {
  it("limits every figure to runs created in [from, to), mixing whole days and a partial day", async () => {
    // Prepare
    // [01-11 00:00, 01-12 09:30): #3 #4 (all of 01-11: the rollup) and #5 #6 (01-12 until 09:30: the records).
    const query = "?from=2026-01-11T00:00:00Z&to=2026-01-12T09:30:00Z";

    // Act
    const { body } = await stats(query);

    // Assess
    expect(body.window).toEqual({ from: "2026-01-11T00:00:00.000Z", to: "2026-01-12T09:30:00.000Z" });
    expect(body.totals.runs).toBe(4);
    expect(body.totals.byStatus).toEqual({ pending: 0, running: 0, completed: 3, failed: 1, cancelled: 0 });
    // finished 4: success 3/4, failure 1/4.
    expect(body.rates).toEqual({ finished: 4, success: 0.75, failure: 0.25 });
    // 30 s, 40 s, 100 s: average 170/3 s; median 40 s; p95 at 0.95 × 2 = 1.9 → 40 + 0.9 × 60 = 94 s.
    expect(body.completionTimeMs.runs).toBe(3);
    expect(body.completionTimeMs.average).toBeCloseTo(170_000 / 3, 6);
    expect(body.completionTimeMs.median).toBeCloseTo(40_000, 6);
    expect(body.completionTimeMs.p95).toBeCloseTo(94_000, 6);
    // Beta #4 #5 #6: 3 runs, 2 completed, 1 failed; Alpha #3: 1 run, completed.
    expect(body.templates).toEqual([
      {
        templateId: beta,
        templateName: "Stats Beta",
        runs: 3,
        completed: 2,
        failed: 1,
        successRate: expect.closeTo(2 / 3, 10),
      },
      { templateId: alpha, templateName: "Stats Alpha", runs: 1, completed: 1, failed: 0, successRate: 1 },
    ]);
    // CT: 3000+4000+10000+1500 = 18500 / 4 = 4625; CA: 6000+8000+20000+2500 = 36500 / 4 = 9125;
    // RM: 21000+28000+70000 = 119000 / 3, failed once (#6).
    expect(body.steps).toEqual([
      { name: CT, completed: 4, failures: 0, averageDurationMs: 4625 },
      { name: CA, completed: 4, failures: 0, averageDurationMs: 9125 },
      { name: RM, completed: 3, failures: 1, averageDurationMs: expect.closeTo(119_000 / 3, 6) },
    ]);
    // Runs in progress are counted whatever the window.
    expect(body.inProgress).toEqual({ running: 1, pending: 1 });
  });

  it("reads whole days from the rollup alone when the window starts at midnight", async () => {
    // Act
    // From 01-13 00:00: #8 #9 #10 #11.
    const { body } = await stats("?from=2026-01-13T00:00:00Z");

    // Assess
    expect(body.totals.runs).toBe(4);
    // CT completed in #8 (1200) and #9 (800) → 1000; DisableTenant failed in #11.
    expect(body.steps).toEqual([
      { name: CT, completed: 2, failures: 0, averageDurationMs: 1000 },
      { name: "DisableTenant", completed: 0, failures: 1, averageDurationMs: null },
    ]);
    // finished: #8 cancelled, #11 failed → success 0/2, failure 1/2; nothing completed.
    expect(body.rates).toEqual({ finished: 2, success: 0, failure: 0.5 });
    expect(body.completionTimeMs).toEqual({ runs: 0, average: null, median: null, p95: null });
  });

  it("reads a window inside one day from the records alone", async () => {
    // Act
    // [01-10 10:30, 01-10 23:00): #2 only.
    const { body } = await stats("?from=2026-01-10T10:30:00Z&to=2026-01-10T23:00:00Z");

    // Assess
    expect(body.totals.runs).toBe(1);
    expect(body.steps).toEqual([
      { name: CT, completed: 1, failures: 0, averageDurationMs: 2000 },
      { name: CA, completed: 1, failures: 0, averageDurationMs: 4000 },
      { name: RM, completed: 1, failures: 0, averageDurationMs: 14000 },
    ]);
    expect(body.completionTimeMs).toMatchObject({ runs: 1, average: 20_000, median: 20_000, p95: 20_000 });
  });

  it("accepts zone offsets and an empty window", async () => {
    // Act
    // 01-10 12:00+02:00 is 10:00Z: from = to is an empty window.
    const { body } = await stats("?from=2026-01-10T12:00:00%2B02:00&to=2026-01-10T10:00:00Z");

    // Assess
    expect(body.window.from).toBe("2026-01-10T10:00:00.000Z");
    expect(body.totals.runs).toBe(0);
    expect(body.rates).toEqual({ finished: 0, success: null, failure: null });
    expect(body.templates).toEqual([]);
    expect(body.steps).toEqual([]);
  });
});

describe("per-step figures follow the records", () => {
  it("reflects a step completing and a record being deleted", async () => {
    // Prepare
    // A run alone on 2025-06-01 (a whole day: the rollup answers).
    const query = "?from=2025-06-01T00:00:00Z&to=2025-06-02T00:00:00Z";
    const id = await insertRun({
      templateId: alpha,
      status: "running",
      createdAt: "2025-06-01T08:00:00Z",
      steps: [step(CT, "completed", 600), step(CA, "running"), step(RM, "pending")],
    });
    const before = (await stats(query)).body;

    // Act
    await server.database.db
      .update(provisioningProgress)
      .set({ steps: [step(CT, "completed", 600), step(CA, "completed", 900), step(RM, "failed", 50)] })
      .where(eq(provisioningProgress.id, id));
    const afterUpdate = (await stats(query)).body;
    await server.database.db.delete(provisioningProgress).where(eq(provisioningProgress.id, id));
    const afterDelete = (await stats(query)).body;

    // Assess
    expect(before.steps).toEqual([{ name: CT, completed: 1, failures: 0, averageDurationMs: 600 }]);
    expect(afterUpdate.steps).toEqual([
      { name: CT, completed: 1, failures: 0, averageDurationMs: 600 },
      { name: CA, completed: 1, failures: 0, averageDurationMs: 900 },
      { name: RM, completed: 0, failures: 1, averageDurationMs: null },
    ]);
    expect(afterDelete.steps).toEqual([]);
    expect(afterDelete.totals.runs).toBe(0);
  });
});

describe("bad requests and roles", () => {
  it.each([
    ["?from=yesterday", "from"],
    ["?to=2026-13-01T00:00:00Z", "to"],
    ["?from=2026-01-01T00:00:00", "from"],
    ["?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z", "from"],
    ["?since=2026-01-01T00:00:00Z", "since"],
  ])("answers %s with 400 naming %s", async (query, field) => {
    // Act
    const res = await server.request("GET", `${STATS}${query}`);

    // Assess
    expectFieldError(res, field);
  });

  it("refuses a tenant_admin key (403) and a missing key (401)", async () => {
    // Prepare
    const slug = `s-${randomUUID().slice(0, 8)}`;
    const [tenant] = await server.database.db
      .insert(tenants)
      .values({ name: `Tenant ${slug}`, slug, subdomain: slug, status: "active" })
      .returning({ id: tenants.id });
    const created = await server.request("POST", "/api/provisioning/keys", {
      body: { name: "tenant admin", role: "tenant_admin", tenantId: tenant!.id },
    });
    expect(created.status).toBe(201);

    // Act
    const asTenant = await server.request("GET", STATS, { key: created.body.key });
    const anonymous = await server.request("GET", STATS, { key: null });

    // Assess
    expect(asTenant.status).toBe(403);
    expect(asTenant.body.error.code).toBe("forbidden");
    expect(anonymous.status).toBe(401);
  });
});
