/**
 * The CLI's HTTP client of the REST API. Operations are named by the API's route table, so the
 * method, the path, the body and query types and the response schema are the API's own — a route
 * renamed or a schema changed there is a type error here, not a surprise at run time.
 */
import type { z } from "zod";
import { type OperationId, routes } from "../functions/http/route-table.ts";
import { errorResponseSchema } from "../functions/schemas/common.ts";
import { ApiError, ApiUnreachableError, type FieldIssue, UnexpectedResponseError } from "./errors.ts";

type RouteOf<Op extends OperationId> = (typeof routes)[Op];

/** `{id}` and `{stepId}` of `/progress/{id}/steps/{stepId}/retry`. */
type PathParamNames<P extends string> = P extends `${string}{${infer Name}}${infer Rest}`
  ? Name | PathParamNames<Rest>
  : never;

export type BodyOf<Op extends OperationId> =
  RouteOf<Op> extends { body: infer S extends z.ZodType } ? z.input<S> : never;
export type QueryOf<Op extends OperationId> =
  RouteOf<Op> extends { query: infer S extends z.ZodType } ? z.input<S> : never;
export type ResponseOf<Op extends OperationId> =
  RouteOf<Op> extends { response: infer S extends z.ZodType } ? z.output<S> : unknown;

type ParamsPart<Op extends OperationId> = [PathParamNames<RouteOf<Op>["path"]>] extends [never]
  ? { readonly params?: undefined }
  : { readonly params: { readonly [K in PathParamNames<RouteOf<Op>["path"]>]: string } };
type BodyPart<Op extends OperationId> = [BodyOf<Op>] extends [never]
  ? { readonly body?: undefined }
  : { readonly body: BodyOf<Op> };
type QueryPart<Op extends OperationId> = [QueryOf<Op>] extends [never]
  ? { readonly query?: undefined }
  : { readonly query?: Partial<Record<keyof QueryOf<Op>, string | number | boolean | undefined>> };

export type CallInput<Op extends OperationId> = ParamsPart<Op> &
  BodyPart<Op> &
  QueryPart<Op> & { readonly headers?: Readonly<Record<string, string>> };

export interface ApiResponse<T> {
  readonly status: number;
  readonly headers: Headers;
  /** The answer validated by the route's response schema (the raw JSON when `validate` is off). */
  readonly data: T;
  /** The JSON exactly as the API sent it (what `--json` prints). */
  readonly raw: unknown;
}

export interface ApiClientOptions {
  /** `http://localhost:3000`; a path prefix (API Gateway's stage) is kept. */
  readonly baseUrl: string;
  readonly apiKey?: string | undefined;
  /**
   * Check 2xx answers against the route's response schema. `--json` turns it off: scripts get
   * the answer as it came even from a newer server.
   */
  readonly validate?: boolean;
  readonly timeoutMs?: number;
  readonly fetch?: typeof fetch;
}

const DEFAULT_TIMEOUT_MS = 60_000;

export class ApiClient {
  readonly baseUrl: string;
  readonly #apiKey: string | undefined;
  readonly #validate: boolean;
  readonly #timeoutMs: number;
  readonly #fetch: typeof fetch;

  constructor(options: ApiClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.#apiKey = options.apiKey;
    this.#validate = options.validate ?? true;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#fetch = options.fetch ?? fetch;
  }

  /** Calls one operation of the route table; throws ApiError for 4xx/5xx, ApiUnreachableError without an answer. */
  async call<Op extends OperationId>(
    operation: Op,
    input: CallInput<Op>,
  ): Promise<ApiResponse<ResponseOf<Op>>> {
    const route = routes[operation];
    const path = route.path.replace(/\{(\w+)\}/g, (_, name: string) => {
      const value = (input.params as Record<string, string> | undefined)?.[name];
      if (value === undefined) throw new Error(`${operation}: path parameter ${name} missing`);
      return encodeURIComponent(value);
    });
    const url = new URL(this.baseUrl + path);
    for (const [key, value] of Object.entries((input.query ?? {}) as Record<string, unknown>)) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const headers: Record<string, string> = { accept: "application/json", ...input.headers };
    if (this.#apiKey) headers.authorization = `Bearer ${this.#apiKey}`;
    let body: string | undefined;
    if (input.body !== undefined) {
      body = JSON.stringify(input.body);
      headers["content-type"] = "application/json";
    }

    let res: Response;
    let text: string;
    try {
      res = await this.#fetch(url, {
        method: route.method,
        headers,
        signal: AbortSignal.timeout(this.#timeoutMs),
        ...(body !== undefined ? { body } : {}),
      });
      text = await res.text();
    } catch (error) {
      throw new ApiUnreachableError(this.baseUrl, networkReason(error, this.#timeoutMs), { cause: error });
    }

    let raw: unknown;
    try {
      raw = text === "" ? undefined : JSON.parse(text);
    } catch {
      raw = text;
    }
    if (!res.ok) throw toApiError(res, raw);

    const schema = "response" in route ? (route.response as z.ZodType) : undefined;
    if (!this.#validate || !schema)
      return { status: res.status, headers: res.headers, data: raw as never, raw };
    const parsed = schema.safeParse(raw);
    if (!parsed.success) {
      const issues = parsed.error.issues
        .slice(0, 3)
        .map((i) => `${i.path.join(".") || "(body)"}: ${i.message}`)
        .join("; ");
      throw new UnexpectedResponseError(`${route.method} ${path}`, issues);
    }
    return { status: res.status, headers: res.headers, data: parsed.data as ResponseOf<Op>, raw };
  }
}

/** The API's `{"error":{"code","message","details":{"fields":[…]}}}`, or the status line when the body is not that. */
function toApiError(res: Response, raw: unknown): ApiError {
  const parsed = errorResponseSchema.safeParse(raw);
  if (!parsed.success) {
    const text = typeof raw === "string" && raw.trim() !== "" ? `: ${raw.trim().slice(0, 200)}` : "";
    return new ApiError(res.status, "http_error", `HTTP ${res.status} ${res.statusText}${text}`);
  }
  const { code, message, details } = parsed.data.error;
  return new ApiError(res.status, code, message, detailFields(details));
}

function detailFields(details: unknown): FieldIssue[] {
  if (typeof details !== "object" || details === null) return [];
  const fields = (details as { fields?: unknown }).fields;
  if (!Array.isArray(fields)) return [];
  return fields.flatMap((f: unknown) => {
    if (typeof f !== "object" || f === null) return [];
    const { field, message } = f as { field?: unknown; message?: unknown };
    return typeof field === "string" && typeof message === "string" ? [{ field, message }] : [];
  });
}

/** undici's "fetch failed" hides the reason in `cause` (ECONNREFUSED, ENOTFOUND, …). */
function networkReason(error: unknown, timeoutMs: number): string {
  if (error instanceof DOMException && (error.name === "TimeoutError" || error.name === "AbortError")) {
    return `no answer within ${Math.round(timeoutMs / 1000)} s`;
  }
  let current: unknown = error;
  let reason = error instanceof Error ? error.message : String(error);
  for (let depth = 0; depth < 4 && current instanceof Object; depth++) {
    const { code, message } = current as { code?: unknown; message?: unknown };
    if (typeof message === "string" && message !== "" && message !== "fetch failed") reason = message;
    if (typeof code === "string" && code !== "" && !reason.includes(code)) reason = `${code} ${reason}`;
    current = (current as { cause?: unknown }).cause;
  }
  return reason;
}
