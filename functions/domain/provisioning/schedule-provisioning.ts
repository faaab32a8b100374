import type { Database } from "../../db/client.ts";
import { scheduledOperations, tenants } from "../../db/schema.ts";
import type { ScheduledOperation } from "../../schemas/deprovisioning.ts";
import { ConflictError, sqlState } from "../../shared/errors.ts";
import type { Logger } from "../../shared/logger.ts";
import { recordAudit } from "../audit.ts";
import { hashPassword } from "../auth/password.ts";
import { cellsOf } from "../cells/cell-directory.ts";
import { isNoCell, noCellError, placementSql } from "../cells/placement.ts";
import { registerSchedule, type ScheduleRow } from "../deprovisioning/schedule-service.ts";
import { type Scheduler, scheduleSlot } from "../scheduling/scheduler.ts";
import {
  assertNameFree,
  checkedProvisioningMetadata,
  type ProvisionDeps,
  type ProvisionInput,
} from "./provision-service.ts";
import type { StoredProvisioning } from "./scheduled-provisioning-run.ts";

export interface ScheduleProvisioningDeps extends ProvisionDeps {
  readonly logger: Logger;
  readonly scheduler?: Scheduler | undefined;
}

/** Creates the schedule (201); a name taken (by a tenant or another schedule) is a 409 naming it. */
export async function scheduleProvisioning(
  deps: ScheduleProvisioningDeps,
  input: Omit<ProvisionInput, "idempotencyKey">,
  at: string,
): Promise<ScheduledOperation> {
  const { db, clock, logger } = deps;
  const now = clock();
  const { scheduler, runAt } = scheduleSlot(deps.scheduler, at, now);
  const { request } = input;
  const metadata = checkedProvisioningMetadata(deps, input);
  const [, passwordHash] = await Promise.all([
    assertNameFree(db, request.slug, request.subdomain),
    request.adminPassword === undefined ? null : hashPassword(request.adminPassword),
  ]);
  const stored: StoredProvisioning = {
    metadata,
    templateId: input.template?.id ?? null,
    templateVersion: input.template?.version ?? null,
  };
  let row: ScheduleRow;
  try {
    row = await db.transaction(async (tx: Database) => {
      const [tenant] = await tx
        .insert(tenants)
        .values({
          slug: request.slug,
          subdomain: request.subdomain,
          name: request.name,
          status: "scheduled",
          templateId: stored.templateId,
          templateVersion: stored.templateVersion,
          // Placed when scheduled: the names and the cell are reserved together.
          cell: placementSql(cellsOf(deps), stored.templateId),
          createdAt: now,
          updatedAt: now,
        })
        .returning({ id: tenants.id });
      const [created] = await tx
        .insert(scheduledOperations)
        .values({
          kind: "provision",
          tenantId: tenant!.id,
          runAt,
          options: stored,
          status: "scheduled",
          adminPasswordHash: passwordHash,
          createdBy: input.actor.keyId,
          createdAt: now,
        })
        .returning();
      await recordAudit(tx, {
        actorKeyId: input.actor.keyId,
        action: "provision.schedule",
        targetType: "scheduled_operation",
        targetId: created!.id,
        tenantId: tenant!.id,
        details: {
          runAt: runAt.toISOString(),
          slug: request.slug,
          subdomain: request.subdomain,
          templateId: stored.templateId,
          templateVersion: stored.templateVersion,
          adminEmail: metadata.admin.email,
          adminInvited: metadata.admin.invitation !== undefined,
        },
        requestId: input.actor.requestId,
      });
      return created!;
    });
  } catch (error) {
    if (isNoCell(error)) throw await noCellError(db, cellsOf(deps), stored.templateId);
    if (sqlState(error) === "23505") {
      await assertNameFree(db, request.slug, request.subdomain);
      throw new ConflictError("the slug or subdomain was taken by a concurrent request");
    }
    throw error;
  }
  // Failing the schedule (the scheduler refused it) also frees the names it reserved.
  return registerSchedule({ db, clock, logger, scheduler }, row);
}
