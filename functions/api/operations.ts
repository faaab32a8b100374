/**
 * Operations endpoints (admin only): provisioning statistics, the alerts the sweep raised, and the
 * cells (functions/api/cells.ts).
 */
import { listAlerts, resolveAlert } from "../domain/operations/alerts.ts";
import { provisioningStats } from "../domain/operations/stats.ts";
import { type GroupOperations, idParam, ok } from "../http/api-handler.ts";
import { cellOperations } from "./cells.ts";
import type { ApiDeps } from "./deps.ts";
import { lambdaEntry } from "./lambda.ts";

export function operationsOperations(deps: ApiDeps): GroupOperations<"operations"> {
  const { db, clock } = deps;
  return {
    ...cellOperations(deps),
    getProvisioningStats: async (req) =>
      ok(
        await provisioningStats(db, {
          from: req.query.from === undefined ? undefined : new Date(req.query.from),
          to: req.query.to === undefined ? undefined : new Date(req.query.to),
          now: clock(),
        }),
      ),
    listAlerts: async (req) => ok(await listAlerts(db, req.query)),
    resolveAlert: async (req) =>
      ok(
        await resolveAlert(
          db,
          idParam(req, "id", "alert"),
          { actorKeyId: req.principal.keyId, requestId: req.requestId },
          clock(),
        ),
      ),
  };
}

export const handler = lambdaEntry("operations", operationsOperations);
