/**
 * Scheduled provisioning through HTTP on the database TEST_DATABASE names: the schedule runs the
 * real provisioning ASL (starting at StartScheduledRun, started by the local schedule poller) at
 * its time; its slug and subdomain are refused to everyone else until then; cancelling it through
 * the schedules endpoint frees them. A scheduled batch (POST /schedule-batch) likewise: written at
 * once, started by its schedule through the batch ASL's StartScheduledRun, its names held until
 * then, cancelled with its schedule.
 */
import { randomUUID } from "node:crypto";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyPassword } from "../../functions/domain/auth/password.ts";
import { resumeUnfinishedRuns } from "../../functions/domain/runs/run-control.ts";
import { silentLogger } from "../../functions/shared/logger.ts";
import { expectApiError } from "../support/api-errors.ts";
import { provisionBody } from "../support/provision-body.ts";
import { API, runHelpers } from "../support/runs.ts";
import { startTestServer, type TestServer } from "../support/server.ts";
import { until } from "../support/wait.ts";

const PASSWORD = `Falcon!Cobalt-${randomUUID().slice(0, 8)}-Harbour`;

let server: TestServer;
const { settle, rows, countOf, templateId } = runHelpers(() => server);

const slugOf = () => `sch-${randomUUID().slice(0, 8)}`;
const inAnHour = () => new Date(Date.now() + 3_600_000).toISOString();

async function scheduleProvision(body: Record<string, unknown>) {
  return server.request(
    "POST",
    `${API}/templates/${await templateId("Basic School System")}/schedule-provision`,
    {
      body,
    },
  );
}

async function provisionNow(body: Record<string, unknown>) {
  return server.request("POST", `${API}/templates/${await templateId("Basic School System")}/provision`, {
    body,
  });
}

async function scheduleOf(id: string): Promise<any> {
  const res = await server.request("GET", `${API}/schedules?kind=provision&limit=200`);
  expect(res.status).toBe(200);
  return res.body.items.find((s: { id: string }) => s.id === id);
}

async function tenantRow(id: string) {
  const [row] = await rows<{ slug: string | null; subdomain: string | null; status: string }>(
    sql`SELECT slug, subdomain, status FROM tenants WHERE id = ${id}::uuid`,
  );
  return row;
}

beforeAll(async () => {
  server = await startTestServer({
    env: { SCHEDULE_POLL_INTERVAL_MS: "200", INVITATION_BASE_URL: "https://app.example.org/set-password" },
  });
});

afterAll(async () => {
  await server?.close();
});

describe("scheduled provisioning", { timeout: 180_000 }, () => {
  it("runs at its time: the reserved tenant row becomes the tenant, with the admin password given", async () => {
    // Prepare
    const slug = slugOf();
    const at = new Date(Date.now() + 2_500).toISOString();

    // Act
    const created = await scheduleProvision({ ...provisionBody(slug, PASSWORD), at });
    const before = await tenantRow(created.body.tenantId);
    const runsBefore = await countOf(
      sql`SELECT count(*) AS n FROM tenant_provisioning_progress WHERE tenant_id = ${created.body.tenantId}::uuid`,
    );
    const started = await until(
      "the schedule to start its run",
      () => scheduleOf(created.body.id),
      (s) => s?.status === "started" && s.progressId !== null,
    );
    const run = await settle(started.progressId);

    // Assess: the schedule as created
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body).toMatchObject({
      kind: "provision",
      status: "scheduled",
      runAt: at,
      options: {
        slug,
        subdomain: slug,
        invited: false,
        templateId: await templateId("Basic School System"),
        templateVersion: 1,
      },
    });
    expect(JSON.stringify(created.body)).not.toContain(PASSWORD);
    expect(JSON.stringify(created.body)).not.toContain("argon2");
    expect(before).toEqual({ slug, subdomain: slug, status: "scheduled" });
    expect(runsBefore).toBe(0);
    // Assess: it ran no earlier than its time, as an ordinary provisioning run of that tenant
    expect(run.status).toBe("completed");
    expect(run.id).toBe(created.body.id);
    expect(run.tenantId).toBe(created.body.tenantId);
    expect(Date.parse(run.createdAt)).toBeGreaterThanOrEqual(Date.parse(at));
    expect(await tenantRow(created.body.tenantId)).toEqual({ slug, subdomain: slug, status: "active" });
    const [admin] = await rows<{ password_hash: string }>(
      sql`SELECT password_hash FROM users WHERE tenant_id = ${run.tenantId}::uuid AND role = 'tenant_admin'`,
    );
    expect(await verifyPassword(PASSWORD, admin!.password_hash)).toBe(true);
    // The hash left the schedule with the run; neither the password nor its hash is in the answer.
    expect(
      await countOf(
        sql`SELECT count(*) AS n FROM scheduled_operations WHERE id = ${created.body.id}::uuid AND admin_password_hash IS NOT NULL`,
      ),
    ).toBe(0);
    expect(server.logs.join("\n")).not.toContain(PASSWORD);
  });

  it("refuses its slug and subdomain to others meanwhile; cancelling frees them and it never runs", async () => {
    // Prepare
    const slug = slugOf();
    const created = await scheduleProvision({ ...provisionBody(slug, PASSWORD), at: inAnHour() });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const other = slugOf();

    // Act: the names while the schedule waits
    const sameSlug = await provisionNow({ ...provisionBody(slug, PASSWORD), subdomain: other });
    const sameSubdomain = await provisionNow({ ...provisionBody(other, PASSWORD), subdomain: slug });
    const scheduledAgain = await scheduleProvision({ ...provisionBody(slug, PASSWORD), at: inAnHour() });

    // Assess
    expectApiError(sameSlug, 409, { field: "slug" });
    expectApiError(sameSubdomain, 409, { field: "subdomain" });
    expectApiError(scheduledAgain, 409, { field: "slug" });

    // Act: cancel, then take the names
    const cancelled = await server.request("DELETE", `${API}/schedules/${created.body.id}`);
    const cancelledAgain = await server.request("DELETE", `${API}/schedules/${created.body.id}`);
    const taken = await provisionNow(provisionBody(slug, PASSWORD));

    // Assess
    expect(cancelled.status, JSON.stringify(cancelled.body)).toBe(200);
    expect(cancelled.body).toMatchObject({ status: "cancelled", kind: "provision" });
    expectApiError(cancelledAgain, 409);
    expect(taken.status, JSON.stringify(taken.body)).toBe(202);
    expect((await settle(taken.body.id)).status).toBe("completed");
    expect(await tenantRow(created.body.tenantId)).toEqual({
      slug: null,
      subdomain: null,
      status: "cancelled",
    });
    expect(
      await countOf(
        sql`SELECT count(*) AS n FROM tenant_provisioning_progress WHERE tenant_id = ${created.body.tenantId}::uuid`,
      ),
    ).toBe(0);
    expect(
      await countOf(
        sql`SELECT count(*) AS n FROM scheduled_operations WHERE id = ${created.body.id}::uuid AND admin_password_hash IS NOT NULL`,
      ),
    ).toBe(0);
  });

  it("checks everything when scheduling, writing nothing for a bad request", async () => {
    // Prepare
    const slug = slugOf();
    const tenants = await countOf(sql`SELECT count(*) AS n FROM tenants`);
    const schedules = await countOf(sql`SELECT count(*) AS n FROM scheduled_operations`);

    // Act
    const past = await scheduleProvision({
      ...provisionBody(slug, PASSWORD),
      at: new Date(Date.now() - 60_000).toISOString(),
    });
    const noAt = await scheduleProvision(provisionBody(slug, PASSWORD));
    const badSlug = await scheduleProvision({ ...provisionBody("Not_A_Slug", PASSWORD), at: inAnHour() });
    const shortPassword = await scheduleProvision({ ...provisionBody(slug, "short-pw-11"), at: inAnHour() });
    const unknownTemplate = await server.request(
      "POST",
      `${API}/templates/${randomUUID()}/schedule-provision`,
      {
        body: { ...provisionBody(slug, PASSWORD), at: inAnHour() },
      },
    );

    // Assess
    expectApiError(past, 400, { field: "at" });
    expectApiError(noAt, 400, { field: "at" });
    expectApiError(badSlug, 400, { field: "slug" });
    expectApiError(shortPassword, 400, { field: "adminPassword" });
    expectApiError(unknownTemplate, 404);
    expect(await countOf(sql`SELECT count(*) AS n FROM tenants`)).toBe(tenants);
    expect(await countOf(sql`SELECT count(*) AS n FROM scheduled_operations`)).toBe(schedules);
  });
});

describe("scheduled batches", { timeout: 180_000 }, () => {
  const batchItem = async (slug: string) => ({
    templateId: await templateId("Basic School System"),
    slug,
    name: `Tenant ${slug}`,
    subdomain: slug,
    adminName: "Ada Admin",
    adminEmail: `admin@${slug}.example.org`,
  });
  const scheduleBatch = async (slugs: string[], at: string, firstPassword?: string) => {
    const items: Record<string, unknown>[] = await Promise.all(slugs.map(batchItem));
    if (firstPassword) items[0] = { ...items[0], adminPassword: firstPassword };
    return server.request("POST", `${API}/schedule-batch`, { body: { at, items, maxConcurrency: 3 } });
  };
  const tenantsOf = (slugs: string[]) =>
    rows<{ slug: string; status: string }>(
      sql`SELECT slug, status FROM tenants WHERE slug IN (SELECT unnest(${`{${slugs.join(",")}}`}::text[])) ORDER BY slug`,
    );

  it("runs at its time: the batch written when it was scheduled starts, and provisions every item", async () => {
    // Prepare
    const slugs = [slugOf(), slugOf(), slugOf()].sort();
    const at = new Date(Date.now() + 2_500).toISOString();

    // Act
    const created = await scheduleBatch(slugs, at);
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const batchBefore = (await server.request("GET", `${API}/batches/${created.body.options.batchId}`)).body;
    const tenantsBefore = await tenantsOf(slugs);
    const started = await until(
      "the schedule to start its batch",
      async () =>
        (await server.request("GET", `${API}/schedules?kind=batch&limit=200`)).body.items.find(
          (s: { id: string }) => s.id === created.body.id,
        ),
      (s) => s?.status === "started",
    );
    const batch = await settle(created.body.options.batchId);
    const done = (await server.request("GET", `${API}/batches/${batch.id}`)).body;

    // Assess: the schedule as created, the batch waiting with its names held
    expect(created.body).toMatchObject({
      kind: "batch",
      tenantId: null,
      status: "scheduled",
      runAt: at,
      progressId: created.body.options.batchId,
      options: { items: 3, maxConcurrency: 3, toleratedFailurePercent: 0 },
    });
    expect(batchBefore).toMatchObject({ status: "pending", total: 3, counts: { queued: 3 } });
    expect(tenantsBefore).toEqual(slugs.map((slug) => ({ slug, status: "scheduled" })));
    // Assess: it started no earlier than its time and provisioned every item once
    expect(started.progressId).toBe(batch.id);
    expect(batch.kind).toBe("batch");
    expect(Date.parse(batch.startedAt)).toBeGreaterThanOrEqual(Date.parse(at));
    expect(done).toMatchObject({ status: "completed", counts: { completed: 3, queued: 0 } });
    expect(await tenantsOf(slugs)).toEqual(slugs.map((slug) => ({ slug, status: "active" })));
    expect(
      await countOf(
        sql`SELECT count(*) AS n FROM tenant_provisioning_progress WHERE parent_id = ${batch.id}::uuid AND kind = 'provision'`,
      ),
    ).toBe(3);
  });

  it("refuses its slugs to others meanwhile; cancelling its schedule cancels the batch and frees them", async () => {
    // Prepare
    const slugs = [slugOf(), slugOf()];
    const created = await scheduleBatch(slugs, inAnHour(), PASSWORD);
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const batchId = created.body.options.batchId as string;

    // Act: the names while the schedule waits
    const sameSlug = await provisionNow({ ...provisionBody(slugs[0]!, PASSWORD), subdomain: slugOf() });
    const inABatch = await server.request("POST", `${API}/batches`, {
      body: { items: [await batchItem(slugs[1]!)] },
    });
    const listed = await server.request("GET", `${API}/schedules?kind=batch&status=scheduled&limit=200`);

    // Assess
    expectApiError(sameSlug, 409, { field: "slug" });
    expectApiError(inABatch, 400, { code: "validation_error" });
    expect(listed.body.items.map((s: { id: string }) => s.id)).toContain(created.body.id);
    const secrets = sql`SELECT count(*) AS n FROM provisioning_secrets WHERE progress_id IN
      (SELECT id FROM tenant_provisioning_progress WHERE parent_id = ${batchId}::uuid)`;
    expect(await countOf(secrets)).toBe(1);
    expect(JSON.stringify(created.body)).not.toContain(PASSWORD);
    // What a restart resumes leaves it waiting for its time.
    const resumed = await resumeUnfinishedRuns({
      db: server.database.db,
      workflows: server.app.workflows,
      logger: silentLogger,
      clock: () => new Date(),
    });
    expect(resumed).not.toContain(batchId);
    // Its batch is cancelled with its schedule, not on its own.
    expectApiError(await server.request("POST", `${API}/batches/${batchId}/cancel`), 409, {
      code: "conflict",
    });

    // Act: cancel, then take the names
    const cancelled = await server.request("DELETE", `${API}/schedules/${created.body.id}`);
    const taken = await provisionNow(provisionBody(slugs[0]!, PASSWORD));

    // Assess
    expect(cancelled.status, JSON.stringify(cancelled.body)).toBe(200);
    expect(cancelled.body).toMatchObject({ status: "cancelled", kind: "batch" });
    expect(taken.status, JSON.stringify(taken.body)).toBe(202);
    expect((await settle(taken.body.id)).status).toBe("completed");
    const batch = (await server.request("GET", `${API}/batches/${batchId}`)).body;
    expect(batch).toMatchObject({ status: "cancelled", counts: { cancelled: 2, queued: 0 } });
    expect(
      await countOf(
        sql`SELECT count(*) AS n FROM tenants WHERE id IN (SELECT tenant_id FROM tenant_provisioning_progress WHERE parent_id = ${batchId}::uuid) AND slug IS NULL AND status = 'cancelled'`,
      ),
    ).toBe(2);
    expect(await countOf(secrets)).toBe(0);
  });
});
