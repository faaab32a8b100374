/**
 * Builds API Gateway REST proxy handlers with middy. Before any operation runs, the request passes
 * the gate (functions/http/request-gate.ts: route, key, role, media type, size), then the body is
 * parsed and checked for text PostgreSQL cannot store and for nesting depth, and body and query are
 * validated with the route table's zod schemas. One error responder answers everything in the one
 * error shape; every answer carries the request id and the API's response headers.
 * Each group Lambda (and the local server) calls the operations through this.
 */
import middy, { type MiddlewareObj } from "@middy/core";
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from "aws-lambda";
import { z } from "zod";
import type { Actor } from "../domain/actor.ts";
import type { Principal } from "../domain/auth/api-keys.ts";
import { storableJsonSchema } from "../schemas/common.ts";
import {
  databaseResumingError,
  HttpError,
  isDatabaseResuming,
  NotFoundError,
  RequestValidationError,
} from "../shared/errors.ts";
import type { Logger } from "../shared/logger.ts";
import { fieldIssues, isStorableText, parseOrThrow, UNSTORABLE_TEXT_MESSAGE } from "../shared/validation.ts";
import {
  apiResponseHeaders,
  assertAccess,
  assertBodyAcceptable,
  errorResult,
  internalErrorResult,
  MAX_BODY_BYTES,
} from "./request-gate.ts";
import { type ApiGroup, type OperationId, type RouteSpec, routeByResource, routes } from "./route-table.ts";

export { MAX_BODY_BYTES };

type RouteOf<Op extends OperationId> = (typeof routes)[Op];
type BodyOf<Op extends OperationId> =
  RouteOf<Op> extends { body: infer S extends z.ZodType } ? z.output<S> : undefined;
type QueryOf<Op extends OperationId> =
  RouteOf<Op> extends { query: infer S extends z.ZodType } ? z.output<S> : Record<string, never>;

export interface ApiRequest<Op extends OperationId = OperationId> {
  readonly operationId: Op;
  readonly params: Readonly<Record<string, string>>;
  readonly query: QueryOf<Op>;
  readonly body: BodyOf<Op>;
  /** Header names lower-cased. */
  readonly headers: Readonly<Record<string, string>>;
  /** Null only on public routes. */
  readonly principal: Principal;
  /** The key and request, for audit entries (null only on public routes). */
  readonly actor: Actor;
  /** A tenant_admin key's tenant (it sees only that tenant's data); null for an admin key. */
  readonly tenantScope: string | null;
  readonly requestId: string;
}

export interface ApiResult {
  readonly statusCode: number;
  readonly body?: unknown;
  readonly headers?: Record<string, string>;
}

export type OperationHandler<Op extends OperationId> = (req: ApiRequest<Op>) => Promise<ApiResult>;

/** The operations a group must implement: exactly its routes, checked at compile time. */
export type GroupOperations<G extends ApiGroup> = {
  [Op in OperationId as RouteOf<Op>["group"] extends G ? Op : never]: OperationHandler<Op>;
};

export const ok = (body: unknown, statusCode = 200, headers: Record<string, string> = {}): ApiResult => ({
  statusCode,
  body,
  headers,
});

/** Reads the principal that the authorizer put on the request context. */
export function principalFromEvent(event: APIGatewayProxyEvent): Principal | null {
  const ctx = event.requestContext?.authorizer as Record<string, unknown> | null | undefined;
  if (!ctx || typeof ctx.keyId !== "string" || (ctx.role !== "admin" && ctx.role !== "tenant_admin"))
    return null;
  const tenantId = typeof ctx.tenantId === "string" && ctx.tenantId !== "" ? ctx.tenantId : null;
  return { keyId: ctx.keyId, role: ctx.role, tenantId };
}

interface RequestState {
  requestId: string;
  route?: RouteSpec & { operationId: OperationId };
  principal?: Principal | null;
  /** The parsed JSON body; undefined when there was none. */
  parsedBody?: unknown;
}
type Req = middy.Request<
  APIGatewayProxyEvent,
  APIGatewayProxyResult,
  Error,
  Context & { state?: RequestState }
>;

/** API Gateway's request id (the local server makes one); the Lambda's own id without one. */
function requestIdOf(request: { event: APIGatewayProxyEvent; context: Context }): string {
  return request.event.requestContext?.requestId ?? request.context.awsRequestId;
}

/** A fresh state for this invocation (a context object may be reused across invocations). */
function newState(request: { event: APIGatewayProxyEvent; context: Context }): RequestState {
  const context = request.context as Req["context"];
  context.state = { requestId: requestIdOf(request) };
  return context.state;
}

function lowerHeaders(headers: APIGatewayProxyEvent["headers"]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers ?? {})) if (v !== undefined) out[k.toLowerCase()] = v;
  return out;
}

/**
 * The query string as a plain object. A repeated parameter is a 400: API Gateway hands the last
 * value in `queryStringParameters` and all of them in `multiValueQueryStringParameters`, and
 * silently taking one of several is guessing what the caller meant.
 */
function queryObject(event: APIGatewayProxyEvent): Record<string, string> {
  const out: Record<string, string> = {};
  const issues: { field: string; message: string }[] = [];
  const multi = event.multiValueQueryStringParameters ?? {};
  // A name that cannot be shown back is reported as "(query)".
  const field = (name: string) => (isStorableText(name) ? name : "(query)");
  for (const [k, values] of Object.entries(multi)) {
    if (values && values.length > 1) issues.push({ field: field(k), message: "must be given once" });
  }
  for (const [k, v] of Object.entries(event.queryStringParameters ?? {})) {
    if (v === undefined) continue;
    if (!isStorableText(k) || !isStorableText(v)) {
      issues.push({ field: field(k), message: UNSTORABLE_TEXT_MESSAGE });
      continue;
    }
    out[k] = v;
  }
  if (issues.length > 0) {
    throw new RequestValidationError(issues.map((i) => `${i.field}: ${i.message}`).join("; "), issues);
  }
  return out;
}

function bodySize(event: APIGatewayProxyEvent): { present: boolean; bytes: number } {
  const { body, isBase64Encoded } = event;
  if (!body) return { present: false, bytes: 0 };
  const bytes = isBase64Encoded ? Buffer.from(body, "base64").length : Buffer.byteLength(body, "utf8");
  return { present: true, bytes };
}

/**
 * The gate (route, key, role, media type, size), then the body: JSON, storable, not too deep.
 * Malformed JSON is a 400, never a 500.
 */
const admitRequest = (group: ApiGroup): MiddlewareObj<APIGatewayProxyEvent, APIGatewayProxyResult> => ({
  before: (request) => {
    const state = newState(request);
    const { event } = request;
    const route = routeByResource(event.httpMethod, event.resource);
    if (!route || route.group !== group)
      throw new NotFoundError("route", `${event.httpMethod} ${event.path}`);
    state.route = route;
    state.principal = principalFromEvent(event);
    assertAccess(route, state.principal);
    // A parameter no id or name can contain (NUL, an unpaired surrogate) names nothing.
    for (const [name, value] of Object.entries(event.pathParameters ?? {})) {
      if (value === undefined || !isStorableText(value)) throw new NotFoundError(name);
    }
    const headers = lowerHeaders(event.headers);
    assertBodyAcceptable(route, headers["content-type"], bodySize(event));
    const { body, isBase64Encoded } = event;
    if (!route.body || body === null || body === undefined || body === "") return;
    const text = isBase64Encoded ? Buffer.from(body, "base64").toString("utf8") : body;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new RequestValidationError(
        `request body is not valid JSON: ${(error as Error).message}`,
        [{ field: "(body)", message: "malformed JSON" }],
        "invalid_json",
      );
    }
    state.parsedBody = parseOrThrow(storableJsonSchema, parsed);
  },
});

/** The one error handler: HttpErrors become their JSON shape; anything else a logged 500. */
const errorResponder = (logger: Logger): MiddlewareObj<APIGatewayProxyEvent, APIGatewayProxyResult> => ({
  onError: (request) => {
    const requestId = requestIdOf(request);
    // A database still resuming from auto-pause after the wait the Data API client allows
    // (DATABASE_RESUME_WAIT_SECONDS) is a 503 with Retry-After, not a 500.
    const error = isDatabaseResuming(request.error) ? databaseResumingError(request.error) : request.error;
    if (error instanceof HttpError) {
      if (error.statusCode >= 500) logger.warn("request not served", { error, requestId });
      request.response = errorResult(error, requestId);
    } else {
      logger.error("unhandled error", { error, requestId, route: request.event.resource });
      request.response = internalErrorResult(requestId);
    }
    if (request.event.httpMethod === "HEAD") request.response.body = "";
  },
});

export type GroupHandler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;

/**
 * The API Gateway handler of one group. The event's `resource` and `httpMethod` select the
 * operation (HEAD runs the GET route and answers without the body); the authorizer's context
 * (from API Gateway or the local server) is the principal.
 */
export function createGroupHandler<G extends ApiGroup>(
  group: G,
  operations: GroupOperations<G>,
  logger: Logger,
): GroupHandler {
  const ops = operations as unknown as Record<string, (req: ApiRequest) => Promise<ApiResult>>;
  const core = async (event: APIGatewayProxyEvent, context: Context): Promise<APIGatewayProxyResult> => {
    const state = (context as Req["context"]).state!;
    const route = state.route!;
    let body: unknown;
    if (route.body) {
      if (state.parsedBody === undefined) {
        throw new RequestValidationError("a JSON request body is required", [
          { field: "(body)", message: "required" },
        ]);
      }
      body = parseOrThrow(route.body, state.parsedBody);
    }
    // Repeated or unstorable parameters are refused on every route, with a query schema or not.
    const rawQuery = queryObject(event);
    const query = route.query ? parseOrThrow(route.query, rawQuery) : {};
    const operation = ops[route.operationId];
    if (!operation) throw new NotFoundError("operation", route.operationId);
    const result = await operation({
      operationId: route.operationId,
      params: (event.pathParameters ?? {}) as Record<string, string>,
      query: query as never,
      body: body as never,
      headers: lowerHeaders(event.headers),
      principal: state.principal as Principal,
      actor: (state.principal ? { keyId: state.principal.keyId, requestId: state.requestId } : null) as Actor,
      tenantScope: state.principal?.role === "tenant_admin" ? state.principal.tenantId : null,
      requestId: state.requestId,
    });
    return {
      statusCode: result.statusCode,
      headers: { ...apiResponseHeaders(state.requestId), ...result.headers },
      body: result.body === undefined || event.httpMethod === "HEAD" ? "" : JSON.stringify(result.body),
    };
  };
  return middy<APIGatewayProxyEvent, APIGatewayProxyResult>()
    .use(errorResponder(logger))
    .use(admitRequest(group))
    .handler(core) as unknown as GroupHandler;
}

/** A uuid path parameter, or a 404 (a malformed id can name nothing). */
export function idParam(
  req: { params: Readonly<Record<string, string>> },
  name = "id",
  what = "resource",
): string {
  const value = req.params[name];
  if (!value || !z.uuid().safeParse(value).success) throw new NotFoundError(what, value);
  return value;
}

export { fieldIssues, parseOrThrow, routes };
