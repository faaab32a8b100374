/**
 * Progress records: reading them for the API, and the small state transitions every step and
 * every run-control action makes. All transitions that race (a step finishing, a cancel) lock the
 * progress row with `SELECT ... FOR UPDATE` first, so they serialise.
 */
import { and, count, desc, eq, getTableColumns, type SQL, sql } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { provisioningProgress, tenants } from "../../db/schema.ts";
import { queryRows } from "../../db/sql.ts";
import type {
  ProgressRecord,
  ProgressStep,
  ProgressWarning,
  RunKindName,
  RunStatus,
  StepError,
} from "../../schemas/progress.ts";
import { NotFoundError } from "../../shared/errors.ts";
import type { StepDefinition } from "../../workflows/step-catalog.ts";

export type ProgressRow = typeof provisioningProgress.$inferSelect;

export const ACTIVE_STATUSES: readonly RunStatus[] = ["pending", "running"];
export const FINISHED_STATUSES: readonly RunStatus[] = ["completed", "failed", "cancelled"];

function iso(d: Date | null | undefined): string | null {
  return d ? d.toISOString() : null;
}

export function toProgressRecord(row: ProgressRow): ProgressRecord {
  return {
    id: row.id,
    kind: row.kind as RunKindName,
    tenantId: row.tenantId,
    templateId: row.templateId,
    templateVersion: row.templateVersion,
    status: (row.status ?? "pending") as RunStatus,
    currentStep: row.currentStep,
    totalSteps: row.totalSteps ?? 0,
    completedSteps: row.completedSteps ?? 0,
    steps: (row.steps ?? []) as ProgressStep[],
    startedAt: iso(row.startedAt),
    completedAt: iso(row.completedAt),
    error: row.error,
    warnings: (row.warnings ?? []) as ProgressWarning[],
    metadata: row.metadata ?? {},
    attempt: row.attempt,
    executionRef: row.executionRef,
    createdAt: iso(row.createdAt) ?? new Date(0).toISOString(),
    updatedAt: iso(row.updatedAt) ?? new Date(0).toISOString(),
  };
}

/** Fresh `steps` for a new run: every step pending. */
export function initialSteps(definitions: readonly StepDefinition[]): ProgressStep[] {
  return definitions.map((d) => ({
    id: d.id,
    name: d.name,
    title: d.title,
    status: "pending",
    attempts: 0,
    startedAt: null,
    completedAt: null,
    durationMs: null,
    error: null,
  }));
}

export async function getProgressRow(db: Database, id: string): Promise<ProgressRow | undefined> {
  const [row] = await db.select().from(provisioningProgress).where(eq(provisioningProgress.id, id));
  return row;
}

/**
 * Locks a progress row for the rest of the transaction. With `lockTimeoutMs`, the transaction's
 * `lock_timeout` is set in the same round trip (it also bounds the wait for this row).
 */
export async function lockProgressRow(
  tx: Database,
  id: string,
  lockTimeoutMs?: number,
): Promise<ProgressRow> {
  const columns = getTableColumns(provisioningProgress);
  const query =
    lockTimeoutMs === undefined
      ? tx.select(columns)
      : tx.select({
          ...columns,
          lockTimeout: sql<string>`set_config('lock_timeout', ${`${Math.max(1, Math.floor(lockTimeoutMs))}ms`}::text, true)`,
        });
  const [row] = await query.from(provisioningProgress).where(eq(provisioningProgress.id, id)).for("update");
  if (!row) throw new NotFoundError("progress record", id);
  const { lockTimeout: _set, ...progress } = row as ProgressRow & { lockTimeout?: string };
  return progress;
}

/** A run's tenant as it is now, joined for the API's readers so that lists can name it. */
const RUN_TENANT = { name: tenants.name, slug: tenants.slug, status: tenants.status };

/** Reads a run for a caller; a tenant_admin sees only its own tenant's runs (others are 404). */
export async function getProgressFor(
  db: Database,
  id: string,
  tenantScope: string | null,
): Promise<ProgressRecord> {
  const [found] = await db
    .select({ progress: provisioningProgress, tenant: RUN_TENANT })
    .from(provisioningProgress)
    .leftJoin(tenants, eq(tenants.id, provisioningProgress.tenantId))
    .where(eq(provisioningProgress.id, id));
  if (!found || (tenantScope !== null && found.progress.tenantId !== tenantScope))
    throw new NotFoundError("progress record", id);
  return { ...toProgressRecord(found.progress), tenant: found.tenant };
}

export interface ListProgressOptions {
  readonly limit: number;
  readonly offset: number;
  readonly status?: RunStatus | undefined;
  readonly tenantId?: string | undefined;
  readonly templateId?: string | undefined;
  readonly kind?: RunKindName | undefined;
}

export async function listProgress(
  db: Database,
  options: ListProgressOptions,
): Promise<{ items: ProgressRecord[]; total: number; limit: number; offset: number }> {
  const conditions: SQL[] = [];
  if (options.status) conditions.push(eq(provisioningProgress.status, options.status));
  if (options.tenantId) conditions.push(eq(provisioningProgress.tenantId, options.tenantId));
  if (options.templateId) conditions.push(eq(provisioningProgress.templateId, options.templateId));
  if (options.kind) conditions.push(eq(provisioningProgress.kind, options.kind));
  const where = conditions.length > 0 ? and(...conditions) : undefined;
  const [rows, totals] = await Promise.all([
    db
      .select({ progress: provisioningProgress, tenant: RUN_TENANT })
      .from(provisioningProgress)
      .leftJoin(tenants, eq(tenants.id, provisioningProgress.tenantId))
      .where(where)
      .orderBy(desc(provisioningProgress.createdAt), desc(provisioningProgress.id))
      .limit(options.limit)
      .offset(options.offset),
    db.select({ n: count() }).from(provisioningProgress).where(where),
  ]);
  return {
    items: rows.map((r) => ({ ...toProgressRecord(r.progress), tenant: r.tenant })),
    total: Number(totals[0]?.n ?? 0),
    limit: options.limit,
    offset: options.offset,
  };
}

/** Counts completed steps (the progress record keeps it denormalised for listing). */
export function completedCount(steps: readonly ProgressStep[]): number {
  return steps.filter((s) => s.status === "completed" || s.status === "skipped").length;
}

/** Writes new steps (and any other fields) to a locked row. */
export async function saveProgress(
  tx: Database,
  id: string,
  changes: Partial<typeof provisioningProgress.$inferInsert> & { steps?: ProgressStep[] },
  now: Date,
): Promise<ProgressRow> {
  const values: Partial<typeof provisioningProgress.$inferInsert> = { ...changes, updatedAt: now };
  if (changes.steps) values.completedSteps = completedCount(changes.steps);
  const [row] = await tx
    .update(provisioningProgress)
    .set(values)
    .where(eq(provisioningProgress.id, id))
    .returning();
  if (!row) throw new NotFoundError("progress record", id);
  return row;
}

/** Returns a copy of `steps` with the named step changed. */
export function updateStep(
  steps: readonly ProgressStep[],
  name: string,
  change: (step: ProgressStep) => ProgressStep,
): ProgressStep[] {
  return steps.map((s) => (s.name === name ? change(s) : s));
}

export function stepError(name: string, message: string): StepError {
  return { name, message: message.length > 2000 ? `${message.slice(0, 2000)}…` : message };
}

/** The first step that has not completed (where recover and resume start). */
export function firstUnfinishedStep(steps: readonly ProgressStep[]): ProgressStep | undefined {
  return steps.find((s) => s.status !== "completed" && s.status !== "skipped");
}

export function appendWarning(row: ProgressRow, warning: ProgressWarning): ProgressWarning[] {
  return [...((row.warnings ?? []) as ProgressWarning[]), warning];
}

/**
 * Records the start of an attempt at a step (or at one action of a Map step) in ONE autocommit
 * statement, so a running step shows as running while its work transaction is open: status
 * running, attempts + 1 (a Map step counts one attempt per pass over its actions, not one per
 * action), startedAt kept from the first attempt, current_step. The row is changed only while the
 * run is active and the step (or action) has not completed; `"not-marked"` means it was not, and
 * the caller reads the row to learn why. The same change as `updateStep` would make, done in SQL
 * so that no read, lock or transaction round trip comes before it.
 *
 * An action of a Map step that has failed is not started: a pass over the actions stops at the
 * first failure, as a Step Functions Map does (aws-local-stepfunctions goes on starting the items
 * still queued). Every new pass starts with the step pending: resuming a run resets its failed
 * steps.
 */
export async function markStepAttempt(
  db: Database,
  id: string,
  step: string,
  action: string | undefined,
  now: Date,
): Promise<"marked" | "not-marked"> {
  const iso = now.toISOString();
  const stepJson = sql`e.value`;
  const stepAttempts = action
    ? sql`coalesce((${stepJson}->>'attempts')::int, 0) + CASE WHEN ${stepJson}->>'status' = 'running' THEN 0 ELSE 1 END`
    : sql`coalesce((${stepJson}->>'attempts')::int, 0) + 1`;
  const actions = action
    ? sql`, 'actions', CASE
        WHEN EXISTS (SELECT 1 FROM jsonb_array_elements(coalesce(${stepJson}->'actions', '[]'::jsonb)) x
                     WHERE x->>'name' = ${action}::text)
        THEN (SELECT jsonb_agg(CASE WHEN a.value->>'name' = ${action}::text
                                    THEN a.value || jsonb_build_object('status', 'running',
                                         'attempts', coalesce((a.value->>'attempts')::int, 0) + 1)
                                    ELSE a.value END ORDER BY a.ordinality)
              FROM jsonb_array_elements(${stepJson}->'actions') WITH ORDINALITY AS a(value, ordinality))
        ELSE coalesce(${stepJson}->'actions', '[]'::jsonb) || jsonb_build_array(jsonb_build_object(
          'name', ${action}::text, 'status', 'running', 'attempts', 1, 'completedAt', NULL, 'error', NULL))
      END`
    : sql``;
  const actionNotDone = action
    ? sql`AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(p.steps) s,
                            jsonb_array_elements(coalesce(s->'actions', '[]'::jsonb)) x
                          WHERE s->>'name' = ${step}::text AND x->>'name' = ${action}::text
                            AND x->>'status' = 'completed')`
    : sql``;
  const marked = await queryRows<{ id: string }>(
    db,
    sql`
    UPDATE tenant_provisioning_progress AS p SET
      status = 'running',
      current_step = ${step}::text,
      started_at = coalesce(p.started_at, ${iso}::timestamp),
      updated_at = ${iso}::timestamp,
      steps = (
        SELECT jsonb_agg(CASE WHEN ${stepJson}->>'name' = ${step}::text
          THEN ${stepJson} || jsonb_build_object(
            'status', 'running',
            'attempts', ${stepAttempts},
            'startedAt', CASE WHEN jsonb_typeof(${stepJson}->'startedAt') = 'string'
                              THEN ${stepJson}->'startedAt' ELSE to_jsonb(${iso}::text) END
            ${actions})
          ELSE ${stepJson} END ORDER BY e.ordinality)
        FROM jsonb_array_elements(p.steps) WITH ORDINALITY AS e(value, ordinality))
    WHERE p.id = ${id}::uuid
      AND p.status IN ('pending', 'running')
      AND EXISTS (SELECT 1 FROM jsonb_array_elements(p.steps) s
                  WHERE s->>'name' = ${step}::text
                    AND coalesce(s->>'status', '') NOT IN (${sql.raw(action ? "'completed', 'skipped', 'failed'" : "'completed', 'skipped'")}))
      ${actionNotDone}
    RETURNING p.id`,
  );
  return marked.length > 0 ? "marked" : "not-marked";
}
