/**
 * Requesting a deprovisioning (the API side): check the tenant under a lock on its row, write the
 * run and its audit entry in one transaction, then start the workflow. A dry run answers what the
 * run would remove — rows per table and the size its backup would have — and writes nothing.
 */
import { eq, sql } from "drizzle-orm";
import type { Database } from "../../db/client.ts";
import { tenants } from "../../db/schema.ts";
import { numberValue, queryRows } from "../../db/sql.ts";
import type { DeprovisioningOptions, DeprovisionRequest } from "../../schemas/deprovisioning.ts";
import type { ProgressRecord } from "../../schemas/progress.ts";
import { ConflictError, NotFoundError } from "../../shared/errors.ts";
import type { Actor } from "../actor.ts";
import { appliedMigrations, exportTenant, schemaExists } from "../backups/tenant-export.ts";
import { type Cell, cellsOf } from "../cells/cell-directory.ts";
import { toProgressRecord } from "../runs/progress-store.ts";
import { type RunDeps, startRun } from "../runs/start-run.ts";
import type { Scheduler } from "../scheduling/scheduler.ts";
import { type SchemaDrift, tenantSchemaDrift } from "../tenants/schema-drift.ts";
import { countTenantData } from "../tenants/tenant-removal.ts";
import { tenantSchemaName } from "../tenants/tenant-schema.ts";
import { assertDeprovisionable, createDeprovisionRun, lockTenant } from "./deprovision-run.ts";

export interface DeprovisioningDeps extends RunDeps {
  /** Needed to remove schedules a new run supersedes, and to create schedules. */
  readonly scheduler?: Scheduler | undefined;
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
  /** How the schema differs from what its migrations make (null: no schema). */
  readonly schemaDrift: SchemaDrift | null;
}

/** The tenant's schema drift, or null when it has no schema (or no migration record). */
async function driftOf(
  db: Database,
  cell: Cell,
  tenantId: string,
  migrations?: readonly string[],
): Promise<SchemaDrift | null> {
  const schemaName = tenantSchemaName(tenantId);
  // `main`: `db` itself, which may be a transaction (the directory's database is not).
  const schemaDb = cell.isControlPlane ? db : cell.db;
  if (!(await schemaExists(schemaDb, schemaName))) return null;
  const applied =
    migrations ??
    (cell.isControlPlane
      ? await db.transaction((tx) => appliedMigrations(tx, tenantId, schemaName))
      : await appliedMigrations(db, tenantId, schemaName, cell.db));
  if (applied.length === 0) return null;
  return tenantSchemaDrift(db, tenantId, applied, schemaDb);
}

/**
 * 409 before anything starts when the schema has drifted in a way a restore could not rebuild:
 * the backup deprovisioning takes would not bring the tenant back.
 */
export async function assertRestorableSchema(
  deps: Pick<RunDeps, "db" | "cells">,
  tenantId: string,
): Promise<void> {
  const drift = await driftOf(deps.db, await cellsOf(deps).forTenant(tenantId), tenantId);
  if (drift && !drift.restorable) {
    throw new ConflictError(
      `the tenant's schema has drifted from its migrations in a way a restore could not rebuild: ${drift.problems.join("; ")} (see the dry run's schemaDrift)`,
    );
  }
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
  if (body.dryRun) return { dryRun: true, report: await dryRunDeprovisioning(deps, tenantId, options) };
  const { db, clock } = deps;
  await assertRestorableSchema(deps, tenantId);
  const { run, supersededRefs } = await db.transaction(async (tx) => {
    const tenant = await lockTenant(tx, tenantId);
    await assertDeprovisionable(tx, tenant);
    return createDeprovisionRun(tx, { tenant, options, actor, now: clock() });
  });
  await removeSchedules(deps, supersededRefs);
  return { dryRun: false, record: toProgressRecord(await startRun(deps, run)) };
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
 * What deprovisioning would remove now — exactly what CleanupData (and CleanupAuditLogs, unless
 * `preserveAuditLogs`) removes, counted the same way — and the size of the backup BackupData
 * would write. Reads only.
 */
export async function dryRunDeprovisioning(
  deps: Pick<RunDeps, "db" | "cells">,
  tenantId: string,
  options: DeprovisioningOptions,
): Promise<DryRunReport> {
  const { db } = deps;
  const [tenant] = await db.select().from(tenants).where(eq(tenants.id, tenantId));
  if (!tenant) throw new NotFoundError("tenant", tenantId);
  await assertDeprovisionable(db, tenant);
  // The tenant's schema is counted and exported from its cell; its control-plane rows from here.
  const cell = await cellsOf(deps).forTenant(tenantId);
  const exportOptions = { kind: "full", progressId: null, now: new Date(), lock: false } as const;
  // One transaction: the export is read in pages, which must see the same rows (on another cell,
  // one transaction there for the schema's pages, inside the control plane's for its rows).
  const exported = await db.transaction((tx) =>
    cell.isControlPlane
      ? exportTenant(tx, tenantId, exportOptions)
      : cell.db.transaction((cellTx) => exportTenant(tx, tenantId, exportOptions, cellTx)),
  );
  const removal = await countTenantData(db, tenantId, { cell });
  const [audit] = await queryRows<{ n: unknown }>(
    db,
    sql`SELECT count(*) AS n FROM audit_logs WHERE tenant_id = ${tenantId}::uuid`,
  );
  const auditLogs = numberValue(audit?.n);
  return {
    dryRun: true,
    tenantId,
    schema: removal.schema,
    schemaExists: removal.schemaExists,
    options,
    wouldRemove: {
      controlPlane: {
        ...removal.controlPlane,
        ...(options.preserveAuditLogs ? {} : { audit_logs: auditLogs }),
      },
      tenantSchema: removal.tenantSchema,
    },
    wouldKeep: options.preserveAuditLogs ? { audit_logs: auditLogs } : {},
    backupEstimate: { compressedBytes: exported.gzip.length, uncompressedBytes: exported.uncompressedBytes },
    schemaDrift: await driftOf(db, cell, tenantId, exported.header.migrations),
  };
}
