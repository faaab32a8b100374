/**
 * Template upgrade rollouts through HTTP on the database TEST_DATABASE names: a new template
 * version (one more tenant migration, a feature flag, a limit) rolled out in waves by the real
 * rollout and upgrade ASL; one tenant's upgrade made to fail by a trigger stays on its old version
 * with its data; a tenant's own limit is kept; the dry-run plan equals the waves that ran;
 * pause after the canary, resume, abort.
 */
import { randomUUID } from "node:crypto";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { failInserts } from "../support/fault-injection.ts";
import { provisionBody } from "../support/provision-body.ts";
import { API, runHelpers, schemaOf } from "../support/runs.ts";
import { startTestServer, type TestServer } from "../support/server.ts";
import { until } from "../support/wait.ts";

const PASSWORD = `Otter!Basalt-${randomUUID().slice(0, 8)}-Meadow`;
const ROLLOUTS = `${API}/rollouts`;

let server: TestServer;
const { settle, rows, countOf, tablesOf } = runHelpers(() => server);

async function exec(statement: string): Promise<void> {
  await server.database.db.execute(sql.raw(statement));
}

/** A small template of its own (core only, no initial data), so that tenants provision fast. */
async function createTemplate(): Promise<string> {
  const res = await server.request("POST", `${API}/templates`, {
    body: {
      name: `Rollout ${randomUUID().slice(0, 8)}`,
      category: "custom",
      settings: { features: ["inventory"], locale: "en" },
      limits: { maxUsers: 10, maxSchools: 5, maxProducts: 50 },
      initialData: {},
      migrations: ["core"],
      postProvisioningSteps: [],
    },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.id;
}

async function provisionTenants(templateId: string, n: number): Promise<{ id: string; slug: string }[]> {
  const started = [];
  for (let i = 0; i < n; i++) {
    const slug = `ro-${randomUUID().slice(0, 8)}`;
    const res = await server.request("POST", `${API}/templates/${templateId}/provision`, {
      body: provisionBody(slug, PASSWORD),
    });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    started.push({ run: res.body.id as string, id: res.body.tenantId as string, slug });
  }
  for (const s of started) expect((await settle(s.run)).status).toBe("completed");
  return started.map(({ id, slug }) => ({ id, slug }));
}

async function newVersion(templateId: string, body: Record<string, unknown>): Promise<number> {
  const res = await server.request("PUT", `${API}/templates/${templateId}`, { body });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.version;
}

async function rollout(id: string): Promise<any> {
  const res = await server.request("GET", `${ROLLOUTS}/${id}`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

async function rolloutUntil(id: string, statuses: string[]): Promise<any> {
  const r = await until(
    `rollout ${id} to be ${statuses.join(" or ")}`,
    () => rollout(id),
    (r) => statuses.includes(r.status),
  );
  await server.app.workflows.idle();
  return statuses.includes(r.status) ? rollout(id) : r;
}

async function versionOf(tenantId: string): Promise<number> {
  const [row] = await rows<{ v: number }>(
    sql`SELECT template_version AS v FROM tenants WHERE id = ${tenantId}::uuid`,
  );
  return Number(row?.v);
}

beforeAll(async () => {
  server = await startTestServer();
});

afterAll(async () => {
  await server?.close();
});

describe("template upgrade rollouts", { timeout: 180_000 }, () => {
  it("upgrades every tenant on the old version in waves; a failing one stays on its old version with its data", async () => {
    // Prepare: 4 tenants on v1; tenant 0 changed its own maxUsers; tenant 2's upgrade will fail.
    const templateId = await createTemplate();
    const tenants = await provisionTenants(templateId, 4);
    await exec(`UPDATE tenants SET limits = limits || '{"maxUsers": 15}' WHERE id = '${tenants[0]!.id}'`);
    await exec(`INSERT INTO ${schemaOf(tenants[2]!.id)}.schools (name, code) VALUES ('Kept School', 'K1')`);
    const target = await newVersion(templateId, {
      migrations: ["core", "analytics"],
      settings: { features: ["inventory", "analytics"] },
      limits: { maxUsers: 20 },
    });
    const remove = await failInserts(exec, {
      name: `fail_upgrade_${tenants[2]!.slug.replace(/-/g, "_")}`,
      table: `${schemaOf(tenants[2]!.id)}.schema_migrations`,
      when: "true",
      sqlstate: "23514",
      message: "'injected upgrade failure'",
    });
    const request = { templateId, canary: 1, waveSize: 2, maxConcurrency: 2, toleratedFailurePercent: 25 };

    try {
      // Act
      const plan = await server.request("POST", ROLLOUTS, { body: { ...request, dryRun: true } });
      const runsBefore = await countOf(
        sql`SELECT count(*) AS n FROM tenant_provisioning_progress WHERE kind = 'upgrade'`,
      );
      const started = await server.request("POST", ROLLOUTS, { body: request });
      const done = await rolloutUntil(started.body.id, ["completed", "halted"]);

      // Assess: the dry run changed nothing and described exactly what ran.
      expect(plan.status, JSON.stringify(plan.body)).toBe(200);
      expect(runsBefore).toBe(0);
      expect(plan.body.targetVersion).toBe(target);
      expect(plan.body.changes["1"]).toEqual({
        migrations: ["analytics"],
        configurations: { "features.analytics": { from: false, to: true } },
        limits: { maxUsers: { from: 10, to: 20 } },
      });
      expect(plan.body.destructive).toEqual([]);
      expect(started.status, JSON.stringify(started.body)).toBe(202);
      expect(done.status).toBe("completed");
      expect(done.waves.map((w: any) => w.tenants.map((t: any) => t.tenantId))).toEqual(
        plan.body.waves.map((w: any) => w.tenants.map((t: any) => t.tenantId)),
      );
      expect(done.waves.map((w: any) => w.canary)).toEqual([true, false, false]);
      expect(done.counts).toMatchObject({ upgraded: 3, failed: 1, pending: 0, running: 0 });

      const failed = done.waves.flatMap((w: any) => w.tenants).find((t: any) => t.status === "failed");
      expect(failed.tenantId).toBe(tenants[2]!.id);
      expect(failed.error).toContain("injected upgrade failure");
      const failedRun = await settle(failed.upgradeProgressId);
      expect(failedRun.kind).toBe("upgrade");
      expect(failedRun.status).toBe("failed");

      // The failed tenant: old version, no analytics tables, its data intact, still active.
      expect(await versionOf(tenants[2]!.id)).toBe(1);
      expect(await tablesOf(schemaOf(tenants[2]!.id))).not.toContain("analytics_events");
      expect(
        await countOf(
          sql.raw(`SELECT count(*) AS n FROM ${schemaOf(tenants[2]!.id)}.schools WHERE code = 'K1'`),
        ),
      ).toBe(1);
      const [state] = await rows<{ status: string }>(
        sql`SELECT status FROM tenants WHERE id = ${tenants[2]!.id}::uuid`,
      );
      expect(state?.status).toBe("active");

      // The others: new version, the new migration, the new flag, the new limit unless their own.
      for (const t of [tenants[0]!, tenants[1]!, tenants[3]!]) {
        expect(await versionOf(t.id)).toBe(target);
        const applied = await rows<{ name: string }>(
          sql.raw(`SELECT name FROM ${schemaOf(t.id)}.schema_migrations ORDER BY name`),
        );
        expect(applied.map((r) => r.name)).toEqual(["analytics", "core"]);
        const [flag] = await rows<{ value: unknown }>(
          sql.raw(
            `SELECT value::text AS value FROM ${schemaOf(t.id)}.configurations WHERE key = 'features.analytics'`,
          ),
        );
        expect(flag?.value).toBe("true");
      }
      const limits = await rows<{ id: string; max_users: unknown }>(
        sql`SELECT id, limits->>'maxUsers' AS max_users FROM tenants WHERE template_id = ${templateId}::uuid ORDER BY created_at`,
      );
      expect(limits.map((l) => Number(l.max_users))).toEqual([15, 20, 10, 20]);

      // Idempotent: a second rollout finds only the failed tenant still on the old version.
      await remove();
      const again = await server.request("POST", ROLLOUTS, { body: { ...request, dryRun: true } });
      expect(again.body.waves.flatMap((w: any) => w.tenants.map((t: any) => t.tenantId))).toEqual([
        tenants[2]!.id,
      ]);
    } finally {
      await remove();
    }
  });

  it("halts when the failure budget is exceeded; pauses after the canary, resumes, and aborts", async () => {
    // Prepare
    const templateId = await createTemplate();
    const tenants = await provisionTenants(templateId, 3);
    await newVersion(templateId, { migrations: ["core", "reports"] });
    const remove = await failInserts(exec, {
      name: `fail_upgrade_${tenants[0]!.slug.replace(/-/g, "_")}`,
      table: `${schemaOf(tenants[0]!.id)}.schema_migrations`,
      when: "true",
      sqlstate: "23514",
      message: "'injected upgrade failure'",
    });

    // Act 1: the canary fails with no failure tolerated: the rollout halts before wave 2.
    const halted = await server.request("POST", ROLLOUTS, {
      body: { templateId, canary: 1, waveSize: 5, toleratedFailurePercent: 0 },
    });
    const afterHalt = await rolloutUntil(halted.body.id, ["halted", "completed"]);
    await remove();

    // Assess 1
    expect(afterHalt.status).toBe("halted");
    expect(afterHalt.error).toContain("FailureBudgetExceededError");
    expect(afterHalt.counts).toMatchObject({ failed: 1, pending: 2, upgraded: 0 });
    expect(await versionOf(tenants[1]!.id)).toBe(1);

    // Act 2: abort the halted one; a new rollout pauses after its canary and is aborted; a third
    // pauses after its canary, is resumed, and completes.
    const aborted = await server.request("POST", `${ROLLOUTS}/${halted.body.id}/abort`);
    const second = await server.request("POST", ROLLOUTS, {
      body: { templateId, canary: [tenants[1]!.slug], waveSize: 1, pauseAfterCanary: true },
    });
    const paused = await rolloutUntil(second.body.id, ["paused", "completed"]);
    const pauseWhilePaused = await server.request("POST", `${ROLLOUTS}/${second.body.id}/pause`);
    const versionsPaused = await Promise.all(tenants.map((t) => versionOf(t.id)));
    const abortSecond = await server.request("POST", `${ROLLOUTS}/${second.body.id}/abort`);
    const afterAbort = await rollout(second.body.id);
    const versionsAborted = await Promise.all(tenants.map((t) => versionOf(t.id)));
    const resumeAborted = await server.request("POST", `${ROLLOUTS}/${second.body.id}/resume`);
    const third = await server.request("POST", ROLLOUTS, {
      body: { templateId, canary: 1, waveSize: 1, pauseAfterCanary: true },
    });
    const thirdPaused = await rolloutUntil(third.body.id, ["paused", "completed"]);
    const resumed = await server.request("POST", `${ROLLOUTS}/${third.body.id}/resume`);
    const thirdDone = await rolloutUntil(third.body.id, ["completed", "paused", "halted"]);

    // Assess 2
    expect(aborted.status, JSON.stringify(aborted.body)).toBe(200);
    expect(aborted.body.status).toBe("aborted");
    expect(second.status, JSON.stringify(second.body)).toBe(202);
    expect(paused.status).toBe("paused");
    expect(paused.waves[0].tenants.map((t: any) => [t.slug, t.status])).toEqual([
      [tenants[1]!.slug, "upgraded"],
    ]);
    expect(pauseWhilePaused.status).toBe(409);
    expect(versionsPaused).toEqual([1, 2, 1]);
    expect(abortSecond.status, JSON.stringify(abortSecond.body)).toBe(200);
    // Upgraded tenants stay upgraded; the rest stay on version 1, their rows skipped.
    expect(afterAbort.status).toBe("aborted");
    expect(afterAbort.counts).toMatchObject({ upgraded: 1, skipped: 2, pending: 0, running: 0 });
    expect(versionsAborted).toEqual([1, 2, 1]);
    expect(resumeAborted.status).toBe(409);
    const [abortedRun] = await rows<{ kind: string; status: string }>(
      sql`SELECT kind, status FROM tenant_provisioning_progress WHERE id = ${second.body.id}::uuid`,
    );
    expect(abortedRun).toEqual({ kind: "rollout", status: "cancelled" });
    expect(third.status, JSON.stringify(third.body)).toBe(202);
    expect(thirdPaused.status).toBe("paused");
    expect(thirdPaused.counts).toMatchObject({ upgraded: 1, pending: 1 });
    expect(resumed.status, JSON.stringify(resumed.body)).toBe(202);
    expect(thirdDone.status).toBe("completed");
    expect(thirdDone.counts).toMatchObject({ upgraded: 2, pending: 0 });
    expect(await Promise.all(tenants.map((t) => versionOf(t.id)))).toEqual([2, 2, 2]);
  });

  it("refuses what it cannot roll out, naming why", async () => {
    // Prepare
    const templateId = await createTemplate();
    await provisionTenants(templateId, 1);

    // Act
    const nothingNewer = await server.request("POST", ROLLOUTS, { body: { templateId } });
    const badCanary = await server.request("POST", ROLLOUTS, {
      body: { templateId, targetVersion: 1, canary: ["nobody"] },
    });
    await newVersion(templateId, { migrations: ["core", "deliveries"] });
    const unknownCanary = await server.request("POST", ROLLOUTS, {
      body: { templateId, canary: ["nobody"] },
    });
    const first = await server.request("POST", ROLLOUTS, { body: { templateId, pauseAfterCanary: true } });
    const twice = await server.request("POST", ROLLOUTS, { body: { templateId } });
    await rolloutUntil(first.body.id, ["completed"]);

    // Assess
    expect(nothingNewer.status).toBe(409);
    expect(nothingNewer.body.error.message).toContain("older than 1");
    expect(badCanary.status).toBe(409);
    expect(unknownCanary.status).toBe(400);
    expect(unknownCanary.body.error.details.fields[0].field).toBe("canary");
    expect(first.status).toBe(202);
    expect(twice.status).toBe(409);
  });
});
