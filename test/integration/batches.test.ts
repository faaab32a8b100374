/**
 * Bulk provisioning through HTTP on the database TEST_DATABASE names: a batch is checked whole
 * against the database (names held by existing tenants), its children are ordinary provisioning
 * runs, a failed child counts against the failure budget, an exceeded budget stops the batch from
 * starting children, one call retries what did not complete, cancel cancels the children that
 * have not ended, and an Idempotency-Key replays the batch.
 */
import { randomUUID } from "node:crypto";
import { sql } from "drizzle-orm";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { expectApiError } from "../support/api-errors.ts";
import { testDatabaseKind } from "../support/database.ts";
import { failInserts, tenantWithSlug, tenantWithSlugIn } from "../support/fault-injection.ts";
import { API, runHelpers, TERMINAL } from "../support/runs.ts";
import { startTestServer, type TestServer } from "../support/server.ts";
import { until } from "../support/wait.ts";

const BATCHES = `${API}/batches`;

let server: TestServer;
const { templateId, countOf, progressOf } = runHelpers(() => server);
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  server = await startTestServer({ env: { INVITATION_BASE_URL: "https://app.example.org/set-password" } });
});

afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

afterAll(async () => {
  await server?.close();
});

/**
 * The failure-budget test's batch: the issue's 50 items with 10 failing on PostgreSQL (7 s); 10
 * with 2 on PGlite and the Data API, where 50 took 11–12 s instead of 2–2.5 s (a suite near its
 * time budget runs each integration file three times).
 */
const FLEET =
  testDatabaseKind === "postgres"
    ? { size: 50, faulty: 10, tolerated: 5 }
    : { size: 10, faulty: 2, tolerated: 1 };

const slugOf = (prefix: string) => `${prefix}-${randomUUID().slice(0, 8)}`;

async function item(slug: string, extra: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
  return {
    templateId: await templateId("Basic School System"),
    slug,
    name: `Tenant ${slug}`,
    subdomain: slug,
    adminName: "Ada Admin",
    adminEmail: `admin@${slug}.example.org`,
    ...extra,
  };
}

/** Makes every run of the tenants `slugs` fail at CreateAdminUser (a permanent check violation). */
async function failAdminOf(...slugs: string[]): Promise<() => Promise<void>> {
  const remove = await failInserts((s) => server.database.db.execute(sql.raw(s)), {
    name: `test_batch_fail_${slugs[0]}`,
    table: "users",
    when: slugs.length === 1 ? tenantWithSlug(slugs[0]!) : tenantWithSlugIn(slugs),
    sqlstate: "23514",
    message: "'injected failure for %', NEW.email",
  });
  cleanups.push(remove);
  return remove;
}

async function batchOf(id: string, query = ""): Promise<any> {
  const res = await server.request("GET", `${BATCHES}/${id}${query}`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

/** Waits for the batch to end and for every execution (its children's too) to stop. */
async function settleBatch(id: string, timeoutMs = 60_000): Promise<any> {
  await until(
    `batch ${id} to end`,
    () => batchOf(id),
    (b) => TERMINAL.includes(b.status),
    timeoutMs,
  );
  await server.app.workflows.idle();
  return batchOf(id);
}

async function startBatch(body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<any> {
  const res = await server.request("POST", BATCHES, { body, headers });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body;
}

describe("bulk provisioning", () => {
  it("refuses a batch of 50 whole, naming the 3 invalid items, when names clash within it or with existing tenants", async () => {
    const first = await startBatch({ items: [await item(slugOf("dup"))] });
    const taken = first.children.items[0].slug as string;
    const before = await countOf(sql`SELECT count(*) AS n FROM tenants`);
    const items = await Promise.all(Array.from({ length: 50 }, () => item(slugOf("ok"))));
    // 12: an existing tenant's names; 30: item 0's subdomain; 47: no such template.
    items[12] = await item(taken);
    items[30] = await item(slugOf("x"), { subdomain: items[0]!.slug });
    items[47] = await item(slugOf("y"), { templateId: randomUUID() });
    const res = await server.request("POST", BATCHES, { body: { items } });
    expectApiError(res, 400, { code: "validation_error" });
    const fields = (res.body.error.details.fields as { field: string }[]).map((f) => f.field).sort();
    expect(fields).toEqual([
      "items[12].slug",
      "items[12].subdomain",
      "items[30].subdomain",
      "items[47].templateId",
    ]);
    expect(res.body.error.message).toMatch(/^3 of 50 items are invalid/);
    expect(await countOf(sql`SELECT count(*) AS n FROM tenants`)).toBe(before);
    expect((await settleBatch(first.id)).status).toBe("completed");
  });

  it("completes within the failure budget, then retries the failed child in one call", async () => {
    const slugs = [slugOf("b1"), slugOf("b2"), slugOf("b3"), slugOf("b4")];
    const remove = await failAdminOf(slugs[2]!);
    const accepted = await startBatch({
      items: await Promise.all(slugs.map((s) => item(s))),
      maxConcurrency: 4,
      toleratedFailurePercent: 25,
    });
    expect(accepted).toMatchObject({ total: 4, toleratedFailures: 1, maxConcurrency: 4 });
    const done = await settleBatch(accepted.id);
    expect(done.status).toBe("completed");
    expect(done.counts).toEqual({ queued: 0, pending: 0, running: 0, completed: 3, failed: 1, cancelled: 0 });
    expect(done.warnings.map((w: any) => w.code)).toEqual(["children_not_completed"]);
    const failed = done.children.items.find((c: any) => c.status === "failed");
    expect(failed.slug).toBe(slugs[2]);
    // The child is an ordinary run: its own record names the failed step.
    const child = await progressOf(failed.id);
    expect(child).toMatchObject({ kind: "provision", batchId: accepted.id });
    expect(child.steps.find((s: any) => s.name === "CreateAdminUser").status).toBe("failed");

    await remove();
    const retry = await server.request("POST", `${BATCHES}/${accepted.id}/retry`);
    expect(retry.status, JSON.stringify(retry.body)).toBe(202);
    const again = await settleBatch(accepted.id);
    expect(again).toMatchObject({ status: "completed", attempt: 2 });
    // Warnings are the batch's history: the first attempt's stays, the second added none.
    expect(again.warnings).toHaveLength(1);
    expect(again.counts.completed).toBe(4);
    expect((await progressOf(failed.id)).attempt).toBe(2);
    // Completed children were not started again.
    const attempts = again.children.items.map((c: any) => c.attempt).sort();
    expect(attempts).toEqual([1, 1, 1, 2]);
    const retryAgain = await server.request("POST", `${BATCHES}/${accepted.id}/retry`);
    expectApiError(retryAgain, 409, { code: "conflict" });
  });

  it(`stops a batch of ${FLEET.size} once ${FLEET.faulty} failing children exceed 10 %, says so, and completes all on retry`, async () => {
    // Prepare: the first items fail at CreateAdminUser; at most (faulty - tolerated) at a time, so
    // every child started before the budget is exceeded is one of them.
    const { size, faulty, tolerated } = FLEET;
    const slugs = Array.from({ length: size }, (_, i) => slugOf(`f${i}`));
    const remove = await failAdminOf(...slugs.slice(0, faulty));
    const accepted = await startBatch({
      items: await Promise.all(slugs.map((s) => item(s))),
      maxConcurrency: faulty - tolerated,
      toleratedFailurePercent: 10,
    });
    expect(accepted).toMatchObject({ total: size, toleratedFailures: tolerated });

    // Act
    const stopped = await settleBatch(accepted.id);
    await remove();
    const retry = await server.request("POST", `${BATCHES}/${accepted.id}/retry`);
    expect(retry.status, JSON.stringify(retry.body)).toBe(202);
    const done = await settleBatch(accepted.id, 240_000);

    // Assess: the budget stopped the batch once exceeded; none of the items that would not fail started
    expect(stopped.status).toBe("failed");
    expect(stopped.counts.completed).toBe(0);
    expect(stopped.counts.failed).toBeGreaterThan(tolerated);
    expect(stopped.counts.failed + stopped.counts.queued).toBe(size);
    expect(stopped.budgetExceeded).toMatchObject({ tolerated });
    expect(stopped.budgetExceeded.failed).toBeGreaterThan(tolerated);
    expect(stopped.error).toMatch(
      new RegExp(
        `BatchFailureBudgetExceededError: ${stopped.counts.failed} of ${size} children failed.*${stopped.counts.queued} not started`,
      ),
    );
    const queued = stopped.children.items.filter((c: any) => c.queued);
    expect(queued).toHaveLength(stopped.counts.queued);
    expect(queued.every((c: any) => c.attempt === 1 && c.currentStep === null)).toBe(true);
    // Assess: the retry completed every child, each provisioned once, one active tenant per item
    expect(done).toMatchObject({ status: "completed", attempt: 2, budgetExceeded: null });
    expect(done.counts).toEqual({
      queued: 0,
      pending: 0,
      running: 0,
      completed: size,
      failed: 0,
      cancelled: 0,
    });
    const attempts = done.children.items.map((c: any) => c.attempt);
    expect(attempts.filter((a: number) => a === 2)).toHaveLength(stopped.counts.failed);
    expect(
      await countOf(
        sql`SELECT count(*) AS n FROM tenants WHERE status = 'active' AND slug IN (SELECT unnest(${`{${slugs.join(",")}}`}::text[]))`,
      ),
    ).toBe(size);
    expect(
      await countOf(
        sql`SELECT count(*) AS n FROM tenant_provisioning_progress WHERE parent_id = ${accepted.id}::uuid AND kind = 'provision'`,
      ),
    ).toBe(size);
  });

  it("cancels the children that have not ended with their batch", async () => {
    const slugs = [slugOf("d1"), slugOf("d2"), slugOf("d3")];
    const accepted = await startBatch({
      items: await Promise.all(slugs.map((s) => item(s))),
      maxConcurrency: 1,
    });
    const res = await server.request("POST", `${BATCHES}/${accepted.id}/cancel`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.status).toBe("cancelled");
    const done = await settleBatch(accepted.id);
    expect(done.counts.queued + done.counts.pending + done.counts.running).toBe(0);
    expect(done.counts.cancelled).toBeGreaterThanOrEqual(2);
    for (const c of done.children.items.filter((x: any) => x.status === "cancelled")) {
      const tenant = await server.request("GET", `${API}/tenants/${c.tenantId}`);
      expect(tenant.body.status).toBe("cancelled");
    }
    expectApiError(await server.request("POST", `${BATCHES}/${accepted.id}/cancel`), 409, {
      code: "conflict",
    });
  });

  it("finishes a batch that a stopped process left running, starting no child twice", async () => {
    // Prepare: a server of its own, stopped while the batch is between children
    const env = { INVITATION_BASE_URL: "https://app.example.org/set-password" };
    // After a restart an iteration may poll its child before start-up has resumed it: it then
    // waits in the ASL's WaitForChild (10 s), shortened here.
    const first = await startTestServer({ env, waitTimeOverrideMs: 50 });
    let second: TestServer | undefined;
    cleanups.push(() => (second ?? first).close());
    // The first server's own template (each test server seeds its own defaults).
    const templates = await first.request("GET", `${API}/templates?limit=100`);
    const basic = templates.body.items.find((t: any) => t.name === "Basic School System").id as string;
    const ids = await Promise.all(
      [slugOf("r1"), slugOf("r2"), slugOf("r3"), slugOf("r4")].map((s) => item(s, { templateId: basic })),
    );
    const accepted = await first.request("POST", BATCHES, { body: { items: ids, maxConcurrency: 1 } });
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
    const batchId = accepted.body.id as string;
    await until(
      "the first child to complete",
      async () => (await first.request("GET", `${BATCHES}/${batchId}`)).body,
      (b) => b.counts.completed >= 1,
    );
    await first.stop();
    const stopped = await first.database.db.execute(
      sql`SELECT status FROM tenant_provisioning_progress WHERE id = ${batchId}::uuid`,
    );
    expect(((stopped as any).rows ?? stopped)[0].status).toBe("running");

    // Act
    second = await startTestServer({ env, restartOf: first, waitTimeOverrideMs: 50 });
    const server2 = second;
    await until(
      `batch ${batchId} to end`,
      async () => (await server2.request("GET", `${BATCHES}/${batchId}`)).body,
      (b) => TERMINAL.includes(b.status),
    );
    await server2.app.workflows.idle();
    const done = (await server2.request("GET", `${BATCHES}/${batchId}`)).body;

    // Assess: every child completed in its first attempt, each started (and so provisioned) once
    expect(done.status).toBe("completed");
    expect(done.children.items.map((c: any) => [c.status, c.attempt])).toEqual(
      Array(4).fill(["completed", 1]),
    );
    const started = await server2.database.db.execute(
      sql`SELECT run_id, count(*) AS n FROM event_outbox WHERE type = 'tenant.provisioning.started'
          AND run_id IN (SELECT id FROM tenant_provisioning_progress WHERE parent_id = ${batchId}::uuid) GROUP BY run_id`,
    );
    const rows = ((started as any).rows ?? started) as { n: unknown }[];
    expect(rows.map((r) => Number(r.n))).toEqual([1, 1, 1, 1]);
  });

  it("replays a batch for the same Idempotency-Key and refuses the key with another body", async () => {
    const key = `batch-${randomUUID()}`;
    const body = { items: [await item(slugOf("e1"))] };
    const first = await startBatch(body, { "idempotency-key": key });
    const res = await server.request("POST", BATCHES, { body, headers: { "idempotency-key": key } });
    expect(res.status).toBe(202);
    expect(res.headers.get("idempotent-replay")).toBe("true");
    expect(res.body.id).toBe(first.id);
    const other = await server.request("POST", BATCHES, {
      body: { items: [await item(slugOf("e2"))] },
      headers: { "idempotency-key": key },
    });
    expectApiError(other, 409, { code: "conflict" });
    expect((await settleBatch(first.id)).counts.completed).toBe(1);
  });
});
