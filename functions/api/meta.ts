/**
 * Public endpoints (the OpenAPI document, a health check), the workflow definitions, and who the
 * calling key is.
 */
import { eq, sql } from "drizzle-orm";
import { apiKeys } from "../db/schema.ts";
import { type GroupOperations, ok } from "../http/api-handler.ts";
import { openApiDocument } from "../http/openapi.ts";
import { eventCatalogueDocument } from "../schemas/events.ts";
import { NotFoundError } from "../shared/errors.ts";
import { readDefinitionText } from "../workflows/definitions.ts";
import { WORKFLOW_STEPS, type WorkflowName } from "../workflows/step-catalog.ts";
import type { ApiDeps } from "./deps.ts";
import { lambdaEntry } from "./lambda.ts";

export function metaOperations({ db }: ApiDeps): GroupOperations<"meta"> {
  return {
    getOpenApi: async () => ok(openApiDocument()),
    getEventCatalogue: async () => ok(eventCatalogueDocument()),
    getHealth: async () => {
      await db.execute(sql`SELECT 1`);
      return ok({ status: "ok" });
    },
    whoami: async (req) => {
      // The key's name is read here: the authorizer's context carries only id, role and tenant.
      const [key] = await db
        .select({ name: apiKeys.name })
        .from(apiKeys)
        .where(eq(apiKeys.id, req.principal.keyId));
      return ok({
        keyId: req.principal.keyId,
        name: key?.name ?? null,
        role: req.principal.role,
        tenantId: req.principal.tenantId,
      });
    },
    getWorkflowDefinition: async (req) => {
      const kind = req.params.kind as WorkflowName;
      if (!Object.hasOwn(WORKFLOW_STEPS, kind) || WORKFLOW_STEPS[kind].length === 0) {
        throw new NotFoundError("workflow", req.params.kind);
      }
      return ok({ kind, definition: JSON.parse(readDefinitionText(kind)), steps: WORKFLOW_STEPS[kind] });
    },
  };
}

export const handler = lambdaEntry("meta", metaOperations);
