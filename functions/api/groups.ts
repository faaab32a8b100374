/**
 * Every API group's operations, for the local server (which serves all groups in one process).
 * In AWS each group is its own Lambda (functions/api/<group>.ts `handler`).
 */
import { createGroupHandler, type GroupHandler } from "../http/api-handler.ts";
import type { ApiGroup } from "../http/route-table.ts";
import type { ApiDeps } from "./deps.ts";
import { keyOperations } from "./keys.ts";
import { metaOperations } from "./meta.ts";
import { operationsOperations } from "./operations.ts";
import { progressOperations } from "./progress.ts";
import { provisioningOperations } from "./provisioning.ts";
import { rolloutOperations } from "./rollouts.ts";
import { scheduleOperations } from "./schedules.ts";
import { templateOperations } from "./templates.ts";
import { tenantOperations } from "./tenants.ts";
import { webhookOperations } from "./webhooks.ts";

export function createAllGroupHandlers(deps: ApiDeps): Record<ApiGroup, GroupHandler> {
  return {
    meta: createGroupHandler("meta", metaOperations(deps), deps.logger),
    templates: createGroupHandler("templates", templateOperations(deps), deps.logger),
    keys: createGroupHandler("keys", keyOperations(deps), deps.logger),
    provisioning: createGroupHandler("provisioning", provisioningOperations(deps), deps.logger),
    progress: createGroupHandler("progress", progressOperations(deps), deps.logger),
    operations: createGroupHandler("operations", operationsOperations(deps), deps.logger),
    tenants: createGroupHandler("tenants", tenantOperations(deps), deps.logger),
    schedules: createGroupHandler("schedules", scheduleOperations(deps), deps.logger),
    webhooks: createGroupHandler("webhooks", webhookOperations(deps), deps.logger),
    rollouts: createGroupHandler("rollouts", rolloutOperations(deps), deps.logger),
  };
}
