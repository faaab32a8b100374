/**
 * Progress endpoints. Reading is open to tenant_admin keys, limited to their own tenant (other
 * runs are 404); the actions are admin only.
 */
import { getProgressFor, listProgress } from "../domain/runs/progress-store.ts";
import { cancelRun, cleanupRun, recoverRun, retryStep } from "../domain/runs/run-control.ts";
import { type GroupOperations, idParam, ok } from "../http/api-handler.ts";
import { NotFoundError } from "../shared/errors.ts";
import type { ApiDeps } from "./deps.ts";
import { lambdaEntry } from "./lambda.ts";

export function progressOperations(deps: ApiDeps): GroupOperations<"progress"> {
  const { db } = deps;
  return {
    listProgress: async (req) => {
      const scope = req.tenantScope;
      if (scope !== null && req.query.tenantId !== undefined && req.query.tenantId !== scope) {
        return ok({ items: [], total: 0, limit: req.query.limit, offset: req.query.offset });
      }
      return ok(await listProgress(db, { ...req.query, ...(scope !== null ? { tenantId: scope } : {}) }));
    },
    getProgress: async (req) =>
      ok(await getProgressFor(db, idParam(req, "id", "progress record"), req.tenantScope)),
    cancelRun: async (req) => ok(await cancelRun(deps, idParam(req, "id", "progress record"), req.actor)),
    retryStep: async (req) => {
      const stepId = req.params.stepId;
      if (!stepId) throw new NotFoundError("step");
      return ok(await retryStep(deps, idParam(req, "id", "progress record"), stepId, req.actor), 202);
    },
    recoverRun: async (req) =>
      ok(await recoverRun(deps, idParam(req, "id", "progress record"), req.actor), 202),
    cleanupRun: async (req) => ok(await cleanupRun(deps, idParam(req, "id", "progress record"), req.actor)),
  };
}

export const handler = lambdaEntry("progress", progressOperations);
