/**
 * The local HTTP server: turns each request into an API Gateway REST proxy event (path and query
 * parameters, headers, a request context with a request id), runs the authorizer and the group
 * handler exactly as API Gateway would, and writes the response.
 *
 * A request is refused before its body is read — route, key, role, media type and declared size
 * first (functions/http/request-gate.ts) — and a refused request's connection is closed instead
 * of drained: a caller without a valid key cannot make the server read a 20 MB body.
 */
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from "aws-lambda";
import type { Database } from "../functions/db/client.ts";
import { authenticate } from "../functions/domain/auth/api-keys.ts";
import type { GroupHandler } from "../functions/http/api-handler.ts";
import {
  assertAccess,
  assertBodyAcceptable,
  errorResult,
  internalErrorResult,
  MAX_BODY_BYTES,
} from "../functions/http/request-gate.ts";
import { type ApiGroup, matchRoute } from "../functions/http/route-table.ts";
import {
  authorizerUnavailableError,
  HttpError,
  MethodNotAllowedError,
  NotFoundError,
  PayloadTooLargeError,
  RequestValidationError,
} from "../functions/shared/errors.ts";
import type { Logger } from "../functions/shared/logger.ts";

export interface LocalHttpServerOptions {
  readonly db: Database;
  readonly handlers: Record<ApiGroup, GroupHandler>;
  readonly logger: Logger;
  /** The time the authorizer records as a key's last use; tests may fix it. */
  readonly clock?: () => Date;
  /** Serves non-API paths (the web console); returns false when it has nothing for the path. */
  readonly staticFiles?: (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;
}

/**
 * Writes a proxy result. When the request's body has not been (fully) read, the answer says
 * `Connection: close`: Node then destroys the socket once the answer is out, instead of reading
 * the rest of the body to keep the connection alive.
 */
function send(req: IncomingMessage, res: ServerResponse, result: APIGatewayProxyResult): void {
  if (res.headersSent) return;
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(result.headers ?? {})) headers[k] = String(v);
  if (!req.complete) headers.connection = "close";
  // A HEAD answer may only state the length the GET body would have; the handler dropped the body.
  if (req.method !== "HEAD") headers["content-length"] = String(Buffer.byteLength(result.body));
  res.writeHead(result.statusCode, headers);
  res.end(req.method === "HEAD" ? undefined : result.body);
}

/** A request body is coming: a non-zero Content-Length, or a chunked one of unknown length. */
function declaredBody(req: IncomingMessage): { present: boolean; bytes?: number } {
  const length = Number(req.headers["content-length"] ?? 0);
  if (Number.isFinite(length) && length > 0) return { present: true, bytes: length };
  return { present: req.headers["transfer-encoding"] !== undefined };
}

/**
 * Reads the body up to the limit; null when it is larger (reading stops there: the rest is never
 * received, the answer closes the connection).
 */
function readBody(req: IncomingMessage): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) {
        chunks.push(chunk);
        return;
      }
      req.off("data", onData);
      req.pause();
      resolve(null);
    };
    req.on("data", onData);
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function lambdaContext(requestId: string): Context {
  return {
    awsRequestId: requestId,
    callbackWaitsForEmptyEventLoop: false,
    functionName: "local",
    functionVersion: "$LATEST",
    invokedFunctionArn: "arn:aws:lambda:local:000000000000:function:local",
    memoryLimitInMB: "1024",
    logGroupName: "local",
    logStreamName: "local",
    getRemainingTimeInMillis: () => 30_000,
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}

/** Query parameters as API Gateway passes them: the last value of each, and all of them. */
function queryParameters(url: URL): {
  single: Record<string, string> | null;
  multi: Record<string, string[]> | null;
} {
  const multi: Record<string, string[]> = {};
  for (const [k, v] of url.searchParams) multi[k] = [...(multi[k] ?? []), v];
  if (Object.keys(multi).length === 0) return { single: null, multi: null };
  const single: Record<string, string> = {};
  for (const [k, values] of Object.entries(multi)) single[k] = values[values.length - 1]!;
  return { single, multi };
}

export function createLocalHttpServer(options: LocalHttpServerOptions): Server {
  const { db, handlers, logger } = options;
  const clock = options.clock ?? (() => new Date());

  async function serve(req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
    const refuse = (error: HttpError) => send(req, res, errorResult(error, requestId));
    const method = (req.method ?? "GET").toUpperCase();
    let url: URL;
    try {
      url = new URL(req.url ?? "/", "http://localhost");
    } catch {
      refuse(RequestValidationError.field("(path)", "is not a valid request target"));
      return;
    }
    if (!url.pathname.startsWith("/api/")) {
      if (
        options.staticFiles &&
        (method === "GET" || method === "HEAD") &&
        (await options.staticFiles(req, res))
      )
        return;
      refuse(new NotFoundError("path", url.pathname));
      return;
    }
    const match = matchRoute(method, url.pathname);
    if (match.kind === "not-found") return refuse(new NotFoundError("route", `${method} ${url.pathname}`));
    if (match.kind === "method-not-allowed") {
      return refuse(new MethodNotAllowedError(method, url.pathname, match.allowed));
    }
    if (match.kind === "bad-parameter") {
      return refuse(RequestValidationError.field(match.param, "is not valid percent-encoded UTF-8"));
    }
    const { route } = match;
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers[k] = v;
    // The authorizer runs before the handler, as API Gateway's Lambda authorizer does; the role,
    // the media type and the declared size are checked before the body is read.
    let authorizer: Record<string, string> | null = null;
    try {
      let principal: Awaited<ReturnType<typeof authenticate>> = null;
      if (route.access !== "public") {
        try {
          principal = await authenticate(db, headers.authorization, clock());
        } catch (error) {
          // As API Gateway answers a failing authorizer (AUTHORIZER_FAILURE, lib/constructs/api.ts).
          logger.warn("the API key could not be checked", { error });
          return refuse(authorizerUnavailableError(error));
        }
      }
      assertAccess(route, principal);
      assertBodyAcceptable(route, headers["content-type"], declaredBody(req));
      if (principal) {
        authorizer = { keyId: principal.keyId, role: principal.role, tenantId: principal.tenantId ?? "" };
      }
    } catch (error) {
      if (error instanceof HttpError) return refuse(error);
      throw error;
    }
    const body = await readBody(req);
    if (body === null) return refuse(new PayloadTooLargeError(MAX_BODY_BYTES));
    const query = queryParameters(url);
    const event = {
      resource: route.path,
      path: url.pathname,
      httpMethod: method,
      headers,
      multiValueHeaders: {},
      queryStringParameters: query.single,
      multiValueQueryStringParameters: query.multi,
      pathParameters: Object.keys(match.params).length > 0 ? match.params : null,
      stageVariables: null,
      body: body === "" ? null : body,
      isBase64Encoded: false,
      requestContext: {
        requestId,
        resourcePath: route.path,
        httpMethod: method,
        path: url.pathname,
        stage: "local",
        authorizer,
        identity: { sourceIp: req.socket.remoteAddress ?? "" },
      },
    } as unknown as APIGatewayProxyEvent;
    const started = Date.now();
    const result = await handlers[route.group](event, lambdaContext(requestId));
    send(req, res, result);
    logger.debug("request", {
      method,
      route: route.path,
      status: result.statusCode,
      ms: Date.now() - started,
      requestId,
    });
  }

  const server = createServer((req, res) => {
    const requestId = randomUUID();
    serve(req, res, requestId).catch((error: unknown) => {
      logger.error("request failed", { error, requestId });
      send(req, res, internalErrorResult(requestId));
    });
  });
  // Idle keep-alive connections are closed by the client first: Node's default of 5 s raced
  // clients (fetch keeps a socket 4 s) when a long database call held the event loop for seconds,
  // and a request sent on a socket the server was closing failed with ECONNRESET.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  return server;
}
