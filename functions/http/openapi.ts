/**
 * The OpenAPI 3.1 document, generated from the route table and its zod schemas (never written by
 * hand, so it cannot drift from what the handlers validate).
 */
import { z } from "zod";
import { EVENT_CATALOGUE, EVENT_TYPES, type EventType, eventJsonSchema } from "../schemas/events.ts";
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

/** The component name of an event type's schema: `Event.tenant.provisioning.completed.v1`. */
export function eventSchemaName(type: EventType): string {
  return `Event.${type}.v${EVENT_CATALOGUE[type].version}`;
}

const SIGNATURE_HEADERS: Json[] = [
  {
    name: "webhook-id",
    in: "header",
    required: true,
    description: "The event's id: the same on every attempt and redelivery (an idempotency key)",
    schema: { type: "string", format: "uuid" },
  },
  {
    name: "webhook-timestamp",
    in: "header",
    required: true,
    description: "This attempt's time, integer Unix seconds",
    schema: { type: "string", pattern: "^[0-9]+$" },
  },
  {
    name: "webhook-signature",
    in: "header",
    required: true,
    description:
      "Space-delimited `v1,<base64 HMAC-SHA256>` over `{webhook-id}.{webhook-timestamp}.{body}` with the key after the secret's `whsec_` prefix, base64-decoded (two during a secret rotation's overlap)",
    schema: { type: "string" },
  },
];

/**
 * The lifecycle events as OpenAPI 3.1 `webhooks` (what the service POSTs to subscribers), each
 * with its versioned JSON Schema in `components.schemas`.
 */
function eventWebhooks(): { webhooks: Json; schemas: Json } {
  const webhooks: Json = {};
  const schemas: Json = {};
  for (const type of EVENT_TYPES) {
    const name = eventSchemaName(type);
    schemas[name] = eventJsonSchema(type);
    webhooks[type] = {
      post: {
        operationId: `event.${type}`,
        summary: EVENT_CATALOGUE[type].summary,
        tags: ["events"],
        parameters: SIGNATURE_HEADERS,
        requestBody: {
          required: true,
          content: { "application/json": { schema: { $ref: `#/components/schemas/${name}` } } },
        },
        responses: {
          "2XX": { description: "received; any other answer is retried with backoff" },
          "410": { description: "gone: the subscription is disabled" },
        },
      },
    };
  }
  return { webhooks, schemas };
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
  const events = eventWebhooks();
  cached = {
    openapi: "3.1.0",
    info: {
      title: "Tenant provisioning API",
      version: "1.0.0",
      description: "Templates, provisioning and deprovisioning workflows, progress tracking for tenants.",
    },
    components: {
      securitySchemes: { bearer: { type: "http", scheme: "bearer", description: "API key" } },
      schemas: { Error: jsonSchema(ERROR_RESPONSE, "output"), ...events.schemas },
    },
    security: [{ bearer: [] }],
    paths,
    webhooks: events.webhooks,
  };
  return cached;
}
