/**
 * Deprovisioning's defaults are the safe ones: a request that names no option keeps the backup and
 * waits a grace period (24 h) before deleting anything — now, as a dry run, and on a schedule —
 * and the OpenAPI document says so. Only an explicit `gracePeriodHours: 0` / `preserveBackups:
 * false` deletes at once / drops the backup.
 */
import { randomUUID } from "node:crypto";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { numberValue, queryRows } from "../../functions/db/sql.ts";
import { provisionBody } from "../support/provision-body.ts";
import { startTestServer, type TestServer } from "../support/server.ts";
import { until } from "../support/wait.ts";

const API = "/api/provisioning";
const PASSWORD = `Heron-Quill-${randomUUID().slice(0, 8)}-Dune`;
const SAFE_DEFAULTS = {
  preserveBackups: true,
  preserveAuditLogs: false,
  notifyUsers: false,
  gracePeriodHours: 24,
};

let server: TestServer;

beforeAll(async () => {
  // Every Wait lasts ten minutes: a grace period is still running whenever the test looks.
  server = await startTestServer({
    env: { STEP_RETRY_INTERVAL_SECONDS: "1", STEP_RETRY_MAX_DELAY_SECONDS: "1" },
    waitTimeOverrideMs: 600_000,
  });
});

afterAll(async () => {
  await server?.close();
});

async function activeTenant(): Promise<string> {
  const templates = await server.request("GET", `${API}/templates`);
  const basic = templates.body.items.find((t: any) => t.name === "Basic School System");
  const res = await server.request("POST", `${API}/templates/${basic.id}/provision`, {
    body: provisionBody(`dd-${randomUUID().slice(0, 8)}`, PASSWORD),
  });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  const run = await until(
    "the provisioning to finish",
    async () => (await server.request("GET", `${API}/progress/${res.body.id}`)).body,
    (r) => r.status !== "pending" && r.status !== "running",
  );
  expect(run.status, JSON.stringify(run)).toBe("completed");
  return run.tenantId;
}

const schemaExists = async (tenantId: string) =>
  numberValue(
    (
      await queryRows<{ n: unknown }>(
        server.database.db,
        sql`SELECT count(*) AS n FROM information_schema.schemata WHERE schema_name = ${`tenant_${tenantId.replace(/-/g, "")}`}`,
      )
    )[0]?.n,
  ) === 1;

describe("deprovisioning defaults", () => {
  it("a request without options keeps the backup and waits 24 h before deleting the data", async () => {
    // Prepare
    const tenantId = await activeTenant();

    // Act
    const res = await server.request("POST", `${API}/tenants/${tenantId}/deprovision`, { body: {} });
    const waiting = await until(
      "access to be disabled",
      async () => (await server.request("GET", `${API}/progress/${res.body.id}`)).body,
      (r) => r.steps.find((s: any) => s.name === "DisableAccess")?.status === "completed",
    );

    // Assess
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(waiting.metadata.options).toEqual(SAFE_DEFAULTS);
    expect(waiting.status).toBe("running");
    expect(waiting.steps.find((s: any) => s.name === "CleanupData").status).toBe("pending");
    const { disabledAt, deleteAfter } = waiting.metadata.access;
    expect(Date.parse(deleteAfter) - Date.parse(disabledAt)).toBeGreaterThanOrEqual(24 * 3600_000);
    expect(Date.parse(deleteAfter) - Date.parse(disabledAt)).toBeLessThan(24 * 3600_000 + 5000);
    expect(await schemaExists(tenantId)).toBe(true);
    const backups = await server.request("GET", `${API}/tenants/${tenantId}/backups`);
    expect(backups.body.items).toEqual([expect.objectContaining({ kind: "full", deletedAt: null })]);

    // Cleanup: give the tenant back.
    await server.request("POST", `${API}/progress/${res.body.id}/cancel`);
    await server.app.workflows.idle();
  });

  it("a dry run and a schedule without options report and store the same defaults", async () => {
    // Prepare
    const tenantId = await activeTenant();

    // Act
    const dry = await server.request("POST", `${API}/tenants/${tenantId}/deprovision`, {
      body: { dryRun: true },
    });
    const scheduled = await server.request("POST", `${API}/tenants/${tenantId}/schedule-deprovision`, {
      body: { at: new Date(Date.now() + 3600_000).toISOString() },
    });
    const listed = await server.request("GET", `${API}/schedules?tenantId=${tenantId}`);

    // Assess
    expect(dry.status, JSON.stringify(dry.body)).toBe(200);
    expect(dry.body.options).toEqual(SAFE_DEFAULTS);
    expect(scheduled.status, JSON.stringify(scheduled.body)).toBe(201);
    expect(scheduled.body.options).toEqual(SAFE_DEFAULTS);
    expect(listed.body.items[0].options).toEqual(SAFE_DEFAULTS);
    await server.request("DELETE", `${API}/schedules/${scheduled.body.id}`);
  });

  it("only an explicit gracePeriodHours 0 and preserveBackups false delete at once, backup included", async () => {
    // Prepare
    const tenantId = await activeTenant();

    // Act
    const res = await server.request("POST", `${API}/tenants/${tenantId}/deprovision`, {
      body: { gracePeriodHours: 0, preserveBackups: false },
    });
    const waiting = await until(
      "access to be disabled",
      async () => (await server.request("GET", `${API}/progress/${res.body.id}`)).body,
      (r) => r.steps.find((s: any) => s.name === "DisableAccess")?.status === "completed",
    );

    // Assess: the options as given; the data may go as soon as access is cut.
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(waiting.metadata.options).toEqual({
      ...SAFE_DEFAULTS,
      preserveBackups: false,
      gracePeriodHours: 0,
    });
    const { disabledAt, deleteAfter } = waiting.metadata.access;
    expect(Date.parse(deleteAfter) - Date.parse(disabledAt)).toBeLessThan(2000);

    // Cleanup: give the tenant back.
    await server.request("POST", `${API}/progress/${res.body.id}/cancel`);
    await server.app.workflows.idle();
  });

  it("the OpenAPI document gives the defaults and says them in the summary", async () => {
    // Act
    const doc = (await server.request("GET", "/api/openapi.json", { key: null })).body;

    // Assess
    for (const path of [`${API}/tenants/{id}/deprovision`, `${API}/tenants/{id}/schedule-deprovision`]) {
      const op = doc.paths[path].post;
      const props = op.requestBody.content["application/json"].schema.properties;
      expect(props.preserveBackups.default, path).toBe(true);
      expect(props.gracePeriodHours.default, path).toBe(24);
      expect(props.preserveAuditLogs.default, path).toBe(false);
      expect(props.notifyUsers.default, path).toBe(false);
      expect(props.gracePeriodHours.description, path).toMatch(/24/);
      expect(op.summary, path).toMatch(/keeps the backup/);
      expect(op.summary, path).toMatch(/24 h/);
    }
  });
});
