/**
 * A realistic-scale tenant (test/support/scale-tenant.ts: a Municipality tenant with many users,
 * schools and products with long multibyte texts, and grown history) backs up, deprovisions and
 * restores with identical data on every driver — through the strict Data API adapter too. The
 * backup budget is small (32 KB pages, 4 pages per invocation), so BackupData and RestoreData each
 * loop through the state machine many times from little data; the step stays one step, its
 * attempts counting tries (a page that fails once is retried: two), not iterations. Rows are compared per table (count and md5 of the record texts) on every driver, and
 * as `pg_dump --data-only` of the tenant schema on a PostgreSQL server.
 */
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { failInserts } from "../support/fault-injection.ts";
import { dataDump } from "../support/pg-dump.ts";
import { provisionBody } from "../support/provision-body.ts";
import { API, runHelpers, schemaOf, stepOf } from "../support/runs.ts";
import { growTenantStatements, snapshotStatements, TEST_SCALE } from "../support/scale-tenant.ts";
import { startTestServer, type TestServer } from "../support/server.ts";

const PASSWORD = `Heron!Birch-${randomUUID().slice(0, 8)}-Quay`;
const SERVER_ENV = {
  STEP_RETRY_INTERVAL_SECONDS: "1",
  STEP_RETRY_MAX_DELAY_SECONDS: "1",
  BACKUP_PAGE_BYTES: String(32 * 1024),
  BACKUP_PAGES_PER_INVOCATION: "4",
};

let server: TestServer;
const h = runHelpers(() => server);

beforeAll(async () => {
  server = await startTestServer({ env: SERVER_ENV });
});

afterAll(async () => {
  await server?.close();
});

async function snapshot(tenantId: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const queries = snapshotStatements(tenantId, await h.tablesOf(schemaOf(tenantId)));
  for (const [name, query] of Object.entries(queries)) {
    out[name] = (await h.rows<{ d: string }>(sql.raw(query)))[0]!.d;
  }
  return out;
}

describe("a realistic-scale tenant", () => {
  it("backs up in many pages and loop iterations, survives a failed page, deprovisions and restores with identical data", async () => {
    // Prepare: a Municipality tenant, grown
    const list = await server.request("GET", `${API}/templates?limit=100`);
    const template = list.body.items.find((t: any) => t.name === "Municipality");
    const slug = `scale-${randomUUID().slice(0, 8)}`;
    const provisioned = await server.request("POST", `${API}/templates/${template.id}/provision`, {
      body: provisionBody(slug, PASSWORD),
    });
    expect(provisioned.status, JSON.stringify(provisioned.body)).toBe(202);
    const run = await h.settle(provisioned.body.id);
    expect(run.status, JSON.stringify(run)).toBe("completed");
    const tenantId: string = run.tenantId;
    for (const statement of growTenantStatements(tenantId, TEST_SCALE)) await h.rows(sql.raw(statement));
    const before = await snapshot(tenantId);
    const url = server.database.url;
    const dumpBefore = url === undefined ? null : await dataDump(url, schemaOf(tenantId));

    // The sixth page fails once (after its object was written): the state machine retries it.
    const removeFault = await failInserts((statement) => h.rows(sql.raw(statement)), {
      name: `scale_page_fault_${slug.replace(/-/g, "_")}`,
      table: "backup_pages",
      when: "NEW.page_no = 5",
      sqlstate: "40001",
      message: "'injected: page % failed', NEW.page_no",
      times: 1,
    });

    // Act
    const dep = await server.request("POST", `${API}/tenants/${tenantId}/deprovision`, {
      body: { preserveBackups: true, gracePeriodHours: 0 },
    });
    expect(dep.status, JSON.stringify(dep.body)).toBe(202);
    const deprovisioned = await h.settle(dep.body.id);
    await removeFault();
    expect(deprovisioned.status, JSON.stringify(deprovisioned).slice(0, 2000)).toBe("completed");
    const gone = await h.schemaExists(tenantId);
    const backups = await server.request("GET", `${API}/tenants/${tenantId}/backups`);
    const backup = backups.body.items.find((b: any) => b.kind === "full");
    const res = await server.request("POST", `${API}/tenants/${tenantId}/restore`, {
      body: { backupId: backup.id },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const restored = await h.settle(res.body.id);
    expect(restored.status, JSON.stringify(restored).slice(0, 2000)).toBe("completed");
    const after = await snapshot(tenantId);

    // Assess: many pages and loop iterations, one step with one attempt each
    expect(gone).toBe(false);
    const written = deprovisioned.metadata.backup;
    expect(written.pages).toBeGreaterThanOrEqual(12);
    expect(written.iterations).toBeGreaterThanOrEqual(Math.ceil(written.pages / 4));
    // One retry, after the failed page; the loop's iterations are no attempts.
    const backupStep = stepOf(deprovisioned, "BackupData");
    expect(backupStep).toMatchObject({ status: "completed", attempts: 2 });
    expect(backupStep.attemptErrors.map((e: any) => [e.transient, e.message])).toEqual([
      [true, expect.stringContaining("injected: page 5 failed")],
    ]);
    expect(restored.metadata.pages).toBe(written.pages);
    expect(restored.metadata.iterations).toBeGreaterThanOrEqual(Math.ceil(written.pages / 4));
    expect(stepOf(restored, "RestoreData")).toMatchObject({ status: "completed", attempts: 1 });
    // No working rows left behind.
    expect(
      await h.countOf(
        sql`SELECT count(*) AS n FROM backup_cursors WHERE progress_id IN (${dep.body.id}::uuid, ${res.body.id}::uuid)`,
      ),
    ).toBe(0);
    expect(await h.countOf(sql`SELECT count(*) AS n FROM backup_pages`)).toBe(0);

    // Assess: identical data
    expect(Number(before["(users)"]!.split(" ")[0])).toBeGreaterThan(TEST_SCALE.users);
    expect(before.stock_movements!.startsWith(`${TEST_SCALE.stockMovements} `)).toBe(true);
    expect(after).toEqual(before);
    if (url !== undefined) expect(await dataDump(url, schemaOf(tenantId))).toEqual(dumpBefore);
  });

  it("a backup whose run failed and whose tenant was written to meanwhile starts over when retried", async () => {
    // Prepare: a Municipality tenant; its backup fails for good at its third page
    const list = await server.request("GET", `${API}/templates?limit=100`);
    const template = list.body.items.find((t: any) => t.name === "Municipality");
    const slug = `restart-${randomUUID().slice(0, 8)}`;
    const provisioned = await server.request("POST", `${API}/templates/${template.id}/provision`, {
      body: provisionBody(slug, PASSWORD),
    });
    const tenantId: string = (await h.settle(provisioned.body.id)).tenantId;
    const removeFault = await failInserts((statement) => h.rows(sql.raw(statement)), {
      name: `restart_page_fault_${slug.replace(/-/g, "_")}`,
      table: "backup_pages",
      when: "NEW.page_no = 2",
      sqlstate: "22023",
      message: "'injected: page % failed for good', NEW.page_no",
      times: 1,
    });
    const dep = await server.request("POST", `${API}/tenants/${tenantId}/deprovision`, {
      body: { preserveBackups: true, gracePeriodHours: 0 },
    });
    const failed = await h.settle(dep.body.id);
    await removeFault();
    const s = `"${schemaOf(tenantId)}"`;
    // The run is over: the schema takes writes again, which makes the pages read so far stale.
    await h.rows(
      sql.raw(`INSERT INTO ${s}.schools (name, code) VALUES ('Written after the failure', 'LATE-1')`),
    );
    const before = await snapshot(tenantId);

    // Act
    const retried = await server.request("POST", `${API}/progress/${dep.body.id}/steps/backup-data/retry`);
    const deprovisioned = await h.settle(dep.body.id);
    const backups = await server.request("GET", `${API}/tenants/${tenantId}/backups`);
    const backup = backups.body.items.find((b: any) => b.kind === "full");
    const res = await server.request("POST", `${API}/tenants/${tenantId}/restore`, {
      body: { backupId: backup.id },
    });
    const restored = await h.settle(res.body.id);

    // Assess
    expect(failed.status).toBe("failed");
    expect(stepOf(failed, "BackupData").error.message).toContain("injected: page 2 failed for good");
    expect(retried.status, JSON.stringify(retried.body)).toBeLessThan(300);
    expect(deprovisioned.status, JSON.stringify(deprovisioned).slice(0, 2000)).toBe("completed");
    expect(restored.status, JSON.stringify(restored).slice(0, 2000)).toBe("completed");
    expect(await snapshot(tenantId)).toEqual(before);
    expect(before.schools).toMatch(/^\d+ /);
    expect(await h.countOf(sql.raw(`SELECT count(*) AS n FROM ${s}.schools WHERE code = 'LATE-1'`))).toBe(1);
    // The discarded pages' objects are gone: only the manifest and its pages are left.
    const manifestPages = deprovisioned.metadata.backup.pages as number;
    const { readdirSync } = await import("node:fs");
    const files = readdirSync(join(server.dataDir, "backups", tenantId)).filter((f) =>
      f.includes(dep.body.id),
    );
    expect(files.length).toBe(manifestPages + 1);
  });

  it("keeps the tenant's schema still while it is backed up, and writable once the backup is done", async () => {
    // Prepare
    const s = schemaOf(randomUUID());
    await h.rows(sql.raw(`CREATE SCHEMA "${s}"`));
    await h.rows(sql.raw(`CREATE TABLE "${s}".probe (n integer)`));
    const fakeRun = randomUUID();
    await h.rows(
      sql`INSERT INTO tenant_provisioning_progress (id, kind, status) VALUES (${fakeRun}::uuid, 'deprovision', 'running')`,
    );
    await h.rows(
      sql`INSERT INTO backup_cursors (progress_id, kind, schema_name, started_at, updated_at)
          VALUES (${fakeRun}::uuid, 'backup', ${s}, now(), now())`,
    );
    await h.rows(
      sql.raw(`CREATE TRIGGER tenant_backup_guard BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON "${s}".probe
               FOR EACH STATEMENT EXECUTE FUNCTION tenant_backup_guard()`),
    );

    // Act
    const whileActive = await h.rows(sql.raw(`INSERT INTO "${s}".probe VALUES (1)`)).then(
      () => "written",
      (error: unknown) => `${error} ${(error as { cause?: unknown }).cause}`,
    );
    await h.rows(sql`UPDATE tenant_provisioning_progress SET status = 'failed' WHERE id = ${fakeRun}::uuid`);
    const whenFailed = await h.rows(sql.raw(`INSERT INTO "${s}".probe VALUES (2)`)).then(() => "written");
    const [cursor] = await h.rows<{ restart: unknown }>(
      sql`SELECT CASE WHEN restart THEN 1 ELSE 0 END AS restart FROM backup_cursors WHERE progress_id = ${fakeRun}::uuid`,
    );

    // Assess
    expect(whileActive).toMatch(/read-only while it is backed up/);
    expect(whenFailed).toBe("written");
    expect(Number(cursor!.restart)).toBe(1);
    expect(await h.countOf(sql.raw(`SELECT count(*) AS n FROM "${s}".probe`))).toBe(1);
    await h.rows(sql.raw(`DROP SCHEMA "${s}" CASCADE`));
  });
});
