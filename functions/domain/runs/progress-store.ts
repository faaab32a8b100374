/**
 * Progress records, the data-access layer of runs: reading and writing `tenant_provisioning_progress`
 * rows as typed `ProgressRow`s (every read goes through `toProgressRow`, which fills what older
 * records lack), the API's view of them, and the single-statement attempt mark. Transitions that
 * race (a step finishing, a cancel) lock the row with `SELECT ... FOR UPDATE` first, so they serialise.
 */
import { and, count, desc, eq, getTableColumns, type SQL, sql } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { progressRunFacts, provisioningProgress, tenants } from "../../db/schema.ts";
import { dateValue, queryRows } from "../../db/sql.ts";
import type {
  ProgressRecord,
  ProgressStep,
  ProgressWarning,
  RunKind,
  RunStatus,
} from "../../schemas/progress.ts";
import { NotFoundError } from "../../shared/errors.ts";
import { completedCount, normaliseStep } from "./step-state.ts";

type StoredRow = typeof provisioningProgress.$inferSelect;
type NewRow = typeof provisioningProgress.$inferInsert;

/** A progress record as the domain sees it: nothing the columns' defaults fill is null. */
export interface ProgressRow
  extends Omit<StoredRow, "status" | "steps" | "warnings" | "metadata" | "totalSteps" | "completedSteps"> {
  readonly status: RunStatus;
  readonly steps: ProgressStep[];
  readonly warnings: ProgressWarning[];
  readonly metadata: Record<string, unknown>;
  readonly totalSteps: number;
  readonly completedSteps: number;
}

function toProgressRow(row: StoredRow): ProgressRow {
  return {
    ...row,
    status: row.status ?? "pending",
    steps: (row.steps ?? []).map(normaliseStep),
    warnings: row.warnings ?? [],
    metadata: row.metadata ?? {},
    totalSteps: row.totalSteps ?? 0,
    completedSteps: row.completedSteps ?? 0,
  };
}

function iso(d: Date | null | undefined): string | null {
  return d ? d.toISOString() : null;
}

/** The API's view of a run. */
export function toProgressRecord(row: ProgressRow): ProgressRecord {
  return {
    id: row.id,
    kind: row.kind,
    tenantId: row.tenantId,
    templateId: row.templateId,
    templateVersion: row.templateVersion,
    status: row.status,
    currentStep: row.currentStep,
    totalSteps: row.totalSteps,
    completedSteps: row.completedSteps,
    steps: row.steps,
    startedAt: iso(row.startedAt),
    completedAt: iso(row.completedAt),
    error: row.error,
    warnings: row.warnings,
    metadata: row.metadata,
    attempt: row.attempt,
    executionRef: row.executionRef,
    createdAt: iso(row.createdAt) ?? new Date(0).toISOString(),
    updatedAt: iso(row.updatedAt) ?? new Date(0).toISOString(),
    ...(row.parentId ? { batchId: row.parentId } : {}),
  };
}

/** A new run's record: its kind, steps and metadata; everything else has a default. */
export interface NewRun {
  readonly id?: string;
  readonly kind: RunKind;
  readonly tenantId: string | null;
  readonly templateId: string | null;
  readonly templateVersion: number | null;
  readonly steps: ProgressStep[];
  readonly metadata: Record<string, unknown>;
  readonly now: Date;
  readonly executionRef?: string | null;
  readonly idempotencyKey?: string | null;
  readonly requestHash?: string | null;
}

/** A new run's column values (pending; steps already skipped count as completed). */
function newRunValues(run: NewRun): NewRow {
  return {
    ...(run.id ? { id: run.id } : {}),
    tenantId: run.tenantId,
    templateId: run.templateId,
    templateVersion: run.templateVersion,
    kind: run.kind,
    status: "pending",
    totalSteps: run.steps.length,
    completedSteps: completedCount(run.steps),
    steps: run.steps,
    warnings: [],
    metadata: run.metadata,
    executionRef: run.executionRef ?? null,
    idempotencyKey: run.idempotencyKey ?? null,
    requestHash: run.requestHash ?? null,
    createdAt: run.now,
    updatedAt: run.now,
  };
}

/** Inserts a run's record (pending; steps already skipped count as completed). */
export async function insertRun(tx: Database, run: NewRun): Promise<ProgressRow> {
  const [row] = await tx.insert(provisioningProgress).values(newRunValues(run)).returning();
  return toProgressRow(row!);
}

/**
 * `insertRun` as a statement to run with others (`writesAsOne`), and the row it inserts —
 * the columns it leaves to their defaults as the table's defaults fill them. `run.id` is required:
 * nothing is returned to learn it from.
 */
export function insertRunStatement(
  db: Database,
  run: NewRun & { readonly id: string },
): { statement: SQL; row: ProgressRow } {
  const values = newRunValues(run);
  const row: StoredRow = {
    id: run.id,
    tenantId: run.tenantId,
    templateId: run.templateId,
    status: "pending",
    currentStep: null,
    totalSteps: values.totalSteps ?? 0,
    completedSteps: values.completedSteps ?? 0,
    steps: run.steps,
    startedAt: null,
    completedAt: null,
    error: null,
    warnings: [],
    metadata: run.metadata,
    createdAt: run.now,
    updatedAt: run.now,
    kind: run.kind,
    templateVersion: run.templateVersion,
    attempt: 1,
    executionRef: run.executionRef ?? null,
    idempotencyKey: run.idempotencyKey ?? null,
    requestHash: run.requestHash ?? null,
    parentId: null,
    batchIndex: null,
    batchAttempt: null,
  };
  return { statement: db.insert(provisioningProgress).values(values).getSQL(), row: toProgressRow(row) };
}

export async function getProgressRow(db: Database, id: string): Promise<ProgressRow | undefined> {
  const [row] = await db.select().from(provisioningProgress).where(eq(provisioningProgress.id, id));
  return row ? toProgressRow(row) : undefined;
}

/** The run an `Idempotency-Key` started, if any. */
export async function findRunByIdempotencyKey(db: Database, key: string): Promise<ProgressRow | undefined> {
  const [row] = await db
    .select()
    .from(provisioningProgress)
    .where(eq(provisioningProgress.idempotencyKey, key));
  return row ? toProgressRow(row) : undefined;
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
  const { lockTimeout: _set, ...progress } = row as StoredRow & { lockTimeout?: string };
  return toProgressRow(progress);
}

/** A run's tenant as it is now, joined for the API's readers so that lists can name it. */
const RUN_TENANT = { name: tenants.name, slug: tenants.slug, status: tenants.status, cell: tenants.cell };

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
  return { ...toProgressRecord(toProgressRow(found.progress)), tenant: found.tenant };
}

export interface ListProgressOptions {
  readonly limit: number;
  readonly offset: number;
  readonly status?: RunStatus | undefined;
  readonly tenantId?: string | undefined;
  readonly templateId?: string | undefined;
  readonly kind?: RunKind | undefined;
}

/**
 * How many runs a list filter matches. A tenant's runs are counted through progress_tenant_idx;
 * the others in `progress_run_facts`, the runs' narrow copy (~90 bytes a run against ~1.4 kB of a
 * progress row: a count over every run reads ~190 pages at 10,000 runs rather than ~2,500, and
 * needs no visibility map, which only vacuum keeps).
 */
async function countRuns(db: Database, options: ListProgressOptions): Promise<{ n: number }[]> {
  if (options.tenantId) {
    const conditions: SQL[] = [eq(provisioningProgress.tenantId, options.tenantId)];
    if (options.status) conditions.push(eq(provisioningProgress.status, options.status));
    if (options.templateId) conditions.push(eq(provisioningProgress.templateId, options.templateId));
    if (options.kind) conditions.push(eq(provisioningProgress.kind, options.kind));
    return db
      .select({ n: count() })
      .from(provisioningProgress)
      .where(and(...conditions));
  }
  const conditions: SQL[] = [];
  if (options.status) conditions.push(eq(progressRunFacts.status, options.status));
  if (options.templateId) conditions.push(eq(progressRunFacts.templateId, options.templateId));
  if (options.kind) conditions.push(eq(progressRunFacts.kind, options.kind));
  return db
    .select({ n: count() })
    .from(progressRunFacts)
    .where(conditions.length > 0 ? and(...conditions) : undefined);
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
    countRuns(db, options),
  ]);
  return {
    items: rows.map((r) => ({ ...toProgressRecord(toProgressRow(r.progress)), tenant: r.tenant })),
    total: Number(totals[0]?.n ?? 0),
    limit: options.limit,
    offset: options.offset,
  };
}

/** What a transition changes on a run's record. */
export type ProgressChanges = Partial<
  Pick<
    NewRow,
    "status" | "currentStep" | "completedAt" | "error" | "metadata" | "attempt" | "executionRef" | "warnings"
  >
> & { readonly steps?: ProgressStep[] };

/** Writes changes (new steps, status, …) to a locked row; returns the row as written. */
export async function saveProgress(
  tx: Database,
  id: string,
  changes: ProgressChanges,
  now: Date,
): Promise<ProgressRow> {
  const values: Partial<NewRow> = { ...changes, updatedAt: now };
  if (changes.steps) values.completedSteps = completedCount(changes.steps);
  const [row] = await tx
    .update(provisioningProgress)
    .set(values)
    .where(eq(provisioningProgress.id, id))
    .returning();
  if (!row) throw new NotFoundError("progress record", id);
  return toProgressRow(row);
}

export function appendWarning(row: ProgressRow, warning: ProgressWarning): ProgressWarning[] {
  return [...row.warnings, warning];
}

/** The steps that never pass a terminal status: the attempt mark refuses them. */
const DONE = "'completed', 'skipped'";

/**
 * Records the start of an attempt at a step (or at one action of a Map step) in ONE autocommit
 * statement, so a running step shows as running while its work transaction is open. It makes the
 * change `markRunning` (step-state.ts) makes, in SQL, so that no read, lock or transaction round
 * trip comes before it; `test/integration/step-state-sql.test.ts` checks that the two agree. The
 * row is changed only while the run is active and the step (or action) has not completed;
 * `"not-marked"` means it was not, and the caller reads the row to learn why.
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
  return (await markStepAttemptRow(db, id, step, action, now)) ? "marked" : "not-marked";
}

/** A marked attempt: the row as the mark left it, and a fingerprint of its steps then. */
export interface MarkedAttempt {
  readonly row: ProgressRow;
  /** `md5(steps::text)` after the mark: the steps are unchanged while it still matches. */
  readonly version: string;
}

const TIMESTAMP_COLUMNS = new Set(["startedAt", "completedAt", "createdAt", "updatedAt"]);

/** A progress row read as one JSON value (`to_jsonb(row)`): the same on every driver. */
function progressRowFromJson(json: Record<string, unknown>): ProgressRow {
  const row: Record<string, unknown> = {};
  for (const [key, column] of Object.entries(getTableColumns(provisioningProgress))) {
    const value = json[column.name] ?? null;
    row[key] = TIMESTAMP_COLUMNS.has(key) ? dateValue(value) : value;
  }
  return toProgressRow(row as StoredRow);
}

/**
 * `markStepAttempt` returning the row as marked (undefined: not marked), so that a step needs no
 * other read before its work.
 */
export async function markStepAttemptRow(
  db: Database,
  id: string,
  step: string,
  action: string | undefined,
  now: Date,
): Promise<MarkedAttempt | undefined> {
  const iso = now.toISOString();
  const stepJson = sql`e.value`;
  const wasRunning = sql`(${stepJson}->>'status' = 'running')`;
  const stepAttempts = action
    ? sql`coalesce((${stepJson}->>'attempts')::int, 0) + CASE WHEN ${wasRunning} THEN 0 ELSE 1 END`
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
  const isoText = sql`to_jsonb(${iso}::text)`;
  const marked = await queryRows<{ row: string; version: string }>(
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
                              THEN ${stepJson}->'startedAt' ELSE ${isoText} END,
            'passStartedAt', CASE WHEN ${wasRunning} AND jsonb_typeof(${stepJson}->'passStartedAt') = 'string'
                                  THEN ${stepJson}->'passStartedAt' ELSE ${isoText} END
            ${actions})
          ELSE ${stepJson} END ORDER BY e.ordinality)
        FROM jsonb_array_elements(p.steps) WITH ORDINALITY AS e(value, ordinality))
    WHERE p.id = ${id}::uuid
      AND p.status IN ('pending', 'running')
      AND EXISTS (SELECT 1 FROM jsonb_array_elements(p.steps) s
                  WHERE s->>'name' = ${step}::text
                    AND coalesce(s->>'status', '') NOT IN (${sql.raw(action ? `${DONE}, 'failed'` : DONE)}))
      ${actionNotDone}
    RETURNING to_jsonb(p)::text AS row, md5(p.steps::text) AS version`,
  );
  const [first] = marked;
  if (!first) return undefined;
  return {
    row: progressRowFromJson(JSON.parse(first.row) as Record<string, unknown>),
    version: first.version,
  };
}
