/**
 * The OpenAPI 3.1 document, generated from the route table and its zod schemas (never written by
 * hand, so it cannot drift from what the handlers validate).
 */
import { z } from "zod";
import { ERROR_RESPONSE, routeList } from "./route-table.ts";

type Json = Record<string, unknown>;

function jsonSchema(schema: z.ZodType, io: "input" | "output"): Json {
  return z.toJSONSchema(schema, { io, unrepresentable: "any", target: "draft-2020-12" }) as Json;
}

/** Query parameters from an object schema's properties. */
function queryParameters(schema: z.ZodType): Json[] {
  const js = jsonSchema(schema, "input");
  const props = (js.properties ?? {}) as Record<string, Json>;
  const required = new Set((js.required as string[] | undefined) ?? []);
  return Object.entries(props).map(([name, s]) => ({
    name,
    in: "query",
    required: required.has(name),
    schema: s,
  }));
}

let cached: Json | undefined;

export function openApiDocument(): Json {
  if (cached) return cached;
  const paths: Record<string, Record<string, Json>> = {};
  const errorRef = { $ref: "#/components/schemas/Error" };
  for (const route of routeList()) {
    const pathParams = [...route.path.matchAll(/\{(\w+)\}/g)].map((m) => ({
      name: m[1],
      in: "path",
      required: true,
      schema: { type: "string" },
    }));
    const op: Json = {
      operationId: route.operationId,
      summary: route.summary,
      tags: [route.group],
      parameters: [...pathParams, ...(route.query ? queryParameters(route.query) : [])],
      responses: {
        [String(route.successStatus ?? (route.method === "POST" ? 200 : 200))]: {
          description: "success",
          ...(route.response
            ? { content: { "application/json": { schema: jsonSchema(route.response, "output") } } }
            : {}),
        },
        ...(route.access === "public"
          ? {}
          : {
              "401": {
                description: "missing or invalid API key",
                content: { "application/json": { schema: errorRef } },
              },
              "403": {
                description: "role not allowed",
                content: { "application/json": { schema: errorRef } },
              },
            }),
        "400": { description: "invalid input", content: { "application/json": { schema: errorRef } } },
        "404": { description: "not found", content: { "application/json": { schema: errorRef } } },
        "409": { description: "conflict", content: { "application/json": { schema: errorRef } } },
        ...(route.body
          ? {
              "413": {
                description: "body larger than 1 MB",
                content: { "application/json": { schema: errorRef } },
              },
              "415": {
                description: "body not application/json",
                content: { "application/json": { schema: errorRef } },
              },
            }
          : {}),
        "500": { description: "internal error", content: { "application/json": { schema: errorRef } } },
      },
      ...(route.access === "public" ? { security: [] } : {}),
    };
    if (route.body) {
      op.requestBody = {
        required: true,
        content: { "application/json": { schema: jsonSchema(route.body, "input") } },
      };
    }
    const oaPath = route.path;
    paths[oaPath] ??= {};
    paths[oaPath][route.method.toLowerCase()] = op;
  }
  cached = {
    openapi: "3.1.0",
    info: {
      title: "Tenant provisioning API",
      version: "1.0.0",
      description: "Templates, provisioning and deprovisioning workflows, progress tracking for tenants.",
    },
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer", description: "API key" } },
      schemas: { Error: jsonSchema(ERROR_RESPONSE, "output") },
    },
    security: [{ bearer: [] }],
    paths,
  };
  return cached;
}
