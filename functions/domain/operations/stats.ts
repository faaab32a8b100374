/**
 * Provisioning statistics, computed by the database: every figure is an aggregate, no progress
 * record is read into the process. Run counts, rates, per-template figures and completion times
 * come from `progress_run_facts`, a narrow copy of each run's kind, status,
 * template and times kept by triggers (migrations/0014_scale_counts.sql): a scan of it reads ~200
 * pages at 10,000 runs, visibility map or not; per-step figures come from the
 * `progress_step_daily` rollup (kept by triggers, see migrations/0004_operations.sql), plus the
 * records themselves for the partial days at the edges of a window; runs in progress from the
 * partial index `progress_active_idx`.
 */
import { type SQL, sql } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { numberValue, queryRows } from "../../db/sql.ts";
import type { ProvisioningStats, StatusCounts } from "../../schemas/operations.ts";
import { RUN_KINDS, RUN_STATUSES, type RunKind, type RunStatus } from "../../schemas/progress.ts";

export interface StatsOptions {
  /** Runs created at or after this instant. */
  readonly from?: Date | undefined;
  /** Runs created before this instant. */
  readonly to?: Date | undefined;
  readonly now: Date;
}

const DAY_MS = 86_400_000;

/** An instant as the naive UTC timestamp the progress columns hold (cast in SQL: every driver agrees). */
export function utcTimestamp(instant: Date): SQL {
  return sql`(${instant.toISOString()}::timestamptz AT TIME ZONE 'UTC')`;
}

function nullableNumber(value: unknown): number | null {
  return value === null || value === undefined ? null : numberValue(value);
}

function zeroCounts(): Record<RunStatus, number> {
  return Object.fromEntries(RUN_STATUSES.map((s) => [s, 0])) as Record<RunStatus, number>;
}

/** `from ≤ created_at < to` on the progress table aliased `p`; TRUE when unbounded. */
function createdWithin(from: Date | undefined, to: Date | undefined): SQL {
  const parts: SQL[] = [];
  if (from) parts.push(sql`p.created_at >= ${utcTimestamp(from)}`);
  if (to) parts.push(sql`p.created_at < ${utcTimestamp(to)}`);
  return parts.length === 0 ? sql`TRUE` : sql.join(parts, sql` AND `);
}

interface StepSources {
  /** Whole days (UTC) read from the rollup: `[fromDay, toDay)`; null bounds are open. */
  readonly rollup: { readonly fromDay: string | null; readonly toDay: string | null } | null;
  /** Partial days read from the records: `[from, to)` ranges. */
  readonly edges: readonly (readonly [Date, Date])[];
}

const isoDay = (d: Date) => d.toISOString().slice(0, 10);
const floorDay = (d: Date) => new Date(Math.floor(d.getTime() / DAY_MS) * DAY_MS);
const ceilDay = (d: Date) => new Date(Math.ceil(d.getTime() / DAY_MS) * DAY_MS);

/**
 * Splits a window into the whole days the rollup answers and the partial days at its edges, which
 * only the records can answer (the rollup is by the UTC day a run was created).
 */
export function stepSources(from: Date | undefined, to: Date | undefined): StepSources {
  const fromDay = from ? ceilDay(from) : undefined;
  const toDay = to ? floorDay(to) : undefined;
  if (fromDay && toDay && fromDay.getTime() >= toDay.getTime()) {
    return { rollup: null, edges: from!.getTime() < to!.getTime() ? [[from!, to!]] : [] };
  }
  const edges: [Date, Date][] = [];
  if (from && fromDay && from.getTime() < fromDay.getTime()) edges.push([from, fromDay]);
  if (to && toDay && toDay.getTime() < to.getTime()) edges.push([toDay, to]);
  return {
    rollup: { fromDay: fromDay ? isoDay(fromDay) : null, toDay: toDay ? isoDay(toDay) : null },
    edges,
  };
}

interface GroupRow extends Record<string, unknown> {
  grouping: unknown;
  /** Null in the groupings that roll kinds or statuses up. */
  kind: RunKind | null;
  status: RunStatus | null;
  template_id: string | null;
  template_name: string | null;
  runs: unknown;
  completed: unknown;
  failed: unknown;
  finished: unknown;
  success_rate: unknown;
  failure_rate: unknown;
}

/**
 * One scan grouped by kind, status and template (a few dozen groups at most), then five grouping
 * sets over those groups. `grouping(kind, status, template_id)` tells the sets apart:
 * 7 = all runs, 5 = by status, 3 = by kind, 1 = by kind and status, 2 = by kind and template.
 */
function countsQuery(window: SQL): SQL {
  return sql`
    WITH b AS (
      SELECT p.kind, p.status, p.template_id, count(*) AS runs
      FROM progress_run_facts p
      WHERE ${window}
      GROUP BY p.kind, p.status, p.template_id
    ),
    g AS (
      SELECT grouping(b.kind, b.status, b.template_id) AS grouping, b.kind, b.status, b.template_id,
             coalesce(sum(b.runs), 0) AS runs,
             coalesce(sum(b.runs) FILTER (WHERE b.status = 'completed'), 0) AS completed,
             coalesce(sum(b.runs) FILTER (WHERE b.status = 'failed'), 0) AS failed,
             coalesce(sum(b.runs) FILTER (WHERE b.status IN ('completed', 'failed', 'cancelled')), 0) AS finished
      FROM b
      GROUP BY GROUPING SETS ((), (b.status), (b.kind), (b.kind, b.status), (b.kind, b.template_id))
    )
    SELECT g.grouping, g.kind, g.status, g.template_id::text AS template_id, t.name AS template_name,
           g.runs, g.completed, g.failed, g.finished,
           g.completed::double precision / nullif(g.finished, 0) AS success_rate,
           g.failed::double precision / nullif(g.finished, 0) AS failure_rate
    FROM g LEFT JOIN tenant_templates t ON g.grouping = 2 AND t.id = g.template_id
    ORDER BY g.grouping, g.runs DESC, t.name, g.template_id`;
}

function completionQuery(window: SQL): SQL {
  return sql`
    SELECT count(*) AS runs, avg(c.ms) AS average,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY c.ms) AS median,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY c.ms) AS p95
    FROM (
      SELECT date_part('epoch', p.completed_at - p.started_at) * 1000 AS ms
      FROM progress_run_facts p
      WHERE p.status = 'completed' AND p.started_at IS NOT NULL AND p.completed_at IS NOT NULL
        AND ${window}
    ) c`;
}

function stepsQuery(sources: StepSources): SQL {
  const parts: SQL[] = [];
  if (sources.rollup) {
    const conditions: SQL[] = [sql`TRUE`];
    if (sources.rollup.fromDay) conditions.push(sql`d.day >= ${sources.rollup.fromDay}::date`);
    if (sources.rollup.toDay) conditions.push(sql`d.day < ${sources.rollup.toDay}::date`);
    parts.push(sql`
      SELECT d.name, d.step_position, d.completed, d.failed, d.duration_sum_ms, d.duration_count
      FROM progress_step_daily d WHERE ${sql.join(conditions, sql` AND `)}`);
  }
  if (sources.edges.length > 0) {
    const ranges = sources.edges.map(([a, b]) => sql`(${createdWithin(a, b)})`);
    parts.push(sql`
      SELECT f.name, f.step_position, f.completed, f.failed, f.duration_sum_ms, f.duration_count
      FROM tenant_provisioning_progress p, progress_step_facts(p.created_at, p.steps, 1) f
      WHERE ${sql.join(ranges, sql` OR `)}`);
  }
  if (parts.length === 0) return sql`SELECT NULL AS name WHERE FALSE`;
  return sql`
    SELECT s.name, min(s.step_position) AS step_position, sum(s.completed) AS completed,
           sum(s.failed) AS failed, sum(s.duration_sum_ms) / nullif(sum(s.duration_count), 0) AS average_ms
    FROM (${sql.join(parts, sql` UNION ALL `)}) s
    GROUP BY s.name
    HAVING sum(s.completed) > 0 OR sum(s.failed) > 0
    ORDER BY min(s.step_position), s.name`;
}

const IN_PROGRESS_QUERY = sql`
  SELECT count(*) FILTER (WHERE p.status = 'running') AS running,
         count(*) FILTER (WHERE p.status = 'pending') AS pending
  FROM tenant_provisioning_progress p
  WHERE p.status IN ('running', 'pending')`;

/** The statistics of runs created in `[from, to)` (all runs when unbounded). */
export async function provisioningStats(db: Database, options: StatsOptions): Promise<ProvisioningStats> {
  const { from, to, now } = options;
  const window = createdWithin(from, to);
  const [groups, completion, steps, inProgress] = await Promise.all([
    queryRows<GroupRow>(db, countsQuery(window)),
    queryRows(db, completionQuery(window)),
    queryRows(db, stepsQuery(stepSources(from, to))),
    queryRows(db, IN_PROGRESS_QUERY),
  ]);

  const byStatus = zeroCounts();
  const byKind = Object.fromEntries(RUN_KINDS.map((k) => [k, { runs: 0, byStatus: zeroCounts() }])) as Record<
    RunKind,
    { runs: number; byStatus: StatusCounts }
  >;
  let all: GroupRow | undefined;
  const templates: ProvisioningStats["templates"] = [];
  for (const row of groups) {
    const g = numberValue(row.grouping);
    const { kind, status } = row;
    if (g === 7) all = row;
    else if (g === 5 && status && status in byStatus) byStatus[status] = numberValue(row.runs);
    else if (g === 3 && kind && byKind[kind]) byKind[kind].runs = numberValue(row.runs);
    else if (g === 1 && kind && byKind[kind] && status && status in byStatus)
      byKind[kind].byStatus[status] = numberValue(row.runs);
    else if (g === 2 && kind === "provision") {
      templates.push({
        templateId: row.template_id,
        templateName: row.template_name,
        runs: numberValue(row.runs),
        completed: numberValue(row.completed),
        failed: numberValue(row.failed),
        successRate: nullableNumber(row.success_rate),
      });
    }
  }
  const c = completion[0] ?? {};
  const running = inProgress[0] ?? {};
  return {
    window: { from: from?.toISOString() ?? null, to: to?.toISOString() ?? null },
    generatedAt: now.toISOString(),
    totals: { runs: numberValue(all?.runs), byStatus, byKind },
    rates: {
      finished: numberValue(all?.finished),
      success: nullableNumber(all?.success_rate),
      failure: nullableNumber(all?.failure_rate),
    },
    completionTimeMs: {
      runs: numberValue(c.runs),
      average: nullableNumber(c.average),
      median: nullableNumber(c.median),
      p95: nullableNumber(c.p95),
    },
    templates,
    steps: steps.map((s) => ({
      name: String(s.name),
      completed: numberValue(s.completed),
      failures: numberValue(s.failed),
      averageDurationMs: nullableNumber(s.average_ms),
    })),
    inProgress: { running: numberValue(running.running), pending: numberValue(running.pending) },
  };
}
