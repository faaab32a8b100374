/**
 * The console's only way to the service: the public REST API on this origin, with the operator's
 * API key from sessionStorage (gone when the tab closes, never written to localStorage or cookies).
 * Operations are named as in the route table; their methods and paths come from the contract
 * module the service generates from it, so no path is written by hand here or in the pages.
 */
import { OPERATIONS } from "./contract.js";
import { currentSignal, NavigationAbandoned } from "./navigation.js";

const KEY_STORAGE = "tenant-provisioning.apiKey";

/** An API answer that was not 2xx: the service's `{error: {code, message, details}}`. */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} code
   * @param {string} message
   * @param {unknown} [details]
   */
  constructor(status, code, message, details) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details;
  }

  /** Field-level problems of a 400 (`details.fields`), keyed by field path. */
  fieldMessages() {
    /** @type {Record<string, string>} */
    const out = {};
    /** @type {{field: string, message: string}[] | undefined} */
    const fields = /** @type {any} */ (this.details)?.fields;
    for (const f of fields ?? []) out[f.field] ??= f.message;
    return out;
  }
}

export function getKey() {
  return sessionStorage.getItem(KEY_STORAGE);
}

/** @param {string} key */
export function setKey(key) {
  sessionStorage.setItem(KEY_STORAGE, key);
}

export function clearKey() {
  sessionStorage.removeItem(KEY_STORAGE);
}

/** @param {Record<string, string | number | boolean | undefined | null>} params */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params))
    if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : "";
}

/**
 * An operation of the contract; a name it lacks is a programming error, said loudly.
 *
 * @param {string} operationId
 * @returns {{method: string, path: string, access: "public" | "admin" | "tenant"}}
 */
export function operation(operationId) {
  const op = /** @type {Record<string, any>} */ (OPERATIONS)[operationId];
  if (!op) throw new Error(`the API has no operation ${operationId}`);
  return op;
}

/**
 * The concrete path of an operation: `{name}` placeholders filled (encoded) from `params`.
 *
 * @param {string} operationId
 * @param {Record<string, string>} [params]
 */
export function pathOf(operationId, params = {}) {
  return operation(operationId).path.replace(/\{(\w+)\}/g, (_, name) => {
    const value = params[name];
    if (value === undefined) throw new Error(`${operationId}: path parameter ${name} missing`);
    return encodeURIComponent(value);
  });
}

/**
 * @typedef {object} CallOptions
 * @property {Record<string, string>} [params]  path parameters
 * @property {Record<string, string | number | boolean | undefined | null>} [query]
 * @property {unknown} [body]
 * @property {Record<string, string>} [headers]
 * @property {string | null} [key]  another key than the session's (sign-in); null sends none
 * @property {AbortSignal | null} [signal]  defaults to the current navigation's; null: never aborted
 */

/**
 * Calls an operation. Resolves with the parsed JSON body; rejects with ApiError on a non-2xx
 * answer (the service's own message for 4xx) or on a network failure (status 0), and with
 * NavigationAbandoned when the page it was called for was left.
 *
 * @param {string} operationId
 * @param {CallOptions} [options]
 */
export async function call(operationId, options = {}) {
  const { method } = operation(operationId);
  const path = pathOf(operationId, options.params) + query(options.query ?? {});
  /** @type {Record<string, string>} */
  const headers = { accept: "application/json", ...options.headers };
  const key = options.key === undefined ? getKey() : options.key;
  if (key) headers.authorization = `Bearer ${key}`;
  const signal = options.signal === undefined ? currentSignal() : (options.signal ?? undefined);
  /** @type {RequestInit} */
  const init = { method, headers, cache: "no-store", ...(signal ? { signal } : {}) };
  if (options.body !== undefined) {
    headers["content-type"] = "application/json";
    init.body = JSON.stringify(options.body);
  }
  let res;
  let text;
  try {
    res = await fetch(path, init);
    text = await res.text();
  } catch (error) {
    if (signal?.aborted) throw new NavigationAbandoned();
    throw new ApiError(0, "network_error", `the service did not answer (${String(error)})`);
  }
  /** @type {any} */
  let body;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  if (!res.ok) {
    const err = body?.error;
    throw new ApiError(
      res.status,
      err?.code ?? "http_error",
      err?.message ?? `${res.status} ${res.statusText}`,
      err?.details,
    );
  }
  return body;
}
