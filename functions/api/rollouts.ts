/** Template upgrade rollouts (admin only): plan or start one, read them, pause, resume, abort. */
import {
  abortRollout,
  getRollout,
  listRollouts,
  pauseRollout,
  planOnly,
  resumeRollout,
  startRollout,
} from "../domain/rollouts/rollout-service.ts";
import { type GroupOperations, idParam, ok } from "../http/api-handler.ts";
import type { ApiDeps } from "./deps.ts";
import { lambdaEntry } from "./lambda.ts";

export function rolloutOperations(deps: ApiDeps): GroupOperations<"rollouts"> {
  const { db } = deps;
  return {
    startRollout: async (req) =>
      req.body.dryRun
        ? ok(await planOnly(db, req.body), 200)
        : ok(await startRollout(deps, req.body, req.actor), 202),
    listRollouts: async (req) => ok(await listRollouts(db, req.query)),
    getRollout: async (req) => ok(await getRollout(db, idParam(req, "id", "rollout"))),
    pauseRollout: async (req) => ok(await pauseRollout(deps, idParam(req, "id", "rollout"), req.actor)),
    resumeRollout: async (req) =>
      ok(await resumeRollout(deps, idParam(req, "id", "rollout"), req.actor), 202),
    abortRollout: async (req) => ok(await abortRollout(deps, idParam(req, "id", "rollout"), req.actor)),
  };
}

export const handler = lambdaEntry("rollouts", rolloutOperations);
