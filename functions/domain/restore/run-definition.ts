/**
 * The `restore` run kind: VerifyBackup then RestoreData (statemachines/restore.asl.json). RestoreData
 * sets the restored status itself; a restore that fails or is cancelled before that hands the
 * tenant back as `deprovisioned`, and resuming one claims the tenant again.
 */
import { and, eq, inArray } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { tenants } from "../../db/schema.ts";
import { ConflictError } from "../../shared/errors.ts";
import { RESTORE_STEPS } from "../../workflows/step-catalog.ts";
import type { ProgressRow } from "../runs/progress-store.ts";
import type { RunKindDefinition } from "../runs/run-kind.ts";

async function backToDeprovisioned(tx: Database, run: ProgressRow, now: Date): Promise<void> {
  if (!run.tenantId) return;
  await tx
    .update(tenants)
    .set({ status: "deprovisioned", updatedAt: now })
    .where(and(eq(tenants.id, run.tenantId), eq(tenants.status, "restoring")));
}

export const restoreRunKind: RunKindDefinition<"restore"> = {
  kind: "restore",
  workflow: "restore",
  steps: RESTORE_STEPS,
  input: async () => ({}),
  onResume: async (tx, run, now) => {
    if (!run.tenantId) return;
    const claimed = await tx
      .update(tenants)
      .set({ status: "restoring", updatedAt: now })
      .where(and(eq(tenants.id, run.tenantId), inArray(tenants.status, ["deprovisioned", "restoring"])))
      .returning({ id: tenants.id });
    if (claimed.length === 0) throw new ConflictError(`tenant ${run.tenantId} is no longer deprovisioned`);
  },
  onCompleted: async () => {},
  onFailed: backToDeprovisioned,
  onCancelled: backToDeprovisioned,
};
