/** Operations endpoints (admin only): provisioning statistics and the alerts the sweep raised. */
import { listAlerts, resolveAlert } from "../domain/operations/alerts.ts";
import { provisioningStats } from "../domain/operations/stats.ts";
import { type GroupOperations, idParam, ok } from "../http/api-handler.ts";
import type { ApiDeps } from "./deps.ts";
import { lambdaEntry } from "./lambda.ts";

export function operationsOperations({ db, clock }: ApiDeps): GroupOperations<"operations"> {
  return {
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
