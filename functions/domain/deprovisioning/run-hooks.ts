/**
 * What finishing a deprovisioning run means for its tenant (registered in RUN_OUTCOME_HOOKS).
 * Completed: CleanupData already left the tombstone. Failed: the tenant stays as the failed step
 * left it (suspended once access was disabled) so `recover` can finish the job. Cancelled before
 * the data was removed: everything DisableAccess changed is put back.
 */
import type { Database } from "../../db/client.ts";
import type { ProgressStep } from "../../schemas/progress.ts";
import {
  appendWarning,
  lockProgressRow,
  type ProgressRow,
  saveProgress,
} from "../progress/progress-store.ts";
import type { RunOutcomeHooks } from "../steps/run-completion.ts";
import { deprovisionMetadata } from "./deprovision-run.ts";
import { reenableAccess } from "./tenant-access.ts";

/** Gives the tenant its access back when a run is cancelled before CleanupData completed. */
export async function reenableOnCancel(tx: Database, run: ProgressRow, now: Date): Promise<void> {
  if (!run.tenantId) return;
  const current = await lockProgressRow(tx, run.id);
  const metadata = deprovisionMetadata(current);
  const steps = (current.steps ?? []) as ProgressStep[];
  const cleanedUp = steps.some((s) => s.name === "CleanupData" && s.status === "completed");
  if (!metadata.access || metadata.reenabled || cleanedUp) return;
  const counts = await reenableAccess(tx, run.tenantId, metadata.access, now);
  await saveProgress(
    tx,
    run.id,
    {
      metadata: { ...(current.metadata ?? {}), reenabled: { at: now.toISOString(), ...counts } },
      warnings: appendWarning(current, {
        at: now.toISOString(),
        code: "access_restored",
        message: `cancelled before the data was removed: tenant status ${metadata.access.tenantStatus}, ${counts.apiKeys} API key(s) and ${counts.users} user(s) have their access back`,
      }),
    },
    now,
  );
}

export const deprovisionOutcomeHooks: RunOutcomeHooks = {
  onCompleted: async () => {},
  onFailed: async () => {},
  onCancelled: reenableOnCancel,
};
