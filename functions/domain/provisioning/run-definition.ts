/**
 * The `provision` run kind (statemachines/provisioning.asl.json): its tenant is `active` when it
 * completes, `failed` or `cancelled` otherwise; resuming it puts the tenant back to
 * `provisioning`; cleaning it up removes everything it created.
 */
import { type SQL, sql } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { PROVISIONING_STEPS } from "../../workflows/step-catalog.ts";
import { dedupeKey, emitEvent } from "../events/outbox.ts";
import type { ProgressRow } from "../runs/progress-store.ts";
import type { RunKindDefinition } from "../runs/run-kind.ts";
import { removeTenantData } from "../tenants/tenant-removal.ts";
import { loadRunSpec } from "./run-spec.ts";

type TenantStatus = "active" | "failed" | "cancelled" | "provisioning";

function tenantStatusStatements(status: TenantStatus) {
  return (run: ProgressRow, now: Date): SQL[] =>
    run.tenantId
      ? [
          sql`UPDATE tenants SET status = ${status}, updated_at = ${now.toISOString()}::timestamptz WHERE id = ${run.tenantId}::uuid`,
        ]
      : [];
}

function setTenantStatus(status: TenantStatus) {
  return async (tx: Database, run: ProgressRow, now: Date): Promise<void> => {
    for (const statement of tenantStatusStatements(status)(run, now)) await tx.execute(statement);
  };
}

export const provisionRunKind: RunKindDefinition<"provision"> = {
  kind: "provision",
  workflow: "provisioning",
  steps: PROVISIONING_STEPS,
  input: async (db, run) => ({
    postProvisioningSteps: [...(await loadRunSpec(db, run)).template.postProvisioningSteps],
  }),
  onResume: setTenantStatus("provisioning"),
  onCompleted: setTenantStatus("active"),
  completedStatements: tenantStatusStatements("active"),
  onFailed: setTenantStatus("failed"),
  onCancelled: setTenantStatus("cancelled"),
  cleanup: async (tx, run, now, cell) => {
    if (!run.tenantId) return {};
    // On another cell than `main` the schema is dropped there first; the rest commits here.
    const removed = await removeTenantData(tx, run.tenantId, now, { cell: cell ?? undefined });
    await emitEvent(
      tx,
      {
        type: "tenant.deleted",
        tenantId: run.tenantId,
        runId: run.id,
        data: { reason: "provisioning_cleanup", backupPreserved: false },
        dedupeKey: dedupeKey("tenant.deleted", run.tenantId, run.id),
      },
      now,
    );
    return { schema: removed.schema, ...removed.controlPlane, tenantSchema: removed.tenantSchema };
  },
};
