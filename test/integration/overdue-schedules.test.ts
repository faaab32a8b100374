/**
 * The sweep's safety net for scheduled deprovisionings their scheduler did not start (in AWS a
 * schedule whose role cannot be assumed, or whose target keeps failing): on the database
 * TEST_DATABASE names, with the local schedule poller held back so the schedules fall overdue.
 * Started on Step Functions (SFN client mocked with aws-sdk-client-mock, reset after each test),
 * and on the local runner end to end.
 */
import { SFNClient, StartExecutionCommand } from "@aws-sdk/client-sfn";
import { mockClient } from "aws-sdk-client-mock";
import { eq, sql } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { scheduledOperations, tenants } from "../../functions/db/schema.ts";
import { queryRows } from "../../functions/db/sql.ts";
import type { AlertNotifier } from "../../functions/domain/operations/alerts.ts";
import { runSweep } from "../../functions/domain/operations/sweep.ts";
import { getProgressRow } from "../../functions/domain/runs/progress-store.ts";
import { scheduledExecutionInput } from "../../functions/domain/scheduling/scheduler.ts";
import type { Alert } from "../../functions/schemas/operations.ts";
import { alertSchema } from "../../functions/schemas/operations.ts";
import { executionName } from "../../functions/workflows/execution-name.ts";
import { SfnWorkflowRunner } from "../../functions/workflows/sfn-workflow-runner.ts";
import type { WorkflowRunner } from "../../functions/workflows/workflow-runner.ts";
import { provisionBody } from "../support/provision-body.ts";
import { startTestServer, type TestServer } from "../support/server.ts";
import { until } from "../support/wait.ts";

const API = "/api/provisioning";
const DEPROVISIONING_ARN = "arn:aws:states:eu-west-1:123456789012:stateMachine:WorkflowsDeprovisioning-abc";
const OVERDUE_MINUTES = 15;
const MINUTE = 60_000;

const sfnMock = mockClient(SFNClient);

describe("overdue scheduled deprovisionings", () => {
  let server: TestServer;
  const notified: Alert[] = [];
  const notifier: AlertNotifier = { notify: async (alert) => void notified.push(alert) };

  beforeAll(async () => {
    server = await startTestServer({
      env: {
        // The local stand-in for EventBridge Scheduler polls once at start and then not for an
        // hour: the schedules below are missed, as an AWS schedule whose role cannot be assumed.
        SCHEDULE_POLL_INTERVAL_MS: "3600000",
        SWEEP_INTERVAL_SECONDS: "86400",
        STEP_RETRY_INTERVAL_SECONDS: "1",
        STEP_RETRY_MAX_DELAY_SECONDS: "1",
      },
    });
  });

  afterAll(async () => {
    await server?.close();
    sfnMock.restore();
  });

  afterEach(() => {
    sfnMock.reset();
    notified.length = 0;
  });

  const db = () => server.database.db;

  async function activeTenant(): Promise<string> {
    const templates = await server.request("GET", `${API}/templates?limit=50`);
    const templateId = templates.body.items.find(
      (t: { name: string }) => t.name === "Basic School System",
    ).id;
    const res = await server.request("POST", `${API}/templates/${templateId}/provision`, {
      body: provisionBody(`o-${Math.random().toString(36).slice(2, 10)}`, "Otter!Maple-Harbour-2031"),
    });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const run = await until(
      "provisioning to finish",
      async () => (await server.request("GET", `${API}/progress/${res.body.id}`)).body,
      (p) => p.status !== "pending" && p.status !== "running",
    );
    expect(run.status).toBe("completed");
    return run.tenantId;
  }

  /** A schedule for `tenantId`, due in a moment; returns it once it is due. */
  async function dueSchedule(tenantId: string): Promise<{ id: string; runAt: Date }> {
    const at = new Date(Date.now() + 1000);
    const res = await server.request("POST", `${API}/tenants/${tenantId}/schedule-deprovision`, {
      body: { at: at.toISOString(), gracePeriodHours: 0 },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    await until(
      "the schedule to fall due",
      async () => Date.now(),
      (now) => now > at.getTime() + 50,
    );
    return { id: res.body.id, runAt: new Date(res.body.runAt) };
  }

  const sweep = (now: Date, workflows: WorkflowRunner) =>
    runSweep(db(), {
      now,
      longRunningMinutes: 24 * 60,
      retentionDays: 90,
      notifier,
      overdueSchedules: { overdueMinutes: OVERDUE_MINUTES, workflows },
    });
  const scheduleRow = async (id: string) =>
    (await db().select().from(scheduledOperations).where(eq(scheduledOperations.id, id)))[0]!;
  const deprovisionRuns = async (tenantId: string) =>
    queryRows<{ id: string }>(
      db(),
      sql`SELECT id::text AS id FROM tenant_provisioning_progress WHERE tenant_id = ${tenantId}::uuid AND kind = 'deprovision'`,
    );

  it("starts a schedule missed by its scheduler once, through the claim, and raises one alert", async () => {
    // Prepare
    const tenantId = await activeTenant();
    const schedule = await dueSchedule(tenantId);
    sfnMock.on(StartExecutionCommand).callsFake((input: { name: string }) => ({
      executionArn: `${DEPROVISIONING_ARN.replace(":stateMachine:", ":execution:")}:${input.name}`,
      startDate: new Date(),
    }));
    const workflows = new SfnWorkflowRunner(new SFNClient({ region: "eu-west-1" }), {
      deprovisioning: DEPROVISIONING_ARN,
    });
    const notYet = new Date(schedule.runAt.getTime() + (OVERDUE_MINUTES - 1) * MINUTE);
    const overdue = new Date(schedule.runAt.getTime() + (OVERDUE_MINUTES + 1) * MINUTE);

    // Act
    const early = await sweep(notYet, workflows);
    const first = await sweep(overdue, workflows);
    const second = await sweep(new Date(overdue.getTime() + 5 * MINUTE), workflows);
    // The schedule fires after all (a late EventBridge delivery): its claim finds the row taken.
    await server.app.workflows.start("deprovisioning", "late-delivery", scheduledExecutionInput(schedule.id));
    await server.app.workflows.idle();

    // Assess
    expect(early.overdueStarted).toBe(0);
    expect(first.overdueStarted).toBe(1);
    expect(second.overdueStarted).toBe(0);
    const starts = sfnMock.commandCalls(StartExecutionCommand).map((c) => c.args[0].input);
    expect(starts).toHaveLength(1);
    expect(starts[0]).toMatchObject({
      stateMachineArn: DEPROVISIONING_ARN,
      name: executionName(schedule.id, 1, overdue),
    });
    expect(JSON.parse(starts[0]!.input!)).toEqual({
      progressId: schedule.id,
      startAt: "BackupData",
      notifyUsers: false,
    });
    const row = await scheduleRow(schedule.id);
    expect(row).toMatchObject({ status: "started", progressId: schedule.id });
    const run = (await getProgressRow(db(), schedule.id))!;
    expect(run.executionRef).toContain(`:execution:WorkflowsDeprovisioning-abc:${schedule.id}-1-`);
    expect(await deprovisionRuns(tenantId)).toHaveLength(1);
    // One alert, raised once and handed to the channel once.
    const overdueAlerts = [...first.raised, ...second.raised].filter((a) => a.kind === "schedule_overdue");
    expect(overdueAlerts).toHaveLength(1);
    expect(alertSchema.parse(overdueAlerts[0])).toMatchObject({
      severity: "warning",
      subjectType: "schedule",
      subjectId: schedule.id,
      tenantId,
      details: { outcome: "started", progressId: schedule.id, minutesLate: OVERDUE_MINUTES + 1 },
    });
    expect(notified.filter((a) => a.kind === "schedule_overdue")).toHaveLength(1);
    const listed = await server.request("GET", `${API}/alerts?kind=schedule_overdue`);
    expect(listed.status, JSON.stringify(listed.body)).toBe(200);
    expect(listed.body.items.map((a: Alert) => a.subjectId)).toContain(schedule.id);
  });

  it("runs the started schedule to the end on the local runner", async () => {
    // Prepare
    const tenantId = await activeTenant();
    const schedule = await dueSchedule(tenantId);

    // Act
    const result = await sweep(
      new Date(schedule.runAt.getTime() + (OVERDUE_MINUTES + 1) * MINUTE),
      server.app.workflows,
    );
    const run = await until(
      "the deprovisioning to finish",
      async () => (await server.request("GET", `${API}/progress/${schedule.id}`)).body,
      (p) => p.status !== "pending" && p.status !== "running",
    );
    await server.app.workflows.idle();

    // Assess
    expect(result.overdueStarted).toBe(1);
    expect(run.status, JSON.stringify(run)).toBe("completed");
    const [tenant] = await db().select().from(tenants).where(eq(tenants.id, tenantId));
    expect(tenant!.status).toBe("deprovisioned");
  });

  it("starts a scheduled provisioning its scheduler missed on its reserved tenant, which completes", async () => {
    // Prepare
    const templates = await server.request("GET", `${API}/templates?limit=50`);
    const templateId = templates.body.items.find(
      (t: { name: string }) => t.name === "Basic School System",
    ).id;
    const slug = `op-${Math.random().toString(36).slice(2, 10)}`;
    const at = new Date(Date.now() + 1000);
    const scheduled = await server.request("POST", `${API}/templates/${templateId}/schedule-provision`, {
      body: { ...provisionBody(slug, "Otter!Maple-Harbour-2031"), at: at.toISOString() },
    });
    expect(scheduled.status, JSON.stringify(scheduled.body)).toBe(201);
    await until(
      "the schedule to fall due",
      async () => Date.now(),
      (now) => now > at.getTime() + 50,
    );

    // Act
    const result = await sweep(new Date(at.getTime() + (OVERDUE_MINUTES + 1) * MINUTE), server.app.workflows);
    const run = await until(
      "the provisioning to finish",
      async () => (await server.request("GET", `${API}/progress/${scheduled.body.id}`)).body,
      (p) => p.status !== "pending" && p.status !== "running",
    );
    await server.app.workflows.idle();

    // Assess
    expect(result.overdueStarted).toBe(1);
    expect(run.status, JSON.stringify(run)).toBe("completed");
    const [tenant] = await db().select().from(tenants).where(eq(tenants.id, scheduled.body.tenantId));
    expect(tenant).toMatchObject({ slug, status: "active" });
    const alert = result.raised.find((a) => a.subjectId === scheduled.body.id);
    expect(alert?.message).toContain(`Scheduled provisioning ${scheduled.body.id} of tenant ${slug}`);
  });

  it("starts a scheduled batch its scheduler missed, whose children all complete", async () => {
    // Prepare
    const templates = await server.request("GET", `${API}/templates?limit=50`);
    const templateId = templates.body.items.find(
      (t: { name: string }) => t.name === "Basic School System",
    ).id;
    const slugs = [1, 2].map((i) => `ob${i}-${Math.random().toString(36).slice(2, 10)}`);
    const at = new Date(Date.now() + 1000);
    const items = slugs.map((slug) => ({
      templateId,
      slug,
      name: `Tenant ${slug}`,
      subdomain: slug,
      adminName: "Ada Admin",
      adminEmail: `admin@${slug}.example.org`,
      adminPassword: "Otter!Maple-Harbour-2031",
    }));
    const scheduled = await server.request("POST", `${API}/schedule-batch`, {
      body: { at: at.toISOString(), items, maxConcurrency: 2 },
    });
    expect(scheduled.status, JSON.stringify(scheduled.body)).toBe(201);
    const batchId = scheduled.body.options.batchId;
    await until(
      "the schedule to fall due",
      async () => Date.now(),
      (now) => now > at.getTime() + 50,
    );

    // Act
    const result = await sweep(new Date(at.getTime() + (OVERDUE_MINUTES + 1) * MINUTE), server.app.workflows);
    const batch = await until(
      "the batch to finish",
      async () => (await server.request("GET", `${API}/batches/${batchId}`)).body,
      (b) => b.status !== "pending" && b.status !== "running",
    );
    await server.app.workflows.idle();

    // Assess
    expect(result.overdueStarted).toBe(1);
    expect(batch, JSON.stringify(batch)).toMatchObject({ status: "completed", counts: { completed: 2 } });
    const made = await db().select().from(tenants).where(sql`${tenants.slug} IN (${slugs[0]}, ${slugs[1]})`);
    expect(made.map((t) => t.status)).toEqual(["active", "active"]);
    const [schedule] = await db()
      .select()
      .from(scheduledOperations)
      .where(eq(scheduledOperations.id, scheduled.body.id));
    expect(schedule!.status).toBe("started");
  });

  it("marks a schedule it cannot start failed, with the reason, and raises a critical alert", async () => {
    // Prepare: the tenant cannot be deprovisioned any more.
    const tenantId = await activeTenant();
    const schedule = await dueSchedule(tenantId);
    await db().update(tenants).set({ status: "deprovisioned" }).where(eq(tenants.id, tenantId));
    const workflows = new SfnWorkflowRunner(new SFNClient({ region: "eu-west-1" }), {
      deprovisioning: DEPROVISIONING_ARN,
    });

    // Act
    const result = await sweep(
      new Date(schedule.runAt.getTime() + (OVERDUE_MINUTES + 1) * MINUTE),
      workflows,
    );

    // Assess
    expect(result.overdueStarted).toBe(0);
    expect(sfnMock.commandCalls(StartExecutionCommand)).toHaveLength(0);
    const row = await scheduleRow(schedule.id);
    expect(row.status).toBe("failed");
    expect(row.error).toContain("already deprovisioned");
    const alert = result.raised.find((a) => a.subjectId === schedule.id)!;
    expect(alert).toMatchObject({ kind: "schedule_overdue", severity: "critical" });
    expect(alert.message).toContain("could not start it");
    expect(await deprovisionRuns(tenantId)).toHaveLength(0);
  });
});
