/** Scheduled operations (admin only): list them, cancel one that is still waiting. */
import { cancelSchedule, listSchedules } from "../domain/deprovisioning/schedule-service.ts";
import { type GroupOperations, idParam, ok } from "../http/api-handler.ts";
import type { ApiDeps } from "./deps.ts";
import { lambdaEntry } from "./lambda.ts";

export function scheduleOperations(deps: ApiDeps): GroupOperations<"schedules"> {
  return {
    listSchedules: async (req) => ok(await listSchedules(deps.db, req.query)),
    cancelSchedule: async (req) => ok(await cancelSchedule(deps, idParam(req, "id", "schedule"), req.actor)),
  };
}

export const handler = lambdaEntry("schedules", scheduleOperations);
