/**
 * Cells (issue 18, item 4): the service with two cells, `main` (the control-plane database) and
 * `east` (a database of its own). A new tenant is placed by the policy (a template's pinned cell,
 * else the open cell with the fewest tenants); its schema and its data are on its cell and nowhere
 * else, its users in the control plane; a closed cell takes no new tenants; the step work done on
 * a cell is done once however often the step runs; the limit checks count each tenant on its cell.
 */
import { sql } from "drizzle-orm";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Database } from "../../functions/db/client.ts";
import { numberValue, queryRows } from "../../functions/db/sql.ts";
import { runCellWork } from "../../functions/domain/steps/run-step.ts";
import { createFreshPgDatabase, testDatabaseKind } from "../support/database.ts";
import { failInserts } from "../support/fault-injection.ts";
import { provisionBody } from "../support/provision-body.ts";
import { runHelpers, schemaOf, stepOf } from "../support/runs.ts";
import { startTestServer, type TestServer } from "../support/server.ts";

let server: TestServer;
const h = runHelpers(() => server);

/** The cell database's handle (`main`: the control plane's). */
const cellDb = (name: string): Database =>
  name === "main" ? server.database.db : (server.cells.get(name)?.db as Database);

const count = async (db: Database, query: ReturnType<typeof sql>) =>
  numberValue((await queryRows<{ n: unknown }>(db, query))[0]?.n);

const schemaOn = (db: Database, tenantId: string) =>
  count(db, sql`SELECT count(*) AS n FROM pg_namespace WHERE nspname = ${schemaOf(tenantId)}`);

async function cellOf(tenantId: string): Promise<string> {
  const [row] = await queryRows<{ cell: string }>(
    server.database.db,
    sql`SELECT cell FROM tenants WHERE id = ${tenantId}::uuid`,
  );
  return row?.cell ?? "";
}

async function setOpen(cell: string, open: boolean): Promise<void> {
  await server.database.db.execute(sql`UPDATE cells SET accepts_tenants = ${open} WHERE name = ${cell}`);
}

/** Provisions `slug` from the Basic School System and waits for the run to finish. */
async function provisioned(slug: string, extra: Record<string, unknown> = {}): Promise<any> {
  const run = await h.provision("Basic School System", provisionBody(slug, "Str0ng!Passw0rd", extra));
  return h.settle(run.id);
}

/** `provisioned` with `main` closed meanwhile: the tenant goes to east. */
async function provisionedOnEast(slug: string): Promise<any> {
  await setOpen("main", false);
  try {
    return await provisioned(slug);
  } finally {
    await setOpen("main", true);
  }
}

beforeAll(async () => {
  server = await startTestServer({ cells: ["east"] });
});

afterAll(async () => {
  await server?.close();
});

describe("cells", () => {
  it("place new tenants on the open cell with the fewest tenants, each tenant's schema and data on its own cell only", async () => {
    // Prepare: no tenants yet; the initial data adds a school and a product to the template's.
    const extra = {
      initialData: {
        schools: [{ name: "Cell School", code: "CELL-1", type: "primary" }],
        products: [{ sku: "CELL-SKU", name: "Cell pencil", unitPrice: 1.5 }],
      },
    };

    // Act: three tenants, one after another.
    const first = await provisioned("cell-a", extra);
    const second = await provisioned("cell-b", extra);
    const third = await provisioned("cell-c", extra);

    // Assess: east first (a tie goes to the first name), then main, then east again.
    for (const run of [first, second, third]) expect(run.status, JSON.stringify(run.error)).toBe("completed");
    expect(await cellOf(first.tenantId)).toBe("east");
    expect(await cellOf(second.tenantId)).toBe("main");
    expect(await cellOf(third.tenantId)).toBe("east");
    for (const [run, home, other] of [
      [first, "east", "main"],
      [second, "main", "east"],
      [third, "east", "main"],
    ] as const) {
      expect(await schemaOn(cellDb(home), run.tenantId)).toBe(1);
      expect(await schemaOn(cellDb(other), run.tenantId)).toBe(0);
      const schema = sql.raw(`"${schemaOf(run.tenantId)}"`);
      expect(
        await count(cellDb(home), sql`SELECT count(*) AS n FROM ${schema}.schools WHERE code = 'CELL-1'`),
      ).toBe(1);
      expect(
        await count(cellDb(home), sql`SELECT count(*) AS n FROM ${schema}.products WHERE sku = 'CELL-SKU'`),
      ).toBe(1);
      expect(
        await count(
          cellDb(home),
          sql`SELECT count(*) AS n FROM ${schema}.configurations WHERE key = 'features.inventory'`,
        ),
      ).toBe(1);
      // The admin user is the control plane's, whichever the cell.
      expect(
        await count(
          server.database.db,
          sql`SELECT count(*) AS n FROM users WHERE tenant_id = ${run.tenantId}::uuid`,
        ),
      ).toBeGreaterThanOrEqual(1);
    }
    // The control plane holds no tenant schema of east's tenants, and east no control-plane tables.
    expect(
      await count(cellDb("east"), sql`SELECT count(*) AS n FROM pg_class WHERE relname = 'tenants'`),
    ).toBe(0);
    // Each step with work on east was marked done there, once.
    const marks = await queryRows<{ step: string; n: unknown }>(
      cellDb("east"),
      sql`SELECT step, count(*) AS n FROM cell_step_marks WHERE progress_id = ${first.id}::uuid GROUP BY step ORDER BY step`,
    );
    expect(marks.map((m) => m.step)).toEqual(
      expect.arrayContaining(["CreateInitialData", "RunMigrations", "SetupConfigurations"]),
    );
    for (const m of marks) expect(numberValue(m.n)).toBe(1);
    for (const step of ["CreateTenant", "CreateAdminUser", "RunMigrations", "CreateInitialData"]) {
      expect(stepOf(first, step).status).toBe("completed");
    }
  });

  it("do a step's cell work once however often it runs", async () => {
    // Prepare: a tenant on east, and a statement that would add a school without a code (no
    // conflict stops a second insert of it).
    const run = await provisionedOnEast("cell-once");
    expect(await cellOf(run.tenantId)).toBe("east");
    const schema = sql.raw(`"${schemaOf(run.tenantId)}"`);
    const work = [{ cell: true as const, run: sql`INSERT INTO ${schema}.schools (name) VALUES ('No code')` }];
    const key = { progressId: run.id, tenantId: run.tenantId, step: "ExtraStep" };
    // Work too long for one call's SQL text (65,536 characters) goes the long way: a transaction.
    const long = [
      {
        cell: true as const,
        run: sql`INSERT INTO ${schema}.schools (name, address) VALUES ('Long', ${"x".repeat(70_000)})`,
      },
    ];
    const longKey = { ...key, step: "LongStep" };

    // Act: the same step's cell work three times (an attempt whose control-plane part failed, and
    // two retries), two of them at once; so too the long work.
    await runCellWork(cellDb("east"), key, work, 5000);
    await Promise.all([
      runCellWork(cellDb("east"), key, work, 5000),
      runCellWork(cellDb("east"), key, work, 5000),
    ]);
    await runCellWork(cellDb("east"), longKey, long, 5000);
    await Promise.all([
      runCellWork(cellDb("east"), longKey, long, 5000),
      runCellWork(cellDb("east"), longKey, long, 5000),
    ]);

    // Assess
    expect(
      await count(cellDb("east"), sql`SELECT count(*) AS n FROM ${schema}.schools WHERE name = 'No code'`),
    ).toBe(1);
    expect(
      await count(cellDb("east"), sql`SELECT count(*) AS n FROM ${schema}.schools WHERE name = 'Long'`),
    ).toBe(1);
  });

  it("finish a step whose control-plane part failed after its cell part committed, without repeating the cell part", async () => {
    // Prepare: a transient failure of the first insert of the tenant's teacher (a control-plane
    // row written after the step's schools, on east, committed); a school without a code, which
    // nothing would stop a second insert of.
    const slug = "cell-retry";
    const remove = await failInserts((statement) => server.database.db.execute(sql.raw(statement)), {
      name: "cells_retry_users",
      table: "users",
      when: "NEW.email = 'teacher@cell-retry.example.org'",
      sqlstate: "40001",
      message: "'injected serialization failure'",
      times: 1,
    });
    try {
      await setOpen("main", false);
      let run: any;
      try {
        run = await h.provision(
          "Basic School System",
          provisionBody(slug, "Str0ng!Passw0rd", {
            initialData: {
              schools: [{ name: "Uncoded School", type: "primary" }],
              users: [{ email: "teacher@cell-retry.example.org", name: "Tea Cher", role: "buyer" }],
            },
          }),
        );
      } finally {
        await setOpen("main", true);
      }

      // Act
      const done = await h.settle(run.id);

      // Assess: the step took two attempts, the school is there once, the teacher too.
      expect(done.status, JSON.stringify(done.error)).toBe("completed");
      expect(await cellOf(done.tenantId)).toBe("east");
      expect(stepOf(done, "CreateInitialData").attempts).toBe(2);
      const schema = sql.raw(`"${schemaOf(done.tenantId)}"`);
      expect(
        await count(
          cellDb("east"),
          sql`SELECT count(*) AS n FROM ${schema}.schools WHERE name = 'Uncoded School'`,
        ),
      ).toBe(1);
      expect(
        await count(
          server.database.db,
          sql`SELECT count(*) AS n FROM users WHERE email = 'teacher@cell-retry.example.org'`,
        ),
      ).toBe(1);
    } finally {
      await remove();
    }
  });

  it("take no new tenants on a closed cell, and refuse one when every cell is closed", async () => {
    // Prepare: east has more tenants than main now; close main.
    await setOpen("main", false);
    try {
      // Act
      const onEast = await provisioned("cell-closed-1");
      await setOpen("east", false);
      const refused = await server.request(
        "POST",
        `/api/provisioning/templates/${await h.templateId("Basic School System")}/provision`,
        { body: provisionBody("cell-closed-2", "Str0ng!Passw0rd") },
      );

      // Assess: east took it although it has more tenants; with both closed, a 409 and no tenant.
      expect(await cellOf(onEast.tenantId)).toBe("east");
      expect(refused.status, JSON.stringify(refused.body)).toBe(409);
      expect(refused.body.error.message).toMatch(/no cell takes new tenants/);
      expect(
        await count(server.database.db, sql`SELECT count(*) AS n FROM tenants WHERE slug = 'cell-closed-2'`),
      ).toBe(0);
    } finally {
      await setOpen("main", true);
      await setOpen("east", true);
    }
  });

  it("place the tenants of a template pinned to a cell on that cell, and refuse them while it is closed", async () => {
    // Prepare: pin the District template to main (east has the fewest tenants? no matter: pinned wins).
    const district = await h.templateId("School District");
    await server.database.db.execute(
      sql`UPDATE tenant_templates SET cell = 'main' WHERE id = ${district}::uuid`,
    );
    await server.database.db.execute(sql`UPDATE cells SET accepts_tenants = true`);
    try {
      // Act
      const pinned = await h.provision("School District", provisionBody("cell-pin-1", "Str0ng!Passw0rd"));
      await setOpen("main", false);
      const refused = await server.request("POST", `/api/provisioning/templates/${district}/provision`, {
        body: provisionBody("cell-pin-2", "Str0ng!Passw0rd"),
      });
      const basic = await provisioned("cell-pin-3");

      // Assess: the pinned cell, then a 409 naming the template while it is closed; an unpinned
      // template's tenant still goes to the open cell.
      expect(await cellOf(pinned.tenantId)).toBe("main");
      expect(refused.status, JSON.stringify(refused.body)).toBe(409);
      expect(refused.body.error.message).toMatch(/pinned to cell main/);
      expect(await cellOf(basic.tenantId)).toBe("east");
      await h.settle(pinned.id);
    } finally {
      await setOpen("main", true);
      await server.database.db.execute(
        sql`UPDATE tenant_templates SET cell = NULL WHERE id = ${district}::uuid`,
      );
    }
  });

  it("count each tenant's schools on its own cell in the limit checks", async () => {
    // Prepare: a tenant on east whose schools exceed a limit of 1 (set on its row).
    const run = await provisionedOnEast("cell-limits");
    expect(await cellOf(run.tenantId)).toBe("east");
    await server.database.db.execute(
      sql`UPDATE tenants SET limits = jsonb_set(limits, '{maxSchools}', '1') WHERE id = ${run.tenantId}::uuid`,
    );
    const schools = await count(
      cellDb("east"),
      sql`SELECT count(*) AS n FROM ${sql.raw(`"${schemaOf(run.tenantId)}"`)}.schools`,
    );
    expect(schools).toBeGreaterThan(1);

    // Act
    const result = await server.app.sweeper.runOnce();

    // Assess
    expect(result.errors).toEqual([]);
    const alert = result.raised.find((a) => a.kind === "tenant_over_limit" && a.tenantId === run.tenantId);
    expect(alert?.details).toMatchObject({ limit: "maxSchools", max: 1, actual: schools });
  });
});

describe.runIf(testDatabaseKind === "postgres")("cells from TENANT_CELLS", () => {
  it("are registered at start, prepared, and take tenants", async () => {
    // Prepare: a fresh database on the local server, named as a cell by TENANT_CELLS.
    const west = await createFreshPgDatabase();
    const configured = await startTestServer({ env: { TENANT_CELLS: `west=${west.url}` } });
    const direct = new pg.Client({ connectionString: west.url });
    try {
      await configured.database.db.execute(sql`UPDATE cells SET accepts_tenants = false WHERE name = 'main'`);
      const helpers = runHelpers(() => configured);
      const run = await helpers.provision(
        "Basic School System",
        provisionBody("cell-west", "Str0ng!Passw0rd"),
      );
      const done = await helpers.settle(run.id);

      // Act
      await direct.connect();
      const onWest = await direct.query(
        "SELECT (SELECT count(*) FROM pg_namespace WHERE nspname = $1)::int AS schemas, (SELECT count(*) FROM cell_step_marks)::int AS marks",
        [schemaOf(done.tenantId)],
      );

      // Assess
      expect(done.status, JSON.stringify(done.error)).toBe("completed");
      const [row] = await queryRows<{ cell: string }>(
        configured.database.db,
        sql`SELECT cell FROM tenants WHERE id = ${done.tenantId}::uuid`,
      );
      expect(row?.cell).toBe("west");
      expect(onWest.rows[0]).toMatchObject({ schemas: 1 });
      expect(onWest.rows[0].marks).toBeGreaterThan(0);
    } finally {
      await direct.end().catch(() => {});
      await configured.close();
      await west.drop();
    }
  });
});
