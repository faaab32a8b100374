/**
 * The local server killed with SIGKILL in the middle of a rollout and started again on the same
 * database (DATABASE_URL): the rollout resumes and completes, every tenant ends on the new version,
 * and no tenant got a second upgrade run or applied its new migration twice.
 *
 * Another connection holds one tenant's row, so that tenant's upgrade keeps retrying past its lock
 * timeout while the others finish: the kill lands mid-wave, with an upgrade in flight.
 */
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { createFreshPgDatabase } from "../support/database.ts";
import { provisionBody } from "../support/provision-body.ts";
import { crashTestEnv, killService, serviceHarness, stopService } from "../support/service-process.ts";
import { until as waitUntil } from "../support/wait.ts";

const API = "/api/provisioning";
const harness = serviceHarness("tp-rollout-crash-");

afterEach(async () => {
  await harness.cleanup();
});

const until = <T>(what: string, probe: () => Promise<T>, done: (v: T) => boolean) =>
  waitUntil(what, probe, done, 240_000, 20);

describe("a rollout interrupted by SIGKILL", { timeout: 300_000 }, () => {
  it("resumes after a restart; every tenant is upgraded exactly once", async () => {
    // Prepare: 4 tenants on version 1, version 2 adds a tenant migration; tenant 0's row held.
    const fresh = await createFreshPgDatabase();
    harness.onCleanup(() => fresh.drop());
    const env = crashTestEnv(fresh.url);
    const dataDir = harness.tempDataDir();
    const { service: first, api: api1 } = await harness.startWithApi(env, dataDir);
    const template = await api1("POST", `${API}/templates`, {
      name: "Crash rollout",
      category: "custom",
      settings: {},
      limits: {},
      initialData: {},
      migrations: ["core"],
      postProvisioningSteps: [],
    });
    expect(template.status, JSON.stringify(template.body)).toBe(201);
    const tenants: string[] = [];
    for (const slug of ["crash-ro-a", "crash-ro-b", "crash-ro-c", "crash-ro-d"]) {
      const res = await api1(
        "POST",
        `${API}/templates/${template.body.id}/provision`,
        provisionBody(slug, "crash-pw-0123456789"),
      );
      expect(res.status, JSON.stringify(res.body)).toBe(202);
      tenants.push(res.body.tenantId);
      await until(
        `${slug} to be provisioned`,
        async () => (await api1("GET", `${API}/progress/${res.body.id}`)).body,
        (r) => r.status === "completed",
      );
    }
    const v2 = await api1("PUT", `${API}/templates/${template.body.id}`, {
      migrations: ["core", "analytics"],
    });
    expect(v2.status).toBe(200);
    const locker = new pg.Client({ connectionString: fresh.url });
    await locker.connect();
    harness.onCleanup(async () => {
      await locker.end().catch(() => {});
    });
    await locker.query("BEGIN");
    // What an UPDATE of the tenant's row holds (its upgrade's SELECT … FOR UPDATE waits for it).
    await locker.query("SELECT 1 FROM tenants WHERE id = $1 FOR NO KEY UPDATE", [tenants[0]]);

    // Act: kill once the other three are upgraded and tenant 0's upgrade is in flight.
    const started = await api1("POST", `${API}/rollouts`, {
      templateId: template.body.id,
      canary: 0,
      waveSize: 4,
      maxConcurrency: 4,
    });
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    const atKill = await until(
      "three upgrades done and one in flight",
      async () => (await api1("GET", `${API}/rollouts/${started.body.id}`)).body,
      (r) => r.counts.upgraded === 3 && r.counts.running === 1,
    );
    const killed = await killService(first);
    await locker.query("ROLLBACK");
    const { service: second, api: api2 } = await harness.startWithApi(env, dataDir);
    const done = await until(
      "the rollout to finish",
      async () => (await api2("GET", `${API}/rollouts/${started.body.id}`)).body,
      (r) => ["completed", "halted", "aborted"].includes(r.status),
    );
    await stopService(second);

    // Assess
    expect(killed).toBe("SIGKILL");
    expect(atKill.status).toBe("running");
    expect(done.status, JSON.stringify(done)).toBe("completed");
    expect(done.counts).toMatchObject({ upgraded: 4, failed: 0, skipped: 0 });
    const check = new pg.Client({ connectionString: fresh.url });
    await check.connect();
    try {
      const versions = await check.query(
        "SELECT id, template_version FROM tenants WHERE template_id = $1 ORDER BY id",
        [template.body.id],
      );
      expect(versions.rows.map((r) => Number(r.template_version))).toEqual([2, 2, 2, 2]);
      const runs = await check.query(
        "SELECT tenant_id, count(*)::int AS n FROM tenant_provisioning_progress WHERE kind = 'upgrade' GROUP BY tenant_id",
      );
      expect(runs.rows.map((r) => r.n)).toEqual([1, 1, 1, 1]);
      const upgraded = await check.query(
        "SELECT steps FROM tenant_provisioning_progress WHERE kind = 'upgrade' AND tenant_id = $1",
        [tenants[0]],
      );
      expect(upgraded.rows[0].steps[0].status).toBe("completed");
      for (const id of tenants) {
        const schema = `tenant_${id.replace(/-/g, "")}`;
        const applied = await check.query(`SELECT name FROM ${schema}.schema_migrations ORDER BY name`);
        expect(applied.rows.map((r) => r.name)).toEqual(["analytics", "core"]);
      }
    } finally {
      await check.end();
    }
  });
});
