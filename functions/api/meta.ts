/** Public endpoints: the OpenAPI document and a health check. */
import { sql } from "drizzle-orm";
import { type GroupOperations, ok } from "../http/api-handler.ts";
import { openApiDocument } from "../http/openapi.ts";
import type { ApiDeps } from "./deps.ts";
import { lambdaEntry } from "./lambda.ts";

export function metaOperations({ db }: ApiDeps): GroupOperations<"meta"> {
  return {
    getOpenApi: async () => ok(openApiDocument()),
    getHealth: async () => {
      await db.execute(sql`SELECT 1`);
      return ok({ status: "ok" });
    },
  };
}

export const handler = lambdaEntry("meta", metaOperations);
