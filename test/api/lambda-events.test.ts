/**
 * The Lambda side of the API, without the local server: API Gateway REST proxy events handed
 * straight to the group handlers (createGroupHandler) and to the authorizer, as API Gateway would.
 * The same rules as through HTTP: the key and role before the body, 415/413, the one error shape
 * with the request id, repeated query parameters from `multiValueQueryStringParameters`, HEAD,
 * logs without query parameters; and the authorizer records a key's last use.
 */
import { createHash, randomUUID } from "node:crypto";
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from "aws-lambda";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAuthorizer } from "../../functions/api/authorizer.ts";
import { createAllGroupHandlers } from "../../functions/api/groups.ts";
import { apiKeys, tenants } from "../../functions/db/schema.ts";
import type { Principal } from "../../functions/domain/auth/api-keys.ts";
import { createGroupHandler, type GroupHandler } from "../../functions/http/api-handler.ts";
import { type ApiGroup, type OperationId, routes } from "../../functions/http/route-table.ts";
import { createLogger, type Logger } from "../../functions/shared/logger.ts";
import { startTestServer, type TestServer } from "../support/server.ts";

let server: TestServer;
let handlers: Record<ApiGroup, GroupHandler>;
let admin: Principal;
let tenantAdmin: Principal;
let templateId: string;

const sha256 = (text: string) => createHash("sha256").update(text, "utf8").digest("hex");

const context = { awsRequestId: "lambda-request" } as Context;

interface EventOptions {
  readonly params?: Record<string, string>;
  readonly query?: Record<string, string[]>;
  readonly headers?: Record<string, string>;
  readonly body?: string;
  readonly base64?: boolean;
  readonly principal?: Principal | null;
  readonly method?: string;
}

/** An event as API Gateway builds it for `operationId`'s route (both query maps filled). */
function event(operationId: OperationId, options: EventOptions = {}): APIGatewayProxyEvent {
  const route = routes[operationId];
  const principal = options.principal === undefined ? admin : options.principal;
  const query = options.query;
  return {
    resource: route.path,
    path: route.path.replace(/\{(\w+)\}/g, (_, name: string) => options.params?.[name] ?? "x"),
    httpMethod: options.method ?? route.method,
    headers: options.headers ?? {},
    multiValueHeaders: {},
    queryStringParameters: query
      ? Object.fromEntries(Object.entries(query).map(([k, v]) => [k, v[v.length - 1]!]))
      : null,
    multiValueQueryStringParameters: query ?? null,
    pathParameters: options.params ?? null,
    stageVariables: null,
    body: options.body ?? null,
    isBase64Encoded: options.base64 ?? false,
    requestContext: {
      requestId: `apigw-${randomUUID()}`,
      authorizer: principal
        ? { keyId: principal.keyId, role: principal.role, tenantId: principal.tenantId ?? "" }
        : null,
    },
  } as unknown as APIGatewayProxyEvent;
}

async function call(operationId: OperationId, options: EventOptions = {}) {
  const ev = event(operationId, options);
  const result = (await handlers[routes[operationId].group](ev, context)) as APIGatewayProxyResult;
  const body = result.body === "" ? undefined : JSON.parse(result.body);
  return { ...result, json: body, requestId: ev.requestContext.requestId };
}

function expectErrorResult(res: Awaited<ReturnType<typeof call>>, status: number, code: string): void {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.json.error).toMatchObject({
    code,
    message: expect.any(String),
    details: { requestId: res.requestId },
  });
  expect(res.headers).toMatchObject({
    "x-request-id": res.requestId,
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
  });
}

beforeAll(async () => {
  server = await startTestServer();
  const db = server.database.db;
  handlers = createAllGroupHandlers({
    db,
    logger: createLogger("silent"),
    clock: () => new Date(),
    workflows: server.app.workflows,
  });
  const [adminRow] = await db
    .select()
    .from(apiKeys)
    .where(eq(apiKeys.keyHash, sha256(server.adminKey)));
  admin = { keyId: adminRow!.id, role: "admin", tenantId: null };
  const slug = `l-${randomUUID().slice(0, 8)}`;
  const [tenant] = await db
    .insert(tenants)
    .values({ name: `Tenant ${slug}`, slug, subdomain: slug, status: "active" })
    .returning({ id: tenants.id });
  const created = await server.request("POST", "/api/provisioning/keys", {
    body: { name: "tenant admin", role: "tenant_admin", tenantId: tenant!.id },
  });
  tenantAdmin = { keyId: created.body.id, role: "tenant_admin", tenantId: tenant!.id };
  templateId = (await server.request("GET", "/api/provisioning/templates?limit=1")).body.items[0].id;
});

afterAll(async () => {
  await server?.close();
});

describe("group handlers on API Gateway proxy events", () => {
  it("check the key and the role before the body: no principal is a 401, a tenant_admin on an admin route a 403, whatever the body", async () => {
    // Act
    const anonymous = await call("createTemplate", {
      principal: null,
      headers: { "Content-Type": "text/plain" },
      body: "{not json",
    });
    const tenantKey = await call("createTemplate", {
      principal: tenantAdmin,
      headers: { "Content-Type": "text/plain" },
      body: "{not json",
    });

    // Assess
    expectErrorResult(anonymous, 401, "unauthorized");
    expect(anonymous.headers?.["www-authenticate"]).toBe("Bearer");
    expectErrorResult(tenantKey, 403, "forbidden");
  });

  it("refuse a non-JSON body with 415 and one over 1 MB (base64 too) with 413, before parsing it", async () => {
    // Act
    const wrongType = await call("createTemplate", {
      headers: { "Content-Type": "text/plain" },
      body: JSON.stringify({ name: "x" }),
    });
    const tooLarge = await call("createTemplate", {
      headers: { "content-type": "application/json" },
      body: Buffer.from(`"${"x".repeat(1024 * 1024)}"`).toString("base64"),
      base64: true,
    });
    const base64 = await call("createTemplate", {
      headers: { "content-type": "application/json" },
      body: Buffer.from(JSON.stringify({ name: `Base64 ${randomUUID().slice(0, 8)}` })).toString("base64"),
      base64: true,
    });

    // Assess
    expectErrorResult(wrongType, 415, "unsupported_media_type");
    expectErrorResult(tooLarge, 413, "payload_too_large");
    expect(base64.statusCode, base64.body).toBe(201);
  });

  it("refuse a query parameter API Gateway received twice (multiValueQueryStringParameters), naming it", async () => {
    // Act
    const repeated = await call("listTemplates", { query: { limit: ["1", "2"] } });
    const once = await call("listTemplates", { query: { limit: ["1"] } });

    // Assess
    expectErrorResult(repeated, 400, "validation_error");
    expect(repeated.json.error.details.fields).toEqual([{ field: "limit", message: "must be given once" }]);
    expect(once.statusCode).toBe(200);
    expect(once.json.items).toHaveLength(1);
  });

  it("answer HEAD with the GET route's status and headers and no body", async () => {
    // Act
    const head = await call("getTemplate", { method: "HEAD", params: { id: templateId } });
    const missing = await call("getTemplate", { method: "HEAD", params: { id: randomUUID() } });

    // Assess
    expect(head.statusCode).toBe(200);
    expect(head.body).toBe("");
    expect(head.headers).toMatchObject({
      "content-type": "application/json; charset=utf-8",
      "x-request-id": head.requestId,
    });
    expect(missing.statusCode).toBe(404);
    expect(missing.body).toBe("");
  });

  it("treat a path parameter with NUL as naming nothing (404) and NUL in a query or body as a 400", async () => {
    // Act
    const path = await call("getTemplate", { params: { id: "\u0000" } });
    const query = await call("listTemplates", { query: { category: ["basic\u0000"] } });
    const body = await call("createApiKey", {
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "a\u0000", role: "admin" }),
    });

    // Assess
    expectErrorResult(path, 404, "not_found");
    expectErrorResult(query, 400, "validation_error");
    expect(query.json.error.details.fields[0].field).toBe("category");
    expectErrorResult(body, 400, "validation_error");
    expect(body.json.error.details.fields[0].field).toBe("name");
  });

  it("answer an unexpected error with a 500 in the error shape, logging it without the query's parameters", async () => {
    // Prepare: drizzle's message shape for a failed query
    const lines: string[] = [];
    const logger: Logger = createLogger("debug", (line) => lines.push(line));
    const failure = new Error(
      'Failed query: select "id" from "users" where "email" = $1\nparams: jane.doe@example.org',
      {
        cause: Object.assign(new Error("canceling statement due to statement timeout"), { code: "57014" }),
      },
    );
    const meta = createGroupHandler(
      "meta",
      {
        getOpenApi: async () => {
          throw failure;
        },
        getHealth: async () => ({ statusCode: 200 }),
        getWorkflowDefinition: async () => ({ statusCode: 200 }),
        whoami: async () => ({ statusCode: 200 }),
        getEventCatalogue: async () => ({ statusCode: 200 }),
      },
      logger,
    );
    const ev = event("getOpenApi", { principal: null });

    // Act
    const res = await meta(ev, context);

    // Assess
    expect(res.statusCode).toBe(500);
    expect(JSON.parse(res.body)).toEqual({
      error: {
        code: "internal_error",
        message: "internal error",
        details: { requestId: ev.requestContext.requestId },
      },
    });
    expect(lines).toHaveLength(1);
    const entry = JSON.parse(lines[0]!);
    expect(entry).toMatchObject({
      level: "error",
      requestId: ev.requestContext.requestId,
      error: {
        message: 'Failed query: select "id" from "users" where "email" = $1',
        cause: { code: "57014", message: "canceling statement due to statement timeout" },
      },
    });
    expect(lines[0]).not.toContain("jane.doe");
  });
});

describe("the authorizer", () => {
  it("records a key's last use when API Gateway asks it, and denies an unknown key", async () => {
    // Prepare
    const created = await server.request("POST", "/api/provisioning/keys", {
      body: { name: "gw", role: "admin" },
    });
    const authorize = createAuthorizer(async () => server.database.db);
    const methodArn = "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/GET/api/provisioning/templates";

    // Act
    const allowed = await authorize({
      headers: { Authorization: `Bearer ${created.body.key}` },
      methodArn,
    } as never);
    const denied = authorize({ headers: { Authorization: "Bearer tpk_unknown" }, methodArn } as never);

    // Assess
    expect(allowed.context).toMatchObject({ keyId: created.body.id, role: "admin" });
    await expect(denied).rejects.toThrow("Unauthorized");
    const [row] = await server.database.db.select().from(apiKeys).where(eq(apiKeys.id, created.body.id));
    expect(row!.lastUsedAt).toBeInstanceOf(Date);
  });
});
