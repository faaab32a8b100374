/**
 * A backup restores every value exactly, through HTTP against a real database (PGlite, PostgreSQL,
 * and PostgreSQL through the RDS Data API driver): a tenant provisioned with a JSON `null`
 * configuration comes back (issue 11 item 1), and a tenant holding edge values in every column
 * type of the tenant migrations (jsonb `null` beside SQL NULL, empty strings, infinite and BC
 * dates, NaN, multibyte text) reads back row for row identical after deprovisioning and restore.
 * Rows are compared as PostgreSQL's record text (`t::text`), which tells SQL NULL (nothing) from
 * jsonb `null`, `""` and `'NULL'` — unlike a JSON rendering of the rows — and, on a PostgreSQL
 * server, as `pg_dump --data-only` of the tenant schema before deprovisioning and after restore.
 *
 * Schema drift (issue 11 item 2): a column and a table added outside the tenant migrations are
 * reported by the dry run and come back with their values and constraints (the added table holds
 * many more column types); drift a restore could not rebuild refuses deprovisioning up front.
 */
import { randomUUID } from "node:crypto";
import { sql } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { safeIdentifier } from "../../functions/db/sql.ts";
import { availableTenantMigrations } from "../../functions/domain/tenants/tenant-migrations.ts";
import { dataDump } from "../support/pg-dump.ts";
import { provisionBody } from "../support/provision-body.ts";
import { API, runHelpers, schemaOf } from "../support/runs.ts";
import type { TestServer } from "../support/server.ts";
import { startTestServer } from "../support/server.ts";

const PASSWORD = `Heron!Birch-${randomUUID().slice(0, 8)}-Quay`;
const SERVER_ENV = { STEP_RETRY_INTERVAL_SECONDS: "1", STEP_RETRY_MAX_DELAY_SECONDS: "1" };

let server: TestServer;
const h = runHelpers(() => server);

beforeAll(async () => {
  server = await startTestServer({ env: SERVER_ENV });
});

afterAll(async () => {
  await server?.close();
});

/** Provisions a custom tenant with every tenant migration and the given initial data. */
async function provisionCustom(initialData: Record<string, unknown> = {}): Promise<string> {
  const slug = `rt-${randomUUID().slice(0, 8)}`;
  const migrations = ["core", ...availableTenantMigrations().filter((m) => m !== "core")];
  const res = await server.request("POST", `${API}/provision/custom`, {
    body: {
      ...provisionBody(slug, PASSWORD),
      template: { name: `Round trip ${slug}`, category: "custom", migrations, initialData },
    },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  const run = await h.settle(res.body.id);
  expect(run.status, JSON.stringify(run)).toBe("completed");
  return run.tenantId;
}

/** Deprovisions (keeping the backup, no grace period), then restores from that backup. */
async function deprovisionAndRestore(tenantId: string): Promise<any> {
  const dep = await server.request("POST", `${API}/tenants/${tenantId}/deprovision`, {
    body: { preserveBackups: true, gracePeriodHours: 0 },
  });
  expect(dep.status, JSON.stringify(dep.body)).toBe(202);
  const deprovisioned = await h.settle(dep.body.id);
  expect(deprovisioned.status, JSON.stringify(deprovisioned)).toBe("completed");
  expect(await h.schemaExists(tenantId)).toBe(false);
  const backups = await server.request("GET", `${API}/tenants/${tenantId}/backups`);
  const backup = backups.body.items.find((b: any) => b.kind === "full");
  const res = await server.request("POST", `${API}/tenants/${tenantId}/restore`, {
    body: { backupId: backup.id },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return h.settle(res.body.id);
}

/** Each row of a table as PostgreSQL's record text, sorted; `omit` leaves columns out. */
async function recordTexts(
  relation: string,
  where = "TRUE",
  omit: readonly string[] = [],
): Promise<string[]> {
  const [schema, table] = relation.includes(".") ? relation.split(".") : [null, relation];
  const columns = (
    await h.rows<{ name: string }>(
      sql`SELECT attname::text AS name FROM pg_attribute
          WHERE attrelid = to_regclass(${schema === null ? safeIdentifier(table!) : `${safeIdentifier(schema)}.${safeIdentifier(table!)}`})
            AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
    )
  )
    .map((c) => c.name)
    .filter((c) => !omit.includes(c));
  const from =
    schema === null ? safeIdentifier(table!) : `${safeIdentifier(schema)}.${safeIdentifier(table!)}`;
  const list = columns.map((c) => `t.${safeIdentifier(c)}`).join(", ");
  const rows = await h.rows<{ r: string }>(
    sql.raw(`SELECT ROW(${list})::text AS r FROM ${from} t WHERE ${where} ORDER BY 1`),
  );
  return rows.map((r) => r.r);
}

/**
 * `pg_dump --data-only` of the tenant's schema (rows sorted per table) where the database is a
 * PostgreSQL server (the postgres and data-api projects); PGlite has no server to dump, and its
 * run compares the record texts alone.
 */
async function schemaDump(tenantId: string): Promise<string[] | null> {
  const url = server.database.url;
  if (url === undefined) return null;
  const dump = await dataDump(url, schemaOf(tenantId));
  expect(dump.filter((l) => l.startsWith("COPY ")).length).toBeGreaterThan(5);
  return dump;
}

/** Every table of the tenant's schema, and its control-plane rows, as record texts. */
async function tenantSnapshot(
  tenantId: string,
  auditIds: readonly string[],
): Promise<Record<string, string[]>> {
  const schema = schemaOf(tenantId);
  const out: Record<string, string[]> = {};
  for (const table of await h.tablesOf(schema)) out[table] = await recordTexts(`${schema}.${table}`);
  const id = `'${tenantId}'::uuid`;
  out["(tenants)"] = await recordTexts("tenants", `t.id = ${id}`, ["updated_at"]);
  out["(users)"] = await recordTexts("users", `t.tenant_id = ${id}`);
  out["(audit_logs)"] = await recordTexts(
    "audit_logs",
    `t.id IN (${auditIds.map((a) => `'${a}'::uuid`).join(", ") || "NULL"})`,
  );
  return out;
}

/**
 * Edge values in every column type the tenant migrations use (uuid, varchar, text, timestamptz,
 * date, numeric, integer, boolean, jsonb) and in the control plane's jsonb and char columns.
 */
function edgeValueStatements(tenantId: string): string[] {
  const s = safeIdentifier(schemaOf(tenantId));
  const nil = "00000000-0000-0000-0000-000000000000";
  const max = "ffffffff-ffff-ffff-ffff-ffffffffffff";
  return [
    `INSERT INTO ${s}.schools (id, name, code, type, address, created_at) VALUES
      ('${nil}', '', NULL, 'other', NULL, '-infinity'),
      ('${max}', 'Koulu 😀 "quoted" \\ back''slash', '', 'primary', '', 'infinity'),
      ('11111111-1111-1111-1111-111111111111', E'line\\nbreak\\ttab', 'NULL', '', 'NULL', '4713-01-01 00:00:00+00 BC'),
      ('22222222-2222-2222-2222-222222222222', 'e' || chr(769) || ' ñ 中文 𝄞', 'c4', 'x', ' ', '2020-02-29 12:34:56.789012+05:30')`,
    `INSERT INTO ${s}.products (id, sku, name, category, unit, unit_price, created_at) VALUES
      ('${nil}', 'NAN', 'not a number', NULL, '', 'NaN', '294276-12-31 23:59:59.999999+00'),
      ('${max}', 'MAX', 'largest', '', 'pcs', 999999999999.99, '0044-03-15 12:00:00.5+00 BC'),
      ('33333333-3333-3333-3333-333333333333', 'NEG', 'negative', 'NULL', 'pcs', -999999999999.99, now())`,
    `INSERT INTO ${s}.configurations (key, value, source) VALUES
      ('edge.json_null', 'null', ''),
      ('edge.string_null', '"null"', 'x'),
      ('edge.empty_string', '""', 'x'),
      ('edge.nested_null', '{"a": null, "b": [null, {"c": null}]}', 'x'),
      ('edge.array_null', '[null]', 'x'),
      ('edge.big_number', '123456789012345678901234567890.123456789012345678901234567890', 'x'),
      ('edge.tiny_number', '1e-300', 'x'),
      ('edge.unicode', '{"k": "😀 \\u00e9 \\\\ \\"q\\" \\n"}', 'x'),
      ('edge.false', 'false', 'x'),
      ('edge.zero', '-0', 'x')`,
    `INSERT INTO ${s}.orders (id, school_id, status, total, created_at) VALUES
      ('${nil}', NULL, '', 'NaN', '-infinity'),
      ('${max}', '${max}', 'NULL', 0, 'infinity')`,
    `INSERT INTO ${s}.daily_metrics (day, school_id, metric, value) VALUES
      ('infinity', '${nil}', 'a', 'NaN'),
      ('-infinity', '${nil}', 'b', -9999999999999999.99),
      ('4713-01-01 BC', '${max}', '', 0),
      ('5874897-12-31', '${max}', 'ä', 0.01)`,
    `INSERT INTO ${s}.suppliers (id, name, business_id, created_at) VALUES
      ('${nil}', '', NULL, '-infinity'), ('${max}', 'S', '', 'infinity')`,
    `INSERT INTO ${s}.contracts (id, supplier_id, title, valid_from, valid_to) VALUES
      ('${nil}', '${nil}', '', '-infinity', NULL), ('${max}', '${max}', 'T', '4713-01-01 BC', 'infinity')`,
    `INSERT INTO ${s}.contract_lines (id, contract_id, product_id, agreed_price) VALUES
      ('${nil}', '${nil}', NULL, 'NaN'), ('${max}', '${max}', '${max}', -0.01)`,
    `INSERT INTO ${s}.deliveries (id, order_id, school_id, status, scheduled_for, delivered_at) VALUES
      ('${nil}', NULL, NULL, '', NULL, NULL),
      ('${max}', '${max}', '${nil}', 'x', 'infinity', '-infinity')`,
    `INSERT INTO ${s}.integration_endpoints (id, kind, enabled, settings) VALUES
      ('${nil}', 'edge-null', true, 'null'), ('${max}', '', false, '{"": ""}')`,
    `INSERT INTO ${s}.inventory_items (id, school_id, product_id, quantity, reorder_level) VALUES
      ('${nil}', '${nil}', '${nil}', -2147483648, 2147483647)`,
    `INSERT INTO ${s}.stock_movements (id, inventory_item_id, delta, reason, created_at) VALUES
      ('${nil}', '${nil}', 0, '', '1970-01-01 00:00:00+00')`,
    `INSERT INTO ${s}.report_definitions (id, name, query_kind, parameters) VALUES
      ('${nil}', 'edge null', '', 'null'), ('${max}', '', 'x', '[]')`,
    `INSERT INTO users (tenant_id, email, name, role, password_hash, status) VALUES
      ('${tenantId}', 'edge@example.org', '😀', 'buyer', NULL, 'active'),
      ('${tenantId}', 'empty@example.org', '', '', '', 'active')`,
    `INSERT INTO audit_logs (actor_key_id, action, target_type, target_id, tenant_id, details, request_id) VALUES
      (NULL, 'edge.null', 'edge', NULL, '${tenantId}', 'null', ''),
      (NULL, 'edge.empty', '', '', '${tenantId}', '{"a": null}', NULL)`,
  ];
}

describe("backup and restore round trip", () => {
  it("restores a tenant provisioned with a JSON null configuration value (issue 11 item 1)", async () => {
    // Prepare
    const tenantId = await provisionCustom({
      configurations: [
        { key: "x.null", value: null },
        { key: "x.object", value: { a: null } },
      ],
    });

    // Act
    const restore = await deprovisionAndRestore(tenantId);

    // Assess
    expect(restore.status, JSON.stringify(restore)).toBe("completed");
    const values = await h.rows<{ key: string; sql_null: unknown; json: string | null }>(
      sql.raw(
        `SELECT key, (value IS NULL)::text AS sql_null, value::text AS json
         FROM ${safeIdentifier(schemaOf(tenantId))}.configurations WHERE key LIKE 'x.%' ORDER BY key`,
      ),
    );
    expect(values).toEqual([
      { key: "x.null", sql_null: "false", json: "null" },
      { key: "x.object", sql_null: "false", json: '{"a": null}' },
    ]);
    expect((await server.request("GET", `${API}/tenants/${tenantId}`)).status).toBe(200);
  });

  it("brings back every value of every column type exactly: record texts before and after are equal", async () => {
    // Prepare
    const tenantId = await provisionCustom({
      configurations: [{ key: "x.null", value: null }],
      schools: [{ name: "Alpha" }],
    });
    for (const statement of edgeValueStatements(tenantId))
      await server.database.db.execute(sql.raw(statement));
    const auditIds = (
      await h.rows<{ id: string }>(sql`SELECT id FROM audit_logs WHERE tenant_id = ${tenantId}::uuid`)
    ).map((r) => r.id);
    const before = await tenantSnapshot(tenantId, auditIds);
    expect(Object.keys(before).length).toBeGreaterThan(15);
    expect(before["(audit_logs)"]!.some((r) => r.includes("edge.null"))).toBe(true);
    const dumpBefore = await schemaDump(tenantId);

    // Act
    const restore = await deprovisionAndRestore(tenantId);

    // Assess
    expect(restore.status, JSON.stringify(restore)).toBe("completed");
    expect(await tenantSnapshot(tenantId, auditIds)).toEqual(before);
    expect(await schemaDump(tenantId)).toEqual(dumpBefore);
  });

  it("reports drift in the dry run, and the restore brings back an added column and table with their values", async () => {
    // Prepare: an operator's hotfix column and a table of their own, with values of many types
    const tenantId = await provisionCustom({
      products: [
        { sku: "A-1", name: "Pencil", unitPrice: 0.5 },
        { sku: "A-2", name: "Eraser", unitPrice: 0.25 },
      ],
    });
    const s = safeIdentifier(schemaOf(tenantId));
    for (const statement of [
      `ALTER TABLE ${s}.products ADD COLUMN ean varchar(13)`,
      `ALTER TABLE ${s}.products ADD CONSTRAINT products_ean_key UNIQUE (ean)`,
      `UPDATE ${s}.products SET ean = '6411111111111' WHERE sku = 'A-1'`,
      `CREATE TABLE ${s}.price_history (
         id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
         product_id uuid NOT NULL REFERENCES ${s}.products(id) ON DELETE CASCADE,
         note text, j jsonb, js json, ja jsonb[], ta text[], f8 float8, f4 real, bin bytea,
         iv interval, flag boolean NOT NULL DEFAULT true, ts timestamp, tm time, ttz timetz,
         i8 bigint, i2 smallint, addr inet, bits varbit(8), period tstzrange, ch char(5),
         amount numeric CONSTRAINT price_history_amount_nonzero CHECK (amount IS NULL OR amount <> 0))`,
      `INSERT INTO ${s}.price_history (product_id, note, j, js, ja, ta, f8, f4, bin, iv, flag, ts, tm, ttz, i8, i2, addr, bits, period, ch, amount)
       SELECT id, NULL, 'null', ' { "b" : 1 ,  "a":[1, 2] } ', '{NULL,"null"}', '{NULL,"NULL","",a}', 'NaN', '-0',
              '\\x00ff', '-178956970 years -8 mons -2147483648 days', false, 'infinity', '24:00', '23:59:59+14:59',
              9223372036854775807, -32768, '::1/128', B'101', '[2020-01-01,infinity)', 'ab', 'NaN'
       FROM ${s}.products WHERE sku = 'A-1'`,
      `INSERT INTO ${s}.price_history (product_id, note, j, js, ja, ta, f8, f4, bin, iv, ts, i8, amount)
       SELECT id, '', NULL, NULL, '{}', '{}', 1.7976931348623157e308, 1.17549435e-38, '', '0', '4713-01-01 BC',
              -9223372036854775808, 123456789012345678901234567890.123456789
       FROM ${s}.products WHERE sku = 'A-2'`,
    ]) {
      await server.database.db.execute(sql.raw(statement));
    }
    const constraints = async () =>
      (
        await h.rows<{ c: string }>(
          sql.raw(
            `SELECT conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid) AS c
             FROM pg_constraint WHERE conrelid IN ('${schemaOf(tenantId)}.products'::regclass, '${schemaOf(tenantId)}.price_history'::regclass)
             ORDER BY 1`,
          ),
        )
      ).map((r) => r.c);
    const constraintsBefore = await constraints();
    const before = await tenantSnapshot(tenantId, []);
    const dumpBefore = await schemaDump(tenantId);
    expect(before.price_history).toHaveLength(2);

    // Act
    const dryRun = await server.request("POST", `${API}/tenants/${tenantId}/deprovision`, {
      body: { dryRun: true },
    });
    const restore = await deprovisionAndRestore(tenantId);

    // Assess
    expect(dryRun.status, JSON.stringify(dryRun.body)).toBe(200);
    expect(dryRun.body.schemaDrift).toEqual({
      none: false,
      extraTables: ["price_history"],
      extraColumns: [{ table: "products", column: "ean", type: "character varying(13)" }],
      changedColumns: [],
      missingTables: [],
      missingColumns: [],
      restorable: true,
      problems: [],
    });
    expect(restore.status, JSON.stringify(restore)).toBe("completed");
    expect(await tenantSnapshot(tenantId, [])).toEqual(before);
    expect(await schemaDump(tenantId)).toEqual(dumpBefore);
    expect(await constraints()).toEqual(constraintsBefore);
    expect(constraintsBefore.some((c) => c.includes("products_ean_key"))).toBe(true);
  });

  it("reports no drift for a tenant as its migrations made it", async () => {
    // Prepare
    const tenantId = await provisionCustom();

    // Act
    const dryRun = await server.request("POST", `${API}/tenants/${tenantId}/deprovision`, {
      body: { dryRun: true },
    });

    // Assess
    expect(dryRun.status, JSON.stringify(dryRun.body)).toBe(200);
    expect(dryRun.body.schemaDrift).toMatchObject({ none: true, restorable: true, problems: [] });
  });

  it("refuses to deprovision, before anything starts, a tenant whose drift a restore could not rebuild", async () => {
    // Prepare: an identity column (a restore cannot insert its values as they are)
    const tenantId = await provisionCustom();
    const s = safeIdentifier(schemaOf(tenantId));
    await server.database.db.execute(
      sql.raw(`ALTER TABLE ${s}.orders ADD COLUMN seq_no integer GENERATED ALWAYS AS IDENTITY`),
    );
    const runsBefore = await h.countOf(
      sql`SELECT count(*) AS n FROM tenant_provisioning_progress WHERE tenant_id = ${tenantId}::uuid`,
    );

    // Act
    const dryRun = await server.request("POST", `${API}/tenants/${tenantId}/deprovision`, {
      body: { dryRun: true },
    });
    const res = await server.request("POST", `${API}/tenants/${tenantId}/deprovision`, {
      body: { preserveBackups: true, gracePeriodHours: 0 },
    });

    // Assess
    expect(dryRun.status, JSON.stringify(dryRun.body)).toBe(200);
    expect(dryRun.body.schemaDrift).toMatchObject({
      none: false,
      extraColumns: [{ table: "orders", column: "seq_no", type: "integer" }],
      restorable: false,
      problems: ["orders.seq_no is an identity column"],
    });
    expect(res.status, JSON.stringify(res.body)).toBe(409);
    expect(res.body.error.message).toContain("orders.seq_no is an identity column");
    const scheduled = await server.request("POST", `${API}/tenants/${tenantId}/schedule-deprovision`, {
      body: { at: new Date(Date.now() + 3_600_000).toISOString() },
    });
    expect(scheduled.status, JSON.stringify(scheduled.body)).toBe(409);
    expect(
      await h.countOf(
        sql`SELECT count(*) AS n FROM scheduled_operations WHERE tenant_id = ${tenantId}::uuid`,
      ),
    ).toBe(0);
    expect(
      await h.countOf(
        sql`SELECT count(*) AS n FROM tenant_provisioning_progress WHERE tenant_id = ${tenantId}::uuid`,
      ),
    ).toBe(runsBefore);
    expect(await h.schemaExists(tenantId)).toBe(true);
    expect((await server.request("GET", `${API}/tenants/${tenantId}`)).body.status).toBe("active");
  });
});
