/**
 * Removing a tenant's data: what a tenant owns is listed here once, and the three places that need
 * it use it — cleaning up a failed provisioning (`POST /progress/:id/cleanup`), deprovisioning's
 * CleanupData step, and the deprovisioning dry run, which reports exactly what CleanupData then
 * removes (a test compares the two on every database driver).
 */
import { sql } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { numberValue, queryRows, safeIdentifier } from "../../db/sql.ts";
import type { Cell } from "../cells/cell-directory.ts";
import { tenantSchemaName, tenantTableNames } from "./tenant-schema.ts";

/**
 * Every control-plane table that holds rows of one tenant, and what removing the tenant does with
 * them. A test checks that every table with a `tenant_id` column is listed, so a new table must
 * say what happens to its rows.
 */
export const TENANT_ROWS = {
  users: "removed",
  api_keys: "removed",
  /** A deprovisioning run's own notices stay, no longer tied to the tenant: the record that users were told. */
  notifications_outbox: "removed",
  alerts: "removed",
  /** Invitations of its admins (token hashes only). */
  admin_invitations: "removed",
  /** Reached through the tenant's runs (no tenant_id column). */
  provisioning_secrets: "removed",
  /** The limit checks' recorded counts of its schema's tables (operations/alert-checks.ts). */
  tenant_table_counts: "removed",
  /** The row stays as a `deprovisioned` tombstone (no slug, subdomain, name or settings): its runs refer to it. */
  tenants: "tombstone",
  /** Runs keep their records, without personal data. */
  tenant_provisioning_progress: "kept",
  /** Kept, with their final status; schedules still waiting are cancelled. */
  scheduled_operations: "kept",
  /** The deprovisioning's `preserveBackups` decides; restore needs them. */
  tenant_backups: "kept",
  /** CleanupAuditLogs archives or deletes them (`preserveAuditLogs`); a provisioning clean-up keeps them. */
  audit_logs: "kept",
  /** Lifecycle events are the record of what happened (ids and statuses, no personal data); `tenant.deleted` is one. */
  event_outbox: "kept",
  /** A rollout's plan and per-tenant outcome (ids, versions, statuses): the rollout's record. */
  template_rollout_tenants: "kept",
} as const satisfies Record<string, "removed" | "tombstone" | "kept">;

/** Keys of a run's metadata that hold personal data (names, e-mail addresses, initial users). */
export const PERSONAL_METADATA = ["tenant", "admin", "initialDataOverrides", "customTemplate"] as const;

/** Rows per table: what a removal removed (or a dry run would remove). */
export interface TenantRows {
  readonly schema: string;
  readonly schemaExists: boolean;
  readonly controlPlane: Record<string, number>;
  readonly tenantSchema: Record<string, number>;
}

export interface RemovalOptions {
  /** The deprovisioning run whose notices to users stay (detached from the tenant). */
  readonly keepNoticesOf?: string | undefined;
  /**
   * The tenant's cell, where its schema is (`cellsOf(deps).forTenant`). None, or `main`: the schema
   * is in the control-plane database and is read and dropped there, in `tx`.
   */
  readonly cell?: Cell | undefined;
}

/** The database holding the tenant's schema: the control plane's `db` unless it is on another cell. */
function schemaDb(db: Database, options: RemovalOptions): Database {
  return options.cell && !options.cell.isControlPlane ? options.cell.db : db;
}

/** Rows of each table of the tenant's schema, in one statement. */
async function countTenantSchema(db: Database, tenantId: string): Promise<Record<string, number>> {
  const tables = await tenantTableNames(db, tenantId);
  if (tables.length === 0) return {};
  const schema = safeIdentifier(tenantSchemaName(tenantId));
  const rows = await queryRows<{ name: string; n: unknown }>(
    db,
    sql.raw(
      tables
        .map((t) => `SELECT '${t}'::text AS name, count(*) AS n FROM ${schema}.${safeIdentifier(t)}`)
        .join(" UNION ALL "),
    ),
  );
  return Object.fromEntries(rows.map((r) => [r.name, numberValue(r.n)]));
}

/** The notifications the removal takes: all of the tenant's but the kept run's notices to users. */
function removedNotifications(tenantId: string, options: RemovalOptions) {
  const keep = options.keepNoticesOf
    ? sql`AND NOT (progress_id = ${options.keepNoticesOf}::uuid AND kind = 'deprovisioning_notice')`
    : sql``;
  return sql`notifications_outbox WHERE tenant_id = ${tenantId}::uuid ${keep}`;
}

const secretsOf = (tenantId: string) =>
  sql`provisioning_secrets WHERE progress_id IN (SELECT id FROM tenant_provisioning_progress WHERE tenant_id = ${tenantId}::uuid)`;

/** What `removeTenantData` would remove now. Reads only. */
export async function countTenantData(
  db: Database,
  tenantId: string,
  options: RemovalOptions = {},
): Promise<TenantRows> {
  const [cp] = await queryRows<Record<string, unknown>>(
    db,
    sql`SELECT (SELECT count(*) FROM users WHERE tenant_id = ${tenantId}::uuid) AS users,
               (SELECT count(*) FROM api_keys WHERE tenant_id = ${tenantId}::uuid) AS api_keys,
               (SELECT count(*) FROM ${removedNotifications(tenantId, options)}) AS notifications_outbox,
               (SELECT count(*) FROM alerts WHERE tenant_id = ${tenantId}::uuid) AS alerts,
               (SELECT count(*) FROM admin_invitations WHERE tenant_id = ${tenantId}::uuid) AS admin_invitations,
               (SELECT count(*) FROM ${secretsOf(tenantId)}) AS provisioning_secrets,
               (SELECT count(*) FROM tenant_table_counts WHERE tenant_id = ${tenantId}::uuid) AS tenant_table_counts,
               (SELECT count(*) FROM tenants WHERE id = ${tenantId}::uuid) AS tenants`,
  );
  const tenantSchema = await countTenantSchema(schemaDb(db, options), tenantId);
  return {
    schema: tenantSchemaName(tenantId),
    schemaExists: Object.keys(tenantSchema).length > 0,
    controlPlane: controlPlaneCounts(cp ?? {}),
    tenantSchema,
  };
}

function controlPlaneCounts(row: Record<string, unknown>): Record<string, number> {
  return Object.fromEntries(
    Object.entries(TENANT_ROWS)
      .filter(([, what]) => what !== "kept")
      .map(([table]) => [table, numberValue(row[table])]),
  );
}

/** Counts the schema's rows and drops it, in `tx` (the schema's rows counted by the transaction that drops them). */
async function dropSchema(tx: Database, tenantId: string): Promise<Record<string, number>> {
  const tenantSchema = await countTenantSchema(tx, tenantId);
  await tx.execute(sql.raw(`DROP SCHEMA IF EXISTS ${safeIdentifier(tenantSchemaName(tenantId))} CASCADE`));
  return tenantSchema;
}

/**
 * A tenant on another cell than `main`: its schema dropped and its steps' marks deleted there, in
 * a cell transaction of their own that commits before the control-plane part (which cannot share
 * it). Both are idempotent, so a retry after the control-plane part failed does them again
 * harmlessly — only the schema's row counts are then empty, the schema being gone already.
 */
async function dropOnCell(cell: Database, tenantId: string): Promise<Record<string, number>> {
  return cell.transaction(async (tx) => {
    const counted = await dropSchema(tx, tenantId);
    await tx.execute(sql`DELETE FROM cell_step_marks WHERE tenant_id = ${tenantId}::uuid`);
    return counted;
  });
}

/**
 * Removes a tenant's data inside `tx`: drops its schema (on its cell, `options.cell`); deletes its users, API keys, queued
 * notifications (but the kept run's notices, which are detached), alerts, admin invitations and
 * stored admin passwords; cancels its schedules still waiting; removes personal data from its runs' metadata;
 * and leaves the tenant row as a `deprovisioned` tombstone. Returns the rows removed per table
 * (the tables' counts are taken from the deletes themselves). Idempotent.
 */
export async function removeTenantData(
  tx: Database,
  tenantId: string,
  now: Date,
  options: RemovalOptions = {},
): Promise<TenantRows> {
  const schema = tenantSchemaName(tenantId);
  const tenantSchema =
    options.cell && !options.cell.isControlPlane
      ? await dropOnCell(options.cell.db, tenantId)
      : await dropSchema(tx, tenantId);
  const stamp = now.toISOString();
  const [removed] = await queryRows<Record<string, unknown>>(
    tx,
    sql`WITH u AS (DELETE FROM users WHERE tenant_id = ${tenantId}::uuid RETURNING 1),
             k AS (DELETE FROM api_keys WHERE tenant_id = ${tenantId}::uuid RETURNING 1),
             n AS (DELETE FROM ${removedNotifications(tenantId, options)} RETURNING 1),
             a AS (DELETE FROM alerts WHERE tenant_id = ${tenantId}::uuid RETURNING 1),
             i AS (DELETE FROM admin_invitations WHERE tenant_id = ${tenantId}::uuid RETURNING 1),
             s AS (DELETE FROM ${secretsOf(tenantId)} RETURNING 1),
             c AS (DELETE FROM tenant_table_counts WHERE tenant_id = ${tenantId}::uuid RETURNING 1),
             t AS (UPDATE tenants SET slug = NULL, subdomain = NULL, name = '(removed)', settings = '{}'::jsonb,
                          limits = '{}'::jsonb, status = 'deprovisioned', updated_at = ${stamp}::timestamptz
                   WHERE id = ${tenantId}::uuid RETURNING 1)
        SELECT (SELECT count(*) FROM u) AS users, (SELECT count(*) FROM k) AS api_keys,
               (SELECT count(*) FROM n) AS notifications_outbox, (SELECT count(*) FROM a) AS alerts,
               (SELECT count(*) FROM i) AS admin_invitations,
               (SELECT count(*) FROM s) AS provisioning_secrets, (SELECT count(*) FROM c) AS tenant_table_counts,
               (SELECT count(*) FROM t) AS tenants`,
  );
  // The kept notices are still delivered; they no longer name the tenant.
  await tx.execute(sql`UPDATE notifications_outbox SET tenant_id = NULL WHERE tenant_id = ${tenantId}::uuid`);
  await tx.execute(
    sql`UPDATE scheduled_operations SET status = 'cancelled', cancelled_at = ${stamp}::timestamptz,
               error = 'the tenant was removed'
        WHERE tenant_id = ${tenantId}::uuid AND status = 'scheduled'`,
  );
  // A run's large inputs (its custom spec, initial users) are personal data too; so are the users'
  // saved statuses, of no use once the users are gone.
  for (const table of ["run_inputs", "deprovision_disabled_users", "deprovision_notified_users"]) {
    await tx.execute(
      sql`DELETE FROM ${sql.raw(table)} WHERE progress_id IN
            (SELECT id FROM tenant_provisioning_progress WHERE tenant_id = ${tenantId}::uuid)`,
    );
  }
  const keys = sql.raw(PERSONAL_METADATA.map((k) => `'${k}'`).join(", "));
  await tx.execute(sql`
    UPDATE tenant_provisioning_progress
    SET metadata = (coalesce(metadata, '{}'::jsonb) - ARRAY[${keys}]::text[])
                   || jsonb_build_object('personalDataRemovedAt', ${stamp}::text)
    WHERE tenant_id = ${tenantId}::uuid AND coalesce(metadata, '{}'::jsonb) ?| ARRAY[${keys}]::text[]`);
  return {
    schema,
    schemaExists: Object.keys(tenantSchema).length > 0,
    controlPlane: controlPlaneCounts(removed ?? {}),
    tenantSchema,
  };
}
