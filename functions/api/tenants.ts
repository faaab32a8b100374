/**
 * Tenant endpoints: the directory (list, one tenant — a tenant_admin key reads only its own),
 * deprovisioning now (or a dry run) and on a schedule, backups and restore (admin only).
 */
import { listBackups } from "../domain/backups/backup-records.ts";
import { requestDeprovisioning } from "../domain/deprovisioning/deprovision-service.ts";
import { scheduleDeprovisioning } from "../domain/deprovisioning/schedule-service.ts";
import { requestRestore } from "../domain/restore/restore-service.ts";
import { getTenant, listTenants } from "../domain/tenants/tenant-directory.ts";
import { type GroupOperations, idParam, ok } from "../http/api-handler.ts";
import type { ApiDeps } from "./deps.ts";
import { lambdaEntry } from "./lambda.ts";

export function tenantOperations(deps: ApiDeps): GroupOperations<"tenants"> {
  const { db } = deps;
  return {
    listTenants: async (req) => ok(await listTenants(db, { ...req.query, scope: req.tenantScope })),
    getTenant: async (req) => ok(await getTenant(db, idParam(req, "id", "tenant"), req.tenantScope)),
    deprovisionTenant: async (req) => {
      const result = await requestDeprovisioning(deps, idParam(req, "id", "tenant"), req.body, req.actor);
      return result.dryRun ? ok(result.report, 200) : ok(result.record, 202);
    },
    scheduleDeprovision: async (req) =>
      ok(await scheduleDeprovisioning(deps, idParam(req, "id", "tenant"), req.body, req.actor), 201),
    listTenantBackups: async (req) => ok({ items: await listBackups(db, idParam(req, "id", "tenant")) }),
    restoreTenant: async (req) =>
      ok(await requestRestore(deps, idParam(req, "id", "tenant"), req.body.backupId, req.actor), 202),
  };
}

export const handler = lambdaEntry("tenants", tenantOperations);
