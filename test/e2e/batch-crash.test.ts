/**
 * The local server killed with SIGKILL in the middle of a batch and started again on the same
 * database (DATABASE_URL): the batch resumes and completes, and every child was started once —
 * one provisioning run, one tenant, one admin and one welcome notification per item, one
 * `tenant.provisioning.started` event per child.
 *
 * Another connection holds the tenant rows of the third and fourth items, so their CreateTenant
 * keeps retrying past its lock timeout once the first two have completed: the kill lands with two
 * children in flight and two not started yet.
 */
import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { createFreshPgDatabase } from "../support/database.ts";
import { crashTestEnv, killService, serviceHarness, stopService } from "../support/service-process.ts";
import { until as waitUntil } from "../support/wait.ts";

const BATCHES = "/api/provisioning/batches";
const harness = serviceHarness("tp-batch-crash-");

afterEach(async () => {
  await harness.cleanup();
});

const until = <T>(what: string, probe: () => Promise<T>, done: (v: T) => boolean) =>
  waitUntil(what, probe, done, 240_000, 20);

describe("a batch interrupted by SIGKILL", { timeout: 300_000 }, () => {
  it("resumes after a restart; every child is started and completed exactly once", async () => {
    // Prepare: a fresh database; six Basic items, two at a time.
    const fresh = await createFreshPgDatabase();
    harness.onCleanup(() => fresh.drop());
    const env = crashTestEnv(fresh.url, { INVITATION_BASE_URL: "https://app.example.org/set-password" });
    const dataDir = harness.tempDataDir();
    const { service: first, api: api1 } = await harness.startWithApi(env, dataDir);
    const templates = await api1("GET", "/api/provisioning/templates?limit=100");
    const basic = templates.body.items.find((t: any) => t.name === "Basic School System").id as string;
    const run = randomUUID().slice(0, 6);
    const slugs = Array.from({ length: 6 }, (_, i) => `crash-b${i}-${run}`);
    const locker = new pg.Client({ connectionString: fresh.url });
    await locker.connect();
    harness.onCleanup(async () => {
      await locker.end().catch(() => {});
    });

    // Act: hold items 2 and 3's tenant rows (reserved at acceptance), kill once 0 and 1 have
    // completed and 2 and 3 are running.
    const accepted = await api1("POST", BATCHES, {
      items: slugs.map((slug) => ({
        templateId: basic,
        slug,
        name: `Tenant ${slug}`,
        subdomain: slug,
        adminName: "Ada Admin",
        adminEmail: `admin@${slug}.example.org`,
      })),
      maxConcurrency: 2,
    });
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
    const batchId = accepted.body.id as string;
    await locker.query("BEGIN");
    const held = await locker.query("SELECT id FROM tenants WHERE slug = ANY($1) FOR NO KEY UPDATE", [
      slugs.slice(2, 4),
    ]);
    expect(held.rowCount).toBe(2);
    const atKill = await until(
      "two children completed and two in flight",
      async () => (await api1("GET", `${BATCHES}/${batchId}`)).body,
      (b) => b.counts.completed === 2 && b.counts.running === 2,
    );
    const killed = await killService(first);
    await locker.query("ROLLBACK");
    const { service: second, api: api2 } = await harness.startWithApi(env, dataDir);
    const done = await until(
      "the batch to finish",
      async () => (await api2("GET", `${BATCHES}/${batchId}`)).body,
      (b) => ["completed", "failed", "cancelled"].includes(b.status),
    );
    await stopService(second);

    // Assess: the kill landed mid-batch, and the batch completed every child in its first attempt
    expect(killed).toBe("SIGKILL");
    expect(atKill.status).toBe("running");
    expect(atKill.counts).toMatchObject({ completed: 2, running: 2, queued: 2 });
    expect(done.status, JSON.stringify(done).slice(0, 2000)).toBe("completed");
    expect(done.counts).toEqual({ queued: 0, pending: 0, running: 0, completed: 6, failed: 0, cancelled: 0 });
    expect(done.children.items.map((c: any) => [c.slug, c.status, c.attempt])).toEqual(
      slugs.map((s) => [s, "completed", 1]),
    );

    // Assess: in the database, one of everything per item
    const check = new pg.Client({ connectionString: fresh.url });
    await check.connect();
    try {
      const perSlug = async (text: string) =>
        Object.fromEntries((await check.query(text, [slugs])).rows.map((r) => [r.slug, Number(r.n)]));
      const once = Object.fromEntries(slugs.map((s) => [s, 1]));
      expect(
        await perSlug(`SELECT t.slug, count(*) AS n FROM tenants t WHERE t.slug = ANY($1) GROUP BY t.slug`),
      ).toEqual(once);
      expect(
        await perSlug(`SELECT t.slug, count(*) AS n FROM tenant_provisioning_progress p
          JOIN tenants t ON t.id = p.tenant_id WHERE t.slug = ANY($1) AND p.kind = 'provision' GROUP BY t.slug`),
      ).toEqual(once);
      expect(
        await perSlug(`SELECT t.slug, count(*) AS n FROM event_outbox e JOIN tenant_provisioning_progress p
          ON p.id = e.run_id JOIN tenants t ON t.id = p.tenant_id
          WHERE t.slug = ANY($1) AND e.type = 'tenant.provisioning.started' GROUP BY t.slug`),
      ).toEqual(once);
      expect(
        await perSlug(`SELECT t.slug, count(*) AS n FROM users u JOIN tenants t ON t.id = u.tenant_id
          WHERE t.slug = ANY($1) AND u.role = 'tenant_admin' GROUP BY t.slug`),
      ).toEqual(once);
      expect(
        await perSlug(`SELECT t.slug, count(*) AS n FROM notifications_outbox o JOIN tenants t ON t.id = o.tenant_id
          WHERE t.slug = ANY($1) GROUP BY t.slug`),
      ).toEqual(once);
      const steps = await check.query(
        `SELECT p.steps FROM tenant_provisioning_progress p WHERE p.parent_id = $1::uuid`,
        [batchId],
      );
      expect(steps.rows).toHaveLength(6);
      for (const r of steps.rows) {
        const initialData = r.steps.find((s: any) => s.name === "CreateInitialData");
        expect(initialData).toMatchObject({ status: "completed", attempts: 1 });
      }
    } finally {
      await check.end();
    }
  });
});
