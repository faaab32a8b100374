/**
 * Schema drift: how a tenant's schema differs from what its tenant migrations make (an operator's
 * hotfix such as `ALTER TABLE products ADD COLUMN ean varchar(13)`, or a table of its own).
 *
 * A backup records every table's columns and constraints, and a restore recreates an extra table
 * or column from that record, so most drift survives deprovisioning. What a restore could not
 * rebuild (a sequence, identity or generated column, a type defined inside the schema, a column
 * dropped from a migration's table that cannot be left empty) is a *problem*: the deprovisioning
 * dry run lists it, and deprovisioning refuses to start while it is there.
 *
 * The reference — the schema the migrations make — is built in a scratch schema inside a
 * transaction that is always rolled back.
 */
import { randomUUID } from "node:crypto";
import { sql } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { numberValue, queryRows } from "../../db/sql.ts";
import { applyTenantMigrations, schemaTables, tenantSchemaName } from "./tenant-schema.ts";

/** A column as the catalog has it (`format_type` with its modifier, its default expression). */
export interface ColumnDefinition {
  readonly name: string;
  readonly type: string;
  readonly notNull: boolean;
  readonly default: string | null;
  /** Identity (`a`/`d`) or generated (`s`) column: a restore cannot insert into it as it is. */
  readonly special?: "identity" | "generated";
}

/** A table constraint (`contype`: p, u, f, c, x) as `pg_get_constraintdef` writes it. */
export interface ConstraintDefinition {
  readonly name: string;
  readonly kind: string;
  readonly definition: string;
}

export interface SchemaShape {
  readonly columns: ReadonlyMap<string, readonly ColumnDefinition[]>;
  readonly constraints: ReadonlyMap<string, readonly ConstraintDefinition[]>;
}

export interface SchemaDrift {
  /** True when the schema is exactly what its migrations make (tables, columns, types). */
  readonly none: boolean;
  readonly extraTables: string[];
  readonly extraColumns: { table: string; column: string; type: string }[];
  readonly changedColumns: { table: string; column: string; migrations: string; actual: string }[];
  readonly missingTables: string[];
  readonly missingColumns: { table: string; column: string }[];
  /** False when a restore could not bring the schema back as it is; `problems` says why. */
  readonly restorable: boolean;
  readonly problems: string[];
}

/** The columns and constraints of every base table of one schema (two catalog queries). */
export async function schemaShape(db: Database, schemaName: string): Promise<SchemaShape> {
  const columnRows = await queryRows<{
    table_name: string;
    name: string;
    type: string;
    not_null: unknown;
    default_expr: string | null;
    identity: string | null;
    generated: string | null;
  }>(
    db,
    sql`SELECT t.relname::text AS table_name, a.attname::text AS name,
               format_type(a.atttypid, a.atttypmod) AS type,
               CASE WHEN a.attnotnull THEN 1 ELSE 0 END AS not_null,
               pg_get_expr(d.adbin, d.adrelid) AS default_expr,
               nullif(a.attidentity::text, '') AS identity, nullif(a.attgenerated::text, '') AS generated
        FROM (${schemaTables(schemaName)}) t
        JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        ORDER BY t.relname, a.attnum`,
  );
  const columns = new Map<string, ColumnDefinition[]>();
  for (const r of columnRows) {
    const list = columns.get(r.table_name) ?? [];
    list.push({
      name: r.name,
      type: r.type,
      notNull: numberValue(r.not_null) === 1,
      default: r.default_expr ?? null,
      ...(r.identity
        ? { special: "identity" as const }
        : r.generated
          ? { special: "generated" as const }
          : {}),
    });
    columns.set(r.table_name, list);
  }
  const constraintRows = await queryRows<{
    table_name: string;
    name: string;
    kind: string;
    definition: string;
  }>(
    db,
    sql`SELECT t.relname::text AS table_name, c.conname::text AS name, c.contype::text AS kind,
               pg_get_constraintdef(c.oid) AS definition
        FROM (${schemaTables(schemaName)}) t
        JOIN pg_constraint c ON c.conrelid = t.oid
        ORDER BY t.relname, c.conname`,
  );
  const constraints = new Map<string, ConstraintDefinition[]>();
  for (const r of constraintRows) {
    const list = constraints.get(r.table_name) ?? [];
    list.push({ name: r.name, kind: r.kind, definition: r.definition });
    constraints.set(r.table_name, list);
  }
  return { columns, constraints };
}

class Rollback extends Error {
  constructor(readonly shape: SchemaShape) {
    super("rollback");
    this.name = "Rollback";
  }
}

/**
 * The reference shapes this process has built, by migration list. A list's shape depends only on
 * the migration files, which ship with the code: building it (a scratch schema of a dozen tables,
 * rolled back) was most of a dry run's time (120-180 ms at 10,000 tenants, where each DDL statement
 * also updates catalogs of ~360,000 relations), so each process builds it once.
 */
const referenceShapes = new Map<string, Promise<SchemaShape>>();

/** The schema `migrations` make (built once per process and migration list; see `referenceShapes`). */
function referenceShape(db: Database, migrations: readonly string[]): Promise<SchemaShape> {
  const key = JSON.stringify(migrations);
  let shape = referenceShapes.get(key);
  if (!shape) {
    shape = buildReferenceShape(db, migrations);
    referenceShapes.set(key, shape);
    // A failed build (a lock timeout, a lost connection) is tried again by the next caller.
    shape.catch(() => referenceShapes.delete(key));
  }
  return shape;
}

/** The schema `migrations` make, built in a scratch schema that is rolled back. */
async function buildReferenceShape(db: Database, migrations: readonly string[]): Promise<SchemaShape> {
  const scratchId = randomUUID();
  try {
    await db.transaction(async (tx) => {
      await applyTenantMigrations(tx, scratchId, migrations);
      throw new Rollback(await schemaShape(tx, tenantSchemaName(scratchId)));
    });
  } catch (error) {
    if (error instanceof Rollback) return error.shape;
    throw error;
  }
  throw new Error("unreachable: the scratch schema's transaction always rolls back");
}

/** The names a restore's DDL accepts (`safeIdentifier`). */
const SIMPLE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** Why a column recorded in a backup could not be recreated by a restore, if it could not. */
export function unrestorableColumn(schemaName: string, table: string, c: ColumnDefinition): string | null {
  const where = `${table}.${c.name}`;
  if (!SIMPLE_NAME.test(table) || !SIMPLE_NAME.test(c.name)) return `${where} is not a lowercase SQL name`;
  if (c.special) return `${where} is an ${c.special} column`;
  if (c.default?.includes("nextval(")) return `${where} takes its default from a sequence`;
  if (c.type.includes(`${schemaName}.`))
    return `${where} has a type defined in the tenant's schema (${c.type})`;
  if (c.default?.includes(`${schemaName}.`)) return `${where} has a default that uses the tenant's schema`;
  return null;
}

/**
 * How the tenant's schema differs from what `migrations` make, and whether a restore can rebuild
 * it. The schema's catalog is read on `cell` (its cell's database; `db` for a tenant on `main`);
 * the reference shape is built in a rolled-back scratch schema on the control plane (`db`): it
 * depends only on the migrations' text (and is cached by it), and the cells are assumed to run the
 * control plane's PostgreSQL version, whose catalog spells the types and defaults the same way.
 */
export async function tenantSchemaDrift(
  db: Database,
  tenantId: string,
  migrations: readonly string[],
  cell: Database = db,
): Promise<SchemaDrift> {
  const schemaName = tenantSchemaName(tenantId);
  const actual = await schemaShape(cell, schemaName);
  const reference = await referenceShape(db, migrations);
  const drift = {
    extraTables: [] as string[],
    extraColumns: [] as SchemaDrift["extraColumns"],
    changedColumns: [] as SchemaDrift["changedColumns"],
    missingTables: [] as string[],
    missingColumns: [] as SchemaDrift["missingColumns"],
    problems: [] as string[],
  };
  for (const [table, columns] of actual.columns) {
    const expected = reference.columns.get(table);
    if (!expected) {
      drift.extraTables.push(table);
      for (const c of columns) {
        const problem = unrestorableColumn(schemaName, table, c);
        if (problem) drift.problems.push(problem);
      }
      continue;
    }
    const byName = new Map(expected.map((c) => [c.name, c]));
    for (const c of columns) {
      const e = byName.get(c.name);
      if (!e) drift.extraColumns.push({ table, column: c.name, type: c.type });
      else if (e.type !== c.type)
        drift.changedColumns.push({ table, column: c.name, migrations: e.type, actual: c.type });
      else continue;
      const problem = unrestorableColumn(schemaName, table, c);
      if (problem) drift.problems.push(problem);
    }
    const present = new Set(columns.map((c) => c.name));
    for (const e of expected) {
      if (present.has(e.name)) continue;
      drift.missingColumns.push({ table, column: e.name });
      if (e.notNull && e.default === null && !e.special) {
        drift.problems.push(
          `${table}.${e.name} was dropped, but the migrations make it NOT NULL without a default`,
        );
      }
    }
  }
  for (const table of reference.columns.keys())
    if (!actual.columns.has(table)) drift.missingTables.push(table);
  const none =
    drift.extraTables.length +
      drift.extraColumns.length +
      drift.changedColumns.length +
      drift.missingTables.length +
      drift.missingColumns.length ===
    0;
  return { none, ...drift, restorable: drift.problems.length === 0 };
}
