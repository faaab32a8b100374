/**
 * Executions that end outside the ASL's Catch leave no run `running`:
 * - in AWS, the EventBridge handler (functions/execution-ended.ts) on real "Step Functions
 *   Execution Status Change" events, on the database TEST_DATABASE names, for runs started through
 *   the Step Functions runner (SFN client mocked with aws-sdk-client-mock, reset after each test);
 * - locally, the in-process runner, through the same recordExecutionEnded, for an execution that
 *   times out (a copy of the ASL with a 2-second execution timeout).
 */
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SFNClient, StartExecutionCommand, StopExecutionCommand } from "@aws-sdk/client-sfn";
import { mockClient } from "aws-sdk-client-mock";
import { eq, sql } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { provisioningProgress, tenants } from "../../functions/db/schema.ts";
import { queryRows } from "../../functions/db/sql.ts";
import { outboxChannel } from "../../functions/domain/notifications/notification-channel.ts";
import { requestProvisioning } from "../../functions/domain/provisioning/provision-service.ts";
import { getProgressRow, toProgressRecord } from "../../functions/domain/runs/progress-store.ts";
import { cancelRun } from "../../functions/domain/runs/run-control.ts";
import { seedDefaultTemplates } from "../../functions/domain/templates/default-templates.ts";
import { getUsableTemplate } from "../../functions/domain/templates/template-store.ts";
import { createExecutionEndedHandler } from "../../functions/execution-ended.ts";
import type { ProvisionFromTemplate } from "../../functions/schemas/provisioning.ts";
import { silentLogger } from "../../functions/shared/logger.ts";
import type { MetricPoint } from "../../functions/shared/metrics.ts";
import { statemachinesDir } from "../../functions/workflows/definitions.ts";
import { SfnWorkflowRunner } from "../../functions/workflows/sfn-workflow-runner.ts";
import { openTestDatabase, type TestDatabase } from "../support/database.ts";
import { executionArnOf, statusChangeEvent, TEST_STATE_MACHINE_ARN } from "../support/execution-events.ts";
import { provisionBody } from "../support/provision-body.ts";
import { startTestServer, type TestServer } from "../support/server.ts";
import { until } from "../support/wait.ts";

const ACTOR = { keyId: "3f2a9c1e-bc55-4a0b-9d8e-12ab34cd56ef", requestId: "test" };
const PASSWORD = "Otter!Maple-Harbour-2031";

describe("the Step Functions status-change handler", () => {
  const sfnMock = mockClient(SFNClient);
  let t: TestDatabase;
  let templateId: string;
  const metrics: MetricPoint[] = [];

  beforeAll(async () => {
    t = await openTestDatabase();
    await seedDefaultTemplates(t.db);
    const [row] = await queryRows<{ id: string }>(
      t.db,
      sql`SELECT id::text AS id FROM tenant_templates WHERE name = 'Basic School System'`,
    );
    templateId = row!.id;
  });

  afterAll(async () => {
    await t?.destroy();
    sfnMock.restore();
  });

  afterEach(() => {
    sfnMock.reset();
    metrics.length = 0;
  });

  const clock = () => new Date();
  const stepDeps = () => ({
    db: t.db,
    logger: silentLogger,
    clock,
    notifications: outboxChannel,
    lockTimeoutMs: 5000,
  });
  const handler = () =>
    createExecutionEndedHandler({
      stepDeps: stepDeps(),
      readInput: async () => {
        throw new Error("every event here carries its input");
      },
      emit: (point) => void metrics.push(point),
    });
  const provisioningDeps = () => ({
    db: t.db,
    logger: silentLogger,
    clock,
    workflows: new SfnWorkflowRunner(new SFNClient({ region: "eu-west-1" }), {
      provisioning: TEST_STATE_MACHINE_ARN,
    }),
  });

  /** A provisioning run started on (mocked) Step Functions: its id and execution name and ARN. */
  async function startedRun(): Promise<{ id: string; name: string; arn: string; tenantId: string }> {
    sfnMock.on(StartExecutionCommand).callsFake((input: { name: string }) => ({
      executionArn: executionArnOf(input.name),
      startDate: new Date(),
    }));
    const template = await getUsableTemplate(t.db, templateId);
    const slug = `x-${Math.random().toString(36).slice(2, 10)}`;
    const { record } = await requestProvisioning(provisioningDeps(), {
      request: provisionBody(slug, PASSWORD) as ProvisionFromTemplate,
      template: { id: template.id, version: template.version },
      spec: { ...template, description: template.description ?? undefined },
      actor: ACTOR,
    });
    const [call] = sfnMock.commandCalls(StartExecutionCommand);
    const name = call!.args[0].input.name!;
    return { id: record.id, name, arn: executionArnOf(name), tenantId: record.tenantId! };
  }

  const runOf = async (id: string) => (await getProgressRow(t.db, id))!;

  it("records a run whose execution timed out as failed, and a second delivery changes nothing", async () => {
    // Prepare
    const run = await startedRun();
    const event = statusChangeEvent({
      progressId: run.id,
      name: run.name,
      status: "TIMED_OUT",
      error: "States.Timeout",
      cause: "The execution timed out",
    });

    // Act
    const first = await handler()(event);
    const afterFirst = await runOf(run.id);
    const second = await handler()(event);
    const afterSecond = await runOf(run.id);

    // Assess
    expect(first).toEqual({ outcome: "recorded", failure: true });
    expect(afterFirst.status).toBe("failed");
    expect(afterFirst.error).toContain("States.Timeout: The execution timed out");
    expect(toProgressRecord(afterFirst).steps.find((s) => s.status === "failed")?.error).toMatchObject({
      name: "States.Timeout",
    });
    const [tenant] = await t.db.select().from(tenants).where(eq(tenants.id, run.tenantId));
    expect(tenant!.status).toBe("failed");
    expect(second).toEqual({ outcome: "already_finished", failure: true });
    expect(afterSecond).toEqual(afterFirst);
    expect(metrics.map((m) => [m.name, m.value, m.dimensions.StateMachineArn])).toEqual([
      ["RunExecutionsFailed", 1, TEST_STATE_MACHINE_ARN],
      ["RunExecutionsFailed", 1, TEST_STATE_MACHINE_ARN],
    ]);
  });

  it("records an execution that ended before its ref was stored, by the attempt in its name", async () => {
    // Prepare: as if StartExecution had not returned yet when the execution ended.
    const run = await startedRun();
    await t.db
      .update(provisioningProgress)
      .set({ executionRef: null })
      .where(eq(provisioningProgress.id, run.id));

    // Act
    const result = await handler()(
      statusChangeEvent({ progressId: run.id, name: run.name, error: "States.Runtime", cause: "bad path" }),
    );

    // Assess
    expect(result).toEqual({ outcome: "recorded", failure: true });
    expect((await runOf(run.id)).status).toBe("failed");
  });

  it("leaves a run alone for an execution of an earlier attempt", async () => {
    // Prepare
    const run = await startedRun();
    const earlier = `${run.id}-0-1767225600000`;

    // Act
    const result = await handler()(statusChangeEvent({ progressId: run.id, name: earlier }));

    // Assess
    expect(result).toEqual({ outcome: "other_execution", failure: false });
    expect((await runOf(run.id)).status).toBe("pending");
  });

  it("leaves a cancelled run cancelled when its execution is aborted, and does not count it", async () => {
    // Prepare: an operator cancels; the service stops the execution, which ends ABORTED.
    const run = await startedRun();
    sfnMock.on(StopExecutionCommand).resolves({ stopDate: new Date() });
    await cancelRun(provisioningDeps(), run.id, ACTOR);

    // Act
    const result = await handler()(
      statusChangeEvent({ progressId: run.id, name: run.name, status: "ABORTED", error: null, cause: null }),
    );

    // Assess
    expect(sfnMock.commandCalls(StopExecutionCommand)[0]!.args[0].input.executionArn).toBe(run.arn);
    expect(result).toEqual({ outcome: "already_finished", failure: false });
    expect((await runOf(run.id)).status).toBe("cancelled");
    expect(metrics.map((m) => m.value)).toEqual([0]);
  });

  it("records a run whose execution was aborted from outside the service (the console)", async () => {
    const run = await startedRun();

    const result = await handler()(
      statusChangeEvent({ progressId: run.id, name: run.name, status: "ABORTED", error: null, cause: null }),
    );

    expect(result).toEqual({ outcome: "recorded", failure: true });
    expect((await runOf(run.id)).error).toContain("ExecutionAborted");
  });

  it("does not count a schedule that started no run", async () => {
    const result = await handler()(
      statusChangeEvent({
        progressId: "7d1c2b3a-0000-4000-8000-000000000000",
        name: "c0ffee00-eventbridge-scheduler-name",
        error: "ScheduleNotStarted",
        cause: "schedule is cancelled",
      }),
    );

    expect(result).toEqual({ outcome: "no_run", failure: false });
  });
});

describe("the local runner, for an execution that times out", () => {
  let server: TestServer;
  let aslDir: string;
  let previousDir: string | undefined;

  beforeAll(async () => {
    // The deprovisioning ASL with a 2-second execution timeout; its grace period's Wait lasts 30 s.
    aslDir = mkdtempSync(join(tmpdir(), "asl-timeout-"));
    const source = statemachinesDir();
    for (const file of readdirSync(source)) copyFileSync(join(source, file), join(aslDir, file));
    const definition = JSON.parse(readFileSync(join(aslDir, "deprovisioning.asl.json"), "utf8")) as Record<
      string,
      unknown
    >;
    writeFileSync(
      join(aslDir, "deprovisioning.asl.json"),
      JSON.stringify({ ...definition, TimeoutSeconds: 2 }),
    );
    previousDir = process.env.STATEMACHINES_DIR;
    process.env.STATEMACHINES_DIR = aslDir;
    server = await startTestServer({ waitTimeOverrideMs: 30_000 });
  });

  afterAll(async () => {
    await server?.close();
    if (previousDir === undefined) delete process.env.STATEMACHINES_DIR;
    else process.env.STATEMACHINES_DIR = previousDir;
    rmSync(aslDir, { recursive: true, force: true });
  });

  it("records the run as failed with States.Timeout instead of leaving it running", async () => {
    // Prepare: an active tenant.
    const templates = await server.request("GET", "/api/provisioning/templates?limit=50");
    const templateId = templates.body.items.find(
      (x: { name: string }) => x.name === "Basic School System",
    ).id;
    const provisioned = await server.request("POST", `/api/provisioning/templates/${templateId}/provision`, {
      body: provisionBody(`t-${Math.random().toString(36).slice(2, 10)}`, PASSWORD),
    });
    const provisioning = await until(
      "provisioning to finish",
      async () => (await server.request("GET", `/api/provisioning/progress/${provisioned.body.id}`)).body,
      (p) => p.status !== "pending" && p.status !== "running",
    );
    expect(provisioning.status).toBe("completed");

    // Act: the grace period outlasts the execution's timeout.
    const started = await server.request(
      "POST",
      `/api/provisioning/tenants/${provisioning.tenantId}/deprovision`,
      {
        body: { gracePeriodHours: 1 },
      },
    );
    const ended = await until(
      "the deprovisioning to end",
      async () => (await server.request("GET", `/api/provisioning/progress/${started.body.id}`)).body,
      (p) => p.status !== "pending" && p.status !== "running",
    );
    await server.app.workflows.idle();

    // Assess
    expect(started.status).toBe(202);
    expect(ended.status, JSON.stringify(ended)).toBe("failed");
    expect(ended.error).toContain("States.Timeout");
  });
});
