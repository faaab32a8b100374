/**
 * The `batch` run kind (statemachines/batch.asl.json): bulk provisioning. Its execution input is
 * its children's ids and its concurrency; its outcome changes no tenant (each child is an ordinary
 * provisioning run with its own outcome). Cancelling a batch cancels its children that have not
 * ended: the ones never started at once, the running ones as `POST /progress/:id/cancel` would
 * (their executions are stopped by the batch's cancel endpoint, and stop at their next step in any
 * case). A batch cannot be cleaned up as a whole: its children are, one by one.
 */
import { and, eq, inArray, sql } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { provisioningProgress, tenants } from "../../db/schema.ts";
import { BATCH_STEPS } from "../../workflows/step-catalog.ts";
import { provisionRunKind } from "../provisioning/run-definition.ts";
import { lockProgressRow, type ProgressRow, saveProgress } from "../runs/progress-store.ts";
import { emitRunCancelled } from "../runs/run-events.ts";
import type { RunKindDefinition } from "../runs/run-kind.ts";
import { isActive } from "../runs/run-status.ts";
import { cancelSteps, stepError } from "../runs/step-state.ts";
import { activeStartedChildIds, batchMetadata, childIds } from "./batch-store.ts";

export const CANCELLED_WITH_BATCH = "cancelled with its batch";

/** Cancels the children of a batch that have not ended (in the batch's cancel transaction). */
export async function cancelChildren(tx: Database, batch: ProgressRow, now: Date): Promise<void> {
  for (const id of await activeStartedChildIds(tx, batch.id)) {
    const child = await lockProgressRow(tx, id);
    if (!isActive(child.status)) continue;
    const updated = await saveProgress(
      tx,
      id,
      {
        status: "cancelled",
        completedAt: now,
        error: CANCELLED_WITH_BATCH,
        steps: cancelSteps(child.steps, stepError("RunCancelledError", CANCELLED_WITH_BATCH), now),
      },
      now,
    );
    await provisionRunKind.onCancelled(tx, updated, now);
    await emitRunCancelled(tx, child, now);
  }
  // Never started: no execution to stop, no event to follow up (their `started` was never sent).
  const queued = and(
    eq(provisioningProgress.parentId, batch.id),
    eq(provisioningProgress.status, "pending"),
    sql`${provisioningProgress.executionRef} IS NULL`,
  );
  const tenantIds = tx.select({ id: provisioningProgress.tenantId }).from(provisioningProgress).where(queued);
  await tx.update(tenants).set({ status: "cancelled", updatedAt: now }).where(inArray(tenants.id, tenantIds));
  await tx
    .update(provisioningProgress)
    .set({
      status: "cancelled",
      completedAt: now,
      updatedAt: now,
      error: `${CANCELLED_WITH_BATCH} before it started`,
    })
    .where(queued);
}

export const batchRunKind: RunKindDefinition<"batch"> = {
  kind: "batch",
  workflow: "batch",
  steps: BATCH_STEPS,
  input: async (db, run) => ({
    children: await childIds(db, run.id),
    maxConcurrency: batchMetadata(run).maxConcurrency,
  }),
  onCompleted: async () => {},
  onFailed: async () => {},
  onCancelled: cancelChildren,
};
