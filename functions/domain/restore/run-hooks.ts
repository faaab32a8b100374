/**
 * What finishing a restore run means for its tenant (registered in RUN_OUTCOME_HOOKS): RestoreData
 * sets the restored status itself; a restore that fails or is cancelled before that hands the
 * tenant back as `deprovisioned`.
 */
import { and, eq } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { tenants } from "../../db/schema.ts";
import type { ProgressRow } from "../progress/progress-store.ts";
import type { RunOutcomeHooks } from "../steps/run-completion.ts";

async function backToDeprovisioned(tx: Database, run: ProgressRow, now: Date): Promise<void> {
  if (!run.tenantId) return;
  await tx
    .update(tenants)
    .set({ status: "deprovisioned", updatedAt: now })
    .where(and(eq(tenants.id, run.tenantId), eq(tenants.status, "restoring")));
}

export const restoreOutcomeHooks: RunOutcomeHooks = {
  onCompleted: async () => {},
  onFailed: backToDeprovisioned,
  onCancelled: backToDeprovisioned,
};
