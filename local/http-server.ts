/**
 * The local HTTP server: turns each request into an API Gateway REST proxy event (path and query
 * parameters, headers, a request context with a request id), runs the authorizer and the group
 * handler exactly as API Gateway would, and writes the response.
 */
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { APIGatewayProxyEvent, Context } from "aws-lambda";
import type { Database } from "../functions/db/client.ts";
import { authenticate } from "../functions/domain/auth/api-keys.ts";
import { type GroupHandler, MAX_BODY_BYTES } from "../functions/http/api-handler.ts";
import { type ApiGroup, matchRoute } from "../functions/http/route-table.ts";
import {
  authorizerUnavailableError,
  type HttpError,
  MethodNotAllowedError,
  NotFoundError,
  PayloadTooLargeError,
  UnauthorizedError,
} from "../functions/shared/errors.ts";
import type { Logger } from "../functions/shared/logger.ts";

export interface LocalHttpServerOptions {
  readonly db: Database;
  readonly handlers: Record<ApiGroup, GroupHandler>;
  readonly logger: Logger;
  /** Serves non-API paths (the web console); returns false when it has nothing for the path. */
  readonly staticFiles?: (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;
}

function sendError(res: ServerResponse, error: HttpError): void {
  send(res, error.statusCode, JSON.stringify(error.toBody()), {
    ...error.responseHeaders(),
    "content-type": "application/json; charset=utf-8",
  });
}

function send(res: ServerResponse, status: number, body: string, headers: Record<string, string>): void {
  if (res.headersSent) return;
  res.writeHead(status, { ...headers, "content-length": String(Buffer.byteLength(body)) });
  res.end(body);
}

/** Reads the body, stopping at the limit (the rest is drained, not buffered). */
function readBody(req: IncomingMessage): Promise<{ body: string; tooLarge: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on("end", () => resolve({ body: Buffer.concat(chunks).toString("utf8"), tooLarge }));
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

export function createLocalHttpServer(options: LocalHttpServerOptions): Server {
  const { db, handlers, logger } = options;
  return createServer((req, res) => {
    void (async () => {
      const requestId = randomUUID();
      const url = new URL(req.url ?? "/", "http://localhost");
      const method = (req.method ?? "GET").toUpperCase();
      if (!url.pathname.startsWith("/api/")) {
        if (
          options.staticFiles &&
          (method === "GET" || method === "HEAD") &&
          (await options.staticFiles(req, res))
        )
          return;
        sendError(res, new NotFoundError("path", url.pathname));
        return;
      }
      const match = matchRoute(method, url.pathname);
      if (match.kind !== "found") {
        req.resume();
        sendError(
          res,
          match.kind === "method-not-allowed"
            ? new MethodNotAllowedError(method, url.pathname)
            : new NotFoundError("route", `${method} ${url.pathname}`),
        );
        return;
      }
      const { body, tooLarge } = await readBody(req);
      if (tooLarge) {
        sendError(res, new PayloadTooLargeError(MAX_BODY_BYTES));
        return;
      }
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers[k] = v;
      // The authorizer runs before the handler, as API Gateway's Lambda authorizer does.
      let authorizer: Record<string, string> | null = null;
      if (match.route.access !== "public") {
        let principal: Awaited<ReturnType<typeof authenticate>>;
        try {
          principal = await authenticate(db, headers.authorization);
        } catch (error) {
          // As API Gateway answers a failing authorizer (AUTHORIZER_FAILURE, lib/constructs/api.ts).
          logger.warn("the API key could not be checked", { error });
          sendError(res, authorizerUnavailableError(error));
          return;
        }
        if (!principal) {
          sendError(res, new UnauthorizedError());
          return;
        }
        authorizer = { keyId: principal.keyId, role: principal.role, tenantId: principal.tenantId ?? "" };
      }
      const query: Record<string, string> = {};
      for (const [k, v] of url.searchParams) query[k] = v;
      const event = {
        resource: match.route.path,
        path: url.pathname,
        httpMethod: method,
        headers,
        multiValueHeaders: {},
        queryStringParameters: Object.keys(query).length > 0 ? query : null,
        multiValueQueryStringParameters: null,
        pathParameters: Object.keys(match.params).length > 0 ? match.params : null,
        stageVariables: null,
        body: body === "" ? null : body,
        isBase64Encoded: false,
        requestContext: {
          requestId,
          resourcePath: match.route.path,
          httpMethod: method,
          path: url.pathname,
          stage: "local",
          authorizer,
          identity: { sourceIp: req.socket.remoteAddress ?? "" },
        },
      } as unknown as APIGatewayProxyEvent;
      const started = Date.now();
      const result = await handlers[match.route.group](event, lambdaContext(requestId));
      const resHeaders: Record<string, string> = { "x-request-id": requestId };
      for (const [k, v] of Object.entries(result.headers ?? {})) resHeaders[k] = String(v);
      send(res, result.statusCode, result.body, resHeaders);
      logger.debug("request", {
        method,
        path: url.pathname,
        status: result.statusCode,
        ms: Date.now() - started,
      });
    })().catch((error: unknown) => {
      logger.error("request failed", { error });
      send(res, 500, JSON.stringify({ error: { code: "internal_error", message: "internal error" } }), {
        "content-type": "application/json; charset=utf-8",
      });
    });
  });
}
