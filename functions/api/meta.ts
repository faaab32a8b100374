/** Public endpoints (the OpenAPI document, a health check) and the workflow definitions. */
import { sql } from "drizzle-orm";
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
