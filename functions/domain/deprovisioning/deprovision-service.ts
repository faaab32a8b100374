/**
 * Requesting a deprovisioning (the API side): check the tenant under a lock on its row, write the
 * run and its audit entry in one transaction, then start the workflow. A dry run answers what the
 * run would remove — rows per table and the size its backup would have — and writes nothing.
 */
import { eq, sql } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { tenants } from "../../db/schema.ts";
import { numberValue, queryRows, safeIdentifier } from "../../db/sql.ts";
import type { DeprovisioningOptions, DeprovisionRequest } from "../../schemas/deprovisioning.ts";
import type { ProgressRecord } from "../../schemas/progress.ts";
import { NotFoundError } from "../../shared/errors.ts";
import { exportTenant } from "../backups/tenant-export.ts";
import { getProgressRow, toProgressRecord } from "../progress/progress-store.ts";
import { type ProvisioningDeps, startWorkflow } from "../provisioning/provision-service.ts";
import type { Scheduler } from "../scheduling/scheduler.ts";
import {
  assertDeprovisionable,
  createDeprovisionRun,
  deprovisionExecutionInput,
  lockTenant,
} from "./deprovision-run.ts";

export interface DeprovisioningDeps extends ProvisioningDeps {
  /** Needed to remove schedules a new run supersedes, and to create schedules. */
  readonly scheduler?: Scheduler | undefined;
}

export interface Actor {
  readonly keyId: string;
  readonly requestId: string;
}

export interface DryRunReport {
  readonly dryRun: true;
  readonly tenantId: string;
  readonly schema: string;
  readonly schemaExists: boolean;
  readonly options: DeprovisioningOptions;
  readonly wouldRemove: { controlPlane: Record<string, number>; tenantSchema: Record<string, number> };
  readonly wouldKeep: Record<string, number>;
  readonly backupEstimate: { compressedBytes: number; uncompressedBytes: number };
}

function optionsOf(body: DeprovisionRequest): DeprovisioningOptions {
  const { dryRun: _dryRun, ...options } = body;
  return options;
}

/** `POST /tenants/:id/deprovision`: 202 with the new run, or (dryRun) the report. */
export async function requestDeprovisioning(
  deps: DeprovisioningDeps,
  tenantId: string,
  body: DeprovisionRequest,
  actor: Actor,
): Promise<{ dryRun: true; report: DryRunReport } | { dryRun: false; record: ProgressRecord }> {
  const options = optionsOf(body);
  if (body.dryRun) return { dryRun: true, report: await dryRunDeprovisioning(deps.db, tenantId, options) };
  const { db, clock } = deps;
  const { run, supersededRefs } = await db.transaction(async (tx) => {
    const tenant = await lockTenant(tx, tenantId);
    await assertDeprovisionable(tx, tenant);
    return createDeprovisionRun(tx, { tenant, options, actor, now: clock() });
  });
  await removeSchedules(deps, supersededRefs);
  await startWorkflow(
    deps,
    "deprovisioning",
    run.id,
    "BackupData",
    run.attempt,
    deprovisionExecutionInput(run),
  );
  return { dryRun: false, record: toProgressRecord((await getProgressRow(db, run.id))!) };
}

/** Best effort: a schedule that still fires finds its row cancelled and starts nothing. */
export async function removeSchedules(deps: DeprovisioningDeps, refs: readonly string[]): Promise<void> {
  for (const ref of refs) {
    await deps.scheduler?.delete(ref).catch((error: unknown) => {
      deps.logger.warn("could not delete a superseded schedule", { externalRef: ref, error });
    });
  }
}

/**
 * What deprovisioning would remove now: the rows of every control-plane table naming the tenant
 * and of every table of its schema, and the size of the backup BackupData would write. Reads only.
 */
export async function dryRunDeprovisioning(
  db: Database,
  tenantId: string,
  options: DeprovisioningOptions,
): Promise<DryRunReport> {
  const [tenant] = await db.select().from(tenants).where(eq(tenants.id, tenantId));
  if (!tenant) throw new NotFoundError("tenant", tenantId);
  await assertDeprovisionable(db, tenant);
  const exported = await exportTenant(db, tenantId, {
    kind: "full",
    progressId: null,
    now: new Date(),
    lock: false,
  });
  const controlPlane: Record<string, number> = {};
  const tables = await queryRows<{ table_name: string }>(
    db,
    sql`SELECT table_name FROM information_schema.columns
        WHERE table_schema = current_schema() AND column_name = 'tenant_id' ORDER BY table_name`,
  );
  for (const { table_name } of tables) {
    if (table_name === "tenant_backups" || table_name === "tenant_provisioning_progress") continue;
    const [row] = await queryRows<{ n: unknown }>(
      db,
      sql`SELECT count(*) AS n FROM ${sql.raw(safeIdentifier(table_name))} WHERE tenant_id = ${tenantId}::uuid`,
    );
    const n = numberValue(row?.n);
    if (n > 0) controlPlane[table_name] = n;
  }
  const wouldKeep: Record<string, number> = {};
  if (options.preserveAuditLogs && controlPlane.audit_logs !== undefined) {
    wouldKeep.audit_logs = controlPlane.audit_logs;
    delete controlPlane.audit_logs;
  }
  // The tenant row becomes a tombstone rather than going away; its runs keep their records.
  controlPlane.tenants = 1;
  return {
    dryRun: true,
    tenantId,
    schema: exported.header.schemaName,
    schemaExists: exported.header.tables.some((t) => t.section === "tenantSchema"),
    options,
    wouldRemove: { controlPlane, tenantSchema: exported.rowCounts.tenantSchema },
    wouldKeep,
    backupEstimate: { compressedBytes: exported.gzip.length, uncompressedBytes: exported.uncompressedBytes },
  };
}
