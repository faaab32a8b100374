/**
 * Builds API Gateway REST proxy handlers with middy: a body-size limit, JSON body parsing, zod
 * validation of body and query from the route table, the role check, and one error responder.
 * Each group Lambda (and the local server) calls the operations through this.
 */
import middy, { type MiddlewareObj } from "@middy/core";
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from "aws-lambda";
import { z } from "zod";
import type { Principal } from "../domain/auth/api-keys.ts";
import {
  databaseResumingError,
  ForbiddenError,
  HttpError,
  isDatabaseResuming,
  NotFoundError,
  PayloadTooLargeError,
  RequestValidationError,
  UnauthorizedError,
} from "../shared/errors.ts";
import type { Logger } from "../shared/logger.ts";
import { fieldIssues, parseOrThrow } from "../shared/validation.ts";
import { type ApiGroup, type OperationId, type RouteSpec, routeByResource, routes } from "./route-table.ts";

export const MAX_BODY_BYTES = 1024 * 1024;

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

function jsonResponse(
  statusCode: number,
  body: unknown,
  headers: Record<string, string> = {},
): APIGatewayProxyResult {
  return {
    statusCode,
    headers: { "content-type": "application/json; charset=utf-8", ...headers },
    body: body === undefined ? "" : JSON.stringify(body),
  };
}

interface RequestState {
  route?: RouteSpec & { operationId: OperationId };
  parsedBody?: unknown;
}
type Req = middy.Request<
  APIGatewayProxyEvent,
  APIGatewayProxyResult,
  Error,
  Context & { state?: RequestState }
>;

/** 413 for bodies over 1 MB (API Gateway itself allows 10 MB). */
const bodySizeLimit = (): MiddlewareObj<APIGatewayProxyEvent, APIGatewayProxyResult> => ({
  before: (request) => {
    const body = request.event.body;
    if (!body) return;
    const bytes = request.event.isBase64Encoded
      ? Math.floor((body.length * 3) / 4)
      : Buffer.byteLength(body, "utf8");
    if (bytes > MAX_BODY_BYTES) throw new PayloadTooLargeError(MAX_BODY_BYTES);
  },
});

/** Parses a JSON body; malformed JSON is a 400, never a 500. */
const jsonBodyParser = (): MiddlewareObj<APIGatewayProxyEvent, APIGatewayProxyResult> => ({
  before: (request) => {
    const { body, isBase64Encoded } = request.event;
    const context = request.context as Req["context"];
    context.state ??= {};
    const state = context.state;
    if (body === null || body === undefined || body === "") return;
    const text = isBase64Encoded ? Buffer.from(body, "base64").toString("utf8") : body;
    try {
      state.parsedBody = JSON.parse(text);
    } catch (error) {
      throw new RequestValidationError(
        `request body is not valid JSON: ${(error as Error).message}`,
        [{ field: "(body)", message: "malformed JSON" }],
        "invalid_json",
      );
    }
  },
});

/**
 * The one error handler: HttpErrors become their JSON shape; a database still resuming from
 * auto-pause after the wait the Data API client allows (`DATABASE_RESUME_WAIT_SECONDS`) a 503 with
 * `Retry-After`; anything else a logged 500.
 */
const errorResponder = (logger: Logger): MiddlewareObj<APIGatewayProxyEvent, APIGatewayProxyResult> => ({
  onError: (request) => {
    const requestId = request.event.requestContext?.requestId;
    const error = isDatabaseResuming(request.error) ? databaseResumingError(request.error) : request.error;
    if (error instanceof HttpError) {
      if (error.statusCode >= 500) logger.warn("request not served", { error, requestId });
      request.response = jsonResponse(error.statusCode, error.toBody(), error.responseHeaders());
      return;
    }
    logger.error("unhandled error", { error, requestId, path: request.event.path });
    request.response = jsonResponse(500, {
      error: { code: "internal_error", message: "internal error", details: { requestId } },
    });
  },
});

function lowerHeaders(headers: APIGatewayProxyEvent["headers"]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers ?? {})) if (v !== undefined) out[k.toLowerCase()] = v;
  return out;
}

/** Query string → plain object (last value wins for repeated keys). */
function queryObject(event: APIGatewayProxyEvent): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(event.queryStringParameters ?? {})) if (v !== undefined) out[k] = v;
  return out;
}

export type GroupHandler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;

/**
 * The API Gateway handler of one group. The event's `resource` and `httpMethod` select the
 * operation; the authorizer's context (from API Gateway or the local server) is the principal.
 */
export function createGroupHandler<G extends ApiGroup>(
  group: G,
  operations: GroupOperations<G>,
  logger: Logger,
): GroupHandler {
  const ops = operations as unknown as Record<string, (req: ApiRequest) => Promise<ApiResult>>;
  const core = async (event: APIGatewayProxyEvent, context: Context): Promise<APIGatewayProxyResult> => {
    const route = routeByResource(event.httpMethod, event.resource);
    if (!route || route.group !== group)
      throw new NotFoundError("route", `${event.httpMethod} ${event.path}`);
    const principal = principalFromEvent(event);
    if (route.access !== "public") {
      if (!principal) throw new UnauthorizedError();
      if (route.access === "admin" && principal.role !== "admin") throw new ForbiddenError();
    }
    const state = (context as Req["context"]).state ?? {};
    let body: unknown;
    if (route.body) {
      if (state.parsedBody === undefined) {
        throw new RequestValidationError("a JSON request body is required", [
          { field: "(body)", message: "required" },
        ]);
      }
      body = parseOrThrow(route.body, state.parsedBody);
    }
    const query = route.query ? parseOrThrow(route.query, queryObject(event)) : {};
    const operation = ops[route.operationId];
    if (!operation) throw new NotFoundError("operation", route.operationId);
    const result = await operation({
      operationId: route.operationId,
      params: (event.pathParameters ?? {}) as Record<string, string>,
      query: query as never,
      body: body as never,
      headers: lowerHeaders(event.headers),
      principal: principal as Principal,
      requestId: event.requestContext?.requestId ?? context.awsRequestId,
    });
    return jsonResponse(result.statusCode, result.body, result.headers);
  };
  return middy<APIGatewayProxyEvent, APIGatewayProxyResult>()
    .use(errorResponder(logger))
    .use(bodySizeLimit())
    .use(jsonBodyParser())
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
