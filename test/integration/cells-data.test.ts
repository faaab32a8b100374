/**
 * A tenant's data on its cell (issue 18 item 4), through HTTP on the database TEST_DATABASE names:
 * one server with cells `main` and `east` (east on a database of its own), and every operation on
 * a tenant's schema besides provisioning — the clean-up of a failed provisioning, an upgrade, the
 * deprovisioning dry run, deprovisioning with its backup and clean-up, and a restore — done on the
 * tenant's cell and nowhere else: the schema of a tenant on east is never found on main, and the
 * tenants of the other cell are left alone.
 */
import { randomUUID } from "node:crypto";
import { type SQL, sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Database } from "../../functions/db/client.ts";
import { numberValue, queryRows } from "../../functions/db/sql.ts";
import { failInserts } from "../support/fault-injection.ts";
import { provisionBody } from "../support/provision-body.ts";
import { API, PROGRESS, runHelpers, schemaOf } from "../support/runs.ts";
import { startTestServer, type TestServer } from "../support/server.ts";
import { until } from "../support/wait.ts";

const PASSWORD = `Otter!Cedar-${randomUUID().slice(0, 8)}-Wharf`;
const SERVER_ENV = { STEP_RETRY_INTERVAL_SECONDS: "1", STEP_RETRY_MAX_DELAY_SECONDS: "1" };
const SCHOOLS = ["East Primary", "East Secondary", "East College"];

let server: TestServer;
const h = runHelpers(() => server);

const main = () => server.database.db;
const east = () => server.cells.get("east")!.db;

const countOn = async (db: Database, query: SQL) =>
  numberValue((await queryRows<{ n: unknown }>(db, query))[0]?.n);

async function schemaOn(db: Database, tenantId: string): Promise<boolean> {
  return (
    (await countOn(db, sql`SELECT count(*) AS n FROM pg_namespace WHERE nspname = ${schemaOf(tenantId)}`)) > 0
  );
}

async function tableOn(db: Database, tenantId: string, table: string): Promise<boolean> {
  const [row] = await queryRows<{ t: string | null }>(
    db,
    sql`SELECT to_regclass(${`${schemaOf(tenantId)}.${table}`})::text AS t`,
  );
  return row?.t != null;
}

const marksOn = (tenantId: string) =>
  countOn(east(), sql`SELECT count(*) AS n FROM cell_step_marks WHERE tenant_id = ${tenantId}::uuid`);

async function cellOf(tenantId: string): Promise<string> {
  const [row] = await queryRows<{ cell: string }>(
    main(),
    sql`SELECT cell FROM tenants WHERE id = ${tenantId}::uuid`,
  );
  return row!.cell;
}

async function schoolsOnEast(tenantId: string): Promise<string[]> {
  const rows = await queryRows<{ name: string }>(
    east(),
    sql.raw(`SELECT name FROM ${schemaOf(tenantId)}.schools ORDER BY name`),
  );
  return rows.map((r) => r.name);
}

/** A small template (core only, no initial data), so that tenants provision fast. */
async function createTemplate(): Promise<string> {
  const res = await server.request("POST", `${API}/templates`, {
    body: {
      name: `Cells ${randomUUID().slice(0, 8)}`,
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

/** Starts a provisioning from the template; returns its run and tenant. */
async function startProvisioning(templateId: string): Promise<{ run: string; tenantId: string }> {
  const res = await server.request("POST", `${API}/templates/${templateId}/provision`, {
    body: provisionBody(`cd-${randomUUID().slice(0, 8)}`, PASSWORD),
  });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return { run: res.body.id, tenantId: res.body.tenantId };
}

async function provisioned(templateId: string): Promise<string> {
  const { run, tenantId } = await startProvisioning(templateId);
  const done = await h.settle(run);
  expect(done.status, JSON.stringify(done)).toBe("completed");
  return tenantId;
}

let templateId: string;
/** On east (first placed: both cells empty, east first by name), then main. */
let onEast: string;
let onMain: string;
/** Also on east, provisioned after the failed one was cleaned up. */
let alsoEast: string;

beforeAll(async () => {
  server = await startTestServer({ env: SERVER_ENV, cells: ["east"] });
  templateId = await createTemplate();
  onEast = await provisioned(templateId);
  onMain = await provisioned(templateId);
}, 180_000);

afterAll(async () => {
  await server?.close();
});

describe("a tenant's data on its cell", { timeout: 180_000 }, () => {
  it("cleaning up a failed provisioning on east drops its schema and marks there, and leaves the other tenants alone", async () => {
    // Prepare: east and main hold one tenant each, so the next goes to east; its
    // SetupConfigurations fails on east after RunMigrations made its schema there.
    expect([await cellOf(onEast), await cellOf(onMain)]).toEqual(["east", "main"]);
    const exec = (statement: string) => east().execute(sql.raw(statement));
    const remove = await failInserts(exec, {
      name: "cells_data_fail_setup",
      table: "cell_step_marks",
      when: "NEW.step = 'SetupConfigurations'",
      sqlstate: "23514",
      message: "'injected failure on the cell'",
    });
    let failed: { run: string; tenantId: string };
    try {
      failed = await startProvisioning(templateId);
      const run = await h.settle(failed.run);
      expect(run.status, JSON.stringify(run)).toBe("failed");
    } finally {
      await remove();
    }
    expect(await cellOf(failed.tenantId)).toBe("east");
    expect(await schemaOn(east(), failed.tenantId)).toBe(true);
    expect(await marksOn(failed.tenantId)).toBeGreaterThan(0);
    const eastMarks = await marksOn(onEast);

    // Act
    const res = await server.request("POST", `${PROGRESS}/${failed.run}/cleanup`);

    // Assess: gone from east (schema and marks), never on main; the other tenants untouched.
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(await schemaOn(east(), failed.tenantId)).toBe(false);
    expect(await schemaOn(main(), failed.tenantId)).toBe(false);
    expect(await marksOn(failed.tenantId)).toBe(0);
    expect(await marksOn(onEast)).toBe(eastMarks);
    expect(eastMarks).toBeGreaterThan(0);
    expect(await schemaOn(east(), onEast)).toBe(true);
    expect(await schemaOn(main(), onMain)).toBe(true);

    // The cleaned-up tenant no longer counts: the next one goes to east again.
    alsoEast = await provisioned(templateId);
    expect(await cellOf(alsoEast)).toBe("east");
  });

  it("an upgrade applies the new tenant migration on each tenant's cell", async () => {
    // Prepare
    const put = await server.request("PUT", `${API}/templates/${templateId}`, {
      body: { migrations: ["core", "analytics"] },
    });
    expect(put.status, JSON.stringify(put.body)).toBe(200);

    // Act
    const started = await server.request("POST", `${API}/rollouts`, {
      body: { templateId, canary: 1, waveSize: 3, maxConcurrency: 2, toleratedFailurePercent: 0 },
    });
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    const done = await until(
      "the rollout to finish",
      async () => (await server.request("GET", `${API}/rollouts/${started.body.id}`)).body,
      (r: any) => ["completed", "halted", "failed"].includes(r.status),
    );
    await server.app.workflows.idle();

    // Assess
    expect(done.status, JSON.stringify(done)).toBe("completed");
    for (const tenantId of [onEast, alsoEast]) {
      expect(await tableOn(east(), tenantId, "daily_metrics")).toBe(true);
      expect(await schemaOn(main(), tenantId)).toBe(false);
    }
    expect(await tableOn(main(), onMain, "daily_metrics")).toBe(true);
    expect(await schemaOn(east(), onMain)).toBe(false);
    const versions = await queryRows<{ v: unknown }>(
      main(),
      sql`SELECT template_version AS v FROM tenants WHERE id IN (${onEast}::uuid, ${alsoEast}::uuid, ${onMain}::uuid)`,
    );
    expect(versions.map((r) => numberValue(r.v))).toEqual([2, 2, 2]);
  });

  it("the dry run counts the schema on east; deprovisioning backs it up from east and drops it there only", async () => {
    // Prepare
    for (const name of SCHOOLS) {
      await east().execute(
        sql.raw(
          `INSERT INTO ${schemaOf(onEast)}.schools (name, code) VALUES ('${name}', '${name.slice(5, 8)}')`,
        ),
      );
    }
    const options = { preserveBackups: true, gracePeriodHours: 0 };

    // Act
    const dry = await server.request("POST", `${API}/tenants/${onEast}/deprovision`, {
      body: { ...options, dryRun: true },
    });
    const started = await server.request("POST", `${API}/tenants/${onEast}/deprovision`, { body: options });
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    const run = await h.settle(started.body.id);

    // Assess: the dry run read east (the schema is not on main), and said what CleanupData removed.
    expect(dry.status, JSON.stringify(dry.body)).toBe(200);
    expect(dry.body.schemaExists).toBe(true);
    expect(dry.body.wouldRemove.tenantSchema.schools).toBe(SCHOOLS.length);
    expect(dry.body.schemaDrift?.none).toBe(true);
    expect(run.status, JSON.stringify(run)).toBe("completed");
    expect(run.metadata.removed.tenantSchema).toEqual(dry.body.wouldRemove.tenantSchema);
    // The backup holds the schema's tables as east had them.
    const [backup] = await queryRows<{ row_counts: unknown }>(
      main(),
      sql`SELECT row_counts FROM tenant_backups WHERE progress_id = ${started.body.id}::uuid AND kind = 'full'`,
    );
    const counts = (
      typeof backup?.row_counts === "string" ? JSON.parse(backup.row_counts) : backup?.row_counts
    ) as {
      tenantSchema: Record<string, number>;
    };
    expect(counts.tenantSchema.schools).toBe(SCHOOLS.length);
    expect(counts.tenantSchema.schema_migrations).toBe(2);
    // Gone from east with its marks; the others as they were, each on its own cell.
    expect(await schemaOn(east(), onEast)).toBe(false);
    expect(await marksOn(onEast)).toBe(0);
    expect(await schemaOn(east(), alsoEast)).toBe(true);
    expect(await marksOn(alsoEast)).toBeGreaterThan(0);
    expect(await schemaOn(main(), onMain)).toBe(true);
    // The tenant still on east was never made read-only by the backup's guard.
    await east().execute(
      sql.raw(`INSERT INTO ${schemaOf(alsoEast)}.schools (name, code) VALUES ('Other', 'O1')`),
    );
  });

  it("a restore brings the schema and its rows back on the cell the tenant row records", async () => {
    // Prepare
    const backups = await server.request("GET", `${API}/tenants/${onEast}/backups`);
    const backup = backups.body.items.find((b: any) => b.kind === "full");

    // Act
    const res = await server.request("POST", `${API}/tenants/${onEast}/restore`, {
      body: { backupId: backup.id },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const run = await h.settle(res.body.id);

    // Assess
    expect(run.status, JSON.stringify(run)).toBe("completed");
    expect(await cellOf(onEast)).toBe("east");
    expect(await schoolsOnEast(onEast)).toEqual([...SCHOOLS].sort());
    expect(await tableOn(east(), onEast, "daily_metrics")).toBe(true);
    expect(await schemaOn(main(), onEast)).toBe(false);
    expect(run.metadata.restored.tenantSchema.schools).toBe(SCHOOLS.length);
    // Writable again (no backup guard left on its tables).
    await east().execute(
      sql.raw(`INSERT INTO ${schemaOf(onEast)}.schools (name, code) VALUES ('After', 'A1')`),
    );
    expect(await schoolsOnEast(onEast)).toHaveLength(SCHOOLS.length + 1);
  });

  it("a deprovisioning whose backup failed on east leaves the tenant's tables there writable", async () => {
    // Prepare: every backup page fails to be recorded (a permanent error): BackupData fails after
    // its first page put the guard on the tenant's tables on east.
    const remove = await failInserts((statement) => main().execute(sql.raw(statement)), {
      name: "cells_data_fail_backup_page",
      table: "backup_pages",
      when: "TRUE",
      sqlstate: "23514",
      message: "'injected: backup page refused'",
    });
    let run: any;
    try {
      const started = await server.request("POST", `${API}/tenants/${alsoEast}/deprovision`, {
        body: { preserveBackups: true, gracePeriodHours: 0 },
      });
      expect(started.status, JSON.stringify(started.body)).toBe(202);

      // Act
      run = await h.settle(started.body.id);
    } finally {
      await remove();
    }

    // Assess: failed at BackupData, the schema still on east, and writable there again.
    expect(run.status, JSON.stringify(run)).toBe("failed");
    expect(run.steps.find((s: any) => s.name === "BackupData").status).toBe("failed");
    expect(await schemaOn(east(), alsoEast)).toBe(true);
    await east().execute(
      sql.raw(`INSERT INTO ${schemaOf(alsoEast)}.schools (name, code) VALUES ('After failure', 'AF1')`),
    );
    expect(
      await countOn(
        east(),
        sql.raw(`SELECT count(*) AS n FROM ${schemaOf(alsoEast)}.schools WHERE code = 'AF1'`),
      ),
    ).toBe(1);
  });
});
