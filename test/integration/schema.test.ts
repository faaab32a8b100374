/**
 * The migrated control-plane schema, read back from information_schema: the product document's
 * tenant_templates and tenant_provisioning_progress columns with their types and defaults, the
 * columns the migration adds (named in its comments), the other tables, and idempotent migrate.
 */
import { randomUUID } from "node:crypto";
import { sql } from "drizzle-orm";
import { getTableConfig } from "drizzle-orm/pg-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadMigrations, migrate } from "../../functions/db/migrate.ts";
import { schema } from "../../functions/db/schema.ts";
import { queryRows } from "../../functions/db/sql.ts";
import { openTestDatabase, type TestDatabase } from "../support/database.ts";

interface Column {
  readonly type: string;
  readonly default: string | null;
  readonly nullable: boolean;
}

const col = (type: string, dflt: string | null = null, nullable = true): Column => ({
  type,
  default: dflt,
  nullable,
});
const TS = "timestamp without time zone";
const VARCHAR = "character varying";

/** The product document's tenant_templates, column for column. */
const PRODUCT_TEMPLATE_COLUMNS: Record<string, Column> = {
  id: col("uuid", "gen_random_uuid()", false),
  name: col(VARCHAR, null, false),
  description: col("text"),
  category: col(VARCHAR, "'basic'::character varying"),
  settings: col("jsonb", "'{}'::jsonb"),
  limits: col("jsonb", "'{}'::jsonb"),
  initial_data: col("jsonb", "'{}'::jsonb"),
  migrations: col("jsonb", "'[]'::jsonb"),
  post_provisioning_steps: col("jsonb", "'[]'::jsonb"),
  created_at: col(TS, "CURRENT_TIMESTAMP"),
  updated_at: col(TS, "CURRENT_TIMESTAMP"),
};
/** Added by the migration ("the current version number, whether it is a built-in default, soft delete"). */
const ADDED_TEMPLATE_COLUMNS: Record<string, Column> = {
  version: col("integer", "1", false),
  is_default: col("boolean", "false", false),
  deleted_at: col(TS),
  // The cell its tenants are placed on (migrations/0016_cells.sql); none: the placement policy.
  cell: col(VARCHAR),
};

/** The product document's tenant_provisioning_progress, column for column. */
const PRODUCT_PROGRESS_COLUMNS: Record<string, Column> = {
  id: col("uuid", "gen_random_uuid()", false),
  tenant_id: col("uuid"),
  template_id: col("uuid"),
  status: col(VARCHAR, "'pending'::character varying"),
  current_step: col(VARCHAR),
  total_steps: col("integer", "0"),
  completed_steps: col("integer", "0"),
  steps: col("jsonb", "'[]'::jsonb"),
  started_at: col(TS),
  completed_at: col(TS),
  error: col("text"),
  warnings: col("jsonb", "'[]'::jsonb"),
  metadata: col("jsonb", "'{}'::jsonb"),
  created_at: col(TS, "CURRENT_TIMESTAMP"),
  updated_at: col(TS, "CURRENT_TIMESTAMP"),
};
/** Added by the migration ("run kind, template version, attempt number, execution reference, idempotency"). */
const ADDED_PROGRESS_COLUMNS: Record<string, Column> = {
  kind: col(VARCHAR, "'provision'::character varying", false),
  template_version: col("integer"),
  attempt: col("integer", "1", false),
  execution_ref: col("text"),
  idempotency_key: col(VARCHAR),
  request_hash: col(VARCHAR),
  parent_id: col("uuid"),
  batch_index: col("integer"),
  batch_attempt: col("integer"),
};

interface ColumnRow extends Record<string, unknown> {
  column_name: string;
  data_type: string;
  column_default: string | null;
  is_nullable: string;
  character_maximum_length: number | string | null;
}

let database: TestDatabase;

async function columnsOf(table: string): Promise<Map<string, ColumnRow>> {
  const rows = await queryRows<ColumnRow>(
    database.db,
    sql`SELECT column_name, data_type, column_default, is_nullable, character_maximum_length
        FROM information_schema.columns
        WHERE table_schema = current_schema() AND table_name = ${table}
        ORDER BY ordinal_position`,
  );
  return new Map(rows.map((r) => [r.column_name, r]));
}

function describeColumns(rows: Map<string, ColumnRow>): Record<string, Column> {
  const out: Record<string, Column> = {};
  for (const [name, r] of rows) {
    out[name] = { type: r.data_type, default: r.column_default ?? null, nullable: r.is_nullable === "YES" };
  }
  return out;
}

beforeAll(async () => {
  database = await openTestDatabase();
});

afterAll(async () => {
  await database?.destroy();
});

describe("control-plane schema", () => {
  it("tenant_templates has exactly the product document's columns plus the added ones", async () => {
    // Act
    const columns = await columnsOf("tenant_templates");

    // Assess
    expect(describeColumns(columns)).toEqual({ ...PRODUCT_TEMPLATE_COLUMNS, ...ADDED_TEMPLATE_COLUMNS });
    expect(Number(columns.get("name")!.character_maximum_length)).toBe(255);
    expect(Number(columns.get("category")!.character_maximum_length)).toBe(50);
  });

  it("tenant_provisioning_progress has exactly the product document's columns plus the added ones", async () => {
    // Act
    const columns = await columnsOf("tenant_provisioning_progress");

    // Assess
    expect(describeColumns(columns)).toEqual({ ...PRODUCT_PROGRESS_COLUMNS, ...ADDED_PROGRESS_COLUMNS });
    expect(Number(columns.get("status")!.character_maximum_length)).toBe(20);
    expect(Number(columns.get("current_step")!.character_maximum_length)).toBe(255);
  });

  it("tenant_templates.name is UNIQUE", async () => {
    // Act
    const rows = await queryRows<{ column_name: string }>(
      database.db,
      sql`SELECT ccu.column_name
          FROM information_schema.table_constraints tc
          JOIN information_schema.constraint_column_usage ccu
            ON ccu.constraint_name = tc.constraint_name AND ccu.table_schema = tc.table_schema
          WHERE tc.table_schema = current_schema() AND tc.table_name = 'tenant_templates'
            AND tc.constraint_type = 'UNIQUE'`,
    );

    // Assess
    expect(rows.map((r) => r.column_name)).toEqual(["name"]);
  });

  it("progress references tenants (ON DELETE CASCADE), templates and its batch (ON DELETE SET NULL)", async () => {
    // Act
    const rows = await queryRows<{ column_name: string; foreign_table: string; delete_rule: string }>(
      database.db,
      sql`SELECT kcu.column_name, ccu.table_name AS foreign_table, rc.delete_rule
          FROM information_schema.referential_constraints rc
          JOIN information_schema.key_column_usage kcu
            ON kcu.constraint_name = rc.constraint_name AND kcu.constraint_schema = rc.constraint_schema
          JOIN information_schema.constraint_column_usage ccu
            ON ccu.constraint_name = rc.constraint_name AND ccu.constraint_schema = rc.constraint_schema
          WHERE kcu.table_schema = current_schema() AND kcu.table_name = 'tenant_provisioning_progress'
          ORDER BY kcu.column_name`,
    );

    // Assess
    expect(rows).toEqual([
      { column_name: "parent_id", foreign_table: "tenant_provisioning_progress", delete_rule: "SET NULL" },
      { column_name: "template_id", foreign_table: "tenant_templates", delete_rule: "SET NULL" },
      { column_name: "tenant_id", foreign_table: "tenants", delete_rule: "CASCADE" },
    ]);
  });

  it("has the other control-plane tables", async () => {
    // Act
    const rows = await queryRows<{ table_name: string }>(
      database.db,
      sql`SELECT table_name FROM information_schema.tables
          WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`,
    );

    // Assess
    expect(rows.map((r) => r.table_name)).toEqual(
      expect.arrayContaining([
        "tenant_templates",
        "tenant_template_versions",
        "tenants",
        "tenant_provisioning_progress",
        "users",
        "api_keys",
        "audit_logs",
        "schema_migrations",
      ]),
    );
  });

  it("has every column the Drizzle mirror in functions/db/schema.ts declares, with the same nullability", async () => {
    for (const table of Object.values(schema)) {
      // Prepare
      const config = getTableConfig(table);

      // Act
      const columns = await columnsOf(config.name);

      // Assess
      expect(columns.size, config.name).toBeGreaterThan(0);
      for (const c of config.columns) {
        const actual = columns.get(c.name);
        expect(actual, `${config.name}.${c.name}`).toBeDefined();
        const nullableInDb = actual!.is_nullable === "YES";
        expect(nullableInDb, `${config.name}.${c.name} nullable`).toBe(!c.notNull);
      }
    }
  });

  it("keeps template versions immutable", async () => {
    // Prepare
    const [template] = await queryRows<{ id: string }>(
      database.db,
      sql`INSERT INTO tenant_templates (name) VALUES ('immutable-check') RETURNING id`,
    );
    await database.db.execute(
      sql`INSERT INTO tenant_template_versions (template_id, version, name, category)
          VALUES (${template!.id}::uuid, 1, 'immutable-check', 'basic')`,
    );

    // Act
    const attempt = database.db.execute(
      sql`UPDATE tenant_template_versions SET name = 'changed' WHERE template_id = ${template!.id}::uuid`,
    );

    // Assess
    await expect(attempt).rejects.toThrow();
    const [row] = await queryRows<{ name: string }>(
      database.db,
      sql`SELECT name FROM tenant_template_versions WHERE template_id = ${template!.id}::uuid`,
    );
    expect(row!.name).toBe("immutable-check");
  });

  it("applies every migration once on a fresh database, and nothing the second time", async () => {
    // Prepare
    const fresh = await openTestDatabase({ migrate: false });
    try {
      const expected = (await loadMigrations()).map((f) => f.name);

      // Act
      const first = await migrate(fresh.db);
      const second = await migrate(fresh.db);

      // Assess
      expect(first).toEqual(expected);
      expect(second).toEqual([]);
      const rows = await queryRows<{ name: string }>(
        fresh.db,
        sql`SELECT name FROM schema_migrations ORDER BY name`,
      );
      expect(rows.map((r) => r.name)).toEqual(expected);
    } finally {
      await fresh.destroy();
    }
  });
});

// progress_run_facts (migrations/0014_scale_counts.sql), what statistics, the progress list's
// totals and the sweep's template check read of each run, holds exactly what the progress table
// holds: kept by triggers through inserts, updates of a run's status or times, updates of its
// steps only, deletes and truncation.
const COLUMNS =
  sql.raw(`id::text AS id, to_char(created_at, 'YYYY-MM-DD HH24:MI:SS') AS created_at, kind, status,
  template_id::text AS template_id, to_char(started_at, 'YYYY-MM-DD HH24:MI:SS') AS started_at,
  to_char(completed_at, 'YYYY-MM-DD HH24:MI:SS') AS completed_at`);

/** Both tables' rows, by id. */
async function bothTables() {
  const progress = await queryRows(
    database.db,
    sql`SELECT ${COLUMNS} FROM tenant_provisioning_progress ORDER BY id`,
  );
  const facts = await queryRows(database.db, sql`SELECT ${COLUMNS} FROM progress_run_facts ORDER BY id`);
  return { progress, facts };
}

describe("progress_run_facts", () => {
  it("follows the progress table through inserts, updates, deletes and truncation", async () => {
    // Prepare: three runs, one without a created_at.
    const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
    await database.db.execute(sql`
      INSERT INTO tenant_provisioning_progress (id, kind, status, created_at) VALUES
        (${a}::uuid, 'provision', 'pending', '2026-03-01 10:00:00'),
        (${b}::uuid, 'deprovision', 'running', '2026-03-01 11:00:00'),
        (${c}::uuid, 'provision', 'pending', NULL)`);
    const inserted = await bothTables();

    // Act: a run starts and completes; another's steps change only; one is deleted.
    await database.db.execute(sql`
      UPDATE tenant_provisioning_progress SET status = 'running', started_at = '2026-03-01 10:00:01'
      WHERE id = ${a}::uuid`);
    await database.db.execute(sql`
      UPDATE tenant_provisioning_progress SET status = 'completed', completed_at = '2026-03-01 10:00:09'
      WHERE id = ${a}::uuid`);
    await database.db.execute(sql`
      UPDATE tenant_provisioning_progress SET steps = '[{"name": "CreateTenant", "status": "completed"}]'::jsonb,
             current_step = 'CreateTenant'
      WHERE id = ${b}::uuid`);
    await database.db.execute(sql`DELETE FROM tenant_provisioning_progress WHERE id = ${c}::uuid`);
    const updated = await bothTables();
    await database.db.execute(sql`TRUNCATE tenant_provisioning_progress CASCADE`);
    const truncated = await bothTables();

    // Assess
    expect(inserted.facts).toEqual(inserted.progress);
    expect(inserted.facts).toHaveLength(3);
    expect(updated.facts).toEqual(updated.progress);
    expect(updated.facts.find((r) => r.id === a)).toMatchObject({
      status: "completed",
      started_at: "2026-03-01 10:00:01",
      completed_at: "2026-03-01 10:00:09",
    });
    expect(updated.facts.map((r) => r.id)).not.toContain(c);
    expect(truncated.facts).toEqual([]);
  });
});
