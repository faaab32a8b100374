/**
 * A scheduled provisioning falling due: the run is created on the tenant row that has reserved
 * the slug and subdomain since the schedule was made (status `scheduled`), in the transaction that
 * claims the schedule. What the schedule stored, and how it is shown (GET /schedules).
 */
import { eq } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { provisioningSecrets, type scheduledOperations, tenants } from "../../db/schema.ts";
import type { ScheduledProvisioningOptions } from "../../schemas/deprovisioning.ts";
import { ConflictError, NotFoundError } from "../../shared/errors.ts";
import { PROVISIONING_STEPS } from "../../workflows/step-catalog.ts";
import { insertRun, type ProgressRow } from "../runs/progress-store.ts";
import { initialSteps } from "../runs/step-state.ts";
import { insertRunInputs, recordProvisionStart, runMetadata } from "./provision-service.ts";
import type { ProvisioningMetadata } from "./run-spec.ts";

type ScheduleRow = typeof scheduledOperations.$inferSelect;

/** `scheduled_operations.options` of a `provision` schedule. */
export interface StoredProvisioning extends Record<string, unknown> {
  readonly metadata: ProvisioningMetadata;
  readonly templateId: string | null;
  readonly templateVersion: number | null;
}

/** What GET /schedules shows of a scheduled provisioning (no initial data, no inline template). */
export function scheduledProvisioningOptions(stored: Record<string, unknown>): ScheduledProvisioningOptions {
  const { metadata, templateId, templateVersion } = stored as StoredProvisioning;
  return {
    slug: metadata.tenant.slug,
    name: metadata.tenant.name,
    subdomain: metadata.tenant.subdomain,
    adminName: metadata.admin.name,
    adminEmail: metadata.admin.email,
    invited: metadata.admin.invitation !== undefined,
    templateId,
    templateVersion,
  };
}

/**
 * Creates the run of a claimed `provision` schedule (inside the claim's transaction; the run's id
 * is the schedule's, as for a scheduled deprovisioning). A tenant row no longer `scheduled` is a
 * 409 (the claim then marks the schedule failed).
 */
export async function createScheduledProvisioningRun(
  tx: Database,
  op: ScheduleRow,
  now: Date,
  executionRef: string | null,
): Promise<ProgressRow> {
  const stored = op.options as StoredProvisioning;
  const tenantId = op.tenantId;
  if (!tenantId) throw new NotFoundError("tenant of schedule", op.id);
  const [tenant] = await tx.select().from(tenants).where(eq(tenants.id, tenantId)).for("update");
  if (!tenant) throw new NotFoundError("tenant", tenantId);
  if (tenant.status !== "scheduled") {
    throw new ConflictError(
      `tenant ${tenantId} is ${tenant.status}, not waiting for its scheduled provisioning`,
    );
  }
  await tx.update(tenants).set({ status: "pending", updatedAt: now }).where(eq(tenants.id, tenantId));
  const run = await insertRun(tx, {
    id: op.id,
    kind: "provision",
    tenantId: tenantId,
    templateId: stored.templateId,
    templateVersion: stored.templateVersion,
    steps: initialSteps(PROVISIONING_STEPS),
    metadata: { ...runMetadata(stored.metadata), scheduledOperationId: op.id },
    executionRef,
    now,
  });
  if (op.adminPasswordHash) {
    await tx
      .insert(provisioningSecrets)
      .values({ progressId: run.id, adminPasswordHash: op.adminPasswordHash });
  }
  await insertRunInputs(tx, run.id, stored.metadata, now);
  await recordProvisionStart(
    tx,
    run,
    stored.metadata,
    { keyId: op.createdBy, requestId: `schedule:${op.id}` },
    now,
  );
  return run;
}
