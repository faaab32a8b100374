/**
 * A batch's children as the batch sees them: their ids in item order (the Map's items), their
 * counts by status, a page of them for the API, and the failures that count against an attempt's
 * budget. Every read is bounded: counts are aggregated in SQL, lists are paged, errors truncated.
 */
import { and, asc, count, eq, type SQL, sql } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { provisioningProgress, tenants } from "../../db/schema.ts";
import type { BatchChild, BatchCounts } from "../../schemas/batches.ts";
import type { RunStatus } from "../../schemas/progress.ts";
import type { ProgressRow } from "../runs/progress-store.ts";

/** What a batch's record keeps in `metadata` (its items are its children, not its metadata). */
export interface BatchMetadata {
  readonly total: number;
  readonly maxConcurrency: number;
  readonly toleratedFailurePercent: number;
  readonly toleratedFailures: number;
  /** Set by the first iteration that found the budget exceeded, for that attempt. */
  readonly budgetExceeded?: { readonly attempt: number; readonly at: string; readonly failed: number };
}

export function batchMetadata(run: ProgressRow): BatchMetadata {
  return run.metadata as unknown as BatchMetadata;
}

/** Failed children an attempt tolerates: AWS's ToleratedFailurePercentage arithmetic. */
export function toleratedFailures(total: number, percent: number): number {
  return Math.floor((total * percent) / 100);
}

const ofBatch = (batchId: string) => eq(provisioningProgress.parentId, batchId);

/** Children never started: pending, with no execution. */
const QUEUED = sql<boolean>`(${provisioningProgress.status} = 'pending' AND ${provisioningProgress.executionRef} IS NULL)`;

/** The children's ids in item order: the batch execution's Map items. */
export async function childIds(db: Database, batchId: string): Promise<string[]> {
  const rows = await db
    .select({ id: provisioningProgress.id })
    .from(provisioningProgress)
    .where(ofBatch(batchId))
    .orderBy(asc(provisioningProgress.batchIndex));
  return rows.map((r) => r.id);
}

export async function childCounts(db: Database, batchId: string): Promise<BatchCounts> {
  const rows = await db
    .select({ status: provisioningProgress.status, queued: QUEUED, n: count() })
    .from(provisioningProgress)
    .where(ofBatch(batchId))
    .groupBy(provisioningProgress.status, QUEUED);
  const counts: BatchCounts = { queued: 0, pending: 0, running: 0, completed: 0, failed: 0, cancelled: 0 };
  for (const r of rows) {
    const n = Number(r.n);
    const queued = r.queued === true || String(r.queued) === "true" || String(r.queued) === "t";
    if (queued) counts.queued += n;
    else if (r.status) counts[r.status] += n;
  }
  return counts;
}

/** Children of this attempt of the batch that failed: what the failure budget counts. */
export async function failedInAttempt(db: Database, batchId: string, attempt: number): Promise<number> {
  const [row] = await db
    .select({ n: count() })
    .from(provisioningProgress)
    .where(
      and(
        ofBatch(batchId),
        eq(provisioningProgress.batchAttempt, attempt),
        eq(provisioningProgress.status, "failed"),
      ),
    );
  return Number(row?.n ?? 0);
}

/** Longest error text a child shows in the batch's page (its own record has the rest). */
const CHILD_ERROR_CHARS = 300;

export async function childPage(
  db: Database,
  batchId: string,
  options: { readonly limit: number; readonly offset: number; readonly status?: RunStatus | undefined },
): Promise<{ items: BatchChild[]; total: number; limit: number; offset: number }> {
  const conditions: SQL[] = [ofBatch(batchId)];
  if (options.status) conditions.push(eq(provisioningProgress.status, options.status));
  const where = and(...conditions);
  const [rows, totals] = await Promise.all([
    db
      .select({
        id: provisioningProgress.id,
        index: provisioningProgress.batchIndex,
        tenantId: provisioningProgress.tenantId,
        slug: tenants.slug,
        name: tenants.name,
        status: provisioningProgress.status,
        queued: QUEUED,
        currentStep: provisioningProgress.currentStep,
        error: sql<string | null>`left(${provisioningProgress.error}, ${sql.raw(String(CHILD_ERROR_CHARS))})`,
        attempt: provisioningProgress.attempt,
        completedAt: provisioningProgress.completedAt,
      })
      .from(provisioningProgress)
      .leftJoin(tenants, eq(tenants.id, provisioningProgress.tenantId))
      .where(where)
      .orderBy(asc(provisioningProgress.batchIndex))
      .limit(options.limit)
      .offset(options.offset),
    db.select({ n: count() }).from(provisioningProgress).where(where),
  ]);
  return {
    items: rows.map((r) => ({
      id: r.id,
      index: r.index ?? 0,
      tenantId: r.tenantId,
      slug: r.slug,
      name: r.name,
      status: r.status ?? "pending",
      queued: r.queued === true || String(r.queued) === "true" || String(r.queued) === "t",
      currentStep: r.currentStep,
      error: r.error,
      attempt: r.attempt,
      completedAt: r.completedAt ? r.completedAt.toISOString() : null,
    })),
    total: Number(totals[0]?.n ?? 0),
    limit: options.limit,
    offset: options.offset,
  };
}

/** Children still to cancel with their batch: started and active. */
export async function activeStartedChildIds(tx: Database, batchId: string): Promise<string[]> {
  const rows = await tx
    .select({ id: provisioningProgress.id })
    .from(provisioningProgress)
    .where(
      and(
        ofBatch(batchId),
        sql`${provisioningProgress.status} IN ('pending', 'running')`,
        sql`${provisioningProgress.executionRef} IS NOT NULL`,
      ),
    )
    .orderBy(asc(provisioningProgress.batchIndex));
  return rows.map((r) => r.id);
}

/** Whether any child has not completed (and so a retry has something to do). */
export async function hasUnfinishedChildren(db: Database, batchId: string): Promise<boolean> {
  const [row] = await db
    .select({ n: count() })
    .from(provisioningProgress)
    .where(
      and(
        ofBatch(batchId),
        sql`${provisioningProgress.status} <> 'completed'`,
        sql`(${provisioningProgress.metadata} -> 'cleanup') IS NULL`,
      ),
    );
  return Number(row?.n ?? 0) > 0;
}
