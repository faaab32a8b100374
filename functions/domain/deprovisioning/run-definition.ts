/**
 * The `deprovision` run kind (statemachines/deprovisioning.asl.json). Completed: CleanupData
 * already left the tombstone. Failed: the tenant stays as the failed step left it (suspended once
 * access was disabled) so `recover` can finish the job. Cancelled before the data was removed:
 * everything DisableAccess changed is put back, and such a run cannot be resumed.
 */
import type { Database } from "../../db/client.ts";
import { ConflictError } from "../../shared/errors.ts";
import { DEPROVISIONING_STEPS } from "../../workflows/step-catalog.ts";
import { releaseEndedBackupGuard } from "../backups/paged-backup.ts";
import { appendWarning, lockProgressRow, type ProgressRow, saveProgress } from "../runs/progress-store.ts";
import type { RunKindDefinition } from "../runs/run-kind.ts";
import { deprovisionExecutionInput, deprovisionMetadata } from "./deprovision-run.ts";
import { reenableAccess } from "./tenant-access.ts";

/** Gives the tenant its access back when a run is cancelled before CleanupData completed. */
async function reenableOnCancel(tx: Database, run: ProgressRow, now: Date): Promise<void> {
  if (!run.tenantId) return;
  const current = await lockProgressRow(tx, run.id);
  const metadata = deprovisionMetadata(current);
  const cleanedUp = current.steps.some((s) => s.name === "CleanupData" && s.status === "completed");
  if (!metadata.access || metadata.reenabled || cleanedUp) return;
  const counts = await reenableAccess(tx, run.tenantId, run.id, metadata.access, now);
  await saveProgress(
    tx,
    run.id,
    {
      metadata: { ...current.metadata, reenabled: { at: now.toISOString(), ...counts } },
      warnings: appendWarning(current, {
        at: now.toISOString(),
        code: "access_restored",
        message: `cancelled before the data was removed: tenant status ${metadata.access.tenantStatus}, ${counts.apiKeys} API key(s) and ${counts.users} user(s) have their access back`,
      }),
    },
    now,
  );
}

export const deprovisionRunKind: RunKindDefinition<"deprovision"> = {
  kind: "deprovision",
  workflow: "deprovisioning",
  steps: DEPROVISIONING_STEPS,
  input: async (_db, run) => deprovisionExecutionInput(run),
  onResume: async (_tx, run) => {
    if (deprovisionMetadata(run).reenabled) {
      throw new ConflictError(
        `run ${run.id} was cancelled and the tenant's access given back; request a new deprovisioning`,
      );
    }
  },
  onCompleted: async () => {},
  onFailed: async () => {},
  onCancelled: reenableOnCancel,
  // A backup on another cell than main: its guard there is dropped (it cannot see the run ended).
  afterEnded: releaseEndedBackupGuard,
};
