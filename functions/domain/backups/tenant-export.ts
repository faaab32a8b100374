/**
 * The tenant export behind backups, dry runs and restores.
 *
 * A backup is gzip-compressed newline-delimited JSON: a header line (format, tenant, every table
 * with its columns and row count, in restore order), then per chunk (one page of the export, see
 * `PAGE_BYTES`) a line naming the table and a line holding, as one JSON string, a JSON array of the
 * rows.
 *
 * Values (format version 2, `rowJsonOf`): each row is a JSON object of its columns' PostgreSQL text
 * forms (`col::text`, SQL NULL as JSON `null`), read back by each type's own input function
 * (`json_populate_recordset`; json and jsonb columns unwrapped from their JSON string). Text I/O is
 * what `COPY` relies on: every value of every type round-trips exactly — jsonb `null` apart from
 * SQL NULL, json whitespace, `jsonb[]` with nulls, NaN, infinities, BC dates. No value ever passes
 * through a JavaScript number or date. Version 1 backups (rows as `json_agg` wrote them, which
 * cannot tell jsonb `null` from SQL NULL) are still restored as they were written.
 *
 * Deprovisioning backs up in pages instead (format version 3, paged-backup.ts): each chunk is an
 * object of its own and the header, with the page list, is the manifest; dry runs and audit-log
 * archives are still one object (version 2).
 *
 * A full export holds the tenant's control-plane rows (its `tenants` row, `users` with their
 * password hashes, tenant-scoped `api_keys` with their key hashes — the object is encrypted, and
 * both are one-way hashes — and its `audit_logs`) and every table of its schema `tenant_<id>`,
 * `schema_migrations` included. An audit-log archive holds only the `audit_logs` rows.
 */
import { createHash } from "node:crypto";
import { gunzipSync, gzipSync } from "node:zlib";
import { eq, type SQL, sql } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { PIECE_BYTES, readLargeText } from "../../db/large-values.ts";
import { tenants } from "../../db/schema.ts";
import { dateValue, jsonValue, numberValue, queryRows, safeIdentifier } from "../../db/sql.ts";
import { ValidationError } from "../../shared/errors.ts";
import { controlPlaneScope, type TenantCellScope } from "../cells/tenant-cell-scope.ts";
import {
  type ColumnDefinition,
  type ConstraintDefinition,
  type SchemaShape,
  schemaShape,
} from "../tenants/schema-drift.ts";
import { CORE_MIGRATION } from "../tenants/tenant-migrations.ts";
import { applyTenantMigrations, schemaTables, tenantSchemaName } from "../tenants/tenant-schema.ts";

export const BACKUP_FORMAT = "tenant-backup";
export const BACKUP_FORMAT_VERSION = 2;
/** Versions `parseBackup` reads: 1 (values as `json_agg` wrote them) and 2 (`rowJsonOf`). */
const READABLE_VERSIONS: readonly number[] = [1, BACKUP_FORMAT_VERSION];
/**
 * Paging (issue 13): every call a backup or a restore makes stays far below the RDS Data API's
 * limits (64 KB per result row, 1 MiB per response, 4 MiB per request), whatever the tenant's size
 * and however long one value is.
 * - Export: the sizes of up to `SIZE_PROBE_ROWS` rows are read first (small numbers); then rows
 *   are read in pages of at most `PAGE_BYTES` of row JSON, each row base64-encoded (JSON escaping
 *   cannot inflate it) and at most `PIECE_BYTES`; a longer row is read alone, in pieces
 *   (`readLargeText`). Each page is one chunk of the backup.
 * - Restore: a chunk up to `RESTORE_PIECE_CHARS` is one INSERT; a longer one (a single long row, or
 *   a 500-row chunk of an older backup) is sent in pieces to a temporary table first.
 * The value encoding (`rowJsonOf`) is separate: the paging only sees each row's JSON text.
 */
export const SIZE_PROBE_ROWS = 4000;
export const PAGE_BYTES = 256 * 1024;
export const RESTORE_PIECE_CHARS = 128 * 1024;
/** Heap blocks (8 KB) a tenant-schema table is probed in at a time (`readPage`). */
const TID_WINDOW_BLOCKS = 64;

export type BackupKind = "full" | "audit_logs";
export type Section = "controlPlane" | "tenantSchema";

export interface BackupTable {
  readonly section: Section;
  readonly table: string;
  readonly columns: readonly string[];
  /** Version 2: each column's definition as the catalog had it, in `columns` order. */
  readonly definitions?: readonly ColumnDefinition[];
  /** Version 2, tenant-schema tables: their constraints (a restore recreates those its migrations lack). */
  readonly constraints?: readonly ConstraintDefinition[];
  readonly rows: number;
}

export interface BackupHeader {
  readonly format: typeof BACKUP_FORMAT;
  readonly version: number;
  readonly kind: BackupKind;
  readonly tenantId: string;
  readonly schemaName: string;
  readonly progressId: string | null;
  readonly createdAt: string;
  /** In restore order: control plane first (the tenant row before its users), then the schema by foreign keys. */
  readonly tables: readonly BackupTable[];
  /** The tenant migrations its schema had, in the order they were applied (restore replays them). */
  readonly migrations: readonly string[];
}

export interface RowCounts {
  readonly controlPlane: Record<string, number>;
  readonly tenantSchema: Record<string, number>;
}

export interface TenantExport {
  readonly header: BackupHeader;
  /** The compressed export: what the store encrypts and the checksum covers. */
  readonly gzip: Buffer;
  readonly sha256: string;
  readonly uncompressedBytes: number;
  readonly rowCounts: RowCounts;
}

/** Control-plane tables of a tenant and the column that names it. */
const CONTROL_PLANE: readonly { table: string; key: "id" | "tenant_id" }[] = [
  { table: "tenants", key: "id" },
  { table: "users", key: "tenant_id" },
  { table: "api_keys", key: "tenant_id" },
  { table: "audit_logs", key: "tenant_id" },
];

export function sha256Hex(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

export async function schemaExists(db: Database, schemaName: string): Promise<boolean> {
  const rows = await queryRows(db, sql`SELECT 1 AS one FROM pg_namespace WHERE nspname = ${schemaName}`);
  return rows.length > 0;
}

/**
 * The base tables of a tenant schema, parents before children (foreign keys). Catalog lookups by
 * index only (`schemaTables`; the constraints by `conrelid`), never a scan of all of `pg_constraint`.
 */
export async function tenantTablesInOrder(db: Database, schemaName: string): Promise<string[]> {
  const tables = (
    await queryRows<{ table_name: string }>(
      db,
      sql`SELECT t.relname AS table_name FROM (${schemaTables(schemaName)}) t ORDER BY t.relname`,
    )
  ).map((r) => r.table_name);
  const edges = await queryRows<{ child: string; parent: string }>(
    db,
    sql`WITH t AS (${schemaTables(schemaName)})
        SELECT child.relname AS child, parent.relname AS parent
        FROM t child
        JOIN pg_constraint c ON c.conrelid = child.oid AND c.contype = 'f'
        JOIN t parent ON parent.oid = c.confrelid`,
  );
  const parents = new Map(tables.map((t) => [t, new Set<string>()]));
  for (const e of edges) if (e.child !== e.parent) parents.get(e.child)?.add(e.parent);
  const ordered: string[] = [];
  const placed = new Set<string>();
  while (ordered.length < tables.length) {
    const next = tables.find((t) => !placed.has(t) && [...parents.get(t)!].every((p) => placed.has(p)));
    // A cycle of foreign keys (none of the tenant migrations has one): keep the rest alphabetical.
    const pick = next ?? tables.find((t) => !placed.has(t))!;
    ordered.push(pick);
    placed.add(pick);
  }
  return ordered;
}

/** A table's columns in order: the relation by name (`to_regclass`), its columns by `attrelid`. */
export async function columnDefinitionsOf(
  db: Database,
  schema: SQL,
  table: string,
): Promise<ColumnDefinition[]> {
  const rows = await queryRows<{
    name: string;
    type: string;
    not_null: unknown;
    default_expr: string | null;
  }>(
    db,
    sql`SELECT a.attname::text AS name, format_type(a.atttypid, a.atttypmod) AS type,
               CASE WHEN a.attnotnull THEN 1 ELSE 0 END AS not_null,
               pg_get_expr(d.adbin, d.adrelid) AS default_expr
        FROM pg_attribute a
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE a.attrelid = to_regclass(format('%I.%I', ${schema}::text, ${table}::text))
          AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
  );
  return rows.map((r) => ({
    name: r.name,
    type: r.type,
    notNull: numberValue(r.not_null) === 1,
    default: r.default_expr ?? null,
  }));
}

/**
 * One row of `t` as the backup keeps it (version 2): a JSON object of the columns' text forms.
 * `json_object(keys, values)` takes arrays, so a table of any width is one expression.
 */
function rowJsonOf(columns: readonly string[]): SQL {
  if (columns.length === 0) return sql.raw("'{}'::json");
  const keys = columns.map((c) => `'${safeIdentifier(c).slice(1, -1)}'`).join(", ");
  const values = columns.map((c) => `t.${safeIdentifier(c)}::text`).join(", ");
  return sql.raw(`json_object(ARRAY[${keys}]::text[], ARRAY[${values}]::text[])`);
}

/**
 * The SELECT list that reads version-2 rows back from `json_populate_recordset`: the populated
 * column as it is, except json and jsonb, which hold their text as a JSON string.
 */
function decodedColumns(columns: readonly string[], target: readonly ColumnDefinition[]): SQL {
  const types = new Map(target.map((d) => [d.name, d.type]));
  return sql.raw(
    columns
      .map((c) => {
        const type = types.get(c);
        const id = safeIdentifier(c);
        return type === "json" || type === "jsonb" ? `(${id} #>> '{}')::${type} AS ${id}` : id;
      })
      .join(", "),
  );
}

export interface Source {
  readonly section: Section;
  readonly table: string;
  /** `FROM ... WHERE ...` of the rows to export. */
  readonly from: SQL;
  /** The table, aliased `t` in the paged queries. */
  readonly relation: SQL;
  /** Which of its rows are the tenant's (`TRUE` for a tenant-schema table). */
  readonly where: SQL;
  /** A unique key that orders the rows: pages continue after the last key of the previous one. */
  readonly key: SQL;
  /** The key's type, to compare it with a cursor (sent as text). */
  readonly keyType: "uuid" | "tid";
  /** A tenant-schema table's qualified name (its size in blocks bounds the `ctid` windows). */
  readonly relationName?: string;
  readonly columnsSchema: SQL;
}

function controlPlaneSource(table: string, key: "id" | "tenant_id", tenantId: string): Source {
  const t = sql.raw(safeIdentifier(table));
  const where = sql`${sql.raw(safeIdentifier(key))} = ${tenantId}::uuid`;
  return {
    section: "controlPlane",
    table,
    from: sql`${t} WHERE ${where}`,
    relation: t,
    where,
    key: sql.raw("id"),
    keyType: "uuid",
    columnsSchema: sql`current_schema()`,
  };
}

function tenantSource(schemaName: string, table: string): Source {
  const relation = sql.raw(`${safeIdentifier(schemaName)}.${safeIdentifier(table)}`);
  return {
    section: "tenantSchema",
    table,
    from: relation,
    relation,
    where: sql.raw("TRUE"),
    // Under the SHARE locks a backup takes, no row moves while it is read in pages.
    key: sql.raw("ctid"),
    keyType: "tid",
    relationName: `${safeIdentifier(schemaName)}.${safeIdentifier(table)}`,
    columnsSchema: sql`${schemaName}`,
  };
}

export interface ExportOptions {
  readonly kind: BackupKind;
  readonly progressId: string | null;
  readonly now: Date;
  /**
   * Lock the tenant's tables against writes (SHARE) for the rest of the transaction, so the
   * export is one consistent picture. Dry runs read without it.
   */
  readonly lock: boolean;
}

/** What an export reads: its sources in restore order, their table descriptions (no row counts yet), the migrations. */
export interface ExportPlan {
  readonly sources: readonly Source[];
  readonly tables: readonly Omit<BackupTable, "rows">[];
  readonly migrations: readonly string[];
  readonly schemaName: string;
  /** The tenant schema's tables (empty when it has none). */
  readonly tenantTables: readonly string[];
}

/**
 * The tables of a tenant's export, in restore order, with their columns and constraints; the same
 * every time for the same schema (a paged backup plans again in each invocation). The schema's
 * catalog is read on `cell` (the tenant's cell; `tx` itself for a tenant on `main`), the
 * control-plane tables' on `tx`.
 */
export async function planExport(
  tx: Database,
  tenantId: string,
  kind: BackupKind,
  cell: Database = tx,
): Promise<ExportPlan> {
  const schemaName = tenantSchemaName(tenantId);
  const sources: Source[] = [];
  let migrations: string[] = [];
  let tenantTables: string[] = [];
  if (kind === "audit_logs") {
    sources.push(controlPlaneSource("audit_logs", "tenant_id", tenantId));
  } else {
    for (const c of CONTROL_PLANE) sources.push(controlPlaneSource(c.table, c.key, tenantId));
    if (await schemaExists(cell, schemaName)) {
      tenantTables = await tenantTablesInOrder(cell, schemaName);
      for (const t of tenantTables) sources.push(tenantSource(schemaName, t));
      if (tenantTables.includes("schema_migrations"))
        migrations = await appliedMigrations(tx, tenantId, schemaName, cell);
    }
  }
  const shape = sources.some((s) => s.section === "tenantSchema")
    ? await schemaShape(cell, schemaName)
    : null;
  const tables: Omit<BackupTable, "rows">[] = [];
  for (const s of sources) {
    const definitions = await columnDefinitionsOf(sourceDb(s, tx, cell), s.columnsSchema, s.table);
    tables.push({
      section: s.section,
      table: s.table,
      columns: definitions.map((d) => d.name),
      definitions,
      ...(s.section === "tenantSchema" ? { constraints: shape?.constraints.get(s.table) ?? [] } : {}),
    });
  }
  return { sources, tables, migrations, schemaName, tenantTables };
}

/** The database a source's rows are on: the tenant's cell for its schema's tables, else the control plane. */
export function sourceDb(s: Pick<Source, "section">, tx: Database, cell: Database): Database {
  return s.section === "tenantSchema" ? cell : tx;
}

/** The backup header of a plan, with the rows each table holds. */
export function headerOf(
  tenantId: string,
  plan: ExportPlan,
  rows: ReadonlyMap<string, number>,
  options: { kind: BackupKind; progressId: string | null; now: Date; version?: number },
): BackupHeader {
  return {
    format: BACKUP_FORMAT,
    version: options.version ?? BACKUP_FORMAT_VERSION,
    kind: options.kind,
    tenantId,
    schemaName: plan.schemaName,
    progressId: options.progressId,
    createdAt: options.now.toISOString(),
    tables: plan.tables.map((t) => ({ ...t, rows: rows.get(`${t.section}.${t.table}`) ?? 0 })),
    migrations: [...plan.migrations],
  };
}

/** The text of one row `t` of a planned table as the backup keeps it. */
export function rowJsonFor(table: Pick<BackupTable, "columns">): SQL {
  return sql`(${rowJsonOf(table.columns)})::text`;
}

/**
 * Exports a tenant (or its audit logs) inside `tx`, in one go (dry runs, audit-log archives); its
 * schema read on `cell` (a transaction on the tenant's cell; `tx` itself for a tenant on `main`).
 */
export async function exportTenant(
  tx: Database,
  tenantId: string,
  options: ExportOptions,
  cell: Database = tx,
): Promise<TenantExport> {
  const plan = await planExport(tx, tenantId, options.kind, cell);
  if (options.lock && plan.tenantTables.length > 0) {
    const list = plan.tenantTables
      .map((t) => `${safeIdentifier(plan.schemaName)}.${safeIdentifier(t)}`)
      .join(", ");
    await cell.execute(sql.raw(`LOCK TABLE ${list} IN SHARE MODE`));
  }
  const counts = new Map<string, number>();
  for (const s of plan.sources) {
    const [row] = await queryRows<{ n: unknown }>(
      sourceDb(s, tx, cell),
      sql`SELECT count(*) AS n FROM ${s.from}`,
    );
    counts.set(`${s.section}.${s.table}`, numberValue(row?.n));
  }
  const header = headerOf(tenantId, plan, counts, options);
  const lines: string[] = [JSON.stringify(header)];
  for (const [i, s] of plan.sources.entries()) {
    const rowJson = rowJsonFor(plan.tables[i]!);
    let after: string | null = null;
    for (;;) {
      const page = await readPage(sourceDb(s, tx, cell), s, rowJson, after, PAGE_BYTES);
      if (!page) break;
      // As a JSON string: the rows' JSON text may hold line breaks of its own.
      lines.push(JSON.stringify({ section: s.section, table: s.table }), JSON.stringify(page.rowsJson));
      after = page.lastKey;
    }
  }
  const text = Buffer.from(`${lines.join("\n")}\n`, "utf8");
  const gzip = gzipSync(text, { level: 9 });
  return {
    header,
    gzip,
    sha256: sha256Hex(gzip),
    uncompressedBytes: text.length,
    rowCounts: rowCountsOf(header),
  };
}

/** One page of a source's rows: a JSON array (one chunk of a backup), its row count, its last key. */
export interface ExportPage {
  readonly rowsJson: string;
  readonly rows: number;
  readonly lastKey: string;
}

/**
 * The next page of a source's rows after key `after` (`null`: from the start), in key order, or
 * `null` when none is left: at most `pageBytes` of rows (base64 in transit) or one piece-read long
 * row. `rowJson` is the text of one row `t` as the backup keeps it (`rowJsonFor`).
 */
export async function readPage(
  tx: Database,
  s: Source,
  rowJson: SQL,
  after: string | null,
  pageBytes: number,
): Promise<ExportPage | null> {
  const keyType = sql.raw(s.keyType);
  let from: SQL = after === null ? sql`TRUE` : sql`${s.key} > ${after}::${keyType}`;
  let probe: { k: string; b: unknown }[];
  if (s.keyType === "tid" && s.relationName) {
    // `ORDER BY ctid` sorts every row after the cursor: read a window of blocks at a time (a TID
    // range scan), moving on to the next window while one is empty, until the table's end.
    let block = after === null ? 0 : Number(/^\((\d+),/.exec(after)?.[1] ?? 0);
    for (;;) {
      const upper = `(${block + TID_WINDOW_BLOCKS},0)`;
      probe = await queryRows<{ k: string; b: unknown }>(
        tx,
        sql`SELECT ${s.key}::text AS k, octet_length(${rowJson}) AS b FROM ${s.relation} t
            WHERE ${from} AND ${s.key} < ${upper}::tid ORDER BY ${s.key} LIMIT ${SIZE_PROBE_ROWS}`,
      );
      if (probe.length > 0) break;
      const [size] = await queryRows<{ blocks: unknown }>(
        tx,
        sql`SELECT pg_relation_size(${s.relationName}::regclass) / current_setting('block_size')::int AS blocks`,
      );
      block += TID_WINDOW_BLOCKS;
      if (block >= numberValue(size?.blocks)) return null;
      from = sql`${s.key} >= ${`(${block},0)`}::tid`;
    }
  } else {
    probe = await queryRows<{ k: string; b: unknown }>(
      tx,
      sql`SELECT ${s.key}::text AS k, octet_length(${rowJson}) AS b FROM ${s.relation} t
          WHERE ${s.where} AND ${from} ORDER BY ${s.key} LIMIT ${SIZE_PROBE_ROWS}`,
    );
  }
  const first = probe[0];
  if (!first) return null;
  if (numberValue(first.b) > PIECE_BYTES) {
    const row = await readLargeText(
      tx,
      sql`SELECT ${rowJson} AS v FROM ${s.relation} t WHERE ${s.where} AND ${s.key} = ${first.k}::${keyType}`,
    );
    if (typeof row !== "string") throw new Error(`row ${first.k} of ${s.table} vanished while it was read`);
    return { rowsJson: `[${row}]`, rows: 1, lastKey: first.k };
  }
  let n = 0;
  let bytes = 0;
  while (n < probe.length) {
    const b = numberValue(probe[n]!.b);
    if (b > PIECE_BYTES || (n > 0 && bytes + b > pageBytes)) break;
    bytes += b;
    n++;
  }
  const lastKey = probe[n - 1]!.k;
  const rows = await queryRows<{ j: string }>(
    tx,
    sql`SELECT encode(convert_to(${rowJson}, 'UTF8'), 'base64') AS j FROM ${s.relation} t
        WHERE ${s.where} AND ${from} AND ${s.key} <= ${lastKey}::${keyType}
        ORDER BY ${s.key}`,
  );
  if (rows.length !== n)
    throw new Error(`${s.table} changed while it was read (${rows.length} rows, not ${n})`);
  return {
    rowsJson: `[${rows.map((r) => Buffer.from(r.j, "base64").toString("utf8")).join(",")}]`,
    rows: n,
    lastKey,
  };
}

export function rowCountsOf(header: BackupHeader): RowCounts {
  const counts: RowCounts = { controlPlane: {}, tenantSchema: {} };
  for (const t of header.tables) counts[t.section][t.table] = t.rows;
  return counts;
}

export interface BackupChunk {
  readonly section: Section;
  readonly table: string;
  /** The rows as PostgreSQL wrote them (a JSON array). */
  readonly rowsJson: string;
}

export interface ParsedBackup {
  readonly header: BackupHeader;
  readonly chunks: readonly BackupChunk[];
}

/** Checks the checksum of a decrypted object, then reads it. */
export function parseBackup(gzip: Uint8Array, expectedSha256: string): ParsedBackup {
  const actual = sha256Hex(gzip);
  if (actual !== expectedSha256.trim()) {
    throw new ValidationError(`backup checksum mismatch: expected ${expectedSha256.trim()}, got ${actual}`);
  }
  let text: string;
  try {
    text = gunzipSync(gzip).toString("utf8");
  } catch (error) {
    throw new ValidationError("backup is not a gzip stream", { cause: error });
  }
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  const header = JSON.parse(lines[0] ?? "null") as BackupHeader | null;
  if (header?.format !== BACKUP_FORMAT || !READABLE_VERSIONS.includes(header.version)) {
    throw new ValidationError("not a tenant backup of a known format version");
  }
  const chunks: BackupChunk[] = [];
  for (let i = 1; i < lines.length; i += 2) {
    const meta = JSON.parse(lines[i]!) as { section: Section; table: string };
    const rows = lines[i + 1];
    if (rows === undefined) throw new ValidationError("backup ends in the middle of a chunk");
    chunks.push({ section: meta.section, table: meta.table, rowsJson: JSON.parse(rows) as string });
  }
  return { header, chunks };
}

function target(section: Section, schemaName: string, table: string): SQL {
  return sql.raw(
    section === "controlPlane"
      ? safeIdentifier(table)
      : `${safeIdentifier(schemaName)}.${safeIdentifier(table)}`,
  );
}

/**
 * Recreates a tenant from a full backup inside `tx`: its tenant row (over its tombstone), users
 * and API keys, its schema by the same tenant migrations it had, every row of every table, and its
 * audit logs (those still kept are left as they are). The schema must not exist. Returns the row
 * counts now in place, which equal the backup's.
 */
export async function restoreTenant(
  tx: Database,
  backup: ParsedBackup,
  now: Date,
  cell: TenantCellScope = controlPlaneScope(tx),
): Promise<RowCounts> {
  const { header } = backup;
  const targets = await prepareRestore(tx, header, cell);
  const schemaChunks = backup.chunks.filter((c) => c.section === "tenantSchema");
  // The schema's rows in one piece of cell work: on a cell they are inserted once (a retry of a
  // failed control-plane part finds them there); on `main` in `tx` with the rest, as ever.
  await cell.once("rows", async (db) => {
    for (const chunk of schemaChunks) await restoreChunk(tx, header, targets, chunk, now, db);
  });
  for (const chunk of backup.chunks) {
    if (chunk.section !== "tenantSchema") await restoreChunk(tx, header, targets, chunk, now);
  }
  return finishRestore(tx, header, cell.db);
}

/** Each backed-up table's target columns (`section.table` → the catalog's definitions now). */
export type RestoreTargets = ReadonlyMap<string, readonly ColumnDefinition[]>;

/**
 * The first part of a restore: the schema recreated by the tenant migrations the backup names and
 * the drift it recorded, and every backed-up column checked to exist (a backup column with nowhere
 * to go would be data silently lost). Nothing is inserted yet.
 */
export async function prepareRestore(
  tx: Database,
  header: BackupHeader,
  cell: TenantCellScope = controlPlaneScope(tx),
): Promise<RestoreTargets> {
  if (header.kind !== "full") throw new ValidationError(`a ${header.kind} archive cannot restore a tenant`);
  const schemaName = tenantSchemaName(header.tenantId);
  if (schemaName !== header.schemaName) throw new ValidationError("backup names another schema");
  // On the tenant's cell, once: a retry after the control-plane part failed finds the schema made
  // by this run (its mark), not a schema that forbids the restore.
  await cell.once("schema", async (db) => {
    if (await schemaExists(db, schemaName)) {
      throw new ValidationError(`schema ${schemaName} exists; only a deprovisioned tenant can be restored`);
    }
    const tenantTables = header.tables.filter((t) => t.section === "tenantSchema");
    if (tenantTables.length > 0) {
      await applyTenantMigrations(db, header.tenantId, header.migrations);
      await db.execute(sql.raw(`DELETE FROM ${safeIdentifier(schemaName)}.schema_migrations`));
      await rebuildRecordedSchema(db, schemaName, tenantTables, await schemaShape(db, schemaName));
    }
  });
  return restoreTargets(tx, header, header.tables, cell.db);
}

/** The target columns of some of a backup's tables, checked against what the backup holds. */
export async function restoreTargets(
  tx: Database,
  header: BackupHeader,
  tables: readonly BackupTable[],
  cell: Database = tx,
): Promise<RestoreTargets> {
  const schemaName = tenantSchemaName(header.tenantId);
  const targets = new Map<string, readonly ColumnDefinition[]>();
  for (const t of tables) {
    const schema = t.section === "controlPlane" ? sql`current_schema()` : sql`${schemaName}`;
    const definitions = await columnDefinitionsOf(sourceDb(t, tx, cell), schema, t.table);
    const actual = new Set(definitions.map((d) => d.name));
    if (actual.size === 0) throw new ValidationError(`table ${t.table} of the backup does not exist`);
    const missing = t.columns.filter((c) => !actual.has(c));
    if (missing.length > 0) {
      throw new ValidationError(`table ${t.table} has no column ${missing.join(", ")} the backup holds`);
    }
    targets.set(`${t.section}.${t.table}`, definitions);
  }
  return targets;
}

/** Inserts one chunk (page) of a backup: a tenant-schema chunk on `cell` (the tenant's cell's transaction). */
export async function restoreChunk(
  controlTx: Database,
  header: BackupHeader,
  targets: RestoreTargets,
  chunk: BackupChunk,
  now: Date,
  cell: Database = controlTx,
): Promise<void> {
  const tx = sourceDb(chunk, controlTx, cell);
  const key = `${chunk.section}.${chunk.table}`;
  const table = header.tables.find((t) => `${t.section}.${t.table}` === key);
  const definitions = targets.get(key);
  if (!table || !definitions) throw new ValidationError(`backup chunk of unknown table ${chunk.table}`);
  const columns = table.columns;
  const into = target(chunk.section, header.schemaName, chunk.table);
  const list = sql.raw(columns.map((c) => safeIdentifier(c)).join(", "));
  const values = header.version >= 2 ? decodedColumns(columns, definitions) : list;
  const rows = await chunkRowsParameter(tx, chunk.rowsJson);
  const select = sql`SELECT ${values} FROM json_populate_recordset(NULL::${into}, ${rows})`;
  if (chunk.section === "controlPlane" && chunk.table === "tenants") {
    // The tombstone keeps the tenant's id (its runs refer to it): overwrite it — but its cell,
    // where the restore has just put the schema (a tombstone recreated since was placed anew).
    const updates = sql.raw(
      columns
        .filter((c) => c !== "id" && c !== "cell")
        .map((c) => `${safeIdentifier(c)} = EXCLUDED.${safeIdentifier(c)}`)
        .join(", "),
    );
    await tx.execute(sql`INSERT INTO ${into} (${list}) ${select} ON CONFLICT (id) DO UPDATE SET ${updates}`);
    await tx.update(tenants).set({ updatedAt: now }).where(eq(tenants.id, header.tenantId));
  } else if (chunk.section === "controlPlane" && chunk.table === "audit_logs") {
    // Audit logs kept by `preserveAuditLogs` are still there.
    await tx.execute(sql`INSERT INTO ${into} (${list}) ${select} ON CONFLICT (id) DO NOTHING`);
  } else {
    await tx.execute(sql`INSERT INTO ${into} (${list}) ${select}`);
  }
}

/** The last part of a restore: sequences continue after the rows, and every table holds what the backup holds. */
export async function finishRestore(
  tx: Database,
  header: BackupHeader,
  cell: Database = tx,
): Promise<RowCounts> {
  const schemaName = tenantSchemaName(header.tenantId);
  // Idempotent (each sequence set from its table's rows): no once-mark needed on a cell.
  if (header.tables.some((t) => t.section === "tenantSchema")) await resetSequences(cell, schemaName);
  const restored: RowCounts = { controlPlane: {}, tenantSchema: {} };
  for (const t of header.tables) {
    const from =
      t.section === "controlPlane"
        ? controlPlaneSource(t.table, t.table === "tenants" ? "id" : "tenant_id", header.tenantId).from
        : tenantSource(schemaName, t.table).from;
    const [row] = await queryRows<{ n: unknown }>(
      sourceDb(t, tx, cell),
      sql`SELECT count(*) AS n FROM ${from}`,
    );
    const n = numberValue(row?.n);
    const expected = t.table === "audit_logs" ? n >= t.rows : n === t.rows;
    if (!expected) throw new ValidationError(`restored ${n} rows of ${t.table}, the backup holds ${t.rows}`);
    restored[t.section][t.table] = n;
  }
  return restored;
}

/** A column definition as DDL (`name type [DEFAULT …] [NOT NULL]`). */
function columnSql(c: ColumnDefinition): string {
  const defaultSql = c.default !== null ? ` DEFAULT ${c.default}` : "";
  return `${safeIdentifier(c.name)} ${c.type}${defaultSql}${c.notNull ? " NOT NULL" : ""}`;
}

/** Constraints are added keys first, foreign keys last (they need the keys they refer to). */
const CONSTRAINT_ORDER = ["p", "u", "c", "x", "t", "f"];

/**
 * Schema drift the backup recorded (version 2): after the migrations, each table is made what the
 * backup holds — a table the migrations lack is created, a column they lack is added, a column of
 * another type is changed to the recorded type (the tables are still empty) — and the recorded
 * constraints the migrations did not make are added. `tenantSchemaDrift` refuses deprovisioning
 * while the schema holds something this cannot rebuild.
 */
async function rebuildRecordedSchema(
  tx: Database,
  schemaName: string,
  tables: readonly BackupTable[],
  migrated: SchemaShape,
): Promise<void> {
  const schema = safeIdentifier(schemaName);
  const pending: { into: string; constraint: ConstraintDefinition }[] = [];
  for (const t of tables) {
    if (!t.definitions) continue;
    const into = `${schema}.${safeIdentifier(t.table)}`;
    const existing = migrated.columns.get(t.table);
    if (!existing) {
      await tx.execute(sql.raw(`CREATE TABLE ${into} (${t.definitions.map(columnSql).join(", ")})`));
    } else {
      const byName = new Map(existing.map((c) => [c.name, c]));
      for (const c of t.definitions) {
        const made = byName.get(c.name);
        const id = safeIdentifier(c.name);
        if (!made) await tx.execute(sql.raw(`ALTER TABLE ${into} ADD COLUMN ${columnSql(c)}`));
        else if (made.type !== c.type) {
          await tx.execute(
            sql.raw(`ALTER TABLE ${into} ALTER COLUMN ${id} TYPE ${c.type} USING ${id}::text::${c.type}`),
          );
        }
      }
    }
    const made = new Set((migrated.constraints.get(t.table) ?? []).map((c) => c.name));
    for (const constraint of t.constraints ?? []) {
      if (!made.has(constraint.name)) pending.push({ into, constraint });
    }
  }
  pending.sort(
    (a, b) => CONSTRAINT_ORDER.indexOf(a.constraint.kind) - CONSTRAINT_ORDER.indexOf(b.constraint.kind),
  );
  for (const { into, constraint } of pending) {
    await tx.execute(
      sql.raw(
        `ALTER TABLE ${into} ADD CONSTRAINT ${safeIdentifier(constraint.name)} ${constraint.definition}`,
      ),
    );
  }
}

/**
 * A chunk's rows as a `json` expression for the INSERT: the text itself when it is short enough
 * for one request, else sent in pieces to a temporary table (one transaction, one connection) and
 * joined there. Pieces are cut between UTF-16 units that do not split a character.
 */
async function chunkRowsParameter(tx: Database, rowsJson: string): Promise<SQL> {
  if (rowsJson.length <= RESTORE_PIECE_CHARS) return sql`${rowsJson}::json`;
  await tx.execute(
    sql`CREATE TEMPORARY TABLE IF NOT EXISTS restore_pieces (n integer PRIMARY KEY, piece text NOT NULL) ON COMMIT DROP`,
  );
  await tx.execute(sql`DELETE FROM pg_temp.restore_pieces`);
  let n = 0;
  for (let start = 0; start < rowsJson.length; n++) {
    let end = Math.min(rowsJson.length, start + RESTORE_PIECE_CHARS);
    const last = rowsJson.charCodeAt(end - 1);
    if (end < rowsJson.length && last >= 0xd800 && last <= 0xdbff) end--;
    await tx.execute(
      sql`INSERT INTO pg_temp.restore_pieces (n, piece) VALUES (${n}::int, ${rowsJson.slice(start, end)})`,
    );
    start = end;
  }
  return sql`(SELECT string_agg(piece, '' ORDER BY n) FROM pg_temp.restore_pieces)::json`;
}

/**
 * The tenant migrations a schema has, in the order they were applied. `schema_migrations` records
 * when, but one RunMigrations applies several in one transaction (one timestamp); the template's
 * list (or the custom spec's) gives their order then.
 */
export async function appliedMigrations(
  tx: Database,
  tenantId: string,
  schemaName: string,
  cell: Database = tx,
): Promise<string[]> {
  const applied = await queryRows<{ name: string; applied_at: unknown }>(
    cell,
    sql.raw(`SELECT name, applied_at FROM ${safeIdentifier(schemaName)}.schema_migrations`),
  );
  const [listed] = await queryRows<{ migrations: unknown }>(
    tx,
    sql`SELECT coalesce(
          (SELECT v.migrations FROM tenants t
           JOIN tenant_template_versions v ON v.template_id = t.template_id AND v.version = t.template_version
           WHERE t.id = ${tenantId}::uuid),
          (SELECT coalesce(i.custom_template, p.metadata -> 'customTemplate') -> 'migrations'
           FROM tenant_provisioning_progress p LEFT JOIN run_inputs i ON i.progress_id = p.id
           WHERE p.tenant_id = ${tenantId}::uuid AND p.kind = 'provision' ORDER BY p.created_at DESC LIMIT 1),
          '[]'::jsonb) AS migrations`,
  );
  const order = jsonValue<string[] | null>(listed?.migrations) ?? [];
  const rank = (name: string) => {
    const i = order.indexOf(name);
    return i >= 0 ? i : name === CORE_MIGRATION ? -1 : order.length;
  };
  return applied
    .map((r) => ({ name: r.name, at: dateValue(r.applied_at)?.getTime() ?? 0 }))
    .sort((a, b) => a.at - b.at || rank(a.name) - rank(b.name) || a.name.localeCompare(b.name))
    .map((r) => r.name);
}

/** Serial columns continue after the restored rows. */
async function resetSequences(tx: Database, schemaName: string): Promise<void> {
  const serials = await queryRows<{ table_name: string; column_name: string; seq: string }>(
    tx,
    sql`SELECT c.relname AS table_name, a.attname AS column_name,
               pg_get_serial_sequence(format('%I.%I', ${schemaName}::text, c.relname), a.attname) AS seq
        FROM (${schemaTables(schemaName)}) c
        JOIN pg_attribute a ON a.attrelid = c.oid
        WHERE a.attnum > 0 AND NOT a.attisdropped
          AND pg_get_serial_sequence(format('%I.%I', ${schemaName}::text, c.relname), a.attname) IS NOT NULL`,
  );
  for (const s of serials) {
    const table = sql.raw(`${safeIdentifier(schemaName)}.${safeIdentifier(s.table_name)}`);
    const column = sql.raw(safeIdentifier(s.column_name));
    await tx.execute(
      sql`SELECT setval(${s.seq}::regclass, coalesce(max(${column}), 0) + 1, false) FROM ${table}`,
    );
  }
}
