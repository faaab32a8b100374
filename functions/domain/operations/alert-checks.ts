/**
 * The sweep's checks. Each finds its conditions in SQL and raises them as alerts with a
 * `dedupe_key` naming the condition, so a condition is raised once however many sweeps see it:
 *
 * - `run_failed`: a failed run, once per run and attempt (a recovered run that fails again is new),
 *   if it failed within the last `FAILED_RUN_LOOKBACK_DAYS`;
 * - `run_long_running`: a run still running `longRunningMinutes` after it started, once per run and
 *   attempt; the same statement appends a `long_running` warning to the run's `warnings`;
 * - `tenant_over_limit`: a tenant with more users (control plane), schools or products (its own
 *   schema, when that exists) than `tenants.limits` allows, once per tenant, limit and limit value;
 *   a bounded batch of tenants per sweep, round-robin, each checked within a period (`checkTenantLimits`);
 * - `template_failure_rate`: a template whose provisioning runs of the last 24 hours failed at a
 *   high rate, or at a rate well above its previous 7 days; once per template and UTC day.
 */
import { type SQL, sql } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { dateValue, jsonValue, numberValue, queryRows, safeIdentifier } from "../../db/sql.ts";
import type { Alert } from "../../schemas/operations.ts";
import type { Logger } from "../../shared/logger.ts";
import { type CellDirectory, CONTROL_PLANE_CELL, singleCell } from "../cells/cell-directory.ts";
import { tenantSchemaName } from "../tenants/tenant-schema.ts";
import { ALERT_COLUMNS, type AlertCandidate, alertFromRaw, raiseAlerts } from "./alerts.ts";
import { utcTimestamp } from "./stats.ts";

/** A naive UTC timestamp column as ISO 8601 text for jsonb details. */
const isoText = (column: SQL) => sql`to_char(${column}, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/** How an alert names a run of each kind (`alias.kind`). */
const runLabel = (alias: string) =>
  sql.raw(`CASE ${alias}.kind WHEN 'deprovision' THEN 'Deprovisioning' WHEN 'restore' THEN 'Restore'
    WHEN 'upgrade' THEN 'Upgrade' WHEN 'rollout' THEN 'Rollout' ELSE 'Provisioning' END`);
const RUN_LABEL = runLabel("p");

/**
 * Failures that finished longer ago than this when the sweep first sees them (the sweep was down,
 * or alerting was just deployed) are history rather than news; the bound also keeps the check an
 * index range scan however many failed runs retention keeps.
 */
export const FAILED_RUN_LOOKBACK_DAYS = 7;

/** One `run_failed` alert per failed run and attempt (that failed within the lookback). */
export async function raiseFailedRunAlerts(db: Database, now: Date): Promise<Alert[]> {
  const since = new Date(now.getTime() - FAILED_RUN_LOOKBACK_DAYS * 86_400_000);
  const rows = await queryRows(
    db,
    sql`
    INSERT INTO alerts (kind, severity, dedupe_key, subject_type, subject_id, tenant_id, message, details, raised_at)
    SELECT 'run_failed', 'critical', 'run_failed:' || p.id || ':' || p.attempt, 'progress', p.id::text, p.tenant_id,
           ${RUN_LABEL} || ' run ' || p.id || coalesce(' of tenant ' || t.slug, '') || ' failed'
             || coalesce(' at ' || p.current_step, '') || coalesce(': ' || left(p.error, 500), ''),
           jsonb_build_object('progressId', p.id, 'runKind', p.kind, 'attempt', p.attempt,
             'templateId', p.template_id, 'tenantSlug', t.slug, 'step', p.current_step, 'error', p.error,
             'failedAt', ${isoText(sql`p.completed_at`)}),
           ${now.toISOString()}::timestamptz
    FROM tenant_provisioning_progress p
    LEFT JOIN tenants t ON t.id = p.tenant_id
    WHERE p.status = 'failed' AND (p.completed_at IS NULL OR p.completed_at >= ${utcTimestamp(since)})
      AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.dedupe_key = 'run_failed:' || p.id || ':' || p.attempt)
    ORDER BY p.completed_at, p.id
    ON CONFLICT (dedupe_key) DO NOTHING
    RETURNING ${ALERT_COLUMNS}`,
  );
  return rows.map(alertFromRaw);
}

export interface LongRunningOptions {
  readonly now: Date;
  readonly thresholdMinutes: number;
}

/**
 * One `run_long_running` alert per run and attempt still running past the threshold, and in the
 * same statement one `long_running` warning on the run: the warning is added exactly when the
 * alert is new. A run whose record is locked right now is being worked on; it is skipped rather
 * than waited for, and the next sweep looks again.
 */
export async function raiseLongRunningAlerts(db: Database, options: LongRunningOptions): Promise<Alert[]> {
  const { now, thresholdMinutes } = options;
  const cutoff = new Date(now.getTime() - thresholdMinutes * 60_000);
  const rows = await queryRows(
    db,
    sql`
    WITH stuck AS (
      SELECT p.id, p.attempt, p.kind, p.tenant_id, p.template_id, p.current_step, p.started_at,
             floor(date_part('epoch', ${utcTimestamp(now)} - p.started_at) / 60)::bigint AS minutes
      FROM tenant_provisioning_progress p
      WHERE p.status = 'running' AND p.started_at < ${utcTimestamp(cutoff)}
        -- A rollout runs as long as its waves take, and stays running while paused; its upgrade
        -- runs are the ones that must not hang.
        AND p.kind <> 'rollout'
        AND NOT EXISTS (
          SELECT 1 FROM alerts a WHERE a.dedupe_key = 'run_long_running:' || p.id || ':' || p.attempt)
      FOR UPDATE OF p SKIP LOCKED
    ),
    raised AS (
      INSERT INTO alerts (kind, severity, dedupe_key, subject_type, subject_id, tenant_id, message, details, raised_at)
      SELECT 'run_long_running', 'warning', 'run_long_running:' || s.id || ':' || s.attempt, 'progress', s.id::text,
             s.tenant_id,
             ${runLabel("s")} || ' run ' || s.id
               || ' has been running for ' || s.minutes || ' minutes (threshold ' || ${thresholdMinutes}::integer
               || ')' || coalesce(', at step ' || s.current_step, ''),
             jsonb_build_object('progressId', s.id, 'runKind', s.kind, 'attempt', s.attempt,
               'templateId', s.template_id, 'step', s.current_step, 'minutes', s.minutes,
               'thresholdMinutes', ${thresholdMinutes}::integer, 'startedAt', ${isoText(sql`s.started_at`)}),
             ${now.toISOString()}::timestamptz
      FROM stuck s
      ORDER BY s.started_at, s.id
      ON CONFLICT (dedupe_key) DO NOTHING
      RETURNING *
    ),
    warned AS (
      UPDATE tenant_provisioning_progress p
      SET warnings = coalesce(p.warnings, '[]'::jsonb) || jsonb_build_array(jsonb_build_object(
            'at', ${now.toISOString()}::text, 'code', 'long_running', 'message', r.message))
      FROM raised r
      WHERE p.id = r.subject_id::uuid
      RETURNING p.id
    )
    SELECT ${ALERT_COLUMNS} FROM raised`,
  );
  return rows.map(alertFromRaw);
}

/**
 * Resolves `run_long_running` alerts whose run (at that attempt) is no longer running: the
 * condition is over, whatever the outcome (a failure raises its own alert).
 */
export async function resolveFinishedLongRunningAlerts(db: Database, now: Date): Promise<Alert[]> {
  const rows = await queryRows(
    db,
    sql`
    WITH resolved AS (
      UPDATE alerts a
      SET resolved_at = ${now.toISOString()}::timestamptz,
          details = a.details || '{"resolvedBy": "sweep"}'::jsonb
      WHERE a.kind = 'run_long_running' AND a.resolved_at IS NULL
        AND NOT EXISTS (
          SELECT 1 FROM tenant_provisioning_progress p
          WHERE p.id = a.subject_id::uuid AND p.status = 'running'
            AND a.dedupe_key = 'run_long_running:' || p.id || ':' || p.attempt)
      RETURNING a.*
    )
    SELECT ${ALERT_COLUMNS} FROM resolved`,
  );
  return rows.map(alertFromRaw);
}

const LIMIT_OF = { users: "maxUsers", schools: "maxSchools", products: "maxProducts" } as const;
type Counted = keyof typeof LIMIT_OF;

interface Usage {
  readonly tenantId: string;
  readonly slug: string | null;
  readonly what: Counted;
  readonly max: number;
  readonly actual: number;
}

interface TenantTable extends Record<string, unknown> {
  tenant_id: string;
  slug: string | null;
  schema_name: string;
  table_name: "schools" | "products";
  max: unknown;
}

/** Tables counted per statement (one UNION ALL of count(*) each). */
const COUNT_BATCH = 100;

function countStatement(tables: readonly TenantTable[]): SQL {
  return sql.join(
    tables.map(
      (t) =>
        sql`SELECT ${t.tenant_id}::text AS tenant_id, ${t.table_name}::text AS table_name, count(*) AS actual
            FROM ${sql.raw(safeIdentifier(t.schema_name))}.${sql.raw(safeIdentifier(t.table_name))}`,
    ),
    sql` UNION ALL `,
  );
}

/** Counts schools / products in tenant schemas; a schema dropped meanwhile is skipped. */
async function countTenantTables(
  db: Database,
  tables: readonly TenantTable[],
  logger?: Logger,
): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  const key = (tenantId: string, table: string) => `${tenantId}/${table}`;
  for (let i = 0; i < tables.length; i += COUNT_BATCH) {
    const batch = tables.slice(i, i + COUNT_BATCH);
    let rows: Record<string, unknown>[];
    try {
      rows = await queryRows(db, countStatement(batch));
    } catch {
      // A tenant schema may be cleaned up between listing and counting: count one by one.
      rows = [];
      for (const table of batch) {
        try {
          rows.push(...(await queryRows(db, countStatement([table]))));
        } catch (error) {
          logger?.debug("tenant table not counted", {
            schema: table.schema_name,
            table: table.table_name,
            error,
          });
        }
      }
    }
    for (const r of rows) counts.set(key(String(r.tenant_id), String(r.table_name)), numberValue(r.actual));
  }
  return counts;
}

/**
 * How the limit checks pace themselves. They go through the tenants (not deprovisioned) in id
 * order, a batch per sweep, round after round; a sweep's batch is the tenants left in the round
 * divided by the sweeps left before the round is `periodSeconds` old, so a round takes at most the
 * period and every tenant that exists when a round starts is checked in it (one created during a
 * round, with an id the round has passed, in the next: within two periods). A sweep's work is
 * bounded by `maxBatch` whatever the fleet's size; if that bound (or sweeps that did not run) makes
 * a round overrun its period, the sweep logs a warning and the round finishes as fast as the bound
 * allows.
 */
export interface LimitCheckOptions {
  readonly now: Date;
  /** Every tenant is checked at least once per this period (TENANT_LIMIT_CHECK_PERIOD_SECONDS). */
  readonly periodSeconds: number;
  /**
   * The time between sweeps (SWEEP_INTERVAL_SECONDS). When the sweeps observed run further apart
   * (in AWS an EventBridge rule sets the pace), the observed time is used.
   */
  readonly intervalSeconds: number;
  /** Tenants checked per sweep at least: a fleet this small is checked whole every sweep. */
  readonly minBatch?: number;
  /** Tenants checked per sweep at most (TENANT_LIMIT_CHECK_MAX_BATCH). */
  readonly maxBatch?: number;
  readonly logger?: Logger;
  /** The tenant databases; unset: the control-plane database is the only cell. */
  readonly cells?: CellDirectory;
}

/**
 * A tenant whose tables must be counted costs about 1.2-2.7 ms on a connection that has not touched
 * its schema before (its two tables and their indexes opened; bench/scale.ts), which is every such
 * tenant of a round-robin; one whose tables did not change since their last count, ~0.1 ms (their
 * statistics counters read by oid). 20 keep a sweep near 60 ms where the fleet is small; at 10,000
 * tenants a sweep checks ~170 of them: ~100 ms in a round where few tables changed, 200-550 ms in the
 * round that counts them all for the first time (after they were created or the statistics reset).
 */
export const LIMIT_CHECK_DEFAULTS = { minBatch: 20, maxBatch: 1000 } as const;

export interface LimitCheck {
  readonly over: Usage[];
  /** Tenants this sweep checked. */
  readonly checked: number;
  /** Whether this sweep finished a round (the next starts with the first tenant). */
  readonly roundFinished: boolean;
}

const CURSOR = "tenant_limits";
const NO_TENANT = "00000000-0000-0000-0000-000000000000";

interface BatchRow extends Record<string, unknown> {
  tenant_id: string;
  cell: string;
  slug: string | null;
  limits: unknown;
  users: unknown;
}

/** One of a batch's tenant tables: its oid and statistics counters now, and what was recorded. */
interface TableRow extends Record<string, unknown> {
  tenant_id: string;
  table_name: "schools" | "products";
  relid: unknown;
  inserted: unknown;
  deleted: unknown;
  live: unknown;
  /** The recorded count and the counters it was taken with (null: never counted). */
  row_count: unknown;
  counted_relid: unknown;
  counted_inserted: unknown;
  counted_deleted: unknown;
  counted_live: unknown;
}

const truthy = (value: unknown) => value === true || value === "t" || value === "true";
const sameNumber = (a: unknown, b: unknown) => a !== null && b !== null && numberValue(a) === numberValue(b);

/** Whether a table's statistics counters are still those its recorded count was taken with. */
function unchangedSinceCounted(t: TableRow): boolean {
  return (
    sameNumber(t.relid, t.counted_relid) &&
    sameNumber(t.inserted, t.counted_inserted) &&
    sameNumber(t.deleted, t.counted_deleted) &&
    sameNumber(t.live, t.counted_live)
  );
}

/**
 * Drops every recorded count when the database's statistics were reset since the last sweep (its
 * commit counter fell back, or its reset time changed): counters that restarted from zero could
 * otherwise come back to recorded values by chance. Records what this sweep saw.
 */
async function checkStatisticsEpoch(tx: Database): Promise<void> {
  const [seen] = await queryRows<{ changed: unknown }>(
    tx,
    sql`WITH now_seen AS (${statisticsEpochQuery}),
        cursor AS (
          UPDATE sweep_cursors c SET stats_commits = n.commits, stats_reset_at = n.reset_at
          FROM now_seen n, sweep_cursors old
          WHERE c.name = ${CURSOR} AND old.name = ${CURSOR}
          RETURNING old.stats_commits IS NULL OR n.commits < old.stats_commits
                    OR n.reset_at IS DISTINCT FROM old.stats_reset_at AS changed
        )
        SELECT changed FROM cursor`,
  );
  if (truthy(seen?.changed)) {
    await tx.execute(sql`DELETE FROM tenant_table_counts k USING tenants t
      WHERE t.id = k.tenant_id AND t.cell = ${CONTROL_PLANE_CELL}`);
  }
}

/** The database's statistics epoch: its commit counter and when its statistics were last reset. */
const statisticsEpochQuery = sql`SELECT pg_stat_get_db_xact_commit(d.oid) AS commits,
       coalesce(pg_stat_get_db_stat_reset_time(d.oid)::text, '') AS reset_at
  FROM pg_database d WHERE d.datname = current_database()`;

/**
 * `checkStatisticsEpoch` for a cell other than `main`: its epoch is read on the cell and kept in the
 * control plane's cursor row named after the cell; a reset drops the counts of the cell's tenants.
 */
async function checkCellStatisticsEpoch(tx: Database, cellDb: Database, cell: string): Promise<void> {
  const [now] = await queryRows<{ commits: unknown; reset_at: string }>(cellDb, statisticsEpochQuery);
  const name = `${CURSOR}:${cell}`;
  const [seen] = await queryRows<{ changed: unknown }>(
    tx,
    sql`WITH old AS (SELECT stats_commits, stats_reset_at FROM sweep_cursors WHERE name = ${name}),
        upsert AS (
          INSERT INTO sweep_cursors (name, position, round_started_at, last_swept_at, stats_commits, stats_reset_at)
          VALUES (${name}, NULL, now(), now(), ${numberValue(now?.commits)}::bigint, ${now?.reset_at ?? ""})
          ON CONFLICT (name) DO UPDATE SET stats_commits = excluded.stats_commits,
            stats_reset_at = excluded.stats_reset_at
        )
        SELECT NOT EXISTS (SELECT 1 FROM old) OR (SELECT stats_commits IS NULL OR stats_commits > ${numberValue(now?.commits)}::bigint
          OR stats_reset_at IS DISTINCT FROM ${now?.reset_at ?? ""} FROM old) AS changed`,
  );
  if (truthy(seen?.changed)) {
    await tx.execute(sql`DELETE FROM tenant_table_counts k USING tenants t
      WHERE t.id = k.tenant_id AND t.cell = ${cell}`);
  }
}

/**
 * Each of `limited`'s tables looked up by name (a tenant whose schema is not created yet, or was
 * cleaned up, has none) and its statistics counters read by oid — with its recorded count by
 * primary key when `withRecorded` (the tables and the counts in one database: cell `main`).
 */
function tableCountersQuery(
  limited: readonly { tenant_id: string; table_name: Counted }[],
  withRecorded: boolean,
): SQL {
  const recorded = withRecorded
    ? sql`c.row_count, c.relid AS counted_relid, c.inserted AS counted_inserted,
          c.deleted AS counted_deleted, c.live AS counted_live`
    : sql`NULL AS row_count, NULL AS counted_relid, NULL AS counted_inserted, NULL AS counted_deleted,
          NULL AS counted_live`;
  return sql`
    SELECT l.tenant_id, l.table_name, r.relid, pg_stat_get_tuples_inserted(r.relid::oid) AS inserted,
           pg_stat_get_tuples_deleted(r.relid::oid) AS deleted, pg_stat_get_live_tuples(r.relid::oid) AS live,
           ${recorded}
    FROM jsonb_to_recordset(${JSON.stringify(limited)}::jsonb) AS l(tenant_id text, table_name text)
    CROSS JOIN LATERAL (SELECT to_regclass(format('%I.%I',
           'tenant_' || replace(l.tenant_id, '-', ''), l.table_name))::oid::bigint AS relid) r
    ${
      withRecorded
        ? // By primary key, one lookup per table (LIMIT keeps the planner from turning it into a hash
          // join over every recorded count: the table has no statistics here).
          sql`LEFT JOIN LATERAL (SELECT k.row_count, k.relid, k.inserted, k.deleted, k.live FROM tenant_table_counts k
             WHERE k.tenant_id = l.tenant_id::uuid AND k.table_name = l.table_name LIMIT 1) c ON TRUE`
        : sql``
    }
    WHERE r.relid IS NOT NULL`;
}

/**
 * `tableCountersQuery` for the tenants of a cell other than `main`: the tables and their counters
 * on the cell, the recorded counts from the control plane (after the cell's statistics epoch is
 * checked: `checkCellStatisticsEpoch`).
 */
async function cellTableRows(
  tx: Database,
  cellDb: Database,
  cell: string,
  limited: readonly { tenant_id: string; table_name: Counted }[],
): Promise<TableRow[]> {
  await checkCellStatisticsEpoch(tx, cellDb, cell);
  const found = await queryRows<TableRow>(cellDb, tableCountersQuery(limited, false));
  if (found.length === 0) return found;
  const recorded = await queryRows<{
    tenant_id: string;
    table_name: string;
    row_count: unknown;
    relid: unknown;
    inserted: unknown;
    deleted: unknown;
    live: unknown;
  }>(
    tx,
    sql`SELECT l.tenant_id, l.table_name, c.row_count, c.relid, c.inserted, c.deleted, c.live
        FROM jsonb_to_recordset(${JSON.stringify(found.map((f) => ({ tenant_id: f.tenant_id, table_name: f.table_name })))}::jsonb)
          AS l(tenant_id text, table_name text)
        JOIN LATERAL (SELECT k.row_count, k.relid, k.inserted, k.deleted, k.live FROM tenant_table_counts k
                      WHERE k.tenant_id = l.tenant_id::uuid AND k.table_name = l.table_name LIMIT 1) c ON TRUE`,
  );
  const byKey = new Map(recorded.map((r) => [`${r.tenant_id}/${r.table_name}`, r]));
  return found.map((f) => {
    const r = byKey.get(`${f.tenant_id}/${f.table_name}`);
    return r
      ? {
          ...f,
          row_count: r.row_count,
          counted_relid: r.relid,
          counted_inserted: r.inserted,
          counted_deleted: r.deleted,
          counted_live: r.live,
        }
      : f;
  });
}

/**
 * Checks the next batch of tenants against their limits and moves the round-robin cursor, inside
 * `tx`. Count sources, each the cheapest exact one: users are counted in the control plane (the
 * service writes them; an index on tenant_id). Schools and products are written by the tenant's
 * application, not the service, so no count is maintained where the service writes, and the
 * catalog's estimates (`reltuples`, the statistics' `n_live_tup`) are not exact: they are counted
 * with `count(*)`, but only when the table changed since the sweep last counted it. Each table's
 * cumulative statistics counters (rows inserted, deleted, live) are read by oid (two `to_regclass`
 * lookups per tenant: no tenant table is opened) and compared with those recorded with its last
 * count (`tenant_table_counts`); while they match, no insert, delete or truncate has committed
 * since, and the recorded count stands. A change the statistics have not taken in yet (a backend
 * reports them within a second or so of its commit) is counted in the next round; a count is taken
 * after reading the counters, so it never misses a change they show. A reset of the statistics
 * drops every recorded count (`checkStatisticsEpoch`). So a sweep opens only the tables that
 * changed, and a round costs what the tenants' changes cost, not what the fleet's size costs; the
 * first round after a table is created counts it once (~2.7 ms a tenant on a connection that had
 * not touched it; bench/scale.ts). The batch bounds how many tenant schemas one sweep (one
 * connection) touches; node-postgres connections are also retired after
 * DATABASE_CONNECTION_MAX_LIFETIME_SECONDS, since PostgreSQL keeps every relation a connection
 * touched in that connection's cache.
 */
export async function checkTenantLimits(tx: Database, options: LimitCheckOptions): Promise<LimitCheck> {
  const { now, logger } = options;
  const minBatch = options.minBatch ?? LIMIT_CHECK_DEFAULTS.minBatch;
  const maxBatch = Math.max(minBatch, options.maxBatch ?? LIMIT_CHECK_DEFAULTS.maxBatch);
  await tx.execute(
    sql`INSERT INTO sweep_cursors (name, position, round_started_at, last_swept_at)
        VALUES (${CURSOR}, NULL, ${now.toISOString()}::timestamptz, ${now.toISOString()}::timestamptz)
        ON CONFLICT (name) DO NOTHING`,
  );
  // Locked: a second sweep running at the same time waits, then takes the batch after this one.
  const [cursor] = await queryRows<{
    position: string | null;
    round_started_at: unknown;
    last_swept_at: unknown;
  }>(
    tx,
    sql`SELECT position::text AS position, round_started_at, last_swept_at
        FROM sweep_cursors WHERE name = ${CURSOR} FOR UPDATE`,
  );
  await checkStatisticsEpoch(tx);
  const position = cursor?.position ?? null;
  const roundStart = position === null ? now : (dateValue(cursor?.round_started_at) ?? now);
  const lastSwept = dateValue(cursor?.last_swept_at);
  const observed = lastSwept ? (now.getTime() - lastSwept.getTime()) / 1000 : 0;
  const interval = Math.max(options.intervalSeconds, observed, 1);

  const after = position ?? NO_TENANT;
  const [left] = await queryRows<{ n: unknown }>(
    tx,
    sql`SELECT count(*) AS n FROM tenants WHERE id > ${after}::uuid AND status <> 'deprovisioned'`,
  );
  const remaining = numberValue(left?.n);
  const secondsLeft = (roundStart.getTime() + options.periodSeconds * 1000 - now.getTime()) / 1000;
  const sweepsLeft = Math.max(1, Math.floor(secondsLeft / interval));
  const batch = Math.min(maxBatch, Math.max(minBatch, Math.ceil(remaining / sweepsLeft)));
  if (remaining > batch && secondsLeft <= interval) {
    logger?.warn("tenant limit checks are behind their period", {
      remaining,
      batch,
      periodSeconds: options.periodSeconds,
    });
  }

  // The batch by the primary key's order (an index range scan), with its users counted through
  // users (tenant_id, email).
  const rows = await queryRows<BatchRow>(
    tx,
    sql`
    SELECT b.id::text AS tenant_id, b.cell, b.slug, b.limits,
           (SELECT count(*) FROM users u WHERE u.tenant_id = b.id) AS users
    FROM (SELECT t.id, t.cell, t.slug, t.limits FROM tenants t
          WHERE t.id > ${after}::uuid AND t.status <> 'deprovisioned'
          ORDER BY t.id LIMIT ${batch}::integer) b
    ORDER BY b.id`,
  );

  const over: Usage[] = [];
  const limited: { tenant_id: string; table_name: Counted; cell: string }[] = [];
  const limitsOf = new Map<string, { slug: string | null; limits: Record<string, unknown> }>();
  for (const r of rows) {
    const limits = jsonValue<Record<string, unknown> | null>(r.limits) ?? {};
    const slug = r.slug ?? null;
    limitsOf.set(r.tenant_id, { slug, limits });
    const maxUsers = limits.maxUsers;
    if (typeof maxUsers === "number" && numberValue(r.users) > maxUsers) {
      over.push({ tenantId: r.tenant_id, slug, what: "users", max: maxUsers, actual: numberValue(r.users) });
    }
    for (const table of ["products", "schools"] as const) {
      if (typeof limits[LIMIT_OF[table]] === "number")
        limited.push({ tenant_id: r.tenant_id, table_name: table, cell: r.cell });
    }
  }

  // Each cell's tables are looked up and counted on that cell (one cell at a time: a sweep touches
  // no more tenant schemas than its batch holds).
  const cells = options.cells ?? singleCell(tx);
  const tableRows: TableRow[] = [];
  const counts = new Map<string, number>();
  const key = (tenantId: string, table: string) => `${tenantId}/${table}`;
  for (const name of new Set(limited.map((l) => l.cell))) {
    const ofCell = limited
      .filter((l) => l.cell === name)
      .map(({ tenant_id, table_name }) => ({ tenant_id, table_name }));
    const cell = await cells.cell(name);
    const found = cell.isControlPlane
      ? await queryRows<TableRow>(tx, tableCountersQuery(ofCell, true))
      : await cellTableRows(tx, cell.db, name, ofCell);
    tableRows.push(...found);
    const tables: TenantTable[] = [];
    for (const t of found) {
      const tenant = limitsOf.get(t.tenant_id);
      if (!tenant) continue;
      if (unchangedSinceCounted(t)) counts.set(key(t.tenant_id, t.table_name), numberValue(t.row_count));
      else {
        tables.push({
          tenant_id: t.tenant_id,
          slug: tenant.slug,
          schema_name: tenantSchemaName(t.tenant_id),
          table_name: t.table_name,
          max: tenant.limits[LIMIT_OF[t.table_name]],
        });
      }
    }
    // Cell main is the control plane: counted inside the sweep's transaction (PGlite has one connection).
    const fresh = await countTenantTables(cell.isControlPlane ? tx : cell.db, tables, logger);
    const counted = found.filter((t) => fresh.has(key(t.tenant_id, t.table_name)));
    if (counted.length > 0) {
      const records = counted.map((t) => ({
        tenant_id: t.tenant_id,
        table_name: t.table_name,
        relid: numberValue(t.relid),
        row_count: fresh.get(key(t.tenant_id, t.table_name)),
        inserted: numberValue(t.inserted),
        deleted: numberValue(t.deleted),
        live: numberValue(t.live),
      }));
      await tx.execute(sql`
        INSERT INTO tenant_table_counts (tenant_id, table_name, relid, row_count, inserted, deleted, live, counted_at)
        SELECT r.tenant_id, r.table_name, r.relid, r.row_count, r.inserted, r.deleted, r.live,
               ${now.toISOString()}::timestamptz
        FROM jsonb_to_recordset(${JSON.stringify(records)}::jsonb) AS r(tenant_id uuid, table_name text,
             relid bigint, row_count bigint, inserted bigint, deleted bigint, live bigint)
        ON CONFLICT (tenant_id, table_name) DO UPDATE
          SET relid = excluded.relid, row_count = excluded.row_count, inserted = excluded.inserted,
              deleted = excluded.deleted, live = excluded.live, counted_at = excluded.counted_at`);
    }
    for (const [k, n] of fresh) counts.set(k, n);
  }
  const actual = counts;
  for (const t of tableRows) {
    const tenant = limitsOf.get(t.tenant_id);
    const n = actual.get(key(t.tenant_id, t.table_name));
    const max = tenant?.limits[LIMIT_OF[t.table_name]];
    if (tenant && n !== undefined && typeof max === "number" && n > max) {
      over.push({ tenantId: t.tenant_id, slug: tenant.slug, what: t.table_name, max, actual: n });
    }
  }

  const roundFinished = rows.length >= remaining;
  const last = rows.at(-1)?.tenant_id ?? null;
  await tx.execute(
    sql`UPDATE sweep_cursors
        SET position = ${roundFinished ? null : last}::uuid,
            round_started_at = ${roundStart.toISOString()}::timestamptz,
            last_swept_at = ${now.toISOString()}::timestamptz
        WHERE name = ${CURSOR}`,
  );
  return { over, checked: rows.length, roundFinished };
}

/** One `tenant_over_limit` alert per tenant, limit and limit value, for this sweep's batch of tenants. */
export async function raiseTenantLimitAlerts(
  db: Database,
  options: LimitCheckOptions,
): Promise<{ raised: Alert[]; checked: number; roundFinished: boolean }> {
  const { over, checked, roundFinished } = await checkTenantLimits(db, options);
  const candidates: AlertCandidate[] = over.map((u) => {
    const limit = LIMIT_OF[u.what];
    return {
      kind: "tenant_over_limit",
      severity: "warning",
      dedupeKey: `tenant_over_limit:${u.tenantId}:${limit}:${u.max}`,
      subjectType: "tenant",
      subjectId: u.tenantId,
      tenantId: u.tenantId,
      message: `Tenant ${u.slug ?? u.tenantId} has ${u.actual} ${u.what}, over its limit of ${u.max} (${limit})`,
      details: { tenantSlug: u.slug, limit, max: u.max, actual: u.actual },
    };
  });
  return { raised: await raiseAlerts(db, candidates, options.now), checked, roundFinished };
}

/**
 * Template failure-rate thresholds. Rates are failed / finished (completed, failed, cancelled)
 * provisioning runs created in the window; compared in integers so that 0.6 − 0.3 is 0.3.
 */
export const TEMPLATE_PATTERN = {
  /** Finished runs in the last 24 hours needed before a rate means anything. */
  minRuns: 3,
  /** A failure rate at or above this share (in percent) over the last 24 hours. */
  highRatePercent: 50,
  /** Or this many percentage points above the previous 7 days (which need `minRuns` too). */
  jumpPoints: 30,
} as const;

/** One `template_failure_rate` alert per template and UTC day whose recent failure rate is high or jumped. */
export async function raiseTemplatePatternAlerts(db: Database, now: Date): Promise<Alert[]> {
  const dayAgo = new Date(now.getTime() - 86_400_000);
  const weekBefore = new Date(dayAgo.getTime() - 7 * 86_400_000);
  const day = now.toISOString().slice(0, 10);
  const { minRuns, highRatePercent, jumpPoints } = TEMPLATE_PATTERN;
  const rows = await queryRows(
    db,
    sql`
    WITH w AS (
      SELECT p.template_id,
             count(*) FILTER (WHERE p.created_at >= ${utcTimestamp(dayAgo)}
                              AND p.status IN ('completed', 'failed', 'cancelled')) AS rn,
             count(*) FILTER (WHERE p.created_at >= ${utcTimestamp(dayAgo)} AND p.status = 'failed') AS rf,
             count(*) FILTER (WHERE p.created_at < ${utcTimestamp(dayAgo)}
                              AND p.status IN ('completed', 'failed', 'cancelled')) AS bn,
             count(*) FILTER (WHERE p.created_at < ${utcTimestamp(dayAgo)} AND p.status = 'failed') AS bf
      FROM progress_run_facts p
      WHERE p.kind = 'provision' AND p.template_id IS NOT NULL
        AND p.created_at >= ${utcTimestamp(weekBefore)} AND p.created_at < ${utcTimestamp(now)}
      GROUP BY p.template_id
    ),
    flagged AS (
      SELECT w.*,
             100 * w.rf >= ${highRatePercent}::integer * w.rn AS high,
             w.bn >= ${minRuns}::integer
               AND 100 * (w.rf * w.bn - w.bf * w.rn) >= ${jumpPoints}::integer * w.rn * w.bn AS jumped
      FROM w
      WHERE w.rn >= ${minRuns}::integer
    )
    INSERT INTO alerts (kind, severity, dedupe_key, subject_type, subject_id, tenant_id, message, details, raised_at)
    SELECT 'template_failure_rate', 'warning', 'template_failure_rate:' || f.template_id || ':' || ${day}::text,
           'template', f.template_id::text, NULL,
           'Template ' || coalesce('"' || t.name || '"', f.template_id::text) || ': ' || f.rf || ' of ' || f.rn
             || ' provisioning runs in the last 24 hours failed (' || round(100.0 * f.rf / f.rn) || '%'
             || CASE WHEN f.bn > 0 THEN '; previous 7 days ' || round(100.0 * f.bf / f.bn) || '%' ELSE '' END || ')',
           jsonb_build_object('templateId', f.template_id, 'templateName', t.name,
             'reasons', to_jsonb(array_remove(ARRAY[
               CASE WHEN f.high THEN 'high_failure_rate' END,
               CASE WHEN f.jumped THEN 'failure_rate_jump' END], NULL)),
             'last24h', jsonb_build_object('finished', f.rn, 'failed', f.rf),
             'previous7d', jsonb_build_object('finished', f.bn, 'failed', f.bf)),
           ${now.toISOString()}::timestamptz
    FROM flagged f LEFT JOIN tenant_templates t ON t.id = f.template_id
    WHERE f.high OR f.jumped
    ORDER BY f.template_id
    ON CONFLICT (dedupe_key) DO NOTHING
    RETURNING ${ALERT_COLUMNS}`,
  );
  return rows.map(alertFromRaw);
}
