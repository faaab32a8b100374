/**
 * What the web console (and the CLI) need from the API beside the resources themselves: who the
 * key is (`GET /whoami`, so a tenant_admin is shown only what it may do), runs and tenants that
 * name their tenant and template (not only UUIDs), and the console's contract module generated
 * from the route table and the zod schemas (`/contract.js`).
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { routeList } from "../../functions/http/route-table.ts";
import {
  deprovisioningOptionsSchema,
  MAX_GRACE_PERIOD_HOURS,
  TENANT_STATUSES,
} from "../../functions/schemas/deprovisioning.ts";
import { RUN_KINDS, RUN_STATUSES } from "../../functions/schemas/progress.ts";
import { expectApiError } from "../support/api-errors.ts";
import { provisionBody } from "../support/provision-body.ts";
import { startTestServer, type TestServer } from "../support/server.ts";
import { until } from "../support/wait.ts";

const API = "/api/provisioning";
const PASSWORD = `Lichen-Brass-${randomUUID().slice(0, 8)}-Cove`;

let server: TestServer;
let tenantId: string;
let slug: string;
let provisionRunId: string;
let tenantKey: string;

beforeAll(async () => {
  server = await startTestServer({ waitTimeOverrideMs: 600_000 });
  const templates = await server.request("GET", `${API}/templates`);
  const basic = templates.body.items.find((t: any) => t.name === "Basic School System");
  slug = `ca-${randomUUID().slice(0, 8)}`;
  const res = await server.request("POST", `${API}/templates/${basic.id}/provision`, {
    body: provisionBody(slug, PASSWORD),
  });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  provisionRunId = res.body.id;
  const run = await until(
    "the provisioning to finish",
    async () => (await server.request("GET", `${API}/progress/${provisionRunId}`)).body,
    (r) => r.status !== "pending" && r.status !== "running",
  );
  expect(run.status, JSON.stringify(run)).toBe("completed");
  tenantId = run.tenantId;
  const key = await server.request("POST", `${API}/keys`, {
    body: { name: "console tenant admin", role: "tenant_admin", tenantId },
  });
  tenantKey = key.body.key;
});

afterAll(async () => {
  await server?.close();
});

describe("GET /whoami", () => {
  it("says which key is calling, its role and tenant; without a key it is a 401", async () => {
    // Act
    const admin = await server.request("GET", `${API}/whoami`);
    const tenant = await server.request("GET", `${API}/whoami`, { key: tenantKey });
    const none = await server.request("GET", `${API}/whoami`, { key: null });

    // Assess
    expect(admin.status, JSON.stringify(admin.body)).toBe(200);
    expect(admin.body).toMatchObject({ keyId: expect.any(String), role: "admin", tenantId: null });
    expect(tenant.status).toBe(200);
    expect(tenant.body).toMatchObject({ role: "tenant_admin", tenantId, name: "console tenant admin" });
    expect(JSON.stringify(tenant.body)).not.toContain(tenantKey);
    expectApiError(none, 401);
  });
});

describe("runs and tenants name what they refer to", () => {
  it("every run of a tenant carries its name and slug, in the list and alone, for every kind", async () => {
    // Prepare: a deprovisioning run beside the provisioning one (cancelled during its grace period).
    const deprovision = await server.request("POST", `${API}/tenants/${tenantId}/deprovision`, {
      body: { gracePeriodHours: 1 },
    });
    expect(deprovision.status, JSON.stringify(deprovision.body)).toBe(202);
    await until(
      "access to be disabled",
      async () => (await server.request("GET", `${API}/progress/${deprovision.body.id}`)).body,
      (r) => r.steps.find((s: any) => s.name === "DisableAccess")?.status === "completed",
    );
    await server.request("POST", `${API}/progress/${deprovision.body.id}/cancel`);
    await server.app.workflows.idle();

    // Act
    const list = await server.request("GET", `${API}/progress?tenantId=${tenantId}`);
    const one = await server.request("GET", `${API}/progress/${deprovision.body.id}`);
    const asTenant = await server.request("GET", `${API}/progress`, { key: tenantKey });

    // Assess
    const expected = { name: `Tenant ${slug}`, slug, status: "active", cell: "main" };
    expect(list.body.items.map((r: any) => [r.kind, r.tenant])).toEqual([
      ["deprovision", expected],
      ["provision", expected],
    ]);
    expect(one.body.tenant).toEqual(expected);
    expect(asTenant.body.items.every((r: any) => r.tenant?.slug === slug)).toBe(true);
  });

  it("tenants name their template", async () => {
    // Act
    const list = await server.request("GET", `${API}/tenants`);

    // Assess
    const mine = list.body.items.find((t: any) => t.id === tenantId);
    expect(mine).toMatchObject({ slug, templateName: "Basic School System" });
  });
});

describe("GET /contract.js", () => {
  async function contract(): Promise<{ text: string; res: Response; module: any }> {
    const res = await fetch(`${server.url}/contract.js`);
    const text = await res.text();
    const module = await import(`data:text/javascript;base64,${Buffer.from(text).toString("base64")}`);
    return { text, res, module };
  }

  it("is a JavaScript module served under the console's CSP", async () => {
    // Act
    const { res } = await contract();

    // Assess
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(res.headers.get("content-security-policy")).toContain("script-src 'self'");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
  });

  it("holds every route of the route table (method, path, access) and nothing else", async () => {
    // Act
    const { module } = await contract();

    // Assess
    const expected = Object.fromEntries(
      routeList().map((r) => [r.operationId, { method: r.method, path: r.path, access: r.access }]),
    );
    expect(module.OPERATIONS).toEqual(expected);
  });

  it("holds the API's enums and the deprovisioning options with their defaults and limits", async () => {
    // Act
    const { module } = await contract();

    // Assess
    expect(module.ENUMS.runStatuses).toEqual([...RUN_STATUSES]);
    expect(module.ENUMS.runKinds).toEqual([...RUN_KINDS]);
    expect(module.ENUMS.tenantStatuses).toEqual([...TENANT_STATUSES]);
    expect(module.WORKFLOW_OF_RUN_KIND).toEqual({
      provision: "provisioning",
      deprovision: "deprovisioning",
      restore: "restore",
      batch: "batch",
      upgrade: "upgrade",
      rollout: "rollout",
    });
    const defaults = deprovisioningOptionsSchema.parse({});
    const options = Object.fromEntries(module.DEPROVISIONING_OPTIONS.map((o: any) => [o.name, o]));
    expect(Object.keys(options).sort()).toEqual(Object.keys(defaults).sort());
    for (const [name, value] of Object.entries(defaults)) {
      expect(options[name].default, name).toBe(value);
      expect(options[name].type, name).toBe(typeof value);
      expect(options[name].description, name).toEqual(expect.any(String));
    }
    expect(options.gracePeriodHours).toMatchObject({ minimum: 0, maximum: MAX_GRACE_PERIOD_HOURS });
  });
});
