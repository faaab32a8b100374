/**
 * A scheduled batch (`POST /schedule-batch`): written when it was scheduled, its run pending
 * with no execution and its children's tenant rows `scheduled`. When its schedule falls due the
 * claim starts it here (in the claim's transaction); when the schedule is cancelled or fails, the
 * batch and its children are cancelled and their tenant rows give back their names.
 */
import { and, eq, inArray } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import {
  provisioningProgress,
  provisioningSecrets,
  type scheduledOperations,
  tenants,
} from "../../db/schema.ts";
import { ConflictError, NotFoundError } from "../../shared/errors.ts";
import { lockProgressRow, type ProgressRow, saveProgress } from "../runs/progress-store.ts";
import { emitRunStarted } from "../runs/run-events.ts";

type ScheduleRow = typeof scheduledOperations.$inferSelect;

const childTenants = (tx: Database, batchId: string) =>
  tx
    .select({ id: provisioningProgress.tenantId })
    .from(provisioningProgress)
    .where(eq(provisioningProgress.parentId, batchId));

/**
 * The claimed schedule's batch becomes an ordinary batch about to start: its children's tenant
 * rows `pending`, its run recording the execution that claimed it (a 409 when it is no longer
 * pending, e.g. cancelled through its batch).
 */
export async function startScheduledBatch(
  tx: Database,
  op: ScheduleRow,
  now: Date,
  executionRef: string | null,
): Promise<ProgressRow> {
  if (!op.progressId) throw new NotFoundError("batch of schedule", op.id);
  const batch = await lockProgressRow(tx, op.progressId);
  if (batch.status !== "pending" || batch.executionRef !== null) {
    throw new ConflictError(`batch ${batch.id} is ${batch.status}, not waiting for its schedule`);
  }
  await tx
    .update(tenants)
    .set({ status: "pending", updatedAt: now })
    .where(and(inArray(tenants.id, childTenants(tx, batch.id)), eq(tenants.status, "scheduled")));
  const run = await saveProgress(tx, batch.id, { executionRef }, now);
  await emitRunStarted(tx, run, now);
  return run;
}

/**
 * A scheduled batch that will not run: cancelled with its children; their names freed and the
 * admin password hashes they were given forgotten.
 */
export async function releaseScheduledBatch(tx: Database, batchId: string, now: Date): Promise<void> {
  await tx.delete(provisioningSecrets).where(
    inArray(
      provisioningSecrets.progressId,
      tx
        .select({ id: provisioningProgress.id })
        .from(provisioningProgress)
        .where(and(eq(provisioningProgress.parentId, batchId), eq(provisioningProgress.status, "pending"))),
    ),
  );
  await tx
    .update(tenants)
    .set({ slug: null, subdomain: null, status: "cancelled", updatedAt: now })
    .where(and(inArray(tenants.id, childTenants(tx, batchId)), eq(tenants.status, "scheduled")));
  const reason = "its schedule will not run";
  await tx
    .update(provisioningProgress)
    .set({ status: "cancelled", completedAt: now, updatedAt: now, error: reason })
    .where(and(eq(provisioningProgress.parentId, batchId), eq(provisioningProgress.status, "pending")));
  await tx
    .update(provisioningProgress)
    .set({ status: "cancelled", completedAt: now, updatedAt: now, error: reason })
    .where(and(eq(provisioningProgress.id, batchId), eq(provisioningProgress.status, "pending")));
}
