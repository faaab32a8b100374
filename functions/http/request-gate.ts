/**
 * What every API request passes before its body is read, in one order for the Lambda handler and
 * the local server alike: the route (404/405) → the key (401) → the key's role (403) → the body's
 * media type (415) → its size (413). Only then is the body read and parsed (400). So a caller
 * without a valid key learns nothing about the body rules, and the local server never reads the
 * body of a request it is going to refuse anyway.
 *
 * Also the headers every API answer carries, and the error answers themselves.
 */
import type { APIGatewayProxyResult } from "aws-lambda";
import type { Principal } from "../domain/auth/api-keys.ts";
import {
  ForbiddenError,
  type HttpError,
  internalErrorBody,
  PayloadTooLargeError,
  UnauthorizedError,
  UnsupportedMediaTypeError,
} from "../shared/errors.ts";
import type { RouteSpec } from "./route-table.ts";

/** Request bodies over 1 MB are refused (API Gateway itself takes up to 10 MB). */
export const MAX_BODY_BYTES = 1024 * 1024;

/**
 * Headers on every API answer. `no-store`: answers hold secrets (`POST /keys` returns a key) and
 * per-key data, so no browser or proxy may keep them; `nosniff`: a browser must take the JSON as
 * JSON, never guess HTML from its content.
 */
export function apiResponseHeaders(requestId: string): Record<string, string> {
  return {
    "content-type": "application/json; charset=utf-8",
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "x-request-id": requestId,
  };
}

/** An HttpError as an API Gateway proxy result in the one error shape. */
export function errorResult(error: HttpError, requestId: string): APIGatewayProxyResult {
  return {
    statusCode: error.statusCode,
    headers: { ...apiResponseHeaders(requestId), ...error.headers },
    body: JSON.stringify(error.toBody(requestId)),
  };
}

/** A 500: "internal error" and the request id, nothing of the cause. */
export function internalErrorResult(requestId: string): APIGatewayProxyResult {
  return {
    statusCode: 500,
    headers: apiResponseHeaders(requestId),
    body: JSON.stringify(internalErrorBody(requestId)),
  };
}

/** 401 without a principal, 403 when an admin route is called with a tenant_admin key. */
export function assertAccess(route: Pick<RouteSpec, "access">, principal: Principal | null): void {
  if (route.access === "public") return;
  if (!principal) throw new UnauthorizedError();
  if (route.access === "admin" && principal.role !== "admin") throw new ForbiddenError();
}

/** `application/json` or a `+json` type, in UTF-8 (RFC 8259 §8.1: JSON exchanged between systems is UTF-8). */
export function isJsonMediaType(contentType: string | undefined): boolean {
  if (!contentType) return false;
  const [type, ...params] = contentType.split(";").map((p) => p.trim().toLowerCase());
  if (type !== "application/json" && !/^application\/[a-z0-9.+-]+\+json$/.test(type ?? "")) return false;
  return params.every((p) => !p.startsWith("charset=") || /^charset="?utf-8"?$/.test(p));
}

/**
 * 415 when a route that takes a JSON body is sent a body of another type, 413 when the body is
 * over the limit. `bytes` is what is known before reading (a Content-Length), or the size read;
 * a chunked body's size is checked while it is read.
 */
export function assertBodyAcceptable(
  route: Pick<RouteSpec, "body">,
  contentType: string | undefined,
  body: { readonly present: boolean; readonly bytes?: number },
): void {
  if (!body.present) return;
  if (route.body && !isJsonMediaType(contentType)) throw new UnsupportedMediaTypeError(contentType);
  if ((body.bytes ?? 0) > MAX_BODY_BYTES) throw new PayloadTooLargeError(MAX_BODY_BYTES);
}
