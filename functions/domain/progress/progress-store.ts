/**
 * Progress records: reading them for the API, and the small state transitions every step and
 * every run-control action makes. All transitions that race (a step finishing, a cancel) lock the
 * progress row with `SELECT ... FOR UPDATE` first, so they serialise.
 */
import { and, count, desc, eq, type SQL } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { provisioningProgress } from "../../db/schema.ts";
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

/** Locks a progress row for the rest of the transaction. */
export async function lockProgressRow(tx: Database, id: string): Promise<ProgressRow> {
  const [row] = await tx
    .select()
    .from(provisioningProgress)
    .where(eq(provisioningProgress.id, id))
    .for("update");
  if (!row) throw new NotFoundError("progress record", id);
  return row;
}

/** Reads a run for a caller; a tenant_admin sees only its own tenant's runs (others are 404). */
export async function getProgressFor(
  db: Database,
  id: string,
  tenantScope: string | null,
): Promise<ProgressRecord> {
  const row = await getProgressRow(db, id);
  if (!row || (tenantScope !== null && row.tenantId !== tenantScope))
    throw new NotFoundError("progress record", id);
  return toProgressRecord(row);
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
      .select()
      .from(provisioningProgress)
      .where(where)
      .orderBy(desc(provisioningProgress.createdAt), desc(provisioningProgress.id))
      .limit(options.limit)
      .offset(options.offset),
    db.select({ n: count() }).from(provisioningProgress).where(where),
  ]);
  return {
    items: rows.map(toProgressRecord),
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
