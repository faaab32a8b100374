/**
 * The fleet's upgrade kinds. `upgrade` (statemachines/upgrade.asl.json): one tenant to a newer
 * template version; its outcome is its row of the rollout that started it. `rollout`
 * (statemachines/rollout.asl.json): the waves; its outcome is the rollout's status.
 */
import { and, eq, inArray, sql } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { templateRollouts, templateRolloutTenants } from "../../db/schema.ts";
import { ROLLOUT_STEPS, UPGRADE_STEPS } from "../../workflows/step-catalog.ts";
import type { ProgressRow } from "../runs/progress-store.ts";
import type { RunKindDefinition } from "../runs/run-kind.ts";

function setUpgradeStatus(status: "running" | "upgraded" | "failed") {
  return async (tx: Database, run: ProgressRow, now: Date): Promise<void> => {
    await tx
      .update(templateRolloutTenants)
      .set({
        status,
        // A failed upgrade's row says why (RecordFailure has written the run's error already).
        error:
          status === "failed"
            ? sql`(SELECT p.error FROM tenant_provisioning_progress p WHERE p.id = ${run.id}::uuid)`
            : null,
        updatedAt: now,
      })
      .where(eq(templateRolloutTenants.upgradeProgressId, run.id));
  };
}

export const upgradeRunKind: RunKindDefinition<"upgrade"> = {
  kind: "upgrade",
  workflow: "upgrade",
  steps: UPGRADE_STEPS,
  input: async () => ({}),
  onResume: setUpgradeStatus("running"),
  onCompleted: setUpgradeStatus("upgraded"),
  onFailed: setUpgradeStatus("failed"),
  // A cancel waits for the step's transaction: the tenant is either on the new version or not.
  onCancelled: async (tx, run, now) => {
    await tx.execute(sql`
      UPDATE template_rollout_tenants rt SET
        status = CASE WHEN t.template_version >= ${run.templateVersion}::int THEN 'upgraded' ELSE 'skipped' END,
        error = CASE WHEN t.template_version >= ${run.templateVersion}::int THEN NULL ELSE 'cancelled by an operator' END,
        updated_at = ${now.toISOString()}::timestamptz
      FROM tenants t
      WHERE rt.upgrade_progress_id = ${run.id}::uuid AND t.id = rt.tenant_id`);
  },
};

export const rolloutRunKind: RunKindDefinition<"rollout"> = {
  kind: "rollout",
  workflow: "rollout",
  steps: ROLLOUT_STEPS,
  input: async () => ({}),
  // Recovering a halted rollout (after its failed upgrades were retried) lets it go on.
  onResume: async (tx, run, now) => {
    await tx
      .update(templateRollouts)
      .set({ status: "running", completedAt: null, updatedAt: now })
      .where(and(eq(templateRollouts.id, run.id), eq(templateRollouts.status, "halted")));
  },
  onCompleted: async (tx, run, now) => {
    await tx
      .update(templateRollouts)
      .set({ status: "completed", completedAt: now, updatedAt: now })
      .where(eq(templateRollouts.id, run.id));
  },
  onFailed: async (tx, run, now) => {
    await tx
      .update(templateRollouts)
      .set({ status: "halted", updatedAt: now })
      .where(
        and(
          eq(templateRollouts.id, run.id),
          inArray(templateRollouts.status, ["running", "pausing", "paused"]),
        ),
      );
  },
  onCancelled: async (tx, run, now) => {
    await tx
      .update(templateRollouts)
      .set({ status: "aborted", completedAt: now, updatedAt: now })
      .where(eq(templateRollouts.id, run.id));
    await tx
      .update(templateRolloutTenants)
      .set({ status: "skipped", error: "the rollout was aborted", updatedAt: now })
      .where(and(eq(templateRolloutTenants.rolloutId, run.id), eq(templateRolloutTenants.status, "pending")));
  },
};
